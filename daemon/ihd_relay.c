/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_relay.c: the sockets side of TURN allocations. Implements turn_ops_t
 * for a worker (open and close relay sockets in turn.relay_ports, EVEN-PORT
 * reservations that any worker may take with a RESERVATION-TOKEN,
 * DONT-FRAGMENT), forwards client data to peers, and reads peer datagrams
 * in batches, hands them to turn_peer_data and sends the result to the
 * client: batched with sendmmsg for UDP clients, through the connection for
 * TCP and TLS clients.
 *
 * Memory rule: a relay socket is closed at once when its allocation ends,
 * but its glue is freed only after the current epoll batch (the graveyard),
 * because an event for it may already be queued.
 */
#include "ihd.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"

#define IHD_RESERV_TTL 30.0     /* s: RFC 8656 §7.2 suggests about 30 s */
#define IHD_PORT_TRIES 256

struct ihd_reserv_s {
    ihd_reserv_t *next;
    uint8_t token[8];
    int fd;                 /* owned: bound, not yet in any epoll */
    cmn_addr_t addr;
    double expires;
};

typedef struct ihd_relay_s {
    ihd_evkind_t kind;      /* IHD_EV_RELAY; first member */
    int fd;                 /* -1 once closed */
    cmn_addr_t addr;        /* bound address */
    ihd_alloc_t *g;
    bool df;                /* the socket sets DF on every datagram */
} ihd_relay_t;

struct ihd_alloc_s {
    turn_alloc_t *a;        /* borrowed from turn/; inert after relay_close */
    ihd_relay_t relay[2];   /* [0] IPv4, [1] IPv6 */
    ihd_listener_t *l;      /* UDP client: the listener its packets arrive on */
    ihd_conn_t *conn;       /* stream client, or NULL */
    union {                 /* UDP client address, ready for sendmmsg */
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } client;               /* (not a sockaddr_storage: 100 bytes less per allocation) */
    socklen_t client_len;
    bool dead;
    ihd_alloc_t *next_dead;
};

typedef struct ihd_relay_batch_s {
    struct mmsghdr in[IHD_UDP_BATCH];
    struct iovec in_iov[IHD_UDP_BATCH];
    struct sockaddr_storage in_addr[IHD_UDP_BATCH];
    uint8_t buf[IHD_UDP_BATCH][TURN_PEER_HEADROOM + IHD_UDP_MAX + 4];
    ihd_dgram_t out[IHD_UDP_BATCH];
} ihd_relay_batch_t;

/* Client data waiting to go to peers, for the relay sockets of any
 * allocations: the batch leaves in one io_uring submission, or one
 * sendmmsg per socket (ihd_udp_send_many). The iovecs borrow the receive
 * buffers, so the owner flushes before reusing them. */
typedef struct ihd_fwd_batch_s {
    unsigned n;
    ihd_dgram_t d[IHD_UDP_BATCH];
    struct sockaddr_storage addr[IHD_UDP_BATCH];
} ihd_fwd_batch_t;

static ihd_relay_batch_t *relay_batch(ihd_worker_t *w)
{
    if (!w->relay_batch)
        w->relay_batch = cmn_calloc(1, sizeof(ihd_relay_batch_t));
    return w->relay_batch;
}

/* ---- Reservations (shared by all workers) -------------------------------- */

static void reserv_add(ihd_server_t *srv, int fd, const cmn_addr_t *addr, uint8_t token[8])
{
    ihd_reserv_t *r = cmn_calloc(1, sizeof(*r));
    (void)cmn_random(r->token, sizeof(r->token));
    memcpy(token, r->token, 8);
    r->fd = fd;
    r->addr = *addr;
    r->expires = ihd_now() + IHD_RESERV_TTL;
    pthread_mutex_lock(&srv->reserv_lock);
    r->next = srv->reservs;
    srv->reservs = r;
    pthread_mutex_unlock(&srv->reserv_lock);
}

/* Take the socket reserved under <token>; returns the fd or -1. */
static int reserv_take(ihd_server_t *srv, const uint8_t token[8], cmn_addr_t *addr)
{
    int fd = -1;
    pthread_mutex_lock(&srv->reserv_lock);
    for (ihd_reserv_t **pp = &srv->reservs; *pp; pp = &(*pp)->next) {
        ihd_reserv_t *r = *pp;
        if (cmn_ct_equal(r->token, token, 8) && r->expires > ihd_now()) {
            fd = r->fd;
            *addr = r->addr;
            *pp = r->next;
            cmn_free(r);
            break;
        }
    }
    pthread_mutex_unlock(&srv->reserv_lock);
    return fd;
}

