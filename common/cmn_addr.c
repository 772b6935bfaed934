/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_addr.c: transport addresses as values. Parses "IP:PORT", "[IPv6]:PORT"
 * and bare IP literals with inet_pton, formats them back, compares, hashes
 * and canonicalises them (IPv4-mapped and IPv4-compatible IPv6 addresses
 * become IPv4), and keeps small CIDR sets for the TURN peer allow and deny
 * lists. No socket structures: the daemon converts to struct sockaddr.
 *
 * It deliberately does no name resolution: a host name is an error, so
 * parsing never blocks and never depends on the resolver's configuration.
 * Scope ids ("fe80::1%eth0") are refused and sin6_scope_id is not kept.
 */
#include "cmn_addr.h"

#include <arpa/inet.h>
#include <stdio.h>

/* The longest IP literal we hand to inet_pton, with its NUL. */
#define ADDR_IP_TEXT_MAX 64

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t zero16[16];

/* Strict decimal port: 1 to 5 digits, value 0..65535, nothing else. */
static int parse_port(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5)
        return CMN_EINVAL;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CMN_EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return CMN_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

/* inet_pton over a counted span; <family> is CMN_AF_INET or CMN_AF_INET6. */
static int parse_ip_span(cmn_addr_t *out, const char *s, size_t n, int family)
{
    char buf[ADDR_IP_TEXT_MAX];
    if (n == 0 || n >= sizeof(buf))
        return CMN_EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(out, 0, sizeof(*out));
    int af = family == CMN_AF_INET ? AF_INET : AF_INET6;
    if (inet_pton(af, buf, out->ip) != 1)
        return CMN_EINVAL;
    out->family = (uint8_t)family;
    return 0;
}

int cmn_addr_parse_ip(cmn_addr_t *out, const char *text)
{
    size_t n = strlen(text);
    int family = memchr(text, ':', n) ? CMN_AF_INET6 : CMN_AF_INET;
    return parse_ip_span(out, text, n, family);
}

/* "[v6]" or "[v6]:port". */
static int parse_bracketed(cmn_addr_t *out, const char *text, int default_port)
{
    const char *close = strchr(text, ']');
    if (!close)
        return CMN_EINVAL;
    cmn_addr_t a;
    if (parse_ip_span(&a, text + 1, (size_t)(close - text - 1), CMN_AF_INET6) < 0)
        return CMN_EINVAL;
    if (close[1] == '\0') {
        if (default_port < 0)
            return CMN_EINVAL;
        a.port = (uint16_t)default_port;
    } else if (close[1] != ':' || parse_port(close + 2, strlen(close + 2), &a.port) < 0) {
        return CMN_EINVAL;
    }
    *out = a;
    return 0;
}

int cmn_addr_parse(cmn_addr_t *out, const char *text, int default_port)
{
    if (default_port > 65535)
        return CMN_EINVAL;
    if (text[0] == '[')
        return parse_bracketed(out, text, default_port);

    size_t n = strlen(text);
    const char *colon = memchr(text, ':', n);
    cmn_addr_t a;
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - text) - 1)) {
        /* Exactly one colon: IPv4 with a port. */
        if (parse_ip_span(&a, text, (size_t)(colon - text), CMN_AF_INET) < 0 ||
            parse_port(colon + 1, n - (size_t)(colon - text) - 1, &a.port) < 0)
            return CMN_EINVAL;
    } else {
        /* No colon (bare IPv4) or several (bare IPv6): only with a default
         * port. "::1:5" is an IPv6 address here, never ::1 port 5. */
        if (default_port < 0)
            return CMN_EINVAL;
        if (parse_ip_span(&a, text, n, colon ? CMN_AF_INET6 : CMN_AF_INET) < 0)
            return CMN_EINVAL;
        a.port = (uint16_t)default_port;
    }
    *out = a;
    return 0;
}

