/* icehub - SPDX-License-Identifier: MIT
 *
 * fed_fixture.h: several hubs (nodes) in one process, federated through a
 * small model of what the daemon's Redis scripts do (tests/signal/
 * test_sig_fed.c). The model keeps each room's members (id, seq, node),
 * runs the scripts of sig_fed_op_t as daemon/ihd_redis_lua.c does, and
 * delivers, per node, the command answers and the channel messages as two
 * queues, like Redis's two connections: their interleaving is the test's
 * choice (answers first, messages first, or alternating), since nothing
 * orders them in real life. The real thing runs in the integration tests
 * (tests/integration/test_cluster.py).
 */
#ifndef FED_FIXTURE_H
#define FED_FIXTURE_H

#include "sig_fixture.h"

#define SIM_NODES 3
#define SIM_ROOMS 32
#define SIM_MEMBERS 64

enum { SIM_MSG = 0, SIM_SUBD, SIM_RESULT };
enum { SIM_REPLIES_FIRST = 0, SIM_MESSAGES_FIRST, SIM_ALTERNATE };

typedef struct sim_ev_s {
    struct sim_ev_s *next;
    int kind;
    char *room;                 /* NULL: this node's channel */
    char *data;
    size_t len;
    uint64_t req;
    int status;
} sim_ev_t;

typedef struct sim_member_s {
    char id[SIG_ID_MAX + 1];
    uint64_t seq;
    int node;
} sim_member_t;

typedef struct sim_room_s {
    char name[SIG_ROOM_MAX + 1];
    sim_member_t m[SIM_MEMBERS];
    size_t n;
    uint64_t seq;
} sim_room_t;

typedef struct sim_s sim_t;
typedef struct sim_node_s {
    sim_t *sim;
    int i;
    fx_t *fx;
    char name[SIG_NODE_MAX + 1];
    bool alive;                 /* its heartbeat key exists */
    bool down;                  /* its link is down: requests fail */
    char subs[SIM_ROOMS][SIG_ROOM_MAX + 1];
    size_t nsubs;
    sim_ev_t *cmd, *cmd_tail;   /* answers (the command connection) */
    sim_ev_t *sub, *sub_tail;   /* channel messages (the subscriber connection) */
    bool turn;                  /* SIM_ALTERNATE: whose turn */
} sim_node_t;

struct sim_s {
    sim_node_t n[SIM_NODES];
    sim_room_t rooms[SIM_ROOMS];
    size_t nrooms;
    int policy;
    uint64_t reqs[SIG_FED_COUNT];
};

static void sim_push(sim_node_t *n, bool cmd, int kind, const char *room, const char *data,
                     size_t len, uint64_t req, int status)
{
    sim_ev_t *e = calloc(1, sizeof(*e));
    e->kind = kind;
    e->room = room ? strdup(room) : NULL;
    e->data = malloc(len + 1);
    memcpy(e->data, data ? data : "", len);
    e->data[len] = '\0';
    e->len = len;
    e->req = req;
    e->status = status;
    sim_ev_t **head = cmd ? &n->cmd : &n->sub, **tail = cmd ? &n->cmd_tail : &n->sub_tail;
    if (*tail)
        (*tail)->next = e;
    else
        *head = e;
    *tail = e;
}

static sim_room_t *sim_room(sim_t *s, const char *name, bool create)
{
    for (size_t i = 0; i < s->nrooms; i++)
        if (!strcmp(s->rooms[i].name, name))
            return &s->rooms[i];
    if (!create)
        return NULL;
    assert_true(s->nrooms < SIM_ROOMS);
    sim_room_t *r = &s->rooms[s->nrooms++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    return r;
}

static sim_member_t *sim_member(sim_room_t *r, const char *id)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (!strcmp(r->m[i].id, id))
            return &r->m[i];
    return NULL;
}

static void sim_drop_member(sim_room_t *r, sim_member_t *m)
{
    size_t i = (size_t)(m - r->m);
    memmove(&r->m[i], &r->m[i + 1], (r->n - i - 1) * sizeof(*m));
    r->n--;
}