void ihd_reserv_expire(ihd_server_t *srv, double now)
{
    pthread_mutex_lock(&srv->reserv_lock);
    for (ihd_reserv_t **pp = &srv->reservs; *pp;) {
        ihd_reserv_t *r = *pp;
        if (r->expires <= now) {
            *pp = r->next;
            close(r->fd);
            cmn_free(r);
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&srv->reserv_lock);
}

void ihd_reserv_free_all(ihd_server_t *srv)
{
    ihd_reserv_expire(srv, 1e300);
}

/* ---- Opening relay sockets ---------------------------------------------- */

static int bind_udp(const cmn_addr_t *ip, uint16_t port)
{
    cmn_addr_t a = *ip;
    a.port = port;
    struct sockaddr_storage ss;
    socklen_t sl = cmn_addr_to_sockaddr(&a, &ss);
    int fd = socket(a.family == CMN_AF_INET6 ? AF_INET6 : AF_INET,
                    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (a.family == CMN_AF_INET6) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Bind a port of the relay range on <ip>: random start, then linear probe.
 * For EVEN-PORT the port is even; with <pair>, port+1 is bound too. */
static int bind_range(const cmn_settings_t *s, const cmn_addr_t *ip, bool even, bool pair,
                      int *fd, int *fd2, uint16_t *port)
{
    uint32_t lo = s->turn.relay_port_min, hi = s->turn.relay_port_max;
    uint32_t span = hi - lo + 1, start = 0;
    (void)cmn_random(&start, sizeof(start));
    for (uint32_t i = 0; i < span && i < IHD_PORT_TRIES * 8; i++) {
        uint32_t p = lo + (start + i) % span;
        if ((even && (p & 1)) || (pair && p + 1 > hi))
            continue;
        int f = bind_udp(ip, (uint16_t)p);
        if (f < 0) {
            if (f == -EADDRINUSE || f == -EACCES)
                continue;
            /* Out of descriptors or socket memory: capacity, so 508 (and
             * counted as such), not a server error. */
            if (f == -EMFILE || f == -ENFILE || f == -ENOBUFS || f == -ENOMEM)
                return CMN_ELIMIT;
            return CMN_EIO;
        }
        if (pair) {
            int f2 = bind_udp(ip, (uint16_t)(p + 1));
            if (f2 < 0) {
                close(f);
                continue;
            }
            *fd2 = f2;
        }
        *fd = f;
        *port = (uint16_t)p;
        return 0;
    }
    return CMN_ELIMIT;
}

static bool is_loopback(const cmn_addr_t *a)
{
    static const uint8_t v6_loop[16] = {[15] = 1};
    return a->family == CMN_AF_INET ? a->ip[0] == 127 : !memcmp(a->ip, v6_loop, 16);
}

static bool is_link_local(const cmn_addr_t *a)
{
    return a->family == CMN_AF_INET ? (a->ip[0] == 169 && a->ip[1] == 254)
                                    : (a->ip[0] == 0xfe && (a->ip[1] & 0xc0) == 0x80);
}

/* The local address a relay of <family> binds: turn.relay_ip when it is of
 * that family; else the address the client reached us on; else (the
 * client asked for the other family) a local address of that family: a
 * loopback one when the client came over loopback, otherwise the first
 * that is neither loopback nor link-local. */
static int relay_local_ip(const ihd_worker_t *w, const turn_alloc_t *a, uint8_t family,
                          cmn_addr_t *ip)
{
    const cmn_addr_t *rip = &w->cfg->s.turn.relay_ip;
    const turn_5tuple_t *t = turn_alloc_tuple(a);
    if (rip->family == family) {
        *ip = *rip;
    } else if (t->server.family == family && !cmn_addr_is_any(&t->server)) {
        *ip = t->server;
    } else {
        bool loop = is_loopback(&t->server);
        const turn_cfg_t *tc = &w->cfg->turn;
        size_t i;
        for (i = 0; i < tc->nown; i++) {
            const cmn_addr_t *o = &tc->own_addrs[i];
            if (o->family == family && is_loopback(o) == loop && !is_link_local(o))
                break;
        }
        if (i == tc->nown)
            return CMN_EINVAL;
        *ip = tc->own_addrs[i];
    }
    ip->port = 0;
    return 0;
}

static void set_dont_fragment(int fd, uint8_t family, bool on)
{
    if (family == CMN_AF_INET) {
        /* Off is the kernel default for UDP sockets: "want" (DF set, but
         * fragment locally when the route MTU is smaller). */
        int v = on ? IP_PMTUDISC_DO : IP_PMTUDISC_WANT;
        (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
    } else {
        int v = on;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &v, sizeof(v));
    }
}

/* The glue of <a>, made at its first relay_open from the Allocate's packet
 * <from> (where the client is: its UDP listener or its connection). */
static ihd_alloc_t *glue_for(turn_alloc_t *a, const ihd_pkt_t *from)
{
    ihd_alloc_t *g = turn_alloc_udata(a);
    if (g)
        return g;
    g = cmn_calloc(1, sizeof(*g));
    g->a = a;
    for (int i = 0; i < 2; i++) {
        g->relay[i].kind = IHD_EV_RELAY;
        g->relay[i].fd = -1;
        g->relay[i].g = g;
    }
    g->l = from->listener;
    g->conn = from->conn;
    struct sockaddr_storage ss;
    g->client_len = cmn_addr_to_sockaddr(&turn_alloc_tuple(a)->client, &ss);
    memcpy(&g->client, &ss, CMN_MIN((size_t)g->client_len, sizeof(g->client)));
    if (g->conn)
        ihd_conn_set_alloc(g->conn, true);
    turn_alloc_set_udata(a, g);
    return g;
}

static int relay_open(void *ctx, turn_alloc_t *a, const turn_relay_req_t *req,
                      cmn_addr_t *relayed, uint8_t token_out[8])
{
    ihd_worker_t *w = ctx;
    int fd = -1, fd2 = -1;
    cmn_addr_t bound;
    if (req->use_token) {
        fd = reserv_take(w->srv, req->token, &bound);
        if (fd < 0)
            return CMN_ENOENT;
    } else {
        cmn_addr_t ip;
        uint16_t port = 0;
        if (relay_local_ip(w, a, req->family, &ip) < 0)
            return CMN_EINVAL;
        int r = bind_range(&w->cfg->s, &ip, req->even_port, req->reserve_next, &fd, &fd2, &port);
        if (r < 0)
            return r;
        bound = ip;
        bound.port = port;
        if (req->reserve_next) {
            cmn_addr_t next = ip;
            next.port = (uint16_t)(port + 1);
            reserv_add(w->srv, fd2, &next, token_out);
        }
    }
    if (req->dont_fragment)
        set_dont_fragment(fd, bound.family, true);
    ihd_alloc_t *g = glue_for(a, req->origin);
    ihd_relay_t *r = &g->relay[bound.family == CMN_AF_INET6];
    if (r->fd >= 0) {
        close(fd);
        return CMN_EIO;
    }
    r->fd = fd;
    r->addr = bound;
    r->df = req->dont_fragment;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = r};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        r->fd = -1;
        return CMN_EIO;
    }
    *relayed = bound;
    return 0;
}

static void relay_close(void *ctx, turn_alloc_t *a)
{
    ihd_worker_t *w = ctx;
    ihd_alloc_t *g = turn_alloc_udata(a);
    if (!g)
        return;
    ihd_usage_alloc_end(w, a);
    /* Datagrams queued for these sockets leave before the sockets close. */
    ihd_relay_flush(w);
    for (int i = 0; i < 2; i++) {
        if (g->relay[i].fd >= 0) {
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, g->relay[i].fd, NULL);
            close(g->relay[i].fd);
            g->relay[i].fd = -1;
        }
    }
    if (g->conn && ihd_conn_alive(g->conn))
        ihd_conn_set_alloc(g->conn, false);
    turn_alloc_set_udata(a, NULL);
    g->dead = true;
    g->next_dead = w->graveyard;
    w->graveyard = g;
}

