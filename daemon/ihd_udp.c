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
    return a->tolen == b->tolen && !memcmp(a->to, b->to, a->tolen) &&
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

static unsigned udp_send(ihd_worker_t *w, int fd, const ihd_dgram_t *d, unsigned n,
                         ihd_udp_stats_t *st, bool gso)
{
    struct mmsghdr m[IHD_UDP_BATCH];
    struct iovec iov[IHD_UDP_BATCH];
    uint8_t ctrl[IHD_UDP_BATCH][IHD_CTRL_SPACE];
    unsigned segs[IHD_UDP_BATCH];
    unsigned nm = 0, taken = 0;
    for (unsigned i = 0; i < n && i < IHD_UDP_BATCH;) {
        unsigned k = gso ? run_length(&d[i], n - i) : 1;
        for (unsigned j = 0; j < k; j++)
            iov[i + j] = (struct iovec){(void *)d[i + j].data, d[i + j].len};
        m[nm].msg_hdr = (struct msghdr){
            .msg_name = (void *)d[i].to, .msg_namelen = d[i].tolen,
            .msg_iov = &iov[i], .msg_iovlen = k,
        };
        socklen_t cl = put_cmsgs(ctrl[nm], d[i].from, k > 1 ? (uint16_t)d[i].len : 0);
        if (cl) {
            m[nm].msg_hdr.msg_control = ctrl[nm];
            m[nm].msg_hdr.msg_controllen = cl;
        }
        segs[nm++] = k;
        i += k;
    }
    for (unsigned sent = 0; sent < nm;) {
        int r = sendmmsg(fd, m + sent, nm - sent, MSG_DONTWAIT);
        if (r > 0) {
            for (unsigned j = sent; j < sent + (unsigned)r; j++) {
                taken += segs[j];
                if (segs[j] > 1) {
                    IHD_INC(w->c.gso_sends, 1);
                    IHD_INC(w->c.gso_segments, segs[j]);
                }
                for (size_t v = 0; v < m[j].msg_hdr.msg_iovlen; v++)
                    st->bytes += m[j].msg_hdr.msg_iov[v].iov_len;
            }
            sent += (unsigned)r;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (segs[sent] > 1) {
            /* A run failed as a whole. If the kernel has no GSO here, stop
             * using it. Either way resend the run one by one, so one
             * datagram the kernel refuses (EMSGSIZE with DF, say) does not
             * take the others with it. */
            if (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)
                w->gso_off = true;
            unsigned first = 0;
            for (unsigned j = 0; j < sent; j++)
                first += segs[j];
            taken += udp_send(w, fd, d + first, segs[sent], st, false);
        } else {
            st->errors += segs[sent]; /* full buffer or an ICMP error: drop, go on */
        }
        sent++;
    }
    return taken;
}

unsigned ihd_udp_send(ihd_worker_t *w, int fd, const ihd_dgram_t *d, unsigned n,
                      ihd_udp_stats_t *st)
{
    unsigned taken = udp_send(w, fd, d, n, st, !w->gso_off && w->cfg->s.turn.gso);
    st->packets += taken;
    return taken;
}
