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
#include "stun_vectors.h"

/* The long-term key of the RFC 5769 §2.4 credentials under <alg>. */
static int lt_key(uint16_t alg, uint8_t *key, size_t *klen)
{
    return stun_key_long_term(alg, rfc5769_lt_user, strlen(rfc5769_lt_user), rfc5769_lt_realm,
                              strlen(rfc5769_lt_realm), rfc5769_lt_pass, strlen(rfc5769_lt_pass),
                              key, klen);
}

/* The USERHASH of the same credentials (RFC 8489 B.1). */
static void lt_userhash(uint8_t uh[32])
{
    stun_userhash(rfc5769_lt_user, strlen(rfc5769_lt_user), rfc5769_lt_realm,
                  strlen(rfc5769_lt_realm), uh);
}

/* ---- vectors: decode and verify --------------------------------------- */

static void test_5769_request_verifies(void **state)
{
    (void)state;
    stun_msg_t m;
    decode_ok(&m, rfc5769_req, sizeof(rfc5769_req));
    assert_int_equal(stun_msg_check_integrity(&m, rfc5769_key, RFC5769_KEY_LEN), 0);
    assert_int_equal(stun_msg_check_fingerprint(&m), 0);
    assert_int_equal(stun_msg_check_integrity_sha256(&m, rfc5769_key, RFC5769_KEY_LEN),
                     CMN_ENOENT);
    /* Wrong key: one character off, one byte short, empty. */
    assert_int_equal(stun_msg_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBT", 22),
                     CMN_EAUTH);
    assert_int_equal(stun_msg_check_integrity(&m, rfc5769_key, RFC5769_KEY_LEN - 1), CMN_EAUTH);
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
    assert_int_equal(stun_msg_check_integrity(&m, rfc5769_key, RFC5769_KEY_LEN), 0);
    assert_int_equal(stun_msg_check_fingerprint(&m), 0);
    assert_int_equal(stun_msg_check_integrity(&m, (const uint8_t *)"x", 1), CMN_EAUTH);
    const stun_attr_t *a = stun_msg_find(&m, STUN_ATTR_XOR_MAPPED_ADDRESS);
    assert_non_null(a);
    assert_int_equal(stun_attr_get_xor_addr(&m, a, &got), 0);
    assert_addr(&got, want);
    const char *s;
    size_t sl;
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_SOFTWARE), &s, &sl), 0);
    assert_int_equal(sl, 11);
    assert_memory_equal(s, "test vector", 11);
}

static void test_5769_responses_verify(void **state)
{
    (void)state;
    check_response(rfc5769_resp4, sizeof(rfc5769_resp4), &rfc5769_addr4);
    check_response(rfc5769_resp6, sizeof(rfc5769_resp6), &rfc5769_addr6);
}

static void test_5769_long_term_verifies(void **state)
{
    (void)state;
    stun_msg_t m;
    uint8_t key[STUN_KEY_MAX];
    size_t klen = 0;
    decode_ok(&m, rfc5769_lt_req, sizeof(rfc5769_lt_req));
    assert_int_equal(m.idx_fingerprint, -1);
    assert_int_equal(stun_msg_check_fingerprint(&m), CMN_ENOENT);
    assert_int_equal(lt_key(STUN_PWALG_MD5, key, &klen), 0);
    assert_int_equal(klen, 16);
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), 0);
    /* The SHA-256 key of the same credentials is a different key. */
    assert_int_equal(lt_key(STUN_PWALG_SHA256, key, &klen), 0);
    assert_int_equal(klen, 32);
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), CMN_EAUTH);

    const char *s;
    size_t n;
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_USERNAME), &s, &n), 0);
    assert_int_equal(n, 18);
    assert_memory_equal(s, rfc5769_lt_user, 18);
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_NONCE), &s, &n), 0);
    assert_int_equal(n, strlen(rfc5769_lt_nonce));
    assert_memory_equal(s, rfc5769_lt_nonce, n);
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_REALM), &s, &n), 0);
    assert_memory_equal(s, rfc5769_lt_realm, n);
}

