/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd.h: internals of the icehubd daemon: the server object that wires the
 * services together, the per-thread workers of the UDP/TCP/TLS fast path,
 * their counters, and the control-plane HTTP thread. Nothing outside
 * daemon/ includes this header.
 */
#ifndef IHD_H
#define IHD_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acct/acct.h"
#include "common/cmn.h"
#include "common/cmn_addr.h"
#include "common/cmn_sockaddr.h"
#include "common/cmn_config.h"
#include "stun/stun.h"
#include "turn/turn.h"

#include "ihd_clock.h"
#include "ihd_parse.h"

#define IHD_MAX_WORKERS 256
#define IHD_MAX_LISTEN 16            /* addresses per listen setting */
#define IHD_UDP_BATCH 32             /* datagrams per recvmmsg/sendmmsg */
#define IHD_UDP_MAX 2048             /* largest datagram handled (bigger are truncated and dropped) */
#define IHD_TCP_WBUF_MAX (256 * 1024) /* a slower reader than this is disconnected */

/* Why a packet or connection was dropped, beyond the decoder's reasons.
 * Indices into ihd_counters_t.invalid after STUN_DERR_COUNT. */
typedef enum ihd_drop_e {
    IHD_DROP_UNKNOWN_FRAME = STUN_DERR_COUNT, /* neither STUN nor ChannelData */
    IHD_DROP_UNEXPECTED_CLASS,  /* a response or error sent to the server */
    IHD_DROP_UNSUPPORTED_METHOD, /* a method this build does not serve */
    IHD_DROP_CHANNEL_DATA,      /* ChannelData with no TURN service */
    IHD_DROP_OVERSIZE,          /* datagram larger than IHD_UDP_MAX */
    IHD_DROP_TCP_FRAMING,       /* stream bytes that cannot start a frame */
    IHD_DROP_COUNT
} ihd_drop_t;

const char *ihd_drop_name(unsigned reason);

/* Why a stream connection was closed (ihd_tcp.c). */
enum { IHD_CLOSE_ERROR = 0, IHD_CLOSE_PEER, IHD_CLOSE_SLOW };

/* Per-worker counters. Written only by their worker thread, read by the
 * metrics thread: each update is a relaxed atomic load+store (no lock
 * prefix on the hot path), each read a relaxed load, and readers sum the
 * workers. */
typedef struct ihd_counters_s {
    uint64_t rx_packets[TURN_TR_COUNT];
    uint64_t rx_bytes[TURN_TR_COUNT];
    uint64_t tx_packets[TURN_TR_COUNT];
    uint64_t tx_bytes[TURN_TR_COUNT];
    uint64_t tx_errors[TURN_TR_COUNT];
    uint64_t binding_requests[TURN_TR_COUNT];
    uint64_t binding_success;
    uint64_t binding_error;       /* 420s */
    uint64_t invalid[IHD_DROP_COUNT];
    uint64_t tcp_accepted[TURN_TR_COUNT];
    uint64_t tcp_writes[TURN_TR_COUNT]; /* send calls to stream clients */
    uint64_t tcp_closed_idle;
    uint64_t tcp_closed_error;    /* garbage that cannot be a frame, TLS errors */
    uint64_t tcp_closed_peer;     /* the client closed or reset it */
    uint64_t tcp_closed_slow;     /* the client read slower than IHD_TCP_WBUF_MAX allows */
    uint64_t tcp_rejected_limit;
    uint64_t tcp_rejected_fd;     /* accepted and closed at once: no descriptor to spare */
    uint64_t tcp_closed_slow_frame; /* no allocation, frame not whole within the idle timeout */
    uint64_t tls_handshake_failed;
    uint64_t tls_handshake_timeout; /* not done turn.tls_handshake_timeout after accept */
    uint64_t tcp_open;            /* gauge: open connections on this worker */
    uint64_t relay_rx_packets;    /* datagrams from peers on relay sockets */
    uint64_t relay_rx_dropped;    /* of those, dropped (no permission, ended, too big) */
    uint64_t relay_tx_errors;     /* datagrams to peers the kernel refused */
    uint64_t turn_requests;       /* TURN requests and indications handled */
    uint64_t gso_sends;           /* UDP GSO sends (runs of two or more datagrams) */
    uint64_t gso_segments;        /* datagrams that left in them */
    uint64_t uring_submits;       /* io_uring submissions of sends to peers */
    uint64_t uring_sends;         /* send operations (messages) they carried */
    uint64_t uring_active;        /* gauge: 1 while this worker sends through its ring */
    uint64_t turn_drop[TURN_DROP_COUNT]; /* by turn_drop_t */
} ihd_counters_t;

#define IHD_INC(field, n) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define IHD_DEC(field, n) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) - (n), __ATOMIC_RELAXED)
#define IHD_READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* A settings snapshot. Immutable once published; a reload publishes a new
 * one and frees the old after every worker has moved past it. */
typedef struct ihd_cfg_s {
    cmn_settings_t s;
    uint64_t gen;
    stun_binding_cfg_t binding;
    turn_cfg_t turn;            /* borrows from s and the arrays below */
    turn_user_t *users;         /* owned: split "name:password" */
    cmn_addr_t *own_addrs;      /* owned: listen, relay and interface addresses */
    cmn_addr_t *ext_pub, *ext_priv; /* owned: turn.external_ip split */
    turn_quota_rule_t *quota_rules; /* owned, patterns too: quota.users split */
    const char *auto_secret;    /* borrowed (the server's): accepted when turn.secrets is empty */
    char *auto_secrets[1];      /* turn.secrets stand-in pointing at auto_secret */
    /* Owned reference: the SSL_CTX of tls.cert/tls.key as this snapshot
     * read them (NULL without TLS). New TLS connections take the current
     * snapshot's; an SSL holds its own reference, so connections that
     * started with an older one keep it after a reload frees the snapshot. */
    void *tls_ctx;
} ihd_cfg_t;

