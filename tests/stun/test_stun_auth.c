/* icehub - SPDX-License-Identifier: MIT
 *
 * test_stun_auth.c: stun/stun_auth.c: the four RFC 5769 test vectors (decode,
 * verify, and reproduce byte for byte with the encoder), the RFC 8489 B.1
 * vector for USERHASH and MESSAGE-INTEGRITY-SHA256 (as corrected by erratum
 * 6268), MESSAGE-INTEGRITY-SHA256 truncation, wrong keys, tampering, the
 * FINGERPRINT CRC, long-term keys and USERHASH.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/cmn_crypto.h"
#include "stun/stun.h"

/* ---- RFC 5769 §2 vectors ---------------------------------------------- */

static const uint8_t tid_5769[STUN_TID_LEN] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                               0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
static const char key_5769[] = "VOkJxbRl1RmTxUk/WvJxBt";

/* §2.1 Sample Request. */
static const uint8_t v_req[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
    0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
    0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
    0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* §2.2 Sample IPv4 Response: 192.0.2.1:32853. */
static const uint8_t v_resp4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
    0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* §2.3 Sample IPv6 Response: [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const uint8_t v_resp6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* §2.4 Sample Request with Long-Term Authentication (no FINGERPRINT). */
static const uint8_t tid_lt[STUN_TID_LEN] = {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
                                             0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e};
static const uint8_t v_ltreq[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33,
    0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12,
    0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83,
    0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00, 0x15, 0x00, 0x1c,
    0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79,
    0x36, 0x34, 0x73, 0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d,
    0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x08, 0x00, 0x14,
    0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02, 0xb8, 0xe0, 0x71,
    0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};

/* U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 ("matrix" in katakana). */
static const char user_lt[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf"
                              "\xe3\x82\xb9";
static const char realm_lt[] = "example.org";
static const char nonce_lt[] = "f//499k954d6OL34oL9FSTvy64sA";
static const char pass_lt[] = "TheMatrIX"; /* after SASLprep */

/* RFC 8489 Appendix B.1 with the corrections of erratum 6268: USERHASH,
 * PASSWORD-ALGORITHM SHA-256 and MESSAGE-INTEGRITY-SHA256. */
static const char nonce_b1[] = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA";
static const uint8_t v_b1[] = {
    0x00, 0x01, 0x00, 0x90, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33,
    0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x1e, 0x00, 0x20,
    0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78,
    0x04, 0x17, 0xda, 0x0f, 0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2,
    0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17, 0x04, 0x00, 0x15, 0x00, 0x29,
    0x6f, 0x62, 0x4d, 0x61, 0x74, 0x4a, 0x6f, 0x73, 0x32, 0x41, 0x41, 0x41,
    0x43, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64,
    0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76,
    0x79, 0x36, 0x34, 0x73, 0x41, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x0b,
    0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00,
    0x00, 0x1d, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x20,
    0xb5, 0xc7, 0xbf, 0x00, 0x5b, 0x6c, 0x52, 0xa2, 0x1c, 0x51, 0xc5, 0xe8,
    0x92, 0xf8, 0x19, 0x24, 0x13, 0x62, 0x96, 0xcb, 0x92, 0x7c, 0x43, 0x14,
    0x93, 0x09, 0x27, 0x8c, 0xc6, 0x51, 0x8e, 0x65,
};

static const uint8_t *key_st(void)
{
    return (const uint8_t *)key_5769;
}

static void decode_ok(stun_msg_t *m, const uint8_t *b, size_t n)
{
    stun_derr_t why;
    assert_int_equal(stun_msg_decode(m, b, n, &why), 0);
    assert_int_equal(why, STUN_DERR_NONE);
}

/* ---- vectors: decode and verify --------------------------------------- */

static void test_5769_request_verifies(void **state)
{
    (void)state;
    stun_msg_t m;
    decode_ok(&m, v_req, sizeof(v_req));
    assert_int_equal(stun_msg_check_integrity(&m, key_st(), strlen(key_5769)), 0);
    assert_int_equal(stun_msg_check_fingerprint(&m), 0);
    assert_int_equal(stun_msg_check_integrity_sha256(&m, key_st(), strlen(key_5769)),
                     CMN_ENOENT);
    /* Wrong key: one character off, one byte short, empty. */
    assert_int_equal(stun_msg_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBT", 22),
                     CMN_EAUTH);
    assert_int_equal(stun_msg_check_integrity(&m, key_st(), strlen(key_5769) - 1), CMN_EAUTH);
    assert_int_equal(stun_msg_check_integrity(&m, NULL, 0), CMN_EAUTH);

    const stun_attr_t *a = stun_msg_find(&m, STUN_ATTR_USERNAME);
    const char *s;
    size_t n;
    assert_int_equal(stun_attr_get_text(a, &s, &n), 0);
    assert_int_equal(n, 9);
    assert_memory_equal(s, "evtj:h6vY", 9);
    a = stun_msg_find(&m, STUN_ATTR_SOFTWARE);
    assert_int_equal(stun_attr_get_text(a, &s, &n), 0);
    assert_int_equal(n, 16);
    assert_memory_equal(s, "STUN test client", 16);
    uint32_t prio;
    uint64_t tie;
    assert_int_equal(stun_attr_get_u32(stun_msg_find(&m, STUN_ATTR_PRIORITY), &prio), 0);
    assert_int_equal(prio, 0x6e0001ff);
    assert_int_equal(stun_attr_get_u64(stun_msg_find(&m, STUN_ATTR_ICE_CONTROLLED), &tie), 0);
    assert_true(tie == 0x932ff9b151263b36ull);
}

static void check_response(const uint8_t *b, size_t n, const cmn_addr_t *want)
{
    stun_msg_t m;
    cmn_addr_t got;
    decode_ok(&m, b, n);
    assert_int_equal(m.method, STUN_METHOD_BINDING);
    assert_int_equal(m.cls, STUN_CLASS_SUCCESS);
    assert_int_equal(stun_msg_check_integrity(&m, key_st(), strlen(key_5769)), 0);
    assert_int_equal(stun_msg_check_fingerprint(&m), 0);
    assert_int_equal(stun_msg_check_integrity(&m, (const uint8_t *)"x", 1), CMN_EAUTH);
    const stun_attr_t *a = stun_msg_find(&m, STUN_ATTR_XOR_MAPPED_ADDRESS);
    assert_non_null(a);
    assert_int_equal(stun_attr_get_xor_addr(&m, a, &got), 0);
    assert_int_equal(got.family, want->family);
    assert_int_equal(got.port, want->port);
    assert_memory_equal(got.ip, want->ip, 16);
    const char *s;
    size_t sl;
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_SOFTWARE), &s, &sl), 0);
    assert_int_equal(sl, 11);
    assert_memory_equal(s, "test vector", 11);
}

