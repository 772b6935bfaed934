/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_tcp.c: stream connections (TCP, and TLS through OpenSSL) owned by one
 * worker. Bytes are cut into frames with stun_frame_len (RFC 8489 §6.2.2
 * framing, RFC 8656 §12.5 padded ChannelData), each frame goes through
 * ihd_dispatch, and replies are written back with a bounded output
 * buffer. A peer that sends bytes which cannot start a frame, reads too
 * slowly, or stays idle past turn.tcp_idle_timeout is disconnected.
 *
 * Writes are coalesced: what a connection is sent during one pass over
 * the worker's events (replies, relayed data from several datagrams)
 * collects in its output buffer and leaves at the end of the pass
 * (ihd_tcp_flush) in one send instead of a system call per frame; 16 KiB
 * pending are written at once. On TLS each message is still its own
 * record (some clients, turnutils_uclient among them, take one record for
 * one message): OpenSSL encrypts into the output buffer through a BIO of
 * our own (wbuf_bio), and the records of a pass leave in that one send.
 * TLS reads ahead: one read takes every record the socket holds, not a
 * header and a body per record.
 *
 * Left out: RFC 6062 TCP relaying (connections to peers).
 */
#include "ihd.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>

#include "common/cmn_log.h"

struct ihd_conn_s {
    ihd_evkind_t kind;      /* IHD_EV_CONN; first member */
    int fd;
    turn_transport_t tr;
    SSL *ssl;               /* owned; NULL for plain TCP */
    bool handshaking;       /* TLS handshake not finished */
    cmn_addr_t peer;
    cmn_addr_t local;
    ihd_stream_t in;        /* bytes read, cut into frames (ihd_stream.c) */
    uint8_t *wbuf;          /* owned; bytes not yet accepted by the socket */
    size_t wlen, wcap;
    uint32_t events;        /* current epoll interest */
    double last_active;     /* ihd_now() of the last byte in or out */
    double opened;          /* ihd_now() of the accept */
    double frame_since;     /* ihd_now() when the incomplete frame began; 0 = none */
    bool has_alloc;         /* a TURN allocation lives on this connection */
    bool dead;              /* closed; freed after the event batch */
    bool dirty;             /* in the worker's list of buffers to flush */
    ihd_conn_t *next_dirty;
    uint8_t why;            /* IHD_CLOSE_*: why the next conn_fail closes it */
    ihd_conn_t *next_dead;
    ihd_conn_t *prev, *next; /* worker's connection list */
};

/* ---- Output buffer -------------------------------------------------------- */

/* Append <n> bytes to the output buffer. Returns -1 (why = slow) when the
 * client has let more than IHD_TCP_WBUF_MAX pile up. */
static int wbuf_append(ihd_conn_t *c, const void *p, size_t n)
{
    if (c->wlen + n > IHD_TCP_WBUF_MAX) {
        c->why = IHD_CLOSE_SLOW; /* a reader this slow would hold unbounded memory */
        return -1;
    }
    if (c->wlen + n > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < c->wlen + n)
            cap *= 2;
        c->wbuf = cmn_realloc(c->wbuf, cap);
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    return 0;
}

/* The write side of a TLS connection: OpenSSL hands its records to this
 * BIO, which appends them to the connection's output buffer; they go out
 * with the plain-TCP code's send. It never blocks. */
static int wbuf_bio_write(BIO *b, const char *data, int len)
{
    ihd_conn_t *c = BIO_get_data(b);
    if (len < 0 || !c || wbuf_append(c, data, (size_t)len) < 0)
        return -1;
    return len;
}

static long wbuf_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int wbuf_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *wbuf_method;
static pthread_once_t wbuf_once = PTHREAD_ONCE_INIT;

static void wbuf_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "icehub-wbuf");
    if (m && BIO_meth_set_write(m, wbuf_bio_write) == 1 &&
        BIO_meth_set_ctrl(m, wbuf_bio_ctrl) == 1 && BIO_meth_set_create(m, wbuf_bio_create) == 1)
        wbuf_method = m;
    else
        BIO_meth_free(m);
}

