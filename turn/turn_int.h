/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_int.h: what the files of turn/ share and nothing outside uses: the
 * allocation object with its permission and channel tables, the worker's
 * turn_t, the protocol errors the handlers return (mapped to STUN codes in
 * one place, turn_err.c), the authenticated-request context, and the
 * double-underscore functions the files call across each other.
 *
 * Ownership in one line: a turn_t owns its allocations; an allocation owns
 * its username copy and its permission and channel arrays; everything in
 * turn_cfg_t and turn_ops_t is borrowed.
 */
#ifndef TURN_INT_H
#define TURN_INT_H

#include "turn.h"

#include "../common/cmn_map.h"

/* ---- Limits and timers ------------------------------------------------ */

#define TURN_DEF_NONCE_LIFETIME 600   /* s */
#define TURN_DEF_LIFETIME 600         /* s, RFC 8656 §7.2 default */
#define TURN_DEF_MAX_LIFETIME 3600    /* s, RFC 8656 §7.2 recommended maximum */
#define TURN_DEF_PERM_LIFETIME 300    /* s, RFC 8656 §9 */
#define TURN_DEF_CHAN_LIFETIME 600    /* s, RFC 8656 §12 */
/* RFC 8656 §12: after a binding ends, its channel number and its peer
 * address stay reserved to each other for another 5 minutes. */
#define TURN_CHAN_QUARANTINE 300.0
/* Per-allocation table caps when the configuration says 0, and the most
 * any configuration may ask for (every channel number; permissions: the
 * configuration schema's maximum). */
#define TURN_DEF_MAX_PERMS 64
#define TURN_DEF_MAX_CHANS 64
#define TURN_HARD_MAX_PERMS 4096
#define TURN_HARD_MAX_CHANS (STUN_CHANNEL_MAX - STUN_CHANNEL_MIN + 1)
/* Cached last response of an allocation (and of recently deleted ones).
 * The largest response we build (dual Allocate success with SOFTWARE of 127
 * bytes, ADDRESS-ERROR-CODE, RESERVATION-TOKEN, MI-SHA256, FINGERPRINT) is
 * about 350 bytes. */
#define TURN_RESP_CACHE_MAX 512
#define TURN_RECENT_SLOTS 32          /* ring of deleted allocations' last answers */
#define TURN_RECENT_TTL 40.0          /* s: RFC 8489 §6.2.1 gives up after 39.5 s */
#define TURN_RL_SLOTS 4096            /* token buckets per worker and kind (power of 2) */
#define TURN_ALLOC_BUCKETS_MIN 64     /* allocation table buckets at first */
/* The code point drafts of RFC 8656 gave ADDITIONAL-ADDRESS-FAMILY before
 * IANA assigned 0x8000; coturn (turnutils_uclient -Z) still sends it. */
#define TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY_OLD 0x8032

/* RFC 8489 §9.2: "obMatJos2" + base64 of the 24-bit security feature set.
 * Bit 0 (the most significant bit) is "Password algorithms", bit 1
 * "Username anonymity" (§18.1). */
#define TURN_NONCE_COOKIE "obMatJos2"
#define TURN_NONCE_COOKIE_LEN 9
#define TURN_NONCE_PREFIX_LEN 13      /* cookie + 4 base64 characters */
#define TURN_FEAT_PWALGS 0x800000u
#define TURN_FEAT_USERHASH 0x400000u
#define TURN_NONCE_LEN 35             /* prefix + base64url(4-byte expiry + 12-byte MAC) */

/* ---- Protocol errors -------------------------------------------------- */