void ihd_relay_init_ops(ihd_worker_t *w)
{
    w->turn_ops.ctx = w;
    w->turn_ops.relay_open = relay_open;
    w->turn_ops.relay_close = relay_close;
}

void ihd_relay_reap(ihd_worker_t *w)
{
    while (w->graveyard) {
        ihd_alloc_t *g = w->graveyard;
        w->graveyard = g->next_dead;
        cmn_free(g);
    }
}

/* ---- Live upgrade ----------------------------------------------------------- */

void ihd_relay_export(ihd_worker_t *w, turn_alloc_t *a, ihd_ho_alloc_t *out)
{
    ihd_alloc_t *g = turn_alloc_udata(a);
    out->listener = 0;
    for (int i = 0; i < 2; i++) {
        out->relay_fd[i] = g ? g->relay[i].fd : -1;
        out->relay_df[i] = g && g->relay[i].df;
    }
    for (size_t i = 0; g && g->l && i < w->nls; i++)
        if (&w->ls[i] == g->l)
            out->listener = (uint32_t)i;
}

void ihd_relay_forget(ihd_worker_t *w, turn_alloc_t *a)
{
    ihd_alloc_t *g = turn_alloc_udata(a);
    if (!g)
        return;
    /* The sockets live on in the new process (it holds its own copies):
     * only this process's descriptors close, and no usage end is written.
     * Datagrams queued for them (the batch spans sockets) leave first. */
    ihd_relay_flush(w);
    for (int i = 0; i < 2; i++) {
        if (g->relay[i].fd >= 0) {
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, g->relay[i].fd, NULL);
            close(g->relay[i].fd);
            g->relay[i].fd = -1;
        }
    }
    turn_alloc_set_udata(a, NULL);
    g->dead = true;
    g->next_dead = w->graveyard;
    w->graveyard = g;
}

