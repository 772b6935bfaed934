/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_attr.c: typed views of attribute values (RFC 8489 §14, RFC 8656 §18,
 * RFC 8445 §16.1). Each getter checks the value's length and shape before
 * reading it and returns CMN_EPROTO when it is malformed; none allocates.
 * Bits the RFCs mark reserved or RFFU are ignored on reception, as they ask.
 * Semantic checks (is this family or transport supported, is the channel in
 * range) belong to the caller, which knows which error code to answer.
 * Also the per-type facts the decoder (stun_msg.c) and the integrity
 * checks (stun_auth.c) consult: which types are known, which lengths a
 * fixed-size attribute may have, how long a text attribute may be.
 */
#include "stun_int.h"

size_t stun__text_max(uint16_t type)
{
    switch (type) {
    case STUN_ATTR_USERNAME:
        return STUN_USERNAME_MAX;
    case STUN_ATTR_REALM:
        return STUN_REALM_MAX;
    case STUN_ATTR_NONCE:
        return STUN_NONCE_MAX;
    case STUN_ATTR_SOFTWARE:
        return STUN_SOFTWARE_MAX;
    case STUN_ATTR_ALTERNATE_DOMAIN:
        return STUN_ALTERNATE_DOMAIN_MAX;
    default:
        return SIZE_MAX;
    }
}

bool stun__attr_known(uint16_t type)
{
    switch (type) {
    case STUN_ATTR_MAPPED_ADDRESS:
    case STUN_ATTR_USERNAME:
    case STUN_ATTR_MESSAGE_INTEGRITY:
    case STUN_ATTR_ERROR_CODE:
    case STUN_ATTR_UNKNOWN_ATTRIBUTES:
    case STUN_ATTR_CHANNEL_NUMBER:
    case STUN_ATTR_LIFETIME:
    case STUN_ATTR_XOR_PEER_ADDRESS:
    case STUN_ATTR_DATA:
    case STUN_ATTR_REALM:
    case STUN_ATTR_NONCE:
    case STUN_ATTR_XOR_RELAYED_ADDRESS:
    case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
    case STUN_ATTR_EVEN_PORT:
    case STUN_ATTR_REQUESTED_TRANSPORT:
    case STUN_ATTR_DONT_FRAGMENT:
    case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
    case STUN_ATTR_PASSWORD_ALGORITHM:
    case STUN_ATTR_USERHASH:
    case STUN_ATTR_XOR_MAPPED_ADDRESS:
    case STUN_ATTR_RESERVATION_TOKEN:
    case STUN_ATTR_PRIORITY:
    case STUN_ATTR_USE_CANDIDATE:
    case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
    case STUN_ATTR_ADDRESS_ERROR_CODE:
    case STUN_ATTR_PASSWORD_ALGORITHMS:
    case STUN_ATTR_ALTERNATE_DOMAIN:
    case STUN_ATTR_ICMP:
    case STUN_ATTR_SOFTWARE:
    case STUN_ATTR_ALTERNATE_SERVER:
    case STUN_ATTR_FINGERPRINT:
    case STUN_ATTR_ICE_CONTROLLED:
    case STUN_ATTR_ICE_CONTROLLING:
        return true;
    default:
        return false;
    }
}

bool stun__attr_len_ok(uint16_t type, size_t len)
{
    switch (type) {
    /* Addresses: 8 bytes for IPv4, 20 for IPv6 (RFC 8489 §14.1, §14.2). The
     * family byte itself is checked by the getters. */
    case STUN_ATTR_MAPPED_ADDRESS:
    case STUN_ATTR_XOR_MAPPED_ADDRESS:
    case STUN_ATTR_XOR_PEER_ADDRESS:
    case STUN_ATTR_XOR_RELAYED_ADDRESS:
    case STUN_ATTR_ALTERNATE_SERVER:
        return len == 8 || len == 20;
    case STUN_ATTR_MESSAGE_INTEGRITY:
        return len == STUN__MI_LEN;
    /* §14.6: at least 16 bytes, at most 32, a multiple of 4. */
    case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
        return len >= STUN__MI256_MIN && len <= STUN__MI256_MAX && len % 4 == 0;
    case STUN_ATTR_USERHASH:
        return len == 32;
    /* A 32-bit word: RFC 8489 §14.7; RFC 8656 §18.1, §18.2, §18.6, §18.8,
     * §18.11; RFC 8445 §16.1. */
    case STUN_ATTR_FINGERPRINT:
    case STUN_ATTR_CHANNEL_NUMBER:
    case STUN_ATTR_LIFETIME:
    case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
    case STUN_ATTR_REQUESTED_TRANSPORT:
    case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
    case STUN_ATTR_PRIORITY:
        return len == 4;
    /* RFC 8656 §18.7: one byte holding the R flag. */
    case STUN_ATTR_EVEN_PORT:
        return len == 1;
    /* RFC 8656 §18.10, §18.13; RFC 8445 §16.1. */
    case STUN_ATTR_RESERVATION_TOKEN:
    case STUN_ATTR_ICMP:
    case STUN_ATTR_ICE_CONTROLLED:
    case STUN_ATTR_ICE_CONTROLLING:
        return len == 8;
    /* Flags without a value (RFC 8656 §18.9, RFC 8445 §16.1). */
    case STUN_ATTR_DONT_FRAGMENT:
    case STUN_ATTR_USE_CANDIDATE:
        return len == 0;
    /* ERROR-CODE and ADDRESS-ERROR-CODE need their 4-byte head. */
    case STUN_ATTR_ERROR_CODE:
    case STUN_ATTR_ADDRESS_ERROR_CODE:
    case STUN_ATTR_PASSWORD_ALGORITHM:
        return len >= 4;
    default:
        return true;
    }
}

