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
} sig_cfg_t;

/* A deep copy of <src> into <dst>; free it with sig_cfg_dispose. */
void sig_cfg_copy(sig_cfg_t *dst, const sig_cfg_t *src);
void sig_cfg_dispose(sig_cfg_t *c);

/* What the hub asks of the glue. <conn> is the handle given to
 * sig_conn_open. Neither call may re-enter the hub. */
typedef struct sig_ops_s {
    void *ud;
    /* Queue one text message; <text> is borrowed for the call. */
    void (*send)(void *ud, void *conn, const char *text, size_t len);
    /* Close the connection with a WebSocket close code after what is
     * queued; the glue later reports sig_conn_gone. */
    void (*close)(void *ud, void *conn, int code, const char *reason);
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
 * as JSON (cmn_malloc'd, *len set), for a live upgrade: every peer counts
 * as away from <now> (wall seconds), so its client can resume in the new
 * process. Empty of rooms when resume_seconds is 0. */
char *sig_hub_export(const sig_hub_t *h, double now, size_t *len);
/* Add what sig_hub_export wrote (another process: every field is checked)
 * to a hub that has no rooms yet. Returns 0, or CMN_EINVAL with *why naming
 * what was wrong (a static string); the hub may then hold part of it and is
 * for freeing only. */
int sig_hub_import(sig_hub_t *h, const char *text, size_t len, double now, const char **why);

/* Write the icehub_signal_* metrics. */
void sig_hub_metrics(const sig_hub_t *h, cmn_prom_t *p);

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
