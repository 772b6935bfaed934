/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_upgrade.c: the live upgrade. A running icehubd listens on
 * upgrade.socket (a Unix SOCK_SEQPACKET socket, mode 0600, only its own
 * user or root may talk to it). A new binary started with --upgrade
 * connects there and the two go through:
 *
 *   new -> old  HELLO     magic, protocol, turn/ state and hub versions, build
 *   old -> new  REFUSE    why (a version it cannot read, draining, busy): the
 *                         new process exits, the old one never noticed
 *            or ACCEPT    and then: it stops its HTTP side (the hub's rooms
 *                         are exported; WebSocket clients reconnect and
 *                         resume on the new process), parks its workers,
 *                         which encode their UDP allocations, flushes the
 *                         ledger, and sends
 *   old -> new  DATA...   the state (ihd_handover.c), in pieces
 *               FDS...    its sockets, SCM_RIGHTS, at most IHD_UPG_FDS each
 *               END       total length and number of sockets
 *   new -> old  READY     serving: workers run on the old sockets and
 *                         allocations, HTTP is up with the hub's rooms
 *            or FAIL      why: the old process takes everything back and
 *                         serves as before (so does a new one that dies)
 *   old -> new  COMMITTED the old process let go of what moved; it now
 *                         serves only its TCP/TLS connections and drains
 *                         (turn.drain_timeout), and the new one takes over
 *                         upgrade.socket
 *
 * Every step has a timeout, so a new process that hangs cannot hold the
 * old one's workers parked for long. Left out: what moves and how workers
 * give and take it (ihd_handover.c).
 */
#include "ihd.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/cmn_log.h"
#include "signal/sig.h"

#define IHD_UPG_MAGIC "icehub-upgrade"
#define IHD_UPG_PROTO 1
#define IHD_UPG_CHUNK (60 * 1024)   /* bytes of state per DATA message */
#define IHD_UPG_FDS 250             /* sockets per FDS message (SCM_MAX_FD is 253) */
#define IHD_UPG_STEP 10.0           /* s for a step of the other side */
#define IHD_UPG_START 15.0          /* s the new process may take to start (old workers parked) */
#define IHD_UPG_MAX_STATE (4ull << 30)

enum {
    UPG_HELLO = 1, UPG_REFUSE, UPG_ACCEPT, UPG_DATA, UPG_FDS, UPG_END, UPG_READY, UPG_FAIL,
    UPG_COMMITTED,
};

/* ---- Messages ------------------------------------------------------------- */

static int upg_send(int fd, uint8_t type, const void *data, size_t len, const int *fds,
                    size_t nfds)
{
    uint8_t head = type;
    struct iovec iov[2] = {{&head, 1}, {(void *)data, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(int) * IHD_UPG_FDS)];
    } ctrl;
    if (nfds) {
        memset(&ctrl, 0, sizeof(ctrl));
        mh.msg_control = ctrl.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)(1 + len) ? 0 : CMN_EIO;
}

/* One message within <timeout> s: its type, up to <cap> bytes of payload
 * (NUL-terminated when there is room), and the sockets that came with it
 * (appended to *fds). Returns the payload length, or CMN_EIO (closed,
 * timed out, truncated). */
static ssize_t upg_recv(int fd, uint8_t *type, uint8_t *buf, size_t cap, int **fds, size_t *nfds,
                        double timeout)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, (int)(timeout * 1000)) <= 0)
        return CMN_EIO;
    struct iovec iov[2] = {{type, 1}, {buf, cap}};
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(int) * IHD_UPG_FDS)];
    } ctrl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = ctrl.b,
                        .msg_controllen = sizeof(ctrl.b)};
    ssize_t n;
    do
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        *fds = cmn_realloc(*fds, (*nfds + k + 1) * sizeof(int));
        memcpy(*fds + *nfds, CMSG_DATA(cm), k * sizeof(int));
        *nfds += k;
    }
    if (n < 1 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        return CMN_EIO;
    if ((size_t)n - 1 < cap)
        buf[n - 1] = '\0';
    return n - 1;
}

