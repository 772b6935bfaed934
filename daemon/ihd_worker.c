/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_worker.c: the relay worker threads. Each worker owns one
 * SO_REUSEPORT socket per listen address (UDP and TCP, plus TLS), one
 * epoll loop, and everything that arrives on those sockets. The kernel
 * hashes a client's 5-tuple to one worker, so a client's state never
 * crosses threads and the packet path takes no locks.
 *
 * UDP is read and answered in batches (recvmmsg / sendmmsg). On a socket
 * bound to a wildcard address, IP_PKTINFO / IPV6_PKTINFO carry the local
 * address a datagram was sent to, and the reply leaves from that address,
 * so multi-homed hosts answer from the address the client used.
 *
 * Left out: stream connection handling (ihd_tcp.c) and what a message
 * means (ihd_dispatch.c).
 */
#include "ihd.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cmn_log.h"

#define IHD_CTRL_LEN 64

typedef struct ihd_udp_batch_s {
    struct mmsghdr in[IHD_UDP_BATCH];
    struct iovec in_iov[IHD_UDP_BATCH];
    struct sockaddr_storage in_addr[IHD_UDP_BATCH];
    uint8_t in_ctrl[IHD_UDP_BATCH][IHD_CTRL_LEN];
    uint8_t in_buf[IHD_UDP_BATCH][IHD_UDP_MAX];
    ihd_dgram_t out[IHD_UDP_BATCH];
    struct sockaddr_storage out_addr[IHD_UDP_BATCH];
    cmn_addr_t out_from[IHD_UDP_BATCH];
    uint8_t out_buf[IHD_UDP_BATCH][IHD_UDP_MAX + 128];
} ihd_udp_batch_t;

/* ihd__listen_socket: a bound (and for TCP, listening) non-blocking socket.
 * Returns the fd or a negative errno. */