/* SSL for connection <c>: reads from the socket, writes into c->wbuf. */
static SSL *tls_new(SSL_CTX *ctx, ihd_conn_t *c)
{
    pthread_once(&wbuf_once, wbuf_method_make);
    SSL *ssl = wbuf_method ? SSL_new(ctx) : NULL;
    BIO *rb = ssl ? BIO_new_socket(c->fd, BIO_NOCLOSE) : NULL;
    BIO *wb = rb ? BIO_new(wbuf_method) : NULL;
    if (!wb) {
        BIO_free(rb);
        SSL_free(ssl);
        return NULL;
    }
    BIO_set_data(wb, c);
    SSL_set_bio(ssl, rb, wb);
    return ssl;
}

/* ---- Connections ------------------------------------------------------------ */

static void conn_link(ihd_worker_t *w, ihd_conn_t *c)
{
    c->prev = w->conn_tail;
    c->next = NULL;
    if (w->conn_tail)
        w->conn_tail->next = c;
    else
        w->conn_head = c;
    w->conn_tail = c;
}

static void conn_unlink(ihd_worker_t *w, ihd_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conn_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        w->conn_tail = c->prev;
}

bool ihd_conn_alive(const ihd_conn_t *c)
{
    return !c->dead;
}

void ihd_conn_set_alloc(ihd_conn_t *c, bool has)
{
    c->has_alloc = has;
}

static void conn_tuple(const ihd_conn_t *c, turn_5tuple_t *t)
{
    t->client = c->peer;
    t->server = c->local;
    t->transport = (uint8_t)c->tr;
}

/* Close now, free after the event batch (ihd_tcp_reap): a relay event
 * queued in the same batch may still point at this connection. */
static void conn_close(ihd_worker_t *w, ihd_conn_t *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->has_alloc && w->turn) {
        /* RFC 8656 §3.1: the allocation lives as long as the connection. */
        turn_5tuple_t t;
        conn_tuple(c, &t);
        turn_end_tuple(w->turn, &t);
    }
    conn_unlink(w, c);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        /* close_notify goes into the output buffer: one last try to send
         * what is there. */
        if (!c->handshaking && SSL_shutdown(c->ssl) >= 0 && c->wlen)
            (void)!send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    ihd_stream_dispose(&c->in);
    cmn_free(c->wbuf);
    c->wbuf = NULL;
    c->wlen = c->wcap = 0;
    c->next_dead = w->conn_graveyard;
    w->conn_graveyard = c;
    IHD_DEC(w->c.tcp_open, 1);
    atomic_fetch_sub(&w->srv->tcp_conns, 1);
}

void ihd_tcp_reap(ihd_worker_t *w)
{
    while (w->conn_graveyard) {
        ihd_conn_t *c = w->conn_graveyard;
        w->conn_graveyard = c->next_dead;
        cmn_free(c);
    }
}

/* Close for the reason recorded in c->why (garbage by default). */
static void conn_fail(ihd_worker_t *w, ihd_conn_t *c)
{
    if (c->why == IHD_CLOSE_PEER)
        IHD_INC(w->c.tcp_closed_peer, 1);
    else if (c->why == IHD_CLOSE_SLOW)
        IHD_INC(w->c.tcp_closed_slow, 1);
    else
        IHD_INC(w->c.tcp_closed_error, 1);
    conn_close(w, c);
}

static void conn_set_events(ihd_worker_t *w, ihd_conn_t *c, uint32_t ev)
{
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

/* Accept failed for want of a descriptor (EMFILE, ENFILE) or of kernel
 * memory. The connection stays in the backlog and keeps the
 * level-triggered listener readable: returning would spin the worker. So
 * give up the spare descriptor, accept, close (the client sees its
 * connection closed), count, and take the spare back; if even that finds
 * no descriptor, stop listening for IHD_ACCEPT_PAUSE (ihd_tcp_resume).
 * Nothing else holds up: relays and replies go on meanwhile. */
static void accept_without_fd(ihd_worker_t *w, ihd_listener_t *l)
{
    for (int i = 0; i < 64; i++) {
        if (w->spare_fd >= 0)
            close(w->spare_fd);
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        int e = errno;
        if (fd >= 0) {
            close(fd);
            IHD_INC(w->c.tcp_rejected_fd, 1);
        }
        w->spare_fd = eventfd(0, EFD_CLOEXEC);
        if (fd < 0 && e == EAGAIN)
            return; /* the backlog is empty */
        if (fd < 0 || w->spare_fd < 0)
            break;
    }
    w->accept_paused_until = ihd_now() + IHD_ACCEPT_PAUSE;
    for (size_t i = 0; i < w->nls; i++) {
        if (w->ls[i].kind != IHD_EV_TCP_LISTEN)
            continue;
        struct epoll_event ev = {.events = 0, .data.ptr = &w->ls[i]};
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->ls[i].fd, &ev);
    }
}

