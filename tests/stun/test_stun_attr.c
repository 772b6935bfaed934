/* icehub - SPDX-License-Identifier: MIT
 *
 * test_stun_attr.c: stun/stun_attr.c and stun/stun_enc.c: every attribute
 * getter on good and malformed values, and every encoder function as a
 * roundtrip (encode, decode, get) plus its failure modes: no room, bad
 * values, attribute order, sticky errors, padding and classic headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "stun/stun.h"
#include "stun_vectors.h"

/* The RFC 5769 transaction id serves for every message here. */
static const uint8_t *const tid = rfc5769_tid;

/* An attribute over caller bytes, as the decoder would produce it. */
static stun_attr_t attr(uint16_t type, const void *val, size_t len)
{
    stun_attr_t a = {type, (uint16_t)len, val, 20};
    return a;
}

/* One encoder run over a static buffer; decode() checks it round-trips. */
static uint8_t buf[2048];
static stun_enc_t enc;
static stun_msg_t msg;

static void start(void)
{
    stun_enc_init(&enc, buf, sizeof(buf), stun_type(STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST),
                  tid);
}

static const stun_attr_t *decode(uint16_t type)
{
    ssize_t n = stun_enc_finish(&enc);
    assert_true(n >= STUN_HEADER_LEN);
    assert_int_equal(stun_msg_decode(&msg, buf, (size_t)n, NULL), 0);
    assert_memory_equal(msg.tid, tid, STUN_TID_LEN);
    const stun_attr_t *a = stun_msg_find(&msg, type);
    assert_non_null(a);
    return a;
}

/* ---- addresses ------------------------------------------------------- */

static const cmn_addr_t v4 = {CMN_AF_INET, 3478, {203, 0, 113, 7}};
static const cmn_addr_t v6 = {CMN_AF_INET6, 65535,
                              {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};

static void test_addr_roundtrip(void **state)
{
    (void)state;
    static const uint16_t types[] = {STUN_ATTR_MAPPED_ADDRESS, STUN_ATTR_ALTERNATE_SERVER};
    const cmn_addr_t *addrs[] = {&v4, &v6};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < 2; i++) {
            cmn_addr_t got;
            start();
            assert_int_equal(stun_enc_addr(&enc, types[t], addrs[i]), 0);
            const stun_attr_t *a = decode(types[t]);
            assert_int_equal(a->len, i ? 20 : 8);
            assert_int_equal(stun_attr_get_addr(a, &got), 0);
            assert_addr(&got, addrs[i]);
            /* Not XORed: the port is on the wire as is. */
            assert_int_equal(cmn_get_u16be(a->val + 2), addrs[i]->port);
        }
    }
}

static void test_xor_addr_roundtrip(void **state)
{
    (void)state;
    static const uint16_t types[] = {STUN_ATTR_XOR_MAPPED_ADDRESS, STUN_ATTR_XOR_PEER_ADDRESS,
                                     STUN_ATTR_XOR_RELAYED_ADDRESS};
    const cmn_addr_t *addrs[] = {&v4, &v6};
    for (size_t t = 0; t < 3; t++) {
        for (size_t i = 0; i < 2; i++) {
            cmn_addr_t got;
            start();
            assert_int_equal(stun_enc_xor_addr(&enc, types[t], addrs[i]), 0);
            const stun_attr_t *a = decode(types[t]);
            assert_int_equal(stun_attr_get_xor_addr(&msg, a, &got), 0);
            assert_addr(&got, addrs[i]);
            assert_int_equal(cmn_get_u16be(a->val + 2), addrs[i]->port ^ 0x2112);
            /* The plain getter sees the XORed bytes. */
            assert_int_equal(stun_attr_get_addr(a, &got), 0);
            assert_int_not_equal(got.port, addrs[i]->port);
        }
    }
    /* RFC 5769 §2.2's XOR-MAPPED-ADDRESS value: 192.0.2.1:32853. */
    stun_msg_t m = {0};
    memcpy(m.tid, tid, STUN_TID_LEN);
    stun_attr_t a = attr(STUN_ATTR_XOR_MAPPED_ADDRESS, rfc5769_resp4 + RFC5769_RESP4_XMA_VAL, 8);
    cmn_addr_t got;
    assert_int_equal(stun_attr_get_xor_addr(&m, &a, &got), 0);
    assert_addr(&got, &rfc5769_addr4);
    /* A classic message has no cookie to XOR with. */
    m.classic = true;
    assert_int_equal(stun_attr_get_xor_addr(&m, &a, &got), CMN_EPROTO);
}