char *cmn_addr_format(const cmn_addr_t *a, char *buf, size_t len, bool with_port)
{
    char ip[INET6_ADDRSTRLEN];
    if (len == 0)
        return buf;
    if (a->family == CMN_AF_INET)
        inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
    else if (a->family == CMN_AF_INET6)
        inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
    else {
        snprintf(buf, len, "(none)");
        return buf;
    }
    if (!with_port)
        snprintf(buf, len, "%s", ip);
    else if (a->family == CMN_AF_INET)
        snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
    else
        snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
    return buf;
}

static size_t ip_len(uint8_t family)
{
    return family == CMN_AF_INET ? 4 : family == CMN_AF_INET6 ? 16 : 0;
}

bool cmn_addr_ip_equal(const cmn_addr_t *a, const cmn_addr_t *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, ip_len(a->family)) == 0;
}

bool cmn_addr_equal(const cmn_addr_t *a, const cmn_addr_t *b)
{
    return a->port == b->port && cmn_addr_ip_equal(a, b);
}

bool cmn_addr_is_any(const cmn_addr_t *a)
{
    size_t n = ip_len(a->family);
    return n != 0 && memcmp(a->ip, zero16, n) == 0;
}

bool cmn_addr_is_loopback(const cmn_addr_t *a)
{
    cmn_addr_t c;
    cmn_addr_canonical(&c, a);
    if (c.family == CMN_AF_INET)
        return c.ip[0] == 127;
    static const uint8_t one[16] = {[15] = 1};
    return c.family == CMN_AF_INET6 && memcmp(c.ip, one, 16) == 0;
}

/* True for ::ffff:a.b.c.d. */
static bool is_v4_mapped(const uint8_t ip[16])
{
    return memcmp(ip, v4_mapped_prefix, 12) == 0;
}

/* True for ::a.b.c.d except :: and ::1, which are IPv6's own unspecified
 * and loopback addresses and must stay IPv6. */
static bool is_v4_compat(const uint8_t ip[16])
{
    if (memcmp(ip, zero16, 12) != 0)
        return false;
    uint32_t v4 = cmn_get_u32be(ip + 12);
    return v4 != 0 && v4 != 1;
}

void cmn_addr_canonical(cmn_addr_t *out, const cmn_addr_t *in)
{
    cmn_addr_t a = *in; /* <out> may alias <in> */
    if (a.family == CMN_AF_INET6 && (is_v4_mapped(a.ip) || is_v4_compat(a.ip))) {
        uint8_t v4[4];
        memcpy(v4, a.ip + 12, 4);
        memset(a.ip, 0, sizeof(a.ip));
        memcpy(a.ip, v4, 4);
        a.family = CMN_AF_INET;
    }
    *out = a;
}

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

/* One round of a multiply-rotate mix per 32-bit word and a final avalanche
 * (the shape of MurmurHash3's). Seeded so a table can pick a secret seed
 * and peers cannot aim for one bucket. Consistent with cmn_addr_equal. */
uint32_t cmn_addr_hash(const cmn_addr_t *a, uint32_t seed)
{
    uint32_t h = seed ^ ((uint32_t)a->family << 16 | a->port);
    size_t n = ip_len(a->family);
    for (size_t i = 0; i < n; i += 4) {
        uint32_t k = cmn_get_u32be(a->ip + i) * 0xcc9e2d51u;
        k = rotl32(k, 15) * 0x1b873593u;
        h = rotl32(h ^ k, 13) * 5 + 0xe6546b64u;
    }
    h ^= (uint32_t)n;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* ---- CIDR ------------------------------------------------------------ */

/* Clear every bit of <ip> after the first <prefix> bits. */
static void mask_ip(uint8_t ip[16], unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned first = i * 8;
        if (prefix >= first + 8)
            continue;
        ip[i] = prefix <= first ? 0 : (uint8_t)(ip[i] & (0xff00u >> (prefix - first)));
    }
}

/* Addresses are canonicalised before lookup, so an IPv6 prefix that lies
 * wholly inside the IPv4-mapped (or IPv4-compatible) space must become the
 * IPv4 prefix its members canonicalise to, or it could never match.
 * ::ffff:a.b.c.d/L (L >= 96) becomes a.b.c.d/(L-96). ::a.b.c.d/L (L >= 96)
 * is converted only when the range excludes :: and ::1; a range such as
 * ::/96 that holds them stays IPv6 and then matches only :: and ::1 (its
 * other members canonicalise to IPv4: deny those as IPv4 prefixes). */
