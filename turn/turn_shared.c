/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_shared.c: the allocation limits that span worker threads: how many
 * allocations exist in total, per user and per client IP address. Each
 * worker owns its allocations, but a user or a client IP may reach several
 * workers (SO_REUSEPORT spreads 5-tuples, not people), so these counts live
 * behind one pthread mutex. The mutex is taken only when an allocation is
 * created or ends, never per packet.
 *
 * Counts are kept in a hash table (cmn_map) of user names and IP
 * addresses; an entry exists only while its count is above zero, so memory
 * follows the number of allocations. It is touched at allocation rate, not
 * packet rate. Names are the clients' (a REST-credential user picks its
 * own), so the table hashes them under its random key.
 *
 * It also holds the set of blocked users (revoked by an operator, or over
 * their byte quota): Allocate refuses them, and each worker's turn_tick
 * notices a change by the set's generation number (one atomic load a
 * tick) and then applies it to the allocations it owns.
 *
 * And the drain flag: a process that drains refuses new allocations on
 * every worker at once (turn_allocate.c answers them).
 */
#include "turn_int.h"

#include <pthread.h>
#include <stdlib.h>

#define SHARED_BUCKETS_MIN 64

enum { KEY_USER = 1, KEY_IP = 2, KEY_BLOCK = 3 }; /* KEY_BLOCK: count holds a turn_block_t */

typedef struct shared_entry_s {
    cmn_map_node_t node;
    uint32_t count;
    uint8_t kind;
    size_t klen;
    uint8_t key[]; /* user name bytes, or family + 16 address bytes */
} shared_entry_t;

struct turn_shared_s {
    pthread_mutex_t mu;
    uint32_t max_total, max_per_user, max_per_ip; /* 0 = unlimited */
    uint32_t active;                              /* atomic reads outside the mutex */
    uint64_t block_gen;                           /* atomic: bumped by every block change */
    bool held;                                    /* atomic: turn_shared_hold */
    bool draining;                                /* atomic: new Allocates refused */
    uint32_t alt_next;                            /* atomic: the next alternate server */
    cmn_map_t map;                                /* shared_entry_t by kind and key */
};

turn_shared_t *turn_shared_new(uint32_t max_total, uint32_t max_per_user, uint32_t max_per_ip)
{
    turn_shared_t *s = cmn_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->max_total = max_total;
    s->max_per_user = max_per_user;
    s->max_per_ip = max_per_ip;
    cmn_map_init(&s->map, SHARED_BUCKETS_MIN);
    return s;
}

void turn_shared_free(turn_shared_t *s)
{
    if (!s)
        return;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &s->map);
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
        cmn_free(CMN_MAP_ENTRY(n, shared_entry_t, node));
    cmn_map_dispose(&s->map);
    pthread_mutex_destroy(&s->mu);
    cmn_free(s);
}

void turn_shared_set_limits(turn_shared_t *s, uint32_t max_total, uint32_t max_per_user,
                            uint32_t max_per_ip)
{
    pthread_mutex_lock(&s->mu);
    s->max_total = max_total;
    s->max_per_user = max_per_user;
    s->max_per_ip = max_per_ip;
    pthread_mutex_unlock(&s->mu);
}

uint32_t turn_shared_active(const turn_shared_t *s)
{
    return __atomic_load_n(&s->active, __ATOMIC_RELAXED);
}

/* SipHash under the table's key, with the kind folded in. */
static uint64_t key_hash(const turn_shared_t *s, uint8_t kind, const uint8_t *key, size_t klen)
{
    return cmn_map_hash_bytes(&s->map, key, klen) ^ kind;
}

/* The key bytes of an IP address: family then the 16 address bytes. */
static size_t ip_key(const cmn_addr_t *ip, uint8_t key[17])
{
    cmn_addr_t c;
    cmn_addr_canonical(&c, ip);
    key[0] = c.family;
    memcpy(key + 1, c.ip, 16);
    return 17;
}

