/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_udp.c: the one way datagrams leave a worker. A batch of datagrams
 * goes out in one sendmmsg; within it, a run of consecutive datagrams to
 * the same address with the same size (the last of a run may be shorter)
 * leaves as a single UDP GSO send (UDP_SEGMENT, Linux 4.18+): the kernel
 * walks the socket, routing and netfilter layers once for the whole run
 * and cuts the segments late. A video frame relayed to one client is such
 * a run. The payloads are gathered with iovecs, never copied.
 *
 * If the kernel refuses GSO (EIO, EINVAL, EOPNOTSUPP on the first use),
 * the worker turns it off and sends datagram by datagram from then on.
 *
 * Datagrams of many sockets (client data leaving through the relay sockets
 * of many allocations) go out through ihd_udp_send_many: grouped by
 * socket, in their order, so that each socket's run can be one GSO send,
 * then all in one io_uring submission (ihd_uring.c) when the worker has a
 * ring, else one sendmmsg per socket.
 */
#include "ihd.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#define IHD_GSO_MAX_SEGS 64      /* UDP_MAX_SEGMENTS in the kernel */
#define IHD_GSO_MAX_BYTES 65000  /* one GSO send stays under 64 KiB of payload */
#define IHD_CTRL_SPACE 64

static bool same_dest(const ihd_dgram_t *a, const ihd_dgram_t *b)
{
    return a->fd == b->fd && a->tolen == b->tolen && !memcmp(a->to, b->to, a->tolen) &&
           ((!a->from && !b->from) || (a->from && b->from && cmn_addr_ip_equal(a->from, b->from)));
}

/* How many datagrams from d[0] can share one GSO send. */
static unsigned run_length(const ihd_dgram_t *d, unsigned n)
{
    size_t seg = d[0].len, total = seg;
    unsigned k = 1;
    while (k < n && k < IHD_GSO_MAX_SEGS && same_dest(&d[0], &d[k]) && d[k].len <= seg &&
           total + d[k].len <= IHD_GSO_MAX_BYTES) {
        total += d[k].len;
        k++;
        if (d[k - 1].len < seg)
            break; /* only the last segment may be shorter */
    }
    return k;
}

/* An IP_PKTINFO / IPV6_PKTINFO control message asking the kernel to send
 * from <local> (on a socket bound to a wildcard address), into <ctrl>;
 * sets *len. */
static void put_pktinfo(uint8_t *ctrl, const cmn_addr_t *local, size_t *len)
{
    memset(ctrl, 0, IHD_CTRL_SPACE);
    struct msghdr mh = {.msg_control = ctrl, .msg_controllen = IHD_CTRL_SPACE};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    if (local->family == CMN_AF_INET) {
        struct in_pktinfo pi;
        memset(&pi, 0, sizeof(pi));
        memcpy(&pi.ipi_spec_dst, local->ip, 4);
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        *len = CMSG_SPACE(sizeof(pi));
        return;
    }
    struct in6_pktinfo pi6;
    memset(&pi6, 0, sizeof(pi6));
    memcpy(&pi6.ipi6_addr, local->ip, 16);
    cm->cmsg_level = IPPROTO_IPV6;
    cm->cmsg_type = IPV6_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(pi6));
    memcpy(CMSG_DATA(cm), &pi6, sizeof(pi6));
    *len = CMSG_SPACE(sizeof(pi6));
}

static socklen_t put_cmsgs(uint8_t *ctrl, const cmn_addr_t *from, uint16_t gso_size)
{
    size_t len = 0;
    if (from)
        put_pktinfo(ctrl, from, &len);
    if (!gso_size)
        return (socklen_t)len;
    if (!len)
        memset(ctrl, 0, IHD_CTRL_SPACE);
    struct cmsghdr *cm = (struct cmsghdr *)(ctrl + len);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(cm), &gso_size, sizeof(gso_size));
    return (socklen_t)(len + CMSG_SPACE(sizeof(uint16_t)));
}

/* The messages of one send: a batch cut into runs (one message each) with
 * their iovecs and control data. */
typedef struct udp_msgs_s {
    struct mmsghdr m[IHD_UDP_BATCH];
    struct iovec iov[IHD_UDP_BATCH];
    uint8_t ctrl[IHD_UDP_BATCH][IHD_CTRL_SPACE];
    unsigned segs[IHD_UDP_BATCH];   /* datagrams in each message */
    unsigned first[IHD_UDP_BATCH];  /* index in d[] of each message's first datagram */
    unsigned nm;
} udp_msgs_t;

/* Cut d[0..n) into messages: with <gso>, a run to one destination (and one
 * socket) with one size becomes one message. */
static void udp_prepare(udp_msgs_t *u, const ihd_dgram_t *d, unsigned n, bool gso)
{
    u->nm = 0;
    for (unsigned i = 0; i < n && i < IHD_UDP_BATCH;) {
        unsigned k = gso ? run_length(&d[i], n - i) : 1;
        for (unsigned j = 0; j < k; j++)
            u->iov[i + j] = (struct iovec){(void *)d[i + j].data, d[i + j].len};
        unsigned nm = u->nm++;
        u->m[nm].msg_hdr = (struct msghdr){
            .msg_name = (void *)d[i].to, .msg_namelen = d[i].tolen,
            .msg_iov = &u->iov[i], .msg_iovlen = k,
        };
        socklen_t cl = put_cmsgs(u->ctrl[nm], d[i].from, k > 1 ? (uint16_t)d[i].len : 0);
        if (cl) {
            u->m[nm].msg_hdr.msg_control = u->ctrl[nm];
            u->m[nm].msg_hdr.msg_controllen = cl;
        }
        u->segs[nm] = k;
        u->first[nm] = i;
        i += k;
    }
}

