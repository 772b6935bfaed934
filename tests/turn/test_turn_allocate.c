/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_allocate.c: turn/turn_allocate.c: the Allocate request of RFC
 * 8656 §7.2 through turn_handle_msg with fake relay ops: retransmissions
 * answered from the cache (no second relay_open), 437, REQUESTED-TRANSPORT
 * (400/442), lifetimes and their caps, quotas (486/508 with their reason
 * phrases, checked before relay_open), relay_open failures (508/440/500),
 * EVEN-PORT and RESERVATION-TOKEN, REQUESTED-ADDRESS-FAMILY, dual
 * allocations with ADDRESS-ERROR-CODE, DONT-FRAGMENT, 420, the
 * external address mapping of XOR-RELAYED-ADDRESS, and a draining server
 * (403, or 300 with ALTERNATE-SERVER in turn, existing allocations going on).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

static void alloc_begin(fx_t *fx, stun_enc_t *e)
{
    if (!fx->nonce[0])
        fx_challenge(fx);
    fx_begin(fx, e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(e, 17);
}

static void get_addr(fx_t *fx, uint16_t type, int nth, cmn_addr_t *out)
{
    for (uint16_t i = 0; i < fx->rsp.nattrs; i++) {
        if (fx->rsp.attrs[i].type == type && nth-- == 0) {
            assert_int_equal(stun_attr_get_xor_addr(&fx->rsp, &fx->rsp.attrs[i], out), 0);
            return;
        }
    }
    fail_msg("attribute 0x%04x #%d missing", type, nth);
}

static int count_attr(fx_t *fx, uint16_t type)
{
    int n = 0;
    for (uint16_t i = 0; i < fx->rsp.nattrs; i++)
        n += fx->rsp.attrs[i].type == type;
    return n;
}

static void expect_addr(const cmn_addr_t *a, const char *text)
{
    char buf[CMN_ADDR_STRLEN];
    assert_string_equal(cmn_addr_format(a, buf, sizeof(buf), true), text);
}

static void test_success_attributes(void **state)
{
    fx_t *fx = *state;
    cmn_addr_t a;
    assert_int_equal(fx_allocate(fx), 0);
    fx_check_reply_integrity(fx);
    get_addr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &a);
    expect_addr(&a, "10.0.0.7:50000");
    get_addr(fx, STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &a);
    expect_addr(&a, "203.0.113.5:40000");
    assert_int_equal(fx_u32_attr(fx, STUN_ATTR_LIFETIME), 600);
    assert_null(stun_msg_find(&fx->rsp, STUN_ATTR_RESERVATION_TOKEN));
    assert_int_equal(fx->reqs[0].family, CMN_AF_INET);
    assert_false(fx->reqs[0].even_port || fx->reqs[0].use_token || fx->reqs[0].dont_fragment);
    assert_ptr_equal(fx->reqs[0].origin, fx); /* the request's origin, for the glue */
    assert_int_equal(fx_stats(fx).allocations_created, 1);
}

static void test_retransmission(void **state)
{
    fx_t *fx = *state;
    uint8_t first[1500];
    fx->cfg.nonce_lifetime = 100;
    assert_int_equal(fx_allocate(fx), 0);
    size_t len = fx->res.reply_len;
    memcpy(first, fx->out, len);
    /* Same transaction from the same 5-tuple: the same answer, one relay. */
    assert_int_equal(fx_resend(fx), 0);
    assert_int_equal(fx->res.reply_len, len);
    assert_memory_equal(fx->out, first, len);
    assert_int_equal(fx->opens, 1);
    assert_int_equal(fx_stats(fx).allocations_created, 1);
    /* Even after the nonce went stale (a Refresh with it gets 438). */
    uint8_t saved[2048];
    size_t slen = fx->req_len;
    memcpy(saved, fx->req, slen);
    fx->now += 200;
    assert_int_equal(fx_refresh(fx, 600), 438);
    memcpy(fx->req, saved, slen);
    assert_int_equal(fx_feed(fx, slen), 0);
    assert_memory_equal(fx->out, first, len);
}

