/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_int.h: what the files of signal/ share: the hub's objects (rooms,
 * peers, connections, queued messages), a string-keyed map,
 * the message helpers of sig_msg.c, the iceServers of sig_ice.c and the
 * hub changes sig_route.c makes through sig_hub.c. Not for use outside
 * signal/.
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

struct sig_peer_s {
    char id[SIG_ID_MAX + 1];
    sig_room_t *room;
    sig_conn_t *conn;           /* NULL while away */
    double away_until;          /* while away: end of the grace period */
    char resume[48];            /* current resume token (a key of h->resumes) */
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
    uint32_t npeers;            /* present and away */
};

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
/* <p> leaves its room: free what it reported, and let the others report a
 * new connection to a peer with its id later. */
void sig__stats_forget(sig_hub_t *h, sig_peer_t *p);
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

/* The iceServers array for <user> (new reference). */
json_t *sig__ice_servers(const sig_cfg_t *cfg, const char *host, const char *user, double now);
/* The iceServers array as a json_t for <c> (its host and peer id). */
json_t *sig__ice_json(sig_hub_t *h, sig_conn_t *c, double now);

/* ---- sig_hub.c: what sig_route.c changes the hub with ----------------- */

/* Deliver <text> to <p>: sent when present, queued when away. Returns 0,
 * or CMN_ELIMIT when the away queue is full. <from>/<ref> are kept for
 * an undelivered notice. */
int sig__deliver(sig_hub_t *h, sig_peer_t *p, const char *text, size_t len, const char *from,
                 const json_t *ref);
/* Add a new peer to <room> (created if needed) for <c> (NULL: away). */
sig_peer_t *sig__peer_add(sig_hub_t *h, const char *room, const char *id, sig_conn_t *c);
/* Remove <p> from its room, telling the others peer-left <reason>. */
void sig__peer_remove(sig_hub_t *h, sig_peer_t *p, int reason);
sig_room_t *sig__room_find(sig_hub_t *h, const char *name);
sig_peer_t *sig__room_peer(sig_room_t *r, const char *id);
/* <p> (without a connection) waits for its resume until <until>. */
void sig__peer_away(sig_hub_t *h, sig_peer_t *p, double until);
/* Set a fresh resume token on <p>. */
void sig__peer_new_resume(sig_hub_t *h, sig_peer_t *p);
/* Schedule the next credential push for <c>. */
void sig__conn_refresh_at(sig_hub_t *h, sig_conn_t *c, double now);

#endif /* SIG_INT_H */
