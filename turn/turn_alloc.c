/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_alloc.c: the allocations of one worker (RFC 8656 §6): the
 * allocation object (created, ended, freed, and what the glue may read of
 * it) and the table that finds it by the client's 5-tuple.
 *
 * The table is a cmn_map with a random key, so a client cannot aim its
 * 5-tuples at one chain. An allocation that ends is
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

/* Seeded with the table's random key: a client picks its source address,
 * not where it lands. The fast hash (cmn_addr_hash) rather than SipHash:
 * it runs for every relayed datagram, and a client controls at most the
 * port and a few address bits of its own 5-tuple. */
static uint64_t tuple_hash(const turn_t *t, const turn_5tuple_t *tu)
{
    uint32_t seed = cmn_map_seed32(&t->allocs) ^ tu->transport;
    return cmn_addr_hash(&tu->client, cmn_addr_hash(&tu->server, seed));
}

/* The allocation of <tuple> in the table, live or expired, or NULL. */
static turn_alloc_t *table_find(turn_t *t, const turn_5tuple_t *tuple)
{
    uint64_t h = tuple_hash(t, tuple);
    for (cmn_map_node_t *n = cmn_map_first(&t->allocs, h); n; n = cmn_map_next(n)) {
        turn_alloc_t *a = CMN_MAP_ENTRY(n, turn_alloc_t, node);
        if (turn__tuple_equal(&a->tuple, tuple))
            return a;
    }
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

void turn__alloc_link(turn_t *t, turn_alloc_t *a)
{
    cmn_map_insert(&t->allocs, &a->node, tuple_hash(t, &a->tuple));
    a->next_due = CMN_MIN(a->next_due ? a->next_due : a->expires, a->expires);
    TURN_STAT_ADD(t, allocations_active, 1);
}

void turn__alloc_insert(turn_t *t, turn_alloc_t *a)
{
    turn__alloc_link(t, a);
    TURN_STAT_ADD(t, allocations_created, 1);
}

void turn_foreach_alloc(turn_t *t, void (*fn)(void *ctx, turn_alloc_t *a), void *ctx)
{
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &t->allocs);
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
        fn(ctx, CMN_MAP_ENTRY(n, turn_alloc_t, node)); /* fn may end (unlink) it */
}

void turn_end_tuple(turn_t *t, const turn_5tuple_t *tuple)
{
    turn_alloc_t *a = table_find(t, tuple);
    if (a)
        turn__alloc_end(t, a, TURN_END_CONN_CLOSED);
}

/* ---- Allocations ------------------------------------------------------- */

static uint64_t last_id; /* the highest allocation id handed out in this process */

turn_alloc_t *turn__alloc_new(turn_t *t, const turn_5tuple_t *tuple, const turn_auth_t *auth)
{
    turn_alloc_t *a = cmn_calloc(1, sizeof(*a));
    a->turn = t;
    a->tuple = *tuple;
    a->user = cmn_strndup(auth->user, auth->ulen);
    a->quota_user = cmn_strndup(auth->quota_user, auth->qlen);
    a->cred_expiry = auth->cred_expiry;
    /* Ids are unique across the workers of the process: one relaxed
     * atomic increment per Allocate. */
    a->id = __atomic_add_fetch(&last_id, 1, __ATOMIC_RELAXED);
    return a;
}

uint64_t turn_alloc_last_id(void)
{
    return __atomic_load_n(&last_id, __ATOMIC_RELAXED);
}

void turn_alloc_ids_after(uint64_t max)
{
    uint64_t cur = __atomic_load_n(&last_id, __ATOMIC_RELAXED);
    while (cur < max && !__atomic_compare_exchange_n(&last_id, &cur, max, false,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

void turn__alloc_free(turn_alloc_t *a)
{
    turn__perm_free(a);
    cmn_free(a->user);
    cmn_free(a->quota_user);
    cmn_free(a);
}

/* Out of the table and the counts; freed by the next turn_tick. With
 * <close>, its relay goes too (an end); without, the glue keeps or has let
 * go of it already (a live upgrade moved it). */
static void alloc_unlink(turn_t *t, turn_alloc_t *a, turn_end_reason_t why, bool close)
{
    if (a->ended)
        return;
    cmn_map_remove(&t->allocs, &a->node);
    a->ended = true;
    a->end_reason = why;
    TURN_STAT_SUB(t, allocations_active, 1);
    turn__perm_clear(t, a);
    turn__shared_release(t->shared, a->quota_user, &a->tuple.client);
    if (close)
        t->ops->relay_close(t->ops->ctx, a);
    else
        a->udata = NULL;
    a->next_ended = t->ended;
    t->ended = a;
}

void turn__alloc_end(turn_t *t, turn_alloc_t *a, turn_end_reason_t why)
{
    alloc_unlink(t, a, why, true);
}

void turn_alloc_detach(turn_t *t, turn_alloc_t *a)
{
    alloc_unlink(t, a, TURN_END_SHUTDOWN, false); /* no end anyone records */
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
    "admin", "revoked", "quota", "shutdown", "accounting",
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
