/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_fed_int.h: what sig_fed.c and sig_fed_move.c share: the federation
 * state of a hub, its pending requests (joins and resumes waiting for the
 * cluster), a peer moving away to another node, and their helpers. Part
 * of signal/'s internals (sig_int.h); nothing outside these two files
 * includes it.
 */
#ifndef SIG_FED_INT_H
#define SIG_FED_INT_H

#include "sig_int.h"

enum { SIG_FP_JOIN = 0, SIG_FP_RESUME };

/* Where a pending request is; the order matters (later = more done). */
enum {
    SIG_FS_SUB = 0,             /* waiting for the room's subscription */
    SIG_FS_TOOK,                /* resume: waiting for the old node's answer */
    SIG_FS_RESULT,              /* waiting for the script's answer */
    SIG_FS_MARKER,              /* the script ran: waiting for its message on the channel */
    SIG_FS_STATE,               /* resume: the peer is here, its queue is not */
};

/* A join or resume waiting for the cluster. */
typedef struct sig_fpend_s {
    struct sig_fpend_s *prev, *next; /* in sig_fed_t.pend */
    int kind;                   /* SIG_FP_* */
    int stage;                  /* SIG_FS_* */
    uint64_t req;               /* the request answered by sig_hub_fed_result, 0 = none */
    sig_conn_t *c;              /* the client; NULL once its connection is gone */
    char room[SIG_ROOM_MAX + 1];
    char id[SIG_ID_MAX + 1];
    char from[SIG_NODE_MAX + 1]; /* resume: the node the peer was on */
    json_t *ref;                /* owned: the client message's ref, or NULL */
    double deadline;            /* wall seconds */
    bool held;                  /* counted in its room's npending */
    sig_peer_t *p;              /* resume: the arriving peer, once the move happened */
    json_t *state;              /* resume: owned: the queue the old node sent */
    bool state_in;
} sig_fpend_t;

/* A local peer resuming on another node: it stays here, away, until the
 * move shows on the room's channel (or <until>). */
typedef struct sig_fmove_s {
    uint64_t req;               /* the other node's request */
    char to[SIG_NODE_MAX + 1];
    double until;
} sig_fmove_t;

typedef struct sig_fed_s {
    char node[SIG_NODE_MAX + 1];
    bool up;                    /* the glue reported the link up */
    double up_since;
    double now;                 /* the latest time the hub was given (for metrics) */
    uint64_t next_req;
    sig_fpend_t *pend;
    sig_dir_t *dir;             /* owned: the relay director */
    /* Counters (icehub_cluster_*). */
    uint64_t ops[SIG_FED_COUNT];
    uint64_t in[SIG_FK_COUNT];
    uint64_t bad, unqueued, conflicts, lost_notices, local_joins;
    uint64_t resumes_ok, resumes_failed, syncs, resyncs;
    uint64_t links[2];          /* went down, came up */
    size_t nstale;              /* remote records waiting for their node's word */
} sig_fed_t;

/* A remote record missing from a room's list leaves after this many
 * node_ttls unless its node confirms it (sig__fed_reconcile). */
#define SIG_FED_STALE 2

/* sig_fed.c */
int sig__fed_call(sig_hub_t *h, const sig_fed_req_t *r);
uint64_t sig__fed_req_id(sig_fed_t *f);
sig_fpend_t *sig__fed_pend_new(sig_hub_t *h, int kind, sig_conn_t *c, const json_t *ref,
                               double now);
sig_room_t *sig__fed_pend_hold(sig_hub_t *h, sig_fpend_t *pd);
void sig__fed_pend_end(sig_hub_t *h, sig_fpend_t *pd);
void sig__fed_pend_fail(sig_hub_t *h, sig_fpend_t *pd, sig_err_t code, const char *msg);
void sig__fed_pend_abort(sig_hub_t *h, sig_fpend_t *pd, double now);
sig_fpend_t *sig__fed_pend_by_req(sig_fed_t *f, uint64_t req);
json_t *sig__fed_header(sig_hub_t *h, const char *kind);
int sig__fed_publish(sig_hub_t *h, const char *room, json_t *hdr, const char *body, size_t blen);
void sig__fed_room_resync(sig_hub_t *h, sig_room_t *r);
sig_peer_t *sig__fed_add_remote(sig_room_t *r, const char *id, uint64_t seq, const char *node);
void sig__fed_drop_remote(sig_hub_t *h, sig_room_t *r, sig_peer_t *p);
void sig__fed_evict(sig_hub_t *h, sig_peer_t *p);
void sig__fed_reconcile(sig_hub_t *h, sig_room_t *r, const json_t *members, const char *only,
                        bool notify, double now);
/* <p>'s node confirmed it: no longer stale. */
void sig__fed_confirm(sig_fed_t *f, sig_peer_t *p);

/* sig_fed_move.c */
void sig__fed_node_message(sig_hub_t *h, const sig_fmsg_t *m, double now);
void sig__fed_on_moved(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now);
void sig__fed_move_claim(sig_hub_t *h, sig_fpend_t *pd, double now);
void sig__fed_move_result(sig_hub_t *h, sig_fpend_t *pd, int status, double now);
void sig__fed_move_abort(sig_hub_t *h, sig_fpend_t *pd, double now);

#endif /* SIG_FED_INT_H */