static int sim_node_by_name(sim_t *s, const char *name)
{
    for (int i = 0; i < SIM_NODES; i++)
        if (!strcmp(s->n[i].name, name))
            return i;
    return -1;
}

/* PUBLISH on a room's channel: every node subscribed gets it. */
static void sim_publish(sim_t *s, const char *room, const char *text, size_t len)
{
    for (int i = 0; i < SIM_NODES; i++)
        for (size_t k = 0; k < s->n[i].nsubs; k++)
            if (!strcmp(s->n[i].subs[k], room))
                sim_push(&s->n[i], false, SIM_MSG, room, text, len, 0, 0);
}

/* <prefix> + [,"s":SEQ] + ,"m":[...] + }, as the scripts write it. */
static void sim_publish_members(sim_t *s, sim_room_t *r, const char *prefix, size_t plen,
                                const uint64_t *seq)
{
    char *buf = malloc(plen + 64 + r->n * 128);
    size_t o = 0;
    memcpy(buf, prefix, plen);
    o = plen;
    if (seq)
        o += (size_t)sprintf(buf + o, ",\"s\":%llu", (unsigned long long)*seq);
    o += (size_t)sprintf(buf + o, ",\"m\":[");
    for (size_t i = 0; i < r->n; i++)
        o += (size_t)sprintf(buf + o, "%s[\"%s\",%llu,\"%s\"]", i ? "," : "", r->m[i].id,
                             (unsigned long long)r->m[i].seq, s->n[r->m[i].node].name);
    o += (size_t)sprintf(buf + o, "]}");
    sim_publish(s, r->name, buf, o);
    free(buf);
}

static void sim_left(sim_t *s, sim_room_t *r, sim_member_t *m, const char *why)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "{\"k\":\"left\",\"n\":\"%s\",\"id\":\"%s\",\"why\":\"%s\"}",
                     s->n[m->node].name, m->id, why);
    sim_drop_member(r, m);
    sim_publish(s, r->name, buf, (size_t)n);
}

static bool sim_listed(const sig_fed_req_t *q, const char *v)
{
    for (size_t i = 0; i < q->nlist; i++)
        if (!strcmp(q->list[i], v))
            return true;
    return false;
}

static int sim_script(sim_t *s, int me, const sig_fed_req_t *q)
{
    sim_room_t *r = q->room ? sim_room(s, q->room, q->op == SIG_FED_JOIN || q->op == SIG_FED_SYNC)
                            : NULL;
    sim_member_t *m = r && q->peer ? sim_member(r, q->peer) : NULL;
    int other = q->node ? sim_node_by_name(s, q->node) : -1;
    switch (q->op) {
    case SIG_FED_JOIN:
        if (m)
            return CMN_EEXIST;
        if (r->n >= q->max)
            return CMN_ELIMIT;
        assert_true(r->n < SIM_MEMBERS);
        m = &r->m[r->n++];
        snprintf(m->id, sizeof(m->id), "%s", q->peer);
        m->seq = ++r->seq;
        m->node = me;
        sim_publish_members(s, r, q->text, q->len, &m->seq);
        return 0;
    case SIG_FED_LEAVE:
        if (!m || m->node != me)
            return CMN_ENOENT;
        sim_drop_member(r, m);
        sim_publish(s, r->name, q->text, q->len);
        return 0;
    case SIG_FED_MOVE:
        if (!m || m->node != other)
            return CMN_ENOENT;
        m->node = me;
        sim_publish_members(s, r, q->text, q->len, &m->seq);
        return 0;
    case SIG_FED_SYNC:
        for (size_t i = 0; i < r->n;) {
            if (r->m[i].node == me && !sim_listed(q, r->m[i].id))
                sim_drop_member(r, &r->m[i]);
            else
                i++;
        }
        for (size_t i = 0; i < q->nlist; i++) {
            if (sim_member(r, q->list[i]))
                continue;
            sim_member_t *a = &r->m[r->n++];
            snprintf(a->id, sizeof(a->id), "%s", q->list[i]);
            a->seq = ++r->seq;
            a->node = me;
        }
        sim_publish_members(s, r, q->text, q->len, NULL);
        return 0;
    case SIG_FED_PRUNE:
    case SIG_FED_REAP: {
        int who = q->op == SIG_FED_PRUNE ? me : other;
        if (who < 0 || (q->op == SIG_FED_REAP && s->n[who].alive))
            return 0;
        for (size_t k = 0; k < s->nrooms; k++) {
            sim_room_t *rr = &s->rooms[k];
            if (q->op == SIG_FED_PRUNE && sim_listed(q, rr->name))
                continue;
            for (size_t i = 0; i < rr->n;) {
                if (rr->m[i].node == who)
                    sim_left(s, rr, &rr->m[i], q->op == SIG_FED_PRUNE ? "closed" : "timeout");
                else
                    i++;
            }
        }
        return 0;
    }
    default:
        return 0;
    }
}