/* How a live upgrade asked of this process ended (a metric label each). */
typedef enum ihd_upg_result_e {
    IHD_UPG_COMMITTED = 0,      /* the new process took over */
    IHD_UPG_REFUSED,            /* incompatible, draining, not a TURN server */
    IHD_UPG_FAILED,             /* begun, then taken back */
    IHD_UPG_RESULTS
} ihd_upg_result_t;

/* Why the process drains (ihd_drain.c). */
typedef enum ihd_drain_reason_e {
    IHD_DRAIN_NONE = 0,
    IHD_DRAIN_SIGNAL,           /* SIGTERM */
    IHD_DRAIN_API,              /* POST /api/drain */
    IHD_DRAIN_UPGRADE,          /* a live upgrade took the UDP side over */
} ihd_drain_reason_t;

/* The drain state as any thread reads it (ihd_drain_state). */
typedef struct ihd_drain_info_s {
    bool active;
    ihd_drain_reason_t reason;
    double since;               /* monotonic seconds the drain began */
    double since_wall;          /* the same, Unix seconds */
    double deadline_wall;       /* since_wall + turn.drain_timeout (as now configured) */
    uint64_t allocations;       /* live allocations (all workers) */
    long websockets;            /* open WebSocket connections */
    uint64_t connections;       /* open TCP/TLS client connections */
} ihd_drain_info_t;

typedef struct ihd_server_s ihd_server_t;
typedef struct ihd_conn_s ihd_conn_t;
typedef struct ihd_alloc_s ihd_alloc_t;
typedef struct ihd_reserv_s ihd_reserv_t;

/* Every object registered with a worker's epoll starts with its kind. */
typedef enum ihd_evkind_e {
    IHD_EV_WAKE = 1,
    IHD_EV_UDP,
    IHD_EV_TCP_LISTEN,
    IHD_EV_CONN,
    IHD_EV_RELAY,
} ihd_evkind_t;

typedef struct ihd_listener_s {
    ihd_evkind_t kind;          /* IHD_EV_UDP or IHD_EV_TCP_LISTEN; first member */
    int fd;
    turn_transport_t tr;
    cmn_addr_t addr;
} ihd_listener_t;

typedef struct ihd_worker_s {
    ihd_server_t *srv;          /* borrowed */
    unsigned id;
    pthread_t thread;
    int epfd;
    int wakefd;                 /* eventfd: stop / reload poke */
    ihd_evkind_t wake_kind;     /* epoll tag for wakefd (IHD_EV_WAKE) */
    struct ihd_udp_batch_s *udp; /* owned: recvmmsg/sendmmsg buffers */
    struct ihd_relay_batch_s *relay_batch; /* owned: peer-side buffers */
    struct ihd_fwd_batch_s *fwd; /* owned: client data queued for peers */
    ihd_listener_t *ls;         /* this worker's SO_REUSEPORT sockets */
    size_t nls;
    const ihd_cfg_t *cfg;       /* snapshot in use this iteration */
    uint64_t seen_gen;          /* atomic: last snapshot generation seen */
    ihd_conn_t *conn_head;      /* idle order: least recently active first */
    ihd_conn_t *conn_tail;
    ihd_counters_t c;
    turn_t *turn;               /* owned: this worker's allocations */
    turn_ops_t turn_ops;
    uint64_t turn_cfg_gen;      /* generation whose turn_cfg the turn_t uses */
    bool gso_off;               /* the kernel refused UDP GSO once: send one by one */
    int spare_fd;               /* held open to be given up when accept runs out of fds */
    double accept_paused_until; /* listeners off until then (ihd_now): no fd even to refuse */
    struct ihd_uring_s *uring;  /* owned: sends of many sockets in one call, or NULL */
    bool uring_tried;           /* a ring was tried (made or refused) */
    ihd_alloc_t *graveyard;     /* ended allocations' glue, freed after the event batch */
    ihd_conn_t *conn_graveyard; /* closed connections, freed after the event batch */
    ihd_conn_t *conn_dirty;     /* connections with output to flush after the event batch */
} ihd_worker_t;

struct ihd_server_s {
    _Atomic(ihd_cfg_t *) cfg;   /* current snapshot */
    ihd_worker_t *workers;
    unsigned nworkers;
    bool tls_on;                /* TLS listeners were opened at start (tls.cert set) */
    atomic_int stopping;
    atomic_int draining;        /* a drain began: /readyz 503 (ihd_drain.c) */
    pthread_mutex_t drain_mu;   /* guards <drain> */
    ihd_drain_info_t drain;     /* active, reason, since (the rest is filled on read) */
    int main_wakefd;            /* eventfd: wakes the main thread's loop; -1 = none */
    atomic_long tcp_conns;      /* all workers, against turn.max_tcp_connections */
    void *http;                 /* ihd_http_t *, or NULL */
    double start_time;          /* CLOCK_REALTIME seconds */
    turn_shared_t *turn_shared; /* cross-worker allocation limits */
    uint8_t nonce_key[32];      /* random per process; kept across reloads */
    pthread_mutex_t reserv_lock; /* guards the EVEN-PORT reservations */
    ihd_reserv_t *reservs;      /* reserved relay sockets, any worker may take one */
    struct ihd_admin_s *admin;  /* owned: admin API state (ihd_admin.c) */
    struct ihd_usage_s *usage;  /* owned: usage table and ledger (ihd_usage.c), or NULL */
    struct ihd_extip_s *extip;  /* owned: turn.external_ip "auto" (ihd_extip.c), or NULL */
    struct ihd_redis_s *redis;  /* owned: the Redis thread with redis.url (ihd_redis.c), or NULL */
    char node_id[33];           /* this node's cluster name (redis.node_id or derived) */
    /* Live upgrade (ihd_upgrade.c, ihd_handover.c). */
    int upgrade_fd;             /* listening upgrade.socket, or -1 */
    int upgrade_conn;           /* new side: the connection to the old process, or -1 */
    atomic_int upgrade_req;     /* workers: export and park at the top of their loop */
    struct ihd_park_s *park;    /* owned: where workers park in a handover */
    struct ihd_handover_s *handover; /* new side: what the old process handed over,
                                 * until the services have started with it */
    bool handed_over;           /* old side: the UDP side belongs to a new process */
    char *hub_state;            /* owned: hub rooms to import at ihd_http_start, or NULL */
    size_t hub_state_len;
    double upgrade_pause;       /* new side: seconds UDP went unserved in the handover */
    uint64_t upgrade_allocs;    /* new side: allocations taken over */
    uint64_t upgrade_results[IHD_UPG_RESULTS]; /* old side: by ihd_upg_result_t */
    /* Random per process, kept across reloads: the TURN secret used when
     * turn.secrets is empty (so the hub's credentials always work), and
     * the room-token key used when signal.token_secret is empty. */
    char auto_secret[48];
    char token_key[48];
};