static void upg_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = (time_t)IHD_UPG_STEP};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    /* A state of many allocations goes out in many messages: room for them. */
    int sz = 4 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* ---- The socket ------------------------------------------------------------ */

static socklen_t upg_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
    return (socklen_t)sizeof(*sa);
}

int ihd_upgrade_listen(ihd_server_t *srv, char *err, size_t errlen)
{
    const char *path = atomic_load(&srv->cfg)->s.upgrade.socket;
    if (!path[0])
        return 0;
    struct sockaddr_un sa;
    socklen_t sl = upg_addr(path, &sa);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    /* A file there is a running icehubd's, or a stale one of a process
     * that died: find out which before taking the name. */
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    bool alive = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sl) == 0;
    if (probe >= 0)
        close(probe);
    if (alive) {
        snprintf(err, errlen, "upgrade.socket: a running icehubd serves %s (start this one "
                              "with --upgrade to take over from it)", path);
        close(fd);
        return CMN_EIO;
    }
    (void)unlink(path);
    mode_t old = umask(0077);
    int rc = bind(fd, (struct sockaddr *)&sa, sl);
    umask(old);
    if (rc < 0 || listen(fd, 4) < 0)
        goto fail;
    srv->upgrade_fd = fd;
    cmn_info("upgrade", "live upgrades on %s", path);
    return 0;
fail:
    snprintf(err, errlen, "upgrade.socket: %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return CMN_EIO;
}

void ihd_upgrade_close(ihd_server_t *srv)
{
    if (srv->upgrade_fd < 0)
        return;
    close(srv->upgrade_fd);
    srv->upgrade_fd = -1;
    /* After a handover the name is the new process's. */
    if (!srv->handed_over)
        (void)unlink(atomic_load(&srv->cfg)->s.upgrade.socket);
}

/* ---- HELLO ----------------------------------------------------------------- */

#define HELLO_FIXED (sizeof(IHD_UPG_MAGIC) + 12)

static size_t hello_make(uint8_t *out, size_t cap)
{
    size_t n = sizeof(IHD_UPG_MAGIC);
    memcpy(out, IHD_UPG_MAGIC, n);
    cmn_put_u32be(out + n, IHD_UPG_PROTO);
    cmn_put_u32be(out + n + 4, TURN_STATE_VERSION);
    cmn_put_u32be(out + n + 8, SIG_STATE_VERSION);
    n += 12;
    int w = snprintf((char *)out + n, cap - n, "%s", ICEHUB_VERSION);
    return n + (size_t)CMN_MAX(w, 0);
}

/* NULL when the other side speaks our formats, else why not. */
static const char *hello_check(const uint8_t *b, size_t n, char *why, size_t cap)
{
    size_t m = sizeof(IHD_UPG_MAGIC);
    if (n < HELLO_FIXED || memcmp(b, IHD_UPG_MAGIC, m) != 0)
        return "not an icehubd upgrade request";
    uint32_t proto = cmn_get_u32be(b + m), tv = cmn_get_u32be(b + m + 4),
             sv = cmn_get_u32be(b + m + 8);
    const char *ver = n > HELLO_FIXED ? (const char *)b + HELLO_FIXED : "?";
    if (proto != IHD_UPG_PROTO || tv != TURN_STATE_VERSION || sv != SIG_STATE_VERSION) {
        snprintf(why, cap, "incompatible versions: icehubd %.32s speaks upgrade protocol %u, "
                           "TURN state %u and hub state %u; this icehubd %s speaks %u, %u and %u "
                           "(restart instead, or drain first)",
                 ver, proto, tv, sv, ICEHUB_VERSION, IHD_UPG_PROTO, TURN_STATE_VERSION,
                 SIG_STATE_VERSION);
        return why;
    }
    return NULL;
}

/* ---- The old process ------------------------------------------------------- */