/* What a handler decided; turn__err_code maps each to an ERROR-CODE. */
typedef enum turn_err_e {
    TURN_OK = 0,
    TURN_ERR_BAD_REQUEST,         /* 400 */
    TURN_ERR_BAD_TRANSPORT_ATTR,  /* 400: REQUESTED-TRANSPORT missing or malformed */
    TURN_ERR_BAD_ATTR_COMBO,      /* 400: attributes that may not appear together */
    TURN_ERR_BAD_PWALG,           /* 400: PASSWORD-ALGORITHM(S) not as offered */
    TURN_ERR_BAD_CHANNEL,         /* 400: channel number out of range */
    TURN_ERR_CHANNEL_IN_USE,      /* 400: channel bound to another peer */
    TURN_ERR_PEER_IN_USE,         /* 400: peer bound to another channel */
    TURN_ERR_UNAUTHENTICATED,     /* 401 */
    TURN_ERR_FORBIDDEN_PEER,      /* 403 */
    TURN_ERR_UNKNOWN_ATTR,        /* 420 */
    TURN_ERR_ALLOC_MISMATCH,      /* 437 */
    TURN_ERR_STALE_NONCE,         /* 438 */
    TURN_ERR_FAMILY_UNSUPPORTED,  /* 440 */
    TURN_ERR_WRONG_CREDENTIALS,   /* 441 */
    TURN_ERR_BAD_TRANSPORT,       /* 442 */
    TURN_ERR_PEER_FAMILY,         /* 443 */
    TURN_ERR_QUOTA_USER,          /* 486 */
    TURN_ERR_QUOTA_IP,            /* 486 */
    TURN_ERR_QUOTA_BYTES,         /* 486: the user is over quota.user_bytes */
    TURN_ERR_USER_REVOKED,        /* 403: the user was revoked */
    TURN_ERR_CAP_TOTAL,           /* 508 */
    TURN_ERR_CAP_PORT,            /* 508 */
    TURN_ERR_CAP_TOKEN,           /* 508 */
    TURN_ERR_CAP_PERMS,           /* 508 */
    TURN_ERR_CAP_CHANNELS,        /* 508 */
    TURN_ERR_CAP_ACCOUNTING,      /* 508: allocations held (turn_shared_hold) */
    TURN_ERR_SERVER,              /* 500 */
    TURN_ERR_TRY_ALTERNATE,       /* 300: draining, with ALTERNATE-SERVER */
    TURN_ERR_DRAINING,            /* 403: draining, nowhere to send the client */
    TURN_ERR_COUNT
} turn_err_t;

/* turn_err.c: the one place a protocol error becomes an ERROR-CODE value
 * and reason phrase (static string). */
void turn__err_code(turn_err_t e, int *code, const char **reason);
/* turn_err.c: the error a relay_open return value stands for. */
turn_err_t turn__err_from_relay(int rc);

/* ---- Tables ----------------------------------------------------------- */

typedef struct turn_perm_s {
    cmn_addr_t ip;          /* canonical form, port 0 */
    int32_t next;           /* index chain (turn_perm.c), -1 ends it */
    double expires;         /* monotonic */
} turn_perm_t;

typedef struct turn_chan_s {
    cmn_addr_t peer;        /* as the client sent it: where ChannelData goes */
    cmn_addr_t cpeer;       /* canonical form: what lookups compare */
    double expires;         /* bound while now < expires; reserved until + quarantine */
    int32_t next_num;       /* index chains (turn_perm.c), -1 ends them */
    int32_t next_peer;
    uint16_t num;
    bool counted;           /* included in stats.channels_active */
} turn_chan_t;

/* A token bucket of UDP payload bytes (turn_quota.c). */
typedef struct turn_bucket_s {
    double tokens;              /* bytes available at <last> */
    double last;                /* monotonic seconds of the last refill */
    double rate;                /* bytes per second; 0 = unlimited */
    double burst;               /* bytes: the most tokens it holds */
} turn_bucket_t;

