/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_admin.c: what the admin API (ihd_api.c, on the HTTP thread) needs
 * from the relay workers, without ever taking a lock on the packet path.
 *
 * - Snapshots: once a second each worker's tick copies its live
 *   allocations (ids, users, addresses, bytes and packets each way) into a
 *   fresh array, computes rates against its previous snapshot, and swaps
 *   it in under that worker's mutex. The HTTP thread copies the arrays
 *   under the same mutexes, so it sees data at most one second old and
 *   never touches a turn_t.
 * - Commands: "end allocation <id>" is posted to every worker's mailbox
 *   (an atomic sequence number; the command itself sits under the admin
 *   mutex), the workers are poked through their eventfds, and each runs
 *   the command when it wakes (or at its next tick) with turn_alloc_end.
 *   The HTTP thread waits, bounded, for every worker's answer, so the
 *   reply says whether the allocation existed.
 * - Revocations: turn_shared_block_user does the refusing and ending; the
 *   list (acct_revokes_t: names with an expiry) is kept in
 *   admin.revocations_file, so a restart or a live upgrade blocks the same
 *   users again at start, and the main thread lifts the expired ones.
 *
 * Left out: HTTP and JSON (ihd_api.c).
 */
#include "ihd.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <time.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"

#define ADMIN_CMD_TIMEOUT 2.0   /* s the HTTP thread waits for the workers */

typedef struct admin_snap_s {
    double taken;               /* monotonic seconds */
    size_t n;
    ihd_admin_alloc_t *v;       /* owned; sorted by id */
    char *pool;                 /* owned; the strings the entries point into */
    size_t pool_len;
} admin_snap_t;

typedef struct admin_slot_s {
    pthread_mutex_t mu;         /* guards snap (the pointer) */
    admin_snap_t *snap;         /* owned; written by the worker, copied by readers */
    uint64_t want;              /* atomic: sequence of a command posted to this worker */
} admin_slot_t;

struct ihd_admin_s {
    admin_slot_t slot[IHD_MAX_WORKERS];
    pthread_mutex_t mu;         /* guards the fields below */
    pthread_cond_t done;        /* signalled as workers answer */
    uint64_t seq;               /* of the command in flight */
    uint64_t cmd_id;            /* allocation to end */
    unsigned pending;           /* workers yet to answer */
    bool found;
    acct_revokes_t *revokes;    /* owned; thread-safe on its own */
    /* From the settings (ihd_admin_configure), so the HTTP thread never
     * reads a settings snapshot a reload may free. */
    bool enabled;
    bool has_token;
    uint8_t token_hash[CMN_SHA256_LEN]; /* SHA-256 of admin.token */
    char realm[128];
};

ihd_admin_t *ihd_admin_new(void)
{
    ihd_admin_t *ad = cmn_calloc(1, sizeof(*ad));
    for (unsigned i = 0; i < IHD_MAX_WORKERS; i++)
        pthread_mutex_init(&ad->slot[i].mu, NULL);
    pthread_mutex_init(&ad->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ad->done, &ca);
    pthread_condattr_destroy(&ca);
    ad->revokes = acct_revokes_new();
    return ad;
}

static void snap_free(admin_snap_t *s)
{
    if (!s)
        return;
    cmn_free(s->v);
    cmn_free(s->pool);
    cmn_free(s);
}

void ihd_admin_free(ihd_admin_t *ad)
{
    if (!ad)
        return;
    for (unsigned i = 0; i < IHD_MAX_WORKERS; i++) {
        snap_free(ad->slot[i].snap);
        pthread_mutex_destroy(&ad->slot[i].mu);
    }
    acct_revokes_free(ad->revokes);
    pthread_mutex_destroy(&ad->mu);
    pthread_cond_destroy(&ad->done);
    cmn_free(ad);
}

void ihd_admin_configure(ihd_admin_t *ad, const cmn_settings_t *s)
{
    pthread_mutex_lock(&ad->mu);
    ad->enabled = s->admin.enabled;
    ad->has_token = s->admin.token[0] != '\0';
    (void)cmn_sha256(s->admin.token, strlen(s->admin.token), ad->token_hash);
    snprintf(ad->realm, sizeof(ad->realm), "%s", s->turn.realm);
    pthread_mutex_unlock(&ad->mu);
}

bool ihd_admin_enabled(ihd_server_t *srv)
{
    ihd_admin_t *ad = srv->admin;
    pthread_mutex_lock(&ad->mu);
    bool on = ad->enabled;
    pthread_mutex_unlock(&ad->mu);
    return on;
}