static void test_addr_malformed(void **state)
{
    (void)state;
    uint8_t v[20] = {0, STUN_FAMILY_IPV4, 0, 1, 1, 2, 3, 4};
    cmn_addr_t got;
    stun_msg_t m = {0};
    static const struct {
        uint8_t family;
        uint16_t len;
    } bad[] = {{STUN_FAMILY_IPV4, 20}, {STUN_FAMILY_IPV6, 8}, {0, 8}, {3, 8},
               {STUN_FAMILY_IPV4, 4},  {STUN_FAMILY_IPV6, 16}, {STUN_FAMILY_IPV4, 0}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v[1] = bad[i].family;
        stun_attr_t a = attr(STUN_ATTR_MAPPED_ADDRESS, v, bad[i].len);
        assert_int_equal(stun_attr_get_addr(&a, &got), CMN_EPROTO);
        assert_int_equal(stun_attr_get_xor_addr(&m, &a, &got), CMN_EPROTO);
    }
    /* The reserved first byte is ignored. */
    v[0] = 0xFF;
    v[1] = STUN_FAMILY_IPV4;
    stun_attr_t a = attr(STUN_ATTR_MAPPED_ADDRESS, v, 8);
    assert_int_equal(stun_attr_get_addr(&a, &got), 0);
    assert_int_equal(got.port, 1);
    /* Encoding an address without a family fails. */
    cmn_addr_t none = {0};
    start();
    assert_int_equal(stun_enc_addr(&enc, STUN_ATTR_MAPPED_ADDRESS, &none), CMN_EINVAL);
    start();
    assert_int_equal(stun_enc_xor_addr(&enc, STUN_ATTR_XOR_MAPPED_ADDRESS, &none), CMN_EINVAL);
}

/* ---- numbers and flags ----------------------------------------------- */

