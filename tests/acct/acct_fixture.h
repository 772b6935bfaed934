/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_fixture.h: what the acct/ unit tests share: times written as RFC
 * 3339 text (acct_time_parse must take them). Include after <cmocka.h>.
 */
#ifndef ACCT_FIXTURE_H
#define ACCT_FIXTURE_H

#include "acct/acct.h"

static __attribute__((unused)) double t_of(const char *s)
{
    double t;
    assert_int_equal(acct_time_parse(s, &t), 0);
    return t;
}

#endif /* ACCT_FIXTURE_H */
