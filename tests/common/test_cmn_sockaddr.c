/* icehub - SPDX-License-Identifier: MIT
 *
 * test_cmn_sockaddr.c: common/cmn_sockaddr.c: IPv4 and IPv6 addresses to struct
 * sockaddr and back, and the families it refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <sys/un.h>

#include "common/cmn_sockaddr.h"

static cmn_addr_t addr(const char *text, int default_port)
{
    cmn_addr_t a;
    assert_int_equal(cmn_addr_parse(&a, text, default_port), 0);
    return a;
}

static void test_sockaddr(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    cmn_addr_t a = addr("192.0.2.1:3478", -1), back;
    assert_int_equal(cmn_addr_to_sockaddr(&a, &ss), sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 3478);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000201u);
    assert_int_equal(cmn_addr_from_sockaddr(&back, (const struct sockaddr *)&ss), 0);
    assert_true(cmn_addr_equal(&a, &back));

    a = addr("[2001:db8::7]:5349", -1);
    assert_int_equal(cmn_addr_to_sockaddr(&a, &ss), sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 5349);
    assert_int_equal(sin6->sin6_addr.s6_addr[15], 7);
    assert_int_equal(cmn_addr_from_sockaddr(&back, (const struct sockaddr *)&ss), 0);
    assert_true(cmn_addr_equal(&a, &back));

    cmn_addr_t none;
    memset(&none, 0, sizeof(none));
    assert_int_equal(cmn_addr_to_sockaddr(&none, &ss), 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    assert_int_equal(cmn_addr_from_sockaddr(&back, (const struct sockaddr *)&sun), CMN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sockaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
