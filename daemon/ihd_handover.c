/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_handover.c: what a live upgrade moves from the old process to the new
 * one, and how the workers on each side give and take it. The protocol
 * around it (the Unix socket, SCM_RIGHTS, who says what when) is
 * ihd_upgrade.c's.
 *
 * Which worker gets what: every worker owns one SO_REUSEPORT socket per
 * listen address, and the kernel picks the socket of a UDP datagram by a
 * hash of its 4-tuple over the sockets of the group, in the order they
 * joined it. Opening new sockets in the new process would change the group
 * and send clients to workers that do not hold their allocation. So the
 * group's sockets themselves move, in order: worker i of the new process
 * gets worker i's listening sockets (the kernel goes on hashing each client
 * to the same socket), worker i's UDP allocations and their relay sockets.
 * The new process therefore runs as many workers as the old one did.
 * Datagrams that arrive while the workers are parked wait in the sockets'
 * receive buffers (4 MiB each).
 *
 * The old side parks its workers at the top of their loop (between two
 * batches, holding no pointer into a turn_t): each encodes its own UDP
 * allocations on its own thread, then waits for the verdict. On a commit it
 * detaches them (no relay_close, no ledger end: the new process continues
 * them) and closes its copies of the sockets; then it goes on serving the
 * TCP/TLS connections it has, which cannot move. On an abort it goes on as
 * if nothing happened.
 *
 * The stream (big-endian; <fd> is an index into the sockets sent with it):
 *   "IHUS" u32 version
 *   nonce_key[32] str auto_secret str token_key u64 last_id f64 paused_at
 *   u32 nworkers, then per worker:
 *     u32 nls, (u8 transport, addr, u32 fd)[]
 *     u32 nallocs, (u32 len, turn blob, u32 fd4, u32 fd6 (NO_FD: none),
 *                   u8 df flags, u32 listener, usage)[]
 *   u32 nreservations, (token[8], addr, u32 fd, f64 ttl)[]
 *   u32 hub_len, hub JSON
 * where usage is u8 seen, u64 x4 ledger_rep, f64 ledger_last, f64
 * interim_in, u32 seq, and addr is as turn_state.c writes it.
 */
#include "ihd.h"

#include <math.h>
#include <sys/epoll.h>

#include "common/cmn_log.h"

#define HO_MAGIC "IHUS"
#define HO_VERSION 1
#define HO_NO_FD 0xFFFFFFFFu
#define HO_MAX_ALLOCS 10000000u    /* turn.max_allocations' maximum */
#define HO_MAX_HUB (256u << 20)

typedef enum park_phase_e { PARK_EXPORT = 0, PARK_COMMIT, PARK_ABORT } park_phase_t;

typedef struct ihd_park_s {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    park_phase_t phase;
    unsigned exported, finished;
    bool done[IHD_MAX_WORKERS];        /* this worker exported in this round */
    ihd_handover_t *h;                 /* borrowed: what the workers fill */
    turn_alloc_t **mine[IHD_MAX_WORKERS]; /* the allocations each exported */
    size_t nmine[IHD_MAX_WORKERS];
} ihd_park_t;

/* ---- The old side's workers ------------------------------------------------ */

typedef struct export_ctx_s {
    ihd_worker_t *w;
    ihd_ho_worker_t *hw;
    turn_alloc_t ***mine;
    size_t *nmine;
    double now;
} export_ctx_t;

static void export_one(void *ctx, turn_alloc_t *a)
{
    export_ctx_t *x = ctx;
    if (turn_alloc_tuple(a)->transport != TURN_TR_UDP)
        return; /* a stream's allocation stays with its connection */
    ihd_ho_worker_t *hw = x->hw;
    if (hw->nallocs == hw->cap) {
        hw->cap = hw->cap ? 2 * hw->cap : 64;
        hw->allocs = cmn_realloc(hw->allocs, hw->cap * sizeof(*hw->allocs));
        *x->mine = cmn_realloc(*x->mine, hw->cap * sizeof(**x->mine));
    }
    ihd_ho_alloc_t *o = &hw->allocs[hw->nallocs];
    memset(o, 0, sizeof(*o));
    o->len = turn_alloc_encode(a, x->now, NULL, 0);
    o->blob = cmn_malloc(o->len);
    turn_alloc_encode(a, x->now, o->blob, o->len);
    ihd_relay_export(x->w, a, o);
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    ihd_usage_export(x->w, info.id, &o->usage);
    (*x->mine)[hw->nallocs++] = a;
    (*x->nmine)++;
}

