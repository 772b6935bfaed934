/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_flood.c: a batched TURN load generator for benchmarks. It opens K
 * UDP allocations on a TURN server (long-term credentials: MD5 key,
 * HMAC-SHA1 MESSAGE-INTEGRITY), gives each a permission and, with
 * channels, a ChannelBind toward a peer socket in this process, then sends
 * ChannelData or Send indications in batches.
 *
 * The K clients share one UDP socket and differ by source address
 * (127.0.0.1 ... 127.0.0.K, set per datagram with IP_PKTINFO), so one
 * sendmmsg carries datagrams of K different clients, interleaved as many
 * independent clients' would be, for the price of one system call.
 *
 * Directions (--dir):
 *   echo  closed loop: the peer sends every datagram back to its relayed
 *         address, so the server relays each message twice; at most
 *         --window messages in flight. Both legs are counted on arrival.
 *   c2p   one way, clients to the peer; p2c: one way, the peer to the K
 *         relayed addresses. No window: as fast as the core allows (or
 *         --rate). The sink never reads; its receive buffer is as small as
 *         the kernel allows and the kernel's drop counter for it
 *         (/proc/net/udp) counts what the server delivered.
 * --burst B sends runs of B datagrams per client (one UDP GSO send each)
 * instead of interleaving them. --raw drives raw_fwd.c instead of a TURN
 * server: bare payloads, no allocations.
 *
 * --peer-per-alloc gives each allocation its own peer address: client k
 * relays to 127.0.1.k (same port, one wildcard socket that sends from each
 * address with IP_PKTINFO) instead of all clients relaying to one peer.
 * coturn's --multiplex-peer mode serves only such loads: it refuses a
 * second allocation's permission to a peer address already in use.
 *
 * With --cpu-pid the process's utime+stime (/proc/PID/stat) is read at the
 * start and end of the data phase, so setup is not charged to relaying.
 *
 * Left out: TCP/TLS, IPv6, Refresh (runs are far shorter than a lifetime;
 * allocations are released at the end), checking payload bytes.
 *
 * usage: see usage() below; `turn_flood --echo-only --peer-port P` is an
 * echo peer for other clients.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_stun.h"

#define BATCH 32
#define MAX_ALLOCS 250  /* sources 127.0.0.1 ... 127.0.0.250 */
#define MAX_MSG 1600
#define CTRL_SPACE (CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)))

enum { DIR_ECHO, DIR_C2P, DIR_P2C };

typedef struct {
    const char *user, *pass;
    struct sockaddr_in server;
    int allocs, size, window, seconds_ms, use_send, raw, peer_port, cpu_pid, dir, burst;
    int echo_only, peer_per_alloc;
    double rate;          /* messages/s, 0: as fast as possible */
} opts_t;

typedef struct {
    struct in_addr src;           /* this client's source address */
    struct sockaddr_in peer;      /* the peer this client relays to */
    struct sockaddr_in relayed;   /* where the peer sends to reach this client */
    uint8_t pkt[MAX_MSG];         /* the datagram this client sends, over and over */
    size_t pkt_len;
    uint8_t payload[MAX_MSG];     /* what the peer sends, in p2c runs */
    union {
        uint8_t b[CTRL_SPACE];    /* IP_PKTINFO (+ UDP_SEGMENT) for sendmsg */
        struct cmsghdr align;
    } ctrl;
    union {
        uint8_t b[CTRL_SPACE];    /* the peer's IP_PKTINFO with --peer-per-alloc */
        struct cmsghdr align;
    } pctrl;
} client_t;

/* Long-term credential state shared by all allocations. */
static bs_cred_t cred;

static void die(const char *what)
{
    fprintf(stderr, "turn_flood: %s\n", what);
    exit(1);
}

/* ---- Sockets ------------------------------------------------------------- */

static int udp_socket(uint32_t ip, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0), sz = 4 << 20, one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(ip);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("bind");
    return fd;
}

/* The control data that makes a datagram leave from <c>'s address, and
 * with <gso> > 0 cuts it into segments of that size. Returns its length. */