static const cmn_addr_t addr4 = {CMN_AF_INET, 32853, {192, 0, 2, 1}};
static const cmn_addr_t addr6 = {CMN_AF_INET6, 32853,
                                 {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x00, 0x11,
                                  0x22, 0x33, 0x44, 0x55, 0x66, 0x77}};

static void test_5769_responses_verify(void **state)
{
    (void)state;
    check_response(v_resp4, sizeof(v_resp4), &addr4);
    check_response(v_resp6, sizeof(v_resp6), &addr6);
}

static void test_5769_long_term_verifies(void **state)
{
    (void)state;
    stun_msg_t m;
    uint8_t key[STUN_KEY_MAX];
    size_t klen = 0;
    decode_ok(&m, v_ltreq, sizeof(v_ltreq));
    assert_int_equal(m.idx_fingerprint, -1);
    assert_int_equal(stun_msg_check_fingerprint(&m), CMN_ENOENT);
    assert_int_equal(stun_key_long_term(STUN_PWALG_MD5, user_lt, strlen(user_lt), realm_lt,
                                        strlen(realm_lt), pass_lt, strlen(pass_lt), key, &klen),
                     0);
    assert_int_equal(klen, 16);
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), 0);
    /* The SHA-256 key of the same credentials is a different key. */
    assert_int_equal(stun_key_long_term(STUN_PWALG_SHA256, user_lt, strlen(user_lt), realm_lt,
                                        strlen(realm_lt), pass_lt, strlen(pass_lt), key, &klen),
                     0);
    assert_int_equal(klen, 32);
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), CMN_EAUTH);

    const char *s;
    size_t n;
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_USERNAME), &s, &n), 0);
    assert_int_equal(n, 18);
    assert_memory_equal(s, user_lt, 18);
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_NONCE), &s, &n), 0);
    assert_int_equal(n, strlen(nonce_lt));
    assert_memory_equal(s, nonce_lt, n);
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_REALM), &s, &n), 0);
    assert_memory_equal(s, realm_lt, n);
}