/* ihd_worker.c */
/* Start <n> workers, each with its own sockets on every turn.listen and
 * turn.tls_listen address; with srv->handover (a live upgrade), with the
 * old process's sockets and allocations instead. Returns 0 or CMN_EIO
 * (logged; a handover's refusal also in <err>). */
int ihd_workers_start(ihd_server_t *srv, unsigned n, char *err, size_t errlen);
/* Wake every worker (its eventfd): it takes a new configuration snapshot
 * and runs posted admin commands. Any thread. */
static inline void ihd_workers_poke(ihd_server_t *srv)
{
    uint64_t one = 1;
    for (unsigned i = 0; i < srv->nworkers; i++)
        (void)!write(srv->workers[i].wakefd, &one, sizeof(one));
}
void ihd_workers_stop(ihd_server_t *srv);
int ihd__listen_socket(const cmn_addr_t *a, turn_transport_t tr, bool reuseport);
void ihd__sum_counters(const ihd_server_t *srv, ihd_counters_t *out);

/* ihd_dispatch.c: one message from a client, any transport. Writes the reply
 * (if any) into <out> and returns its length, or 0 for no reply. Data for
 * a peer is sent by the dispatcher itself through the allocation's relay
 * socket. The packet is the turn_req_t's origin: an Allocate's relay_open
 * reads from it where the allocation's client is (listener or conn). */
typedef struct ihd_pkt_s {
    turn_transport_t tr;
    const cmn_addr_t *src;      /* borrowed: the client */
    const cmn_addr_t *dst;      /* borrowed: our address it was sent to */
    const uint8_t *data;        /* borrowed: one datagram or stream frame */
    size_t len;
    ihd_listener_t *listener;   /* borrowed: the UDP socket it came in on, or NULL */
    ihd_conn_t *conn;           /* borrowed: the stream connection, or NULL */
} ihd_pkt_t;
size_t ihd_dispatch(ihd_worker_t *w, const ihd_pkt_t *p, uint8_t *out, size_t cap);

/* ---- Live upgrade: what travels (ihd_handover.c) ------------------------- */

/* The accounting state of one allocation (ihd_usage.c's), as it travels. */
typedef struct ihd_usage_state_s {
    bool seen;                          /* counted in the old usage table */
    turn_alloc_counters_t ledger_rep;   /* already in ledger records */
    double ledger_last;                 /* wall time the previous record ended */
    double interim_in;                  /* seconds to the next interim record */
    uint32_t seq;                       /* ledger records so far */
} ihd_usage_state_t;

/* One UDP allocation handed over: turn's bytes and the glue's part. fds
 * are this process's numbers (-1: none). */
typedef struct ihd_ho_alloc_s {
    uint8_t *blob;                      /* owned: turn_alloc_encode */
    size_t len;
    int relay_fd[2];                    /* [0] IPv4, [1] IPv6 */
    bool relay_df[2];                   /* the socket sets DF on every datagram */
    uint32_t listener;                  /* the worker's listener the client uses */
    ihd_usage_state_t usage;
} ihd_ho_alloc_t;

typedef struct ihd_ho_listener_s {
    turn_transport_t tr;
    cmn_addr_t addr;
    int fd;
} ihd_ho_listener_t;

/* One worker's part, in worker order: its SO_REUSEPORT sockets (the kernel
 * hashes a client to the socket, so the socket's new owner must hold the
 * client's allocation) and its UDP allocations. */
typedef struct ihd_ho_worker_s {
    ihd_ho_listener_t *ls;              /* owned */
    size_t nls;
    ihd_ho_alloc_t *allocs;             /* owned */
    size_t nallocs, cap;
} ihd_ho_worker_t;

/* An EVEN-PORT reservation not yet taken. */
typedef struct ihd_ho_reserv_s {
    uint8_t token[8];
    cmn_addr_t addr;
    int fd;
    double ttl;                         /* seconds left */
} ihd_ho_reserv_t;

typedef struct ihd_handover_s {
    uint8_t nonce_key[32];              /* the process secrets, so nonces and */
    char auto_secret[48];               /* credentials handed out stay valid */
    char token_key[48];
    uint64_t last_id;                   /* turn_alloc_last_id of the old process */
    double paused_at;                   /* CLOCK_MONOTONIC when its workers parked */
    ihd_ho_worker_t *wk;                /* owned, nworkers of them */
    unsigned nworkers;
    ihd_ho_reserv_t *rv;                /* owned */
    size_t nrv;
    char *hub;                          /* owned: sig_hub_export, or NULL */
    size_t hub_len;
} ihd_handover_t;

/* Free <h>; with <close_fds>, close every socket it names too. */
void ihd_handover_free(ihd_handover_t *h, bool close_fds);
/* The byte stream of <h> (cmn_malloc'd) and its sockets in the order the
 * stream names them (cmn_malloc'd array). */
