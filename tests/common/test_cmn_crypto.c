/* icehub - SPDX-License-Identifier: MIT
 *
 * test_cmn_crypto.c: known-answer tests for common/cmn_crypto.c: base64
 * (RFC 4648 section 10), HMAC-SHA1 (RFC 2202), HMAC-SHA256 (RFC 4231),
 * MD5 (RFC 1321 appendix A.5), SHA-256 (FIPS 180-2 appendix B), plus the
 * buffer-size contracts, constant-time compare and random bytes; the
 * remembered HMAC key (the same key again, another key, the first key back,
 * a key too long to remember, an empty key) and threads hashing at once,
 * each with its own contexts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "common/cmn_crypto.h"

/* Lower-case hex of <n> bytes, for readable comparisons. */
static const char *hex(const uint8_t *p, size_t n)
{
    static char buf[2 * 64 + 1];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", p[i]);
    buf[2 * n] = '\0';
    return buf;
}

static const struct {
    const char *plain, *b64;
} b64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_base64_encode(void **state)
{
    (void)state;
    char out[16];
    for (size_t i = 0; i < CMN_ARRAY_LEN(b64_vectors); i++) {
        const char *p = b64_vectors[i].plain;
        ssize_t n = cmn_base64_encode(p, strlen(p), out, sizeof(out));
        assert_int_equal(n, (ssize_t)strlen(b64_vectors[i].b64));
        assert_string_equal(out, b64_vectors[i].b64);
    }
    /* Binary input, every byte value class. */
    const uint8_t bin[] = {0x00, 0xff, 0xfe, 0x3e, 0x3f, 0x80};
    assert_int_equal(cmn_base64_encode(bin, sizeof(bin), out, sizeof(out)), 8);
    assert_string_equal(out, "AP/+Pj+A");
}

static void test_base64_encode_capacity(void **state)
{
    (void)state;
    char out[9];
    /* "foobar" needs 8 characters and the NUL. */
    assert_int_equal(cmn_base64_encode("foobar", 6, out, 8), CMN_ENOMEM);
    assert_int_equal(cmn_base64_encode("foobar", 6, out, 9), 8);
    assert_int_equal(cmn_base64_encode("f", 1, out, 4), CMN_ENOMEM);
    assert_int_equal(cmn_base64_encode("", 0, out, 0), CMN_ENOMEM);
    assert_int_equal(cmn_base64_encode("", 0, out, 1), 0);
    assert_string_equal(out, "");
}

static void test_base64_decode(void **state)
{
    (void)state;
    uint8_t out[16];
    for (size_t i = 0; i < CMN_ARRAY_LEN(b64_vectors); i++) {
        const char *b = b64_vectors[i].b64;
        ssize_t n = cmn_base64_decode(b, strlen(b), out, sizeof(out));
        assert_int_equal(n, (ssize_t)strlen(b64_vectors[i].plain));
        assert_memory_equal(out, b64_vectors[i].plain, (size_t)n);
    }
    const uint8_t bin[] = {0x00, 0xff, 0xfe, 0x3e, 0x3f, 0x80};
    assert_int_equal(cmn_base64_decode("AP/+Pj+A", 8, out, sizeof(out)), 6);
    assert_memory_equal(out, bin, sizeof(bin));
}

static void test_base64_decode_bad(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(cmn_base64_decode("Zg", 2, out, sizeof(out)), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("Zg=", 3, out, sizeof(out)), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("Zg==Zg==", 8, out, sizeof(out)), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("Z===", 4, out, sizeof(out)), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("====", 4, out, sizeof(out)), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("Zg=x", 4, out, sizeof(out)), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("Zm9v!A==", 8, out, sizeof(out)), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("Zm9v Zm9", 8, out, sizeof(out)), CMN_EINVAL);
    /* Too small an output buffer is refused, not overrun. */
    assert_int_equal(cmn_base64_decode("Zm9vYmFy", 8, out, 5), CMN_EINVAL);
    assert_int_equal(cmn_base64_decode("Zm9vYmFy", 8, out, 6), 6);
}

