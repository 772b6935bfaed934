/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_redis.h: the Redis thread (ihd_redis.c) and what runs on it
 * (ihd_cluster.c), for the daemon's other files. No hiredis type appears
 * here: only ihd_redis.c, ihd_cluster.c and ihd_cluster_acct.c include
 * hiredis.
 *
 * Commands are built on any thread (ihd_rcmd_*) and handed over with
 * ihd_redis_submit into a bounded queue; the Redis thread sends them on
 * its connections and puts what the hub must hear (channel messages,
 * answers, the link going up or down) into a second bounded queue that
 * the hub's thread empties with ihd_redis_take.
 */
#ifndef IHD_REDIS_H
#define IHD_REDIS_H

#include "ihd.h"

typedef struct ihd_redis_s ihd_redis_t;
typedef struct ihd_cluster_s ihd_cluster_t;

/* Where a command's answer goes. */
typedef enum ihd_rreply_e {
    IHD_RR_NONE = 0,            /* nobody waits (errors are counted) */
    IHD_RR_HUB,                 /* the hub: its request <id>, an integer answer (0 or -code) */
    IHD_RR_SUB,                 /* SUBSCRIBE <room> on the subscriber connection */
    IHD_RR_UNSUB,               /* UNSUBSCRIBE <room> */
    IHD_RR_REAP,                /* the reap script: a positive answer is a wait in ms, retried */
} ihd_rreply_t;

typedef struct ihd_rcmd_s ihd_rcmd_t;
typedef void (*ihd_redis_cb)(ihd_redis_t *r, void *arg, const void *reply);

/* A command and what to do with its answer. */
struct ihd_rcmd_s {
    ihd_rcmd_t *next;
    ihd_rreply_t reply;
    uint64_t id;
    char *room;                 /* owned: SUB/UNSUB channel's room */
    int argc, cap;
    char **argv;                /* owned */
    size_t *lens;
    size_t bytes;               /* what it counts against redis.queue_bytes */
    ihd_redis_cb fn;            /* ihd__redis_send's, or NULL */
    void *arg;
    double at;                  /* when it was sent (monotonic) */
};

/* A command (argv) whose answer goes to <reply> (<id>, <room>: see above). */
ihd_rcmd_t *ihd_rcmd_new(ihd_rreply_t reply, uint64_t id, const char *room);
/* Append an argument (binary safe) / a decimal number. */
void ihd_rcmd_arg(ihd_rcmd_t *c, const void *p, size_t n);
void ihd_rcmd_str(ihd_rcmd_t *c, const char *s);
void ihd_rcmd_num(ihd_rcmd_t *c, long long v);
/* Append <a> then <b> as one argument (a key: prefix and name). */
void ihd_rcmd_cat(ihd_rcmd_t *c, const char *a, const char *b);
void ihd_rcmd_free(ihd_rcmd_t *c);

/* What the hub's thread takes from the Redis thread, in order. */
typedef enum ihd_rin_kind_e {
    IHD_RIN_LINK = 0,           /* status: 1 up, 0 down */
    IHD_RIN_ROOM,               /* a message on room <room>'s channel */
    IHD_RIN_NODE,               /* a message on this node's channel */
    IHD_RIN_HEARTBEAT,          /* a heartbeat or bye on the cluster channel */
    IHD_RIN_SUBSCRIBED,         /* <room>'s subscription is in place */
    IHD_RIN_RESULT,             /* the answer to hub request <id>: status */
    IHD_RIN_OVERFLOW,           /* the queue overflowed; input was lost */
} ihd_rin_kind_t;

typedef struct ihd_rin_s {
    struct ihd_rin_s *next;
    ihd_rin_kind_t kind;
    uint64_t id;
    int status;
    char *room;                 /* owned, or NULL */
    size_t len;
    char data[];                /* NUL-terminated */
} ihd_rin_t;