static shared_entry_t *entry_find(const turn_shared_t *s, uint8_t kind, const uint8_t *key,
                                  size_t klen)
{
    uint64_t h = key_hash(s, kind, key, klen);
    for (cmn_map_node_t *n = cmn_map_first(&s->map, h); n; n = cmn_map_next(n)) {
        shared_entry_t *e = CMN_MAP_ENTRY(n, shared_entry_t, node);
        if (e->kind == kind && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    }
    return NULL;
}

static shared_entry_t *entry_new(turn_shared_t *s, uint8_t kind, const uint8_t *key, size_t klen,
                                 uint32_t count)
{
    shared_entry_t *e = cmn_calloc(1, sizeof(*e) + klen);
    e->kind = kind;
    e->klen = klen;
    e->count = count;
    memcpy(e->key, key, klen);
    cmn_map_insert(&s->map, &e->node, key_hash(s, kind, key, klen));
    return e;
}

static void entry_del(turn_shared_t *s, shared_entry_t *e)
{
    cmn_map_remove(&s->map, &e->node);
    cmn_free(e);
}

static uint32_t entry_count(const turn_shared_t *s, uint8_t kind, const uint8_t *key,
                            size_t klen)
{
    shared_entry_t *e = entry_find(s, kind, key, klen);
    return e ? e->count : 0;
}

static void entry_add(turn_shared_t *s, uint8_t kind, const uint8_t *key, size_t klen, int delta)
{
    shared_entry_t *e = entry_find(s, kind, key, klen);
    if (!e) {
        if (delta < 0)
            return; /* a release without an acquire: nothing to undo */
        e = entry_new(s, kind, key, klen, 0);
    }
    if (delta > 0)
        e->count++;
    else if (--e->count == 0)
        entry_del(s, e);
}

turn_err_t turn__shared_acquire(turn_shared_t *s, const char *user, const cmn_addr_t *ip)
{
    uint8_t ipk[17];
    size_t iplen = ip_key(ip, ipk);
    size_t ulen = strlen(user);
    turn_err_t err = TURN_OK;

    pthread_mutex_lock(&s->mu);
    /* The client's own limits first: a client over its quota is told so
     * (486) even when the server is also full. */
    shared_entry_t *be = entry_find(s, KEY_BLOCK, (const uint8_t *)user, ulen);
    if (be)
        err = be->count == TURN_BLOCK_REVOKED ? TURN_ERR_USER_REVOKED : TURN_ERR_QUOTA_BYTES;
    else if (s->max_per_user &&
             entry_count(s, KEY_USER, (const uint8_t *)user, ulen) >= s->max_per_user)
        err = TURN_ERR_QUOTA_USER;
    else if (s->max_per_ip && entry_count(s, KEY_IP, ipk, iplen) >= s->max_per_ip)
        err = TURN_ERR_QUOTA_IP;
    else if (__atomic_load_n(&s->held, __ATOMIC_RELAXED))
        err = TURN_ERR_CAP_ACCOUNTING;
    else if (s->max_total && s->active >= s->max_total)
        err = TURN_ERR_CAP_TOTAL;
    if (err == TURN_OK) {
        entry_add(s, KEY_USER, (const uint8_t *)user, ulen, 1);
        entry_add(s, KEY_IP, ipk, iplen, 1);
        __atomic_store_n(&s->active, s->active + 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

bool turn_shared_hold(turn_shared_t *s, bool on)
{
    return __atomic_exchange_n(&s->held, on, __ATOMIC_RELAXED) != on;
}

bool turn_shared_held(const turn_shared_t *s)
{
    return __atomic_load_n(&s->held, __ATOMIC_RELAXED);
}

void turn__shared_force(turn_shared_t *s, const char *user, const cmn_addr_t *ip)
{
    uint8_t ipk[17];
    size_t iplen = ip_key(ip, ipk);
    pthread_mutex_lock(&s->mu);
    entry_add(s, KEY_USER, (const uint8_t *)user, strlen(user), 1);
    entry_add(s, KEY_IP, ipk, iplen, 1);
    __atomic_store_n(&s->active, s->active + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
}

void turn__shared_release(turn_shared_t *s, const char *user, const cmn_addr_t *ip)
{
    uint8_t ipk[17];
    size_t iplen = ip_key(ip, ipk);

    pthread_mutex_lock(&s->mu);
    entry_add(s, KEY_USER, (const uint8_t *)user, strlen(user), -1);
    entry_add(s, KEY_IP, ipk, iplen, -1);
    if (s->active > 0)
        __atomic_store_n(&s->active, s->active - 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
}

void turn_shared_block_user(turn_shared_t *s, const char *quota_user, turn_block_t why)
{
    size_t ulen = strlen(quota_user);
    const uint8_t *key = (const uint8_t *)quota_user;
    pthread_mutex_lock(&s->mu);
    shared_entry_t *e = entry_find(s, KEY_BLOCK, key, ulen);
    bool changed = false;
    if (why == TURN_BLOCK_NONE) {
        /* Not a block: lifting is turn_shared_lift_block's. */
    } else if (!e) {
        entry_new(s, KEY_BLOCK, key, ulen, (uint32_t)why);
        changed = true;
    } else if (e->count != (uint32_t)why && e->count != TURN_BLOCK_REVOKED) {
        /* A revocation outranks a quota block (an operator's decision is
         * not lifted by a new period); only lifting it ends it. */
        e->count = (uint32_t)why;
        changed = true;
    }
    if (changed)
        __atomic_store_n(&s->block_gen, s->block_gen + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
}

turn_block_t turn_shared_user_blocked(turn_shared_t *s, const char *quota_user)
{
    size_t ulen = strlen(quota_user);
    const uint8_t *key = (const uint8_t *)quota_user;
    pthread_mutex_lock(&s->mu);
    shared_entry_t *e = entry_find(s, KEY_BLOCK, key, ulen);
    turn_block_t why = e ? (turn_block_t)e->count : TURN_BLOCK_NONE;
    pthread_mutex_unlock(&s->mu);
    return why;
}

uint64_t turn_shared_block_gen(const turn_shared_t *s)
{
    return __atomic_load_n(&s->block_gen, __ATOMIC_RELAXED);
}

bool turn_shared_lift_block(turn_shared_t *s, const char *quota_user, turn_block_t only)
{
    size_t ulen = strlen(quota_user);
    const uint8_t *key = (const uint8_t *)quota_user;
    pthread_mutex_lock(&s->mu);
    shared_entry_t *e = entry_find(s, KEY_BLOCK, key, ulen);
    bool lift = e && e->count == (uint32_t)only;
    if (lift) {
        entry_del(s, e);
        __atomic_store_n(&s->block_gen, s->block_gen + 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->mu);
    return lift;
}

void turn_shared_set_draining(turn_shared_t *s, bool on)
{
    __atomic_store_n(&s->draining, on, __ATOMIC_RELAXED);
}

bool turn_shared_draining(const turn_shared_t *s)
{
    return __atomic_load_n(&s->draining, __ATOMIC_RELAXED);
}

uint32_t turn__shared_next_alt(turn_shared_t *s)
{
    return __atomic_fetch_add(&s->alt_next, 1, __ATOMIC_RELAXED);
}