static void cidr_canonical(cmn_cidr_t *c)
{
    if (c->family != CMN_AF_INET6 || c->prefix < 96)
        return;
    /* The network address is already masked, so its IPv4 part is aligned
     * to the range size: a value of 2 or more means the range holds
     * neither :: (0) nor ::1 (1). That is exactly is_v4_compat(). */
    if (!is_v4_mapped(c->ip) && !is_v4_compat(c->ip))
        return;
    uint8_t v4[4];
    memcpy(v4, c->ip + 12, 4);
    memset(c->ip, 0, sizeof(c->ip));
    memcpy(c->ip, v4, 4);
    c->family = CMN_AF_INET;
    c->prefix = (uint8_t)(c->prefix - 96);
}

/* Host bits beyond the prefix are masked, not refused: "10.1.2.3/8" means
 * 10.0.0.0/8. People paste an interface address with its prefix length;
 * what they mean is the network. */
int cmn_cidr_parse(cmn_cidr_t *out, const char *text)
{
    const char *slash = strchr(text, '/');
    size_t iplen = slash ? (size_t)(slash - text) : strlen(text);
    cmn_addr_t a;
    int family = memchr(text, ':', iplen) ? CMN_AF_INET6 : CMN_AF_INET;
    if (parse_ip_span(&a, text, iplen, family) < 0)
        return CMN_EINVAL;
    unsigned maxp = family == CMN_AF_INET ? 32 : 128;
    unsigned prefix = maxp;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strlen(p);
        if (n == 0 || n > 3)
            return CMN_EINVAL;
        prefix = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9')
                return CMN_EINVAL;
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > maxp)
            return CMN_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->family = (uint8_t)family;
    out->prefix = (uint8_t)prefix;
    memcpy(out->ip, a.ip, sizeof(out->ip));
    mask_ip(out->ip, prefix);
    cidr_canonical(out);
    return 0;
}

char *cmn_cidr_format(const cmn_cidr_t *c, char *buf, size_t len)
{
    cmn_addr_t a;
    char ip[CMN_ADDR_STRLEN];
    memset(&a, 0, sizeof(a));
    a.family = c->family;
    memcpy(a.ip, c->ip, sizeof(a.ip));
    cmn_addr_format(&a, ip, sizeof(ip), false);
    if (len > 0)
        snprintf(buf, len, "%s/%u", ip, (unsigned)c->prefix);
    return buf;
}

bool cmn_cidr_contains(const cmn_cidr_t *c, const cmn_addr_t *a)
{
    cmn_addr_t ca;
    cmn_addr_canonical(&ca, a);
    if (ca.family == 0 || ca.family != c->family)
        return false;
    mask_ip(ca.ip, c->prefix);
    return memcmp(ca.ip, c->ip, ip_len(c->family)) == 0;
}

void cmn_cidrset_init(cmn_cidrset_t *s)
{
    s->v = NULL;
    s->n = 0;
    s->cap = 0;
}

void cmn_cidrset_dispose(cmn_cidrset_t *s)
{
    cmn_free(s->v);
    cmn_cidrset_init(s);
}

void cmn_cidrset_add(cmn_cidrset_t *s, const cmn_cidr_t *c)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = cmn_realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = *c;
}

int cmn_cidrset_add_text(cmn_cidrset_t *s, const char *text)
{
    cmn_cidr_t c;
    if (cmn_cidr_parse(&c, text) < 0)
        return CMN_EINVAL;
    cmn_cidrset_add(s, &c);
    return 0;
}

bool cmn_cidrset_contains(const cmn_cidrset_t *s, const cmn_addr_t *a)
{
    /* cmn_cidr_contains canonicalises; do it once here instead. */
    cmn_addr_t ca;
    cmn_addr_canonical(&ca, a);
    for (size_t i = 0; i < s->n; i++)
        if (cmn_cidr_contains(&s->v[i], &ca))
            return true;
    return false;
}
