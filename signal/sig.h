/* icehub - SPDX-License-Identifier: MIT
 *
 * sig.h: the WebSocket signaling hub (docs/signaling.md). Rooms of peers
 * exchange JSON messages (SDP offers/answers, ICE candidates, anything)
 * through the hub; each peer gets an iceServers array with fresh TURN
 * credentials for the co-located relay. Also the hub's REST endpoints
 * (/ice-servers, /turn-credentials, /room-token) and room tokens.
 *
 * The hub is pure: no sockets, no lws, no clock. The glue (the daemon's
 * daemon/ihd_ws.c) reports connection events and complete text messages; the hub answers
 * through the ops struct (send text, close) and takes <now> (wall-clock
 * seconds since the Unix epoch: credentials and tokens carry Unix times)
 * as a parameter, so the unit tests drive it with fake ops and a fake
 * clock. One thread only: every call for a hub comes from one thread.
 */
#ifndef SIG_H
#define SIG_H

#include "common/cmn.h"
#include "common/cmn_config.h"
#include "common/cmn_metrics.h"

#define SIG_ID_MAX 64            /* peer id length, url-safe characters */
#define SIG_ID_LEN 16            /* length of an id the hub picks */
#define SIG_ROOM_MAX 128         /* room name length in bytes */
#define SIG_ABUSE_WINDOW 10      /* seconds */
#define SIG_ABUSE_MAX 50         /* errors in a window before a 1008 close */
#define SIG_NODE_MAX 32          /* cluster node name length, url-safe characters */
#define SIG_TOKEN_MAX 72         /* resume token: [node "."] 32 random characters */

/* WebSocket close codes the hub uses (RFC 6455 §7.4.1). */
#define SIG_CLOSE_NORMAL 1000
#define SIG_CLOSE_GOING_AWAY 1001
#define SIG_CLOSE_POLICY 1008
#define SIG_CLOSE_TOO_BIG 1009
#define SIG_CLOSE_INTERNAL 1011

/* Stable error codes ("code" of an error message). */
typedef enum sig_err_e {
    SIG_E_BAD_MESSAGE = 0,
    SIG_E_BINARY,
    SIG_E_TOO_LARGE,
    SIG_E_RATE_LIMITED,
    SIG_E_NOT_JOINED,
    SIG_E_ALREADY_JOINED,
    SIG_E_BAD_ROOM,
    SIG_E_ROOM_FULL,
    SIG_E_TOO_MANY_ROOMS,
    SIG_E_UNKNOWN_PEER,
    SIG_E_TOKEN_REQUIRED,
    SIG_E_BAD_TOKEN,
    SIG_E_RESUME_FAILED,
    SIG_E_UNDELIVERED,
    SIG_E_DRAINING,
    SIG_E_INTERNAL,
    SIG_E_COUNT
} sig_err_t;

const char *sig_err_name(sig_err_t e);

/* Message types a client sends; SIG_T_INVALID counts the rest. */
typedef enum sig_type_e {
    SIG_T_JOIN = 0,
    SIG_T_SIGNAL,
    SIG_T_BROADCAST,
    SIG_T_LEAVE,
    SIG_T_RESUME,
    SIG_T_ICE_SERVERS,
    SIG_T_PING,
    SIG_T_STATS,
    SIG_T_INVALID,
    SIG_T_COUNT
} sig_type_t;

const char *sig_type_name(sig_type_t t);

/* Why the glue refused a WebSocket upgrade (a metric label). */
typedef enum sig_refuse_e {
    SIG_REFUSE_ORIGIN = 0,       /* 403: Origin not allowed */
    SIG_REFUSE_PER_IP,           /* 429: signal.max_connections_per_ip */
    SIG_REFUSE_DRAINING,         /* 503: the daemon is draining */
    SIG_REFUSE_NOT_FOUND,        /* 404: signal.enabled is off, or not /ws */
    SIG_REFUSE_COUNT
} sig_refuse_t;

const char *sig_refuse_name(sig_refuse_t r);

/* The hub's settings. sig_hub_new / sig_hub_configure copy everything, so
 * the caller's strings need only live for the call. */
