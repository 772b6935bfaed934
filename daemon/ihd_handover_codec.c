/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_handover_codec.c: the state a live upgrade moves (ihd_handover_t),
 * as the byte stream that travels over upgrade.socket beside its sockets,
 * and back. The reader trusts nothing (another process wrote it): every
 * count is checked against its limit and against the bytes left, every
 * socket index is used once, nothing may follow the end (STYLE §5).
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

#include "common/cmn_bytes.h"

#define HO_MAGIC "IHUS"
#define HO_VERSION 1
#define HO_NO_FD 0xFFFFFFFFu
#define HO_MAX_ALLOCS 10000000u    /* turn.max_allocations' maximum */
#define HO_MAX_HUB (256u << 20)

/* ---- The stream ------------------------------------------------------------ */

typedef struct hw_s {
    cmn_wr_t w;
    int *fds;
    size_t nfds, fdcap;
} hw_t;

static void w_str(cmn_wr_t *w, const char *s)
{
    cmn_wr_u32(w, (uint32_t)strlen(s));
    cmn_wr_bytes(w, s, strlen(s));
}

/* A socket: its index in the list that travels with the stream. */
static void w_fd(hw_t *w, int fd)
{
    if (fd < 0) {
        cmn_wr_u32(&w->w, HO_NO_FD);
        return;
    }
    if (w->nfds == w->fdcap) {
        w->fdcap = w->fdcap ? 2 * w->fdcap : 256;
        w->fds = cmn_realloc(w->fds, w->fdcap * sizeof(*w->fds));
    }
    cmn_wr_u32(&w->w, (uint32_t)w->nfds);
    w->fds[w->nfds++] = fd;
}

static void w_alloc(hw_t *w, const ihd_ho_alloc_t *a)
{
    cmn_wr_u32(&w->w, (uint32_t)a->len);
    cmn_wr_bytes(&w->w, a->blob, a->len);
    w_fd(w, a->relay_fd[0]);
    w_fd(w, a->relay_fd[1]);
    cmn_wr_u8(&w->w, (uint8_t)((a->relay_df[0] ? 1 : 0) | (a->relay_df[1] ? 2 : 0)));
    cmn_wr_u32(&w->w, a->listener);
    cmn_wr_u8(&w->w, a->usage.seen);
    cmn_wr_u64(&w->w, a->usage.ledger_rep.to_peer_bytes);
    cmn_wr_u64(&w->w, a->usage.ledger_rep.to_peer_packets);
    cmn_wr_u64(&w->w, a->usage.ledger_rep.to_client_bytes);
    cmn_wr_u64(&w->w, a->usage.ledger_rep.to_client_packets);
    cmn_wr_f64(&w->w, a->usage.ledger_last);
    cmn_wr_f64(&w->w, a->usage.interim_in);
    cmn_wr_u32(&w->w, a->usage.seq);
}

void ihd_handover_encode(const ihd_handover_t *h, uint8_t **buf, size_t *len, int **fds,
                         size_t *nfds)
{
    hw_t w = {.w = {.grow = true}};
    cmn_wr_bytes(&w.w, HO_MAGIC, 4);
    cmn_wr_u32(&w.w, HO_VERSION);
    cmn_wr_bytes(&w.w, h->nonce_key, sizeof(h->nonce_key));
    w_str(&w.w, h->auto_secret);
    w_str(&w.w, h->token_key);
    cmn_wr_u64(&w.w, h->last_id);
    cmn_wr_f64(&w.w, h->paused_at);
    cmn_wr_u32(&w.w, h->nworkers);
    for (unsigned i = 0; i < h->nworkers; i++) {
        const ihd_ho_worker_t *hw = &h->wk[i];
        cmn_wr_u32(&w.w, (uint32_t)hw->nls);
        for (size_t k = 0; k < hw->nls; k++) {
            cmn_wr_u8(&w.w, (uint8_t)hw->ls[k].tr);
            cmn_wr_addr(&w.w, &hw->ls[k].addr);
            w_fd(&w, hw->ls[k].fd);
        }
        cmn_wr_u32(&w.w, (uint32_t)hw->nallocs);
        for (size_t k = 0; k < hw->nallocs; k++)
            w_alloc(&w, &hw->allocs[k]);
    }
    cmn_wr_u32(&w.w, (uint32_t)h->nrv);
    for (size_t k = 0; k < h->nrv; k++) {
        cmn_wr_bytes(&w.w, h->rv[k].token, 8);
        cmn_wr_addr(&w.w, &h->rv[k].addr);
        w_fd(&w, h->rv[k].fd);
        cmn_wr_f64(&w.w, h->rv[k].ttl);
    }
    cmn_wr_u32(&w.w, (uint32_t)h->hub_len);
    cmn_wr_bytes(&w.w, h->hub, h->hub_len);
    *buf = w.w.p;
    *len = w.w.len;
    *fds = w.fds;
    *nfds = w.nfds;
}

