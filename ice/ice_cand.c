/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_cand.c: ICE candidate lines as SDP carries them (RFC 8839 §5.1):
 *   candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE
 *             [raddr ADDRESS rport PORT] *(NAME VALUE)
 * The probe receives these from another probe through the signaling hub,
 * so the parser trusts nothing: every field is bounded and checked before
 * the line is handed to libnice. Addresses must be IP literals (no FQDN or
 * mDNS names: the probe resolves nothing a peer sends it).
 */
#include "ice_int.h"

#include <stdio.h>
#include <strings.h>

const char *ice_ctype_name(ice_ctype_t t)
{
    switch (t) {
    case ICE_CTYPE_HOST:
        return "host";
    case ICE_CTYPE_SRFLX:
        return "srflx";
    case ICE_CTYPE_PRFLX:
        return "prflx";
    case ICE_CTYPE_RELAY:
        return "relay";
    case ICE_CTYPE_NONE:
        break;
    }
    return "none";
}

int ice_ctype_parse(const char *s, ice_ctype_t *out)
{
    for (int t = ICE_CTYPE_HOST; t <= ICE_CTYPE_RELAY; t++) {
        if (!strcmp(s, ice_ctype_name((ice_ctype_t)t))) {
            *out = (ice_ctype_t)t;
            return 0;
        }
    }
    return CMN_EINVAL;
}

/* A cursor over the line's space-separated tokens. */
typedef struct cand_cur_s {
    const char *p, *end;
} cand_cur_t;

/* The next token: 1..ICE_CAND_TOKEN_MAX bytes without blanks, separated by
 * exactly one space (the grammar's SP). */