static int send_state(int c, const ihd_handover_t *h)
{
    uint8_t *buf;
    size_t len, nfds;
    int *fds;
    ihd_handover_encode(h, &buf, &len, &fds, &nfds);
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len; off += IHD_UPG_CHUNK)
        rc = upg_send(c, UPG_DATA, buf + off, CMN_MIN((size_t)IHD_UPG_CHUNK, len - off), NULL, 0);
    for (size_t off = 0; rc == 0 && off < nfds; off += IHD_UPG_FDS)
        rc = upg_send(c, UPG_FDS, NULL, 0, fds + off, CMN_MIN((size_t)IHD_UPG_FDS, nfds - off));
    uint8_t end[12];
    cmn_put_u64be(end, len);
    cmn_put_u32be(end + 8, (uint32_t)nfds);
    if (rc == 0)
        rc = upg_send(c, UPG_END, end, sizeof(end), NULL, 0);
    cmn_free(buf);
    cmn_free(fds);
    return rc;
}

static size_t count_allocs(const ihd_handover_t *h)
{
    size_t n = 0;
    for (unsigned i = 0; i < h->nworkers; i++)
        n += h->wk[i].nallocs;
    return n;
}

/* The new process is up: let go, and serve what is left until it ends. */
static void commit(ihd_server_t *srv, int c, const ihd_handover_t *h, pid_t pid)
{
    ihd_handover_release(srv, true);
    ihd_reserv_free_all(srv); /* the new process has its own copies */
    srv->handed_over = true;
    ihd_cluster_handoff(srv);
    ihd_upgrade_close(srv);
    (void)upg_send(c, UPG_COMMITTED, NULL, 0, NULL, 0);
    ihd_usage_yield(srv);
    IHD_INC(srv->upgrade_results[IHD_UPG_COMMITTED], 1);
    cmn_info("upgrade", "handed %zu UDP allocation(s) on %u worker(s) and the listening sockets "
                        "to pid %d (UDP paused %.1f ms); serving the %ld TCP/TLS connection(s) "
                        "left until they end or turn.drain_timeout",
             count_allocs(h), h->nworkers, (int)pid, (ihd_now() - h->paused_at) * 1000.0,
             atomic_load(&srv->tcp_conns));
    ihd_drain_start(srv, IHD_DRAIN_UPGRADE);
}

/* Take everything back: workers, and the HTTP side with its rooms. */
static void undo(ihd_server_t *srv, char *hub, size_t hub_len, const char *why)
{
    ihd_handover_release(srv, false);
    srv->hub_state = hub;
    srv->hub_state_len = hub_len;
    char err[512];
    const ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    if ((cfg->s.http.enabled || cfg->s.metrics.listen.n) && ihd_http_start(srv, err, sizeof(err)) < 0)
        cmn_err("upgrade", "cannot restart HTTP: %s", err);
    IHD_INC(srv->upgrade_results[IHD_UPG_FAILED], 1);
    cmn_err("upgrade", "the upgrade failed: %s; this process keeps serving", why);
}

