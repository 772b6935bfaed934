/* icehub - SPDX-License-Identifier: MIT
 *
 * fault_shim.c: an LD_PRELOAD library that makes sendmsg, sendmmsg and
 * accept4 fail at random, for tests/integration/test_faults.py: icehubd's
 * UDP replies and relayed datagrams leave through sendmsg/sendmmsg and its
 * TURN TCP/TLS listeners accept with accept4 (libwebsockets uses accept
 * and send, which are left alone, so the HTTP side stays reachable for the
 * test's checks).
 *
 *   ICEHUB_FAULT_RATE   probability of a failure per call, 0..1 (default 0)
 *   ICEHUB_FAULT_SEED   seed of the generator (default 1)
 *   ICEHUB_FAULT_COUNT  if set, a file the shim writes its counts to at exit
 *
 * A failed sendmsg returns -1 with ENOBUFS, EAGAIN or EPERM; a failed
 * sendmmsg sends a random prefix of the batch (or fails like sendmsg when
 * that prefix is empty); a failed accept4 returns -1 with EMFILE,
 * ECONNABORTED or ENOBUFS before touching the queue. Test code, not part of
 * icehubd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static double rate;
static atomic_uint_fast64_t state = 1;
static atomic_ulong n_send, n_mmsg, n_accept;

typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static void report(void)
{
    const char *path = getenv("ICEHUB_FAULT_COUNT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    fprintf(f, "sendmsg %lu\nsendmmsg %lu\naccept4 %lu\n", (unsigned long)n_send,
            (unsigned long)n_mmsg, (unsigned long)n_accept);
    fclose(f);
}

__attribute__((constructor)) static void shim_init(void)
{
    const char *r = getenv("ICEHUB_FAULT_RATE"), *s = getenv("ICEHUB_FAULT_SEED");
    rate = r ? atof(r) : 0;
    state = s ? strtoull(s, NULL, 10) | 1 : 1;
    atexit(report);
}

/* splitmix64 over a shared atomic counter: thread-safe and reproducible
 * in the order calls happen. */
static uint64_t next(void)
{
    uint64_t z = atomic_fetch_add(&state, 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int fail_now(void)
{
    return rate > 0 && (double)(next() >> 11) / 9007199254740992.0 < rate;
}

static int pick(const int *v, int n)
{
    return v[next() % (uint64_t)n];
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    static sendmsg_fn real;
    static const int errs[] = {ENOBUFS, EAGAIN, EPERM};
    if (!real)
        real = (sendmsg_fn)dlsym(RTLD_NEXT, "sendmsg");
    if (fail_now()) {
        n_send++;
        errno = pick(errs, 3);
        return -1;
    }
    return real(fd, m, flags);
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
    static sendmmsg_fn real;
    static const int errs[] = {ENOBUFS, EAGAIN, EPERM};
    if (!real)
        real = (sendmmsg_fn)dlsym(RTLD_NEXT, "sendmmsg");
    if (n && fail_now()) {
        n_mmsg++;
        unsigned k = (unsigned)(next() % n);
        if (k == 0) {
            errno = pick(errs, 3);
            return -1;
        }
        return real(fd, v, k, flags);
    }
    return real(fd, v, n, flags);
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
    static accept4_fn real;
    static const int errs[] = {EMFILE, ECONNABORTED, ENOBUFS};
    if (!real)
        real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    if (fail_now()) {
        n_accept++;
        errno = pick(errs, 3);
        return -1;
    }
    return real(fd, a, l, flags);
}