void ihd_admin_realm(ihd_server_t *srv, char *buf, size_t len)
{
    ihd_admin_t *ad = srv->admin;
    pthread_mutex_lock(&ad->mu);
    snprintf(buf, len, "%s", ad->realm);
    pthread_mutex_unlock(&ad->mu);
}

bool ihd_admin_auth(ihd_server_t *srv, const char *authorization)
{
    ihd_admin_t *ad = srv->admin;
    /* Hashing both sides makes the comparison independent of the length
     * of what was sent, as well as of its content. */
    uint8_t got[CMN_SHA256_LEN];
    const char *tok;
    size_t n;
    ihd_bearer_token(authorization, &tok, &n);
    (void)cmn_sha256(tok, n, got);
    pthread_mutex_lock(&ad->mu);
    bool ok = !ad->has_token || (n > 0 && cmn_ct_equal(got, ad->token_hash, sizeof(got)));
    pthread_mutex_unlock(&ad->mu);
    return ok;
}

/* ---- Worker side: snapshots ------------------------------------------- */

typedef struct snap_build_s {
    admin_snap_t *s;
    size_t cap, pool_cap;
    unsigned worker;
} snap_build_t;

/* Append <str> to the pool; returns its offset (pointers are fixed up once
 * the pool stops moving). */
static size_t pool_add(snap_build_t *b, const char *str)
{
    size_t n = strlen(str ? str : "") + 1;
    if (b->s->pool_len + n > b->pool_cap) {
        b->pool_cap = CMN_MAX(2 * b->pool_cap, b->s->pool_len + n + 256);
        b->s->pool = cmn_realloc(b->s->pool, b->pool_cap);
    }
    size_t off = b->s->pool_len;
    memcpy(b->s->pool + off, str ? str : "", n);
    b->s->pool_len += n;
    return off;
}

static void snap_collect(void *ctx, turn_alloc_t *a)
{
    snap_build_t *b = ctx;
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    if (info.ended)
        return;
    if (b->s->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->s->v = cmn_realloc(b->s->v, b->cap * sizeof(*b->s->v));
    }
    ihd_admin_alloc_t *e = &b->s->v[b->s->n++];
    memset(e, 0, sizeof(*e));
    const turn_5tuple_t *tu = turn_alloc_tuple(a);
    e->id = info.id;
    e->worker = b->worker;
    /* Offsets for now, stored in the pointer fields' place below. */
    e->user_off = pool_add(b, info.user);
    e->quota_user_off = pool_add(b, info.quota_user);
    e->transport = tu->transport;
    e->client = tu->client;
    e->server = tu->server;
    e->nrelay = CMN_MIN(info.nrelay, CMN_ARRAY_LEN(e->relay));
    if (e->nrelay)
        memcpy(e->relay, info.relay, e->nrelay * sizeof(e->relay[0]));
    e->npeers = CMN_MIN(info.npeers, CMN_ARRAY_LEN(e->peers));
    if (e->npeers)
        memcpy(e->peers, info.peers, e->npeers * sizeof(e->peers[0]));
    e->peers_total = info.peers_total;
    e->started_wall = info.started_wall;
    e->started = info.started;
    e->c = *turn_alloc_counters(a);
}

static int by_id(const void *x, const void *y)
{
    uint64_t a = ((const ihd_admin_alloc_t *)x)->id, b = ((const ihd_admin_alloc_t *)y)->id;
    return a < b ? -1 : a > b;
}

static const ihd_admin_alloc_t *find_id(const admin_snap_t *s, uint64_t id)
{
    if (!s || !s->n)
        return NULL;
    ihd_admin_alloc_t key = {.id = id};
    return bsearch(&key, s->v, s->n, sizeof(*s->v), by_id);
}

static double rate_bps(uint64_t now_b, uint64_t then_b, double dt)
{
    return now_b >= then_b && dt > 0.05 ? (double)(now_b - then_b) * 8.0 / dt : 0.0;
}

static void snapshot(ihd_worker_t *w, admin_slot_t *slot, double now)
{
    admin_snap_t *s = cmn_calloc(1, sizeof(*s));
    snap_build_t b = {.s = s, .worker = w->id};
    s->taken = now;
    turn_foreach_alloc(w->turn, snap_collect, &b);
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), by_id);
    /* Only this thread replaces slot->snap, so it reads it without the lock. */
    const admin_snap_t *prev = slot->snap;
    for (size_t i = 0; i < s->n; i++) {
        ihd_admin_alloc_t *e = &s->v[i];
        const ihd_admin_alloc_t *p = find_id(prev, e->id);
        /* A new allocation: its rate so far, since it started. */
        double dt = p ? now - prev->taken : now - e->started;
        e->to_peer_bps = rate_bps(e->c.to_peer_bytes, p ? p->c.to_peer_bytes : 0, dt);
        e->to_client_bps = rate_bps(e->c.to_client_bytes, p ? p->c.to_client_bytes : 0, dt);
    }
    pthread_mutex_lock(&slot->mu);
    admin_snap_t *old = slot->snap;
    slot->snap = s;
    pthread_mutex_unlock(&slot->mu);
    snap_free(old);
}

