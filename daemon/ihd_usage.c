/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_usage.c: the daemon's side of usage accounting (acct/): it feeds
 * the usage table and the ledger from the workers' allocations, and puts
 * the table's quota blocks into the relay's block list (turn_shared_t).
 *  - each worker's tick (about once a second) walks its live allocations,
 *    takes each one's new bytes since its previous report (the worker's
 *    usage_alloc_t of it, found by allocation id) and applies them with
 *    ONE call (one mutex acquisition); it also formats the interim ledger
 *    records that are due and queues them with one call;
 *  - relay_close reports the last bytes, the final ledger record and the
 *    allocation histograms (one acct_hist_t per worker, summed on read).
 * Nothing here runs per packet. Start, reload and stop follow the
 * daemon's life cycle; /api/usage and /metrics are acct/'s views with the
 * settings of the moment.
 */
#include "ihd.h"

#include "common/cmn_log.h"

/* Accounting state of one allocation, from its first tick to its end. */
typedef struct usage_alloc_s {
    cmn_map_node_t node;                /* in usage_worker_t.allocs, by id */
    uint64_t id;                        /* turn_alloc_info_t.id */
    bool seen;                          /* counted in the usage table */
    turn_alloc_counters_t usage_rep;    /* already added to the usage table */
    turn_alloc_counters_t ledger_rep;   /* already in ledger records */
    double ledger_last;                 /* wall time the previous record ended */
    double next_interim;                /* monotonic time of the next interim record */
    uint32_t seq;                       /* ledger records of this allocation so far */
} usage_alloc_t;

/* Per-worker state: written by its worker only, so no lock. */
typedef struct usage_worker_s {
    cmn_map_t allocs;           /* usage_alloc_t of the worker's allocations; lazy */
    acct_delta_t *d;            /* tick scratch */
    size_t nd, dcap;
    char *lines;                /* interim records of this tick */
    size_t llen, lcap;
    unsigned nlines;
} __attribute__((aligned(64))) usage_worker_t;

typedef struct ihd_usage_s {
    acct_usage_t *table;
    bool prepared;              /* ihd_usage_prepare read the ledger up to <mark> */
    acct_mark_t mark;
    acct_ledger_t *ledger;      /* NULL without ledger.path */
    usage_worker_t wk[IHD_MAX_WORKERS];
    acct_hist_t hist[IHD_MAX_WORKERS]; /* written by each worker, read by /metrics */
} ihd_usage_t;

/* ---- Settings and the relay's block list ----------------------------------- */

static acct_period_t period_of(const cmn_settings_t *s)
{
    return s->quota.period == CMN_QUOTA_PERIOD_DAY ? ACCT_PERIOD_DAY : ACCT_PERIOD_MONTH;
}

static acct_rules_t rules_of(const cmn_settings_t *s)
{
    return (acct_rules_t){.period = period_of(s), .user_bytes = s->quota.user_bytes,
                          .realm = s->turn.realm};
}

static acct_block_t blk_state(void *ctx, const char *user)
{
    turn_block_t b = turn_shared_user_blocked(ctx, user);
    return b == TURN_BLOCK_QUOTA ? ACCT_BLOCK_QUOTA
           : b == TURN_BLOCK_NONE ? ACCT_BLOCK_NONE
                                  : ACCT_BLOCK_OTHER;
}

static void blk_block(void *ctx, const char *user)
{
    turn_shared_block_user(ctx, user, TURN_BLOCK_QUOTA);
}

static void blk_lift(void *ctx, const char *user)
{
    turn_shared_lift_block(ctx, user, TURN_BLOCK_QUOTA);
}

static uint64_t blk_gen(void *ctx)
{
    return turn_shared_block_gen(ctx);
}

static acct_counts_t counts_of(const turn_alloc_counters_t *c)
{
    return (acct_counts_t){.to_peer_bytes = c->to_peer_bytes,
                           .to_peer_packets = c->to_peer_packets,
                           .to_client_bytes = c->to_client_bytes,
                           .to_client_packets = c->to_client_packets};
}

static acct_counts_t counters_sub(const turn_alloc_counters_t *a, const turn_alloc_counters_t *b)
{
    return (acct_counts_t){
        .to_peer_bytes = a->to_peer_bytes - b->to_peer_bytes,
        .to_peer_packets = a->to_peer_packets - b->to_peer_packets,
        .to_client_bytes = a->to_client_bytes - b->to_client_bytes,
        .to_client_packets = a->to_client_packets - b->to_client_packets,
    };
}

