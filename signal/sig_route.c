/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_route.c: where a client's message enters the hub (sig_conn_text,
 * and the binary and oversized ones the glue reports): the per-connection
 * rate limit, JSON parsing, then one handler per message type
 * (docs/signaling.md): join, signal, broadcast, leave, resume,
 * ice-servers, ping, and stats (sig_stats.c). Each checks its fields,
 * then changes the hub through sig_hub.c and answers. Every reply and error echoes the message's "ref".
 */
#include "sig_int.h"

typedef struct route_ctx_s {
    sig_hub_t *h;
    sig_conn_t *c;
    json_t *msg;
    const char *raw;            /* borrowed: the message as received */
    size_t raw_len;
    const json_t *ref;          /* borrowed from msg, or NULL */
    double now;
} route_ctx_t;

static void fail(route_ctx_t *x, sig_err_t code, const char *text)
{
    sig__error(x->h, x->c, code, text, x->ref);
}

/* A string member, or NULL when absent; *bad is set when present but not
 * a string. */
static const char *str_field(route_ctx_t *x, const char *name, bool *bad)
{
    json_t *v = json_object_get(x->msg, name);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    /* Strings with an embedded NUL cannot be ids or names. */
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static json_t *peer_ids(const sig_peer_t *self)
{
    json_t *a = json_array();
    for (const sig_peer_t *p = self->room->head; p; p = p->next)
        if (p != self)
            json_array_append_new(a, json_string(p->id));
    return a;
}

void sig__welcome(sig_hub_t *h, sig_conn_t *c, const char *type, sig_peer_t *p,
                  const json_t *ref, double now)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "room", json_string(p->room->name));
    json_object_set_new(o, "id", json_string(p->id));
    json_object_set_new(o, "peers", peer_ids(p));
    json_object_set_new(o, "iceServers", sig__ice_json(h, c, now));
    json_object_set_new(o, "resume", json_string(p->resume));
    json_object_set_new(o, "resumeSeconds", json_integer(h->cfg.resume_seconds));
    json_object_set_new(o, "clientStats", json_boolean(h->cfg.client_stats));
    if (ref)
        json_object_set(o, "ref", (json_t *)ref);
    sig__send(h, c, o);
    sig__conn_refresh_at(h, c, now);
}

/* Which peer id a join gets: the token's, the requested one, or random.
 * Returns false after answering an error. */
static bool join_identity(route_ctx_t *x, const char *room, char *id)
{
    bool bad = false;
    const char *token = str_field(x, "token", &bad);
    const char *want = str_field(x, "peer", &bad);
    if (bad || (want && !sig__id_ok(want))) {
        fail(x, SIG_E_BAD_MESSAGE, "\"token\" and \"peer\" must be strings; a peer id is "
                                   "1-64 characters of A-Z a-z 0-9 - _");
        return false;
    }
    char bound[SIG_ID_MAX + 1] = "";
    if (!token && x->h->cfg.require_token) {
        fail(x, SIG_E_TOKEN_REQUIRED, "this hub requires a room token to join");
        return false;
    }
    if (token && sig_token_verify(&x->h->cfg, token, room, x->now, bound) < 0) {
        fail(x, SIG_E_BAD_TOKEN, "the room token is invalid, expired or for another room");
        return false;
    }
    if (bound[0] && want && strcmp(bound, want) != 0) {
        fail(x, SIG_E_BAD_TOKEN, "the room token is for another peer id");
        return false;
    }
    if (bound[0])
        snprintf(id, SIG_ID_MAX + 1, "%s", bound);
    else if (want)
        snprintf(id, SIG_ID_MAX + 1, "%s", want);
    else
        sig__random_id(id);
    return true;
}

