/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_stream.c: TURN over TCP and TLS for benchmarks (clients behind
 * networks that allow only TCP or TLS on 443). K stream connections each
 * hold one allocation (401, Allocate, CreatePermission, ChannelBind over
 * the stream, RFC 8656 §12.5 framing: ChannelData padded to 4 bytes), all
 * relaying to one UDP peer socket in this process; then a data phase:
 *
 *   c2p   the clients send ChannelData as fast as they can, one frame per
 *         write (per TLS record), round-robin; the peer socket never reads
 *         and the kernel's drop counter for it (/proc/net/udp) counts what
 *         the server relayed, as turn_flood does.
 *   p2c   the peer sends datagrams to the K relayed addresses in turn; the
 *         clients read the frames from their streams.
 *   echo  closed loop at --rate messages/s (at most --window in flight):
 *         the clients send, the peer sends every datagram back, the
 *         clients read; both legs count.
 *
 * --handshakes N instead: N TLS connections, at most --window at once,
 * each a full handshake (or with --resume, one resumed from a session of
 * an earlier connection: TLS 1.3 tickets or TLS 1.2 session ids) and a
 * close; handshakes/s and the server's CPU per handshake.
 *
 * With --cpu-pid the server's utime+stime (/proc/PID/stat) is read at the
 * start and end of the measured phase. Prints one line of key=value.
 *
 * usage: turn_stream --server HOST:PORT --transport tcp|tls --cpu-pid PID
 *          [--clients K] [--dir c2p|p2c|echo] [--size B] [--rate R] [--window W]
 *          [--seconds S] [--peer-port P] [--user U:P]
 *        turn_stream --server HOST:PORT --handshakes N [--resume] [--window W] --cpu-pid PID
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_stun.h"

#define MAX_MSG 2048
#define BATCH 32
#define RBUF (64 * 1024)

enum { DIR_C2P, DIR_P2C, DIR_ECHO };

typedef struct {
    int fd;
    SSL *ssl;
    struct sockaddr_in relayed;
    uint8_t rbuf[RBUF];
    size_t rlen;
    bool want_write;          /* the last write would have blocked */
} conn_t;

typedef struct {
    struct sockaddr_in server;
    int tls, clients, dir, size, window, cpu_pid, peer_port, handshakes, resume;
    double rate, seconds;
} opts_t;

static opts_t o;
static bs_cred_t cred;
static SSL_CTX *ctx;
static conn_t *cl;
static int peer_fd;
static uint8_t frame[MAX_MSG];
static size_t frame_len;

static void die(const char *what)
{
    fprintf(stderr, "turn_stream: %s (%s)\n", what, strerror(errno));
    ERR_print_errors_fp(stderr);
    exit(1);
}

static int tcp_connect(bool nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0), one = 1;
    if (fd < 0)
        die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&o.server, sizeof(o.server)) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* ---- Blocking setup over a stream ---------------------------------------- */

static void wr_all(conn_t *c, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = c->ssl ? SSL_write(c->ssl, p, (int)n) : send(c->fd, p, n, MSG_NOSIGNAL);
        if (r <= 0)
            die("write");
        p += r;
        n -= (size_t)r;
    }
}

static ssize_t rd_some(conn_t *c, uint8_t *p, size_t n)
{
    return c->ssl ? SSL_read(c->ssl, p, (int)n) : recv(c->fd, p, n, 0);
}

/* Length of the frame at the start of <p> (<n> bytes), 0 if incomplete. */
static size_t frame_at(const uint8_t *p, size_t n)
{
    if (n < 4)
        return 0;
    size_t len = (p[0] & 0xC0) == 0x40 ? (4 + bs_get16(p + 2) + 3) & ~(size_t)3
                                       : 20 + (size_t)bs_get16(p + 2);
    return len <= n ? len : 0;
}

