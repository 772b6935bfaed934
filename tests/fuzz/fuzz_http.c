/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_http.c: libFuzzer target for what the HTTP glue and the admin API
 * read from a request (daemon/ihd_req.c). An input is [mode][sel][bytes]:
 *   0  <bytes> split at '\n' are query arguments as lws hands them over
 *      (decoded); ihd_query_append joins them into a buffer of a size <sel>
 *      picks: the result holds only unreserved characters, '%XX', '=' and
 *      '&', a refused argument leaves the buffer as it was, and
 *      ihd_query_get reads every appended "name=value" back whose name
 *      is unreserved characters only (first name wins; values with
 *      control characters are refused);
 *   1  <bytes> as a raw query string read by ihd_query_get for a few keys
 *      into buffers of a few sizes: the result fits and has no control
 *      characters;
 *   2  <bytes> as an Authorization header: the Bearer token found is a
 *      part of it without surrounding spaces, and found again when put
 *      back in "Bearer TOKEN";
 *   3  <bytes> as "path\0query" of an admin API request with the method
 *      <sel> & 7: the route, and at most one of 404/405/400, and the
 *      parameters a route gets are sound (an id that prints back as the
 *      path's digits, a user name from the path, a limit in range).
 * Seeds are in tests/fuzz/corpus/http/ (tests/fuzz/gen_seeds.py).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn.h"
#include "daemon/ihd_parse.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_MAX 4096

static bool clean(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return false;
    return true;
}

static bool unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

/* The argument's name and value: "name=value", or "name" alone. */
static void split_arg(const char *a, size_t n, char *name, char *value, bool *has_value)
{
    const char *eq = memchr(a, '=', n);
    size_t nl = eq ? (size_t)(eq - a) : n;
    memcpy(name, a, nl);
    name[nl] = '\0';
    *has_value = eq != NULL;
    size_t vl = eq ? n - nl - 1 : 0;
    if (eq)
        memcpy(value, eq + 1, vl);
    value[vl] = '\0';
}

static void fuzz_append(unsigned sel, const char *s, size_t len)
{
    static char out[FZ_MAX * 3 + 16], before[sizeof(out)];
    static const size_t caps[] = {1, 16, 64, 1024, sizeof(out)};
    size_t cap = caps[sel % CMN_ARRAY_LEN(caps)];
    out[0] = '\0';
    /* Up to 16 arguments, remembered to read back. */
    const char *args[16];
    size_t lens[16], nargs = 0;
    bool kept[16];
    for (const char *p = s; p <= s + len && nargs < 16;) {
        const char *nl = memchr(p, '\n', (size_t)(s + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(s + len - p);
        if (memchr(p, '\0', n))
            break; /* lws fragments are C strings */
        memcpy(before, out, strlen(out) + 1);
        int rc = ihd_query_append(out, cap, p, n);
        CHECK(rc == 0 || rc == CMN_ENOMEM);
        if (rc < 0)
            CHECK(strcmp(before, out) == 0);
        CHECK(strlen(out) < cap);
        args[nargs] = p, lens[nargs] = n, kept[nargs] = rc == 0;
        nargs++;
        if (!nl)
            break;
        p = nl + 1;
    }
    for (const char *c = out; *c; c++) {
        if (*c == '%')
            CHECK(c[1] && c[2] && strchr("0123456789ABCDEF", c[1]) && strchr("0123456789ABCDEF", c[2]));
        else
            CHECK(unreserved(*c) || *c == '=' || *c == '&');
    }
    /* Read each kept "name=value" back, if no earlier kept argument has
     * the same name (the first one wins). */
    static char name[FZ_MAX + 1], value[FZ_MAX + 1], got[FZ_MAX + 1], other[FZ_MAX + 1],
        ov[FZ_MAX + 1];
    for (size_t i = 0; i < nargs; i++) {
        bool has_value, ohv;
        if (!kept[i])
            continue;
        split_arg(args[i], lens[i], name, value, &has_value);
        /* Names are matched as written: only unreserved ones read back. */
        bool first = has_value;
        for (const char *c = name; *c && first; c++)
            first = unreserved(*c);
        for (size_t k = 0; k < i && first; k++) {
            if (!kept[k])
                continue;
            split_arg(args[k], lens[k], other, ov, &ohv);
            if (!strcmp(other, name) && ohv)
                first = false;
        }
        if (!first)
            continue;
        int rc = ihd_query_get(out, name, got, sizeof(got));
        if (clean(value))
            CHECK(rc == 1 && strcmp(got, value) == 0);
        else
            CHECK(rc == CMN_EINVAL);
    }
}

static void fuzz_get(unsigned sel, const char *q)
{
    static const char *const keys[] = {"user", "limit", "", "a", "x=y"};
    static const size_t caps[] = {1, 2, 8, 256, FZ_MAX + 1};
    static char out[FZ_MAX + 1];
    const char *key = keys[sel % CMN_ARRAY_LEN(keys)];
    size_t cap = caps[(sel / 8) % CMN_ARRAY_LEN(caps)];
    int rc = ihd_query_get(q, key, out, cap);
    CHECK(rc == 0 || rc == 1 || rc == CMN_EINVAL);
    if (rc == 1)
        CHECK(strlen(out) < cap && clean(out));
}

static void fuzz_bearer(const char *s)
{
    const char *tok;
    size_t n;
    ihd_bearer_token(s, &tok, &n);
    if (n == 0)
        return;
    CHECK(tok >= s && tok + n <= s + strlen(s) && tok[0] != ' ' && tok[n - 1] != ' ');
    static char again[FZ_MAX + 16];
    snprintf(again, sizeof(again), "Bearer %.*s", (int)n, tok);
    const char *t2;
    size_t n2;
    ihd_bearer_token(again, &t2, &n2);
    CHECK(n2 == n && memcmp(t2, tok, n) == 0);
}

static void fuzz_api(unsigned sel, const char *path, const char *query)
{
    ihd_api_req_t r;
    int method = (int)(sel & 7);
    ihd_api_parse(method, path, query, &r);
    bool under_api = !strncmp(path, "/api/", 5);
    CHECK(r.route == IHD_API_NOT_FOUND || under_api);
    int problems = (r.route == IHD_API_NOT_FOUND) + (r.allow != NULL) + (r.bad != NULL);
    CHECK(problems <= 1);
    CHECK(!r.bad == !r.bad_msg);
    if (problems)
        return;
    switch (r.route) {
    case IHD_API_ALLOCATION: {
        /* Decimal digits only (leading zeros allowed) with that value. */
        char buf[32];
        CHECK(r.id > 0 && (method == 0 || method == 3));
        const char *d = path + 17;
        d += strspn(d, "0");
        snprintf(buf, sizeof(buf), "%" PRIu64, r.id);
        CHECK(!strcmp(d, buf));
        break;
    }
    case IHD_API_REVOKE: {
        size_t n = strlen(r.user);
        CHECK(n >= 1 && n <= IHD_API_NAME_MAX && clean(r.user) && !strchr(r.user, '/'));
        CHECK(!strncmp(path + 11, r.user, n) && !strcmp(path + 11 + n, "/revoke"));
        CHECK(method == 1 || method == 3);
        break;
    }
    case IHD_API_ALLOCATIONS:
        CHECK(r.limit >= 1 && r.limit <= IHD_API_LIST_MAX && method == 0);
        CHECK(!r.has_user || clean(r.user));
        break;
    case IHD_API_DRAIN: /* its state (GET) or the start of a drain (POST) */
        CHECK(!strcmp(path, "/api/drain") && (method == 0 || method == 1));
        break;
    default:
        CHECK(method == 0);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[FZ_MAX + 1];
    if (size < 2 || size - 2 > FZ_MAX)
        return 0;
    unsigned mode = data[0] & 3, sel = data[1];
    size_t len = size - 2;
    memcpy(s, data + 2, len);
    s[len] = '\0';
    switch (mode) {
    case 0: fuzz_append(sel, s, len); break;
    case 1: fuzz_get(sel, s); break;
    case 2: fuzz_bearer(s); break;
    default: fuzz_api(sel, s, strlen(s) < len ? s + strlen(s) + 1 : ""); break;
    }
    return 0;
}