static void test_numbers_roundtrip(void **state)
{
    (void)state;
    uint32_t u32;
    uint64_t u64;
    uint16_t ch;
    uint8_t b8;
    bool r;
    start();
    stun_enc_u32(&enc, STUN_ATTR_LIFETIME, 600);
    stun_enc_u64(&enc, STUN_ATTR_RESERVATION_TOKEN, 0x0102030405060708ull);
    stun_enc_channel(&enc, 0x4001);
    stun_enc_transport(&enc, 17);
    stun_enc_family(&enc, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    stun_enc_family(&enc, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
    stun_enc_even_port(&enc, true);
    stun_enc_attr(&enc, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
    assert_int_equal(stun_attr_get_u32(decode(STUN_ATTR_LIFETIME), &u32), 0);
    assert_int_equal(u32, 600);
    assert_int_equal(stun_attr_get_u64(decode(STUN_ATTR_RESERVATION_TOKEN), &u64), 0);
    assert_true(u64 == 0x0102030405060708ull);
    const stun_attr_t *a = decode(STUN_ATTR_CHANNEL_NUMBER);
    assert_int_equal(stun_attr_get_channel(a, &ch), 0);
    assert_int_equal(ch, 0x4001);
    assert_int_equal(cmn_get_u16be(a->val + 2), 0); /* RFFU */
    a = decode(STUN_ATTR_REQUESTED_TRANSPORT);
    assert_int_equal(stun_attr_get_transport(a, &b8), 0);
    assert_int_equal(b8, 17);
    assert_memory_equal(a->val + 1, "\0\0\0", 3);
    assert_int_equal(stun_attr_get_family(decode(STUN_ATTR_REQUESTED_ADDRESS_FAMILY), &b8), 0);
    assert_int_equal(b8, STUN_FAMILY_IPV6);
    assert_int_equal(stun_attr_get_family(decode(STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY), &b8), 0);
    assert_int_equal(b8, STUN_FAMILY_IPV4);
    a = decode(STUN_ATTR_EVEN_PORT);
    assert_int_equal(a->len, 1);
    assert_int_equal(stun_attr_get_even_port(a, &r), 0);
    assert_true(r);
    assert_int_equal(decode(STUN_ATTR_DONT_FRAGMENT)->len, 0);

    start();
    stun_enc_even_port(&enc, false);
    assert_int_equal(stun_attr_get_even_port(decode(STUN_ATTR_EVEN_PORT), &r), 0);
    assert_false(r);
    /* Only the R bit counts; the other seven are RFFU. */
    static const uint8_t rffu = 0x7F;
    stun_attr_t e = attr(STUN_ATTR_EVEN_PORT, &rffu, 1);
    assert_int_equal(stun_attr_get_even_port(&e, &r), 0);
    assert_false(r);
}

static void test_numbers_malformed(void **state)
{
    (void)state;
    static const uint8_t z[16];
    uint32_t u32;
    uint64_t u64;
    uint16_t u16;
    uint8_t u8;
    bool r;
    for (size_t len = 0; len <= 16; len++) {
        stun_attr_t a = attr(0x8050, z, len);
        assert_int_equal(stun_attr_get_u32(&a, &u32), len == 4 ? 0 : CMN_EPROTO);
        assert_int_equal(stun_attr_get_u64(&a, &u64), len == 8 ? 0 : CMN_EPROTO);
        assert_int_equal(stun_attr_get_channel(&a, &u16), len == 4 ? 0 : CMN_EPROTO);
        assert_int_equal(stun_attr_get_transport(&a, &u8), len == 4 ? 0 : CMN_EPROTO);
        assert_int_equal(stun_attr_get_family(&a, &u8), len == 4 ? 0 : CMN_EPROTO);
        assert_int_equal(stun_attr_get_even_port(&a, &r), len == 1 ? 0 : CMN_EPROTO);
        uint8_t t, c;
        assert_int_equal(stun_attr_get_icmp(&a, &t, &c, &u32), len == 8 ? 0 : CMN_EPROTO);
    }
    /* The family getter reports what was sent, for a 440. */
    static const uint8_t fam[] = {0x07, 0, 0, 0};
    stun_attr_t a = attr(STUN_ATTR_REQUESTED_ADDRESS_FAMILY, fam, 4);
    assert_int_equal(stun_attr_get_family(&a, &u8), 0);
    assert_int_equal(u8, 7);
    /* The encoder refuses a family that isn't IPv4 or IPv6. */
    start();
    assert_int_equal(stun_enc_family(&enc, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, 0), CMN_EINVAL);
    start();
    assert_int_equal(stun_enc_family(&enc, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, 3), CMN_EINVAL);
}

static void test_icmp_roundtrip(void **state)
{
    (void)state;
    uint8_t t, c;
    uint32_t d;
    start();
    assert_int_equal(stun_enc_icmp(&enc, 3, 4, 1400), 0);
    const stun_attr_t *a = decode(STUN_ATTR_ICMP);
    assert_int_equal(a->len, 8);
    assert_int_equal(cmn_get_u16be(a->val), 0); /* reserved */
    assert_int_equal(stun_attr_get_icmp(a, &t, &c, &d), 0);
    assert_int_equal(t, 3);
    assert_int_equal(c, 4);
    assert_int_equal(d, 1400);
}

/* ---- error codes ----------------------------------------------------- */

static void test_error_roundtrip(void **state)
{
    (void)state;
    static const int codes[] = {300, 400, 401, 420, 438, 486, 508, 599, 699};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        int code;
        const char *reason;
        size_t rlen;
        start();
        assert_int_equal(stun_enc_error(&enc, codes[i], "Bad Request"), 0);
        const stun_attr_t *a = decode(STUN_ATTR_ERROR_CODE);
        assert_int_equal(stun_attr_get_error(a, &code, &reason, &rlen), 0);
        assert_int_equal(code, codes[i]);
        assert_int_equal(rlen, 11);
        assert_memory_equal(reason, "Bad Request", 11);
        assert_int_equal(a->val[0] | a->val[1], 0);
    }
    /* NULL and empty reasons. */
    int code;
    const char *reason;
    size_t rlen;
    start();
    assert_int_equal(stun_enc_error(&enc, 401, NULL), 0);
    assert_int_equal(stun_attr_get_error(decode(STUN_ATTR_ERROR_CODE), &code, &reason, &rlen), 0);
    assert_int_equal(code, 401);
    assert_int_equal(rlen, 0);
    /* ADDRESS-ERROR-CODE carries the family in byte 0. */
    uint8_t fam;
    start();
    assert_int_equal(stun_enc_addr_error(&enc, STUN_FAMILY_IPV6, 440, "Address Family not Supported"), 0);
    assert_int_equal(stun_attr_get_addr_error(decode(STUN_ATTR_ADDRESS_ERROR_CODE), &fam, &code,
                                              &reason, &rlen),
                     0);
    assert_int_equal(fam, STUN_FAMILY_IPV6);
    assert_int_equal(code, 440);
    assert_int_equal(rlen, strlen("Address Family not Supported"));
}

static void test_error_malformed(void **state)
{
    (void)state;
    uint8_t v[800] = {0, 0, 4, 1, 'o', 'k'};
    int code;
    const char *reason;
    size_t rlen;
    uint8_t fam;
    stun_attr_t a = attr(STUN_ATTR_ERROR_CODE, v, 6);
    assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), 0);
    assert_int_equal(code, 401);
    /* Reserved bits above the class are ignored. */
    v[0] = 0xFF;
    v[1] = 0xFF;
    v[2] = 0xFC;
    assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), 0);
    assert_int_equal(code, 401);
    v[0] = v[1] = 0;
    /* Class outside 3..6, number over 99. */
    static const uint8_t bad_cls[] = {0, 1, 2, 7};
    for (size_t i = 0; i < sizeof(bad_cls); i++) {
        v[2] = bad_cls[i];
        assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), CMN_EPROTO);
        assert_int_equal(stun_attr_get_addr_error(&a, &fam, &code, &reason, &rlen), CMN_EPROTO);
    }
    v[2] = 4;
    v[3] = 100;
    assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), CMN_EPROTO);
    v[3] = 255;
    assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), CMN_EPROTO);
    v[3] = 0;
    /* Too short; reason not UTF-8; reason over 763 bytes. */
    for (uint16_t len = 0; len < 4; len++) {
        a.len = len;
        assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), CMN_EPROTO);
    }
    a.len = 6;
    v[4] = 0xC0;
    v[5] = 0x80;
    assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), CMN_EPROTO);
    memset(v + 4, 'r', sizeof(v) - 4);
    a.len = 4 + STUN_REASON_MAX;
    assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), 0);
    a.len++;
    assert_int_equal(stun_attr_get_error(&a, &code, &reason, &rlen), CMN_EPROTO);
    /* The encoder refuses codes outside 300..699 and bad reasons. */
    static const int bad_codes[] = {-1, 0, 299, 700, 1000};
    for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
        start();
        assert_int_equal(stun_enc_error(&enc, bad_codes[i], "x"), CMN_EINVAL);
        start();
        assert_int_equal(stun_enc_addr_error(&enc, 1, bad_codes[i], "x"), CMN_EINVAL);
    }
    start();
    assert_int_equal(stun_enc_error(&enc, 400, "\xff"), CMN_EINVAL);
    char *longr = malloc(STUN_REASON_MAX + 2);
    memset(longr, 'r', STUN_REASON_MAX + 1);
    longr[STUN_REASON_MAX + 1] = 0;
    start();
    assert_int_equal(stun_enc_error(&enc, 400, longr), CMN_EINVAL);
    longr[STUN_REASON_MAX] = 0;
    start();
    assert_int_equal(stun_enc_error(&enc, 400, longr), 0);
    free(longr);
}

