/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_usage.c: usage accounting for the current quota period (a UTC day or
 * calendar month, quota.period): bytes, packets, allocations and cost per
 * user (the quota user) and per realm, fed by the workers:
 *  - each worker's tick (about once a second) walks its live allocations,
 *    takes each one's new bytes since its previous report (ihd_acct_t in
 *    the allocation's glue) and applies them with ONE mutex acquisition;
 *    it also formats the interim ledger records that are due and queues
 *    them with one call;
 *  - relay_close reports the last bytes, the final ledger record and the
 *    allocation histograms (per-worker buckets, summed on read).
 * Nothing here runs per packet.
 *
 * Quotas: when a user's bytes this period reach quota.user_bytes, the user
 * is blocked in turn_shared (TURN_BLOCK_QUOTA: new Allocates get 486, the
 * workers end or throttle the user's allocations per quota.over_action).
 * At a period rollover the table restarts empty and quota blocks are lifted;
 * revocations stay. At start the current period is rebuilt from the ledger
 * files, so a restart does not reset quotas.
 *
 * Memory: the table holds one row per user seen this period, at most
 * IHD_USAGE_MAX_USERS (then new names share the "other" row; such users
 * are not blocked individually), and at most IHD_USAGE_MAX_REALMS realms.
 * It is freed at each rollover.
 */
#include "ihd.h"

#include "common/cmn_log.h"
#include "daemon/ihd_acct.h"

const double ihd__dur_le[NDUR] = {1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 86400};
const double ihd__bytes_le[NBYTES] = {1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11};

/* Users whose block changes, collected under the mutex and applied after
 * it is released (turn_shared takes its own mutex). */
typedef ihd_names_t name_list_t;

static void names_add(name_list_t *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = cmn_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = cmn_strdup(s);
}

static void names_clear(name_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        cmn_free(l->v[i]);
    cmn_free(l->v);
    memset(l, 0, sizeof(*l));
}

static void names_copy(name_list_t *dst, const name_list_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        names_add(dst, src->v[i]);
}

/* Block (TURN_BLOCK_QUOTA), lift (TURN_BLOCK_NONE: only our own quota
 * blocks, never a revocation) or re-check (<verify>: put back a quota block
 * someone lifted, e.g. an operator's un-revoke of a user still over quota)
 * the users of <l>, then free it. */
static void names_apply(ihd_server_t *srv, name_list_t *l, turn_block_t why, bool verify)
{
    for (size_t i = 0; i < l->n; i++) {
        turn_block_t now = turn_shared_user_blocked(srv->turn_shared, l->v[i]);
        if (why == TURN_BLOCK_QUOTA && (!verify || now == TURN_BLOCK_NONE)) {
            turn_shared_block_user(srv->turn_shared, l->v[i], TURN_BLOCK_QUOTA);
            if (!verify)
                cmn_info("usage", "user \"%s\" reached quota.user_bytes for this period",
                         l->v[i]);
        } else if (why == TURN_BLOCK_NONE) {
            turn_shared_lift_block(srv->turn_shared, l->v[i], TURN_BLOCK_QUOTA);
        }
    }
    names_clear(l);
}

static ihd_period_t period_of(int kind)
{
    return kind == CMN_QUOTA_PERIOD_DAY ? IHD_PERIOD_DAY : IHD_PERIOD_MONTH;
}

/* Under the mutex: start a new period once <wall> passed the end of the
 * current one, or quota.period changed. Only forward: a wall clock stepped
 * back (NTP) keeps the current period rather than wiping it. Blocks to
 * lift go to <lift>. */
static void roll_period(ihd_usage_t *u, const cmn_settings_t *s, double wall, name_list_t *lift)
{
    if (wall < u->pend && s->quota.period == u->period_kind)
        return;
    names_copy(lift, &u->qblocked);
    names_clear(&u->qblocked);
    if (u->pend > 0)
        cmn_info("usage", "new %s period: usage restarts (%llu users last period)",
                 ihd_period_name(period_of(s->quota.period)),
                 (unsigned long long)u->users.n);
    ihd_utab_dispose(&u->users);
    ihd_utab_dispose(&u->realms);
    ihd_utab_init(&u->users, IHD_USAGE_MAX_USERS);
    ihd_utab_init(&u->realms, IHD_USAGE_MAX_REALMS);
    memset(&u->total, 0, sizeof(u->total));
    u->allocations = 0;
    u->period_kind = s->quota.period;
    ihd_period_bounds(period_of(u->period_kind), wall, &u->pstart, &u->pend);
}

static void add_counts(ihd_urow_t *r, const turn_alloc_counters_t *d, bool started)
{
    r->to_peer_bytes += d->to_peer_bytes;
    r->to_client_bytes += d->to_client_bytes;
    r->to_peer_packets += d->to_peer_packets;
    r->to_client_packets += d->to_client_packets;
    r->allocations += started;
}

/* Under the mutex: add one user's delta; a user who reaches the limit goes
 * to <block>. The overflow row is never blocked (it is not one user). */
static void apply_one(ihd_usage_t *u, const char *user, const char *realm,
                      const turn_alloc_counters_t *d, bool started, name_list_t *block)
{
    ihd_urow_t *rr = ihd_utab_get(&u->realms, realm);
    ihd_urow_t *r = ihd_utab_get(&u->users, user);
    add_counts(rr, d, started);
    add_counts(r, d, started);
    if (!r->realm)
        r->realm = rr->name;
    u->total.to_peer_bytes += d->to_peer_bytes;
    u->total.to_client_bytes += d->to_client_bytes;
    u->total.to_peer_packets += d->to_peer_packets;
    u->total.to_client_packets += d->to_client_packets;
    u->allocations += started;
    if (block && u->limit && !r->quota_blocked && r != u->users.other &&
        ihd_urow_bytes(r) >= u->limit) {
        r->quota_blocked = true;
        names_add(block, r->name);
        names_add(&u->qblocked, r->name);
    }
}

typedef struct relimit_ctx_s {
    uint64_t limit;
    name_list_t *block, *lift, *blocked;
} relimit_ctx_t;

static void relimit_one(void *ctx, ihd_urow_t *r)
{
    relimit_ctx_t *c = ctx;
    bool over = c->limit && ihd_urow_bytes(r) >= c->limit;
    if (over && !r->quota_blocked)
        names_add(c->block, r->name);
    else if (!over && r->quota_blocked)
        names_add(c->lift, r->name);
    if (over)
        names_add(c->blocked, r->name);
    r->quota_blocked = over;
}

/* Under the mutex: quota.user_bytes changed (reload): re-decide every row. */
static void relimit(ihd_usage_t *u, uint64_t limit, name_list_t *block, name_list_t *lift)
{
    if (limit == u->limit)
        return;
    u->limit = limit;
    names_clear(&u->qblocked);
    relimit_ctx_t c = {limit, block, lift, &u->qblocked};
    ihd_utab_foreach(&u->users, relimit_one, &c);
}

void ihd__usage_fold(ihd_usage_t *u, const char *user, const char *realm,
                     const turn_alloc_counters_t *d, bool started)
{
    apply_one(u, user, realm, d, started, NULL);
}

/* Apply a batch of deltas with one lock, then change blocks outside it. */
void ihd__usage_apply(ihd_usage_t *u, const cmn_settings_t *s, const usage_delta_t *d,
                        size_t n, double wall)
{
    name_list_t block = {0}, lift = {0}, verify = {0};
    uint64_t gen = turn_shared_block_gen(u->srv->turn_shared);
    pthread_mutex_lock(&u->mu);
    roll_period(u, s, wall, &lift);
    relimit(u, s->quota.user_bytes, &block, &lift);
    for (size_t i = 0; i < n; i++)
        apply_one(u, d[i].user, s->turn.realm, &d[i].d, d[i].started, &block);
    /* The blocked set changed (a revoke or an un-revoke, or our own blocks):
     * make sure our quota blocks are all still in place. */
    if (gen != u->block_gen) {
        u->block_gen = gen;
        names_copy(&verify, &u->qblocked);
    }
    pthread_mutex_unlock(&u->mu);
    names_apply(u->srv, &lift, TURN_BLOCK_NONE, false);
    names_apply(u->srv, &block, TURN_BLOCK_QUOTA, false);
    names_apply(u->srv, &verify, TURN_BLOCK_QUOTA, true);
}

static turn_alloc_counters_t counters_sub(const turn_alloc_counters_t *a,
                                          const turn_alloc_counters_t *b)
{
    return (turn_alloc_counters_t){
        .to_peer_bytes = a->to_peer_bytes - b->to_peer_bytes,
        .to_peer_packets = a->to_peer_packets - b->to_peer_packets,
        .to_client_bytes = a->to_client_bytes - b->to_client_bytes,
        .to_client_packets = a->to_client_packets - b->to_client_packets,
    };
}

static void acct_first(ihd_acct_t *acct, const turn_alloc_info_t *info, int interval)
{
    if (acct->seen)
        return;
    acct->seen = true;
    acct->ledger_last = info->started_wall;
    acct->next_interim = info->started + interval;
}

/* Format the next ledger record of <a> (its bytes since the previous one)
 * into the buffer. */
static void ledger_record(ihd_worker_t *w, turn_alloc_t *a, ihd_acct_t *acct,
                          const turn_alloc_info_t *info, double wall, bool final, char **buf,
                          size_t *len, size_t *cap)
{
    const turn_alloc_counters_t *c = turn_alloc_counters(a);
    const turn_5tuple_t *tp = turn_alloc_tuple(a);
    ihd_rec_t r = {
        .final = final,
        .alloc_id = info->id,
        .seq = acct->seq++,
        .user = info->user,
        .quota_user = info->quota_user,
        .realm = w->cfg->s.turn.realm,
        .client = tp->client,
        .transport = tp->transport,
        .relay = info->relay,
        .nrelay = info->nrelay,
        .start = final ? info->started_wall : acct->ledger_last,
        .end = wall,
        .d = counters_sub(c, &acct->ledger_rep),
        .peers = info->peers,
        .npeers = info->npeers,
        .peers_total = info->peers_total,
        .end_reason = final ? turn_end_reason_name(info->end_reason) : NULL,
    };
    ihd_rec_encode(&r, buf, len, cap);
    acct->ledger_rep = *c;
    acct->ledger_last = wall;
}

typedef struct tick_ctx_s {
    ihd_worker_t *w;
    ihd_usage_t *u;
    usage_worker_t *wk;
    double now, wall;
    int interval;
} tick_ctx_t;

static void tick_one(void *ctx, turn_alloc_t *a)
{
    tick_ctx_t *c = ctx;
    ihd_acct_t *acct = ihd_relay_acct(a);
    if (!acct)
        return;
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    bool started = !acct->seen;
    acct_first(acct, &info, c->interval);
    const turn_alloc_counters_t *cur = turn_alloc_counters(a);
    turn_alloc_counters_t d = counters_sub(cur, &acct->usage_rep);
    if (started || d.to_peer_packets || d.to_client_packets) {
        usage_worker_t *wk = c->wk;
        if (wk->nd == wk->dcap) {
            wk->dcap = wk->dcap ? 2 * wk->dcap : 64;
            wk->d = cmn_realloc(wk->d, wk->dcap * sizeof(*wk->d));
        }
        wk->d[wk->nd++] = (usage_delta_t){.user = info.quota_user, .d = d, .started = started};
        acct->usage_rep = *cur;
    }
    if (c->u->ledger && c->now >= acct->next_interim) {
        ledger_record(c->w, a, acct, &info, c->wall, false, &c->wk->lines, &c->wk->llen,
                      &c->wk->lcap);
        c->wk->nlines++;
        acct->next_interim = c->now + c->interval;
    }
}

void ihd_usage_tick(ihd_worker_t *w, double now, double wall)
{
    ihd_usage_t *u = w->srv->usage;
    if (!u || w->id >= IHD_MAX_WORKERS)
        return;
    usage_worker_t *wk = &u->wk[w->id];
    tick_ctx_t c = {w, u, wk, now, wall, w->cfg->s.ledger.interval};
    wk->nd = 0;
    wk->llen = 0;
    wk->nlines = 0;
    if (w->turn)
        turn_foreach_alloc(w->turn, tick_one, &c);
    ihd_ledger_append(u->ledger, wk->lines, wk->llen, wk->nlines);
    ihd__usage_apply(u, &w->cfg->s, wk->d, wk->nd, wall);
}

static void hist_observe(usage_worker_t *wk, double secs, uint64_t bytes)
{
    size_t i = 0;
    while (i < NDUR && secs > ihd__dur_le[i])
        i++;
    IHD_INC(wk->dur[i], 1);
    size_t j = 0;
    while (j < NBYTES && (double)bytes > ihd__bytes_le[j])
        j++;
    IHD_INC(wk->bytes[j], 1);
    IHD_INC(wk->dur_sum_us, (uint64_t)(secs * 1e6));
    IHD_INC(wk->bytes_sum, bytes);
    IHD_INC(wk->count, 1);
}

void ihd_usage_alloc_end(ihd_worker_t *w, turn_alloc_t *a, ihd_acct_t *acct)
{
    ihd_usage_t *u = w->srv->usage;
    if (!u || w->id >= IHD_MAX_WORKERS)
        return;
    double now = ihd_now(), wall = ihd_wallclock();
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    bool started = !acct->seen;
    acct_first(acct, &info, w->cfg->s.ledger.interval);
    const turn_alloc_counters_t *cur = turn_alloc_counters(a);
    usage_delta_t d = {.user = info.quota_user, .d = counters_sub(cur, &acct->usage_rep),
                       .started = started};
    acct->usage_rep = *cur;
    ihd__usage_apply(u, &w->cfg->s, &d, 1, wall);
    hist_observe(&u->wk[w->id], now - info.started, cur->to_peer_bytes + cur->to_client_bytes);
    if (u->ledger) {
        char *buf = NULL;
        size_t len = 0, cap = 0;
        ledger_record(w, a, acct, &info, wall, true, &buf, &len, &cap);
        ihd_ledger_append(u->ledger, buf, len, 1);
        cmn_free(buf);
    }
}
