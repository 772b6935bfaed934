/* icehub - SPDX-License-Identifier: MIT
 *
 * test_stun_msg.c: stun/stun_msg.c: header and attribute-list decoding, one
 * test per rejection reason (stun_derr_t), unknown-attribute tracking,
 * classic RFC 3489 requests, stun_msg_find and stun_derr_name. Messages
 * that the encoder refuses to produce are built by hand here; every decode
 * of hand-built bytes goes through an exact-size heap copy so ASan reports
 * any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "stun/stun.h"
#include "stun_vectors.h"

static const uint8_t tid_a[STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* A hand-built message: header plus raw attributes, length kept current. */
typedef struct {
    uint8_t b[70000];
    size_t len;
} raw_t;

static void raw_init(raw_t *r, uint16_t type, bool cookie)
{
    memset(r->b, 0, STUN_HEADER_LEN);
    cmn_put_u16be(r->b, type);
    if (cookie)
        cmn_put_u32be(r->b + 4, STUN_MAGIC_COOKIE);
    else
        memcpy(r->b + 4, "RFC3", 4); /* classic: 16-byte tid from byte 4 */
    memcpy(r->b + 8, tid_a, STUN_TID_LEN);
    r->len = STUN_HEADER_LEN;
}

/* Append an attribute whose value is <len> bytes of <fill>, padded. */
static void raw_attr(raw_t *r, uint16_t type, uint16_t len, uint8_t fill)
{
    cmn_put_u16be(r->b + r->len, type);
    cmn_put_u16be(r->b + r->len + 2, len);
    memset(r->b + r->len + 4, fill, len);
    size_t padded = (len + 3u) & ~3u;
    memset(r->b + r->len + 4 + len, 0, padded - len);
    r->len += 4 + padded;
    cmn_put_u16be(r->b + 2, (uint16_t)(r->len - STUN_HEADER_LEN));
}

/* Decode an exact-size heap copy; returns the derr. */
static stun_derr_t decode_bytes(const uint8_t *src, size_t len, stun_msg_t *m)
{
    static stun_msg_t scratch;
    stun_derr_t why = STUN_DERR_COUNT;
    uint8_t *copy = dup_exact(src, len);
    int rc = stun_msg_decode(m ? m : &scratch, copy, len, &why);
    assert_int_equal(rc, why == STUN_DERR_NONE ? 0 : CMN_EPROTO);
    free(copy);
    if (m)
        m->raw = NULL; /* the copy is gone */
    return why;
}

static stun_derr_t decode_raw(const raw_t *r)
{
    return decode_bytes(r->b, r->len, NULL);
}

static void test_rfc5769_request_structure(void **state)
{
    (void)state;
    stun_msg_t m;
    decode_ok(&m, rfc5769_req, sizeof(rfc5769_req));
    assert_ptr_equal(m.raw, rfc5769_req);
    assert_int_equal(m.raw_len, sizeof(rfc5769_req));
    assert_int_equal(m.type, 0x0001);
    assert_int_equal(m.method, STUN_METHOD_BINDING);
    assert_int_equal(m.cls, STUN_CLASS_REQUEST);
    assert_false(m.classic);
    assert_int_equal(m.length, 0x58);
    assert_memory_equal(m.tid, rfc5769_req + 8, STUN_TID_LEN);
    assert_int_equal(m.nattrs, 6);
    static const uint16_t types[] = {STUN_ATTR_SOFTWARE, STUN_ATTR_PRIORITY,
                                     STUN_ATTR_ICE_CONTROLLED, STUN_ATTR_USERNAME,
                                     STUN_ATTR_MESSAGE_INTEGRITY, STUN_ATTR_FINGERPRINT};
    static const uint16_t lens[] = {16, 4, 8, 9, 20, 4};
    static const uint16_t offs[] = {20, 40, 48, 60, 76, 100};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(m.attrs[i].type, types[i]);
        assert_int_equal(m.attrs[i].len, lens[i]);
        assert_int_equal(m.attrs[i].offset, offs[i]);
        assert_ptr_equal(m.attrs[i].val, rfc5769_req + offs[i] + 4);
    }
    assert_int_equal(m.idx_integrity, 4);
    assert_int_equal(m.idx_integrity_sha256, -1);
    assert_int_equal(m.idx_fingerprint, 5);
    assert_int_equal(m.nunknown, 0);
    assert_true(stun_is_stun(rfc5769_req, sizeof(rfc5769_req)));
    /* why may be NULL */
    assert_int_equal(stun_msg_decode(&m, rfc5769_req, sizeof(rfc5769_req), NULL), 0);
}

