/* icehub - SPDX-License-Identifier: MIT
 *
 * raw_fwd.c: the floor for any UDP relay. Two sockets, like a TURN
 * server's listener and one relay socket: what arrives on the listener is
 * sent from the relay socket to a fixed peer; what arrives on the relay
 * socket is sent from the listener to the client heard from last. Batched
 * with recvmmsg/sendmmsg, no parsing, no lookups, unconnected sockets (a
 * relay cannot connect its sockets either). Its CPU per forwarded datagram
 * is what the kernel charges; a relay can only add to it.
 *
 * usage: raw_fwd LISTEN_PORT PEER_PORT [MODE]   (on 127.0.0.1; runs until killed)
 * The relay socket is bound to LISTEN_PORT + 1. MODE chooses how client
 * datagrams leave for the peer (the peer side is always the batch):
 *   batch    (default) one sendmmsg per received batch, one relay socket
 *   one      every datagram with its own call, one relay socket
 *   sockets  one relay socket per client (16, by the client's source
 *            address, as a TURN server has one per allocation), each
 *            datagram with its own call: what a TURN server must do with
 *            interleaved clients and one send call per socket
 *   uring    the same 16 sockets, a batch's sends in one io_uring submission
 *   rawip    the same 16 sockets bound (their ports reserved), the datagrams
 *            written with their UDP headers through one raw IP socket
 *            (IPPROTO_RAW, CAP_NET_RAW), a batch per sendmmsg
 * The last three are the candidates for sending the data of many
 * allocations with fewer system calls than one per datagram.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/ip.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define BATCH 32
#define NSOCK 16
#define HDR 28                  /* IPv4 + UDP header room in front of each payload */

enum { M_BATCH, M_ONE, M_SOCKETS, M_URING, M_RAWIP };

static int udp_socket(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        exit(1);
    return fd;
}

static uint16_t port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (; n > 1; n -= 2, p += 2)
        s += (uint32_t)(p[0] << 8 | p[1]);
    if (n)
        s += (uint32_t)(p[0] << 8);
    return s;
}

/* Write the IPv4 and UDP headers (RFC 791, RFC 768, with the checksum)
 * in the HDR bytes before a payload of <len> at <h> + HDR. */
static void ip_udp_header(uint8_t *h, uint16_t sport, const struct sockaddr_in *to, size_t len)
{
    struct iphdr *ip = (struct iphdr *)h;
    memset(ip, 0, 20);
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->tot_len = htons((uint16_t)(HDR + len));
    ip->saddr = htonl(INADDR_LOOPBACK);
    ip->daddr = to->sin_addr.s_addr; /* the kernel fills id and checksum */
    uint8_t *u = h + 20;
    u[0] = (uint8_t)(sport >> 8);
    u[1] = (uint8_t)sport;
    memcpy(u + 2, &to->sin_port, 2);
    u[4] = (uint8_t)((8 + len) >> 8);
    u[5] = (uint8_t)(8 + len);
    u[6] = u[7] = 0;
    uint32_t s = sum16(IPPROTO_UDP + (uint32_t)(8 + len), h + 12, 8);
    s = sum16(s, u, 8 + len);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    uint16_t c = (uint16_t)~s;
    if (!c)
        c = 0xffff;
    u[6] = (uint8_t)(c >> 8);
    u[7] = (uint8_t)c;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *names[] = {"batch", "one", "sockets", "uring", "rawip"};
    int mode = M_BATCH;
    for (int m = 0; argc > 3 && m < 5; m++)
        if (!strcmp(argv[3], names[m]))
            mode = m;
    uint16_t port = (uint16_t)atoi(argv[1]);
    int fds[2] = {udp_socket(port), udp_socket((uint16_t)(port + 1))};
    int rs[NSOCK], raw = -1;
    uint16_t rport[NSOCK];
    for (int i = 0; i < NSOCK && mode >= M_SOCKETS; i++) {
        rs[i] = udp_socket(0);
        rport[i] = port_of(rs[i]);
    }
    struct io_uring ring;
    if (mode == M_URING && io_uring_queue_init(64, &ring, 0) < 0) {
        fprintf(stderr, "raw_fwd: no io_uring\n");
        return 1;
    }
    if (mode == M_RAWIP && (raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW)) < 0) {
        perror("raw_fwd: raw socket (CAP_NET_RAW?)");
        return 1;
    }
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in client = {0}, from[BATCH];
    static uint8_t buf[BATCH][HDR + 2048];
    struct iovec iov[BATCH], oiov[BATCH];
    struct mmsghdr mm[BATCH], om[BATCH];
    int ep = epoll_create1(0);
    for (int i = 0; i < 2; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    for (;;) {
        struct epoll_event evs[2];
        int ne = epoll_wait(ep, evs, 2, -1);
        for (int e = 0; e < ne; e++) {
            int side = (int)evs[e].data.u32, n;
            /* Up to 16 batches per wakeup, as icehubd does. */
            for (int round = 0; round < 16; round++) {
                for (int i = 0; i < BATCH; i++) {
                    iov[i] = (struct iovec){buf[i] + HDR, 2048};
                    mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                                    .msg_namelen = sizeof(from[i]),
                                                    .msg_iov = &iov[i], .msg_iovlen = 1};
                }
                if ((n = recvmmsg(fds[side], mm, BATCH, MSG_DONTWAIT, NULL)) <= 0)
                    break;
                if (side == 0)
                    client = from[n - 1];
                struct sockaddr_in *to = side == 0 ? &peer : &client;
                for (int i = 0; i < n; i++) {
                    /* The client's socket: by its source address (127.0.0.k). */
                    int k = (int)(ntohl(from[i].sin_addr.s_addr) & 0xff) % NSOCK;
                    size_t len = mm[i].msg_len;
                    oiov[i] = (struct iovec){buf[i] + HDR, len};
                    om[i].msg_hdr = (struct msghdr){.msg_name = to, .msg_namelen = sizeof(*to),
                                                    .msg_iov = &oiov[i], .msg_iovlen = 1};
                    if (side == 1 || mode == M_BATCH)
                        continue;
                    if (mode == M_ONE)
                        sendmmsg(fds[1], &om[i], 1, MSG_DONTWAIT);
                    else if (mode == M_SOCKETS)
                        sendmmsg(rs[k], &om[i], 1, MSG_DONTWAIT);
                    else if (mode == M_URING)
                        io_uring_prep_sendmsg(io_uring_get_sqe(&ring), rs[k], &om[i].msg_hdr,
                                              MSG_DONTWAIT);
                    else {
                        ip_udp_header(buf[i], rport[k], to, len);
                        oiov[i] = (struct iovec){buf[i], HDR + len};
                    }
                }
                if (side == 1 || mode == M_BATCH) {
                    sendmmsg(fds[!side], om, (unsigned)n, MSG_DONTWAIT);
                } else if (mode == M_URING) {
                    io_uring_submit_and_wait(&ring, (unsigned)n);
                    struct io_uring_cqe *cqe;
                    unsigned head, seen = 0;
                    io_uring_for_each_cqe(&ring, head, cqe) seen++;
                    io_uring_cq_advance(&ring, seen);
                } else if (mode == M_RAWIP) {
                    sendmmsg(raw, om, (unsigned)n, MSG_DONTWAIT);
                }
                if (n < BATCH)
                    break;
            }
        }
    }
}
