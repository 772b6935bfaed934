/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_handlers.c: turn/turn_handlers.c: Refresh (lifetimes, delete
 * with lifetime 0 and its retransmission, 443), CreatePermission (several
 * peers, all or nothing, 400/403/443/508), ChannelBind (the 0x4000-0x7FFF
 * range, conflicts either way, refresh on rebind, the permission it
 * installs, 403/443/508) and the dispatch of classes and methods.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

/* ---- Refresh ----------------------------------------------------------- */

static void test_refresh_extends(void **state)
{
    fx_t *fx = *state;
    fx->now += 500;
    assert_int_equal(fx_refresh(fx, 1200), 0);
    fx_check_reply_integrity(fx);
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_SOFTWARE));
    assert_int_equal(fx_u32_attr(fx, STUN_ATTR_LIFETIME), 1200);
    fx->now += 1100;
    assert_non_null(fx_alloc(fx));
    assert_int_equal(fx_refresh(fx, -1), 0); /* no LIFETIME: the default */
    assert_int_equal(fx_u32_attr(fx, STUN_ATTR_LIFETIME), 600);
    assert_int_equal(fx_refresh(fx, 50), 0); /* below the default: the default */
    assert_int_equal(fx_u32_attr(fx, STUN_ATTR_LIFETIME), 600);
    fx->now += 600;
    assert_null(fx_alloc(fx));
}

static void test_refresh_zero_deletes(void **state)
{
    fx_t *fx = *state;
    turn_alloc_t *a = fx_alloc(fx);
    uint8_t first[1500];
    assert_int_equal(fx_refresh(fx, 0), 0);
    assert_int_equal(fx_u32_attr(fx, STUN_ATTR_LIFETIME), 0);
    size_t len = fx->res.reply_len;
    memcpy(first, fx->out, len);
    assert_int_equal(fx->closes, 1);
    assert_ptr_equal(fx->closed[0], a);
    assert_null(fx_alloc(fx));
    assert_int_equal(fx_stats(fx).allocations_active, 0);
    assert_int_equal(turn_shared_active(fx->shared), 0);
    /* A retransmission gets the same success, nothing closes twice. */
    assert_int_equal(fx_resend(fx), 0);
    assert_memory_equal(fx->out, first, len);
    assert_int_equal(fx->closes, 1);
    /* A new Refresh is a 437; so is the old one after 40 s. */
    uint8_t saved[2048];
    size_t slen = fx->req_len;
    memcpy(saved, fx->req, slen);
    assert_int_equal(fx_refresh(fx, 0), 437);
    fx->now += 41;
    turn_tick(fx->t, fx->now, fx->wall);
    memcpy(fx->req, saved, slen);
    assert_int_equal(fx_feed(fx, slen), 437);
}