static void test_8489_b1_userhash_sha256(void **state)
{
    (void)state;
    stun_msg_t m;
    uint8_t key[STUN_KEY_MAX], uh[32];
    size_t klen;
    decode_ok(&m, rfc8489_b1_req, sizeof(rfc8489_b1_req));
    lt_userhash(uh);
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
    assert_int_equal(lt_key(alg, key, &klen), 0);
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
                  rfc5769_tid);
    /* RFC 5769 pads with spaces; the padding is covered by MI and CRC. */
    stun_enc_set_pad(&e, 0x20);
    assert_int_equal(stun_enc_text(&e, STUN_ATTR_SOFTWARE, "STUN test client"), 0);
    assert_int_equal(stun_enc_u32(&e, STUN_ATTR_PRIORITY, 0x6e0001ff), 0);
    assert_int_equal(stun_enc_u64(&e, STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ull), 0);
    assert_int_equal(stun_enc_text(&e, STUN_ATTR_USERNAME, "evtj:h6vY"), 0);
    assert_int_equal(stun_enc_integrity(&e, rfc5769_key, RFC5769_KEY_LEN), 0);
    assert_int_equal(stun_enc_fingerprint(&e), 0);
    assert_int_equal(stun_enc_finish(&e), sizeof(rfc5769_req));
    assert_memory_equal(buf, rfc5769_req, sizeof(rfc5769_req));
}

static void encode_response(const cmn_addr_t *a, const uint8_t *want, size_t wlen)
{
    uint8_t buf[256];
    stun_enc_t e;
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS),
                  rfc5769_tid);
    stun_enc_set_pad(&e, 0x20);
    stun_enc_text(&e, STUN_ATTR_SOFTWARE, "test vector");
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_MAPPED_ADDRESS, a);
    stun_enc_integrity(&e, rfc5769_key, RFC5769_KEY_LEN);
    stun_enc_fingerprint(&e);
    assert_int_equal(stun_enc_finish(&e), wlen);
    assert_memory_equal(buf, want, wlen);
}

static void test_5769_responses_encode(void **state)
{
    (void)state;
    encode_response(&rfc5769_addr4, rfc5769_resp4, sizeof(rfc5769_resp4));
    encode_response(&rfc5769_addr6, rfc5769_resp6, sizeof(rfc5769_resp6));
}

static void test_5769_long_term_encodes(void **state)
{
    (void)state;
    uint8_t buf[256], key[STUN_KEY_MAX];
    size_t klen;
    stun_enc_t e;
    assert_int_equal(lt_key(STUN_PWALG_MD5, key, &klen), 0);
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST),
                  rfc5769_lt_tid);
    stun_enc_text(&e, STUN_ATTR_USERNAME, rfc5769_lt_user);
    stun_enc_text(&e, STUN_ATTR_NONCE, rfc5769_lt_nonce);
    stun_enc_text(&e, STUN_ATTR_REALM, rfc5769_lt_realm);
    stun_enc_integrity(&e, key, klen);
    assert_int_equal(stun_enc_finish(&e), sizeof(rfc5769_lt_req));
    assert_memory_equal(buf, rfc5769_lt_req, sizeof(rfc5769_lt_req));
}

static void test_8489_b1_encodes(void **state)
{
    (void)state;
    uint8_t buf[256], key[STUN_KEY_MAX], uh[32];
    size_t klen;
    stun_enc_t e;
    lt_userhash(uh);
    lt_key(STUN_PWALG_SHA256, key, &klen);
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST),
                  rfc5769_lt_tid);
    stun_enc_attr(&e, STUN_ATTR_USERHASH, uh, sizeof(uh));
    stun_enc_text(&e, STUN_ATTR_NONCE, rfc8489_b1_nonce);
    stun_enc_text(&e, STUN_ATTR_REALM, rfc5769_lt_realm);
    stun_enc_pwalg(&e, STUN_PWALG_SHA256);
    stun_enc_integrity_sha256(&e, key, klen);
    assert_int_equal(stun_enc_finish(&e), sizeof(rfc8489_b1_req));
    assert_memory_equal(buf, rfc8489_b1_req, sizeof(rfc8489_b1_req));
}

