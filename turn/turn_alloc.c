/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_alloc.c: the allocations of one worker (RFC 8656 §6): the
 * allocation object (created, ended, freed, and what the glue may read of
 * it) and the table that finds it by the client's 5-tuple.
 *
 * The table is a chained hash table with a random seed, so a client
 * cannot aim its 5-tuples at one bucket. An allocation that ends is
 * unlinked and its relay closed at once, but its memory is freed by the
 * next turn_tick (turn.c): the glue may still hold the pointer in events
 * it has queued for this loop iteration.
 *
 * Left out: the permissions and channels inside an allocation
 * (turn_perm.c) and the worker's turn_t with its tick (turn.c).
 */
#include "turn_int.h"

uint32_t turn__lifetime(const turn_cfg_t *cfg, bool has, uint32_t req)
{
    uint32_t def = cfg->default_lifetime ? cfg->default_lifetime : TURN_DEF_LIFETIME;
    uint32_t max = cfg->max_lifetime ? cfg->max_lifetime : TURN_DEF_MAX_LIFETIME;
    /* RFC 8656 §7.2 and §8.2: min(requested, maximum), but never less than
     * the default; here the default is capped by the maximum as well. */
    uint32_t l = has ? CMN_MIN(req, max) : def;
    if (l < def)
        l = def;
    return CMN_MIN(l, max);
}

/* ---- The 5-tuple table ------------------------------------------------- */

bool turn__tuple_equal(const turn_5tuple_t *x, const turn_5tuple_t *y)
{
    return x->transport == y->transport && cmn_addr_equal(&x->client, &y->client) &&
           cmn_addr_equal(&x->server, &y->server);
}

static uint32_t tuple_hash(const turn_t *t, const turn_5tuple_t *tu)
{
    return cmn_addr_hash(&tu->client, cmn_addr_hash(&tu->server, t->seed ^ tu->transport));
}

/* The allocation of <tuple> in the table, live or expired, or NULL. */
static turn_alloc_t *table_find(turn_t *t, const turn_5tuple_t *tuple)
{
    uint32_t h = tuple_hash(t, tuple);
    for (turn_alloc_t *a = t->buckets[h & (t->nbuckets - 1)]; a; a = a->next)
        if (a->hash == h && turn__tuple_equal(&a->tuple, tuple))
            return a;
    return NULL;
}

turn_alloc_t *turn__alloc_find(turn_t *t, const turn_5tuple_t *tuple, double now, bool reap)
{
    turn_alloc_t *a = table_find(t, tuple);
    if (!a || now < a->expires)
        return a;
    if (reap)
        turn__alloc_end(t, a, TURN_END_EXPIRED);
    return NULL;
}

static void table_grow(turn_t *t)
{
    uint32_t n = t->nbuckets * 2;
    turn_alloc_t **b = cmn_calloc(n, sizeof(*b));
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        turn_alloc_t *a = t->buckets[i];
        while (a) {
            turn_alloc_t *next = a->next;
            a->next = b[a->hash & (n - 1)];
            b[a->hash & (n - 1)] = a;
            a = next;
        }
    }
    cmn_free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

void turn__alloc_insert(turn_t *t, turn_alloc_t *a)
{
    if (t->nallocs >= t->nbuckets)
        table_grow(t);
    uint32_t i = a->hash & (t->nbuckets - 1);
    a->next = t->buckets[i];
    t->buckets[i] = a;
    a->next_due = a->expires;
    t->nallocs++;
    TURN_STAT_ADD(t, allocations_active, 1);
    TURN_STAT_ADD(t, allocations_created, 1);
}

static void table_unlink(turn_t *t, turn_alloc_t *a)
{
    turn_alloc_t **pp = &t->buckets[a->hash & (t->nbuckets - 1)];
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
}

void turn_foreach_alloc(turn_t *t, void (*fn)(void *ctx, turn_alloc_t *a), void *ctx)
{
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        turn_alloc_t *a = t->buckets[i];
        while (a) {
            turn_alloc_t *next = a->next; /* fn may end (unlink) <a> */
            fn(ctx, a);
            a = next;
        }
    }
}

void turn_end_tuple(turn_t *t, const turn_5tuple_t *tuple)
{
    turn_alloc_t *a = table_find(t, tuple);
    if (a)
        turn__alloc_end(t, a, TURN_END_CONN_CLOSED);
}

/* ---- Allocations ------------------------------------------------------- */

turn_alloc_t *turn__alloc_new(turn_t *t, const turn_5tuple_t *tuple, const turn_auth_t *auth)
{
    turn_alloc_t *a = cmn_calloc(1, sizeof(*a));
    a->turn = t;
    a->tuple = *tuple;
    a->hash = tuple_hash(t, tuple);
    a->user = cmn_strndup(auth->user, auth->ulen);
    a->quota_user = cmn_strndup(auth->quota_user, auth->qlen);
    a->cred_expiry = auth->cred_expiry;
    /* Ids are unique across the workers of the process: one relaxed
     * atomic increment per Allocate. */
    static uint64_t next_id;
    a->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    return a;
}

void turn__alloc_free(turn_alloc_t *a)
{
    turn__perm_free(a);
    cmn_free(a->user);
    cmn_free(a->quota_user);
    cmn_free(a);
}

void turn__alloc_end(turn_t *t, turn_alloc_t *a, turn_end_reason_t why)
{
    if (a->ended)
        return;
    table_unlink(t, a);
    a->ended = true;
    a->end_reason = why;
    t->nallocs--;
    TURN_STAT_SUB(t, allocations_active, 1);
    turn__perm_clear(t, a);
    turn__shared_release(t->shared, a->quota_user, &a->tuple.client);
    t->ops->relay_close(t->ops->ctx, a);
    a->next = t->ended;
    t->ended = a;
}

void turn_alloc_end(turn_t *t, turn_alloc_t *a, turn_end_reason_t why)
{
    turn__alloc_end(t, a, why);
}

/* ---- What the glue reads ----------------------------------------------- */

const turn_5tuple_t *turn_alloc_tuple(const turn_alloc_t *a)
{
    return &a->tuple;
}

void turn_alloc_set_udata(turn_alloc_t *a, void *udata)
{
    a->udata = udata;
}

void *turn_alloc_udata(const turn_alloc_t *a)
{
    return a->udata;
}

const char *turn_alloc_user(const turn_alloc_t *a)
{
    return a->user;
}

const turn_alloc_counters_t *turn_alloc_counters(const turn_alloc_t *a)
{
    return &a->c;
}

const char *turn_transport_name(turn_transport_t t)
{
    static const char *const names[TURN_TR_COUNT] = {"udp", "tcp", "tls"};
    return (unsigned)t < TURN_TR_COUNT ? names[t] : "?";
}

static const char *const end_names[TURN_END_COUNT] = {
    "client", "expired", "connection_closed", "credential_expired",
    "admin", "revoked", "quota", "shutdown",
};

const char *turn_end_reason_name(turn_end_reason_t r)
{
    return (unsigned)r < TURN_END_COUNT ? end_names[r] : "unknown";
}

void turn_alloc_info(const turn_alloc_t *a, turn_alloc_info_t *out)
{
    out->id = a->id;
    out->started = a->started;
    out->started_wall = a->started_wall;
    out->ended = a->ended;
    out->end_reason = a->end_reason;
    out->user = a->user;
    out->quota_user = a->quota_user;
    out->relay = a->relay;
    out->nrelay = a->nrelay;
    out->peers = a->peers;
    out->npeers = a->npeers;
    out->peers_total = a->peers_total;
}