static void test_mismatch_437(void **state)
{
    fx_t *fx = *state;
    uint8_t saved[2048];
    assert_int_equal(fx_allocate(fx), 0);
    size_t slen = fx->req_len;
    memcpy(saved, fx->req, slen);
    /* Another Allocate (new transaction) on the same 5-tuple. */
    assert_int_equal(fx_allocate(fx), 437);
    assert_string_equal(fx_reason(fx), "Allocation Mismatch");
    fx_check_reply_integrity(fx);
    assert_int_equal(fx->opens, 1);
    /* ... does not replace the answer a retransmission gets. */
    memcpy(fx->req, saved, slen);
    fx->req_len = slen;
    assert_int_equal(fx_resend(fx), 0);
    /* Other requests need an allocation. */
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    fx_challenge(fx);
    assert_int_equal(fx_refresh(fx, 600), 437);
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 437);
    assert_int_equal(fx_bind(fx, 0x4000, "192.0.2.80:1"), 437);
}

static void test_requested_transport(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    fx_challenge(fx);
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    assert_int_equal(fx_send(fx, &e, true), 400);
    assert_string_equal(fx_reason(fx), "Bad Request (REQUESTED-TRANSPORT)");
    fx_check_reply_integrity(fx);
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_SOFTWARE));
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 6);
    assert_int_equal(fx_send(fx, &e, true), 442);
    assert_int_equal(fx->opens, 0);
    assert_int_equal(fx_stats(fx).allocations_failed, 2);
}

static uint32_t lifetime_for(fx_t *fx, int64_t asked)
{
    stun_enc_t e;
    alloc_begin(fx, &e);
    if (asked >= 0)
        stun_enc_u32(&e, STUN_ATTR_LIFETIME, (uint32_t)asked);
    assert_int_equal(fx_send(fx, &e, true), 0);
    uint32_t got = fx_u32_attr(fx, STUN_ATTR_LIFETIME);
    assert_int_equal(fx_refresh(fx, 0), 0);
    return got;
}

static void test_lifetimes(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(lifetime_for(fx, -1), 600);
    assert_int_equal(lifetime_for(fx, 0), 600);
    assert_int_equal(lifetime_for(fx, 100), 600);
    assert_int_equal(lifetime_for(fx, 1200), 1200);
    assert_int_equal(lifetime_for(fx, 99999), 3600);
    fx->cfg.max_lifetime = 900;
    assert_int_equal(lifetime_for(fx, 99999), 900);
    fx->cfg.max_lifetime = 300; /* the default is capped too */
    assert_int_equal(lifetime_for(fx, -1), 300);
    fx->cfg.default_lifetime = 120;
    fx->cfg.max_lifetime = 0;
    assert_int_equal(lifetime_for(fx, 60), 120);
    assert_int_equal(lifetime_for(fx, 0xFFFFFFFF), 3600);
}

static void test_quota_per_user(void **state)
{
    fx_t *fx = *state;
    turn_shared_set_limits(fx->shared, 0, 1, 0);
    assert_int_equal(fx_allocate(fx), 0);
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 486);
    assert_string_equal(fx_reason(fx), "Allocation Quota Reached (per-user)");
    fx_check_reply_integrity(fx);
    assert_int_equal(fx->opens, 1); /* checked before relay_open */
    /* Another user from the same address is fine. */
    fx->user = "bob";
    fx->pass = "builder";
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(turn_shared_active(fx->shared), 2);
}

static void test_quota_per_ip(void **state)
{
    fx_t *fx = *state;
    turn_shared_set_limits(fx->shared, 0, 0, 1);
    assert_int_equal(fx_allocate(fx), 0);
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    fx->user = "bob";
    fx->pass = "builder";
    assert_int_equal(fx_allocate(fx), 486);
    assert_string_equal(fx_reason(fx), "Allocation Quota Reached (per-client-IP)");
    fx_addr(&fx->tuple.client, "203.0.113.6:40000");
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
}

static void test_quota_total(void **state)
{
    fx_t *fx = *state;
    turn_shared_set_limits(fx->shared, 1, 0, 0);
    assert_int_equal(fx_allocate(fx), 0);
    turn_5tuple_t first = fx->tuple;
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 508);
    assert_string_equal(fx_reason(fx), "Insufficient Capacity (server total)");
    assert_int_equal(fx->opens, 1);
    /* Freed by the first allocation's end. */
    turn_end_tuple(fx->t, &first);
    assert_int_equal(turn_shared_active(fx->shared), 0);
    assert_int_equal(fx_allocate(fx), 0);
}

