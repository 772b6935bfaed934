/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_map.c: signal/sig_map.c (put, get, replace, delete, growth
 * through many keys) and the small helpers of signal/sig_msg.c (stable
 * names of codes, types and refusal reasons; peer id and room name rules;
 * random ids).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "signal/sig_int.h"

static void test_map(void **state)
{
    (void)state;
    sig_map_t m;
    sig__map_init(&m);
    assert_null(sig__map_get(&m, "a"));
    assert_null(sig__map_del(&m, "a"));
    char key[32];
    for (uintptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "k%lu", (unsigned long)i);
        sig__map_put(&m, key, (void *)i);
    }
    assert_int_equal(m.n, 5000);
    assert_true(m.nb >= 5000);
    for (uintptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "k%lu", (unsigned long)i);
        assert_ptr_equal(sig__map_get(&m, key), (void *)i);
    }
    sig__map_put(&m, "k7", (void *)77);
    assert_int_equal(m.n, 5000);
    assert_ptr_equal(sig__map_get(&m, "k7"), (void *)77);
    for (uintptr_t i = 1; i <= 5000; i += 2) {
        snprintf(key, sizeof(key), "k%lu", (unsigned long)i);
        assert_non_null(sig__map_del(&m, key));
    }
    assert_int_equal(m.n, 2500);
    assert_null(sig__map_get(&m, "k1"));
    assert_ptr_equal(sig__map_get(&m, "k2"), (void *)2);
    sig__map_put(&m, "", (void *)1);
    assert_ptr_equal(sig__map_get(&m, ""), (void *)1);
    sig__map_dispose(&m);
    assert_null(m.b);
}

static void test_names(void **state)
{
    (void)state;
    static const char *const codes[] = {
        "bad-message", "binary-unsupported", "too-large", "rate-limited", "not-joined",
        "already-joined", "bad-room", "room-full", "too-many-rooms", "unknown-peer",
        "token-required", "bad-token", "resume-failed", "undelivered", "draining", "internal",
    };
    assert_int_equal(CMN_ARRAY_LEN(codes), SIG_E_COUNT);
    for (int i = 0; i < SIG_E_COUNT; i++)
        assert_string_equal(sig_err_name((sig_err_t)i), codes[i]);
    assert_string_equal(sig_err_name(SIG_E_COUNT), "internal");
    assert_string_equal(sig_type_name(SIG_T_ICE_SERVERS), "ice-servers");
    assert_string_equal(sig_type_name(SIG_T_COUNT), "invalid");
    assert_string_equal(sig_refuse_name(SIG_REFUSE_PER_IP), "per_ip");
    assert_string_equal(sig_refuse_name(SIG_REFUSE_COUNT), "other");
}

static void test_ids_and_rooms(void **state)
{
    (void)state;
    assert_true(sig__id_ok("a"));
    assert_true(sig__id_ok("A-z_09"));
    assert_false(sig__id_ok(""));
    assert_false(sig__id_ok("a b"));
    assert_false(sig__id_ok("a.b"));
    assert_false(sig__id_ok("é"));
    char id[SIG_ID_MAX + 2];
    memset(id, 'x', sizeof(id));
    id[SIG_ID_MAX] = 0;
    assert_true(sig__id_ok(id));
    id[SIG_ID_MAX] = 'x';
    id[SIG_ID_MAX + 1] = 0;
    assert_false(sig__id_ok(id));
    assert_true(sig__room_ok("any room, with UTF-8: é"));
    assert_false(sig__room_ok(""));
    assert_false(sig__room_ok("tab\there"));
    assert_false(sig__room_ok("del\x7f"));
    char r[SIG_ROOM_MAX + 2];
    memset(r, 'r', sizeof(r));
    r[SIG_ROOM_MAX] = 0;
    assert_true(sig__room_ok(r));
    r[SIG_ROOM_MAX] = 'r';
    r[SIG_ROOM_MAX + 1] = 0;
    assert_false(sig__room_ok(r));
    char a[SIG_ID_LEN + 1], b[SIG_ID_LEN + 1];
    sig__random_id(a);
    sig__random_id(b);
    assert_int_equal(strlen(a), SIG_ID_LEN);
    assert_true(sig__id_ok(a));
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_ids_and_rooms),
    };
    return cmocka_run_group_tests_name("test_sig_map", tests, NULL, NULL);
}