static size_t client_ctrl(client_t *c, uint16_t gso)
{
    struct msghdr mh = {.msg_control = c->ctrl.b, .msg_controllen = sizeof(c->ctrl.b)};
    memset(c->ctrl.b, 0, sizeof(c->ctrl.b));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    struct in_pktinfo pi = {.ipi_spec_dst = c->src};
    cm->cmsg_level = IPPROTO_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    if (!gso)
        return CMSG_SPACE(sizeof(pi));
    cm = CMSG_NXTHDR(&mh, cm);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(gso));
    memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
    return CMSG_SPACE(sizeof(pi)) + CMSG_SPACE(sizeof(gso));
}

/* IP_PKTINFO control data that makes the peer socket send from <c>'s
 * peer address (--peer-per-alloc). Returns its length. */
static size_t peer_ctrl(client_t *c)
{
    struct msghdr mh = {.msg_control = c->pctrl.b, .msg_controllen = sizeof(c->pctrl.b)};
    memset(c->pctrl.b, 0, sizeof(c->pctrl.b));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    struct in_pktinfo pi = {.ipi_spec_dst = c->peer.sin_addr};
    cm->cmsg_level = IPPROTO_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    return CMSG_SPACE(sizeof(pi));
}

/* Send one datagram as client <c>. */
static ssize_t client_send(int fd, client_t *c, const struct sockaddr_in *to, const void *buf,
                           size_t len)
{
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {.msg_name = (void *)to, .msg_namelen = sizeof(*to), .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = c->ctrl.b,
                        .msg_controllen = client_ctrl(c, 0)};
    return sendmsg(fd, &mh, 0);
}

/* ---- Setup: allocations, permissions, channels ---------------------------- */

/* Send <req> as client <c> and wait for the answer with the same
 * transaction id, retransmitting. Returns the STUN error code (0 for
 * success), and on a 401 or 438 takes the REALM and NONCE offered. */
static int transact(int fd, client_t *c, const opts_t *o, const uint8_t *req, size_t len,
                    uint8_t *resp, size_t *rlen)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        if (client_send(fd, c, &o->server, req, len) < 0)
            die("send");
        double until = bs_now() + 0.25;
        for (;;) {
            double left = until - bs_now();
            if (left <= 0)
                break;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
                continue;
            ssize_t n = recv(fd, resp, MAX_MSG, 0);
            if (n < 20 || memcmp(resp + 8, req + 8, 12) != 0)
                continue;
            *rlen = (size_t)n;
            return bs_answer(resp, (size_t)n, &cred);
        }
    }
    return -1;
}

/* Build and run one authenticated request; retries after a 401 or 438
 * (new nonce). <build> writes the method's own attributes. */
typedef size_t (*build_fn)(uint8_t *m, size_t off, const void *arg);

static int request(int fd, client_t *c, const opts_t *o, uint16_t method, build_fn build,
                   const void *arg, uint8_t *resp, size_t *rlen)
{
    uint8_t req[MAX_MSG];
    int code = 0;
    for (int tries = 0; tries < 3; tries++) {
        size_t off = bs_msg_start(req, method);
        off = build(req, off, arg);
        if (cred.nonce[0])
            off = bs_add_auth(req, off, &cred);
        code = transact(fd, c, o, req, off, resp, rlen);
        if (code == 401 || code == 438)
            continue;
        return code;
    }
    return code;
}

static size_t build_allocate(uint8_t *m, size_t off, const void *arg)
{
    (void)arg;
    const uint8_t udp[4] = {17, 0, 0, 0};
    return bs_attr(m, off, BS_A_TRANSPORT, udp, 4);
}

static size_t build_release(uint8_t *m, size_t off, const void *arg)
{
    (void)arg;
    const uint8_t zero[4] = {0};
    return bs_attr(m, off, BS_A_LIFETIME, zero, 4);
}

typedef struct {
    const struct sockaddr_in *peer;
    uint16_t channel;
} peer_arg_t;

