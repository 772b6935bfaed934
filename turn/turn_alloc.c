/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_alloc.c: the allocation table of one worker (RFC 8656 §6) and the
 * permission and channel tables inside each allocation (§9, §12), with
 * their lifetimes; the worker's turn_t itself (new, free, reload, tick,
 * statistics); and the small ring that remembers the last answer of
 * recently deleted allocations.
 *
 * Allocations are found by the client's 5-tuple in a chained hash table
 * with a random seed, so a client cannot aim its 5-tuples at one bucket.
 * Permissions and channels are arrays with small chained hash indexes
 * (by IP; by channel number and by peer), so the data path does a hash
 * probe, not a scan, even for an allocation with thousands of them.
 * Timers are not kept in a heap: turn_tick walks the allocations once a
 * second and sweeps only those whose next deadline has passed; the data
 * path compares expiry times itself, so a packet never uses a permission
 * or channel past its end even between ticks.
 *
 * An allocation that ends is unlinked and its relay closed at once, but the
 * memory is freed by the next turn_tick: the glue may still hold the
 * pointer in events it has queued for this loop iteration.
 */
#include "turn_int.h"

#include "../common/cmn_crypto.h"

/* ---- Lifetimes --------------------------------------------------------- */

uint32_t turn__lifetime(const turn_cfg_t *cfg, bool has, uint32_t req)
{
    uint32_t def = cfg->default_lifetime ? cfg->default_lifetime : TURN_DEF_LIFETIME;
    uint32_t max = cfg->max_lifetime ? cfg->max_lifetime : TURN_DEF_MAX_LIFETIME;
    /* RFC 8656 §7.2 and §8.2: min(requested, maximum), but never less than
     * the default; here the default is capped by the maximum as well. */
    uint32_t l = has ? CMN_MIN(req, max) : def;
    if (l < def)
        l = def;
    return CMN_MIN(l, max);
}

uint32_t turn__max_perms(const turn_cfg_t *cfg)
{
    uint32_t n = cfg->max_permissions ? cfg->max_permissions : TURN_DEF_MAX_PERMS;
    return CMN_MIN(n, TURN_HARD_MAX_PERMS);
}

uint32_t turn__max_chans(const turn_cfg_t *cfg)
{
    uint32_t n = cfg->max_channels ? cfg->max_channels : TURN_DEF_MAX_CHANS;
    return CMN_MIN(n, TURN_HARD_MAX_CHANS);
}

/* ---- The 5-tuple table ------------------------------------------------- */

bool turn__tuple_equal(const turn_5tuple_t *x, const turn_5tuple_t *y)
{
    return x->transport == y->transport && cmn_addr_equal(&x->client, &y->client) &&
           cmn_addr_equal(&x->server, &y->server);
}

static uint32_t tuple_hash(const turn_t *t, const turn_5tuple_t *tu)
{
    return cmn_addr_hash(&tu->client, cmn_addr_hash(&tu->server, t->seed ^ tu->transport));
}

turn_alloc_t *turn__alloc_find(turn_t *t, const turn_5tuple_t *tuple, double now, bool reap)
{
    uint32_t h = tuple_hash(t, tuple);
    for (turn_alloc_t *a = t->buckets[h & (t->nbuckets - 1)]; a; a = a->next) {
        if (a->hash != h || !turn__tuple_equal(&a->tuple, tuple))
            continue;
        if (now < a->expires)
            return a;
        if (reap)
            turn__alloc_end(t, a, TURN_END_EXPIRED);
        return NULL;
    }
    return NULL;
}

static void table_grow(turn_t *t)
{
    uint32_t n = t->nbuckets * 2;
    turn_alloc_t **b = cmn_calloc(n, sizeof(*b));
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        turn_alloc_t *a = t->buckets[i];
        while (a) {
            turn_alloc_t *next = a->next;
            a->next = b[a->hash & (n - 1)];
            b[a->hash & (n - 1)] = a;
            a = next;
        }
    }
    cmn_free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