static void test_type_bits(void **state)
{
    (void)state;
    assert_int_equal(stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST), 0x0001);
    assert_int_equal(stun_type(STUN_METHOD_BINDING, STUN_CLASS_INDICATION), 0x0011);
    assert_int_equal(stun_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS), 0x0101);
    assert_int_equal(stun_type(STUN_METHOD_BINDING, STUN_CLASS_ERROR), 0x0111);
    assert_int_equal(stun_type(STUN_METHOD_ALLOCATE, STUN_CLASS_ERROR), 0x0113);
    assert_int_equal(stun_type(STUN_METHOD_SEND, STUN_CLASS_INDICATION), 0x0016);
    assert_int_equal(stun_type(STUN_METHOD_DATA, STUN_CLASS_INDICATION), 0x0017);
    assert_int_equal(stun_type(0xFFF, STUN_CLASS_ERROR), 0x3FFF);

    /* Every method and class survives the header decode. */
    static const uint16_t methods[] = {0x001, 0x003, 0x004, 0x006, 0x007, 0x008,
                                       0x009, 0x080, 0x0F0, 0xFFF};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        for (uint8_t cls = 0; cls < 4; cls++) {
            raw_t *r = malloc(sizeof(*r));
            stun_msg_t m;
            raw_init(r, stun_type(methods[i], cls), true);
            uint8_t *copy = dup_exact(r->b, r->len);
            assert_int_equal(stun_msg_decode(&m, copy, r->len, NULL), 0);
            assert_int_equal(m.method, methods[i]);
            assert_int_equal(m.cls, cls);
            assert_int_equal(m.nattrs, 0);
            free(copy);
            free(r);
        }
    }
}

static void test_derr_truncated_header(void **state)
{
    (void)state;
    assert_int_equal(decode_bytes(rfc5769_req, 0, NULL), STUN_DERR_TRUNCATED_HEADER);
    for (size_t n = 1; n < STUN_HEADER_LEN; n++)
        assert_int_equal(decode_bytes(rfc5769_req, n, NULL), STUN_DERR_TRUNCATED_HEADER);
    assert_false(stun_is_stun(rfc5769_req, 19));
}

static void test_derr_not_stun(void **state)
{
    (void)state;
    uint8_t b[sizeof(rfc5769_req)];
    for (unsigned top = 1; top < 4; top++) {
        memcpy(b, rfc5769_req, sizeof(b));
        b[0] = (uint8_t)(top << 6);
        assert_int_equal(decode_bytes(b, sizeof(b), NULL), STUN_DERR_NOT_STUN);
        assert_false(stun_is_stun(b, sizeof(b)));
    }
}

static void test_derr_bad_cookie(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    /* Only a Binding request may come without the cookie (classic). */
    static const uint16_t types[] = {0x0011, 0x0101, 0x0111, 0x0003, 0x0016, 0x0009};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        raw_init(r, types[i], false);
        assert_int_equal(decode_raw(r), STUN_DERR_BAD_COOKIE);
        assert_false(stun_is_stun(r->b, r->len));
    }
    /* One flipped cookie bit in an otherwise valid response. */
    raw_init(r, 0x0101, true);
    r->b[7] ^= 1;
    assert_int_equal(decode_raw(r), STUN_DERR_BAD_COOKIE);
    free(r);
}

