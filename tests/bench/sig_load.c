/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_load.c: load generator for the signaling hub (make bench). A plain
 * epoll WebSocket client (RFC 6455 handshake and masked framing, written
 * here for the benchmark, no library), one thread per process. Modes:
 *
 *   sig_load idle HOST PORT N PID STAGE PROCS [HOLD]
 *     N WebSockets to /ws from PROCS processes (process k binds its
 *     sockets to 127.0.0.(10+k): a process may hold at most 20,000
 *     descriptors here, and one source address has ~28,000 ports), each
 *     joined to a room of two. The hub's VmRSS (/proc/PID/status) when
 *     STAGE are joined and when all N are (1 s after each):
 *     idle_conns= rss_start_kib= rss_stage_kib= rss_end_kib= kib_per_peer=
 *     connect_s=; then, with HOLD, they stay open HOLD seconds more (other
 *     loads run beside them).
 *
 *   sig_load storm HOST PORT N PID PROCS
 *     N WebSockets opened first; then every one joins (rooms of two, each
 *     joined answer carries iceServers with minted TURN credentials) as
 *     fast as the hub answers; then every one leaves. joins_per_s=
 *     hub_us_per_join= leaves_per_s= hub_us_per_leave= (hub CPU from
 *     /proc/PID/stat over each phase)
 *
 *   sig_load relay HOST PORT RATE SECONDS PAIRS [PORT_B]
 *     PAIRS pairs of peers, each in its own room; peer A of each pair
 *     sends B "signal" messages (an ICE candidate and the send time, about
 *     170 bytes), RATE per second in all, paced in turn; RATE 0: as fast as
 *     the hub relays (at most 64 in flight per pair). B takes the latency
 *     (send to receive, this process's clock). With PORT_B, B is on another
 *     node of a cluster (docs/scaling.md). sent= received= rate=
 *     p50_us= p99_us= p999_us= max_us= seconds= gen_cpu_s=
 *
 *   sig_load joins HOST PORT_A PORT_B N
 *     N WebSockets, alternately to PORT_A and PORT_B (the same port for one
 *     node), all open first; then all join rooms of two (one peer on each
 *     port) at once: joins= seconds= rate= (joins answered per second)
 *
 *   sig_load bcast HOST PORT PEERS RATE SECONDS
 *     PEERS peers in one room; one of them sends "broadcast" messages at
 *     RATE per second; every other peer gets each. broadcasts= deliveries=
 *     deliveries_per_s= p50_us= p99_us= max_us= (per delivery) gen_cpu_s=
 *
 * Latency includes this process's own send and receive work on loopback;
 * it is an upper bound on the hub's share.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_stun.h"

#define WINDOW 64               /* relay at saturation: messages in flight per pair */

typedef struct conn_s {
    int fd;
    int state;                  /* 0 handshake, 1 open, 2 joined, 3 left */
    char *in;
    size_t len, cap;
    char id[80];
} conn_t;

static const char *g_host;
static int g_port;
static int g_port_b;            /* relay: B's node (a cluster's other node), else g_port */
static struct in_addr g_src;    /* source address of this process's sockets */

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "sig_load: %s (%s)\n", what, strerror(errno));
    exit(1);
}

