/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_utab.c: a table of usage rows: a hash table (cmn_map, names hashed
 * under its random key) of rows, one per user, realm or day, with a hard
 * cap on rows, past which every new name shares one overflow row called
 * "other". Memory is therefore at most max * (sizeof(acct_urow_t) + name
 * length) plus the bucket array, whatever usernames clients invent. Not thread-safe: the usage table
 * (acct_usage.c) holds its mutex around every call.
 */
#include "acct.h"

#define UTAB_MIN_BUCKETS 64

void acct_utab_init(acct_utab_t *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    cmn_map_init(&t->map, UTAB_MIN_BUCKETS);
    t->max = max;
}

void acct_utab_dispose(acct_utab_t *t)
{
    if (t->map.b) {
        cmn_map_iter_t it;
        cmn_map_iter_init(&it, &t->map);
        for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
            cmn_free(CMN_MAP_ENTRY(n, acct_urow_t, node));
    }
    cmn_map_dispose(&t->map);
    cmn_free(t->other);
    memset(t, 0, sizeof(*t));
}

static acct_urow_t *row_new(const char *name)
{
    size_t len = strlen(name);
    acct_urow_t *r = cmn_calloc(1, sizeof(*r) + len + 1);
    memcpy(r->name, name, len + 1);
    return r;
}

static acct_urow_t *find(const acct_utab_t *t, const char *name, uint64_t h)
{
    for (cmn_map_node_t *n = cmn_map_first(&t->map, h); n; n = cmn_map_next(n)) {
        acct_urow_t *r = CMN_MAP_ENTRY(n, acct_urow_t, node);
        if (!strcmp(r->name, name))
            return r;
    }
    return NULL;
}

acct_urow_t *acct_utab_find(const acct_utab_t *t, const char *name)
{
    return find(t, name, cmn_map_hash_str(&t->map, name));
}

acct_urow_t *acct_utab_get(acct_utab_t *t, const char *name)
{
    uint64_t h = cmn_map_hash_str(&t->map, name);
    acct_urow_t *r = find(t, name, h);
    if (r)
        return r;
    if (t->map.n >= t->max) {
        if (!t->other)
            t->other = row_new("other");
        t->overflowed++;
        return t->other;
    }
    r = row_new(name);
    cmn_map_insert(&t->map, &r->node, h);
    return r;
}

void acct_utab_foreach(const acct_utab_t *t, void (*fn)(void *ctx, acct_urow_t *r), void *ctx)
{
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &t->map);
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
        fn(ctx, CMN_MAP_ENTRY(n, acct_urow_t, node));
}

/* "a ranks below b": fewer bytes, then (for a stable order) a later name. */
static bool below(const acct_urow_t *a, const acct_urow_t *b)
{
    uint64_t x = acct_urow_all(a), y = acct_urow_all(b);
    return x != y ? x < y : strcmp(a->name, b->name) > 0;
}

/* A min-heap of the best k seen so far: O(n log k) for n rows. */
static void sift_down(acct_urow_t **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && below(h[l], h[m]))
            m = l;
        if (l + 1 < n && below(h[l + 1], h[m]))
            m = l + 1;
        if (m == i)
            return;
        acct_urow_t *x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

size_t acct_utab_top(const acct_utab_t *t, size_t k, acct_urow_t **out)
{
    size_t n = 0;
    if (!k)
        return 0;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &t->map);
    for (cmn_map_node_t *x; (x = cmn_map_iter_next(&it));) {
        acct_urow_t *r = CMN_MAP_ENTRY(x, acct_urow_t, node);
        if (n < k) {
            out[n++] = r;
            if (n == k)
                for (size_t j = k / 2 + 1; j-- > 0;)
                    sift_down(out, n, j);
        } else if (below(out[0], r)) {
            out[0] = r;
            sift_down(out, n, 0);
        }
    }
    if (n < k)
        for (size_t j = n / 2 + 1; j-- > 0;)
            sift_down(out, n, j);
    /* Heap sort into descending order: pop the smallest to the back. */
    for (size_t m = n; m > 1; m--) {
        acct_urow_t *x = out[0];
        out[0] = out[m - 1];
        out[m - 1] = x;
        sift_down(out, m - 1, 0);
    }
    return n;
}
