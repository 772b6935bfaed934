/* icehub - SPDX-License-Identifier: MIT
 *
 * test_acct_clu.c: acct/acct_clu.c, usage across a cluster: two usage
 * tables (two nodes) and a model of the cluster's totals in Redis (what
 * daemon/ihd_cluster.c adds and snapshots), with the relay's block list:
 * batches carry exactly the new counts, a failed batch goes again, the
 * others' batches count and the byte quota is decided on the sum on both
 * nodes, old batches and other periods are ignored, a snapshot after Redis
 * lost everything refills it from the tables without counting twice, a
 * restart without a ledger keeps its old share as history, the JSON view
 * shows the cluster and this node's share; the batch and revocation codecs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>

#include "acct/acct_int.h"
#include "tests/acct/acct_fixture.h"

#define WALL 1796163224.0 /* 2026-12-01 */

typedef struct node_s {
    turn_shared_t *shared;
    acct_usage_t *u;
    acct_batch_t own;           /* the model of this node's share in Redis */
} node_t;

/* The model of the cluster's totals (Redis's PREFIX u:START). */
static acct_batch_t total;
static uint64_t seq;

static const acct_rules_t rules = {.period = ACCT_PERIOD_MONTH, .user_bytes = 20000,
                                   .realm = "r"};

static void node_init(node_t *n)
{
    memset(n, 0, sizeof(*n));
    n->shared = turn_shared_new(0, 0, 0);
    acct_blocker_t b = fx_blocker(n->shared);
    n->u = acct_usage_new(&b, ACCT_PERIOD_MONTH, WALL);
    acct_usage_cluster(n->u);
}

static void node_free(node_t *n)
{
    acct_usage_free(n->u);
    turn_shared_free(n->shared);
    acct_batch_dispose(&n->own);
}

static void relay(node_t *n, const char *user, uint64_t bytes)
{
    acct_delta_t d = {.user = user, .d = {.to_peer_bytes = bytes, .to_peer_packets = 1},
                      .started = false};
    acct_usage_apply(n->u, &rules, &d, 1, WALL);
}

static acct_brow_t *row_of(acct_batch_t *b, const char *user)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].user, user))
            return &b->v[i];
    acct_counts_t z = {0};
    acct_batch_add(b, user, &z, 0);
    return &b->v[b->n - 1];
}

static void add_into(acct_batch_t *to, const acct_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        acct_brow_t *r = row_of(to, b->v[i].user);
        r->d.to_peer_bytes += b->v[i].d.to_peer_bytes;
        r->d.to_client_bytes += b->v[i].d.to_client_bytes;
        r->d.to_peer_packets += b->v[i].d.to_peer_packets;
        r->d.to_client_packets += b->v[i].d.to_client_packets;
        r->allocations += b->v[i].allocations;
    }
}

/* What the Redis thread does once a second: take, add (ok) or not,
 * publish to the others. Returns the bytes sent. */
static uint64_t flush(node_t *n, node_t *other, bool ok)
{
    acct_batch_t b;
    acct_usage_take(n->u, 1000, &b);
    uint64_t bytes = 0;
    for (size_t i = 0; i < b.n; i++)
        bytes += b.v[i].d.to_peer_bytes;
    if (ok) {
        add_into(&total, &b);
        add_into(&n->own, &b);
        seq++;
        if (other)
            acct_usage_remote(other->u, &rules, &b, seq, WALL);
    }
    acct_usage_taken(n->u, &b, ok);
    acct_batch_dispose(&b);
    return bytes;
}

static void snapshot(node_t *n)
{
    total.pstart = n->own.pstart = acct_usage_pstart(n->u);
    acct_usage_reset(n->u, &rules, &total, &n->own, seq, WALL);
}

static const acct_urow_t *row(node_t *n, const char *user)
{
    return acct_utab_find(&n->u->users, user);
}

static void test_batches_and_quota_on_the_sum(void **state)
{
    (void)state;
    node_t a, b;
    node_init(&a);
    node_init(&b);
    total.pstart = acct_usage_pstart(a.u);
    relay(&a, "alice", 12000);
    assert_int_equal(flush(&a, &b, true), 12000);
    assert_int_equal(flush(&a, &b, true), 0); /* nothing new */
    assert_int_equal(row(&b, "alice")->remote.to_peer_bytes, 12000);
    assert_int_equal(turn_shared_user_blocked(b.shared, "alice"), TURN_BLOCK_NONE);
    relay(&b, "alice", 5000);
    /* A batch that fails goes again, and only once. */
    assert_int_equal(flush(&b, &a, false), 5000);
    relay(&b, "alice", 3000);
    assert_int_equal(flush(&b, &a, true), 8000);
    /* 12000 + 8000 reach 20000 on both nodes: both block. */
    assert_int_equal(turn_shared_user_blocked(a.shared, "alice"), TURN_BLOCK_QUOTA);
    assert_int_equal(turn_shared_user_blocked(b.shared, "alice"), TURN_BLOCK_QUOTA);
    assert_int_equal(acct_urow_all(row(&a, "alice")), 20000);
    assert_int_equal(row_of(&total, "alice")->d.to_peer_bytes, 20000);
    /* An old batch (a number already counted) and another period are
     * ignored. */
    acct_batch_t old = {.pstart = acct_usage_pstart(a.u)};
    acct_counts_t c = {.to_peer_bytes = 999};
    acct_batch_add(&old, "alice", &c, 0);
    acct_usage_remote(a.u, &rules, &old, 1, WALL);
    old.pstart -= 86400 * 40;
    acct_usage_remote(a.u, &rules, &old, seq + 1, WALL);
    assert_int_equal(acct_urow_all(row(&a, "alice")), 20000);
    acct_batch_dispose(&old);
    /* The view answers for the cluster. */
    acct_view_t v = {.period = ACCT_PERIOD_MONTH, .user_bytes = 20000};
    size_t len;
    char *txt = acct_usage_json(a.u, &v, WALL, &len);
    json_t *j = json_loadb(txt, len, 0, NULL);
    json_t *u0 = json_array_get(json_object_get(j, "users"), 0);
    assert_string_equal(json_string_value(json_object_get(j, "scope")), "cluster");
    assert_int_equal(json_integer_value(json_object_get(u0, "to_peer_bytes")), 20000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(u0, "this_node"),
                                                        "to_peer_bytes")), 12000);
    assert_string_equal(json_string_value(json_object_get(u0, "blocked")), "quota");
    json_decref(j);
    cmn_free(txt);
    node_free(&a);
    node_free(&b);
    acct_batch_dispose(&total);
    seq = 0;
}