void ihd_tcp_resume(ihd_worker_t *w, double now)
{
    if (!w->accept_paused_until || now < w->accept_paused_until)
        return;
    w->accept_paused_until = 0;
    if (w->spare_fd < 0)
        w->spare_fd = eventfd(0, EFD_CLOEXEC);
    for (size_t i = 0; i < w->nls; i++) {
        if (w->ls[i].kind != IHD_EV_TCP_LISTEN)
            continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->ls[i]};
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->ls[i].fd, &ev);
    }
}

void ihd_tcp_accept(ihd_worker_t *w, ihd_listener_t *l)
{
    long max = w->cfg->s.turn.max_tcp_connections;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_without_fd(w, l);
            return; /* EAGAIN, or a transient error: retry on the next event */
        }
        /* Replies and relayed media are small writes that must not wait
         * for the client's delayed ACK (Nagle would hold them ~40 ms). */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (atomic_fetch_add(&w->srv->tcp_conns, 1) >= max) {
            atomic_fetch_sub(&w->srv->tcp_conns, 1);
            IHD_INC(w->c.tcp_rejected_limit, 1);
            close(fd);
            continue;
        }
        ihd_conn_t *c = cmn_calloc(1, sizeof(*c));
        c->kind = IHD_EV_CONN;
        c->fd = fd;
        c->tr = l->tr;
        c->local = l->addr;
        if (cmn_addr_is_any(&l->addr)) {
            /* The 5-tuple needs the address the client actually reached. */
            struct sockaddr_storage ls;
            socklen_t ll = sizeof(ls);
            if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
                (void)cmn_addr_from_sockaddr(&c->local, (struct sockaddr *)&ls);
        }
        (void)cmn_addr_from_sockaddr(&c->peer, (struct sockaddr *)&ss);
        c->last_active = c->opened = ihd_now();
        c->events = EPOLLIN;
        if (l->tr == TURN_TR_TLS) {
            c->ssl = tls_new(w->cfg->tls_ctx, c);
            if (!c->ssl) {
                close(fd);
                cmn_free(c);
                atomic_fetch_sub(&w->srv->tcp_conns, 1);
                IHD_INC(w->c.tls_handshake_failed, 1);
                continue;
            }
            c->handshaking = true;
        }
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e);
        conn_link(w, c);
        IHD_INC(w->c.tcp_open, 1);
        IHD_INC(w->c.tcp_accepted[l->tr], 1);
    }
}

/* Raw write of as much as the socket takes (on TLS, of records already
 * made). Returns bytes written, 0 if it would block, or -1 on a fatal
 * error. */
