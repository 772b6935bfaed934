/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_stun.c: libFuzzer target for the STUN codec. One input goes through
 * every entry point that sees wire bytes: stun_msg_decode, every getter on
 * every attribute, the integrity and fingerprint checks with a fixed key,
 * stun_frame_len, stun_chdata_decode and stun_binding_handle. Beyond "no
 * crash, no sanitizer report" it checks invariants and aborts on a break:
 *   - a decoded message re-encodes attribute by attribute (with a new
 *     MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT), and the
 *     result decodes to the same attributes and verifies;
 *   - a value a getter accepts, encoded again by the matching encoder, reads
 *     back the same;
 *   - a Binding reply decodes (classic ones excepted) and fits its buffer.
 * Seeds are in tests/fuzz/corpus/stun/.
 */
#include <stdio.h>
#include <stdlib.h>

#include "stun/stun.h"

#include "tests/fuzz/fuzz_check.h"

static const uint8_t fuzz_key[] = "fuzz-key";
#define KEYLEN (sizeof(fuzz_key) - 1)

static uint8_t scratch[STUN_MAX_MSG_LEN + 64];
static uint8_t small[1024];

/* A message holding just <type> and the attribute written by the caller;
 * returns it decoded, or NULL if the encoder failed. */
static const stun_attr_t *reread(stun_enc_t *e, stun_msg_t *m, uint16_t type)
{
    ssize_t n = stun_enc_finish(e);
    if (n < 0)
        return NULL;
    CHECK(stun_msg_decode(m, small, (size_t)n, NULL) == 0);
    const stun_attr_t *a = stun_msg_find(m, type);
    CHECK(a != NULL);
    return a;
}

/* The type to re-encode a value under: its own, except FINGERPRINT, whose
 * value the decoder checks (any other bytes there fail the decode). */
static uint16_t as_type(uint16_t type)
{
    return type == STUN_ATTR_FINGERPRINT ? 0x8050 : type;
}

static bool addr_equal(const cmn_addr_t *x, const cmn_addr_t *y)
{
    return x->family == y->family && x->port == y->port && memcmp(x->ip, y->ip, 16) == 0;
}

/* Getters on one attribute; when one succeeds, its encoder must give the
 * value back. */
static void poke_addrs(const stun_msg_t *m, const stun_attr_t *a)
{
    cmn_addr_t x, y;
    stun_enc_t e;
    stun_msg_t r;
    const stun_attr_t *b;
    if (stun_attr_get_addr(a, &x) == 0) {
        stun_enc_init(&e, small, sizeof(small), 0x0001, m->tid);
        stun_enc_addr(&e, as_type(a->type), &x);
        b = reread(&e, &r, as_type(a->type));
        CHECK(b && stun_attr_get_addr(b, &y) == 0 && addr_equal(&x, &y));
    }
    if (stun_attr_get_xor_addr(m, a, &x) == 0) {
        stun_enc_init(&e, small, sizeof(small), 0x0001, m->tid);
        stun_enc_xor_addr(&e, as_type(a->type), &x);
        b = reread(&e, &r, as_type(a->type));
        CHECK(b && stun_attr_get_xor_addr(&r, b, &y) == 0 && addr_equal(&x, &y));
        CHECK(memcmp(b->val, a->val, a->len) == 0 || a->val[0] != 0);
    }
}

static void poke_numbers(const stun_attr_t *a)
{
    uint32_t u32;
    uint64_t u64;
    uint16_t ch;
    uint8_t u8, t, c;
    bool r;
    (void)stun_attr_get_u32(a, &u32);
    (void)stun_attr_get_u64(a, &u64);
    (void)stun_attr_get_channel(a, &ch);
    (void)stun_attr_get_transport(a, &u8);
    (void)stun_attr_get_family(a, &u8);
    (void)stun_attr_get_even_port(a, &r);
    (void)stun_attr_get_icmp(a, &t, &c, &u32);
}