static int dial_port(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, g_host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        die("socket");
    if (g_src.s_addr) {
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = g_src};
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
            die("bind");
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* The request goes out first (a fresh socket's buffer takes it),
     * then everything is non-blocking. */
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n", g_host, port);
    if (write(fd, req, (size_t)n) != n)
        die("write");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int dial(void)
{
    return dial_port(g_port);
}

/* Send one masked text frame (mask 0: the XOR is the identity, which RFC
 * 6455 allows; the server must unmask all the same). */
static void send_text(int fd, const char *s, size_t n)
{
    uint8_t buf[4096 + 14];
    size_t h = 0;
    buf[h++] = 0x81;
    if (n < 126) {
        buf[h++] = (uint8_t)(0x80 | n);
    } else {
        buf[h++] = 0x80 | 126;
        buf[h++] = (uint8_t)(n >> 8);
        buf[h++] = (uint8_t)n;
    }
    memset(buf + h, 0, 4);
    h += 4;
    memcpy(buf + h, s, n);
    for (size_t done = 0; done < h + n;) {
        ssize_t w = write(fd, buf + done, h + n - done);
        if (w < 0 && errno != EAGAIN)
            die("send");
        if (w > 0)
            done += (size_t)w;
    }
}

/* Read what is there; returns -1 on close. Buffers start small: the idle
 * mode holds thousands of connections. */
static int fill(conn_t *c)
{
    for (;;) {
        if (c->cap - c->len < 2048) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->in = realloc(c->in, c->cap);
        }
        ssize_t r = read(c->fd, c->in + c->len, c->cap - c->len);
        if (r > 0) {
            c->len += (size_t)r;
            if ((size_t)r < c->cap - c->len)
                return 0;
            continue;
        }
        if (r == 0)
            return -1;
        return errno == EAGAIN ? 0 : -1;
    }
}

/* The next complete frame's text payload (NUL-terminated in place) or
 * NULL; pings are answered, other control frames skipped. */
static char *next_msg(conn_t *c, size_t *off)
{
    for (;;) {
        if (c->state == 0) {
            char *end = memmem(c->in + *off, c->len - *off, "\r\n\r\n", 4);
            if (!end)
                return NULL;
            if (strncmp(c->in + *off, "HTTP/1.1 101", 12)) {
                /* Refused (a busy hub may answer 503): the caller dials
                 * again, or gives up. */
                fprintf(stderr, "sig_load: handshake refused: %.40s\n", c->in + *off);
                c->state = -1;
                return NULL;
            }
            *off = (size_t)(end + 4 - c->in);
            c->state = 1;
            continue;
        }
        size_t avail = c->len - *off;
        uint8_t *p = (uint8_t *)c->in + *off;
        if (avail < 2)
            return NULL;
        size_t n = p[1] & 0x7f, h = 2;
        if (n == 126) {
            if (avail < 4)
                return NULL;
            n = (size_t)p[2] << 8 | p[3];
            h = 4;
        } else if (n == 127) {
            if (avail < 10)
                return NULL;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | p[2 + i];
            h = 10;
        }
        if (avail < h + n)
            return NULL;
        int op = p[0] & 0x0f;
        *off += h + n;
        if (op == 9) { /* ping: pong with the same payload */
            uint8_t pong[140] = {0x8a, (uint8_t)(0x80 | n), 0, 0, 0, 0};
            memcpy(pong + 6, p + h, n < 125 ? n : 125);
            if (write(c->fd, pong, 6 + n) < 0)
                return NULL;
            continue;
        }
        if (op != 1)
            continue;
        /* Move the payload one byte back over the header to terminate it. */
        memmove(p + h - 1, p + h, n);
        p[h - 1 + n] = 0;
        return (char *)p + h - 1;
    }
}

static void compact(conn_t *c, size_t off)
{
    memmove(c->in, c->in + off, c->len - off);
    c->len -= off;
    if (!c->len && c->cap > 65536) {
        free(c->in);
        c->in = NULL;
        c->cap = 0;
    }
}

/* Copy the string member <key> of message <m> into <out>. */
static void str_member(const char *m, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(m, pat);
    out[0] = 0;
    if (p) {
        p += strlen(pat);
        const char *e = strchr(p, '"');
        snprintf(out, cap, "%.*s", e ? (int)(e - p) : 0, p);
    }
}

/* ---- Connections of one process ------------------------------------------- */

typedef struct pool_s {
    conn_t *c;
    int n, ep;
    int open, joined, left;     /* how many reached each state */
    long redials;               /* handshakes refused and tried again */
    int port_b;                 /* joins: odd connections go to this port; 0 = none */
} pool_t;

/* Connection <i>'s socket, to its node, in the pool's epoll set. */
static void pool_dial(pool_t *p, int i)
{
    p->c[i].fd = dial_port(p->port_b && i % 2 ? p->port_b : g_port);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->c[i].fd, &ev);
}

