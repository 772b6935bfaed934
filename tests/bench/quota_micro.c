/* icehub - SPDX-License-Identifier: MIT
 *
 * quota_micro.c: what the bandwidth quotas cost per datagram in the TURN
 * state machine itself, without sockets: the CPU time of turn_channel_data
 * (client to peer) and turn_peer_data (peer to client, ChannelData
 * framing) for 16 allocations taken in turn, with quotas off (the default)
 * and on (an allocation rate and a server total far above the load, so
 * every datagram goes through both buckets and none is dropped). Runs
 * alternate off/on and the fastest run of each is kept: other processes
 * on the machine can only make a run slower. The live relay counters run
 * in both (they are always on).
 *
 * It links libicehub.a and uses turn/'s internals (turn_int.h) to set up
 * allocations, permissions and channels without authenticating.
 *
 * usage: quota_micro [MILLION_PACKETS_PER_RUN] [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "turn/turn_int.h"

#define NALLOC 16
#define PAYLOAD 100
#define CHAN 0x4000

static void nop_close(void *ctx, turn_alloc_t *a)
{
    (void)ctx;
    (void)a;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static turn_5tuple_t tuples[NALLOC];
static turn_alloc_t *allocs[NALLOC];
static cmn_addr_t peer;

static void setup(turn_t *t)
{
    for (int i = 0; i < NALLOC; i++) {
        turn_5tuple_t *tu = &tuples[i];
        char ip[32];
        snprintf(ip, sizeof(ip), "127.0.0.%d:40000", i + 1);
        cmn_addr_parse(&tu->client, ip, -1);
        cmn_addr_parse(&tu->server, "127.0.0.1:3478", -1);
        tu->transport = TURN_TR_UDP;
        turn_auth_t au;
        memset(&au, 0, sizeof(au));
        snprintf(au.user, sizeof(au.user), "user%d", i);
        au.ulen = strlen(au.user);
        au.quota_user = au.user;
        au.qlen = au.ulen;
        turn_alloc_t *a = turn__alloc_new(t, tu, &au);
        cmn_addr_parse(&a->relay[0], "127.0.0.1:50000", -1);
        a->relay[0].port = (uint16_t)(50000 + i);
        a->nrelay = 1;
        a->expires = 1e12;
        turn__quota_setup(t, a, 0);
        turn__alloc_insert(t, a);
        turn__perm_install(a, &peer, 1e12);
        turn_chan_t *c = turn__chan_add(a, CHAN, &peer);
        turn__chan_refresh(a, c, 1e12);
        allocs[i] = a;
    }
}

/* One run: <n> datagrams each way; returns ns of CPU per datagram. The
 * clock advances per batch of 32, as the daemon reads it per batch. */
static double run(turn_t *t, long n, double *now, long *passed)
{
    static uint8_t payload[PAYLOAD];
    static uint8_t buf[TURN_PEER_HEADROOM + PAYLOAD + 4];
    turn_out_t res;
    const uint8_t *msg;
    size_t mlen;
    long ok = 0;
    double c0 = thread_cpu();
    for (long i = 0; i < n; i++) {
        if ((i & 31) == 0)
            *now += 32e-6; /* 1M datagrams/s each way: far below 100G */
        int k = (int)(i % NALLOC);
        turn_channel_data(t, &tuples[k], CHAN, payload, PAYLOAD, *now, &res);
        ok += res.fwd_alloc != NULL;
        ok += turn_peer_data(t, allocs[k], &peer, buf, PAYLOAD, *now, &msg, &mlen) == 0;
    }
    double c1 = thread_cpu();
    *passed = ok;
    return (c1 - c0) * 1e9 / (2.0 * (double)n);
}

int main(int argc, char **argv)
{
    long n = (long)((argc > 1 ? atof(argv[1]) : 5) * 1e6);
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    turn_cfg_t off, on;
    memset(&off, 0, sizeof(off));
    off.realm = "bench";
    on = off;
    on.alloc_bps = 100000000000ull;
    on.total_bps = 1000000000000ull;
    on.total_shares = 1;
    turn_ops_t ops = {.relay_close = nop_close};
    turn_shared_t *sh = turn_shared_new(0, 0, 0);
    cmn_addr_parse(&peer, "127.0.0.1:9", -1);
    turn_t *t = turn_new(&off, &ops, sh);
    setup(t);
    double now = 1.0, best_off = 1e9, best_on = 1e9;
    for (int r = 0; r < runs; r++) {
        long ok;
        turn_set_cfg(t, &off);
        double x = run(t, n, &now, &ok);
        if (ok != 2 * n)
            fprintf(stderr, "quota off: %ld of %ld passed\n", ok, 2 * n);
        best_off = x < best_off ? x : best_off;
        turn_set_cfg(t, &on);
        double y = run(t, n, &now, &ok);
        if (ok != 2 * n)
            fprintf(stderr, "quota on: %ld of %ld passed\n", ok, 2 * n);
        best_on = y < best_on ? y : best_on;
        printf("run %d: off=%.1f ns on=%.1f ns\n", r + 1, x, y);
    }
    turn_stats_t st;
    turn_get_stats(t, &st);
    printf("quota_micro: packets_per_run=%ld runs=%d off_ns=%.1f on_ns=%.1f delta_ns=%.1f "
           "dropped=%llu\n",
           2 * n, runs, best_off, best_on, best_on - best_off,
           (unsigned long long)(st.quota_dropped_packets[0] + st.quota_dropped_packets[1] +
                                st.quota_dropped_packets[2]));
    turn_free(t);
    turn_shared_free(sh);
    return 0;
}
