/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_shared.c: the allocation limits that span worker threads: how many
 * allocations exist in total, per user and per client IP address. Each
 * worker owns its allocations, but a user or a client IP may reach several
 * workers (SO_REUSEPORT spreads 5-tuples, not people), so these counts live
 * behind one pthread mutex. The mutex is taken only when an allocation is
 * created or ends, never per packet.
 *
 * Counts are kept in a small chained hash table of user names and IP
 * addresses; an entry exists only while its count is above zero, so memory
 * follows the number of allocations. The table has a fixed number of
 * buckets: it is touched at allocation rate, not packet rate, and a long
 * chain costs a few string compares under a lock nobody holds for long.
 *
 * It also holds the set of blocked users (revoked by an operator, or over
 * their byte quota): Allocate refuses them, and each worker's turn_tick
 * notices a change by the set's generation number (one atomic load a
 * tick) and then applies it to the allocations it owns.
 */
#include "turn_int.h"

#include <pthread.h>
#include <stdlib.h>

#define SHARED_BUCKETS 1024 /* power of 2 */

enum { KEY_USER = 1, KEY_IP = 2, KEY_BLOCK = 3 }; /* KEY_BLOCK: count holds a turn_block_t */

typedef struct shared_entry_s {
    struct shared_entry_s *next;
    uint32_t hash;
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
    shared_entry_t *buckets[SHARED_BUCKETS];
};

turn_shared_t *turn_shared_new(uint32_t max_total, uint32_t max_per_user, uint32_t max_per_ip)
{
    turn_shared_t *s = cmn_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->max_total = max_total;
    s->max_per_user = max_per_user;
    s->max_per_ip = max_per_ip;
    return s;
}

void turn_shared_free(turn_shared_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < SHARED_BUCKETS; i++) {
        shared_entry_t *e = s->buckets[i];
        while (e) {
            shared_entry_t *next = e->next;
            cmn_free(e);
            e = next;
        }
    }
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

/* FNV-1a over the kind and the key. Names and addresses come from
 * authenticated clients only, so a keyed hash buys nothing here. */
static uint32_t key_hash(uint8_t kind, const uint8_t *key, size_t klen)
{
    uint32_t h = 2166136261u ^ kind;
    for (size_t i = 0; i < klen; i++) {
        h ^= key[i];
        h *= 16777619u;
    }
    return h;
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

static shared_entry_t **entry_slot(turn_shared_t *s, uint8_t kind, const uint8_t *key,
                                   size_t klen, uint32_t h)
{
    shared_entry_t **pp = &s->buckets[h & (SHARED_BUCKETS - 1)];
    for (; *pp; pp = &(*pp)->next) {
        shared_entry_t *e = *pp;
        if (e->hash == h && e->kind == kind && e->klen == klen && memcmp(e->key, key, klen) == 0)
            break;
    }
    return pp;
}

static uint32_t entry_count(turn_shared_t *s, uint8_t kind, const uint8_t *key, size_t klen)
{
    shared_entry_t **pp = entry_slot(s, kind, key, klen, key_hash(kind, key, klen));
    return *pp ? (*pp)->count : 0;
}

static void entry_add(turn_shared_t *s, uint8_t kind, const uint8_t *key, size_t klen, int delta)
{
    uint32_t h = key_hash(kind, key, klen);
    shared_entry_t **pp = entry_slot(s, kind, key, klen, h);
    shared_entry_t *e = *pp;
    if (!e) {
        if (delta < 0)
            return; /* a release without an acquire: nothing to undo */
        e = cmn_calloc(1, sizeof(*e) + klen);
        e->hash = h;
        e->kind = kind;
        e->klen = klen;
        memcpy(e->key, key, klen);
        *pp = e;
    }
    if (delta > 0) {
        e->count++;
    } else if (--e->count == 0) {
        *pp = e->next;
        cmn_free(e);
    }
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
    shared_entry_t **bp = entry_slot(s, KEY_BLOCK, (const uint8_t *)user, ulen,
                                     key_hash(KEY_BLOCK, (const uint8_t *)user, ulen));
    if (*bp)
        err = (*bp)->count == TURN_BLOCK_REVOKED ? TURN_ERR_USER_REVOKED : TURN_ERR_QUOTA_BYTES;
    else if (s->max_per_user && entry_count(s, KEY_USER, (const uint8_t *)user, ulen) >= s->max_per_user)
        err = TURN_ERR_QUOTA_USER;
    else if (s->max_per_ip && entry_count(s, KEY_IP, ipk, iplen) >= s->max_per_ip)
        err = TURN_ERR_QUOTA_IP;
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
    uint32_t h = key_hash(KEY_BLOCK, key, ulen);
    pthread_mutex_lock(&s->mu);
    shared_entry_t **pp = entry_slot(s, KEY_BLOCK, key, ulen, h);
    shared_entry_t *e = *pp;
    bool changed = false;
    if (why == TURN_BLOCK_NONE) {
        /* Not a block: lifting is turn_shared_lift_block's. */
    } else if (!e) {
        e = cmn_calloc(1, sizeof(*e) + ulen);
        e->hash = h;
        e->kind = KEY_BLOCK;
        e->klen = ulen;
        memcpy(e->key, key, ulen);
        e->count = (uint32_t)why;
        *pp = e;
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
    shared_entry_t **pp = entry_slot(s, KEY_BLOCK, key, ulen, key_hash(KEY_BLOCK, key, ulen));
    turn_block_t why = *pp ? (turn_block_t)(*pp)->count : TURN_BLOCK_NONE;
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
    shared_entry_t **pp = entry_slot(s, KEY_BLOCK, key, ulen, key_hash(KEY_BLOCK, key, ulen));
    shared_entry_t *e = *pp;
    bool lift = e && e->count == (uint32_t)only;
    if (lift) {
        *pp = e->next;
        cmn_free(e);
        __atomic_store_n(&s->block_gen, s->block_gen + 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->mu);
    return lift;
}
