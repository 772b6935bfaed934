/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_uring.c: one system call for the sends of many sockets. A TURN
 * server sends client data to peers from each allocation's own relay
 * socket, so interleaved clients cost one send call per datagram with
 * sendmmsg (it takes one socket). An io_uring (liburing) takes a sendmsg
 * for any socket per submission entry: a whole batch, whatever sockets it
 * spans, leaves in one io_uring_enter. The sockets stay ordinary bound
 * UDP sockets; the kernel does for each datagram what a sendmsg on it
 * would (route, DF, netfilter, counters), only the system call is shared.
 *
 * One ring per worker thread, made and used by that thread only; it holds
 * no state of any allocation (no registered files), so an allocation's
 * socket can be closed or handed to another process at any time.
 *
 * The contract the daemon needs: every send of a submission has completed
 * when ihd_uring_sendmsg returns, because the datagrams borrow the
 * worker's receive buffers. A send to a socket whose buffer is full must
 * therefore fail at once (EAGAIN, as sendmmsg with MSG_DONTWAIT does)
 * instead of waiting for room. Linux 6.0 and newer do that for MSG_DONTWAIT;
 * older kernels park the send and retry it later. ihd_uring_new checks this
 * with a full socket before the ring is used, and refuses a ring that
 * would park. Left out: receiving (recvmmsg already reads a batch from one
 * listener socket), stream sockets.
 */
#include "ihd.h"

#include <errno.h>
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cmn_log.h"

#define IHD_URING_ENTRIES 64    /* at least IHD_UDP_BATCH */

struct ihd_uring_s {
    struct io_uring ring;
};

/* Wait for <want> completions, at most <ms> milliseconds in all. Returns
 * how many were seen; their results go to res[user_data] when res. */
static unsigned reap(struct io_uring *r, unsigned want, int ms, int *res, unsigned nres)
{
    unsigned got = 0;
    while (got < want) {
        struct io_uring_cqe *cqe = NULL;
        int e = io_uring_peek_cqe(r, &cqe);
        if (e == -EAGAIN) {
            struct __kernel_timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
            e = io_uring_wait_cqe_timeout(r, &cqe, &ts);
            if (e < 0 && e != -EINTR)
                return got;
        }
        if (e < 0 || !cqe)
            continue;
        if (res && cqe->user_data < nres)
            res[cqe->user_data] = cqe->res;
        io_uring_cqe_seen(r, cqe);
        got++;
    }
    return got;
}

/* Does a MSG_DONTWAIT send to a full socket complete at once with EAGAIN?
 * Tried on a datagram socket pair whose sender is full. */
static bool sends_never_wait(struct io_uring *r, const char **why)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        *why = "no socket pair to check it with";
        return false;
    }
    int small = 1;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    char b[512] = {0};
    for (int i = 0; i < 4096 && send(sv[0], b, sizeof(b), MSG_DONTWAIT) > 0; i++)
        ;
    struct iovec iov = {b, sizeof(b)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    struct io_uring_sqe *sqe = io_uring_get_sqe(r);
    io_uring_prep_sendmsg(sqe, sv[0], &mh, MSG_DONTWAIT);
    sqe->user_data = 0;
    int res = 1;
    bool ok = false;
    if (io_uring_submit(r) != 1) {
        *why = "submitting a send failed";
    } else if (reap(r, 1, 0, &res, 1) == 1) {
        ok = res == -EAGAIN;
        if (!ok)
            *why = "a send to a full socket did not fail with EAGAIN";
    } else {
        /* Parked: closing the reader makes the send fail, so it ends. */
        *why = "this kernel parks sends to full sockets (Linux 6.0 or newer needed)";
        close(sv[1]);
        sv[1] = -1;
        (void)reap(r, 1, 1000, NULL, 0);
    }
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    return ok;
}

int ihd_uring_new(ihd_uring_t **out, const char **why)
{
    *out = NULL;
    ihd_uring_t *u = cmn_calloc(1, sizeof(*u));
    /* One thread submits, and nothing here needs completions from other
     * tasks' context: both flags cut the kernel's bookkeeping. Kernels
     * older than 6.0 do not know them; retry without. */
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
#ifdef IORING_SETUP_SINGLE_ISSUER
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
#endif
    int e = io_uring_queue_init_params(IHD_URING_ENTRIES, &u->ring, &p);
    if (e == -EINVAL && p.flags) {
        memset(&p, 0, sizeof(p));
        e = io_uring_queue_init_params(IHD_URING_ENTRIES, &u->ring, &p);
    }
    if (e < 0) {
        /* ENOSYS: no io_uring; EPERM: a seccomp filter (container
         * runtimes' defaults) or kernel.io_uring_disabled. */
        *why = e == -ENOSYS ? "the kernel has no io_uring"
               : e == -EPERM ? "io_uring is not permitted here (seccomp or kernel.io_uring_disabled)"
               : e == -ENOMEM ? "no memory for a ring (RLIMIT_MEMLOCK?)"
                              : "io_uring_setup failed";
        cmn_free(u);
        return CMN_EIO;
    }
    if (!sends_never_wait(&u->ring, why)) {
        io_uring_queue_exit(&u->ring);
        cmn_free(u);
        return CMN_EIO;
    }
    *out = u;
    return 0;
}

void ihd_uring_free(ihd_uring_t *u)
{
    if (!u)
        return;
    io_uring_queue_exit(&u->ring);
    cmn_free(u);
}

int ihd_uring_sendmsg(ihd_uring_t *u, const int *fds, struct msghdr *const *m, unsigned n,
                      int *res)
{
    if (n > IHD_URING_ENTRIES)
        return CMN_EINVAL;
    for (unsigned i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (!sqe)
            return CMN_EIO; /* cannot happen: the ring is empty between calls */
        io_uring_prep_sendmsg(sqe, fds[i], m[i], MSG_DONTWAIT);
        sqe->user_data = i;
        res[i] = -EIO;
    }
    int s;
    do
        s = io_uring_submit(&u->ring);
    while (s == -EINTR);
    if (s < 0 || (unsigned)s != n)
        return CMN_EIO;
    /* Every send completes inside the submission (checked at creation);
     * the timeout only guards against a kernel that breaks that. */
    if (reap(&u->ring, n, 1000, res, n) != n)
        return CMN_EIO;
    return 0;
}

/* ---- The worker's ring ------------------------------------------------- */

void ihd__uring_setup(ihd_worker_t *w)
{
    if (w->uring_tried || !w->cfg->s.turn.io_uring)
        return;
    w->uring_tried = true;
    const char *why = "";
    if (ihd_uring_new(&w->uring, &why) == 0) {
        IHD_INC(w->c.uring_active, 1);
        if (w->id == 0)
            cmn_info("turn", "io_uring: client data for many relay sockets leaves in one "
                             "system call");
    } else if (w->id == 0) {
        cmn_info("turn", "io_uring not used (%s): one sendmmsg per relay socket", why);
    }
}

void ihd__uring_failed(ihd_worker_t *w)
{
    cmn_warn("turn", "worker %u: io_uring submission failed; sending without it from now on",
             w->id);
    ihd_uring_free(w->uring);
    w->uring = NULL;
    IHD_DEC(w->c.uring_active, 1);
}
