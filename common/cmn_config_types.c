/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_config_types.c: the numeric and word setting types that quotas and
 * prices need, kept apart from the table in cmn_config_schema.c:
 *
 *   SIZE     a 64-bit whole number with an optional k/M/G/T (powers of
 *            1000) or Ki/Mi/Gi/Ti (powers of 1024) suffix: "10M", "64Ki",
 *            "1.5G" (a fraction is fine while the result is whole);
 *   DOUBLE   a plain decimal number ("0.085", "2", "1e-3"), never hex,
 *            "inf" or "nan";
 *   ENUM     one word of the schema row's choices ("day|month"), stored as
 *            its index;
 *   WORDS    list elements that are words of the choices, each at most once,
 *            stored as bits (signal.ice_servers: ["stun", "turns"] is 0b1001);
 *   RATEMAP  list elements "PATTERN=SIZE" (quota.users), kept as text for
 *            the consumer, which splits them with cmn_config_parse_ratemap.
 *
 * Also the format of redis.url (cmn_config_parse_redis_url).
 *
 * A file may give a SIZE as a libconfig integer (64000) or as a string
 * ("64k"), and a DOUBLE as a float or an integer. Errors say what was
 * expected through cmn__cfg_num_expect; cmn_config.c adds the place.
 */
#include "cmn_config_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- SIZE -------------------------------------------------------------- */

static const struct {
    const char *suffix;
    uint64_t mult;
} size_suffixes[] = {
    {"", 1},
    {"k", 1000ull}, {"K", 1000ull}, {"M", 1000000ull}, {"G", 1000000000ull},
    {"T", 1000000000000ull},
    {"Ki", 1ull << 10}, {"Mi", 1ull << 20}, {"Gi", 1ull << 30}, {"Ti", 1ull << 40},
};

int cmn_config_parse_size(const char *text, uint64_t *out)
{
    const char *p = text;
    uint64_t mant = 0, scale = 1;
    size_t ndig = 0;
    bool frac = false;
    /* Digits, with at most one '.', at most 18 of them so the mantissa
     * cannot overflow. */
    for (; (*p >= '0' && *p <= '9') || (*p == '.' && !frac); p++) {
        if (*p == '.') {
            frac = true;
            continue;
        }
        if (++ndig > 18)
            return CMN_EINVAL;
        mant = mant * 10 + (uint64_t)(*p - '0');
        if (frac)
            scale *= 10;
    }
    if (ndig == 0 || p[-1] == '.')
        return CMN_EINVAL;
    for (size_t i = 0; i < CMN_ARRAY_LEN(size_suffixes); i++) {
        if (strcmp(p, size_suffixes[i].suffix) != 0)
            continue;
        uint64_t mult = size_suffixes[i].mult, v;
        /* mant * mult / scale, exactly: divide first where scale allows. */
        uint64_t g = scale;
        while (g > 1 && mult % 10 == 0 && g % 10 == 0) {
            mult /= 10;
            g /= 10;
        }
        if (__builtin_mul_overflow(mant, mult, &v) || v % g != 0)
            return CMN_EINVAL;
        *out = v / g;
        return 0;
    }
    return CMN_EINVAL;
}

int cmn_config_parse_ratemap(const char *elem, size_t *pattern_len, uint64_t *out)
{
    const char *eq = strrchr(elem, '=');
    if (!eq || eq == elem)
        return CMN_EINVAL;
    if (cmn_config_parse_size(eq + 1, out) < 0)
        return CMN_EINVAL;
    *pattern_len = (size_t)(eq - elem);
    return 0;
}

/* ---- DOUBLE ------------------------------------------------------------ */

static int parse_double(const char *t, double *out)
{
    /* Only decimal notation: strtod alone would take "0x1p3", "inf" and
     * "nan", and leading blanks. */
    if (t[0] == '\0' || t[strspn(t, "0123456789.eE+-")] != '\0' ||
        !((t[0] >= '0' && t[0] <= '9') || t[0] == '.' || t[0] == '-'))
        return CMN_EINVAL;
    char *end;
    errno = 0;
    double x = strtod(t, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(x))
        return CMN_EINVAL;
    *out = x;
    return 0;
}

/* ---- ENUM -------------------------------------------------------------- */

static int parse_enum(const cmn_cfg_def_t *d, const char *t, int *out)
{
    const char *c = d->choices ? d->choices : "";
    for (int i = 0; *c; i++) {
        size_t n = strcspn(c, "|");
        if (n == strlen(t) && strncasecmp(c, t, n) == 0) {
            *out = i;
            return 0;
        }
        c += n + (c[n] == '|');
    }
    return CMN_EINVAL;
}

/* The <i>-th word of <d>'s choices into <buf>. */
static const char *enum_word(const cmn_cfg_def_t *d, int i, char *buf, size_t len)
{
    const char *c = d->choices ? d->choices : "";
    for (; i > 0 && *c; i--) {
        c += strcspn(c, "|");
        c += *c == '|';
    }
    snprintf(buf, len, "%.*s", (int)strcspn(c, "|"), c);
    return buf;
}

