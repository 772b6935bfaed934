/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_quota.c: turn/turn_quota.c and the quota checks of the data
 * path, with the fixture's fake clock: the rate of an allocation over a
 * simulated second (within 2 %), the burst, the two directions' buckets
 * being independent, per-user rates by exact name and by glob (exact names
 * first), the worker's share of quota.total_bps, over-quota users
 * throttled to the floor (and released) or stopped, reload, and the live
 * counters (relayed bytes by direction and transport, drops by kind,
 * requests by method and class, Allocate errors by reason).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cmn_config.h"
#include "tests/turn/turn_fixture.h"

#define PEER "192.0.2.80:5000"
#define CHAN 0x4001
#define PKT 1000                /* payload bytes per test datagram */

static uint8_t payload[PKT];

/* One ChannelData datagram from the client; true if it is forwarded. */
static bool to_peer(fx_t *fx)
{
    turn_out_t res;
    turn_channel_data(fx->t, &fx->tuple, CHAN, payload, PKT, fx->now, &res);
    if (!res.fwd_alloc)
        assert_int_equal(res.drop, TURN_DROP_QUOTA);
    return res.fwd_alloc != NULL;
}

/* One datagram from the peer; true if it goes to the client. */
static bool to_client(fx_t *fx)
{
    static uint8_t buf[TURN_PEER_HEADROOM + PKT + 4];
    cmn_addr_t peer;
    const uint8_t *msg;
    size_t mlen;
    fx_addr(&peer, PEER);
    int rc = turn_peer_data(fx->t, fx_alloc(fx), &peer, buf, PKT, fx->now, &msg, &mlen);
    if (rc != 0)
        assert_int_equal(rc, CMN_ELIMIT);
    return rc == 0;
}

/* Offer <pps> datagrams a second in direction <d> for <secs> simulated
 * seconds; returns the payload bytes that passed. */
static uint64_t offer(fx_t *fx, turn_dir_t d, double pps, double secs)
{
    uint64_t passed = 0;
    long n = (long)(pps * secs);
    for (long i = 0; i < n; i++) {
        fx->now += 1.0 / pps;
        if (d == TURN_DIR_TO_PEER ? to_peer(fx) : to_client(fx))
            passed += PKT;
    }
    return passed;
}

/* Empty the bucket of direction <d> at the current time. */
static void drain(fx_t *fx, turn_dir_t d)
{
    for (int i = 0; i < 100000; i++)
        if (!(d == TURN_DIR_TO_PEER ? to_peer(fx) : to_client(fx)))
            return;
    fail_msg("the bucket never ran dry");
}

/* An allocation for <user> on client port <port>, with a channel to PEER. */
static turn_alloc_t *alloc_for(fx_t *fx, const char *user, const char *pass, uint16_t port)
{
    fx->tuple.client.port = port;
    fx->user = user;
    fx->pass = pass;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(fx_bind(fx, CHAN, PEER), 0);
    return fx_alloc(fx);
}

static int setup(void **state)
{
    fx_t *fx = fx_new();
    fx->cfg.nonce_lifetime = 86400;
    *state = fx;
    return 0;
}

static void near(double got, double want, double tol)
{
    if (got < want * (1 - tol) || got > want * (1 + tol))
        fail_msg("got %.0f, want %.0f +- %.0f%%", got, want, tol * 100);
}

/* ---- One allocation ---------------------------------------------------- */

static void test_unlimited_by_default(void **state)
{
    fx_t *fx = *state;
    alloc_for(fx, FX_USER, FX_PASS, 40000);
    assert_int_equal(offer(fx, TURN_DIR_TO_PEER, 100000, 0.5), 50000 * PKT);
    assert_int_equal(offer(fx, TURN_DIR_TO_CLIENT, 100000, 0.5), 50000 * PKT);
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.quota_dropped_packets[TURN_QDROP_ALLOCATION], 0);
}

static void test_rate_over_a_second(void **state)
{
    fx_t *fx = *state;
    fx->cfg.alloc_bps = 8000000; /* 1 MB/s */
    alloc_for(fx, FX_USER, FX_PASS, 40000);
    drain(fx, TURN_DIR_TO_PEER);
    /* Offered: 5 MB/s. Passed: the rate. */
    uint64_t got = offer(fx, TURN_DIR_TO_PEER, 5000, 1.0);
    near((double)got, 1000000, 0.02);
    turn_stats_t st = fx_stats(fx);
    assert_true(st.quota_dropped_packets[TURN_QDROP_ALLOCATION] >= 3900);
    assert_int_equal(st.quota_dropped_bytes[TURN_QDROP_ALLOCATION],
                     st.quota_dropped_packets[TURN_QDROP_ALLOCATION] * PKT);
    assert_int_equal(st.quota_dropped_packets[TURN_QDROP_TOTAL], 0);
    /* The per-allocation counters count only what passed. */
    const turn_alloc_counters_t *c = turn_alloc_counters(fx_alloc(fx));
    assert_int_equal(c->to_peer_bytes, st.relayed_bytes[TURN_DIR_TO_PEER][TURN_TR_UDP]);
    /* A low rate is as exact: 100 kbit/s over 10 s. */
    fx->cfg.alloc_bps = 100000;
    turn_set_cfg(fx->t, &fx->cfg);
    drain(fx, TURN_DIR_TO_PEER);
    near((double)offer(fx, TURN_DIR_TO_PEER, 200, 10.0), 125000, 0.02);
}

