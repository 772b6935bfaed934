/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_map.c: a string-keyed map of pointers for the hub (rooms by name,
 * peers by resume token, connection counts by IP address), on the
 * project's hash table (cmn_map): each entry owns a copy of its key, and
 * keys hash under the map's random key (SipHash), so clients cannot choose
 * room names or tokens that share a chain. No order: the hub keeps its own
 * lists of what it walks in order.
 */
#include "sig_int.h"

void sig__map_init(sig_map_t *m)
{
    cmn_map_init(m, 16);
}

void sig__map_dispose(sig_map_t *m)
{
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, m);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        cmn_free(e);
    cmn_map_dispose(m);
}

sig_map_ent_t *sig__map_walk(cmn_map_iter_t *it)
{
    cmn_map_node_t *n = cmn_map_iter_next(it);
    return n ? CMN_MAP_ENTRY(n, sig_map_ent_t, node) : NULL;
}

static sig_map_ent_t *map_find(const sig_map_t *m, const char *key, uint64_t h)
{
    for (cmn_map_node_t *n = cmn_map_first(m, h); n; n = cmn_map_next(n)) {
        sig_map_ent_t *e = CMN_MAP_ENTRY(n, sig_map_ent_t, node);
        if (strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

void *sig__map_get(const sig_map_t *m, const char *key)
{
    sig_map_ent_t *e = map_find(m, key, cmn_map_hash_str(m, key));
    return e ? e->val : NULL;
}

void sig__map_put(sig_map_t *m, const char *key, void *val)
{
    uint64_t h = cmn_map_hash_str(m, key);
    sig_map_ent_t *e = map_find(m, key, h);
    if (e) {
        e->val = val;
        return;
    }
    size_t kl = strlen(key);
    e = cmn_malloc(sizeof(*e) + kl + 1);
    memcpy(e->key, key, kl + 1);
    e->val = val;
    cmn_map_insert(m, &e->node, h);
}

void *sig__map_del(sig_map_t *m, const char *key)
{
    sig_map_ent_t *e = map_find(m, key, cmn_map_hash_str(m, key));
    if (!e)
        return NULL;
    void *v = e->val;
    cmn_map_remove(m, &e->node);
    cmn_free(e);
    return v;
}
