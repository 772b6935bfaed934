/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_int.h: what the files of stun/ share and nothing outside uses: the
 * attribute ordering rules around MESSAGE-INTEGRITY and FINGERPRINT (one
 * definition for both the decoder and the encoder), per-type length rules,
 * text limits, UTF-8 validation and the encoder's attribute reservation.
 */
#ifndef STUN_INT_H
#define STUN_INT_H

#include "stun.h"

/* Length of the value of MESSAGE-INTEGRITY (HMAC-SHA1) and of the
 * FINGERPRINT value (RFC 8489 §14.5, §14.7). */
#define STUN__MI_LEN 20
#define STUN__MI256_MIN 16
#define STUN__MI256_MAX 32
#define STUN__FP_LEN 4

/* An attribute value is padded to a multiple of 4 bytes (RFC 8489 §14). */
static inline size_t stun__pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

/* XOR an address in place with the magic cookie and <tid> (RFC 8489 §14.2);
 * the operation is its own inverse, so it encodes and decodes. */
static inline void stun__xor_addr(cmn_addr_t *a, const uint8_t tid[STUN_TID_LEN])
{
    uint8_t mask[16];
    cmn_put_u32be(mask, STUN_MAGIC_COOKIE);
    memcpy(mask + 4, tid, STUN_TID_LEN);
    a->port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
    size_t n = a->family == CMN_AF_INET ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        a->ip[i] ^= mask[i];
}

/* Where a message is in its trailer. RFC 8489 §14.5: after MESSAGE-INTEGRITY
 * only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; §14.6: after
 * MESSAGE-INTEGRITY-SHA256 only FINGERPRINT; §14.7: FINGERPRINT is last. */
enum {
    STUN__STAGE_BODY = 0,
    STUN__STAGE_MI,
    STUN__STAGE_MI256,
    STUN__STAGE_FP,
};

/* The stage after an attribute of <type> in <stage>, or -1 if that
 * attribute may not appear there. */
static inline int stun__stage_next(int stage, uint16_t type)
{
    switch (type) {
    case STUN_ATTR_FINGERPRINT:
        return stage < STUN__STAGE_FP ? STUN__STAGE_FP : -1;
    case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
        return stage <= STUN__STAGE_MI ? STUN__STAGE_MI256 : -1;
    case STUN_ATTR_MESSAGE_INTEGRITY:
        return stage == STUN__STAGE_BODY ? STUN__STAGE_MI : -1;
    default:
        return stage == STUN__STAGE_BODY ? STUN__STAGE_BODY : -1;
    }
}

/* stun_attr.c: true when <type> is one of the attributes in stun.h's enum. */
bool stun__attr_known(uint16_t type);
/* stun_attr.c: false when a fixed-size (or fixed-shape: addresses,
 * MESSAGE-INTEGRITY-SHA256) attribute of <type> has a wrong value length. */
bool stun__attr_len_ok(uint16_t type, size_t len);

/* stun_attr.c: the byte limit of a text attribute, SIZE_MAX for other types. */
size_t stun__text_max(uint16_t type);
/* stun_attr.c: true when <p,n> is well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
bool stun__utf8_valid(const uint8_t *p, size_t n);

/* stun_enc.c: append the header of an attribute of <type> with a <len>-byte
 * value, fill its padding and update the message length. Returns where the
 * value goes, or NULL (with e->err set) if there is no room, the order is
 * wrong or an error is pending. */
uint8_t *stun__enc_reserve(stun_enc_t *e, uint16_t type, size_t len);
/* stun_enc.c: record the first error; returns e->err. */
int stun__enc_fail(stun_enc_t *e, int err);

#endif /* STUN_INT_H */