void ihd_handover_encode(const ihd_handover_t *h, uint8_t **buf, size_t *len, int **fds,
                         size_t *nfds);
/* Read what ihd_handover_encode wrote in another process (not trusted:
 * every field checked, STYLE §5), with <fds> the sockets that came with
 * it, in order. On success *out owns every socket it names and the rest of
 * <fds> is closed; on failure every one of <fds> is closed. Returns 0 or
 * CMN_EINVAL with what was wrong in <err>. */
int ihd_handover_decode(const uint8_t *src, size_t len, int *fds, size_t nfds,
                        ihd_handover_t *out, char *err, size_t errlen);
/* The parking place of the workers (once per process, before they start). */
void ihd_handover_init(ihd_server_t *srv);
void ihd_handover_dispose(ihd_server_t *srv);
/* Old side, main thread: park every worker at the top of its loop and have
 * each put its listeners and UDP allocations into <h> (waits at most
 * <timeout> s). Returns 0 or CMN_EAGAIN (a worker did not come: released
 * again). */
int ihd_handover_collect(ihd_server_t *srv, ihd_handover_t *h, double timeout);
/* Old side, main thread: let the parked workers go. <commit>: each first
 * lets go of what it exported (allocations detached, no ledger end; its
 * listeners and relay sockets closed here), then serves what it has left
 * (TCP/TLS). Otherwise each carries on as before. */
void ihd_handover_release(ihd_server_t *srv, bool commit);
/* Worker thread, at the top of its loop while srv->upgrade_req is set. */
void ihd_handover_worker(ihd_worker_t *w);
/* New side, before the worker thread starts: <hw>'s listeners must be the
 * ones <w> would open (same addresses and transports, in order); they and
 * its allocations become <w>'s. Returns 0 or CMN_EINVAL with <err>. */
int ihd_handover_adopt(ihd_worker_t *w, ihd_ho_worker_t *hw, char *err, size_t errlen);

/* ihd_upgrade.c: the live upgrade over upgrade.socket (SCM_RIGHTS). */
/* Bind upgrade.socket (when set; mode 0600). Returns 0 or CMN_EIO. */
int ihd_upgrade_listen(ihd_server_t *srv, char *err, size_t errlen);
/* Old side, main thread: a new process connected; hand over or refuse. */
void ihd_upgrade_serve(ihd_server_t *srv);
/* New side, before the services start: connect to upgrade.socket and take
 * the old process's state into srv->handover. Returns 0, or CMN_EINVAL
 * (refused, incompatible) / CMN_EIO with <err>. */
int ihd_upgrade_take(ihd_server_t *srv, const char *path, char *err, size_t errlen);
/* New side, after the services started (<ok>) or failed: tell the old
 * process; on success wait until it let go, then take upgrade.socket over.
 * Returns 0 or CMN_EIO. */
int ihd_upgrade_finish(ihd_server_t *srv, bool ok, const char *why);
/* Close the listening socket; remove its file unless a new process took it. */
void ihd_upgrade_close(ihd_server_t *srv);

/* ihd_relay.c: relay sockets of allocations (turn_ops_t), peer data. */
void ihd_relay_init_ops(ihd_worker_t *w);
void ihd_relay_readable(ihd_worker_t *w, void *relay);
/* Queue <data> (borrowed until ihd_relay_flush) for <peer> on <a>'s relay. */
void ihd_relay_send(ihd_worker_t *w, turn_alloc_t *a, const cmn_addr_t *peer,
                    const uint8_t *data, size_t len);
void ihd_relay_flush(ihd_worker_t *w);
/* The same for one datagram that must leave with DF set (DONT-FRAGMENT in a
 * Send indication): flushes the batch and sends it at once. */
void ihd_relay_send_df(ihd_worker_t *w, turn_alloc_t *a, const cmn_addr_t *peer,
                       const uint8_t *data, size_t len);
void ihd_relay_reap(ihd_worker_t *w);       /* free the graveyard */
void ihd_reserv_expire(ihd_server_t *srv, double now);
void ihd_reserv_free_all(ihd_server_t *srv);
/* Live upgrade. Old side: the relay sockets of <a> and its client's
 * listener into <out> (worker thread); at the commit, let go of <a>'s
 * sockets and glue without ending it. New side: take <in>'s sockets for
 * <a> (into the worker's epoll). */
void ihd_relay_export(ihd_worker_t *w, turn_alloc_t *a, ihd_ho_alloc_t *out);
void ihd_relay_forget(ihd_worker_t *w, turn_alloc_t *a);
int ihd_relay_adopt(ihd_worker_t *w, turn_alloc_t *a, const ihd_ho_alloc_t *in);
/* The EVEN-PORT reservations: copied out (their sockets stay), dropped
 * without closing ... (the commit closes them), taken in. */
void ihd_reserv_export(ihd_server_t *srv, ihd_handover_t *h);
void ihd_reserv_adopt(ihd_server_t *srv, ihd_handover_t *h);

/* ihd_turncfg.c: turn_cfg_t from the settings (users split, own addresses). */
int ihd_turncfg_build(ihd_cfg_t *cfg, const uint8_t nonce_key[32], char *err, size_t errlen);
void ihd_turncfg_dispose(ihd_cfg_t *cfg);

/* ihd_tcp.c: stream connections (TCP and TLS) owned by a worker. */
void ihd_tcp_accept(ihd_worker_t *w, ihd_listener_t *l);
/* Listen again after accept ran out of descriptors (every loop turn). */
void ihd_tcp_resume(ihd_worker_t *w, double now);
#define IHD_ACCEPT_PAUSE 0.1         /* seconds listeners rest when no fd is left */
void ihd_tcp_event(ihd_worker_t *w, ihd_conn_t *c, uint32_t events);
void ihd_tcp_expire(ihd_worker_t *w, double now);
void ihd_tcp_close_all(ihd_worker_t *w);
void ihd_tcp_reap(ihd_worker_t *w);
/* Write what connections were sent during this pass over the events: one
 * send per connection (on TLS carrying one record per message). Call after each epoll batch,
 * before ihd_tcp_reap. */
