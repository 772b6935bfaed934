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

#include <math.h>

#define HO_MAGIC "IHUS"
#define HO_VERSION 1
#define HO_NO_FD 0xFFFFFFFFu
#define HO_MAX_ALLOCS 10000000u    /* turn.max_allocations' maximum */
#define HO_MAX_HUB (256u << 20)

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