/* The length of the UTF-8 sequence led by <c>, 0 for a byte that can't
 * lead one (RFC 3629 §4: C0, C1 and F5..FF never appear). */
static size_t utf8_seq_len(uint8_t c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

bool stun__utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(p[i]);
        if (k == 0 || k > n - i)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xC0) != 0x80)
                return false;
        /* The second byte's range rules out overlong forms (E0, F0),
         * surrogates (ED) and code points above U+10FFFF (F4). */
        if ((p[i] == 0xE0 && p[i + 1] < 0xA0) || (p[i] == 0xED && p[i + 1] > 0x9F) ||
            (p[i] == 0xF0 && p[i + 1] < 0x90) || (p[i] == 0xF4 && p[i + 1] > 0x8F))
            return false;
        i += k;
    }
    return true;
}

/* The address part shared by MAPPED-ADDRESS and the XOR-* attributes
 * (RFC 8489 §14.1): a reserved byte, the family, the port, the address. */
static int read_addr(const stun_attr_t *a, cmn_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    if (a->len == 8 && a->val[1] == STUN_FAMILY_IPV4) {
        out->family = CMN_AF_INET;
        memcpy(out->ip, a->val + 4, 4);
    } else if (a->len == 20 && a->val[1] == STUN_FAMILY_IPV6) {
        out->family = CMN_AF_INET6;
        memcpy(out->ip, a->val + 4, 16);
    } else {
        return CMN_EPROTO;
    }
    out->port = cmn_get_u16be(a->val + 2);
    return 0;
}

int stun_attr_get_addr(const stun_attr_t *a, cmn_addr_t *out)
{
    return read_addr(a, out);
}

/* RFC 8489 §14.2: the port is XORed with the cookie's top 16 bits, the
 * address with the cookie (IPv4) or the cookie and transaction id (IPv6). */
int stun_attr_get_xor_addr(const stun_msg_t *m, const stun_attr_t *a, cmn_addr_t *out)
{
    /* A classic (RFC 3489) message has no cookie to XOR with. */
    if (m->classic)
        return CMN_EPROTO;
    int rc = read_addr(a, out);
    if (rc != 0)
        return rc;
    stun__xor_addr(out, m->tid);
    return 0;
}

int stun_attr_get_u32(const stun_attr_t *a, uint32_t *out)
{
    if (a->len != 4)
        return CMN_EPROTO;
    *out = cmn_get_u32be(a->val);
    return 0;
}

int stun_attr_get_u64(const stun_attr_t *a, uint64_t *out)
{
    if (a->len != 8)
        return CMN_EPROTO;
    *out = cmn_get_u64be(a->val);
    return 0;
}

/* RFC 8656 §18.1: the number, then 16 RFFU bits. */
int stun_attr_get_channel(const stun_attr_t *a, uint16_t *out)
{
    if (a->len != 4)
        return CMN_EPROTO;
    *out = cmn_get_u16be(a->val);
    return 0;
}

/* RFC 8656 §18.8: the IANA protocol number, then 24 RFFU bits. */
int stun_attr_get_transport(const stun_attr_t *a, uint8_t *proto)
{
    if (a->len != 4)
        return CMN_EPROTO;
    *proto = a->val[0];
    return 0;
}