typedef struct sig_cfg_s {
    bool enabled;
    char *public_host;          /* "" = the request's Host */
    cmn_strlist_t api_keys;
    uint32_t credential_ttl;    /* seconds */
    cmn_strlist_t allowed_origins; /* empty = same origin; "*" = any */
    bool require_token;
    char *token_secret;         /* for room tokens; never empty */
    char *turn_secret;          /* shared secret of the TURN service; "" = none */
    uint16_t turn_port;         /* UDP and TCP; 0 = no stun:/turn: URLs */
    uint16_t turns_port;        /* 0 = no turns: URL */
    unsigned ice_urls;          /* CMN_ICE_* bits: which URLs iceServers holds */
    bool client_stats;          /* count clients' stats reports */
    size_t max_message;         /* bytes */
    uint32_t rate;              /* messages per second per connection */
    uint32_t burst;             /* messages a connection may send at once */
    uint32_t max_room_peers;
    uint32_t max_rooms;
    uint32_t max_connections_per_ip;
    uint32_t ping_interval;     /* seconds; glue */
    uint32_t idle_timeout;      /* seconds; glue */
    uint32_t resume_seconds;    /* grace period of a dropped peer */
    uint32_t resume_queue;      /* messages queued for an away peer */
    uint32_t drain_delay;       /* seconds between SIGTERM and the 1001 closes */
    size_t send_queue;          /* bytes a slow reader may have pending (glue) */
    uint32_t ice_servers_max;   /* TURN relays listed in iceServers (0 = 1) */
    /* Federation (sig_fed.c, docs/scaling.md): on when <node> is not empty. */
    char *node;                 /* this node's cluster name; "" = one node */
    uint32_t fed_timeout;       /* seconds a cluster request may take */
    uint32_t fed_heartbeat;     /* seconds between nodes' heartbeats */
    uint32_t fed_node_ttl;      /* seconds a heartbeat key lives */
} sig_cfg_t;

/* A deep copy of <src> into <dst>; free it with sig_cfg_dispose. */
void sig_cfg_copy(sig_cfg_t *dst, const sig_cfg_t *src);
void sig_cfg_dispose(sig_cfg_t *c);

/* What the hub asks of the glue. <conn> is the handle given to
 * sig_conn_open. Neither call may re-enter the hub. */
struct sig_fed_req_s;
typedef struct sig_ops_s {
    void *ud;
    /* Queue one text message; <text> is borrowed for the call. */
    void (*send)(void *ud, void *conn, const char *text, size_t len);
    /* Close the connection with a WebSocket close code after what is
     * queued; the glue later reports sig_conn_gone. */
    void (*close)(void *ud, void *conn, int code, const char *reason);
    /* Federation only (cfg.node set): hand one cluster request to the glue
     * (see sig_fed_req_t); everything in <r> is borrowed for the call.
     * Returns 0, or CMN_EAGAIN when it cannot be queued (the link is down
     * or its queue is full). May be NULL without federation. */
    int (*fed)(void *ud, const struct sig_fed_req_s *r);
} sig_ops_t;

typedef struct sig_hub_s sig_hub_t;
typedef struct sig_conn_s sig_conn_t;

sig_hub_t *sig_hub_new(const sig_cfg_t *cfg, const sig_ops_t *ops);
void sig_hub_free(sig_hub_t *h);
/* Replace the settings (SIGHUP). Limits apply to what comes next. */
void sig_hub_configure(sig_hub_t *h, const sig_cfg_t *cfg);
/* The settings in use; borrowed until the next sig_hub_configure. */
const sig_cfg_t *sig_hub_cfg(const sig_hub_t *h);

/* May a new WebSocket from <ip> come in? 0, or the refusal reason
 * (counted). <origin> and <host> are the request's headers ("" if none). */
int sig_hub_admit(sig_hub_t *h, const char *ip, const char *origin, const char *host,
                  sig_refuse_t *why);
/* Count an upgrade the glue refused for its own reasons. */
void sig_hub_refused(sig_hub_t *h, sig_refuse_t why);
/* true when <origin> may open a WebSocket to a server reached as <host>. */
bool sig_origin_allowed(const sig_cfg_t *cfg, const char *origin, const char *host);

/* A WebSocket was established. <handle> is the glue's (passed back in
 * ops); <ip> and <host> (the Host header, for iceServers) are copied. */
sig_conn_t *sig_conn_open(sig_hub_t *h, void *handle, const char *ip, const char *host,
                          double now);