turn_alloc_t *turn__alloc_new(turn_t *t, const turn_5tuple_t *tuple, const turn_auth_t *auth)
{
    turn_alloc_t *a = cmn_calloc(1, sizeof(*a));
    a->turn = t;
    a->tuple = *tuple;
    a->hash = tuple_hash(t, tuple);
    a->user = cmn_strndup(auth->user, auth->ulen);
    a->quota_user = cmn_strndup(auth->quota_user, auth->qlen);
    a->cred_expiry = auth->cred_expiry;
    /* Ids are unique across the workers of the process: one relaxed
     * atomic increment per Allocate. */
    static uint64_t next_id;
    a->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    return a;
}

static void alloc_free(turn_alloc_t *a)
{
    cmn_free(a->perms);
    cmn_free(a->chans);
    cmn_free(a->perm_head);
    cmn_free(a->num_head);
    cmn_free(a->peer_head);
    cmn_free(a->user);
    cmn_free(a->quota_user);
    cmn_free(a);
}

void turn__alloc_discard(turn_alloc_t *a)
{
    alloc_free(a);
}

void turn__alloc_insert(turn_t *t, turn_alloc_t *a)
{
    if (t->nallocs >= t->nbuckets)
        table_grow(t);
    uint32_t i = a->hash & (t->nbuckets - 1);
    a->next = t->buckets[i];
    t->buckets[i] = a;
    a->next_due = a->expires;
    t->nallocs++;
    TURN_STAT_ADD(t, allocations_active, 1);
    TURN_STAT_ADD(t, allocations_created, 1);
}

static void unlink_alloc(turn_t *t, turn_alloc_t *a)
{
    turn_alloc_t **pp = &t->buckets[a->hash & (t->nbuckets - 1)];
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
}

void turn__alloc_end(turn_t *t, turn_alloc_t *a, turn_end_reason_t why)
{
    if (a->ended)
        return;
    unlink_alloc(t, a);
    a->ended = true;
    a->end_reason = why;
    t->nallocs--;
    TURN_STAT_SUB(t, allocations_active, 1);
    TURN_STAT_SUB(t, permissions_active, a->nperms);
    uint32_t counted = 0;
    for (uint32_t i = 0; i < a->nchans; i++)
        counted += a->chans[i].counted;
    TURN_STAT_SUB(t, channels_active, counted);
    /* Inert from now on: empty tables, no index to follow. */
    a->nperms = 0;
    a->nchans = 0;
    cmn_free(a->perm_head);
    cmn_free(a->num_head);
    cmn_free(a->peer_head);
    a->perm_head = a->num_head = a->peer_head = NULL;
    turn__shared_release(t->shared, a->quota_user, &a->tuple.client);
    t->ops->relay_close(t->ops->ctx, a);
    a->next = t->ended;
    t->ended = a;
}

/* ---- Indexes ----------------------------------------------------------- */

/* Each table is an array plus chained hash indexes of array positions, so
 * the data path finds a permission or a channel in O(1) however many the
 * configuration allows. The chains are rebuilt whenever the array is
 * compacted or grows (control path only). Seeded like the 5-tuple table. */

static uint32_t idx_size(uint32_t cap)
{
    uint32_t nb = 8;
    while (nb < 2 * cap)
        nb <<= 1;
    return nb;
}

static void idx_reset(int32_t **head, uint32_t *mask, uint32_t cap)
{
    uint32_t nb = idx_size(cap);
    if (!*head || *mask != nb - 1) {
        cmn_free(*head);
        *head = cmn_malloc(nb * sizeof(**head));
        *mask = nb - 1;
    }
    memset(*head, 0xff, nb * sizeof(**head)); /* every chain empty (-1) */
}

static uint32_t perm_hash(const turn_alloc_t *a, const cmn_addr_t *c)
{
    return cmn_addr_hash(c, a->turn->seed ^ 0x7f4a7c15u);
}

static uint32_t peer_hash(const turn_alloc_t *a, const cmn_addr_t *cpeer)
{
    return cmn_addr_hash(cpeer, a->turn->seed ^ 0x94d049bbu);
}

static void perm_link(turn_alloc_t *a, uint32_t i)
{
    int32_t *h = &a->perm_head[perm_hash(a, &a->perms[i].ip) & a->perm_mask];
    a->perms[i].next = *h;
    *h = (int32_t)i;
}