/* ---- Worker side: commands -------------------------------------------- */

typedef struct end_ctx_s {
    turn_t *t;
    uint64_t id;
    bool found;
} end_ctx_t;

static void end_one(void *ctx, turn_alloc_t *a)
{
    end_ctx_t *c = ctx;
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    if (info.id == c->id && !info.ended) {
        turn_alloc_end(c->t, a, TURN_END_ADMIN);
        c->found = true;
    }
}

void ihd_admin_wake(ihd_worker_t *w)
{
    ihd_admin_t *ad = w->srv->admin;
    if (!ad || w->id >= IHD_MAX_WORKERS)
        return;
    admin_slot_t *slot = &ad->slot[w->id];
    uint64_t seq = __atomic_exchange_n(&slot->want, 0, __ATOMIC_ACQ_REL);
    if (!seq)
        return;
    pthread_mutex_lock(&ad->mu);
    bool current = ad->seq == seq && ad->pending > 0;
    end_ctx_t c = {.t = w->turn, .id = ad->cmd_id};
    pthread_mutex_unlock(&ad->mu);
    if (!current)
        return; /* the HTTP thread gave up on it */
    if (w->turn)
        turn_foreach_alloc(w->turn, end_one, &c);
    pthread_mutex_lock(&ad->mu);
    if (ad->seq == seq && ad->pending > 0) {
        ad->found |= c.found;
        ad->pending--;
        pthread_cond_broadcast(&ad->done);
    }
    pthread_mutex_unlock(&ad->mu);
}

void ihd_admin_tick(ihd_worker_t *w, double now)
{
    ihd_admin_t *ad = w->srv->admin;
    if (!ad || w->id >= IHD_MAX_WORKERS)
        return;
    ihd_admin_wake(w); /* a command whose poke was lost */
    admin_slot_t *slot = &ad->slot[w->id];
    if (!w->cfg->s.admin.enabled || !w->turn) {
        if (slot->snap) {
            pthread_mutex_lock(&slot->mu);
            admin_snap_t *old = slot->snap;
            slot->snap = NULL;
            pthread_mutex_unlock(&slot->mu);
            snap_free(old);
        }
        return;
    }
    snapshot(w, slot, now);
}

/* ---- HTTP side -------------------------------------------------------- */

int ihd_admin_list(ihd_server_t *srv, ihd_admin_list_t *out)
{
    memset(out, 0, sizeof(*out));
    ihd_admin_t *ad = srv->admin;
    if (!ad)
        return 0;
    size_t cap = 0, pool_cap = 0;
    double now = ihd_now();
    for (unsigned i = 0; i < srv->nworkers && i < IHD_MAX_WORKERS; i++) {
        admin_slot_t *slot = &ad->slot[i];
        pthread_mutex_lock(&slot->mu);
        const admin_snap_t *s = slot->snap;
        if (s) {
            if (out->n + s->n > cap) {
                cap = CMN_MAX(2 * cap, out->n + s->n);
                out->v = cmn_realloc(out->v, cap * sizeof(*out->v));
            }
            if (out->pool_len + s->pool_len > pool_cap) {
                pool_cap = CMN_MAX(2 * pool_cap, out->pool_len + s->pool_len);
                out->pool = cmn_realloc(out->pool, pool_cap);
            }
            for (size_t k = 0; k < s->n; k++) {
                ihd_admin_alloc_t e = s->v[k];
                e.user_off += out->pool_len;
                e.quota_user_off += out->pool_len;
                out->v[out->n++] = e;
            }
            if (s->pool_len)
                memcpy(out->pool + out->pool_len, s->pool, s->pool_len);
            out->pool_len += s->pool_len;
            out->age = CMN_MAX(out->age, now - s->taken);
        }
        pthread_mutex_unlock(&slot->mu);
    }
    if (out->n)
        qsort(out->v, out->n, sizeof(*out->v), by_id);
    return 0;
}

const char *ihd_admin_str(const ihd_admin_list_t *l, size_t off)
{
    return l->pool && off < l->pool_len ? l->pool + off : "";
}

void ihd_admin_list_dispose(ihd_admin_list_t *l)
{
    cmn_free(l->v);
    cmn_free(l->pool);
    memset(l, 0, sizeof(*l));
}

