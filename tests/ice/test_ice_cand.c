/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_cand.c: ice/ice_cand.c: candidate lines as libnice and browsers
 * write them (RFC 8839 §5.1), the related address, extensions, and every
 * field the parser refuses. Inputs are exact-size heap copies without a
 * NUL, so ASan sees any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ice/ice_int.h"

static int parse(ice_cand_t *c, const char *line, const char **why)
{
    size_t n = strlen(line);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, line, n);
    int rc = ice_cand_parse(c, copy, n, why);
    free(copy);
    return rc;
}

static void test_libnice_lines(void **state)
{
    (void)state;
    ice_cand_t c;
    char buf[CMN_ADDR_STRLEN];
    assert_int_equal(parse(&c, "a=candidate:1 1 UDP 2015363327 127.0.0.1 42420 typ host", NULL),
                     0);
    assert_string_equal(c.foundation, "1");
    assert_int_equal(c.component, 1);
    assert_int_equal(c.transport, ICE_TP_UDP);
    assert_int_equal(c.priority, 2015363327u);
    assert_string_equal(cmn_addr_format(&c.addr, buf, sizeof(buf), true), "127.0.0.1:42420");
    assert_int_equal(c.type, ICE_CTYPE_HOST);
    assert_int_equal(c.raddr.family, 0);
    assert_int_equal(parse(&c, "candidate:3 1 UDP 8331263 192.0.2.9 50123 typ relay raddr "
                               "192.0.2.9 rport 50123", NULL),
                     0);
    assert_int_equal(c.type, ICE_CTYPE_RELAY);
    assert_string_equal(cmn_addr_format(&c.raddr, buf, sizeof(buf), true), "192.0.2.9:50123");
}

static void test_browser_lines(void **state)
{
    (void)state;
    ice_cand_t c;
    assert_int_equal(parse(&c, "candidate:842163049 1 udp 1677729535 203.0.113.7 61665 typ srflx "
                               "raddr 10.0.0.2 rport 61665 generation 0 ufrag 4ZcD network-cost 999",
                           NULL),
                     0);
    assert_int_equal(c.type, ICE_CTYPE_SRFLX);
    assert_int_equal(c.raddr.port, 61665);
    assert_int_equal(parse(&c, "candidate:Ab+/ 2 TCP 4294967295 2001:db8::1 9 typ host "
                               "tcptype active",
                           NULL),
                     0);
    assert_int_equal(c.transport, ICE_TP_TCP);
    assert_int_equal(c.component, 2);
    assert_int_equal(c.priority, 4294967295u);
    assert_int_equal(c.addr.family, CMN_AF_INET6);
    assert_int_equal(parse(&c, "candidate:1 1 UDP 1 0.0.0.0 0 typ prflx", NULL), 0);
    assert_int_equal(c.type, ICE_CTYPE_PRFLX);
}

static void bad(const char *line, const char *why_part)
{
    ice_cand_t c;
    const char *why = NULL;
    assert_int_equal(parse(&c, line, &why), CMN_EINVAL);
    assert_non_null(why);
    if (!strstr(why, why_part))
        fail_msg("\"%s\": \"%s\" does not say \"%s\"", line, why, why_part);
}

static void test_rejected(void **state)
{
    (void)state;
    bad("", "starts with");
    bad("a=cand:1 1 UDP 1 1.2.3.4 5 typ host", "starts with");
    bad("candidate:", "foundation");
    bad("candidate:123456789012345678901234567890123 1 UDP 1 1.2.3.4 5 typ host", "foundation");
    bad("candidate:a-b 1 UDP 1 1.2.3.4 5 typ host", "foundation");
    bad("candidate:1 0 UDP 1 1.2.3.4 5 typ host", "component");
    bad("candidate:1 257 UDP 1 1.2.3.4 5 typ host", "component");
    bad("candidate:1 1 SCTP 1 1.2.3.4 5 typ host", "transport");
    bad("candidate:1 1 UDP 4294967296 1.2.3.4 5 typ host", "priority");
    bad("candidate:1 1 UDP -1 1.2.3.4 5 typ host", "priority");
    bad("candidate:1 1 UDP 1 host.example 5 typ host", "IP literal");
    bad("candidate:1 1 UDP 1 abc.local 5 typ host", "IP literal");
    bad("candidate:1 1 UDP 1 1.2.3.4 65536 typ host", "port");
    bad("candidate:1 1 UDP 1 1.2.3.4", "missing");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 type host", "typ");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ stun", "typ");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ host ", "typ");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ host k v ", "extension");
    bad("candidate:1  1 UDP 1 1.2.3.4 5 typ host", "component");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ host generation", "no value");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ relay raddr 1.2.3.4", "raddr");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ relay raddr 1.2.3.4 port 5", "raddr");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ relay raddr x rport 5", "related");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ host a\x01 b", "extension");
    bad("candidate:1 1 UDP 1 1.2.3.4 5 typ host k \xc3\xa9", "extension");
    char many[600] = "candidate:1 1 UDP 1 1.2.3.4 5 typ host";
    for (int i = 0; i < 17; i++)
        strcat(many, " k v");
    bad(many, "too many");
    char longline[700] = "candidate:1 1 UDP 1 1.2.3.4 5 typ host x ";
    memset(longline + strlen(longline), 'v', 600);
    bad(longline, "too long");
}

static void test_ctype_names(void **state)
{
    (void)state;
    ice_ctype_t t;
    assert_int_equal(ice_ctype_parse("relay", &t), 0);
    assert_int_equal(t, ICE_CTYPE_RELAY);
    assert_int_equal(ice_ctype_parse("none", &t), CMN_EINVAL);
    assert_string_equal(ice_ctype_name(ICE_CTYPE_SRFLX), "srflx");
    assert_string_equal(ice_ctype_name(ICE_CTYPE_NONE), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libnice_lines),
        cmocka_unit_test(test_browser_lines),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_ctype_names),
    };
    return cmocka_run_group_tests_name("ice_cand", tests, NULL, NULL);
}
