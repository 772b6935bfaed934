/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_state.c: an allocation as bytes and back, for a live upgrade: the
 * running process encodes each of its UDP allocations, a new process
 * decodes them and carries on with them as if nothing happened (same id,
 * 5-tuple, relayed addresses, lifetime, permissions, channels, credential
 * expiry, usage counters, quota buckets, the answer to the last request).
 * What the glue owns (the relay sockets themselves) travels beside it.
 *
 * The format, all integers big-endian, times in seconds relative to the
 * encoder's `now` as IEEE 754 doubles (so the two processes need not share a
 * clock origin), in this order:
 *
 *   u8 version (TURN_STATE_VERSION)    u8 transport
 *   addr client, addr server           u64 id
 *   str user, str quota_user           (u16 length, bytes; quota_user is a
 *                                       suffix of user)
 *   f64 expires_in, cred_expiry (wall, 0 = none), started_ago, started_wall
 *   u8 nrelay (1..2), addr relay[]     u8 flags (1 dont_fragment, 2 throttled)
 *   u64 to_peer_bytes, to_peer_packets, to_client_bytes, to_client_packets
 *   f64 tokens[2]                      (the per-direction buckets)
 *   u8 npeers (<= TURN_PEERS_MAX), addr peers[], u32 peers_total
 *   u16 nperms, (addr ip, f64 expires_in)[]
 *   u16 nchans, (u16 num, addr peer, f64 expires_in)[]
 *   u8 tid[12], u16 method, u16 len (<= TURN_RESP_CACHE_MAX), u8 resp[len]
 *
 * where addr is u8 family (0, 4 or 6), u16 port, u8 ip[16]. The decoder
 * trusts nothing (the bytes come from another process): every length is
 * checked against its limit and against what remains, every time is
 * finite and in range, every address well-formed, and nothing may follow
 * the last field (STYLE §5). Rates are not sent: the new process resolves
 * them from its own configuration, as a reload would.
 *
 * Left out: TCP/TLS allocations (their connection cannot move between
 * processes, so they stay with the old one) and the worker-wide state
 * (401 buckets, the deleted-allocation answer ring), which starts fresh.
 */
#include "turn_int.h"

#include <math.h>

#define ADDR_LEN 19
#define MAX_LIFE 604800.0       /* a week: far past any lifetime this server grants */
#define MAX_WALL 1e11           /* Unix seconds, year 5138 */

/* ---- Writing ------------------------------------------------------------- */

typedef struct wr_s {
    uint8_t *p;
    size_t len, cap;            /* len keeps counting past cap: the size needed */
} wr_t;

