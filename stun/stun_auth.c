/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_auth.c: the checks that protect a STUN message: MESSAGE-INTEGRITY
 * (HMAC-SHA1, RFC 8489 §14.5), MESSAGE-INTEGRITY-SHA256 (§14.6, with its
 * truncation to 16..32 bytes) and FINGERPRINT (CRC-32, §14.7), in both
 * directions; plus the long-term credential key (§9.2.2) and USERHASH
 * (§14.4). HMAC and digests come from OpenSSL through common/cmn_crypto.
 *
 * Deliberately left out: OpaqueString/SASLprep of usernames and passwords
 * (callers pass prepared strings), nonce handling and any notion of users,
 * which live in turn/.
 */
#include "stun_int.h"

#include "../common/cmn_crypto.h"

/* Messages up to this size get their HMAC input copied on the stack; larger
 * ones (rare: a request carrying a large DATA) go through cmn_malloc. */
#define STUN_AUTH_STACK 2048

/* CRC-32 as in ISO-HDLC and zlib: reflected polynomial 0xEDB88320, initial
 * value and final XOR 0xFFFFFFFF. Entry n is n shifted through the
 * polynomial eight times. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xEE0E612Cu, 0x990951BAu, 0x076DC419u, 0x706AF48Fu,
    0xE963A535u, 0x9E6495A3u, 0x0EDB8832u, 0x79DCB8A4u, 0xE0D5E91Eu, 0x97D2D988u,
    0x09B64C2Bu, 0x7EB17CBDu, 0xE7B82D07u, 0x90BF1D91u, 0x1DB71064u, 0x6AB020F2u,
    0xF3B97148u, 0x84BE41DEu, 0x1ADAD47Du, 0x6DDDE4EBu, 0xF4D4B551u, 0x83D385C7u,
    0x136C9856u, 0x646BA8C0u, 0xFD62F97Au, 0x8A65C9ECu, 0x14015C4Fu, 0x63066CD9u,
    0xFA0F3D63u, 0x8D080DF5u, 0x3B6E20C8u, 0x4C69105Eu, 0xD56041E4u, 0xA2677172u,
    0x3C03E4D1u, 0x4B04D447u, 0xD20D85FDu, 0xA50AB56Bu, 0x35B5A8FAu, 0x42B2986Cu,
    0xDBBBC9D6u, 0xACBCF940u, 0x32D86CE3u, 0x45DF5C75u, 0xDCD60DCFu, 0xABD13D59u,
    0x26D930ACu, 0x51DE003Au, 0xC8D75180u, 0xBFD06116u, 0x21B4F4B5u, 0x56B3C423u,
    0xCFBA9599u, 0xB8BDA50Fu, 0x2802B89Eu, 0x5F058808u, 0xC60CD9B2u, 0xB10BE924u,
    0x2F6F7C87u, 0x58684C11u, 0xC1611DABu, 0xB6662D3Du, 0x76DC4190u, 0x01DB7106u,
    0x98D220BCu, 0xEFD5102Au, 0x71B18589u, 0x06B6B51Fu, 0x9FBFE4A5u, 0xE8B8D433u,
    0x7807C9A2u, 0x0F00F934u, 0x9609A88Eu, 0xE10E9818u, 0x7F6A0DBBu, 0x086D3D2Du,
    0x91646C97u, 0xE6635C01u, 0x6B6B51F4u, 0x1C6C6162u, 0x856530D8u, 0xF262004Eu,
    0x6C0695EDu, 0x1B01A57Bu, 0x8208F4C1u, 0xF50FC457u, 0x65B0D9C6u, 0x12B7E950u,
    0x8BBEB8EAu, 0xFCB9887Cu, 0x62DD1DDFu, 0x15DA2D49u, 0x8CD37CF3u, 0xFBD44C65u,
    0x4DB26158u, 0x3AB551CEu, 0xA3BC0074u, 0xD4BB30E2u, 0x4ADFA541u, 0x3DD895D7u,
    0xA4D1C46Du, 0xD3D6F4FBu, 0x4369E96Au, 0x346ED9FCu, 0xAD678846u, 0xDA60B8D0u,
    0x44042D73u, 0x33031DE5u, 0xAA0A4C5Fu, 0xDD0D7CC9u, 0x5005713Cu, 0x270241AAu,
    0xBE0B1010u, 0xC90C2086u, 0x5768B525u, 0x206F85B3u, 0xB966D409u, 0xCE61E49Fu,
    0x5EDEF90Eu, 0x29D9C998u, 0xB0D09822u, 0xC7D7A8B4u, 0x59B33D17u, 0x2EB40D81u,
    0xB7BD5C3Bu, 0xC0BA6CADu, 0xEDB88320u, 0x9ABFB3B6u, 0x03B6E20Cu, 0x74B1D29Au,
    0xEAD54739u, 0x9DD277AFu, 0x04DB2615u, 0x73DC1683u, 0xE3630B12u, 0x94643B84u,
    0x0D6D6A3Eu, 0x7A6A5AA8u, 0xE40ECF0Bu, 0x9309FF9Du, 0x0A00AE27u, 0x7D079EB1u,
    0xF00F9344u, 0x8708A3D2u, 0x1E01F268u, 0x6906C2FEu, 0xF762575Du, 0x806567CBu,
    0x196C3671u, 0x6E6B06E7u, 0xFED41B76u, 0x89D32BE0u, 0x10DA7A5Au, 0x67DD4ACCu,
    0xF9B9DF6Fu, 0x8EBEEFF9u, 0x17B7BE43u, 0x60B08ED5u, 0xD6D6A3E8u, 0xA1D1937Eu,
    0x38D8C2C4u, 0x4FDFF252u, 0xD1BB67F1u, 0xA6BC5767u, 0x3FB506DDu, 0x48B2364Bu,
    0xD80D2BDAu, 0xAF0A1B4Cu, 0x36034AF6u, 0x41047A60u, 0xDF60EFC3u, 0xA867DF55u,
    0x316E8EEFu, 0x4669BE79u, 0xCB61B38Cu, 0xBC66831Au, 0x256FD2A0u, 0x5268E236u,
    0xCC0C7795u, 0xBB0B4703u, 0x220216B9u, 0x5505262Fu, 0xC5BA3BBEu, 0xB2BD0B28u,
    0x2BB45A92u, 0x5CB36A04u, 0xC2D7FFA7u, 0xB5D0CF31u, 0x2CD99E8Bu, 0x5BDEAE1Du,
    0x9B64C2B0u, 0xEC63F226u, 0x756AA39Cu, 0x026D930Au, 0x9C0906A9u, 0xEB0E363Fu,
    0x72076785u, 0x05005713u, 0x95BF4A82u, 0xE2B87A14u, 0x7BB12BAEu, 0x0CB61B38u,
    0x92D28E9Bu, 0xE5D5BE0Du, 0x7CDCEFB7u, 0x0BDBDF21u, 0x86D3D2D4u, 0xF1D4E242u,
    0x68DDB3F8u, 0x1FDA836Eu, 0x81BE16CDu, 0xF6B9265Bu, 0x6FB077E1u, 0x18B74777u,
    0x88085AE6u, 0xFF0F6A70u, 0x66063BCAu, 0x11010B5Cu, 0x8F659EFFu, 0xF862AE69u,
    0x616BFFD3u, 0x166CCF45u, 0xA00AE278u, 0xD70DD2EEu, 0x4E048354u, 0x3903B3C2u,
    0xA7672661u, 0xD06016F7u, 0x4969474Du, 0x3E6E77DBu, 0xAED16A4Au, 0xD9D65ADCu,
    0x40DF0B66u, 0x37D83BF0u, 0xA9BCAE53u, 0xDEBB9EC5u, 0x47B2CF7Fu, 0x30B5FFE9u,
    0xBDBDF21Cu, 0xCABAC28Au, 0x53B39330u, 0x24B4A3A6u, 0xBAD03605u, 0xCDD70693u,
    0x54DE5729u, 0x23D967BFu, 0xB3667A2Eu, 0xC4614AB8u, 0x5D681B02u, 0x2A6F2B94u,
    0xB40BBE37u, 0xC30C8EA1u, 0x5A05DF1Bu, 0x2D02EF8Du,
};

uint32_t stun_crc32(const uint8_t *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

typedef int (*hmac_fn)(const void *key, size_t klen, const void *data, size_t dlen, uint8_t *out);

/* HMAC over the part of the message before the integrity attribute <a>, with
 * the header's length field counting up to the end of <a> (§14.5, §14.6).
 * When <a> ends the message the datagram is hashed in place; otherwise the
 * prefix is copied so its length field can be changed. */
