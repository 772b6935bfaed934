/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_alloc.c: turn/turn_alloc.c with the fake clock: an expired
 * allocation found by a request, turn_end_tuple, table growth, the
 * accessors, allocation info and end reasons, turn_foreach_alloc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

static void test_expired_found_by_request(void **state)
{
    fx_t *fx = *state;
    fx->now += 601; /* no tick */
    assert_int_equal(fx_refresh(fx, 600), 437);
    assert_int_equal(fx->closes, 1);
    assert_int_equal(fx_stats(fx).allocations_active, 0);
    /* The 5-tuple can allocate again. */
    assert_int_equal(fx_allocate(fx), 0);
}

static void test_end_tuple(void **state)
{
    fx_t *fx = *state;
    turn_5tuple_t other = fx->tuple;
    other.transport = TURN_TR_TCP;
    turn_end_tuple(fx->t, &other);
    assert_int_equal(fx->closes, 0);
    turn_end_tuple(fx->t, &fx->tuple);
    assert_int_equal(fx->closes, 1);
    assert_null(fx_alloc(fx));
    turn_end_tuple(fx->t, &fx->tuple);
    assert_int_equal(fx->closes, 1);
}

static void test_table_growth(void **state)
{
    fx_t *fx = *state;
    uint16_t base = fx->tuple.client.port;
    for (int i = 1; i <= 300; i++) {
        fx->tuple.client.port = (uint16_t)(base + i);
        fx->nonce[0] = '\0';
        assert_int_equal(fx_allocate(fx), 0);
    }
    assert_int_equal(fx->t->allocs.n, 301);
    assert_true(fx->t->allocs.nb >= 301);
    for (int i = 0; i <= 300; i++) {
        fx->tuple.client.port = (uint16_t)(base + i);
        assert_non_null(fx_alloc(fx));
    }
    assert_int_equal(fx_stats(fx).allocations_active, 301);
    fx_tick(fx, 601);
    assert_int_equal(fx->closes, 301);
    assert_int_equal(fx->t->allocs.n, 0);
}

static void test_accessors(void **state)
{
    fx_t *fx = *state;
    turn_alloc_t *a = fx_alloc(fx);
    int token;
    assert_null(turn_alloc_udata(a));
    turn_alloc_set_udata(a, &token);
    assert_ptr_equal(turn_alloc_udata(a), &token);
    assert_true(turn__tuple_equal(turn_alloc_tuple(a), &fx->tuple));
    const turn_alloc_counters_t *c = turn_alloc_counters(a);
    assert_int_equal(c->to_peer_bytes + c->to_peer_packets + c->to_client_bytes +
                         c->to_client_packets,
                     0);
}

/* Accounting: ids, start times, peers seen, and the reason each end gives. */
static void test_alloc_info_and_end_reasons(void **state)
{
    fx_t *fx = *state;
    turn_alloc_info_t info;
    turn_alloc_t *a = fx_alloc(fx);
    turn_alloc_info(a, &info);
    assert_true(info.id > 0);
    assert_false(info.ended);
    assert_string_equal(info.user, FX_USER);
    assert_string_equal(info.quota_user, FX_USER);
    assert_int_equal(info.nrelay, 1);
    assert_true(info.started_wall >= FX_WALL && info.started_wall <= fx->wall);
    uint64_t first = info.id;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    assert_int_equal(fx_permission(fx, "192.0.2.80:2"), 0); /* same IP */
    assert_int_equal(fx_permission(fx, "198.51.100.7:1"), 0);
    turn_alloc_info(a, &info);
    assert_int_equal(info.npeers, 2);
    assert_int_equal(info.peers_total, 2);
    /* turn_alloc_end keeps the peers and records the reason. */
    turn_alloc_end(fx->t, a, TURN_END_ADMIN);
    assert_int_equal(fx->closes, 1);
    turn_alloc_info(a, &info);
    assert_true(info.ended);
    assert_int_equal(info.end_reason, TURN_END_ADMIN);
    assert_int_equal(info.npeers, 2);
    assert_string_equal(turn_end_reason_name(TURN_END_ADMIN), "admin");
    turn_alloc_end(fx->t, a, TURN_END_QUOTA); /* no-op once ended */
    assert_int_equal(fx->closes, 1);
    /* A new allocation gets a new id; Refresh 0 ends it as "client". */
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
    a = fx_alloc(fx);
    turn_alloc_info(a, &info);
    assert_true(info.id != first);
    assert_int_equal(fx_refresh(fx, 0), 0);
    turn_alloc_info(a, &info);
    assert_int_equal(info.end_reason, TURN_END_CLIENT);
    /* Expiry. */
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
    a = fx_alloc(fx);
    fx->now += 601;
    fx->wall += 601;
    turn_tick(fx->t, fx->now, fx->wall);
    turn_alloc_info(a, &info);
    assert_int_equal(info.end_reason, TURN_END_EXPIRED);
}

static void count_alloc(void *ctx, turn_alloc_t *a)
{
    (void)a;
    (*(int *)ctx)++;
}

static void end_alloc(void *ctx, turn_alloc_t *a)
{
    turn_alloc_end(ctx, a, TURN_END_REVOKED);
}

static void test_foreach_alloc(void **state)
{
    fx_t *fx = *state;
    for (int i = 0; i < 5; i++) {
        fx->tuple.client.port++;
        fx->nonce[0] = '\0';
        assert_int_equal(fx_allocate(fx), 0);
    }
    int n = 0;
    turn_foreach_alloc(fx->t, count_alloc, &n);
    assert_int_equal(n, 6);
    turn_foreach_alloc(fx->t, end_alloc, fx->t); /* ending the one given is allowed */
    assert_int_equal(fx->closes, 6);
    n = 0;
    turn_foreach_alloc(fx->t, count_alloc, &n);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expired_found_by_request, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_end_tuple, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_table_growth, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_accessors, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_info_and_end_reasons, fx_setup_alloc,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_foreach_alloc, fx_setup_alloc, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_alloc", tests, NULL, NULL);
}