/* Send a request on <c> and read frames until its answer. */
static int transact(conn_t *c, const uint8_t *req, size_t len, uint8_t *resp, size_t *rlen)
{
    wr_all(c, req, len);
    for (;;) {
        size_t f;
        while ((f = frame_at(c->rbuf, c->rlen))) {
            bool ours = c->rbuf[0] < 4 && f >= 20 && !memcmp(c->rbuf + 8, req + 8, 12);
            if (ours) {
                memcpy(resp, c->rbuf, f);
                *rlen = f;
            }
            memmove(c->rbuf, c->rbuf + f, c->rlen - f);
            c->rlen -= f;
            if (ours)
                return bs_answer(resp, *rlen, &cred);
        }
        ssize_t r = rd_some(c, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
        if (r <= 0)
            die("read during setup");
        c->rlen += (size_t)r;
    }
}

static int request(conn_t *c, uint16_t method, const struct sockaddr_in *peer, uint16_t ch,
                   uint8_t *resp, size_t *rlen)
{
    int code = 0;
    for (int tries = 0; tries < 3; tries++) {
        uint8_t m[MAX_MSG];
        size_t off = bs_msg_start(m, method);
        uint8_t v[4] = {0};
        if (method == BS_ALLOCATE) {
            v[0] = 17;
            off = bs_attr(m, off, BS_A_TRANSPORT, v, 4);
        } else if (method == BS_REFRESH) {
            off = bs_attr(m, off, BS_A_LIFETIME, v, 4);
        } else {
            if (ch) {
                bs_put16(v, ch);
                off = bs_attr(m, off, BS_A_CHANNEL, v, 4);
            }
            off = bs_attr_xor_addr(m, off, BS_A_PEER, peer);
        }
        if (cred.nonce[0])
            off = bs_add_auth(m, off, &cred);
        code = transact(c, m, off, resp, rlen);
        if (code != 401 && code != 438)
            return code;
    }
    return code;
}

static void tls_client(conn_t *c, SSL_SESSION *sess)
{
    c->ssl = SSL_new(ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        die("SSL_new");
    if (sess)
        SSL_set_session(c->ssl, sess);
}

static void setup(conn_t *c, const struct sockaddr_in *peer)
{
    c->fd = tcp_connect(false);
    if (o.tls) {
        tls_client(c, NULL);
        if (SSL_connect(c->ssl) != 1)
            die("TLS handshake");
    }
    uint8_t resp[MAX_MSG];
    size_t rlen;
    int code;
    if ((code = request(c, BS_ALLOCATE, NULL, 0, resp, &rlen)) != 0 ||
        bs_relayed(resp, rlen, &c->relayed) < 0) {
        fprintf(stderr, "turn_stream: Allocate failed: %d\n", code);
        exit(1);
    }
    if ((code = request(c, BS_PERMISSION, peer, 0, resp, &rlen)) != 0 ||
        (code = request(c, BS_CHANBIND, peer, 0x4000, resp, &rlen)) != 0) {
        fprintf(stderr, "turn_stream: CreatePermission/ChannelBind failed: %d\n", code);
        exit(1);
    }
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- Data phase ------------------------------------------------------------ */

typedef struct {
    long sent, peer_rx, client_rx;
} counts_t;

/* Write one frame on <c>; false if the stream is full. */
static bool send_frame(conn_t *c)
{
    ssize_t r;
    if (c->ssl) {
        r = SSL_write(c->ssl, frame, (int)frame_len);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, (int)r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                return false;
            die("SSL_write");
        }
        return true;
    }
    r = send(c->fd, frame, frame_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r == (ssize_t)frame_len)
        return true;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false;
    if (r < 0)
        die("send");
    /* A partial write: finish it (rare; keeps the framing whole). */
    const uint8_t *p = frame + r;
    size_t left = frame_len - (size_t)r;
    while (left) {
        struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
        poll(&pf, 1, 100);
        ssize_t w = send(c->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            left -= (size_t)w;
        }
    }
    return true;
}

/* Read what <c> has; count ChannelData frames. */
static void read_conn(conn_t *c, counts_t *k)
{
    for (;;) {
        ssize_t r = rd_some(c, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
        if (r <= 0) {
            if (c->ssl) {
                int e = SSL_get_error(c->ssl, (int)r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    return;
            } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return;
            }
            die("stream closed by the server");
        }
        c->rlen += (size_t)r;
        size_t off = 0, f;
        while ((f = frame_at(c->rbuf + off, c->rlen - off))) {
            if ((c->rbuf[off] & 0xC0) == 0x40)
                k->client_rx++;
            off += f;
        }
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
}

/* The peer: echo (send each datagram back) or just count. */
static int drain_peer(bool echo, counts_t *k)
{
    static uint8_t buf[BATCH][MAX_MSG];
    static struct sockaddr_in from[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr mm[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){buf[i], MAX_MSG};
        mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof(from[i]),
                                        .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(peer_fd, mm, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return 0;
    k->peer_rx += n;
    if (echo) {
        for (int i = 0; i < n; i++)
            iov[i].iov_len = mm[i].msg_len;
        sendmmsg(peer_fd, mm, (unsigned)n, MSG_DONTWAIT);
    }
    return n;
}

/* p2c: one datagram to each relayed address in turn, a batch per call. */
static long peer_send(int *next)
{
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    static uint8_t payload[MAX_MSG];
    memset(payload, 0x5A, (size_t)o.size);
    for (int i = 0; i < BATCH; i++) {
        conn_t *c = &cl[(*next + i) % o.clients];
        iov[i] = (struct iovec){payload, (size_t)o.size};
        mm[i].msg_hdr = (struct msghdr){.msg_name = &c->relayed, .msg_namelen = sizeof(c->relayed),
                                        .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int r = sendmmsg(peer_fd, mm, BATCH, MSG_DONTWAIT);
    if (r <= 0)
        return 0;
    *next = (*next + r) % o.clients;
    return r;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void data_phase(void)
{
    int ep = epoll_create1(0);
    for (int i = 0; i < o.clients; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
    }
    struct epoll_event pev = {.events = EPOLLIN, .data.u32 = (uint32_t)o.clients};
    epoll_ctl(ep, EPOLL_CTL_ADD, peer_fd, &pev);
    uint16_t peer_port = (uint16_t)o.peer_port;
    if (o.dir == DIR_C2P) {
        int tiny = 1;
        setsockopt(peer_fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny));
    }
    counts_t k = {0, 0, 0};
    long drops0 = o.dir == DIR_C2P ? bs_udp_drops(peer_port) : 0;
    long cpu0 = o.cpu_pid ? bs_cpu_ticks(o.cpu_pid) : 0;
    double gen0 = cpu_self(), t0 = bs_now(), t, end = t0 + o.seconds;
    int next = 0, pnext = 0;
    while ((t = bs_now()) < end) {
        long room = o.dir == DIR_ECHO ? o.window - (k.sent - k.client_rx) : 4L * o.clients;
        if (o.rate > 0) {
            long due = (long)(o.rate * (t - t0)) - k.sent;
            room = room < due ? room : due;
        }
        if (o.dir == DIR_P2C) {
            for (long n = 0; n < room;) {
                long r = peer_send(&pnext);
                if (!r)
                    break;
                n += r;
                k.sent += r;
            }
        } else {
            for (int tries = 0; room > 0 && tries < o.clients; tries++, next = (next + 1) % o.clients)
                if (send_frame(&cl[next])) {
                    k.sent++;
                    room--;
                }
        }
        if (o.dir == DIR_C2P)
            continue;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, o.rate > 0 ? 1 : 0);
        for (int e = 0; e < n; e++) {
            uint32_t i = evs[e].data.u32;
            if (i == (uint32_t)o.clients)
                while (drain_peer(o.dir == DIR_ECHO, &k) == BATCH)
                    ;
            else
                read_conn(&cl[i], &k);
        }
    }
    double el = bs_now() - t0;
    long cpu1 = o.cpu_pid ? bs_cpu_ticks(o.cpu_pid) : 0;
    double gen = cpu_self() - gen0;
    long drops1 = o.dir == DIR_C2P ? bs_udp_drops(peer_port) : 0;
    long relayed = o.dir == DIR_C2P ? drops1 - drops0
                 : o.dir == DIR_P2C ? k.client_rx : k.client_rx + k.peer_rx;
    long legs = o.dir == DIR_ECHO ? 2 : 1;
    double scpu = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK);
    printf("transport=%s clients=%d dir=%s sent=%ld relayed=%ld seconds=%.2f rate=%.0f "
           "offered=%.0f loss=%.2f%% server_cpu=%.2f server_us=%.3f gen_cpu=%.0f%%\n",
           o.tls ? "tls" : "tcp", o.clients, o.dir == DIR_C2P ? "c2p" : o.dir == DIR_P2C ? "p2c" : "echo",
           k.sent, relayed, el, (double)relayed / el, (double)(k.sent * legs) / el,
           k.sent ? 100.0 * (1.0 - (double)relayed / (double)(legs * k.sent)) : 0.0, scpu,
           relayed ? scpu * 1e6 / (double)relayed : 0.0, 100.0 * gen / el);
}

/* ---- Handshakes ----------------------------------------------------------- */

typedef struct {
    int fd;
    SSL *ssl;
    int state;                /* 0 free, 1 connecting, 2 handshaking, 3 awaiting a ticket */
    double since;
} hs_t;

/* Sessions to resume, one use each (a TLS 1.3 ticket is single use: the
 * client library marks a session it resumed as spent), as browsers do:
 * each connection's new tickets serve the next ones. */
static SSL_SESSION *spare[4096];
static int nspare;
static long tickets;

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    tickets++;
    if (nspare == (int)(sizeof(spare) / sizeof(spare[0])))
        return 0; /* not kept: OpenSSL frees it */
    spare[nspare++] = sess;
    return 1;
}

static SSL_SESSION *take_session(void)
{
    return nspare ? spare[--nspare] : NULL;
}

/* One connection that completes, exchanges a Binding request (so the
 * tickets sent after the handshake are read) and closes. */
static void first_sessions(void)
{
    conn_t *c = calloc(1, sizeof(*c));
    c->fd = tcp_connect(false);
    tls_client(c, NULL);
    if (SSL_connect(c->ssl) != 1)
        die("TLS handshake");
    uint8_t m[64], resp[MAX_MSG];
    size_t off = bs_msg_start(m, 0x0001), rlen;
    (void)transact(c, m, off, resp, &rlen);
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
    if (!nspare)
        die("the server sent no session ticket");
}

static void hs_close(int ep, hs_t *x)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
    /* A close_notify, as clients send (OpenSSL also keeps only sessions of
     * connections that were shut down, not dropped). */
    if (x->state >= 3)
        (void)SSL_shutdown(x->ssl);
    SSL_free(x->ssl);
    close(x->fd);
    memset(x, 0, sizeof(*x));
}

static void hs_watch(int ep, hs_t *x, uint32_t slot, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = slot};
    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
}

/* Drive connection <x> on. Returns 1 when a handshake completed (2 when it
 * was resumed), -1 when one failed, 0 otherwise. */
static int hs_step(int ep, hs_t *x, uint32_t slot)
{
    if (x->state == 1) {
        conn_t tmp = {.fd = x->fd};
        tls_client(&tmp, o.resume ? take_session() : NULL);
        x->ssl = tmp.ssl;
        x->state = 2;
    }
    if (x->state == 3) {
        /* Resume runs read the tickets that follow the handshake. */
        uint8_t b[64];
        int r = SSL_read(x->ssl, b, sizeof(b));
        if (r <= 0 && SSL_get_error(x->ssl, r) == SSL_ERROR_WANT_READ && nspare < 2 &&
            bs_now() - x->since < 0.5)
            return 0;
        hs_close(ep, x);
        return 0;
    }
    int r = SSL_connect(x->ssl);
    int err = r == 1 ? 0 : SSL_get_error(x->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        hs_watch(ep, x, slot, err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
        return 0;
    }
    if (r != 1) {
        ERR_clear_error();
        hs_close(ep, x);
        return -1;
    }
    int res = SSL_session_reused(x->ssl) ? 2 : 1;
    x->state = 3;
    x->since = bs_now();
    if (o.resume) {
        hs_watch(ep, x, slot, EPOLLIN);
        return res;
    }
    hs_close(ep, x);
    return res;
}

static void handshakes(void)
{
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
    if (o.resume)
        first_sessions();
    int ep = epoll_create1(0);
    hs_t *h = calloc((size_t)o.window, sizeof(*h));
    long started = 0, done = 0, resumed = 0, failed = 0;
    long cpu0 = o.cpu_pid ? bs_cpu_ticks(o.cpu_pid) : 0;
    double t0 = bs_now();
    for (;;) {
        bool busy = false;
        for (int s = 0; s < o.window; s++) {
            if (h[s].state == 0 && started < o.handshakes && (!o.resume || nspare)) {
                h[s].fd = tcp_connect(true);
                h[s].state = 1;
                struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)s};
                epoll_ctl(ep, EPOLL_CTL_ADD, h[s].fd, &ev);
                started++;
            }
            busy |= h[s].state != 0;
        }
        if (!busy && started >= o.handshakes)
            break;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 20);
        for (int e = 0; e < n; e++) {
            int r = hs_step(ep, &h[evs[e].data.u32], evs[e].data.u32);
            done += r > 0;
            resumed += r == 2;
            failed += r < 0;
        }
        for (int s = 0; s < o.window; s++) /* ticket waits that timed out */
            if (h[s].state == 3 && bs_now() - h[s].since >= 0.5)
                hs_close(ep, &h[s]);
    }
    double el = bs_now() - t0;
    long cpu1 = o.cpu_pid ? bs_cpu_ticks(o.cpu_pid) : 0;
    double scpu = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK);
    printf("handshakes=%ld resumed=%ld failed=%ld tickets=%ld seconds=%.2f rate=%.0f "
           "server_cpu=%.2f server_us=%.1f gen_cpu=%.0f%%\n",
           done, resumed, failed, tickets, el, (double)done / el, scpu,
           done ? scpu * 1e6 / (double)done : 0, 100.0 * cpu_self() / el);
}

