/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_utab.c: a table of usage rows: a chained hash table of rows (one
 * per user, realm or day) with a hard cap on rows, past which every new
 * name shares one overflow row called "other". Memory is therefore at most
 * max * (sizeof(acct_urow_t) + name length) plus the bucket array, whatever
 * usernames clients invent. Not thread-safe: the usage table
 * (acct_usage.c) holds its mutex around every call.
 */
#include "acct.h"

#define UTAB_MIN_BUCKETS 64

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

void acct_utab_init(acct_utab_t *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    t->nbuckets = UTAB_MIN_BUCKETS;
    t->buckets = cmn_calloc(t->nbuckets, sizeof(*t->buckets));
    t->max = max;
}

void acct_utab_dispose(acct_utab_t *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        acct_urow_t *r = t->buckets[i];
        while (r) {
            acct_urow_t *next = r->next;
            cmn_free(r);
            r = next;
        }
    }
    cmn_free(t->buckets);
    cmn_free(t->other);
    memset(t, 0, sizeof(*t));
}

static void grow(acct_utab_t *t)
{
    size_t n = t->nbuckets * 2;
    acct_urow_t **b = cmn_calloc(n, sizeof(*b));
    for (size_t i = 0; i < t->nbuckets; i++) {
        acct_urow_t *r = t->buckets[i];
        while (r) {
            acct_urow_t *next = r->next;
            r->next = b[r->hash & (n - 1)];
            b[r->hash & (n - 1)] = r;
            r = next;
        }
    }
    cmn_free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

static acct_urow_t *row_new(const char *name, uint32_t h)
{
    size_t len = strlen(name);
    acct_urow_t *r = cmn_calloc(1, sizeof(*r) + len + 1);
    r->hash = h;
    memcpy(r->name, name, len + 1);
    return r;
}

acct_urow_t *acct_utab_find(const acct_utab_t *t, const char *name)
{
    uint32_t h = name_hash(name);
    for (acct_urow_t *r = t->buckets[h & (t->nbuckets - 1)]; r; r = r->next)
        if (r->hash == h && !strcmp(r->name, name))
            return r;
    return NULL;
}

acct_urow_t *acct_utab_get(acct_utab_t *t, const char *name)
{
    acct_urow_t *r = acct_utab_find(t, name);
    if (r)
        return r;
    if (t->n >= t->max) {
        if (!t->other)
            t->other = row_new("other", 0);
        t->overflowed++;
        return t->other;
    }
    if (t->n >= t->nbuckets)
        grow(t);
    uint32_t h = name_hash(name);
    r = row_new(name, h);
    r->next = t->buckets[h & (t->nbuckets - 1)];
    t->buckets[h & (t->nbuckets - 1)] = r;
    t->n++;
    return r;
}

void acct_utab_foreach(const acct_utab_t *t, void (*fn)(void *ctx, acct_urow_t *r), void *ctx)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (acct_urow_t *r = t->buckets[i]; r; r = r->next)
            fn(ctx, r);
}

/* "a ranks below b": fewer bytes, then (for a stable order) a later name. */
static bool below(const acct_urow_t *a, const acct_urow_t *b)
{
    uint64_t x = acct_urow_bytes(a), y = acct_urow_bytes(b);
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
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (acct_urow_t *r = t->buckets[i]; r; r = r->next) {
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
