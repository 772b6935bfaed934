/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_crypto.c: thin wrappers over OpenSSL 3. The HMAC one-shot and
 * EVP_Digest fetch their algorithm per call; that costs little next to a
 * long-term-credential check, which happens once per TURN request, never
 * per relayed packet.
 */
#include "cmn_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int cmn_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen, uint8_t *out)
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha1(), key, (int)klen, data, dlen, out, &olen) || olen != CMN_SHA1_LEN)
        return CMN_EIO;
    return 0;
}

int cmn_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen, uint8_t *out)
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, data, dlen, out, &olen) || olen != CMN_SHA256_LEN)
        return CMN_EIO;
    return 0;
}

int cmn_md5(const void *data, size_t len, uint8_t out[CMN_MD5_LEN])
{
    unsigned int olen = 0;
    if (!EVP_Digest(data, len, out, &olen, EVP_md5(), NULL) || olen != CMN_MD5_LEN)
        return CMN_EIO;
    return 0;
}

int cmn_sha256(const void *data, size_t len, uint8_t out[CMN_SHA256_LEN])
{
    unsigned int olen = 0;
    if (!EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL) || olen != CMN_SHA256_LEN)
        return CMN_EIO;
    return 0;
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