static void test_refresh_family(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    fx_begin(fx, &e, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
    stun_enc_family(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 443);
    assert_string_equal(fx_reason(fx), "Peer Address Family Mismatch");
    fx_begin(fx, &e, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
    stun_enc_family(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
    assert_int_equal(fx_send(fx, &e, true), 0);
}

/* ---- CreatePermission -------------------------------------------------- */

static int permission_many(fx_t *fx, const char *const *peers, size_t n)
{
    stun_enc_t e;
    fx_begin(fx, &e, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
    for (size_t i = 0; i < n; i++) {
        cmn_addr_t p;
        fx_addr(&p, peers[i]);
        stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, &p);
    }
    return fx_send(fx, &e, true);
}

static void test_permission(void **state)
{
    fx_t *fx = *state;
    const char *const two[] = {"192.0.2.80:1", "198.18.0.1:9"};
    assert_int_equal(fx_permission(fx, "192.0.2.80:5000"), 0);
    fx_check_reply_integrity(fx);
    assert_null(stun_msg_find(&fx->rsp, STUN_ATTR_SOFTWARE));
    /* The port does not matter. */
    assert_true(fx_has_perm(fx, "192.0.2.80:7"));
    assert_false(fx_has_perm(fx, "192.0.2.81:5000"));
    assert_int_equal(permission_many(fx, two, 2), 0);
    assert_true(fx_has_perm(fx, "198.18.0.1:1"));
    assert_int_equal(fx_stats(fx).permissions_active, 2);
}

static void test_permission_all_or_nothing(void **state)
{
    fx_t *fx = *state;
    const char *const mixed[] = {"192.0.2.80:1", "127.0.0.1:9"};
    const char *const fam[] = {"192.0.2.80:1", "[2001:db8::1]:9"};
    assert_int_equal(permission_many(fx, mixed, 2), 403);
    assert_string_equal(fx_reason(fx), "Forbidden (peer address)");
    assert_false(fx_has_perm(fx, "192.0.2.80:1"));
    assert_int_equal(fx_stats(fx).peer_denied, 1);
    assert_int_equal(permission_many(fx, fam, 2), 443);
    assert_false(fx_has_perm(fx, "192.0.2.80:1"));
    assert_int_equal(permission_many(fx, NULL, 0), 400);
    assert_int_equal(fx_stats(fx).permissions_active, 0);
}

static void test_permission_capacity(void **state)
{
    fx_t *fx = *state;
    const char *const three[] = {"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1"};
    const char *const dup[] = {"192.0.2.1:1", "192.0.2.1:2", "192.0.2.2:1"};
    fx->cfg.max_permissions = 2;
    assert_int_equal(permission_many(fx, three, 3), 508);
    assert_string_equal(fx_reason(fx), "Insufficient Capacity (permissions per allocation)");
    assert_int_equal(permission_many(fx, dup, 3), 0); /* two distinct IPs */
    assert_int_equal(permission_many(fx, dup, 3), 0); /* refreshing costs nothing */
    assert_int_equal(fx_permission(fx, "192.0.2.3:1"), 508);
    /* A reload that lowers the cap does not stop refreshes. */
    fx->cfg.max_permissions = 1;
    assert_int_equal(permission_many(fx, dup, 3), 0);
    assert_int_equal(fx_permission(fx, "192.0.2.3:1"), 508);
    fx->cfg.max_permissions = 2;
    /* An expired permission frees its place. */
    fx->now += 301;
    assert_int_equal(fx_refresh(fx, 600), 0);
    assert_int_equal(fx_permission(fx, "192.0.2.3:1"), 0);
}

/* ---- ChannelBind ------------------------------------------------------- */

static void test_channel_range(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx_bind(fx, 0x4000, "192.0.2.80:1"), 0);
    fx_check_reply_integrity(fx);
    /* RFC 5766's upper part of the range, which turnutils_uclient uses. */
    assert_int_equal(fx_bind(fx, 0x7FFF, "192.0.2.80:2"), 0);
    assert_int_equal(fx_bind(fx, 0x5123, "192.0.2.80:3"), 0);
    assert_int_equal(fx_bind(fx, 0x3FFF, "192.0.2.80:4"), 400);
    assert_string_equal(fx_reason(fx), "Bad Request (channel number)");
    assert_int_equal(fx_bind(fx, 0x8000, "192.0.2.80:4"), 400);
    assert_int_equal(fx_bind(fx, 0x0000, "192.0.2.80:4"), 400);
    assert_int_equal(fx_stats(fx).channels_active, 3);
}

static void test_channel_conflicts(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.81:1000"), 400);
    assert_string_equal(fx_reason(fx), "Bad Request (channel bound to another peer)");
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1001"), 400); /* another port */
    assert_int_equal(fx_bind(fx, 0x4002, "192.0.2.80:1000"), 400);
    assert_string_equal(fx_reason(fx), "Bad Request (peer bound to another channel)");
    /* The same pair again refreshes. */
    turn_alloc_t *a = fx_alloc(fx);
    double before = a->chans[0].expires;
    fx->now += 100;
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    assert_true(a->chans[0].expires == before + 100);
    assert_int_equal(a->nchans, 1);
    assert_int_equal(fx_stats(fx).channels_active, 1);
}

static void test_channel_installs_permission(void **state)
{
    fx_t *fx = *state;
    assert_false(fx_has_perm(fx, "192.0.2.80:1"));
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    assert_true(fx_has_perm(fx, "192.0.2.80:1"));
    /* A rebind refreshes the permission too. */
    fx->now += 299;
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    fx->now += 299;
    assert_true(fx_has_perm(fx, "192.0.2.80:1"));
}

static void test_channel_policy_and_family(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx_bind(fx, 0x4001, "10.1.2.3:1000"), 403);
    assert_int_equal(fx_bind(fx, 0x4001, "[::ffff:127.0.0.1]:1000"), 443);
    assert_int_equal(fx_bind(fx, 0x4001, "[2001:db8::1]:1000"), 443);
    assert_int_equal(fx_alloc(fx)->nchans, 0);
    assert_int_equal(fx_alloc(fx)->nperms, 0);
}

static void test_channel_capacity(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_channels = 1;
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    assert_int_equal(fx_bind(fx, 0x4002, "192.0.2.80:1001"), 508);
    assert_string_equal(fx_reason(fx), "Insufficient Capacity (channels per allocation)");
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:1000"), 0);
    /* A channel that needs a new permission past the permission cap. */
    fx->cfg.max_channels = 4;
    fx->cfg.max_permissions = 1;
    assert_int_equal(fx_bind(fx, 0x4002, "192.0.2.81:1000"), 508);
    assert_string_equal(fx_reason(fx), "Insufficient Capacity (permissions per allocation)");
}

static void test_missing_attrs(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    cmn_addr_t p;
    fx_addr(&p, "192.0.2.80:1000");
    fx_begin(fx, &e, STUN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST);
    stun_enc_channel(&e, 0x4000);
    assert_int_equal(fx_send(fx, &e, true), 400);
    fx_begin(fx, &e, STUN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, &p);
    assert_int_equal(fx_send(fx, &e, true), 400);
    fx_begin(fx, &e, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
    stun_enc_channel(&e, 0x4000);
    assert_int_equal(fx_send(fx, &e, true), 400);
}

/* ---- Dispatch ---------------------------------------------------------- */

static void test_dispatch(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    /* Responses and Data indications from a client are dropped. */
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_SUCCESS);
    assert_int_equal(fx_send(fx, &e, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_UNEXPECTED_CLASS);
    fx_begin(fx, &e, STUN_METHOD_DATA, STUN_CLASS_INDICATION);
    assert_int_equal(fx_send(fx, &e, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_UNEXPECTED_INDICATION);
    /* A method this server does not serve is a 400, before any auth. */
    fx_begin(fx, &e, 0x00A, STUN_CLASS_REQUEST);
    assert_int_equal(fx_send(fx, &e, false), 400);
    assert_true(fx->rsp.idx_integrity < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refresh_extends, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_zero_deletes, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_family, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_permission, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_permission_all_or_nothing, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_permission_capacity, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_range, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_conflicts, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_installs_permission, fx_setup_alloc,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_policy_and_family, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_capacity, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_attrs, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch, fx_setup_alloc, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_handlers", tests, NULL, NULL);
}