static void hand_over(ihd_server_t *srv, int c, pid_t pid)
{
    ihd_handover_t h;
    memset(&h, 0, sizeof(h));
    size_t hub_len = 0;
    double t0 = ihd_now();
    char *hub = ihd_http_handover(srv, &hub_len);
    double t1 = ihd_now();
    char why[256] = "";
    if (ihd_handover_collect(srv, &h, 5.0) < 0) {
        ihd_handover_free(&h, false);
        undo(srv, hub, hub_len, "a worker did not park within 5 s");
        return;
    }
    double t2 = ihd_now();
    if (ihd_usage_flush(srv) < 0)
        cmn_warn("upgrade", "the ledger could not be flushed; the new process's usage table "
                            "may miss its last records");
    double t3 = ihd_now();
    memcpy(h.nonce_key, srv->nonce_key, sizeof(h.nonce_key));
    snprintf(h.auto_secret, sizeof(h.auto_secret), "%s", srv->auto_secret);
    snprintf(h.token_key, sizeof(h.token_key), "%s", srv->token_key);
    h.last_id = turn_alloc_last_id();
    ihd_reserv_export(srv, &h);
    h.hub = hub;
    h.hub_len = hub_len;
    int rc = send_state(c, &h);
    h.hub = NULL; /* still ours, for undo */
    cmn_debug("upgrade", "HTTP stopped in %.1f ms, workers parked in %.1f ms, ledger flushed in "
                         "%.1f ms, state sent in %.1f ms",
              (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (ihd_now() - t3) * 1e3);
    uint8_t type = 0;
    int *fds = NULL;
    size_t nfds = 0;
    ssize_t n = rc < 0 ? CMN_EIO
                       : upg_recv(c, &type, (uint8_t *)why, sizeof(why) - 1, &fds, &nfds,
                                  IHD_UPG_START);
    close_all(fds, nfds);
    cmn_free(fds);
    if (n >= 0 && type == UPG_READY) {
        commit(srv, c, &h, pid);
        cmn_free(hub);
    } else {
        if (n < 0 || type != UPG_FAIL)
            snprintf(why, sizeof(why), "the new process went away or did not answer");
        undo(srv, hub, hub_len, why);
    }
    ihd_handover_free(&h, false);
}

void ihd_upgrade_serve(ihd_server_t *srv)
{
    int c = accept4(srv->upgrade_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    upg_timeouts(c);
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
        (cr.uid != geteuid() && cr.uid != 0)) {
        cmn_warn("upgrade", "refused a connection to upgrade.socket from another user");
        close(c);
        return;
    }
    uint8_t buf[256], type = 0;
    int *fds = NULL;
    size_t nfds = 0;
    char tmp[512];
    ssize_t n = upg_recv(c, &type, buf, sizeof(buf) - 1, &fds, &nfds, IHD_UPG_STEP);
    close_all(fds, nfds);
    cmn_free(fds);
    const char *why = n < 0 || type != UPG_HELLO ? "no HELLO"
                                                : hello_check(buf, (size_t)n, tmp, sizeof(tmp));
    if (!why && atomic_load(&srv->draining))
        why = "this icehubd is draining";
    if (!why && !srv->nworkers)
        why = "this icehubd runs no TURN workers (turn.enabled is false): restart instead";
    if (why) {
        (void)upg_send(c, UPG_REFUSE, why, strlen(why), NULL, 0);
        IHD_INC(srv->upgrade_results[IHD_UPG_REFUSED], 1);
        cmn_warn("upgrade", "refused an upgrade from pid %d: %s", (int)cr.pid, why);
        close(c);
        return;
    }
    cmn_info("upgrade", "pid %d takes over (icehubd %s)", (int)cr.pid,
             (const char *)buf + HELLO_FIXED);
    if (upg_send(c, UPG_ACCEPT, NULL, 0, NULL, 0) == 0)
        hand_over(srv, c, cr.pid);
    close(c);
}

/* ---- The new process -------------------------------------------------------- */

/* DATA, FDS and END into the state and its sockets. */
static int receive_state(int c, uint8_t **state, size_t *len, int **fds, size_t *nfds,
                         char *err, size_t errlen)
{
    size_t cap = 0;
    uint8_t *chunk = cmn_malloc(IHD_UPG_CHUNK + 1);
    int rc = CMN_EIO;
    for (;;) {
        uint8_t type = 0;
        ssize_t n = upg_recv(c, &type, chunk, IHD_UPG_CHUNK + 1, fds, nfds, IHD_UPG_STEP);
        if (n < 0) {
            snprintf(err, errlen, "the running icehubd stopped sending its state");
            break;
        }
        if (type == UPG_DATA && *len + (size_t)n <= IHD_UPG_MAX_STATE) {
            if (*len + (size_t)n > cap) {
                cap = CMN_MAX(2 * cap, *len + (size_t)n);
                *state = cmn_realloc(*state, cap);
            }
            memcpy(*state + *len, chunk, (size_t)n);
            *len += (size_t)n;
        } else if (type == UPG_END && n == 12 && cmn_get_u64be(chunk) == *len &&
                   cmn_get_u32be(chunk + 8) == *nfds) {
            rc = 0;
            break;
        } else if (type != UPG_FDS || n != 0) {
            snprintf(err, errlen, "the running icehubd sent an unexpected message (%u)", type);
            break;
        }
    }
    cmn_free(chunk);
    return rc;
}

/* The old process's secrets replace this one's: nonces, credentials and
 * room tokens it handed out stay valid. */
static void take_secrets(ihd_server_t *srv, const ihd_handover_t *h)
{
    memcpy(srv->nonce_key, h->nonce_key, sizeof(srv->nonce_key));
    snprintf(srv->auto_secret, sizeof(srv->auto_secret), "%s", h->auto_secret);
    snprintf(srv->token_key, sizeof(srv->token_key), "%s", h->token_key);
    ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    memcpy(cfg->turn.nonce_key, h->nonce_key, sizeof(cfg->turn.nonce_key));
}

int ihd_upgrade_take(ihd_server_t *srv, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    socklen_t sl = upg_addr(path, &sa);
    int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&sa, sl) < 0) {
        snprintf(err, errlen, "--upgrade: no icehubd to take over at upgrade.socket %s: %s", path,
                 strerror(errno));
        if (c >= 0)
            close(c);
        return CMN_EIO;
    }
    upg_timeouts(c);
    uint8_t hello[128], type = 0, reply[512];
    int *fds = NULL;
    size_t nfds = 0, len = 0;
    uint8_t *state = NULL;
    int rc = upg_send(c, UPG_HELLO, hello, hello_make(hello, sizeof(hello)), NULL, 0);
    ssize_t n = rc < 0 ? CMN_EIO
                       : upg_recv(c, &type, reply, sizeof(reply) - 1, &fds, &nfds, IHD_UPG_STEP);
    if (n < 0 || (type != UPG_ACCEPT && type != UPG_REFUSE)) {
        snprintf(err, errlen, "--upgrade: the icehubd at %s did not answer", path);
        rc = CMN_EIO;
    } else if (type == UPG_REFUSE) {
        snprintf(err, errlen, "--upgrade: the running icehubd refused: %s", (char *)reply);
        rc = CMN_EINVAL;
    } else if ((rc = receive_state(c, &state, &len, &fds, &nfds, err, errlen)) == 0) {
        srv->handover = cmn_calloc(1, sizeof(*srv->handover));
        rc = ihd_handover_decode(state, len, fds, nfds, srv->handover, err, errlen);
        nfds = 0; /* decode took (or closed) them all */
        if (rc < 0) {
            cmn_free(srv->handover);
            srv->handover = NULL;
            (void)upg_send(c, UPG_FAIL, err, strlen(err), NULL, 0);
        }
    }
    close_all(fds, nfds);
    cmn_free(fds);
    cmn_free(state);
    if (rc < 0) {
        close(c);
        return rc;
    }
    take_secrets(srv, srv->handover);
    srv->upgrade_conn = c;
    return 0;
}