/* RFC 8656 §18.6, §18.11: the family, then 24 reserved bits. */
int stun_attr_get_family(const stun_attr_t *a, uint8_t *family)
{
    if (a->len != 4)
        return CMN_EPROTO;
    *family = a->val[0];
    return 0;
}

/* RFC 8656 §18.7: the R bit is the top bit of the single byte. */
int stun_attr_get_even_port(const stun_attr_t *a, bool *reserve)
{
    if (a->len != 1)
        return CMN_EPROTO;
    *reserve = (a->val[0] & 0x80) != 0;
    return 0;
}

/* The code and reason shared by ERROR-CODE (RFC 8489 §14.8) and
 * ADDRESS-ERROR-CODE (RFC 8656 §18.12): class in the low 3 bits of byte 2
 * (3..6), number in byte 3 (0..99), then a UTF-8 reason phrase. */
static int read_code(const stun_attr_t *a, int *code, const char **reason, size_t *reason_len)
{
    if (a->len < 4)
        return CMN_EPROTO;
    int cls = a->val[2] & 0x07;
    int num = a->val[3];
    if (cls < 3 || cls > 6 || num > 99)
        return CMN_EPROTO;
    size_t rlen = (size_t)a->len - 4;
    if (rlen > STUN_REASON_MAX || !stun__utf8_valid(a->val + 4, rlen))
        return CMN_EPROTO;
    *code = cls * 100 + num;
    *reason = (const char *)a->val + 4;
    *reason_len = rlen;
    return 0;
}

int stun_attr_get_error(const stun_attr_t *a, int *code, const char **reason, size_t *reason_len)
{
    return read_code(a, code, reason, reason_len);
}

int stun_attr_get_addr_error(const stun_attr_t *a, uint8_t *family, int *code,
                             const char **reason, size_t *reason_len)
{
    int rc = read_code(a, code, reason, reason_len);
    if (rc == 0)
        *family = a->val[0];
    return rc;
}

/* RFC 8656 §18.13: 16 reserved bits, the ICMP type and code bytes, then the
 * 32-bit error data. */
int stun_attr_get_icmp(const stun_attr_t *a, uint8_t *type, uint8_t *code, uint32_t *data)
{
    if (a->len != 8)
        return CMN_EPROTO;
    *type = a->val[2];
    *code = a->val[3];
    *data = cmn_get_u32be(a->val + 4);
    return 0;
}

/* RFC 8489 §14.13: a list of 16-bit attribute types. */
int stun_attr_get_unknown(const stun_attr_t *a, uint16_t *types, size_t max, size_t *n)
{
    if (a->len % 2)
        return CMN_EPROTO;
    size_t count = a->len / 2;
    size_t i;
    for (i = 0; i < count && i < max; i++)
        types[i] = cmn_get_u16be(a->val + 2 * i);
    *n = i;
    return 0;
}

/* One algorithm entry (RFC 8489 §14.11, §14.12): algorithm, parameter length,
 * parameters padded to 4 bytes. The padding of the last entry may be left to
 * the attribute's own padding, so <avail> may stop right after the
 * parameters. Returns the entry's size, or 0 if it does not fit. */
static size_t pwalg_entry(const uint8_t *p, size_t avail, uint16_t *alg, size_t *plen)
{
    if (avail < 4)
        return 0;
    *alg = cmn_get_u16be(p);
    *plen = cmn_get_u16be(p + 2);
    if (*plen > avail - 4)
        return 0;
    return CMN_MIN(4 + stun__pad4(*plen), avail);
}

int stun_attr_get_pwalg(const stun_attr_t *a, uint16_t *alg, const uint8_t **params, size_t *plen)
{
    size_t n = pwalg_entry(a->val, a->len, alg, plen);
    if (n == 0 || n != a->len)
        return CMN_EPROTO;
    *params = a->val + 4;
    return 0;
}

int stun_attr_get_pwalgs(const stun_attr_t *a, size_t i, uint16_t *alg)
{
    size_t pos = 0;
    for (size_t k = 0;; k++) {
        if (pos == a->len)
            return CMN_ENOENT;
        uint16_t cur;
        size_t plen;
        size_t n = pwalg_entry(a->val + pos, a->len - pos, &cur, &plen);
        if (n == 0)
            return CMN_EPROTO;
        if (k == i) {
            *alg = cur;
            return 0;
        }
        pos += n;
    }
}

int stun_attr_get_text(const stun_attr_t *a, const char **s, size_t *len)
{
    if (a->len > stun__text_max(a->type) || !stun__utf8_valid(a->val, a->len))
        return CMN_EPROTO;
    *s = (const char *)a->val;
    *len = a->len;
    return 0;
}
