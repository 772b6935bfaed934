/* icehub - SPDX-License-Identifier: MIT
 *
 * turn.h: the TURN server state machine (RFC 8656). It holds the
 * allocation, permission and channel tables of one relay worker and the
 * handlers that change them. A handler takes a decoded message, the
 * 5-tuple and `now`; it never parses raw bytes itself (the stun/ codec
 * does) and never touches a socket: side effects (open or close a relay
 * socket) go through turn_ops_t, and data to send is handed back to the
 * caller.
 *
 * Threads: a turn_t belongs to one worker thread and is used only there
 * (no locks). The few limits that span workers (allocations per user, per
 * client IP and in total) live in turn_shared_t, which takes a mutex, and
 * only on Allocate and on allocation end, never per packet.
 */
#ifndef TURN_H
#define TURN_H

#include "../common/cmn.h"
#include "../common/cmn_addr.h"
#include "../stun/stun.h"

/* Client transports (the 5-tuple's protocol), the one list of them: the
 * daemon's listeners, counters and labels use it too. */
typedef enum turn_transport_e {
    TURN_TR_UDP = 0,
    TURN_TR_TCP = 1,
    TURN_TR_TLS = 2,
    TURN_TR_COUNT
} turn_transport_t;

/* "udp", "tcp", "tls" (a metric label and an API field); "?" otherwise. */
const char *turn_transport_name(turn_transport_t t);

typedef struct turn_5tuple_s {
    cmn_addr_t client;      /* the client's address as this server sees it */
    cmn_addr_t server;      /* this server's address the client sent to */
    uint8_t transport;      /* turn_transport_t */
} turn_5tuple_t;

/* Room a caller leaves in front of peer data so turn_peer_data can prepend
 * a ChannelData header (4) or a Data indication header (20 + 24 + 4). */
#define TURN_PEER_HEADROOM 48

typedef struct turn_s turn_t;
typedef struct turn_shared_s turn_shared_t;
typedef struct turn_alloc_s turn_alloc_t;

/* ---- Configuration ---------------------------------------------------- */

typedef struct turn_user_s {
    char *name;             /* owned */
    char *password;         /* owned */
} turn_user_t;

/* A per-user rate (quota.users "PATTERN=RATE"). */
typedef struct turn_quota_rule_s {
    const char *pattern;    /* borrowed; an exact quota user, or a glob when <glob> */
    bool glob;              /* the pattern has *, ? or [ (fnmatch(3)) */
    uint64_t bps;           /* bits/s of UDP payload, each direction; 0 = unlimited */
} turn_quota_rule_t;

typedef struct turn_cfg_s {
    const char *realm;                  /* borrowed */
    const char *software;               /* borrowed; "" or NULL = no SOFTWARE */
    const turn_user_t *users;           /* borrowed; static long-term users */
    size_t nusers;
    char *const *secrets;               /* borrowed; shared secrets (ephemeral creds) */
    size_t nsecrets;
    uint8_t nonce_key[32];              /* HMAC key for stateless nonces */
    uint32_t nonce_lifetime;            /* seconds; default 600 */
    uint32_t default_lifetime;          /* allocation lifetime, default 600 s */
    uint32_t max_lifetime;              /* cap on requested lifetimes, default 3600 s */
    uint32_t permission_lifetime;       /* 300 s (RFC 8656 §9) */
    uint32_t channel_lifetime;          /* 600 s (RFC 8656 §12) */
    uint32_t max_permissions;           /* per allocation (508 past it); 0 = 64, at most 4096 */
    uint32_t max_channels;              /* per allocation (508 past it); 0 = 64 */
    const cmn_cidrset_t *allowed_peers; /* borrowed; exceptions to the deny lists */
    const cmn_cidrset_t *denied_peers;  /* borrowed; added to the built-in deny list */
    const cmn_addr_t *own_addrs;        /* borrowed; the server's addresses (always denied) */
    size_t nown;
    /* What XOR-RELAYED-ADDRESS advertises: relay socket address -> public
     * address (turn.external_ip "PUBLIC/PRIVATE" pairs, or one PUBLIC per
     * family). Entries with family 0 in priv match any relay address of
     * pub's family. */
    const cmn_addr_t *ext_pub;          /* borrowed */
    const cmn_addr_t *ext_priv;         /* borrowed */
    size_t next;
    uint16_t relay_port_min;            /* the relay port range: a peer on one of */
    uint16_t relay_port_max;            /* own_addrs is allowed only there (0 = never) */
    uint32_t unauth_rate;               /* 401 answers per second per source IP; burst = 2x;
                                         * 0 = unlimited */
    uint32_t answer_rate;               /* other answers to unauthenticated requests (Binding,
                                         * 400) per second per source IP; burst = 2x;
                                         * 0 = unlimited (turn_answer_allowed) */
    /* Bandwidth quotas (turn_quota.c): token buckets of UDP payload bytes,
     * rates in bits per second. */
    uint64_t alloc_bps;                 /* per allocation and direction; 0 = unlimited */
    uint64_t alloc_burst;               /* bytes; 0 = 1 s of the rate, at least 64 KiB */
    const turn_quota_rule_t *quota_rules; /* borrowed: per-user rates; exact names win,
                                         * then the first matching glob */
    size_t nquota_rules;
    uint64_t total_bps;                 /* whole server, each direction; 0 = unlimited */
    uint32_t total_shares;              /* turn_t's sharing total_bps evenly (0 = 1) */
    bool over_throttle;                 /* over-quota users: throttle (true) or stop */
    uint64_t floor_bps;                 /* the throttled rate */
    /* Where a draining server sends new Allocates (turn_shared_draining):
     * 300 Try Alternate with one of these as ALTERNATE-SERVER, of the
     * client's family, in turn (RFC 8489 §10); none of that family: 403. */
    const cmn_addr_t *alternates;       /* borrowed */
    size_t nalternates;
} turn_cfg_t;