static int cand_token(cand_cur_t *c, char *out, size_t cap)
{
    if (c->p >= c->end)
        return CMN_ENOENT;
    const char *s = c->p;
    while (c->p < c->end && *c->p != ' ') {
        if ((unsigned char)*c->p <= 0x20 || (unsigned char)*c->p >= 0x7f)
            return CMN_EINVAL; /* tokens are visible ASCII (RFC 4566 byte-string, narrowed) */
        c->p++;
    }
    size_t n = (size_t)(c->p - s);
    if (c->p < c->end)
        c->p++; /* the separator */
    if (n == 0 || n >= cap || (c->p == c->end && c->p[-1] == ' '))
        return CMN_EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static bool cand_digits(const char *s, size_t maxlen, unsigned long long max,
                        unsigned long long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

bool ice__ice_chars(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
            return false;
    }
    return true;
}

static int cand_addr(cand_cur_t *cur, cmn_addr_t *a, const char **why)
{
    char ip[ICE_CAND_TOKEN_MAX], port[ICE_CAND_TOKEN_MAX];
    unsigned long long v;
    if (cand_token(cur, ip, sizeof(ip)) < 0 || cand_token(cur, port, sizeof(port)) < 0) {
        *why = "an address and a port are missing";
        return CMN_EINVAL;
    }
    if (cmn_addr_parse_ip(a, ip) < 0) {
        *why = "the address is not an IP literal";
        return CMN_EINVAL;
    }
    if (!cand_digits(port, 5, 65535, &v)) {
        *why = "the port is not a number from 0 to 65535";
        return CMN_EINVAL;
    }
    a->port = (uint16_t)v;
    return 0;
}

/* "raddr" was read: "IP rport PORT" follows (RFC 8839 §5.1). */
static int cand_raddr(cand_cur_t *cur, cmn_addr_t *a, const char **why)
{
    char ip[ICE_CAND_TOKEN_MAX], kw[ICE_CAND_TOKEN_MAX], port[ICE_CAND_TOKEN_MAX];
    unsigned long long v;
    if (cand_token(cur, ip, sizeof(ip)) < 0 || cand_token(cur, kw, sizeof(kw)) < 0 ||
        strcmp(kw, "rport") != 0 || cand_token(cur, port, sizeof(port)) < 0) {
        *why = "\"raddr\" must be followed by an address and \"rport PORT\"";
        return CMN_EINVAL;
    }
    if (cmn_addr_parse_ip(a, ip) < 0 || !cand_digits(port, 5, 65535, &v)) {
        *why = "the related address or port is malformed";
        return CMN_EINVAL;
    }
    a->port = (uint16_t)v;
    return 0;
}

/* The fixed head: foundation, component, transport, priority, address, port. */
static int cand_head(cand_cur_t *cur, ice_cand_t *c, const char **why)
{
    char tok[ICE_CAND_TOKEN_MAX];
    unsigned long long v;
    /* foundation = 1*32 ice-char (RFC 8839 §5.1) */
    if (cand_token(cur, tok, sizeof(tok)) < 0 || !ice__ice_chars(tok, 1, 32)) {
        *why = "the foundation is not 1-32 letters, digits, '+' or '/'";
        return CMN_EINVAL;
    }
    memcpy(c->foundation, tok, strlen(tok) + 1); /* 1..32 bytes, checked above */
    if (cand_token(cur, tok, sizeof(tok)) < 0 || !cand_digits(tok, 3, 256, &v) || v == 0) {
        *why = "the component id is not a number from 1 to 256";
        return CMN_EINVAL;
    }
    c->component = (unsigned)v;
    if (cand_token(cur, tok, sizeof(tok)) < 0 ||
        (strcasecmp(tok, "udp") != 0 && strcasecmp(tok, "tcp") != 0)) {
        *why = "the transport is not UDP or TCP";
        return CMN_EINVAL;
    }
    c->transport = strcasecmp(tok, "udp") == 0 ? ICE_TP_UDP : ICE_TP_TCP;
    if (cand_token(cur, tok, sizeof(tok)) < 0 || !cand_digits(tok, 10, UINT32_MAX, &v)) {
        *why = "the priority is not a number from 0 to 2^32-1";
        return CMN_EINVAL;
    }
    c->priority = (uint32_t)v;
    return cand_addr(cur, &c->addr, why);
}

int ice_cand_parse(ice_cand_t *c, const char *line, size_t len, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(c, 0, sizeof(*c));
    if (len > ICE_CAND_MAX) {
        *why = "the candidate line is too long";
        return CMN_EINVAL;
    }
    if (len >= 2 && !memcmp(line, "a=", 2)) {
        line += 2;
        len -= 2;
    }
    if (len < 10 || memcmp(line, "candidate:", 10) != 0) {
        *why = "a candidate line starts with \"candidate:\"";
        return CMN_EINVAL;
    }
    cand_cur_t cur = {line + 10, line + len};
    if (cand_head(&cur, c, why) < 0)
        return CMN_EINVAL;
    char tok[ICE_CAND_TOKEN_MAX];
    if (cand_token(&cur, tok, sizeof(tok)) < 0 || strcmp(tok, "typ") != 0 ||
        cand_token(&cur, tok, sizeof(tok)) < 0 || ice_ctype_parse(tok, &c->type) < 0) {
        *why = "\"typ host|srflx|prflx|relay\" is missing";
        return CMN_EINVAL;
    }
    /* Extensions come as name/value pairs; raddr/rport are two of them
     * whose values we check. Unknown names (tcptype, generation, ufrag,
     * network-id ...) pass through. */
    int n = 0;
    for (;;) {
        char name[ICE_CAND_TOKEN_MAX];
        int rc = cand_token(&cur, name, sizeof(name));
        if (rc == CMN_ENOENT)
            break;
        if (rc < 0 || ++n > ICE_CAND_MAX_EXT) {
            *why = "malformed or too many extension attributes";
            return CMN_EINVAL;
        }
        if (!strcmp(name, "raddr")) {
            if (cand_raddr(&cur, &c->raddr, why) < 0)
                return CMN_EINVAL;
            continue;
        }
        if (cand_token(&cur, tok, sizeof(tok)) < 0) {
            *why = "an extension attribute has no value";
            return CMN_EINVAL;
        }
    }
    return 0;
}
