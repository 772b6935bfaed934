/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_config_hint.c: the configuration's words for people. The type of a
 * setting in a few words (for --help and docs/configuration.md), a hint
 * after a libconfig syntax error that names the usual slip on that line
 * (an unquoted string or address, a size such as 2M without quotes), and
 * the warnings about settings the daemon will not use as given.
 *
 * It changes nothing: a hint or a warning only explains. The loader
 * (cmn_config.c) decides what is an error.
 */
#include "cmn_config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

/* ---- Types in words --------------------------------------------------- */

/* 1000000000000 -> "1T", 1099511627776 -> "1Ti", 64000 -> "64k". */
static void size_text(uint64_t v, char *buf, size_t len)
{
    static const char *const dec[] = {"T", "G", "M", "k"};
    static const char *const bin[] = {"Ti", "Gi", "Mi", "Ki"};
    for (int i = 0; v && i < 4; i++) {
        uint64_t unit = 1;
        for (int k = 0; k < 4 - i; k++)
            unit *= 1000;
        if (v % unit == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / unit), dec[i]);
            return;
        }
    }
    for (int i = 0; v && i < 4; i++) {
        uint64_t unit = (uint64_t)1 << (10 * (4 - i));
        if (v % unit == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / unit), bin[i]);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

static const char *size_type_text(const cmn_cfg_def_t *d, char *buf, size_t len)
{
    size_t n = strlen(d->name);
    const char *what = n > 4 && !strcmp(d->name + n - 4, "_bps") ? "rate (bit/s)" : "size (bytes)";
    /* Bounds near 2^63 mean "no practical limit"; they would only confuse. */
    if ((uint64_t)d->max >= 1000000000000000000ULL) {
        snprintf(buf, len, "%s", what);
        return buf;
    }
    char lo[32], hi[32];
    size_text((uint64_t)d->min, lo, sizeof(lo));
    size_text((uint64_t)d->max, hi, sizeof(hi));
    snprintf(buf, len, "%s %s..%s", what, lo, hi);
    return buf;
}

/* "one of day, month" (<what> "one of") from the '|'-separated choices. */
static const char *choices_text(const char *what, const char *choices, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "%s ", what);
    for (const char *p = choices; *p && o + 3 < len; p++) {
        if (*p == '|') {
            buf[o++] = ',';
            buf[o++] = ' ';
        } else {
            buf[o++] = *p;
        }
    }
    buf[CMN_MIN(o, len - 1)] = '\0';
    return buf;
}

const char *cmn_config_type_text(const cmn_cfg_def_t *d, char *buf, size_t len)
{
    const char *s = "value";
    switch (d->type) {
    case CMN_CFG_BOOL: s = "boolean"; break;
    case CMN_CFG_INT: snprintf(buf, len, "integer %ld..%ld", d->min, d->max); return buf;
    case CMN_CFG_STRING: snprintf(buf, len, "string, %ld..%ld bytes", d->min, d->max); return buf;
    case CMN_CFG_PATH: s = "file path"; break;
    case CMN_CFG_STRLIST: s = "string list"; break;
    case CMN_CFG_ADDRLIST: s = "address list"; break;
    case CMN_CFG_IP: s = "IP or empty"; break;
    case CMN_CFG_CIDRLIST: s = "prefix list"; break;
    case CMN_CFG_PORTRANGE: s = "port range LOW-HIGH"; break;
    case CMN_CFG_LOGLEVEL: s = "one of error, warn, info, debug"; break;
    case CMN_CFG_USERLIST: s = "list of NAME:PASSWORD"; break;
    case CMN_CFG_EXTIPLIST: s = "list of PUBLIC or PUBLIC/PRIVATE, or auto"; break;
    case CMN_CFG_SIZE: return size_type_text(d, buf, len);
    case CMN_CFG_DOUBLE: snprintf(buf, len, "decimal %ld..%ld", d->min, d->max); return buf;
    case CMN_CFG_ENUM: return choices_text("one of", d->choices, buf, len);
    case CMN_CFG_WORDS: return choices_text("list of", d->choices, buf, len);
    case CMN_CFG_RATEMAP: s = "list of PATTERN=RATE"; break;
    }
    snprintf(buf, len, "%s", s);
    return buf;
}

/* ---- Syntax hints ------------------------------------------------------ */

#define HINT_LINE_MAX 1024

