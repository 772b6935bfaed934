/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_enc.c: the STUN encoder (RFC 8489 §5, §14): a header, then attributes
 * appended one by one into a caller buffer, each padded to 4 bytes, with the
 * header's length kept current so MESSAGE-INTEGRITY and FINGERPRINT
 * (stun_auth.c) can be computed over the buffer as it stands.
 *
 * Errors are sticky (the first one wins and everything after is a no-op), so
 * a caller can append a whole message and check once in stun_enc_finish.
 * Values are validated as far as the decoder's getters would reject them, so
 * what this file writes decodes again.
 */
#include "stun_int.h"

int stun__enc_fail(stun_enc_t *e, int err)
{
    if (e->err == 0)
        e->err = err;
    return e->err;
}

static void enc_start(stun_enc_t *e, uint8_t *buf, size_t cap, uint16_t type)
{
    e->buf = buf;
    e->cap = cap;
    e->len = 0;
    e->err = 0;
    e->pad = 0;
    e->stage = STUN__STAGE_BODY;
    e->classic = false;
    if (!buf || cap < STUN_HEADER_LEN) {
        e->err = CMN_ENOMEM;
        return;
    }
    /* §5: the two most significant bits of a STUN message are zero. */
    if (type & 0xC000) {
        e->err = CMN_EINVAL;
        return;
    }
    cmn_put_u16be(buf, type);
    cmn_put_u16be(buf + 2, 0);
    e->len = STUN_HEADER_LEN;
}

void stun_enc_init(stun_enc_t *e, uint8_t *buf, size_t cap, uint16_t type,
                   const uint8_t tid[STUN_TID_LEN])
{
    memcpy(e->tid, tid, STUN_TID_LEN);
    enc_start(e, buf, cap, type);
    if (e->err == 0) {
        cmn_put_u32be(buf + 4, STUN_MAGIC_COOKIE);
        memcpy(buf + 8, tid, STUN_TID_LEN);
    }
}

void stun_enc_init_classic(stun_enc_t *e, uint8_t *buf, size_t cap, uint16_t type,
                           const uint8_t tid16[16])
{
    /* The decoder's view of a classic message: tid = the last 12 bytes. */
    memcpy(e->tid, tid16 + 4, STUN_TID_LEN);
    enc_start(e, buf, cap, type);
    e->classic = true;
    if (e->err == 0)
        memcpy(buf + 4, tid16, 16);
}

void stun_enc_set_pad(stun_enc_t *e, uint8_t pad)
{
    e->pad = pad;
}

uint8_t *stun__enc_reserve(stun_enc_t *e, uint16_t type, size_t len)
{
    if (e->err != 0)
        return NULL;
    int next = stun__stage_next(e->stage, type);
    if (len > UINT16_MAX || next < 0) {
        stun__enc_fail(e, CMN_EINVAL);
        return NULL;
    }
    size_t need = 4 + stun__pad4(len);
    if (need > e->cap - e->len || need > STUN_MAX_MSG_LEN - e->len) {
        stun__enc_fail(e, CMN_ENOMEM);
        return NULL;
    }
    uint8_t *p = e->buf + e->len;
    cmn_put_u16be(p, type);
    cmn_put_u16be(p + 2, (uint16_t)len);
    memset(p + 4 + len, e->pad, need - 4 - len);
    e->len += need;
    e->stage = (uint8_t)next;
    cmn_put_u16be(e->buf + 2, (uint16_t)(e->len - STUN_HEADER_LEN));
    return p + 4;
}

int stun_enc_attr(stun_enc_t *e, uint16_t type, const void *val, size_t len)
{
    uint8_t *p = stun__enc_reserve(e, type, len);
    if (p && len)
        memcpy(p, val, len);
    return e->err;
}

int stun_enc_u32(stun_enc_t *e, uint16_t type, uint32_t v)
{
    uint8_t b[4];
    cmn_put_u32be(b, v);
    return stun_enc_attr(e, type, b, sizeof(b));
}

int stun_enc_u64(stun_enc_t *e, uint16_t type, uint64_t v)
{
    uint8_t b[8];
    cmn_put_u64be(b, v);
    return stun_enc_attr(e, type, b, sizeof(b));
}

int stun_enc_text(stun_enc_t *e, uint16_t type, const char *s)
{
    size_t n = strlen(s);
    if (n > stun__text_max(type) || !stun__utf8_valid((const uint8_t *)s, n))
        return stun__enc_fail(e, CMN_EINVAL);
    return stun_enc_attr(e, type, s, n);
}

/* Write the RFC 8489 §14.1 address value (reserved byte, family, port,
 * address) for <a> into <v>; returns the value length or 0 if the family
 * is unknown. */
static size_t put_addr(uint8_t v[20], const cmn_addr_t *a)
{
    size_t iplen;
    v[0] = 0;
    if (a->family == CMN_AF_INET) {
        v[1] = STUN_FAMILY_IPV4;
        iplen = 4;
    } else if (a->family == CMN_AF_INET6) {
        v[1] = STUN_FAMILY_IPV6;
        iplen = 16;
    } else {
        return 0;
    }
    cmn_put_u16be(v + 2, a->port);
    memcpy(v + 4, a->ip, iplen);
    return 4 + iplen;
}