/* ---- Main ------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: turn_stream --server HOST:PORT --transport tcp|tls --cpu-pid PID\n"
                    "         [--clients K] [--dir c2p|p2c|echo] [--size B] [--rate R]\n"
                    "         [--window W] [--seconds S] [--peer-port P] [--user U:P]\n"
                    "       turn_stream --server HOST:PORT --handshakes N [--resume] [--window W]\n");
    exit(2);
}

static void parse(int argc, char **argv)
{
    static const struct option lo[] = {
        {"server", 1, 0, 's'}, {"transport", 1, 0, 'T'}, {"cpu-pid", 1, 0, 'c'},
        {"clients", 1, 0, 'k'}, {"dir", 1, 0, 'd'}, {"size", 1, 0, 'l'},
        {"rate", 1, 0, 'r'}, {"window", 1, 0, 'w'}, {"seconds", 1, 0, 't'},
        {"peer-port", 1, 0, 'p'}, {"user", 1, 0, 'u'}, {"handshakes", 1, 0, 'H'},
        {"resume", 0, 0, 'R'}, {0, 0, 0, 0},
    };
    char *server = NULL, *userpass = NULL;
    o = (opts_t){.clients = 50, .size = 100, .window = 1024, .seconds = 3, .dir = DIR_ECHO};
    cred.user = "alice";
    cred.pass = "wonderland";
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 's': server = optarg; break;
        case 'T': o.tls = !strcmp(optarg, "tls"); break;
        case 'c': o.cpu_pid = atoi(optarg); break;
        case 'k': o.clients = atoi(optarg); break;
        case 'd':
            o.dir = !strcmp(optarg, "c2p") ? DIR_C2P : !strcmp(optarg, "p2c") ? DIR_P2C
                  : !strcmp(optarg, "echo") ? DIR_ECHO : -1;
            break;
        case 'l': o.size = atoi(optarg); break;
        case 'r': o.rate = atof(optarg); break;
        case 'w': o.window = atoi(optarg); break;
        case 't': o.seconds = atof(optarg); break;
        case 'p': o.peer_port = atoi(optarg); break;
        case 'u': userpass = optarg; break;
        case 'H': o.handshakes = atoi(optarg); o.tls = 1; break;
        case 'R': o.resume = 1; break;
        default: usage();
        }
    }
    if (o.clients < 1 || o.dir < 0 || o.size < 1 || o.size > 1400 || o.window < 1 ||
        bs_parse_target(server, userpass, &o.server, &cred) < 0)
        usage();
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o.handshakes) {
        handshakes();
        return 0;
    }
    peer_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sz = 4 << 20;
    setsockopt(peer_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(peer_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.peer_port)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(peer_fd, (struct sockaddr *)&peer, sizeof(peer)) < 0)
        die("bind peer");
    socklen_t pl = sizeof(peer);
    getsockname(peer_fd, (struct sockaddr *)&peer, &pl);
    o.peer_port = ntohs(peer.sin_port);
    cl = calloc((size_t)o.clients, sizeof(*cl));
    for (int i = 0; i < o.clients; i++)
        setup(&cl[i], &peer);
    /* Every client sends the same ChannelData frame, padded to 4 (§12.5). */
    bs_put16(frame, 0x4000);
    bs_put16(frame + 2, (uint16_t)o.size);
    memset(frame + 4, 0x5A, (size_t)o.size);
    frame_len = (4 + (size_t)o.size + 3) & ~(size_t)3;
    data_phase();
    return 0;
}