/* ---- lists ----------------------------------------------------------- */

static void test_unknown_roundtrip(void **state)
{
    (void)state;
    uint16_t in[] = {0x0003, 0x7FFF, 0x0040};
    uint16_t out[8];
    size_t n;
    start();
    assert_int_equal(stun_enc_unknown(&enc, in, 3), 0);
    const stun_attr_t *a = decode(STUN_ATTR_UNKNOWN_ATTRIBUTES);
    assert_int_equal(a->len, 6);
    assert_int_equal(stun_attr_get_unknown(a, out, 8, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, in, sizeof(in));
    /* Capped at max. */
    assert_int_equal(stun_attr_get_unknown(a, out, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(stun_attr_get_unknown(a, out, 0, &n), 0);
    assert_int_equal(n, 0);
    /* Odd length is malformed; empty is an empty list. */
    stun_attr_t odd = attr(STUN_ATTR_UNKNOWN_ATTRIBUTES, a->val, 5);
    assert_int_equal(stun_attr_get_unknown(&odd, out, 8, &n), CMN_EPROTO);
    odd.len = 0;
    assert_int_equal(stun_attr_get_unknown(&odd, out, 8, &n), 0);
    assert_int_equal(n, 0);
    start();
    assert_int_equal(stun_enc_unknown(&enc, in, 0), CMN_EINVAL);
}

static void test_pwalg(void **state)
{
    (void)state;
    uint16_t alg;
    const uint8_t *params;
    size_t plen;
    start();
    assert_int_equal(stun_enc_pwalg(&enc, STUN_PWALG_SHA256), 0);
    const uint16_t algs[] = {STUN_PWALG_SHA256, STUN_PWALG_MD5};
    assert_int_equal(stun_enc_pwalgs(&enc, algs, 2), 0);
    const stun_attr_t *a = decode(STUN_ATTR_PASSWORD_ALGORITHM);
    assert_int_equal(stun_attr_get_pwalg(a, &alg, &params, &plen), 0);
    assert_int_equal(alg, STUN_PWALG_SHA256);
    assert_int_equal(plen, 0);
    a = decode(STUN_ATTR_PASSWORD_ALGORITHMS);
    assert_int_equal(a->len, 8);
    assert_int_equal(stun_attr_get_pwalgs(a, 0, &alg), 0);
    assert_int_equal(alg, STUN_PWALG_SHA256);
    assert_int_equal(stun_attr_get_pwalgs(a, 1, &alg), 0);
    assert_int_equal(alg, STUN_PWALG_MD5);
    assert_int_equal(stun_attr_get_pwalgs(a, 2, &alg), CMN_ENOENT);
    start();
    assert_int_equal(stun_enc_pwalgs(&enc, algs, 0), CMN_EINVAL);

    /* Parameters: padded inside the value, or (last entry) left to the
     * attribute padding. */
    static const uint8_t p1[] = {0x00, 0x09, 0x00, 0x03, 'a', 'b', 'c', 0x00,
                                 0x00, 0x01, 0x00, 0x02, 'x', 'y'};
    stun_attr_t one = attr(STUN_ATTR_PASSWORD_ALGORITHM, p1, 8);
    assert_int_equal(stun_attr_get_pwalg(&one, &alg, &params, &plen), 0);
    assert_int_equal(alg, 9);
    assert_int_equal(plen, 3);
    assert_memory_equal(params, "abc", 3);
    one.len = 7;
    assert_int_equal(stun_attr_get_pwalg(&one, &alg, &params, &plen), 0);
    one.len = 6; /* parameters cut short */
    assert_int_equal(stun_attr_get_pwalg(&one, &alg, &params, &plen), CMN_EPROTO);
    one.len = 12; /* trailing bytes after the entry */
    assert_int_equal(stun_attr_get_pwalg(&one, &alg, &params, &plen), CMN_EPROTO);
    one.len = 3;
    assert_int_equal(stun_attr_get_pwalg(&one, &alg, &params, &plen), CMN_EPROTO);

    stun_attr_t list = attr(STUN_ATTR_PASSWORD_ALGORITHMS, p1, sizeof(p1));
    assert_int_equal(stun_attr_get_pwalgs(&list, 0, &alg), 0);
    assert_int_equal(alg, 9);
    assert_int_equal(stun_attr_get_pwalgs(&list, 1, &alg), 0);
    assert_int_equal(alg, 1);
    assert_int_equal(stun_attr_get_pwalgs(&list, 2, &alg), CMN_ENOENT);
    list.len = 13; /* the second entry's parameters cut short */
    assert_int_equal(stun_attr_get_pwalgs(&list, 0, &alg), 0);
    assert_int_equal(stun_attr_get_pwalgs(&list, 1, &alg), CMN_EPROTO);
    list.len = 10; /* a 2-byte stub of an entry */
    assert_int_equal(stun_attr_get_pwalgs(&list, 1, &alg), CMN_EPROTO);
    list.len = 0;
    assert_int_equal(stun_attr_get_pwalgs(&list, 0, &alg), CMN_ENOENT);
}

/* ---- text ------------------------------------------------------------ */

static void test_text_roundtrip_and_limits(void **state)
{
    (void)state;
    static const struct {
        uint16_t type;
        size_t max;
    } kinds[] = {{STUN_ATTR_USERNAME, STUN_USERNAME_MAX}, {STUN_ATTR_REALM, STUN_REALM_MAX},
                 {STUN_ATTR_NONCE, STUN_NONCE_MAX},       {STUN_ATTR_SOFTWARE, STUN_SOFTWARE_MAX},
                 {STUN_ATTR_ALTERNATE_DOMAIN, STUN_ALTERNATE_DOMAIN_MAX}};
    char *s = malloc(1000);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const char *got;
        size_t n;
        memset(s, 'a', kinds[k].max);
        s[kinds[k].max] = 0;
        start();
        assert_int_equal(stun_enc_text(&enc, kinds[k].type, s), 0);
        const stun_attr_t *a = decode(kinds[k].type);
        assert_int_equal(stun_attr_get_text(a, &got, &n), 0);
        assert_int_equal(n, kinds[k].max);
        /* One byte more: refused both ways. */
        s[kinds[k].max] = 'a';
        s[kinds[k].max + 1] = 0;
        start();
        assert_int_equal(stun_enc_text(&enc, kinds[k].type, s), CMN_EINVAL);
        stun_attr_t over = attr(kinds[k].type, s, kinds[k].max + 1);
        assert_int_equal(stun_attr_get_text(&over, &got, &n), CMN_EPROTO);
        /* Empty is fine. */
        start();
        assert_int_equal(stun_enc_text(&enc, kinds[k].type, ""), 0);
        assert_int_equal(stun_attr_get_text(decode(kinds[k].type), &got, &n), 0);
        assert_int_equal(n, 0);
    }
    /* A type without a limit is only checked for UTF-8. */
    memset(s, 'b', 999);
    stun_attr_t any = attr(STUN_ATTR_DATA, s, 999);
    const char *got;
    size_t n;
    assert_int_equal(stun_attr_get_text(&any, &got, &n), 0);
    free(s);
}

static void test_text_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"plain ascii", true},
        {"\xe3\x83\x9e\xe3\x83\x88", true},       /* katakana */
        {"\xc3\xa9t\xc3\xa9", true},              /* U+00E9 */
        {"\xf0\x9f\x98\x80", true},               /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", true},               /* U+10FFFF */
        {"\xed\x9f\xbf", true},                   /* U+D7FF */
        {"\xee\x80\x80", true},                   /* U+E000 */
        {"\x80", false},                          /* lone continuation */
        {"\xc0\x80", false},                      /* overlong NUL */
        {"\xc1\xbf", false},                      /* overlong */
        {"\xe0\x80\x80", false},                  /* overlong 3-byte */
        {"\xe0\x9f\xbf", false},                  /* overlong 3-byte */
        {"\xf0\x8f\xbf\xbf", false},              /* overlong 4-byte */
        {"\xed\xa0\x80", false},                  /* surrogate U+D800 */
        {"\xed\xbf\xbf", false},                  /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", false},              /* U+110000 */
        {"\xf5\x80\x80\x80", false},              /* invalid lead */
        {"\xff", false},
        {"\xe3\x83", false},                      /* truncated */
        {"ab\xe3", false},                        /* truncated at end */
        {"\xe3\x83\x41", false},                  /* bad continuation */
        {"\xc3\x28", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got;
        size_t n;
        stun_attr_t a = attr(STUN_ATTR_SOFTWARE, cases[i].s, strlen(cases[i].s));
        assert_int_equal(stun_attr_get_text(&a, &got, &n), cases[i].ok ? 0 : CMN_EPROTO);
        start();
        assert_int_equal(stun_enc_text(&enc, STUN_ATTR_SOFTWARE, cases[i].s),
                         cases[i].ok ? 0 : CMN_EINVAL);
    }
}