static unsigned udp_send(ihd_worker_t *w, int fd, const ihd_dgram_t *d, unsigned n,
                         ihd_udp_stats_t *st, bool gso);

/* Message <j> of <u> went out (<ok>) or failed with <err>. Returns the
 * datagrams it took (a failed GSO run is sent again one by one). */
static unsigned udp_result(ihd_worker_t *w, int fd, const udp_msgs_t *u, unsigned j,
                           const ihd_dgram_t *d, bool ok, int err, ihd_udp_stats_t *st)
{
    if (ok) {
        if (u->segs[j] > 1) {
            IHD_INC(w->c.gso_sends, 1);
            IHD_INC(w->c.gso_segments, u->segs[j]);
        }
        for (size_t v = 0; v < u->m[j].msg_hdr.msg_iovlen; v++)
            st->bytes += u->m[j].msg_hdr.msg_iov[v].iov_len;
        return u->segs[j];
    }
    if (u->segs[j] > 1) {
        /* A run failed as a whole. If the kernel has no GSO here, stop
         * using it. Either way resend the run one by one, so one datagram
         * the kernel refuses (EMSGSIZE with DF, say) does not take the
         * others with it. */
        if (err == EIO || err == EINVAL || err == EOPNOTSUPP)
            w->gso_off = true;
        return udp_send(w, fd, d + u->first[j], u->segs[j], st, false);
    }
    st->errors += 1; /* full buffer or an ICMP error: drop, go on */
    return 0;
}

static unsigned udp_send(ihd_worker_t *w, int fd, const ihd_dgram_t *d, unsigned n,
                         ihd_udp_stats_t *st, bool gso)
{
    udp_msgs_t u;
    unsigned taken = 0;
    udp_prepare(&u, d, n, gso);
    for (unsigned sent = 0; sent < u.nm;) {
        int r = sendmmsg(fd, u.m + sent, u.nm - sent, MSG_DONTWAIT);
        if (r > 0) {
            for (unsigned j = sent; j < sent + (unsigned)r; j++)
                taken += udp_result(w, fd, &u, j, d, true, 0, st);
            sent += (unsigned)r;
            continue;
        }
        if (errno == EINTR)
            continue;
        taken += udp_result(w, fd, &u, sent, d, false, errno, st);
        sent++;
    }
    return taken;
}

static bool gso_on(const ihd_worker_t *w)
{
    return !w->gso_off && w->cfg->s.turn.gso;
}

unsigned ihd_udp_send(ihd_worker_t *w, int fd, const ihd_dgram_t *d, unsigned n,
                      ihd_udp_stats_t *st)
{
    unsigned taken = udp_send(w, fd, d, n, st, gso_on(w));
    st->packets += taken;
    return taken;
}

/* d[0..n) reordered so that each socket's datagrams are adjacent, in
 * their order; sockets in order of first appearance. Returns <tmp>. */
static const ihd_dgram_t *group_by_fd(const ihd_dgram_t *d, unsigned n, ihd_dgram_t *tmp)
{
    bool done[IHD_UDP_BATCH] = {false};
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (done[i])
            continue;
        for (unsigned j = i; j < n; j++) {
            if (!done[j] && d[j].fd == d[i].fd) {
                tmp[k++] = d[j];
                done[j] = true;
            }
        }
    }
    return tmp;
}

/* Every message of <u> in one io_uring submission. Returns the datagrams
 * taken, or -1 if the ring failed (nothing is resent: a datagram of a
 * failed submission may have left). */
static long uring_send(ihd_worker_t *w, const udp_msgs_t *u, const ihd_dgram_t *d,
                       ihd_udp_stats_t *st)
{
    int fds[IHD_UDP_BATCH], res[IHD_UDP_BATCH];
    struct msghdr *mh[IHD_UDP_BATCH];
    for (unsigned j = 0; j < u->nm; j++) {
        fds[j] = d[u->first[j]].fd;
        mh[j] = (struct msghdr *)&u->m[j].msg_hdr;
    }
    if (ihd_uring_sendmsg(w->uring, fds, mh, u->nm, res) < 0)
        return -1;
    IHD_INC(w->c.uring_submits, 1);
    IHD_INC(w->c.uring_sends, u->nm);
    long taken = 0;
    for (unsigned j = 0; j < u->nm; j++)
        taken += udp_result(w, fds[j], u, j, d, res[j] >= 0, -res[j], st);
    return taken;
}

unsigned ihd_udp_send_many(ihd_worker_t *w, const ihd_dgram_t *d, unsigned n,
                           ihd_udp_stats_t *st)
{
    ihd_dgram_t tmp[IHD_UDP_BATCH];
    if (n > IHD_UDP_BATCH)
        n = IHD_UDP_BATCH;
    if (!n)
        return 0;
    d = group_by_fd(d, n, tmp);
    unsigned taken = 0;
    /* One socket only (a quiet moment, a run of one client): a sendmmsg is
     * one system call too, and cheaper than a ring's round trip. */
    if (w->uring && w->cfg->s.turn.io_uring && d[0].fd != d[n - 1].fd) {
        udp_msgs_t u;
        udp_prepare(&u, d, n, gso_on(w));
        long t = uring_send(w, &u, d, st);
        if (t >= 0) {
            st->packets += (unsigned long)t;
            return (unsigned)t;
        }
        /* The ring broke: this batch is lost, the worker sends without. */
        ihd__uring_failed(w);
        st->errors += n;
        return 0;
    }
    for (unsigned i = 0; i < n;) {
        unsigned k = 1;
        while (i + k < n && d[i + k].fd == d[i].fd)
            k++;
        taken += udp_send(w, d[i].fd, d + i, k, st, gso_on(w));
        i += k;
    }
    st->packets += taken;
    return taken;
}