static ssize_t conn_raw_write(ihd_conn_t *c, const uint8_t *p, size_t n)
{
    ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

/* Try to empty the output buffer; keeps EPOLLOUT armed while bytes remain. */
static int conn_flush(ihd_worker_t *w, ihd_conn_t *c)
{
    size_t off = 0;
    while (off < c->wlen) {
        ssize_t r = conn_raw_write(c, c->wbuf + off, c->wlen - off);
        if (r < 0) {
            c->why = IHD_CLOSE_PEER; /* reset or gone: the client closed */
            return -1;
        }
        if (r == 0)
            break;
        IHD_INC(w->c.tcp_writes[c->tr], 1);
        IHD_INC(w->c.tx_bytes[c->tr], (uint64_t)r);
        off += (size_t)r;
    }
    if (off) {
        memmove(c->wbuf, c->wbuf + off, c->wlen - off);
        c->wlen -= off;
    }
    conn_set_events(w, c, c->wlen ? EPOLLIN | EPOLLOUT : EPOLLIN);
    return 0;
}

#define IHD_TCP_COALESCE 16384  /* pending bytes written at once */

/* Output is pending: flush it at the end of this pass (or now, when there
 * is a lot). Returns -1 if the connection must close. */
static int conn_pending(ihd_worker_t *w, ihd_conn_t *c)
{
    if (c->wlen >= IHD_TCP_COALESCE)
        return conn_flush(w, c);
    if (c->wlen && !c->dirty) {
        c->dirty = true;
        c->next_dirty = w->conn_dirty;
        w->conn_dirty = c;
    }
    return 0;
}

/* Queue one message (on TLS, as one record); it leaves with the others of
 * this pass (ihd_tcp_flush). Returns -1 if the connection must close. */
static int conn_send(ihd_worker_t *w, ihd_conn_t *c, const uint8_t *p, size_t n)
{
    if (c->dead)
        return -1;
    if (c->ssl) {
        ERR_clear_error();
        if (SSL_write(c->ssl, p, (int)n) != (int)n) {
            ERR_clear_error();
            return -1; /* the BIO refused: why = slow; else a TLS error */
        }
    } else if (wbuf_append(c, p, n) < 0) {
        return -1;
    }
    IHD_INC(w->c.tx_packets[c->tr], 1);
    return conn_pending(w, c);
}

void ihd_tcp_flush(ihd_worker_t *w)
{
    while (w->conn_dirty) {
        ihd_conn_t *c = w->conn_dirty;
        w->conn_dirty = c->next_dirty;
        c->dirty = false;
        /* A connection closed in this pass is still allocated (freed by
         * ihd_tcp_reap, after this), so the list may hold it. */
        if (!c->dead && c->wlen && conn_flush(w, c) < 0)
            conn_fail(w, c);
    }
}

/* Cut complete frames out of the read buffer and dispatch them.
 * Returns -1 if the stream is garbage or a reply cannot be queued. */
static int conn_frames(ihd_worker_t *w, ihd_conn_t *c)
{
    uint8_t out[IHD_UDP_MAX + 128];
    const uint8_t *f;
    size_t fl;
    ihd_frame_t r;
    while ((r = ihd_stream_next(&c->in, c->has_alloc, &f, &fl)) == IHD_FRAME_OK) {
        IHD_INC(w->c.rx_packets[c->tr], 1);
        ihd_pkt_t p = {.tr = c->tr, .src = &c->peer, .dst = &c->local,
                       .data = f, .len = fl, .conn = c};
        size_t olen = ihd_dispatch(w, &p, out, sizeof(out));
        if (olen && conn_send(w, c, out, olen) < 0) {
            ihd_relay_flush(w);
            return -1;
        }
    }
    /* Forwarded data borrows the read buffer: it is sent before the buffer
     * is compacted or grown (ihd_stream_room, at the next read). */
    ihd_relay_flush(w);
    if (r == IHD_FRAME_GARBAGE) {
        IHD_INC(w->c.invalid[IHD_DROP_TCP_FRAMING], 1);
        return -1;
    }
    return 0;
}

/* Read what is available. Returns 1 if more may follow, 0 when the socket
 * is drained, -1 on EOF or error. */
static int conn_read_some(ihd_worker_t *w, ihd_conn_t *c)
{
    size_t room;
    uint8_t *dst = ihd_stream_room(&c->in, &room);
    if (!dst)
        return -1;
    ssize_t r;
    if (c->ssl) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, dst, (int)room);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
        }
        r = n;
    } else {
        r = recv(c->fd, dst, room, 0);
        if (r < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        if (r == 0)
            return -1;
    }
    ihd_stream_wrote(&c->in, (size_t)r);
    IHD_INC(w->c.rx_bytes[c->tr], (uint64_t)r);
    return (size_t)r == room || (c->ssl && SSL_has_pending(c->ssl)) ? 1 : 0;
}