/* ---- encoder mechanics ----------------------------------------------- */

static void test_enc_header_and_padding(void **state)
{
    (void)state;
    start();
    assert_int_equal(enc.len, STUN_HEADER_LEN);
    assert_int_equal(cmn_get_u16be(buf), 0x0003);
    assert_int_equal(cmn_get_u16be(buf + 2), 0);
    assert_int_equal(cmn_get_u32be(buf + 4), STUN_MAGIC_COOKIE);
    assert_memory_equal(buf + 8, tid, STUN_TID_LEN);
    assert_int_equal(stun_enc_attr(&enc, STUN_ATTR_DATA, "abcde", 5), 0);
    assert_int_equal(cmn_get_u16be(buf + 2), 12);
    assert_memory_equal(buf + 20, "\x00\x13\x00\x05" "abcde\0\0\0", 12);
    stun_enc_set_pad(&enc, 0x20);
    assert_int_equal(stun_enc_attr(&enc, STUN_ATTR_DATA, "ab", 2), 0);
    assert_memory_equal(buf + 32, "\x00\x13\x00\x02" "ab  ", 8);
    assert_int_equal(stun_enc_finish(&enc), 40);
    /* Padding is ignored by the decoder. */
    assert_int_equal(decode(STUN_ATTR_DATA)->len, 5);
    assert_int_equal(msg.nattrs, 2);
}

