/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn.c: turn/turn.c with the fake clock: turn_tick ends expired
 * allocations and those whose ephemeral credential expired (wall clock),
 * frees ended ones one tick later, applies user blocks (quota, revoked);
 * turn_free ends everything; a reload keeps allocations and changes the
 * realm; statistics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

static void test_allocation_expiry(void **state)
{
    fx_t *fx = *state;
    fx_tick(fx, 599);
    assert_non_null(fx_alloc(fx));
    assert_int_equal(fx->closes, 0);
    fx_tick(fx, 2);
    assert_int_equal(fx->closes, 1);
    assert_int_equal(fx->t->allocs.n, 0);
    assert_int_equal(fx_stats(fx).allocations_active, 0);
    assert_int_equal(turn_shared_active(fx->shared), 0);
    fx_tick(fx, 1); /* frees it */
    assert_null(fx->t->ended);
    assert_int_equal(fx->closes, 1);
}

static void test_credential_expiry(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    snprintf(user, sizeof(user), "%.0f:carol", fx->wall + 100);
    assert_int_equal(turn_ephemeral_password(FX_SECRET, user, pass, sizeof(pass)), 0);
    fx->user = user;
    fx->pass = pass;
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
    fx_tick(fx, 99);
    assert_non_null(fx_alloc(fx));
    assert_int_equal(fx->closes, 0);
    fx_tick(fx, 1);
    assert_null(fx_alloc(fx));
    assert_int_equal(fx->closes, 1);
    /* The static user's allocation (no expiry) is untouched. */
    fx->tuple.client.port--;
    assert_non_null(fx_alloc(fx));
}

static void test_deferred_free(void **state)
{
    fx_t *fx = *state;
    uint8_t buf[TURN_PEER_HEADROOM + 8];
    const uint8_t *msg;
    size_t mlen;
    cmn_addr_t peer;
    turn_alloc_t *a = fx_alloc(fx);
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    fx_addr(&peer, "192.0.2.80:1");
    turn_end_tuple(fx->t, &fx->tuple);
    /* Still readable (the glue may hold it this iteration), but inert. */
    assert_int_equal(turn_peer_data(fx->t, a, &peer, buf, 4, fx->now, &msg, &mlen), CMN_ENOENT);
    assert_string_equal(turn_alloc_user(a), FX_USER);
    fx_tick(fx, 0);
    assert_null(fx->t->ended);
}

static void test_free_closes_all(void **state)
{
    fx_t *fx = *state;
    for (int i = 1; i <= 2; i++) {
        fx->tuple.client.port++;
        fx->nonce[0] = '\0';
        assert_int_equal(fx_allocate(fx), 0);
    }
    turn_end_tuple(fx->t, &fx->tuple); /* one already ended, not yet freed */
    turn_free(fx->t);
    assert_int_equal(fx->closes, 3);
    assert_int_equal(turn_shared_active(fx->shared), 0);
    fx->t = turn_new(&fx->cfg, &fx->ops, fx->shared);
}

static void test_stats_reload(void **state)
{
    fx_t *fx = *state;
    turn_cfg_t cfg2 = fx->cfg;
    cfg2.realm = "other.org";
    turn_set_cfg(fx->t, &cfg2);
    /* The allocation survives a reload; new credentials use the new realm. */
    assert_non_null(fx_alloc(fx));
    assert_int_equal(fx_refresh(fx, 600), 401);
    turn_set_cfg(fx->t, &fx->cfg);
    assert_int_equal(fx_refresh(fx, 600), 0);
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.allocations_created, 1);
    assert_int_equal(st.allocations_active, 1);
    assert_int_equal(st.auth_failures, 1);
}

/* Blocked users: Allocate refused with the reason, live allocations end at
 * the next tick, a quota block never replaces a revocation. */
static void test_blocked_users(void **state)
{
    fx_t *fx = *state;
    turn_alloc_info_t info;
    turn_alloc_t *a = fx_alloc(fx);
    uint64_t gen = turn_shared_block_gen(fx->shared);
    turn_shared_block_user(fx->shared, FX_USER, TURN_BLOCK_QUOTA);
    assert_true(turn_shared_block_gen(fx->shared) != gen);
    assert_int_equal(turn_shared_user_blocked(fx->shared, FX_USER), TURN_BLOCK_QUOTA);
    assert_int_equal(turn_shared_user_blocked(fx->shared, "bob"), TURN_BLOCK_NONE);
    assert_int_equal(fx->closes, 0); /* nothing happens before the tick */
    fx_tick(fx, 0);
    assert_int_equal(fx->closes, 1);
    turn_alloc_info(a, &info);
    assert_int_equal(info.end_reason, TURN_END_QUOTA);
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 486);
    assert_string_equal(fx_reason(fx), "Allocation Quota Reached (user byte quota)");
    turn_shared_block_user(fx->shared, FX_USER, TURN_BLOCK_REVOKED);
    assert_int_equal(fx_allocate(fx), 403);
    assert_string_equal(fx_reason(fx), "Forbidden (user revoked)");
    turn_shared_block_user(fx->shared, FX_USER, TURN_BLOCK_QUOTA); /* ignored */
    assert_int_equal(turn_shared_user_blocked(fx->shared, FX_USER), TURN_BLOCK_REVOKED);
    /* Lifting only a quota block leaves a revocation alone. */
    assert_false(turn_shared_lift_block(fx->shared, FX_USER, TURN_BLOCK_QUOTA));
    assert_int_equal(turn_shared_user_blocked(fx->shared, FX_USER), TURN_BLOCK_REVOKED);
    assert_true(turn_shared_lift_block(fx->shared, FX_USER, TURN_BLOCK_REVOKED));
    assert_int_equal(turn_shared_user_blocked(fx->shared, FX_USER), TURN_BLOCK_NONE);
    assert_int_equal(fx_allocate(fx), 0);
    a = fx_alloc(fx);
    turn_shared_block_user(fx->shared, FX_USER, TURN_BLOCK_REVOKED);
    fx_tick(fx, 0);
    turn_alloc_info(a, &info);
    assert_int_equal(info.end_reason, TURN_END_REVOKED);
    assert_int_equal(turn_shared_active(fx->shared), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allocation_expiry, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_credential_expiry, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deferred_free, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_free_closes_all, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stats_reload, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_blocked_users, fx_setup_alloc, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn", tests, NULL, NULL);
}
