/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_crypto.c: thin wrappers over OpenSSL 3. HMAC and the digests run on
 * every authenticated TURN request (MESSAGE-INTEGRITY checked and written,
 * the nonce's MAC, the long-term key), so an allocation storm is mostly
 * this file. OpenSSL 3's one-shot calls (HMAC(), EVP_Digest with
 * EVP_sha1()) look the algorithm up in the provider store on every call,
 * under a lock, and allocate a context; that cost ten times the hashing.
 * Here the algorithms are fetched once per process and each thread keeps
 * its own contexts: an HMAC context per digest that also remembers its
 * last key, so the next call with the same key (the nonce key, one user's
 * long-term key) starts from the saved inner and outer states instead of
 * hashing the key pads again.
 */
#include "cmn_crypto.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

enum { H_SHA1 = 0, H_SHA256, H_MD5, H_COUNT };

static const char *const digest_names[H_COUNT] = {"SHA1", "SHA256", "MD5"};

/* Fetched once, shared by every thread (fetched objects are immutable). */
static struct {
    pthread_once_t once;
    pthread_key_t key;          /* the thread's ctx_set_t, freed at thread exit */
    EVP_MAC *hmac;
    EVP_MD *md[H_COUNT];
} algs = {.once = PTHREAD_ONCE_INIT};

#define KEY_MEMO_MAX 64         /* longer HMAC keys are not remembered */

typedef struct ctx_set_s {
    EVP_MAC_CTX *mac[2];        /* HMAC-SHA1, HMAC-SHA256 */
    uint8_t last_key[2][KEY_MEMO_MAX];
    size_t last_klen[2];        /* 0: no key remembered */
    EVP_MD_CTX *md;
} ctx_set_t;

static void ctx_set_free(void *p)
{
    ctx_set_t *c = p;
    EVP_MAC_CTX_free(c->mac[0]);
    EVP_MAC_CTX_free(c->mac[1]);
    EVP_MD_CTX_free(c->md);
    OPENSSL_cleanse(c->last_key, sizeof(c->last_key));
    cmn_free(c);
}

static void algs_fetch(void)
{
    algs.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    for (int i = 0; i < H_COUNT; i++)
        algs.md[i] = EVP_MD_fetch(NULL, digest_names[i], NULL);
    (void)pthread_key_create(&algs.key, ctx_set_free);
}

/* This thread's contexts, made at its first use. NULL if OpenSSL has no
 * HMAC, SHA-1, SHA-256 or MD5 (a FIPS-only configuration, say). */
static ctx_set_t *ctx_set(void)
{
    pthread_once(&algs.once, algs_fetch);
    ctx_set_t *c = pthread_getspecific(algs.key);
    if (c)
        return c;
    if (!algs.hmac || !algs.md[H_SHA1] || !algs.md[H_SHA256] || !algs.md[H_MD5])
        return NULL;
    c = cmn_calloc(1, sizeof(*c));
    c->md = EVP_MD_CTX_new();
    for (int i = 0; i < 2; i++) {
        OSSL_PARAM p[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest_names[i], 0),
            OSSL_PARAM_construct_end(),
        };
        c->mac[i] = EVP_MAC_CTX_new(algs.hmac);
        if (!c->mac[i] || !EVP_MAC_CTX_set_params(c->mac[i], p)) {
            ctx_set_free(c);
            return NULL;
        }
    }
    if (!c->md || pthread_setspecific(algs.key, c) != 0) {
        ctx_set_free(c);
        return NULL;
    }
    return c;
}

static int hmac(int which, const void *key, size_t klen, const void *data, size_t dlen,
                uint8_t *out, size_t outlen)
{
    ctx_set_t *c = ctx_set();
    if (!c)
        return CMN_EIO;
    EVP_MAC_CTX *m = c->mac[which];
    /* The same key as last time: a NULL key makes OpenSSL restart from the
     * states it kept, without hashing the key pads again. */
    bool same = klen && klen == c->last_klen[which] &&
                CRYPTO_memcmp(key, c->last_key[which], klen) == 0;
    if (!EVP_MAC_init(m, same ? NULL : key, same ? 0 : klen, NULL)) {
        c->last_klen[which] = 0;
        return CMN_EIO;
    }
    if (!same) {
        c->last_klen[which] = klen <= KEY_MEMO_MAX ? klen : 0;
        if (c->last_klen[which])
            memcpy(c->last_key[which], key, klen);
    }
    size_t olen = 0;
    if (!EVP_MAC_update(m, data, dlen) || !EVP_MAC_final(m, out, &olen, outlen) ||
        olen != outlen)
        return CMN_EIO;
    return 0;
}

int cmn_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen, uint8_t *out)
{
    return hmac(0, key, klen, data, dlen, out, CMN_SHA1_LEN);
}

int cmn_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen, uint8_t *out)
{
    return hmac(1, key, klen, data, dlen, out, CMN_SHA256_LEN);
}

static int digest(int which, const void *data, size_t len, uint8_t *out, unsigned outlen)
{
    ctx_set_t *c = ctx_set();
    unsigned olen = 0;
    if (!c || !EVP_DigestInit_ex2(c->md, algs.md[which], NULL) ||
        !EVP_DigestUpdate(c->md, data, len) || !EVP_DigestFinal_ex(c->md, out, &olen) ||
        olen != outlen)
        return CMN_EIO;
    return 0;
}

int cmn_md5(const void *data, size_t len, uint8_t out[CMN_MD5_LEN])
{
    return digest(H_MD5, data, len, out, CMN_MD5_LEN);
}

int cmn_sha256(const void *data, size_t len, uint8_t out[CMN_SHA256_LEN])
{
    return digest(H_SHA256, data, len, out, CMN_SHA256_LEN);
}

int cmn_random(void *out, size_t len)
{
    return RAND_bytes(out, (int)len) == 1 ? 0 : CMN_EIO;
}

bool cmn_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

ssize_t cmn_base64_encode(const void *src, size_t n, char *out, size_t cap)
{
    size_t need = 4 * ((n + 2) / 3) + 1;
    if (cap < need)
        return CMN_ENOMEM;
    int len = EVP_EncodeBlock((unsigned char *)out, src, (int)n);
    if (len < 0)
        return CMN_EIO;
    out[len] = '\0';
    return len;
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

ssize_t cmn_base64_decode(const char *src, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 != 0 || cap < 3 * (n / 4))
        return CMN_EINVAL;
    /* EVP_DecodeBlock is lenient about '=' in the middle; be strict: only
     * alphabet characters, and at most two '=' at the very end. */
    size_t pad = (n >= 1 && src[n - 1] == '=') + (n >= 2 && src[n - 2] == '=');
    if (pad == 1 && n >= 2 && src[n - 2] == '=')
        return CMN_EINVAL;
    for (size_t i = 0; i < n - pad; i++)
        if (!b64_char(src[i]))
            return CMN_EINVAL;
    int len = EVP_DecodeBlock(out, (const unsigned char *)src, (int)n);
    if (len < 0)
        return CMN_EINVAL;
    /* EVP_DecodeBlock counts the padding as zero bytes; take them off. */
    if (n >= 1 && src[n - 1] == '=')
        len--;
    if (n >= 2 && src[n - 2] == '=')
        len--;
    return len;
}