int ihd_relay_adopt(ihd_worker_t *w, turn_alloc_t *a, const ihd_ho_alloc_t *in)
{
    if (in->listener >= w->nls || w->ls[in->listener].tr != TURN_TR_UDP)
        return CMN_EINVAL;
    ihd_pkt_t from = {.tr = TURN_TR_UDP, .listener = &w->ls[in->listener]};
    ihd_alloc_t *g = glue_for(a, &from);
    for (int i = 0; i < 2; i++) {
        if (in->relay_fd[i] < 0)
            continue;
        ihd_relay_t *r = &g->relay[i];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(in->relay_fd[i], (struct sockaddr *)&ss, &sl) < 0 ||
            cmn_addr_from_sockaddr(&r->addr, (struct sockaddr *)&ss) < 0)
            return CMN_EINVAL;
        r->fd = in->relay_fd[i];
        r->df = in->relay_df[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = r};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, r->fd, &ev) < 0) {
            r->fd = -1;
            return CMN_EIO;
        }
    }
    return 0;
}

void ihd_reserv_export(ihd_server_t *srv, ihd_handover_t *h)
{
    double now = ihd_now();
    pthread_mutex_lock(&srv->reserv_lock);
    size_t n = 0;
    for (ihd_reserv_t *r = srv->reservs; r; r = r->next)
        n++;
    h->rv = cmn_calloc(n ? n : 1, sizeof(*h->rv));
    for (ihd_reserv_t *r = srv->reservs; r; r = r->next) {
        if (r->expires <= now)
            continue;
        ihd_ho_reserv_t *o = &h->rv[h->nrv++];
        memcpy(o->token, r->token, 8);
        o->addr = r->addr;
        o->fd = r->fd;
        o->ttl = r->expires - now;
    }
    pthread_mutex_unlock(&srv->reserv_lock);
}

void ihd_reserv_adopt(ihd_server_t *srv, ihd_handover_t *h)
{
    double now = ihd_now();
    pthread_mutex_lock(&srv->reserv_lock);
    for (size_t i = 0; i < h->nrv; i++) {
        ihd_reserv_t *r = cmn_calloc(1, sizeof(*r));
        memcpy(r->token, h->rv[i].token, 8);
        r->addr = h->rv[i].addr;
        r->fd = h->rv[i].fd;
        r->expires = now + h->rv[i].ttl;
        r->next = srv->reservs;
        srv->reservs = r;
        h->rv[i].fd = -1; /* the list owns it now */
    }
    pthread_mutex_unlock(&srv->reserv_lock);
}

/* ---- Data ----------------------------------------------------------------- */

void ihd_relay_flush(ihd_worker_t *w)
{
    ihd_fwd_batch_t *f = w->fwd;
    if (!f || !f->n)
        return;
    ihd_udp_stats_t st = {0, 0, 0};
    ihd_udp_send_many(w, f->d, f->n, &st);
    IHD_INC(w->c.relay_tx_errors, st.errors);
    f->n = 0;
}

void ihd_relay_send(ihd_worker_t *w, turn_alloc_t *a, const cmn_addr_t *peer,
                    const uint8_t *data, size_t len)
{
    ihd_alloc_t *g = turn_alloc_udata(a);
    if (!g)
        return;
    ihd_relay_t *r = &g->relay[peer->family == CMN_AF_INET6];
    if (r->fd < 0) {
        IHD_INC(w->c.turn_drop[TURN_DROP_PEER_FAMILY], 1); /* no relay of that family */
        return;
    }
    if (!w->fwd)
        w->fwd = cmn_calloc(1, sizeof(ihd_fwd_batch_t));
    ihd_fwd_batch_t *f = w->fwd;
    if (f->n == IHD_UDP_BATCH)
        ihd_relay_flush(w);
    unsigned i = f->n++;
    socklen_t sl = cmn_addr_to_sockaddr(peer, &f->addr[i]);
    f->d[i] = (ihd_dgram_t){.fd = r->fd, .data = data, .len = len, .to = &f->addr[i], .tolen = sl};
}