/* ---- Reading it (in the new process) ----------------------------------------- */

typedef struct hr_s {
    cmn_rd_t r;
    int *fds;                   /* the sockets that came; -1 once taken */
    size_t nfds;
} hr_t;

static void r_str(hr_t *r, char *out, size_t cap, const char *what)
{
    uint32_t n = cmn_rd_u32(&r->r, what);
    cmn_rd_check(&r->r, n >= cap, what);
    const uint8_t *b = cmn_rd_take(&r->r, n, what);
    out[0] = '\0';
    if (b) {
        memcpy(out, b, n);
        out[n] = '\0';
        cmn_rd_check(&r->r, strlen(out) != n, what);
    }
}

/* A socket named by index, taken once (or -1 for none when <optional>). */
static int r_fd(hr_t *r, bool optional, const char *what)
{
    uint32_t i = cmn_rd_u32(&r->r, what);
    if (r->r.why || (optional && i == HO_NO_FD))
        return -1;
    if (i >= r->nfds || r->fds[i] < 0) {
        r->r.why = what;
        return -1;
    }
    int fd = r->fds[i];
    r->fds[i] = -1;
    return fd;
}

static void r_alloc(hr_t *r, ihd_ho_alloc_t *a)
{
    uint32_t n = cmn_rd_u32(&r->r, "allocation");
    const uint8_t *b = cmn_rd_take(&r->r, n, "allocation");
    if (b) {
        a->blob = cmn_malloc(n ? n : 1);
        memcpy(a->blob, b, n);
        a->len = n;
    }
    a->relay_fd[0] = r_fd(r, true, "relay socket");
    a->relay_fd[1] = r_fd(r, true, "relay socket");
    uint8_t df = cmn_rd_u8(&r->r, "relay flags");
    cmn_rd_check(&r->r, df > 3 || (a->relay_fd[0] < 0 && a->relay_fd[1] < 0), "relay socket");
    a->relay_df[0] = df & 1;
    a->relay_df[1] = (df & 2) != 0;
    a->listener = cmn_rd_u32(&r->r, "listener");
    a->usage.seen = cmn_rd_u8(&r->r, "usage") != 0;
    a->usage.ledger_rep.to_peer_bytes = cmn_rd_u64(&r->r, "usage");
    a->usage.ledger_rep.to_peer_packets = cmn_rd_u64(&r->r, "usage");
    a->usage.ledger_rep.to_client_bytes = cmn_rd_u64(&r->r, "usage");
    a->usage.ledger_rep.to_client_packets = cmn_rd_u64(&r->r, "usage");
    a->usage.ledger_last = cmn_rd_f64(&r->r, 0, 1e11, "usage");
    a->usage.interim_in = cmn_rd_f64(&r->r, -1e9, 1e9, "usage");
    a->usage.seq = cmn_rd_u32(&r->r, "usage");
}

