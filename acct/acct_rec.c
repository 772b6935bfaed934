/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_rec.c: ledger records: one JSON object per line, encoded and
 * decoded with jansson, and the line reader that the restart rebuild and
 * `icehubd usage` share, which tolerates a torn last line. Pure: no
 * files of its own (the reader takes a FILE *), no threads.
 */
#include "acct.h"

#include <jansson.h>
#include <stdlib.h>

json_t *acct_json_str(const char *s)
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

json_t *acct_json_addr(const cmn_addr_t *a, bool with_port)
{
    char buf[CMN_ADDR_STRLEN];
    return json_string(cmn_addr_format(a, buf, sizeof(buf), with_port));
}

void acct_rec_encode(const acct_rec_t *r, char **buf, size_t *len, size_t *cap)
{
    char t0[ACCT_TIME_STRLEN], t1[ACCT_TIME_STRLEN];
    json_t *relay = json_array(), *peers = json_array();
    for (size_t i = 0; i < r->nrelay; i++)
        json_array_append_new(relay, acct_json_addr(&r->relay[i], true));
    for (size_t i = 0; i < r->npeers; i++)
        json_array_append_new(peers, acct_json_addr(&r->peers[i], false));
    /* Keys in a fixed order (JSON_PRESERVE_ORDER) so lines read well. */
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(r->final ? "final" : "interim"));
    json_object_set_new(o, "alloc_id", json_integer((json_int_t)r->alloc_id));
    json_object_set_new(o, "seq", json_integer(r->seq));
    json_object_set_new(o, "user", acct_json_str(r->user));
    json_object_set_new(o, "quota_user", acct_json_str(r->quota_user));
    json_object_set_new(o, "realm", acct_json_str(r->realm));
    json_object_set_new(o, "client", acct_json_addr(&r->client, true));
    json_object_set_new(o, "client_transport", json_string(r->transport ? r->transport : "?"));
    json_object_set_new(o, "relay", relay);
    json_object_set_new(o, "start", json_string(acct_time_format(r->start, t0, sizeof(t0))));
    json_object_set_new(o, "end", json_string(acct_time_format(r->end, t1, sizeof(t1))));
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

int acct_rec_decode(const json_t *j, acct_recv_t *out, const char **why)
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
    if (acct_time_parse(json_string_value(json_object_get(j, "start")), &out->start) < 0 ||
        acct_time_parse(json_string_value(json_object_get(j, "end")), &out->end) < 0) {
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

int acct_ledger_read(FILE *f, const char *name, acct_rec_fn fn, acct_warn_fn warn, void *ctx,
                    acct_read_stats_t *st)
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
        acct_recv_t r;
        const char *why = "not a JSON object";
        if (j && json_is_object(j) && acct_rec_decode(j, &r, &why) == 0) {
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
