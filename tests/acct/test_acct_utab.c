/* icehub - SPDX-License-Identifier: MIT
 *
 * test_acct_utab.c: acct/acct_utab.c, the table of usage rows: lookups,
 * growth, the row cap with its "other" row, top-k order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "acct/acct.h"

static void test_utab_basic(void **state)
{
    (void)state;
    acct_utab_t t;
    acct_utab_init(&t, 100000);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        acct_urow_t *r = acct_utab_get(&t, name);
        r->to_peer_bytes += (uint64_t)i;
        r->to_client_bytes += 1;
    }
    assert_int_equal(t.map.n, 5000);
    assert_true(t.map.nb >= 5000);
    assert_true(acct_utab_get(&t, "user17") == acct_utab_find(&t, "user17"));
    assert_null(acct_utab_find(&t, "nobody"));
    assert_int_equal(acct_utab_find(&t, "user4999")->to_peer_bytes, 4999);

    acct_urow_t *top[10];
    size_t n = acct_utab_top(&t, 10, top);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "user%zu", 4999 - i);
        assert_string_equal(top[i]->name, name);
    }
    acct_urow_t *all[6000];
    n = acct_utab_top(&t, 6000, all);
    assert_int_equal(n, 5000);
    for (size_t i = 1; i < n; i++)
        assert_true(acct_urow_bytes(all[i - 1]) >= acct_urow_bytes(all[i]));
    assert_int_equal(acct_utab_top(&t, 0, top), 0);
    acct_utab_dispose(&t);
}

static void test_utab_cap(void **state)
{
    (void)state;
    acct_utab_t t;
    acct_utab_init(&t, 3);
    acct_utab_get(&t, "a")->to_peer_bytes = 5;
    acct_utab_get(&t, "b")->to_peer_bytes = 7;
    acct_utab_get(&t, "c")->to_peer_bytes = 1;
    acct_urow_t *o = acct_utab_get(&t, "d");
    assert_non_null(o);
    assert_true(o == t.other);
    assert_string_equal(o->name, "other");
    assert_true(acct_utab_get(&t, "e") == o);
    assert_true(acct_utab_get(&t, "a") != o); /* known names keep their rows */
    assert_int_equal(t.map.n, 3);
    assert_int_equal(t.overflowed, 2);
    o->to_peer_bytes = 100;
    acct_urow_t *top[4];
    size_t n = acct_utab_top(&t, 4, top); /* the overflow row is not a candidate */
    assert_int_equal(n, 3);
    assert_string_equal(top[0]->name, "b");
    assert_string_equal(top[2]->name, "c");
    /* Ties order by name, so output is stable. */
    acct_utab_get(&t, "c")->to_peer_bytes = 7;
    n = acct_utab_top(&t, 2, top);
    assert_string_equal(top[0]->name, "b");
    assert_string_equal(top[1]->name, "c");
    acct_utab_dispose(&t);
    acct_utab_dispose(&t); /* a disposed table disposes again harmlessly */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utab_basic),
        cmocka_unit_test(test_utab_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