/* One complete text message (not NUL-terminated). */
void sig_conn_text(sig_hub_t *h, sig_conn_t *c, const char *data, size_t len, double now);
/* A binary message, or one larger than max_message (already discarded). */
void sig_conn_binary(sig_hub_t *h, sig_conn_t *c, double now);
void sig_conn_too_large(sig_hub_t *h, sig_conn_t *c, double now);
/* The socket is gone; <c> is freed. A joined peer stays in its room for
 * resume_seconds, then the room hears peer-left "timeout". */
void sig_conn_gone(sig_hub_t *h, sig_conn_t *c, double now);

/* Timers: away peers' grace periods, credential refresh pushes. Call about
 * once a second. */
void sig_hub_tick(sig_hub_t *h, double now);
/* Start draining: joins and resumes get "draining" from now on. */
void sig_hub_drain(sig_hub_t *h);
bool sig_hub_draining(const sig_hub_t *h);
/* Close every connection with <code> (ops->close). */
void sig_hub_close_all(sig_hub_t *h, int code, const char *reason);
size_t sig_hub_nconns(const sig_hub_t *h);

/* Record how long a relayed message spent in the hub: from the moment its
 * bytes were read to the moment its copy was written to the recipient's
 * socket (icehub_signal_delivery_seconds, a histogram). */
void sig_hub_observe_delivery(sig_hub_t *h, double seconds);

/* ---- Moving the hub to another process (sig_state.c) ------------------ */

/* The version of the format below; a process reads only its own. */
#define SIG_STATE_VERSION 1

/* The rooms, peers (ids, resume tokens, grace periods) and queued messages
 * (in a cluster also the members on other nodes and the join order) as JSON (cmn_malloc'd, *len set), for a live upgrade: every peer counts
 * as away from <now> (wall seconds), so its client can resume in the new
 * process. Empty of rooms when resume_seconds is 0. */
char *sig_hub_export(const sig_hub_t *h, double now, size_t *len);
/* Add what sig_hub_export wrote (another process: every field is checked)
 * to a hub that has no rooms yet. Returns 0, or CMN_EINVAL with *why naming
 * what was wrong (a static string); the hub may then hold part of it and is
 * for freeing only. */
int sig_hub_import(sig_hub_t *h, const char *text, size_t len, double now, const char **why);

/* Write the icehub_signal_* metrics, and the icehub_client_* ones of the
 * stats reports (sig_stats.c). */
void sig_hub_metrics(const sig_hub_t *h, cmn_prom_t *p);

/* ---- Connection outcomes clients report (sig_stats.c) ---------------- */

/* A client (icehub.js) reports each of its peer connections once, when the
 * outcome is known: {"type":"stats","peer":ID,"result":"connected",
 * "local":"srflx","remote":"prflx","seconds":1.2,"restarts":0}, with
 * "relay":"udp"|"tcp"|"tls" when the local candidate is relayed
 * (docs/signaling.md). The hub checks every field, keeps only these
 * words and numbers (never an address), takes one report per pair of
 * peers and direction and at most SIG_STATS_RATE per second per
 * connection (a burst of max_room_peers), and counts them. */
#define SIG_STATS_RATE 1.0          /* reports per second per connection */
#define SIG_STATS_MAX_SECONDS 3600  /* largest time to connected taken */
#define SIG_STATS_MAX_RESTARTS 1000 /* largest ICE restart count taken */
/* Upper bounds (seconds) of the connect time histogram's buckets; the
 * last bucket is +Inf. */
#define SIG_CSEC_BOUNDS 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0
#define SIG_CSEC_BUCKETS 12

typedef enum sig_result_e {
    SIG_RESULT_CONNECTED = 0,
    SIG_RESULT_FAILED,
    SIG_RESULT_COUNT
} sig_result_t;

/* A candidate type (RFC 8445 §5.1.1.1 and prflx, §7.2.5.3.1); NONE when
 * the connection failed. */
typedef enum sig_cand_e {
    SIG_CAND_NONE = 0,
    SIG_CAND_HOST,
    SIG_CAND_SRFLX,
    SIG_CAND_PRFLX,
    SIG_CAND_RELAY,
    SIG_CAND_COUNT
} sig_cand_t;

/* How the reporting side reaches its TURN server when its candidate is
 * relayed; NONE otherwise. */
typedef enum sig_relay_e {
    SIG_RELAY_NONE = 0,
    SIG_RELAY_UDP,
    SIG_RELAY_TCP,
    SIG_RELAY_TLS,
    SIG_RELAY_COUNT
} sig_relay_t;

