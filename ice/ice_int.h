/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_int.h: what the files of ice/ share and nothing outside ice/ (tests
 * aside) may use. The pure parts come first (statistics, candidate lines,
 * the messages of the call check, TURN client messages, probe packets,
 * RTP, serve's modules); the glue's internal interfaces (sockets, the
 * signaling WebSocket) last.
 */
#ifndef ICE_INT_H
#define ICE_INT_H

#include "ice.h"

#include "../stun/stun.h"

/* ---- Statistics (ice_stats.c) ------------------------------------------- */

typedef struct ice_stats_s {
    double *rtt;              /* owned samples, seconds */
    size_t nrtt, rtt_cap;
    uint64_t sent, received;  /* packets */
    uint64_t bytes_tx, bytes_rx;
    double first_tx, first_rx, last_rx; /* caller's clock, seconds */
    double jitter;            /* RFC 3550 running estimate, seconds */
    double last_transit;
} ice_stats_t;

void ice_stats_init(ice_stats_t *s);
void ice_stats_dispose(ice_stats_t *s);
/* A packet of <bytes> payload left at <now>. */
void ice_stats_sent(ice_stats_t *s, size_t bytes, double now);
/* A round trip of <rtt> seconds; negative, NaN or infinite samples are dropped. */
void ice_stats_rtt(ice_stats_t *s, double rtt);
/* A packet of <bytes> arrived at <now> that its sender stamped <sent_ts>
 * (any clock: only differences count): updates the jitter and counts. */
void ice_stats_arrival(ice_stats_t *s, size_t bytes, double sent_ts, double now);
/* The figures of a stream whose sender sent <sent> packets. Sorts s->rtt. */
void ice_stats_finish(ice_stats_t *s, uint64_t sent, ice_traffic_t *out);
/* Summary of <n> samples (sorted in place). */
void ice_rtt_summary(ice_rtt_t *out, double *samples, size_t n);
/* Nearest-rank percentile <q> (0..100) of <n> sorted samples; 0 if n == 0. */
double ice_percentile(const double *sorted, size_t n, double q);
/* 1 - received/sent, 0 when nothing was sent or everything arrived. */
double ice_loss_ratio(uint64_t sent, uint64_t received);
/* Two directions as one: counts and throughput add up, jitter is the
 * larger; the RTT is left zero for the caller to fill. */
void ice_traffic_merge(ice_traffic_t *out, const ice_traffic_t *a, const ice_traffic_t *b);

/* ---- Candidate lines (ice_cand.c) -------------------------------------- */

#define ICE_CAND_MAX 512          /* bytes in one candidate line */
#define ICE_CAND_TOKEN_MAX 128    /* bytes in one of its tokens, plus NUL */
#define ICE_CAND_MAX_EXT 16       /* extension name/value pairs */

typedef struct ice_cand_s {
    char foundation[33];
    unsigned component;       /* 1..256 */
    ice_transport_t transport; /* UDP or TCP */
    uint32_t priority;
    cmn_addr_t addr;          /* connection address and port */
    ice_ctype_t type;
    cmn_addr_t raddr;         /* related address; family 0 when absent */
} ice_cand_t;

/* Parse "candidate:..." (an "a=" prefix is allowed) of <len> bytes.
 * Returns 0 or CMN_EINVAL with *why a static phrase. */
int ice_cand_parse(ice_cand_t *c, const char *line, size_t len, const char **why);
/* <s> is <min>..<max> ice-chars (ALPHA / DIGIT / "+" / "/", RFC 8839 §5.1):
 * foundations, ufrags, passwords. */
bool ice__ice_chars(const char *s, size_t min, size_t max);
/* "host", "srflx", "prflx", "relay" -> type. Returns 0 or CMN_EINVAL. */
int ice_ctype_parse(const char *s, ice_ctype_t *out);

/* ---- The call check's messages (ice_msg.c) ------------------------------ */

#define ICE_MAX_CANDS 64          /* candidates in one offer or answer */
#define ICE_PEER_ID_MAX 64        /* docs/signaling.md */
#define ICE_MAX_PEERS 8           /* peers of a joined message we keep */
#define ICE_MAX_ICE_URLS 8        /* iceServers URLs we keep */
#define ICE_CRED_MAX 256          /* TURN username/credential bytes */
#define ICE_SRTP_KEY_MAX 46       /* the longest master key + salt (AES-256) */

typedef enum ice_pmsg_kind_e {
    ICE_PMSG_OFFER = 0,
    ICE_PMSG_ANSWER,
    ICE_PMSG_DONE,
} ice_pmsg_kind_t;

/* One probe-to-probe message. */
typedef struct ice_pmsg_s {
    ice_pmsg_kind_t kind;
    char ufrag[257], pwd[257];
    size_t ncands;
    ice_cand_t cand[ICE_MAX_CANDS];
    char cand_text[ICE_MAX_CANDS][ICE_CAND_MAX + 1]; /* as sent, for libnice */
    ice_srtp_suite_t suite;
    uint8_t key[ICE_SRTP_KEY_MAX]; /* master key || master salt */
    size_t keylen;
    uint64_t sent, received;  /* done: packets this side sent and received */
} ice_pmsg_t;

/* Master key + salt bytes of <s>. */
size_t ice_srtp_key_len(ice_srtp_suite_t s);
bool ice_peer_id_ok(const char *s);

struct json_t;
/* <o> (a "data" value from the hub) into <pm>. Returns 0 or CMN_EINVAL
 * with *why. */
int ice_pmsg_from_json(ice_pmsg_t *pm, struct json_t *o, const char **why);
/* A new JSON object for <pm> (the caller owns the reference). */
struct json_t *ice_pmsg_to_json(const ice_pmsg_t *pm);

typedef enum ice_sig_type_e {
    ICE_SIG_OTHER = 0,        /* a type the probe does not need (pong, left, ...) */
    ICE_SIG_JOINED,
    ICE_SIG_PEER_JOINED,
    ICE_SIG_PEER_LEFT,
    ICE_SIG_SIGNAL,
    ICE_SIG_ERROR,
    ICE_SIG_ACK,
} ice_sig_type_t;

/* One iceServers URL with its credentials. */
typedef struct ice_iceserver_s {
    ice_url_t url;
    char user[ICE_CRED_MAX + 1], cred[ICE_CRED_MAX + 1];
} ice_iceserver_t;

typedef struct ice_sig_ev_s {
    ice_sig_type_t type;
    char id[ICE_PEER_ID_MAX + 1];     /* joined: ours; peer-*: theirs; signal: from */
    size_t npeers;                    /* joined: peers already in the room */
    char peers[ICE_MAX_PEERS][ICE_PEER_ID_MAX + 1];
    size_t nservers;                  /* joined: usable iceServers URLs */
    ice_iceserver_t servers[ICE_MAX_ICE_URLS];
    char code[64], message[256];      /* error */
} ice_sig_ev_t;

/* Parse one hub message. A "signal" also fills <pm> from its data (an
 * error there fails the whole message). Returns 0 or CMN_EINVAL with *why. */
int ice_sig_parse(const char *text, size_t len, ice_sig_ev_t *ev, ice_pmsg_t *pm,
                  const char **why);
/* Messages to the hub, as cmn_malloc'd JSON text. */
char *ice_sig_join(const char *room);
char *ice_sig_signal(const char *to, const ice_pmsg_t *pm);
char *ice_sig_leave(void);

/* ---- TURN and STUN client messages (ice_turnc.c) ------------------------ */

#define ICE_MSG_MAX 1500          /* bytes of one request or response we build or take */

/* Long-term credential state of one client (RFC 8489 §9.2). */
typedef struct ice_turnc_s {
    char user[ICE_CRED_MAX + 1], pass[ICE_CRED_MAX + 1];
    char realm[STUN_REALM_MAX + 1], nonce[STUN_NONCE_MAX + 1];
    uint8_t key[STUN_KEY_MAX];
    size_t keylen;            /* 0 until a realm is known */
} ice_turnc_t;

typedef struct ice_turnc_res_s {
    bool success;             /* a success response */
    int code;                 /* error responses: ERROR-CODE (0 if it had none) */
    char reason[128];
    bool retry;               /* 401/438 that taught us a realm/nonce: send again */
    cmn_addr_t relayed, mapped;
    uint32_t lifetime;
} ice_turnc_res_t;

void ice_turnc_init(ice_turnc_t *c, const char *user, const char *pass);
/* TURN REST API credentials (draft-uberti-behave-turn-rest §2.2, coturn's
 * use-auth-secret): user "<now+ttl>:icehub-probe", password
 * base64(HMAC-SHA1(secret, user)). Returns 0 or CMN_EIO. */
int ice_turnc_rest_creds(const char *secret, long long now, int ttl, char *user, size_t ulen,
                         char *pass, size_t plen);
/* Requests into <buf>: the length, or a negative CMN_E* code. The
 * credentials go in once a realm and nonce are known. */
ssize_t ice_turnc_allocate(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                           const uint8_t tid[STUN_TID_LEN], uint32_t lifetime);
ssize_t ice_turnc_permission(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                             const uint8_t tid[STUN_TID_LEN], const cmn_addr_t *peer);
ssize_t ice_turnc_channel_bind(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                               const uint8_t tid[STUN_TID_LEN], uint16_t channel,
                               const cmn_addr_t *peer);
ssize_t ice_turnc_refresh(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                          const uint8_t tid[STUN_TID_LEN], uint32_t lifetime);
/* A Binding request with FINGERPRINT. */
ssize_t ice_binding_request(uint8_t *buf, size_t cap, const uint8_t tid[STUN_TID_LEN]);
/* Read the response to the request <tid> of <method>. Returns 0 with <res>
 * filled, CMN_ENOENT when <buf> is not that response (another transaction,
 * not STUN: ignore it), CMN_EPROTO when it is malformed, CMN_EAUTH when a
 * response that carries MESSAGE-INTEGRITY fails the check with our key.
 * A 401 or 438 with a REALM and NONCE updates <c> and sets res->retry when
 * the request can be sent again with what was learned (a 401 to a request
 * that already carried credentials cannot: the password is wrong). */
int ice_turnc_response(ice_turnc_t *c, const uint8_t *buf, size_t len,
                       const uint8_t tid[STUN_TID_LEN], uint16_t method, bool had_creds,
                       ice_turnc_res_t *res);

/* ---- Probe packets (ice_rtp.c) -------------------------------------------- */

#define ICE_PKT_HDR 28            /* bytes the probe header takes of a payload */
#define ICE_RTP_HDR 12            /* RTP fixed header (RFC 3550 §5.1) */
#define ICE_RTP_CLOCK 90000       /* RTP timestamp units per second */
#define ICE_RTP_PT 96             /* dynamic payload type */

/* The probe header at the start of every payload: the sender's clock and,
 * in a call, the last timestamp it received from the other side and how
 * long it held it (as RTCP's LSR/DLSR do, RFC 3550 §6.4.1), for the RTT. */
typedef struct ice_pkt_s {
    uint32_t seq;
    uint64_t ts_us;           /* sender's clock, microseconds */
    uint64_t echo_ts_us;      /* peer's ts_us last received; 0 = none yet */
    uint32_t hold_us;         /* microseconds since that packet arrived */
} ice_pkt_t;

/* Write the header and <size> - ICE_PKT_HDR filler bytes (size >=
 * ICE_PKT_HDR). Returns <size>. */
size_t ice_pkt_encode(uint8_t *buf, size_t size, const ice_pkt_t *p);
/* Returns 0 or CMN_EPROTO (too short, no magic). */
int ice_pkt_decode(const uint8_t *buf, size_t len, ice_pkt_t *p);

typedef struct ice_rtp_s {
    uint8_t pt;
    bool marker;
    uint16_t seq;
    uint32_t ts, ssrc;
    const uint8_t *payload;   /* borrowed from the packet */
    size_t payload_len;
} ice_rtp_t;

/* RTP header (V=2, no CSRC, no extension) + <payload_len> bytes already at
 * buf + ICE_RTP_HDR. Returns the packet length. */
size_t ice_rtp_header(uint8_t *buf, const ice_rtp_t *r, size_t payload_len);
/* Parse an RTP packet (RFC 3550 §5.1; CSRCs, a header extension and
 * padding are skipped). Returns 0 or CMN_EPROTO. */
int ice_rtp_parse(const uint8_t *buf, size_t len, ice_rtp_t *r);

/* ---- Options and modules (ice_opts.c, ice_modules.c) ------------------- */

/* Parse a duration: a decimal number of seconds, or with a suffix "ms" or
 * "s" ("0.25", "250ms", "2s"). Returns 0 or CMN_EINVAL. */
int ice_parse_seconds(const char *s, double *out);
/* A ratio: "0.05" or "5%". Returns 0 or CMN_EINVAL (outside 0..1). */
int ice_parse_ratio(const char *s, double *out);
/* Check what a command needs (a target, credentials...) after parsing.
 * Returns 0 or CMN_EINVAL with <err>. */
int ice_opts_check(const ice_opts_t *o, char *err, size_t errlen);

typedef struct ice_module_s {
    char name[64];
    ice_opts_t opts;          /* owned; targets empty (the scrape gives one) */
} ice_module_t;

typedef struct ice_modules_s {
    ice_module_t *v;          /* owned */
    size_t n;
} ice_modules_t;

/* The built-in modules "stun", "turn" and "call" with the defaults, then
 * those of <path> (NULL: none), which may redefine them. Errors name the
 * file and line, the module and setting, what was expected and found.
 * Returns 0 or CMN_EINVAL. */
int ice_modules_load(ice_modules_t *m, const char *path, char *err, size_t errlen);
void ice_modules_dispose(ice_modules_t *m);
const ice_module_t *ice_modules_find(const ice_modules_t *m, const char *name);
/* Options for one scrape: <mod> with <target>. Returns 0 or CMN_EINVAL. */
int ice_module_opts(const ice_module_t *mod, const char *target, double scrape_timeout,
                    ice_opts_t *out, char *err, size_t errlen);

/* ---- Glue: clock, names, sockets (ice_net.c) ---------------------------- */

/* Monotonic seconds. */
double ice_now(void);
/* "stun", "turn", "call", "serve". */
const char *ice_cmd_name(ice_cmd_t c);
/* Set the option <name> (as on the command line, without "--") of
 * <o>'s command from <value> (flags: "true"/"false"). Returns 0 or
 * CMN_EINVAL with <err> ("name: expected ..., found ..."). */
int ice__opts_set(ice_opts_t *o, const char *name, const char *value, char *err, size_t errlen);
/* Unix time, seconds. */
long long ice_wallclock(void);
/* Resolve <host>:<port> (a name or an IP literal). Returns 0 or CMN_ENOENT
 * with <err>. */
int ice_resolve(const char *host, uint16_t port, cmn_addr_t *out, char *err, size_t errlen);

typedef struct ice_tls_opts_s {
    const char *ca;           /* borrowed; NULL = the system's CAs */
    bool insecure;
    const char *sni;          /* borrowed; the host name to verify */
} ice_tls_opts_t;

/* A connection to a STUN/TURN server over UDP, TCP or TLS; one message in,
 * one message out, stream framing hidden. */
typedef struct ice_conn_s {
    int fd;
    ice_transport_t tp;
    void *ssl;                /* SSL *, owned */
    void *ssl_ctx;            /* SSL_CTX *, owned */
    cmn_addr_t local, remote;
    bool icmp_seen;           /* UDP: a port-unreachable arrived */
    uint8_t rbuf[65536 + 4];  /* stream bytes not yet framed */
    size_t rlen;
} ice_conn_t;

/* Where and how to connect. */
typedef struct ice_conn_req_s {
    ice_transport_t tp;
    cmn_addr_t to;
    ice_tls_opts_t tls;       /* for ICE_TP_TLS */
    const char *local_ip;     /* borrowed: bind to this address (--local-address), or NULL */
    uint16_t local_port;      /* UDP: bind this port, shared with other sockets
                               * (SO_REUSEPORT) so several servers see one
                               * mapping; 0 = any */
    double deadline;          /* ice_now() clock */
} ice_conn_req_t;

/* Open (and for TLS, handshake) before req->deadline. Returns 0, CMN_EAGAIN
 * on timeout, CMN_EIO with <err>. */
int ice_conn_open(ice_conn_t *c, const ice_conn_req_t *req, char *err, size_t errlen);
/* Send one message (a ChannelData message is padded on streams). Returns 0
 * or CMN_EIO. */
int ice_conn_send(ice_conn_t *c, const uint8_t *buf, size_t len);
/* Receive one datagram or frame before <deadline>. Returns its length,
 * CMN_EAGAIN on timeout, CMN_EIO when the connection failed or closed. */
ssize_t ice_conn_recv(ice_conn_t *c, uint8_t *buf, size_t cap, double deadline);
/* Like ice_conn_recv, for whichever of <n> connections has something;
 * *which is its index. */
ssize_t ice_conn_recv_any(ice_conn_t **c, size_t n, uint8_t *buf, size_t cap, double deadline,
                          size_t *which);
void ice_conn_close(ice_conn_t *c);

/* One request/response exchange with RFC 8489 §6.2.1 retransmissions on
 * UDP (RTO 500 ms, doubling) until <deadline>. Returns 0 with the response
 * in <out> (*outlen), CMN_EAGAIN on timeout, CMN_EIO. Responses to other
 * transactions and ChannelData are skipped. */
int ice_transact(ice_conn_t *c, const uint8_t *req, size_t len, double deadline, uint8_t *out,
                 size_t cap, size_t *outlen);
/* Random transaction id. */
void ice_tid(uint8_t tid[STUN_TID_LEN]);

/* ---- Glue: SRTP (ice_srtp.c) ------------------------------------------------ */

typedef struct ice_srtp_s {
    void *tx, *rx;            /* srtp_t sessions, owned */
} ice_srtp_t;

/* Sessions that protect with <txkey> and unprotect with <rxkey> (master key
 * || salt, ice_srtp_key_len bytes each). Returns 0 or CMN_EIO. */
int ice_srtp_start(ice_srtp_t *s, ice_srtp_suite_t suite, const uint8_t *txkey,
                   const uint8_t *rxkey, size_t keylen);
/* Protect the RTP packet of *len bytes in place; <cap> must leave room for
 * the tag. Returns 0, CMN_ENOMEM or CMN_EIO. */
int ice_srtp_protect(ice_srtp_t *s, uint8_t *pkt, size_t *len, size_t cap);
/* Unprotect in place. Returns 0, CMN_EAUTH (authentication failed),
 * CMN_EEXIST (a replayed or too old packet) or CMN_EPROTO. */
int ice_srtp_unprotect(ice_srtp_t *s, uint8_t *pkt, size_t *len);
void ice_srtp_dispose(ice_srtp_t *s);

/* ---- Glue: the call check (ice_call.c: signaling and phases; ice_agent.c:
 * libnice and the media stream) ------------------------------------------ */

struct _NiceAgent;
struct _GMainContext;
struct _GMainLoop;
typedef struct ice_call_s ice_call_t;
typedef struct ice_ws_s ice_ws_t;

/* One end of the call: a WebSocket to the hub and an ICE agent. */
typedef struct ice_end_s {
    ice_call_t *call;         /* borrowed: the check it belongs to */
    int idx;                  /* 0 or 1 (both ends run with --pair) */
    /* what this end waits for, named in a timeout, and until when */
    const char *phase;
    const char *waiting;
    double deadline;
    /* signaling */
    ice_ws_t *ws;             /* owned */
    char id[ICE_PEER_ID_MAX + 1], peer[ICE_PEER_ID_MAX + 1];
    bool joined, offerer;
    size_t nservers;
    ice_iceserver_t servers[ICE_MAX_ICE_URLS];
    ice_pmsg_t *remote;       /* owned: the peer's offer or answer until applied */
    /* ICE */
    struct _NiceAgent *agent; /* owned */
    unsigned stream;
    bool gathered, remote_set, connected, closed;
    double t_gather, t_gathered, t_remote, t_connected;
    unsigned local_c[5], remote_c[5]; /* candidates by ice_ctype_t */
    ice_transport_t relay_tp; /* the TURN transport this end was given */
    /* media */
    ice_srtp_t srtp;
    bool srtp_on;
    uint8_t txkey[ICE_SRTP_KEY_MAX];
    uint32_t ssrc, ts0;
    uint16_t seq;
    uint64_t sent, target;    /* packets sent, packets to send */
    double t_send0;
    unsigned send_timer;      /* GSource id, 0 when none */
    ice_stats_t rx;           /* what arrived from the peer, and our RTT samples */
    bool rx_any;
    uint32_t rx_ts0;          /* RTP timestamp of the first packet that arrived */
    uint64_t last_peer_ts_us; /* the peer's clock in its last packet */
    double last_peer_arrival;
    uint64_t auth_failures, replays;
    bool sending_done, done_sent, done_received, finished;
    uint64_t peer_sent, peer_received; /* from the peer's done */
} ice_end_t;

/* ice_agent.c, called by ice_call.c: */
/* Create the agent (controlling when <e> offers), give it the hub's STUN
 * and TURN servers and start gathering. Returns 0 or CMN_EIO with <err>. */
int ice__agent_start(ice_end_t *e, char *err, size_t errlen);
/* Our side for an offer or answer: credentials, candidates (relayed ones
 * only with --relay-only), and a fresh SRTP key. */
void ice__agent_local(ice_end_t *e, ice_pmsg_t *pm);
/* Apply the peer's offer or answer: credentials, candidates, SRTP. Starts
 * the connectivity checks. Returns 0 or CMN_EINVAL with <err>. */
int ice__agent_remote(ice_end_t *e, const ice_pmsg_t *pm, char *err, size_t errlen);
/* Start the paced SRTP stream (on connected). */
void ice__agent_media(ice_end_t *e);
/* The selected pair, as the agent sees it now. */
void ice__agent_pair(ice_end_t *e, ice_pair_t *out);
/* Close the agent (TURN allocations released) and free it. */
void ice__agent_free(ice_end_t *e, struct _GMainContext *ctx);

/* ice_call.c, called by ice_agent.c: */
void ice__call_gathered(ice_end_t *e);
void ice__call_connected(ice_end_t *e);
void ice__call_sent_all(ice_end_t *e);
void ice__call_fail(ice_end_t *e, const char *step, const char *msg);
const ice_opts_t *ice__call_opts(const ice_end_t *e);
struct _GMainContext *ice__call_context(const ice_end_t *e);
/* Whether the hub (and so its TURN server) is on a loopback address. */
bool ice__call_loopback(const ice_end_t *e);

/* ---- Glue: the signaling WebSocket (ice_ws.c) ----------------------------- */

/* Called on the GMainContext's thread for each whole text message, and
 * once with text NULL when the connection ended (err says why). */
typedef void (*ice_ws_cb)(void *ud, const char *text, size_t len, const char *err);

/* Connect to <url> (ws:// or wss://) on the GMainLoop <gloop>.
 * Returns NULL with <err> if the client cannot be set up; a failure to
 * connect is reported through <cb> later. */
ice_ws_t *ice_ws_open(void *gloop, const ice_url_t *url, const ice_tls_opts_t *tls,
                      ice_ws_cb cb, void *ud, char *err, size_t errlen);
/* Queue one text message (copied). */
void ice_ws_send(ice_ws_t *w, const char *text);
/* Close and free. Safe on NULL. */
void ice_ws_free(ice_ws_t *w);

#endif /* ICE_INT_H */