static void test_8489_b1_userhash_sha256(void **state)
{
    (void)state;
    stun_msg_t m;
    uint8_t key[STUN_KEY_MAX], uh[32];
    size_t klen;
    decode_ok(&m, v_b1, sizeof(v_b1));
    stun_userhash(user_lt, strlen(user_lt), realm_lt, strlen(realm_lt), uh);
    const stun_attr_t *a = stun_msg_find(&m, STUN_ATTR_USERHASH);
    assert_non_null(a);
    assert_memory_equal(a->val, uh, 32);
    uint16_t alg;
    const uint8_t *params;
    size_t plen;
    assert_int_equal(stun_attr_get_pwalg(stun_msg_find(&m, STUN_ATTR_PASSWORD_ALGORITHM), &alg,
                                         &params, &plen),
                     0);
    assert_int_equal(alg, STUN_PWALG_SHA256);
    assert_int_equal(plen, 0);
    assert_int_equal(stun_key_long_term(alg, user_lt, strlen(user_lt), realm_lt,
                                        strlen(realm_lt), pass_lt, strlen(pass_lt), key, &klen),
                     0);
    assert_int_equal(stun_msg_check_integrity_sha256(&m, key, klen), 0);
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), CMN_ENOENT);
    key[0] ^= 1;
    assert_int_equal(stun_msg_check_integrity_sha256(&m, key, klen), CMN_EAUTH);
}

/* ---- vectors: reproduce with the encoder ------------------------------ */

static void test_5769_request_encodes(void **state)
{
    (void)state;
    uint8_t buf[256];
    stun_enc_t e;
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST),
                  tid_5769);
    /* RFC 5769 pads with spaces; the padding is covered by MI and CRC. */
    stun_enc_set_pad(&e, 0x20);
    assert_int_equal(stun_enc_text(&e, STUN_ATTR_SOFTWARE, "STUN test client"), 0);
    assert_int_equal(stun_enc_u32(&e, STUN_ATTR_PRIORITY, 0x6e0001ff), 0);
    assert_int_equal(stun_enc_u64(&e, STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ull), 0);
    assert_int_equal(stun_enc_text(&e, STUN_ATTR_USERNAME, "evtj:h6vY"), 0);
    assert_int_equal(stun_enc_integrity(&e, key_st(), strlen(key_5769)), 0);
    assert_int_equal(stun_enc_fingerprint(&e), 0);
    assert_int_equal(stun_enc_finish(&e), sizeof(v_req));
    assert_memory_equal(buf, v_req, sizeof(v_req));
}

static void encode_response(const cmn_addr_t *a, const uint8_t *want, size_t wlen)
{
    uint8_t buf[256];
    stun_enc_t e;
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS),
                  tid_5769);
    stun_enc_set_pad(&e, 0x20);
    stun_enc_text(&e, STUN_ATTR_SOFTWARE, "test vector");
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_MAPPED_ADDRESS, a);
    stun_enc_integrity(&e, key_st(), strlen(key_5769));
    stun_enc_fingerprint(&e);
    assert_int_equal(stun_enc_finish(&e), wlen);
    assert_memory_equal(buf, want, wlen);
}

static void test_5769_responses_encode(void **state)
{
    (void)state;
    encode_response(&addr4, v_resp4, sizeof(v_resp4));
    encode_response(&addr6, v_resp6, sizeof(v_resp6));
}

