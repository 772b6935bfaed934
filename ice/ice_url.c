/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_url.c: the server addresses icehub-probe takes, in the forms browsers
 * and WebSocket clients use: stun:/stuns: (RFC 7064), turn:/turns: with a
 * ?transport= parameter (RFC 7065), ws:// and wss:// (RFC 6455 §3), and a
 * bare HOST[:PORT]. Pure parsing: host names are kept as text and resolved
 * by the glue.
 */
#include "ice_int.h"

#include <stdio.h>
#include <strings.h>

const char *ice_transport_name(ice_transport_t t)
{
    switch (t) {
    case ICE_TP_UDP:
        return "udp";
    case ICE_TP_TCP:
        return "tcp";
    case ICE_TP_TLS:
        return "tls";
    }
    return "?";
}

static const struct {
    const char *prefix;
    ice_scheme_t scheme;
    uint16_t port;
    ice_transport_t tp;
} url_schemes[] = {
    {"stun:", ICE_SCHEME_STUN, 3478, ICE_TP_UDP},
    {"stuns:", ICE_SCHEME_STUNS, 5349, ICE_TP_TLS},
    {"turn:", ICE_SCHEME_TURN, 3478, ICE_TP_UDP},
    {"turns:", ICE_SCHEME_TURNS, 5349, ICE_TP_TLS},
    {"ws://", ICE_SCHEME_WS, 80, ICE_TP_TCP},
    {"wss://", ICE_SCHEME_WSS, 443, ICE_TP_TLS},
};

/* A DNS name: labels of letters, digits and hyphens (RFC 1123 §2.1),
 * separated by dots; underscores are let through for service names. */
static bool url_host_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > ICE_HOST_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_';
        if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.'))
            return false;
    }
    return true;
}

/* "1..5 digits" in 1..65535. */
static int url_port(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5)
        return CMN_EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CMN_EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return CMN_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

/* HOST[:PORT] in <s,n> into u->host and u->port. */
static int url_hostport(ice_url_t *u, const char *s, size_t n, const char **why)
{
    const char *host = s, *port = NULL;
    size_t hlen = n, plen = 0;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) {
            *why = "an IPv6 address needs a closing ']'";
            return CMN_EINVAL;
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = n - (size_t)(close + 1 - s);
        if (rest) {
            if (close[1] != ':') {
                *why = "expected ':PORT' after ']'";
                return CMN_EINVAL;
            }
            port = close + 2;
            plen = rest - 1;
        }
        char ip[64];
        cmn_addr_t a;
        if (hlen == 0 || hlen >= sizeof(ip)) {
            *why = "not an IPv6 address in brackets";
            return CMN_EINVAL;
        }
        memcpy(ip, host, hlen);
        ip[hlen] = '\0';
        if (cmn_addr_parse_ip(&a, ip) < 0 || a.family != CMN_AF_INET6) {
            *why = "not an IPv6 address in brackets";
            return CMN_EINVAL;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            if (memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) {
                *why = "an IPv6 address must be in brackets: [::1]:3478";
                return CMN_EINVAL;
            }
            hlen = (size_t)(colon - s);
            port = colon + 1;
            plen = n - hlen - 1;
        }
        if (!url_host_name_ok(host, hlen)) {
            *why = "the host is not a DNS name or an IP address";
            return CMN_EINVAL;
        }
    }
    if (port && url_port(port, plen, &u->port) < 0) {
        *why = "the port is not a number from 1 to 65535";
        return CMN_EINVAL;
    }
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    return 0;
}

