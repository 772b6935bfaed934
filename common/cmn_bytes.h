/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_bytes.h: fixed-width big-endian values written into a buffer and read
 * back with every read checked, for what one process hands another (a
 * live upgrade's allocations and their sockets' bookkeeping). Doubles
 * travel as their IEEE 754 bits; addresses as u8 family (0, 4 or 6), u16
 * port and 16 address bytes.
 *
 * The reader follows STYLE §5: a read that does not fit in what is left
 * records what it was reading (a static string), and every later read
 * returns zero, so a decoder reads on and checks cmn_rd_t.why once. Inline:
 * small, and usable from every module without a link dependency.
 */
#ifndef CMN_BYTES_H
#define CMN_BYTES_H

#include <math.h>

#include "cmn.h"
#include "cmn_addr.h"

#define CMN_ADDR_WIRE_LEN 19

/* A writer. With <grow> it owns <p> and enlarges it (cmn_realloc); without,
 * it writes what fits in <cap> and <len> goes on counting, so a caller
 * learns the size it needs. */
typedef struct cmn_wr_s {
    uint8_t *p;
    size_t len, cap;
    bool grow;
} cmn_wr_t;

static inline void cmn_wr_bytes(cmn_wr_t *w, const void *src, size_t n)
{
    if (w->grow && w->len + n > w->cap) {
        w->cap = CMN_MAX(2 * w->cap, w->len + n + 4096);
        w->p = cmn_realloc(w->p, w->cap);
    }
    if (n && w->len + n <= w->cap)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static inline void cmn_wr_u8(cmn_wr_t *w, uint8_t v)
{
    cmn_wr_bytes(w, &v, 1);
}

static inline void cmn_wr_u16(cmn_wr_t *w, uint16_t v)
{
    uint8_t b[2];
    cmn_put_u16be(b, v);
    cmn_wr_bytes(w, b, 2);
}

static inline void cmn_wr_u32(cmn_wr_t *w, uint32_t v)
{
    uint8_t b[4];
    cmn_put_u32be(b, v);
    cmn_wr_bytes(w, b, 4);
}

static inline void cmn_wr_u64(cmn_wr_t *w, uint64_t v)
{
    uint8_t b[8];
    cmn_put_u64be(b, v);
    cmn_wr_bytes(w, b, 8);
}

static inline void cmn_wr_f64(cmn_wr_t *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    cmn_wr_u64(w, bits);
}

static inline void cmn_wr_addr(cmn_wr_t *w, const cmn_addr_t *a)
{
    cmn_wr_u8(w, a->family);
    cmn_wr_u16(w, a->port);
    cmn_wr_bytes(w, a->ip, 16);
}

/* A reader over [p, end). */
typedef struct cmn_rd_s {
    const uint8_t *p, *end;
    const char *why;            /* the first thing found wrong; NULL = fine so far */
} cmn_rd_t;

/* Record <what> as wrong when <bad> (the first problem wins). */
static inline void cmn_rd_check(cmn_rd_t *r, bool bad, const char *what)
{
    if (bad && !r->why)
        r->why = what;
}

/* The next <n> bytes, or NULL (and <what> recorded) when fewer are left. */
static inline const uint8_t *cmn_rd_take(cmn_rd_t *r, size_t n, const char *what)
{
    if (r->why)
        return NULL;
    if (n > (size_t)(r->end - r->p)) {
        r->why = what;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

static inline uint8_t cmn_rd_u8(cmn_rd_t *r, const char *what)
{
    const uint8_t *b = cmn_rd_take(r, 1, what);
    return b ? b[0] : 0;
}

static inline uint16_t cmn_rd_u16(cmn_rd_t *r, const char *what)
{
    const uint8_t *b = cmn_rd_take(r, 2, what);
    return b ? cmn_get_u16be(b) : 0;
}

static inline uint32_t cmn_rd_u32(cmn_rd_t *r, const char *what)
{
    const uint8_t *b = cmn_rd_take(r, 4, what);
    return b ? cmn_get_u32be(b) : 0;
}

static inline uint64_t cmn_rd_u64(cmn_rd_t *r, const char *what)
{
    const uint8_t *b = cmn_rd_take(r, 8, what);
    return b ? cmn_get_u64be(b) : 0;
}

/* A finite double in [lo, hi]; 0 (and <what> recorded) otherwise. */
static inline double cmn_rd_f64(cmn_rd_t *r, double lo, double hi, const char *what)
{
    uint64_t bits = cmn_rd_u64(r, what);
    double v;
    memcpy(&v, &bits, 8);
    cmn_rd_check(r, !(isfinite(v) && v >= lo && v <= hi), what);
    return r->why ? 0 : v;
}

/* An address of family 4 (zeros after its four bytes, as cmn_addr_t keeps
 * it) or 6, or with <may_be_unset> family 0. */
static inline void cmn_rd_addr(cmn_rd_t *r, cmn_addr_t *a, bool may_be_unset, const char *what)
{
    static const uint8_t zero[12];
    const uint8_t *b = cmn_rd_take(r, CMN_ADDR_WIRE_LEN, what);
    memset(a, 0, sizeof(*a));
    if (!b)
        return;
    a->family = b[0];
    a->port = cmn_get_u16be(b + 1);
    memcpy(a->ip, b + 3, 16);
    cmn_rd_check(r, !(a->family == CMN_AF_INET6 ||
                      (a->family == CMN_AF_INET && !memcmp(a->ip + 4, zero, 12)) ||
                      (a->family == 0 && may_be_unset)),
                 what);
}

#endif /* CMN_BYTES_H */