static void perm_reindex(turn_alloc_t *a)
{
    idx_reset(&a->perm_head, &a->perm_mask, a->capperms);
    for (uint32_t i = 0; i < a->nperms; i++)
        perm_link(a, i);
}

static void chan_link(turn_alloc_t *a, uint32_t i)
{
    turn_chan_t *c = &a->chans[i];
    int32_t *hn = &a->num_head[c->num & a->chan_mask];
    int32_t *hp = &a->peer_head[peer_hash(a, &c->cpeer) & a->chan_mask];
    c->next_num = *hn;
    *hn = (int32_t)i;
    c->next_peer = *hp;
    *hp = (int32_t)i;
}

static void chan_reindex(turn_alloc_t *a)
{
    uint32_t mask = a->chan_mask;
    idx_reset(&a->num_head, &a->chan_mask, a->capchans);
    idx_reset(&a->peer_head, &mask, a->capchans);
    for (uint32_t i = 0; i < a->nchans; i++)
        chan_link(a, i);
}

/* ---- Permissions (RFC 8656 §9) ---------------------------------------- */

/* Any entry for <c> (canonical, port 0), live or expired but not swept. */
static turn_perm_t *perm_entry(turn_alloc_t *a, const cmn_addr_t *c)
{
    if (!a->perm_head)
        return NULL;
    for (int32_t i = a->perm_head[perm_hash(a, c) & a->perm_mask]; i >= 0; i = a->perms[i].next)
        if (cmn_addr_ip_equal(&a->perms[i].ip, c))
            return &a->perms[i];
    return NULL;
}

static void perm_key(cmn_addr_t *c, const cmn_addr_t *ip)
{
    cmn_addr_canonical(c, ip);
    c->port = 0;
}

turn_perm_t *turn__perm_find(turn_alloc_t *a, const cmn_addr_t *ip, double now)
{
    cmn_addr_t c;
    perm_key(&c, ip);
    turn_perm_t *p = perm_entry(a, &c);
    return p && now < p->expires ? p : NULL;
}

/* Only new permissions need room: refreshing never fails, even when a
 * reload lowered the cap below what the allocation already holds. */
bool turn__perm_fits(turn_alloc_t *a, const cmn_addr_t *ips, size_t n, double now, uint32_t max)
{
    uint32_t live = 0, add = 0;
    for (uint32_t i = 0; i < a->nperms; i++)
        live += now < a->perms[i].expires;
    for (size_t i = 0; i < n; i++) {
        cmn_addr_t c, d;
        perm_key(&c, &ips[i]);
        turn_perm_t *p = perm_entry(a, &c);
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            perm_key(&d, &ips[j]);
            dup = cmn_addr_ip_equal(&c, &d);
        }
        if (!dup && (!p || now >= p->expires))
            add++;
    }
    return add == 0 || live + add <= max;
}

/* Remember a permission IP for the allocation's ledger record. */
static void peer_seen(turn_alloc_t *a, const cmn_addr_t *c)
{
    for (uint8_t i = 0; i < a->npeers; i++)
        if (cmn_addr_ip_equal(&a->peers[i], c))
            return;
    /* Past the list, an IP whose permission expired and came back counts
     * again: peers_total is exact up to TURN_PEERS_MAX, an upper bound
     * beyond. */
    if (a->npeers < TURN_PEERS_MAX)
        a->peers[a->npeers++] = *c;
    a->peers_total++;
}

void turn__perm_install(turn_alloc_t *a, const cmn_addr_t *ip, double expires)
{
    cmn_addr_t c;
    perm_key(&c, ip);
    turn_perm_t *p = perm_entry(a, &c);
    if (!p) {
        bool grow = a->nperms == a->capperms;
        if (grow) {
            a->capperms = a->capperms ? a->capperms * 2 : 4;
            a->perms = cmn_realloc(a->perms, a->capperms * sizeof(*a->perms));
        }
        p = &a->perms[a->nperms++];
        p->ip = c;
        peer_seen(a, &c);
        if (grow)
            perm_reindex(a);
        else
            perm_link(a, a->nperms - 1);
        TURN_STAT_ADD(a->turn, permissions_active, 1);
    }
    p->expires = expires;
    a->next_due = CMN_MIN(a->next_due, expires);
}

