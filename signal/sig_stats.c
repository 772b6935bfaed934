/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_stats.c: connection outcomes reported by clients. icehub.js sends one
 * {"type":"stats"} message per peer connection once its outcome is known
 * (docs/signaling.md#stats): connected or failed, the candidate types of
 * the selected pair, the relay's transport, the time to connected and the
 * ICE restarts. Here the hub checks each field against a fixed vocabulary,
 * bounds what one connection can add, and counts the report in
 * icehub_client_connections_total and icehub_client_connect_seconds.
 *
 * What keeps a client from inflating the counts: a report must name a peer
 * that is in the sender's room now; each peer reports each other peer at
 * most once while both stay in the room (sig_peer_t.reported); and each
 * connection may send SIG_STATS_RATE reports a second on average, a room's
 * worth (max_room_peers) at once. Nothing of a report is kept but its
 * words and numbers: no address reaches the hub's state or its logs.
 */
#include "sig_int.h"

#include <math.h>

static const char *const result_names[SIG_RESULT_COUNT] = {"connected", "failed"};
static const char *const cand_names[SIG_CAND_COUNT] = {"none", "host", "srflx", "prflx",
                                                       "relay"};
static const char *const relay_names[SIG_RELAY_COUNT] = {"none", "udp", "tcp", "tls"};
static const char *const drop_names[SIG_STATS_DROP_COUNT] = {"disabled", "duplicate", "rate"};

const char *sig_result_name(sig_result_t r)
{
    return (unsigned)r < SIG_RESULT_COUNT ? result_names[r] : "failed";
}

const char *sig_cand_name(sig_cand_t c)
{
    return (unsigned)c < SIG_CAND_COUNT ? cand_names[c] : "none";
}

const char *sig_relay_name(sig_relay_t r)
{
    return (unsigned)r < SIG_RELAY_COUNT ? relay_names[r] : "none";
}

const char *sig_stats_drop_name(sig_stats_drop_t d)
{
    return (unsigned)d < SIG_STATS_DROP_COUNT ? drop_names[d] : "rate";
}

const sig_client_stats_t *sig_hub_client_stats(const sig_hub_t *h)
{
    return &h->client;
}

/* ---- Checking a report ------------------------------------------------- */

typedef struct report_s {
    const char *peer;
    sig_result_t result;
    sig_cand_t local, remote;
    sig_relay_t relay;
    double seconds;             /* -1 when absent */
    uint32_t restarts;
} report_t;

/* The index of string member <name> among <words[1..n-1]> (words[0] is
 * "none", never accepted on the wire); 0 when absent, -1 when not one. */
static int word_field(const json_t *msg, const char *name, const char *const *words, int n)
{
    json_t *v = json_object_get(msg, name);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -1;
    for (int i = 1; i < n; i++)
        if (!strcmp(json_string_value(v), words[i]))
            return i;
    return -1;
}

/* Fills <r> from <msg>; NULL, or what is wrong with it. */
static const char *report_parse(const json_t *msg, report_t *r)
{
    json_t *peer = json_object_get(msg, "peer"), *res = json_object_get(msg, "result");
    if (!json_is_string(peer) || !sig__id_ok(json_string_value(peer)))
        return "\"peer\" must be the id of a peer in the room";
    r->peer = json_string_value(peer);
    if (!json_is_string(res))
        return "\"result\" must be \"connected\" or \"failed\"";
    if (!strcmp(json_string_value(res), "connected"))
        r->result = SIG_RESULT_CONNECTED;
    else if (!strcmp(json_string_value(res), "failed"))
        r->result = SIG_RESULT_FAILED;
    else
        return "\"result\" must be \"connected\" or \"failed\"";
    int l = word_field(msg, "local", cand_names, SIG_CAND_COUNT);
    int rm = word_field(msg, "remote", cand_names, SIG_CAND_COUNT);
    int rl = word_field(msg, "relay", relay_names, SIG_RELAY_COUNT);
    if (l < 0 || rm < 0)
        return "\"local\" and \"remote\" must be host, srflx, prflx or relay";
    if (rl < 0)
        return "\"relay\" must be udp, tcp or tls";
    if (r->result == SIG_RESULT_CONNECTED && (!l || !rm))
        return "a connected report needs \"local\" and \"remote\"";
    if (r->result == SIG_RESULT_FAILED && (l || rm || rl))
        return "a failed report has no \"local\", \"remote\" or \"relay\"";
    if ((l == SIG_CAND_RELAY) != (rl != 0))
        return "\"relay\" is the transport of a relayed local candidate, and only of one";
    r->local = (sig_cand_t)l;
    r->remote = (sig_cand_t)rm;
    r->relay = (sig_relay_t)rl;
    json_t *secs = json_object_get(msg, "seconds"), *rs = json_object_get(msg, "restarts");
    r->seconds = -1;
    if (secs) {
        double x = json_number_value(secs);
        if (!json_is_number(secs) || !isfinite(x) || x < 0 || x > SIG_STATS_MAX_SECONDS)
            return "\"seconds\" must be a number from 0 to 3600";
        r->seconds = x;
    }
    if (r->result == SIG_RESULT_CONNECTED && r->seconds < 0)
        return "a connected report needs \"seconds\"";
    r->restarts = 0;
    if (rs) {
        if (!json_is_integer(rs) || json_integer_value(rs) < 0 ||
            json_integer_value(rs) > SIG_STATS_MAX_RESTARTS)
            return "\"restarts\" must be an integer from 0 to 1000";
        r->restarts = (uint32_t)json_integer_value(rs);
    }
    return NULL;
}

/* ---- Bounding and counting --------------------------------------------- */

/* Take one report from <c>'s bucket; false when it is empty. */
static bool stats_rate_ok(const sig_hub_t *h, sig_conn_t *c, double now)
{
    double burst = h->cfg.max_room_peers;
    if (c->stats_at == 0)
        c->stats_tokens = burst;
    else if (now > c->stats_at)
        c->stats_tokens = fmin(burst, c->stats_tokens + (now - c->stats_at) * SIG_STATS_RATE);
    c->stats_at = now;
    if (c->stats_tokens < 1.0)
        return false;
    c->stats_tokens -= 1.0;
    return true;
}

static const double csec_bounds[SIG_CSEC_BUCKETS - 1] = {SIG_CSEC_BOUNDS};

/* The value of a sig_peer_t.reported entry: the key is what matters, and a
 * map lookup answers NULL for a missing one. */
static char reported_mark;

static void count(sig_client_stats_t *s, const report_t *r)
{
    s->conns[r->result][r->local][r->remote][r->relay]++;
    s->restarts += r->restarts;
    if (r->result != SIG_RESULT_CONNECTED)
        return;
    size_t i = 0;
    while (i < SIG_CSEC_BUCKETS - 1 && r->seconds > csec_bounds[i])
        i++;
    s->secs[i]++;
    s->secs_count++;
    s->secs_sum += r->seconds;
}

/* Should the hub count <r> from <me>? Drops are counted by reason. */
static bool admit(sig_hub_t *h, sig_conn_t *c, sig_peer_t *me, const report_t *r, double now)
{
    sig_stats_drop_t why;
    if (!h->cfg.client_stats)
        why = SIG_STATS_DROP_DISABLED;
    else if (me->reported && sig__map_get(me->reported, r->peer))
        why = SIG_STATS_DROP_DUPLICATE;
    else if (!stats_rate_ok(h, c, now))
        why = SIG_STATS_DROP_RATE;
    else
        return true;
    h->client.dropped[why]++;
    return false;
}

void sig__stats_report(sig_hub_t *h, sig_conn_t *c, json_t *msg, const json_t *ref, double now)
{
    sig_peer_t *me = c->peer;
    if (!me) {
        sig__error(h, c, SIG_E_NOT_JOINED, "join a room first", ref);
        return;
    }
    report_t r;
    const char *bad = report_parse(msg, &r);
    if (bad) {
        sig__error(h, c, SIG_E_BAD_MESSAGE, bad, ref);
        return;
    }
    sig_peer_t *other = sig__room_peer(me->room, r.peer);
    if (!other || other == me) {
        sig__error(h, c, SIG_E_UNKNOWN_PEER, "no other peer with this id in the room", ref);
        return;
    }
    if (admit(h, c, me, &r, now)) {
        if (!me->reported) {
            me->reported = cmn_malloc(sizeof(*me->reported));
            sig__map_init(me->reported);
        }
        sig__map_put(me->reported, r.peer, &reported_mark);
        count(&h->client, &r);
    }
    if (ref)
        sig__send(h, c, sig__reply("ack", ref));
}

void sig__stats_free(sig_peer_t *p)
{
    if (p->reported) {
        sig__map_dispose(p->reported);
        cmn_free(p->reported);
        p->reported = NULL;
    }
}

void sig__stats_forget(sig_room_t *r, const char *id)
{
    for (sig_peer_t *q = r->head; q; q = q->next)
        if (q->reported)
            sig__map_del(q->reported, id);
}

/* ---- Live upgrade ------------------------------------------------------- */

json_t *sig__stats_export(const sig_peer_t *p)
{
    if (!p->reported || !p->reported->n)
        return NULL;
    json_t *a = json_array();
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, p->reported);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        json_array_append_new(a, json_string(e->key));
    return a;
}

