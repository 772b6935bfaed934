/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_int.h: what the files of signal/ share: the hub's objects (rooms,
 * peers, connections, queued messages), a string-keyed map,
 * the message helpers of sig_msg.c, the iceServers of sig_ice.c, the
 * hub changes sig_route.c makes through sig_hub.c, and the federation's
 * state, messages and director (sig_fed*.c, sig_dir.c). Not for use
 * outside signal/ (and its tests).
 */
#ifndef SIG_INT_H
#define SIG_INT_H

#include <jansson.h>

#include "sig.h"

#include "common/cmn_map.h"

/* ---- sig_map.c: string -> pointer, on cmn_map ------------------------ */

typedef struct sig_map_ent_s {
    cmn_map_node_t node;
    void *val;
    char key[];                 /* NUL-terminated, owned */
} sig_map_ent_t;

/* m.n is the number of entries. */
typedef cmn_map_t sig_map_t;

void sig__map_init(sig_map_t *m);
void sig__map_dispose(sig_map_t *m);
void *sig__map_get(const sig_map_t *m, const char *key);
/* Insert or replace. */
void sig__map_put(sig_map_t *m, const char *key, void *val);
/* Remove; returns the value or NULL. */
void *sig__map_del(sig_map_t *m, const char *key);
/* Every entry once, in no order: cmn_map_iter_init(&it, m), then this until
 * NULL. The walk may delete the entry it was given. */
sig_map_ent_t *sig__map_walk(cmn_map_iter_t *it);

/* ---- The hub ---------------------------------------------------------- */

/* Upper bounds (seconds) of the delivery time histogram's buckets; the
 * last bucket is +Inf. */
#define SIG_DLAT_BOUNDS 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, \
                        0.01, 0.025, 0.05, 0.1, 0.25, 1.0
#define SIG_DLAT_BUCKETS 15

typedef struct sig_room_s sig_room_t;
typedef struct sig_peer_s sig_peer_t;

/* A message kept for an away peer, with what its sender must hear if it
 * expires. */
typedef struct sig_qmsg_s {
    struct sig_qmsg_s *next;
    char *text;                 /* owned: the encoded message */
    size_t len;
    char from[SIG_ID_MAX + 1];  /* the sender's id */
    json_t *ref;                /* owned reference, or NULL */
} sig_qmsg_t;

struct sig_fmove_s;
struct sig_fpend_s;
struct sig_fed_s;

struct sig_peer_s {
    char id[SIG_ID_MAX + 1];
    sig_room_t *room;
    sig_conn_t *conn;           /* NULL while away (and always for a remote member) */
    double away_until;          /* while away: end of the grace period */
    char resume[SIG_TOKEN_MAX + 1]; /* current resume token (a key of h->resumes) */
    char node[SIG_NODE_MAX + 1]; /* federation: "" = this node's; else the node it is on */
    uint64_t seq;               /* federation: join order in the cluster's room */
    struct sig_fmove_s *move;   /* federation: owned while it resumes on another node */
    bool mark;                  /* federation: scratch of a membership reconcile */
    double stale_until;         /* federation: a remote record its node has to confirm */
    sig_qmsg_t *qhead, *qtail;
    uint32_t qlen;
    sig_peer_t *prev, *next;    /* in the room, join order */
    sig_peer_t *away_prev, *away_next; /* in h->away while away */
    sig_map_t *reported;        /* ids of room peers this one sent stats about
                                 * (owned; NULL until the first); at most one
                                 * entry per peer in the room */
};

struct sig_room_s {
    char *name;                 /* owned; also the key in h->rooms */
    sig_peer_t *head, *tail;
    uint32_t npeers;            /* present and away, and remote members */
    uint32_t nlocal;            /* this node's peers, present and away */
    uint32_t npending;          /* federation: joins and arrivals waiting for the cluster */
    uint8_t sub;                /* federation: SIG_RSUB_*, the room channel's subscription */
    bool resync;                /* federation: resynchronise once subscribed */
};