static void test_derr_length_align(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    for (uint16_t extra = 1; extra < 4; extra++) {
        raw_init(r, 0x0001, true);
        r->len += extra;
        cmn_put_u16be(r->b + 2, extra);
        assert_int_equal(decode_raw(r), STUN_DERR_LENGTH_ALIGN);
    }
    free(r);
}

static void test_derr_length_mismatch(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_SOFTWARE, 4, 'a');
    /* Declared longer than present. */
    assert_int_equal(decode_bytes(r->b, r->len - 4, NULL), STUN_DERR_LENGTH_MISMATCH);
    /* Declared shorter than present (trailing bytes in the datagram). */
    r->b[r->len] = 0;
    assert_int_equal(decode_bytes(r->b, r->len + 4, NULL), STUN_DERR_LENGTH_MISMATCH);
    /* Over STUN_MAX_MSG_LEN although present: 20 + 65516 > 65535. */
    raw_init(r, 0x0001, true);
    raw_attr(r, 0x8050, 65508, 0); /* 20 + 4 + 65508 = 65532 */
    assert_int_equal(r->len, 65532);
    assert_int_equal(decode_raw(r), STUN_DERR_NONE);
    raw_attr(r, 0x8050, 0, 0); /* 65536 */
    assert_int_equal(decode_raw(r), STUN_DERR_LENGTH_MISMATCH);
    free(r);
}

static void test_derr_attr_truncated(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    /* Value longer than the body. */
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_SOFTWARE, 8, 'a');
    cmn_put_u16be(r->b + 22, 9);
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_TRUNCATED);
    cmn_put_u16be(r->b + 22, 0xFFFF);
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_TRUNCATED);
    /* The last attribute's padding would run past the end: 5 bytes in an
     * 8-byte body plus header. */
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_USERNAME, 4, 'u');
    raw_attr(r, STUN_ATTR_SOFTWARE, 4, 's');
    cmn_put_u16be(r->b + 30, 5);
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_TRUNCATED);
    /* The RFC vector cut at the 4th attribute's value. */
    uint8_t b[sizeof(rfc5769_req)];
    memcpy(b, rfc5769_req, sizeof(b));
    cmn_put_u16be(b + 2, 44); /* ends inside USERNAME's value */
    assert_int_equal(decode_bytes(b, 64, NULL), STUN_DERR_ATTR_TRUNCATED);
    free(r);
}

static void test_derr_attr_after_integrity(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    /* Anything but MI-SHA256 and FINGERPRINT after MESSAGE-INTEGRITY. */
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY, 20, 0);
    raw_attr(r, STUN_ATTR_USERNAME, 4, 'u');
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_AFTER_INTEGRITY);
    /* A second MESSAGE-INTEGRITY. */
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY, 20, 0);
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY, 20, 0);
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_AFTER_INTEGRITY);
    /* MESSAGE-INTEGRITY after MESSAGE-INTEGRITY-SHA256. */
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 32, 0);
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY, 20, 0);
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_AFTER_INTEGRITY);
    /* An optional attribute after MI-SHA256 is no better. */
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 16, 0);
    raw_attr(r, STUN_ATTR_SOFTWARE, 4, 's');
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_AFTER_INTEGRITY);
    /* Allowed: MI, MI-SHA256 (not checked by decode). */
    stun_msg_t m;
    raw_init(r, 0x0001, true);
    raw_attr(r, STUN_ATTR_USERNAME, 4, 'u');
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY, 20, 0);
    raw_attr(r, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 24, 0);
    assert_int_equal(decode_bytes(r->b, r->len, &m), STUN_DERR_NONE);
    assert_int_equal(m.nattrs, 3);
    assert_int_equal(m.idx_integrity, 1);
    assert_int_equal(m.idx_integrity_sha256, 2);
    assert_int_equal(m.idx_fingerprint, -1);
    free(r);
}