static void test_5769_long_term_encodes(void **state)
{
    (void)state;
    uint8_t buf[256], key[STUN_KEY_MAX];
    size_t klen;
    stun_enc_t e;
    assert_int_equal(stun_key_long_term(STUN_PWALG_MD5, user_lt, strlen(user_lt), realm_lt,
                                        strlen(realm_lt), pass_lt, strlen(pass_lt), key, &klen),
                     0);
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST),
                  tid_lt);
    stun_enc_text(&e, STUN_ATTR_USERNAME, user_lt);
    stun_enc_text(&e, STUN_ATTR_NONCE, nonce_lt);
    stun_enc_text(&e, STUN_ATTR_REALM, realm_lt);
    stun_enc_integrity(&e, key, klen);
    assert_int_equal(stun_enc_finish(&e), sizeof(v_ltreq));
    assert_memory_equal(buf, v_ltreq, sizeof(v_ltreq));
}

static void test_8489_b1_encodes(void **state)
{
    (void)state;
    uint8_t buf[256], key[STUN_KEY_MAX], uh[32];
    size_t klen;
    stun_enc_t e;
    stun_userhash(user_lt, strlen(user_lt), realm_lt, strlen(realm_lt), uh);
    stun_key_long_term(STUN_PWALG_SHA256, user_lt, strlen(user_lt), realm_lt, strlen(realm_lt),
                       pass_lt, strlen(pass_lt), key, &klen);
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST),
                  tid_lt);
    stun_enc_attr(&e, STUN_ATTR_USERHASH, uh, sizeof(uh));
    stun_enc_text(&e, STUN_ATTR_NONCE, nonce_b1);
    stun_enc_text(&e, STUN_ATTR_REALM, realm_lt);
    stun_enc_pwalg(&e, STUN_PWALG_SHA256);
    stun_enc_integrity_sha256(&e, key, klen);
    assert_int_equal(stun_enc_finish(&e), sizeof(v_b1));
    assert_memory_equal(buf, v_b1, sizeof(v_b1));
}

/* ---- integrity mechanics ---------------------------------------------- */

/* A request with USERNAME and <extra> bytes of DATA, then the trailer. */
static size_t build(uint8_t *buf, size_t cap, size_t extra, int mi, int mi256_len, bool fp)
{
    static const uint8_t k[] = "key";
    stun_enc_t e;
    uint8_t *data = calloc(1, extra + 1);
    stun_enc_init(&e, buf, cap, stun_type(STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST), tid_lt);
    stun_enc_text(&e, STUN_ATTR_USERNAME, "alice");
    if (extra)
        stun_enc_attr(&e, STUN_ATTR_DATA, data, extra);
    if (mi)
        stun_enc_integrity(&e, k, 3);
    if (mi256_len == 32)
        stun_enc_integrity_sha256(&e, k, 3);
    else if (mi256_len)
        stun_enc_integrity_sha256_trunc(&e, k, 3, (size_t)mi256_len);
    if (fp)
        stun_enc_fingerprint(&e);
    free(data);
    ssize_t n = stun_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

static void test_integrity_combinations(void **state)
{
    (void)state;
    static const uint8_t k[] = "key";
    static const size_t extras[] = {0, 3, 2100, 60000};
    uint8_t *buf = malloc(65535);
    for (size_t x = 0; x < sizeof(extras) / sizeof(extras[0]); x++) {
        for (int mi = 0; mi < 2; mi++) {
            for (int l = 0; l <= 32; l += 4) {
                if (l > 0 && l < 16)
                    continue;
                for (int fp = 0; fp < 2; fp++) {
                    stun_msg_t m;
                    size_t n = build(buf, 65535, extras[x], mi, l, fp);
                    decode_ok(&m, buf, n);
                    assert_int_equal(stun_msg_check_integrity(&m, k, 3), mi ? 0 : CMN_ENOENT);
                    assert_int_equal(stun_msg_check_integrity_sha256(&m, k, 3),
                                     l ? 0 : CMN_ENOENT);
                    assert_int_equal(stun_msg_check_fingerprint(&m), fp ? 0 : CMN_ENOENT);
                    if (l) {
                        assert_int_equal(m.attrs[m.idx_integrity_sha256].len, l);
                        assert_int_equal(stun_msg_check_integrity_sha256(&m, k, 2), CMN_EAUTH);
                    }
                    if (mi)
                        assert_int_equal(stun_msg_check_integrity(&m, k, 2), CMN_EAUTH);
                }
            }
        }
    }
    free(buf);
}

/* §14.6: a truncated value is the leftmost bytes of the full HMAC over the
 * message with its length field ending at the attribute. */
static void test_sha256_truncation(void **state)
{
    (void)state;
    uint8_t buf[256], mac[32];
    for (int l = 16; l <= 32; l += 4) {
        size_t n = build(buf, sizeof(buf), 0, 0, l, false);
        size_t off = n - 4 - (size_t)l;
        assert_int_equal(cmn_hmac_sha256("key", 3, buf, off, mac), 0);
        assert_memory_equal(buf + off + 4, mac, (size_t)l);
    }
    /* Lengths the RFC forbids. */
    static const size_t bad[] = {0, 4, 12, 15, 17, 18, 30, 33, 36, 64};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        stun_enc_t e;
        stun_enc_init(&e, buf, sizeof(buf), 0x0001, tid_lt);
        assert_int_equal(stun_enc_integrity_sha256_trunc(&e, (const uint8_t *)"k", 1, bad[i]),
                         CMN_EINVAL);
        assert_int_equal(stun_enc_finish(&e), CMN_EINVAL);
    }
    /* A receiver compares only what was sent, but every byte of it. */
    size_t n = build(buf, sizeof(buf), 0, 0, 16, false);
    stun_msg_t m;
    decode_ok(&m, buf, n);
    assert_int_equal(stun_msg_check_integrity_sha256(&m, (const uint8_t *)"key", 3), 0);
    buf[n - 1] ^= 0x80;
    assert_int_equal(stun_msg_check_integrity_sha256(&m, (const uint8_t *)"key", 3), CMN_EAUTH);
}

