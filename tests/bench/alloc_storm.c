/* icehub - SPDX-License-Identifier: MIT
 *
 * alloc_storm.c: an allocation storm for benchmarks (everyone joining a
 * meeting at 9:00). N UDP clients each do what a WebRTC client does
 * before media flows: an unauthenticated Allocate (401 challenge), the
 * authenticated Allocate, CreatePermission, ChannelBind, then one
 * ChannelData datagram to the peer. At most --window clients are in the
 * middle of that at once, so the server is kept as busy as it answers.
 * Then every allocation is refreshed, then deleted (Refresh, LIFETIME 0).
 *
 * Clients come from many source addresses and ports: each UDP socket is
 * bound to its own port on the wildcard address and serves 250 clients,
 * 127.0.0.1 ... 127.0.0.250, chosen per datagram with IP_PKTINFO (answers
 * are told apart the same way). 15,000 clients take 60 sockets, so the
 * descriptor limit binds only the server under test. The peer is one
 * wildcard socket: with --peer-per-alloc client i relays to its own peer
 * address 127.1.x.y (coturn's --multiplex-peer mode needs that).
 *
 * Retransmission as RFC 8489 §6.2.1 says, shortened: 500 ms, doubling,
 * five sends in all; a client whose request got no answer by then is
 * "unanswered". Errors are counted by code.
 *
 * Measured (one line of key=value on stdout):
 *   allocation phase: seconds from the first request to the last first
 *   datagram sent, allocations/s, the server's CPU (utime+stime from
 *   /proc/PID/stat) per allocation, time to first relayed datagram (the
 *   client's first request to the peer's receipt) p50/p99/max;
 *   with --stage M: the server's VmRSS when M allocations were made and
 *   when all were (after 1 s of quiet each), and KiB per allocation in
 *   between; the refresh and delete phases' rates and CPU per request.
 *
 * usage: alloc_storm --server HOST:PORT --server-pid PID --allocs N
 *          [--stage M] [--window W] [--user U:P] [--peer-port P] [--peer-per-alloc]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_stun.h"

#define PER_SOCK 250          /* clients per socket: 127.0.0.1 ... 127.0.0.250 */
#define MAX_MSG 1600
#define TRIES 5               /* sends of one request before "unanswered" */
#define RTO0 0.5              /* seconds */

enum { ST_IDLE, ST_CHALLENGE, ST_ALLOCATE, ST_PERMIT, ST_BIND, ST_DONE, ST_REFRESH,
       ST_REFRESHED, ST_DELETE, ST_DELETED, ST_FAILED };

typedef struct {
    uint8_t state;
    uint8_t tries;
    uint8_t tid[12];
    char nonce[128];          /* the server's nonce for this client */
    double t0;                /* first request sent */
    double deadline;          /* next retransmission */
    double first_rx;          /* the peer's receipt of its datagram; 0 = not yet */
    uint8_t req[MAX_MSG];     /* the request in flight, for retransmission */
    uint16_t req_len;
} client_t;

typedef struct {
    struct sockaddr_in server;
    int server_pid, window, peer_port, peer_per_alloc;
    long allocs, stage;
} opts_t;

static opts_t o;
static bs_cred_t cred;
static client_t *cl;
static int *sock;             /* one per PER_SOCK clients */
static int nsock, nsock_open, peer_fd, ep; /* epoll tags: socket index; the peer's is nsock */
static long inflight, retrans, unanswered, errors[700];

static void die(const char *what)
{
    fprintf(stderr, "alloc_storm: %s (%s)\n", what, strerror(errno));
    exit(1);
}

static struct in_addr client_ip(long i)
{
    return (struct in_addr){htonl(INADDR_LOOPBACK + (uint32_t)(i % PER_SOCK))};
}

static struct sockaddr_in peer_of(long i)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.peer_port)};
    a.sin_addr.s_addr = htonl(o.peer_per_alloc ? (127u << 24 | 1u << 16 | (uint32_t)(i & 0xFFFF))
                                               : INADDR_LOOPBACK);
    return a;
}

static int udp_socket(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), sz = 4 << 20, one = 1;
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("bind");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)nsock_open++};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