static void test_derr_attr_after_fingerprint(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    static const uint16_t after[] = {STUN_ATTR_SOFTWARE, STUN_ATTR_FINGERPRINT,
                                     STUN_ATTR_MESSAGE_INTEGRITY, 0x0003};
    static const uint16_t lens[] = {4, 4, 20, 4};
    for (size_t i = 0; i < 4; i++) {
        raw_init(r, 0x0001, true);
        raw_attr(r, STUN_ATTR_FINGERPRINT, 4, 0);
        raw_attr(r, after[i], lens[i], 0);
        assert_int_equal(decode_raw(r), STUN_DERR_ATTR_AFTER_FINGERPRINT);
    }
    /* The same after the RFC vector's FINGERPRINT. */
    memcpy(r->b, rfc5769_req, sizeof(rfc5769_req));
    r->len = sizeof(rfc5769_req);
    raw_attr(r, STUN_ATTR_SOFTWARE, 1, 'x');
    assert_int_equal(decode_raw(r), STUN_DERR_ATTR_AFTER_FINGERPRINT);
    free(r);
}

static void test_derr_too_many_attrs(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    stun_msg_t m;
    raw_init(r, 0x0001, true);
    for (int i = 0; i < STUN_MAX_ATTRS; i++)
        raw_attr(r, STUN_ATTR_SOFTWARE, 0, 0);
    assert_int_equal(decode_bytes(r->b, r->len, &m), STUN_DERR_NONE);
    assert_int_equal(m.nattrs, STUN_MAX_ATTRS);
    raw_attr(r, STUN_ATTR_SOFTWARE, 0, 0);
    assert_int_equal(decode_raw(r), STUN_DERR_TOO_MANY_ATTRS);
    free(r);
}

static void test_derr_bad_attr_length(void **state)
{
    (void)state;
    static const struct {
        uint16_t type;
        uint16_t bad;
        uint16_t good;
    } cases[] = {
        {STUN_ATTR_MAPPED_ADDRESS, 12, 8},
        {STUN_ATTR_XOR_MAPPED_ADDRESS, 16, 20},
        {STUN_ATTR_XOR_PEER_ADDRESS, 4, 8},
        {STUN_ATTR_XOR_RELAYED_ADDRESS, 24, 20},
        {STUN_ATTR_ALTERNATE_SERVER, 0, 8},
        {STUN_ATTR_MESSAGE_INTEGRITY, 16, 20},
        {STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 12, 16},
        {STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 18, 28},
        {STUN_ATTR_MESSAGE_INTEGRITY_SHA256, 36, 32},
        {STUN_ATTR_USERHASH, 31, 32},
        {STUN_ATTR_FINGERPRINT, 8, 4},
        {STUN_ATTR_CHANNEL_NUMBER, 2, 4},
        {STUN_ATTR_LIFETIME, 3, 4},
        {STUN_ATTR_REQUESTED_ADDRESS_FAMILY, 1, 4},
        {STUN_ATTR_REQUESTED_TRANSPORT, 8, 4},
        {STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 5, 4},
        {STUN_ATTR_PRIORITY, 0, 4},
        {STUN_ATTR_EVEN_PORT, 4, 1},
        {STUN_ATTR_RESERVATION_TOKEN, 4, 8},
        {STUN_ATTR_ICMP, 12, 8},
        {STUN_ATTR_ICE_CONTROLLED, 4, 8},
        {STUN_ATTR_ICE_CONTROLLING, 16, 8},
        {STUN_ATTR_DONT_FRAGMENT, 4, 0},
        {STUN_ATTR_USE_CANDIDATE, 1, 0},
        {STUN_ATTR_ERROR_CODE, 3, 4},
        {STUN_ATTR_ADDRESS_ERROR_CODE, 2, 4},
        {STUN_ATTR_PASSWORD_ALGORITHM, 0, 4},
    };
    raw_t *r = malloc(sizeof(*r));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_init(r, 0x0001, true);
        raw_attr(r, cases[i].type, cases[i].bad, 0);
        assert_int_equal(decode_raw(r), STUN_DERR_BAD_ATTR_LENGTH);
        /* FINGERPRINT with the right length still has to match. */
        if (cases[i].type == STUN_ATTR_FINGERPRINT)
            continue;
        raw_init(r, 0x0001, true);
        raw_attr(r, cases[i].type, cases[i].good, 0);
        assert_int_equal(decode_raw(r), STUN_DERR_NONE);
    }
    free(r);
}