static void export_worker(ihd_worker_t *w, ihd_park_t *pk)
{
    ihd_ho_worker_t *hw = &pk->h->wk[w->id];
    hw->ls = cmn_calloc(w->nls ? w->nls : 1, sizeof(*hw->ls));
    for (size_t i = 0; i < w->nls; i++)
        hw->ls[hw->nls++] = (ihd_ho_listener_t){w->ls[i].tr, w->ls[i].addr, w->ls[i].fd};
    export_ctx_t x = {w, hw, &pk->mine[w->id], &pk->nmine[w->id], ihd_now()};
    if (w->turn)
        turn_foreach_alloc(w->turn, export_one, &x);
}

/* The commit: let go of what moved. */
static void commit_worker(ihd_worker_t *w, ihd_park_t *pk)
{
    for (size_t i = 0; i < pk->nmine[w->id]; i++) {
        turn_alloc_t *a = pk->mine[w->id][i];
        turn_alloc_info_t info;
        turn_alloc_info(a, &info);
        ihd_relay_forget(w, a);
        ihd_usage_forget(w, info.id);
        turn_alloc_detach(w->turn, a);
    }
    for (size_t i = 0; i < w->nls; i++) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->ls[i].fd, NULL);
        close(w->ls[i].fd);
    }
    w->nls = 0;
}

void ihd_handover_worker(ihd_worker_t *w)
{
    ihd_park_t *pk = w->srv->park;
    if (!pk || w->id >= IHD_MAX_WORKERS)
        return;
    pthread_mutex_lock(&pk->mu);
    if (pk->phase != PARK_EXPORT || pk->done[w->id] || !pk->h) {
        pthread_mutex_unlock(&pk->mu);
        return;
    }
    pthread_mutex_unlock(&pk->mu);
    export_worker(w, pk);
    pthread_mutex_lock(&pk->mu);
    pk->done[w->id] = true;
    pk->exported++;
    pthread_cond_broadcast(&pk->cv);
    while (pk->phase == PARK_EXPORT)
        pthread_cond_wait(&pk->cv, &pk->mu);
    bool commit = pk->phase == PARK_COMMIT;
    pthread_mutex_unlock(&pk->mu);
    if (commit)
        commit_worker(w, pk);
    pthread_mutex_lock(&pk->mu);
    pk->finished++;
    pthread_cond_broadcast(&pk->cv);
    pthread_mutex_unlock(&pk->mu);
}

/* ---- The old side's main thread -------------------------------------------- */

void ihd_handover_init(ihd_server_t *srv)
{
    ihd_park_t *pk = cmn_calloc(1, sizeof(*pk));
    pthread_mutex_init(&pk->mu, NULL);
    pthread_cond_init(&pk->cv, NULL);
    pk->phase = PARK_ABORT; /* nothing to park for */
    srv->park = pk;
}

void ihd_handover_dispose(ihd_server_t *srv)
{
    ihd_park_t *pk = srv->park;
    if (!pk)
        return;
    pthread_mutex_destroy(&pk->mu);
    pthread_cond_destroy(&pk->cv);
    cmn_free(pk);
    srv->park = NULL;
}

int ihd_handover_collect(ihd_server_t *srv, ihd_handover_t *h, double timeout)
{
    ihd_park_t *pk = srv->park;
    h->nworkers = srv->nworkers;
    h->wk = cmn_calloc(srv->nworkers ? srv->nworkers : 1, sizeof(*h->wk));
    pthread_mutex_lock(&pk->mu);
    pk->h = h;
    pk->phase = PARK_EXPORT;
    pk->exported = pk->finished = 0;
    memset(pk->done, 0, sizeof(pk->done));
    pthread_mutex_unlock(&pk->mu);
    h->paused_at = ihd_now(); /* UDP goes unserved from the first parked worker on */
    atomic_store(&srv->upgrade_req, 1);
    ihd_workers_poke(srv);
    double until = ihd_now() + timeout;
    pthread_mutex_lock(&pk->mu);
    while (pk->exported < srv->nworkers && ihd_now() < until) {
        pthread_mutex_unlock(&pk->mu);
        usleep(100);
        pthread_mutex_lock(&pk->mu);
    }
    bool all = pk->exported == srv->nworkers;
    pthread_mutex_unlock(&pk->mu);
    if (!all) {
        ihd_handover_release(srv, false);
        return CMN_EAGAIN;
    }
    return 0;
}

