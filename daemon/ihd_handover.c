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
 * The byte stream that carries it is ihd_handover_codec.c's.
 */
#include "ihd.h"

#include <sys/epoll.h>

#include "common/cmn_log.h"

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
