/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_report.c: ice/ice_report.c and ice_report_out.c: the verdict
 * against each threshold, exit statuses, the first failure winning, and
 * the three outputs: the readable text, the JSON object (read back with
 * jansson) and the Prometheus exposition (checked line by line here; the
 * integration tests run promtool on it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <jansson.h>

#include "ice/ice_int.h"

static const ice_limits_t no_limits = {.max_loss = -1, .max_rtt = -1, .require = ICE_CTYPE_NONE};

static void turn_report(ice_report_t *r)
{
    ice_report_init(r, ICE_CMD_TURN, "turn:127.0.0.1:3478?transport=udp");
    cmn_addr_parse(&r->relayed[0], "127.0.0.1:50000", -1);
    cmn_addr_parse(&r->relayed[1], "127.0.0.1:50001", -1);
    cmn_addr_parse(&r->mapped[0], "127.0.0.1:40000", -1);
    r->alloc_time = 0.002;
    r->lifetime = 600;
    r->deallocated = true;
    r->size = 160;
    r->rate = 100;
    r->traffic = (ice_traffic_t){.sent = 100, .received = 98, .bytes = 98 * 160, .loss = 0.02,
                                 .jitter = 0.0001, .throughput = 125440,
                                 .rtt = {.n = 98, .min = 0.0001, .mean = 0.0002, .p50 = 0.0002,
                                         .p95 = 0.0004, .p99 = 0.001, .max = 0.002}};
    r->duration = 1.01;
}

static void test_judge_thresholds(void **state)
{
    (void)state;
    ice_report_t r;
    turn_report(&r);
    ice_report_judge(&r, &no_limits);
    assert_true(r.pass);
    assert_int_equal(ice_report_exit(&r), ICE_EXIT_PASS);
    ice_limits_t lim = {.max_loss = 0.01, .max_rtt = 0.0003, .require = ICE_CTYPE_NONE};
    ice_report_judge(&r, &lim);
    assert_false(r.pass);
    assert_int_equal(ice_report_exit(&r), ICE_EXIT_FAIL);
    assert_int_equal(r.nfailures, 2);
    assert_non_null(strstr(r.failures[0], "loss 2.00% over --max-loss 1.00%"));
    assert_non_null(strstr(r.failures[1], "rtt p95 0.40 ms over --max-rtt 0.30 ms"));
    lim.max_loss = 0.02;
    lim.max_rtt = 0.0004;
    ice_report_judge(&r, &lim);
    assert_true(r.pass); /* at the limit is within it */
    r.traffic.received = 0;
    ice_report_judge(&r, &no_limits);
    assert_false(r.pass);
    assert_string_equal(r.failures[0], "no packet arrived");
}

static void test_failures(void **state)
{
    (void)state;
    ice_report_t r;
    ice_report_init(&r, ICE_CMD_TURN, "t");
    ice_report_refused(&r, "allocate", 401, "Unauthorized");
    ice_report_timeout(&r, "refresh", 5, "later");
    ice_report_fail(&r, "x", "ignored");
    assert_string_equal(r.step, "allocate");
    assert_int_equal(r.error_code, 401);
    assert_false(r.timed_out);
    ice_report_judge(&r, &no_limits);
    assert_int_equal(r.nfailures, 1); /* the refusal, not also "no packet arrived" */
    assert_string_equal(r.failures[0], "allocate refused: 401 Unauthorized");
    char *t = ice_report_text(&r);
    assert_non_null(strstr(t, "FAIL: allocate refused: 401 Unauthorized\n"));
    cmn_free(t);
    ice_report_init(&r, ICE_CMD_STUN, "s");
    ice_report_timeout(&r, "binding", 2, "waiting for a Binding response");
    assert_true(r.timed_out);
    ice_report_judge(&r, &no_limits);
    assert_string_equal(r.failures[0], "timeout after 2.0 s waiting for a Binding response");
}

static void test_call_verdict(void **state)
{
    (void)state;
    ice_report_t r;
    ice_report_init(&r, ICE_CMD_CALL, "ws://h/ws");
    r.traffic.sent = r.traffic.received = 10;
    r.pair.local = ICE_CTYPE_PRFLX;
    r.pair.remote = ICE_CTYPE_RELAY;
    ice_limits_t lim = no_limits;
    lim.require = ICE_CTYPE_SRFLX;
    ice_report_judge(&r, &lim);
    assert_true(r.pass);
    lim.require = ICE_CTYPE_RELAY;
    ice_report_judge(&r, &lim);
    assert_false(r.pass);
    assert_string_equal(r.failures[0], "selected pair is prflx, --require relay");
    r.srtp_auth_failures = 3;
    ice_report_judge(&r, &no_limits);
    assert_string_equal(r.failures[0], "3 SRTP packets failed authentication");
}

static void test_text(void **state)
{
    (void)state;
    ice_report_t r;
    turn_report(&r);
    ice_report_judge(&r, &no_limits);
    char *t = ice_report_text(&r);
    assert_non_null(strstr(t, "icehub-probe turn turn:127.0.0.1:3478?transport=udp\n"));
    assert_non_null(strstr(t, "relayed     127.0.0.1:50000 and 127.0.0.1:50001"));
    assert_non_null(strstr(t, "p50 0.200 ms  p95 0.400 ms  p99 1.000 ms"));
    assert_non_null(strstr(t, "loss          2.00% (100 sent, 98 arrived)"));
    assert_non_null(strstr(t, "deallocation  ok"));
    assert_non_null(strstr(t, "\nPASS\n"));
    cmn_free(t);
}

static void test_json(void **state)
{
    (void)state;
    ice_report_t r;
    turn_report(&r);
    ice_report_judge(&r, &no_limits);
    char *s = ice_report_json(&r);
    assert_int_equal(s[strlen(s) - 1], '\n');
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "command")), "turn");
    assert_true(json_is_true(json_object_get(o, "pass")));
    assert_true(json_is_null(json_object_get(o, "error")));
    assert_int_equal(json_integer_value(json_object_get(o, "packets_received")), 98);
    assert_true(json_real_value(json_object_get(json_object_get(o, "rtt_seconds"), "p95")) ==
                0.0004);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "relayed"), 1)),
                        "127.0.0.1:50001");
    json_decref(o);
    cmn_free(s);
    ice_report_init(&r, ICE_CMD_TURN, "t");
    ice_report_refused(&r, "allocate", 486, "Allocation Quota Reached");
    ice_report_judge(&r, &no_limits);
    s = ice_report_json(&r);
    o = json_loads(s, 0, NULL);
    json_t *e = json_object_get(o, "error");
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 486);
    assert_string_equal(json_string_value(json_object_get(e, "step")), "allocate");
    assert_true(json_is_null(json_object_get(e, "timeout_seconds")));
    json_decref(o);
    cmn_free(s);
}

