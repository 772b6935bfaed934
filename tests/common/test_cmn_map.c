/* icehub - SPDX-License-Identifier: MIT
 *
 * test_cmn_map.c: common/cmn_map.c: SipHash against the reference vectors
 * of its paper (SipHash-2-4, key 00..0f); a map's key is random, so two
 * maps hash a name differently; insert, lookup through colliding hashes,
 * remove, growth past thousands of nodes, a walk that removes as it goes,
 * and dispose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "common/cmn_map.h"

typedef struct item_s {
    int key;
    cmn_map_node_t node;
} item_t;

static void test_siphash_vectors(void **state)
{
    (void)state;
    const uint64_t k[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    uint8_t msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_true(cmn_siphash(k, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ull);
    assert_true(cmn_siphash(k, msg, 1, 2, 4) == 0x74f839c593dc67fdull);
    assert_true(cmn_siphash(k, msg, 15, 2, 4) == 0xa129ca6149be45e5ull);
    /* The maps' variant is a different function of the same input. */
    assert_true(cmn_siphash(k, msg, 15, 1, 3) != 0xa129ca6149be45e5ull);
}

static void test_keys_differ(void **state)
{
    (void)state;
    cmn_map_t a, b;
    cmn_map_init(&a, 0);
    cmn_map_init(&b, 0);
    assert_true(a.key[0] != b.key[0] || a.key[1] != b.key[1]);
    assert_true(cmn_map_hash_str(&a, "room-1") != cmn_map_hash_str(&b, "room-1"));
    assert_true(cmn_map_hash_str(&a, "room-1") == cmn_map_hash_str(&a, "room-1"));
    assert_true(cmn_map_hash_str(&a, "abc") == cmn_map_hash_bytes(&a, "abc", 3));
    assert_true(cmn_map_hash_str(&a, "abc") != cmn_map_hash_str(&a, "abd"));
    cmn_map_dispose(&a);
    cmn_map_dispose(&b);
}

static item_t *find(const cmn_map_t *m, int key, uint64_t h)
{
    for (cmn_map_node_t *n = cmn_map_first(m, h); n; n = cmn_map_next(n)) {
        item_t *it = CMN_MAP_ENTRY(n, item_t, node);
        if (it->key == key)
            return it;
    }
    return NULL;
}

/* Every item under one of three hashes: lookups walk the collisions. */
static void test_collisions_and_remove(void **state)
{
    (void)state;
    cmn_map_t m;
    cmn_map_init(&m, 4);
    assert_int_equal(m.nb, 8);
    item_t items[30];
    for (int i = 0; i < 30; i++) {
        items[i].key = i;
        cmn_map_insert(&m, &items[i].node, (uint64_t)(i % 3) << 40);
    }
    assert_int_equal(m.n, 30);
    for (int i = 0; i < 30; i++)
        assert_ptr_equal(find(&m, i, (uint64_t)(i % 3) << 40), &items[i]);
    assert_null(find(&m, 31, 0));
    assert_null(find(&m, 1, 0)); /* right key, wrong hash */
    cmn_map_remove(&m, &items[4].node);
    assert_null(find(&m, 4, (uint64_t)1 << 40));
    assert_ptr_equal(find(&m, 7, (uint64_t)1 << 40), &items[7]);
    assert_int_equal(m.n, 29);
    cmn_map_dispose(&m);
    cmn_map_dispose(&m); /* harmless */
}

static void test_growth_and_walk(void **state)
{
    (void)state;
    enum { N = 5000 };
    cmn_map_t m;
    cmn_map_init(&m, 0);
    item_t *items = cmn_calloc(N, sizeof(*items));
    for (int i = 0; i < N; i++) {
        items[i].key = i;
        cmn_map_insert(&m, &items[i].node, cmn_map_hash_bytes(&m, &i, sizeof(i)));
    }
    assert_true(m.nb >= N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(find(&m, i, cmn_map_hash_bytes(&m, &i, sizeof(i))), &items[i]);
    /* Walk once, removing the odd ones as they come: every node is seen. */
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &m);
    int seen = 0;
    long sum = 0;
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));) {
        item_t *x = CMN_MAP_ENTRY(n, item_t, node);
        seen++;
        sum += x->key;
        if (x->key % 2)
            cmn_map_remove(&m, n);
    }
    assert_int_equal(seen, N);
    assert_int_equal(sum, (long)N * (N - 1) / 2);
    assert_int_equal(m.n, N / 2);
    cmn_map_iter_init(&it, &m);
    seen = 0;
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
        seen += CMN_MAP_ENTRY(n, item_t, node)->key % 2 == 0;
    assert_int_equal(seen, N / 2);
    cmn_map_dispose(&m);
    cmn_free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_collisions_and_remove),
        cmocka_unit_test(test_growth_and_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