const char *sig__stats_import(sig_hub_t *h, sig_peer_t *p, const json_t *ids)
{
    size_t i;
    json_t *v;
    if (!ids)
        return NULL;
    if (!json_is_array(ids) ||
        (json_array_size(ids) && json_array_size(ids) >= h->cfg.max_room_peers))
        return "reported";
    json_array_foreach(ids, i, v) {
        const char *id = json_string_value(v);
        if (!id || !sig__id_ok(id) || !strcmp(id, p->id) ||
            (p->reported && sig__map_get(p->reported, id)))
            return "reported";
        if (!p->reported) {
            p->reported = cmn_malloc(sizeof(*p->reported));
            sig__map_init(p->reported);
        }
        sig__map_put(p->reported, id, &reported_mark);
    }
    return NULL;
}

void sig__stats_import_done(sig_room_t *r)
{
    for (sig_peer_t *p = r->head; p; p = p->next) {
        if (!p->reported)
            continue;
        cmn_map_iter_t it;
        cmn_map_iter_init(&it, p->reported);
        for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
            if (!sig__room_peer(r, e->key))
                sig__map_del(p->reported, e->key); /* the walk allows it */
    }
}

/* ---- Metrics ------------------------------------------------------------ */

/* Only the label sets that were counted: 200 mostly empty series would
 * bury the few that matter. */