/* ---- integrity mechanics ---------------------------------------------- */

/* A request with USERNAME and <extra> bytes of DATA, then the trailer. */
static size_t build(uint8_t *buf, size_t cap, size_t extra, int mi, int mi256_len, bool fp)
{
    static const uint8_t k[] = "key";
    stun_enc_t e;
    uint8_t *data = calloc(1, extra + 1);
    stun_enc_init(&e, buf, cap, stun_type(STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST),
                  rfc5769_lt_tid);
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
        stun_enc_init(&e, buf, sizeof(buf), 0x0001, rfc5769_lt_tid);
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
    uint8_t b[sizeof(rfc5769_req)];
    stun_msg_t m;
    /* Any change in the bytes before MESSAGE-INTEGRITY, or in its value,
     * breaks it (after a decode that succeeded). The MI attribute's own
     * type and length (76..79) are not HMAC input: §14.5 hashes only what
     * precedes the attribute. The length field (2, 3) is tested below. */
    for (size_t i = 0; i < 100; i++) {
        if (i == 2 || i == 3 || (i >= 76 && i < 80))
            continue;
        memcpy(b, rfc5769_req, sizeof(b));
        decode_ok(&m, b, sizeof(b));
        b[i] ^= 0x04;
        assert_int_equal(stun_msg_check_integrity(&m, rfc5769_key, RFC5769_KEY_LEN), CMN_EAUTH);
        assert_int_equal(stun_msg_check_fingerprint(&m), CMN_EPROTO);
    }
    /* With FINGERPRINT after MI the length field is replaced for the HMAC
     * by the length ending at MI (§14.5), so the wire value of those two
     * bytes doesn't enter it; when MI is last, it is hashed as it is. */
    memcpy(b, rfc5769_req, sizeof(b));
    decode_ok(&m, b, sizeof(b));
    b[3] ^= 0x04;
    assert_int_equal(stun_msg_check_integrity(&m, rfc5769_key, RFC5769_KEY_LEN), 0);
    uint8_t lt[sizeof(rfc5769_lt_req)], key[STUN_KEY_MAX];
    size_t klen;
    lt_key(STUN_PWALG_MD5, key, &klen);
    memcpy(lt, rfc5769_lt_req, sizeof(lt));
    decode_ok(&m, lt, sizeof(lt));
    lt[3] ^= 0x04;
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), CMN_EAUTH);
    /* Padding bytes of USERNAME are covered: 0x20 -> 0x00 fails. */
    memcpy(b, rfc5769_req, sizeof(b));
    decode_ok(&m, b, sizeof(b));
    b[73] = 0;
    assert_int_equal(stun_msg_check_integrity(&m, rfc5769_key, RFC5769_KEY_LEN), CMN_EAUTH);
    /* A changed FINGERPRINT value only breaks the fingerprint. */
    memcpy(b, rfc5769_req, sizeof(b));
    decode_ok(&m, b, sizeof(b));
    b[107] ^= 1;
    assert_int_equal(stun_msg_check_fingerprint(&m), CMN_EPROTO);
    assert_int_equal(stun_msg_check_integrity(&m, rfc5769_key, RFC5769_KEY_LEN), 0);
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(stun_crc32((const uint8_t *)"", 0), 0);
    assert_int_equal(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(stun_crc32((const uint8_t *)"a", 1), 0xE8B7BE43u);
    /* The vector's FINGERPRINT is CRC32(prefix) ^ 0x5354554E. */
    assert_int_equal(stun_crc32(rfc5769_req, 100) ^ STUN_FINGERPRINT_XOR, 0xe57a3bcfu);
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