static size_t build_peer(uint8_t *m, size_t off, const void *arg)
{
    const peer_arg_t *a = arg;
    if (a->channel) {
        uint8_t ch[4] = {0};
        bs_put16(ch, a->channel);
        off = bs_attr(m, off, BS_A_CHANNEL, ch, 4);
    }
    return bs_attr_xor_addr(m, off, BS_A_PEER, a->peer);
}

static void fail(const char *what, int i, int code)
{
    fprintf(stderr, "turn_flood: %s for client %d failed: %d\n", what, i, code);
    exit(1);
}

static void setup_alloc(int fd, client_t *c, const opts_t *o, int i)
{
    const struct sockaddr_in *peer = &c->peer;
    uint8_t resp[MAX_MSG];
    size_t rlen = 0;
    int code = request(fd, c, o, BS_ALLOCATE, build_allocate, NULL, resp, &rlen);
    if (code != 0)
        fail("Allocate", i, code);
    if (bs_relayed(resp, rlen, &c->relayed) < 0)
        die("Allocate answer without XOR-RELAYED-ADDRESS");
    peer_arg_t pa = {peer, 0};
    if ((code = request(fd, c, o, BS_PERMISSION, build_peer, &pa, resp, &rlen)) != 0)
        fail("CreatePermission", i, code);
    if (!o->use_send) {
        pa.channel = (uint16_t)(0x4000 + i);
        if ((code = request(fd, c, o, BS_CHANBIND, build_peer, &pa, resp, &rlen)) != 0)
            fail("ChannelBind", i, code);
    }
}

/* Refresh with LIFETIME 0 (RFC 8656 §7): the server frees the allocation
 * now, so a later run cannot collide with its 5-tuple. */
static void release_alloc(int fd, client_t *c, const opts_t *o)
{
    uint8_t resp[MAX_MSG];
    size_t rlen;
    (void)request(fd, c, o, BS_REFRESH, build_release, NULL, resp, &rlen);
}

/* The datagram a client repeats: ChannelData (RFC 8656 §12.4, no padding
 * on UDP), a Send indication (§11.1), or the bare payload. */
static void make_packet(client_t *c, const opts_t *o, int i)
{
    const struct sockaddr_in *peer = &c->peer;
    uint8_t *payload = c->payload;
    memset(payload, 0x5A, (size_t)o->size);
    if (o->raw) {
        memcpy(c->pkt, payload, (size_t)o->size);
        c->pkt_len = (size_t)o->size;
    } else if (o->use_send) {
        size_t off = bs_msg_start(c->pkt, (uint16_t)(BS_SEND | 0x0010));
        off = bs_attr_xor_addr(c->pkt, off, BS_A_PEER, peer);
        c->pkt_len = bs_attr(c->pkt, off, BS_A_DATA, payload, (size_t)o->size);
    } else {
        bs_put16(c->pkt, (uint16_t)(0x4000 + i));
        bs_put16(c->pkt + 2, (uint16_t)o->size);
        memcpy(c->pkt + 4, payload, (size_t)o->size);
        c->pkt_len = 4 + (size_t)o->size;
    }
}

/* ---- Data phase ---------------------------------------------------------- */

typedef struct {
    int cfd;              /* the clients' shared socket */
    int pfd;              /* the peer's socket */
    client_t *cl;
    int next;             /* the client whose turn it is */
} gen_t;

typedef struct {
    long sent, peer_rx, client_rx, stalls;
} counts_t;

static uint16_t local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

/* Read what is queued on <fd>; with <echo>, send it back to its sources.
 * Returns the number read. */
