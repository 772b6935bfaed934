/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_cluster.c: this node's own work in the cluster, on the Redis thread
 * (docs/scaling.md):
 *  - heartbeats: every redis.heartbeat seconds its key (expiring after
 *    redis.node_ttl) and, on the cluster channel, its relay's host and
 *    ports, drain state and load for the other hubs' directors; a goodbye
 *    on a clean stop, which also takes its members out of their rooms;
 *  - usage: once a second the users' new counts (acct_usage_take) go to
 *    the cluster's totals in one script that also publishes them; other
 *    nodes' batches come back as their counts (acct_usage_remote); after
 *    every reconnect a snapshot sets both right (acct_usage_reset), so a
 *    Redis that lost everything is refilled from the nodes' tables;
 *  - revocations: one made through this node's admin API goes to the
 *    cluster's hash and channel; the others' are applied here; after a
 *    reconnect both sides are merged, the later change winning.
 * What a heartbeat and a batch say is encoded by signal/sig_dir.c and
 * acct/acct_clu.c; this file moves them.
 */
#include "ihd_redis.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"
#include "common/cmn_metrics.h"
#include "signal/sig.h"

#define USAGE_INTERVAL 1.0      /* seconds between usage batches */
#define USAGE_BATCH 5000        /* users per batch */
#define RVK_MAX 100000          /* revocation records kept */

typedef struct rvk_ent_s {
    cmn_map_node_t node;        /* in ihd_cluster_t.rvk, by user */
    acct_rvk_t rec;
    bool pushed;                /* the cluster has it */
    char user[];
} rvk_ent_t;

struct ihd_cluster_s {
    ihd_redis_t *r;
    ihd_server_t *srv;
    bool up;
    double next_beat, next_flush;
    uint64_t last_bytes;        /* relayed bytes at the previous heartbeat */
    double last_bytes_at;
    bool flying;                /* a usage batch or the snapshot is out */
    acct_batch_t fly;
    bool snapping;              /* the usage snapshot is out: batches wait */
    acct_batch_t *held;         /* others' batches that came meanwhile */
    uint64_t *held_seq;
    size_t nheld;
    double beat_at;             /* when our last heartbeat went out */
    uint64_t rtt_us;            /* it came back after this long */
    pthread_mutex_t mu;         /* the revocation records (HTTP thread too) */
    cmn_map_t rvk;              /* rvk_ent_t by user */
    uint64_t beats, batches_ok, batches_failed, batches_in, snapshots, rvk_out, rvk_in,
        bad;
};

static const ihd_cfg_t *cfg_of(ihd_cluster_t *c)
{
    return atomic_load_explicit(&c->srv->cfg, memory_order_acquire);
}

ihd_cluster_t *ihd__cluster_new(ihd_redis_t *r)
{
    ihd_cluster_t *c = cmn_calloc(1, sizeof(*c));
    c->r = r;
    c->srv = ihd__redis_srv(r);
    pthread_mutex_init(&c->mu, NULL);
    cmn_map_init(&c->rvk, 16);
    return c;
}

void ihd__cluster_free(ihd_cluster_t *c)
{
    if (!c)
        return;
    acct_batch_dispose(&c->fly);
    for (size_t i = 0; i < c->nheld; i++)
        acct_batch_dispose(&c->held[i]);
    cmn_free(c->held);
    cmn_free(c->held_seq);
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &c->rvk);
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
        cmn_free(CMN_MAP_ENTRY(n, rvk_ent_t, node));
    cmn_map_dispose(&c->rvk);
    pthread_mutex_destroy(&c->mu);
    cmn_free(c);
}