struct turn_alloc_s {
    cmn_map_node_t node;        /* in turn_t.allocs, by 5-tuple */
    turn_alloc_t *next_ended;   /* the list of ended allocations */
    turn_t *turn;               /* owner */
    turn_5tuple_t tuple;
    char *user;                 /* owned: the authenticated username */
    char *quota_user;           /* owned: the name quotas count (see turn_auth.c) */
    double expires;             /* monotonic */
    double cred_expiry;         /* wall seconds; 0 = the credential does not expire */
    double next_due;            /* earliest perm/chan deadline: turn_tick sweeps then */
    cmn_addr_t relay[2];        /* relay socket addresses as bound */
    uint8_t nrelay;
    bool ended;                 /* relay closed; freed by the next turn_tick */
    bool dont_fragment;         /* the Allocate carried DONT-FRAGMENT */
    void *udata;
    turn_perm_t *perms;         /* owned */
    uint32_t nperms, capperms;
    int32_t *perm_head;         /* owned: hash chains by IP; perm_mask + 1 heads */
    uint32_t perm_mask;
    turn_chan_t *chans;         /* owned */
    uint32_t nchans, capchans;
    int32_t *num_head;          /* owned: chains by channel number */
    int32_t *peer_head;         /* owned: chains by peer address; both chan_mask + 1 */
    uint32_t chan_mask;
    turn_alloc_counters_t c;
    turn_bucket_t q[TURN_DIR_COUNT]; /* per-direction rate (turn_quota.c) */
    uint64_t q_bps;             /* the rate resolved for quota_user; 0 = unlimited */
    bool throttled;             /* held at cfg->floor_bps (user over its byte quota) */
    uint64_t id;                /* unique in the process (turn_alloc.c) */
    double started, started_wall;
    turn_end_reason_t end_reason;
    cmn_addr_t peers[TURN_PEERS_MAX]; /* distinct permission IPs seen, canonical */
    uint8_t npeers;
    uint32_t peers_total;
    /* The response to the last request on this allocation (RFC 8489
     * §6.3.1: a retransmission is answered with the same response). */
    uint8_t last_tid[STUN_TID_LEN];
    uint16_t last_method;
    uint16_t last_len;          /* 0: nothing cached */
    uint8_t last_resp[TURN_RESP_CACHE_MAX];
};

/* The last response of an allocation that was deleted (Refresh with
 * lifetime 0), so a retransmitted Refresh gets its success again. */
typedef struct turn_recent_s {
    turn_5tuple_t tuple;
    uint8_t tid[STUN_TID_LEN];
    uint16_t method;
    uint16_t len;               /* 0: empty slot */
    double when;
    uint8_t resp[TURN_RESP_CACHE_MAX];
} turn_recent_t;

/* A token bucket for answers to one source IP (turn_auth.c): 401s in
 * turn_t.rl, Binding and other unauthenticated answers in rl_answer.
 * Slots are shared by the source IPs that hash together. */
typedef struct turn_rl_slot_s {
    double last;                /* when tokens was computed (monotonic) */
    float tokens;
    bool used;                  /* false: never used, i.e. full */
} turn_rl_slot_t;

typedef struct turn_uhash_s {
    uint8_t hash[32];           /* SHA-256(name:realm) */
    size_t user;                /* index into cfg->users */
} turn_uhash_t;

struct turn_s {
    const turn_cfg_t *cfg;      /* borrowed */
    const turn_ops_t *ops;      /* borrowed */
    turn_shared_t *shared;      /* borrowed */
    cmn_map_t allocs;           /* live allocations by 5-tuple (nodes: turn_alloc_t.node) */
    uint32_t seed;              /* hash seed of the permission and channel indexes, random */
    turn_alloc_t *ended;        /* ended allocations waiting for the next tick */
    turn_recent_t recent[TURN_RECENT_SLOTS];
    unsigned recent_next;
    turn_rl_slot_t rl[TURN_RL_SLOTS];
    turn_rl_slot_t rl_answer[TURN_RL_SLOTS];
    turn_uhash_t *uhash;        /* owned: USERHASH -> static user */
    size_t nuhash;
    uint8_t ind_tid[STUN_TID_LEN]; /* Data indication tids: random prefix + counter */
    uint64_t ind_seq;
    turn_stats_t st;            /* written by the owner thread only */
    uint64_t block_gen;         /* turn_shared_block_gen last applied */
    turn_bucket_t total[TURN_DIR_COUNT]; /* this worker's share of cfg->total_bps */
};