static void test_relay_errors(void **state)
{
    fx_t *fx = *state;
    static const struct {
        int rc, code;
        const char *reason;
    } cases[] = {
        {CMN_ELIMIT, 508, "Insufficient Capacity (no relay port)"},
        {CMN_ENOENT, 508, "Insufficient Capacity (reservation token)"},
        {CMN_EINVAL, 440, "Address Family not Supported"},
        {CMN_EIO, 500, "Server Error"},
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(cases); i++) {
        fx->rc4 = cases[i].rc;
        assert_int_equal(fx_allocate(fx), cases[i].code);
        assert_string_equal(fx_reason(fx), cases[i].reason);
        assert_null(fx_alloc(fx));
        assert_int_equal(turn_shared_active(fx->shared), 0);
    }
    assert_int_equal(fx->closes, 0);
    fx->rc4 = 0;
    assert_int_equal(fx_allocate(fx), 0);
}

static void test_even_port(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    alloc_begin(fx, &e);
    stun_enc_even_port(&e, true);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_true(fx->reqs[0].even_port && fx->reqs[0].reserve_next);
    const stun_attr_t *tok = stun_msg_find(&fx->rsp, STUN_ATTR_RESERVATION_TOKEN);
    assert_non_null(tok);
    assert_int_equal(tok->len, 8);
    assert_memory_equal(tok->val, "TOKEN-01", 8);
    assert_int_equal(fx_refresh(fx, 0), 0);
    /* Without the R bit: an even port, no token. */
    alloc_begin(fx, &e);
    stun_enc_even_port(&e, false);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_true(fx->reqs[1].even_port && !fx->reqs[1].reserve_next);
    assert_null(stun_msg_find(&fx->rsp, STUN_ATTR_RESERVATION_TOKEN));
}

static void test_reservation_token(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    alloc_begin(fx, &e);
    stun_enc_attr(&e, STUN_ATTR_RESERVATION_TOKEN, "TOKEN-01", 8);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_true(fx->reqs[0].use_token);
    assert_memory_equal(fx->reqs[0].token, "TOKEN-01", 8);
    assert_int_equal(fx_refresh(fx, 0), 0);
    /* RFC 8656 §7.2 step 5: not with EVEN-PORT or an address family. */
    alloc_begin(fx, &e);
    stun_enc_attr(&e, STUN_ATTR_RESERVATION_TOKEN, "TOKEN-01", 8);
    stun_enc_even_port(&e, false);
    assert_int_equal(fx_send(fx, &e, true), 400);
    assert_string_equal(fx_reason(fx), "Bad Request (conflicting attributes)");
    alloc_begin(fx, &e);
    stun_enc_attr(&e, STUN_ATTR_RESERVATION_TOKEN, "TOKEN-01", 8);
    stun_enc_family(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
    assert_int_equal(fx_send(fx, &e, true), 400);
    assert_int_equal(fx->opens, 1);
}

static void test_requested_family(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    cmn_addr_t a;
    uint8_t bad[4] = {0x03, 0, 0, 0};
    alloc_begin(fx, &e);
    stun_enc_family(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(fx->reqs[0].family, CMN_AF_INET6);
    get_addr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &a);
    expect_addr(&a, "[2001:db8::7]:50000");
    assert_int_equal(count_attr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS), 1);
    assert_int_equal(fx_refresh(fx, 0), 0);
    alloc_begin(fx, &e);
    stun_enc_attr(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, bad, 4);
    assert_int_equal(fx_send(fx, &e, true), 440);
    assert_int_equal(fx->opens, 1);
}

static void test_dual_allocation(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    cmn_addr_t a;
    alloc_begin(fx, &e);
    stun_enc_family(&e, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(fx->opens, 2);
    assert_int_equal(fx->reqs[0].family, CMN_AF_INET);
    assert_int_equal(fx->reqs[1].family, CMN_AF_INET6);
    assert_ptr_equal(fx->reqs[1].origin, fx);
    assert_int_equal(count_attr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS), 2);
    get_addr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &a);
    expect_addr(&a, "10.0.0.7:50000");
    get_addr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS, 1, &a);
    expect_addr(&a, "[2001:db8::7]:50002");
    assert_null(stun_msg_find(&fx->rsp, STUN_ATTR_ADDRESS_ERROR_CODE));
    /* Both families take peers. */
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    assert_int_equal(fx_permission(fx, "[2001:db8:1::80]:1"), 0);
    assert_int_equal(fx_refresh(fx, 0), 0);
    assert_int_equal(fx->closes, 1);
}