static void put(wr_t *w, const void *src, size_t n)
{
    if (w->len + n <= w->cap)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_u8(wr_t *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u16(wr_t *w, uint16_t v)
{
    uint8_t b[2];
    cmn_put_u16be(b, v);
    put(w, b, 2);
}

static void put_u32(wr_t *w, uint32_t v)
{
    uint8_t b[4];
    cmn_put_u32be(b, v);
    put(w, b, 4);
}

static void put_u64(wr_t *w, uint64_t v)
{
    uint8_t b[8];
    cmn_put_u64be(b, v);
    put(w, b, 8);
}

static void put_f64(wr_t *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_u64(w, bits);
}

static void put_addr(wr_t *w, const cmn_addr_t *a)
{
    put_u8(w, a->family);
    put_u16(w, a->port);
    put(w, a->ip, 16);
}

static void put_str(wr_t *w, const char *s)
{
    size_t n = strlen(s);
    put_u16(w, (uint16_t)n);
    put(w, s, n);
}

static void put_tables(wr_t *w, const turn_alloc_t *a, double now)
{
    uint32_t np = 0, nc = 0;
    for (uint32_t i = 0; i < a->nperms; i++)
        np += now < a->perms[i].expires;
    put_u16(w, (uint16_t)np);
    for (uint32_t i = 0; i < a->nperms; i++) {
        if (now >= a->perms[i].expires)
            continue;
        put_addr(w, &a->perms[i].ip);
        put_f64(w, a->perms[i].expires - now);
    }
    for (uint32_t i = 0; i < a->nchans; i++)
        nc += now < a->chans[i].expires + TURN_CHAN_QUARANTINE;
    put_u16(w, (uint16_t)nc);
    for (uint32_t i = 0; i < a->nchans; i++) {
        const turn_chan_t *c = &a->chans[i];
        if (now >= c->expires + TURN_CHAN_QUARANTINE)
            continue;
        put_u16(w, c->num);
        put_addr(w, &c->peer);
        put_f64(w, c->expires - now);
    }
}

size_t turn_alloc_encode(const turn_alloc_t *a, double now, uint8_t *out, size_t cap)
{
    wr_t w = {out, 0, cap};
    put_u8(&w, TURN_STATE_VERSION);
    put_u8(&w, a->tuple.transport);
    put_addr(&w, &a->tuple.client);
    put_addr(&w, &a->tuple.server);
    put_u64(&w, a->id);
    put_str(&w, a->user);
    put_str(&w, a->quota_user);
    put_f64(&w, a->expires - now);
    put_f64(&w, a->cred_expiry);
    put_f64(&w, now - a->started);
    put_f64(&w, a->started_wall);
    put_u8(&w, a->nrelay);
    for (uint8_t i = 0; i < a->nrelay; i++)
        put_addr(&w, &a->relay[i]);
    put_u8(&w, (uint8_t)((a->dont_fragment ? 1 : 0) | (a->throttled ? 2 : 0)));
    put_u64(&w, a->c.to_peer_bytes);
    put_u64(&w, a->c.to_peer_packets);
    put_u64(&w, a->c.to_client_bytes);
    put_u64(&w, a->c.to_client_packets);
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        put_f64(&w, a->q[d].tokens);
    put_u8(&w, a->npeers);
    for (uint8_t i = 0; i < a->npeers; i++)
        put_addr(&w, &a->peers[i]);
    put_u32(&w, a->peers_total);
    put_tables(&w, a, now);
    put(&w, a->last_tid, STUN_TID_LEN);
    put_u16(&w, a->last_method);
    put_u16(&w, a->last_len);
    put(&w, a->last_resp, a->last_len);
    return w.len;
}

/* ---- Reading ------------------------------------------------------------- */

typedef struct rd_s {
    const uint8_t *p, *end;
    const char *why;            /* the first thing found wrong; NULL = fine so far */
} rd_t;

static bool need(rd_t *r, size_t n, const char *what)
{
    if (r->why)
        return false;
    if (n > (size_t)(r->end - r->p)) {
        r->why = what;
        return false;
    }
    return true;
}

static uint8_t get_u8(rd_t *r, const char *what)
{
    return need(r, 1, what) ? *r->p++ : 0;
}

static uint16_t get_u16(rd_t *r, const char *what)
{
    if (!need(r, 2, what))
        return 0;
    uint16_t v = cmn_get_u16be(r->p);
    r->p += 2;
    return v;
}

static uint32_t get_u32(rd_t *r, const char *what)
{
    if (!need(r, 4, what))
        return 0;
    uint32_t v = cmn_get_u32be(r->p);
    r->p += 4;
    return v;
}

static uint64_t get_u64(rd_t *r, const char *what)
{
    if (!need(r, 8, what))
        return 0;
    uint64_t v = cmn_get_u64be(r->p);
    r->p += 8;
    return v;
}

/* A finite double in [lo, hi]. */
static double get_f64(rd_t *r, double lo, double hi, const char *what)
{
    uint64_t bits = get_u64(r, what);
    double v;
    memcpy(&v, &bits, 8);
    if (!r->why && !(isfinite(v) && v >= lo && v <= hi))
        r->why = what;
    return r->why ? 0 : v;
}

static void fail(rd_t *r, bool bad, const char *what)
{
    if (bad && !r->why)
        r->why = what;
}

/* An address of a family, or (<may_be_unset>) none; IPv4 with zeros after
 * its four bytes, as cmn_addr_t keeps it. */
static void get_addr(rd_t *r, cmn_addr_t *a, bool may_be_unset, const char *what)
{
    memset(a, 0, sizeof(*a));
    if (!need(r, ADDR_LEN, what))
        return;
    a->family = r->p[0];
    a->port = cmn_get_u16be(r->p + 1);
    memcpy(a->ip, r->p + 3, 16);
    r->p += ADDR_LEN;
    static const uint8_t zero[12];
    bool ok = a->family == CMN_AF_INET6 ||
              (a->family == CMN_AF_INET && !memcmp(a->ip + 4, zero, 12)) ||
              (a->family == 0 && may_be_unset);
    fail(r, !ok, what);
}

/* A string of 1..max bytes without NUL, copied (owned). */
static char *get_str(rd_t *r, size_t max, const char *what)
{
    uint16_t n = get_u16(r, what);
    fail(r, n == 0 || n > max, what);
    if (!need(r, n, what) || memchr(r->p, '\0', n)) {
        fail(r, true, what);
        return NULL;
    }
    char *s = cmn_strndup((const char *)r->p, n);
    r->p += n;
    return s;
}

static void get_head(rd_t *r, turn_alloc_t *a, double now)
{
    fail(r, get_u8(r, "version") != TURN_STATE_VERSION, "version");
    a->tuple.transport = get_u8(r, "transport");
    fail(r, a->tuple.transport >= TURN_TR_COUNT, "transport");
    get_addr(r, &a->tuple.client, false, "client");
    get_addr(r, &a->tuple.server, false, "server");
    a->id = get_u64(r, "id");
    fail(r, a->id == 0, "id");
    a->user = get_str(r, STUN_USERNAME_MAX, "user");
    a->quota_user = get_str(r, STUN_USERNAME_MAX, "quota_user");
    if (a->user && a->quota_user) {
        size_t ul = strlen(a->user), ql = strlen(a->quota_user);
        /* The quota user is the whole name or the part after a ':'. */
        fail(r, ql > ul || strcmp(a->user + ul - ql, a->quota_user) != 0 ||
                    (ql < ul && a->user[ul - ql - 1] != ':'),
             "quota_user");
    }
    a->expires = now + get_f64(r, 0.0, MAX_LIFE, "expires_in");
    a->cred_expiry = get_f64(r, 0.0, MAX_WALL, "cred_expiry");
    a->started = now - get_f64(r, 0.0, 1e9, "started_ago");
    a->started_wall = get_f64(r, 0.0, MAX_WALL, "started_wall");
}

static void get_body(rd_t *r, turn_alloc_t *a)
{
    a->nrelay = get_u8(r, "nrelay");
    fail(r, a->nrelay < 1 || a->nrelay > 2, "nrelay");
    for (uint8_t i = 0; i < a->nrelay && !r->why; i++)
        get_addr(r, &a->relay[i], false, "relay");
    fail(r, a->nrelay == 2 && a->relay[0].family == a->relay[1].family, "relay");
    uint8_t flags = get_u8(r, "flags");
    fail(r, flags > 3, "flags");
    a->dont_fragment = flags & 1;
    a->throttled = (flags & 2) != 0;
    a->c.to_peer_bytes = get_u64(r, "counters");
    a->c.to_peer_packets = get_u64(r, "counters");
    a->c.to_client_bytes = get_u64(r, "counters");
    a->c.to_client_packets = get_u64(r, "counters");
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        a->q[d].tokens = get_f64(r, 0.0, 1e15, "tokens");
    a->npeers = get_u8(r, "npeers");
    fail(r, a->npeers > TURN_PEERS_MAX, "npeers");
    for (uint8_t i = 0; i < a->npeers && !r->why; i++)
        get_addr(r, &a->peers[i], false, "peers");
    a->peers_total = get_u32(r, "peers_total");
    fail(r, a->peers_total < a->npeers, "peers_total");
}

static void get_perms(rd_t *r, turn_alloc_t *a, double now)
{
    uint16_t n = get_u16(r, "nperms");
    fail(r, n > TURN_HARD_MAX_PERMS, "nperms");
    for (uint16_t i = 0; i < n && !r->why; i++) {
        cmn_addr_t ip;
        get_addr(r, &ip, false, "permission");
        double in = get_f64(r, 0.0, MAX_LIFE, "permission");
        fail(r, ip.port != 0, "permission");
        if (!r->why)
            turn__perm_install(a, &ip, now + in);
    }
}

static void get_chans(rd_t *r, turn_alloc_t *a, double now)
{
    uint16_t n = get_u16(r, "nchans");
    fail(r, n > TURN_HARD_MAX_CHANS, "nchans");
    for (uint16_t i = 0; i < n && !r->why; i++) {
        uint16_t num = get_u16(r, "channel");
        cmn_addr_t peer, cpeer;
        get_addr(r, &peer, false, "channel");
        double in = get_f64(r, -TURN_CHAN_QUARANTINE, MAX_LIFE, "channel");
        fail(r, num < STUN_CHANNEL_MIN || num > STUN_CHANNEL_MAX, "channel");
        if (r->why)
            return;
        /* The quarantine ends strictly later than now (the encoder's rule),
         * and a number or a peer is bound once. */
        cmn_addr_canonical(&cpeer, &peer);
        fail(r, in <= -TURN_CHAN_QUARANTINE || turn__chan_by_num(a, num, now) ||
                    turn__chan_by_peer(a, &cpeer, now),
             "channel");
        if (r->why)
            return;
        turn_chan_t *c = turn__chan_add(a, num, &peer);
        if (in > 0)
            turn__chan_refresh(a, c, now + in);
        else {
            c->expires = now + in; /* in its quarantine: not bound, not counted */
            a->next_due = CMN_MIN(a->next_due, c->expires + TURN_CHAN_QUARANTINE);
        }
    }
}

static void get_tail(rd_t *r, turn_alloc_t *a)
{
    if (need(r, STUN_TID_LEN, "last response")) {
        memcpy(a->last_tid, r->p, STUN_TID_LEN);
        r->p += STUN_TID_LEN;
    }
    a->last_method = get_u16(r, "last response");
    a->last_len = get_u16(r, "last response");
    fail(r, a->last_len > TURN_RESP_CACHE_MAX, "last response");
    if (need(r, a->last_len, "last response")) {
        memcpy(a->last_resp, r->p, a->last_len);
        r->p += a->last_len;
    }
    fail(r, r->p != r->end, "trailing bytes");
}

int turn_alloc_import(turn_t *t, const uint8_t *src, size_t len, double now, turn_alloc_t **out,
                      const char **why)
{
    rd_t r = {src, src + len, NULL};
    turn_alloc_t *a = cmn_calloc(1, sizeof(*a));
    a->turn = t;
    get_head(&r, a, now);
    get_body(&r, a);
    /* turn__perm_install counts the permissions' IPs as newly seen peers:
     * keep the list and total as they were. */
    cmn_addr_t peers[TURN_PEERS_MAX];
    uint8_t npeers = a->npeers;
    uint32_t peers_total = a->peers_total;
    memcpy(peers, a->peers, sizeof(peers));
    /* The tables go in before the allocation is in the 5-tuple table, so a
     * bad entry leaves nothing behind; their counts are undone by
     * turn__perm_clear on failure. */
    a->next_due = a->expires;
    get_perms(&r, a, now);
    get_chans(&r, a, now);
    get_tail(&r, a);
    int rc = 0;
    if (!r.why && turn__alloc_find(t, &a->tuple, now, false)) {
        r.why = "5-tuple";
        rc = CMN_EEXIST;
    }
    if (r.why) {
        *why = r.why;
        turn__perm_clear(t, a);
        turn__alloc_free(a);
        return rc ? rc : CMN_EINVAL;
    }
    memcpy(a->peers, peers, sizeof(peers));
    a->npeers = npeers;
    a->peers_total = peers_total;
    double tokens[TURN_DIR_COUNT] = {a->q[0].tokens, a->q[1].tokens};
    turn__quota_setup(t, a, now);
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        if (a->q[d].rate > 0)
            a->q[d].tokens = CMN_MIN(tokens[d], a->q[d].burst);
    turn__shared_force(t->shared, a->quota_user, &a->tuple.client);
    turn__alloc_link(t, a);
    *out = a;
    return 0;
}

void turn_alloc_detach(turn_t *t, turn_alloc_t *a)
{
    if (a->ended)
        return;
    cmn_map_remove(&t->allocs, &a->node);
    a->ended = true;
    a->end_reason = TURN_END_SHUTDOWN;
    TURN_STAT_SUB(t, allocations_active, 1);
    turn__perm_clear(t, a);
    turn__shared_release(t->shared, a->quota_user, &a->tuple.client);
    a->udata = NULL; /* the glue let go of it; nothing is closed or recorded */
    a->next_ended = t->ended;
    t->ended = a;
}