void ihd_tcp_flush(ihd_worker_t *w);
/* Send a message to a stream client (padding already applied). Returns
 * -1 if the connection had to be closed. */
int ihd_tcp_send(ihd_worker_t *w, ihd_conn_t *c, const uint8_t *p, size_t n);
bool ihd_conn_alive(const ihd_conn_t *c);
void ihd_conn_set_alloc(ihd_conn_t *c, bool has);
/* ihd_udp.c: send a batch of datagrams on <fd>; runs to one destination
 * with one size leave as UDP GSO sends. <from> (optional) is the source
 * address to use on a wildcard socket. Returns the datagrams taken. */
typedef struct ihd_dgram_s {
    int fd;                     /* ihd_udp_send_many: the socket to send it on */
    const void *data;           /* borrowed until ihd_udp_send returns */
    size_t len;
    const void *to;             /* struct sockaddr */
    socklen_t tolen;
    const cmn_addr_t *from;     /* NULL: let the kernel choose */
} ihd_dgram_t;

typedef struct ihd_udp_stats_s {
    uint64_t packets, bytes, errors;
} ihd_udp_stats_t;

unsigned ihd_udp_send(ihd_worker_t *w, int fd, const ihd_dgram_t *d, unsigned n,
                      ihd_udp_stats_t *st);
/* The same for datagrams of many sockets (d[i].fd), at most IHD_UDP_BATCH:
 * each socket's datagrams keep their order. One io_uring submission for
 * all when they are for two sockets or more, the worker has a ring and
 * turn.io_uring is on, else one sendmmsg per socket. */
unsigned ihd_udp_send_many(ihd_worker_t *w, const ihd_dgram_t *d, unsigned n,
                           ihd_udp_stats_t *st);

/* ihd_uring.c: a worker's io_uring for sends (liburing). */
typedef struct ihd_uring_s ihd_uring_t;
/* Make a ring and check that sends on it never wait (see the file). On
 * failure returns CMN_EIO with the reason in *why (a static string). */
int ihd_uring_new(ihd_uring_t **out, const char **why);
void ihd_uring_free(ihd_uring_t *u);
/* Send m[i] on fds[i] for i < n (n <= 64) in one submission; every send
 * has completed on return, with its result (bytes, or -errno) in res[i].
 * Returns 0, or CMN_EIO if the ring itself failed. */
int ihd_uring_sendmsg(ihd_uring_t *u, const int *fds, struct msghdr *const *m, unsigned n,
                      int *res);
/* Worker thread: make the worker's ring if turn.io_uring asks for one and
 * none was tried yet (logs the outcome once); after a ring failure, drop it
 * for good. */
void ihd__uring_setup(ihd_worker_t *w);
void ihd__uring_failed(ihd_worker_t *w);


/* ihd_extip.c: turn.external_ip = "auto". ihd_extip_apply, on the main
 * thread while a configuration is loaded (start, SIGHUP), replaces the
 * "auto" entry of s->turn.external_ip with the "PUBLIC/PRIVATE" addresses
 * STUN Binding requests to turn.external_ip_servers agree on (blocks up to
 * 3 s), or with the fallback (the last good result, else nothing); with
 * <x> NULL (--check-config) it only removes "auto". Anything else in
 * turn.external_ip is left alone. */
typedef struct ihd_extip_s ihd_extip_t;
ihd_extip_t *ihd_extip_new(void);
void ihd_extip_free(ihd_extip_t *x);
void ihd_extip_apply(ihd_extip_t *x, cmn_settings_t *s);
/* HTTP thread: the discovery metrics, for /metrics. */
struct cmn_prom_s;
void ihd_extip_metrics(ihd_server_t *srv, struct cmn_prom_s *p);

/* ihd_tls.c: an SSL_CTX (as void *) from tls.cert and tls.key, checked
 * against each other; *out stays NULL when tls.cert is empty. Returns 0 or
 * a negative code with the file and OpenSSL's reason in <err>. */
int ihd_tls_ctx_new(const cmn_settings_t *s, void **out, char *err, size_t errlen);
/* One more reference to <ctx> (NULL is fine); ihd_tls_ctx_free drops one. */
void *ihd_tls_ctx_ref(void *ctx);
void ihd_tls_ctx_free(void *ctx);
/* "CN=example.org, expires 2027-03-01" for logs; "" without a ctx. */
void ihd_tls_describe(void *ctx, char *buf, size_t len);
/* Put the certificate chain and key of <from> into <to> (a context someone
 * else made, such as a libwebsockets vhost's): new handshakes on <to> use
 * them, open connections keep theirs. Returns 0 or CMN_EIO. */
int ihd_tls_ctx_copy_cert(void *to, void *from);

/* ihd_http.c: the control-plane HTTP thread (lws): /livez, /readyz,
 * /metrics, embedded web assets, and the routes below. */
int ihd_http_start(ihd_server_t *srv, char *err, size_t errlen);
void ihd_http_stop(ihd_server_t *srv);
/* Main thread, on reload: true once the HTTP thread no longer reads any
 * configuration snapshot older than generation <gen> (or there is no HTTP
 * thread). Wakes the thread so it gets there soon. */
bool ihd_http_seen(ihd_server_t *srv, uint64_t gen);

/* One HTTP request as the route handlers see it (no lws types). Every
 * pointer is borrowed for the duration of the handler call. */
typedef enum ihd_http_method_e {
    IHD_HTTP_GET = 0,
    IHD_HTTP_POST,
    IHD_HTTP_PUT,
    IHD_HTTP_DELETE,
    IHD_HTTP_OTHER,
} ihd_http_method_t;

