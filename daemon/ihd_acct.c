/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_acct.c: the pure pieces of usage accounting: UTC periods (day,
 * month), RFC 3339 timestamps, and ledger records (one JSON object per
 * line, encoded and decoded with jansson), plus the line reader that the
 * restart rebuild and `icehubd usage` share and that tolerates a torn last
 * line. No sockets, threads or server state: unit tests include this file.
 */
#include "daemon/ihd_acct.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

/* ---- Periods and timestamps ---------------------------------------------- */

void ihd_period_bounds(ihd_period_t k, double t, double *start, double *end)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (k == IHD_PERIOD_MONTH)
        tm.tm_mday = 1;
    *start = (double)timegm(&tm);
    if (k == IHD_PERIOD_MONTH)
        tm.tm_mon++; /* timegm normalises December + 1 */
    else
        tm.tm_mday++;
    *end = (double)timegm(&tm);
}

const char *ihd_period_name(ihd_period_t k)
{
    return k == IHD_PERIOD_MONTH ? "month" : "day";
}

char *ihd_time_format(double t, char *buf, size_t len)
{
    /* Round to the millisecond (0.123 is 0.12299999... in binary). */
    double msd = floor(t * 1000.0 + 0.5);
    time_t s = (time_t)floor(msd / 1000.0);
    int ms = (int)(msd - (double)s * 1000.0);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

char *ihd_time_stamp(double t, char *buf, size_t len)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, len, "%04d%02d%02dT%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

long ihd_time_day(double t)
{
    return (long)floor(t / 86400.0);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int ihd_time_parse(const char *s, double *out)
{
    if (!s || !*s)
        return CMN_EINVAL;
    /* Unix seconds: digits only (with an optional fraction). */
    if (strspn(s, "0123456789.") == strlen(s) && s[0] >= '0' && s[0] <= '9') {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || *end)
            return CMN_EINVAL;
        *out = v;
        return 0;
    }
    const char *p = s;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h = 0, mi = 0, se = 0;
    double frac = 0, off = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return CMN_EINVAL;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
            digits(&p, 2, &se))
            return CMN_EINVAL;
        if (*p == '.') {
            double scale = 0.1;
            p++;
            if (*p < '0' || *p > '9')
                return CMN_EINVAL;
            while (*p >= '0' && *p <= '9') {
                frac += (*p++ - '0') * scale;
                scale /= 10;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return CMN_EINVAL;
            off = sign * (oh * 3600.0 + om * 60.0);
        } else {
            return CMN_EINVAL;
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return CMN_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    struct tm chk;
    gmtime_r(&t, &chk);
    if (chk.tm_mday != d && se != 60) /* 2026-02-31 */
        return CMN_EINVAL;
    *out = (double)t + frac - off;
    return 0;
}

/* ---- Records ------------------------------------------------------------- */

json_t *ihd_json_str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    char *c = cmn_strdup(s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(c);
    cmn_free(c);
    return j;
}

json_t *ihd_json_addr(const cmn_addr_t *a, bool with_port)
{
    char buf[CMN_ADDR_STRLEN];
    return json_string(cmn_addr_format(a, buf, sizeof(buf), with_port));
}

void ihd_rec_encode(const ihd_rec_t *r, char **buf, size_t *len, size_t *cap)
{
    char t0[IHD_TIME_STRLEN], t1[IHD_TIME_STRLEN];
    json_t *relay = json_array(), *peers = json_array();
    for (size_t i = 0; i < r->nrelay; i++)
        json_array_append_new(relay, ihd_json_addr(&r->relay[i], true));
    for (size_t i = 0; i < r->npeers; i++)
        json_array_append_new(peers, ihd_json_addr(&r->peers[i], false));
    /* Keys in a fixed order (JSON_PRESERVE_ORDER) so lines read well. */
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(r->final ? "final" : "interim"));
    json_object_set_new(o, "alloc_id", json_integer((json_int_t)r->alloc_id));
    json_object_set_new(o, "seq", json_integer(r->seq));
    json_object_set_new(o, "user", ihd_json_str(r->user));
    json_object_set_new(o, "quota_user", ihd_json_str(r->quota_user));
    json_object_set_new(o, "realm", ihd_json_str(r->realm));
    json_object_set_new(o, "client", ihd_json_addr(&r->client, true));
    json_object_set_new(o, "client_transport", json_string(turn_transport_name((turn_transport_t)r->transport)));
    json_object_set_new(o, "relay", relay);
    json_object_set_new(o, "start", json_string(ihd_time_format(r->start, t0, sizeof(t0))));
    json_object_set_new(o, "end", json_string(ihd_time_format(r->end, t1, sizeof(t1))));
    json_object_set_new(o, "to_peer_bytes", json_integer((json_int_t)r->d.to_peer_bytes));
    json_object_set_new(o, "to_client_bytes", json_integer((json_int_t)r->d.to_client_bytes));
    json_object_set_new(o, "to_peer_packets", json_integer((json_int_t)r->d.to_peer_packets));
    json_object_set_new(o, "to_client_packets",
                        json_integer((json_int_t)r->d.to_client_packets));
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "peers_total", json_integer(r->peers_total));
    if (r->final)
        json_object_set_new(o, "end_reason", json_string(r->end_reason ? r->end_reason : ""));
    /* Pure ASCII lines (non-ASCII escaped): no byte of a record can look
     * like a newline to any reader. */
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s)
        abort(); /* jansson fails only when out of memory (cmn_malloc's rule) */
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = cmn_malloc(c);
        if (*len)
            memcpy(nb, *buf, *len);
        cmn_free(*buf);
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    (*buf)[*len + n] = '\n';
    *len += n + 1;
    free(s);
}

