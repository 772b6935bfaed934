/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_msg.c: the hub's message vocabulary: names of message types, error
 * codes and refusal reasons (stable; they are protocol and metric labels),
 * JSON encoding of replies and errors, the checks on peer ids and room
 * names, and the icehub_signal_* metrics that count them. Parsing is jansson's (json_loadb rejects invalid UTF-8, so a
 * message with it is bad-message like any other malformed JSON).
 *
 * Relays (signal, broadcast) do not re-encode what they carry: once
 * jansson has accepted a message, sig__member_raw finds where its "data"
 * member's text begins and ends, and sig__relay_text copies that text
 * into the relayed message as it came. This is no parser: it only walks
 * text jansson has already validated (strings, nesting, separators), and
 * whenever it cannot be sure (a key written with escapes) the message is
 * encoded by jansson instead. Numbers and strings thus reach the peer as
 * their sender wrote them.
 */
#include "sig_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"

static const char *const err_names[SIG_E_COUNT] = {
    "bad-message", "binary-unsupported", "too-large", "rate-limited", "not-joined",
    "already-joined", "bad-room", "room-full", "too-many-rooms", "unknown-peer",
    "token-required", "bad-token", "resume-failed", "undelivered", "draining", "internal",
};

static const char *const type_names[SIG_T_COUNT] = {
    "join", "signal", "broadcast", "leave", "resume", "ice-servers", "ping", "stats", "invalid",
};

static const char *const refuse_names[SIG_REFUSE_COUNT] = {
    "origin", "per_ip", "draining", "not_found",
};

const char *sig_err_name(sig_err_t e)
{
    return (unsigned)e < SIG_E_COUNT ? err_names[e] : "internal";
}

const char *sig_type_name(sig_type_t t)
{
    return (unsigned)t < SIG_T_COUNT ? type_names[t] : "invalid";
}

const char *sig_refuse_name(sig_refuse_t r)
{
    return (unsigned)r < SIG_REFUSE_COUNT ? refuse_names[r] : "other";
}

char *sig__encode(json_t *obj, size_t *len)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(obj);
    if (!s) {
        /* Only allocation failure makes jansson fail here. */
        cmn_err("signal", "cannot encode a message");
        abort();
    }
    size_t n = strlen(s);
    char *out = cmn_malloc(n + 1);
    memcpy(out, s, n + 1);
    free(s);
    *len = n;
    return out;
}

/* ---- Relaying without re-encoding ----------------------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* <s>[i] opens a string: the index just past its closing quote. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* The index just past the value that starts at <s>[i]. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] != '{' && s[i] != '[') {
        /* A number, true, false or null: up to the next separator. */
        while (i < n && !strchr(",}] \t\n\r", s[i]))
            i++;
        return i;
    }
    int depth = 0;
    while (i < n) {
        char ch = s[i];
        if (ch == '"') {
            i = skip_string(s, i, n);
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

bool sig__member_raw(const char *s, size_t n, const char *key, size_t *off, size_t *vlen)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return false;
    for (i++;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return false; /* "}": not there */
        size_t ks = i + 1, ke = skip_string(s, i, n) - 1; /* ke: the closing quote */
        i = skip_ws(s, ke + 1, n);
        if (i >= n || s[i] != ':')
            return false;
        size_t vs = skip_ws(s, i + 1, n), ve = skip_value(s, vs, n);
        /* Raw bytes: a key written with escapes never matches, and cannot
         * stand for <key> beside a literal one (duplicates are refused). */
        if (ke - ks == klen && !memcmp(s + ks, key, klen)) {
            *off = vs;
            *vlen = ve - vs;
            return ve > vs;
        }
        i = skip_ws(s, ve, n);
        if (i >= n || s[i] != ',')
            return false;
        i++;
    }
}

char *sig__relay_text(const char *raw, size_t rlen, const char *type, const char *from,
                      const json_t *data, size_t *len)
{
    size_t off, vlen;
    if (raw && sig__id_ok(from) && sig__member_raw(raw, rlen, "data", &off, &vlen)) {
        /* Type and id need no escaping: fixed words, [A-Za-z0-9_-]. */
        size_t cap = 40 + strlen(type) + strlen(from) + vlen;
        char *out = cmn_malloc(cap);
        int k = snprintf(out, cap, "{\"type\":\"%s\",\"from\":\"%s\",\"data\":", type, from);
        memcpy(out + k, raw + off, vlen);
        out[(size_t)k + vlen] = '}';
        out[(size_t)k + vlen + 1] = '\0';
        *len = (size_t)k + vlen + 1;
        return out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "from", json_string(from));
    json_object_set(o, "data", (json_t *)data);
    return sig__encode(o, len);
}

void sig__send(sig_hub_t *h, sig_conn_t *c, json_t *obj)
{
    size_t len;
    char *text = sig__encode(obj, &len);
    if (!c->closing)
        h->ops.send(h->ops.ud, c->handle, text, len);
    cmn_free(text);
}

json_t *sig__reply(const char *type, const json_t *ref)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    if (ref)
        json_object_set(o, "ref", (json_t *)ref);
    return o;
}