#define IHD_HTTP_BODY_MAX (64 * 1024) /* larger request bodies get 413 */

typedef struct ihd_http_req_s {
    ihd_http_method_t method;
    const char *path;           /* decoded path, no query: "/api/usage" */
    const char *query;          /* raw query string without '?', "" if none */
    const char *authorization;  /* Authorization header, "" if none */
    const char *origin;         /* Origin header, "" if none */
    const char *host;           /* Host header, "" if none */
    const uint8_t *body;        /* POST/PUT body, NULL if none */
    size_t body_len;
    cmn_addr_t remote;          /* the client (family 0 if unknown) */
} ihd_http_req_t;

/* A handler's answer. <body> is owned (cmn_malloc) and freed by the HTTP
 * glue; <ctype> and <extra_header_*> are static strings. */
typedef struct ihd_http_resp_s {
    unsigned status;
    const char *ctype;          /* "application/json", ... */
    char *body;
    size_t len;
    const char *extra_header_name;  /* e.g. "www-authenticate:", or NULL */
    const char *extra_header_value;
} ihd_http_resp_t;

/* ihd_http_resp.c, for handlers: set <r> to <status> with a copy of
 * <text>, or with a JSON error body {"error":code,"message":msg}. */
void ihd_http_resp_text(ihd_http_resp_t *r, unsigned status, const char *ctype,
                        const char *text);
void ihd_http_resp_error(ihd_http_resp_t *r, unsigned status, const char *code,
                         const char *msg);
/* <r> becomes 200 with a copy of an embedded web file (signal/sig_assets.h). */
struct sig_asset_s;
void ihd_http_resp_asset(ihd_http_resp_t *r, const struct sig_asset_s *a);
/* <r> becomes <status> with <j> (consumed) as compact JSON and a newline;
 * 500 if it cannot be encoded. */
struct json_t;
void ihd_http_resp_json(ihd_http_resp_t *r, unsigned status, struct json_t *j);

/* ihd_api.c: the usage and admin JSON API (/api/...) and the dashboard's
 * data. Runs on the HTTP thread. Returns 0 when it answered <req> (in
 * <resp>), CMN_ENOENT when the path is not one of its own. */
int ihd_api_handle(ihd_server_t *srv, const ihd_http_req_t *req, ihd_http_resp_t *resp);

/* ihd_admin.c: the workers' side of the admin API. Each worker publishes a
 * snapshot of its live allocations once a second (ihd_admin_tick, from its
 * tick) and runs posted commands when poked (ihd_admin_wake, from its
 * eventfd handler); the HTTP thread reads and posts. No lock is taken on
 * the packet path. */
typedef struct ihd_admin_s ihd_admin_t;

typedef struct ihd_admin_alloc_s {
    uint64_t id;                /* turn_alloc_info_t.id */
    unsigned worker;
    size_t user_off;            /* ihd_admin_str: the authenticated username */
    size_t quota_user_off;      /* ihd_admin_str: the name quotas and revocations use */
    uint8_t transport;          /* turn_transport_t of the client */
    cmn_addr_t client;          /* the client as this server sees it */
    cmn_addr_t server;          /* our address the client sent to */
    cmn_addr_t relay[2];
    size_t nrelay;
    cmn_addr_t peers[TURN_PEERS_MAX]; /* distinct permission IPs */
    size_t npeers;
    uint32_t peers_total;
    double started;             /* monotonic seconds */
    double started_wall;        /* realtime seconds */
    turn_alloc_counters_t c;    /* at the snapshot */
    double to_peer_bps, to_client_bps; /* UDP payload bits/s since the previous snapshot */
} ihd_admin_alloc_t;

/* All workers' snapshots, merged and sorted by id (owned by the caller). */
typedef struct ihd_admin_list_s {
    ihd_admin_alloc_t *v;
    size_t n;
    char *pool;                 /* the strings */
    size_t pool_len;
    double age;                 /* seconds since the oldest snapshot was taken */
} ihd_admin_list_t;

ihd_admin_t *ihd_admin_new(void);
void ihd_admin_free(ihd_admin_t *ad);
/* Take admin.enabled, admin.token (kept as a hash) and turn.realm from <s>:
 * at start and on every reload, before the snapshot is published. */
void ihd_admin_configure(ihd_admin_t *ad, const cmn_settings_t *s);
bool ihd_admin_enabled(ihd_server_t *srv);
/* <authorization> (the header, "" if none) carries "Bearer TOKEN" with the
 * configured token (constant-time), or no token is configured. */
bool ihd_admin_auth(ihd_server_t *srv, const char *authorization);
void ihd_admin_realm(ihd_server_t *srv, char *buf, size_t len);
/* Worker thread: publish the snapshot (once a second) / run commands. */
void ihd_admin_tick(ihd_worker_t *w, double now);
void ihd_admin_wake(ihd_worker_t *w);
/* HTTP thread. */
int ihd_admin_list(ihd_server_t *srv, ihd_admin_list_t *out);
const char *ihd_admin_str(const ihd_admin_list_t *l, size_t off);
void ihd_admin_list_dispose(ihd_admin_list_t *l);
/* End allocation <id> (TURN_END_ADMIN) on whichever worker holds it; waits
 * up to 2 s for the workers. Returns 0, CMN_ENOENT (no such live
 * allocation) or CMN_EAGAIN (a worker did not answer in time). */
int ihd_admin_end_alloc(ihd_server_t *srv, uint64_t id);
/* Revocations (acct_revokes_t, kept in admin.revocations_file). */
/* The file of <s>: admin.revocations_file, else revocations.json beside
 * ledger.path, else "" (memory only). */
void ihd_revocations_path(const cmn_settings_t *s, char *buf, size_t len);
/* At start: read the file and block every user in it (turn_shared_t).
 * Returns 0 or CMN_EINVAL with "admin.revocations_file: FILE: what" in <err>. */