enum { SIG_RSUB_NONE = 0, SIG_RSUB_WAIT, SIG_RSUB_OK };

struct sig_conn_s {
    void *handle;               /* the glue's */
    char ip[64];
    char host[256];             /* Host header, for iceServers */
    sig_peer_t *peer;           /* NULL until joined */
    double tokens;              /* rate-limit bucket */
    double tokens_at;
    double abuse_start;         /* errors in the window starting here */
    uint32_t abuse;
    double refresh_at;          /* push ice-servers at this time; 0 = never */
    double stats_tokens;        /* stats reports it may still send (bucket) */
    double stats_at;            /* when the bucket was filled; 0 = never */
    bool closing;               /* ops->close was called */
    struct sig_fpend_s *fpend;  /* federation: a join or resume waiting for the cluster */
    sig_conn_t *prev, *next;    /* h->conns */
};

struct sig_hub_s {
    sig_cfg_t cfg;
    sig_ops_t ops;
    sig_map_t rooms;            /* name -> sig_room_t */
    sig_map_t resumes;          /* resume token -> sig_peer_t */
    sig_map_t ips;              /* ip -> (uintptr_t) open connections */
    sig_conn_t *conns;
    size_t nconns;
    sig_peer_t *away;           /* peers in their grace period */
    size_t npeers, naway;
    bool draining;
    /* Counters for /metrics. */
    uint64_t conns_total;
    uint64_t msgs[SIG_T_COUNT];
    uint64_t errors[SIG_E_COUNT];
    uint64_t refused[SIG_REFUSE_COUNT];
    uint64_t resumes_ok, resumes_failed;
    uint64_t relayed;           /* messages delivered to another peer */
    uint64_t queued, expired;   /* messages kept for away peers; lost at expiry */
    uint64_t refreshes;         /* credential refresh pushes */
    uint64_t closes_abuse;
    uint64_t left[3];           /* peer-left by reason: leave, closed, timeout */
    uint64_t dlat[SIG_DLAT_BUCKETS]; /* delivery time histogram, not cumulative */
    uint64_t dlat_count;
    double dlat_sum;            /* seconds */
    sig_client_stats_t client;  /* what the stats reports say */
    struct sig_fed_s *fed;      /* owned; NULL without federation */
};

enum { SIG_LEFT_LEAVE = 0, SIG_LEFT_CLOSED, SIG_LEFT_TIMEOUT };

/* ---- sig_msg.c: encoding --------------------------------------------- */

/* Send <obj> (consumed: decref'd) to <c>. */
void sig__send(sig_hub_t *h, sig_conn_t *c, json_t *obj);
/* Encode <obj> (consumed) as compact JSON; cmn_malloc'd, *len set. */
char *sig__encode(json_t *obj, size_t *len);
/* Send an error with <code>, a human message, and "ref" when <ref> is
 * not NULL; counts it, and closes an abusive connection (1008). */
void sig__error(sig_hub_t *h, sig_conn_t *c, sig_err_t code, const char *msg,
                const json_t *ref);
/* In <s> (<n> bytes: a JSON object jansson has accepted), where the value
 * of the top-level member <key> is written: *off and *vlen. false when it
 * is not there as a plain key (one written with escapes is not found). */
bool sig__member_raw(const char *s, size_t n, const char *key, size_t *off, size_t *vlen);
/* The relayed message {"type":<type>,"from":<from>,"data":...}, cmn_malloc'd,
 * *len set. "data" is copied as written in <raw> (the sender's message,
 * <rlen> bytes, accepted by jansson) when it can be found there, else
 * encoded from <data>. <raw> may be NULL. */
char *sig__relay_text(const char *raw, size_t rlen, const char *type, const char *from,
                      const json_t *data, size_t *len);