void sig__error(sig_hub_t *h, sig_conn_t *c, sig_err_t code, const char *msg,
                const json_t *ref)
{
    h->errors[code]++;
    json_t *o = sig__reply("error", ref);
    json_object_set_new(o, "code", json_string(sig_err_name(code)));
    json_object_set_new(o, "message", json_string(msg));
    /* jansson keeps insertion order: put "ref" last, as the docs show. */
    if (ref) {
        json_object_del(o, "ref");
        json_object_set(o, "ref", (json_t *)ref);
    }
    sig__send(h, c, o);
    /* A client that keeps failing (a flood past the rate limit, garbage
     * in a loop) is closed: answering it forever costs more than it. */
    if (++c->abuse > SIG_ABUSE_MAX && !c->closing) {
        c->closing = true;
        h->closes_abuse++;
        h->ops.close(h->ops.ud, c->handle, SIG_CLOSE_POLICY, "too many errors");
    }
}

bool sig__id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
        if (n >= SIG_ID_MAX)
            return false;
    }
    return n > 0;
}

bool sig__utf8_ok(const char *s)
{
    /* jansson refuses to encode a string that is not UTF-8 (overlong forms
     * and surrogates included), so it is the judge of what can go out. */
    json_t *j = json_string(s);
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

bool sig__room_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SIG_ROOM_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return false;
    }
    /* A room from a message is UTF-8 already (jansson checked it); one
     * from a REST query string is any bytes. */
    return sig__utf8_ok(s);
}

void sig__random_id(char *out)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[SIG_ID_LEN];
    if (cmn_random(r, sizeof(r)) < 0) {
        cmn_err("signal", "no random bytes");
        abort();
    }
    for (size_t i = 0; i < SIG_ID_LEN; i++)
        out[i] = abc[r[i] & 63];
    out[SIG_ID_LEN] = '\0';
}

/* ---- Metrics ------------------------------------------------------------ */

/* The hub and the page renderer share one thread, so this reads the hub's
 * plain counters directly. Names are interface: add, never rename. */
static void one(cmn_prom_t *p, const char *name, const char *type, const char *help,
                uint64_t v)
{
    cmn_prom_family(p, name, type, help);
    cmn_prom_sample_u64(p, name, v, CMN_PROM_END);
}

static const double dlat_bounds[SIG_DLAT_BUCKETS - 1] = {SIG_DLAT_BOUNDS};

void sig_hub_observe_delivery(sig_hub_t *h, double seconds)
{
    size_t i = 0;
    if (seconds < 0)
        seconds = 0;
    while (i < SIG_DLAT_BUCKETS - 1 && seconds > dlat_bounds[i])
        i++;
    h->dlat[i]++;
    h->dlat_count++;
    h->dlat_sum += seconds;
}