static void test_enc_no_room_and_sticky(void **state)
{
    (void)state;
    uint8_t small[32];
    stun_enc_t e;
    /* Header does not fit. */
    stun_enc_init(&e, small, 19, 0x0001, tid);
    assert_int_equal(stun_enc_finish(&e), CMN_ENOMEM);
    assert_int_equal(stun_enc_u32(&e, STUN_ATTR_LIFETIME, 1), CMN_ENOMEM);
    stun_enc_init(&e, NULL, 100, 0x0001, tid);
    assert_int_equal(stun_enc_finish(&e), CMN_ENOMEM);
    /* Exactly full, then one too many: the error sticks and later
     * attributes (even ones that would fit) do nothing. */
    stun_enc_init(&e, small, 28, 0x0001, tid);
    assert_int_equal(stun_enc_u32(&e, STUN_ATTR_LIFETIME, 1), 0);
    assert_int_equal(stun_enc_finish(&e), 28);
    assert_int_equal(stun_enc_attr(&e, STUN_ATTR_DONT_FRAGMENT, NULL, 0), CMN_ENOMEM);
    assert_int_equal(e.len, 28);
    assert_int_equal(stun_enc_finish(&e), CMN_ENOMEM);
    /* Padding counts: 5 bytes need 8. */
    stun_enc_init(&e, small, 28, 0x0001, tid);
    assert_int_equal(stun_enc_attr(&e, STUN_ATTR_DATA, "abcde", 5), CMN_ENOMEM);
    /* A bad value sticks too, with its own code. */
    stun_enc_init(&e, small, sizeof(small), 0x0001, tid);
    assert_int_equal(stun_enc_error(&e, 42, "x"), CMN_EINVAL);
    assert_int_equal(stun_enc_u32(&e, STUN_ATTR_LIFETIME, 1), CMN_EINVAL);
    assert_int_equal(stun_enc_fingerprint(&e), CMN_EINVAL);
    assert_int_equal(stun_enc_finish(&e), CMN_EINVAL);
    /* Type with the top bits set; value over 65535 bytes. */
    stun_enc_init(&e, small, sizeof(small), 0xC001, tid);
    assert_int_equal(stun_enc_finish(&e), CMN_EINVAL);
    stun_enc_init(&e, small, sizeof(small), 0x0001, tid);
    assert_int_equal(stun_enc_attr(&e, STUN_ATTR_DATA, small, 65536), CMN_EINVAL);
}