/* Line <line> (from 1) of <path> into <buf>, or false. */
static bool read_line(const char *path, int line, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = false;
    for (int n = 1; fgets(buf, (int)len, f); n++) {
        if (n == line) {
            ok = true;
            break;
        }
    }
    fclose(f);
    return ok;
}

static bool is_number(const char *v, size_t n)
{
    size_t i = 0;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        for (i = 2; i < n && isxdigit((unsigned char)v[i]); i++)
            ;
    } else {
        if (i < n && (v[i] == '+' || v[i] == '-'))
            i++;
        size_t digits = 0;
        for (; i < n && (isdigit((unsigned char)v[i]) || v[i] == '.'); i++)
            digits += isdigit((unsigned char)v[i]) != 0;
        if (!digits)
            return false;
        if (i < n && (v[i] == 'e' || v[i] == 'E')) {
            i++;
            if (i < n && (v[i] == '+' || v[i] == '-'))
                i++;
            for (; i < n && isdigit((unsigned char)v[i]); i++)
                ;
        }
    }
    while (i < n && v[i] == 'L')
        i++;
    return i == n;
}

/* 2M, 1.5G, 64Ki: what CMN_CFG_SIZE accepts as a string. */
static bool is_size(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && (isdigit((unsigned char)v[i]) || v[i] == '.'))
        i++;
    if (i == 0 || i == n)
        return false;
    static const char *const sfx[] = {"k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"};
    for (size_t k = 0; k < CMN_ARRAY_LEN(sfx); k++)
        if (strlen(sfx[k]) == n - i && !memcmp(v + i, sfx[k], n - i))
            return true;
    return false;
}

/* Is the bare token v[0..n) something libconfig takes as a scalar? */
static bool scalar_ok(const char *v, size_t n)
{
    if (n == 0 || v[0] == '"')
        return true;
    if ((n == 4 && !strncasecmp(v, "true", 4)) || (n == 5 && !strncasecmp(v, "false", 5)))
        return true;
    return is_number(v, n);
}

static size_t trim_span(const char **v, size_t n)
{
    while (n && isspace((unsigned char)**v)) {
        (*v)++;
        n--;
    }
    while (n && isspace((unsigned char)(*v)[n - 1]))
        n--;
    return n;
}

/* The first unquoted token of a value: itself, or for a list its first bad
 * element (list set). */
static bool bad_token(const char *v, size_t n, const char **tok, size_t *tn, bool *list)
{
    *list = n && (v[0] == '[' || v[0] == '(');
    if (!*list) {
        *tok = v;
        *tn = n;
        return !scalar_ok(v, n);
    }
    const char *p = v + 1, *end = v + n;
    while (p < end) {
        const char *q = p;
        for (bool quoted = false; q < end && (quoted || (*q != ',' && *q != ']' && *q != ')'));
             q++)
            quoted ^= *q == '"';
        const char *e = p;
        size_t en = trim_span(&e, (size_t)(q - p));
        if (!scalar_ok(e, en)) {
            *tok = e;
            *tn = en;
            return true;
        }
        p = q + 1;
    }
    return false;
}

/* The length of the value that starts at <v>: up to ';' or '}', or for a
 * list up to its closing bracket, outside quotes. */
static size_t value_len(const char *v)
{
    const char *p = v + strspn(v, " \t");
    bool list = *p == '[' || *p == '(', quoted = false;
    for (; *p; p++) {
        quoted ^= *p == '"';
        if (quoted)
            continue;
        if (list ? (*p == ']' || *p == ')') : (*p == ';' || *p == '}'))
            return (size_t)(p - v) + list;
    }
    return (size_t)(p - v);
}

/* Find "key = value" (or "key : value") pieces on <text> and write a hint
 * for the first value that libconfig cannot read. */
