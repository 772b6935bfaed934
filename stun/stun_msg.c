/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_msg.c: decoding of the STUN message header and attribute list
 * (RFC 8489 §5, §14), with the RFC 3489 "classic" Binding request accepted
 * for old ICE agents (RFC 8489 §12). The decoder only walks and validates the
 * framing: attribute values are interpreted by the getters in stun_attr.c,
 * and integrity is checked on demand by stun_auth.c (FINGERPRINT excepted,
 * which needs no key and is verified here).
 *
 * Nothing is allocated: the decoded message points into the caller's
 * datagram. Every length is checked before the bytes it covers are read.
 */
#include "stun_int.h"

static const char *const derr_names[STUN_DERR_COUNT] = {
    [STUN_DERR_NONE] = "none",
    [STUN_DERR_TRUNCATED_HEADER] = "truncated_header",
    [STUN_DERR_NOT_STUN] = "not_stun",
    [STUN_DERR_BAD_COOKIE] = "bad_cookie",
    [STUN_DERR_LENGTH_ALIGN] = "length_align",
    [STUN_DERR_LENGTH_MISMATCH] = "length_mismatch",
    [STUN_DERR_ATTR_TRUNCATED] = "attr_truncated",
    [STUN_DERR_ATTR_AFTER_INTEGRITY] = "attr_after_integrity",
    [STUN_DERR_ATTR_AFTER_FINGERPRINT] = "attr_after_fingerprint",
    [STUN_DERR_TOO_MANY_ATTRS] = "too_many_attrs",
    [STUN_DERR_BAD_ATTR_LENGTH] = "bad_attr_length",
    [STUN_DERR_BAD_FINGERPRINT] = "bad_fingerprint",
};

const char *stun_derr_name(stun_derr_t e)
{
    if ((unsigned)e >= STUN_DERR_COUNT || !derr_names[e])
        return "unknown";
    return derr_names[e];
}

bool stun_is_stun(const uint8_t *src, size_t len)
{
    return len >= STUN_HEADER_LEN && (src[0] & 0xC0) == 0 &&
           cmn_get_u32be(src + 4) == STUN_MAGIC_COOKIE;
}

/* Record an unknown comprehension-required type once (RFC 8489 §6.3.1
 * lists each in UNKNOWN-ATTRIBUTES); past STUN_MAX_UNKNOWN the rest are
 * dropped: one 420 naming eight of them is enough. */
static void note_unknown(stun_msg_t *m, uint16_t type)
{
    for (uint16_t i = 0; i < m->nunknown; i++)
        if (m->unknown[i] == type)
            return;
    if (m->nunknown < STUN_MAX_UNKNOWN)
        m->unknown[m->nunknown++] = type;
}

/* Check the 20-byte header (RFC 8489 §5) and fill the header fields of m. */
static stun_derr_t decode_header(stun_msg_t *m, const uint8_t *src, size_t len)
{
    if (len < STUN_HEADER_LEN)
        return STUN_DERR_TRUNCATED_HEADER;
    if (src[0] & 0xC0)
        return STUN_DERR_NOT_STUN;
    m->type = cmn_get_u16be(src);
    m->method = (uint16_t)(((m->type >> 2) & 0xF80) | ((m->type >> 1) & 0x070) | (m->type & 0x00F));
    m->cls = (uint8_t)(((m->type >> 7) & 2) | ((m->type >> 4) & 1));
    m->classic = false;
    if (cmn_get_u32be(src + 4) != STUN_MAGIC_COOKIE) {
        /* §12: a request without the cookie comes from an RFC 3489 client.
         * Only Binding existed then, and only a request needs an answer. */
        if (m->type != stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST))
            return STUN_DERR_BAD_COOKIE;
        m->classic = true;
    }
    m->length = cmn_get_u16be(src + 2);
    /* §5: every attribute is padded, so the body is a multiple of 4. */
    if (m->length % 4)
        return STUN_DERR_LENGTH_ALIGN;
    if (m->length > STUN_MAX_MSG_LEN - STUN_HEADER_LEN ||
        m->length != len - STUN_HEADER_LEN)
        return STUN_DERR_LENGTH_MISMATCH;
    m->raw = src;
    m->raw_len = STUN_HEADER_LEN + (size_t)m->length;
    memcpy(m->tid, src + 8, STUN_TID_LEN);
    return STUN_DERR_NONE;
}