static void poke_error(const stun_attr_t *a, const uint8_t tid[STUN_TID_LEN])
{
    int code, code2;
    const char *reason, *reason2;
    size_t rlen, rlen2;
    uint8_t fam;
    char text[STUN_REASON_MAX + 1];
    (void)stun_attr_get_addr_error(a, &fam, &code, &reason, &rlen);
    if (stun_attr_get_error(a, &code, &reason, &rlen) != 0 || memchr(reason, 0, rlen))
        return;
    memcpy(text, reason, rlen);
    text[rlen] = 0;
    stun_enc_t e;
    stun_msg_t r;
    stun_enc_init(&e, small, sizeof(small), 0x0111, tid);
    stun_enc_error(&e, code, text);
    const stun_attr_t *b = reread(&e, &r, STUN_ATTR_ERROR_CODE);
    CHECK(b && stun_attr_get_error(b, &code2, &reason2, &rlen2) == 0);
    CHECK(code == code2 && rlen == rlen2 && memcmp(reason, reason2, rlen) == 0);
}

static void poke_lists(const stun_attr_t *a)
{
    uint16_t types[16], alg;
    size_t n, plen;
    const uint8_t *params;
    (void)stun_attr_get_unknown(a, types, 16, &n);
    (void)stun_attr_get_pwalg(a, &alg, &params, &plen);
    for (size_t i = 0; i < 64; i++)
        if (stun_attr_get_pwalgs(a, i, &alg) != 0)
            break;
}

static void poke_text(const stun_attr_t *a, const uint8_t tid[STUN_TID_LEN])
{
    const char *s;
    size_t n;
    char text[STUN_NONCE_MAX + 1];
    if (stun_attr_get_text(a, &s, &n) != 0 || n > STUN_NONCE_MAX || memchr(s, 0, n))
        return;
    memcpy(text, s, n);
    text[n] = 0;
    stun_enc_t e;
    stun_msg_t r;
    stun_enc_init(&e, small, sizeof(small), 0x0001, tid);
    stun_enc_text(&e, as_type(a->type), text);
    const stun_attr_t *b = reread(&e, &r, as_type(a->type));
    CHECK(b && b->len == n && memcmp(b->val, s, n) == 0);
}

/* Re-encode every body attribute of <m> as raw bytes, add a fresh trailer,
 * and check the result decodes to the same list and verifies. */
static void reencode(const stun_msg_t *m)
{
    stun_enc_t e;
    stun_msg_t r;
    if (m->classic)
        stun_enc_init_classic(&e, scratch, sizeof(scratch), m->type, m->raw + 4);
    else
        stun_enc_init(&e, scratch, sizeof(scratch), m->type, m->tid);
    size_t body = 0;
    for (uint16_t i = 0; i < m->nattrs; i++) {
        const stun_attr_t *a = &m->attrs[i];
        if (a->type == STUN_ATTR_MESSAGE_INTEGRITY ||
            a->type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 || a->type == STUN_ATTR_FINGERPRINT)
            continue;
        stun_enc_attr(&e, a->type, a->val, a->len);
        body++;
    }
    stun_enc_integrity(&e, fuzz_key, KEYLEN);
    stun_enc_integrity_sha256_trunc(&e, fuzz_key, KEYLEN, 16 + 4 * (m->nattrs % 5));
    stun_enc_fingerprint(&e);
    ssize_t n = stun_enc_finish(&e);
    if (n < 0) {
        /* Only the size limit can stop it: the trailer adds 24 + 36 + 8. */
        CHECK(n == CMN_ENOMEM && m->raw_len + 68 > STUN_MAX_MSG_LEN);
        return;
    }
    /* Too many attributes is the one decode failure a re-encode may hit
     * (the trailer adds three). */
    stun_derr_t why;
    if (stun_msg_decode(&r, scratch, (size_t)n, &why) != 0) {
        CHECK(why == STUN_DERR_TOO_MANY_ATTRS && body + 3 > STUN_MAX_ATTRS);
        return;
    }
    CHECK(r.nattrs == body + 3 && r.classic == m->classic && r.type == m->type);
    CHECK(memcmp(r.tid, m->tid, STUN_TID_LEN) == 0);
    CHECK(r.nunknown == m->nunknown);
    CHECK(stun_msg_check_integrity(&r, fuzz_key, KEYLEN) == 0);
    CHECK(stun_msg_check_integrity_sha256(&r, fuzz_key, KEYLEN) == 0);
    CHECK(stun_msg_check_fingerprint(&r) == 0);
}

