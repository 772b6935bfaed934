/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_stats.c: ice/ice_stats.c: nearest-rank percentiles, the RFC 3550
 * §6.4.1 jitter estimator against values worked out by hand, loss,
 * throughput, and merging two directions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <math.h>

#include "ice/ice_int.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_percentiles(void **state)
{
    (void)state;
    double s[100];
    for (int i = 0; i < 100; i++)
        s[i] = (100 - i) * 0.001; /* 0.100 .. 0.001, reversed */
    ice_rtt_t r;
    ice_rtt_summary(&r, s, 100);
    assert_int_equal(r.n, 100);
    NEAR(r.min, 0.001);
    NEAR(r.max, 0.100);
    NEAR(r.p50, 0.050);
    NEAR(r.p95, 0.095);
    NEAR(r.p99, 0.099);
    NEAR(r.mean, 0.0505);
    double one = 0.25;
    ice_rtt_summary(&r, &one, 1);
    NEAR(r.p50, 0.25);
    NEAR(r.p99, 0.25);
    ice_rtt_summary(&r, NULL, 0);
    assert_int_equal(r.n, 0);
    NEAR(r.p95, 0);
}

static void test_percentile_ranks(void **state)
{
    (void)state;
    double s[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    NEAR(ice_percentile(s, 10, 50), 5);
    NEAR(ice_percentile(s, 10, 95), 10);
    NEAR(ice_percentile(s, 10, 10), 1);
    NEAR(ice_percentile(s, 10, 11), 2);
    NEAR(ice_percentile(s, 10, 0), 1);
    NEAR(ice_percentile(s, 10, 100), 10);
    NEAR(ice_percentile(s, 0, 50), 0);
}

static void test_jitter(void **state)
{
    (void)state;
    ice_stats_t s;
    ice_stats_init(&s);
    /* A constant transit time: no jitter, whatever the clocks' offset. */
    for (int i = 0; i < 10; i++)
        ice_stats_arrival(&s, 100, 1000.0 + i * 0.02, 5.0 + i * 0.02);
    NEAR(s.jitter, 0);
    ice_stats_dispose(&s);
    /* Transits 0, 10 ms, 0, 10 ms: |D| is 10 ms each time after the first:
     * J1 = 0.01/16, J2 = J1 + (0.01 - J1)/16, ... */
    ice_stats_init(&s);
    double j = 0;
    for (int i = 0; i < 6; i++) {
        ice_stats_arrival(&s, 100, i * 0.02, i * 0.02 + (i % 2) * 0.01);
        if (i > 0)
            j += (0.01 - j) / 16;
    }
    NEAR(s.jitter, j);
    assert_int_equal(s.received, 6);
    assert_int_equal(s.bytes_rx, 600);
    ice_stats_dispose(&s);
}

static void test_finish(void **state)
{
    (void)state;
    ice_stats_t s;
    ice_traffic_t t;
    ice_stats_init(&s);
    for (int i = 0; i < 10; i++)
        ice_stats_sent(&s, 125, i * 0.1);
    for (int i = 0; i < 8; i++) {
        ice_stats_arrival(&s, 125, i * 0.1, i * 0.1 + 0.05);
        ice_stats_rtt(&s, 0.05 + i * 0.001);
    }
    ice_stats_rtt(&s, -1);
    ice_stats_rtt(&s, NAN);
    ice_stats_rtt(&s, INFINITY);
    ice_stats_finish(&s, 10, &t);
    assert_int_equal(t.sent, 10);
    assert_int_equal(t.received, 8);
    NEAR(t.loss, 0.2);
    assert_int_equal(t.rtt.n, 8);
    NEAR(t.rtt.min, 0.05);
    /* 8 packets of 125 bytes from t=0 to the last arrival at 0.75 s. */
    NEAR(t.throughput, 8 * 125 * 8 / 0.75);
    ice_stats_dispose(&s);
}

static void test_loss_and_merge(void **state)
{
    (void)state;
    NEAR(ice_loss_ratio(0, 0), 0);
    NEAR(ice_loss_ratio(100, 100), 0);
    NEAR(ice_loss_ratio(100, 101), 0);
    NEAR(ice_loss_ratio(4, 1), 0.75);
    ice_traffic_t a = {.sent = 100, .received = 90, .bytes = 900, .jitter = 0.002, .throughput = 10};
    ice_traffic_t b = {.sent = 100, .received = 100, .bytes = 1000, .jitter = 0.001,
                       .throughput = 20};
    ice_traffic_t m;
    ice_traffic_merge(&m, &a, &b);
    assert_int_equal(m.sent, 200);
    assert_int_equal(m.received, 190);
    NEAR(m.loss, 0.05);
    NEAR(m.jitter, 0.002);
    NEAR(m.throughput, 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles), cmocka_unit_test(test_percentile_ranks),
        cmocka_unit_test(test_jitter),      cmocka_unit_test(test_finish),
        cmocka_unit_test(test_loss_and_merge),
    };
    return cmocka_run_group_tests_name("ice_stats", tests, NULL, NULL);
}
