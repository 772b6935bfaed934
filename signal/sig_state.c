/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_state.c: the hub's rooms and peers as JSON and back, so a live
 * upgrade can move them to a new process: the old one exports, closes its
 * WebSockets, and the new one imports; each client then reconnects and
 * resumes with the token it holds, keeping its peer id and its peer
 * connections, and gets what was queued for it meanwhile.
 *
 *   {"version":1,"rooms":[{"name":"r","peers":[{"id":"Xb3..","resume":"..",
 *     "away_until":1800000000.5,"queue":[{"text":"{..}","from":"Qa1..",
 *     "ref":<any JSON or null>}],"reported":["Qa1.."]}]}]}
 *
 * "reported" (optional) lists the peers this one sent a stats report about
 * (sig_stats.c), so the new process does not count those pairs again.
 *
 * In a cluster (redis.url) a peer also carries its join order ("seq"), and
 * a room its members on other nodes, {"id":..,"node":"n2","seq":7} (a
 * local peer resuming on another node at the export counts as that
 * node's): the new process knows them at once, so its peers hear no
 * peer-joined for members they already had when the link resynchronises
 * (sig_fed_room.c). A process without federation skips those records.
 *
 * Every peer arrives away: one whose socket was open at the export gets
 * the whole resume grace period (signal.resume_seconds) from then. Times
 * are wall seconds, as the hub's are. Connections, rate buckets and counters
 * are not moved: they start afresh with the new sockets.
 *
 * The import trusts nothing (another process wrote it): jansson parses,
 * then every field is checked (names and ids as a join would be, tokens as
 * the hub makes them, no duplicates, queues within signal.resume_queue).
 * Pure: no sockets, no clock of its own.
 */
#include "sig_int.h"

#include <math.h>

#define SIG_RESUME_LEN 32           /* two sig__random_id: see sig__peer_new_resume */

static json_t *peer_json(const sig_hub_t *h, const sig_peer_t *p, double now)
{
    json_t *o = json_object(), *q = json_array();
    json_object_set_new(o, "id", json_string(p->id));
    if (h->fed)
        json_object_set_new(o, "seq", json_integer((json_int_t)p->seq));
    const char *node = p->node[0] ? p->node : p->move ? p->move->to : NULL;
    if (node) {
        json_object_set_new(o, "node", json_string(node));
        json_decref(q);
        return o;
    }
    json_object_set_new(o, "resume", json_string(p->resume));
    double until = p->conn ? now + h->cfg.resume_seconds : p->away_until;
    json_object_set_new(o, "away_until", json_real(until));
    for (const sig_qmsg_t *m = p->qhead; m; m = m->next) {
        json_t *e = json_object();
        json_object_set_new(e, "text", json_stringn(m->text, m->len));
        json_object_set_new(e, "from", json_string(m->from));
        json_object_set(e, "ref", m->ref ? m->ref : json_null());
        json_array_append_new(q, e);
    }
    json_object_set_new(o, "queue", q);
    json_t *reported = sig__stats_export(p);
    if (reported)
        json_object_set_new(o, "reported", reported);
    return o;
}

/* Does <r> keep a peer of this node (one not leaving for another)? */
static bool room_kept(const sig_room_t *r)
{
    for (const sig_peer_t *p = r->head; p; p = p->next)
        if (!p->node[0] && !p->move)
            return true;
    return false;
}

char *sig_hub_export(const sig_hub_t *h, double now, size_t *len)
{
    json_t *rooms = json_array();
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, (cmn_map_t *)&h->rooms);
    /* Without a grace period nobody could resume: nothing to move. */
    for (sig_map_ent_t *e; h->cfg.resume_seconds && (e = sig__map_walk(&it));) {
        const sig_room_t *r = e->val;
        if (!room_kept(r))
            continue;
        json_t *peers = json_array();
        for (const sig_peer_t *p = r->head; p; p = p->next)
            json_array_append_new(peers, peer_json(h, p, now));
        json_t *ro = json_object();
        json_object_set_new(ro, "name", json_string(r->name));
        json_object_set_new(ro, "peers", peers);
        json_array_append_new(rooms, ro);
    }
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(SIG_STATE_VERSION));
    json_object_set_new(o, "rooms", rooms);
    return sig__encode(o, len);
}

/* ---- Import ------------------------------------------------------------ */

/* A token as the hub makes them: 32 url-safe characters, in a cluster
 * after the node's name and a dot (sig__peer_new_resume). */
