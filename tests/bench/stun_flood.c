/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_flood.c: a Binding-request load generator for benchmarks. Several
 * UDP sockets, each keeping a window of requests in flight, batched with
 * sendmmsg/recvmmsg. Prints sent, received, and answered requests per
 * second. Checks nothing about the answers beyond their transaction ids'
 * first byte being a STUN success (0x0101).
 *
 * usage: stun_flood HOST PORT SECONDS [SOCKETS] [WINDOW]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stun_flood HOST PORT SECONDS [SOCKETS] [WINDOW]\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &to.sin_addr);
    double secs = atof(argv[3]);
    int nsock = argc > 4 ? atoi(argv[4]) : 8;
    int window = argc > 5 ? atoi(argv[5]) : 64;
    int *fds = calloc((size_t)nsock, sizeof(int));
    long *inflight = calloc((size_t)nsock, sizeof(long));
    struct pollfd *pfd = calloc((size_t)nsock, sizeof(*pfd));
    for (int i = 0; i < nsock; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        connect(fds[i], (struct sockaddr *)&to, sizeof(to));
        pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    }
    uint8_t req[BATCH][20], resp[BATCH][128];
    struct mmsghdr out[BATCH], in[BATCH];
    struct iovec oiov[BATCH], iiov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        memset(req[i], 0, 20);
        req[i][1] = 1; /* Binding request */
        req[i][4] = 0x21, req[i][5] = 0x12, req[i][6] = 0xA4, req[i][7] = 0x42;
        oiov[i] = (struct iovec){req[i], 20};
        iiov[i] = (struct iovec){resp[i], sizeof(resp[i])};
        memset(&out[i], 0, sizeof(out[i]));
        out[i].msg_hdr.msg_iov = &oiov[i];
        out[i].msg_hdr.msg_iovlen = 1;
        memset(&in[i], 0, sizeof(in[i]));
        in[i].msg_hdr.msg_iov = &iiov[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0, recvd = 0, ok = 0;
    uint32_t seq = 0;
    double t0 = now_s(), end = t0 + secs, last_progress = t0;
    while (now_s() < end) {
        for (int s = 0; s < nsock; s++) {
            long room = window - inflight[s];
            if (room >= BATCH / 2) {
                int n = (int)(room < BATCH ? room : BATCH);
                for (int i = 0; i < n; i++) {
                    seq++;
                    memcpy(req[i] + 8, &seq, 4);
                }
                int r = sendmmsg(fds[s], out, (unsigned)n, 0);
                if (r > 0) {
                    sent += r;
                    inflight[s] += r;
                }
            }
        }
        if (poll(pfd, (nfds_t)nsock, 10) <= 0) {
            /* Nothing came back for a while: assume losses and refill windows. */
            if (now_s() - last_progress > 0.2)
                for (int s = 0; s < nsock; s++)
                    inflight[s] = 0;
            continue;
        }
        for (int s = 0; s < nsock; s++) {
            if (!(pfd[s].revents & POLLIN))
                continue;
            int r = recvmmsg(fds[s], in, BATCH, MSG_DONTWAIT, NULL);
            if (r <= 0)
                continue;
            recvd += r;
            inflight[s] = inflight[s] > r ? inflight[s] - r : 0;
            for (int i = 0; i < r; i++)
                if (in[i].msg_len >= 20 && resp[i][0] == 0x01 && resp[i][1] == 0x01)
                    ok++;
            last_progress = now_s();
        }
    }
    double el = now_s() - t0;
    printf("sent=%ld received=%ld ok=%ld seconds=%.2f rate=%.0f loss=%.2f%%\n", sent, recvd, ok,
           el, (double)ok / el, sent ? 100.0 * (double)(sent - recvd) / (double)sent : 0.0);
    return 0;
}
