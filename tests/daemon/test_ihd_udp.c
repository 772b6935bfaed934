/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ihd_udp.c: daemon/ihd_udp.c and daemon/ihd_uring.c, on real
 * loopback sockets: datagrams of many relay sockets leave in one io_uring
 * submission (or, without a ring, one sendmmsg per socket), each socket's
 * datagrams in their order and from their own socket; runs to one peer
 * with one size become UDP GSO sends; datagrams of one socket only skip
 * the ring (a sendmmsg is one call too); a datagram the kernel refuses is
 * counted and does not take the others with it; the ring's check that
 * sends never wait; a worker whose ring breaks sends without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>

#include "daemon/ihd_udp.c"
#include "daemon/ihd_uring.c"

#define NSOCK 4

typedef struct fx_s {
    ihd_worker_t w;
    ihd_cfg_t cfg;
    int relay[NSOCK];           /* senders, like relay sockets */
    int peer[NSOCK];            /* receivers, one per relay socket */
    struct sockaddr_in peer_addr[NSOCK];
} fx_t;

static int udp_bound(struct sockaddr_in *out)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    int sz = 1 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    if (out)
        *out = a;
    return fd;
}

static int setup(void **state)
{
    fx_t *f = cmn_calloc(1, sizeof(*f));
    f->cfg.s.turn.gso = true;
    f->cfg.s.turn.io_uring = true;
    f->w.cfg = &f->cfg;
    for (int i = 0; i < NSOCK; i++) {
        f->relay[i] = udp_bound(NULL);
        f->peer[i] = udp_bound(&f->peer_addr[i]);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < NSOCK; i++) {
        close(f->relay[i]);
        close(f->peer[i]);
    }
    ihd_uring_free(f->w.uring);
    cmn_free(f);
    return 0;
}

/* Read everything queued on <fd> (waiting briefly for the first) into
 * <got> as "payload@srcport" strings; returns how many. */
static int read_all(int fd, char got[][64], int max)
{
    int n = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 500);
    for (; n < max; n++) {
        char buf[32];
        struct sockaddr_in src;
        socklen_t sl = sizeof(src);
        ssize_t r = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&src, &sl);
        if (r < 0)
            break;
        buf[r] = '\0';
        snprintf(got[n], 64, "%s@%u", buf, ntohs(src.sin_port));
    }
    return n;
}

static uint16_t port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

/* 24 datagrams round-robin over the NSOCK relay sockets, each to its own
 * peer; payload "s<socket>-<seq>", all of one length. */
static unsigned interleaved(fx_t *f, ihd_dgram_t *d, char text[][16])
{
    unsigned n = 0;
    for (unsigned seq = 0; seq < 6; seq++) {
        for (unsigned s = 0; s < NSOCK; s++, n++) {
            snprintf(text[n], 16, "s%u-%02u", s % 10, seq % 100);
            d[n] = (ihd_dgram_t){.fd = f->relay[s], .data = text[n], .len = strlen(text[n]),
                                 .to = &f->peer_addr[s], .tolen = sizeof(f->peer_addr[s])};
        }
    }
    return n;
}

static void check_arrivals(fx_t *f)
{
    for (int s = 0; s < NSOCK; s++) {
        char got[16][64];
        assert_int_equal(read_all(f->peer[s], got, 16), 6);
        for (int seq = 0; seq < 6; seq++) {
            char want[64];
            snprintf(want, sizeof(want), "s%d-%02d@%u", s, seq, port_of(f->relay[s]));
            assert_string_equal(got[seq], want);
        }
    }
}

/* Send the interleaved datagrams; all must be taken. Returns how many. */
static unsigned send_interleaved(fx_t *f, ihd_udp_stats_t *st)
{
    ihd_dgram_t d[IHD_UDP_BATCH];
    char text[IHD_UDP_BATCH][16];
    unsigned n = interleaved(f, d, text);
    memset(st, 0, sizeof(*st));
    assert_int_equal(ihd_udp_send_many(&f->w, d, n, st), n);
    assert_int_equal(st->packets, n);
    return n;
}