static void test_burst(void **state)
{
    fx_t *fx = *state;
    fx->cfg.alloc_bps = 80000; /* 10 kB/s */
    fx->cfg.alloc_burst = 10000;
    alloc_for(fx, FX_USER, FX_PASS, 40000);
    /* A new allocation starts with a full bucket: exactly the burst goes
     * through back to back, then nothing. */
    int n = 0;
    while (to_peer(fx))
        n++;
    assert_int_equal(n, 10);
    /* Idle for long enough to fill it many times: the bucket fills to the burst, no further. */
    fx->now += 20;
    for (n = 0; to_peer(fx); n++)
        ;
    assert_int_equal(n, 10);
    /* A burst below the smallest one is raised to it (the configuration
     * loader warns with the same number, CMN_QUOTA_MIN_BURST). */
    fx->cfg.alloc_burst = 1;
    turn_set_cfg(fx->t, &fx->cfg);
    fx->now += 20;
    for (n = 0; to_peer(fx); n++)
        ;
    assert_int_equal(n, CMN_QUOTA_MIN_BURST / PKT);
    /* Automatic burst: one second of the rate, at least 64 KiB. */
    fx->cfg.alloc_burst = 0;
    turn_set_cfg(fx->t, &fx->cfg);
    fx->now += 20;
    for (n = 0; to_peer(fx); n++)
        ;
    assert_int_equal(n, 65);
    fx->cfg.alloc_bps = 8000000;
    turn_set_cfg(fx->t, &fx->cfg);
    fx->now += 20;
    for (n = 0; to_peer(fx); n++)
        ;
    assert_int_equal(n, 1000);
}

static void test_directions_independent(void **state)
{
    fx_t *fx = *state;
    fx->cfg.alloc_bps = 800000; /* 100 kB/s each way */
    alloc_for(fx, FX_USER, FX_PASS, 40000);
    drain(fx, TURN_DIR_TO_PEER);
    /* The client side is dry; the peer side still has its full burst. */
    int n = 0;
    while (to_client(fx))
        n++;
    assert_int_equal(n, 100);
    assert_false(to_peer(fx));
    /* Both refill at their own rate. */
    uint64_t up = 0, down = 0;
    for (int i = 0; i < 1000; i++) {
        fx->now += 0.001;
        up += to_peer(fx) ? PKT : 0;
        down += to_client(fx) ? PKT : 0;
        down += to_client(fx) ? PKT : 0;
    }
    near((double)up, 100000, 0.02);
    near((double)down, 100000, 0.02);
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.relayed_bytes[TURN_DIR_TO_CLIENT][TURN_TR_UDP],
                     turn_alloc_counters(fx_alloc(fx))->to_client_bytes);
}

/* ---- Per-user rates ---------------------------------------------------- */

static void test_user_override(void **state)
{
    fx_t *fx = *state;
    /* The glob comes first, but an exact name wins over any glob. */
    turn_quota_rule_t rules[] = {
        {"*", true, 800000},
        {FX_USER, false, 16000000},
        {"b?b", true, 400000},
    };
    fx->cfg.alloc_bps = 8000000;
    fx->cfg.quota_rules = rules;
    fx->cfg.nquota_rules = 3;
    turn_alloc_t *alice = alloc_for(fx, FX_USER, FX_PASS, 40000);
    assert_int_equal(alice->q_bps, 16000000);
    /* "bob" matches "*" first: globs go in order. */
    turn_alloc_t *bob = alloc_for(fx, "bob", "builder", 40001);
    assert_int_equal(bob->q_bps, 800000);
    drain(fx, TURN_DIR_TO_PEER);
    near((double)offer(fx, TURN_DIR_TO_PEER, 1000, 2.0), 200000, 0.02);

    /* A shared-secret user is matched by its user part. */
    char name[64], pass[64];
    snprintf(name, sizeof(name), "%.0f:carol", FX_WALL + 3600);
    assert_int_equal(turn_ephemeral_password(FX_SECRET, name, pass, sizeof(pass)), 0);
    rules[0] = (turn_quota_rule_t){"car*", true, 2400000};
    turn_alloc_t *carol = alloc_for(fx, name, pass, 40002);
    assert_string_equal(turn_alloc_user(carol), name);
    assert_int_equal(carol->q_bps, 2400000);
    /* No rule: the default. A rate of 0 in a rule: unlimited. */
    rules[0] = (turn_quota_rule_t){"nobody", false, 0};
    rules[2] = (turn_quota_rule_t){"bob", false, 0};
    snprintf(name, sizeof(name), "%.0f:dave", FX_WALL + 3600);
    assert_int_equal(turn_ephemeral_password(FX_SECRET, name, pass, sizeof(pass)), 0);
    assert_int_equal(alloc_for(fx, name, pass, 40003)->q_bps, 8000000);
    /* Reload re-resolves the live allocations: bob is now unlimited. */
    turn_set_cfg(fx->t, &fx->cfg);
    assert_int_equal(bob->q_bps, 0);
    assert_int_equal(alice->q_bps, 16000000);
    fx->tuple.client.port = 40001;
    assert_int_equal(offer(fx, TURN_DIR_TO_PEER, 100000, 0.1), 10000 * PKT);
}

