/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ihd_req.c: daemon/ihd_req.c: query strings built from lws's decoded
 * arguments and read back, Bearer tokens, and the admin API's routes with
 * their 404, 405 and 400 answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/ihd_req.c"

static void test_query_append_and_get(void **state)
{
    (void)state;
    char q[64] = "", v[32];
    assert_int_equal(ihd_query_append(q, sizeof(q), "user=al ice&x", 13), 0);
    assert_int_equal(ihd_query_append(q, sizeof(q), "limit=5", 7), 0);
    assert_int_equal(ihd_query_append(q, sizeof(q), "flag", 4), 0);
    assert_string_equal(q, "user=al%20ice%26x&limit=5&flag");
    assert_int_equal(ihd_query_get(q, "user", v, sizeof(v)), 1);
    assert_string_equal(v, "al ice&x");
    assert_int_equal(ihd_query_get(q, "limit", v, sizeof(v)), 1);
    assert_string_equal(v, "5");
    assert_int_equal(ihd_query_get(q, "flag", v, sizeof(v)), 0); /* no value */
    assert_int_equal(ihd_query_get(q, "lim", v, sizeof(v)), 0);
    /* What does not fit is refused whole. */
    char small[12] = "";
    assert_int_equal(ihd_query_append(small, sizeof(small), "a=1", 3), 0);
    assert_int_equal(ihd_query_append(small, sizeof(small), "b=\x01\x02", 4), CMN_ENOMEM);
    assert_string_equal(small, "a=1");
    /* Malformed values. */
    assert_int_equal(ihd_query_get("user=%zz", "user", v, sizeof(v)), CMN_EINVAL);
    assert_int_equal(ihd_query_get("user=%0a", "user", v, sizeof(v)), CMN_EINVAL);
    assert_int_equal(ihd_query_get("user=abcdef", "user", v, 4), CMN_EINVAL);
    assert_int_equal(ihd_query_get("user=a+b", "user", v, sizeof(v)), 1);
    assert_string_equal(v, "a b");
}

static void test_bearer(void **state)
{
    (void)state;
    const char *t;
    size_t n;
    ihd_bearer_token("Bearer  s3cret  ", &t, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(t, "s3cret", 6);
    ihd_bearer_token("bEaReR x", &t, &n);
    assert_int_equal(n, 1);
    ihd_bearer_token("Basic dXNlcg==", &t, &n);
    assert_int_equal(n, 0);
    ihd_bearer_token("", &t, &n);
    assert_int_equal(n, 0);
}

static void test_api_routes(void **state)
{
    (void)state;
    ihd_api_req_t r;
    ihd_api_parse(0, "/api/summary", "", &r);
    assert_int_equal(r.route, IHD_API_SUMMARY);
    assert_null(r.allow);
    ihd_api_parse(1, "/api/usage", "", &r);
    assert_string_equal(r.allow, "GET");
    ihd_api_parse(0, "/api/allocations", "user=bob&limit=7", &r);
    assert_int_equal(r.route, IHD_API_ALLOCATIONS);
    assert_true(r.has_user && !strcmp(r.user, "bob") && r.limit == 7);
    ihd_api_parse(0, "/api/allocations", "limit=100001", &r);
    assert_string_equal(r.bad, "bad-query");
    ihd_api_parse(3, "/api/allocations/42", "", &r);
    assert_true(r.route == IHD_API_ALLOCATION && r.id == 42 && !r.bad && !r.allow);
    ihd_api_parse(1, "/api/allocations/42", "", &r);
    assert_string_equal(r.allow, "GET, DELETE");
    ihd_api_parse(0, "/api/allocations/0", "", &r);
    assert_string_equal(r.bad, "bad-id");
    ihd_api_parse(1, "/api/users/al ice/revoke", "", &r);
    assert_true(r.route == IHD_API_REVOKE && !strcmp(r.user, "al ice"));
    ihd_api_parse(0, "/api/users/x/revoke", "", &r);
    assert_string_equal(r.allow, "POST, DELETE");
    ihd_api_parse(1, "/api/users/a/b/revoke", "", &r);
    assert_string_equal(r.bad, "bad-name");
    ihd_api_parse(0, "/api/nope", "", &r);
    assert_int_equal(r.route, IHD_API_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_append_and_get),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_api_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