/* coturn's turnutils_uclient -Z sends the draft code point 0x8032. */
static void test_dual_old_code_point(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    const uint8_t v6[4] = {STUN_FAMILY_IPV6, 0, 0, 0};
    alloc_begin(fx, &e);
    stun_enc_attr(&e, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY_OLD, v6, 4);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(count_attr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS), 2);
    /* It then refreshes "the IPv6 part", which it has. */
    fx_begin(fx, &e, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
    stun_enc_family(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(fx_refresh(fx, 0), 0);
    /* As [MS-TURN]'s MS-ALTERNATE-HOST-NAME (a name), it is ignored. */
    alloc_begin(fx, &e);
    stun_enc_attr(&e, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY_OLD, "turn.example", 12);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(count_attr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS), 1);
}

static void test_dual_partial(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    uint8_t fam;
    int code;
    const char *reason;
    size_t rlen;
    fx->rc6 = CMN_EINVAL;
    alloc_begin(fx, &e);
    stun_enc_family(&e, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(count_attr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS), 1);
    const stun_attr_t *ae = stun_msg_find(&fx->rsp, STUN_ATTR_ADDRESS_ERROR_CODE);
    assert_non_null(ae);
    assert_int_equal(stun_attr_get_addr_error(ae, &fam, &code, &reason, &rlen), 0);
    assert_int_equal(fam, STUN_FAMILY_IPV6);
    assert_int_equal(code, 440);
    /* An IPv6 peer on the IPv4-only result: 443. */
    assert_int_equal(fx_permission(fx, "[2001:db8:1::80]:1"), 443);
    assert_int_equal(fx_refresh(fx, 0), 0);
    /* No IPv6 port: 508 in ADDRESS-ERROR-CODE. */
    fx->rc6 = CMN_ELIMIT;
    alloc_begin(fx, &e);
    stun_enc_family(&e, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 0);
    ae = stun_msg_find(&fx->rsp, STUN_ATTR_ADDRESS_ERROR_CODE);
    assert_int_equal(stun_attr_get_addr_error(ae, &fam, &code, &reason, &rlen), 0);
    assert_int_equal(code, 508);
    assert_int_equal(fx_refresh(fx, 0), 0);
    /* Both failing fails the request. */
    fx->rc4 = CMN_ELIMIT;
    alloc_begin(fx, &e);
    stun_enc_family(&e, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 508);
    assert_int_equal(turn_shared_active(fx->shared), 0);
}