/* ---- Channels (RFC 8656 §12) ------------------------------------------ */

/* A binding is alive while bound or in quarantine. An entry past its
 * quarantine is dead even before the sweep drops it, so a number (or a
 * peer) may have a dead entry and a newer live one: lookups skip the dead. */
static bool chan_alive(const turn_chan_t *c, double now)
{
    return now < c->expires + TURN_CHAN_QUARANTINE;
}

turn_chan_t *turn__chan_by_num(turn_alloc_t *a, uint16_t num, double now)
{
    if (!a->num_head)
        return NULL;
    for (int32_t i = a->num_head[num & a->chan_mask]; i >= 0; i = a->chans[i].next_num) {
        turn_chan_t *c = &a->chans[i];
        if (c->num == num && chan_alive(c, now))
            return c;
    }
    return NULL;
}

turn_chan_t *turn__chan_by_peer(turn_alloc_t *a, const cmn_addr_t *cpeer, double now)
{
    if (!a->peer_head)
        return NULL;
    int32_t i = a->peer_head[peer_hash(a, cpeer) & a->chan_mask];
    for (; i >= 0; i = a->chans[i].next_peer) {
        turn_chan_t *c = &a->chans[i];
        if (chan_alive(c, now) && cmn_addr_equal(&c->cpeer, cpeer))
            return c;
    }
    return NULL;
}

uint32_t turn__chan_bound_count(const turn_alloc_t *a, double now)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->nchans; i++)
        n += now < a->chans[i].expires;
    return n;
}

turn_chan_t *turn__chan_add(turn_alloc_t *a, uint16_t num, const cmn_addr_t *peer)
{
    bool grow = a->nchans == a->capchans;
    if (grow) {
        a->capchans = a->capchans ? a->capchans * 2 : 4;
        a->chans = cmn_realloc(a->chans, a->capchans * sizeof(*a->chans));
    }
    turn_chan_t *c = &a->chans[a->nchans++];
    memset(c, 0, sizeof(*c));
    c->num = num;
    c->peer = *peer;
    cmn_addr_canonical(&c->cpeer, peer);
    if (grow)
        chan_reindex(a);
    else
        chan_link(a, a->nchans - 1);
    return c;
}

void turn__chan_refresh(turn_alloc_t *a, turn_chan_t *c, double expires)
{
    if (!c->counted) {
        c->counted = true;
        TURN_STAT_ADD(a->turn, channels_active, 1);
    }
    c->expires = expires;
    a->next_due = CMN_MIN(a->next_due, expires);
}

/* ---- Expiry ------------------------------------------------------------ */

/* Remove expired permissions; return the earliest remaining expiry. */
static double perm_sweep(turn_t *t, turn_alloc_t *a, double now, double due)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < a->nperms; i++) {
        if (now >= a->perms[i].expires) {
            TURN_STAT_SUB(t, permissions_active, 1);
            continue;
        }
        due = CMN_MIN(due, a->perms[i].expires);
        a->perms[j++] = a->perms[i];
    }
    if (j != a->nperms) {
        a->nperms = j;
        perm_reindex(a);
    }
    return due;
}

/* Move expired channels into quarantine, drop those whose quarantine
 * ended; return the earliest remaining deadline. */
static double chan_sweep(turn_t *t, turn_alloc_t *a, double now, double due)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < a->nchans; i++) {
        turn_chan_t *c = &a->chans[i];
        if (now >= c->expires && c->counted) {
            c->counted = false;
            TURN_STAT_SUB(t, channels_active, 1);
        }
        if (!chan_alive(c, now))
            continue;
        due = CMN_MIN(due, now < c->expires ? c->expires : c->expires + TURN_CHAN_QUARANTINE);
        a->chans[j++] = *c;
    }
    if (j != a->nchans) {
        a->nchans = j;
        chan_reindex(a);
    }
    return due;
}

static void alloc_sweep(turn_t *t, turn_alloc_t *a, double now)
{
    a->next_due = chan_sweep(t, a, now, perm_sweep(t, a, now, a->expires));
}

