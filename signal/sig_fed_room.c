/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_fed_room.c: a federated hub's rooms as the cluster sees them: the
 * room's channel subscription, publishing on it, the remote members
 * (records of the peers on other nodes) and how they are reconciled with a
 * list of members from Redis (a join, a move, a resync), members that turn
 * stale after Redis lost its data, the link going down and coming back
 * (every room resubscribed and resynchronised, what this node left behind
 * pruned), and the icehub_cluster_* families of the hub. Joins, relays and
 * the message dispatch are in sig_fed.c.
 */
#include "sig_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_log.h"

/* ---- Rooms --------------------------------------------------------------- */

void sig__fed_room_open(sig_hub_t *h, sig_room_t *r)
{
    if (!h->fed->up || r->sub != SIG_RSUB_NONE)
        return;
    sig_fed_req_t q = {.op = SIG_FED_SUB, .room = r->name};
    if (sig__fed_call(h, &q) == 0)
        r->sub = SIG_RSUB_WAIT;
}

void sig__fed_room_close(sig_hub_t *h, sig_room_t *r)
{
    if (h->fed->up && r->sub != SIG_RSUB_NONE) {
        sig_fed_req_t q = {.op = SIG_FED_UNSUB, .room = r->name};
        sig__fed_call(h, &q);
    }
    r->sub = SIG_RSUB_NONE;
}

/* Publish <hdr> (consumed), with <body> when blen > 0, on <r>'s channel. */
int sig__fed_publish(sig_hub_t *h, const char *room, json_t *hdr, const char *body, size_t blen)
{
    size_t len;
    char *text = sig__fmsg_encode(hdr, body, blen, &len);
    sig_fed_req_t q = {.op = SIG_FED_PUB_ROOM, .room = room, .text = text, .len = len};
    int rc = sig__fed_call(h, &q);
    cmn_free(text);
    return rc;
}

json_t *sig__fed_header(sig_hub_t *h, const char *kind)
{
    json_t *o = json_object();
    json_object_set_new(o, "k", json_string(kind));
    json_object_set_new(o, "n", json_string(h->fed->node));
    return o;
}

/* This node's members of <r> are these: tell the cluster (SIG_FED_SYNC). */
void sig__fed_room_sync(sig_hub_t *h, sig_room_t *r)
{
    const char **ids = cmn_calloc(r->nlocal + 1, sizeof(*ids));
    size_t n = 0;
    for (sig_peer_t *p = r->head; p; p = p->next)
        if (!p->node[0] && n < r->nlocal)
            ids[n++] = p->id;
    size_t len;
    char *text = sig__fmsg_prefix(sig__fed_header(h, "sync"), &len);
    sig_fed_req_t q = {.op = SIG_FED_SYNC, .room = r->name, .text = text, .len = len,
                       .list = ids, .nlist = n};
    if (sig__fed_call(h, &q) == 0)
        h->fed->syncs++;
    cmn_free(text);
    cmn_free(ids);
}

/* Resynchronise <r> now if its channel is subscribed, else once it is. */
void sig__fed_room_resync(sig_hub_t *h, sig_room_t *r)
{
    if (!h->fed->up || !r->nlocal)
        return;
    if (r->sub == SIG_RSUB_OK) {
        sig__fed_room_sync(h, r);
    } else {
        r->resync = true;
        sig__fed_room_open(h, r);
    }
}

/* ---- Members on other nodes ---------------------------------------------- */

sig_peer_t *sig__fed_add_remote(sig_hub_t *h, sig_room_t *r, const char *id, uint64_t seq,
                                const char *node)
{
    /* A node never heard from (it may have died before this one started)
     * is watched like any other: silent, it is reaped. */
    sig__dir_touch(h->fed->dir, node, h->fed->now);
    sig_peer_t *p = cmn_calloc(1, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->node, sizeof(p->node), "%s", node);
    p->seq = seq;
    sig__room_insert(r, p);
    return p;
}

void sig__fed_drop_remote(sig_hub_t *h, sig_room_t *r, sig_peer_t *p)
{
    sig__fed_confirm(h->fed, p);
    sig__room_unlink(r, p);
    cmn_free(p);
}

static int by_seq(const void *x, const void *y)
{
    const sig_peer_t *a = *(sig_peer_t *const *)x, *b = *(sig_peer_t *const *)y;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return a->mark < b->mark ? -1 : a->mark > b->mark; /* not reached for distinct seqs */
}

/* Order <r>'s members by seq again (a resync may renumber them). */
void sig__fed_room_sort(sig_room_t *r)
{
    size_t n = r->npeers, i = 0;
    if (n < 2)
        return;
    sig_peer_t **v = cmn_calloc(n, sizeof(*v));
    for (sig_peer_t *p = r->head; p && i < n; p = p->next)
        v[i++] = p;
    qsort(v, i, sizeof(*v), by_seq);
    r->head = v[0];
    r->tail = v[i - 1];
    for (size_t k = 0; k < i; k++) {
        v[k]->prev = k ? v[k - 1] : NULL;
        v[k]->next = k + 1 < i ? v[k + 1] : NULL;
    }
    cmn_free(v);
}