/* ---- WORDS ------------------------------------------------------------- */

int cmn__cfg_add_word(const cmn_cfg_def_t *d, int *bits, const char *elem, const char **why)
{
    int i;
    if (parse_enum(d, elem, &i) < 0)
        return CMN_EINVAL;
    if (*bits & (1 << i)) {
        *why = "each word once";
        return CMN_EINVAL;
    }
    *bits |= 1 << i;
    return 0;
}

/* ---- Shared entry points ----------------------------------------------- */

static bool size_ok(const cmn_cfg_def_t *d, uint64_t x)
{
    return (d->min <= 0 || x >= (uint64_t)d->min) && x <= (uint64_t)d->max;
}

static bool double_ok(const cmn_cfg_def_t *d, double x)
{
    return x >= (double)d->min && x <= (double)d->max;
}

int cmn__cfg_parse_num(const cmn_cfg_def_t *d, const char *text, cmn__cfg_val_t *v,
                       const char **why)
{
    *why = NULL;
    switch (d->type) {
    case CMN_CFG_SIZE:
        return cmn_config_parse_size(text, &v->u64) < 0 || !size_ok(d, v->u64) ? CMN_EINVAL : 0;
    case CMN_CFG_DOUBLE:
        return parse_double(text, &v->d) < 0 || !double_ok(d, v->d) ? CMN_EINVAL : 0;
    case CMN_CFG_ENUM: return parse_enum(d, text, &v->i);
    default: return CMN_EINVAL;
    }
}

int cmn__cfg_num_from_file(const cmn_cfg_def_t *d, long long i, double x, bool is_float,
                           cmn__cfg_val_t *v)
{
    if (d->type == CMN_CFG_SIZE) {
        if (is_float || i < 0 || !size_ok(d, (uint64_t)i))
            return CMN_EINVAL;
        v->u64 = (uint64_t)i;
        return 0;
    }
    if (d->type == CMN_CFG_DOUBLE) {
        v->d = is_float ? x : (double)i;
        return isfinite(v->d) && double_ok(d, v->d) ? 0 : CMN_EINVAL;
    }
    return CMN_EINVAL;
}

const char *cmn__cfg_num_expect(const cmn_cfg_def_t *d, char *buf, size_t len)
{
    switch (d->type) {
    case CMN_CFG_SIZE:
        snprintf(buf, len,
                 "a whole number in %ld..%ld, optionally with a suffix k, M, G, T "
                 "(x1000) or Ki, Mi, Gi, Ti (x1024)",
                 d->min, d->max);
        break;
    case CMN_CFG_DOUBLE: snprintf(buf, len, "a decimal number in %ld..%ld", d->min, d->max); break;
    case CMN_CFG_ENUM:
    case CMN_CFG_WORDS: {
        size_t o = (size_t)snprintf(buf, len, "one of ");
        for (const char *c = d->choices ? d->choices : ""; *c && o + 1 < len; c++)
            o += (size_t)snprintf(buf + o, len - o, "%s", *c == '|' ? ", " : (char[2]){*c, 0});
        break;
    }
    case CMN_CFG_RATEMAP:
        snprintf(buf, len, "\"PATTERN=RATE\" with a non-empty PATTERN (a name or a glob with "
                           "* and ?) and a RATE such as 2M");
        break;
    default: snprintf(buf, len, "a value"); break;
    }
    return buf;
}

int cmn__cfg_add_ratemap(cmn_strlist_t *l, const char *elem, const char **why)
{
    size_t plen;
    uint64_t rate;
    if (cmn_config_parse_ratemap(elem, &plen, &rate) < 0)
        return CMN_EINVAL;
    for (size_t i = 0; i < plen; i++) {
        unsigned char c = (unsigned char)elem[i];
        if (c <= 0x20 || c == 0x7f)
            return CMN_EINVAL;
    }
    for (size_t i = 0; i < l->n; i++) {
        size_t ol;
        uint64_t orate;
        if (cmn_config_parse_ratemap(l->v[i], &ol, &orate) == 0 && ol == plen &&
            memcmp(l->v[i], elem, plen) == 0) {
            *why = "each PATTERN once";
            return CMN_EINVAL;
        }
    }
    l->v = cmn_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = cmn_strdup(elem);
    return 0;
}

void cmn__cfg_num_print(FILE *f, const cmn_cfg_def_t *d, const void *p)
{
    char buf[64];
    switch (d->type) {
    case CMN_CFG_SIZE: {
        uint64_t x = *(const uint64_t *)p;
        /* libconfig reads a number past 32 bits only with the L suffix. */
        fprintf(f, x > INT32_MAX ? "%lluL" : "%llu", (unsigned long long)x);
        break;
    }
    case CMN_CFG_DOUBLE: fprintf(f, "%.15g", *(const double *)p); break;
    case CMN_CFG_ENUM: fprintf(f, "\"%s\"", enum_word(d, *(const int *)p, buf, sizeof(buf))); break;
    case CMN_CFG_WORDS: {
        int bits = *(const int *)p, n = 0;
        fputc('[', f);
        for (int i = 0; bits >> i; i++)
            if (bits & (1 << i))
                fprintf(f, "%s\"%s\"", n++ ? ", " : " ", enum_word(d, i, buf, sizeof(buf)));
        fputs(n ? " ]" : "]", f);
        break;
    }
    default: break;
    }
}