/* ---- Life cycle ----------------------------------------------------------- */

static acct_usage_t *table_new(ihd_server_t *srv, const cmn_settings_t *s)
{
    acct_blocker_t blocker = {.ctx = srv->turn_shared, .state = blk_state, .block = blk_block,
                              .lift = blk_lift, .gen = blk_gen};
    return acct_usage_new(&blocker, period_of(s), ihd_wallclock());
}

void ihd_usage_prepare(ihd_server_t *srv)
{
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    if (!s->ledger.path[0])
        return;
    ihd_usage_t *u = cmn_calloc(1, sizeof(*u));
    u->table = table_new(srv, s);
    u->mark.fd = -1;
    acct_usage_rebuild(u->table, s->ledger.path, &u->mark);
    u->prepared = true;
    srv->usage = u;
}

int ihd_usage_start(ihd_server_t *srv, char *err, size_t errlen)
{
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    ihd_usage_t *u = srv->usage;
    if (!u) {
        u = cmn_calloc(1, sizeof(*u));
        u->table = table_new(srv, s);
        if (s->ledger.path[0])
            acct_usage_rebuild(u->table, s->ledger.path, NULL);
    } else if (u->prepared) {
        /* Most of the ledger was read before the handover; the rest now. */
        acct_usage_catch_up(u->table, s->ledger.path, &u->mark);
        u->prepared = false;
    }
    srv->usage = NULL;
    if (s->ledger.path[0]) {
        if (acct_ledger_open(s->ledger.path, s->ledger.max_bytes, s->ledger.rotate_daily,
                             &u->ledger, err, errlen) < 0) {
            acct_usage_free(u->table);
            cmn_free(u);
            return CMN_EIO;
        }
        cmn_info("ledger", "writing %s (interim records every %d s)", s->ledger.path,
                 s->ledger.interval);
    }
    srv->usage = u;
    /* Block the users the rebuilt usage already puts over the quota. */
    acct_rules_t r = rules_of(s);
    acct_usage_apply(u->table, &r, NULL, 0, ihd_wallclock());
    return 0;
}

int ihd_usage_check(const cmn_settings_t *s, char *err, size_t errlen)
{
    if (!s->ledger.path[0])
        return 0;
    return acct_ledger_check(s->ledger.path, s->ledger.max_bytes, s->ledger.rotate_daily, err,
                             errlen);
}

void ihd_usage_reload(ihd_server_t *srv)
{
    ihd_usage_t *u = srv->usage;
    if (!u || !u->ledger)
        return;
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    acct_ledger_configure(u->ledger, s->ledger.max_bytes, s->ledger.rotate_daily);
    acct_ledger_reopen(u->ledger);
}

void ihd_usage_stop(ihd_server_t *srv)
{
    ihd_usage_t *u = srv->usage;
    if (!u)
        return;
    srv->usage = NULL;
    acct_ledger_close(u->ledger);
    if (u->prepared && u->mark.fd >= 0)
        close(u->mark.fd); /* an upgrade that did not happen */
    for (unsigned i = 0; i < IHD_MAX_WORKERS; i++) {
        usage_worker_t *wk = &u->wk[i];
        cmn_map_iter_t it;
        cmn_map_iter_init(&it, &wk->allocs);
        for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
            cmn_free(CMN_MAP_ENTRY(n, usage_alloc_t, node));
        cmn_map_dispose(&wk->allocs);
        cmn_free(wk->d);
        cmn_free(wk->lines);
    }
    acct_usage_free(u->table);
    cmn_free(u);
}

/* ---- The workers' side ------------------------------------------------------ */

/* The accounting state of allocation <id> on this worker, or NULL. */
static usage_alloc_t *alloc_find(usage_worker_t *wk, uint64_t id)
{
    if (!wk->allocs.b)
        return NULL;
    uint64_t h = cmn_map_hash_bytes(&wk->allocs, &id, sizeof(id));
    for (cmn_map_node_t *n = cmn_map_first(&wk->allocs, h); n; n = cmn_map_next(n)) {
        usage_alloc_t *st = CMN_MAP_ENTRY(n, usage_alloc_t, node);
        if (st->id == id)
            return st;
    }
    return NULL;
}