/* A local peer the cluster gives to another node (a join decided here
 * while the link was down): it goes; its connection hears why. */
void sig__fed_evict(sig_hub_t *h, sig_peer_t *p)
{
    sig_room_t *r = p->room;
    h->fed->conflicts++;
    cmn_warn("signal", "peer \"%s\" of room \"%s\" is held by another node; dropping ours",
             p->id, r->name);
    if (p->conn)
        sig__error(h, p->conn, SIG_E_ALREADY_JOINED,
                   "another node of the cluster holds this peer id in the room; join again",
                   NULL);
    r->npending++;
    sig__peer_unlink(h, p);
    r->npending--;
}

/* Make <r>'s remote records those of <members> ([[ID, SEQ, NODE], ...]),
 * for every node or only node <only>; with <notify> the local peers hear
 * peer-joined for members new to them. Local peers the members give to
 * another node are evicted.
 *
 * A member missing from the list of one node (<only>) is gone: that node
 * wrote it, it knows. Missing from a whole room's list (a join, move or
 * resync of this node) it may only not be back yet: after Redis lost its
 * data, every node writes its own members again as it reconnects. Such a
 * record turns stale and leaves (peer-left "closed") only if its node has
 * not confirmed it within SIG_FED_STALE node_ttls. */
void sig__fed_reconcile(sig_hub_t *h, sig_room_t *r, const json_t *members, const char *only,
                        bool notify, double now)
{
    sig_fed_t *f = h->fed;
    const char *self = f->node;
    r->npending++; /* the room stays while it changes */
    for (sig_peer_t *p = r->head; p; p = p->next)
        p->mark = false;
    size_t i;
    const json_t *e;
    json_array_foreach(members, i, e) {
        const char *id = json_string_value(json_array_get(e, 0));
        uint64_t seq = (uint64_t)json_integer_value(json_array_get(e, 1));
        const char *node = json_string_value(json_array_get(e, 2));
        sig_peer_t *p = sig__room_peer(r, id);
        if (!strcmp(node, self)) {
            if (p && !p->node[0])
                p->seq = seq;
            if (p)
                p->mark = true;
            continue;
        }
        if (only && strcmp(node, only) != 0)
            continue;
        bool known = p != NULL;
        if (p && !p->node[0]) {
            /* The id stays in the room (on another node): the others hear
             * nothing, only the evicted connection does. */
            sig__fed_evict(h, p);
            p = NULL;
        }
        if (p) {
            snprintf(p->node, sizeof(p->node), "%s", node);
            p->seq = seq;
            sig__fed_confirm(f, p);
        } else {
            p = sig__fed_add_remote(h, r, id, seq, node);
            if (notify && !known)
                sig__notify_joined(h, p);
        }
        p->mark = true;
    }
    double grace = SIG_FED_STALE * (h->cfg.fed_node_ttl ? h->cfg.fed_node_ttl : 5);
    for (sig_peer_t *p = r->head, *n; p; p = n) {
        n = p->next;
        if (p->mark || !p->node[0] || (only && strcmp(p->node, only) != 0))
            continue;
        if (!only) {
            if (!p->stale_until) {
                p->stale_until = now + grace;
                f->nstale++;
            }
            continue;
        }
        char id[SIG_ID_MAX + 1];
        snprintf(id, sizeof(id), "%s", p->id);
        sig__fed_drop_remote(h, r, p);
        sig__notify_left(h, r, id, "closed", NULL);
    }
    sig__fed_room_sort(r);
    r->npending--;
}

void sig__fed_confirm(sig_fed_t *f, sig_peer_t *p)
{
    if (p->stale_until) {
        p->stale_until = 0;
        f->nstale--;
    }
}

/* Stale records whose node never confirmed them leave. */
void sig__fed_expire_stale(sig_hub_t *h, double now)
{
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; h->fed->nstale && (e = sig__map_walk(&it));) {
        sig_room_t *r = e->val;
        r->npending++;
        for (sig_peer_t *p = r->head, *n; p; p = n) {
            n = p->next;
            if (!p->stale_until || now < p->stale_until)
                continue;
            char id[SIG_ID_MAX + 1];
            snprintf(id, sizeof(id), "%s", p->id);
            sig__fed_drop_remote(h, r, p);
            sig__notify_left(h, r, id, "closed", NULL);
        }
        r->npending--;
        sig__room_release(h, r); /* the walk may delete the entry it was given */
    }
}

void sig__fed_on_sync(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now)
{
    bool mine = !strcmp(m->node, h->fed->node);
    sig__fed_reconcile(h, r, m->members, mine ? NULL : m->node, true, now);
}

/* ---- The link ---------------------------------------------------------------- */

void sig_hub_fed_resync(sig_hub_t *h, double now)
{
    (void)now;
    if (!h->fed)
        return;
    h->fed->resyncs++;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        sig__fed_room_resync(h, e->val);
}