static void test_enc_max_message(void **state)
{
    (void)state;
    uint8_t *big = calloc(1, 70000);
    uint8_t *data = calloc(1, 65508);
    stun_enc_t e;
    stun_msg_t m;
    stun_enc_init(&e, big, 70000, 0x0016, tid);
    /* 20 + 4 + 65508 = 65532: fits; 4 more bytes would pass 65535. */
    assert_int_equal(stun_enc_attr(&e, STUN_ATTR_DATA, data, 65508), 0);
    free(data);
    assert_int_equal(stun_enc_finish(&e), 65532);
    assert_int_equal(stun_msg_decode(&m, big, 65532, NULL), 0);
    assert_int_equal(stun_enc_attr(&e, STUN_ATTR_DONT_FRAGMENT, NULL, 0), CMN_ENOMEM);
    free(big);
}

static void test_enc_order(void **state)
{
    (void)state;
    static const uint8_t k[] = "k";
    uint8_t b[256];
    stun_enc_t e;
    /* Nothing after FINGERPRINT. */
    stun_enc_init(&e, b, sizeof(b), 0x0001, tid);
    assert_int_equal(stun_enc_fingerprint(&e), 0);
    assert_int_equal(stun_enc_fingerprint(&e), CMN_EINVAL);
    stun_enc_init(&e, b, sizeof(b), 0x0001, tid);
    stun_enc_fingerprint(&e);
    assert_int_equal(stun_enc_integrity(&e, k, 1), CMN_EINVAL);
    /* After MESSAGE-INTEGRITY: MI-SHA256 and FINGERPRINT only. */
    stun_enc_init(&e, b, sizeof(b), 0x0001, tid);
    stun_enc_integrity(&e, k, 1);
    assert_int_equal(stun_enc_text(&e, STUN_ATTR_SOFTWARE, "x"), CMN_EINVAL);
    stun_enc_init(&e, b, sizeof(b), 0x0001, tid);
    stun_enc_integrity(&e, k, 1);
    assert_int_equal(stun_enc_integrity(&e, k, 1), CMN_EINVAL);
    stun_enc_init(&e, b, sizeof(b), 0x0001, tid);
    assert_int_equal(stun_enc_integrity(&e, k, 1), 0);
    assert_int_equal(stun_enc_integrity_sha256(&e, k, 1), 0);
    assert_int_equal(stun_enc_fingerprint(&e), 0);
    assert_int_equal(stun_enc_finish(&e), 20 + 24 + 36 + 8);
    /* After MI-SHA256: FINGERPRINT only. */
    stun_enc_init(&e, b, sizeof(b), 0x0001, tid);
    stun_enc_integrity_sha256(&e, k, 1);
    assert_int_equal(stun_enc_integrity(&e, k, 1), CMN_EINVAL);
    stun_enc_init(&e, b, sizeof(b), 0x0001, tid);
    stun_enc_integrity_sha256(&e, k, 1);
    assert_int_equal(stun_enc_u32(&e, STUN_ATTR_PRIORITY, 1), CMN_EINVAL);
}

