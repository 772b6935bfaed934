/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_clu.c: usage across a cluster of nodes (docs/scaling.md). Each user
 * row of the usage table holds three sets of counts: this node's (fed by
 * the relay as before), what of those the cluster already has (flushed),
 * and the other nodes' (remote). Once a second the daemon takes the rows
 * whose counts moved (a batch of deltas), adds them to the cluster's
 * totals in Redis and marks them flushed; the others' batches come back
 * as remote counts; a snapshot after a reconnect sets flushed and remote
 * from the cluster's truth and lists again what the cluster lacks. Quota
 * decisions use this node's counts plus the others' (acct_urow_all).
 *
 * Also the batch and revocation records as JSON. Both come from other
 * processes: the decoders check every field. Pure apart from the usage
 * table's mutex; no Redis here (daemon/ihd_cluster.c).
 */
#include "acct_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- Batches ------------------------------------------------------------- */

void acct_batch_add(acct_batch_t *b, const char *user, const acct_counts_t *d,
                    uint64_t allocations)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->v = cmn_realloc(b->v, b->cap * sizeof(*b->v));
    }
    b->v[b->n++] = (acct_brow_t){.user = cmn_strdup(user), .d = *d, .allocations = allocations};
}

void acct_batch_dispose(acct_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        cmn_free(b->v[i].user);
    cmn_free(b->v);
    memset(b, 0, sizeof(*b));
}

char *acct_batch_encode(const acct_batch_t *b, size_t *len)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < b->n; i++) {
        const acct_brow_t *r = &b->v[i];
        json_t *row = json_array();
        json_array_append_new(row, acct_json_str(r->user));
        json_array_append_new(row, json_integer((json_int_t)r->d.to_peer_bytes));
        json_array_append_new(row, json_integer((json_int_t)r->d.to_client_bytes));
        json_array_append_new(row, json_integer((json_int_t)r->d.to_peer_packets));
        json_array_append_new(row, json_integer((json_int_t)r->d.to_client_packets));
        json_array_append_new(row, json_integer((json_int_t)r->allocations));
        json_array_append_new(rows, row);
    }
    json_t *o = json_object();
    json_object_set_new(o, "u", rows);
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!t)
        abort(); /* jansson fails only when out of memory */
    *len = strlen(t);
    char *out = cmn_malloc(*len + 1);
    memcpy(out, t, *len + 1);
    free(t);
    return out;
}

static bool count_of(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

int acct_batch_decode(const char *data, size_t len, acct_batch_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *rows = json_object_get(o, "u");
    *why = "not a batch ({\"u\":[...]})";
    if (!json_is_array(rows) || json_array_size(rows) > ACCT_BATCH_MAX)
        goto fail;
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        const json_t *user = json_array_get(row, 0);
        acct_counts_t d;
        uint64_t a;
        *why = "a row [USER, 4 counts, allocations]";
        if (!json_is_array(row) || json_array_size(row) != 6 || !json_is_string(user) ||
            strlen(json_string_value(user)) != json_string_length(user) ||
            !json_string_length(user) || !count_of(json_array_get(row, 1), &d.to_peer_bytes) ||
            !count_of(json_array_get(row, 2), &d.to_client_bytes) ||
            !count_of(json_array_get(row, 3), &d.to_peer_packets) ||
            !count_of(json_array_get(row, 4), &d.to_client_packets) ||
            !count_of(json_array_get(row, 5), &a))
            goto fail;
        acct_batch_add(out, json_string_value(user), &d, a);
    }
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    acct_batch_dispose(out);
    return CMN_EINVAL;
}

/* ---- The table's cluster counts ------------------------------------------- */

static acct_counts_t local_of(const acct_urow_t *r)
{
    return (acct_counts_t){r->to_peer_bytes, r->to_peer_packets, r->to_client_bytes,
                           r->to_client_packets};
}

static void counts_add(acct_counts_t *a, const acct_counts_t *d, int sign)
{
    a->to_peer_bytes += (uint64_t)sign * d->to_peer_bytes;
    a->to_client_bytes += (uint64_t)sign * d->to_client_bytes;
    a->to_peer_packets += (uint64_t)sign * d->to_peer_packets;
    a->to_client_packets += (uint64_t)sign * d->to_client_packets;
}