static void test_ring_one_submission_in_order(void **state)
{
    fx_t *f = *state;
    const char *why = NULL;
    assert_int_equal(ihd_uring_new(&f->w.uring, &why), 0);
    ihd_udp_stats_t st;
    unsigned n = send_interleaved(f, &st);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.bytes, n * 5);
    /* Grouped by socket, each socket's six datagrams to its one peer are
     * one GSO run: four sends in one submission. */
    assert_int_equal(f->w.c.uring_submits, 1);
    assert_int_equal(f->w.c.uring_sends, NSOCK);
    assert_int_equal(f->w.c.gso_sends, NSOCK);
    assert_int_equal(f->w.c.gso_segments, n);
    check_arrivals(f);
}

static void test_without_ring_one_sendmmsg_per_socket(void **state)
{
    fx_t *f = *state;
    f->cfg.s.turn.gso = false;
    ihd_udp_stats_t st;
    send_interleaved(f, &st);
    assert_int_equal(f->w.c.uring_submits, 0);
    assert_int_equal(f->w.c.gso_sends, 0);
    check_arrivals(f);
}

static void test_ring_off_by_setting(void **state)
{
    fx_t *f = *state;
    const char *why = NULL;
    assert_int_equal(ihd_uring_new(&f->w.uring, &why), 0);
    f->cfg.s.turn.io_uring = false; /* a reload turned it off: the ring stays unused */
    ihd_udp_stats_t st;
    send_interleaved(f, &st);
    assert_int_equal(f->w.c.uring_submits, 0);
    check_arrivals(f);
}

/* One datagram the kernel refuses (an IPv6 destination on an IPv4
 * socket) is counted; the datagrams around it, on that socket and others,
 * still leave. */
static void test_refused_datagram_counted_others_sent(void **state)
{
    fx_t *f = *state;
    f->cfg.s.turn.gso = false;
    const char *why = NULL;
    assert_int_equal(ihd_uring_new(&f->w.uring, &why), 0);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    v6.sin6_addr.s6_addr[15] = 1;
    ihd_dgram_t d[3] = {
        {.fd = f->relay[0], .data = "a", .len = 1, .to = &f->peer_addr[0],
         .tolen = sizeof(f->peer_addr[0])},
        {.fd = f->relay[0], .data = "b", .len = 1, .to = &v6, .tolen = sizeof(v6)},
        {.fd = f->relay[1], .data = "c", .len = 1, .to = &f->peer_addr[1],
         .tolen = sizeof(f->peer_addr[1])},
    };
    ihd_udp_stats_t st = {0, 0, 0};
    assert_int_equal(ihd_udp_send_many(&f->w, d, 3, &st), 2);
    assert_int_equal(st.errors, 1);
    char got[4][64];
    assert_int_equal(read_all(f->peer[0], got, 4), 1);
    assert_int_equal(read_all(f->peer[1], got, 4), 1);
    /* The same without the ring. */
    ihd_uring_free(f->w.uring);
    f->w.uring = NULL;
    memset(&st, 0, sizeof(st));
    assert_int_equal(ihd_udp_send_many(&f->w, d, 3, &st), 2);
    assert_int_equal(st.errors, 1);
}

/* A datagram the kernel refuses right after a GSO run to the same peer
 * (too large for UDP) fails alone: the run before it leaves. */
static void test_oversize_datagram_after_a_run(void **state)
{
    fx_t *f = *state;
    const char *why = NULL;
    assert_int_equal(ihd_uring_new(&f->w.uring, &why), 0);
    static uint8_t big[70000];
    ihd_dgram_t d[3];
    for (int i = 0; i < 3; i++)
        d[i] = (ihd_dgram_t){.fd = f->relay[2], .data = big, .len = 40, .to = &f->peer_addr[2],
                             .tolen = sizeof(f->peer_addr[2])};
    d[2].len = 66000; /* over 64 KiB: no run may hold it, and UDP cannot carry it */
    ihd_udp_stats_t st = {0, 0, 0};
    assert_int_equal(ihd_udp_send_many(&f->w, d, 3, &st), 2);
    assert_int_equal(st.errors, 1);
    char got[4][64];
    assert_int_equal(read_all(f->peer[2], got, 4), 2);
}