static void on_join(route_ctx_t *x)
{
    sig_hub_t *h = x->h;
    if (x->c->peer || x->c->fpend) {
        fail(x, SIG_E_ALREADY_JOINED, "this connection is already in a room; leave first");
        return;
    }
    if (h->draining) {
        fail(x, SIG_E_DRAINING, "this server is shutting down; join another");
        return;
    }
    bool bad = false;
    const char *room = str_field(x, "room", &bad);
    if (!room || bad) {
        fail(x, SIG_E_BAD_ROOM, "\"room\" must be a string");
        return;
    }
    if (!sig__room_ok(room)) {
        fail(x, SIG_E_BAD_ROOM, "a room name is 1-128 bytes without control characters");
        return;
    }
    char id[SIG_ID_MAX + 1];
    if (!join_identity(x, room, id))
        return;
    sig_room_t *r = sig__room_find(h, room);
    if (!r && h->rooms.n >= h->cfg.max_rooms) {
        fail(x, SIG_E_TOO_MANY_ROOMS, "the server has as many rooms as it allows");
        return;
    }
    if (r && r->npeers >= h->cfg.max_room_peers) {
        fail(x, SIG_E_ROOM_FULL, "the room has as many peers as it allows");
        return;
    }
    if (r && sig__room_peer(r, id)) {
        fail(x, SIG_E_ALREADY_JOINED, "a peer with this id is already in the room");
        return;
    }
    if (h->fed) {
        /* The cluster decides (the id's owner and the room's size count on
         * every node); the answer comes later. */
        sig__fed_join(h, x->c, room, id, x->ref, x->now);
        return;
    }
    sig_peer_t *p = sig__peer_add(h, room, id, x->c, 0);
    sig__welcome(h, x->c, "joined", p, x->ref, x->now);
    sig__notify_joined(h, p);
}

json_t *sig__undelivered(const char *to, const char *why, const json_t *ref)
{
    json_t *o = sig__reply("error", NULL);
    json_object_set_new(o, "code", json_string(sig_err_name(SIG_E_UNDELIVERED)));
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(o, "message", json_string(why));
    if (ref)
        json_object_set(o, "ref", (json_t *)ref);
    return o;
}

static void send_undelivered(route_ctx_t *x, const char *to, const char *why)
{
    x->h->errors[SIG_E_UNDELIVERED]++;
    sig__send(x->h, x->c, sig__undelivered(to, why, x->ref));
}

/* signal and broadcast: {"type":T,"from":ME,"data":ANY} to one or all. */
static void on_relay(route_ctx_t *x, bool broadcast)
{
    sig_hub_t *h = x->h;
    sig_peer_t *me = x->c->peer;
    if (!me) {
        fail(x, SIG_E_NOT_JOINED, "join a room first");
        return;
    }
    json_t *data = json_object_get(x->msg, "data");
    if (!data) {
        fail(x, SIG_E_BAD_MESSAGE, "\"data\" is missing");
        return;
    }
    sig_peer_t *to = NULL;
    if (!broadcast) {
        bool bad = false;
        const char *tid = str_field(x, "to", &bad);
        if (!tid || bad) {
            fail(x, SIG_E_BAD_MESSAGE, "\"to\" must be a peer id string");
            return;
        }
        to = sig__room_peer(me->room, tid);
        if (!to) {
            fail(x, SIG_E_UNKNOWN_PEER, "no peer with this id in the room");
            return;
        }
    }
    /* "data" as its sender wrote it: jansson accepted the whole message,
     * so the relay copies that text rather than encoding it again. */
    size_t len;
    char *text = sig__relay_text(x->raw, x->raw_len, broadcast ? "broadcast" : "signal", me->id,
                                 data, &len);
    bool failed = false, remote = false;
    for (sig_peer_t *q = broadcast ? me->room->head : to; q; q = broadcast ? q->next : NULL) {
        if (broadcast && q == me)
            continue;
        if (q->node[0]) {
            remote = true; /* one message to the room's channel covers them all */
        } else if (sig__deliver(h, q, text, len, me->id, x->ref) < 0) {
            send_undelivered(x, q->id, "the peer is away and its queue is full");
            failed = true;
        } else {
            h->relayed++;
        }
    }
    /* Peers on other nodes: handed to the cluster (their node answers
     * undelivered if their queue is full). Without a link, each of them
     * is undelivered now. */
    if (remote && sig__fed_relay(h, me, broadcast ? NULL : to, text, len, x->ref) < 0) {
        for (sig_peer_t *q = broadcast ? me->room->head : to; q; q = broadcast ? q->next : NULL)
            if (q->node[0])
                send_undelivered(x, q->id, "the peer is on another node, which cannot be "
                                           "reached now");
        failed = true;
    }
    cmn_free(text);
    /* A broadcast is acknowledged once it reached the room (those it did
     * not reach were named above); a signal only when it got through. */
    if (x->ref && (broadcast || !failed))
        sig__send(h, x->c, sig__reply("ack", x->ref));
}

