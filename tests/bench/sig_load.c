/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_load.c: load generator for the signaling hub (make bench). A plain
 * epoll WebSocket client (RFC 6455 handshake and masked framing, written
 * here, no library), one thread, two modes:
 *
 *   sig_load idle HOST PORT N PID
 *     Opens N WebSockets to /ws, has each join a room (two peers per
 *     room), waits until every one is joined, and reports the server's
 *     RSS (/proc/PID/status VmRSS) before and after: idle_conns=N
 *     rss_before_kib= rss_after_kib= kib_per_conn= connect_s=
 *
 *   sig_load relay HOST PORT RATE SECONDS [PORT_B]
 *     Two peers join one room; A sends B "signal" messages at RATE per
 *     second (paced one by one), each carrying its send time; B reads
 *     them and records the latency (send to receive, client clock).
 *     With PORT_B, B is on another node of a cluster (docs/scaling.md).
 *     Reports sent= received= rate= p50_us= p99_us= p999_us= max_us=
 *     seconds= (the whole run) gen_cpu_s= (this process's CPU)
 *
 *   sig_load joins HOST PORT_A PORT_B N
 *     Opens N WebSockets, alternately to PORT_A and PORT_B (the same port
 *     for one node), waits for every handshake, then has them all join
 *     rooms of two (one peer on each port) at once: joins= seconds=
 *     rate= (joins answered per second)
 *
 * Latency includes the client's own send and receive work on loopback;
 * it is an upper bound on the hub's share.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn_s {
    int fd;
    int state;                  /* 0 handshake, 1 open, 2 joined */
    char *in;
    size_t len, cap;
    char id[80];
} conn_t;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int dial(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* The request goes out first (a fresh socket's buffer takes it),
     * then everything is non-blocking. */
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n", host, port);
    if (write(fd, req, (size_t)n) != n) {
        perror("write");
        exit(1);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Send one masked text frame (mask 0: the XOR is the identity, which RFC
 * 6455 allows; the server must unmask all the same). */
static void send_text(int fd, const char *s, size_t n)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = 0x81;
    if (n < 126) {
        hdr[h++] = (uint8_t)(0x80 | n);
    } else {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    }
    memset(hdr + h, 0, 4);
    h += 4;
    uint8_t buf[4096];
    memcpy(buf, hdr, h);
    memcpy(buf + h, s, n);
    size_t done = 0;
    while (done < h + n) {
        ssize_t w = write(fd, buf + done, h + n - done);
        if (w < 0 && errno != EAGAIN) {
            perror("send");
            exit(1);
        }
        if (w > 0)
            done += (size_t)w;
    }
}

/* Read what is there; returns -1 on close. */
static int fill(conn_t *c)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 131072;
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
                fprintf(stderr, "handshake refused: %.40s\n", c->in + *off);
                exit(1);
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
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int idle_mode(const char *host, int port, int n, int pid)
{
    raise_nofile();
    long before = rss_kib(pid);
    double t0 = mono();
    conn_t *cs = calloc((size_t)n, sizeof(*cs));
    int ep = epoll_create1(0), joined = 0;
    for (int i = 0; i < n; i++) {
        cs[i].fd = dial(host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    struct epoll_event evs[256];
    while (joined < n) {
        if (mono() - t0 > 120) {
            fprintf(stderr, "only %d of %d joined\n", joined, n);
            return 1;
        }
        int k = epoll_wait(ep, evs, 256, 1000);
        for (int e = 0; e < k; e++) {
            conn_t *c = &cs[evs[e].data.u32];
            if (fill(c) < 0) {
                fprintf(stderr, "connection %u closed\n", evs[e].data.u32);
                return 1;
            }
            size_t off = 0;
            char *m;
            int was = c->state;
            while ((m = next_msg(c, &off))) {
                if (strstr(m, "\"joined\"")) {
                    c->state = 2;
                    joined++;
                }
            }
            compact(c, off);
            if (was == 0 && c->state == 1) {
                char j[96];
                int l = snprintf(j, sizeof(j), "{\"type\":\"join\",\"room\":\"idle-%u\"}",
                                 evs[e].data.u32 / 2);
                send_text(c->fd, j, (size_t)l);
            }
            if (c->len == 0 && c->cap > 131072) {
                free(c->in);
                c->in = NULL;
                c->cap = 0;
            }
        }
    }
    double took = mono() - t0;
    /* Let the server settle (free handshake buffers), then measure. */
    double settle = mono();
    while (mono() - settle < 2.0) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < k; e++) {
            conn_t *c = &cs[evs[e].data.u32];
            if (fill(c) < 0)
                return 1;
            size_t off = 0;
            while (next_msg(c, &off))
                ;
            compact(c, off);
        }
    }
    long after = rss_kib(pid);
    printf("idle_conns=%d rss_before_kib=%ld rss_after_kib=%ld kib_per_conn=%.2f connect_s=%.2f\n",
           n, before, after, (double)(after - before) / n, took);
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Wait for <c>'s next text message containing <needle>; copies it. */
static void wait_for(conn_t *c, const char *needle, char *out, size_t cap)
{
    double t0 = mono();
    for (;;) {
        size_t off = 0;
        char *m;
        while ((m = next_msg(c, &off))) {
            if (strstr(m, needle)) {
                snprintf(out, cap, "%s", m);
                compact(c, off);
                return;
            }
        }
        compact(c, off);
        if (mono() - t0 > 5) {
            fprintf(stderr, "timeout waiting for %s\n", needle);
            exit(1);
        }
        usleep(1000);
        if (fill(c) < 0) {
            fprintf(stderr, "closed waiting for %s\n", needle);
            exit(1);
        }
    }
}

/* Wait for the 101 (a client sends nothing before it, like a browser). */
static void wait_open(conn_t *c)
{
    double t0 = mono();
    while (c->state == 0) {
        if (fill(c) < 0 || mono() - t0 > 5) {
            fprintf(stderr, "no handshake\n");
            exit(1);
        }
        size_t off = 0;
        while (next_msg(c, &off))
            ;
        compact(c, off);
        usleep(1000);
    }
}

static int relay_mode(const char *host, int port, int rate, double secs, int port_b)
{
    double t_start = mono();
    conn_t a = {.fd = dial(host, port)}, b = {.fd = dial(host, port_b)};
    char buf[4096];
    wait_open(&a);
    wait_open(&b);
    /* Fresh ids and room each run: an earlier run's peers may still be
     * in their resume grace period. */
    char ja[128], jb[128], idb[32];
    snprintf(idb, sizeof(idb), "b%d", (int)getpid());
    snprintf(ja, sizeof(ja), "{\"type\":\"join\",\"room\":\"bench%d\",\"peer\":\"a%d\"}",
             (int)getpid(), (int)getpid());
    snprintf(jb, sizeof(jb), "{\"type\":\"join\",\"room\":\"bench%d\",\"peer\":\"%s\"}",
             (int)getpid(), idb);
    send_text(a.fd, ja, strlen(ja));
    wait_for(&a, "\"joined\"", buf, sizeof(buf));
    send_text(b.fd, jb, strlen(jb));
    wait_for(&b, "\"joined\"", buf, sizeof(buf));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    epoll_ctl(ep, EPOLL_CTL_ADD, b.fd, &ev);
    size_t total = (size_t)(rate * secs), sent = 0, got = 0;
    double *lat = calloc(total + 1, sizeof(double));
    double t0 = mono(), interval = 1.0 / rate, deadline = t0 + secs + 2.0;
    char msg[256];
    /* One core spins: send each message at its time, read whatever is
     * there in between. */
    while (got < total && mono() < deadline) {
        double now = mono();
        while (sent < total && now >= t0 + (double)sent * interval) {
            int l = snprintf(msg, sizeof(msg),
                             "{\"type\":\"signal\",\"to\":\"%s\",\"data\":{\"t\":%.9f,"
                             "\"candidate\":\"candidate:1 1 udp 2122260223 192.0.2.1 54321 "
                             "typ host\"}}", idb, mono());
            send_text(a.fd, msg, (size_t)l);
            sent++;
            now = mono();
        }
        struct epoll_event out;
        if (epoll_wait(ep, &out, 1, 0) <= 0)
            continue;
        if (fill(&b) < 0) {
            fprintf(stderr, "b closed\n");
            return 1;
        }
        double rx = mono();
        size_t off = 0;
        char *m;
        while ((m = next_msg(&b, &off))) {
            char *t = strstr(m, "\"t\":");
            if (t && got < total)
                lat[got++] = (rx - strtod(t + 4, NULL)) * 1e6;
        }
        compact(&b, off);
    }
    double took = mono() - t0;
    if (getenv("SIG_LOAD_TRACE"))
        for (size_t i = 0; i < got; i += got / 20 + 1)
            fprintf(stderr, "  msg %zu latency %.1f us\n", i, lat[i]);
    qsort(lat, got, sizeof(double), cmp_d);
    double p50 = got ? lat[got / 2] : 0, p99 = got ? lat[(size_t)((double)got * 0.99)] : 0;
    double p999 = got ? lat[(size_t)((double)got * 0.999)] : 0, mx = got ? lat[got - 1] : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("sent=%zu received=%zu rate=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "seconds=%.2f gen_cpu_s=%.2f\n",
           sent, got, (double)got / took, p50, p99, p999, mx, mono() - t_start, cpu);
    close(a.fd);
    close(b.fd);
    free(lat);
    return got == total ? 0 : 1;
}

/* Every connection's next message, until <needle> came on all of them
 * (or 60 s); returns how many got it. */
static int wait_all(conn_t *cs, int n, int ep, const char *needle, int want_state)
{
    int done = 0;
    struct epoll_event evs[256];
    double t0 = mono();
    for (int i = 0; i < n; i++)
        done += cs[i].state >= want_state;
    while (done < n && mono() - t0 < 60) {
        int k = epoll_wait(ep, evs, 256, 1000);
        for (int e = 0; e < k; e++) {
            conn_t *c = &cs[evs[e].data.u32];
            if (fill(c) < 0) {
                fprintf(stderr, "connection %u closed\n", evs[e].data.u32);
                return done;
            }
            size_t off = 0;
            char *m;
            int was = c->state;
            while ((m = next_msg(c, &off)))
                if (needle && c->state < want_state && strstr(m, needle))
                    c->state = want_state;
            compact(c, off);
            done += was < want_state && c->state >= want_state;
        }
    }
    return done;
}

static int joins_mode(const char *host, int port_a, int port_b, int n)
{
    raise_nofile();
    conn_t *cs = calloc((size_t)n, sizeof(*cs));
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        cs[i].fd = dial(host, i % 2 ? port_b : port_a);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    if (wait_all(cs, n, ep, NULL, 1) < n) {
        fprintf(stderr, "not every handshake finished\n");
        return 1;
    }
    double t0 = mono();
    for (int i = 0; i < n; i++) {
        char j[96];
        int l = snprintf(j, sizeof(j), "{\"type\":\"join\",\"room\":\"j%d-%d\"}",
                         (int)getpid(), i / 2);
        send_text(cs[i].fd, j, (size_t)l);
    }
    int joined = wait_all(cs, n, ep, "\"joined\"", 2);
    double took = mono() - t0;
    printf("joins=%d seconds=%.3f rate=%.0f\n", joined, took, joined / took);
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    return joined == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "idle"))
        return idle_mode(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if ((argc == 6 || argc == 7) && !strcmp(argv[1], "relay"))
        return relay_mode(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]),
                          argc == 7 ? atoi(argv[6]) : atoi(argv[3]));
    if (argc == 6 && !strcmp(argv[1], "joins"))
        return joins_mode(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: sig_load idle HOST PORT N SERVER_PID\n"
                    "       sig_load relay HOST PORT RATE SECONDS [PORT_B]\n"
                    "       sig_load joins HOST PORT_A PORT_B N\n");
    return 2;
}