/* {"type":<type>} with "ref" copied when <ref> is not NULL. */
json_t *sig__reply(const char *type, const json_t *ref);
/* Is <s> a usable peer id (1..SIG_ID_MAX of [A-Za-z0-9_-])? */
bool sig__id_ok(const char *s);
/* Is <s> valid UTF-8 (so jansson will encode it)? */
bool sig__utf8_ok(const char *s);
/* Is <s> a usable room name (1..SIG_ROOM_MAX bytes of UTF-8, no control
 * chars)? */
bool sig__room_ok(const char *s);
/* SIG_ID_LEN random url-safe characters into <out>. */
void sig__random_id(char *out);

/* A histogram family: <counts> per bucket (not cumulative; <nb> of them,
 * the last +Inf) with the upper <bounds> of all but the last. */
void sig__histogram(cmn_prom_t *p, const char *name, const char *help, const double *bounds,
                    const uint64_t *counts, size_t nb, uint64_t count, double sum);

/* ---- sig_stats.c: connection outcomes reported by clients --------------- */

/* Handle {"type":"stats",...} from <c>: check it, then count it, drop it,
 * or answer an error; an ack when it has a <ref>. */
void sig__stats_report(sig_hub_t *h, sig_conn_t *c, json_t *msg, const json_t *ref,
                       double now);
/* <p> goes from this hub (it left, or moved to another node): free what it
 * reported. */
void sig__stats_free(sig_peer_t *p);
/* Peer <id> left <r> (its peer-left goes out; sig__notify_left calls it):
 * the others may report a new connection to a peer with that id later. */
void sig__stats_forget(sig_room_t *r, const char *id);
/* Write the icehub_client_* metrics. */
void sig__stats_metrics(const sig_hub_t *h, cmn_prom_t *p);
/* For a live upgrade (sig_state.c): the ids <p> reported, as a JSON array
 * (new reference), or NULL when none; and back: NULL, or what was wrong. An
 * imported id need not be in the room yet (its peer may come later in the
 * import): sig__stats_import_done drops those that are not, once the room
 * is complete. */
json_t *sig__stats_export(const sig_peer_t *p);
const char *sig__stats_import(sig_hub_t *h, sig_peer_t *p, const json_t *ids);
void sig__stats_import_done(sig_room_t *r);

/* ---- sig_ice.c -------------------------------------------------------- */

struct sig_dir_s;
/* The iceServers array for <user> (new reference): the relays <dir> ranks
 * (NULL, or none healthy: this node's own relay). */
json_t *sig__ice_servers(const sig_cfg_t *cfg, const struct sig_dir_s *dir, const char *host,
                         const char *user, double now);
/* The iceServers array as a json_t for <c> (its host and peer id). */
json_t *sig__ice_json(sig_hub_t *h, sig_conn_t *c, double now);

/* ---- sig_hub.c: what sig_route.c changes the hub with ----------------- */

/* Deliver <text> to <p>: sent when present, queued when away. Returns 0,
 * or CMN_ELIMIT when the away queue is full. <from>/<ref> are kept for
 * an undelivered notice. */
int sig__deliver(sig_hub_t *h, sig_peer_t *p, const char *text, size_t len, const char *from,
                 const json_t *ref);
/* Add a new local peer to <room> (created if needed) for <c> (NULL: away,
 * or without a socket yet), with join order <seq> (0: after the last). */
sig_peer_t *sig__peer_add(sig_hub_t *h, const char *room, const char *id, sig_conn_t *c,
                          uint64_t seq);
/* Remove <p> from its room, telling the others peer-left <reason>. */
void sig__peer_remove(sig_hub_t *h, sig_peer_t *p, int reason);
/* Take <p> out of its room and free it, telling nobody; the room is
 * freed too when nothing keeps it (sig__room_release). */
void sig__peer_unlink(sig_hub_t *h, sig_peer_t *p);
/* Tell the room's local peers (but <except>) peer-left <id> <reason>. */
void sig__notify_left(sig_hub_t *h, sig_room_t *r, const char *id, const char *reason,
                      const sig_peer_t *except);