static void test_prom(void **state)
{
    (void)state;
    ice_report_t r;
    turn_report(&r);
    ice_report_refused(&r, "refresh", 437, "Allocation Mismatch");
    ice_report_judge(&r, &no_limits);
    size_t len;
    char *p = ice_report_prom(&r, &len);
    assert_int_equal(strlen(p), len);
    assert_non_null(strstr(p, "# TYPE icehub_probe_success gauge\nicehub_probe_success 0\n"));
    assert_non_null(strstr(p, "icehub_probe_error_code 437\n"));
    assert_non_null(strstr(p, "icehub_probe_failed_step_info{step=\"refresh\"} 1\n"));
    assert_non_null(strstr(p, "# TYPE icehub_probe_rtt_seconds summary\n"));
    assert_non_null(strstr(p, "icehub_probe_rtt_seconds{quantile=\"0.95\"} 0.0004"));
    assert_non_null(strstr(p, "icehub_probe_rtt_seconds_count 98\n"));
    assert_non_null(strstr(p, "icehub_probe_loss_ratio 0.02"));
    assert_non_null(strstr(p, "icehub_probe_allocation_seconds 0.002"));
    cmn_free(p);
    ice_report_init(&r, ICE_CMD_CALL, "ws://h/ws");
    r.pair = (ice_pair_t){.local = ICE_CTYPE_RELAY, .remote = ICE_CTYPE_RELAY,
                          .relay_transport = ICE_TP_TCP};
    ice_report_judge(&r, &no_limits);
    p = ice_report_prom(&r, &len);
    assert_non_null(strstr(p, "icehub_probe_selected_pair_info{local=\"relay\",remote=\"relay\","
                              "relay_transport=\"tcp\"} 1\n"));
    assert_non_null(strstr(p, "icehub_probe_srtp_auth_failures 0\n"));
    cmn_free(p);
    ice_report_init(&r, ICE_CMD_STUN, "s");
    r.mapping = ICE_MAPPING_DEPENDENT;
    p = ice_report_prom(&r, &len);
    assert_non_null(strstr(p, "icehub_probe_nat_mapping_info{mapping=\"endpoint-dependent\"} 1\n"));
    cmn_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge_thresholds), cmocka_unit_test(test_failures),
        cmocka_unit_test(test_call_verdict),     cmocka_unit_test(test_text),
        cmocka_unit_test(test_json),             cmocka_unit_test(test_prom),
    };
    return cmocka_run_group_tests_name("ice_report", tests, NULL, NULL);
}