static void key(ihd_rcmd_t *cmd, ihd_cluster_t *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void key(ihd_rcmd_t *cmd, ihd_cluster_t *c, const char *fmt, ...)
{
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    ihd_rcmd_cat(cmd, ihd_redis_cfg(c->r)->prefix, name);
}

static ihd_rcmd_t *eval(const char *script, int nkeys)
{
    ihd_rcmd_t *cmd = ihd_rcmd_new(IHD_RR_NONE, 0, NULL);
    ihd_rcmd_str(cmd, "EVAL");
    ihd_rcmd_str(cmd, script);
    ihd_rcmd_num(cmd, nkeys);
    return cmd;
}

static void flush_usage(ihd_cluster_t *c);

/* ---- Heartbeats ---------------------------------------------------------------- */

/* The host other hubs put in iceServers for this node's relay. */
static void relay_host(const cmn_settings_t *s, char *out, size_t cap)
{
    out[0] = '\0';
    if (s->redis.advertise_host[0]) {
        snprintf(out, cap, "%s", s->redis.advertise_host);
    } else if (s->turn.external_ip.n) {
        snprintf(out, cap, "%.*s", (int)strcspn(s->turn.external_ip.v[0], "/"),
                 s->turn.external_ip.v[0]);
    } else if (s->turn.listen.n && !cmn_addr_is_any(&s->turn.listen.v[0])) {
        cmn_addr_format(&s->turn.listen.v[0], out, cap, false);
    }
}

static void node_info(ihd_cluster_t *c, double now, sig_node_info_t *n)
{
    const cmn_settings_t *s = &cfg_of(c)->s;
    memset(n, 0, sizeof(*n));
    snprintf(n->node, sizeof(n->node), "%s", ihd_redis_cfg(c->r)->node);
    if (s->turn.enabled && c->srv->nworkers) {
        relay_host(s, n->host, sizeof(n->host));
        n->port = s->turn.listen.n ? s->turn.listen.v[0].port : 0;
        n->tls_port = c->srv->ssl_ctx && s->turn.tls_listen.n ? s->turn.tls_listen.v[0].port : 0;
        n->allocs = turn_shared_active(c->srv->turn_shared);
        n->max_allocs = (uint32_t)s->turn.max_allocations;
        n->cap_bps = s->quota.total_bps;
    }
    n->signal = s->signal.enabled && s->http.enabled;
    n->draining = atomic_load(&c->srv->draining) != 0;
    n->started = c->srv->start_time;
    uint64_t bytes = ihd__relayed_bytes(c->srv);
    if (c->last_bytes_at > 0 && now > c->last_bytes_at && bytes >= c->last_bytes)
        n->bps = (uint64_t)(8.0 * (double)(bytes - c->last_bytes) / (now - c->last_bytes_at));
    c->last_bytes = bytes;
    c->last_bytes_at = now;
}

static void beat(ihd_cluster_t *c, double now)
{
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    sig_node_info_t n;
    node_info(c, now, &n);
    size_t len;
    char *json = sig_node_encode(&n, now, &len);
    ihd_rcmd_t *cmd = eval(ihd_lua_beat, 2);
    key(cmd, c, "node:%s", rc->node);
    key(cmd, c, "c");
    ihd_rcmd_arg(cmd, json, len);
    ihd_rcmd_num(cmd, (long long)rc->node_ttl * 1000);
    cmn_free(json);
    c->beat_at = ihd_now();
    if (ihd__redis_send(c->r, cmd, NULL, NULL) == 0)
        IHD_INC(c->beats, 1);
}

static void bye_answer(ihd_redis_t *r, void *arg, const void *reply)
{
    (void)arg;
    (void)reply;
    ihd__redis_bye_done(r);
}

void ihd__cluster_bye(ihd_cluster_t *c)
{
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    /* The relay's last counts first (the workers have stopped): the
     * goodbye's answer comes after the batch's. */
    flush_usage(c);
    size_t len;
    char *bye = sig_node_bye(rc->node, &len);
    ihd_rcmd_t *cmd = eval(ihd_lua_beat, 3);
    key(cmd, c, "node:%s", rc->node);
    key(cmd, c, "c");
    key(cmd, c, "nr:%s", rc->node);
    ihd_rcmd_arg(cmd, bye, len);
    ihd_rcmd_str(cmd, "0");
    ihd_rcmd_str(cmd, rc->node);
    ihd_rcmd_str(cmd, rc->prefix);
    cmn_free(bye);
    cmn_info("cluster", "leaving the cluster (node \"%s\")", rc->node);
    ihd__redis_send(c->r, cmd, bye_answer, c);
}

/* ---- Usage ---------------------------------------------------------------------- */

static acct_rules_t rules_of(const cmn_settings_t *s)
{
    return (acct_rules_t){
        .period = s->quota.period == CMN_QUOTA_PERIOD_DAY ? ACCT_PERIOD_DAY : ACCT_PERIOD_MONTH,
        .user_bytes = s->quota.user_bytes, .realm = s->turn.realm};
}

static acct_usage_t *table(ihd_cluster_t *c)
{
    return c->srv->usage ? ihd__usage_table(c->srv) : NULL;
}

static void field(ihd_rcmd_t *cmd, const char *kind, const char *user, uint64_t v)
{
    if (!v)
        return;
    ihd_rcmd_cat(cmd, kind, user);
    ihd_rcmd_num(cmd, (long long)v);
}

static void batch_answer(ihd_redis_t *r, void *arg, const void *reply)
{
    (void)r;
    ihd_cluster_t *c = arg;
    const redisReply *rep = reply;
    bool ok = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    acct_usage_t *u = table(c);
    if (u)
        acct_usage_taken(u, &c->fly, ok);
    if (ok)
        IHD_INC(c->batches_ok, 1);
    else
        IHD_INC(c->batches_failed, 1);
    acct_batch_dispose(&c->fly);
    c->flying = false;
}

static void flush_usage(ihd_cluster_t *c)
{
    acct_usage_t *u = table(c);
    if (!u || c->flying || c->snapping || !acct_usage_take(u, USAGE_BATCH, &c->fly))
        return;
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    const cmn_settings_t *s = &cfg_of(c)->s;
    double pstart = c->fly.pstart, ps, pe;
    acct_period_bounds(rules_of(s).period, pstart, &ps, &pe);
    size_t len;
    char *body = acct_batch_encode(&c->fly, &len);
    ihd_rcmd_t *cmd = eval(ihd_lua_usage_add, 4);
    key(cmd, c, "u:%.0f", pstart);
    key(cmd, c, "un:%.0f:%s", pstart, rc->node);
    key(cmd, c, "us:%.0f", pstart);
    key(cmd, c, "c");
    ihd_rcmd_str(cmd, rc->node);
    ihd_rcmd_num(cmd, (long long)pstart);
    /* Kept a week past the period's end, for /api/usage at its turn. */
    ihd_rcmd_num(cmd, (long long)pe + 7 * 86400);
    ihd_rcmd_arg(cmd, body, len);
    cmn_free(body);
    for (size_t i = 0; i < c->fly.n; i++) {
        const acct_brow_t *b = &c->fly.v[i];
        field(cmd, "pb:", b->user, b->d.to_peer_bytes);
        field(cmd, "cb:", b->user, b->d.to_client_bytes);
        field(cmd, "pp:", b->user, b->d.to_peer_packets);
        field(cmd, "cp:", b->user, b->d.to_client_packets);
        field(cmd, "a:", b->user, b->allocations);
    }
    c->flying = true;
    ihd__redis_send(c->r, cmd, batch_answer, c);
}

/* A flat HGETALL answer of "KIND:USER" -> count into a batch. */
static void snap_rows(const redisReply *flat, acct_batch_t *out)
{
    for (size_t i = 0; flat && flat->type == REDIS_REPLY_ARRAY && i + 1 < flat->elements;
         i += 2) {
        const redisReply *f = flat->element[i], *v = flat->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        const char *colon = memchr(f->str, ':', f->len);
        long long n = strtoll(v->str, NULL, 10);
        if (!colon || n <= 0 || !colon[1])
            continue;
        const char *user = colon + 1;
        size_t k = (size_t)(colon - f->str);
        acct_brow_t *row = NULL;
        for (size_t j = out->n; j-- > 0 && !row;)
            if (!strcmp(out->v[j].user, user))
                row = &out->v[j];
        if (!row) {
            acct_counts_t zero = {0};
            acct_batch_add(out, user, &zero, 0);
            row = &out->v[out->n - 1];
        }
        uint64_t *dst = k == 2 && !strncmp(f->str, "pb", 2)   ? &row->d.to_peer_bytes
                        : k == 2 && !strncmp(f->str, "cb", 2) ? &row->d.to_client_bytes
                        : k == 2 && !strncmp(f->str, "pp", 2) ? &row->d.to_peer_packets
                        : k == 2 && !strncmp(f->str, "cp", 2) ? &row->d.to_client_packets
                        : k == 1 && f->str[0] == 'a'          ? &row->allocations
                                                              : NULL;
        if (dst)
            *dst = (uint64_t)n;
    }
}

static void snap_answer(ihd_redis_t *r, void *arg, const void *reply)
{
    (void)r;
    ihd_cluster_t *c = arg;
    const redisReply *rep = reply;
    acct_usage_t *u = table(c);
    c->snapping = false;
    if (u && rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER) {
        acct_batch_t all = {0}, own = {0};
        all.pstart = own.pstart = acct_usage_pstart(u);
        snap_rows(rep->element[1], &all);
        snap_rows(rep->element[2], &own);
        acct_rules_t rules = rules_of(&cfg_of(c)->s);
        double wall = ihd_wallclock();
        acct_usage_reset(u, &rules, &all, &own, (uint64_t)rep->element[0]->integer, wall);
        for (size_t i = 0; i < c->nheld; i++)
            acct_usage_remote(u, &rules, &c->held[i], c->held_seq[i], wall);
        IHD_INC(c->snapshots, 1);
        acct_batch_dispose(&all);
        acct_batch_dispose(&own);
    }
    for (size_t i = 0; i < c->nheld; i++)
        acct_batch_dispose(&c->held[i]);
    c->nheld = 0;
}

static void usage_snapshot(ihd_cluster_t *c)
{
    acct_usage_t *u = table(c);
    if (!u)
        return;
    double pstart = acct_usage_pstart(u);
    ihd_rcmd_t *cmd = eval(ihd_lua_usage_snap, 3);
    key(cmd, c, "u:%.0f", pstart);
    key(cmd, c, "un:%.0f:%s", pstart, ihd_redis_cfg(c->r)->node);
    key(cmd, c, "us:%.0f", pstart);
    c->snapping = true;
    ihd__redis_send(c->r, cmd, snap_answer, c);
}

static void on_usage(ihd_cluster_t *c, const json_t *hdr, const char *body, size_t blen)
{
    acct_usage_t *u = table(c);
    const json_t *s = json_object_get(hdr, "s"), *p = json_object_get(hdr, "p");
    acct_batch_t b;
    const char *why;
    if (!json_is_integer(s) || !json_is_integer(p) || acct_batch_decode(body, blen, &b, &why) < 0) {
        IHD_INC(c->bad, 1);
        return;
    }
    b.pstart = (double)json_integer_value(p);
    IHD_INC(c->batches_in, 1);
    if (u && c->snapping && c->nheld < 64) {
        c->held = cmn_realloc(c->held, (c->nheld + 1) * sizeof(*c->held));
        c->held_seq = cmn_realloc(c->held_seq, (c->nheld + 1) * sizeof(*c->held_seq));
        c->held[c->nheld] = b;
        c->held_seq[c->nheld++] = (uint64_t)json_integer_value(s);
        return;
    }
    if (u) {
        acct_rules_t rules = rules_of(&cfg_of(c)->s);
        acct_usage_remote(u, &rules, &b, (uint64_t)json_integer_value(s), ihd_wallclock());
    }
    acct_batch_dispose(&b);
}

/* ---- Revocations --------------------------------------------------------------- */

static rvk_ent_t *rvk_find(ihd_cluster_t *c, const char *user)
{
    uint64_t h = cmn_map_hash_str(&c->rvk, user);
    for (cmn_map_node_t *n = cmn_map_first(&c->rvk, h); n; n = cmn_map_next(n)) {
        rvk_ent_t *e = CMN_MAP_ENTRY(n, rvk_ent_t, node);
        if (!strcmp(e->user, user))
            return e;
    }
    return NULL;
}

/* Under c->mu: the record of <user>, created if there is room. */
static rvk_ent_t *rvk_get(ihd_cluster_t *c, const char *user)
{
    rvk_ent_t *e = rvk_find(c, user);
    if (e || c->rvk.n >= RVK_MAX)
        return e;
    size_t n = strlen(user);
    e = cmn_calloc(1, sizeof(*e) + n + 1);
    memcpy(e->user, user, n + 1);
    cmn_map_insert(&c->rvk, &e->node, cmn_map_hash_str(&c->rvk, user));
    return e;
}

static void rvk_push(ihd_cluster_t *c, const char *user, const acct_rvk_t *rec)
{
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    size_t rl;
    char *r = acct_rvk_encode(rec, &rl);
    json_t *m = json_object();
    json_object_set_new(m, "k", json_string("revoke"));
    json_object_set_new(m, "n", json_string(rc->node));
    json_object_set_new(m, "u", acct_json_str(user));
    json_object_set_new(m, "r", json_loadb(r, rl, 0, NULL));
    char *msg = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    ihd_rcmd_t *cmd = eval(ihd_lua_revoke, 2);
    key(cmd, c, "rv");
    key(cmd, c, "c");
    ihd_rcmd_str(cmd, user);
    ihd_rcmd_arg(cmd, r, rl);
    ihd_rcmd_str(cmd, msg ? msg : "{}");
    free(msg);
    cmn_free(r);
    /* From another thread it goes through the queue. */
    if (ihd_redis_submit(c->r, cmd) == 0)
        IHD_INC(c->rvk_out, 1);
}

void ihd_cluster_revoke(ihd_server_t *srv, const char *user, bool on)
{
    ihd_cluster_t *c = srv->redis ? ihd__redis_cluster(srv->redis) : NULL;
    if (!c)
        return;
    acct_rvk_t rec = {.on = on, .at = ihd_wallclock()};
    pthread_mutex_lock(&c->mu);
    rvk_ent_t *e = rvk_get(c, user);
    if (e) {
        e->rec = rec;
        e->pushed = ihd_redis_up(c->r);
    }
    pthread_mutex_unlock(&c->mu);
    if (e && ihd_redis_up(c->r))
        rvk_push(c, user, &rec);
}

/* Another node's record for <user>: apply it if it is newer. */
static void rvk_apply(ihd_cluster_t *c, const char *user, const acct_rvk_t *rec)
{
    pthread_mutex_lock(&c->mu);
    rvk_ent_t *e = rvk_find(c, user);
    bool take = !e || acct_rvk_newer(rec, &e->rec);
    if (take && (e = rvk_get(c, user))) {
        e->rec = *rec;
        e->pushed = true;
    }
    pthread_mutex_unlock(&c->mu);
    if (!take)
        return;
    IHD_INC(c->rvk_in, 1);
    int rc = ihd_admin_revoke(c->srv, user, rec->on);
    if (rc == 0)
        cmn_info("cluster", "user \"%s\" %s by another node", user,
                 rec->on ? "revoked" : "un-revoked");
}

static void on_revoke(ihd_cluster_t *c, const json_t *hdr)
{
    const json_t *u = json_object_get(hdr, "u"), *r = json_object_get(hdr, "r");
    acct_rvk_t rec;
    char *rt = r ? json_dumps(r, JSON_COMPACT) : NULL;
    bool ok = json_is_string(u) && json_string_length(u) && json_string_length(u) <= 255 &&
              strlen(json_string_value(u)) == json_string_length(u) && rt &&
              acct_rvk_decode(rt, strlen(rt), &rec) == 0;
    free(rt);
    if (!ok) {
        IHD_INC(c->bad, 1);
        return;
    }
    rvk_apply(c, json_string_value(u), &rec);
}

/* After a reconnect: the cluster's records against ours. */
static void rvk_answer(ihd_redis_t *r, void *arg, const void *reply)
{
    (void)r;
    ihd_cluster_t *c = arg;
    const redisReply *rep = reply;
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *u = rep->element[i], *v = rep->element[i + 1];
        acct_rvk_t rec;
        if (u->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            strlen(u->str) != u->len || acct_rvk_decode(v->str, v->len, &rec) < 0)
            continue;
        rvk_apply(c, u->str, &rec);
    }
    /* Ours that the cluster has not heard (made while the link was down). */
    for (;;) {
        char user[256] = "";
        acct_rvk_t rec;
        pthread_mutex_lock(&c->mu);
        cmn_map_iter_t it;
        cmn_map_iter_init(&it, &c->rvk);
        for (cmn_map_node_t *n; !user[0] && (n = cmn_map_iter_next(&it));) {
            rvk_ent_t *e = CMN_MAP_ENTRY(n, rvk_ent_t, node);
            if (!e->pushed) {
                e->pushed = true;
                snprintf(user, sizeof(user), "%s", e->user);
                rec = e->rec;
            }
        }
        pthread_mutex_unlock(&c->mu);
        if (!user[0])
            break;
        rvk_push(c, user, &rec);
    }
}