/* Tell the room's local peers but <p> peer-joined <p>. */
void sig__notify_joined(sig_hub_t *h, sig_peer_t *p);
/* The room named <name>, created (empty) if needed. */
sig_room_t *sig__room_get(sig_hub_t *h, const char *name);
/* Free <r> if it has no local peers and nothing pending (its remote
 * members with it; federation: unsubscribe). Returns true if freed. */
bool sig__room_release(sig_hub_t *h, sig_room_t *r);
/* Insert <p> (not in a room) into <r>: after the members with a lower
 * seq (federation), else at the end. */
void sig__room_insert(sig_room_t *r, sig_peer_t *p);
void sig__room_unlink(sig_room_t *r, sig_peer_t *p);
/* Take <p> off the list of away peers (if it is on it). */
void sig__away_unlink(sig_hub_t *h, sig_peer_t *p);
/* <p>'s socket is taken away from it (closed with 1000 and <reason>);
 * <p> has none afterwards. */
void sig__conn_detach(sig_hub_t *h, sig_peer_t *p, const char *reason);
void sig__queue_free(sig_peer_t *p);
sig_room_t *sig__room_find(sig_hub_t *h, const char *name);
sig_peer_t *sig__room_peer(sig_room_t *r, const char *id);
/* <p> (without a connection) waits for its resume until <until>. */
void sig__peer_away(sig_hub_t *h, sig_peer_t *p, double until);
/* Set a fresh resume token on <p>. */
void sig__peer_new_resume(sig_hub_t *h, sig_peer_t *p);
/* Schedule the next credential push for <c>. */
void sig__conn_refresh_at(sig_hub_t *h, sig_conn_t *c, double now);

/* ---- sig_route.c: replies shared with sig_fed.c ------------------------ */

/* The joined / resumed reply to <c> for <p>. */
void sig__welcome(sig_hub_t *h, sig_conn_t *c, const char *type, sig_peer_t *p,
                  const json_t *ref, double now);
/* <c> takes over <p> after a resume: a new token, "resumed", then the
 * queued messages in order. */
void sig__resume_finish(sig_hub_t *h, sig_conn_t *c, sig_peer_t *p, const json_t *ref,
                        double now);
/* An "undelivered" error for a message to <to>, with the message's <ref>;
 * <why> is the human text. New reference. */
json_t *sig__undelivered(const char *to, const char *why, const json_t *ref);

/* ---- sig_fed.c, sig_fed_move.c: federation hooks (h->fed set) ---------- */

/* A join that passed the local checks: claim it in the cluster, answer
 * later. */
void sig__fed_join(sig_hub_t *h, sig_conn_t *c, const char *room, const char *id,
                   const json_t *ref, double now);
/* A resume with a token of another node. */
void sig__fed_resume(sig_hub_t *h, sig_conn_t *c, const char *token, const json_t *ref,
                     double now);
/* signal / broadcast from local <from> to remote members: publish <text>
 * (the message as the recipients get it). Returns 0 or CMN_EAGAIN. */
int sig__fed_relay(sig_hub_t *h, sig_peer_t *from, const sig_peer_t *to, const char *text,
                   size_t len, const json_t *ref);
