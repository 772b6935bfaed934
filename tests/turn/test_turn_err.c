/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_err.c: turn/turn_err.c: every protocol error has a code in
 * 300..699 and a reason phrase, the codes are the ones RFC 8489 and RFC
 * 8656 assign, the quota and capacity phrases name their limit, and
 * relay_open's return codes map to the documented answers; every silent
 * drop has its own metric label.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "turn/turn_int.h"

static int code_of(turn_err_t e)
{
    int code;
    const char *reason;
    turn__err_code(e, &code, &reason);
    return code;
}

static const char *reason_of(turn_err_t e)
{
    int code;
    const char *reason;
    turn__err_code(e, &code, &reason);
    return reason;
}

static void test_every_error_has_a_code(void **state)
{
    (void)state;
    for (int e = TURN_OK + 1; e < TURN_ERR_COUNT; e++) {
        int code = code_of((turn_err_t)e);
        assert_in_range(code, 300, 699);
        assert_non_null(reason_of((turn_err_t)e));
        assert_true(strlen(reason_of((turn_err_t)e)) > 0);
        assert_true(strlen(reason_of((turn_err_t)e)) <= 127); /* RFC 8489 §14.8 */
    }
    /* Out of range, or "no error", never encodes garbage. */
    assert_int_equal(code_of(TURN_ERR_COUNT), 500);
    assert_int_equal(code_of(TURN_OK), 500);
}

static void test_codes(void **state)
{
    (void)state;
    static const struct {
        turn_err_t e;
        int code;
    } cases[] = {
        {TURN_ERR_BAD_REQUEST, 400},       {TURN_ERR_BAD_TRANSPORT_ATTR, 400},
        {TURN_ERR_BAD_ATTR_COMBO, 400},    {TURN_ERR_BAD_PWALG, 400},
        {TURN_ERR_BAD_CHANNEL, 400},       {TURN_ERR_CHANNEL_IN_USE, 400},
        {TURN_ERR_PEER_IN_USE, 400},       {TURN_ERR_UNAUTHENTICATED, 401},
        {TURN_ERR_FORBIDDEN_PEER, 403},    {TURN_ERR_UNKNOWN_ATTR, 420},
        {TURN_ERR_ALLOC_MISMATCH, 437},    {TURN_ERR_STALE_NONCE, 438},
        {TURN_ERR_FAMILY_UNSUPPORTED, 440}, {TURN_ERR_WRONG_CREDENTIALS, 441},
        {TURN_ERR_BAD_TRANSPORT, 442},     {TURN_ERR_PEER_FAMILY, 443},
        {TURN_ERR_QUOTA_USER, 486},        {TURN_ERR_QUOTA_IP, 486},
        {TURN_ERR_QUOTA_BYTES, 486},       {TURN_ERR_USER_REVOKED, 403},
        {TURN_ERR_CAP_TOTAL, 508},         {TURN_ERR_CAP_PORT, 508},
        {TURN_ERR_CAP_TOKEN, 508},         {TURN_ERR_CAP_PERMS, 508},
        {TURN_ERR_CAP_CHANNELS, 508},      {TURN_ERR_CAP_ACCOUNTING, 508},
        {TURN_ERR_SERVER, 500},            {TURN_ERR_TRY_ALTERNATE, 300},
        {TURN_ERR_DRAINING, 403},
    };
    assert_int_equal(CMN_ARRAY_LEN(cases), TURN_ERR_COUNT - 1);
    for (size_t i = 0; i < CMN_ARRAY_LEN(cases); i++)
        assert_int_equal(code_of(cases[i].e), cases[i].code);
}

static void test_limit_phrases(void **state)
{
    (void)state;
    assert_string_equal(reason_of(TURN_ERR_QUOTA_USER), "Allocation Quota Reached (per-user)");
    assert_string_equal(reason_of(TURN_ERR_QUOTA_IP), "Allocation Quota Reached (per-client-IP)");
    assert_string_equal(reason_of(TURN_ERR_QUOTA_BYTES),
                        "Allocation Quota Reached (user byte quota)");
    assert_string_equal(reason_of(TURN_ERR_USER_REVOKED), "Forbidden (user revoked)");
    assert_string_equal(reason_of(TURN_ERR_CAP_TOTAL), "Insufficient Capacity (server total)");
    assert_string_equal(reason_of(TURN_ERR_CAP_PORT), "Insufficient Capacity (no relay port)");
    assert_string_equal(reason_of(TURN_ERR_CAP_PERMS),
                        "Insufficient Capacity (permissions per allocation)");
    assert_string_equal(reason_of(TURN_ERR_CAP_CHANNELS),
                        "Insufficient Capacity (channels per allocation)");
}

static void test_relay_codes(void **state)
{
    (void)state;
    assert_int_equal(turn__err_from_relay(0), TURN_OK);
    assert_int_equal(turn__err_from_relay(CMN_ELIMIT), TURN_ERR_CAP_PORT);
    assert_int_equal(turn__err_from_relay(CMN_ENOENT), TURN_ERR_CAP_TOKEN);
    assert_int_equal(turn__err_from_relay(CMN_EINVAL), TURN_ERR_FAMILY_UNSUPPORTED);
    assert_int_equal(turn__err_from_relay(CMN_EIO), TURN_ERR_SERVER);
    assert_int_equal(turn__err_from_relay(-99), TURN_ERR_SERVER);
}

/* Every drop has a distinct snake_case name: they are metric labels. */
static void test_drop_names(void **state)
{
    (void)state;
    for (int i = 0; i < TURN_DROP_COUNT; i++) {
        const char *n = turn_drop_name((turn_drop_t)i);
        assert_non_null(n);
        assert_int_equal(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(n, turn_drop_name((turn_drop_t)j));
    }
    assert_string_equal(turn_drop_name(TURN_DROP_NO_PERMISSION), "no_permission");
    assert_string_equal(turn_drop_name(TURN_DROP_QUOTA), "quota");
    assert_string_equal(turn_drop_name(TURN_DROP_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_has_a_code),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_limit_phrases),
        cmocka_unit_test(test_relay_codes),
        cmocka_unit_test(test_drop_names),
    };
    return cmocka_run_group_tests_name("test_turn_err", tests, NULL, NULL);
}
