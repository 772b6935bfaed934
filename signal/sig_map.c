/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_map.c: a string-keyed hash map for the hub (rooms by name, peers by
 * resume token, connection counts by IP address). Chained buckets, FNV-1a
 * with a per-process random seed so clients cannot choose colliding room
 * names, doubling when the load passes one. No iteration: the hub keeps
 * its own lists of what it needs to walk.
 */
#include "sig_int.h"

#include "common/cmn_crypto.h"

static uint64_t map_seed;

static uint64_t map_hash(const char *s)
{
    if (!map_seed) {
        if (cmn_random(&map_seed, sizeof(map_seed)) < 0 || !map_seed)
            map_seed = 0xcbf29ce484222325ull;
    }
    uint64_t x = map_seed;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        x ^= *p;
        x *= 0x100000001b3ull;
    }
    return x ^ (x >> 29);
}

void sig__map_init(sig_map_t *m)
{
    m->nb = 16;
    m->n = 0;
    m->b = cmn_calloc(m->nb, sizeof(*m->b));
}

void sig__map_dispose(sig_map_t *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        sig_map_ent_t *e = m->b[i];
        while (e) {
            sig_map_ent_t *n = e->next;
            cmn_free(e);
            e = n;
        }
    }
    cmn_free(m->b);
    memset(m, 0, sizeof(*m));
}

static sig_map_ent_t **map_slot(const sig_map_t *m, const char *key)
{
    sig_map_ent_t **pp = &m->b[map_hash(key) & (m->nb - 1)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

void *sig__map_get(const sig_map_t *m, const char *key)
{
    sig_map_ent_t *e = *map_slot(m, key);
    return e ? e->val : NULL;
}

static void map_grow(sig_map_t *m)
{
    size_t nb = m->nb * 2;
    sig_map_ent_t **b = cmn_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        sig_map_ent_t *e = m->b[i];
        while (e) {
            sig_map_ent_t *n = e->next;
            size_t j = map_hash(e->key) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = n;
        }
    }
    cmn_free(m->b);
    m->b = b;
    m->nb = nb;
}

void sig__map_put(sig_map_t *m, const char *key, void *val)
{
    sig_map_ent_t **pp = map_slot(m, key);
    if (*pp) {
        (*pp)->val = val;
        return;
    }
    size_t kl = strlen(key);
    sig_map_ent_t *e = cmn_malloc(sizeof(*e) + kl + 1);
    memcpy(e->key, key, kl + 1);
    e->val = val;
    e->next = NULL;
    *pp = e;
    if (++m->n > m->nb)
        map_grow(m);
}

void *sig__map_del(sig_map_t *m, const char *key)
{
    sig_map_ent_t **pp = map_slot(m, key);
    sig_map_ent_t *e = *pp;
    if (!e)
        return NULL;
    void *v = e->val;
    *pp = e->next;
    cmn_free(e);
    m->n--;
    return v;
}