static void rvk_sync(ihd_cluster_t *c)
{
    ihd_rcmd_t *cmd = eval(ihd_lua_revoke, 2);
    key(cmd, c, "rv");
    key(cmd, c, "c");
    ihd_rcmd_str(cmd, "");
    ihd_rcmd_str(cmd, "");
    ihd_rcmd_str(cmd, "");
    ihd__redis_send(c->r, cmd, rvk_answer, c);
}

/* ---- The link and the cluster channel ------------------------------------------ */

void ihd__cluster_up(ihd_cluster_t *c)
{
    c->up = true;
    c->next_beat = 0;
    beat(c, ihd_wallclock());
    usage_snapshot(c);
    rvk_sync(c);
}

void ihd__cluster_down(ihd_cluster_t *c)
{
    c->up = false;
}

void ihd__cluster_timer(ihd_cluster_t *c, double now)
{
    if (!c->up)
        return;
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    if (now >= c->next_beat) {
        c->next_beat = now + rc->heartbeat;
        beat(c, now);
    }
    if (now >= c->next_flush) {
        c->next_flush = now + USAGE_INTERVAL;
        flush_usage(c);
    }
}

void ihd__cluster_message(ihd_cluster_t *c, const char *data, size_t len)
{
    const char *nl = memchr(data, '\n', len);
    size_t hlen = nl ? (size_t)(nl - data) : len;
    json_t *hdr = json_loadb(data, hlen, 0, NULL);
    const json_t *k = json_object_get(hdr, "k"), *n = json_object_get(hdr, "n");
    const char *kind = json_string_value(k), *node = json_string_value(n);
    if (!kind || !node) {
        IHD_INC(c->bad, 1);
    } else if (!strcmp(kind, "node") || !strcmp(kind, "bye")) {
        if (!strcmp(node, ihd_redis_cfg(c->r)->node) && c->beat_at > 0)
            __atomic_store_n(&c->rtt_us, (uint64_t)((ihd_now() - c->beat_at) * 1e6),
                             __ATOMIC_RELAXED);
        ihd__redis_push(c->r, ihd__rin_new(IHD_RIN_HEARTBEAT, NULL, data, len));
    } else if (!strcmp(node, ihd_redis_cfg(c->r)->node)) {
        /* our own usage or revocation, already counted here */
    } else if (!strcmp(kind, "usage") && nl) {
        on_usage(c, hdr, nl + 1, len - hlen - 1);
    } else if (!strcmp(kind, "revoke")) {
        on_revoke(c, hdr);
    } else {
        IHD_INC(c->bad, 1);
    }
    json_decref(hdr);
}