static void on_leave(route_ctx_t *x)
{
    sig_peer_t *me = x->c->peer;
    if (!me) {
        fail(x, SIG_E_NOT_JOINED, "not in a room");
        return;
    }
    json_t *o = sig__reply("left", NULL);
    json_object_set_new(o, "room", json_string(me->room->name));
    if (x->ref)
        json_object_set(o, "ref", (json_t *)x->ref);
    sig__peer_remove(x->h, me, SIG_LEFT_LEAVE);
    sig__send(x->h, x->c, o);
}

void sig__resume_finish(sig_hub_t *h, sig_conn_t *c, sig_peer_t *p, const json_t *ref,
                        double now)
{
    p->conn = c;
    c->peer = p;
    sig__peer_new_resume(h, p);
    h->resumes_ok++;
    sig__welcome(h, c, "resumed", p, ref, now);
    sig_qmsg_t *q = p->qhead;
    p->qhead = p->qtail = NULL;
    p->qlen = 0;
    while (q) {
        sig_qmsg_t *n = q->next;
        h->ops.send(h->ops.ud, c->handle, q->text, q->len);
        h->relayed++;
        cmn_free(q->text);
        if (q->ref)
            json_decref(q->ref);
        cmn_free(q);
        q = n;
    }
}

static void on_resume(route_ctx_t *x)
{
    sig_hub_t *h = x->h;
    if (x->c->peer || x->c->fpend) {
        fail(x, SIG_E_ALREADY_JOINED, "this connection is already in a room");
        return;
    }
    if (h->draining) {
        fail(x, SIG_E_DRAINING, "this server is shutting down; join another");
        return;
    }
    bool bad = false;
    const char *token = str_field(x, "token", &bad);
    sig_peer_t *p = token && !bad ? sig__map_get(&h->resumes, token) : NULL;
    if (!p && token && !bad && h->fed) {
        /* Perhaps another node's peer: that node hands it over. */
        sig__fed_resume(h, x->c, token, x->ref, x->now);
        return;
    }
    /* A peer whose socket the hub closed (abuse, close_all) leaves with
     * that socket: it cannot come back in the moment before the glue
     * reports it gone. One moving to another node is that node's now. */
    if (!p || (p->conn && p->conn->closing) || p->move) {
        h->resumes_failed++;
        fail(x, SIG_E_RESUME_FAILED, "unknown or expired resume token; join again");
        return;
    }
    if (p->conn) {
        /* The old socket is not known dead yet (a network change): the
         * new one takes over and the old one is closed. */
        sig__conn_detach(h, p, "resumed on another connection");
    } else {
        p->away_until = 0;
        sig__away_unlink(h, p);
    }
    sig__resume_finish(h, x->c, p, x->ref, x->now);
}

static void on_ice_servers(route_ctx_t *x)
{
    json_t *o = sig__reply("ice-servers", NULL);
    json_object_set_new(o, "iceServers", sig__ice_json(x->h, x->c, x->now));
    json_object_set_new(o, "ttl", json_integer(x->h->cfg.credential_ttl));
    if (x->ref)
        json_object_set(o, "ref", (json_t *)x->ref);
    sig__send(x->h, x->c, o);
    sig__conn_refresh_at(x->h, x->c, x->now);
}

static sig_type_t type_of(const char *t)
{
    for (int i = 0; i < SIG_T_INVALID; i++)
        if (!strcmp(t, sig_type_name((sig_type_t)i)))
            return (sig_type_t)i;
    return SIG_T_INVALID;
}

