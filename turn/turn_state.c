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

#include "../common/cmn_bytes.h"

#define MAX_LIFE 604800.0       /* a week: far past any lifetime this server grants */
#define MAX_WALL 1e11           /* Unix seconds, year 5138 */

/* ---- Writing ------------------------------------------------------------- */

static void put_str(cmn_wr_t *w, const char *s)
{
    size_t n = strlen(s);
    cmn_wr_u16(w, (uint16_t)n);
    cmn_wr_bytes(w, s, n);
}

static void put_tables(cmn_wr_t *w, const turn_alloc_t *a, double now)
{
    uint32_t np = 0, nc = 0;
    for (uint32_t i = 0; i < a->nperms; i++)
        np += now < a->perms[i].expires;
    cmn_wr_u16(w, (uint16_t)np);
    for (uint32_t i = 0; i < a->nperms; i++) {
        if (now >= a->perms[i].expires)
            continue;
        cmn_wr_addr(w, &a->perms[i].ip);
        cmn_wr_f64(w, a->perms[i].expires - now);
    }
    for (uint32_t i = 0; i < a->nchans; i++)
        nc += now < a->chans[i].expires + TURN_CHAN_QUARANTINE;
    cmn_wr_u16(w, (uint16_t)nc);
    for (uint32_t i = 0; i < a->nchans; i++) {
        const turn_chan_t *c = &a->chans[i];
        if (now >= c->expires + TURN_CHAN_QUARANTINE)
            continue;
        cmn_wr_u16(w, c->num);
        cmn_wr_addr(w, &c->peer);
        cmn_wr_f64(w, c->expires - now);
    }
}

size_t turn_alloc_encode(const turn_alloc_t *a, double now, uint8_t *out, size_t cap)
{
    cmn_wr_t w = {out, 0, cap};
    cmn_wr_u8(&w, TURN_STATE_VERSION);
    cmn_wr_u8(&w, a->tuple.transport);
    cmn_wr_addr(&w, &a->tuple.client);
    cmn_wr_addr(&w, &a->tuple.server);
    cmn_wr_u64(&w, a->id);
    put_str(&w, a->user);
    put_str(&w, a->quota_user);
    cmn_wr_f64(&w, a->expires - now);
    cmn_wr_f64(&w, a->cred_expiry);
    cmn_wr_f64(&w, now - a->started);
    cmn_wr_f64(&w, a->started_wall);
    cmn_wr_u8(&w, a->nrelay);
    for (uint8_t i = 0; i < a->nrelay; i++)
        cmn_wr_addr(&w, &a->relay[i]);
    cmn_wr_u8(&w, (uint8_t)((a->dont_fragment ? 1 : 0) | (a->throttled ? 2 : 0)));
    cmn_wr_u64(&w, a->c.to_peer_bytes);
    cmn_wr_u64(&w, a->c.to_peer_packets);
    cmn_wr_u64(&w, a->c.to_client_bytes);
    cmn_wr_u64(&w, a->c.to_client_packets);
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        cmn_wr_f64(&w, a->q[d].tokens);
    cmn_wr_u8(&w, a->npeers);
    for (uint8_t i = 0; i < a->npeers; i++)
        cmn_wr_addr(&w, &a->peers[i]);
    cmn_wr_u32(&w, a->peers_total);
    put_tables(&w, a, now);
    cmn_wr_bytes(&w, a->last_tid, STUN_TID_LEN);
    cmn_wr_u16(&w, a->last_method);
    cmn_wr_u16(&w, a->last_len);
    cmn_wr_bytes(&w, a->last_resp, a->last_len);
    return w.len;
}

/* ---- Reading ------------------------------------------------------------- */

/* A string of 1..max bytes without NUL, copied (owned). */
static char *get_str(cmn_rd_t *r, size_t max, const char *what)
{
    uint16_t n = cmn_rd_u16(r, what);
    cmn_rd_check(r, n == 0 || n > max, what);
    const uint8_t *b = cmn_rd_take(r, n, what);
    cmn_rd_check(r, b && memchr(b, '\0', n), what);
    return r->why ? NULL : cmn_strndup((const char *)b, n);
}

static void get_head(cmn_rd_t *r, turn_alloc_t *a, double now)
{
    cmn_rd_check(r, cmn_rd_u8(r, "version") != TURN_STATE_VERSION, "version");
    a->tuple.transport = cmn_rd_u8(r, "transport");
    cmn_rd_check(r, a->tuple.transport >= TURN_TR_COUNT, "transport");
    cmn_rd_addr(r, &a->tuple.client, false, "client");
    cmn_rd_addr(r, &a->tuple.server, false, "server");
    a->id = cmn_rd_u64(r, "id");
    cmn_rd_check(r, a->id == 0, "id");
    a->user = get_str(r, STUN_USERNAME_MAX, "user");
    a->quota_user = get_str(r, STUN_USERNAME_MAX, "quota_user");
    if (a->user && a->quota_user) {
        size_t ul = strlen(a->user), ql = strlen(a->quota_user);
        /* The quota user is the whole name or the part after a ':'. */
        cmn_rd_check(r, ql > ul || strcmp(a->user + ul - ql, a->quota_user) != 0 ||
                    (ql < ul && a->user[ul - ql - 1] != ':'),
             "quota_user");
    }
    a->expires = now + cmn_rd_f64(r, 0.0, MAX_LIFE, "expires_in");
    a->cred_expiry = cmn_rd_f64(r, 0.0, MAX_WALL, "cred_expiry");
    a->started = now - cmn_rd_f64(r, 0.0, 1e9, "started_ago");
    a->started_wall = cmn_rd_f64(r, 0.0, MAX_WALL, "started_wall");
}

