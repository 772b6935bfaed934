/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_map.h: the project's one hash table. Chained and intrusive: the
 * entry (cmn_map_node_t) lives inside the object it indexes, so an insert
 * allocates nothing but, now and then, a bigger bucket array, and a lookup
 * follows pointers without a call through a function pointer (first/next
 * are inline: the relay's 5-tuple lookup runs for every datagram). The
 * bucket array doubles when there are more entries than buckets.
 *
 * The caller computes each hash. Keys a client chooses (user names, room
 * names, resume tokens, addresses) go through a keyed hash: each map draws
 * a random key at cmn_map_init (cmn_random), and cmn_map_hash_str /
 * cmn_map_hash_bytes are SipHash-1-3 under it, so nobody who does not know
 * the key can choose names that fall into one chain. cmn_map_seed32 gives
 * 32 bits of the key to seed cheaper hashes where the key space is narrow
 * (cmn_addr_hash for 5-tuples).
 *
 * Not thread-safe: a map belongs to one thread or to the lock its owner
 * holds. Nodes are the caller's: the map never frees one.
 */
#ifndef CMN_MAP_H
#define CMN_MAP_H

#include <stddef.h>

#include "cmn.h"

typedef struct cmn_map_node_s {
    struct cmn_map_node_s *next; /* chain; the map's */
    uint64_t hash;               /* as inserted */
} cmn_map_node_t;

typedef struct cmn_map_s {
    cmn_map_node_t **b;         /* owned: nb chain heads */
    size_t nb;                  /* a power of 2 */
    size_t n;                   /* nodes in the map */
    uint64_t key[2];            /* the SipHash key, random per map */
} cmn_map_t;

/* The object holding <node>, its <member> of type <type>. */
#define CMN_MAP_ENTRY(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* An empty map with at least <min_buckets> buckets (rounded up to a power
 * of 2, at least 8) and a fresh random key. */
void cmn_map_init(cmn_map_t *m, size_t min_buckets);
/* Free the bucket array (not the nodes). The map is empty and unusable
 * after; disposing it again is harmless. */
void cmn_map_dispose(cmn_map_t *m);

/* Link <node> under <hash> (a node already in a map must not be inserted
 * again). May grow the bucket array. */
void cmn_map_insert(cmn_map_t *m, cmn_map_node_t *node, uint64_t hash);
/* Unlink <node>, which is in <m>. */
void cmn_map_remove(cmn_map_t *m, cmn_map_node_t *node);

/* The first node inserted under <hash> (in chain order), or NULL; the
 * caller compares its own key, and moves on with cmn_map_next. */
static inline cmn_map_node_t *cmn_map_first(const cmn_map_t *m, uint64_t hash)
{
    cmn_map_node_t *n = m->b[hash & (m->nb - 1)];
    while (n && n->hash != hash)
        n = n->next;
    return n;
}

/* The next node after <n> with the same hash, or NULL. */
static inline cmn_map_node_t *cmn_map_next(const cmn_map_node_t *n)
{
    cmn_map_node_t *x = n->next;
    while (x && x->hash != n->hash)
        x = x->next;
    return x;
}

/* Walking every node: cmn_map_iter_init, then cmn_map_iter_next until it
 * returns NULL. The walk may remove the node it was just given (and no
 * other), but must not insert. */
typedef struct cmn_map_iter_s {
    const cmn_map_t *m;
    size_t i;                   /* next bucket */
    cmn_map_node_t *next;       /* next node, read before the current one is handed out */
} cmn_map_iter_t;

void cmn_map_iter_init(cmn_map_iter_t *it, const cmn_map_t *m);
cmn_map_node_t *cmn_map_iter_next(cmn_map_iter_t *it);

/* Keyed hashes (SipHash-1-3 under the map's key) of a NUL-terminated
 * string and of <n> bytes. */
uint64_t cmn_map_hash_str(const cmn_map_t *m, const char *s);
uint64_t cmn_map_hash_bytes(const cmn_map_t *m, const void *p, size_t n);
/* 32 bits of the map's key, to seed a cheaper hash (cmn_addr_hash). */
static inline uint32_t cmn_map_seed32(const cmn_map_t *m)
{
    return (uint32_t)(m->key[0] ^ (m->key[0] >> 32));
}

/* SipHash-c-d (Aumasson and Bernstein, 2012) of <n> bytes under the
 * 128-bit key <k>, with <c> compression and <d> finalization rounds; the
 * maps use 1 and 3. Pure; exported for its test vectors (2 and 4). */
uint64_t cmn_siphash(const uint64_t k[2], const void *p, size_t n, int c, int d);

#endif /* CMN_MAP_H */