/* Send <len> bytes as client <i> (from its own address). */
static void client_send(long i, const uint8_t *buf, size_t len)
{
    union {
        uint8_t b[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctrl;
    memset(&ctrl, 0, sizeof(ctrl));
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {.msg_name = &o.server, .msg_namelen = sizeof(o.server), .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = ctrl.b, .msg_controllen = sizeof(ctrl.b)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    struct in_pktinfo pi = {.ipi_spec_dst = client_ip(i)};
    cm->cmsg_level = IPPROTO_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    if (sendmsg(sock[i / PER_SOCK], &mh, 0) < 0 && errno != EAGAIN && errno != ENOBUFS)
        die("sendmsg");
}

/* Build client <i>'s request for its state and send it. */
static void request(long i, double now)
{
    client_t *c = &cl[i];
    uint8_t *m = c->req;
    struct sockaddr_in peer = peer_of(i);
    static const uint16_t method[] = {
        [ST_CHALLENGE] = BS_ALLOCATE, [ST_ALLOCATE] = BS_ALLOCATE, [ST_PERMIT] = BS_PERMISSION,
        [ST_BIND] = BS_CHANBIND, [ST_REFRESH] = BS_REFRESH, [ST_DELETE] = BS_REFRESH,
    };
    size_t off = bs_msg_start(m, method[c->state]);
    memcpy(c->tid, m + 8, 12);
    uint8_t v[4] = {0};
    switch (c->state) {
    case ST_CHALLENGE:
    case ST_ALLOCATE:
        v[0] = 17; /* UDP */
        off = bs_attr(m, off, BS_A_TRANSPORT, v, 4);
        break;
    case ST_PERMIT:
        off = bs_attr_xor_addr(m, off, BS_A_PEER, &peer);
        break;
    case ST_BIND:
        bs_put16(v, 0x4000);
        off = bs_attr(m, off, BS_A_CHANNEL, v, 4);
        off = bs_attr_xor_addr(m, off, BS_A_PEER, &peer);
        break;
    case ST_REFRESH:
        bs_put32(v, 600);
        off = bs_attr(m, off, BS_A_LIFETIME, v, 4);
        break;
    case ST_DELETE:
        off = bs_attr(m, off, BS_A_LIFETIME, v, 4);
        break;
    }
    if (c->state != ST_CHALLENGE) {
        /* The realm is the server's; the nonce this client's. */
        snprintf(cred.nonce, sizeof(cred.nonce), "%s", c->nonce);
        off = bs_add_auth(m, off, &cred);
    }
    c->req_len = (uint16_t)off;
    c->tries = 1;
    c->deadline = now + RTO0;
    client_send(i, m, off);
}

static void fail(long i, int code)
{
    cl[i].state = ST_FAILED;
    errors[code > 0 && code < 700 ? code : 699]++;
    inflight--;
}

/* Client <i> got a success: on to the next step. */
static void advance(long i, const uint8_t *r, size_t n, double now)
{
    client_t *c = &cl[i];
    switch (c->state) {
    case ST_ALLOCATE: {
        struct sockaddr_in relayed;
        if (bs_relayed(r, n, &relayed) < 0) {
            fail(i, 600);
            return;
        }
        c->state = ST_PERMIT;
        request(i, now);
        return;
    }
    case ST_PERMIT:
        c->state = ST_BIND;
        request(i, now);
        return;
    case ST_BIND: {
        /* The first media datagram: ChannelData with the client's index. */
        uint8_t d[12];
        bs_put16(d, 0x4000);
        bs_put16(d + 2, 8);
        bs_put32(d + 4, (uint32_t)i);
        bs_put32(d + 8, 0);
        client_send(i, d, sizeof(d));
        c->state = ST_DONE;
        inflight--;
        return;
    }
    case ST_REFRESH:
        c->state = ST_REFRESHED;
        inflight--;
        return;
    case ST_DELETE:
        c->state = ST_DELETED;
        inflight--;
        return;
    default:
        return;
    }
}

static void answer(long i, const uint8_t *r, size_t n, double now)
{
    client_t *c = &cl[i];
    if (n < 20 || memcmp(r + 8, c->tid, 12) != 0)
        return; /* an answer to an earlier transmission, or not ours */
    int code = bs_answer(r, n, &cred);
    if (code == 0) {
        advance(i, r, n, now);
        return;
    }
    if ((code == 401 && c->state == ST_CHALLENGE) || code == 438) {
        bs_copy_str(c->nonce, sizeof(c->nonce), (const uint8_t *)cred.nonce, strlen(cred.nonce));
        if (c->state == ST_CHALLENGE)
            c->state = ST_ALLOCATE;
        request(i, now);
        return;
    }
    fail(i, code);
}

/* Read what client socket <s> has; returns the datagrams read. */
static int read_clients(long s, double now)
{
    int fd = sock[s];
    static uint8_t buf[MAX_MSG];
    int got = 0;
    for (;;) {
        union {
            uint8_t b[CMSG_SPACE(sizeof(struct in_pktinfo))];
            struct cmsghdr align;
        } ctrl;
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b,
                            .msg_controllen = sizeof(ctrl.b)};
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (n < 0)
            return got;
        got++;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (!cm || cm->cmsg_type != IP_PKTINFO)
            continue;
        struct in_pktinfo pi;
        memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
        long k = (long)ntohl(pi.ipi_addr.s_addr) - (long)INADDR_LOOPBACK;
        long i = s * PER_SOCK + k;
        if (k < 0 || k >= PER_SOCK || i >= o.allocs)
            continue;
        if (buf[0] < 4) /* relayed data (a Data indication or ChannelData) is not expected */
            answer(i, buf, (size_t)n, now);
    }
}

static long peer_rx;

static void read_peer(double now)
{
    uint8_t buf[256];
    ssize_t n;
    while ((n = recv(peer_fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
        if (n < 4)
            continue;
        long i = (long)((uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3]);
        if (i >= 0 && i < o.allocs && !cl[i].first_rx) {
            cl[i].first_rx = now;
            peer_rx++;
        }
    }
}

/* Retransmit what is due; give up after TRIES sends. */
static void timers(long lo, long hi, double now)
{
    for (long i = lo; i < hi; i++) {
        client_t *c = &cl[i];
        if (c->state == ST_IDLE || c->state == ST_DONE || c->state == ST_FAILED ||
            c->state == ST_REFRESHED || c->state == ST_DELETED || now < c->deadline)
            continue;
        if (c->tries >= TRIES) {
            unanswered++;
            c->state = ST_FAILED;
            inflight--;
            continue;
        }
        c->tries++;
        retrans++;
        c->deadline = now + RTO0 * (1 << (c->tries - 1));
        client_send(i, c->req, c->req_len);
    }
}

static void poll_once(double now)
{
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, 5);
    for (int k = 0; k < n; k++) {
        if (evs[k].data.u32 == (uint32_t)nsock)
            read_peer(now);
        else
            read_clients(evs[k].data.u32, now);
    }
}

/* Run clients [lo, hi) from <from> to <busy> until all are settled; at
 * most o.window at once. Returns the seconds it took. */
static double phase(long lo, long hi, uint8_t from, uint8_t busy)
{
    double t0 = bs_now(), now = t0, last_timers = t0;
    long next = lo, lo_busy = lo;
    for (;;) {
        while (inflight < o.window && next < hi) {
            if (cl[next].state == from) {
                cl[next].state = busy;
                if (busy == ST_CHALLENGE)
                    cl[next].t0 = now;
                inflight++;
                request(next, now);
            }
            next++;
        }
        if (next >= hi && inflight == 0)
            break;
        poll_once(now);
        now = bs_now();
        if (now - last_timers > 0.01) {
            while (lo_busy < next && cl[lo_busy].state != busy && cl[lo_busy].state != ST_ALLOCATE &&
                   cl[lo_busy].state != ST_PERMIT && cl[lo_busy].state != ST_BIND)
                lo_busy++;
            timers(lo_busy, next, now);
            last_timers = now;
        }
    }
    return now - t0;
}

/* Read the peer (and any late answers) for <secs>. */
static void settle(double secs)
{
    for (double end = bs_now() + secs; bs_now() < end;)
        poll_once(bs_now());
}

static long ticks(void)
{
    return bs_cpu_ticks(o.server_pid);
}

static double cpu_s(long t)
{
    return (double)t / (double)sysconf(_SC_CLK_TCK);
}

static void report_alloc(double secs, long cpu, long rss_stage, long rss_end)
{
    double *lat = calloc((size_t)o.allocs, sizeof(double));
    size_t nl = 0;
    long ok = 0;
    for (long i = 0; i < o.allocs; i++) {
        if (cl[i].state == ST_DONE)
            ok++;
        if (cl[i].first_rx)
            lat[nl++] = (cl[i].first_rx - cl[i].t0) * 1000;
    }
    qsort(lat, nl, sizeof(double), bs_cmp_double);
    printf("allocs=%ld ok=%ld unanswered=%ld retrans=%ld seconds=%.3f rate=%.0f server_cpu=%.3f "
           "us_per_alloc=%.1f peer_rx=%ld ttfd_p50_ms=%.2f ttfd_p99_ms=%.2f ttfd_max_ms=%.2f",
           o.allocs, ok, unanswered, retrans, secs, (double)ok / secs, cpu_s(cpu),
           ok ? cpu_s(cpu) * 1e6 / (double)ok : 0.0, peer_rx, bs_pct(lat, nl, 0.5),
           bs_pct(lat, nl, 0.99), nl ? lat[nl - 1] : 0.0);
    if (o.stage)
        printf(" rss_stage_kib=%ld rss_end_kib=%ld kib_per_alloc=%.2f", rss_stage, rss_end,
               (double)(rss_end - rss_stage) / (double)(o.allocs - o.stage));
    free(lat);
}

static long count(uint8_t state)
{
    long n = 0;
    for (long i = 0; i < o.allocs; i++)
        n += cl[i].state == state;
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: alloc_storm --server HOST:PORT --server-pid PID --allocs N\n"
                    "         [--stage M] [--window W] [--user U:P] [--peer-port P]"
                    " [--peer-per-alloc]\n");
    exit(2);
}

static void parse(int argc, char **argv)
{
    static const struct option lo[] = {
        {"server", 1, 0, 's'}, {"server-pid", 1, 0, 'c'}, {"allocs", 1, 0, 'n'},
        {"stage", 1, 0, 'm'}, {"window", 1, 0, 'w'}, {"user", 1, 0, 'u'},
        {"peer-port", 1, 0, 'p'}, {"peer-per-alloc", 0, 0, 'P'}, {0, 0, 0, 0},
    };
    char *server = NULL, *userpass = NULL;
    o.window = 200;
    cred.user = "alice";
    cred.pass = "wonderland";
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 's': server = optarg; break;
        case 'c': o.server_pid = atoi(optarg); break;
        case 'n': o.allocs = atol(optarg); break;
        case 'm': o.stage = atol(optarg); break;
        case 'w': o.window = atoi(optarg); break;
        case 'u': userpass = optarg; break;
        case 'p': o.peer_port = atoi(optarg); break;
        case 'P': o.peer_per_alloc = 1; break;
        default: usage();
        }
    }
    if (o.allocs < 1 || o.allocs > 65000 || o.stage >= o.allocs || o.window < 1 ||
        !o.server_pid || bs_parse_target(server, userpass, &o.server, &cred) < 0)
        usage();
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    ep = epoll_create1(0);
    nsock = (int)((o.allocs + PER_SOCK - 1) / PER_SOCK);
    sock = calloc((size_t)nsock, sizeof(int));
    for (int i = 0; i < nsock; i++)
        sock[i] = udp_socket(0);
    peer_fd = udp_socket((uint16_t)o.peer_port);
    cl = calloc((size_t)o.allocs, sizeof(client_t));
    if (!sock || !cl)
        die("memory");

    /* Allocations, in two stages when asked; the pause between them (the
     * RSS reading) is not part of the phase. */
    long rss_stage = 0, c0 = ticks();
    double secs = phase(0, o.stage ? o.stage : o.allocs, ST_IDLE, ST_CHALLENGE);
    long cpu = ticks() - c0;
    if (o.stage) {
        settle(1.0);
        rss_stage = bs_rss_kib(o.server_pid);
        c0 = ticks();
        secs += phase(o.stage, o.allocs, ST_IDLE, ST_CHALLENGE);
        cpu += ticks() - c0;
    }
    settle(1.0);
    long rss_end = bs_rss_kib(o.server_pid);
    report_alloc(secs, cpu, rss_stage, rss_end);

    c0 = ticks();
    secs = phase(0, o.allocs, ST_DONE, ST_REFRESH);
    cpu = ticks() - c0;
    long n = count(ST_REFRESHED);
    printf(" refreshed=%ld refresh_rate=%.0f us_per_refresh=%.1f", n, (double)n / secs,
           n ? cpu_s(cpu) * 1e6 / (double)n : 0.0);

    c0 = ticks();
    secs = phase(0, o.allocs, ST_REFRESHED, ST_DELETE);
    cpu = ticks() - c0;
    n = count(ST_DELETED);
    printf(" deleted=%ld delete_rate=%.0f us_per_delete=%.1f", n, (double)n / secs,
           n ? cpu_s(cpu) * 1e6 / (double)n : 0.0);
    printf(" errors=");
    int first = 1;
    for (int e = 1; e < 700; e++) {
        if (errors[e]) {
            printf("%s%d:%ld", first ? "" : ",", e, errors[e]);
            first = 0;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s gen_cpu_s=%.2f\n", first ? "none" : "",
           (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    return 0;
}