static int drain(int fd, bool echo, long *count)
{
    static uint8_t buf[BATCH][MAX_MSG];
    static struct sockaddr_in from[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr mm[BATCH];
    static union {
        uint8_t b[CTRL_SPACE];
        struct cmsghdr align;
    } ctrl[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){buf[i], MAX_MSG};
        mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof(from[i]),
                                        .msg_iov = &iov[i], .msg_iovlen = 1,
                                        .msg_control = ctrl[i].b,
                                        .msg_controllen = sizeof(ctrl[i].b)};
    }
    int n = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return 0;
    *count += n;
    if (echo) {
        for (int i = 0; i < n; i++) {
            iov[i].iov_len = mm[i].msg_len;
            /* Answer from the address the datagram came to (a wildcard
             * socket serves several peer addresses): the received
             * IP_PKTINFO, its destination made the source. */
            struct msghdr *mh = &mm[i].msg_hdr;
            struct cmsghdr *cm = mh->msg_controllen ? CMSG_FIRSTHDR(mh) : NULL;
            if (cm && cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
                pi.ipi_spec_dst = pi.ipi_addr;
                pi.ipi_ifindex = 0;
                memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
                mh->msg_controllen = CMSG_SPACE(sizeof(pi));
            } else {
                mh->msg_control = NULL;
                mh->msg_controllen = 0;
            }
        }
        for (int done = 0; done < n;) {
            int r = sendmmsg(fd, mm + done, (unsigned)(n - done), 0);
            if (r <= 0)
                break; /* a full buffer: those echoes are lost */
            done += r;
        }
    }
    return n;
}

/* Interleaved: one datagram per client in turn, all in one sendmmsg, so
 * no two consecutive arrivals at the server come from the same client (or,
 * p2c, go to the same relayed address). */
static int send_interleaved(gen_t *g, const opts_t *o, int n)
{
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    bool p2c = o->dir == DIR_P2C;
    for (int i = 0; i < n; i++) {
        client_t *c = &g->cl[(g->next + i) % o->allocs];
        iov[i] = p2c ? (struct iovec){c->payload, (size_t)o->size}
                     : (struct iovec){c->pkt, c->pkt_len};
        mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
        if (p2c) {
            mm[i].msg_hdr.msg_name = &c->relayed;
            mm[i].msg_hdr.msg_namelen = sizeof(c->relayed);
            if (o->peer_per_alloc) {
                mm[i].msg_hdr.msg_control = c->pctrl.b;
                mm[i].msg_hdr.msg_controllen = peer_ctrl(c);
            }
        } else {
            mm[i].msg_hdr.msg_name = (void *)&o->server;
            mm[i].msg_hdr.msg_namelen = sizeof(o->server);
            mm[i].msg_hdr.msg_control = c->ctrl.b;
            mm[i].msg_hdr.msg_controllen = client_ctrl(c, 0);
        }
    }
    int r = sendmmsg(p2c ? g->pfd : g->cfd, mm, (unsigned)n, MSG_DONTWAIT);
    if (r <= 0)
        return 0;
    g->next = (g->next + r) % o->allocs;
    return r;
}

/* Bursts: a run of <n> equal datagrams from (or, p2c, to) the next client,
 * as one UDP GSO send (UDP_SEGMENT); the kernel splits it before it
 * reaches the server's socket. */
static int send_burst(gen_t *g, const opts_t *o, int n)
{
    static uint8_t buf[65536];
    client_t *c = &g->cl[g->next];
    g->next = (g->next + 1) % o->allocs;
    bool p2c = o->dir == DIR_P2C;
    const uint8_t *pkt = p2c ? c->payload : c->pkt;
    size_t len = p2c ? (size_t)o->size : c->pkt_len;
    if ((size_t)n * len > 65000)
        n = (int)(65000 / len);
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * len, pkt, len);
    struct iovec iov = {buf, len * (size_t)n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    size_t cl = client_ctrl(c, (uint16_t)len);
    if (p2c) {
        /* The peer's socket: only the UDP_SEGMENT part of the control,
         * or with --peer-per-alloc the peer's own source address too. */
        struct cmsghdr *cm = (struct cmsghdr *)(c->ctrl.b + CMSG_SPACE(sizeof(struct in_pktinfo)));
        mh.msg_name = &c->relayed;
        mh.msg_namelen = sizeof(c->relayed);
        mh.msg_control = cm;
        mh.msg_controllen = cl - CMSG_SPACE(sizeof(struct in_pktinfo));
        if (o->peer_per_alloc) {
            struct in_pktinfo pi = {.ipi_spec_dst = c->peer.sin_addr};
            memcpy(CMSG_DATA((struct cmsghdr *)c->ctrl.b), &pi, sizeof(pi));
            mh.msg_control = c->ctrl.b;
            mh.msg_controllen = cl;
        }
    } else {
        mh.msg_name = (void *)&o->server;
        mh.msg_namelen = sizeof(o->server);
        mh.msg_control = c->ctrl.b;
        mh.msg_controllen = cl;
    }
    if (sendmsg(p2c ? g->pfd : g->cfd, &mh, MSG_DONTWAIT) < 0) {
        if (errno == EAGAIN || errno == ENOBUFS)
            return 0;
        die("UDP GSO send failed (kernel without UDP_SEGMENT?)");
    }
    return n;
}