static void test_enc_classic(void **state)
{
    (void)state;
    static const uint8_t tid16[16] = {0xA0, 0xA1, 0xA2, 0xA3, 1, 2, 3, 4,
                                      5,    6,    7,    8,    9, 10, 11, 12};
    uint8_t b[64];
    stun_enc_t e;
    stun_enc_init_classic(&e, b, sizeof(b), 0x0101, tid16);
    assert_true(e.classic);
    assert_memory_equal(b + 4, tid16, 16);
    assert_memory_equal(e.tid, tid16 + 4, STUN_TID_LEN);
    assert_int_equal(stun_enc_addr(&e, STUN_ATTR_MAPPED_ADDRESS, &v4), 0);
    assert_int_equal(stun_enc_finish(&e), 32);
    assert_int_equal(cmn_get_u16be(b + 2), 12);
    assert_false(stun_is_stun(b, 32));
    /* XOR addresses need the cookie. */
    stun_enc_init_classic(&e, b, sizeof(b), 0x0101, tid16);
    assert_int_equal(stun_enc_xor_addr(&e, STUN_ATTR_XOR_MAPPED_ADDRESS, &v4), CMN_EINVAL);
    stun_enc_init_classic(&e, b, 10, 0x0101, tid16);
    assert_int_equal(stun_enc_finish(&e), CMN_ENOMEM);
    /* A classic request re-decodes as classic. */
    stun_msg_t m;
    stun_enc_init_classic(&e, b, sizeof(b), 0x0001, tid16);
    assert_int_equal(stun_msg_decode(&m, b, (size_t)stun_enc_finish(&e), NULL), 0);
    assert_true(m.classic);
    assert_memory_equal(m.tid, tid16 + 4, STUN_TID_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_roundtrip),
        cmocka_unit_test(test_xor_addr_roundtrip),
        cmocka_unit_test(test_addr_malformed),
        cmocka_unit_test(test_numbers_roundtrip),
        cmocka_unit_test(test_numbers_malformed),
        cmocka_unit_test(test_icmp_roundtrip),
        cmocka_unit_test(test_error_roundtrip),
        cmocka_unit_test(test_error_malformed),
        cmocka_unit_test(test_unknown_roundtrip),
        cmocka_unit_test(test_pwalg),
        cmocka_unit_test(test_text_roundtrip_and_limits),
        cmocka_unit_test(test_text_utf8),
        cmocka_unit_test(test_enc_header_and_padding),
        cmocka_unit_test(test_enc_no_room_and_sticky),
        cmocka_unit_test(test_enc_max_message),
        cmocka_unit_test(test_enc_order),
        cmocka_unit_test(test_enc_classic),
    };
    return cmocka_run_group_tests_name("test_stun_attr", tests, NULL, NULL);
}
