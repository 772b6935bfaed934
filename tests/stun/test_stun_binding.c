/* icehub - SPDX-License-Identifier: MIT
 *
 * test_stun_binding.c: stun/stun_binding.c: Binding success responses for
 * IPv4 and IPv6 sources, with and without SOFTWARE; the 420 path; ICE
 * connectivity checks (known attributes, no 420); nothing reflected from
 * the request; classic RFC 3489 requests; indications, responses and other
 * methods; and a buffer too small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "stun/stun.h"
#include "stun_vectors.h"

static const uint8_t tid[STUN_TID_LEN] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                          0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc};
static const cmn_addr_t src4 = {CMN_AF_INET, 54321, {198, 51, 100, 23}};
static const cmn_addr_t src6 = {CMN_AF_INET6, 1,
                                {0x20, 0x01, 0x0d, 0xb8, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0xff, 0xfe}};
static const stun_binding_cfg_t cfg_sw = {"icehub test"};

static uint8_t req[2048];
static stun_msg_t reqm;
static stun_enc_t enc;

static void req_start(uint16_t method, uint8_t cls)
{
    stun_enc_init(&enc, req, sizeof(req), stun_type(method, cls), tid);
}

static void req_finish(void)
{
    ssize_t n = stun_enc_finish(&enc);
    assert_true(n > 0);
    assert_int_equal(stun_msg_decode(&reqm, req, (size_t)n, NULL), 0);
}

/* Run the handler and decode its (non-classic) response. */
static void handle(const stun_binding_cfg_t *cfg, const cmn_addr_t *src, uint8_t *out,
                   size_t cap, stun_msg_t *resp)
{
    size_t out_len = 0;
    assert_int_equal(stun_binding_handle(cfg, &reqm, src, out, cap, &out_len), STUN_BIND_REPLY);
    assert_true(out_len >= STUN_HEADER_LEN && out_len <= cap);
    assert_int_equal(stun_msg_decode(resp, out, out_len, NULL), 0);
    assert_memory_equal(resp->tid, tid, STUN_TID_LEN);
    assert_int_equal(resp->method, STUN_METHOD_BINDING);
    assert_int_equal(stun_msg_check_fingerprint(resp), 0);
}

static void check_success(const stun_msg_t *r, const cmn_addr_t *src, bool software)
{
    cmn_addr_t got;
    assert_int_equal(r->cls, STUN_CLASS_SUCCESS);
    assert_int_equal(r->nattrs, software ? 3 : 2);
    assert_int_equal(r->attrs[0].type, STUN_ATTR_XOR_MAPPED_ADDRESS);
    assert_int_equal(stun_attr_get_xor_addr(r, &r->attrs[0], &got), 0);
    assert_addr(&got, src);
    if (software) {
        const char *s;
        size_t n;
        assert_int_equal(r->attrs[1].type, STUN_ATTR_SOFTWARE);
        assert_int_equal(stun_attr_get_text(&r->attrs[1], &s, &n), 0);
        assert_int_equal(n, strlen(cfg_sw.software));
        assert_memory_equal(s, cfg_sw.software, n);
    }
    assert_int_equal(r->attrs[r->nattrs - 1].type, STUN_ATTR_FINGERPRINT);
    assert_null(stun_msg_find(r, STUN_ATTR_MAPPED_ADDRESS));
}

