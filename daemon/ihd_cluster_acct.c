/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_cluster_acct.c: usage and revocations across the cluster, on the
 * Redis thread (docs/scaling.md#usage-quotas-and-revocations):
 *  - once a second the users' new counts (acct_usage_take) go to the
 *    cluster's totals and this node's share in one script that also
 *    publishes them; a failed batch goes again; other nodes' batches come
 *    back as their counts (acct_usage_remote); after every reconnect a
 *    snapshot sets both right (acct_usage_reset), so a Redis that lost
 *    everything is refilled from the nodes' tables;
 *  - a revocation made through this node's admin API goes to the cluster's
 *    hash and channel; the others' are applied here; after a reconnect
 *    both sides are merged, the later change winning (acct_rvk_newer).
 */
#include "ihd_redis.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_log.h"

#define USAGE_BATCH 5000        /* users per batch */
#define RVK_MAX 100000          /* revocation records kept */

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

void ihd__clu_flush_usage(ihd_cluster_t *c)
{
    acct_usage_t *u = table(c);
    if (!u || c->flying || c->snapping || !acct_usage_take(u, USAGE_BATCH, &c->fly))
        return;
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    const cmn_settings_t *s = &ihd__clu_cfg(c)->s;
    double pstart = c->fly.pstart, ps, pe;
    acct_period_bounds(rules_of(s).period, pstart, &ps, &pe);
    size_t len;
    char *body = acct_batch_encode(&c->fly, &len);
    ihd_rcmd_t *cmd = ihd__clu_eval(ihd_lua_usage_add, 4);
    ihd__clu_key(cmd, c, "u:%.0f", pstart);
    ihd__clu_key(cmd, c, "un:%.0f:%s", pstart, rc->node);
    ihd__clu_key(cmd, c, "us:%.0f", pstart);
    ihd__clu_key(cmd, c, "c");
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
        acct_rules_t rules = rules_of(&ihd__clu_cfg(c)->s);
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

void ihd__clu_usage_snapshot(ihd_cluster_t *c)
{
    acct_usage_t *u = table(c);
    if (!u)
        return;
    double pstart = acct_usage_pstart(u);
    ihd_rcmd_t *cmd = ihd__clu_eval(ihd_lua_usage_snap, 3);
    ihd__clu_key(cmd, c, "u:%.0f", pstart);
    ihd__clu_key(cmd, c, "un:%.0f:%s", pstart, ihd_redis_cfg(c->r)->node);
    ihd__clu_key(cmd, c, "us:%.0f", pstart);
    c->snapping = true;
    ihd__redis_send(c->r, cmd, snap_answer, c);
}

void ihd__clu_on_usage(ihd_cluster_t *c, const json_t *hdr, const char *body, size_t blen)
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
        acct_rules_t rules = rules_of(&ihd__clu_cfg(c)->s);
        acct_usage_remote(u, &rules, &b, (uint64_t)json_integer_value(s), ihd_wallclock());
    }
    acct_batch_dispose(&b);
}

/* ---- Revocations --------------------------------------------------------------- */

static ihd_rvk_ent_t *rvk_find(ihd_cluster_t *c, const char *user)
{
    uint64_t h = cmn_map_hash_str(&c->rvk, user);
    for (cmn_map_node_t *n = cmn_map_first(&c->rvk, h); n; n = cmn_map_next(n)) {
        ihd_rvk_ent_t *e = CMN_MAP_ENTRY(n, ihd_rvk_ent_t, node);
        if (!strcmp(e->user, user))
            return e;
    }
    return NULL;
}

/* Under c->mu: the record of <user>, created if there is room. */
static ihd_rvk_ent_t *rvk_get(ihd_cluster_t *c, const char *user)
{
    ihd_rvk_ent_t *e = rvk_find(c, user);
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
    ihd_rcmd_t *cmd = ihd__clu_eval(ihd_lua_revoke, 2);
    ihd__clu_key(cmd, c, "rv");
    ihd__clu_key(cmd, c, "c");
    ihd_rcmd_str(cmd, user);
    ihd_rcmd_arg(cmd, r, rl);
    ihd_rcmd_str(cmd, msg ? msg : "{}");
    free(msg);
    cmn_free(r);
    /* From another thread it goes through the queue. */
    if (ihd_redis_submit(c->r, cmd) == 0)
        IHD_INC(c->rvk_out, 1);
}

void ihd_cluster_revoke(ihd_server_t *srv, const char *user, bool on, double until)
{
    ihd_cluster_t *c = srv->redis ? ihd__redis_cluster(srv->redis) : NULL;
    if (!c)
        return;
    acct_rvk_t rec = {.on = on, .at = ihd_wallclock(), .until = on ? until : 0};
    pthread_mutex_lock(&c->mu);
    ihd_rvk_ent_t *e = rvk_get(c, user);
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
    ihd_rvk_ent_t *e = rvk_find(c, user);
    bool take = !e || acct_rvk_newer(rec, &e->rec);
    if (take && (e = rvk_get(c, user))) {
        e->rec = *rec;
        e->pushed = true;
    }
    pthread_mutex_unlock(&c->mu);
    if (!take)
        return;
    IHD_INC(c->rvk_in, 1);
    /* Applied like one made here: the same end, kept in this node's
     * revocations file too. One that already ended is a lift. */
    double left = rec->until - ihd_wallclock();
    int rc;
    if (rec->on && (rec->until == 0 || left > 0)) {
        ihd_revoke_t rv;
        rc = ihd_admin_revoke(c->srv, user, rec->until ? left : 315360000.0, &rv);
    } else {
        bool persisted;
        rc = ihd_admin_unrevoke(c->srv, user, &persisted);
    }
    if (rc == 0)
        cmn_info("cluster", "user \"%s\" %s by another node", user,
                 rec->on ? "revoked" : "un-revoked");
}

void ihd__clu_on_revoke(ihd_cluster_t *c, const json_t *hdr)
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
            ihd_rvk_ent_t *e = CMN_MAP_ENTRY(n, ihd_rvk_ent_t, node);
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

void ihd__clu_rvk_sync(ihd_cluster_t *c)
{
    ihd_rcmd_t *cmd = ihd__clu_eval(ihd_lua_revoke, 2);
    ihd__clu_key(cmd, c, "rv");
    ihd__clu_key(cmd, c, "c");
    ihd_rcmd_str(cmd, "");
    ihd_rcmd_str(cmd, "");
    ihd_rcmd_str(cmd, "");
    ihd__redis_send(c->r, cmd, rvk_answer, c);
}