static bool token_ok(const char *s)
{
    const char *dot = s ? strchr(s, '.') : NULL;
    if (dot) {
        char node[SIG_NODE_MAX + 1];
        if ((size_t)(dot - s) >= sizeof(node))
            return false;
        memcpy(node, s, (size_t)(dot - s));
        node[dot - s] = '\0';
        if (!sig__node_ok(node))
            return false;
        s = dot + 1;
    }
    if (!s || strlen(s) != SIG_RESUME_LEN)
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return false;
    return true;
}

/* Queue <q> (an array) for <p>, as sig__deliver would have. */
static const char *queue_in(sig_hub_t *h, sig_peer_t *p, json_t *q)
{
    size_t i;
    json_t *m;
    if (!json_is_array(q) || json_array_size(q) > h->cfg.resume_queue)
        return "queue";
    json_array_foreach(q, i, m) {
        const char *text = json_string_value(json_object_get(m, "text"));
        const char *from = json_string_value(json_object_get(m, "from"));
        json_t *ref = json_object_get(m, "ref");
        if (!text || !from || (from[0] && !sig__id_ok(from)) || !ref)
            return "queue";
        sig_qmsg_t *e = cmn_calloc(1, sizeof(*e));
        e->len = json_string_length(json_object_get(m, "text"));
        e->text = cmn_malloc(e->len + 1);
        memcpy(e->text, text, e->len + 1);
        snprintf(e->from, sizeof(e->from), "%s", from);
        e->ref = json_is_null(ref) ? NULL : json_incref(ref);
        if (p->qtail)
            p->qtail->next = e;
        else
            p->qhead = e;
        p->qtail = e;
        p->qlen++;
    }
    return NULL;
}

/* A member of <room> on another node; NULL or what was wrong. */
static const char *remote_in(sig_hub_t *h, const char *room, const char *id, json_t *o)
{
    const char *node = json_string_value(json_object_get(o, "node"));
    json_t *seq = json_object_get(o, "seq");
    if (!node || !sig__node_ok(node) || !json_is_integer(seq) || json_integer_value(seq) < 0)
        return "node";
    if (h->fed && strcmp(node, h->fed->node) != 0)
        sig__fed_add_remote(h, sig__room_get(h, room), id, (uint64_t)json_integer_value(seq),
                            node);
    return NULL; /* without federation (or named as this node: stale) it is not ours */
}

/* One peer of room <room>, away if ours; NULL or what was wrong. */
static const char *peer_in(sig_hub_t *h, const char *room, json_t *o, double now)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!id || !sig__id_ok(id) || sig__room_peer(sig__room_find(h, room), id))
        return "peer id";
    if (json_object_get(o, "node"))
        return remote_in(h, room, id, o);
    const char *tok = json_string_value(json_object_get(o, "resume"));
    json_t *au = json_object_get(o, "away_until"), *seq = json_object_get(o, "seq");
    double until = json_number_value(au);
    if (!token_ok(tok) || sig__map_get(&h->resumes, tok))
        return "resume token";
    if (!json_is_number(au) || !isfinite(until) || until > now + 86400.0)
        return "away_until";
    if (seq && (!json_is_integer(seq) || json_integer_value(seq) < 0))
        return "seq";
    sig_peer_t *p = sig__peer_add(h, room, id, NULL, (uint64_t)json_integer_value(seq));
    sig__map_del(&h->resumes, p->resume);
    snprintf(p->resume, sizeof(p->resume), "%s", tok);
    sig__map_put(&h->resumes, p->resume, p);
    sig__peer_away(h, p, until);
    const char *bad = sig__stats_import(h, p, json_object_get(o, "reported"));
    return bad ? bad : queue_in(h, p, json_object_get(o, "queue"));
}

int sig_hub_import(sig_hub_t *h, const char *text, size_t len, double now, const char **why)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *rooms = json_object_get(j, "rooms");
    *why = NULL;
    if (!j || json_integer_value(json_object_get(j, "version")) != SIG_STATE_VERSION ||
        !json_is_array(rooms))
        *why = "version";
    if (h->fed)
        h->fed->now = now; /* remote members' nodes are watched from here */
    size_t i, k;
    json_t *r, *p;
    json_array_foreach(rooms, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        json_t *peers = json_object_get(r, "peers");
        if (*why)
            break;
        if (!name || !sig__room_ok(name) || sig__room_find(h, name) || !json_is_array(peers) ||
            !json_array_size(peers))
            *why = "room";
        json_array_foreach(peers, k, p) {
            if (*why || (*why = peer_in(h, name, p, now)))
                break;
        }
        sig_room_t *in = *why ? NULL : sig__room_find(h, name);
        if (in && !in->nlocal)
            sig__room_release(h, in); /* only other nodes' members: not ours to keep */
        else if (in)
            sig__stats_import_done(in);
    }
    json_decref(j);
    return *why ? CMN_EINVAL : 0;
}
