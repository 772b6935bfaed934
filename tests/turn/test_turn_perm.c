/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_perm.c: turn/turn_perm.c with the fake clock: permission and
 * channel expiry, the 5-minute channel quarantine (with and without a
 * tick), thousands of channels and permissions found through their
 * hash indexes across growth and sweeps, and churn that stays within the
 * limits.
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

static void test_permission_expiry(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    fx->now += 299;
    assert_true(fx_has_perm(fx, "192.0.2.80:9"));
    fx->now += 1;
    assert_false(fx_has_perm(fx, "192.0.2.80:9")); /* the data path needs no tick */
    assert_int_equal(fx_alloc(fx)->nperms, 1);
    fx_tick(fx, 0);
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
    fx_tick(fx, 1);
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
    fx_tick(fx, 600);
    fx_tick(fx, 299);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.81:1000"), 400);
    fx_tick(fx, 1);
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
    fx_tick(fx, 0);
    assert_int_equal(fx_alloc(fx)->nchans, 1);
    assert_int_equal(fx_stats(fx).channels_active, 1);
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
    fx_tick(fx, 500);
    for (int i = 1; i < n; i += 2) {
        peer_text(peer, sizeof(peer), i);
        assert_int_equal(fx_bind(fx, (uint16_t)(0x4000 + i), peer), 0);
    }
    fx_tick(fx, 150); /* evens: channels quarantined, permissions gone */
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
    fx_tick(fx, 250); /* the quarantine of the evens ends */
    assert_int_equal(a->nchans, n / 2);
    for (int i = 0; i < n; i += 2)
        assert_null(turn__chan_by_num(a, (uint16_t)(0x4000 + i), fx->now));
}

/* Churn: a client that keeps asking for permissions and channels to new
 * peers, for hours of fake time. Past the limits it is refused; as old
 * ones expire new ones fit; the arrays never grow past the limits (the
 * quarantine holds channel numbers, not more memory). */
static void test_churn_is_bounded(void **state)
{
    fx_t *fx = *state;
    char peer[64];
    long_life(fx);
    fx->cfg.max_permissions = 16;
    fx->cfg.max_channels = 8;
    unsigned ok = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        peer_text(peer, sizeof(peer), i);
        int rc = i % 3 ? fx_permission(fx, peer)
                       : fx_bind(fx, (uint16_t)(0x4000 + i % 0x1000), peer);
        rc == 0 ? ok++ : refused++;
        if (i % 50 == 0) {
            fx_tick(fx, 20);
            assert_int_equal(fx_refresh(fx, 3600), 0);
        }
        turn_alloc_t *a = fx_alloc(fx);
        assert_true(a->nperms <= 16 && a->capperms <= 16);
        assert_true(a->nchans <= 8 + 8 && a->capchans <= 32);
    }
    /* About 16 permissions per 300 s and 8 channels per 600 s of the 8000 s. */
    assert_true(ok > 250 && refused > 15000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_permission_expiry, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_expiry_and_quarantine, fx_setup_alloc,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_without_tick, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_channels, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_churn_is_bounded, fx_setup_alloc, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_perm", tests, NULL, NULL);
}