static void pool_open(pool_t *p, int n)
{
    p->c = calloc((size_t)n, sizeof(conn_t));
    p->n = n;
    p->ep = epoll_create1(0);
    for (int i = 0; i < n; i++)
        pool_dial(p, i);
}

static void send_join(pool_t *p, int i, const char *tag)
{
    char j[128];
    int l = snprintf(j, sizeof(j), "{\"type\":\"join\",\"room\":\"%s-%d-%d\"}", tag,
                     (int)getpid(), i / 2);
    send_text(p->c[i].fd, j, (size_t)l);
}

/* Serve the pool's sockets for up to <ms>: track handshakes, joins,
 * leaves; with <join_tag>, a connection that opens joins at once. */
static void pool_poll(pool_t *p, int ms, const char *join_tag)
{
    struct epoll_event evs[256];
    int k = epoll_wait(p->ep, evs, 256, ms);
    for (int e = 0; e < k; e++) {
        int i = (int)evs[e].data.u32;
        conn_t *c = &p->c[i];
        int eof = fill(c) < 0;
        if (eof && c->state != 0) {
            fprintf(stderr, "sig_load: connection %d closed by the hub\n", i);
            exit(1);
        }
        int was = c->state;
        size_t off = 0;
        char *m;
        while ((m = next_msg(c, &off))) {
            if (strstr(m, "\"type\":\"joined\"")) {
                c->state = 2;
                p->joined++;
            } else if (strstr(m, "\"type\":\"left\"")) {
                c->state = 3;
                p->left++;
            } else if (strstr(m, "\"type\":\"error\"")) {
                fprintf(stderr, "sig_load: the hub said %s\n", m);
                exit(1);
            }
        }
        if (c->state == -1 || (c->state == 0 && eof)) {
            /* Refused or dropped before the 101: dial again, a little later. */
            if (++p->redials > 100 * p->n) {
                fprintf(stderr, "sig_load: the hub keeps refusing connections\n");
                exit(1);
            }
            epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            usleep(2000);
            c->len = 0;
            c->state = 0;
            pool_dial(p, i);
            continue;
        }
        compact(c, off);
        if (was == 0 && c->state == 1) {
            p->open++;
            if (join_tag)
                send_join(p, i, join_tag);
        }
    }
}

/* ---- Processes -------------------------------------------------------------- */

typedef struct child_s {
    pid_t pid;
    int up;                     /* child -> parent: a line per step */
    int down;                   /* parent -> child: a byte per step */
} child_t;

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Fork <n> children running <fn>(k, n, up, down); process k's sockets
 * leave from 127.0.0.(10+k). */
static child_t *spawn(int n, void (*fn)(int k, int up, int down, void *arg), void *arg)
{
    child_t *ch = calloc((size_t)n, sizeof(*ch));
    for (int k = 0; k < n; k++) {
        int up[2], down[2];
        if (pipe(up) < 0 || pipe(down) < 0)
            die("pipe");
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(up[0]);
            close(down[1]);
            /* The pipes of earlier children: only the parent may hold
             * their ends, or closing them would not end those children. */
            for (int j = 0; j < k; j++) {
                close(ch[j].up);
                close(ch[j].down);
            }
            g_src.s_addr = htonl(INADDR_LOOPBACK + 10 + (uint32_t)k);
            fn(k, up[1], down[0], arg);
            _exit(0);
        }
        close(up[1]);
        close(down[0]);
        ch[k] = (child_t){pid, up[0], down[1]};
    }
    return ch;
}

/* Wait for a line from every child; returns the sum of the first number
 * of each line. */
static double gather(child_t *ch, int n)
{
    double sum = 0;
    for (int k = 0; k < n; k++) {
        char line[128];
        ssize_t r = 0;
        size_t got = 0;
        while (got < sizeof(line) - 1 && (r = read(ch[k].up, line + got, 1)) == 1 &&
               line[got] != '\n')
            got++;
        if (r != 1) {
            fprintf(stderr, "sig_load: a client process failed\n");
            exit(1);
        }
        line[got] = 0;
        sum += atof(line);
    }
    return sum;
}