/* a - b, clamped at 0 field by field. */
static acct_counts_t counts_sub(const acct_counts_t *a, const acct_counts_t *b)
{
#define SUB0(f) (a->f > b->f ? a->f - b->f : 0)
    return (acct_counts_t){SUB0(to_peer_bytes), SUB0(to_peer_packets), SUB0(to_client_bytes),
                           SUB0(to_client_packets)};
#undef SUB0
}

static acct_counts_t counts_min(const acct_counts_t *a, const acct_counts_t *b)
{
#define MIN0(f) CMN_MIN(a->f, b->f)
    return (acct_counts_t){MIN0(to_peer_bytes), MIN0(to_peer_packets), MIN0(to_client_bytes),
                           MIN0(to_client_packets)};
#undef MIN0
}

static bool counts_zero(const acct_counts_t *c)
{
    return !c->to_peer_bytes && !c->to_client_bytes && !c->to_peer_packets &&
           !c->to_client_packets;
}

void acct_usage_cluster(acct_usage_t *u)
{
    pthread_mutex_lock(&u->mu);
    u->cluster = true;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &u->users.map);
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
        acct__usage_dirty(u, CMN_MAP_ENTRY(n, acct_urow_t, node));
    pthread_mutex_unlock(&u->mu);
}

double acct_usage_pstart(acct_usage_t *u)
{
    pthread_mutex_lock(&u->mu);
    double p = u->pstart;
    pthread_mutex_unlock(&u->mu);
    return p;
}

size_t acct_usage_take(acct_usage_t *u, size_t max, acct_batch_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&u->mu);
    out->pstart = u->pstart;
    size_t k = 0;
    for (; k < u->ndirty && out->n < max; k++) {
        acct_urow_t *r = u->dirty[k];
        r->dirty = false;
        acct_counts_t cur = local_of(r);
        acct_counts_t d = counts_sub(&cur, &r->flushed);
        uint64_t a = r->allocations > r->flushed_allocations
                         ? r->allocations - r->flushed_allocations : 0;
        if (counts_zero(&d) && !a)
            continue;
        /* Counted as the cluster's now; a failure gives it back. */
        r->flushed = cur;
        r->flushed_allocations = r->allocations;
        acct_batch_add(out, r->name, &d, a);
    }
    if (k) {
        memmove(u->dirty, u->dirty + k, (u->ndirty - k) * sizeof(*u->dirty));
        u->ndirty -= k;
    }
    pthread_mutex_unlock(&u->mu);
    return out->n;
}

void acct_usage_taken(acct_usage_t *u, const acct_batch_t *b, bool ok)
{
    if (ok)
        return;
    pthread_mutex_lock(&u->mu);
    if (b->pstart == u->pstart) {
        for (size_t i = 0; i < b->n; i++) {
            acct_urow_t *r = acct_utab_find(&u->users, b->v[i].user);
            if (!r)
                continue;
            counts_add(&r->flushed, &b->v[i].d, -1);
            r->flushed_allocations -= CMN_MIN(r->flushed_allocations, b->v[i].allocations);
            acct__usage_dirty(u, r);
        }
    }
    pthread_mutex_unlock(&u->mu);
}

void acct_usage_remote(acct_usage_t *u, const acct_rules_t *r, const acct_batch_t *b,
                       uint64_t seq, double wall)
{
    acct_names_t block = {0}, lift = {0};
    pthread_mutex_lock(&u->mu);
    acct__usage_roll(u, r, wall, &block, &lift);
    if (b->pstart == u->pstart && seq > u->cluster_seq) {
        u->cluster_seq = seq;
        for (size_t i = 0; i < b->n; i++) {
            acct_urow_t *row = acct_utab_get(&u->users, b->v[i].user);
            counts_add(&row->remote, &b->v[i].d, 1);
            row->remote_allocations += b->v[i].allocations;
            counts_add(&u->remote_total, &b->v[i].d, 1);
            u->remote_allocations += b->v[i].allocations;
            acct__usage_check(u, row, &block);
        }
    }
    pthread_mutex_unlock(&u->mu);
    acct__usage_blocks(u, &block, &lift);
}