/* The settings the thread needs, copied at start (none reload). */
typedef struct ihd_redis_cfg_s {
    cmn_redis_url_t url;        /* with redis.password applied */
    char prefix[65];
    char node[33];
    int timeout, connect_timeout, heartbeat, node_ttl, backoff_max;
    size_t queue_bytes;
} ihd_redis_cfg_t;

/* Start the thread; it connects in the background. */
ihd_redis_t *ihd_redis_start(ihd_server_t *srv, const ihd_redis_cfg_t *cfg);
/* The hub's thread: <wake>(<arg>) (called on the Redis thread) tells it
 * there is something to take; NULL stops the calls (before it stops). */
void ihd_redis_set_wake(ihd_redis_t *r, void (*wake)(void *arg), void *arg);
/* Stop the thread and free everything, with the goodbye (<bye>: the node
 * leaves the cluster) or without it (the node lives on in another
 * process). NULL is a no-op. */
void ihd_redis_stop(ihd_redis_t *r, bool bye);
/* Any thread: queue <c> (taken, freed even on failure). 0, or CMN_EAGAIN
 * when the link is down (hub commands) or the queue is full. */
int ihd_redis_submit(ihd_redis_t *r, ihd_rcmd_t *c);
/* The hub's thread: everything queued for it, oldest first (free each
 * with ihd_rin_free); the next item queued wakes it again. */
ihd_rin_t *ihd_redis_take(ihd_redis_t *r);
void ihd_rin_free(ihd_rin_t *in);

/* ihd_fed.c, the hub's thread: hand a hub request to the Redis thread
 * (sig_ops_t.fed), and the Redis thread's items to the hub. */
struct sig_fed_req_s;
struct sig_hub_s;
int ihd_fed_request(ihd_redis_t *r, const struct sig_fed_req_s *q);
void ihd_fed_input(ihd_redis_t *r, struct sig_hub_s *hub, double now);
const ihd_redis_cfg_t *ihd_redis_cfg(const ihd_redis_t *r);
bool ihd_redis_up(const ihd_redis_t *r);
/* Write the icehub_cluster_* families of the link. Any thread. */
void ihd_redis_metrics(ihd_redis_t *r, struct cmn_prom_s *p);

/* ---- ihd_redis.c, for ihd_cluster.c (Redis thread only) ---------------- */

/* Send <c> now (the link must be up), its answer to <fn>(<arg>, reply)
 * where reply is a redisReply * or NULL when the link broke. */
int ihd__redis_send(ihd_redis_t *r, ihd_rcmd_t *c, ihd_redis_cb fn, void *arg);
/* Queue an item for the hub's thread (taken). */
void ihd__redis_push(ihd_redis_t *r, ihd_rin_t *in);
ihd_rin_t *ihd__rin_new(ihd_rin_kind_t kind, const char *room, const char *data, size_t len);
ihd_server_t *ihd__redis_srv(ihd_redis_t *r);
/* The goodbye was answered (or failed): the thread may stop. */
void ihd__redis_bye_done(ihd_redis_t *r);
ihd_cluster_t *ihd__redis_cluster(ihd_redis_t *r);

/* ---- ihd_redis_q.c: the two bounded queues between the threads -------- */

typedef struct ihd_rq_s ihd_rq_t;
ihd_rq_t *ihd__rq_new(size_t max_bytes);
/* Frees what is still queued too. */
void ihd__rq_free(ihd_rq_t *q);
/* Any thread: queue <c> (taken); CMN_EAGAIN (and <c> freed) when not <up>
 * or past max_bytes. */
int ihd__rq_submit(ihd_rq_t *q, ihd_rcmd_t *c, bool up);
/* Redis thread: every queued command, oldest first. */
ihd_rcmd_t *ihd__rq_take_out(ihd_rq_t *q);
/* Redis thread: an item for the hub (taken); past max_bytes it is dropped
 * (link changes never are) and the hub later gets IHD_RIN_OVERFLOW. */
