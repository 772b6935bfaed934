/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_fed_move.c: resume on any node. A peer's resume token starts with
 * the name of the node that holds it; a node that gets a token of another
 * node (C gets A's) moves the peer over:
 *
 *   1. C -> A's channel: take (the token). A checks it, closes the peer's
 *      old socket if it still has one, keeps the peer away (queueing what
 *      comes for it) and answers took (its room and id) on C's channel.
 *   2. C subscribes to the room, then runs the move script: the member is
 *      C's now, and the script publishes "moved" on the room's channel.
 *   3. Every node of the room sees "moved" at the same point among the
 *      room's messages. Before it, A queued the peer's messages; after it,
 *      C does. A sends what it queued (state) to C's channel and forgets
 *      the peer without a peer-left; C puts that queue first and answers
 *      the client "resumed", then everything in order.
 *
 * Nothing is delivered twice or out of order, whatever the timing of the
 * two channels. If A does not answer in time the resume fails (the client
 * joins again); if the queue does not come after the move, the peer is
 * resumed without it.
 */
#include "sig_int.h"

#include <stdio.h>

#include "common/cmn_log.h"

static void publish_node(sig_hub_t *h, const char *node, json_t *hd)
{
    size_t len;
    char *text = sig__fmsg_encode(hd, NULL, 0, &len);
    sig_fed_req_t q = {.op = SIG_FED_PUB_NODE, .node = node, .text = text, .len = len};
    sig__fed_call(h, &q);
    cmn_free(text);
}

static void resume_fail(sig_hub_t *h, sig_fpend_t *pd)
{
    h->resumes_failed++;
    h->fed->resumes_failed++;
    sig__fed_pend_fail(h, pd, SIG_E_RESUME_FAILED, "unknown or expired resume token; join again");
}

/* ---- The new node (C) ------------------------------------------------------ */

void sig__fed_resume(sig_hub_t *h, sig_conn_t *c, const char *token, const json_t *ref,
                     double now)
{
    sig_fed_t *f = h->fed;
    sig_fpend_t *pd = sig__fed_pend_new(h, SIG_FP_RESUME, c, ref, now);
    size_t nl = strcspn(token, ".");
    if (!f->up || nl == 0 || nl > SIG_NODE_MAX || !token[nl]) {
        resume_fail(h, pd);
        return;
    }
    memcpy(pd->from, token, nl);
    pd->from[nl] = '\0';
    if (!sig__node_ok(pd->from) || !strcmp(pd->from, f->node)) {
        resume_fail(h, pd);
        return;
    }
    pd->req = sig__fed_req_id(f);
    pd->stage = SIG_FS_TOOK;
    json_t *hd = sig__fed_header(h, "take");
    json_object_set_new(hd, "tok", json_string(token));
    json_object_set_new(hd, "r", json_integer((json_int_t)pd->req));
    size_t len;
    char *text = sig__fmsg_encode(hd, NULL, 0, &len);
    sig_fed_req_t q = {.op = SIG_FED_PUB_NODE, .node = pd->from, .text = text, .len = len};
    int rc = sig__fed_call(h, &q);
    cmn_free(text);
    if (rc < 0)
        resume_fail(h, pd);
}

void sig__fed_move_claim(sig_hub_t *h, sig_fpend_t *pd, double now)
{
    (void)now;
    json_t *hd = sig__fed_header(h, "moved");
    json_object_set_new(hd, "id", json_string(pd->id));
    json_object_set_new(hd, "from", json_string(pd->from));
    json_object_set_new(hd, "r", json_integer((json_int_t)pd->req));
    size_t len;
    char *text = sig__fmsg_prefix(hd, &len);
    pd->stage = SIG_FS_RESULT;
    sig_fed_req_t q = {.op = SIG_FED_MOVE, .id = pd->req, .room = pd->room, .node = pd->from,
                       .peer = pd->id, .text = text, .len = len};
    int rc = sig__fed_call(h, &q);
    cmn_free(text);
    if (rc < 0)
        resume_fail(h, pd);
}

void sig__fed_move_result(sig_hub_t *h, sig_fpend_t *pd, int status, double now)
{
    (void)now;
    if (status == 0)
        pd->stage = SIG_FS_MARKER;
    else
        resume_fail(h, pd);
}

/* took: the old node's answer. */
static void on_took(sig_hub_t *h, const sig_fmsg_t *m, double now)
{
    sig_fpend_t *pd = sig__fed_pend_by_req(h->fed, m->req);
    if (!pd || pd->kind != SIG_FP_RESUME || pd->stage != SIG_FS_TOOK ||
        strcmp(m->node, pd->from) != 0)
        return;
    if (!m->ok) {
        resume_fail(h, pd);
        return;
    }
    snprintf(pd->room, sizeof(pd->room), "%s", m->room);
    snprintf(pd->id, sizeof(pd->id), "%s", m->id);
    sig_room_t *r = sig__fed_pend_hold(h, pd);
    sig__fed_room_open(h, r);
    if (r->sub == SIG_RSUB_OK)
        sig__fed_move_claim(h, pd, now);
    else if (r->sub == SIG_RSUB_WAIT)
        pd->stage = SIG_FS_SUB;
    else
        resume_fail(h, pd);
}

/* The queue from the old node goes before what came since the move. */
static void prepend_state(sig_peer_t *p, const json_t *state)
{
    sig_qmsg_t *head = NULL, *tail = NULL;
    size_t i;
    const json_t *e;
    json_array_foreach(state, i, e) {
        const json_t *ref = json_array_get(e, 2);
        sig_qmsg_t *q = cmn_calloc(1, sizeof(*q));
        q->len = json_string_length(json_array_get(e, 0));
        q->text = cmn_malloc(q->len + 1);
        memcpy(q->text, json_string_value(json_array_get(e, 0)), q->len);
        q->text[q->len] = '\0';
        snprintf(q->from, sizeof(q->from), "%s", json_string_value(json_array_get(e, 1)));
        q->ref = json_is_null(ref) ? NULL : json_incref((json_t *)ref);
        if (tail)
            tail->next = q;
        else
            head = q;
        tail = q;
        p->qlen++;
    }
    if (!tail)
        return;
    tail->next = p->qhead;
    if (!p->qtail)
        p->qtail = tail;
    p->qhead = head;
}

/* The peer is here and its queue came (or will not): hand it to the
 * client, or keep it away if the client is gone too. */
static void resume_done(sig_hub_t *h, sig_fpend_t *pd, double now)
{
    sig_peer_t *p = pd->p;
    if (pd->state) {
        prepend_state(p, json_object_get(pd->state, "q"));
        /* Pairs it reported on the old node are not counted again here;
         * a list that does not fit the room is dropped whole. */
        if (sig__stats_import(h, p, json_object_get(pd->state, "rp")))
            sig__stats_free(p);
        sig__stats_import_done(p->room);
    }
    sig_conn_t *c = pd->c;
    json_t *ref = pd->ref ? json_incref(pd->ref) : NULL;
    pd->p = NULL;
    sig__fed_pend_end(h, pd);
    if (c) {
        h->fed->resumes_ok++;
        sig__resume_finish(h, c, p, ref, now);
    } else {
        sig__peer_away(h, p, now + h->cfg.resume_seconds);
    }
    json_decref(ref);
}

/* Our move came back on the room's channel: the peer is ours from here. */
static void moved_here(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now)
{
    sig_fpend_t *pd = sig__fed_pend_by_req(h->fed, m->req);
    if (pd && (pd->kind != SIG_FP_RESUME || pd->stage < SIG_FS_RESULT ||
               strcmp(pd->id, m->id) != 0))
        pd = NULL;
    sig_peer_t *old = sig__room_peer(r, m->id);
    if (old && old->node[0])
        sig__fed_drop_remote(h, r, old);
    sig__fed_reconcile(h, r, m->members, NULL, false, now);
    if (!pd) {
        /* Nobody waits for it any more (timed out): let it go. */
        sig__notify_left(h, r, m->id, "closed", NULL);
        sig__fed_leave_id(h, r->name, m->id, SIG_LEFT_CLOSED);
        return;
    }
    /* Without a socket until the queue is in: what comes meanwhile queues
     * behind it. */
    pd->p = sig__peer_add(h, r->name, m->id, NULL, m->seq);
    pd->stage = SIG_FS_STATE;
    if (pd->state_in)
        resume_done(h, pd, now);
}

static void on_state(sig_hub_t *h, const sig_fmsg_t *m, double now)
{
    sig_fpend_t *pd = sig__fed_pend_by_req(h->fed, m->req);
    if (!pd || pd->kind != SIG_FP_RESUME || pd->state_in || strcmp(m->node, pd->from) != 0)
        return;
    pd->state = json_incref(m->root);
    pd->state_in = true;
    if (pd->p)
        resume_done(h, pd, now);
}

void sig__fed_move_abort(sig_hub_t *h, sig_fpend_t *pd, double now)
{
    if (pd->p)
        resume_done(h, pd, now); /* moved, the queue never came */
    else
        resume_fail(h, pd);
}

/* ---- The old node (A) ------------------------------------------------------ */

/* take: hand over the peer of this token if it is ours and free. */
static void on_take(sig_hub_t *h, const sig_fmsg_t *m, double now)
{
    sig_peer_t *p = sig__map_get(&h->resumes, m->token);
    json_t *hd = sig__fed_header(h, "took");
    json_object_set_new(hd, "r", json_integer((json_int_t)m->req));
    bool ok = p && !p->node[0] && !p->move && !(p->conn && p->conn->closing) && !h->draining;
    json_object_set_new(hd, "ok", json_boolean(ok));
    if (ok) {
        if (p->conn) {
            /* The old socket is not known dead yet: it is closed, and the
             * peer waits away until the move. */
            sig__conn_detach(h, p, "resumed on another node");
            sig__peer_away(h, p, now + h->cfg.resume_seconds);
        }
        p->move = cmn_calloc(1, sizeof(*p->move));
        p->move->req = m->req;
        snprintf(p->move->to, sizeof(p->move->to), "%s", m->node);
        p->move->until = now + 2.0 * (h->cfg.fed_timeout ? h->cfg.fed_timeout : 2) + 1;
        json_object_set_new(hd, "room", json_string(p->room->name));
        json_object_set_new(hd, "id", json_string(p->id));
    }
    publish_node(h, m->node, hd);
}

/* Send what <p> queued (NULL: nothing) to the node it moved to. */
static void send_state(sig_hub_t *h, const sig_peer_t *p, const sig_fmsg_t *m)
{
    json_t *hd = sig__fed_header(h, "state");
    json_object_set_new(hd, "r", json_integer((json_int_t)m->req));
    json_t *q = json_array();
    for (const sig_qmsg_t *e = p ? p->qhead : NULL; e; e = e->next) {
        json_t *t = json_stringn(e->text, e->len);
        if (!t)
            continue;
        json_t *row = json_array();
        json_array_append_new(row, t);
        json_array_append_new(row, json_string(e->from));
        json_array_append_new(row, e->ref ? json_incref(e->ref) : json_null());
        json_array_append_new(q, row);
    }
    json_object_set_new(hd, "q", q);
    json_t *reported = p ? sig__stats_export(p) : NULL;
    if (reported)
        json_object_set_new(hd, "rp", reported);
    publish_node(h, m->node, hd);
}

void sig__fed_on_moved(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now)
{
    if (!strcmp(m->node, h->fed->node)) {
        moved_here(h, r, m, now);
        return;
    }
    sig_peer_t *p = sig__room_peer(r, m->id);
    bool known = p != NULL;
    if (p && !p->node[0]) {
        /* Ours until this point: everything queued so far goes with it. */
        if (!strcmp(m->from, h->fed->node) && p->move && p->move->req == m->req)
            send_state(h, p, m);
        else
            h->fed->conflicts++;
        r->npending++;
        sig__peer_unlink(h, p);
        r->npending--;
        p = NULL;
    } else if (!p && !strcmp(m->from, h->fed->node)) {
        send_state(h, NULL, m); /* it had left here; the new node stops waiting */
    }
    if (p) {
        snprintf(p->node, sizeof(p->node), "%s", m->node);
        p->seq = m->seq;
        sig__fed_confirm(h->fed, p);
        return;
    }
    p = sig__fed_add_remote(h, r, m->id, m->seq, m->node);
    if (!known)
        sig__notify_joined(h, p);
}

void sig__fed_node_message(sig_hub_t *h, const sig_fmsg_t *m, double now)
{
    switch (m->kind) {
    case SIG_FK_TAKE: on_take(h, m, now); break;
    case SIG_FK_TOOK: on_took(h, m, now); break;
    case SIG_FK_STATE: on_state(h, m, now); break;
    default: break;
    }
}