static void test_dual_rules(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    alloc_begin(fx, &e);
    stun_enc_family(&e, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
    assert_int_equal(fx_send(fx, &e, true), 400);
    alloc_begin(fx, &e);
    stun_enc_family(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
    stun_enc_family(&e, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 400);
    alloc_begin(fx, &e);
    stun_enc_even_port(&e, true);
    stun_enc_family(&e, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 400);
    assert_int_equal(fx->opens, 0);
}

static void test_dont_fragment(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    alloc_begin(fx, &e);
    stun_enc_attr(&e, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_true(fx->reqs[0].dont_fragment);
    assert_true(fx_alloc(fx)->dont_fragment);
}

static void test_unknown_attribute_420(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    uint16_t types[4];
    size_t n;
    alloc_begin(fx, &e);
    stun_enc_u32(&e, 0x0031, 7); /* comprehension-required, unknown */
    stun_enc_u32(&e, 0x8031, 7); /* comprehension-optional: ignored */
    assert_int_equal(fx_send(fx, &e, true), 420);
    fx_check_reply_integrity(fx);
    const stun_attr_t *ua = stun_msg_find(&fx->rsp, STUN_ATTR_UNKNOWN_ATTRIBUTES);
    assert_non_null(ua);
    assert_int_equal(stun_attr_get_unknown(ua, types, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(types[0], 0x0031);
    assert_int_equal(fx->opens, 0);
}

static void test_external_address(void **state)
{
    fx_t *fx = *state;
    cmn_addr_t pub[2], priv[2], a;
    fx_addr(&pub[0], "192.0.2.200:0");
    fx_addr(&priv[0], "10.9.9.9:0");
    fx_addr(&pub[1], "192.0.2.100:0");
    memset(&priv[1], 0, sizeof(priv[1])); /* any IPv4 relay */
    fx->cfg.ext_pub = pub;
    fx->cfg.ext_priv = priv;
    fx->cfg.next = 2;
    assert_int_equal(fx_allocate(fx), 0);
    get_addr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &a);
    expect_addr(&a, "192.0.2.100:50000");
    assert_int_equal(fx_refresh(fx, 0), 0);
    /* An exact PUBLIC/PRIVATE pair wins over the family-wide entry. */
    fx_addr(&priv[0], "10.0.0.7:0");
    assert_int_equal(fx_allocate(fx), 0);
    get_addr(fx, STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &a);
    expect_addr(&a, "192.0.2.200:50002");
    /* The relay itself is untouched. */
    expect_addr(&fx_alloc(fx)->relay[0], "10.0.0.7:50002");
}

/* Draining without alternates: 403 that says so, authenticated; nothing is
 * opened; the allocation made before goes on (Refresh, permissions,
 * channels); the flag off again lets Allocates through. */
static void test_draining_403(void **state)
{
    fx_t *fx = *state;
    fx->cfg.nonce_lifetime = 86400;
    assert_int_equal(fx_allocate(fx), 0);
    turn_shared_set_draining(fx->shared, true);
    assert_true(turn_shared_draining(fx->shared));
    assert_int_equal(fx_refresh(fx, 600), 0);
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    assert_int_equal(fx_bind(fx, 0x4000, "192.0.2.80:1"), 0);
    fx->tuple.client.port++;
    fx->nonce[0] = '\0'; /* nonces are bound to the client address */
    assert_int_equal(fx_allocate(fx), 403);
    assert_string_equal(fx_reason(fx), "Forbidden (server draining)");
    fx_check_reply_integrity(fx);
    assert_null(stun_msg_find(&fx->rsp, STUN_ATTR_ALTERNATE_SERVER));
    assert_int_equal(fx->opens, 1);
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.allocations_failed, 1);
    assert_int_equal(st.alloc_errors[TURN_ERR_DRAINING], 1);
    int code;
    const char *label;
    assert_true(turn_alloc_err_info(TURN_ERR_DRAINING, &code, &label));
    assert_int_equal(code, 403);
    assert_string_equal(label, "draining");
    turn_shared_set_draining(fx->shared, false);
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(fx->opens, 2);
}

static void alt_of(fx_t *fx, cmn_addr_t *out)
{
    const stun_attr_t *a = stun_msg_find(&fx->rsp, STUN_ATTR_ALTERNATE_SERVER);
    assert_non_null(a);
    assert_int_equal(stun_attr_get_addr(a, out), 0);
}

/* With alternates: 300 Try Alternate naming one of the client's family,
 * the next one each time, integrity-protected (RFC 8489 §10); a client of
 * a family no alternate has gets 403. */
static void test_draining_300(void **state)
{
    fx_t *fx = *state;
    cmn_addr_t alts[3], got;
    fx_addr(&alts[0], "192.0.2.10:3478");
    fx_addr(&alts[1], "[2001:db8::10]:3478");
    fx_addr(&alts[2], "192.0.2.11:3479");
    fx->cfg.alternates = alts;
    fx->cfg.nalternates = 3;
    turn_shared_set_draining(fx->shared, true);
    const char *want[] = {"192.0.2.10:3478", "192.0.2.11:3479", "192.0.2.10:3478"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fx_allocate(fx), 300);
        assert_string_equal(fx_reason(fx), "Try Alternate (server draining)");
        fx_check_reply_integrity(fx);
        alt_of(fx, &got);
        expect_addr(&got, want[i]);
    }
    assert_int_equal(fx->opens, 0);
    assert_int_equal(fx_stats(fx).alloc_errors[TURN_ERR_TRY_ALTERNATE], 3);
    fx->cfg.nalternates = 1;
    fx_addr(&alts[0], "[2001:db8::10]:3478");
    assert_int_equal(fx_allocate(fx), 403);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success_attributes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retransmission, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mismatch_437, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_requested_transport, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lifetimes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quota_per_user, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quota_per_ip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quota_total, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_relay_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_even_port, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reservation_token, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_requested_family, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dual_allocation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dual_old_code_point, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dual_partial, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dual_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dont_fragment, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_attribute_420, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_external_address, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_draining_403, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_draining_300, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_allocate", tests, NULL, NULL);
}