/* The rooms with local peers, for SIG_FED_PRUNE. */
static void prune(sig_hub_t *h)
{
    const char **names = cmn_calloc(h->rooms.n + 1, sizeof(*names));
    size_t n = 0;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        if (((sig_room_t *)e->val)->nlocal)
            names[n++] = ((sig_room_t *)e->val)->name;
    sig_fed_req_t q = {.op = SIG_FED_PRUNE, .list = names, .nlist = n};
    sig__fed_call(h, &q);
    cmn_free(names);
}

void sig_hub_fed_link(sig_hub_t *h, bool up, double now)
{
    sig_fed_t *f = h->fed;
    if (!f)
        return;
    f->now = now;
    if (up == f->up)
        return;
    f->up = up;
    f->links[up]++;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        ((sig_room_t *)e->val)->sub = SIG_RSUB_NONE;
    if (!up) {
        /* What waited for the cluster is decided here now. */
        while (f->pend)
            sig__fed_pend_abort(h, f->pend, now);
        return;
    }
    f->up_since = now;
    /* Ours first, so nothing this node left behind in the cluster lingers;
     * then every room again, each resynchronised once subscribed. */
    prune(h);
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        sig__fed_room_resync(h, e->val);
}

/* ---- Metrics ---------------------------------------------------------------- */

void sig__fed_metrics(const sig_hub_t *h, cmn_prom_t *p)
{
    const sig_fed_t *f = h->fed;
    if (!f)
        return;
    static const char *const kinds[SIG_FK_COUNT] = {
        "join", "left", "moved", "sync", "sig", "bc", "und", "take", "took", "state",
    };
    size_t subscribed = 0, remote = 0;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, (cmn_map_t *)&h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));) {
        const sig_room_t *r = e->val;
        subscribed += r->sub == SIG_RSUB_OK;
        remote += r->npeers - r->nlocal;
    }
    cmn_prom_family(p, "icehub_cluster_nodes", "gauge",
                    "Nodes whose heartbeat this node heard within two heartbeat intervals.");
    cmn_prom_sample_u64(p, "icehub_cluster_nodes", sig__dir_alive(f->dir, f->now), CMN_PROM_END);
    const sig_node_info_t *rank[16];
    cmn_prom_family(p, "icehub_cluster_relays", "gauge",
                    "Healthy relays the director may list in iceServers (at most 16 counted).");
    cmn_prom_sample_u64(p, "icehub_cluster_relays",
                        sig__dir_rank(f->dir, f->node, f->now, rank, 16), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_rooms", "gauge",
                    "Rooms whose cluster channel this node is subscribed to.");
    cmn_prom_sample_u64(p, "icehub_cluster_rooms", subscribed, CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_remote_peers", "gauge",
                    "Members of this node's rooms that are on other nodes.");
    cmn_prom_sample_u64(p, "icehub_cluster_remote_peers", remote, CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_requests_total", "counter",
                    "Cluster requests the hub handed to the Redis thread, by operation.");
    for (int i = 0; i < SIG_FED_COUNT; i++)
        cmn_prom_sample_u64(p, "icehub_cluster_requests_total", f->ops[i], "op",
                            sig_fed_op_name((sig_fed_op_t)i), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_messages_total", "counter",
                    "Room and node messages the hub received from the cluster, by kind.");
    for (int i = 0; i < SIG_FK_COUNT; i++)
        cmn_prom_sample_u64(p, "icehub_cluster_messages_total", f->in[i], "kind", kinds[i],
                            CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_hub_errors_total", "counter",
                    "Cluster trouble the hub met, by kind: bad messages dropped, requests the "
                    "Redis thread could not take, ids held by two nodes, undelivered notices "
                    "lost, joins decided locally without the cluster.");
    cmn_prom_sample_u64(p, "icehub_cluster_hub_errors_total", f->bad, "kind", "bad_message",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_hub_errors_total", f->unqueued, "kind", "unqueued",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_hub_errors_total", f->conflicts, "kind", "conflict",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_hub_errors_total", f->lost_notices, "kind",
                        "lost_notice", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_hub_errors_total", f->local_joins, "kind",
                        "local_join", CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_resumes_total", "counter",
                    "Resumes of a peer that was on another node, by result.");
    cmn_prom_sample_u64(p, "icehub_cluster_resumes_total", f->resumes_ok, "result", "success",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_resumes_total", f->resumes_failed, "result",
                        "failure", CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_resyncs_total", "counter",
                    "Rooms resynchronised with the cluster (after a reconnect or lost input).");
    cmn_prom_sample_u64(p, "icehub_cluster_resyncs_total", f->syncs, CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_link_changes_total", "counter",
                    "Times the hub's link to the cluster went down or came up.");
    cmn_prom_sample_u64(p, "icehub_cluster_link_changes_total", f->links[0], "to", "down",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_link_changes_total", f->links[1], "to", "up",
                        CMN_PROM_END);
}