/* Why a well-formed report was not counted (a metric label). */
typedef enum sig_stats_drop_e {
    SIG_STATS_DROP_DISABLED = 0, /* signal.client_stats is off */
    SIG_STATS_DROP_DUPLICATE,    /* this pair was reported before */
    SIG_STATS_DROP_RATE,         /* over SIG_STATS_RATE */
    SIG_STATS_DROP_COUNT
} sig_stats_drop_t;

/* Label words: "connected"; "host"; "udp"; "duplicate" ("none" for NONE). */
const char *sig_result_name(sig_result_t r);
const char *sig_cand_name(sig_cand_t c);
const char *sig_relay_name(sig_relay_t r);
const char *sig_stats_drop_name(sig_stats_drop_t d);

/* What the hub counted from the reports. */
typedef struct sig_client_stats_s {
    uint64_t conns[SIG_RESULT_COUNT][SIG_CAND_COUNT][SIG_CAND_COUNT][SIG_RELAY_COUNT];
    uint64_t restarts;              /* ICE restarts, summed over the reports */
    uint64_t dropped[SIG_STATS_DROP_COUNT];
    uint64_t secs[SIG_CSEC_BUCKETS]; /* connected reports by time, not cumulative */
    uint64_t secs_count;
    double secs_sum;
} sig_client_stats_t;

/* The counters; borrowed, valid until the hub's next call. */
const sig_client_stats_t *sig_hub_client_stats(const sig_hub_t *h);

/* ---- Federation: rooms across nodes (sig_fed*.c, docs/scaling.md) ---- */

/* Cluster requests the hub makes of the glue, which runs them on Redis
 * (daemon/ihd_redis.c). Channels: every room has one, every node one.
 * Answers come back in order through the sig_hub_fed_* calls below, on
 * the hub's thread. Scripts that append members write, after <text>,
 * ",\"s\":SEQ,\"m\":[[ID,SEQ,NODE],...]}" (SEQ: the member's join order in
 * the room; "s" is the claimed member's own) and publish it on the room's
 * channel, atomically with the change. */
typedef enum sig_fed_op_e {
    SIG_FED_SUB = 0,    /* subscribe to <room>'s channel; sig_hub_fed_subscribed follows */
    SIG_FED_UNSUB,      /* unsubscribe from <room>'s channel */
    SIG_FED_PUB_ROOM,   /* publish <text> on <room>'s channel */
    SIG_FED_PUB_NODE,   /* publish <text> on node <node>'s channel */
    SIG_FED_JOIN,       /* claim <peer> in <room> for this node unless taken or <max>
                         * members are in; publish <text> + members; answer 0,
                         * CMN_EEXIST (taken) or CMN_ELIMIT (full) */
    SIG_FED_LEAVE,      /* remove <peer> from <room> if it is this node's, then
                         * publish <text>; answer 0 or CMN_ENOENT */
    SIG_FED_MOVE,       /* <peer> of <room> moves from node <node> to this node:
                         * publish <text> + members; answer 0 or CMN_ENOENT */
    SIG_FED_SYNC,       /* this node's members of <room> are <list>: add those missing
                         * (unless another node holds the id), drop the others,
                         * publish <text> + members; answer 0 */
    SIG_FED_PRUNE,      /* drop this node's members of every room not in <list>,
                         * publishing their "left" (reason closed); answer 0 */
    SIG_FED_REAP,       /* node <node> is silent: once its heartbeat key is gone,
                         * drop its members, publishing their "left" (timeout) */
    SIG_FED_COUNT
} sig_fed_op_t;

typedef struct sig_fed_req_s {
    sig_fed_op_t op;
    uint64_t id;                /* for sig_hub_fed_result; 0 = no answer wanted */
    const char *room;           /* borrowed, like every pointer here */
    const char *node;
    const char *peer;
    const char *text;
    size_t len;
    uint32_t max;               /* SIG_FED_JOIN: the room's size limit */
    const char *const *list;    /* SIG_FED_SYNC: peer ids; SIG_FED_PRUNE: room names */
    size_t nlist;
} sig_fed_req_t;

const char *sig_fed_op_name(sig_fed_op_t op);

/* The link to the cluster came up (both Redis connections work and this
 * node's channels are subscribed) or went down. Up: the hub subscribes
 * its rooms again and resynchronises them. Down: rooms stay as they are;
 * joins are decided locally until the link is back. */