static void release(child_t *ch, int n)
{
    for (int k = 0; k < n; k++)
        if (write(ch[k].down, "g", 1) != 1)
            die("pipe write");
}

static void reap(child_t *ch, int n)
{
    for (int k = 0; k < n; k++) {
        close(ch[k].down); /* EOF: the child exits, closing its sockets */
        waitpid(ch[k].pid, NULL, 0);
        close(ch[k].up);
    }
    free(ch);
}

/* Block until the parent's next go, serving the sockets meanwhile. */
static void await_go(pool_t *p, int down, const char *join_tag)
{
    for (;;) {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(down, &rs);
        struct timeval tv = {0, 0};
        if (select(down + 1, &rs, NULL, NULL, &tv) > 0) {
            char b;
            if (read(down, &b, 1) != 1)
                exit(0); /* the parent is done */
            return;
        }
        pool_poll(p, 20, join_tag);
    }
}

static void say(int up, double v)
{
    char line[64];
    int l = snprintf(line, sizeof(line), "%.6f\n", v);
    if (write(up, line, (size_t)l) != l)
        exit(1);
}

/* ---- idle -------------------------------------------------------------- */

typedef struct idle_arg_s {
    int n, stage, procs;
} idle_arg_t;

static int share(int total, int k, int procs)
{
    return total / procs + (k < total % procs);
}

static void idle_child(int k, int up, int down, void *arg)
{
    idle_arg_t *a = arg;
    int n1 = share(a->stage, k, a->procs), n = share(a->n, k, a->procs);
    pool_t p = {0};
    p.c = calloc((size_t)n, sizeof(conn_t));
    p.n = 0;
    p.ep = epoll_create1(0);
    for (int step = 0; step < 2; step++) {
        int want = step ? n : n1;
        while (p.n < want) {
            p.c[p.n].fd = dial();
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)p.n};
            epoll_ctl(p.ep, EPOLL_CTL_ADD, p.c[p.n].fd, &ev);
            p.n++;
            if (p.n % 16 == 0)
                pool_poll(&p, 0, "idle");
        }
        while (p.joined < want)
            pool_poll(&p, 100, "idle");
        say(up, p.joined);
        await_go(&p, down, "idle");
    }
    await_go(&p, down, "idle");
}

static int idle_mode(int n, int pid, int stage, int procs, double hold)
{
    idle_arg_t a = {n, stage, procs};
    long start = bs_rss_kib(pid);
    double t0 = bs_now();
    child_t *ch = spawn(procs, idle_child, &a);
    double j1 = gather(ch, procs);
    double t1 = bs_now();
    usleep(1000000);
    long rs = bs_rss_kib(pid);
    double t2 = bs_now();
    release(ch, procs);
    double j2 = gather(ch, procs);
    double t3 = bs_now();
    usleep(1000000);
    long re = bs_rss_kib(pid);
    printf("idle_conns=%.0f stage_conns=%.0f rss_start_kib=%ld rss_stage_kib=%ld "
           "rss_end_kib=%ld kib_per_peer=%.2f connect_s=%.2f\n",
           j2, j1, start, rs, re, (double)(re - rs) / (j2 - j1), (t1 - t0) + (t3 - t2));
    fflush(stdout);
    /* Kept open a while (HOLD): other loads run beside the idle peers. */
    usleep((useconds_t)(hold * 1e6));
    release(ch, procs);
    reap(ch, procs);
    return 0;
}

/* ---- storm --------------------------------------------------------------- */

static void storm_child(int k, int up, int down, void *arg)
{
    int *a = arg; /* n, procs */
    int n = share(a[0], k, a[1]);
    pool_t p = {0};
    pool_open(&p, n);
    while (p.open < n)
        pool_poll(&p, 100, NULL);
    say(up, n);
    await_go(&p, down, NULL);
    for (int i = 0; i < n; i++)
        send_join(&p, i, "storm");
    while (p.joined < n)
        pool_poll(&p, 100, NULL);
    say(up, n);
    await_go(&p, down, NULL);
    for (int i = 0; i < n; i++)
        send_text(p.c[i].fd, "{\"type\":\"leave\"}", 16);
    while (p.left < n)
        pool_poll(&p, 100, NULL);
    say(up, n);
    await_go(&p, down, NULL);
}