/* The blocked set changed (turn_tick): end the allocation of a blocked user, or
 * (quota.over_action = throttle) hold over-quota users at the floor rate
 * and release those whose block was lifted. */
static void apply_block(void *ctx, turn_alloc_t *a)
{
    turn_t *t = ctx;
    turn_block_t why = turn_shared_user_blocked(t->shared, a->quota_user);
    if (why == TURN_BLOCK_REVOKED)
        turn__alloc_end(t, a, TURN_END_REVOKED);
    else if (why == TURN_BLOCK_QUOTA && !t->cfg->over_throttle)
        turn__alloc_end(t, a, TURN_END_QUOTA);
    else
        turn__quota_throttle(t, a, why == TURN_BLOCK_QUOTA);
}

void turn_tick(turn_t *t, double now, double wall)
{
    while (t->ended) {
        turn_alloc_t *a = t->ended;
        t->ended = a->next;
        alloc_free(a);
    }
    uint64_t gen = turn_shared_block_gen(t->shared);
    if (gen != t->block_gen) {
        t->block_gen = gen;
        turn_foreach_alloc(t, apply_block, t);
    }
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        turn_alloc_t *a = t->buckets[i];
        while (a) {
            turn_alloc_t *next = a->next;
            /* An allocation ends with its lifetime (§6) or with its
             * ephemeral credential. */
            if (now >= a->expires)
                turn__alloc_end(t, a, TURN_END_EXPIRED);
            else if (a->cred_expiry > 0 && wall >= a->cred_expiry)
                turn__alloc_end(t, a, TURN_END_CRED_EXPIRED);
            else if (now >= a->next_due)
                alloc_sweep(t, a, now);
            a = next;
        }
    }
}

void turn_end_tuple(turn_t *t, const turn_5tuple_t *tuple)
{
    uint32_t h = tuple_hash(t, tuple);
    for (turn_alloc_t *a = t->buckets[h & (t->nbuckets - 1)]; a; a = a->next) {
        if (a->hash == h && turn__tuple_equal(&a->tuple, tuple)) {
            turn__alloc_end(t, a, TURN_END_CONN_CLOSED);
            return;
        }
    }
}

/* ---- Recently deleted allocations -------------------------------------- */

void turn__recent_put(turn_t *t, const turn_alloc_t *a, double now)
{
    if (a->last_len == 0)
        return;
    turn_recent_t *r = &t->recent[t->recent_next];
    t->recent_next = (t->recent_next + 1) % TURN_RECENT_SLOTS;
    r->tuple = a->tuple;
    memcpy(r->tid, a->last_tid, STUN_TID_LEN);
    r->method = a->last_method;
    r->len = a->last_len;
    r->when = now;
    memcpy(r->resp, a->last_resp, a->last_len);
}

const turn_recent_t *turn__recent_find(const turn_t *t, const turn_5tuple_t *tuple,
                                       const uint8_t tid[STUN_TID_LEN], double now)
{
    for (size_t i = 0; i < TURN_RECENT_SLOTS; i++) {
        const turn_recent_t *r = &t->recent[i];
        if (r->len && now - r->when < TURN_RECENT_TTL &&
            memcmp(r->tid, tid, STUN_TID_LEN) == 0 && turn__tuple_equal(&r->tuple, tuple))
            return r;
    }
    return NULL;
}

/* ---- The worker's state ------------------------------------------------ */

turn_t *turn_new(const turn_cfg_t *cfg, const turn_ops_t *ops, turn_shared_t *shared)
{
    turn_t *t = cmn_calloc(1, sizeof(*t));
    t->cfg = cfg;
    t->ops = ops;
    t->shared = shared;
    t->nbuckets = TURN_ALLOC_BUCKETS_MIN;
    t->buckets = cmn_calloc(t->nbuckets, sizeof(*t->buckets));
    /* A failed RNG leaves zeros: the seed and the indication tid prefix
     * are defences in depth, not secrets the protocol relies on. */
    (void)cmn_random(&t->seed, sizeof(t->seed));
    (void)cmn_random(t->ind_tid, sizeof(t->ind_tid));
    turn__auth_reload(t);
    turn__quota_init(t);
    return t;
}