static int prefix_hmac(const stun_msg_t *m, const stun_attr_t *a, hmac_fn hmac,
                       const uint8_t *key, size_t keylen, uint8_t *out)
{
    size_t n = a->offset;
    size_t covered = n + 4 + a->len - STUN_HEADER_LEN;
    uint8_t stackbuf[STUN_AUTH_STACK];

    if (!key)
        key = (const uint8_t *)"";
    if (covered == m->length)
        return hmac(key, keylen, m->raw, n, out);
    uint8_t *buf = n <= sizeof(stackbuf) ? stackbuf : cmn_malloc(n);
    memcpy(buf, m->raw, n);
    cmn_put_u16be(buf + 2, (uint16_t)covered);
    int rc = hmac(key, keylen, buf, n, out);
    if (buf != stackbuf)
        cmn_free(buf);
    return rc;
}

int stun_msg_check_integrity(const stun_msg_t *m, const uint8_t *key, size_t keylen)
{
    uint8_t mac[CMN_SHA1_LEN];
    if (m->idx_integrity < 0)
        return CMN_ENOENT;
    const stun_attr_t *a = &m->attrs[m->idx_integrity];
    if (a->len != STUN__MI_LEN)
        return CMN_EAUTH;
    if (prefix_hmac(m, a, cmn_hmac_sha1, key, keylen, mac) != 0)
        return CMN_EIO;
    return cmn_ct_equal(mac, a->val, STUN__MI_LEN) ? 0 : CMN_EAUTH;
}