static void r_worker(hr_t *r, ihd_ho_worker_t *hw)
{
    uint32_t nls = cmn_rd_u32(&r->r, "listeners");
    cmn_rd_check(&r->r, nls > 3 * IHD_MAX_LISTEN, "listeners");
    hw->ls = cmn_calloc(r->r.why || !nls ? 1 : nls, sizeof(*hw->ls));
    for (uint32_t k = 0; k < nls && !r->r.why; k++) {
        ihd_ho_listener_t *l = &hw->ls[hw->nls++];
        l->tr = (turn_transport_t)cmn_rd_u8(&r->r, "listener");
        cmn_rd_check(&r->r, l->tr >= TURN_TR_COUNT, "listener");
        cmn_rd_addr(&r->r, &l->addr, false, "listener");
        l->fd = r_fd(r, false, "listener");
    }
    uint32_t na = cmn_rd_u32(&r->r, "allocations");
    /* Each takes at least 60 bytes: a count the stream cannot hold is a lie. */
    cmn_rd_check(&r->r, na > HO_MAX_ALLOCS || na > (size_t)(r->r.end - r->r.p) / 60,
                 "allocations");
    for (uint32_t k = 0; k < na && !r->r.why; k++) {
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
    uint32_t nrv = cmn_rd_u32(&r->r, "reservations");
    cmn_rd_check(&r->r, nrv > (size_t)(r->r.end - r->r.p) / 39, "reservations");
    h->rv = cmn_calloc(r->r.why || !nrv ? 1 : nrv, sizeof(*h->rv));
    for (uint32_t k = 0; k < nrv && !r->r.why; k++) {
        ihd_ho_reserv_t *v = &h->rv[h->nrv++];
        const uint8_t *t = cmn_rd_take(&r->r, 8, "reservation");
        if (t)
            memcpy(v->token, t, 8);
        cmn_rd_addr(&r->r, &v->addr, false, "reservation");
        v->fd = r_fd(r, false, "reservation");
        v->ttl = cmn_rd_f64(&r->r, 0, 3600, "reservation");
    }
    uint32_t hub = cmn_rd_u32(&r->r, "hub");
    cmn_rd_check(&r->r, hub > HO_MAX_HUB, "hub");
    const uint8_t *b = cmn_rd_take(&r->r, hub, "hub");
    if (b && hub) {
        h->hub = cmn_malloc(hub);
        memcpy(h->hub, b, hub);
        h->hub_len = hub;
    }
    cmn_rd_check(&r->r, r->r.p != r->r.end, "trailing bytes");
}

int ihd_handover_decode(const uint8_t *src, size_t len, int *fds, size_t nfds,
                        ihd_handover_t *out, char *err, size_t errlen)
{
    hr_t r = {{src, src + len, NULL}, fds, nfds};
    memset(out, 0, sizeof(*out));
    const uint8_t *m = cmn_rd_take(&r.r, 4, "magic");
    cmn_rd_check(&r.r, m && memcmp(m, HO_MAGIC, 4) != 0, "magic");
    uint32_t v = cmn_rd_u32(&r.r, "version");
    cmn_rd_check(&r.r, v != HO_VERSION, "version");
    const uint8_t *k = cmn_rd_take(&r.r, sizeof(out->nonce_key), "secrets");
    if (k)
        memcpy(out->nonce_key, k, sizeof(out->nonce_key));
    r_str(&r, out->auto_secret, sizeof(out->auto_secret), "secrets");
    r_str(&r, out->token_key, sizeof(out->token_key), "secrets");
    out->last_id = cmn_rd_u64(&r.r, "last id");
    out->paused_at = cmn_rd_f64(&r.r, 0, 1e12, "paused_at");
    uint32_t nw = cmn_rd_u32(&r.r, "workers");
    cmn_rd_check(&r.r, nw == 0 || nw > IHD_MAX_WORKERS, "workers");
    out->wk = cmn_calloc(r.r.why ? 1 : nw, sizeof(*out->wk));
    for (uint32_t i = 0; i < nw && !r.r.why; i++) {
        out->nworkers++;
        r_worker(&r, &out->wk[i]);
    }
    r_tail(&r, out);
    /* What the stream did not name is not ours to keep. */
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (r.r.why) {
        snprintf(err, errlen, "the handed-over state is malformed at \"%s\" (byte %zu of %zu)",
                 r.r.why, (size_t)(r.r.p - src), len);
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