int stun_enc_addr(stun_enc_t *e, uint16_t type, const cmn_addr_t *a)
{
    uint8_t v[20];
    size_t n = put_addr(v, a);
    if (n == 0)
        return stun__enc_fail(e, CMN_EINVAL);
    return stun_enc_attr(e, type, v, n);
}

int stun_enc_xor_addr(stun_enc_t *e, uint16_t type, const cmn_addr_t *a)
{
    uint8_t v[20];
    cmn_addr_t x = *a;
    /* A classic header has no cookie to XOR with (RFC 8489 §12). */
    if (e->classic)
        return stun__enc_fail(e, CMN_EINVAL);
    stun__xor_addr(&x, e->tid);
    size_t n = put_addr(v, &x);
    if (n == 0)
        return stun__enc_fail(e, CMN_EINVAL);
    return stun_enc_attr(e, type, v, n);
}

/* ERROR-CODE (RFC 8489 §14.8) and ADDRESS-ERROR-CODE (RFC 8656 §18.12):
 * <first> goes into byte 0 (zero, or the family). */
static int put_code(stun_enc_t *e, uint16_t type, uint8_t first, int code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (code < 300 || code > 699 || rlen > STUN_REASON_MAX ||
        !stun__utf8_valid((const uint8_t *)reason, rlen))
        return stun__enc_fail(e, CMN_EINVAL);
    uint8_t *p = stun__enc_reserve(e, type, 4 + rlen);
    if (!p)
        return e->err;
    p[0] = first;
    p[1] = 0;
    p[2] = (uint8_t)(code / 100);
    p[3] = (uint8_t)(code % 100);
    if (rlen)
        memcpy(p + 4, reason, rlen);
    return 0;
}

int stun_enc_error(stun_enc_t *e, int code, const char *reason)
{
    return put_code(e, STUN_ATTR_ERROR_CODE, 0, code, reason);
}

int stun_enc_addr_error(stun_enc_t *e, uint8_t family, int code, const char *reason)
{
    return put_code(e, STUN_ATTR_ADDRESS_ERROR_CODE, family, code, reason);
}

/* RFC 8489 §14.13. An empty list would tell the client nothing. */
int stun_enc_unknown(stun_enc_t *e, const uint16_t *types, size_t n)
{
    if (n == 0 || n > UINT16_MAX / 2)
        return stun__enc_fail(e, CMN_EINVAL);
    uint8_t *p = stun__enc_reserve(e, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
    if (!p)
        return e->err;
    for (size_t i = 0; i < n; i++)
        cmn_put_u16be(p + 2 * i, types[i]);
    return 0;
}

int stun_enc_channel(stun_enc_t *e, uint16_t channel)
{
    return stun_enc_u32(e, STUN_ATTR_CHANNEL_NUMBER, (uint32_t)channel << 16);
}

int stun_enc_transport(stun_enc_t *e, uint8_t proto)
{
    return stun_enc_u32(e, STUN_ATTR_REQUESTED_TRANSPORT, (uint32_t)proto << 24);
}

int stun_enc_family(stun_enc_t *e, uint16_t type, uint8_t family)
{
    if (family != STUN_FAMILY_IPV4 && family != STUN_FAMILY_IPV6)
        return stun__enc_fail(e, CMN_EINVAL);
    return stun_enc_u32(e, type, (uint32_t)family << 24);
}

int stun_enc_even_port(stun_enc_t *e, bool reserve)
{
    uint8_t b = reserve ? 0x80 : 0x00;
    return stun_enc_attr(e, STUN_ATTR_EVEN_PORT, &b, 1);
}

int stun_enc_icmp(stun_enc_t *e, uint8_t type, uint8_t code, uint32_t data)
{
    uint8_t b[8] = {0, 0, type, code};
    cmn_put_u32be(b + 4, data);
    return stun_enc_attr(e, STUN_ATTR_ICMP, b, sizeof(b));
}

/* PASSWORD-ALGORITHM(S) (RFC 8489 §14.11, §14.12): the two algorithms
 * defined so far take no parameters, so an entry is 4 bytes. */
int stun_enc_pwalg(stun_enc_t *e, uint16_t alg)
{
    return stun_enc_u32(e, STUN_ATTR_PASSWORD_ALGORITHM, (uint32_t)alg << 16);
}

int stun_enc_pwalgs(stun_enc_t *e, const uint16_t *algs, size_t n)
{
    if (n == 0 || n > UINT16_MAX / 4)
        return stun__enc_fail(e, CMN_EINVAL);
    uint8_t *p = stun__enc_reserve(e, STUN_ATTR_PASSWORD_ALGORITHMS, 4 * n);
    if (!p)
        return e->err;
    for (size_t i = 0; i < n; i++)
        cmn_put_u32be(p + 4 * i, (uint32_t)algs[i] << 16);
    return 0;
}

ssize_t stun_enc_finish(stun_enc_t *e)
{
    if (e->err != 0)
        return e->err;
    return (ssize_t)e->len;
}