static int storm_mode(int n, int pid, int procs)
{
    int a[2] = {n, procs};
    child_t *ch = spawn(procs, storm_child, a);
    (void)gather(ch, procs);
    usleep(300000);
    long hz = sysconf(_SC_CLK_TCK), c0 = bs_cpu_ticks(pid);
    double t0 = bs_now();
    release(ch, procs);
    double joins = gather(ch, procs);
    double t1 = bs_now();
    long c1 = bs_cpu_ticks(pid);
    usleep(300000);
    long c2 = bs_cpu_ticks(pid);
    double t2 = bs_now();
    release(ch, procs);
    double leaves = gather(ch, procs);
    double t3 = bs_now();
    long c3 = bs_cpu_ticks(pid);
    printf("peers=%d procs=%d joins=%.0f join_s=%.3f joins_per_s=%.0f hub_us_per_join=%.1f "
           "leaves=%.0f leave_s=%.3f leaves_per_s=%.0f hub_us_per_leave=%.1f\n",
           n, procs, joins, t1 - t0, joins / (t1 - t0), (double)(c1 - c0) / hz * 1e6 / joins,
           leaves, t3 - t2, leaves / (t3 - t2), (double)(c3 - c2) / hz * 1e6 / leaves);
    release(ch, procs);
    reap(ch, procs);
    return 0;
}

/* ---- relay and bcast --------------------------------------------------------- */

/* Join <c> to <room> (optionally as <peer>) and wait for the answer; the
 * hub's id for it lands in c->id. */
static void join_wait(conn_t *c, const char *room)
{
    char j[160];
    int l = snprintf(j, sizeof(j), "{\"type\":\"join\",\"room\":\"%s\"}", room);
    double t0 = bs_now();
    bool sent = false;
    for (;;) {
        if (fill(c) < 0)
            die("closed while joining");
        size_t off = 0;
        char *m;
        while ((m = next_msg(c, &off))) {
            if (strstr(m, "\"type\":\"joined\"")) {
                str_member(m, "id", c->id, sizeof(c->id));
                c->state = 2;
            }
        }
        compact(c, off);
        if (c->state == 1 && !sent) {
            send_text(c->fd, j, (size_t)l);
            sent = true;
        }
        if (c->state == 2)
            return;
        if (bs_now() - t0 > 10)
            die("join timed out");
        usleep(500);
    }
}

/* Read <c> until a message holding <needle> (10 s at most). */
static void wait_text(conn_t *c, const char *needle)
{
    for (double t0 = bs_now();;) {
        if (fill(c) < 0)
            die("closed while waiting");
        size_t off = 0;
        char *m;
        bool found = false;
        while ((m = next_msg(c, &off)))
            found = found || strstr(m, needle);
        compact(c, off);
        if (found)
            return;
        if (bs_now() - t0 > 10)
            die("timed out waiting for a message");
        usleep(500);
    }
}

static const char candidate[] =
    "candidate:842163049 1 udp 1677729535 192.0.2.10 54321 typ srflx raddr 10.0.0.2 rport "
    "54321 generation 0 ufrag Zx9q network-cost 999";

static int stamped(char *buf, size_t cap, const char *type, const char *to, double t)
{
    return snprintf(buf, cap,
                    "{\"type\":\"%s\"%s%s%s,\"data\":{\"t\":%lld,\"candidate\":\"%s\","
                    "\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
                    type, to ? ",\"to\":\"" : "", to ? to : "", to ? "\"" : "",
                    (long long)(t * 1e9), candidate);
}

typedef struct lat_s {
    double *v;
    size_t n, cap;
} lat_t;