static void test_derr_bad_fingerprint(void **state)
{
    (void)state;
    /* Byte ranges of the vector that are values (tid, attribute values and
     * padding, the MI and FINGERPRINT values): flipping any bit there
     * leaves the framing intact and breaks only the CRC. */
    static const size_t ranges[][2] = {{1, 2},   {8, 20},  {24, 40}, {44, 48},
                                       {52, 60}, {64, 76}, {80, 100}, {104, 108}};
    uint8_t b[sizeof(rfc5769_req)];
    for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
        for (size_t i = ranges[k][0]; i < ranges[k][1]; i++) {
            for (int bit = 0; bit < 8; bit++) {
                memcpy(b, rfc5769_req, sizeof(b));
                b[i] ^= (uint8_t)(1u << bit);
                assert_int_equal(decode_bytes(b, sizeof(b), NULL), STUN_DERR_BAD_FINGERPRINT);
            }
        }
    }
}

static void test_derr_names(void **state)
{
    (void)state;
    assert_string_equal(stun_derr_name(STUN_DERR_NONE), "none");
    assert_string_equal(stun_derr_name(STUN_DERR_TRUNCATED_HEADER), "truncated_header");
    assert_string_equal(stun_derr_name(STUN_DERR_ATTR_AFTER_FINGERPRINT),
                        "attr_after_fingerprint");
    assert_string_equal(stun_derr_name(STUN_DERR_BAD_FINGERPRINT), "bad_fingerprint");
    assert_string_equal(stun_derr_name(STUN_DERR_COUNT), "unknown");
    assert_string_equal(stun_derr_name((stun_derr_t)-1), "unknown");
    /* Distinct, non-empty, metric-label safe. */
    for (int i = 0; i < STUN_DERR_COUNT; i++) {
        const char *a = stun_derr_name((stun_derr_t)i);
        assert_true(strlen(a) > 0 && strcmp(a, "unknown") != 0);
        assert_true(strspn(a, "abcdefghijklmnopqrstuvwxyz_") == strlen(a));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(a, stun_derr_name((stun_derr_t)j));
    }
}

static void test_unknown_attributes(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    stun_msg_t m;
    raw_init(r, 0x0001, true);
    raw_attr(r, 0x0003, 4, 0);          /* CHANGE-REQUEST: retired, required range */
    raw_attr(r, 0x7FFF, 0, 0);
    raw_attr(r, 0x0003, 4, 0);          /* listed once */
    raw_attr(r, 0xC057, 4, 0);          /* optional: not listed */
    raw_attr(r, 0x8000 - 1, 0, 0);      /* same as 0x7FFF */
    raw_attr(r, STUN_ATTR_PRIORITY, 4, 0);
    raw_attr(r, STUN_ATTR_USE_CANDIDATE, 0, 0);
    raw_attr(r, STUN_ATTR_ICE_CONTROLLING, 8, 0);
    raw_attr(r, STUN_ATTR_ICE_CONTROLLED, 8, 0);
    raw_attr(r, STUN_ATTR_USERHASH, 32, 0);
    assert_int_equal(decode_bytes(r->b, r->len, &m), STUN_DERR_NONE);
    assert_int_equal(m.nattrs, 10);
    assert_int_equal(m.nunknown, 2);
    assert_int_equal(m.unknown[0], 0x0003);
    assert_int_equal(m.unknown[1], 0x7FFF);

    /* More than STUN_MAX_UNKNOWN distinct: capped, decode still succeeds. */
    raw_init(r, 0x0001, true);
    for (uint16_t t = 0x0040; t < 0x0040 + 2 * STUN_MAX_UNKNOWN; t++)
        raw_attr(r, t, 0, 0);
    assert_int_equal(decode_bytes(r->b, r->len, &m), STUN_DERR_NONE);
    assert_int_equal(m.nunknown, STUN_MAX_UNKNOWN);
    for (int i = 0; i < STUN_MAX_UNKNOWN; i++)
        assert_int_equal(m.unknown[i], 0x0040 + i);
    free(r);
}