/* ---- redis.url ---------------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* <src>[0..n) %-decoded into <out> (cap bytes with the NUL). */
static int pct_decode(const char *src, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            int hi = n - i > 2 ? hexval(src[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(src[i + 2]) : -1;
            if (lo < 0)
                return CMN_EINVAL;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || o + 1 >= cap)
            return CMN_EINVAL;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_db(const char *t, int *out)
{
    char *end;
    if (*t < '0' || *t > '9')
        return CMN_EINVAL;
    long v = strtol(t, &end, 10);
    if (*end || v < 0 || v > 15)
        return CMN_EINVAL;
    *out = (int)v;
    return 0;
}

/* "[USER]:PASSWORD" or "USER" of redis://USERINFO@... */
static int parse_userinfo(const char *p, size_t n, cmn_redis_url_t *out)
{
    const char *colon = memchr(p, ':', n);
    size_t ul = colon ? (size_t)(colon - p) : n;
    if (pct_decode(p, ul, out->user, sizeof(out->user)) < 0)
        return CMN_EINVAL;
    if (colon && pct_decode(colon + 1, n - ul - 1, out->password, sizeof(out->password)) < 0)
        return CMN_EINVAL;
    /* "redis://secret@host" (no colon) is the password, as redis-cli -u reads it. */
    if (!colon) {
        snprintf(out->password, sizeof(out->password), "%s", out->user);
        out->user[0] = '\0';
    }
    return 0;
}

/* HOST[:PORT] with HOST a name, IPv4 or [IPv6]. */
static int parse_hostport(const char *p, size_t n, cmn_redis_url_t *out)
{
    const char *hs = p, *he;
    const char *rest;
    if (n && *p == '[') {
        he = memchr(p, ']', n);
        if (!he)
            return CMN_EINVAL;
        hs = p + 1;
        rest = he + 1;
    } else {
        he = memchr(p, ':', n);
        if (!he)
            he = p + n;
        rest = he;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof(out->host))
        return CMN_EINVAL;
    for (size_t i = 0; i < hl; i++) {
        char c = hs[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || (c == ':' && *p == '[')))
            return CMN_EINVAL;
    }
    memcpy(out->host, hs, hl);
    out->host[hl] = '\0';
    size_t rl = (size_t)(p + n - rest);
    if (rl == 0)
        return 0;
    if (*rest != ':' || rl < 2 || rl > 6)
        return CMN_EINVAL;
    char num[8];
    memcpy(num, rest + 1, rl - 1);
    num[rl - 1] = '\0';
    char *end;
    long port = strtol(num, &end, 10);
    if (*end || num[0] < '0' || num[0] > '9' || port < 1 || port > 65535)
        return CMN_EINVAL;
    out->port = (uint16_t)port;
    return 0;
}

int cmn_config_parse_redis_url(const char *text, cmn_redis_url_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    *why = "expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix://PATH";
    if (!strncasecmp(text, "rediss://", 9)) {
        *why = "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14.1 has no TLS; "
               "reach Redis through a TLS tunnel on loopback (stunnel, spiped) and give "
               "its redis:// address (docs/scaling.md)";
        return CMN_EINVAL;
    }
    if (!strncasecmp(text, "unix://", 7)) {
        const char *path = text + 7, *q = strchr(path, '?');
        size_t pl = q ? (size_t)(q - path) : strlen(path);
        if (pl == 0 || path[0] != '/' || pl >= sizeof(out->path))
            return CMN_EINVAL;
        memcpy(out->path, path, pl);
        out->path[pl] = '\0';
        if (q && (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, &out->db) < 0))
            return CMN_EINVAL;
        return 0;
    }
    if (strncasecmp(text, "redis://", 8) != 0)
        return CMN_EINVAL;
    const char *p = text + 8;
    const char *slash = strchr(p, '/');
    size_t auth_end = slash ? (size_t)(slash - p) : strlen(p);
    const char *at = NULL;
    for (size_t i = 0; i < auth_end; i++)
        if (p[i] == '@')
            at = p + i;
    if (at && parse_userinfo(p, (size_t)(at - p), out) < 0)
        return CMN_EINVAL;
    const char *hp = at ? at + 1 : p;
    if (parse_hostport(hp, (size_t)(p + auth_end - hp), out) < 0)
        return CMN_EINVAL;
    if (slash && slash[1] && parse_db(slash + 1, &out->db) < 0)
        return CMN_EINVAL;
    return 0;
}
