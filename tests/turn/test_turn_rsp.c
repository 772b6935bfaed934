/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_rsp.c: turn/turn_rsp.c: the ring that answers retransmitted
 * Refreshes of deleted allocations wraps, and a retransmitted Refresh 0
 * answered from it leaves a new allocation of the same 5-tuple alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

static void test_recent_ring_wraps(void **state)
{
    fx_t *fx = *state;
    uint8_t first[2048];
    size_t flen = 0;
    for (int i = 0; i <= TURN_RECENT_SLOTS; i++) {
        if (i > 0)
            assert_int_equal(fx_allocate(fx), 0);
        assert_int_equal(fx_refresh(fx, 0), 0);
        if (i == 0) {
            flen = fx->req_len;
            memcpy(first, fx->req, flen);
        }
    }
    memcpy(fx->req, first, flen);
    assert_int_equal(fx_feed(fx, flen), 437); /* pushed out by newer ones */
}

static void test_refresh_zero_retransmit_after_reallocate(void **state)
{
    fx_t *fx = *state;
    uint8_t saved[2048];
    assert_int_equal(fx_refresh(fx, 0), 0);
    size_t slen = fx->req_len;
    memcpy(saved, fx->req, slen);
    assert_int_equal(fx_allocate(fx), 0);
    turn_alloc_t *a = fx_alloc(fx);
    memcpy(fx->req, saved, slen);
    assert_int_equal(fx_feed(fx, slen), 0);
    assert_int_equal(fx_u32_attr(fx, STUN_ATTR_LIFETIME), 0);
    assert_ptr_equal(fx_alloc(fx), a); /* the new allocation lives on */
    assert_int_equal(fx->closes, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recent_ring_wraps, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_zero_retransmit_after_reallocate,
                                        fx_setup_alloc, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_rsp", tests, NULL, NULL);
}
