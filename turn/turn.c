/* icehub - SPDX-License-Identifier: MIT
 *
 * turn.c: the worker's turn_t itself: made, freed, given a reloaded
 * configuration, ticked and read for statistics.
 *
 * Timers are not kept in a heap: turn_tick walks the allocations once a
 * second, ends those whose lifetime (RFC 8656 §6) or ephemeral credential
 * ran out, and sweeps the permissions and channels of those whose next
 * deadline has passed. The data path compares expiry times itself, so a
 * packet never uses a permission or channel past its end even between
 * ticks. The tick is also where the allocations that ended since the last
 * one are freed, and where a change of the blocked users (turn_shared_t)
 * reaches this worker's allocations.
 *
 * Left out: the 5-tuple table (turn_alloc.c) and what is inside an
 * allocation (turn_perm.c).
 */
#include "turn_int.h"

#include "../common/cmn_crypto.h"

turn_t *turn_new(const turn_cfg_t *cfg, const turn_ops_t *ops, turn_shared_t *shared)
{
    turn_t *t = cmn_calloc(1, sizeof(*t));
    t->cfg = cfg;
    t->ops = ops;
    t->shared = shared;
    cmn_map_init(&t->allocs, TURN_ALLOC_BUCKETS_MIN);
    /* A failed RNG leaves zeros: the seed and the indication tid prefix
     * are defences in depth, not secrets the protocol relies on. */
    (void)cmn_random(&t->seed, sizeof(t->seed));
    (void)cmn_random(t->ind_tid, sizeof(t->ind_tid));
    turn__auth_reload(t);
    turn__quota_init(t);
    return t;
}

/* Free what ended since the previous call: nobody holds those pointers
 * any more (see turn_tick). */
static void free_ended(turn_t *t)
{
    while (t->ended) {
        turn_alloc_t *a = t->ended;
        t->ended = a->next_ended;
        turn__alloc_free(a);
    }
}

static void end_one(void *ctx, turn_alloc_t *a)
{
    turn__alloc_end(ctx, a, TURN_END_SHUTDOWN);
}

void turn_free(turn_t *t)
{
    if (!t)
        return;
    turn_foreach_alloc(t, end_one, t);
    free_ended(t);
    cmn_map_dispose(&t->allocs);
    cmn_free(t->uhash);
    cmn_free(t);
}

void turn_set_cfg(turn_t *t, const turn_cfg_t *cfg)
{
    t->cfg = cfg;
    turn__auth_reload(t);
    turn__quota_reload(t);
    /* quota.over_action may have changed: re-apply the blocks. */
    t->block_gen = turn_shared_block_gen(t->shared) - 1;
}

/* The blocked set changed (turn_tick): end the allocation of a blocked user, or
 * (quota.over_action = throttle) hold over-quota users at the floor rate
 * and release those whose block was lifted. */
static void apply_block(void *ctx, turn_alloc_t *a)
{
    turn_t *t = ctx;
    turn_block_t why = turn_shared_user_blocked(t->shared, a->quota_user);
    if (why == TURN_BLOCK_REVOKED)
        turn__alloc_end(t, a, TURN_END_REVOKED);
    else if (why == TURN_BLOCK_QUOTA && !t->cfg->over_throttle)
        turn__alloc_end(t, a, TURN_END_QUOTA);
    else
        turn__quota_throttle(t, a, why == TURN_BLOCK_QUOTA);
}

typedef struct tick_ctx_s {
    turn_t *t;
    double now, wall;
} tick_ctx_t;

static void tick_one(void *ctx, turn_alloc_t *a)
{
    tick_ctx_t *c = ctx;
    /* An allocation ends with its lifetime (§6) or with its ephemeral
     * credential. */
    if (c->now >= a->expires)
        turn__alloc_end(c->t, a, TURN_END_EXPIRED);
    else if (a->cred_expiry > 0 && c->wall >= a->cred_expiry)
        turn__alloc_end(c->t, a, TURN_END_CRED_EXPIRED);
    else if (c->now >= a->next_due)
        turn__perm_sweep(c->t, a, c->now);
}

void turn_tick(turn_t *t, double now, double wall)
{
    free_ended(t);
    uint64_t gen = turn_shared_block_gen(t->shared);
    if (gen != t->block_gen) {
        t->block_gen = gen;
        turn_foreach_alloc(t, apply_block, t);
    }
    tick_ctx_t c = {t, now, wall};
    turn_foreach_alloc(t, tick_one, &c);
}

void turn_get_stats(const turn_t *t, turn_stats_t *out)
{
#define TURN_STAT_READ(f) out->f = __atomic_load_n(&t->st.f, __ATOMIC_RELAXED)
    TURN_STAT_READ(allocations_active);
    TURN_STAT_READ(allocations_created);
    TURN_STAT_READ(allocations_failed);
    TURN_STAT_READ(permissions_active);
    TURN_STAT_READ(channels_active);
    TURN_STAT_READ(auth_failures);
    TURN_STAT_READ(stale_nonces);
    TURN_STAT_READ(peer_denied);
#undef TURN_STAT_READ
#define TURN_STAT_READ_N(f)                                                   \
    for (size_t i_ = 0; i_ < sizeof(out->f) / sizeof(uint64_t); i_++)         \
        ((uint64_t *)out->f)[i_] = __atomic_load_n(&((const uint64_t *)t->st.f)[i_], \
                                                   __ATOMIC_RELAXED)
    TURN_STAT_READ_N(relayed_bytes);
    TURN_STAT_READ_N(relayed_packets);
    TURN_STAT_READ_N(quota_dropped_bytes);
    TURN_STAT_READ_N(quota_dropped_packets);
    TURN_STAT_READ_N(requests);
    TURN_STAT_READ_N(alloc_errors);
#undef TURN_STAT_READ_N
}
