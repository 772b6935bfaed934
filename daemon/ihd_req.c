/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_req.c: what the HTTP glue and the admin API read from a request a
 * client wrote: query strings (re-encoded from lws's decoded arguments,
 * and read back by key), the Bearer token of an Authorization header, and
 * the admin API's routes with their path and query parameters.
 *
 * Pure: no lws, no sockets, no server state; ihd_http.c, ihd_api.c and
 * ihd_admin.c call it, tests/fuzz/fuzz_http.c fuzzes it. What a route then
 * does (snapshots, commands, JSON) stays in ihd_api.c.
 */
#include "ihd_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "common/cmn.h"

/* ---- Query strings ------------------------------------------------------ */

static bool unreserved(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

int ihd_query_append(char *out, size_t cap, const char *arg, size_t arg_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(out), start = o;
    if (o && o + 1 < cap)
        out[o++] = '&';
    bool in_value = false;
    for (size_t k = 0; k < arg_len; k++) {
        unsigned char ch = (unsigned char)arg[k];
        size_t need = ch == '=' && !in_value ? 1 : unreserved(ch) ? 1 : 3;
        if (o + need + 1 > cap) {
            out[start] = '\0';
            return CMN_ENOMEM;
        }
        if (ch == '=' && !in_value) {
            in_value = true;
            out[o++] = '=';
        } else if (unreserved(ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    if (o + 1 > cap) {
        out[start] = '\0';
        return CMN_ENOMEM;
    }
    out[o] = '\0';
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int ihd_query_get(const char *q, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, klen) != 0 || p[klen] != '=')
            continue;
        size_t o = 0;
        for (const char *v = p + klen + 1; *v && *v != '&'; v++) {
            int c = (unsigned char)*v;
            if (c == '%') {
                int hi = hexval(v[1]), lo = hi >= 0 ? hexval(v[2]) : -1;
                if (lo < 0)
                    return CMN_EINVAL;
                c = hi * 16 + lo;
                v += 2;
            } else if (c == '+') {
                c = ' ';
            }
            if (o + 1 >= cap || c < 0x20)
                return CMN_EINVAL;
            out[o++] = (char)c;
        }
        out[o] = '\0';
        return 1;
    }
    return 0;
}

/* ---- Authorization ------------------------------------------------------ */

void ihd_bearer_token(const char *authorization, const char **tok, size_t *len)
{
    const char *t = "";
    if (strncasecmp(authorization, "Bearer ", 7) == 0) {
        t = authorization + 7;
        while (*t == ' ')
            t++;
    }
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ')
        n--;
    *tok = t;
    *len = n;
}

/* ---- Admin API routes --------------------------------------------------- */

enum { M_GET = 0, M_POST = 1, M_DELETE = 3 };

/* A decimal allocation id, nothing else. */
static int parse_id(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9' || strlen(s) > 20)
        return CMN_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v == 0)
        return CMN_EINVAL;
    *out = v;
    return 0;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > IHD_API_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
            return false;
    return true;
}

static void bad(ihd_api_req_t *r, const char *code, const char *msg)
{
    r->bad = code;
    r->bad_msg = msg;
}

static void parse_list(const char *query, ihd_api_req_t *r)
{
    int has_user = ihd_query_get(query, "user", r->user, sizeof(r->user));
    if (has_user < 0) {
        r->user[0] = '\0';
        bad(r, "bad-query", "user: expected a %-encoded user name");
        return;
    }
    r->has_user = has_user == 1;
    char lim[16];
    int has_limit = ihd_query_get(query, "limit", lim, sizeof(lim));
    if (has_limit < 0 ||
        (has_limit && (parse_id(lim, &r->limit) < 0 || r->limit > IHD_API_LIST_MAX))) {
        r->limit = IHD_API_LIST_DEFAULT;
        bad(r, "bad-query", "limit: expected an integer in 1..100000");
    }
}

/* ?ttl=SECONDS of a revocation. */
static void parse_ttl(const char *query, ihd_api_req_t *r)
{
    char tv[16];
    int has = ihd_query_get(query, "ttl", tv, sizeof(tv));
    if (has < 0 || (has && (parse_id(tv, &r->ttl) < 0 || r->ttl > IHD_API_TTL_MAX))) {
        r->ttl = 0;
        bad(r, "bad-query", "ttl: expected seconds in 1..315360000");
        return;
    }
    r->has_ttl = has == 1;
}

void ihd_api_parse(int method, const char *path, const char *query, ihd_api_req_t *r)
{
    static const struct {
        const char *path;
        ihd_api_route_t route;
    } gets[] = {
        {"/api/summary", IHD_API_SUMMARY},
        {"/api/usage", IHD_API_USAGE},
        {"/api/allocations", IHD_API_ALLOCATIONS},
        {"/api/users/revoked", IHD_API_REVOKED},
    };
    memset(r, 0, sizeof(*r));
    r->limit = IHD_API_LIST_DEFAULT;
    for (size_t i = 0; i < CMN_ARRAY_LEN(gets); i++) {
        if (strcmp(path, gets[i].path) != 0)
            continue;
        r->route = gets[i].route;
        if (method != M_GET)
            r->allow = "GET";
        else if (r->route == IHD_API_ALLOCATIONS)
            parse_list(query, r);
        return;
    }
    if (!strcmp(path, "/api/drain")) {
        r->route = IHD_API_DRAIN;
        if (method != M_GET && method != M_POST)
            r->allow = "GET, POST";
        return;
    }
    if (!strncmp(path, "/api/allocations/", 17)) {
        r->route = IHD_API_ALLOCATION;
        if (parse_id(path + 17, &r->id) < 0)
            bad(r, "bad-id", "expected a decimal allocation id");
        else if (method != M_GET && method != M_DELETE)
            r->allow = "GET, DELETE";
        return;
    }
    static const char suffix[] = "/revoke";
    size_t n = strlen(path), sl = sizeof(suffix) - 1;
    if (!strncmp(path, "/api/users/", 11) && n > 11 + sl && !strcmp(path + n - sl, suffix)) {
        r->route = IHD_API_REVOKE;
        size_t nlen = n - 11 - sl;
        if (method != M_POST && method != M_DELETE) {
            r->allow = "POST, DELETE";
        } else if (!name_ok(path + 11, nlen)) {
            bad(r, "bad-name", "expected a user name of 1..255 bytes");
        } else {
            memcpy(r->user, path + 11, nlen);
            r->user[nlen] = '\0';
            if (method == M_POST)
                parse_ttl(query, r);
        }
        return;
    }
    r->route = IHD_API_NOT_FOUND;
}