void turn_free(turn_t *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nbuckets; i++)
        while (t->buckets[i])
            turn__alloc_end(t, t->buckets[i], TURN_END_SHUTDOWN);
    while (t->ended) {
        turn_alloc_t *a = t->ended;
        t->ended = a->next;
        alloc_free(a);
    }
    cmn_free(t->buckets);
    cmn_free(t->uhash);
    cmn_free(t);
}

void turn_set_cfg(turn_t *t, const turn_cfg_t *cfg)
{
    t->cfg = cfg;
    turn__auth_reload(t);
    turn__quota_reload(t);
    /* quota.over_action may have changed: re-apply the blocks. */
    t->block_gen = turn_shared_block_gen(t->shared) - 1;
}

void turn_get_stats(const turn_t *t, turn_stats_t *out)
{
#define TURN_STAT_READ(f) out->f = __atomic_load_n(&t->st.f, __ATOMIC_RELAXED)
    TURN_STAT_READ(allocations_active);
    TURN_STAT_READ(allocations_created);
    TURN_STAT_READ(allocations_failed);
    TURN_STAT_READ(permissions_active);
    TURN_STAT_READ(channels_active);
    TURN_STAT_READ(auth_failures);
    TURN_STAT_READ(stale_nonces);
    TURN_STAT_READ(peer_denied);
#undef TURN_STAT_READ
#define TURN_STAT_READ_N(f)                                                   \
    for (size_t i_ = 0; i_ < sizeof(out->f) / sizeof(uint64_t); i_++)         \
        ((uint64_t *)out->f)[i_] = __atomic_load_n(&((const uint64_t *)t->st.f)[i_], \
                                                   __ATOMIC_RELAXED)
    TURN_STAT_READ_N(relayed_bytes);
    TURN_STAT_READ_N(relayed_packets);
    TURN_STAT_READ_N(quota_dropped_bytes);
    TURN_STAT_READ_N(quota_dropped_packets);
    TURN_STAT_READ_N(requests);
    TURN_STAT_READ_N(alloc_errors);
#undef TURN_STAT_READ_N
}

/* ---- Accessors --------------------------------------------------------- */

const turn_5tuple_t *turn_alloc_tuple(const turn_alloc_t *a)
{
    return &a->tuple;
}

void turn_alloc_set_udata(turn_alloc_t *a, void *udata)
{
    a->udata = udata;
}

void *turn_alloc_udata(const turn_alloc_t *a)
{
    return a->udata;
}

const char *turn_alloc_user(const turn_alloc_t *a)
{
    return a->user;
}

const turn_alloc_counters_t *turn_alloc_counters(const turn_alloc_t *a)
{
    return &a->c;
}

static const char *const end_names[TURN_END_COUNT] = {
    "client", "expired", "connection_closed", "credential_expired",
    "admin", "revoked", "quota", "shutdown",
};

const char *turn_end_reason_name(turn_end_reason_t r)
{
    return (unsigned)r < TURN_END_COUNT ? end_names[r] : "unknown";
}

void turn_alloc_info(const turn_alloc_t *a, turn_alloc_info_t *out)
{
    out->id = a->id;
    out->started = a->started;
    out->started_wall = a->started_wall;
    out->ended = a->ended;
    out->end_reason = a->end_reason;
    out->user = a->user;
    out->quota_user = a->quota_user;
    out->relay = a->relay;
    out->nrelay = a->nrelay;
    out->peers = a->peers;
    out->npeers = a->npeers;
    out->peers_total = a->peers_total;
}

void turn_alloc_end(turn_t *t, turn_alloc_t *a, turn_end_reason_t why)
{
    turn__alloc_end(t, a, why);
}

void turn_foreach_alloc(turn_t *t, void (*fn)(void *ctx, turn_alloc_t *a), void *ctx)
{
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        turn_alloc_t *a = t->buckets[i];
        while (a) {
            turn_alloc_t *next = a->next; /* fn may end (unlink) <a> */
            fn(ctx, a);
            a = next;
        }
    }
}