static void test_classic_request(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    stun_msg_t m;
    raw_init(r, 0x0001, false);
    raw_attr(r, STUN_ATTR_USERNAME, 8, 'u');
    uint8_t *copy = dup_exact(r->b, r->len);
    assert_int_equal(stun_msg_decode(&m, copy, r->len, NULL), 0);
    assert_true(m.classic);
    assert_int_equal(m.method, STUN_METHOD_BINDING);
    assert_int_equal(m.cls, STUN_CLASS_REQUEST);
    assert_memory_equal(m.tid, tid_a, STUN_TID_LEN);      /* bytes 8..19 */
    assert_memory_equal(m.raw + 4, "RFC3", 4);            /* the rest of the 16 */
    assert_int_equal(m.nattrs, 1);
    assert_false(stun_is_stun(copy, r->len));
    free(copy);
    /* Classic messages get the same framing checks. */
    raw_init(r, 0x0001, false);
    r->len += 2;
    cmn_put_u16be(r->b + 2, 2);
    assert_int_equal(decode_raw(r), STUN_DERR_LENGTH_ALIGN);
    /* A cookie-full request is not classic. */
    raw_init(r, 0x0001, true);
    assert_int_equal(decode_bytes(r->b, r->len, &m), STUN_DERR_NONE);
    assert_false(m.classic);
    free(r);
}

static void test_find_and_padding(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    stun_msg_t m;
    raw_init(r, 0x0003, true);
    raw_attr(r, STUN_ATTR_REALM, 5, 'a');
    raw_attr(r, STUN_ATTR_REALM, 7, 'b');
    raw_attr(r, STUN_ATTR_DATA, 0, 0);
    /* Non-zero padding is ignored (RFC 8489 §14). */
    r->b[20 + 4 + 5] = 0xEE;
    r->b[20 + 4 + 7] = 0x20;
    uint8_t *copy = dup_exact(r->b, r->len);
    assert_int_equal(stun_msg_decode(&m, copy, r->len, NULL), 0);
    const stun_attr_t *a = stun_msg_find(&m, STUN_ATTR_REALM);
    assert_non_null(a);
    assert_ptr_equal(a, &m.attrs[0]);
    assert_int_equal(a->len, 5);
    assert_int_equal(a->val[0], 'a');
    a = stun_msg_find(&m, STUN_ATTR_DATA);
    assert_non_null(a);
    assert_int_equal(a->len, 0);
    assert_int_equal(a->offset, 20 + 12 + 12);
    assert_null(stun_msg_find(&m, STUN_ATTR_NONCE));
    free(copy);
    free(r);
}

static void test_every_prefix_and_length_rejected(void **state)
{
    (void)state;
    /* Every truncation of the vector, with its length field left alone or
     * fixed up, fails cleanly and never reads past the copy. */
    uint8_t b[sizeof(rfc5769_req)];
    for (size_t n = 0; n < sizeof(rfc5769_req); n++) {
        stun_derr_t d = decode_bytes(rfc5769_req, n, NULL);
        assert_int_equal(d, n < STUN_HEADER_LEN ? STUN_DERR_TRUNCATED_HEADER
                                                : STUN_DERR_LENGTH_MISMATCH);
        if (n < STUN_HEADER_LEN)
            continue;
        memcpy(b, rfc5769_req, n);
        cmn_put_u16be(b + 2, (uint16_t)(n - STUN_HEADER_LEN));
        d = decode_bytes(b, n, NULL);
        /* Cut at an attribute boundary the prefix is a valid message. */
        bool boundary = n == 20 || n == 40 || n == 48 || n == 60 || n == 76 || n == 100;
        if (boundary)
            assert_int_equal(d, STUN_DERR_NONE);
        else if (n % 4)
            assert_int_equal(d, STUN_DERR_LENGTH_ALIGN);
        else
            assert_int_equal(d, STUN_DERR_ATTR_TRUNCATED);
    }
}

