/* icehub - SPDX-License-Identifier: MIT
 *
 * tuple_micro.c: what finding an allocation by its 5-tuple costs in the
 * TURN state machine, without sockets: the CPU time of turn__alloc_find
 * (the lookup every ChannelData and Send does first) over tables of 16,
 * 1,000 and 20,000 allocations (a worker's share of a busy server),
 * visiting them in a scattered order so the lookups are not served from
 * one warm cache line. Runs are repeated and the fastest kept: other
 * processes on the machine can only make a run slower.
 *
 * It links libicehub.a and uses turn/'s internals (turn_int.h) to insert
 * allocations without authenticating.
 *
 * usage: tuple_micro [MILLION_LOOKUPS_PER_RUN] [RUNS]
 * build: make build/release/libicehub.a && gcc -O2 -std=gnu11 -D_GNU_SOURCE -I. \
 *        -o tuple_micro tests/bench/tuple_micro.c build/release/libicehub.a \
 *        $(pkg-config --libs openssl libconfig jansson) -lm -pthread
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "turn/turn_int.h"

#define MAX_ALLOC 20000

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

static turn_5tuple_t tuples[MAX_ALLOC];

/* <n> allocations from 10.x.y.z:port clients to one server address. */
static void setup(turn_t *t, int n)
{
    for (int i = 0; i < n; i++) {
        turn_5tuple_t *tu = &tuples[i];
        char ip[48];
        snprintf(ip, sizeof(ip), "10.%d.%d.%d:%d", i >> 16 & 255, i >> 8 & 255, i & 255,
                 40000 + i % 1000);
        cmn_addr_parse(&tu->client, ip, -1);
        cmn_addr_parse(&tu->server, "192.0.2.1:3478", -1);
        tu->transport = TURN_TR_UDP;
        turn_auth_t au;
        memset(&au, 0, sizeof(au));
        snprintf(au.user, sizeof(au.user), "user%d", i);
        au.ulen = strlen(au.user);
        au.quota_user = au.user;
        au.qlen = au.ulen;
        turn_alloc_t *a = turn__alloc_new(t, tu, &au);
        a->expires = 1e12;
        turn__alloc_insert(t, a);
    }
}

/* One run of <m> lookups over <n> allocations; ns of CPU per lookup. */
static double run(turn_t *t, int n, long m, long *found)
{
    long ok = 0;
    unsigned k = 0, step = 7919; /* a prime: every allocation, scattered */
    double c0 = thread_cpu();
    for (long i = 0; i < m; i++) {
        k = (k + step) % (unsigned)n;
        ok += turn__alloc_find(t, &tuples[k], 1.0, false) != NULL;
    }
    double c1 = thread_cpu();
    *found = ok;
    return (c1 - c0) * 1e9 / (double)m;
}

int main(int argc, char **argv)
{
    long m = (long)((argc > 1 ? atof(argv[1]) : 5) * 1e6);
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    static const int sizes[] = {16, 1000, MAX_ALLOC};
    turn_cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.realm = "bench";
    turn_ops_t ops = {.relay_close = nop_close};
    printf("tuple_micro:");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        turn_shared_t *sh = turn_shared_new(0, 0, 0);
        turn_t *t = turn_new(&cfg, &ops, sh);
        setup(t, sizes[s]);
        double best = 1e9;
        for (int r = 0; r < runs; r++) {
            long found;
            double x = run(t, sizes[s], m, &found);
            if (found != m)
                fprintf(stderr, "%d allocations: %ld of %ld found\n", sizes[s], found, m);
            best = x < best ? x : best;
        }
        printf(" allocs_%d_ns=%.1f", sizes[s], best);
        turn_free(t);
        turn_shared_free(sh);
    }
    printf(" lookups_per_run=%ld runs=%d\n", m, runs);
    return 0;
}