void ihd__rq_push_in(ihd_rq_t *q, ihd_rin_t *in);
/* The hub's thread: every queued item; the next push wakes it again. */
ihd_rin_t *ihd__rq_take_in(ihd_rq_t *q);
void ihd__rq_set_wake(ihd_rq_t *q, void (*wake)(void *arg), void *arg);
/* icehub_cluster_dropped_total and icehub_cluster_queue_bytes. */
void ihd__rq_metrics(ihd_rq_t *q, struct cmn_prom_s *p);

/* ---- ihd_cluster.c (Redis thread): the node's own cluster work --------- */

/* A revocation record this node knows (ihd_cluster_acct.c). */
typedef struct ihd_rvk_ent_s {
    cmn_map_node_t node;        /* in ihd_cluster_t.rvk, by user */
    acct_rvk_t rec;
    bool pushed;                /* the cluster has it */
    char user[];
} ihd_rvk_ent_t;

struct ihd_cluster_s {
    ihd_redis_t *r;
    ihd_server_t *srv;
    bool up;
    double next_beat, next_flush;
    uint64_t last_bytes;        /* relayed bytes at the previous heartbeat */
    double last_bytes_at;
    bool flying;                /* a usage batch or the snapshot is out */
    acct_batch_t fly;
    bool snapping;              /* the usage snapshot is out: batches wait */
    acct_batch_t *held;         /* others' batches that came meanwhile */
    uint64_t *held_seq;
    size_t nheld;
    double beat_at;             /* when our last heartbeat went out */
    uint64_t rtt_us;            /* it came back after this long */
    pthread_mutex_t mu;         /* the revocation records (HTTP thread too) */
    cmn_map_t rvk;              /* ihd_rvk_ent_t by user */
    uint64_t beats, batches_ok, batches_failed, batches_in, snapshots, rvk_out, rvk_in,
        bad;
};

ihd_cluster_t *ihd__cluster_new(ihd_redis_t *r);
void ihd__cluster_free(ihd_cluster_t *c);
/* The link came up: snapshot usage and revocations, beat at once. */
void ihd__cluster_up(ihd_cluster_t *c);
void ihd__cluster_down(ihd_cluster_t *c);
/* Every 250 ms: heartbeats, usage flushes. */
void ihd__cluster_timer(ihd_cluster_t *c, double now);
/* A message on the cluster channel. */
void ihd__cluster_message(ihd_cluster_t *c, const char *data, size_t len);
/* The goodbye, before the thread stops (best effort). */
void ihd__cluster_bye(ihd_cluster_t *c);
void ihd__cluster_metrics(ihd_cluster_t *c, struct cmn_prom_s *p);
/* For ihd_cluster_acct.c: the configuration now, a key (redis.prefix and
 * the formatted name) appended to <cmd>, an EVAL of <script>. */
const ihd_cfg_t *ihd__clu_cfg(ihd_cluster_t *c);
void ihd__clu_key(ihd_rcmd_t *cmd, ihd_cluster_t *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ihd_rcmd_t *ihd__clu_eval(const char *script, int nkeys);

/* ihd_cluster_acct.c (Redis thread): usage batches and snapshots, and
 * revocations to and from the cluster. */
struct json_t;
void ihd__clu_flush_usage(ihd_cluster_t *c);
void ihd__clu_usage_snapshot(ihd_cluster_t *c);
void ihd__clu_on_usage(ihd_cluster_t *c, const struct json_t *hdr, const char *body,
                       size_t blen);
void ihd__clu_on_revoke(ihd_cluster_t *c, const struct json_t *hdr);
void ihd__clu_rvk_sync(ihd_cluster_t *c);

/* ---- The Lua scripts (ihd_redis_lua.c) --------------------------------- */

extern const char ihd_lua_join[], ihd_lua_leave[], ihd_lua_move[], ihd_lua_sync[],
    ihd_lua_prune[], ihd_lua_reap[], ihd_lua_beat[], ihd_lua_usage_add[],
    ihd_lua_usage_snap[], ihd_lua_revoke[];

#endif /* IHD_REDIS_H */