/* Datagrams for one socket only take a sendmmsg, not the ring. */
static void test_one_socket_skips_the_ring(void **state)
{
    fx_t *f = *state;
    const char *why = NULL;
    assert_int_equal(ihd_uring_new(&f->w.uring, &why), 0);
    ihd_dgram_t d[3];
    for (int i = 0; i < 3; i++)
        d[i] = (ihd_dgram_t){.fd = f->relay[1], .data = "xyz", .len = 3,
                             .to = &f->peer_addr[1], .tolen = sizeof(f->peer_addr[1])};
    ihd_udp_stats_t st = {0, 0, 0};
    assert_int_equal(ihd_udp_send_many(&f->w, d, 3, &st), 3);
    assert_int_equal(f->w.c.uring_submits, 0);
    assert_int_equal(f->w.c.gso_sends, 1); /* the three as one GSO send */
    char got[4][64];
    assert_int_equal(read_all(f->peer[1], got, 4), 3);
    assert_int_equal(ihd_udp_send_many(&f->w, d, 0, &st), 0);
}

static void test_ring_check_passes_here(void **state)
{
    (void)state;
    /* The machines this runs on have Linux 6.0 or newer: a send to a full
     * socket fails at once, so rings are made. */
    ihd_uring_t *u = NULL;
    const char *why = "unset";
    assert_int_equal(ihd_uring_new(&u, &why), 0);
    assert_non_null(u);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 1;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    char b[512] = {0};
    while (send(sv[0], b, sizeof(b), MSG_DONTWAIT) > 0)
        ;
    /* Two sends: one to the full socket (EAGAIN at once), one that works. */
    struct iovec iov = {b, 8};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    int rx[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, rx), 0);
    int fds[2] = {sv[0], rx[0]};
    struct msghdr *m[2] = {&mh, &mh};
    int res[2];
    assert_int_equal(ihd_uring_sendmsg(u, fds, m, 2, res), 0);
    assert_int_equal(res[0], -EAGAIN);
    assert_int_equal(res[1], 8);
    assert_int_equal(ihd_uring_sendmsg(u, fds, m, 65, res), CMN_EINVAL);
    ihd_uring_free(u);
    close(sv[0]);
    close(sv[1]);
    close(rx[0]);
    close(rx[1]);
}

static void test_worker_setup_and_failure(void **state)
{
    fx_t *f = *state;
    f->cfg.s.turn.io_uring = false;
    ihd__uring_setup(&f->w);
    assert_null(f->w.uring);
    assert_false(f->w.uring_tried); /* a reload that turns it on makes it then */
    f->cfg.s.turn.io_uring = true;
    ihd__uring_setup(&f->w);
    assert_non_null(f->w.uring);
    assert_int_equal(f->w.c.uring_active, 1);
    ihd__uring_setup(&f->w); /* once */
    assert_int_equal(f->w.c.uring_active, 1);
    ihd__uring_failed(&f->w);
    assert_null(f->w.uring);
    assert_int_equal(f->w.c.uring_active, 0);
    ihd__uring_setup(&f->w); /* a failed ring is not made again */
    assert_null(f->w.uring);
    /* Without it, sends still leave. */
    ihd_udp_stats_t st;
    send_interleaved(f, &st);
    check_arrivals(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ring_one_submission_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_ring_one_sendmmsg_per_socket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ring_off_by_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_datagram_counted_others_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_oversize_datagram_after_a_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_socket_skips_the_ring, setup, teardown),
        cmocka_unit_test(test_ring_check_passes_here),
        cmocka_unit_test_setup_teardown(test_worker_setup_and_failure, setup, teardown),
    };
    return cmocka_run_group_tests_name("ihd_udp", tests, NULL, NULL);
}