static int conn_handshake(ihd_worker_t *w, ihd_conn_t *c)
{
    ERR_clear_error();
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        c->handshaking = false;
        return 0;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        conn_set_events(w, c, EPOLLIN);
        return 1;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        conn_set_events(w, c, EPOLLIN | EPOLLOUT);
        return 1;
    }
    IHD_INC(w->c.tls_handshake_failed, 1);
    return -1;
}

void ihd_tcp_event(ihd_worker_t *w, ihd_conn_t *c, uint32_t events)
{
    /* Closed earlier in this epoll batch (a failed relay write, say) but
     * not freed yet: its queued event is stale. */
    if (c->dead)
        return;
    c->last_active = ihd_now();
    if (c->handshaking) {
        int r = conn_handshake(w, c);
        if (r < 0) {
            conn_close(w, c);
            return;
        }
        /* The handshake's own records (and, at its end, the session
         * tickets) wait in the output buffer like any message. */
        if (conn_pending(w, c) < 0) {
            conn_fail(w, c);
            return;
        }
        if (r > 0)
            return;
        conn_set_events(w, c, c->wlen > 0 && (c->events & EPOLLOUT) ? EPOLLIN | EPOLLOUT : EPOLLIN);
    }
    if ((events & EPOLLOUT) && conn_flush(w, c) < 0) {
        conn_fail(w, c);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !c->ssl)
        return;
    /* Bounded reads per event keep one chatty connection from starving
     * others: bytes left in the socket raise the (level-triggered) event
     * again. Bytes OpenSSL already pulled into its own buffer (read-ahead
     * takes several records at once) would not, so those are always read
     * to the end. */
    for (int round = 0;; round++) {
        int r = conn_read_some(w, c);
        if (r < 0 || conn_frames(w, c) < 0) {
            if (r < 0 && ihd_stream_pending(&c->in) == 0)
                c->why = IHD_CLOSE_PEER; /* EOF or reset between frames */
            conn_fail(w, c);
            return;
        }
        if (r == 0 || (round >= 15 && !(c->ssl && SSL_has_pending(c->ssl))))
            break;
    }
    /* When the frame now waiting for its rest began (ihd_tcp_expire). */
    if (ihd_stream_pending(&c->in) == 0)
        c->frame_since = 0;
    else if (c->frame_since == 0)
        c->frame_since = c->last_active;
    /* Reading TLS can write too (an alert, a key update). */
    if (c->ssl && conn_pending(w, c) < 0)
        conn_fail(w, c);
}

int ihd_tcp_send(ihd_worker_t *w, ihd_conn_t *c, const uint8_t *p, size_t n)
{
    c->last_active = ihd_now(); /* relayed data to the client is activity too */
    if (conn_send(w, c, p, n) < 0) {
        conn_fail(w, c);
        return -1;
    }
    return 0;
}

void ihd_tcp_expire(ihd_worker_t *w, double now)
{
    double idle = w->cfg->s.turn.tcp_idle_timeout;
    double hs = w->cfg->s.turn.tls_handshake_timeout;
    ihd_conn_t *c = w->conn_head;
    while (c) {
        ihd_conn_t *next = c->next;
        /* A connection that carries an allocation lives as long as the
         * allocation (RFC 8656 §3.1), which has its own lifetime. The
         * others must finish the handshake within its time from the
         * accept, and each frame within the idle time from its first
         * byte: bytes trickled one at a time keep neither open. */
        if (c->has_alloc) {
        } else if (c->handshaking && now - c->opened > hs) {
            IHD_INC(w->c.tls_handshake_timeout, 1);
            conn_close(w, c);
        } else if (now - c->last_active > idle) {
            IHD_INC(w->c.tcp_closed_idle, 1);
            conn_close(w, c);
        } else if (c->frame_since && now - c->frame_since > idle) {
            IHD_INC(w->c.tcp_closed_slow_frame, 1);
            conn_close(w, c);
        }
        c = next;
    }
}

void ihd_tcp_close_all(ihd_worker_t *w)
{
    while (w->conn_head)
        conn_close(w, w->conn_head);
}