/* Relaxed atomic counter updates (one writer, readers on other threads). */
#define TURN_STAT_ADD(t, field, n)                                                     \
    __atomic_store_n(&(t)->st.field, __atomic_load_n(&(t)->st.field, __ATOMIC_RELAXED) + \
                                         (uint64_t)(n), __ATOMIC_RELAXED)
#define TURN_STAT_SUB(t, field, n)                                                     \
    __atomic_store_n(&(t)->st.field, __atomic_load_n(&(t)->st.field, __ATOMIC_RELAXED) - \
                                         (uint64_t)(n), __ATOMIC_RELAXED)

/* ---- Quotas (turn_quota.c) ------------------------------------------------ */

/* Resolve <a>'s rate (quota.users, else alloc_bps; the floor when
 * throttled) and fill its buckets as of <now>. */
void turn__quota_setup(turn_t *t, turn_alloc_t *a, double now);
/* Re-read rates from t->cfg (turn_set_cfg): the worker's share of
 * total_bps and every allocation's rate. Tokens are kept (capped). */
void turn__quota_reload(turn_t *t);
/* The worker's buckets at turn_new. */
void turn__quota_init(turn_t *t);
/* Throttle <a> to the floor rate, or lift it. */
void turn__quota_throttle(turn_t *t, turn_alloc_t *a, bool on);
/* The data path: may <len> payload bytes of <a> go in direction <d> at
 * <now>? Takes the tokens and counts the relayed bytes, or counts the drop
 * by kind. Inline: it runs for every relayed datagram. */
static inline bool turn__bucket_fill(turn_bucket_t *b, double now)
{
    if (b->rate == 0)
        return true;
    if (now > b->last) {
        b->tokens += (now - b->last) * b->rate;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last = now;
    }
    return false;
}

static inline bool turn__quota_pass(turn_t *t, turn_alloc_t *a, turn_dir_t d, size_t len,
                                    double now)
{
    turn_bucket_t *ab = &a->q[d], *tb = &t->total[d];
    bool a_free = turn__bucket_fill(ab, now), t_free = turn__bucket_fill(tb, now);
    int kind = -1;
    if (!a_free && ab->tokens < (double)len)
        kind = a->throttled ? TURN_QDROP_USER_THROTTLE : TURN_QDROP_ALLOCATION;
    else if (!t_free && tb->tokens < (double)len)
        kind = TURN_QDROP_TOTAL;
    if (kind >= 0) {
        TURN_STAT_ADD(t, quota_dropped_bytes[kind], len);
        TURN_STAT_ADD(t, quota_dropped_packets[kind], 1);
        return false;
    }
    if (!a_free)
        ab->tokens -= (double)len;
    if (!t_free)
        tb->tokens -= (double)len;
    TURN_STAT_ADD(t, relayed_bytes[d][a->tuple.transport], len);
    TURN_STAT_ADD(t, relayed_packets[d][a->tuple.transport], 1);
    return true;
}

/* ---- Authentication (turn_auth.c) -------------------------------------- */

typedef struct turn_auth_s {
    char user[STUN_USERNAME_MAX + 1]; /* the username, NUL-terminated */
    size_t ulen;
    const char *quota_user;     /* points into user: the part quotas count */
    size_t qlen;
    uint8_t key[STUN_KEY_MAX];  /* long-term key (RFC 8489 §9.2.2) */
    size_t keylen;
    bool sha256;                /* answer with MESSAGE-INTEGRITY-SHA256 */
    bool offered;               /* the request carried a credential */
    double cred_expiry;         /* wall seconds; 0 for static users */
} turn_auth_t;

/* Authenticate <req> (RFC 8489 §9.2.4). Returns TURN_OK with <auth> filled,
 * or TURN_ERR_UNAUTHENTICATED (401), TURN_ERR_STALE_NONCE (438),
 * TURN_ERR_BAD_REQUEST / TURN_ERR_BAD_PWALG (400, answered without
 * integrity). auth->offered tells whether a credential was offered. */