/* ---- Side effects ----------------------------------------------------- */

typedef struct turn_relay_req_s {
    uint8_t family;         /* CMN_AF_INET or CMN_AF_INET6 */
    bool even_port;         /* EVEN-PORT present: the port must be even */
    bool reserve_next;      /* EVEN-PORT R bit: also reserve port+1 */
    bool use_token;         /* RESERVATION-TOKEN present: take the reserved port */
    uint8_t token[8];       /* that token */
    bool dont_fragment;     /* DONT-FRAGMENT: set DF on the relay socket */
    void *origin;           /* borrowed: the Allocate's turn_req_t.origin */
} turn_relay_req_t;

typedef struct turn_ops_s {
    void *ctx;
    /* Open a UDP relay socket for allocation <a> (<a>'s user data may be
     * set by the glue with turn_alloc_set_udata). On success writes the
     * bound address and, when reserve_next was asked, the 8-byte token.
     * Returns 0, CMN_ELIMIT when no port is free (508), CMN_ENOENT for an
     * unknown or expired token (508 too), CMN_EINVAL when this server does
     * not relay <req->family> (440), CMN_EIO otherwise (500).
     * A dual-stack Allocate calls it twice for the same <a> (IPv4, then
     * IPv6); a failure of one of the two is not fatal (RFC 8656 §7.2). */
    int (*relay_open)(void *ctx, turn_alloc_t *a, const turn_relay_req_t *req,
                      cmn_addr_t *relayed, uint8_t token_out[8]);
    /* Close every relay socket of <a>. Called once, when <a> ends. <a>
     * itself stays valid (but inert: turn_peer_data drops) until the next
     * turn_tick or turn_free, so events already queued for it are safe. */
    void (*relay_close)(void *ctx, turn_alloc_t *a);
} turn_ops_t;

/* ---- Lifecycle -------------------------------------------------------- */

/* Shared limits across workers. max_* = 0 means unlimited. */
turn_shared_t *turn_shared_new(uint32_t max_total, uint32_t max_per_user, uint32_t max_per_ip);
void turn_shared_free(turn_shared_t *s);
/* Change the limits (on reload). */
void turn_shared_set_limits(turn_shared_t *s, uint32_t max_total, uint32_t max_per_user,
                            uint32_t max_per_ip);
uint32_t turn_shared_active(const turn_shared_t *s);
/* Hold new allocations (any thread): while <on>, every Allocate gets
 * 508 Insufficient Capacity (usage accounting), after the client's own
 * limits. The daemon holds them while its usage ledger cannot write and
 * ledger.on_error is "stop". Returns whether this changed the state. */
bool turn_shared_hold(turn_shared_t *s, bool on);
bool turn_shared_held(const turn_shared_t *s);