void ihd__cluster_metrics(ihd_cluster_t *c, struct cmn_prom_s *p)
{
    cmn_prom_family(p, "icehub_cluster_heartbeats_total", "counter",
                    "Heartbeats this node sent.");
    cmn_prom_sample_u64(p, "icehub_cluster_heartbeats_total", IHD_READ(c->beats), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_pubsub_rtt_seconds", "gauge",
                    "Time the latest heartbeat took to come back on the subscriber connection.");
    cmn_prom_sample(p, "icehub_cluster_pubsub_rtt_seconds", (double)IHD_READ(c->rtt_us) / 1e6,
                    CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_usage_batches_total", "counter",
                    "Usage batches: sent and counted by the cluster, sent and failed (their "
                    "counts go again), received from other nodes.");
    cmn_prom_sample_u64(p, "icehub_cluster_usage_batches_total", IHD_READ(c->batches_ok), "result",
                        "success", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_usage_batches_total", IHD_READ(c->batches_failed), "result",
                        "failure", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_usage_batches_total", IHD_READ(c->batches_in), "result",
                        "received", CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_usage_snapshots_total", "counter",
                    "Usage snapshots taken after (re)connecting.");
    cmn_prom_sample_u64(p, "icehub_cluster_usage_snapshots_total", IHD_READ(c->snapshots), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_revocations_total", "counter",
                    "Revocations and un-revocations sent to the cluster or applied from it.");
    cmn_prom_sample_u64(p, "icehub_cluster_revocations_total", IHD_READ(c->rvk_out), "direction", "out",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_revocations_total", IHD_READ(c->rvk_in), "direction", "in",
                        CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_bad_messages_total", "counter",
                    "Cluster channel messages dropped as malformed.");
    cmn_prom_sample_u64(p, "icehub_cluster_bad_messages_total", IHD_READ(c->bad), CMN_PROM_END);
}