/* Local <p> left its room with <reason> (SIG_LEFT_*): tell the cluster. */
void sig__fed_left(sig_hub_t *h, sig_peer_t *p, int reason);
/* An undelivered notice for <sender> (a remote member of <r>). */
void sig__fed_undelivered(sig_hub_t *h, sig_room_t *r, const char *sender, json_t *err);
/* The first local peer of <r> is coming: subscribe to its channel. */
void sig__fed_room_open(sig_hub_t *h, sig_room_t *r);
/* <r> is being freed: unsubscribe. */
void sig__fed_room_close(sig_hub_t *h, sig_room_t *r);
/* <c> is gone: forget its pending join or resume. */
void sig__fed_conn_gone(sig_hub_t *h, sig_conn_t *c);
/* Timers of the federation: pending requests, silent nodes. */
void sig__fed_tick(sig_hub_t *h, double now);
/* A fresh resume token for this node into <out> (SIG_TOKEN_MAX + 1). */
void sig__fed_token(sig_hub_t *h, char *out);
struct sig_fed_s *sig__fed_new(const sig_cfg_t *cfg);
void sig__fed_free(sig_hub_t *h);
void sig__fed_metrics(const sig_hub_t *h, cmn_prom_t *p);
/* The relay director of <h>, or NULL (no federation). */
const struct sig_dir_s *sig__fed_dir(const sig_hub_t *h);
/* Is <s> a usable node name (1..SIG_NODE_MAX of [A-Za-z0-9_-])? */
bool sig__node_ok(const char *s);

/* ---- sig_dir.c: the relay director ------------------------------------- */

typedef struct sig_dir_s sig_dir_t;

/* A table for heartbeats sent every <heartbeat> seconds. */
sig_dir_t *sig__dir_new(double heartbeat);
void sig__dir_free(sig_dir_t *d);
/* Take a heartbeat or a bye: 0, or CMN_EINVAL / CMN_ELIMIT with *why. */
int sig__dir_update(sig_dir_t *d, const char *data, size_t len, double now, const char **why);
/* Forget <node> (it is dead). */
void sig__dir_forget(sig_dir_t *d, const char *node);
/* Know of <node> (a member is on it) from <now> on, if not yet: it then
 * counts as silent until it beats. */
void sig__dir_touch(sig_dir_t *d, const char *node, double now);
/* When <node>'s last heartbeat came; 0 = never. */
double sig__dir_seen(const sig_dir_t *d, const char *node);
/* Nodes heard from within two heartbeats. */
size_t sig__dir_alive(const sig_dir_t *d, double now);
/* The load a relay reports, 0 (idle) to 1 (at its limits) and beyond. */
double sig__dir_load(const sig_node_info_t *n);
/* The healthy relays, least loaded first, at most <max>, into <out>
 * (borrowed until the next update). <self> (this node) may have no host:
 * its own hub lists it with the request's host. */
size_t sig__dir_rank(const sig_dir_t *d, const char *self, double now,
                     const sig_node_info_t **out, size_t max);
/* Call <fn> for each node silent for more than <silence> seconds, at most
 * once per <every> seconds each; forget nodes silent for <forget>. */
void sig__dir_silent(sig_dir_t *d, double now, double silence, double every, double forget,
                     void (*fn)(void *ctx, const char *node), void *ctx);

/* ---- sig_fed_msg.c: the cluster's messages ------------------------------ */

/* A message on a room or node channel: one JSON object (the header),
 * then, for messages that carry what a client gets, "\n" and that text.
 * docs/scaling.md lists them. */
typedef enum sig_fkind_e {
    SIG_FK_JOIN = 0,            /* room: a member joined (with the members) */
    SIG_FK_LEFT,                /* room: a member left */
    SIG_FK_MOVED,               /* room: a member resumed on another node */
    SIG_FK_SYNC,                /* room: a node's members after a resync */
    SIG_FK_SIG,                 /* room: a signal for one member */
    SIG_FK_BC,                  /* room: a broadcast */
    SIG_FK_UND,                 /* room: an undelivered notice for one member */
    SIG_FK_TAKE,                /* node: hand me the peer of this resume token */
    SIG_FK_TOOK,                /* node: the answer (its room and id, or no) */
    SIG_FK_STATE,               /* node: the moved peer's queued messages */
    SIG_FK_COUNT
} sig_fkind_t;

#define SIG_FED_MEMBERS_MAX 100000  /* members one message may list */
#define SIG_FED_QUEUE_MAX 100000    /* queued messages one state message may carry */

