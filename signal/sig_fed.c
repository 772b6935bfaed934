/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_fed.c: rooms across nodes (docs/scaling.md). With a node name in
 * the settings, the hub keeps, in each room, the members on other nodes
 * as remote records next to its own peers, and talks to the other nodes
 * through the glue (sig_ops_t.fed, Redis underneath):
 *
 *  - one channel per room. A node subscribes to the rooms it has peers
 *    in, so every node of a room sees the room's events in one order
 *    (Redis delivers a channel's messages in publish order): joins,
 *    leaves, moves, signals, broadcasts. That order is what keeps
 *    "in order per sender" true even while a peer moves between nodes.
 *  - membership lives in Redis. A join is claimed by a script that checks
 *    the id and the room's size for the whole cluster and publishes the
 *    join, with the members, on the room's channel in the same step; the
 *    joining node answers "joined" when that message comes back, so the
 *    member list and the events after it line up exactly.
 *  - while the link is down, the hub decides joins locally, delivers
 *    locally and answers undelivered for remote members; when it is back
 *    it subscribes its rooms again and resynchronises each (SIG_FED_SYNC),
 *    dropping (PRUNE) what the cluster still holds of rooms it left.
 *
 * Here: the requests and pending joins, joins, leaves, signals and
 * broadcasts, and where the cluster's messages come in. The rooms' remote
 * members, resyncs and the link are in sig_fed_room.c, resuming on another
 * node in sig_fed_move.c, the relay director in sig_dir.c. Pure: no
 * sockets, no clock, no Redis.
 */
#include "sig_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_log.h"

static const char *const op_names[SIG_FED_COUNT] = {
    "sub", "unsub", "pub_room", "pub_node", "join", "leave", "move", "sync", "prune", "reap",
};

const char *sig_fed_op_name(sig_fed_op_t op)
{
    return (unsigned)op < SIG_FED_COUNT ? op_names[op] : "other";
}

sig_fed_t *sig__fed_new(const sig_cfg_t *cfg)
{
    sig_fed_t *f = cmn_calloc(1, sizeof(*f));
    snprintf(f->node, sizeof(f->node), "%s", cfg->node);
    f->dir = sig__dir_new(cfg->fed_heartbeat);
    return f;
}

void sig__fed_free(sig_hub_t *h)
{
    sig_fed_t *f = h->fed;
    if (!f)
        return;
    while (f->pend) {
        sig_fpend_t *pd = f->pend;
        f->pend = pd->next;
        json_decref(pd->ref);
        json_decref(pd->state);
        cmn_free(pd);
    }
    sig__dir_free(f->dir);
    cmn_free(f);
    h->fed = NULL;
}

const sig_dir_t *sig__fed_dir(const sig_hub_t *h)
{
    return h->fed ? h->fed->dir : NULL;
}

void sig__fed_token(sig_hub_t *h, char *out)
{
    char r1[SIG_ID_LEN + 1], r2[SIG_ID_LEN + 1];
    sig__random_id(r1);
    sig__random_id(r2);
    snprintf(out, SIG_TOKEN_MAX + 1, "%s.%s%s", h->fed->node, r1, r2);
}

/* ---- Requests and pending work ------------------------------------------ */

int sig__fed_call(sig_hub_t *h, const sig_fed_req_t *r)
{
    sig_fed_t *f = h->fed;
    int rc = h->ops.fed ? h->ops.fed(h->ops.ud, r) : CMN_EAGAIN;
    if (rc < 0)
        f->unqueued++;
    else
        f->ops[r->op]++;
    return rc;
}

uint64_t sig__fed_req_id(sig_fed_t *f)
{
    return ++f->next_req;
}

sig_fpend_t *sig__fed_pend_new(sig_hub_t *h, int kind, sig_conn_t *c, const json_t *ref,
                               double now)
{
    sig_fed_t *f = h->fed;
    sig_fpend_t *pd = cmn_calloc(1, sizeof(*pd));
    pd->kind = kind;
    pd->c = c;
    if (c)
        c->fpend = pd;
    pd->ref = ref ? json_incref((json_t *)ref) : NULL;
    pd->deadline = now + (h->cfg.fed_timeout ? h->cfg.fed_timeout : 2);
    pd->next = f->pend;
    if (f->pend)
        f->pend->prev = pd;
    f->pend = pd;
    return pd;
}

/* Count <pd> against its room, so the room stays while it waits. */
sig_room_t *sig__fed_pend_hold(sig_hub_t *h, sig_fpend_t *pd)
{
    sig_room_t *r = sig__room_get(h, pd->room);
    if (!pd->held) {
        r->npending++;
        pd->held = true;
    }
    return r;
}

void sig__fed_pend_end(sig_hub_t *h, sig_fpend_t *pd)
{
    sig_fed_t *f = h->fed;
    if (pd->prev)
        pd->prev->next = pd->next;
    else
        f->pend = pd->next;
    if (pd->next)
        pd->next->prev = pd->prev;
    if (pd->c)
        pd->c->fpend = NULL;
    sig_room_t *r = pd->held ? sig__room_find(h, pd->room) : NULL;
    json_decref(pd->ref);
    json_decref(pd->state);
    cmn_free(pd);
    if (r) {
        r->npending--;
        sig__room_release(h, r);
    }
}

sig_fpend_t *sig__fed_pend_by_req(sig_fed_t *f, uint64_t req)
{
    for (sig_fpend_t *pd = f->pend; pd && req; pd = pd->next)
        if (pd->req == req)
            return pd;
    return NULL;
}

void sig__fed_pend_fail(sig_hub_t *h, sig_fpend_t *pd, sig_err_t code, const char *msg)
{
    if (pd->c)
        sig__error(h, pd->c, code, msg, pd->ref);
    sig__fed_pend_end(h, pd);
}

/* ---- Joins ---------------------------------------------------------------- */

/* The link is down (or broke): the join is decided here, with the room as
 * this node sees it; the resync after the link returns tells the cluster. */
static void join_local(sig_hub_t *h, sig_fpend_t *pd, double now)
{
    sig_room_t *r = sig__fed_pend_hold(h, pd);
    if (!pd->c) {
        sig__fed_pend_end(h, pd);
        return;
    }
    if (sig__room_peer(r, pd->id)) {
        sig__fed_pend_fail(h, pd, SIG_E_ALREADY_JOINED, "a peer with this id is already in the room");
        return;
    }
    if (r->npeers >= h->cfg.max_room_peers) {
        sig__fed_pend_fail(h, pd, SIG_E_ROOM_FULL, "the room has as many peers as it allows");
        return;
    }
    sig_conn_t *c = pd->c;
    json_t *ref = pd->ref ? json_incref(pd->ref) : NULL;
    sig_peer_t *p = sig__peer_add(h, pd->room, pd->id, c, 0);
    sig__fed_pend_end(h, pd);
    h->fed->local_joins++;
    sig__welcome(h, c, "joined", p, ref, now);
    sig__notify_joined(h, p);
    json_decref(ref);
}

static void join_claim(sig_hub_t *h, sig_fpend_t *pd, double now)
{
    json_t *hd = sig__fed_header(h, "join");
    json_object_set_new(hd, "id", json_string(pd->id));
    size_t len;
    char *text = sig__fmsg_prefix(hd, &len);
    pd->req = sig__fed_req_id(h->fed);
    pd->stage = SIG_FS_RESULT;
    sig_fed_req_t q = {.op = SIG_FED_JOIN, .id = pd->req, .room = pd->room, .peer = pd->id,
                       .max = h->cfg.max_room_peers, .text = text, .len = len};
    int rc = sig__fed_call(h, &q);
    cmn_free(text);
    if (rc < 0)
        join_local(h, pd, now);
}

void sig__fed_join(sig_hub_t *h, sig_conn_t *c, const char *room, const char *id,
                   const json_t *ref, double now)
{
    sig_fpend_t *pd = sig__fed_pend_new(h, SIG_FP_JOIN, c, ref, now);
    snprintf(pd->room, sizeof(pd->room), "%s", room);
    snprintf(pd->id, sizeof(pd->id), "%s", id);
    sig_room_t *r = sig__fed_pend_hold(h, pd);
    sig__fed_room_open(h, r);
    if (r->sub == SIG_RSUB_OK)
        join_claim(h, pd, now);
    else if (r->sub == SIG_RSUB_WAIT)
        pd->stage = SIG_FS_SUB;
    else
        join_local(h, pd, now);
}

/* The join of <m> (its id) in <r>, written by this node, came back on the
 * room's channel: the members in it are the room at that point. */
static void joined_here(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now)
{
    sig_fpend_t *pd = NULL;
    for (sig_fpend_t *q = h->fed->pend; q && !pd; q = q->next)
        if (q->kind == SIG_FP_JOIN && q->stage >= SIG_FS_RESULT && !strcmp(q->id, m->id) &&
            !strcmp(q->room, r->name))
            pd = q;
    sig__fed_reconcile(h, r, m->members, NULL, false, now);
    sig_peer_t *have = sig__room_peer(r, m->id);
    if (have && !have->node[0]) {
        /* Decided here already (the answer was late): now the cluster's. */
        have->seq = m->seq;
        sig__fed_room_sort(r);
        if (pd)
            sig__fed_pend_end(h, pd);
        return;
    }
    if (!pd || !pd->c) {
        /* Its connection went away meanwhile: leave again. */
        if (pd)
            sig__fed_pend_end(h, pd);
        sig__fed_leave_id(h, r->name, m->id, SIG_LEFT_CLOSED);
        return;
    }
    sig_conn_t *c = pd->c;
    json_t *ref = pd->ref ? json_incref(pd->ref) : NULL;
    sig_peer_t *p = sig__peer_add(h, r->name, m->id, c, m->seq);
    sig__fed_pend_end(h, pd);
    sig__welcome(h, c, "joined", p, ref, now);
    sig__notify_joined(h, p);
    json_decref(ref);
}

static void on_join(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now)
{
    if (!strcmp(m->node, h->fed->node)) {
        joined_here(h, r, m, now);
        return;
    }
    sig_peer_t *p = sig__room_peer(r, m->id);
    if (p && !p->node[0]) {
        sig__fed_evict(h, p);
        p = NULL;
    }
    if (p) {
        snprintf(p->node, sizeof(p->node), "%s", m->node);
        p->seq = m->seq;
        sig__fed_confirm(h->fed, p);
        sig__fed_room_sort(r);
        return;
    }
    p = sig__fed_add_remote(h, r, m->id, m->seq, m->node);
    sig__notify_joined(h, p);
}

/* ---- Leaves, relays, notices -------------------------------------------- */

void sig__fed_leave_id(sig_hub_t *h, const char *room, const char *id, int reason)
{
    json_t *hd = sig__fed_header(h, "left");
    json_object_set_new(hd, "id", json_string(id));
    json_object_set_new(hd, "why", json_string(sig__left_name(reason)));
    size_t len;
    char *text = sig__fmsg_encode(hd, NULL, 0, &len);
    sig_fed_req_t q = {.op = SIG_FED_LEAVE, .room = room, .peer = id, .text = text, .len = len};
    sig__fed_call(h, &q);
    cmn_free(text);
}

void sig__fed_left(sig_hub_t *h, sig_peer_t *p, int reason)
{
    if (h->fed->up && !p->node[0])
        sig__fed_leave_id(h, p->room->name, p->id, reason);
}

static void on_left(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m)
{
    sig_peer_t *p = sig__room_peer(r, m->id);
    if (!strcmp(m->node, h->fed->node)) {
        /* The cluster dropped one of ours while it thought us dead (a
         * partition longer than node_ttl): say it is still here. */
        if (p && !p->node[0])
            sig__fed_room_resync(h, r);
        return;
    }
    if (!p || strcmp(p->node, m->node) != 0)
        return; /* not (or no longer) that node's */
    sig__fed_drop_remote(h, r, p);
    sig__notify_left(h, r, m->id, sig__left_name(m->why), NULL);
}

int sig__fed_relay(sig_hub_t *h, sig_peer_t *from, const sig_peer_t *to, const char *text,
                   size_t len, const json_t *ref)
{
    if (!h->fed->up)
        return CMN_EAGAIN;
    json_t *hd = sig__fed_header(h, to ? "sig" : "bc");
    json_object_set_new(hd, "from", json_string(from->id));
    if (to)
        json_object_set_new(hd, "to", json_string(to->id));
    if (ref)
        json_object_set(hd, "ref", (json_t *)ref);
    return sig__fed_publish(h, from->room->name, hd, text, len);
}

void sig__fed_undelivered(sig_hub_t *h, sig_room_t *r, const char *sender, json_t *err)
{
    size_t blen;
    char *body = sig__encode(err, &blen);
    if (h->fed->up) {
        json_t *hd = sig__fed_header(h, "und");
        json_object_set_new(hd, "to", json_string(sender));
        if (sig__fed_publish(h, r->name, hd, body, blen) < 0)
            h->fed->lost_notices++;
    } else {
        h->fed->lost_notices++;
    }
    cmn_free(body);
}

/* Deliver a remote sender's message to local <p>; a full queue is
 * answered on the room's channel. */
static void deliver_remote(sig_hub_t *h, sig_peer_t *p, const sig_fmsg_t *m)
{
    if (sig__deliver(h, p, m->body, m->blen, m->from, m->ref) == 0) {
        h->relayed++;
        return;
    }
    h->errors[SIG_E_UNDELIVERED]++;
    sig__fed_undelivered(h, p->room, m->from,
                         sig__undelivered(p->id, "the peer is away and its queue is full",
                                          m->ref));
}

static void on_relay(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m)
{
    if (!strcmp(m->node, h->fed->node))
        return; /* ours: delivered locally when it was sent */
    if (m->kind == SIG_FK_SIG) {
        sig_peer_t *p = sig__room_peer(r, m->to);
        if (p && !p->node[0])
            deliver_remote(h, p, m);
        return;
    }
    r->npending++; /* a full queue's notice must not free the room under us */
    for (sig_peer_t *p = r->head; p; p = p->next)
        if (!p->node[0] && strcmp(p->id, m->from) != 0)
            deliver_remote(h, p, m);
    r->npending--;
}

static void on_undelivered(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m)
{
    sig_peer_t *p = sig__room_peer(r, m->to);
    if (p && !p->node[0] && strcmp(m->node, h->fed->node) != 0)
        sig__deliver(h, p, m->body, m->blen, NULL, NULL);
}

/* ---- Entry points ---------------------------------------------------------- */

void sig_hub_fed_message(sig_hub_t *h, const char *room, const char *data, size_t len,
                         double now)
{
    sig_fed_t *f = h->fed;
    if (!f)
        return;
    f->now = now;
    sig_fmsg_t m;
    const char *why;
    if (sig__fmsg_decode(data, len, &m, &why) < 0) {
        f->bad++;
        cmn_debug("signal", "cluster message dropped: %s", why);
        return;
    }
    f->in[m.kind]++;
    bool node_kind = m.kind >= SIG_FK_TAKE;
    sig_room_t *r = room ? sig__room_find(h, room) : NULL;
    if (node_kind != !room) {
        f->bad++;
    } else if (!room) {
        sig__fed_node_message(h, &m, now);
    } else if (r) {
        /* Whatever the message does, the room stays until it is done;
         * then it goes if nothing of this node is left in it. */
        r->npending++;
        switch (m.kind) {
        case SIG_FK_JOIN: on_join(h, r, &m, now); break;
        case SIG_FK_LEFT: on_left(h, r, &m); break;
        case SIG_FK_MOVED: sig__fed_on_moved(h, r, &m, now); break;
        case SIG_FK_SYNC: sig__fed_on_sync(h, r, &m, now); break;
        case SIG_FK_UND: on_undelivered(h, r, &m); break;
        default: on_relay(h, r, &m); break;
        }
        r->npending--;
        sig__room_release(h, r);
    }
    sig__fmsg_dispose(&m);
}

void sig_hub_fed_subscribed(sig_hub_t *h, const char *room, double now)
{
    sig_room_t *r = h->fed ? sig__room_find(h, room) : NULL;
    if (!r || r->sub != SIG_RSUB_WAIT)
        return;
    r->sub = SIG_RSUB_OK;
    if (r->resync) {
        r->resync = false;
        sig__fed_room_sync(h, r);
    }
    char name[SIG_ROOM_MAX + 1];
    snprintf(name, sizeof(name), "%s", room);
    for (sig_fpend_t *pd = h->fed->pend, *n; pd; pd = n) {
        n = pd->next;
        if (pd->stage != SIG_FS_SUB || strcmp(pd->room, name) != 0)
            continue;
        if (pd->kind == SIG_FP_JOIN)
            join_claim(h, pd, now);
        else
            sig__fed_move_claim(h, pd, now);
        n = h->fed->pend; /* the list may have changed: start again */
    }
}

void sig_hub_fed_result(sig_hub_t *h, uint64_t id, int status, double now)
{
    sig_fpend_t *pd = h->fed ? sig__fed_pend_by_req(h->fed, id) : NULL;
    if (!pd || pd->stage != SIG_FS_RESULT)
        return;
    if (pd->kind == SIG_FP_RESUME) {
        sig__fed_move_result(h, pd, status, now);
    } else if (status == 0) {
        pd->stage = SIG_FS_MARKER;
    } else if (status == CMN_EEXIST) {
        sig__fed_pend_fail(h, pd, SIG_E_ALREADY_JOINED, "a peer with this id is already in the room");
    } else if (status == CMN_ELIMIT) {
        sig__fed_pend_fail(h, pd, SIG_E_ROOM_FULL, "the room has as many peers as it allows");
    } else {
        join_local(h, pd, now);
    }
}

void sig_hub_fed_node(sig_hub_t *h, const char *data, size_t len, double now)
{
    const char *why;
    if (h->fed)
        h->fed->now = now;
    if (h->fed && sig__dir_update(h->fed->dir, data, len, now, &why) < 0) {
        h->fed->bad++;
        cmn_debug("signal", "heartbeat dropped: %s", why);
    }
}

/* A pending request ran out of time or lost its link. */
void sig__fed_pend_abort(sig_hub_t *h, sig_fpend_t *pd, double now)
{
    if (pd->kind == SIG_FP_JOIN)
        join_local(h, pd, now);
    else
        sig__fed_move_abort(h, pd, now);
}

static void reap_one(void *ctx, const char *node)
{
    sig_hub_t *h = ctx;
    sig_fed_req_t q = {.op = SIG_FED_REAP, .node = node};
    if (strcmp(node, h->fed->node) != 0)
        sig__fed_call(h, &q);
}

void sig__fed_tick(sig_hub_t *h, double now)
{
    sig_fed_t *f = h->fed;
    f->now = now;
    for (sig_fpend_t *pd = f->pend, *n; pd; pd = n) {
        n = pd->next;
        if (now >= pd->deadline) {
            sig__fed_pend_abort(h, pd, now);
            n = f->pend;
        }
    }
    for (sig_peer_t *p = h->away; p; p = p->away_next)
        if (p->move && now >= p->move->until) {
            cmn_free(p->move);
            p->move = NULL;
        }
    if (f->nstale)
        sig__fed_expire_stale(h, now);
    if (!f->up)
        return;
    /* A node silent for two heartbeats: ask Redis to reap it once its
     * heartbeat key is gone (the glue waits for the key's expiry). */
    double hb = h->cfg.fed_heartbeat ? h->cfg.fed_heartbeat : 1;
    double ttl = h->cfg.fed_node_ttl ? h->cfg.fed_node_ttl : 5;
    sig__dir_silent(f->dir, now, 2 * hb, hb, CMN_MAX(10 * ttl, 60.0), reap_one, h);
}

void sig__fed_conn_gone(sig_hub_t *h, sig_conn_t *c)
{
    sig_fpend_t *pd = c->fpend;
    c->fpend = NULL;
    pd->c = NULL;
    /* Before anything was claimed there is nothing to undo. */
    if (pd->stage == SIG_FS_SUB || pd->stage == SIG_FS_TOOK)
        sig__fed_pend_end(h, pd);
}