turn_err_t turn__authenticate(turn_t *t, const turn_req_t *req, turn_auth_t *auth);
/* Write a fresh NONCE value for <tuple> (TURN_NONCE_LEN chars + NUL). */
void turn__nonce_make(const turn_t *t, const turn_5tuple_t *tuple, double now,
                      char out[TURN_NONCE_LEN + 1]);
/* The security features our nonces announce. */
uint32_t turn__nonce_features(const turn_cfg_t *cfg);
/* The PASSWORD-ALGORITHMS we offer, in order of preference. */
extern const uint16_t turn__pwalgs[2];
/* Rebuild the USERHASH table from t->cfg. */
void turn__auth_reload(turn_t *t);
/* Token bucket for 401 answers to <ip>: true if one may be sent now. */
bool turn__rl_allow(turn_t *t, const cmn_addr_t *ip, double now);

/* ---- Shared limits (turn_shared.c) ------------------------------------ */

/* Count one more allocation for <user> and <ip> if every limit allows it.
 * Returns TURN_OK, TURN_ERR_QUOTA_USER, TURN_ERR_QUOTA_IP or
 * TURN_ERR_CAP_TOTAL (and counts nothing then). */
turn_err_t turn__shared_acquire(turn_shared_t *s, const char *user, const cmn_addr_t *ip);
void turn__shared_release(turn_shared_t *s, const char *user, const cmn_addr_t *ip);
/* A number that grows by one a call, across the workers: which of the
 * alternate servers a redirected Allocate gets (in turn). */
uint32_t turn__shared_next_alt(turn_shared_t *s);
/* Count an allocation that exists already (imported in a live upgrade):
 * like turn__shared_acquire, but no limit refuses it. */
void turn__shared_force(turn_shared_t *s, const char *user, const cmn_addr_t *ip);

/* ---- Allocations and the 5-tuple table (turn_alloc.c) ----------------- */

/* Find the live allocation of <tuple>; one whose lifetime ran out is ended
 * first (when <reap> is true) or just ignored (data path). */
turn_alloc_t *turn__alloc_find(turn_t *t, const turn_5tuple_t *tuple, double now, bool reap);
/* A zeroed allocation for <tuple> (not yet in the table). */
turn_alloc_t *turn__alloc_new(turn_t *t, const turn_5tuple_t *tuple, const turn_auth_t *auth);
/* Free an allocation that never got into the table (relay_open failed),
 * or one that ended before the current turn_tick. */
void turn__alloc_free(turn_alloc_t *a);
void turn__alloc_insert(turn_t *t, turn_alloc_t *a);
/* Put <a> in the table and count it active (turn__alloc_insert also
 * counts it created; an imported allocation was created elsewhere). */
void turn__alloc_link(turn_t *t, turn_alloc_t *a);
/* End <a>: unlink, release quotas, relay_close, keep until the next tick. */
void turn__alloc_end(turn_t *t, turn_alloc_t *a, turn_end_reason_t why);
bool turn__tuple_equal(const turn_5tuple_t *x, const turn_5tuple_t *y);
/* Lifetime for a request that asked for <req> seconds (0 = no LIFETIME). */
uint32_t turn__lifetime(const turn_cfg_t *cfg, bool has, uint32_t req);

/* ---- Permissions and channels (turn_perm.c) ---------------------------- */

