/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_perm.c: the permissions (RFC 8656 §9) and channel bindings (§12)
 * inside one allocation, with their lifetimes: what peers an allocation
 * may reach, and by which channel numbers.
 *
 * Each table is an array plus chained hash indexes of array positions (by
 * IP for permissions; by channel number and by peer for channels), so the
 * data path does a hash probe, not a scan, even for an allocation with
 * thousands of them. The chains are rebuilt whenever the array is
 * compacted or grows (control path only), and seeded with the worker's
 * random seed like the 5-tuple table, so a client cannot aim its peers at
 * one chain. There is no timer heap: the data path compares expiry times
 * itself, and turn_tick sweeps an allocation's tables once their earliest
 * deadline (turn_alloc_t.next_due) has passed.
 *
 * Left out: the allocation itself and the 5-tuple table (turn_alloc.c).
 */
#include "turn_int.h"

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

/* ---- Indexes ----------------------------------------------------------- */

/* Chains for <cap> entries: about two heads per entry. Most allocations
 * hold one or two permissions and a channel or two, so the arrays start at
 * one entry and two heads and double as they fill: an idle allocation's
 * indexes cost little memory. */
static uint32_t idx_size(uint32_t cap)
{
    uint32_t nb = 2;
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
            a->capperms = a->capperms ? a->capperms * 2 : 1;
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
        a->capchans = a->capchans ? a->capchans * 2 : 1;
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

/* ---- Expiry and the end ----------------------------------------------- */

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

void turn__perm_sweep(turn_t *t, turn_alloc_t *a, double now)
{
    a->next_due = chan_sweep(t, a, now, perm_sweep(t, a, now, a->expires));
}

void turn__perm_clear(turn_t *t, turn_alloc_t *a)
{
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
}

void turn__perm_free(turn_alloc_t *a)
{
    cmn_free(a->perms);
    cmn_free(a->chans);
    cmn_free(a->perm_head);
    cmn_free(a->num_head);
    cmn_free(a->peer_head);
}