void ihd_handover_release(ihd_server_t *srv, bool commit)
{
    ihd_park_t *pk = srv->park;
    pthread_mutex_lock(&pk->mu);
    pk->phase = commit ? PARK_COMMIT : PARK_ABORT;
    pthread_cond_broadcast(&pk->cv);
    /* Only the workers that parked come back through here; a late one sees
     * the phase and does not park. */
    while (pk->finished < pk->exported)
        pthread_cond_wait(&pk->cv, &pk->mu);
    pk->h = NULL;
    for (unsigned i = 0; i < IHD_MAX_WORKERS; i++) {
        cmn_free(pk->mine[i]);
        pk->mine[i] = NULL;
        pk->nmine[i] = 0;
    }
    pthread_mutex_unlock(&pk->mu);
    atomic_store(&srv->upgrade_req, 0);
}

/* ---- The stream ------------------------------------------------------------ */

typedef struct hw_s {
    uint8_t *p;
    size_t len, cap;
    int *fds;
    size_t nfds, fdcap;
} hw_t;

static void w_bytes(hw_t *w, const void *src, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = CMN_MAX(2 * w->cap, w->len + n + 4096);
        w->p = cmn_realloc(w->p, w->cap);
    }
    if (n)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_u8(hw_t *w, uint8_t v)
{
    w_bytes(w, &v, 1);
}

static void w_u32(hw_t *w, uint32_t v)
{
    uint8_t b[4];
    cmn_put_u32be(b, v);
    w_bytes(w, b, 4);
}

static void w_u64(hw_t *w, uint64_t v)
{
    uint8_t b[8];
    cmn_put_u64be(b, v);
    w_bytes(w, b, 8);
}

static void w_f64(hw_t *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    w_u64(w, bits);
}

static void w_addr(hw_t *w, const cmn_addr_t *a)
{
    uint8_t b[19];
    b[0] = a->family;
    cmn_put_u16be(b + 1, a->port);
    memcpy(b + 3, a->ip, 16);
    w_bytes(w, b, sizeof(b));
}

static void w_str(hw_t *w, const char *s)
{
    w_u32(w, (uint32_t)strlen(s));
    w_bytes(w, s, strlen(s));
}

/* A socket: its index in the list that travels with the stream. */
static void w_fd(hw_t *w, int fd)
{
    if (fd < 0) {
        w_u32(w, HO_NO_FD);
        return;
    }
    if (w->nfds == w->fdcap) {
        w->fdcap = w->fdcap ? 2 * w->fdcap : 256;
        w->fds = cmn_realloc(w->fds, w->fdcap * sizeof(*w->fds));
    }
    w_u32(w, (uint32_t)w->nfds);
    w->fds[w->nfds++] = fd;
}

static void w_alloc(hw_t *w, const ihd_ho_alloc_t *a)
{
    w_u32(w, (uint32_t)a->len);
    w_bytes(w, a->blob, a->len);
    w_fd(w, a->relay_fd[0]);
    w_fd(w, a->relay_fd[1]);
    w_u8(w, (uint8_t)((a->relay_df[0] ? 1 : 0) | (a->relay_df[1] ? 2 : 0)));
    w_u32(w, a->listener);
    w_u8(w, a->usage.seen);
    w_u64(w, a->usage.ledger_rep.to_peer_bytes);
    w_u64(w, a->usage.ledger_rep.to_peer_packets);
    w_u64(w, a->usage.ledger_rep.to_client_bytes);
    w_u64(w, a->usage.ledger_rep.to_client_packets);
    w_f64(w, a->usage.ledger_last);
    w_f64(w, a->usage.interim_in);
    w_u32(w, a->usage.seq);
}

