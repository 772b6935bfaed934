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
 * usage: raw_fwd LISTEN_PORT PEER_PORT [one]   (on 127.0.0.1; runs until killed)
 * The relay socket is bound to LISTEN_PORT + 1. With "one", every datagram
 * is sent with its own call, as a TURN server must when consecutive
 * datagrams belong to different allocations (different relay sockets).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define BATCH 32

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

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int one = argc > 3 && !strcmp(argv[3], "one");
    uint16_t port = (uint16_t)atoi(argv[1]);
    int fds[2] = {udp_socket(port), udp_socket((uint16_t)(port + 1))};
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in client = {0}, from[BATCH];
    static uint8_t buf[BATCH][2048];
    struct iovec iov[BATCH];
    struct mmsghdr mm[BATCH];
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
                    iov[i] = (struct iovec){buf[i], sizeof(buf[i])};
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
                    iov[i].iov_len = mm[i].msg_len;
                    mm[i].msg_hdr.msg_name = to;
                }
                if (one)
                    for (int i = 0; i < n; i++)
                        sendmmsg(fds[!side], mm + i, 1, MSG_DONTWAIT);
                else
                    sendmmsg(fds[!side], mm, (unsigned)n, MSG_DONTWAIT);
                if (n < BATCH)
                    break;
            }
        }
    }
}