static void test_tampering_detected(void **state)
{
    (void)state;
    uint8_t b[sizeof(v_req)];
    stun_msg_t m;
    /* Any change in the bytes before MESSAGE-INTEGRITY, or in its value,
     * breaks it (after a decode that succeeded). The MI attribute's own
     * type and length (76..79) are not HMAC input: §14.5 hashes only what
     * precedes the attribute. The length field (2, 3) is tested below. */
    for (size_t i = 0; i < 100; i++) {
        if (i == 2 || i == 3 || (i >= 76 && i < 80))
            continue;
        memcpy(b, v_req, sizeof(b));
        decode_ok(&m, b, sizeof(b));
        b[i] ^= 0x04;
        assert_int_equal(stun_msg_check_integrity(&m, key_st(), strlen(key_5769)), CMN_EAUTH);
        assert_int_equal(stun_msg_check_fingerprint(&m), CMN_EPROTO);
    }
    /* With FINGERPRINT after MI the length field is replaced for the HMAC
     * by the length ending at MI (§14.5), so the wire value of those two
     * bytes doesn't enter it; when MI is last, it is hashed as it is. */
    memcpy(b, v_req, sizeof(b));
    decode_ok(&m, b, sizeof(b));
    b[3] ^= 0x04;
    assert_int_equal(stun_msg_check_integrity(&m, key_st(), strlen(key_5769)), 0);
    uint8_t lt[sizeof(v_ltreq)], key[STUN_KEY_MAX];
    size_t klen;
    stun_key_long_term(STUN_PWALG_MD5, user_lt, strlen(user_lt), realm_lt, strlen(realm_lt),
                       pass_lt, strlen(pass_lt), key, &klen);
    memcpy(lt, v_ltreq, sizeof(lt));
    decode_ok(&m, lt, sizeof(lt));
    lt[3] ^= 0x04;
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), CMN_EAUTH);
    /* Padding bytes of USERNAME are covered: 0x20 -> 0x00 fails. */
    memcpy(b, v_req, sizeof(b));
    decode_ok(&m, b, sizeof(b));
    b[73] = 0;
    assert_int_equal(stun_msg_check_integrity(&m, key_st(), strlen(key_5769)), CMN_EAUTH);
    /* A changed FINGERPRINT value only breaks the fingerprint. */
    memcpy(b, v_req, sizeof(b));
    decode_ok(&m, b, sizeof(b));
    b[107] ^= 1;
    assert_int_equal(stun_msg_check_fingerprint(&m), CMN_EPROTO);
    assert_int_equal(stun_msg_check_integrity(&m, key_st(), strlen(key_5769)), 0);
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(stun_crc32((const uint8_t *)"", 0), 0);
    assert_int_equal(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(stun_crc32((const uint8_t *)"a", 1), 0xE8B7BE43u);
    /* The vector's FINGERPRINT is CRC32(prefix) ^ 0x5354554E. */
    assert_int_equal(stun_crc32(v_req, 100) ^ STUN_FINGERPRINT_XOR, 0xe57a3bcfu);
}