static void lat_add(lat_t *l, double us)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->v = realloc(l->v, l->cap * sizeof(double));
    }
    l->v[l->n++] = us;
}

/* Read <c>'s messages; each stamped one adds a latency. Returns how many. */
static long take_stamps(conn_t *c, lat_t *l)
{
    if (fill(c) < 0)
        die("a receiver was closed");
    double rx = bs_now();
    long got = 0;
    size_t off = 0;
    char *m;
    while ((m = next_msg(c, &off))) {
        char *t = strstr(m, "\"t\":");
        if (t) {
            lat_add(l, (rx - (double)strtoll(t + 4, NULL, 10) / 1e9) * 1e6);
            got++;
        }
    }
    compact(c, off);
    return got;
}

/* After the clock: read what is still in flight for up to 1 s, until
 * <want> have arrived in all (counted as received, not in the rate).
 * Returns the new count. */
static long drain_stamps(int ep, conn_t *c, lat_t *lat, long got, long want)
{
    for (double stop = bs_now() + 1.0; bs_now() < stop && got < want;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 10);
        for (int e = 0; e < n; e++)
            got += take_stamps(&c[evs[e].data.u32], lat);
    }
    return got;
}

static void lat_report(lat_t *l)
{
    qsort(l->v, l->n, sizeof(double), bs_cmp_double);
    printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f", bs_pct(l->v, l->n, 0.5),
           bs_pct(l->v, l->n, 0.99), bs_pct(l->v, l->n, 0.999), l->n ? l->v[l->n - 1] : 0.0);
}

static int relay_mode(double rate, double secs, int pairs)
{
    conn_t *a = calloc((size_t)pairs, sizeof(conn_t)), *b = calloc((size_t)pairs, sizeof(conn_t));
    int ep = epoll_create1(0);
    for (int i = 0; i < pairs; i++) {
        char room[64];
        snprintf(room, sizeof(room), "relay-%d-%d", (int)getpid(), i);
        a[i].fd = dial();
        b[i].fd = dial_port(g_port_b);
        join_wait(&a[i], room);
        join_wait(&b[i], room);
        /* On two nodes, A's may hear of B after B's answered: A sends
         * once its hub knows B. */
        if (g_port_b != g_port)
            wait_text(&a[i], "\"peer-joined\"");
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, b[i].fd, &ev);
        /* A's input (peer-joined) is drained now and then below. */
    }
    long *sent = calloc((size_t)pairs, sizeof(long)), *got = calloc((size_t)pairs, sizeof(long));
    long total_sent = 0, total_got = 0;
    lat_t lat = {0};
    double gen0 = cpu_self(), t0 = bs_now(), end = t0 + secs, now;
    int next = 0;
    char msg[512];
    while ((now = bs_now()) < end) {
        if (rate > 0) {
            long due = (long)(rate * (now - t0));
            for (; total_sent < due; next = (next + 1) % pairs) {
                int l = stamped(msg, sizeof(msg), "signal", b[next].id, bs_now());
                send_text(a[next].fd, msg, (size_t)l);
                sent[next]++;
                total_sent++;
            }
        } else {
            for (int i = 0; i < pairs; i++) {
                while (sent[i] - got[i] < WINDOW) {
                    int l = stamped(msg, sizeof(msg), "signal", b[i].id, bs_now());
                    send_text(a[i].fd, msg, (size_t)l);
                    sent[i]++;
                    total_sent++;
                }
            }
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 0);
        for (int e = 0; e < n; e++) {
            int i = (int)evs[e].data.u32;
            long g = take_stamps(&b[i], &lat);
            got[i] += g;
            total_got += g;
        }
    }
    double took = bs_now() - t0;
    long in_window = total_got;
    total_got = drain_stamps(ep, b, &lat, total_got, total_sent);
    printf("pairs=%d sent=%ld received=%ld rate=%.0f", pairs, total_sent, total_got,
           (double)in_window / took);
    lat_report(&lat);
    printf(" seconds=%.2f gen_cpu_s=%.2f\n", took, cpu_self() - gen0);
    return total_got == total_sent ? 0 : 1;
}