/* §14.6: the value is the leftmost 16..32 bytes (a multiple of 4) of the
 * HMAC-SHA256; the receiver compares as many bytes as were sent. */
int stun_msg_check_integrity_sha256(const stun_msg_t *m, const uint8_t *key, size_t keylen)
{
    uint8_t mac[CMN_SHA256_LEN];
    if (m->idx_integrity_sha256 < 0)
        return CMN_ENOENT;
    const stun_attr_t *a = &m->attrs[m->idx_integrity_sha256];
    if (!stun__attr_len_ok(a->type, a->len))
        return CMN_EAUTH;
    if (prefix_hmac(m, a, cmn_hmac_sha256, key, keylen, mac) != 0)
        return CMN_EIO;
    return cmn_ct_equal(mac, a->val, a->len) ? 0 : CMN_EAUTH;
}

/* §14.7: CRC-32 of everything before FINGERPRINT (whose length the header
 * already counts, FINGERPRINT being last), XORed with 0x5354554E. */
int stun_msg_check_fingerprint(const stun_msg_t *m)
{
    if (m->idx_fingerprint < 0)
        return CMN_ENOENT;
    const stun_attr_t *a = &m->attrs[m->idx_fingerprint];
    if (a->len != STUN__FP_LEN)
        return CMN_EPROTO;
    uint32_t crc = stun_crc32(m->raw, a->offset) ^ STUN_FINGERPRINT_XOR;
    return crc == cmn_get_u32be(a->val) ? 0 : CMN_EPROTO;
}

/* Append an HMAC attribute of <type> with a <len>-byte value. Reserving it
 * first sets the header length to end at this attribute, which is the
 * length the HMAC must cover (§14.5). */
