/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_map.c: the hash table of cmn_map.h (chained, intrusive, doubling)
 * and its keyed hash, SipHash (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012): a pseudorandom function of the key, so chains
 * stay short whatever names a client picks, as long as the key stays
 * secret. The maps run it with one compression and three finalization
 * rounds (SipHash-1-3), the trade-off hash tables in CPython and Rust make
 * for short keys; the unit test checks the implementation against the
 * paper's SipHash-2-4 vectors.
 *
 * Left out: shrinking (a map that once held many entries keeps its bucket
 * array; every owner here either stays small or is rebuilt wholesale).
 */
#include "cmn_map.h"

#include "cmn_crypto.h"

#define MAP_MIN_BUCKETS 8

/* ---- The table ---------------------------------------------------------- */

static size_t round_pow2(size_t n)
{
    size_t nb = MAP_MIN_BUCKETS;
    while (nb < n)
        nb <<= 1;
    return nb;
}

void cmn_map_init(cmn_map_t *m, size_t min_buckets)
{
    memset(m, 0, sizeof(*m));
    m->nb = round_pow2(min_buckets);
    m->b = cmn_calloc(m->nb, sizeof(*m->b));
    /* Without randomness the map still works, only with a guessable key:
     * keep whatever was drawn, and never a zero key. */
    if (cmn_random(m->key, sizeof(m->key)) < 0 || (m->key[0] == 0 && m->key[1] == 0)) {
        m->key[0] ^= 0x736f6d6570736575ull;
        m->key[1] ^= (uint64_t)(uintptr_t)m;
    }
}

void cmn_map_dispose(cmn_map_t *m)
{
    cmn_free(m->b);
    m->b = NULL;
    m->nb = 0;
    m->n = 0;
}

static void grow(cmn_map_t *m)
{
    size_t nb = m->nb * 2;
    cmn_map_node_t **b = cmn_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        cmn_map_node_t *n = m->b[i];
        while (n) {
            cmn_map_node_t *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    cmn_free(m->b);
    m->b = b;
    m->nb = nb;
}

void cmn_map_insert(cmn_map_t *m, cmn_map_node_t *node, uint64_t hash)
{
    if (m->n >= m->nb)
        grow(m);
    cmn_map_node_t **head = &m->b[hash & (m->nb - 1)];
    node->hash = hash;
    node->next = *head;
    *head = node;
    m->n++;
}

void cmn_map_remove(cmn_map_t *m, cmn_map_node_t *node)
{
    cmn_map_node_t **pp = &m->b[node->hash & (m->nb - 1)];
    while (*pp && *pp != node)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = node->next;
        node->next = NULL;
        m->n--;
    }
}

void cmn_map_iter_init(cmn_map_iter_t *it, const cmn_map_t *m)
{
    it->m = m;
    it->i = 0;
    it->next = NULL;
}

cmn_map_node_t *cmn_map_iter_next(cmn_map_iter_t *it)
{
    while (!it->next && it->i < it->m->nb)
        it->next = it->m->b[it->i++];
    cmn_map_node_t *n = it->next;
    if (n)
        it->next = n->next; /* before the caller may unlink <n> */
    return n;
}

/* ---- SipHash ------------------------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

static inline uint64_t get_u64le(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

uint64_t cmn_siphash(const uint64_t k[2], const void *src, size_t n, int c, int d)
{
    const uint8_t *p = src;
    /* The initial state: the key XORed with "somepseudorandomlygeneratedbytes". */
    uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull,
                     k[0] ^ 0x6c7967656e657261ull, k[1] ^ 0x7465646279746573ull};
    size_t whole = n & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = get_u64le(p + i);
        v[3] ^= m;
        for (int r = 0; r < c; r++)
            sip_round(v);
        v[0] ^= m;
    }
    /* The last word: the remaining bytes, and the length's low byte on top. */
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    v[3] ^= b;
    for (int r = 0; r < c; r++)
        sip_round(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int r = 0; r < d; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t cmn_map_hash_bytes(const cmn_map_t *m, const void *p, size_t n)
{
    return cmn_siphash(m->key, p, n, 1, 3);
}

uint64_t cmn_map_hash_str(const cmn_map_t *m, const char *s)
{
    return cmn_siphash(m->key, s, strlen(s), 1, 3);
}