/* ---- The server's capacity --------------------------------------------- */

static void test_total_share(void **state)
{
    fx_t *fx = *state;
    /* 8 Mbit/s over 4 workers: this one has 250 kB/s, for all its
     * allocations together, whatever their own rates. */
    fx->cfg.total_bps = 8000000;
    fx->cfg.total_shares = 4;
    turn_set_cfg(fx->t, &fx->cfg);
    alloc_for(fx, FX_USER, FX_PASS, 40000);
    alloc_for(fx, "bob", "builder", 40001);
    drain(fx, TURN_DIR_TO_CLIENT);
    uint64_t got = 0;
    for (int i = 0; i < 2000; i++) {
        fx->now += 0.0005;
        fx->tuple.client.port = (uint16_t)(40000 + (i & 1));
        got += to_client(fx) ? PKT : 0;
    }
    near((double)got, 250000, 0.02);
    turn_stats_t st = fx_stats(fx);
    assert_true(st.quota_dropped_packets[TURN_QDROP_TOTAL] > 0);
    assert_int_equal(st.quota_dropped_packets[TURN_QDROP_ALLOCATION], 0);
    /* The other direction has its own share. */
    assert_true(to_peer(fx));
    /* Unlimited again after a reload. */
    fx->cfg.total_bps = 0;
    turn_set_cfg(fx->t, &fx->cfg);
    assert_int_equal(offer(fx, TURN_DIR_TO_CLIENT, 100000, 0.1), 10000 * PKT);
}

/* ---- Users over their byte quota ---------------------------------------- */

static void test_over_quota_throttle(void **state)
{
    fx_t *fx = *state;
    fx->cfg.over_throttle = true;
    fx->cfg.floor_bps = 80000; /* 10 kB/s */
    turn_set_cfg(fx->t, &fx->cfg);
    turn_alloc_t *a = alloc_for(fx, FX_USER, FX_PASS, 40000);
    turn_shared_block_user(fx->shared, FX_USER, TURN_BLOCK_QUOTA);
    turn_tick(fx->t, fx->now, fx->wall);
    assert_ptr_equal(fx_alloc(fx), a); /* kept */
    assert_true(a->throttled);
    drain(fx, TURN_DIR_TO_CLIENT);
    near((double)offer(fx, TURN_DIR_TO_CLIENT, 100, 10.0), 100000, 0.02);
    turn_stats_t st = fx_stats(fx);
    assert_true(st.quota_dropped_packets[TURN_QDROP_USER_THROTTLE] > 0);
    assert_int_equal(st.quota_dropped_packets[TURN_QDROP_ALLOCATION], 0);
    /* A new Allocate of the user gets 486 naming the byte quota. */
    fx->tuple.client.port = 40001;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 486);
    assert_string_equal(fx_reason(fx), "Allocation Quota Reached (user byte quota)");
    st = fx_stats(fx);
    assert_int_equal(st.alloc_errors[TURN_ERR_QUOTA_BYTES], 1);
    /* Lifted (a new period): back to unlimited. */
    fx->tuple.client.port = 40000;
    assert_true(turn_shared_lift_block(fx->shared, FX_USER, TURN_BLOCK_QUOTA));
    turn_tick(fx->t, fx->now, fx->wall);
    assert_false(a->throttled);
    assert_int_equal(offer(fx, TURN_DIR_TO_CLIENT, 100000, 0.1), 10000 * PKT);
    /* A user with a rate below the floor keeps it when throttled. */
    fx->cfg.alloc_bps = 40000;
    turn_set_cfg(fx->t, &fx->cfg);
    turn_shared_block_user(fx->shared, FX_USER, TURN_BLOCK_QUOTA);
    turn_tick(fx->t, fx->now, fx->wall);
    assert_true(a->throttled);
    assert_true(a->q[TURN_DIR_TO_CLIENT].rate == 5000);
}