void sig_hub_fed_link(sig_hub_t *h, bool up, double now);
/* The subscription to <room>'s channel (SIG_FED_SUB) is in place. */
void sig_hub_fed_subscribed(sig_hub_t *h, const char *room, double now);
/* The answer to request <id>: 0 or a CMN_E* code (CMN_EAGAIN: no answer,
 * the link broke or the request timed out). */
void sig_hub_fed_result(sig_hub_t *h, uint64_t id, int status, double now);
/* A message on <room>'s channel, or on this node's channel (<room> NULL).
 * Another process wrote it: it is checked like a client's message, and a
 * bad one is counted and dropped. */
void sig_hub_fed_message(sig_hub_t *h, const char *room, const char *data, size_t len,
                         double now);
/* A node's heartbeat or goodbye from the cluster channel (sig_dir.c). */
void sig_hub_fed_node(sig_hub_t *h, const char *data, size_t len, double now);
/* The glue dropped cluster input (its queue overflowed): resynchronise
 * every room. */
void sig_hub_fed_resync(sig_hub_t *h, double now);

/* ---- The relay director (sig_dir.c) ------------------------------------ */

/* What a node says about itself in its heartbeat. */
typedef struct sig_node_info_s {
    char node[SIG_NODE_MAX + 1];
    char host[254];             /* host for its relay URLs; "" = no relay offered */
    uint16_t port;              /* stun:/turn: over UDP and TCP; 0 = none */
    uint16_t tls_port;          /* turns:; 0 = none */
    bool signal;                /* it runs a hub */
    bool draining;              /* its relay takes no new allocations */
    uint32_t allocs;            /* live allocations */
    uint32_t max_allocs;        /* turn.max_allocations; 0 = unlimited */
    uint64_t bps;               /* relayed now, bits/s, both directions */
    uint64_t cap_bps;           /* quota.total_bps (each direction); 0 = unlimited */
    double started;             /* Unix seconds */
} sig_node_info_t;

/* The heartbeat message for <n> (cmn_malloc'd, *len set). */
char *sig_node_encode(const sig_node_info_t *n, double now, size_t *len);
/* A "bye" message: node <node> is leaving the cluster on purpose. */
char *sig_node_bye(const char *node, size_t *len);
/* Decode a heartbeat into <out> (returns 1), a bye (returns 0, out->node
 * set), or CMN_EINVAL with *why. */
int sig_node_decode(const char *data, size_t len, sig_node_info_t *out, const char **why);

/* ---- iceServers, credentials and tokens (sig_ice.c) ------------------ */

/* The iceServers array as JSON text (cmn_malloc'd) for <user> (the peer
 * id), credentials valid until now + credential_ttl. <host> is the Host
 * header, used when public_host is empty. */
char *sig_ice_servers_json(const sig_cfg_t *cfg, const char *host, const char *user,
                           double now);
/* A room token binding <room> and optionally <peer> (NULL or "") until
 * <expires> (Unix time). Returns a cmn_malloc'd string. */
char *sig_token_mint(const sig_cfg_t *cfg, const char *room, const char *peer, double expires);
/* Check <token> for <room>: 0, or CMN_EAUTH (bad signature, wrong room,
 * expired, malformed). The bound peer id, if any, is copied into <peer>
 * (SIG_ID_MAX + 1 bytes; "" when none). */
int sig_token_verify(const sig_cfg_t *cfg, const char *token, const char *room, double now,
                     char *peer);

/* ---- REST endpoints (sig_rest.c) -------------------------------------- */

typedef struct sig_http_req_s {
    const sig_hub_t *hub;       /* for the relay director's iceServers; may be NULL */
    bool get;                   /* GET (or HEAD); anything else gets 405 */
    const char *path;           /* "/ice-servers" */
    const char *query;          /* raw query string, "" if none */
    const char *authorization;  /* "" if none */
    const char *host;           /* "" if none */
} sig_http_req_t;

typedef struct sig_http_resp_s {
    unsigned status;
    char *body;                 /* cmn_malloc'd JSON */
    size_t len;
    bool www_authenticate;      /* add "WWW-Authenticate: Bearer" */
} sig_http_resp_t;

/* Answer GET /ice-servers, /turn-credentials and /room-token. Returns 0
 * with <resp> filled, or CMN_ENOENT when the path is not one of these. */
int sig_rest_handle(const sig_cfg_t *cfg, const sig_http_req_t *req, sig_http_resp_t *resp,
                    double now);

#endif /* SIG_H */