void sig__histogram(cmn_prom_t *p, const char *name, const char *help, const double *bounds,
                    const uint64_t *counts, size_t nb, uint64_t count, double sum)
{
    char le[32], bucket[96], sumn[96], countn[96];
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    snprintf(sumn, sizeof(sumn), "%s_sum", name);
    snprintf(countn, sizeof(countn), "%s_count", name);
    cmn_prom_family(p, name, "histogram", help);
    uint64_t acc = 0;
    for (size_t i = 0; i < nb; i++) {
        acc += counts[i];
        if (i < nb - 1)
            snprintf(le, sizeof(le), "%g", bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        cmn_prom_sample_u64(p, bucket, acc, "le", le, CMN_PROM_END);
    }
    cmn_prom_sample(p, sumn, sum, CMN_PROM_END);
    cmn_prom_sample_u64(p, countn, count, CMN_PROM_END);
}

void sig_hub_metrics(const sig_hub_t *h, cmn_prom_t *p)
{
    one(p, "icehub_signal_connections", "gauge", "Signaling WebSocket connections open now.",
        h->nconns);
    one(p, "icehub_signal_connections_total", "counter",
        "Signaling WebSocket connections accepted.", h->conns_total);
    one(p, "icehub_signal_rooms", "gauge", "Signaling rooms with at least one peer.",
        h->rooms.n);
    cmn_prom_family(p, "icehub_signal_peers", "gauge",
                    "Peers in rooms, by state (away: in the resume grace period).");
    cmn_prom_sample_u64(p, "icehub_signal_peers", h->npeers - h->naway, "state", "present",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_signal_peers", h->naway, "state", "away", CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_messages_total", "counter",
                    "Messages received from clients, by type (invalid: unparseable, "
                    "unknown, binary, too large or rate-limited).");
    for (int t = 0; t < SIG_T_COUNT; t++)
        cmn_prom_sample_u64(p, "icehub_signal_messages_total", h->msgs[t], "type",
                            sig_type_name((sig_type_t)t), CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_errors_total", "counter",
                    "Error messages sent to clients, by code.");
    for (int e = 0; e < SIG_E_COUNT; e++)
        cmn_prom_sample_u64(p, "icehub_signal_errors_total", h->errors[e], "code",
                            sig_err_name((sig_err_t)e), CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_resumes_total", "counter",
                    "Resume attempts, by result.");
    cmn_prom_sample_u64(p, "icehub_signal_resumes_total", h->resumes_ok, "result", "success",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_signal_resumes_total", h->resumes_failed, "result",
                        "failure", CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_upgrades_refused_total", "counter",
                    "WebSocket upgrades refused, by reason.");
    for (int r = 0; r < SIG_REFUSE_COUNT; r++)
        cmn_prom_sample_u64(p, "icehub_signal_upgrades_refused_total", h->refused[r], "reason",
                            sig_refuse_name((sig_refuse_t)r), CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_peers_left_total", "counter",
                    "Peers that left their room, by reason.");
    static const char *const left[] = {"leave", "closed", "timeout"};
    for (int i = 0; i < 3; i++)
        cmn_prom_sample_u64(p, "icehub_signal_peers_left_total", h->left[i], "reason", left[i],
                            CMN_PROM_END);
    one(p, "icehub_signal_relayed_messages_total", "counter",
        "signal and broadcast messages delivered or queued for a peer.", h->relayed);
    one(p, "icehub_signal_queued_messages_total", "counter",
        "Messages kept for an away peer.", h->queued);
    one(p, "icehub_signal_expired_messages_total", "counter",
        "Queued messages dropped when their peer's grace period ended.", h->expired);
    one(p, "icehub_signal_credential_refreshes_total", "counter",
        "ice-servers messages pushed before credentials expired.", h->refreshes);
    one(p, "icehub_signal_abuse_closes_total", "counter",
        "Connections closed (1008) after too many errors.", h->closes_abuse);
    sig__histogram(p, "icehub_signal_delivery_seconds",
                   "Time a relayed message spent in the hub, from its arrival to the write "
                   "of its copy to the recipient's socket.",
                   dlat_bounds, h->dlat, SIG_DLAT_BUCKETS, h->dlat_count, h->dlat_sum);
    sig__stats_metrics(h, p);
    if (h->fed)
        sig__fed_metrics(h, p);
}