/* Blocked users, by quota name (turn_alloc_info_t.quota_user). A blocked
 * user's Allocate gets 403 (revoked) or 486 (over the byte quota), and at
 * their next turn_tick the workers end a revoked user's allocations
 * (TURN_END_REVOKED) and apply quota.over_action to an over-quota user's
 * (end them, TURN_END_QUOTA, or throttle them). turn_shared_block_user sets
 * a block (REVOKED or QUOTA; a quota block never replaces a revocation);
 * turn_shared_lift_block is the one way to lift one. Both take the shared
 * mutex (control path only). */
typedef enum turn_block_e {
    TURN_BLOCK_NONE = 0,
    TURN_BLOCK_REVOKED,         /* by an operator (admin API) */
    TURN_BLOCK_QUOTA,           /* over quota.user_bytes this period */
} turn_block_t;

void turn_shared_block_user(turn_shared_t *s, const char *quota_user, turn_block_t why);
turn_block_t turn_shared_user_blocked(turn_shared_t *s, const char *quota_user);
/* Lift the block of <quota_user> only if it is <only> (check and lift in
 * one step under the mutex, so a revocation that lands meanwhile is never
 * lifted by a period rollover). Returns true if a block was lifted. */
bool turn_shared_lift_block(turn_shared_t *s, const char *quota_user, turn_block_t only);
/* Changes whenever the blocked set changes (a relaxed atomic read). */
uint64_t turn_shared_block_gen(const turn_shared_t *s);

/* Draining: while on, every new Allocate is refused (300 Try Alternate
 * with an ALTERNATE-SERVER from turn_cfg_t.alternates, else 403
 * "Forbidden (server draining)"); Refresh, permissions, channels and data
 * of existing allocations go on. Any thread (a relaxed atomic). */
void turn_shared_set_draining(turn_shared_t *s, bool on);
bool turn_shared_draining(const turn_shared_t *s);

/* A worker's TURN state. <cfg>, <ops> and <shared> are borrowed and must
 * outlive the turn_t (turn_set_cfg swaps <cfg> on reload). */
turn_t *turn_new(const turn_cfg_t *cfg, const turn_ops_t *ops, turn_shared_t *shared);
/* Ends every allocation (calling relay_close) and frees. */
void turn_free(turn_t *t);
void turn_set_cfg(turn_t *t, const turn_cfg_t *cfg);

/* ---- Messages from clients --------------------------------------------- */

typedef struct turn_req_s {
    const stun_msg_t *msg;      /* borrowed: a decoded request or indication */
    const turn_5tuple_t *tuple; /* borrowed */
    double now;                 /* monotonic seconds */
    double wall;                /* realtime seconds (credential expiry) */
    /* The glue's, opaque here: where the message came in (its socket or
     * connection). An Allocate hands it to relay_open in
     * turn_relay_req_t.origin. Borrowed for the call. */
    void *origin;
} turn_req_t;

/* Why turn/ dropped a client message or datagram without an answer (the
 * RFC's silent "discard"); a metric label each (turn_drop_name). */
typedef enum turn_drop_e {
    TURN_DROP_NONE = 0,
    TURN_DROP_NO_ALLOCATION,        /* no allocation on this 5-tuple */
    TURN_DROP_NO_CHANNEL,           /* ChannelData on an unbound channel */
    TURN_DROP_NO_PERMISSION,        /* no live permission for the peer (RFC 8656 §9) */
    TURN_DROP_BAD_SEND,             /* Send without XOR-PEER-ADDRESS or DATA */
    TURN_DROP_PEER_FAMILY,          /* peer of a family the allocation does not relay */
    TURN_DROP_UNKNOWN_ATTRIBUTE,    /* indication with an unknown required attribute */
    TURN_DROP_UNEXPECTED_CLASS,     /* a response, or an RFC 3489 message */
    TURN_DROP_UNEXPECTED_INDICATION, /* an indication other than Send */
    TURN_DROP_UNAUTH_RATE_LIMITED,  /* a 401 past the per-IP rate (turn_cfg_t.unauth_rate) */
    TURN_DROP_ANSWER_RATE_LIMITED,  /* a Binding answer or 400 past the per-IP rate
                                     * (turn_cfg_t.answer_rate) */
    TURN_DROP_ENCODE_FAILED,        /* the answer did not fit the output buffer */
    TURN_DROP_QUOTA,                /* a bandwidth quota (turn_stats_t counts which) */
    TURN_DROP_COUNT
} turn_drop_t;

/* "no_allocation", "no_channel", "no_permission", "bad_send",
 * "peer_family", "unknown_attribute", "unexpected_class",
 * "unexpected_indication", "unauth_rate_limited", "answer_rate_limited",
 * "encode_failed", "quota"; "none" for TURN_DROP_NONE. */