static int get_u64(const json_t *j, const char *k, uint64_t *out)
{
    json_t *v = json_object_get(j, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int ihd_rec_decode(const json_t *j, ihd_recv_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type || (strcmp(type, "final") && strcmp(type, "interim"))) {
        *why = "type is neither \"final\" nor \"interim\"";
        return CMN_EINVAL;
    }
    out->final = !strcmp(type, "final");
    const char *qu = json_string_value(json_object_get(j, "quota_user"));
    out->user = qu && *qu ? qu : json_string_value(json_object_get(j, "user"));
    out->realm = json_string_value(json_object_get(j, "realm"));
    if (!out->user || !out->realm) {
        *why = "user or realm missing";
        return CMN_EINVAL;
    }
    uint64_t seq = 0;
    if (get_u64(j, "seq", &seq) < 0)
        seq = 0; /* optional */
    out->seq = (uint32_t)seq;
    if (ihd_time_parse(json_string_value(json_object_get(j, "start")), &out->start) < 0 ||
        ihd_time_parse(json_string_value(json_object_get(j, "end")), &out->end) < 0) {
        *why = "start or end is not an RFC 3339 time";
        return CMN_EINVAL;
    }
    if (get_u64(j, "to_peer_bytes", &out->to_peer_bytes) < 0 ||
        get_u64(j, "to_client_bytes", &out->to_client_bytes) < 0 ||
        get_u64(j, "to_peer_packets", &out->to_peer_packets) < 0 ||
        get_u64(j, "to_client_packets", &out->to_client_packets) < 0) {
        *why = "a byte or packet count is missing or negative";
        return CMN_EINVAL;
    }
    return 0;
}

int ihd_ledger_read(FILE *f, const char *name, ihd_rec_fn fn, ihd_warn_fn warn, void *ctx,
                    ihd_read_stats_t *st)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0;
    memset(st, 0, sizeof(*st));
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        bool whole = n > 0 && line[n - 1] == '\n';
        if (whole)
            line[--n] = '\0';
        if (n == 0 && whole)
            continue;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)n, 0, &je);
        ihd_recv_t r;
        const char *why = "not a JSON object";
        if (j && json_is_object(j) && ihd_rec_decode(j, &r, &why) == 0) {
            st->records++;
            fn(ctx, &r);
        } else if (!whole) {
            /* A write cut short by a power loss: skip it (docs/ledger.md). */
            st->torn++;
            if (warn)
                warn(ctx, name, lineno, "torn last line (partial write) skipped");
        } else {
            st->bad++;
            if (warn)
                warn(ctx, name, lineno, j ? why : je.text);
        }
        json_decref(j);
    }
    bool err = ferror(f);
    free(line);
    return err ? CMN_EIO : 0;
}