int ihd__listen_socket(const cmn_addr_t *a, turn_transport_t tr, bool reuseport)
{
    struct sockaddr_storage ss;
    socklen_t sl = cmn_addr_to_sockaddr(a, &ss);
    int dom = a->family == CMN_AF_INET6 ? AF_INET6 : AF_INET;
    int type = (tr == TURN_TR_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    int fd = socket(dom, type, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (tr != TURN_TR_UDP)
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (dom == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (tr == TURN_TR_UDP) {
        int sz = 4 * 1024 * 1024;
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        if (cmn_addr_is_any(a)) {
            if (dom == AF_INET)
                (void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
            else
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
        }
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
        goto fail;
    if (tr != TURN_TR_UDP && listen(fd, 1024) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

/* Local address a datagram was sent to, from IP_PKTINFO / IPV6_PKTINFO;
 * falls back to the listener's bound address. */
static void udp_local_addr(const struct msghdr *mh, const ihd_listener_t *l, cmn_addr_t *out)
{
    *out = l->addr;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR((struct msghdr *)mh); cm;
         cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            memset(out->ip, 0, sizeof(out->ip));
            memcpy(out->ip, &pi.ipi_addr, 4);
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            memcpy(out->ip, &pi.ipi6_addr, 16);
        }
    }
}

static void udp_flush(ihd_worker_t *w, ihd_listener_t *l, unsigned nout)
{
    ihd_udp_stats_t st = {0, 0, 0};
    ihd_udp_send(w, l->fd, w->udp->out, nout, &st);
    IHD_INC(w->c.tx_packets[TURN_TR_UDP], st.packets);
    IHD_INC(w->c.tx_bytes[TURN_TR_UDP], st.bytes);
    IHD_INC(w->c.tx_errors[TURN_TR_UDP], st.errors);
}

/* Handle one received batch; returns the number of datagrams read. */
static int udp_batch(ihd_worker_t *w, ihd_listener_t *l)
{
    ihd_udp_batch_t *b = w->udp;
    for (unsigned i = 0; i < IHD_UDP_BATCH; i++) {
        b->in_iov[i] = (struct iovec){b->in_buf[i], IHD_UDP_MAX};
        b->in[i].msg_hdr = (struct msghdr){
            .msg_name = &b->in_addr[i], .msg_namelen = sizeof(b->in_addr[i]),
            .msg_iov = &b->in_iov[i], .msg_iovlen = 1,
            .msg_control = b->in_ctrl[i], .msg_controllen = IHD_CTRL_LEN,
        };
    }
    int n = recvmmsg(l->fd, b->in, IHD_UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return n;
    unsigned nout = 0;
    for (int i = 0; i < n; i++) {
        struct msghdr *mh = &b->in[i].msg_hdr;
        size_t len = b->in[i].msg_len;
        IHD_INC(w->c.rx_packets[TURN_TR_UDP], 1);
        IHD_INC(w->c.rx_bytes[TURN_TR_UDP], len);
        if (mh->msg_flags & MSG_TRUNC) {
            IHD_INC(w->c.invalid[IHD_DROP_OVERSIZE], 1);
            continue;
        }
        cmn_addr_t src, dst;
        if (cmn_addr_from_sockaddr(&src, mh->msg_name) < 0)
            continue;
        udp_local_addr(mh, l, &dst);
        ihd_pkt_t p = {.tr = TURN_TR_UDP, .src = &src, .dst = &dst,
                       .data = b->in_buf[i], .len = len, .listener = l};
        size_t olen = ihd_dispatch(w, &p, b->out_buf[nout], sizeof(b->out_buf[nout]));
        if (olen == 0)
            continue;
        memcpy(&b->out_addr[nout], mh->msg_name, mh->msg_namelen);
        b->out_from[nout] = dst;
        b->out[nout] = (ihd_dgram_t){
            .data = b->out_buf[nout], .len = olen, .to = &b->out_addr[nout],
            .tolen = mh->msg_namelen,
            .from = cmn_addr_is_any(&l->addr) ? &b->out_from[nout] : NULL,
        };
        nout++;
    }
    ihd_relay_flush(w);
    if (nout)
        udp_flush(w, l, nout);
    return n;
}

static void udp_readable(ihd_worker_t *w, ihd_listener_t *l)
{
    /* Bounded work per wakeup so one busy socket cannot starve the others. */
    for (int round = 0; round < 16; round++) {
        int n = udp_batch(w, l);
        if (n < IHD_UDP_BATCH)
            break;
    }
}

static void worker_refresh_cfg(ihd_worker_t *w)
{
    ihd_cfg_t *cfg = atomic_load_explicit(&w->srv->cfg, memory_order_acquire);
    w->cfg = cfg;
    if (w->turn && w->turn_cfg_gen != cfg->gen) {
        turn_set_cfg(w->turn, &cfg->turn);
        w->turn_cfg_gen = cfg->gen;
    }
    ihd__uring_setup(w);
    __atomic_store_n(&w->seen_gen, cfg->gen, __ATOMIC_RELEASE);
}

static void detach_one(void *ctx, turn_alloc_t *a)
{
    ihd_worker_t *w = ctx;
    ihd_relay_forget(w, a);
    turn_alloc_detach(w->turn, a);
}

/* End this worker's allocations. A new process that stops before the old
 * one let go of them (a failed upgrade) leaves them alone instead: they are
 * the old process's, which records their end. */
static void worker_end_turn(ihd_worker_t *w)
{
    if (!w->turn)
        return;
    if (w->srv->handover)
        turn_foreach_alloc(w->turn, detach_one, w);
    turn_free(w->turn);
    w->turn = NULL;
}

static void *worker_main(void *arg)
{
    ihd_worker_t *w = arg;
    struct epoll_event evs[64];
    double next_tick = ihd_now() + 1.0;
    while (!atomic_load(&w->srv->stopping)) {
        worker_refresh_cfg(w);
        /* A live upgrade parks the worker here, between two batches. */
        if (atomic_load_explicit(&w->srv->upgrade_req, memory_order_relaxed))
            ihd_handover_worker(w);
        int n = epoll_wait(w->epfd, evs, (int)CMN_ARRAY_LEN(evs), 250);
        for (int i = 0; i < n; i++) {
            ihd_evkind_t *kind = evs[i].data.ptr;
            switch (*kind) {
            case IHD_EV_WAKE: {
                uint64_t v;
                (void)!read(w->wakefd, &v, sizeof(v));
                ihd_admin_wake(w);
                break;
            }
            case IHD_EV_UDP:
                udp_readable(w, (ihd_listener_t *)kind);
                break;
            case IHD_EV_TCP_LISTEN:
                ihd_tcp_accept(w, (ihd_listener_t *)kind);
                break;
            case IHD_EV_CONN:
                ihd_tcp_event(w, (ihd_conn_t *)kind, evs[i].events);
                break;
            case IHD_EV_RELAY:
                ihd_relay_readable(w, kind);
                break;
            }
        }
        /* What stream clients were sent in this batch leaves now, one
         * write per connection. */
        ihd_tcp_flush(w);
        double now = ihd_now();
        ihd_tcp_resume(w, now);
        if (now >= next_tick) {
            ihd_tcp_expire(w, now);
            ihd_usage_tick(w, now, ihd_wallclock());
            if (w->turn)
                turn_tick(w->turn, now, ihd_wallclock());
            ihd_admin_tick(w, now);
            if (w->id == 0)
                ihd_reserv_expire(w->srv, now);
            next_tick = now + 1.0;
        }
        /* Objects closed during this batch may have had events queued in
         * it; only now is it safe to free them. */
        ihd_relay_reap(w);
        ihd_tcp_reap(w);
    }
    /* Allocations end first, so their ledger records say "shutdown"
     * rather than "connection_closed". */
    worker_end_turn(w);
    ihd_tcp_close_all(w);
    ihd_relay_reap(w);
    ihd_tcp_reap(w);
    /* The ring is the thread's: it goes with it. */
    if (w->uring) {
        ihd_uring_free(w->uring);
        w->uring = NULL;
        IHD_DEC(w->c.uring_active, 1);
    }
    return NULL;
}

static int epoll_add(int epfd, int fd, void *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Open the SO_REUSEPORT socket of <l> (its address and transport set). */
static int listener_open(ihd_worker_t *w, ihd_listener_t *l)
{
    char buf[CMN_ADDR_STRLEN];
    const char *where = cmn_addr_format(&l->addr, buf, sizeof(buf), true);
    if (w->id == 0) {
        /* SO_REUSEPORT would let a second icehubd (same user) share
         * this port silently and take half of its clients. A plain bind
         * first fails with EADDRINUSE if anyone holds the port. */
        int probe = ihd__listen_socket(&l->addr, l->tr, false);
        if (probe < 0) {
            cmn_err("turn", "cannot listen on %s (%s): %s", where, turn_transport_name(l->tr),
                    strerror(-probe));
            return CMN_EIO;
        }
        close(probe);
    }
    int fd = ihd__listen_socket(&l->addr, l->tr, true);
    if (fd < 0) {
        cmn_err("turn", "cannot listen on %s (%s): %s", where, turn_transport_name(l->tr),
                strerror(-fd));
        return CMN_EIO;
    }
    l->fd = fd;
    if (w->id == 0)
        cmn_info("turn", "listening on %s (%s)", where, turn_transport_name(l->tr));
    return 0;
}

/* This worker's sockets on every listen address: opened, or (<adopt>: a
 * live upgrade) only listed, for the old process's to fill. */
static int worker_open(ihd_worker_t *w, const cmn_settings_t *s, bool tls, bool adopt)
{
    size_t max = 2 * s->turn.listen.n + (tls ? s->turn.tls_listen.n : 0);
    w->ls = cmn_calloc(max ? max : 1, sizeof(*w->ls));
    for (size_t i = 0; i < max; i++) {
        const cmn_addr_t *a;
        turn_transport_t tr;
        if (i < 2 * s->turn.listen.n) {
            a = &s->turn.listen.v[i / 2];
            tr = i % 2 ? TURN_TR_TCP : TURN_TR_UDP;
        } else {
            a = &s->turn.tls_listen.v[i - 2 * s->turn.listen.n];
            tr = TURN_TR_TLS;
        }
        ihd_listener_t *l = &w->ls[w->nls++];
        l->kind = tr == TURN_TR_UDP ? IHD_EV_UDP : IHD_EV_TCP_LISTEN;
        l->fd = -1;
        l->tr = tr;
        l->addr = *a;
        if (!adopt && listener_open(w, l) < 0)
            return CMN_EIO;
    }
    return 0;
}

static int worker_listen(ihd_worker_t *w)
{
    for (size_t i = 0; i < w->nls; i++)
        if (epoll_add(w->epfd, w->ls[i].fd, &w->ls[i]) < 0)
            return CMN_EIO;
    return 0;
}

static void worker_dispose(ihd_worker_t *w)
{
    for (size_t i = 0; i < w->nls; i++)
        if (w->ls[i].fd >= 0)
            close(w->ls[i].fd);
    cmn_free(w->ls);
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->wakefd >= 0)
        close(w->wakefd);
    if (w->spare_fd >= 0)
        close(w->spare_fd);
    cmn_free(w->udp);
    cmn_free(w->relay_batch);
    cmn_free(w->fwd);
    worker_end_turn(w);
    ihd_relay_reap(w);
}

int ihd_workers_start(ihd_server_t *srv, unsigned n, char *err, size_t errlen)
{
    ihd_handover_t *ho = srv->handover;
    err[0] = '\0';
    ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    srv->workers = cmn_calloc(n, sizeof(*srv->workers));
    srv->nworkers = n;
    for (unsigned i = 0; i < n; i++)
        srv->workers[i].epfd = srv->workers[i].wakefd = srv->workers[i].spare_fd = -1;
    for (unsigned i = 0; i < n; i++) {
        ihd_worker_t *w = &srv->workers[i];
        w->srv = srv;
        w->id = i;
        w->cfg = cfg;
        w->wake_kind = IHD_EV_WAKE;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        /* Given up when accept finds no descriptor (ihd_tcp.c). */
        w->spare_fd = eventfd(0, EFD_CLOEXEC);
        w->udp = cmn_calloc(1, sizeof(*w->udp));
        if (w->epfd < 0 || w->wakefd < 0 || epoll_add(w->epfd, w->wakefd, &w->wake_kind) < 0)
            goto fail;
        if (worker_open(w, &cfg->s, srv->tls_on, ho != NULL) < 0)
            goto fail;
        ihd_relay_init_ops(w);
        w->turn = turn_new(&cfg->turn, &w->turn_ops, srv->turn_shared);
        w->turn_cfg_gen = cfg->gen;
        if (ho && ihd_handover_adopt(w, &ho->wk[i], err, errlen) < 0)
            goto fail;
        if (worker_listen(w) < 0)
            goto fail;
    }
    /* All sockets are bound before any thread runs, so a bind error is
     * reported at start and nothing runs half-configured. */
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            cmn_err("turn", "cannot start worker thread %u", i);
            atomic_store(&srv->stopping, 1);
            ihd_workers_poke(srv);
            for (unsigned j = 0; j < i; j++)
                pthread_join(srv->workers[j].thread, NULL);
            goto fail;
        }
    }
    return 0;
fail:
    for (unsigned i = 0; i < srv->nworkers; i++)
        worker_dispose(&srv->workers[i]);
    cmn_free(srv->workers);
    srv->workers = NULL;
    srv->nworkers = 0;
    return CMN_EIO;
}

void ihd_workers_stop(ihd_server_t *srv)
{
    atomic_store(&srv->stopping, 1);
    ihd_workers_poke(srv);
    for (unsigned i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i].thread, NULL);
    for (unsigned i = 0; i < srv->nworkers; i++)
        worker_dispose(&srv->workers[i]);
    cmn_free(srv->workers);
    srv->workers = NULL;
    srv->nworkers = 0;
}

void ihd__sum_counters(const ihd_server_t *srv, ihd_counters_t *out)
{
    /* The struct is all uint64_t: sum it as an array of words. */
    memset(out, 0, sizeof(*out));
    uint64_t *o = (uint64_t *)out;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        const uint64_t *c = (const uint64_t *)&srv->workers[i].c;
        for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
            o[k] += __atomic_load_n(&c[k], __ATOMIC_RELAXED);
    }
}