/* ... made at its first sight (its first tick, or its end if it never saw
 * one). */
static usage_alloc_t *alloc_state(usage_worker_t *wk, uint64_t id)
{
    usage_alloc_t *st = alloc_find(wk, id);
    if (st)
        return st;
    if (!wk->allocs.b)
        cmn_map_init(&wk->allocs, 64);
    st = cmn_calloc(1, sizeof(*st));
    st->id = id;
    cmn_map_insert(&wk->allocs, &st->node, cmn_map_hash_bytes(&wk->allocs, &id, sizeof(id)));
    return st;
}

static void acct_first(usage_alloc_t *acct, const turn_alloc_info_t *info, int interval)
{
    if (acct->seen)
        return;
    acct->seen = true;
    acct->ledger_last = info->started_wall;
    acct->next_interim = info->started + interval;
}

/* Format the next ledger record of <a> (its bytes since the previous one)
 * into the buffer. */
static void ledger_record(ihd_worker_t *w, turn_alloc_t *a, usage_alloc_t *acct,
                          const turn_alloc_info_t *info, double wall, bool final, char **buf,
                          size_t *len, size_t *cap)
{
    const turn_alloc_counters_t *c = turn_alloc_counters(a);
    const turn_5tuple_t *tp = turn_alloc_tuple(a);
    acct_rec_t r = {
        .final = final,
        .alloc_id = info->id,
        .seq = acct->seq++,
        .user = info->user,
        .quota_user = info->quota_user,
        .realm = w->cfg->s.turn.realm,
        .client = tp->client,
        .transport = turn_transport_name((turn_transport_t)tp->transport),
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
    acct_rec_encode(&r, buf, len, cap);
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
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    usage_alloc_t *acct = alloc_state(c->wk, info.id);
    bool started = !acct->seen;
    acct_first(acct, &info, c->interval);
    const turn_alloc_counters_t *cur = turn_alloc_counters(a);
    acct_counts_t d = counters_sub(cur, &acct->usage_rep);
    if (started || d.to_peer_packets || d.to_client_packets) {
        usage_worker_t *wk = c->wk;
        if (wk->nd == wk->dcap) {
            wk->dcap = wk->dcap ? 2 * wk->dcap : 64;
            wk->d = cmn_realloc(wk->d, wk->dcap * sizeof(*wk->d));
        }
        wk->d[wk->nd++] = (acct_delta_t){.user = info.quota_user, .d = d, .started = started};
        acct->usage_rep = *cur;
    }
    if (c->u->ledger && c->now >= acct->next_interim) {
        ledger_record(c->w, a, acct, &info, c->wall, false, &c->wk->lines, &c->wk->llen,
                      &c->wk->lcap);
        c->wk->nlines++;
        acct->next_interim = c->now + c->interval;
    }
}

static void end_unbilled(void *ctx, turn_alloc_t *a)
{
    turn_alloc_end(ctx, a, TURN_END_ACCOUNTING);
}

/* ledger.on_error = stop: while the ledger cannot write, hold new
 * allocations (turn_shared_hold: Allocate gets 508) and end this worker's
 * live ones; let go once it writes again. */
static void ledger_guard(ihd_worker_t *w, ihd_usage_t *u)
{
    acct_ledger_stats_t st;
    acct_ledger_stats(u->ledger, &st);
    bool stop = st.failing && w->cfg->s.ledger.on_error == CMN_LEDGER_ON_ERROR_STOP;
    if (turn_shared_hold(w->srv->turn_shared, stop))
        cmn_warn("ledger", stop ? "cannot write: allocations refused and ended "
                                  "(ledger.on_error = stop)"
                                : "writing again: allocations accepted");
    if (stop && w->turn)
        turn_foreach_alloc(w->turn, end_unbilled, w->turn);
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
    acct_ledger_append(u->ledger, wk->lines, wk->llen, wk->nlines);
    ledger_guard(w, u);
    acct_rules_t r = rules_of(&w->cfg->s);
    acct_usage_apply(u->table, &r, wk->d, wk->nd, wall);
}

void ihd_usage_alloc_end(ihd_worker_t *w, turn_alloc_t *a)
{
    ihd_usage_t *u = w->srv->usage;
    if (!u || w->id >= IHD_MAX_WORKERS)
        return;
    double now = ihd_now(), wall = ihd_wallclock();
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    usage_worker_t *wk = &u->wk[w->id];
    usage_alloc_t *acct = alloc_state(wk, info.id);
    bool started = !acct->seen;
    acct_first(acct, &info, w->cfg->s.ledger.interval);
    const turn_alloc_counters_t *cur = turn_alloc_counters(a);
    acct_delta_t d = {.user = info.quota_user, .d = counters_sub(cur, &acct->usage_rep),
                      .started = started};
    acct->usage_rep = *cur;
    acct_rules_t r = rules_of(&w->cfg->s);
    acct_usage_apply(u->table, &r, &d, 1, wall);
    acct_counts_t all = counts_of(cur);
    acct_hist_observe(&u->hist[w->id], now - info.started,
                      all.to_peer_bytes + all.to_client_bytes);
    if (u->ledger) {
        char *buf = NULL;
        size_t len = 0, cap = 0;
        ledger_record(w, a, acct, &info, wall, true, &buf, &len, &cap);
        acct_ledger_append(u->ledger, buf, len, 1);
        cmn_free(buf);
    }
    cmn_map_remove(&wk->allocs, &acct->node);
    cmn_free(acct);
}

acct_usage_t *ihd__usage_table(ihd_server_t *srv)
{
    return srv->usage ? srv->usage->table : NULL;
}

/* ---- Live upgrade -------------------------------------------------------------- */

void ihd_usage_export(ihd_worker_t *w, uint64_t id, ihd_usage_state_t *out)
{
    ihd_usage_t *u = w->srv->usage;
    memset(out, 0, sizeof(*out));
    usage_alloc_t *st = u && w->id < IHD_MAX_WORKERS ? alloc_find(&u->wk[w->id], id) : NULL;
    if (!st || !st->seen)
        return; /* never ticked: the new process starts it as new */
    out->seen = true;
    out->ledger_rep = st->ledger_rep;
    out->ledger_last = st->ledger_last;
    out->interim_in = st->next_interim - ihd_now();
    out->seq = st->seq;
}

void ihd_usage_forget(ihd_worker_t *w, uint64_t id)
{
    ihd_usage_t *u = w->srv->usage;
    usage_alloc_t *st = u && w->id < IHD_MAX_WORKERS ? alloc_find(&u->wk[w->id], id) : NULL;
    if (st) {
        cmn_map_remove(&u->wk[w->id].allocs, &st->node);
        cmn_free(st);
    }
}

void ihd_usage_import(ihd_worker_t *w, uint64_t id, const ihd_usage_state_t *in)
{
    ihd_usage_t *u = w->srv->usage;
    if (!u || !in->seen || w->id >= IHD_MAX_WORKERS)
        return;
    usage_alloc_t *st = alloc_state(&u->wk[w->id], id);
    st->seen = true;
    st->ledger_rep = in->ledger_rep;
    /* The usage table was rebuilt from the ledger: what the old table had
     * beyond the last record comes in at the first tick here. */
    st->usage_rep = in->ledger_rep;
    st->ledger_last = in->ledger_last;
    st->next_interim = ihd_now() + in->interim_in;
    st->seq = in->seq;
}

int ihd_usage_flush(ihd_server_t *srv)
{
    ihd_usage_t *u = srv->usage;
    return u ? acct_ledger_flush(u->ledger, 5.0) : 0;
}

void ihd_usage_yield(ihd_server_t *srv)
{
    ihd_usage_t *u = srv->usage;
    if (u && u->ledger)
        acct_ledger_configure(u->ledger, 0, false);
}

/* ---- Views ------------------------------------------------------------------ */

char *ihd_usage_json(ihd_server_t *srv, size_t *len)
{
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    ihd_usage_t *u = srv->usage;
    acct_view_t v = {.period = period_of(s), .user_bytes = s->quota.user_bytes,
                     .prices = ihd_prices(s)};
    return acct_usage_json(u ? u->table : NULL, &v, ihd_wallclock(), len);
}

void ihd_usage_metrics(ihd_server_t *srv, struct cmn_prom_s *p)
{
    ihd_usage_t *u = srv->usage;
    if (!u)
        return;
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    acct_usage_metrics(u->table, (size_t)s->metrics.top_users, p);
    acct_hist_metrics(u->hist, IHD_MAX_WORKERS, p);
    acct_ledger_metrics(u->ledger, p);
}