int ihd_admin_revocations_open(ihd_server_t *srv, const cmn_settings_t *s, char *err,
                               size_t errlen);
/* On reload: a new path gets the current list. */
void ihd_admin_revocations_reload(ihd_server_t *srv, const cmn_settings_t *s);
/* Main thread, once a second: lift the revocations that ended by <wall>. */
void ihd_admin_revocations_expire(ihd_server_t *srv, double wall);
typedef struct ihd_revoke_s {
    double until;               /* Unix seconds the revocation ends */
    bool persisted;             /* the file was written */
} ihd_revoke_t;
/* Revoke <quota_user> for <ttl> seconds (turn_shared_block_user REVOKED;
 * again: extended). Returns 0, CMN_EEXIST if it was already revoked, or
 * CMN_ELIMIT when the list is full (nothing done). */
int ihd_admin_revoke(ihd_server_t *srv, const char *quota_user, double ttl, ihd_revoke_t *out);
/* Allow <quota_user> again. Returns 0, or CMN_ENOENT when it was not
 * revoked; *persisted is false when the file could not be written. */
int ihd_admin_unrevoke(ihd_server_t *srv, const char *quota_user, bool *persisted);
/* The revocations, sorted by user; free with acct_revokes_list_free. */
acct_revoked_t *ihd_admin_revoked(ihd_server_t *srv, size_t *n);
/* Failed writes of the revocations file (a metric). */
uint64_t ihd_admin_revocation_errors(ihd_server_t *srv);

/* ihd_http.c, main thread, live upgrade: stop the HTTP thread like
 * ihd_http_stop, but first export the hub's rooms (sig_hub_export) for the
 * new process; returns them (cmn_malloc'd, *len set), or NULL without HTTP.
 * ihd_http_start imports srv->hub_state when it is set (and frees it). */
char *ihd_http_handover(ihd_server_t *srv, size_t *len);

/* ihd_ws.c: the signaling hub (signal/) on libwebsockets, on the HTTP
 * thread; only ihd_http.c and ihd_ws.c include libwebsockets.h. */
struct lws;
struct lws_context;
struct lws_protocols;
struct sig_cfg_s;
struct sig_hub_s;
typedef struct ihd_ws_s ihd_ws_t;

/* The hub's settings from the snapshot <cfg>: signal.*, what the hub
 * needs from the TURN side (its ports, whether TLS is on, the shared
 * secret it accepts: turn.secrets[0], or srv->auto_secret when TURN runs
 * on that), and srv->token_key when signal.token_secret is empty. Free
 * <out> with sig_cfg_dispose. */
void ihd_ws_cfg(const ihd_cfg_t *cfg, const ihd_server_t *srv, struct sig_cfg_s *out);
/* The glue and its hub, with the settings of the current snapshot; it
 * takes each reloaded one on its once-a-second timer. */
ihd_ws_t *ihd_ws_new(ihd_server_t *srv);
/* Free after lws_context_destroy (which closes every connection). */
void ihd_ws_free(ihd_ws_t *s);
/* The hub; use it on the service thread only. */
struct sig_hub_s *ihd_ws_hub(ihd_ws_t *s);
/* Fill the vhost protocol entry "icehub-signal" (made the vhost's default
 * protocol by the caller, so clients need no subprotocol). */
void ihd_ws_protocol(ihd_ws_t *s, struct lws_protocols *out);
/* Start the once-a-second timer and take the cluster link's state; call
 * after the import of handed-over rooms, before the service thread runs. */
void ihd_ws_start(ihd_ws_t *s, struct lws_context *ctx);
/* For the HTTP protocol's LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: check the
 * path (/ws), Origin, per-IP limit and draining; answers a refusal itself.
 * Returns what the callback must return (0 upgrade, 1 refused). */
int ihd_ws_confirm_upgrade(ihd_ws_t *s, struct lws *wsi, const char *upgrade);
/* The service thread has stopped and the context is about to be
 * destroyed: drop whatever the hub still sends. */
void ihd_ws_stopping(ihd_ws_t *s);
/* Any thread: start draining: no new connections or joins, then after
 * drain_delay every peer gets a 1001 close. */
void ihd_ws_request_drain(ihd_ws_t *s);
/* Any thread: WebSocket connections open now. */
long ihd_ws_open(const ihd_ws_t *s);
/* Service thread: connections closed (1009) for a message that went on
 * past the cut-off (16 x signal.max_message, at least 1 MiB). */
uint64_t ihd_ws_cut_off(const ihd_ws_t *s);

/* ihd_http.c, any thread: start the signaling drain (no new WebSockets or
 * joins; after signal.drain_delay every peer gets a 1001 close), and the
 * number of WebSocket connections open now (0 without an HTTP thread). */
void ihd_http_drain_start(ihd_server_t *srv);
long ihd_http_ws_open(ihd_server_t *srv);

/* ihd_drain.c: the drain. Start it (any thread; the first call wins and
 * returns true, later ones return false): /readyz 503, new Allocates
 * refused or redirected (turn_shared_set_draining), the signaling drain,
 * and the main thread woken. */
bool ihd_drain_start(ihd_server_t *srv, ihd_drain_reason_t why);
/* The drain state with live counts; the one place to read it (the admin
 * API, /metrics, anything that publishes it elsewhere). Any thread. */
void ihd_drain_state(ihd_server_t *srv, ihd_drain_info_t *out);
/* Main thread: should a draining process stop now? When the allocations
 * (after an upgrade: and the stream connections) are gone or
 * turn.drain_timeout has passed, and the WebSockets are closed or their
 * drain has run its course. False while not draining. */
bool ihd_drain_done(ihd_server_t *srv, double now);
/* "none", "signal", "api", "upgrade". */
const char *ihd_drain_reason_name(ihd_drain_reason_t r);
/* ihd_metrics.c: write the daemon's metric families (workers, TURN, usage)
 * into <p>. HTTP thread. */
