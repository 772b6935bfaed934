/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_fixture.h: what the acct/ unit tests share: times written as RFC
 * 3339 text (acct_time_parse must take them), and the blocker icehubd
 * gives the usage table (daemon/ihd_usage.c): the relay's block list, a
 * real turn_shared_t. Include after <cmocka.h>.
 */
#ifndef ACCT_FIXTURE_H
#define ACCT_FIXTURE_H

#include "acct/acct.h"
#include "turn/turn.h"

static acct_block_t fx_blk_state(void *ctx, const char *user)
{
    turn_block_t b = turn_shared_user_blocked(ctx, user);
    return b == TURN_BLOCK_QUOTA ? ACCT_BLOCK_QUOTA
           : b == TURN_BLOCK_NONE ? ACCT_BLOCK_NONE
                                  : ACCT_BLOCK_OTHER;
}

static void fx_blk_block(void *ctx, const char *user)
{
    turn_shared_block_user(ctx, user, TURN_BLOCK_QUOTA);
}

static void fx_blk_lift(void *ctx, const char *user)
{
    turn_shared_lift_block(ctx, user, TURN_BLOCK_QUOTA);
}

static uint64_t fx_blk_gen(void *ctx)
{
    return turn_shared_block_gen(ctx);
}

/* The relay's block list <s> as a usage table's blocker. */
static __attribute__((unused)) acct_blocker_t fx_blocker(turn_shared_t *s)
{
    return (acct_blocker_t){.ctx = s, .state = fx_blk_state, .block = fx_blk_block,
                            .lift = fx_blk_lift, .gen = fx_blk_gen};
}

static __attribute__((unused)) double t_of(const char *s)
{
    double t;
    assert_int_equal(acct_time_parse(s, &t), 0);
    return t;
}

#endif /* ACCT_FIXTURE_H */