static void test_over_quota_stop(void **state)
{
    fx_t *fx = *state;
    turn_alloc_t *a = alloc_for(fx, FX_USER, FX_PASS, 40000);
    alloc_for(fx, "bob", "builder", 40001);
    turn_alloc_info_t info;
    turn_shared_block_user(fx->shared, FX_USER, TURN_BLOCK_QUOTA);
    turn_tick(fx->t, fx->now, fx->wall);
    turn_alloc_info(a, &info);
    assert_true(info.ended);
    assert_int_equal(info.end_reason, TURN_END_QUOTA);
    assert_non_null(fx_alloc(fx)); /* bob's */
    /* Switching to throttle by reload keeps bob's and does not revive
     * alice's. */
    fx->cfg.over_throttle = true;
    turn_set_cfg(fx->t, &fx->cfg);
    turn_shared_block_user(fx->shared, "bob", TURN_BLOCK_QUOTA);
    turn_tick(fx->t, fx->now, fx->wall);
    assert_non_null(fx_alloc(fx));
    assert_true(fx_alloc(fx)->throttled);
}

/* ---- Counters ---------------------------------------------------------- */

static void test_live_counters(void **state)
{
    fx_t *fx = *state;
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.requests[TURN_REQ_ALLOCATE][0], 0);
    alloc_for(fx, FX_USER, FX_PASS, 40000);
    st = fx_stats(fx);
    /* The 401 challenge and the success; the ChannelBind. */
    assert_int_equal(st.requests[TURN_REQ_ALLOCATE][1], 1);
    assert_int_equal(st.requests[TURN_REQ_ALLOCATE][0], 1);
    assert_int_equal(st.requests[TURN_REQ_CHANNEL_BIND][0], 1);
    assert_int_equal(fx_permission(fx, "192.0.2.99:1"), 0);
    assert_int_equal(fx_refresh(fx, 600), 0);
    assert_int_equal(fx_bind(fx, 0x3000, PEER), 400);
    st = fx_stats(fx);
    assert_int_equal(st.requests[TURN_REQ_CREATE_PERMISSION][0], 1);
    assert_int_equal(st.requests[TURN_REQ_REFRESH][0], 1);
    assert_int_equal(st.requests[TURN_REQ_CHANNEL_BIND][1], 1);
    /* A second Allocate on the same 5-tuple: 437, by reason. */
    assert_int_equal(fx_allocate(fx), 437);
    st = fx_stats(fx);
    assert_int_equal(st.alloc_errors[TURN_ERR_ALLOC_MISMATCH], 1);
    assert_int_equal(st.allocations_failed, 1);
    int code;
    const char *label;
    assert_true(turn_alloc_err_info(TURN_ERR_ALLOC_MISMATCH, &code, &label));
    assert_int_equal(code, 437);
    assert_string_equal(label, "allocation_mismatch");
    assert_false(turn_alloc_err_info(TURN_OK, &code, &label));

    /* Relayed bytes move per datagram, by direction and transport. */
    for (int i = 0; i < 3; i++)
        assert_true(to_peer(fx));
    assert_true(to_client(fx));
    st = fx_stats(fx);
    assert_int_equal(st.relayed_bytes[TURN_DIR_TO_PEER][TURN_TR_UDP], 3 * PKT);
    assert_int_equal(st.relayed_packets[TURN_DIR_TO_PEER][TURN_TR_UDP], 3);
    assert_int_equal(st.relayed_bytes[TURN_DIR_TO_CLIENT][TURN_TR_UDP], PKT);
    fx->tuple.transport = TURN_TR_TLS;
    alloc_for(fx, FX_USER, FX_PASS, 40000);
    assert_true(to_client(fx));
    st = fx_stats(fx);
    assert_int_equal(st.relayed_bytes[TURN_DIR_TO_CLIENT][TURN_TR_TLS], PKT);
    assert_int_equal(st.relayed_bytes[TURN_DIR_TO_CLIENT][TURN_TR_TCP], 0);
    assert_string_equal(turn_dir_name(TURN_DIR_TO_CLIENT), "to_client");
    assert_string_equal(turn_qdrop_name(TURN_QDROP_USER_THROTTLE), "user_throttle");
    assert_string_equal(turn_req_kind_name(TURN_REQ_CREATE_PERMISSION), "create_permission");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unlimited_by_default, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rate_over_a_second, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_burst, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_directions_independent, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_user_override, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_total_share, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_over_quota_throttle, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_over_quota_stop, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_live_counters, setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_quota", tests, NULL, NULL);
}