static void test_long_term_key(void **state)
{
    (void)state;
    uint8_t key[STUN_KEY_MAX], want[32];
    size_t klen = 99;
    assert_int_equal(stun_key_long_term(STUN_PWALG_MD5, "user", 4, "realm", 5, "pass", 4, key,
                                        &klen),
                     0);
    assert_int_equal(klen, 16);
    cmn_md5("user:realm:pass", 15, want);
    assert_memory_equal(key, want, 16);
    assert_int_equal(stun_key_long_term(STUN_PWALG_SHA256, "user", 4, "realm", 5, "pass", 4,
                                        key, &klen),
                     0);
    assert_int_equal(klen, 32);
    cmn_sha256("user:realm:pass", 15, want);
    assert_memory_equal(key, want, 32);
    /* Empty parts still get their separators. */
    assert_int_equal(stun_key_long_term(STUN_PWALG_MD5, NULL, 0, "", 0, NULL, 0, key, &klen), 0);
    cmn_md5("::", 2, want);
    assert_memory_equal(key, want, 16);
    /* Unknown algorithms and oversized parts. */
    assert_int_equal(stun_key_long_term(0, "u", 1, "r", 1, "p", 1, key, &klen), CMN_EINVAL);
    assert_int_equal(stun_key_long_term(3, "u", 1, "r", 1, "p", 1, key, &klen), CMN_EINVAL);
    assert_int_equal(stun_key_long_term(STUN_PWALG_MD5, "u", STUN_MAX_MSG_LEN + 1, "r", 1, "p",
                                        1, key, &klen),
                     CMN_EINVAL);
    /* A long password goes through the heap path. */
    char *big = malloc(5000);
    memset(big, 'p', 5000);
    assert_int_equal(stun_key_long_term(STUN_PWALG_SHA256, "u", 1, "r", 1, big, 5000, key,
                                        &klen),
                     0);
    char *joined = malloc(5004);
    memcpy(joined, "u:r:", 4);
    memcpy(joined + 4, big, 5000);
    cmn_sha256(joined, 5004, want);
    assert_memory_equal(key, want, 32);
    free(joined);
    free(big);
}

static void test_userhash(void **state)
{
    (void)state;
    uint8_t out[32], want[32];
    stun_userhash("alice", 5, "example.org", 11, out);
    cmn_sha256("alice:example.org", 17, want);
    assert_memory_equal(out, want, 32);
    memset(out, 0xAA, sizeof(out));
    stun_userhash("a", STUN_MAX_MSG_LEN + 1, "r", 1, out);
    memset(want, 0, sizeof(want));
    assert_memory_equal(out, want, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5769_request_verifies),
        cmocka_unit_test(test_5769_responses_verify),
        cmocka_unit_test(test_5769_long_term_verifies),
        cmocka_unit_test(test_8489_b1_userhash_sha256),
        cmocka_unit_test(test_5769_request_encodes),
        cmocka_unit_test(test_5769_responses_encode),
        cmocka_unit_test(test_5769_long_term_encodes),
        cmocka_unit_test(test_8489_b1_encodes),
        cmocka_unit_test(test_integrity_combinations),
        cmocka_unit_test(test_sha256_truncation),
        cmocka_unit_test(test_tampering_detected),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_long_term_key),
        cmocka_unit_test(test_userhash),
    };
    return cmocka_run_group_tests_name("test_stun_auth", tests, NULL, NULL);
}