/* Walk the attributes (RFC 8489 §14), enforcing bounds, ordering, count and
 * the length of fixed-size values. */
static stun_derr_t decode_attrs(stun_msg_t *m)
{
    const uint8_t *p = m->raw + STUN_HEADER_LEN;
    const uint8_t *end = m->raw + m->raw_len;
    int stage = STUN__STAGE_BODY;

    while (p < end) {
        if (4 > (size_t)(end - p))
            return STUN_DERR_ATTR_TRUNCATED;
        uint16_t type = cmn_get_u16be(p);
        uint16_t len = cmn_get_u16be(p + 2);
        int next = stun__stage_next(stage, type);
        if (next < 0)
            return stage == STUN__STAGE_FP ? STUN_DERR_ATTR_AFTER_FINGERPRINT
                                           : STUN_DERR_ATTR_AFTER_INTEGRITY;
        if (stun__pad4(len) > (size_t)(end - p) - 4)
            return STUN_DERR_ATTR_TRUNCATED;
        if (m->nattrs == STUN_MAX_ATTRS)
            return STUN_DERR_TOO_MANY_ATTRS;
        if (!stun__attr_len_ok(type, len))
            return STUN_DERR_BAD_ATTR_LENGTH;

        int16_t idx = (int16_t)m->nattrs;
        stun_attr_t *a = &m->attrs[m->nattrs++];
        a->type = type;
        a->len = len;
        a->val = p + 4;
        a->offset = (uint16_t)(p - m->raw);
        if (type == STUN_ATTR_MESSAGE_INTEGRITY)
            m->idx_integrity = idx;
        else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
            m->idx_integrity_sha256 = idx;
        else if (type == STUN_ATTR_FINGERPRINT)
            m->idx_fingerprint = idx;
        else if (type < 0x8000 && !stun__attr_known(type))
            note_unknown(m, type);
        stage = next;
        p += 4 + stun__pad4(len);
    }
    return STUN_DERR_NONE;
}

int stun_msg_decode(stun_msg_t *m, const uint8_t *src, size_t len, stun_derr_t *why)
{
    m->nattrs = 0;
    m->nunknown = 0;
    m->idx_integrity = -1;
    m->idx_integrity_sha256 = -1;
    m->idx_fingerprint = -1;

    stun_derr_t d = decode_header(m, src, len);
    if (d == STUN_DERR_NONE)
        d = decode_attrs(m);
    /* §14.7: a wrong FINGERPRINT means the datagram is not STUN at all
     * (or was damaged), so it fails the decode rather than a later check. */
    if (d == STUN_DERR_NONE && m->idx_fingerprint >= 0 && stun_msg_check_fingerprint(m) != 0)
        d = STUN_DERR_BAD_FINGERPRINT;
    if (why)
        *why = d;
    return d == STUN_DERR_NONE ? 0 : CMN_EPROTO;
}

const stun_attr_t *stun_msg_find(const stun_msg_t *m, uint16_t type)
{
    for (uint16_t i = 0; i < m->nattrs; i++)
        if (m->attrs[i].type == type)
            return &m->attrs[i];
    return NULL;
}

size_t stun_bad_request(const uint8_t *src, size_t len, stun_derr_t why, uint8_t *out, size_t cap)
{
    switch (why) {
    case STUN_DERR_ATTR_TRUNCATED:
    case STUN_DERR_ATTR_AFTER_INTEGRITY:
    case STUN_DERR_ATTR_AFTER_FINGERPRINT:
    case STUN_DERR_TOO_MANY_ATTRS:
    case STUN_DERR_BAD_ATTR_LENGTH:
        break;
    default:
        return 0;
    }
    stun_msg_t m;
    if (decode_header(&m, src, len) != STUN_DERR_NONE || m.classic ||
        m.cls != STUN_CLASS_REQUEST)
        return 0;
    stun_enc_t e;
    stun_enc_init(&e, out, cap, stun_type(m.method, STUN_CLASS_ERROR), m.tid);
    stun_enc_error(&e, 400, "Bad Request (malformed attribute)");
    return e.err ? 0 : e.len;
}