static void fuzz_message(const uint8_t *data, size_t size)
{
    stun_msg_t m;
    stun_derr_t why = STUN_DERR_COUNT;
    int rc = stun_msg_decode(&m, data, size, &why);
    CHECK((rc == 0) == (why == STUN_DERR_NONE) && why < STUN_DERR_COUNT);
    CHECK(stun_derr_name(why) != NULL);
    if (stun_is_stun(data, size) && rc == 0)
        CHECK(!m.classic);
    if (rc != 0) {
        /* The 400 answer to a malformed request is itself a sound message. */
        uint8_t out[128];
        size_t n = stun_bad_request(data, size, why, out, sizeof(out));
        if (n) {
            stun_msg_t r;
            CHECK(stun_msg_decode(&r, out, n, NULL) == 0 && r.cls == STUN_CLASS_ERROR);
        }
        return;
    }
    CHECK(m.raw_len == size && m.nattrs <= STUN_MAX_ATTRS && m.nunknown <= STUN_MAX_UNKNOWN);

    for (uint16_t i = 0; i < m.nattrs; i++) {
        const stun_attr_t *a = &m.attrs[i];
        CHECK(a->val >= data + STUN_HEADER_LEN && a->val + a->len <= data + size);
        poke_addrs(&m, a);
        poke_numbers(a);
        poke_error(a, m.tid);
        poke_lists(a);
        poke_text(a, m.tid);
    }
    int ci = stun_msg_check_integrity(&m, fuzz_key, KEYLEN);
    int cs = stun_msg_check_integrity_sha256(&m, fuzz_key, KEYLEN);
    CHECK(ci == (m.idx_integrity < 0 ? CMN_ENOENT : ci));
    CHECK(cs == (m.idx_integrity_sha256 < 0 ? CMN_ENOENT : cs));
    CHECK(stun_msg_check_fingerprint(&m) == (m.idx_fingerprint < 0 ? CMN_ENOENT : 0));

    static const stun_binding_cfg_t cfg = {"fuzz"};
    const cmn_addr_t src = {CMN_AF_INET6, (uint16_t)size, {0x20, 0x01, 0x0d, 0xb8, data[8]}};
    uint8_t out[256];
    size_t out_len = 0;
    stun_bind_res_t res = stun_binding_handle(&cfg, &m, &src, out, sizeof(out), &out_len);
    if (res == STUN_BIND_REPLY) {
        stun_msg_t r;
        CHECK(out_len >= STUN_HEADER_LEN && out_len <= sizeof(out));
        if (!m.classic)
            CHECK(stun_msg_decode(&r, out, out_len, NULL) == 0 && r.idx_fingerprint >= 0);
    } else {
        CHECK(out_len == 0);
    }
    reencode(&m);
}

static void fuzz_frames(const uint8_t *data, size_t size)
{
    ssize_t n = stun_frame_len(data, size);
    CHECK(n == CMN_EAGAIN || n == CMN_EPROTO || (n >= 4 && n <= STUN_MAX_MSG_LEN));
    if (n > 0 && (size_t)n <= size && (data[0] & 0xC0) == 0x40) {
        uint16_t ch;
        const uint8_t *d;
        size_t dlen;
        CHECK(stun_chdata_decode(data, (size_t)n, &ch, &d, &dlen) == 0);
        CHECK(dlen + 4 <= (size_t)n && (size_t)n - 4 - dlen < 4);
    }
    uint16_t ch;
    const uint8_t *d;
    size_t dlen;
    if (stun_chdata_decode(data, size, &ch, &d, &dlen) == 0) {
        CHECK(ch >= STUN_CHANNEL_MIN && ch <= STUN_CHANNEL_MAX && d + dlen <= data + size);
        uint8_t hdr[4];
        stun_chdata_header(hdr, ch, (uint16_t)dlen);
        CHECK(memcmp(hdr, data, 4) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_message(data, size);
    fuzz_frames(data, size);
    return 0;
}