static void route(sig_hub_t *h, sig_conn_t *c, json_t *msg, const char *raw, size_t rlen,
                  double now)
{
    route_ctx_t x = {.h = h, .c = c, .msg = msg, .raw = raw, .raw_len = rlen, .now = now};
    if (!json_is_object(msg)) {
        h->msgs[SIG_T_INVALID]++;
        fail(&x, SIG_E_BAD_MESSAGE, "a message is a JSON object");
        return;
    }
    json_t *ref = json_object_get(msg, "ref");
    if (ref && !json_is_string(ref) && !json_is_integer(ref) && !json_is_real(ref)) {
        h->msgs[SIG_T_INVALID]++;
        fail(&x, SIG_E_BAD_MESSAGE, "\"ref\" must be a string or a number");
        return;
    }
    x.ref = ref;
    json_t *type = json_object_get(msg, "type");
    sig_type_t t = json_is_string(type) ? type_of(json_string_value(type)) : SIG_T_INVALID;
    h->msgs[t]++;
    switch (t) {
    case SIG_T_JOIN: on_join(&x); break;
    case SIG_T_SIGNAL: on_relay(&x, false); break;
    case SIG_T_BROADCAST: on_relay(&x, true); break;
    case SIG_T_LEAVE: on_leave(&x); break;
    case SIG_T_RESUME: on_resume(&x); break;
    case SIG_T_ICE_SERVERS: on_ice_servers(&x); break;
    case SIG_T_PING: sig__send(h, c, sig__reply("pong", ref)); break;
    case SIG_T_STATS: sig__stats_report(h, c, msg, ref, now); break;
    default:
        fail(&x, SIG_E_BAD_MESSAGE, type ? "unknown \"type\"" : "\"type\" is missing");
        break;
    }
}

/* ---- Entry points ------------------------------------------------------- */

/* Take one token from the bucket; false when it is empty. */
static bool conn_rate_ok(sig_hub_t *h, sig_conn_t *c, double now)
{
    double dt = now - c->tokens_at;
    if (dt > 0) {
        c->tokens += dt * h->cfg.rate;
        if (c->tokens > h->cfg.burst)
            c->tokens = h->cfg.burst;
    }
    c->tokens_at = now;
    if (c->tokens < 1.0)
        return false;
    c->tokens -= 1.0;
    return true;
}

static bool conn_admit_msg(sig_hub_t *h, sig_conn_t *c, double now)
{
    if (c->closing)
        return false;
    if (now - c->abuse_start >= SIG_ABUSE_WINDOW) {
        c->abuse_start = now;
        c->abuse = 0;
    }
    if (!conn_rate_ok(h, c, now)) {
        h->msgs[SIG_T_INVALID]++;
        sig__error(h, c, SIG_E_RATE_LIMITED, "too many messages; slow down", NULL);
        return false;
    }
    return true;
}

void sig_conn_text(sig_hub_t *h, sig_conn_t *c, const char *data, size_t len, double now)
{
    if (!conn_admit_msg(h, c, now))
        return;
    if (len > h->cfg.max_message) {
        h->msgs[SIG_T_INVALID]++;
        sig__error(h, c, SIG_E_TOO_LARGE, "message larger than signal.max_message", NULL);
        return;
    }
    json_error_t jerr;
    json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg) {
        h->msgs[SIG_T_INVALID]++;
        sig__error(h, c, SIG_E_BAD_MESSAGE, "not valid JSON (or not UTF-8)", NULL);
        return;
    }
    route(h, c, msg, data, len, now);
    json_decref(msg);
}

void sig_conn_binary(sig_hub_t *h, sig_conn_t *c, double now)
{
    if (!conn_admit_msg(h, c, now))
        return;
    h->msgs[SIG_T_INVALID]++;
    sig__error(h, c, SIG_E_BINARY, "binary frames are not supported; send JSON text", NULL);
}

void sig_conn_too_large(sig_hub_t *h, sig_conn_t *c, double now)
{
    if (!conn_admit_msg(h, c, now))
        return;
    h->msgs[SIG_T_INVALID]++;
    sig__error(h, c, SIG_E_TOO_LARGE, "message larger than signal.max_message", NULL);
}