void ihd_handover_encode(const ihd_handover_t *h, uint8_t **buf, size_t *len, int **fds,
                         size_t *nfds)
{
    hw_t w = {0};
    w_bytes(&w, HO_MAGIC, 4);
    w_u32(&w, HO_VERSION);
    w_bytes(&w, h->nonce_key, sizeof(h->nonce_key));
    w_str(&w, h->auto_secret);
    w_str(&w, h->token_key);
    w_u64(&w, h->last_id);
    w_f64(&w, h->paused_at);
    w_u32(&w, h->nworkers);
    for (unsigned i = 0; i < h->nworkers; i++) {
        const ihd_ho_worker_t *hw = &h->wk[i];
        w_u32(&w, (uint32_t)hw->nls);
        for (size_t k = 0; k < hw->nls; k++) {
            w_u8(&w, (uint8_t)hw->ls[k].tr);
            w_addr(&w, &hw->ls[k].addr);
            w_fd(&w, hw->ls[k].fd);
        }
        w_u32(&w, (uint32_t)hw->nallocs);
        for (size_t k = 0; k < hw->nallocs; k++)
            w_alloc(&w, &hw->allocs[k]);
    }
    w_u32(&w, (uint32_t)h->nrv);
    for (size_t k = 0; k < h->nrv; k++) {
        w_bytes(&w, h->rv[k].token, 8);
        w_addr(&w, &h->rv[k].addr);
        w_fd(&w, h->rv[k].fd);
        w_f64(&w, h->rv[k].ttl);
    }
    w_u32(&w, (uint32_t)h->hub_len);
    w_bytes(&w, h->hub, h->hub_len);
    *buf = w.p;
    *len = w.len;
    *fds = w.fds;
    *nfds = w.nfds;
}

/* ---- Reading it (in the new process) ----------------------------------------- */

typedef struct hr_s {
    const uint8_t *p, *end;
    int *fds;                   /* the sockets that came; -1 once taken */
    size_t nfds;
    const char *why;            /* the first problem */
} hr_t;