static const acct_brow_t *batch_find(const acct_batch_t *b, const char *user)
{
    /* Linear: a snapshot's own share is small next to the table it resets
     * (and comes once per reconnect). */
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].user, user))
            return &b->v[i];
    return NULL;
}

void acct_usage_reset(acct_usage_t *u, const acct_rules_t *r, const acct_batch_t *all,
                      const acct_batch_t *own, uint64_t seq, double wall)
{
    acct_names_t block = {0}, lift = {0};
    pthread_mutex_lock(&u->mu);
    acct__usage_roll(u, r, wall, &block, &lift);
    if (all->pstart == u->pstart) {
        u->cluster_seq = seq;
        memset(&u->remote_total, 0, sizeof(u->remote_total));
        u->remote_allocations = 0;
        cmn_map_iter_t it;
        cmn_map_iter_init(&it, &u->users.map);
        for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));) {
            acct_urow_t *row = CMN_MAP_ENTRY(n, acct_urow_t, node);
            memset(&row->remote, 0, sizeof(row->remote));
            row->remote_allocations = 0;
            memset(&row->flushed, 0, sizeof(row->flushed));
            row->flushed_allocations = 0;
        }
        for (size_t i = 0; i < all->n; i++) {
            const acct_brow_t *t = &all->v[i], *mine = batch_find(own, t->user);
            acct_counts_t zero = {0};
            acct_urow_t *row = acct_utab_get(&u->users, t->user);
            /* Of this node's share in the cluster, what this table holds
             * is flushed; more than it holds (a restart without a ledger,
             * a ledger's last second lost) is history, counted as the
             * others' so nothing is counted twice or dropped. */
            acct_counts_t cur = local_of(row);
            row->flushed = counts_min(&cur, mine ? &mine->d : &zero);
            row->flushed_allocations = CMN_MIN(row->allocations, mine ? mine->allocations : 0);
            row->remote = counts_sub(&t->d, &row->flushed);
            row->remote_allocations = t->allocations -
                                      CMN_MIN(t->allocations, row->flushed_allocations);
            counts_add(&u->remote_total, &row->remote, 1);
            u->remote_allocations += row->remote_allocations;
        }
        /* Whatever of ours the cluster lacks goes in the next batches. */
        cmn_map_iter_init(&it, &u->users.map);
        for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));) {
            acct_urow_t *row = CMN_MAP_ENTRY(n, acct_urow_t, node);
            acct_counts_t cur = local_of(row);
            if (memcmp(&cur, &row->flushed, sizeof(cur)) ||
                row->allocations != row->flushed_allocations)
                acct__usage_dirty(u, row);
            acct__usage_check(u, row, &block);
        }
    }
    pthread_mutex_unlock(&u->mu);
    acct__usage_blocks(u, &block, &lift);
}

/* ---- Revocation records ----------------------------------------------------- */

char *acct_rvk_encode(const acct_rvk_t *r, size_t *len)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "{\"on\":%s,\"at\":%.0f,\"until\":%.0f}",
                     r->on ? "true" : "false", floor(r->at * 1000), floor(r->until));
    *len = (size_t)n;
    char *out = cmn_malloc((size_t)n + 1);
    memcpy(out, buf, (size_t)n + 1);
    return out;
}

int acct_rvk_decode(const char *data, size_t len, acct_rvk_t *out)
{
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *on = json_object_get(o, "on"), *at = json_object_get(o, "at"),
                 *until = json_object_get(o, "until");
    int rc = CMN_EINVAL;
    if (json_is_boolean(on) && json_is_integer(at) && json_integer_value(at) >= 0 &&
        json_is_integer(until) && json_integer_value(until) >= 0) {
        out->on = json_is_true(on);
        out->at = (double)json_integer_value(at) / 1000.0;
        out->until = (double)json_integer_value(until);
        rc = 0;
    }
    json_decref(o);
    return rc;
}

bool acct_rvk_newer(const acct_rvk_t *a, const acct_rvk_t *b)
{
    if (a->at != b->at)
        return a->at > b->at;
    return a->on && !b->on;
}
