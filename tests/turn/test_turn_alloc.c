/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_alloc.c: turn/turn_alloc.c with the fake clock: allocation
 * expiry through turn_tick and on the next request, permission and
 * channel expiry, the 5-minute channel quarantine, the end of an
 * allocation when its ephemeral credential expires (wall clock),
 * turn_end_tuple, turn_free, deferred freeing, table growth, the ring of
 * deleted allocations, accessors and statistics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

/* An hour of lifetime, for tests that move the clock further. */
static void long_life(fx_t *fx)
{
    assert_int_equal(fx_refresh(fx, 3600), 0);
}

static void tick(fx_t *fx, double dt)
{
    fx->now += dt;
    fx->wall += dt;
    turn_tick(fx->t, fx->now, fx->wall);
}

static void test_allocation_expiry(void **state)
{
    fx_t *fx = *state;
    tick(fx, 599);
    assert_non_null(fx_alloc(fx));
    assert_int_equal(fx->closes, 0);
    tick(fx, 2);
    assert_int_equal(fx->closes, 1);
    assert_int_equal(fx->t->nallocs, 0);
    assert_int_equal(fx_stats(fx).allocations_active, 0);
    assert_int_equal(turn_shared_active(fx->shared), 0);
    tick(fx, 1); /* frees it */
    assert_null(fx->t->ended);
    assert_int_equal(fx->closes, 1);
}

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

static void test_permission_expiry(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    fx->now += 299;
    assert_true(fx_has_perm(fx, "192.0.2.80:9"));
    fx->now += 1;
    assert_false(fx_has_perm(fx, "192.0.2.80:9")); /* the data path needs no tick */
    assert_int_equal(fx_alloc(fx)->nperms, 1);
    tick(fx, 0);
    assert_int_equal(fx_alloc(fx)->nperms, 0);
    assert_int_equal(fx_stats(fx).permissions_active, 0);
    /* A configured lifetime. */
    fx->cfg.permission_lifetime = 60;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    fx->now += 60;
    assert_false(fx_has_perm(fx, "192.0.2.80:9"));
}

static void test_channel_expiry_and_quarantine(void **state)
{
    fx_t *fx = *state;
    turn_out_t res;
    const uint8_t data[4] = {1, 2, 3, 4};
    long_life(fx);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    fx->now += 599;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0); /* keep the permission */
    turn_channel_data(fx->t, &fx->tuple, 0x4001, data, 4, fx->now, &res);
    assert_ptr_equal(res.fwd_alloc, fx_alloc(fx));
    tick(fx, 1);
    turn_channel_data(fx->t, &fx->tuple, 0x4001, data, 4, fx->now, &res);
    assert_null(res.fwd_alloc);
    assert_int_equal(res.drop, TURN_DROP_NO_CHANNEL);
    assert_int_equal(fx_stats(fx).channels_active, 0);
    /* Quarantine (RFC 8656 §12): neither side may bind elsewhere... */
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.81:1000"), 400);
    assert_int_equal(fx_bind(fx, 0x4002, "192.0.2.80:1000"), 400);
    /* ... but the same pair may bind again. */
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    assert_int_equal(fx_stats(fx).channels_active, 1);
    /* Expired and quarantined for 5 more minutes: then free. */
    tick(fx, 600);
    tick(fx, 299);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.81:1000"), 400);
    tick(fx, 1);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.81:1000"), 0);
    assert_int_equal(fx_bind(fx, 0x4002, "192.0.2.80:1000"), 0);
    assert_int_equal(fx_alloc(fx)->nchans, 2);
    assert_int_equal(fx_stats(fx).channels_active, 2);
}