const char *turn_drop_name(turn_drop_t d);

/* What the caller should do after a handler. */
typedef struct turn_out_s {
    size_t reply_len;           /* > 0: send out[0..reply_len) back to the client */
    /* For Send indications and ChannelData: forward <data> to <peer>
     * through the relay of <alloc>. */
    turn_alloc_t *fwd_alloc;
    cmn_addr_t fwd_peer;
    const uint8_t *fwd_data;    /* borrowed from the input */
    size_t fwd_len;
    bool fwd_dont_fragment;
    /* Why a message was dropped without reply (counters); TURN_DROP_NONE
     * when it was answered or forwarded. */
    turn_drop_t drop;
} turn_out_t;

/* turn_handle_msg: Allocate, Refresh, CreatePermission, ChannelBind
 * requests and Send indications (anything but Binding). Writes any reply
 * into <out> (cap >= 1500). Returns 0; protocol errors become STUN error
 * responses (300 while draining, 400, 401, 403, 420, 437, 438, 440, 441,
 * 442, 443, 486, 500, 508). */
int turn_handle_msg(turn_t *t, const turn_req_t *req, uint8_t *out, size_t cap, turn_out_t *res);

/* Whether <src> may get one more answer to a request that carries no
 * valid credentials and is not a 401: a Binding response, a 400 to a
 * malformed request or to a method this server does not serve. A token
 * bucket per source IP (any port), refilled at cfg->answer_rate per second
 * and holding twice that; takes a token when it says yes. turn_handle_msg
 * asks it for its own 400s; the caller asks it for Binding and for the 400s
 * the codec writes (stun_bad_request), and drops with
 * TURN_DROP_ANSWER_RATE_LIMITED when it says no. Together with the 401
 * limit (cfg->unauth_rate) this bounds what spoofed requests can make the
 * server send to one victim. */
bool turn_answer_allowed(turn_t *t, const cmn_addr_t *src, double now);

/* turn_channel_data: a ChannelData message from a client (already framed:
 * <data,len> is the channel payload, <channel> its number). Fills res->fwd_*
 * when the channel is bound and its permission live; else a drop reason. */
void turn_channel_data(turn_t *t, const turn_5tuple_t *tuple, uint16_t channel,
                       const uint8_t *data, size_t len, double now, turn_out_t *res);

/* turn_peer_data: a datagram from <peer> arrived on <a>'s relay socket.
 * <buf> holds TURN_PEER_HEADROOM free bytes followed by <len> payload
 * bytes. If a permission for the peer's IP is live, writes a ChannelData
 * header (if a channel is bound to the peer) or a Data indication in front
 * of the payload and sets *msg and *msg_len to the message to send to the
 * client (ChannelData on streams is padded to 4 bytes, and so is the DATA
 * attribute of a Data indication; the padding is written as zeros after
 * the payload, so <buf> needs 3 spare bytes at the end). Returns 0, or
 * CMN_ENOENT when the packet must be dropped (no permission: RFC 8656 §9;
 * or <a> has ended), CMN_ELIMIT when a bandwidth quota drops it (counted
 * in turn_stats_t by kind), or CMN_ERANGE when <len> can't fit in one
 * message. */
int turn_peer_data(turn_t *t, turn_alloc_t *a, const cmn_addr_t *peer, uint8_t *buf,
                   size_t len, double now, const uint8_t **msg, size_t *msg_len);

/* The client 5-tuple and worker-side data of an allocation. */
const turn_5tuple_t *turn_alloc_tuple(const turn_alloc_t *a);
void turn_alloc_set_udata(turn_alloc_t *a, void *udata);
void *turn_alloc_udata(const turn_alloc_t *a);
const char *turn_alloc_user(const turn_alloc_t *a);

/* Relayed traffic of one allocation: UDP payload bytes and datagrams.
 * Written by the owner thread; read them from that thread. */
typedef struct turn_alloc_counters_s {
    uint64_t to_peer_bytes;
    uint64_t to_peer_packets;
    uint64_t to_client_bytes;
    uint64_t to_client_packets;
} turn_alloc_counters_t;

const turn_alloc_counters_t *turn_alloc_counters(const turn_alloc_t *a);