static int bcast_mode(int peers, double rate, double secs)
{
    conn_t *c = calloc((size_t)peers, sizeof(conn_t));
    int ep = epoll_create1(0);
    char room[64];
    snprintf(room, sizeof(room), "bcast-%d", (int)getpid());
    for (int i = 0; i < peers; i++) {
        c[i].fd = dial();
        join_wait(&c[i], room);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
    }
    /* Let the peer-joined notices drain. */
    for (double stop = bs_now() + 0.5; bs_now() < stop;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 10);
        for (int e = 0; e < n; e++) {
            conn_t *x = &c[evs[e].data.u32];
            if (fill(x) < 0)
                die("closed");
            size_t off = 0;
            while (next_msg(x, &off))
                ;
            compact(x, off);
        }
    }
    lat_t lat = {0};
    long sent = 0, got = 0;
    double gen0 = cpu_self(), t0 = bs_now(), end = t0 + secs, now;
    char msg[512];
    while ((now = bs_now()) < end) {
        for (long due = (long)(rate * (now - t0)); sent < due; sent++) {
            int l = stamped(msg, sizeof(msg), "broadcast", NULL, bs_now());
            send_text(c[0].fd, msg, (size_t)l);
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 0);
        for (int e = 0; e < n; e++)
            got += take_stamps(&c[evs[e].data.u32], &lat);
    }
    double took = bs_now() - t0;
    long in_window = got;
    got = drain_stamps(ep, c, &lat, got, sent * (peers - 1));
    printf("peers=%d broadcasts=%ld deliveries=%ld deliveries_per_s=%.0f", peers, sent, got,
           (double)in_window / took);
    lat_report(&lat);
    printf(" seconds=%.2f gen_cpu_s=%.2f\n", took, cpu_self() - gen0);
    return got == sent * (peers - 1) ? 0 : 1;
}

/* ---- joins across nodes ------------------------------------------------------ */

static int joins_mode(int port_b, int n)
{
    pool_t p = {.port_b = port_b};
    pool_open(&p, n);
    for (double t0 = bs_now(); p.open < n; pool_poll(&p, 100, NULL))
        if (bs_now() - t0 > 60)
            die("not every handshake finished");
    double t0 = bs_now();
    for (int i = 0; i < n; i++)
        send_join(&p, i, "joins");
    while (p.joined < n && bs_now() - t0 < 60)
        pool_poll(&p, 100, NULL);
    double took = bs_now() - t0;
    printf("joins=%d seconds=%.3f rate=%.0f\n", p.joined, took, p.joined / took);
    return p.joined == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 4) {
        g_host = argv[2];
        g_port = g_port_b = atoi(argv[3]);
    }
    if ((argc == 8 || argc == 9) && !strcmp(argv[1], "idle"))
        return idle_mode(atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]),
                         argc == 9 ? atof(argv[8]) : 0);
    if (argc == 7 && !strcmp(argv[1], "storm"))
        return storm_mode(atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if ((argc == 7 || argc == 8) && !strcmp(argv[1], "relay")) {
        if (argc == 8)
            g_port_b = atoi(argv[7]);
        return relay_mode(atof(argv[4]), atof(argv[5]), atoi(argv[6]));
    }
    if (argc == 6 && !strcmp(argv[1], "joins"))
        return joins_mode(atoi(argv[4]), atoi(argv[5]));
    if (argc == 7 && !strcmp(argv[1], "bcast"))
        return bcast_mode(atoi(argv[4]), atof(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: sig_load idle HOST PORT N SERVER_PID STAGE PROCS [HOLD_SECONDS]\n"
                    "       sig_load storm HOST PORT N SERVER_PID PROCS\n"
                    "       sig_load relay HOST PORT RATE SECONDS PAIRS [PORT_B]   (RATE 0: "
                    "saturation)\n"
                    "       sig_load bcast HOST PORT PEERS RATE SECONDS\n"
                    "       sig_load joins HOST PORT_A PORT_B N\n");
    return 2;
}