/* Send up to <room> datagrams; returns how many went out. */
static long send_some(gen_t *g, const opts_t *o, long room)
{
    long sent = 0;
    for (int tries = 0; room > 0 && tries < o->allocs; tries++) {
        int n = room < BATCH ? (int)room : BATCH, r;
        if (o->burst > 1)
            r = send_burst(g, o, n < o->burst ? n : o->burst);
        else
            r = send_interleaved(g, o, n);
        if (r <= 0)
            break;
        sent += r;
        room -= r;
    }
    return sent;
}

/* Read both sockets if poll marked them readable. */
static void receive(const struct pollfd *p, gen_t *g, const opts_t *o, counts_t *k)
{
    if (p[1].revents & POLLIN)
        while (drain(g->pfd, o->dir == DIR_ECHO, &k->peer_rx) == BATCH)
            ;
    if (p[0].revents & POLLIN)
        while (drain(g->cfd, false, &k->client_rx) == BATCH)
            ;
}

/* The sink of a one-way run: the peer (c2p) or the clients (p2c). */
static int sink_fd(const gen_t *g, const opts_t *o)
{
    return o->dir == DIR_C2P ? g->pfd : g->cfd;
}

static double cpu_seconds(const struct rusage *a, const struct rusage *b)
{
    return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec + b->ru_stime.tv_sec -
                    a->ru_stime.tv_sec) +
           (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec + b->ru_stime.tv_usec -
                    a->ru_stime.tv_usec) / 1e6;
}

