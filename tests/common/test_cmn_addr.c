/* icehub - SPDX-License-Identifier: MIT
 *
 * test_cmn_addr.c: address parsing, formatting, comparison, hashing,
 * canonical form and CIDR sets (common/cmn_addr.c).
 * The canonical-form and CIDR cases back the TURN peer deny list, so they
 * spell out the edge cases (::, ::1, mapped and compatible forms).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "common/cmn_addr.h"

static cmn_addr_t addr(const char *text, int default_port)
{
    cmn_addr_t a;
    assert_int_equal(cmn_addr_parse(&a, text, default_port), 0);
    return a;
}

static const char *fmt(const cmn_addr_t *a, bool with_port)
{
    static char buf[CMN_ADDR_STRLEN];
    return cmn_addr_format(a, buf, sizeof(buf), with_port);
}

static void test_parse_ipv4_port(void **state)
{
    (void)state;
    cmn_addr_t a = addr("192.0.2.1:3478", -1);
    const uint8_t ip[16] = {192, 0, 2, 1};
    assert_int_equal(a.family, CMN_AF_INET);
    assert_int_equal(a.port, 3478);
    assert_memory_equal(a.ip, ip, 16);
    assert_int_equal(addr("0.0.0.0:0", -1).port, 0);
    assert_int_equal(addr("255.255.255.255:65535", -1).port, 65535);
    assert_int_equal(addr("1.2.3.4:00080", -1).port, 80);
}

static void test_parse_ipv6_port(void **state)
{
    (void)state;
    cmn_addr_t a = addr("[::1]:5", -1);
    uint8_t ip[16] = {0};
    ip[15] = 1;
    assert_int_equal(a.family, CMN_AF_INET6);
    assert_int_equal(a.port, 5);
    assert_memory_equal(a.ip, ip, 16);
    a = addr("[2001:db8::ffff:1.2.3.4]:65535", -1);
    assert_int_equal(a.family, CMN_AF_INET6);
    assert_int_equal(a.port, 65535);
    assert_int_equal(a.ip[12], 1);
}

static void test_parse_default_port(void **state)
{
    (void)state;
    cmn_addr_t a = addr("1.2.3.4", 3478);
    assert_int_equal(a.family, CMN_AF_INET);
    assert_int_equal(a.port, 3478);
    a = addr("::1", 0);
    assert_int_equal(a.family, CMN_AF_INET6);
    assert_int_equal(a.port, 0);
    a = addr("[::1]", 9);
    assert_int_equal(a.port, 9);
    /* Several colons without brackets are an IPv6 address, never a port. */
    a = addr("::1:5", 7);
    assert_int_equal(a.family, CMN_AF_INET6);
    assert_int_equal(a.port, 7);
    assert_int_equal(a.ip[13], 1);
    assert_int_equal(a.ip[15], 5);
    /* An explicit port beats the default. */
    assert_int_equal(addr("1.2.3.4:1", 3478).port, 1);
    assert_int_equal(addr("[::]:2", 3478).port, 2);
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "localhost:3478", "example.com:80", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:123456",
        "1.2.3.4:+5", "1.2.3.4:-1", "1.2.3.4: 5", "1.2.3.4:5 ", " 1.2.3.4:5", "1.2.3.4:0x10",
        "1.2.3:5", "01.2.3.4:5", "256.0.0.1:5", "[::1]:", "[::1]x", "[::1]:5x", "[::1", "::1]:5",
        "[1.2.3.4]:5", "[fe80::1%eth0]:5", "[]:5", ":5", "[::1]:[5]", "1.2.3.4", "::1", "[::1]",
    };
    cmn_addr_t a;
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        if (cmn_addr_parse(&a, bad[i], -1) != CMN_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(cmn_addr_parse(&a, "1.2.3.4", 65536), CMN_EINVAL);
    assert_int_equal(cmn_addr_parse(&a, "host", 80), CMN_EINVAL);
    assert_int_equal(cmn_addr_parse(&a, "1.2.3.4 ", 80), CMN_EINVAL);
}

static void test_parse_ip(void **state)
{
    (void)state;
    cmn_addr_t a;
    assert_int_equal(cmn_addr_parse_ip(&a, "10.0.0.1"), 0);
    assert_int_equal(a.family, CMN_AF_INET);
    assert_int_equal(a.port, 0);
    assert_int_equal(cmn_addr_parse_ip(&a, "fe80::1"), 0);
    assert_int_equal(a.family, CMN_AF_INET6);
    assert_int_equal(cmn_addr_parse_ip(&a, "10.0.0.1:5"), CMN_EINVAL);
    assert_int_equal(cmn_addr_parse_ip(&a, "[::1]"), CMN_EINVAL);
    assert_int_equal(cmn_addr_parse_ip(&a, ""), CMN_EINVAL);
    assert_int_equal(cmn_addr_parse_ip(&a, "x"), CMN_EINVAL);
}

