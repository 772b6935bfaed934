/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_addr.h: transport addresses as plain values (family, 16-byte address,
 * port), parsing and printing of "host:port" and CIDR text, and CIDR sets.
 * The value type carries no socket state so codecs and state machines can
 * use it; glue converts it to and from struct sockaddr (cmn_sockaddr.h).
 */
#ifndef CMN_ADDR_H
#define CMN_ADDR_H

#include "cmn.h"

struct sockaddr;
struct sockaddr_storage;

#define CMN_AF_INET 4
#define CMN_AF_INET6 6
/* "[ffff:...:ffff]:65535" plus NUL */
#define CMN_ADDR_STRLEN 56

typedef struct cmn_addr_s {
    uint8_t family;   /* CMN_AF_INET or CMN_AF_INET6; 0 = unset */
    uint16_t port;    /* host byte order */
    uint8_t ip[16];   /* IPv4 in ip[0..3], the rest zero */
} cmn_addr_t;

/* Parse "1.2.3.4:5", "[::1]:5", "host:5" is refused (no DNS). If <default_port>
 * is >= 0 (and <= 65535) the port may be omitted: "1.2.3.4", "::1", "[::1]".
 * The port is 1-5 decimal digits, 0..65535; no blanks anywhere; no scope ids.
 * The address is kept as written (not canonicalised). Returns 0 or
 * CMN_EINVAL; <out> is untouched on failure. */
int cmn_addr_parse(cmn_addr_t *out, const char *text, int default_port);
/* Parse a bare IP address (no port, no brackets); the port is set to 0. */
int cmn_addr_parse_ip(cmn_addr_t *out, const char *text);
/* Format as "1.2.3.4:5" or "[::1]:5" (with_port) or bare IP; family 0 gives
 * "(none)". Truncates to fit <len> and always NUL-terminates. Returns <buf>. */
char *cmn_addr_format(const cmn_addr_t *a, char *buf, size_t len, bool with_port);
bool cmn_addr_equal(const cmn_addr_t *a, const cmn_addr_t *b);       /* ip+port */
bool cmn_addr_ip_equal(const cmn_addr_t *a, const cmn_addr_t *b);    /* ip only */
bool cmn_addr_is_any(const cmn_addr_t *a);
/* 127.0.0.0/8, ::1 or an IPv4-mapped 127.x address: reachable only from
 * this host. The wildcard addresses are not loopback. */
bool cmn_addr_is_loopback(const cmn_addr_t *a);
/* Canonical form: an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d,
 * excluding :: and ::1) IPv6 address becomes plain IPv4. */
void cmn_addr_canonical(cmn_addr_t *out, const cmn_addr_t *in);
uint32_t cmn_addr_hash(const cmn_addr_t *a, uint32_t seed);

/* CIDR sets: a small ordered list of prefixes, looked up linearly (tens of
 * entries; the lookup is off the packet path, at permission time). */
typedef struct cmn_cidr_s {
    uint8_t family;
    uint8_t prefix;
    uint8_t ip[16];
} cmn_cidr_t;

typedef struct cmn_cidrset_s {
    cmn_cidr_t *v; /* owned */
    size_t n, cap;
} cmn_cidrset_t;

/* "IP/LEN" with a decimal LEN (0..32 or 0..128), or a bare IP (a host
 * prefix: /32 or /128). Returns 0 or CMN_EINVAL. Host bits after the prefix
 * are masked, not refused ("10.1.2.3/8" is 10.0.0.0/8). A prefix inside
 * ::ffff:0:0/96 (IPv4-mapped), or inside ::/96 (IPv4-compatible) without
 * :: and ::1, is stored as the IPv4 prefix its addresses canonicalise to. */
int cmn_cidr_parse(cmn_cidr_t *out, const char *text);
/* Format as "10.0.0.0/8" (always with the length). Returns <buf>. */
#define CMN_CIDR_STRLEN 52 /* 45-char IPv6 text, "/128", NUL */
char *cmn_cidr_format(const cmn_cidr_t *c, char *buf, size_t len);
void cmn_cidrset_init(cmn_cidrset_t *s);
void cmn_cidrset_dispose(cmn_cidrset_t *s);
void cmn_cidrset_add(cmn_cidrset_t *s, const cmn_cidr_t *c);
/* Parse and add; returns 0 or CMN_EINVAL. */
int cmn_cidrset_add_text(cmn_cidrset_t *s, const char *text);
/* Both canonicalise <a> first (cmn_addr_canonical), so ::ffff:127.0.0.1
 * matches 127.0.0.0/8. An address with family 0 matches nothing. */
bool cmn_cidrset_contains(const cmn_cidrset_t *s, const cmn_addr_t *a);
bool cmn_cidr_contains(const cmn_cidr_t *c, const cmn_addr_t *a);

#endif /* CMN_ADDR_H */