/* Why an allocation ended (ledger records, metrics). */
typedef enum turn_end_reason_e {
    TURN_END_CLIENT = 0,        /* Refresh with LIFETIME 0 */
    TURN_END_EXPIRED,           /* its lifetime ran out */
    TURN_END_CONN_CLOSED,       /* its TCP/TLS connection closed */
    TURN_END_CRED_EXPIRED,      /* its ephemeral credential expired */
    TURN_END_ADMIN,             /* deleted through the admin API */
    TURN_END_REVOKED,           /* its user was revoked */
    TURN_END_QUOTA,             /* its user went over the byte quota (over_action stop) */
    TURN_END_SHUTDOWN,          /* the server stopped */
    TURN_END_ACCOUNTING,        /* usage accounting failed (ledger.on_error stop) */
    TURN_END_COUNT
} turn_end_reason_t;

/* "client", "expired", "connection_closed", "credential_expired", "admin",
 * "revoked", "quota", "shutdown". */
const char *turn_end_reason_name(turn_end_reason_t r);

/* Most distinct peer IPs an allocation remembers for its ledger record
 * (beyond it only peers_total counts). */
#define TURN_PEERS_MAX 8

/* What an allocation is, for accounting. Pointers borrow from <a> and are
 * valid until it is freed (the turn_tick after it ended). */
typedef struct turn_alloc_info_s {
    uint64_t id;                /* unique in this process, never 0 */
    double started;             /* monotonic seconds at creation */
    double started_wall;        /* realtime seconds at creation */
    bool ended;
    turn_end_reason_t end_reason; /* valid once ended */
    const char *user;           /* the authenticated username */
    const char *quota_user;     /* the name quotas count ("alice" for "1700000000:alice") */
    const cmn_addr_t *relay;    /* relayed addresses as bound (1 or 2) */
    size_t nrelay;
    const cmn_addr_t *peers;    /* distinct permission IPs, at most TURN_PEERS_MAX */
    size_t npeers;
    uint32_t peers_total;       /* distinct permission IPs ever installed (may exceed npeers) */
} turn_alloc_info_t;

void turn_alloc_info(const turn_alloc_t *a, turn_alloc_info_t *out);

/* End <a> now (admin delete, revoke, quota): as if its lifetime ran out,
 * with <why> as the reason. No-op on an ended allocation. */
void turn_alloc_end(turn_t *t, turn_alloc_t *a, turn_end_reason_t why);

/* Call <fn> for every live allocation of <t>. <fn> may end the allocation
 * it is given (turn_alloc_end) but no other. */
void turn_foreach_alloc(turn_t *t, void (*fn)(void *ctx, turn_alloc_t *a), void *ctx);

/* turn_tick: expire allocations, permissions, channels and credentials
 * (an allocation ends when its ephemeral credential expires). Call about
 * once a second. It first frees the allocations that ended since the
 * previous call, so call it where the worker holds no turn_alloc_t
 * pointer from before (between event batches). */
void turn_tick(turn_t *t, double now, double wall);

/* turn_end_tuple: the stream connection of <tuple> closed: end its
 * allocation (RFC 8656 §3.1: the allocation lives as long as the
 * connection). */
void turn_end_tuple(turn_t *t, const turn_5tuple_t *tuple);

/* ---- Introspection (counters are per worker, read by any thread) ---- */

/* Relay directions: client to peer (Send, ChannelData) and peer to client. */
typedef enum turn_dir_e {
    TURN_DIR_TO_PEER = 0,
    TURN_DIR_TO_CLIENT = 1,
    TURN_DIR_COUNT
} turn_dir_t;

/* Which bandwidth limit dropped a datagram. */
typedef enum turn_qdrop_e {
    TURN_QDROP_ALLOCATION = 0,  /* the allocation's own rate (quota.allocation_bps/users) */
    TURN_QDROP_TOTAL,           /* the worker's share of quota.total_bps */
    TURN_QDROP_USER_THROTTLE,   /* an over-quota user held at quota.floor_bps */
    TURN_QDROP_COUNT
} turn_qdrop_t;

/* Request methods counted by class. */
typedef enum turn_req_kind_e {
    TURN_REQ_ALLOCATE = 0,
    TURN_REQ_REFRESH,
    TURN_REQ_CREATE_PERMISSION,
    TURN_REQ_CHANNEL_BIND,
    TURN_REQ_KINDS
} turn_req_kind_t;

#define TURN_ALLOC_ERR_SLOTS 32     /* room for every Allocate error kind */

/* "to_peer", "to_client"; "allocation", "total", "user_throttle";
 * "allocate", "refresh", "create_permission", "channel_bind". */