static void test_hmac_sha1(void **state)
{
    (void)state;
    uint8_t key[80], out[CMN_SHA1_LEN];
    /* RFC 2202 test case 1. */
    memset(key, 0x0b, 20);
    assert_int_equal(cmn_hmac_sha1(key, 20, "Hi There", 8, out), 0);
    assert_string_equal(hex(out, sizeof(out)), "b617318655057264e28bc0b6fb378c8ef146be00");
    /* Test case 2: a key shorter than the block. */
    const char *data2 = "what do ya want for nothing?";
    assert_int_equal(cmn_hmac_sha1("Jefe", 4, data2, strlen(data2), out), 0);
    assert_string_equal(hex(out, sizeof(out)), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    /* Test case 6: a key longer than the block is hashed first. */
    const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key, 0xaa, 80);
    assert_int_equal(cmn_hmac_sha1(key, 80, data6, strlen(data6), out), 0);
    assert_string_equal(hex(out, sizeof(out)), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

static void test_hmac_sha256(void **state)
{
    (void)state;
    uint8_t key[131], out[CMN_SHA256_LEN];
    /* RFC 4231 test case 1. */
    memset(key, 0x0b, 20);
    assert_int_equal(cmn_hmac_sha256(key, 20, "Hi There", 8, out), 0);
    assert_string_equal(hex(out, sizeof(out)),
                        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* Test case 2. */
    const char *data2 = "what do ya want for nothing?";
    assert_int_equal(cmn_hmac_sha256("Jefe", 4, data2, strlen(data2), out), 0);
    assert_string_equal(hex(out, sizeof(out)),
                        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 6: a 131-byte key. */
    const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key, 0xaa, sizeof(key));
    assert_int_equal(cmn_hmac_sha256(key, sizeof(key), data6, strlen(data6), out), 0);
    assert_string_equal(hex(out, sizeof(out)),
                        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* RFC 2202 case 2 and RFC 4231 case 2, whatever key was used before. */
static void hmac_case2(void)
{
    const char *d = "what do ya want for nothing?";
    uint8_t out[CMN_SHA256_LEN];
    assert_int_equal(cmn_hmac_sha1("Jefe", 4, d, strlen(d), out), 0);
    assert_string_equal(hex(out, CMN_SHA1_LEN), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    assert_int_equal(cmn_hmac_sha256("Jefe", 4, d, strlen(d), out), 0);
    assert_string_equal(hex(out, CMN_SHA256_LEN),
                        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* The same key twice in a row reuses the keyed state; a different key in
 * between, a long key (not remembered) and an empty key must never leak
 * into the next answer. */
static void test_hmac_key_reuse(void **state)
{
    (void)state;
    uint8_t key[80], out[CMN_SHA1_LEN];
    memset(key, 0x0b, 20);
    for (int round = 0; round < 3; round++) {
        hmac_case2();
        hmac_case2(); /* same key again */
        assert_int_equal(cmn_hmac_sha1(key, 20, "Hi There", 8, out), 0);
        assert_string_equal(hex(out, sizeof(out)), "b617318655057264e28bc0b6fb378c8ef146be00");
        hmac_case2(); /* the first key back */
        memset(key, 0xaa, 80);
        const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
        assert_int_equal(cmn_hmac_sha1(key, 80, d6, strlen(d6), out), 0);
        assert_string_equal(hex(out, sizeof(out)), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
        assert_int_equal(cmn_hmac_sha1(key, 80, d6, strlen(d6), out), 0);
        assert_string_equal(hex(out, sizeof(out)), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
        /* A key equal to the first 20 bytes of the long one. */
        assert_int_equal(cmn_hmac_sha1(key, 20, "x", 1, out), 0);
        uint8_t again[CMN_SHA1_LEN];
        assert_int_equal(cmn_hmac_sha1(key, 20, "x", 1, again), 0);
        assert_memory_equal(out, again, sizeof(out));
        /* An empty key (RFC 2104 allows it): same answer twice. */
        assert_int_equal(cmn_hmac_sha1("", 0, "x", 1, out), 0);
        assert_int_equal(cmn_hmac_sha1("", 0, "x", 1, again), 0);
        assert_memory_equal(out, again, sizeof(out));
        memset(key, 0x0b, 20);
    }
}

/* Each thread compares with answers the main thread computed (hex() has
 * one static buffer: not for threads). */
static uint8_t want_sha1[CMN_SHA1_LEN], want_sha256[CMN_SHA256_LEN], want_md5[CMN_MD5_LEN];

static void *hash_thread(void *arg)
{
    const char *d = "what do ya want for nothing?";
    bool *ok = arg;
    *ok = true;
    for (int i = 0; i < 200; i++) {
        uint8_t a[CMN_SHA1_LEN], b[CMN_SHA256_LEN], c[CMN_MD5_LEN];
        *ok &= cmn_hmac_sha1("Jefe", 4, d, strlen(d), a) == 0 &&
               !memcmp(a, want_sha1, sizeof(a));
        *ok &= cmn_hmac_sha256("Jefe", 4, d, strlen(d), b) == 0 &&
               !memcmp(b, want_sha256, sizeof(b));
        *ok &= cmn_md5("abc", 3, c) == 0 && !memcmp(c, want_md5, sizeof(c));
    }
    return NULL;
}

/* Threads hash at once, each with its own contexts (freed when it ends:
 * the sanitizer build would report them otherwise). */
static void test_threads(void **state)
{
    (void)state;
    const char *d = "what do ya want for nothing?";
    assert_int_equal(cmn_hmac_sha1("Jefe", 4, d, strlen(d), want_sha1), 0);
    assert_int_equal(cmn_hmac_sha256("Jefe", 4, d, strlen(d), want_sha256), 0);
    assert_int_equal(cmn_md5("abc", 3, want_md5), 0);
    assert_string_equal(hex(want_md5, CMN_MD5_LEN), "900150983cd24fb0d6963f7d28e17f72");
    pthread_t t[4];
    bool ok[5];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hash_thread, &ok[i]), 0);
    hash_thread(&ok[4]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 5; i++)
        assert_true(ok[i]);
}

static void test_md5(void **state)
{
    (void)state;
    uint8_t out[CMN_MD5_LEN];
    assert_int_equal(cmn_md5("", 0, out), 0);
    assert_string_equal(hex(out, sizeof(out)), "d41d8cd98f00b204e9800998ecf8427e");
    assert_int_equal(cmn_md5("abc", 3, out), 0);
    assert_string_equal(hex(out, sizeof(out)), "900150983cd24fb0d6963f7d28e17f72");
    const char *alpha = "abcdefghijklmnopqrstuvwxyz";
    assert_int_equal(cmn_md5(alpha, strlen(alpha), out), 0);
    assert_string_equal(hex(out, sizeof(out)), "c3fcd3d76192e4007dfb496cca67e13b");
}

static void test_sha256(void **state)
{
    (void)state;
    uint8_t out[CMN_SHA256_LEN];
    assert_int_equal(cmn_sha256("abc", 3, out), 0);
    assert_string_equal(hex(out, sizeof(out)),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(cmn_sha256("", 0, out), 0);
    assert_string_equal(hex(out, sizeof(out)),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(cmn_sha256(two, strlen(two), out), 0);
    assert_string_equal(hex(out, sizeof(out)),
                        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_ct_equal(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(cmn_ct_equal(a, b, sizeof(a)));
    assert_true(cmn_ct_equal(a, b, 0));
    for (size_t i = 0; i < sizeof(b); i += 7) {
        b[i] ^= 0x01;
        assert_false(cmn_ct_equal(a, b, sizeof(a)));
        b[i] ^= 0x01;
    }
    assert_true(cmn_ct_equal(a, b, sizeof(a)));
}

static void test_random(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    static const uint8_t zero[32];
    assert_int_equal(cmn_random(a, sizeof(a)), 0);
    assert_int_equal(cmn_random(b, sizeof(b)), 0);
    /* 2^-256 chances of a false failure. */
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_int_equal(cmn_random(a, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_encode),
        cmocka_unit_test(test_base64_encode_capacity),
        cmocka_unit_test(test_base64_decode),
        cmocka_unit_test(test_base64_decode_bad),
        cmocka_unit_test(test_hmac_sha1),
        cmocka_unit_test(test_hmac_sha256),
        cmocka_unit_test(test_hmac_key_reuse),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_md5),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests_name("test_cmn_crypto", tests, NULL, NULL);
}