/* Permission of <ip> (any port) if live at <now>, else NULL. */
turn_perm_t *turn__perm_find(turn_alloc_t *a, const cmn_addr_t *ip, double now);
/* Whether installing <ips> keeps the live permissions within <max>. */
bool turn__perm_fits(turn_alloc_t *a, const cmn_addr_t *ips, size_t n, double now, uint32_t max);
/* Install or refresh the permission of <ip> until <expires>. */
void turn__perm_install(turn_alloc_t *a, const cmn_addr_t *ip, double expires);
/* Channel by number / by peer transport address, bound or in quarantine. */
turn_chan_t *turn__chan_by_num(turn_alloc_t *a, uint16_t num, double now);
turn_chan_t *turn__chan_by_peer(turn_alloc_t *a, const cmn_addr_t *cpeer, double now);
turn_chan_t *turn__chan_add(turn_alloc_t *a, uint16_t num, const cmn_addr_t *peer);
uint32_t turn__chan_bound_count(const turn_alloc_t *a, double now);
void turn__chan_refresh(turn_alloc_t *a, turn_chan_t *c, double expires);
/* Cap of a per-allocation table from the configuration. */
uint32_t turn__max_perms(const turn_cfg_t *cfg);
uint32_t turn__max_chans(const turn_cfg_t *cfg);
/* Drop expired permissions, move expired channels into quarantine and
 * drop those past it; set a->next_due to the earliest deadline left. */
void turn__perm_sweep(turn_t *t, turn_alloc_t *a, double now);
/* <a> ended: uncount and empty its tables (no index left to follow). */
void turn__perm_clear(turn_t *t, turn_alloc_t *a);
/* Free <a>'s tables (turn__alloc_free). */
void turn__perm_free(turn_alloc_t *a);

/* ---- Policy (turn_policy.c) -------------------------------------------- */

/* A Send to one of the server's own IPs must go to a relay port, whatever
 * permission its IP holds (turn_policy.c step 3). */
bool turn__peer_port_ok(const turn_cfg_t *cfg, const cmn_addr_t *peer);
/* XOR-PEER-ADDRESS family against the allocation's relays. */
bool turn__family_ok(const turn_alloc_t *a, const cmn_addr_t *peer);

/* ---- Handlers and responses (turn_handlers.c, turn_allocate.c, turn_rsp.c) */

/* What a handler produced: an error, or a success whose attributes the
 * handler already wrote into <e>. */
typedef struct turn_ctx_s {
    turn_t *t;
    const turn_req_t *req;
    const turn_auth_t *auth;    /* NULL before authentication */
    turn_alloc_t *a;            /* the 5-tuple's allocation, or NULL */
    stun_enc_t e;               /* the response being built */
    turn_err_t err;
    cmn_addr_t alt;             /* TURN_ERR_TRY_ALTERNATE: the ALTERNATE-SERVER */
    bool software;              /* add SOFTWARE (Allocate and Refresh answers) */
    bool deleted;               /* Refresh deleted the allocation */
} turn_ctx_t;

/* Start a success response in c->e. */
void turn__rsp_success(turn_ctx_t *c, uint8_t *out, size_t cap);
/* Finish c->e (SOFTWARE, integrity, FINGERPRINT); returns its length or 0. */
size_t turn__rsp_finish(turn_ctx_t *c);
/* Encode the error response for c->err into <out>; returns its length or 0. */
size_t turn__rsp_error(turn_ctx_t *c, uint8_t *out, size_t cap);
/* A retransmission of the request last answered on this 5-tuple (or by an
 * allocation deleted moments ago): copies the same answer into <out>, sets
 * *len and returns true. */
bool turn__rsp_replay(turn_ctx_t *c, uint8_t *out, size_t cap, size_t *len);
/* Keep the answer <out,len> to c->req for retransmissions (in the
 * allocation; in the worker's ring when the request deleted it). */
void turn__rsp_remember(turn_ctx_t *c, const uint8_t *out, size_t len);

/* turn_allocate.c: an authenticated Allocate on a 5-tuple without one. */
void turn__handle_allocate(turn_ctx_t *c, uint8_t *out, size_t cap);
/* Relay address -> the address XOR-RELAYED-ADDRESS advertises. */
void turn__ext_map(const turn_cfg_t *cfg, const cmn_addr_t *relay, cmn_addr_t *out);

/* turn_data.c: a Send indication. */
void turn__handle_send(turn_t *t, const turn_req_t *req, turn_out_t *res);

#endif /* TURN_INT_H */