int ihd_upgrade_finish(ihd_server_t *srv, bool ok, const char *why)
{
    int c = srv->upgrade_conn;
    srv->upgrade_conn = -1;
    if (c < 0)
        return 0;
    if (!ok) {
        (void)upg_send(c, UPG_FAIL, why, strlen(why), NULL, 0);
        close(c);
        return 0;
    }
    int rc = upg_send(c, UPG_READY, NULL, 0, NULL, 0);
    uint8_t type = 0, buf[64];
    int *fds = NULL;
    size_t nfds = 0;
    ssize_t n = rc < 0 ? CMN_EIO : upg_recv(c, &type, buf, sizeof(buf), &fds, &nfds,
                                            IHD_UPG_STEP);
    close_all(fds, nfds);
    cmn_free(fds);
    close(c);
    /* COMMITTED, or the old process died after READY: the sockets are ours
     * alone either way. Only a live refusal would be a reason to stop, and
     * it never sends one after READY. */
    if (rc < 0 || (n >= 0 && type != UPG_COMMITTED)) {
        cmn_err("upgrade", "the running icehubd did not let go");
        return CMN_EIO;
    }
    char err[512];
    if (ihd_upgrade_listen(srv, err, sizeof(err)) < 0)
        cmn_err("upgrade", "%s (no further live upgrade into this process)", err);
    return 0;
}