/* "?transport=udp|tcp" of a turn:/turns: URL (RFC 7065 §3.1). */
static int url_query(ice_url_t *u, const char *q, size_t n, const char **why)
{
    static const char key[] = "transport=";
    if (u->scheme != ICE_SCHEME_TURN && u->scheme != ICE_SCHEME_TURNS) {
        *why = "only turn: and turns: URLs take a ?transport= parameter";
        return CMN_EINVAL;
    }
    if (n < sizeof(key) - 1 || strncasecmp(q, key, sizeof(key) - 1) != 0) {
        *why = "the only parameter is ?transport=udp or ?transport=tcp";
        return CMN_EINVAL;
    }
    const char *v = q + sizeof(key) - 1;
    size_t vn = n - (sizeof(key) - 1);
    if (vn == 3 && !strncasecmp(v, "udp", 3)) {
        if (u->scheme == ICE_SCHEME_TURNS) {
            *why = "turns: runs over TCP (DTLS is not supported): use ?transport=tcp";
            return CMN_EINVAL;
        }
        u->transport = ICE_TP_UDP;
    } else if (vn == 3 && !strncasecmp(v, "tcp", 3)) {
        u->transport = u->scheme == ICE_SCHEME_TURNS ? ICE_TP_TLS : ICE_TP_TCP;
    } else {
        *why = "transport must be udp or tcp";
        return CMN_EINVAL;
    }
    return 0;
}

static void url_set_scheme(ice_url_t *u, ice_scheme_t s)
{
    for (size_t i = 0; i < CMN_ARRAY_LEN(url_schemes); i++) {
        if (url_schemes[i].scheme == s) {
            u->scheme = s;
            u->port = url_schemes[i].port;
            u->transport = url_schemes[i].tp;
        }
    }
}

/* The path (and query) of a ws:// URL: "/ws" when there is none. */
static int url_ws_path(ice_url_t *u, const char *p, size_t n, const char **why)
{
    if (n == 0) {
        strcpy(u->path, "/ws");
        return 0;
    }
    bool slash = p[0] == '/';
    if (n + (slash ? 0 : 1) >= sizeof(u->path)) {
        *why = "the path is too long";
        return CMN_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f) {
            *why = "the path has a blank or a control character";
            return CMN_EINVAL;
        }
    }
    snprintf(u->path, sizeof(u->path), "%s%.*s", slash ? "" : "/", (int)n, p);
    return 0;
}

int ice_url_parse(ice_url_t *u, const char *text, ice_scheme_t bare, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(u, 0, sizeof(*u));
    size_t n = strlen(text);
    const char *p = text;
    for (size_t i = 0; i < CMN_ARRAY_LEN(url_schemes); i++) {
        size_t pl = strlen(url_schemes[i].prefix);
        if (n >= pl && !strncasecmp(text, url_schemes[i].prefix, pl)) {
            url_set_scheme(u, url_schemes[i].scheme);
            p = text + pl;
            break;
        }
    }
    if (u->scheme == ICE_SCHEME_NONE) {
        if (bare == ICE_SCHEME_NONE || memmem(text, n, "://", 3)) {
            *why = "unknown scheme: expected stun:, stuns:, turn:, turns:, ws:// or wss://";
            return CMN_EINVAL;
        }
        url_set_scheme(u, bare);
    }
    const char *end = text + n;
    bool ws = u->scheme == ICE_SCHEME_WS || u->scheme == ICE_SCHEME_WSS;
    const char *stop = p;
    while (stop < end && *stop != '?' && !(ws && *stop == '/'))
        stop++;
    if (url_hostport(u, p, (size_t)(stop - p), why) < 0)
        return CMN_EINVAL;
    if (ws)
        return url_ws_path(u, stop, (size_t)(end - stop), why);
    if (stop < end)
        return url_query(u, stop + 1, (size_t)(end - stop - 1), why);
    return 0;
}

char *ice_url_format(const ice_url_t *u, char *buf, size_t len)
{
    const char *pre = "";
    for (size_t i = 0; i < CMN_ARRAY_LEN(url_schemes); i++)
        if (url_schemes[i].scheme == u->scheme)
            pre = url_schemes[i].prefix;
    bool v6 = strchr(u->host, ':') != NULL;
    const char *query = "";
    if (u->scheme == ICE_SCHEME_TURN)
        query = u->transport == ICE_TP_TCP ? "?transport=tcp" : "?transport=udp";
    else if (u->scheme == ICE_SCHEME_TURNS)
        query = "?transport=tcp";
    bool ws = u->scheme == ICE_SCHEME_WS || u->scheme == ICE_SCHEME_WSS;
    snprintf(buf, len, "%s%s%s%s:%u%s%s", pre, v6 ? "[" : "", u->host, v6 ? "]" : "",
             (unsigned)u->port, ws ? u->path : "", query);
    return buf;
}