const char *turn_dir_name(turn_dir_t d);
const char *turn_qdrop_name(turn_qdrop_t k);
const char *turn_req_kind_name(turn_req_kind_t k);
/* Allocate error slot <i> (turn_stats_t.alloc_errors): its ERROR-CODE and
 * a short snake_case label ("quota_user", "unauthenticated", ...).
 * Returns false for an unused slot. */
bool turn_alloc_err_info(unsigned i, int *code, const char **label);

typedef struct turn_stats_s {
    uint64_t allocations_active;
    uint64_t allocations_created;
    uint64_t allocations_failed;      /* error responses to Allocate */
    uint64_t permissions_active;
    uint64_t channels_active;
    uint64_t auth_failures;           /* 401s sent after a credential was offered */
    uint64_t stale_nonces;            /* 438s */
    uint64_t peer_denied;             /* 403s for peer policy */
    /* Relayed UDP payload, live (counted per datagram, not at allocation
     * end), by direction and the client's transport. */
    uint64_t relayed_bytes[TURN_DIR_COUNT][TURN_TR_COUNT];
    uint64_t relayed_packets[TURN_DIR_COUNT][TURN_TR_COUNT];
    uint64_t quota_dropped_bytes[TURN_QDROP_COUNT];   /* UDP payload bytes */
    uint64_t quota_dropped_packets[TURN_QDROP_COUNT];
    uint64_t requests[TURN_REQ_KINDS][2];   /* [kind][0: success, 1: error response] */
    uint64_t alloc_errors[TURN_ALLOC_ERR_SLOTS]; /* Allocate errors by kind (see
                                              * turn_alloc_err_info); sums to
                                              * allocations_failed */
} turn_stats_t;

void turn_get_stats(const turn_t *t, turn_stats_t *out);

/* ---- Credentials shared with signal/ --------------------------------- */

/* turn_ephemeral_password: the coturn-compatible (TURN REST API) password
 * for <username> = "<expiry-unix-time>:<user>": base64(HMAC-SHA1(secret,
 * username)). Writes a NUL-terminated string into <out> (cap >= 29).
 * Returns 0 or CMN_EINVAL. */
int turn_ephemeral_password(const char *secret, const char *username, char *out, size_t cap);

/* turn_peer_allowed: the peer policy (RFC 8656 §21 and security.md):
 * canonicalise <peer>, then allowed_peers wins; a peer on one of the
 * server's own addresses is allowed only at a relay port (relay to relay
 * on one server); else the built-in deny list and denied_peers refuse. */
bool turn_peer_allowed(const turn_cfg_t *cfg, const cmn_addr_t *peer);

/* ---- Live upgrade: allocations as bytes (turn_state.c) ---------------- */

/* The version of the encoding below; a process reads only its own. */
#define TURN_STATE_VERSION 1

/* Encode the live allocation <a> (times relative to <now>) into
 * <out>[0..cap). Returns the length it needs: when that is more than <cap>
 * nothing usable was written, and the caller retries with room. What the
 * glue keeps for <a> (turn_alloc_udata: its relay sockets) is not in it. */
size_t turn_alloc_encode(const turn_alloc_t *a, double now, uint8_t *out, size_t cap);

/* Decode what turn_alloc_encode wrote in another process and add the
 * allocation to <t> as it was there: same id, 5-tuple, relayed addresses,
 * remaining lifetime, permissions, channels, counters and quota tokens
 * (rates come from <t>'s configuration). It counts in the shared limits
 * without being refused by them. The bytes are not trusted: every field is
 * checked. Returns 0 with *out set (set its udata next), CMN_EINVAL
 * (malformed; *why names the field: a static string) or CMN_EEXIST (<t>
 * has an allocation on that 5-tuple). */
int turn_alloc_import(turn_t *t, const uint8_t *src, size_t len, double now, turn_alloc_t **out,
                      const char **why);

/* Take <a> out of <t> without ending it: no relay_close, no end reason for
 * a ledger; its shared-limit counts are released (another process counts
 * it now). Its udata is cleared; the glue frees its own part. */
void turn_alloc_detach(turn_t *t, turn_alloc_t *a);

/* The highest allocation id handed out in this process, and a floor for
 * the next ones (ids imported from another process stay unique). */
uint64_t turn_alloc_last_id(void);
void turn_alloc_ids_after(uint64_t max);

#endif /* TURN_H */