static void test_format(void **state)
{
    (void)state;
    cmn_addr_t a = addr("192.0.2.1:3478", -1);
    assert_string_equal(fmt(&a, true), "192.0.2.1:3478");
    assert_string_equal(fmt(&a, false), "192.0.2.1");
    a = addr("[2001:DB8:0::1]:5349", -1);
    assert_string_equal(fmt(&a, true), "[2001:db8::1]:5349");
    assert_string_equal(fmt(&a, false), "2001:db8::1");
    a = addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", -1);
    assert_string_equal(fmt(&a, true), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    cmn_addr_t none;
    memset(&none, 0, sizeof(none));
    assert_string_equal(fmt(&none, true), "(none)");
    /* A short buffer is cut but stays a string. */
    char small[6];
    cmn_addr_format(&a, small, sizeof(small), true);
    assert_string_equal(small, "[ffff");
}

static void test_equal_and_any(void **state)
{
    (void)state;
    cmn_addr_t a = addr("1.2.3.4:5", -1), b = addr("1.2.3.4:6", -1);
    assert_true(cmn_addr_ip_equal(&a, &b));
    assert_false(cmn_addr_equal(&a, &b));
    b.port = 5;
    assert_true(cmn_addr_equal(&a, &b));
    cmn_addr_t m = addr("[::ffff:1.2.3.4]:5", -1);
    assert_false(cmn_addr_equal(&a, &m)); /* exact, not canonical */
    assert_true(cmn_addr_is_any(&(cmn_addr_t){.family = CMN_AF_INET}));
    cmn_addr_t any6 = addr("[::]:1", -1), one6 = addr("[::1]:1", -1);
    assert_true(cmn_addr_is_any(&any6));
    assert_false(cmn_addr_is_any(&one6));
    assert_false(cmn_addr_is_any(&a));
    cmn_addr_t none;
    memset(&none, 0, sizeof(none));
    assert_false(cmn_addr_is_any(&none));
}

static void check_canonical(const char *in, const char *want_ip, uint8_t want_family)
{
    cmn_addr_t a, c;
    assert_int_equal(cmn_addr_parse_ip(&a, in), 0);
    a.port = 4242;
    cmn_addr_canonical(&c, &a);
    if (c.family != want_family || strcmp(fmt(&c, false), want_ip) != 0 || c.port != 4242)
        fail_msg("canonical(%s) = %s family %d, want %s family %d", in, fmt(&c, false),
                 c.family, want_ip, want_family);
    if (c.family == CMN_AF_INET) {
        static const uint8_t zero[12];
        assert_memory_equal(c.ip + 4, zero, 12);
    }
}

static void test_canonical(void **state)
{
    (void)state;
    check_canonical("::ffff:127.0.0.1", "127.0.0.1", CMN_AF_INET);
    check_canonical("::ffff:0.0.0.0", "0.0.0.0", CMN_AF_INET);
    check_canonical("::ffff:10.1.2.3", "10.1.2.3", CMN_AF_INET);
    check_canonical("::127.0.0.1", "127.0.0.1", CMN_AF_INET);
    check_canonical("::0.0.0.2", "0.0.0.2", CMN_AF_INET);
    check_canonical("::10.0.0.1", "10.0.0.1", CMN_AF_INET);
    /* IPv6's own unspecified and loopback addresses stay IPv6. */
    check_canonical("::", "::", CMN_AF_INET6);
    check_canonical("::1", "::1", CMN_AF_INET6);
    /* Near misses stay IPv6. */
    check_canonical("::fffe:1.2.3.4", "::fffe:102:304", CMN_AF_INET6);
    check_canonical("::ffff:0:1.2.3.4", "::ffff:0:102:304", CMN_AF_INET6);
    check_canonical("64:ff9b::1.2.3.4", "64:ff9b::102:304", CMN_AF_INET6);
    check_canonical("1::ffff:1.2.3.4", "1::ffff:102:304", CMN_AF_INET6);
    check_canonical("::1:0:0:0", "::1:0:0:0", CMN_AF_INET6);
    check_canonical("2001:db8::1", "2001:db8::1", CMN_AF_INET6);
    check_canonical("192.0.2.1", "192.0.2.1", CMN_AF_INET);
    /* In place. */
    cmn_addr_t a = addr("[::ffff:1.2.3.4]:9", -1);
    cmn_addr_canonical(&a, &a);
    assert_int_equal(a.family, CMN_AF_INET);
    assert_string_equal(fmt(&a, true), "1.2.3.4:9");
}

static void test_hash(void **state)
{
    (void)state;
    cmn_addr_t a = addr("1.2.3.4:5", -1), b = addr("1.2.3.4:5", -1);
    b.ip[8] = 0x55; /* junk beyond an IPv4 address is not part of it */
    assert_true(cmn_addr_equal(&a, &b));
    assert_int_equal(cmn_addr_hash(&a, 1), cmn_addr_hash(&b, 1));
    assert_int_not_equal(cmn_addr_hash(&a, 1), cmn_addr_hash(&a, 2));
    /* Neighbouring ports and addresses spread. */
    uint32_t seen[64];
    for (int i = 0; i < 64; i++) {
        cmn_addr_t x = addr(i < 32 ? "10.0.0.1:1000" : "[2001:db8::1]:1000", -1);
        x.port = (uint16_t)(1000 + i % 32);
        seen[i] = cmn_addr_hash(&x, 0x12345678u);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(seen[i], seen[j]);
    }
}

static const char *cidr_text(const char *in)
{
    static char buf[CMN_CIDR_STRLEN];
    cmn_cidr_t c;
    if (cmn_cidr_parse(&c, in) < 0)
        return "ERROR";
    return cmn_cidr_format(&c, buf, sizeof(buf));
}

static void test_cidr_parse(void **state)
{
    (void)state;
    assert_string_equal(cidr_text("10.0.0.0/8"), "10.0.0.0/8");
    assert_string_equal(cidr_text("1.2.3.4"), "1.2.3.4/32");
    assert_string_equal(cidr_text("::1"), "::1/128");
    assert_string_equal(cidr_text("fe80::/10"), "fe80::/10");
    assert_string_equal(cidr_text("0.0.0.0/0"), "0.0.0.0/0");
    assert_string_equal(cidr_text("::/0"), "::/0");
    assert_string_equal(cidr_text("10.0.0.0/08"), "10.0.0.0/8");
    /* Host bits are masked, not refused. */
    assert_string_equal(cidr_text("10.1.2.3/8"), "10.0.0.0/8");
    assert_string_equal(cidr_text("192.168.1.77/23"), "192.168.0.0/23");
    assert_string_equal(cidr_text("1.2.3.4/0"), "0.0.0.0/0");
    assert_string_equal(cidr_text("febf:ffff::1/10"), "fe80::/10");
    assert_string_equal(cidr_text("2001:db8:1:3:3:4:5:6/63"), "2001:db8:1:2::/63");
    assert_string_equal(cidr_text("2001:db8:1:3::/62"), "2001:db8:1::/62");
    assert_string_equal(cidr_text("2001:db8::1/127"), "2001:db8::/127");
    /* Mapped and compatible prefixes become the IPv4 prefix their members
     * canonicalise to; ranges holding :: or ::1 stay IPv6. */
    assert_string_equal(cidr_text("::ffff:10.0.0.0/104"), "10.0.0.0/8");
    assert_string_equal(cidr_text("::ffff:127.0.0.1"), "127.0.0.1/32");
    assert_string_equal(cidr_text("::ffff:0:0/96"), "0.0.0.0/0");
    assert_string_equal(cidr_text("::127.0.0.1"), "127.0.0.1/32");
    assert_string_equal(cidr_text("::10.0.0.0/104"), "10.0.0.0/8");
    assert_string_equal(cidr_text("::2/127"), "0.0.0.2/31");
    assert_string_equal(cidr_text("::/96"), "::/96");
    assert_string_equal(cidr_text("::/127"), "::/127");
    assert_string_equal(cidr_text("::1/128"), "::1/128");
    assert_string_equal(cidr_text("::/128"), "::/128");
    assert_string_equal(cidr_text("::ffff:0:0/95"), "::fffe:0:0/95");

    static const char *const bad[] = {
        "", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8",
        "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/0x8", "10.0.0.0/8/8", "10.0.0.0/1000",
        "10.0.0/8", "[::1]/128", "fe80::1%eth0/64", "banana", "10.0.0.0:80",
    };
    cmn_cidr_t c;
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        if (cmn_cidr_parse(&c, bad[i]) != CMN_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static bool in(const char *cidr, const char *ip)
{
    cmn_cidr_t c;
    cmn_addr_t a;
    assert_int_equal(cmn_cidr_parse(&c, cidr), 0);
    assert_int_equal(cmn_addr_parse_ip(&a, ip), 0);
    return cmn_cidr_contains(&c, &a);
}

static void test_cidr_contains(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.0.0.0"));
    assert_true(in("10.0.0.0/8", "10.255.255.255"));
    assert_false(in("10.0.0.0/8", "11.0.0.0"));
    assert_false(in("10.0.0.0/8", "9.255.255.255"));
    assert_true(in("0.0.0.0/0", "203.0.113.9"));
    assert_true(in("192.168.0.0/23", "192.168.1.200"));
    assert_false(in("192.168.0.0/23", "192.168.2.0"));
    assert_true(in("1.2.3.4", "1.2.3.4"));
    assert_false(in("1.2.3.4", "1.2.3.5"));
    assert_true(in("fe80::/10", "fe80::1"));
    assert_true(in("fe80::/10", "febf:ffff::1"));
    assert_false(in("fe80::/10", "fec0::1"));
    /* IPv4 in disguise is still IPv4. */
    assert_true(in("127.0.0.0/8", "::ffff:127.0.0.1"));
    assert_true(in("127.0.0.0/8", "::127.0.0.1"));
    assert_true(in("10.0.0.0/8", "::ffff:10.9.8.7"));
    assert_true(in("::ffff:127.0.0.0/104", "127.0.0.1"));
    assert_true(in("::ffff:127.0.0.0/104", "::ffff:127.1.2.3"));
    assert_true(in("0.0.0.0/8", "::ffff:0.0.0.0"));
    assert_true(in("0.0.0.0/0", "::ffff:8.8.8.8"));
    /* ...but :: and ::1 are IPv6. */
    assert_false(in("0.0.0.0/0", "::1"));
    assert_false(in("0.0.0.0/0", "::"));
    assert_true(in("::1", "::1"));
    assert_true(in("::/128", "::"));
    assert_true(in("::/96", "::1"));
    assert_false(in("::/96", "::2")); /* that is 0.0.0.2 */
    /* Families never cross. */
    assert_false(in("::/0", "1.2.3.4"));
    assert_false(in("::/0", "::ffff:1.2.3.4"));
    assert_true(in("::/0", "2001:db8::1"));
    assert_false(in("0.0.0.0/0", "2001:db8::1"));
    cmn_cidr_t c;
    cmn_addr_t none;
    memset(&none, 0, sizeof(none));
    assert_int_equal(cmn_cidr_parse(&c, "0.0.0.0/0"), 0);
    assert_false(cmn_cidr_contains(&c, &none));
}

static void test_cidrset(void **state)
{
    (void)state;
    cmn_cidrset_t s;
    cmn_cidrset_init(&s);
    cmn_addr_t a;
    assert_int_equal(cmn_addr_parse_ip(&a, "::ffff:127.0.0.1"), 0);
    assert_false(cmn_cidrset_contains(&s, &a));
    static const char *const deny[] = {
        "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
        "169.254.0.0/16", "fc00::/7", "fe80::/10", "0.0.0.0/8", "100.64.0.0/10",
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(deny); i++)
        assert_int_equal(cmn_cidrset_add_text(&s, deny[i]), 0);
    assert_int_equal(s.n, CMN_ARRAY_LEN(deny));
    assert_int_equal(cmn_cidrset_add_text(&s, "10.0.0.0/99"), CMN_EINVAL);
    assert_int_equal(s.n, CMN_ARRAY_LEN(deny));

    static const char *const denied[] = {
        "127.0.0.1", "::ffff:127.0.0.1", "::127.0.0.1", "::1", "10.1.1.1", "::ffff:10.1.1.1",
        "172.31.255.255", "192.168.1.1", "169.254.169.254", "::ffff:169.254.169.254",
        "fd00::1", "fe80::1", "0.0.0.0", "::ffff:0.0.0.0", "100.127.0.1",
    };
    static const char *const allowed[] = {
        "8.8.8.8", "::ffff:8.8.8.8", "172.32.0.1", "2001:db8::1", "::", "64:ff9b::a00:1",
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(denied); i++) {
        assert_int_equal(cmn_addr_parse_ip(&a, denied[i]), 0);
        if (!cmn_cidrset_contains(&s, &a))
            fail_msg("%s not denied", denied[i]);
    }
    for (size_t i = 0; i < CMN_ARRAY_LEN(allowed); i++) {
        assert_int_equal(cmn_addr_parse_ip(&a, allowed[i]), 0);
        if (cmn_cidrset_contains(&s, &a))
            fail_msg("%s denied", allowed[i]);
    }
    cmn_cidr_t c;
    assert_int_equal(cmn_cidr_parse(&c, "::/0"), 0);
    cmn_cidrset_add(&s, &c);
    assert_int_equal(cmn_addr_parse_ip(&a, "2001:db8::1"), 0);
    assert_true(cmn_cidrset_contains(&s, &a));
    cmn_cidrset_dispose(&s);
    assert_null(s.v);
    assert_int_equal(s.n, 0);
    cmn_cidrset_dispose(&s); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ipv4_port),
        cmocka_unit_test(test_parse_ipv6_port),
        cmocka_unit_test(test_parse_default_port),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_ip),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_equal_and_any),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_cidrset),
    };
    return cmocka_run_group_tests_name("test_cmn_addr", tests, NULL, NULL);
}
