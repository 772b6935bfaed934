/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_quota.c: bandwidth quotas on the relay. Every allocation has two
 * token buckets of UDP payload bytes, one per direction (client to peer,
 * peer to client), and every worker has two more for its share of the
 * server's capacity. A datagram passes when both its allocation's bucket
 * and its worker's bucket hold its length in tokens; otherwise it is
 * dropped before any send work and counted by the limit that stopped it
 * (allocation, total, user_throttle). The per-packet check is inline in
 * turn_int.h (turn__quota_pass): two refills from the caller's `now` (no
 * clock call of its own), two compares, two subtractions, no lock.
 *
 * Rates are resolved here, on the control path: when an allocation is
 * made (quota.users by exact name, then the first matching glob, else
 * quota.allocation_bps), on a reload, and when a user's byte-quota block
 * starts or ends (quota.over_action = throttle holds their allocations at
 * quota.floor_bps instead of ending them).
 *
 * The server capacity is split evenly: each of N workers gets total_bps/N,
 * so no worker has to ask another before it sends. The price is that a
 * busy worker cannot borrow an idle worker's share; SO_REUSEPORT spreads
 * clients over the workers, so shares fill about evenly under load.
 *
 * Left out: fair queuing between allocations (a bucket drops; it does not
 * delay or reorder), and per-user aggregate rates across allocations (the
 * rate is per allocation; per-user volume is quota.user_bytes).
 */
#include "turn_int.h"

#include <fnmatch.h>

/* Automatic burst: one second of the rate, but at least this much, so a
 * low rate still lets a burst of full-size datagrams through. */
#define TURN_QUOTA_MIN_AUTO_BURST (64.0 * 1024)
/* A configured burst below one large datagram would drop every such
 * datagram forever; raise it to this. */
#define TURN_QUOTA_MIN_BURST 4096.0

static const char *const dir_names[TURN_DIR_COUNT] = {"to_peer", "to_client"};
static const char *const qdrop_names[TURN_QDROP_COUNT] = {"allocation", "total",
                                                          "user_throttle"};
static const char *const req_names[TURN_REQ_KINDS] = {"allocate", "refresh",
                                                      "create_permission", "channel_bind"};

const char *turn_dir_name(turn_dir_t d)
{
    return (unsigned)d < TURN_DIR_COUNT ? dir_names[d] : "?";
}

const char *turn_qdrop_name(turn_qdrop_t k)
{
    return (unsigned)k < TURN_QDROP_COUNT ? qdrop_names[k] : "?";
}

const char *turn_req_kind_name(turn_req_kind_t k)
{
    return (unsigned)k < TURN_REQ_KINDS ? req_names[k] : "?";
}

/* ---- Buckets ----------------------------------------------------------- */

static double burst_for(const turn_cfg_t *cfg, double rate)
{
    if (cfg->alloc_burst)
        return CMN_MAX((double)cfg->alloc_burst, TURN_QUOTA_MIN_BURST);
    return CMN_MAX(rate, TURN_QUOTA_MIN_AUTO_BURST);
}

/* Set <b> to <bps>. A new bucket starts full; a changed one keeps its
 * tokens up to the new burst, so a reload neither grants nor takes away
 * more than the difference in size. */
static void bucket_set(turn_bucket_t *b, const turn_cfg_t *cfg, uint64_t bps, bool fresh,
                       double now)
{
    b->rate = (double)bps / 8.0;
    b->burst = bps ? burst_for(cfg, b->rate) : 0;
    if (fresh) {
        b->tokens = b->burst;
        b->last = now;
    } else if (b->tokens > b->burst) {
        b->tokens = b->burst;
    }
}

/* ---- Rates --------------------------------------------------------------- */

static uint64_t user_rate(const turn_cfg_t *cfg, const char *quota_user)
{
    for (size_t i = 0; i < cfg->nquota_rules; i++)
        if (!cfg->quota_rules[i].glob && strcmp(cfg->quota_rules[i].pattern, quota_user) == 0)
            return cfg->quota_rules[i].bps;
    for (size_t i = 0; i < cfg->nquota_rules; i++)
        if (cfg->quota_rules[i].glob && fnmatch(cfg->quota_rules[i].pattern, quota_user, 0) == 0)
            return cfg->quota_rules[i].bps;
    return cfg->alloc_bps;
}

/* The rate <a> runs at: its own, or the floor while throttled (never
 * more than its own: a floor above a user's rate would be a raise). */
static uint64_t effective_bps(const turn_cfg_t *cfg, const turn_alloc_t *a)
{
    if (!a->throttled)
        return a->q_bps;
    if (a->q_bps == 0)
        return cfg->floor_bps;
    return CMN_MIN(a->q_bps, cfg->floor_bps);
}

static void alloc_apply(turn_t *t, turn_alloc_t *a, bool fresh, double now)
{
    uint64_t bps = effective_bps(t->cfg, a);
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        bucket_set(&a->q[d], t->cfg, bps, fresh, fresh ? now : a->q[d].last);
}

void turn__quota_setup(turn_t *t, turn_alloc_t *a, double now)
{
    a->q_bps = user_rate(t->cfg, a->quota_user);
    alloc_apply(t, a, true, now);
}

void turn__quota_throttle(turn_t *t, turn_alloc_t *a, bool on)
{
    if (a->throttled == on)
        return;
    a->throttled = on;
    alloc_apply(t, a, false, 0);
}

static void total_apply(turn_t *t, bool fresh)
{
    const turn_cfg_t *cfg = t->cfg;
    uint32_t shares = cfg->total_shares ? cfg->total_shares : 1;
    uint64_t bps = cfg->total_bps ? CMN_MAX(cfg->total_bps / shares, 1) : 0;
    for (int d = 0; d < TURN_DIR_COUNT; d++) {
        turn_bucket_t *b = &t->total[d];
        double rate = (double)bps / 8.0;
        bool was_free = b->rate == 0;
        b->rate = rate;
        /* The worker's bucket holds one second of its share (at least the
         * automatic minimum), whatever quota.allocation_burst says. */
        b->burst = bps ? CMN_MAX(rate, TURN_QUOTA_MIN_AUTO_BURST) : 0;
        if (fresh || was_free)
            b->tokens = b->burst; /* b->last: the next fill moves it */
        else if (b->tokens > b->burst)
            b->tokens = b->burst;
    }
}

static void reload_one(void *ctx, turn_alloc_t *a)
{
    turn_t *t = ctx;
    a->q_bps = user_rate(t->cfg, a->quota_user);
    /* An allocation that was unlimited has no tokens to keep: it starts
     * full, as a new one would. */
    bool fresh = a->q[0].rate == 0;
    alloc_apply(t, a, fresh, a->q[0].last > a->q[1].last ? a->q[0].last : a->q[1].last);
}

void turn__quota_reload(turn_t *t)
{
    total_apply(t, false);
    turn_foreach_alloc(t, reload_one, t);
}

void turn__quota_init(turn_t *t)
{
    total_apply(t, true);
}
