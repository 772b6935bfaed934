/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_crypto.h: the few primitives icehub needs, through OpenSSL 3:
 * HMAC-SHA1/SHA256, MD5, SHA-256, random bytes, base64 and a
 * constant-time compare. Pure computation; safe from any thread (each
 * thread hashes with its own contexts, made at its first call and freed
 * when it exits).
 */
#ifndef CMN_CRYPTO_H
#define CMN_CRYPTO_H

#include "cmn.h"

#define CMN_SHA1_LEN 20
#define CMN_SHA256_LEN 32
#define CMN_MD5_LEN 16

/* Each returns 0 or CMN_EIO if OpenSSL failed. <out> must hold the digest. */
int cmn_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen, uint8_t *out);
int cmn_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen, uint8_t *out);
/* One-shot digests. */
int cmn_md5(const void *data, size_t len, uint8_t out[CMN_MD5_LEN]);
int cmn_sha256(const void *data, size_t len, uint8_t out[CMN_SHA256_LEN]);
/* Cryptographically strong random bytes. */
int cmn_random(void *out, size_t len);
/* Constant-time comparison: true when equal. */
bool cmn_ct_equal(const void *a, const void *b, size_t len);
/* Base64 (standard alphabet, padded). encode writes a NUL-terminated string
 * and returns its length, or CMN_ENOMEM if <cap> is too small (needs
 * 4*ceil(n/3)+1). decode returns the decoded length or CMN_EINVAL. */
ssize_t cmn_base64_encode(const void *src, size_t n, char *out, size_t cap);
ssize_t cmn_base64_decode(const char *src, size_t n, uint8_t *out, size_t cap);

#endif /* CMN_CRYPTO_H */