static void get_body(cmn_rd_t *r, turn_alloc_t *a)
{
    a->nrelay = cmn_rd_u8(r, "nrelay");
    cmn_rd_check(r, a->nrelay < 1 || a->nrelay > 2, "nrelay");
    for (uint8_t i = 0; i < a->nrelay && !r->why; i++)
        cmn_rd_addr(r, &a->relay[i], false, "relay");
    cmn_rd_check(r, a->nrelay == 2 && a->relay[0].family == a->relay[1].family, "relay");
    uint8_t flags = cmn_rd_u8(r, "flags");
    cmn_rd_check(r, flags > 3, "flags");
    a->dont_fragment = flags & 1;
    a->throttled = (flags & 2) != 0;
    a->c.to_peer_bytes = cmn_rd_u64(r, "counters");
    a->c.to_peer_packets = cmn_rd_u64(r, "counters");
    a->c.to_client_bytes = cmn_rd_u64(r, "counters");
    a->c.to_client_packets = cmn_rd_u64(r, "counters");
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        a->q[d].tokens = cmn_rd_f64(r, 0.0, 1e15, "tokens");
    a->npeers = cmn_rd_u8(r, "npeers");
    cmn_rd_check(r, a->npeers > TURN_PEERS_MAX, "npeers");
    for (uint8_t i = 0; i < a->npeers && !r->why; i++)
        cmn_rd_addr(r, &a->peers[i], false, "peers");
    a->peers_total = cmn_rd_u32(r, "peers_total");
    cmn_rd_check(r, a->peers_total < a->npeers, "peers_total");
}

static void get_perms(cmn_rd_t *r, turn_alloc_t *a, double now)
{
    uint16_t n = cmn_rd_u16(r, "nperms");
    cmn_rd_check(r, n > TURN_HARD_MAX_PERMS, "nperms");
    for (uint16_t i = 0; i < n && !r->why; i++) {
        cmn_addr_t ip;
        cmn_rd_addr(r, &ip, false, "permission");
        double in = cmn_rd_f64(r, 0.0, MAX_LIFE, "permission");
        cmn_rd_check(r, ip.port != 0, "permission");
        if (!r->why)
            turn__perm_install(a, &ip, now + in);
    }
}

static void get_chans(cmn_rd_t *r, turn_alloc_t *a, double now)
{
    uint16_t n = cmn_rd_u16(r, "nchans");
    cmn_rd_check(r, n > TURN_HARD_MAX_CHANS, "nchans");
    for (uint16_t i = 0; i < n && !r->why; i++) {
        uint16_t num = cmn_rd_u16(r, "channel");
        cmn_addr_t peer, cpeer;
        cmn_rd_addr(r, &peer, false, "channel");
        double in = cmn_rd_f64(r, -TURN_CHAN_QUARANTINE, MAX_LIFE, "channel");
        cmn_rd_check(r, num < STUN_CHANNEL_MIN || num > STUN_CHANNEL_MAX, "channel");
        if (r->why)
            return;
        /* The quarantine ends strictly later than now (the encoder's rule),
         * and a number or a peer is bound once. */
        cmn_addr_canonical(&cpeer, &peer);
        cmn_rd_check(r, in <= -TURN_CHAN_QUARANTINE || turn__chan_by_num(a, num, now) ||
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

static void get_tail(cmn_rd_t *r, turn_alloc_t *a)
{
    const uint8_t *b = cmn_rd_take(r, STUN_TID_LEN, "last response");
    if (b)
        memcpy(a->last_tid, b, STUN_TID_LEN);
    a->last_method = cmn_rd_u16(r, "last response");
    a->last_len = cmn_rd_u16(r, "last response");
    cmn_rd_check(r, a->last_len > TURN_RESP_CACHE_MAX, "last response");
    if ((b = cmn_rd_take(r, a->last_len, "last response")))
        memcpy(a->last_resp, b, a->last_len);
    cmn_rd_check(r, r->p != r->end, "trailing bytes");
}

int turn_alloc_import(turn_t *t, const uint8_t *src, size_t len, double now, turn_alloc_t **out,
                      const char **why)
{
    cmn_rd_t r = {src, src + len, NULL};
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