static void run(gen_t *g, const opts_t *o)
{
    struct pollfd p[2] = {{.fd = g->cfd, .events = POLLIN}, {.fd = g->pfd, .events = POLLIN}};
    counts_t k = {0};
    bool oneway = o->dir != DIR_ECHO;
    uint16_t sink_port = oneway ? local_port(sink_fd(g, o)) : 0;
    if (oneway) {
        /* The sink never reads while the clock runs (reads would compete
         * with the sender for this core). With the smallest receive
         * buffer the kernel allows, almost every datagram that reaches it
         * is counted as a drop the moment it arrives. */
        int tiny = 1;
        setsockopt(sink_fd(g, o), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny));
    }
    long drops0 = oneway ? bs_udp_drops(sink_port) : 0;
    long cpu0 = o->cpu_pid ? bs_cpu_ticks(o->cpu_pid) : 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = bs_now(), end = t0 + o->seconds_ms / 1000.0, last_rx = t0, t;
    long rx_at_last = 0;
    while ((t = bs_now()) < end) {
        long room = BATCH * (long)o->allocs;
        if (!oneway)
            room = o->window - (k.sent - k.client_rx - k.stalls);
        if (o->rate > 0) {
            long due = (long)(o->rate * (t - t0)) - k.sent;
            if (due < room)
                room = due;
        }
        if (room > 0)
            k.sent += send_some(g, o, room);
        if (oneway) {
            /* Nothing to read. Pace in 100 µs steps if asked. */
            if (o->rate > 0) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        /* Echo: wait 100 µs when pacing, else until something arrives. */
        struct timespec ts = {0, o->rate > 0 ? 100000 : 2000000};
        if (ppoll(p, 2, &ts, NULL) <= 0) {
            /* Nothing came back for a while; count the window lost. */
            if (bs_now() - last_rx > 0.05 && k.sent - k.client_rx - k.stalls > 0) {
                k.stalls = k.sent - k.client_rx;
                last_rx = bs_now();
            }
            continue;
        }
        receive(p, g, o, &k);
        if (k.client_rx != rx_at_last) {
            rx_at_last = k.client_rx;
            last_rx = bs_now();
        }
    }
    double el = bs_now() - t0;
    long cpu1 = o->cpu_pid ? bs_cpu_ticks(o->cpu_pid) : 0;
    getrusage(RUSAGE_SELF, &ru1);
    long drops1 = oneway ? bs_udp_drops(sink_port) : 0;
    long rx_at_end = k.peer_rx + k.client_rx;
    /* Stop sending and read what arrived or is still in flight. Echo runs
     * count it for the loss figure only. One-way runs first let the server
     * finish its backlog into the full sink (counted as drops after
     * <drops1>, so not relayed in the interval), then count the few
     * datagrams the sink had queued at the end as relayed. */
    if (oneway)
        usleep(100000);
    long tail0 = k.peer_rx + k.client_rx;
    for (double stop = bs_now() + 0.2; bs_now() < stop;)
        if (poll(p, 2, 10) > 0)
            receive(p, g, o, &k);
    if (oneway)
        rx_at_end = k.peer_rx + k.client_rx - tail0;
    long dropped = oneway ? bs_udp_drops(sink_port) - drops0 : 0;
    /* Relayed packets: datagrams the server forwarded in the interval,
     * counted where they arrived (read, or dropped by the full sink).
     * Echo: the peer's arrivals plus the clients'. */
    long relayed = rx_at_end + (drops1 - drops0);
    long legs = oneway ? 1 : 2;
    long arrived = k.peer_rx + k.client_rx + dropped;
    double srv_cpu = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK);
    printf("sent=%ld peer_rx=%ld client_rx=%ld sink_drops=%ld relayed=%ld seconds=%.2f "
           "rate=%.0f offered=%.0f loss=%.2f%% server_cpu=%.2f server_us=%.3f gen_cpu=%.0f%%\n",
           k.sent, k.peer_rx, k.client_rx, dropped, relayed, el, (double)relayed / el,
           (double)(k.sent * legs) / el,
           k.sent ? 100.0 * (1.0 - (double)arrived / (double)(legs * k.sent)) : 0.0, srv_cpu,
           relayed ? srv_cpu * 1e6 / (double)relayed : 0.0, 100.0 * cpu_seconds(&ru0, &ru1) / el);
    if (oneway) {
        int sz = 4 << 20; /* room again for the answers to the releases */
        setsockopt(sink_fd(g, o), SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
}

/* Echo peer for turnutils_uclient, on P and P + 1 (its RTCP sessions use
 * the next port, as turnutils_peer does). Runs until killed. */
static void echo_only(int port)
{
    struct pollfd p[2];
    for (int i = 0; i < 2; i++)
        p[i] = (struct pollfd){.fd = udp_socket(INADDR_LOOPBACK, (uint16_t)(port + i)),
                               .events = POLLIN};
    long n = 0;
    for (;;)
        if (poll(p, 2, -1) > 0)
            for (int i = 0; i < 2; i++)
                if (p[i].revents & POLLIN)
                    while (drain(p[i].fd, true, &n) == BATCH)
                        ;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: turn_flood --server HOST:PORT [--user U:P] [--allocs K] [--size B]\n"
            "         [--dir echo|c2p|p2c] [--burst B] [--window W] [--rate MSGS_PER_S]\n"
            "         [--seconds S] [--send] [--cpu-pid PID] [--raw --peer-port P]\n"
            "         [--peer-per-alloc]\n"
            "       turn_flood --echo-only --peer-port P   (echoes on P and P+1)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    opts_t o = {.user = "alice", .pass = "wonderland", .allocs = 16, .size = 100,
                .window = 1024, .seconds_ms = 5000, .burst = 1};
    static const struct option lo[] = {
        {"server", 1, 0, 's'},  {"user", 1, 0, 'u'},      {"allocs", 1, 0, 'k'},
        {"size", 1, 0, 'l'},    {"window", 1, 0, 'w'},    {"seconds", 1, 0, 't'},
        {"rate", 1, 0, 'r'},    {"send", 0, 0, 'S'},      {"raw", 0, 0, 'R'},
        {"peer-port", 1, 0, 'p'}, {"cpu-pid", 1, 0, 'c'}, {"dir", 1, 0, 'd'},
        {"burst", 1, 0, 'b'},   {"echo-only", 0, 0, 'E'}, {"peer-per-alloc", 0, 0, 'P'},
        {0, 0, 0, 0},
    };
    char *server = NULL, *userpass = NULL;
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 's': server = optarg; break;
        case 'u': userpass = optarg; break;
        case 'k': o.allocs = atoi(optarg); break;
        case 'l': o.size = atoi(optarg); break;
        case 'w': o.window = atoi(optarg); break;
        case 't': o.seconds_ms = (int)(atof(optarg) * 1000); break;
        case 'r': o.rate = atof(optarg); break;
        case 'S': o.use_send = 1; break;
        case 'R': o.raw = 1; break;
        case 'p': o.peer_port = atoi(optarg); break;
        case 'c': o.cpu_pid = atoi(optarg); break;
        case 'b': o.burst = atoi(optarg); break;
        case 'E': o.echo_only = 1; break;
        case 'P': o.peer_per_alloc = 1; break;
        case 'd':
            o.dir = !strcmp(optarg, "c2p") ? DIR_C2P : !strcmp(optarg, "p2c") ? DIR_P2C
                  : !strcmp(optarg, "echo") ? DIR_ECHO : -1;
            if (o.dir < 0)
                usage();
            break;
        default: usage();
        }
    }
    if (o.echo_only) {
        if (!o.peer_port)
            usage();
        echo_only(o.peer_port);
    }
    if (o.burst > BATCH)
        o.burst = BATCH;
    if (!server || o.allocs < 1 || o.allocs > MAX_ALLOCS || o.size < 1 || o.size > 1400 ||
        (o.raw && !o.peer_port))
        usage();
    if (userpass && !strchr(userpass, ':'))
        usage();
    cred.user = o.user;
    cred.pass = o.pass;
    if (bs_parse_target(server, userpass, &o.server, &cred) < 0)
        usage();
    srand((unsigned)getpid() ^ (unsigned)time(NULL));

    /* Clients: one socket on the wildcard address, so that it receives
     * what is sent to any 127.0.0.k; each client sends from its own. */
    gen_t g = {.cfd = udp_socket(INADDR_ANY, 0),
               .pfd = udp_socket(o.peer_per_alloc ? INADDR_ANY : INADDR_LOOPBACK,
                                 (uint16_t)o.peer_port)};
    g.cl = calloc((size_t)o.allocs, sizeof(*g.cl));
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    getsockname(g.pfd, (struct sockaddr *)&peer, &pl);
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < o.allocs; i++) {
        client_t *c = &g.cl[i];
        c->src.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)i);
        c->peer = peer;
        if (o.peer_per_alloc) /* 127.0.1.1 ... 127.0.1.K */
            c->peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 256 + (uint32_t)i);
        if (o.raw) {
            /* raw_fwd's relay socket is the port after its listener. */
            c->relayed = o.server;
            c->relayed.sin_port = htons((uint16_t)(ntohs(o.server.sin_port) + 1));
        } else {
            setup_alloc(g.cfd, c, &o, i);
        }
        make_packet(c, &o, i);
    }
    if (o.raw && o.dir == DIR_P2C) {
        /* raw_fwd sends peer traffic to the client it heard from last. */
        long ignored = 0;
        client_send(g.cfd, &g.cl[0], &o.server, g.cl[0].pkt, g.cl[0].pkt_len);
        usleep(100000);
        while (drain(g.pfd, false, &ignored) > 0)
            ;
    }
    run(&g, &o);
    if (!o.raw) {
        long ignored = 0;
        while (drain(g.cfd, false, &ignored) > 0)
            ;
        for (int i = 0; i < o.allocs; i++)
            release_alloc(g.cfd, &g.cl[i], &o);
    }
    close(g.cfd);
    close(g.pfd);
    free(g.cl);
    return 0;
}