/* A decoded cluster message. Strings borrow from <root> or the input. */
typedef struct sig_fmsg_s {
    sig_fkind_t kind;
    json_t *root;               /* owned: the header */
    const char *node;           /* "n": the node that wrote it */
    const char *id;             /* join, left, moved, took: the member */
    const char *from;           /* sig, bc: the sender; moved: the node it left */
    const char *to;             /* sig: the recipient; und: the sender to tell */
    int why;                    /* left: SIG_LEFT_* */
    const char *token;          /* take: the resume token */
    const char *room;           /* took: the member's room */
    uint64_t seq;               /* join, moved: the member's join order */
    uint64_t req;               /* moved, take, took, state: the request */
    bool ok;                    /* took */
    const json_t *ref;          /* sig, bc: the sender's ref, or NULL */
    const json_t *members;      /* join, moved, sync: [[ID, SEQ, NODE], ...], checked */
    const json_t *queue;        /* state: [[TEXT, FROM, REF], ...], checked */
    const json_t *reported;     /* state: [ID, ...] the peer sent stats about, or NULL */
    const char *body;           /* sig, bc, und: the text for the client */
    size_t blen;
} sig_fmsg_t;

/* Decode <data>: 0, or CMN_EINVAL with *why (static text). */
int sig__fmsg_decode(const char *data, size_t len, sig_fmsg_t *m, const char **why);
void sig__fmsg_dispose(sig_fmsg_t *m);
/* <hdr> (consumed) as compact JSON, then "\n" and <body> when blen > 0;
 * cmn_malloc'd, *len set. */
char *sig__fmsg_encode(json_t *hdr, const char *body, size_t blen, size_t *len);
/* <hdr> (consumed) without its closing brace, for the scripts that append
 * the members. */
char *sig__fmsg_prefix(json_t *hdr, size_t *len);
const char *sig__left_name(int reason);

/* ---- sig_fed.c, sig_fed_room.c, sig_fed_move.c: the federation's state ---- */


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
    json_t *state;              /* resume: owned: the old node's state message (header) */
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
/* A record of member <id> of <r> on <node>. */
sig_peer_t *sig__fed_add_remote(sig_hub_t *h, sig_room_t *r, const char *id, uint64_t seq,
                                const char *node);
void sig__fed_drop_remote(sig_hub_t *h, sig_room_t *r, sig_peer_t *p);
void sig__fed_evict(sig_hub_t *h, sig_peer_t *p);
void sig__fed_reconcile(sig_hub_t *h, sig_room_t *r, const json_t *members, const char *only,
                        bool notify, double now);
/* Publish that this node's <id> left <room> with <reason> (SIG_LEFT_*). */
void sig__fed_leave_id(sig_hub_t *h, const char *room, const char *id, int reason);
/* <p>'s node confirmed it: no longer stale. */
void sig__fed_confirm(sig_fed_t *f, sig_peer_t *p);

/* sig_fed_room.c */
void sig__fed_room_sync(sig_hub_t *h, sig_room_t *r);
/* Order <r>'s members by seq again (a resync may renumber them). */
void sig__fed_room_sort(sig_room_t *r);
/* Stale remote records whose node never confirmed them leave. */
void sig__fed_expire_stale(sig_hub_t *h, double now);
void sig__fed_on_sync(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now);

/* sig_fed_move.c */
void sig__fed_node_message(sig_hub_t *h, const sig_fmsg_t *m, double now);
void sig__fed_on_moved(sig_hub_t *h, sig_room_t *r, const sig_fmsg_t *m, double now);
void sig__fed_move_claim(sig_hub_t *h, sig_fpend_t *pd, double now);
void sig__fed_move_result(sig_hub_t *h, sig_fpend_t *pd, int status, double now);
void sig__fed_move_abort(sig_hub_t *h, sig_fpend_t *pd, double now);

#endif /* SIG_INT_H */