static void test_snapshot_refills_a_lost_redis(void **state)
{
    (void)state;
    node_t a, b;
    node_init(&a);
    node_init(&b);
    total.pstart = acct_usage_pstart(a.u);
    relay(&a, "carol", 1000);
    relay(&b, "carol", 500);
    flush(&a, &b, true);
    flush(&b, &a, true);
    /* Redis restarts empty; a batch sent meanwhile was lost with it. */
    relay(&a, "carol", 100);
    flush(&a, &b, true);
    acct_batch_dispose(&total);
    acct_batch_dispose(&a.own);
    acct_batch_dispose(&b.own);
    seq = 0;
    snapshot(&a);
    flush(&a, NULL, true); /* a's 1100 go again */
    snapshot(&b);
    flush(&b, NULL, true); /* and b's 500 */
    snapshot(&a);
    assert_int_equal(row_of(&total, "carol")->d.to_peer_bytes, 1600);
    assert_int_equal(acct_urow_all(row(&a, "carol")), 1600);
    assert_int_equal(row(&a, "carol")->remote.to_peer_bytes, 500);
    snapshot(&b);
    assert_int_equal(acct_urow_all(row(&b, "carol")), 1600);
    /* A restart without a ledger: the table is empty, the cluster still
     * has this node's old share. It stays history, counted once. */
    node_free(&a);
    acct_batch_t keep = a.own;
    node_init(&a);
    a.own = keep;
    snapshot(&a);
    assert_int_equal(acct_urow_all(row(&a, "carol")), 1600);
    relay(&a, "carol", 40);
    assert_int_equal(flush(&a, &b, true), 40);
    assert_int_equal(row_of(&total, "carol")->d.to_peer_bytes, 1640);
    assert_int_equal(acct_urow_all(row(&b, "carol")), 1640);
    node_free(&a);
    node_free(&b);
    acct_batch_dispose(&total);
    seq = 0;
}

static void test_codecs(void **state)
{
    (void)state;
    acct_batch_t b = {0}, back;
    acct_counts_t c = {.to_peer_bytes = 1, .to_client_bytes = 2, .to_peer_packets = 3,
                       .to_client_packets = 4};
    acct_batch_add(&b, "alice", &c, 5);
    acct_batch_add(&b, "b\xc3\xa9", &c, 0);
    size_t len;
    char *t = acct_batch_encode(&b, &len);
    const char *why;
    assert_int_equal(acct_batch_decode(t, len, &back, &why), 0);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.v[1].user, "b\xc3\xa9");
    assert_memory_equal(&back.v[0].d, &c, sizeof(c));
    assert_int_equal(back.v[0].allocations, 5);
    cmn_free(t);
    acct_batch_dispose(&back);
    acct_batch_dispose(&b);
    static const char *const bad[] = {
        "", "[]", "{\"u\":1}", "{\"u\":[[\"a\",1,2,3,4]]}", "{\"u\":[[\"a\",1,2,3,4,-1]]}",
        "{\"u\":[[\"\",1,2,3,4,5]]}", "{\"u\":[[1,1,2,3,4,5]]}", "{\"u\":[],\"u\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(acct_batch_decode(bad[i], strlen(bad[i]), &back, &why), CMN_EINVAL);
    acct_rvk_t r = {.on = true, .at = 1700000000.123, .until = 1700003600}, r2;
    t = acct_rvk_encode(&r, &len);
    assert_int_equal(acct_rvk_decode(t, len, &r2), 0);
    assert_true(r2.on && r2.until == 1700003600 && r2.at > 1700000000.12);
    cmn_free(t);
    assert_int_equal(acct_rvk_decode("{\"on\":1,\"at\":1,\"until\":0}", 25, &r2), CMN_EINVAL);
    acct_rvk_t lift = {.on = false, .at = r.at + 1};
    assert_true(acct_rvk_newer(&lift, &r) && !acct_rvk_newer(&r, &lift));
    lift.at = r.at;
    assert_true(acct_rvk_newer(&r, &lift) && !acct_rvk_newer(&lift, &r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_and_quota_on_the_sum),
        cmocka_unit_test(test_snapshot_refills_a_lost_redis),
        cmocka_unit_test(test_codecs),
    };
    return cmocka_run_group_tests_name("test_acct_clu", tests, NULL, NULL);
}