static void test_success_v4_v6(void **state)
{
    (void)state;
    uint8_t out[128];
    stun_msg_t r;
    req_start(STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
    req_finish();
    handle(&cfg_sw, &src4, out, sizeof(out), &r);
    check_success(&r, &src4, true);
    assert_int_equal(r.raw_len, 20 + 12 + 16 + 8);
    handle(&cfg_sw, &src6, out, sizeof(out), &r);
    check_success(&r, &src6, true);
    assert_int_equal(r.raw_len, 20 + 24 + 16 + 8);
}

static void test_success_without_software(void **state)
{
    (void)state;
    uint8_t out[128];
    stun_msg_t r;
    const stun_binding_cfg_t empty = {""}, none = {NULL};
    req_start(STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
    req_finish();
    handle(NULL, &src4, out, sizeof(out), &r);
    check_success(&r, &src4, false);
    handle(&empty, &src4, out, sizeof(out), &r);
    check_success(&r, &src4, false);
    handle(&none, &src6, out, sizeof(out), &r);
    check_success(&r, &src6, false);
}

/* A request full of attributes (an ICE check plus padding of all sorts)
 * gets exactly the same response as an empty one: nothing is reflected. */
static void test_nothing_reflected(void **state)
{
    (void)state;
    uint8_t out1[128], out2[128];
    size_t n1, n2;
    req_start(STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
    req_finish();
    assert_int_equal(stun_binding_handle(&cfg_sw, &reqm, &src4, out1, sizeof(out1), &n1),
                     STUN_BIND_REPLY);

    static uint8_t blob[1200];
    req_start(STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
    stun_enc_text(&enc, STUN_ATTR_USERNAME, "remote:local");
    stun_enc_text(&enc, STUN_ATTR_SOFTWARE, "some agent");
    stun_enc_attr(&enc, 0xC057, blob, sizeof(blob)); /* optional, unknown */
    stun_enc_u32(&enc, STUN_ATTR_PRIORITY, 0x6e0001ff);
    stun_enc_u64(&enc, STUN_ATTR_ICE_CONTROLLING, 0x1234);
    stun_enc_attr(&enc, STUN_ATTR_USE_CANDIDATE, NULL, 0);
    stun_enc_integrity(&enc, (const uint8_t *)"pwd", 3);
    stun_enc_fingerprint(&enc);
    req_finish();
    assert_int_equal(reqm.nunknown, 0);
    assert_int_equal(stun_binding_handle(&cfg_sw, &reqm, &src4, out2, sizeof(out2), &n2),
                     STUN_BIND_REPLY);
    assert_int_equal(n1, n2);
    assert_memory_equal(out1, out2, n1);
}

static void test_unknown_gets_420(void **state)
{
    (void)state;
    uint8_t out[256];
    stun_msg_t r;
    int code;
    const char *reason;
    size_t rlen, n;
    uint16_t types[8];
    req_start(STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
    stun_enc_u32(&enc, 0x0003, 0);          /* CHANGE-REQUEST (RFC 3489) */
    stun_enc_attr(&enc, 0x7F00, "x", 1);
    stun_enc_attr(&enc, 0xC000, "y", 1);    /* optional: not reported */
    stun_enc_fingerprint(&enc);
    req_finish();
    assert_int_equal(reqm.nunknown, 2);
    handle(&cfg_sw, &src4, out, sizeof(out), &r);
    assert_int_equal(r.cls, STUN_CLASS_ERROR);
    assert_int_equal(r.type, 0x0111);
    assert_int_equal(stun_attr_get_error(stun_msg_find(&r, STUN_ATTR_ERROR_CODE), &code, &reason,
                                         &rlen),
                     0);
    assert_int_equal(code, 420);
    assert_true(rlen > 0);
    assert_int_equal(stun_attr_get_unknown(stun_msg_find(&r, STUN_ATTR_UNKNOWN_ATTRIBUTES),
                                           types, 8, &n),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(types[0], 0x0003);
    assert_int_equal(types[1], 0x7F00);
    assert_non_null(stun_msg_find(&r, STUN_ATTR_SOFTWARE));
    assert_null(stun_msg_find(&r, STUN_ATTR_XOR_MAPPED_ADDRESS));
}

static void test_not_a_request(void **state)
{
    (void)state;
    uint8_t out[128];
    size_t n = 99;
    static const uint8_t classes[] = {STUN_CLASS_INDICATION, STUN_CLASS_SUCCESS,
                                      STUN_CLASS_ERROR};
    for (size_t i = 0; i < sizeof(classes); i++) {
        req_start(STUN_METHOD_BINDING, classes[i]);
        stun_enc_fingerprint(&enc);
        req_finish();
        n = 99;
        assert_int_equal(stun_binding_handle(&cfg_sw, &reqm, &src4, out, sizeof(out), &n),
                         STUN_BIND_IGNORE);
        assert_int_equal(n, 0);
    }
    /* An indication with unknown attributes is still ignored (no 420). */
    req_start(STUN_METHOD_BINDING, STUN_CLASS_INDICATION);
    stun_enc_u32(&enc, 0x0003, 0);
    req_finish();
    assert_int_equal(stun_binding_handle(&cfg_sw, &reqm, &src4, out, sizeof(out), &n),
                     STUN_BIND_IGNORE);
    /* Other methods go to TURN, whatever their class. */
    static const uint16_t methods[] = {STUN_METHOD_ALLOCATE, STUN_METHOD_REFRESH,
                                       STUN_METHOD_SEND, STUN_METHOD_DATA,
                                       STUN_METHOD_CREATE_PERMISSION, STUN_METHOD_CHANNEL_BIND,
                                       0x080};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        req_start(methods[i], STUN_CLASS_REQUEST);
        req_finish();
        n = 99;
        assert_int_equal(stun_binding_handle(&cfg_sw, &reqm, &src4, out, sizeof(out), &n),
                         STUN_BIND_NOT_BINDING);
        assert_int_equal(n, 0);
    }
}

/* Build an RFC 3489 Binding request in <b> (zeroed first): no cookie, the
 * 16-byte transaction id <tid16> from byte 4, then one attribute of four
 * zero bytes for each of the <ntypes> <types>. Returns its length. */
static size_t classic_req(uint8_t *b, size_t cap, const uint8_t *tid16, const uint16_t *types,
                          size_t ntypes)
{
    size_t len = STUN_HEADER_LEN + 8 * ntypes;
    assert_true(len <= cap);
    memset(b, 0, cap);
    cmn_put_u16be(b, 0x0001);
    cmn_put_u16be(b + 2, (uint16_t)(len - STUN_HEADER_LEN));
    memcpy(b + 4, tid16, 16);
    for (size_t i = 0; i < ntypes; i++) {
        cmn_put_u16be(b + STUN_HEADER_LEN + 8 * i, types[i]);
        cmn_put_u16be(b + STUN_HEADER_LEN + 8 * i + 2, 4);
    }
    return len;
}

/* Decode <len> bytes of <b>, which must be a classic message. */
static void decode_classic(stun_msg_t *cm, const uint8_t *b, size_t len)
{
    assert_int_equal(stun_msg_decode(cm, b, len, NULL), 0);
    assert_true(cm->classic);
}

/* Answer <cm>, which must get a reply; returns the reply's message type. */
static uint16_t reply_type(const stun_binding_cfg_t *cfg, const stun_msg_t *cm,
                           const cmn_addr_t *src, uint8_t *out, size_t cap, size_t *n)
{
    assert_int_equal(stun_binding_handle(cfg, cm, src, out, cap, n), STUN_BIND_REPLY);
    return cmn_get_u16be(out);
}

/* Parse a classic response by hand: the decoder rightly refuses it (no
 * cookie on a response). Returns the number of attributes seen. */
static int walk_classic(const uint8_t *b, size_t n, uint16_t *types, const uint8_t **vals)
{
    int k = 0;
    assert_int_equal(cmn_get_u16be(b + 2), n - STUN_HEADER_LEN);
    for (size_t p = STUN_HEADER_LEN; p < n; k++) {
        types[k] = cmn_get_u16be(b + p);
        vals[k] = b + p + 4;
        p += 4 + ((cmn_get_u16be(b + p + 2) + 3u) & ~3u);
        assert_true(p <= n);
    }
    return k;
}

static void test_classic_request(void **state)
{
    (void)state;
    /* An RFC 3489 Binding request: 16 random bytes of transaction id. */
    static const uint8_t tid16[16] = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
                                      0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF};
    uint8_t out[128], creq[28];
    size_t n;
    uint16_t types[8];
    const uint8_t *vals[8];
    stun_msg_t cm;
    decode_classic(&cm, creq, classic_req(creq, sizeof(creq), tid16, NULL, 0));

    assert_int_equal(reply_type(&cfg_sw, &cm, &src4, out, sizeof(out), &n), 0x0101);
    assert_memory_equal(out + 4, tid16, 16);
    int k = walk_classic(out, n, types, vals);
    assert_int_equal(k, 2);
    assert_int_equal(types[0], STUN_ATTR_MAPPED_ADDRESS);
    assert_int_equal(types[1], STUN_ATTR_SOFTWARE);
    stun_attr_t a = {STUN_ATTR_MAPPED_ADDRESS, 8, vals[0], 20};
    cmn_addr_t got;
    assert_int_equal(stun_attr_get_addr(&a, &got), 0);
    assert_int_equal(got.port, src4.port);
    assert_memory_equal(got.ip, src4.ip, 4);
    /* Without SOFTWARE: only MAPPED-ADDRESS, no FINGERPRINT. */
    assert_int_equal(reply_type(NULL, &cm, &src6, out, sizeof(out), &n), 0x0101);
    assert_int_equal(n, 20 + 24);
    k = walk_classic(out, n, types, vals);
    assert_int_equal(k, 1);
    assert_int_equal(types[0], STUN_ATTR_MAPPED_ADDRESS);

    /* A classic request with an unknown required attribute: a classic 420,
     * its odd list padded by repeating the type (RFC 3489 §11.2.11). */
    static const uint16_t unknown[] = {0x0041};
    uint8_t creq2[36];
    decode_classic(&cm, creq2, classic_req(creq2, sizeof(creq2), tid16, unknown, 1));
    assert_int_equal(reply_type(NULL, &cm, &src4, out, sizeof(out), &n), 0x0111);
    assert_memory_equal(out + 4, tid16, 16);
    k = walk_classic(out, n, types, vals);
    assert_int_equal(k, 2);
    assert_int_equal(types[0], STUN_ATTR_ERROR_CODE);
    assert_int_equal(types[1], STUN_ATTR_UNKNOWN_ATTRIBUTES);
    assert_int_equal(cmn_get_u16be(vals[1] - 2), 4);
    assert_int_equal(cmn_get_u16be(vals[1]), 0x0041);
    assert_int_equal(cmn_get_u16be(vals[1] + 2), 0x0041);
    assert_int_equal(cmn_get_u16be(vals[0] - 2), 4 + strlen("Unknown Attribute"));
}

/* RFC 3489 NAT-type discovery (the Vovida `stun` client) puts
 * CHANGE-REQUEST in every classic request. */
static void test_classic_change_request(void **state)
{
    (void)state;
    static const uint8_t tid16[] = "0123456789abcdef"; /* the first 16 bytes */
    static const uint16_t change[] = {0x0003}, change_unknown[] = {0x0003, 0x0042};
    uint8_t out[128], creq[36];
    size_t n;
    uint16_t types[8];
    const uint8_t *vals[8];
    stun_msg_t cm;
    size_t len = classic_req(creq, sizeof(creq), tid16, change, 1);
    assert_int_equal(len, 28);
    /* No change flags: an ordinary answer. */
    decode_classic(&cm, creq, len);
    assert_int_equal(cm.nunknown, 1);
    assert_int_equal(reply_type(&cfg_sw, &cm, &src4, out, sizeof(out), &n), 0x0101);
    int k = walk_classic(out, n, types, vals);
    assert_int_equal(k, 2);
    assert_int_equal(types[0], STUN_ATTR_MAPPED_ADDRESS);
    /* Change IP, change port, both: no answer from this address. */
    static const uint8_t flags[] = {0x02, 0x04, 0x06, 0xFF};
    for (size_t i = 0; i < sizeof(flags); i++) {
        creq[27] = flags[i];
        assert_int_equal(stun_msg_decode(&cm, creq, len, NULL), 0);
        n = 99;
        assert_int_equal(stun_binding_handle(&cfg_sw, &cm, &src4, out, sizeof(out), &n),
                         STUN_BIND_IGNORE);
        assert_int_equal(n, 0);
    }
    /* Bits other than the two flags change nothing. */
    creq[27] = 0x01;
    creq[24] = 0x80;
    assert_int_equal(stun_msg_decode(&cm, creq, len, NULL), 0);
    assert_int_equal(reply_type(&cfg_sw, &cm, &src4, out, sizeof(out), &n), 0x0101);
    /* CHANGE-REQUEST plus a really unknown attribute: 420 for that one. */
    len = classic_req(creq, sizeof(creq), tid16, change_unknown, 2);
    assert_int_equal(len, 36);
    assert_int_equal(stun_msg_decode(&cm, creq, len, NULL), 0);
    assert_int_equal(reply_type(&cfg_sw, &cm, &src4, out, sizeof(out), &n), 0x0111);
    k = walk_classic(out, n, types, vals);
    assert_int_equal(types[1], STUN_ATTR_UNKNOWN_ATTRIBUTES);
    assert_int_equal(cmn_get_u16be(vals[1]), 0x0042);
    assert_int_equal(cmn_get_u16be(vals[1] + 2), 0x0042);
    /* With the cookie (RFC 5389 and later) CHANGE-REQUEST stays unknown:
     * 420, so an RFC 5780 client learns there is no behaviour discovery. */
    uint8_t mreq[64];
    stun_enc_t e;
    stun_enc_init(&e, mreq, sizeof(mreq), 0x0001, tid);
    stun_enc_u32(&e, 0x0003, 0);
    ssize_t ml = stun_enc_finish(&e);
    assert_int_equal(stun_msg_decode(&cm, mreq, (size_t)ml, NULL), 0);
    assert_int_equal(reply_type(&cfg_sw, &cm, &src4, out, sizeof(out), &n), 0x0111);
    stun_msg_t r;
    assert_int_equal(stun_msg_decode(&r, out, n, NULL), 0);
    uint16_t u[4];
    size_t un;
    assert_int_equal(stun_attr_get_unknown(stun_msg_find(&r, STUN_ATTR_UNKNOWN_ATTRIBUTES), u, 4,
                                           &un),
                     0);
    assert_int_equal(un, 1);
    assert_int_equal(u[0], 0x0003);
}

static void test_no_room_or_bad_source(void **state)
{
    (void)state;
    uint8_t out[128];
    size_t n = 99;
    req_start(STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
    req_finish();
    /* 20 + 12 + 8 = 40 bytes without SOFTWARE; one short of it fails. */
    assert_int_equal(stun_binding_handle(NULL, &reqm, &src4, out, 40, &n), STUN_BIND_REPLY);
    assert_int_equal(n, 40);
    n = 99;
    assert_int_equal(stun_binding_handle(NULL, &reqm, &src4, out, 39, &n), STUN_BIND_IGNORE);
    assert_int_equal(n, 0);
    assert_int_equal(stun_binding_handle(NULL, &reqm, &src4, out, 0, &n), STUN_BIND_IGNORE);
    const cmn_addr_t bad = {0};
    n = 99;
    assert_int_equal(stun_binding_handle(NULL, &reqm, &bad, out, sizeof(out), &n),
                     STUN_BIND_IGNORE);
    assert_int_equal(n, 0);
    /* A SOFTWARE that isn't UTF-8 is a configuration error: no reply. */
    const stun_binding_cfg_t badsw = {"\xff"};
    assert_int_equal(stun_binding_handle(&badsw, &reqm, &src4, out, sizeof(out), &n),
                     STUN_BIND_IGNORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_v4_v6),
        cmocka_unit_test(test_success_without_software),
        cmocka_unit_test(test_nothing_reflected),
        cmocka_unit_test(test_unknown_gets_420),
        cmocka_unit_test(test_not_a_request),
        cmocka_unit_test(test_classic_request),
        cmocka_unit_test(test_classic_change_request),
        cmocka_unit_test(test_no_room_or_bad_source),
    };
    return cmocka_run_group_tests_name("test_stun_binding", tests, NULL, NULL);
}