static void test_quarantine_without_tick(void **state)
{
    fx_t *fx = *state;
    long_life(fx);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    fx->now += 900; /* expired + 300 s, no tick in between */
    assert_int_equal(fx_refresh(fx, 600), 0);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.81:1000"), 0);
    turn_chan_t *c = turn__chan_by_num(fx_alloc(fx), 0x4001, fx->now);
    assert_non_null(c);
    assert_int_equal(c->cpeer.ip[3], 81);
    /* The dead entry goes at the next tick. */
    tick(fx, 0);
    assert_int_equal(fx_alloc(fx)->nchans, 1);
    assert_int_equal(fx_stats(fx).channels_active, 1);
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
    tick(fx, 99);
    assert_non_null(fx_alloc(fx));
    assert_int_equal(fx->closes, 0);
    tick(fx, 1);
    assert_null(fx_alloc(fx));
    assert_int_equal(fx->closes, 1);
    /* The static user's allocation (no expiry) is untouched. */
    fx->tuple.client.port--;
    assert_non_null(fx_alloc(fx));
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
    tick(fx, 0);
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

static void test_table_growth(void **state)
{
    fx_t *fx = *state;
    uint16_t base = fx->tuple.client.port;
    for (int i = 1; i <= 300; i++) {
        fx->tuple.client.port = (uint16_t)(base + i);
        fx->nonce[0] = '\0';
        assert_int_equal(fx_allocate(fx), 0);
    }
    assert_int_equal(fx->t->nallocs, 301);
    assert_true(fx->t->nbuckets >= 301);
    for (int i = 0; i <= 300; i++) {
        fx->tuple.client.port = (uint16_t)(base + i);
        assert_non_null(fx_alloc(fx));
    }
    assert_int_equal(fx_stats(fx).allocations_active, 301);
    tick(fx, 601);
    assert_int_equal(fx->closes, 301);
    assert_int_equal(fx->t->nallocs, 0);
}

static void peer_text(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "198.18.%d.%d:%d", i / 200, i % 200 + 1, 1000 + i);
}

/* Thousands of channels and permissions: the hash indexes find every one,
 * across growth and across sweeps that compact the arrays. */
static void test_many_channels(void **state)
{
    fx_t *fx = *state;
    char peer[64];
    const int n = 1500;
    long_life(fx);
    fx->cfg.max_channels = 4000;
    fx->cfg.max_permissions = 4000;
    for (int i = 0; i < n; i++) {
        peer_text(peer, sizeof(peer), i);
        assert_int_equal(fx_bind(fx, (uint16_t)(0x4000 + i), peer), 0);
    }
    /* Keep the odd ones alive past the even ones' end. */
    tick(fx, 500);
    for (int i = 1; i < n; i += 2) {
        peer_text(peer, sizeof(peer), i);
        assert_int_equal(fx_bind(fx, (uint16_t)(0x4000 + i), peer), 0);
    }
    tick(fx, 150); /* evens: channels quarantined, permissions gone */
    turn_alloc_t *a = fx_alloc(fx);
    assert_int_equal(a->nperms, n / 2);
    assert_int_equal(fx_stats(fx).channels_active, n / 2);
    for (int i = 0; i < n; i++) {
        cmn_addr_t p;
        peer_text(peer, sizeof(peer), i);
        fx_addr(&p, peer);
        turn_chan_t *c = turn__chan_by_num(a, (uint16_t)(0x4000 + i), fx->now);
        assert_non_null(c); /* bound, or in quarantine */
        assert_ptr_equal(turn__chan_by_peer(a, &p, fx->now), c);
        assert_int_equal(fx->now < c->expires, i % 2 == 1);
        assert_int_equal(turn__perm_find(a, &p, fx->now) != NULL, i % 2 == 1);
    }
    tick(fx, 250); /* the quarantine of the evens ends */
    assert_int_equal(a->nchans, n / 2);
    for (int i = 0; i < n; i += 2)
        assert_null(turn__chan_by_num(a, (uint16_t)(0x4000 + i), fx->now));
}

static void test_recent_ring_wraps(void **state)
{
    fx_t *fx = *state;
    uint8_t first[2048];
    size_t flen = 0;
    for (int i = 0; i <= TURN_RECENT_SLOTS; i++) {
        if (i > 0)
            assert_int_equal(fx_allocate(fx), 0);
        assert_int_equal(fx_refresh(fx, 0), 0);
        if (i == 0) {
            flen = fx->req_len;
            memcpy(first, fx->req, flen);
        }
    }
    memcpy(fx->req, first, flen);
    assert_int_equal(fx_feed(fx, flen), 437); /* pushed out by newer ones */
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
    tick(fx, 0);
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
    tick(fx, 0);
    turn_alloc_info(a, &info);
    assert_int_equal(info.end_reason, TURN_END_REVOKED);
    assert_int_equal(turn_shared_active(fx->shared), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allocation_expiry, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_info_and_end_reasons, fx_setup_alloc,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_foreach_alloc, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_blocked_users, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_expired_found_by_request, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_permission_expiry, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_expiry_and_quarantine, fx_setup_alloc,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_without_tick, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_credential_expiry, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_end_tuple, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deferred_free, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_free_closes_all, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_table_growth, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_channels, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_recent_ring_wraps, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_accessors, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stats_reload, fx_setup_alloc, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_alloc", tests, NULL, NULL);
}