struct cmn_prom_s;
void ihd_metrics_render(ihd_server_t *srv, struct cmn_prom_s *p);

/* The prices of <s> (cost.*), for acct_cost. Borrows the currency. */
static inline acct_prices_t ihd_prices(const cmn_settings_t *s)
{
    return (acct_prices_t){.ingress_per_gb = s->cost.ingress_per_gb,
                           .egress_per_gb = s->cost.egress_per_gb,
                           .currency = s->cost.currency};
}

/* ---- Usage accounting (ihd_usage.c: the daemon's side of acct/) ------ */

/* Start accounting: rebuild the current period from ledger.path (if set),
 * open the ledger and its writer thread. Call before the workers start.
 * Returns 0, or CMN_EIO with a message in <err> (a bad ledger.path). */
int ihd_usage_start(ihd_server_t *srv, char *err, size_t errlen);
/* A live upgrade, before it connects: rebuild the usage table from the
 * ledger as it is now (the old process still writes it), so the handover
 * only has to read what was appended since (ihd_usage_start catches up). */
void ihd_usage_prepare(ihd_server_t *srv);
/* --check-config: would ledger.path open for appending (and, with
 * rotation, is its directory writable)? Creates nothing. Returns 0 or
 * CMN_EIO with the message ihd_usage_start would give. */
int ihd_usage_check(const cmn_settings_t *s, char *err, size_t errlen);
/* After the workers stopped (their final records are queued): write and
 * sync the ledger, stop its thread, free everything. */
void ihd_usage_stop(ihd_server_t *srv);
/* SIGHUP: reopen the ledger file, take the new rotation settings. */
void ihd_usage_reload(ihd_server_t *srv);
/* Worker tick (about once a second): feed every live allocation's new
 * bytes to the usage table (one mutex acquisition), write interim ledger
 * records that are due, enforce quota.user_bytes, roll the period over. */
void ihd_usage_tick(ihd_worker_t *w, double now, double wall);
/* relay_close: the final delta, the final ledger record and the
 * allocation histograms of <a> (ended, still readable). */
void ihd_usage_alloc_end(ihd_worker_t *w, turn_alloc_t *a);
/* Live upgrade. Old side (worker thread): the accounting state of
 * allocation <id>, and at the commit, forget it without a record. New
 * side: continue it, so the ledger goes on where the old process left off
 * (the usage table, rebuilt from the ledger, gets the bytes since the last
 * record). */
void ihd_usage_export(ihd_worker_t *w, uint64_t id, ihd_usage_state_t *out);
void ihd_usage_forget(ihd_worker_t *w, uint64_t id);
void ihd_usage_import(ihd_worker_t *w, uint64_t id, const ihd_usage_state_t *st);
/* Old side, workers parked: wait until the ledger file holds every record
 * queued (the new process reads it at its start). Returns 0 or CMN_EAGAIN. */
int ihd_usage_flush(ihd_server_t *srv);
/* Old side, after the commit: stop rotating the ledger (the new process
 * rotates it now; this one appends to whatever file it has open). */
void ihd_usage_yield(ihd_server_t *srv);
/* GET /api/usage: the current period's usage per user and realm as JSON
 * (docs/ledger.md); malloc'd (cmn_free), length in *len. */
char *ihd_usage_json(ihd_server_t *srv, size_t *len);
/* Append the usage and ledger metrics (top users, histograms, ledger
 * health) to a /metrics page being rendered (a cmn_prom_t *). */
void ihd_usage_metrics(ihd_server_t *srv, struct cmn_prom_s *p);


/* Every relay worker's relayed UDP payload bytes so far, both directions
 * (ihd_metrics.c). Any thread. */
uint64_t ihd__relayed_bytes(ihd_server_t *srv);
/* The usage table (ihd_usage.c); NULL without accounting. */
acct_usage_t *ihd__usage_table(ihd_server_t *srv);

/* ---- The cluster (ihd_redis.c, ihd_cluster.c; docs/scaling.md) -------- */

/* Main thread, at start: this node's name into srv->node_id (redis.node_id,
 * or the host name and a hash of the listeners and ledger path), and the
 * Redis thread when redis.url is set. Returns 0 or CMN_EIO (<err> set). */
int ihd_cluster_start(ihd_server_t *srv, char *err, size_t errlen);
/* After the HTTP thread and the workers stopped: last usage, goodbye,
 * stop the thread. */
void ihd_cluster_stop(ihd_server_t *srv);
/* A live upgrade committed: the node (same name) lives on in the new
 * process, which resynchronises it. Stop the Redis thread without the
 * goodbye, which would drop the node's members. */
void ihd_cluster_handoff(ihd_server_t *srv);
/* Main thread, on reload: true once the Redis thread no longer reads a
 * configuration older than <gen> (or there is none). */
bool ihd_redis_seen(ihd_server_t *srv, uint64_t gen);
/* HTTP thread: a revocation until <until> (Unix seconds), or an
 * un-revocation, made through the admin API goes to every node. */
void ihd_cluster_revoke(ihd_server_t *srv, const char *user, bool on, double until);

/* ihd_cli.c: the command line's words. */
/* The --help text: options, then every setting with its default, type and
 * whether SIGHUP reloads it. */
void ihd_cli_usage(FILE *f);
/* <flag> is a "--section.key" argument and <next> the one after it (or
 * NULL). When <flag> has no '=' and <next> looks like its value, write an
 * error with the "--section.key=value" form into <buf> and return 0;
 * otherwise CMN_ENOENT. */
int ihd_cli_flag_hint(const char *flag, const char *next, char *buf, size_t len);
/* Log, at info, the URLs the services of <s> serve: STUN/TURN per transport
 * (TLS when <tls_on>), the demo page and /ws, /metrics, /dashboard when the
 * admin API is on. */
void ihd_cli_log_urls(const cmn_settings_t *s, bool tls_on);

#endif /* IHD_H */