static const uint8_t *r_take(hr_t *r, size_t n, const char *what)
{
    if (r->why)
        return NULL;
    if (n > (size_t)(r->end - r->p)) {
        r->why = what;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

static uint8_t r_u8(hr_t *r, const char *what)
{
    const uint8_t *b = r_take(r, 1, what);
    return b ? b[0] : 0;
}

static uint32_t r_u32(hr_t *r, const char *what)
{
    const uint8_t *b = r_take(r, 4, what);
    return b ? cmn_get_u32be(b) : 0;
}

static uint64_t r_u64(hr_t *r, const char *what)
{
    const uint8_t *b = r_take(r, 8, what);
    return b ? cmn_get_u64be(b) : 0;
}

static double r_f64(hr_t *r, double lo, double hi, const char *what)
{
    uint64_t bits = r_u64(r, what);
    double v;
    memcpy(&v, &bits, 8);
    if (!r->why && !(isfinite(v) && v >= lo && v <= hi))
        r->why = what;
    return r->why ? 0 : v;
}

static void r_check(hr_t *r, bool bad, const char *what)
{
    if (bad && !r->why)
        r->why = what;
}

static void r_addr(hr_t *r, cmn_addr_t *a, const char *what)
{
    const uint8_t *b = r_take(r, 19, what);
    memset(a, 0, sizeof(*a));
    if (!b)
        return;
    a->family = b[0];
    a->port = cmn_get_u16be(b + 1);
    memcpy(a->ip, b + 3, 16);
    r_check(r, a->family != CMN_AF_INET && a->family != CMN_AF_INET6, what);
}

static void r_str(hr_t *r, char *out, size_t cap, const char *what)
{
    uint32_t n = r_u32(r, what);
    r_check(r, n >= cap, what);
    const uint8_t *b = r_take(r, n, what);
    out[0] = '\0';
    if (b) {
        memcpy(out, b, n);
        out[n] = '\0';
        r_check(r, strlen(out) != n, what);
    }
}

/* A socket named by index, taken once (or -1 for none when <optional>). */
static int r_fd(hr_t *r, bool optional, const char *what)
{
    uint32_t i = r_u32(r, what);
    if (r->why || (optional && i == HO_NO_FD))
        return -1;
    if (i >= r->nfds || r->fds[i] < 0) {
        r->why = what;
        return -1;
    }
    int fd = r->fds[i];
    r->fds[i] = -1;
    return fd;
}

static void r_alloc(hr_t *r, ihd_ho_alloc_t *a)
{
    uint32_t n = r_u32(r, "allocation");
    const uint8_t *b = r_take(r, n, "allocation");
    if (b) {
        a->blob = cmn_malloc(n ? n : 1);
        memcpy(a->blob, b, n);
        a->len = n;
    }
    a->relay_fd[0] = r_fd(r, true, "relay socket");
    a->relay_fd[1] = r_fd(r, true, "relay socket");
    uint8_t df = r_u8(r, "relay flags");
    r_check(r, df > 3 || (a->relay_fd[0] < 0 && a->relay_fd[1] < 0), "relay socket");
    a->relay_df[0] = df & 1;
    a->relay_df[1] = (df & 2) != 0;
    a->listener = r_u32(r, "listener");
    a->usage.seen = r_u8(r, "usage") != 0;
    a->usage.ledger_rep.to_peer_bytes = r_u64(r, "usage");
    a->usage.ledger_rep.to_peer_packets = r_u64(r, "usage");
    a->usage.ledger_rep.to_client_bytes = r_u64(r, "usage");
    a->usage.ledger_rep.to_client_packets = r_u64(r, "usage");
    a->usage.ledger_last = r_f64(r, 0, 1e11, "usage");
    a->usage.interim_in = r_f64(r, -1e9, 1e9, "usage");
    a->usage.seq = r_u32(r, "usage");
}

static void r_worker(hr_t *r, ihd_ho_worker_t *hw)
{
    uint32_t nls = r_u32(r, "listeners");
    r_check(r, nls > 3 * IHD_MAX_LISTEN, "listeners");
    hw->ls = cmn_calloc(r->why || !nls ? 1 : nls, sizeof(*hw->ls));
    for (uint32_t k = 0; k < nls && !r->why; k++) {
        ihd_ho_listener_t *l = &hw->ls[hw->nls++];
        l->tr = (turn_transport_t)r_u8(r, "listener");
        r_check(r, l->tr >= TURN_TR_COUNT, "listener");
        r_addr(r, &l->addr, "listener");
        l->fd = r_fd(r, false, "listener");
    }
    uint32_t na = r_u32(r, "allocations");
    /* Each takes at least 60 bytes: a count the stream cannot hold is a lie. */
    r_check(r, na > HO_MAX_ALLOCS || na > (size_t)(r->end - r->p) / 60, "allocations");
    for (uint32_t k = 0; k < na && !r->why; k++) {
        if (hw->nallocs == hw->cap) {
            hw->cap = hw->cap ? 2 * hw->cap : 64;
            hw->allocs = cmn_realloc(hw->allocs, hw->cap * sizeof(*hw->allocs));
        }
        ihd_ho_alloc_t *a = &hw->allocs[hw->nallocs++];
        memset(a, 0, sizeof(*a));
        a->relay_fd[0] = a->relay_fd[1] = -1;
        r_alloc(r, a);
    }
}

static void r_tail(hr_t *r, ihd_handover_t *h)
{
    uint32_t nrv = r_u32(r, "reservations");
    r_check(r, nrv > (size_t)(r->end - r->p) / 39, "reservations");
    h->rv = cmn_calloc(r->why || !nrv ? 1 : nrv, sizeof(*h->rv));
    for (uint32_t k = 0; k < nrv && !r->why; k++) {
        ihd_ho_reserv_t *v = &h->rv[h->nrv++];
        const uint8_t *t = r_take(r, 8, "reservation");
        if (t)
            memcpy(v->token, t, 8);
        r_addr(r, &v->addr, "reservation");
        v->fd = r_fd(r, false, "reservation");
        v->ttl = r_f64(r, 0, 3600, "reservation");
    }
    uint32_t hub = r_u32(r, "hub");
    r_check(r, hub > HO_MAX_HUB, "hub");
    const uint8_t *b = r_take(r, hub, "hub");
    if (b && hub) {
        h->hub = cmn_malloc(hub);
        memcpy(h->hub, b, hub);
        h->hub_len = hub;
    }
    r_check(r, r->p != r->end, "trailing bytes");
}

int ihd_handover_decode(const uint8_t *src, size_t len, int *fds, size_t nfds,
                        ihd_handover_t *out, char *err, size_t errlen)
{
    hr_t r = {src, src + len, fds, nfds, NULL};
    memset(out, 0, sizeof(*out));
    const uint8_t *m = r_take(&r, 4, "magic");
    r_check(&r, m && memcmp(m, HO_MAGIC, 4) != 0, "magic");
    uint32_t v = r_u32(&r, "version");
    r_check(&r, v != HO_VERSION, "version");
    const uint8_t *k = r_take(&r, sizeof(out->nonce_key), "secrets");
    if (k)
        memcpy(out->nonce_key, k, sizeof(out->nonce_key));
    r_str(&r, out->auto_secret, sizeof(out->auto_secret), "secrets");
    r_str(&r, out->token_key, sizeof(out->token_key), "secrets");
    out->last_id = r_u64(&r, "last id");
    out->paused_at = r_f64(&r, 0, 1e12, "paused_at");
    uint32_t nw = r_u32(&r, "workers");
    r_check(&r, nw == 0 || nw > IHD_MAX_WORKERS, "workers");
    out->wk = cmn_calloc(r.why ? 1 : nw, sizeof(*out->wk));
    for (uint32_t i = 0; i < nw && !r.why; i++) {
        out->nworkers++;
        r_worker(&r, &out->wk[i]);
    }
    r_tail(&r, out);
    /* What the stream did not name is not ours to keep. */
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (r.why) {
        snprintf(err, errlen, "the handed-over state is malformed at \"%s\" (byte %zu of %zu)",
                 r.why, (size_t)(r.p - src), len);
        ihd_handover_free(out, true);
        memset(out, 0, sizeof(*out));
        return CMN_EINVAL;
    }
    return 0;
}

void ihd_handover_free(ihd_handover_t *h, bool close_fds)
{
    if (!h)
        return;
    for (unsigned i = 0; h->wk && i < h->nworkers; i++) {
        ihd_ho_worker_t *hw = &h->wk[i];
        for (size_t k = 0; close_fds && k < hw->nls; k++)
            if (hw->ls[k].fd >= 0)
                close(hw->ls[k].fd);
        for (size_t k = 0; k < hw->nallocs; k++) {
            for (int f = 0; close_fds && f < 2; f++)
                if (hw->allocs[k].relay_fd[f] >= 0)
                    close(hw->allocs[k].relay_fd[f]);
            cmn_free(hw->allocs[k].blob);
        }
        cmn_free(hw->ls);
        cmn_free(hw->allocs);
    }
    for (size_t k = 0; close_fds && k < h->nrv; k++)
        if (h->rv[k].fd >= 0)
            close(h->rv[k].fd);
    cmn_free(h->wk);
    cmn_free(h->rv);
    cmn_free(h->hub);
    explicit_bzero(h->nonce_key, sizeof(h->nonce_key));
    explicit_bzero(h->auto_secret, sizeof(h->auto_secret));
    explicit_bzero(h->token_key, sizeof(h->token_key));
}

/* ---- The new side's workers ------------------------------------------------- */

int ihd_handover_adopt(ihd_worker_t *w, ihd_ho_worker_t *hw, char *err, size_t errlen)
{
    char buf[CMN_ADDR_STRLEN];
    if (hw->nls != w->nls) {
        snprintf(err, errlen, "worker %u: the running process has %zu listening sockets, "
                              "this configuration %zu (turn.listen, turn.tls_listen and tls.cert "
                              "must be the same for a live upgrade)", w->id, hw->nls, w->nls);
        return CMN_EINVAL;
    }
    for (size_t i = 0; i < w->nls; i++) {
        if (hw->ls[i].tr != w->ls[i].tr || !cmn_addr_equal(&hw->ls[i].addr, &w->ls[i].addr)) {
            snprintf(err, errlen, "the running process listens on %s (%s) where this "
                                  "configuration has %s (turn.listen and turn.tls_listen must be "
                                  "the same for a live upgrade)",
                     cmn_addr_format(&hw->ls[i].addr, buf, sizeof(buf), true),
                     turn_transport_name(hw->ls[i].tr), turn_transport_name(w->ls[i].tr));
            return CMN_EINVAL;
        }
        w->ls[i].fd = hw->ls[i].fd;
        hw->ls[i].fd = -1;
    }
    double now = ihd_now();
    for (size_t k = 0; k < hw->nallocs; k++) {
        ihd_ho_alloc_t *ha = &hw->allocs[k];
        turn_alloc_t *a = NULL;
        const char *why = "";
        int rc = turn_alloc_import(w->turn, ha->blob, ha->len, now, &a, &why);
        if (rc == 0 && (rc = ihd_relay_adopt(w, a, ha)) == 0) {
            ha->relay_fd[0] = ha->relay_fd[1] = -1; /* the glue owns them */
            turn_alloc_info_t info;
            turn_alloc_info(a, &info);
            ihd_usage_import(w, info.id, &ha->usage);
            continue;
        }
        snprintf(err, errlen, "worker %u: allocation %zu: %s", w->id, k,
                 rc == CMN_EINVAL && *why ? why : "cannot take it over");
        return CMN_EINVAL;
    }
    return 0;
}