/* ---- Start and stop (main thread) ----------------------------------------------- */

/* redis.node_id, or "HOST-XXXXXX": the host name (url-safe, at most 20
 * characters) and six characters of a hash of what tells two nodes on one
 * host apart (their listeners and ledger), so a restart keeps the name. */
static void node_name(const cmn_settings_t *s, char *out, size_t cap)
{
    if (s->redis.node_id[0]) {
        snprintf(out, cap, "%s", s->redis.node_id);
        return;
    }
    char host[256] = "node", id[SIG_NODE_MAX + 1], a[CMN_ADDR_STRLEN] = "", b[CMN_ADDR_STRLEN] = "";
    gethostname(host, sizeof(host) - 1);
    size_t n = 0;
    for (size_t i = 0; host[i] && n < 20; i++) {
        char ch = host[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        id[n++] = ok ? ch : '-';
    }
    id[n] = '\0';
    if (s->http.listen.n)
        cmn_addr_format(&s->http.listen.v[0], a, sizeof(a), true);
    if (s->turn.listen.n)
        cmn_addr_format(&s->turn.listen.v[0], b, sizeof(b), true);
    char text[5000];
    int tl = snprintf(text, sizeof(text), "%s|%s|%s|%s", host, a, b, s->ledger.path);
    uint8_t mac[CMN_SHA256_LEN];
    char b64[64];
    const char *k = "icehub-node";
    cmn_hmac_sha256(k, strlen(k), text, (size_t)CMN_MIN(tl, (int)sizeof(text) - 1), mac);
    cmn_base64_encode(mac, 6, b64, sizeof(b64));
    for (char *p = b64; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    id[CMN_MIN(n, (size_t)20)] = '\0';
    snprintf(out, cap, "%.20s-%.6s", n ? id : "node", b64);
}

int ihd_cluster_start(ihd_server_t *srv, char *err, size_t errlen)
{
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    node_name(s, srv->node_id, sizeof(srv->node_id));
    if (!s->redis.url[0])
        return 0;
    ihd_redis_cfg_t rc;
    memset(&rc, 0, sizeof(rc));
    const char *why;
    if (cmn_config_parse_redis_url(s->redis.url, &rc.url, &why) < 0) {
        snprintf(err, errlen, "redis.url: %s", why);
        return CMN_EIO;
    }
    if (s->redis.password[0])
        snprintf(rc.url.password, sizeof(rc.url.password), "%s", s->redis.password);
    snprintf(rc.prefix, sizeof(rc.prefix), "%s", s->redis.prefix);
    snprintf(rc.node, sizeof(rc.node), "%s", srv->node_id);
    rc.timeout = s->redis.timeout;
    rc.connect_timeout = s->redis.connect_timeout;
    rc.heartbeat = s->redis.heartbeat;
    rc.node_ttl = s->redis.node_ttl;
    rc.backoff_max = s->redis.backoff_max;
    rc.queue_bytes = (size_t)s->redis.queue_bytes;
    if (srv->usage)
        acct_usage_cluster(ihd__usage_table(srv));
    srv->redis = ihd_redis_start(srv, &rc);
    explicit_bzero(&rc.url, sizeof(rc.url));
    if (!srv->redis) {
        snprintf(err, errlen, "redis: cannot start the Redis thread");
        return CMN_EIO;
    }
    cmn_info("cluster", "node \"%s\": federating through Redis (prefix \"%s\")", srv->node_id,
             s->redis.prefix);
    return 0;
}

void ihd_cluster_stop(ihd_server_t *srv)
{
    ihd_redis_stop(srv->redis);
    srv->redis = NULL;
}