static void connections(const sig_client_stats_t *s, cmn_prom_t *p)
{
    const char *name = "icehub_client_connections_total";
    cmn_prom_family(p, name, "counter",
                    "Peer connections clients reported (stats messages), by result, the "
                    "selected pair's local and remote candidate types, and the local relay's "
                    "transport.");
    for (int res = 0; res < SIG_RESULT_COUNT; res++)
        for (int l = 0; l < SIG_CAND_COUNT; l++)
            for (int r = 0; r < SIG_CAND_COUNT; r++)
                for (int t = 0; t < SIG_RELAY_COUNT; t++)
                    if (s->conns[res][l][r][t])
                        cmn_prom_sample_u64(p, name, s->conns[res][l][r][t], "result",
                                            result_names[res], "local_type", cand_names[l],
                                            "remote_type", cand_names[r], "relay_protocol",
                                            relay_names[t], CMN_PROM_END);
}

void sig__stats_metrics(const sig_hub_t *h, cmn_prom_t *p)
{
    const sig_client_stats_t *s = &h->client;
    connections(s, p);
    sig__histogram(p, "icehub_client_connect_seconds",
                   "Time from a peer connection's start to connected, as clients reported it.",
                   csec_bounds, s->secs, SIG_CSEC_BUCKETS, s->secs_count, s->secs_sum);
    cmn_prom_family(p, "icehub_client_ice_restarts_total", "counter",
                    "ICE restarts the reported peer connections made.");
    cmn_prom_sample_u64(p, "icehub_client_ice_restarts_total", s->restarts, CMN_PROM_END);
    cmn_prom_family(p, "icehub_client_reports_dropped_total", "counter",
                    "Well-formed stats reports not counted, by reason.");
    for (int d = 0; d < SIG_STATS_DROP_COUNT; d++)
        cmn_prom_sample_u64(p, "icehub_client_reports_dropped_total", s->dropped[d], "reason",
                            drop_names[d], CMN_PROM_END);
}