/* A Send indication with DONT-FRAGMENT (RFC 8656 §11.2) on a relay socket
 * without DF: send that one datagram with DF set, alone. Rare (browsers do
 * not send it), so it may cost two setsockopt calls. */
void ihd_relay_send_df(ihd_worker_t *w, turn_alloc_t *a, const cmn_addr_t *peer,
                       const uint8_t *data, size_t len)
{
    ihd_alloc_t *g = turn_alloc_udata(a);
    ihd_relay_t *r = g ? &g->relay[peer->family == CMN_AF_INET6] : NULL;
    if (!r || r->fd < 0 || r->df) {
        ihd_relay_send(w, a, peer, data, len);
        return;
    }
    ihd_relay_flush(w);
    struct sockaddr_storage ss;
    socklen_t sl = cmn_addr_to_sockaddr(peer, &ss);
    set_dont_fragment(r->fd, r->addr.family, true);
    if (sendto(r->fd, data, len, 0, (struct sockaddr *)&ss, sl) < 0)
        IHD_INC(w->c.relay_tx_errors, 1);
    set_dont_fragment(r->fd, r->addr.family, false);
}

/* Send the prepared batch to a UDP client from the allocation's server
 * address: one destination, so runs of equal sizes go out as GSO sends. */
static void relay_flush_udp(ihd_worker_t *w, ihd_alloc_t *g, ihd_relay_batch_t *b, unsigned n)
{
    if (!n)
        return;
    const turn_5tuple_t *t = turn_alloc_tuple(g->a);
    const cmn_addr_t *from = cmn_addr_is_any(&g->l->addr) ? &t->server : NULL;
    for (unsigned i = 0; i < n; i++) {
        b->out[i].to = &g->client;
        b->out[i].tolen = g->client_len;
        b->out[i].from = from;
    }
    ihd_udp_stats_t st = {0, 0, 0};
    ihd_udp_send(w, g->l->fd, b->out, n, &st);
    IHD_INC(w->c.tx_packets[TURN_TR_UDP], st.packets);
    IHD_INC(w->c.tx_bytes[TURN_TR_UDP], st.bytes);
    IHD_INC(w->c.tx_errors[TURN_TR_UDP], st.errors);
}

static int relay_recv_batch(ihd_relay_t *r, ihd_relay_batch_t *b)
{
    for (unsigned i = 0; i < IHD_UDP_BATCH; i++) {
        b->in_iov[i] = (struct iovec){b->buf[i] + TURN_PEER_HEADROOM, IHD_UDP_MAX};
        b->in[i].msg_hdr = (struct msghdr){
            .msg_name = &b->in_addr[i], .msg_namelen = sizeof(b->in_addr[i]),
            .msg_iov = &b->in_iov[i], .msg_iovlen = 1,
        };
    }
    return recvmmsg(r->fd, b->in, IHD_UDP_BATCH, MSG_DONTWAIT, NULL);
}

void ihd_relay_readable(ihd_worker_t *w, void *relay)
{
    ihd_relay_t *r = relay;
    ihd_relay_batch_t *b = relay_batch(w);
    double now = ihd_now();
    for (int round = 0; round < 16 && r->fd >= 0; round++) {
        ihd_alloc_t *g = r->g;
        int n = relay_recv_batch(r, b);
        if (n <= 0)
            return;
        unsigned nout = 0;
        for (int i = 0; i < n && !g->dead; i++) {
            IHD_INC(w->c.relay_rx_packets, 1);
            cmn_addr_t peer;
            const uint8_t *msg;
            size_t mlen;
            if ((b->in[i].msg_hdr.msg_flags & MSG_TRUNC) ||
                cmn_addr_from_sockaddr(&peer, b->in[i].msg_hdr.msg_name) < 0 ||
                turn_peer_data(w->turn, g->a, &peer, b->buf[i], b->in[i].msg_len, now, &msg,
                               &mlen) < 0) {
                IHD_INC(w->c.relay_rx_dropped, 1);
                continue;
            }
            if (g->conn) {
                if (ihd_tcp_send(w, g->conn, msg, mlen) < 0)
                    break; /* the connection closed, and with it the allocation */
            } else {
                b->out[nout++] = (ihd_dgram_t){.data = msg, .len = mlen};
            }
        }
        if (!g->dead && !g->conn)
            relay_flush_udp(w, g, b, nout);
        if (n < IHD_UDP_BATCH)
            return;
    }
}