static bool hint_for(const char *text, char *buf, size_t len)
{
    bool quoted = false;
    for (const char *eq = text; *eq; eq++) {
        if (*eq == '"')
            quoted = !quoted;
        if (quoted || (*eq != '=' && *eq != ':'))
            continue;
        const char *k = eq;
        while (k > text && isspace((unsigned char)k[-1]))
            k--;
        const char *kend = k;
        while (k > text && (isalnum((unsigned char)k[-1]) || k[-1] == '_' || k[-1] == '-'))
            k--;
        if (k == kend || !isalpha((unsigned char)*k))
            continue;
        const char *v = eq + 1;
        size_t n = value_len(v);
        n = trim_span(&v, n);
        if (n && v[0] == '{')
            continue;
        const char *tok;
        size_t tn;
        bool list;
        if (!bad_token(v, n, &tok, &tn, &list))
            continue;
        int kl = (int)(kend - k), tl = (int)CMN_MIN(tn, (size_t)80);
        const char *why = is_size(tok, tn) ? "a size with a suffix is a string"
                                           : "strings, addresses and words go in double quotes";
        if (list)
            snprintf(buf, len,
                     "; hint: %s, in a list too: quote each item, as in %.*s = [\"%.*s\"];", why,
                     kl, k, tl, tok);
        else
            snprintf(buf, len, "; hint: %s: write %.*s = \"%.*s\";", why, kl, k, tl, tok);
        return true;
    }
    return false;
}

const char *cmn__cfg_syntax_hint(const char *path, int line, char *buf, size_t len)
{
    char text[HINT_LINE_MAX];
    if (len)
        buf[0] = '\0';
    if (line < 1 || !read_line(path, line, text, sizeof(text)))
        return buf;
    /* Comments end the line (outside strings, which a slip rarely has). */
    bool q = false;
    for (char *p = text; *p; p++) {
        if (*p == '"')
            q = !q;
        if (!q && (*p == '#' || (p[0] == '/' && p[1] == '/'))) {
            *p = '\0';
            break;
        }
    }
    if (!hint_for(text, buf, len) && len)
        buf[0] = '\0';
    return buf;
}

/* ---- Warnings ---------------------------------------------------------- */

void cmn__cfg_warnings(const cmn_settings_t *s, void (*warn)(void *ud, const char *msg),
                       void *ud)
{
    char msg[CMN_CONFIG_SOURCE_MAX + 300];
    uint64_t burst = s->quota.allocation_burst;
    if (burst && burst < CMN_QUOTA_MIN_BURST) {
        snprintf(msg, sizeof(msg),
                 "%s: %llu bytes is below the smallest burst, %d; icehubd uses %d "
                 "(0 picks one second of the rate, at least 64 KiB)",
                 cmn_config_source(s, "quota.allocation_burst"), (unsigned long long)burst,
                 CMN_QUOTA_MIN_BURST, CMN_QUOTA_MIN_BURST);
        warn(ud, msg);
    }
    if (s->signal.enabled && s->signal.idle_timeout <= s->signal.ping_interval) {
        snprintf(msg, sizeof(msg),
                 "%s: %d s is not above signal.ping_interval (%d s), so a quiet WebSocket is "
                 "closed before a ping can keep it open",
                 cmn_config_source(s, "signal.idle_timeout"), s->signal.idle_timeout,
                 s->signal.ping_interval);
        warn(ud, msg);
    }
    if (!s->http.enabled && s->signal.enabled) {
        snprintf(msg, sizeof(msg),
                 "%s: http.enabled is false, so the signaling hub (signal.enabled) is not "
                 "served: nothing answers /ws or its REST endpoints; set signal.enabled = "
                 "false to run without it",
                 cmn_config_source(s, "http.enabled"));
        warn(ud, msg);
    }
    if (!s->http.enabled && s->admin.enabled) {
        snprintf(msg, sizeof(msg),
                 "%s: admin.enabled is true but http.enabled is false, so the admin API and "
                 "the dashboard are not served",
                 cmn_config_source(s, "admin.enabled"));
        warn(ud, msg);
    }
    const char *setting;
    const cmn_addr_t *hub = cmn__cfg_open_hub(s, &setting);
    if (hub && s->signal.open) {
        char a[CMN_ADDR_STRLEN];
        snprintf(msg, sizeof(msg),
                 "%s: the signaling hub on %s is OPEN: anyone who can reach it joins rooms and "
                 "gets TURN credentials (each valid signal.credential_ttl = %d s); set "
                 "signal.require_token or signal.allowed_origins to close it",
                 cmn_config_source(s, "signal.open"), cmn_addr_format(hub, a, sizeof(a), true),
                 s->signal.credential_ttl);
        warn(ud, msg);
    }
    if (s->http.enabled && s->http.tls_listen.n && !s->tls.cert[0]) {
        snprintf(msg, sizeof(msg),
                 "%s: no HTTPS/WSS listener starts without tls.cert and tls.key",
                 cmn_config_source(s, "http.tls_listen"));
        warn(ud, msg);
    }
}