static int sim_fed(void *ud, const sig_fed_req_t *q)
{
    sim_node_t *n = ud;
    sim_t *s = n->sim;
    if (n->down)
        return CMN_EAGAIN;
    s->reqs[q->op]++;
    if (q->op == SIG_FED_SUB) {
        snprintf(n->subs[n->nsubs++], sizeof(n->subs[0]), "%s", q->room);
        sim_push(n, false, SIM_SUBD, q->room, "", 0, 0, 0);
        return 0;
    }
    if (q->op == SIG_FED_UNSUB) {
        for (size_t k = 0; k < n->nsubs; k++)
            if (!strcmp(n->subs[k], q->room)) {
                memmove(n->subs[k], n->subs[k + 1], (n->nsubs - k - 1) * sizeof(n->subs[0]));
                n->nsubs--;
                break;
            }
        return 0;
    }
    if (q->op == SIG_FED_PUB_ROOM) {
        sim_publish(s, q->room, q->text, q->len);
        return 0;
    }
    if (q->op == SIG_FED_PUB_NODE) {
        int to = sim_node_by_name(s, q->node);
        if (to >= 0 && !s->n[to].down)
            sim_push(&s->n[to], false, SIM_MSG, NULL, q->text, q->len, 0, 0);
        return 0;
    }
    int rc = sim_script(s, n->i, q);
    if (q->id)
        sim_push(n, true, SIM_RESULT, NULL, "", 0, q->id, rc);
    return 0;
}

static void sim_dispatch(sim_node_t *n, sim_ev_t *e)
{
    sig_hub_t *h = n->fx->h;
    double now = n->fx->now;
    if (e->kind == SIM_MSG)
        sig_hub_fed_message(h, e->room, e->data, e->len, now);
    else if (e->kind == SIM_SUBD)
        sig_hub_fed_subscribed(h, e->room, now);
    else
        sig_hub_fed_result(h, e->req, e->status, now);
    free(e->room);
    free(e->data);
    free(e);
}

/* One event of node <n> by the policy; false when it has none. */
static bool sim_step(sim_t *s, sim_node_t *n)
{
    bool cmd_first = s->policy == SIM_REPLIES_FIRST ||
                     (s->policy == SIM_ALTERNATE && (n->turn = !n->turn));
    sim_ev_t **q = cmd_first ? (n->cmd ? &n->cmd : &n->sub) : (n->sub ? &n->sub : &n->cmd);
    sim_ev_t *e = *q;
    if (!e)
        return false;
    *q = e->next;
    if (!*q) {
        if (q == &n->cmd)
            n->cmd_tail = NULL;
        else
            n->sub_tail = NULL;
    }
    sim_dispatch(n, e);
    return true;
}

/* Deliver everything queued (and what that causes). */
static void sim_run(sim_t *s)
{
    for (bool any = true; any;) {
        any = false;
        for (int i = 0; i < SIM_NODES; i++)
            any |= sim_step(s, &s->n[i]);
    }
}