int ihd_admin_end_alloc(ihd_server_t *srv, uint64_t id)
{
    ihd_admin_t *ad = srv->admin;
    if (!ad || !srv->nworkers || id == 0)
        return CMN_ENOENT;
    unsigned n = CMN_MIN(srv->nworkers, (unsigned)IHD_MAX_WORKERS);
    pthread_mutex_lock(&ad->mu);
    uint64_t seq = ++ad->seq;
    ad->cmd_id = id;
    ad->pending = n;
    ad->found = false;
    for (unsigned i = 0; i < n; i++)
        __atomic_store_n(&ad->slot[i].want, seq, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ad->mu);
    ihd_workers_poke(srv);

    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)ADMIN_CMD_TIMEOUT;
    pthread_mutex_lock(&ad->mu);
    int rc = 0;
    while (ad->pending > 0 && !ad->found && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&ad->done, &ad->mu, &until);
    bool found = ad->found;
    bool answered = ad->pending == 0 || found;
    ad->pending = 0; /* late answers are ignored */
    pthread_mutex_unlock(&ad->mu);
    if (found)
        return 0;
    return answered ? CMN_ENOENT : CMN_EAGAIN;
}

/* ---- Revocations ------------------------------------------------------- */

void ihd_revocations_path(const cmn_settings_t *s, char *buf, size_t len)
{
    if (s->admin.revocations_file[0]) {
        snprintf(buf, len, "%s", s->admin.revocations_file);
    } else if (s->ledger.path[0]) {
        char *c = cmn_strdup(s->ledger.path);
        snprintf(buf, len, "%s/revocations.json", dirname(c));
        cmn_free(c);
    } else {
        buf[0] = '\0';
    }
}

int ihd_admin_revocations_open(ihd_server_t *srv, const cmn_settings_t *s, char *err,
                               size_t errlen)
{
    ihd_admin_t *ad = srv->admin;
    char path[4096], why[1024];
    ihd_revocations_path(s, path, sizeof(path));
    if (acct_revokes_open(ad->revokes, path, ihd_wallclock(), why, sizeof(why)) < 0) {
        snprintf(err, errlen, "admin.revocations_file: %s", why);
        return CMN_EINVAL;
    }
    size_t n;
    acct_revoked_t *v = acct_revokes_list(ad->revokes, &n);
    for (size_t i = 0; i < n; i++)
        turn_shared_block_user(srv->turn_shared, v[i].user, TURN_BLOCK_REVOKED);
    acct_revokes_list_free(v, n);
    if (path[0])
        cmn_info("admin", "revocations kept in %s (%zu revoked)", path, n);
    return 0;
}

void ihd_admin_revocations_reload(ihd_server_t *srv, const cmn_settings_t *s)
{
    char path[4096];
    ihd_revocations_path(s, path, sizeof(path));
    (void)acct_revokes_set_path(srv->admin->revokes, path);
}

static void lift_expired(void *ctx, const char *user)
{
    ihd_server_t *srv = ctx;
    turn_shared_lift_block(srv->turn_shared, user, TURN_BLOCK_REVOKED);
    cmn_info("admin", "the revocation of user \"%s\" expired", user);
}

void ihd_admin_revocations_expire(ihd_server_t *srv, double wall)
{
    acct_revokes_expire(srv->admin->revokes, wall, lift_expired, srv);
}

int ihd_admin_revoke(ihd_server_t *srv, const char *quota_user, double ttl, ihd_revoke_t *out)
{
    ihd_admin_t *ad = srv->admin;
    bool fresh = false;
    memset(out, 0, sizeof(*out));
    int rc = acct_revokes_add(ad->revokes, quota_user, ihd_wallclock(), ttl, &fresh,
                              &out->until);
    if (rc == CMN_ELIMIT)
        return rc;
    out->persisted = rc == 0;
    turn_shared_block_user(srv->turn_shared, quota_user, TURN_BLOCK_REVOKED);
    return fresh ? 0 : CMN_EEXIST;
}

int ihd_admin_unrevoke(ihd_server_t *srv, const char *quota_user, bool *persisted)
{
    int rc = acct_revokes_remove(srv->admin->revokes, quota_user);
    *persisted = rc != CMN_EIO;
    bool was = turn_shared_lift_block(srv->turn_shared, quota_user, TURN_BLOCK_REVOKED);
    return rc == CMN_ENOENT && !was ? CMN_ENOENT : 0;
}

acct_revoked_t *ihd_admin_revoked(ihd_server_t *srv, size_t *n)
{
    return acct_revokes_list(srv->admin->revokes, n);
}

uint64_t ihd_admin_revocation_errors(ihd_server_t *srv)
{
    return acct_revokes_save_errors(srv->admin->revokes);
}