static int enc_mac(stun_enc_t *e, uint16_t type, hmac_fn hmac, const uint8_t *key,
                   size_t keylen, size_t len)
{
    uint8_t mac[CMN_SHA256_LEN];
    size_t start = e->len;
    uint8_t *p = stun__enc_reserve(e, type, len);
    if (!p)
        return e->err;
    if (hmac(key ? key : (const uint8_t *)"", keylen, e->buf, start, mac) != 0)
        return stun__enc_fail(e, CMN_EIO);
    memcpy(p, mac, len);
    return 0;
}

int stun_enc_integrity(stun_enc_t *e, const uint8_t *key, size_t keylen)
{
    return enc_mac(e, STUN_ATTR_MESSAGE_INTEGRITY, cmn_hmac_sha1, key, keylen, STUN__MI_LEN);
}

int stun_enc_integrity_sha256(stun_enc_t *e, const uint8_t *key, size_t keylen)
{
    return enc_mac(e, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, cmn_hmac_sha256, key, keylen,
                   STUN__MI256_MAX);
}

int stun_enc_integrity_sha256_trunc(stun_enc_t *e, const uint8_t *key, size_t keylen,
                                    size_t len)
{
    if (!stun__attr_len_ok(STUN_ATTR_MESSAGE_INTEGRITY_SHA256, len))
        return stun__enc_fail(e, CMN_EINVAL);
    return enc_mac(e, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, cmn_hmac_sha256, key, keylen, len);
}

int stun_enc_fingerprint(stun_enc_t *e)
{
    size_t start = e->len;
    uint8_t *p = stun__enc_reserve(e, STUN_ATTR_FINGERPRINT, STUN__FP_LEN);
    if (!p)
        return e->err;
    cmn_put_u32be(p, stun_crc32(e->buf, start) ^ STUN_FINGERPRINT_XOR);
    return 0;
}

/* Digest of the <n> strings joined with ':' into <out> (MD5 or SHA-256).
 * Each part is at most STUN_MAX_MSG_LEN bytes (they come from attributes),
 * which also keeps the sum from overflowing. */
static int digest_joined(bool sha256, const char *const *parts, const size_t *lens, size_t n,
                         uint8_t *out)
{
    uint8_t stackbuf[STUN_AUTH_STACK];
    size_t total = n - 1;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > STUN_MAX_MSG_LEN || (lens[i] && !parts[i]))
            return CMN_EINVAL;
        total += lens[i];
    }
    uint8_t *buf = total <= sizeof(stackbuf) ? stackbuf : cmn_malloc(total);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf[pos++] = ':';
        if (lens[i])
            memcpy(buf + pos, parts[i], lens[i]);
        pos += lens[i];
    }
    int rc = sha256 ? cmn_sha256(buf, total, out) : cmn_md5(buf, total, out);
    if (buf != stackbuf)
        cmn_free(buf);
    return rc;
}

int stun_key_long_term(uint16_t alg, const char *user, size_t ulen, const char *realm,
                       size_t rlen, const char *pass, size_t plen, uint8_t key[STUN_KEY_MAX],
                       size_t *keylen)
{
    const char *parts[3] = {user, realm, pass};
    const size_t lens[3] = {ulen, rlen, plen};
    bool sha256;

    /* §18.5: 0x0001 is MD5 (the RFC 5389 key), 0x0002 SHA-256. */
    if (alg == STUN_PWALG_MD5)
        sha256 = false;
    else if (alg == STUN_PWALG_SHA256)
        sha256 = true;
    else
        return CMN_EINVAL;
    int rc = digest_joined(sha256, parts, lens, 3, key);
    if (rc != 0)
        return rc == CMN_EINVAL ? CMN_EINVAL : CMN_EIO;
    *keylen = sha256 ? CMN_SHA256_LEN : CMN_MD5_LEN;
    return 0;
}

void stun_userhash(const char *user, size_t ulen, const char *realm, size_t rlen,
                   uint8_t out[32])
{
    const char *parts[2] = {user, realm};
    const size_t lens[2] = {ulen, rlen};
    if (digest_joined(true, parts, lens, 2, out) != 0)
        memset(out, 0, 32);
}