static void sim_heartbeats(sim_t *s)
{
    for (int i = 0; i < SIM_NODES; i++) {
        if (!s->n[i].alive)
            continue;
        sig_node_info_t info = {.port = (uint16_t)(3478 + i), .signal = true};
        snprintf(info.node, sizeof(info.node), "%s", s->n[i].name);
        snprintf(info.host, sizeof(info.host), "10.0.0.%d", i + 1);
        size_t len;
        char *hb = sig_node_encode(&info, s->n[i].fx->now, &len);
        for (int k = 0; k < SIM_NODES; k++)
            if (!s->n[k].down)
                sig_hub_fed_node(s->n[k].fx->h, hb, len, s->n[k].fx->now);
        cmn_free(hb);
    }
}

/* Advance every node's clock by <dt> and run their timers. */
static void sim_tick(sim_t *s, double dt)
{
    for (int i = 0; i < SIM_NODES; i++)
        fx_tick(s->n[i].fx, dt);
    sim_run(s);
}

static void sim_link(sim_t *s, int i, bool up)
{
    s->n[i].down = !up;
    if (!up) {
        s->n[i].nsubs = 0;
        while (sim_step(s, &s->n[i]))
            ;
    }
    sig_hub_fed_link(s->n[i].fx->h, up, s->n[i].fx->now);
    sim_run(s);
}

static sim_t *sim_new_cfg(const sig_cfg_t *base, int policy)
{
    sim_t *s = calloc(1, sizeof(*s));
    s->policy = policy;
    for (int i = 0; i < SIM_NODES; i++) {
        sim_node_t *n = &s->n[i];
        n->sim = s;
        n->i = i;
        n->alive = true;
        snprintf(n->name, sizeof(n->name), "node%d", i);
        sig_cfg_t c = *base;
        c.node = n->name;
        c.fed_timeout = 2;
        c.fed_heartbeat = 1;
        c.fed_node_ttl = 3;
        fx_t *fx = calloc(1, sizeof(*fx));
        fx->cfg = c;
        fx->now = 1700000000.0;
        sig_ops_t ops = {.ud = n, .send = fx_send, .close = fx_close, .fed = sim_fed};
        fx->h = sig_hub_new(&c, &ops);
        n->fx = fx;
    }
    for (int i = 0; i < SIM_NODES; i++)
        sig_hub_fed_link(s->n[i].fx->h, true, s->n[i].fx->now);
    sim_heartbeats(s);
    sim_run(s);
    return s;
}

static sim_t *sim_new(int policy)
{
    sig_cfg_t c;
    fx_default_cfg(&c);
    c.rate = 1000;
    c.burst = 1000;
    c.max_rooms = 20;
    return sim_new_cfg(&c, policy);
}

static void sim_free(sim_t *s)
{
    for (int i = 0; i < SIM_NODES; i++) {
        sim_node_t *n = &s->n[i];
        while (sim_step(s, n))
            ;
        void *state = n->fx;
        fx_teardown(&state);
    }
    free(s);
}

/* A new connection on node <i>. */
static fx_conn_t *sim_open(sim_t *s, int i)
{
    return fx_open_ip(s->n[i].fx, "192.0.2.1");
}

static void sim_say(sim_t *s, int i, fx_conn_t *fc, const char *text)
{
    fx_say(s->n[i].fx, fc, text);
    sim_run(s);
}

/* Join <room> as <peer> on node <i>; returns the joined message. */
static json_t *sim_join(sim_t *s, int i, fx_conn_t *fc, const char *room, const char *peer)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"join\",\"room\":\"%s\",\"peer\":\"%s\"}", room, peer);
    sim_say(s, i, fc, buf);
    return fx_expect(fc, "joined");
}

static void sim_gone(sim_t *s, int i, fx_conn_t *fc)
{
    fx_gone(s->n[i].fx, fc);
    sim_run(s);
}

#endif /* FED_FIXTURE_H */