/* A request with a sound header and a malformed attribute gets 400 with
 * its method and transaction id; other failures get nothing. */
static void test_bad_request_answer(void **state)
{
    (void)state;
    raw_t *r = malloc(sizeof(*r));
    uint8_t out[128];
    stun_msg_t m;
    stun_derr_t why;
    raw_init(r, stun_type(STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST), true);
    memset(r->b + 8, 0xab, STUN_TID_LEN);
    raw_attr(r, STUN_ATTR_LIFETIME, 3, 0);
    assert_int_equal(stun_msg_decode(&m, r->b, r->len, &why), CMN_EPROTO);
    assert_int_equal(why, STUN_DERR_BAD_ATTR_LENGTH);
    size_t n = stun_bad_request(r->b, r->len, why, out, sizeof(out));
    assert_true(n > STUN_HEADER_LEN);
    assert_int_equal(stun_msg_decode(&m, out, n, &why), 0);
    assert_int_equal(m.method, STUN_METHOD_ALLOCATE);
    assert_int_equal(m.cls, STUN_CLASS_ERROR);
    assert_memory_equal(m.tid, r->b + 8, STUN_TID_LEN);
    int code;
    const char *reason;
    size_t rlen;
    assert_int_equal(stun_attr_get_error(stun_msg_find(&m, STUN_ATTR_ERROR_CODE), &code,
                                         &reason, &rlen), 0);
    assert_int_equal(code, 400);
    /* An indication, a bad header, a wrong fingerprint: no answer. */
    raw_init(r, stun_type(STUN_METHOD_SEND, STUN_CLASS_INDICATION), true);
    raw_attr(r, STUN_ATTR_LIFETIME, 3, 0);
    assert_int_equal(stun_bad_request(r->b, r->len, STUN_DERR_BAD_ATTR_LENGTH, out, sizeof(out)),
                     0);
    raw_init(r, stun_type(STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST), true);
    assert_int_equal(stun_bad_request(r->b, r->len, STUN_DERR_BAD_FINGERPRINT, out, sizeof(out)),
                     0);
    assert_int_equal(stun_bad_request(r->b, 10, STUN_DERR_BAD_ATTR_LENGTH, out, sizeof(out)), 0);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5769_request_structure),
        cmocka_unit_test(test_type_bits),
        cmocka_unit_test(test_derr_truncated_header),
        cmocka_unit_test(test_derr_not_stun),
        cmocka_unit_test(test_derr_bad_cookie),
        cmocka_unit_test(test_derr_length_align),
        cmocka_unit_test(test_derr_length_mismatch),
        cmocka_unit_test(test_derr_attr_truncated),
        cmocka_unit_test(test_derr_attr_after_integrity),
        cmocka_unit_test(test_derr_attr_after_fingerprint),
        cmocka_unit_test(test_derr_too_many_attrs),
        cmocka_unit_test(test_derr_bad_attr_length),
        cmocka_unit_test(test_bad_request_answer),
        cmocka_unit_test(test_derr_bad_fingerprint),
        cmocka_unit_test(test_derr_names),
        cmocka_unit_test(test_unknown_attributes),
        cmocka_unit_test(test_classic_request),
        cmocka_unit_test(test_find_and_padding),
        cmocka_unit_test(test_every_prefix_and_length_rejected),
    };
    return cmocka_run_group_tests_name("test_stun_msg", tests, NULL, NULL);
}
