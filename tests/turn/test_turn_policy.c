/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_policy.c: turn/turn_policy.c: turn_peer_allowed against every
 * range of the built-in deny list (its first and last addresses and the
 * neighbours just outside), the IPv4-mapped and IPv4-compatible forms,
 * NAT64 and 6to4 embeddings, the server's own addresses, denied_peers,
 * and allowed_peers winning over all of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "common/cmn_addr.h"
#include "turn/turn_int.h"

typedef struct {
    const char *ip;
    bool allowed;
} policy_case_t;

static void check_cases(const turn_cfg_t *cfg, const policy_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cmn_addr_t a;
        assert_int_equal(cmn_addr_parse_ip(&a, cases[i].ip), 0);
        a.port = 3478;
        if (turn_peer_allowed(cfg, &a) != cases[i].allowed)
            fail_msg("%s: expected %s", cases[i].ip, cases[i].allowed ? "allowed" : "denied");
    }
}

static void own_cfg(turn_cfg_t *cfg, cmn_addr_t *own)
{
    memset(cfg, 0, sizeof(*cfg));
    assert_int_equal(cmn_addr_parse(own, "198.51.100.1:3478", -1), 0);
    cfg->own_addrs = own;
    cfg->nown = 1;
}

static void test_builtin_ranges(void **state)
{
    (void)state;
    static const policy_case_t cases[] = {
        {"0.0.0.0", false},         {"0.255.255.255", false},   {"1.0.0.0", true},
        {"126.255.255.255", true},  {"127.0.0.1", false},       {"127.255.255.255", false},
        {"128.0.0.0", true},        {"9.255.255.255", true},    {"10.0.0.0", false},
        {"10.255.255.255", false},  {"11.0.0.0", true},         {"172.15.255.255", true},
        {"172.16.0.0", false},      {"172.31.255.255", false},  {"172.32.0.0", true},
        {"192.167.255.255", true},  {"192.168.0.0", false},     {"192.168.255.255", false},
        {"192.169.0.0", true},      {"100.63.255.255", true},   {"100.64.0.0", false},
        {"100.127.255.255", false}, {"100.128.0.0", true},      {"169.253.255.255", true},
        {"169.254.0.0", false},     {"169.254.255.255", false}, {"169.255.0.0", true},
        {"191.255.255.255", true},  {"192.0.0.0", false},       {"192.0.0.255", false},
        {"192.0.1.0", true},        {"223.255.255.255", true},  {"224.0.0.0", false},
        {"239.255.255.255", false}, {"240.0.0.0", false},       {"255.255.255.254", false},
        {"255.255.255.255", false}, {"8.8.8.8", true},          {"::", false},
        {"::1", false},             {"fbff:ffff::1", true},     {"fc00::", false},
        {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},     {"fe00::1", true},
        {"fe7f:ffff::1", true},     {"fe80::", false},          {"febf:ffff::1", false},
        {"fec0::1", true},          {"feff:ffff::1", true},     {"ff00::", false},
        {"ff02::1", false},         {"ffff:ffff::1", false},    {"2606:4700::1111", true},
    };
    turn_cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    check_cases(&cfg, cases, CMN_ARRAY_LEN(cases));
}

static void test_mapped_and_compat(void **state)
{
    (void)state;
    static const policy_case_t cases[] = {
        {"::ffff:127.0.0.1", false}, {"::127.0.0.1", false},    {"::ffff:10.1.2.3", false},
        {"::10.1.2.3", false},       {"::ffff:192.168.1.1", false}, {"::0.0.0.2", false},
        {"::ffff:0.0.0.0", false},   {"::ffff:8.8.8.8", true},   {"::8.8.8.8", true},
    };
    turn_cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    check_cases(&cfg, cases, CMN_ARRAY_LEN(cases));
}

static void test_embedded_ipv4(void **state)
{
    (void)state;
    static const policy_case_t cases[] = {
        /* NAT64 64:ff9b::/96 (RFC 6052) */
        {"64:ff9b::7f00:1", false},   /* 127.0.0.1 */
        {"64:ff9b::a00:1", false},    /* 10.0.0.1 */
        {"64:ff9b::a9fe:a9fe", false}, /* 169.254.169.254 */
        {"64:ff9b::c633:6401", false}, /* 198.51.100.1, our own */
        {"64:ff9b::808:808", true},   /* 8.8.8.8 */
        {"64:ff9b:1::a00:1", true},   /* local-use prefix: not translated */
        /* 6to4 2002::/16 (RFC 3056) */
        {"2002:7f00:1::1", false},
        {"2002:c0a8:101::1", false},  /* 192.168.1.1 */
        {"2002:808:808::1", true},
    };
    turn_cfg_t cfg;
    cmn_addr_t own;
    own_cfg(&cfg, &own);
    check_cases(&cfg, cases, CMN_ARRAY_LEN(cases));
}

static void test_own_address(void **state)
{
    (void)state;
    static const policy_case_t cases[] = {
        {"198.51.100.1", false},
        {"::ffff:198.51.100.1", false},
        {"198.51.100.2", true},
    };
    turn_cfg_t cfg;
    cmn_addr_t own;
    own_cfg(&cfg, &own);
    check_cases(&cfg, cases, CMN_ARRAY_LEN(cases));
}

/* Relay to relay on one server: an own address is a fine peer at a port
 * of the relay range (another allocation's relayed address), never at
 * the server's other ports; the Send path checks the port per packet. */
static void test_own_address_relay_ports(void **state)
{
    (void)state;
    turn_cfg_t cfg;
    cmn_addr_t own, a;
    own_cfg(&cfg, &own);
    cfg.relay_port_min = 49152;
    cfg.relay_port_max = 65535;
    static const struct {
        const char *addr;
        bool ok;
    } cases[] = {
        {"198.51.100.1:49152", true},  {"198.51.100.1:65535", true},
        {"198.51.100.1:49151", false}, {"198.51.100.1:3478", false},
        {"198.51.100.1:8080", false},  {"[::ffff:198.51.100.1]:50000", true},
        {"[::ffff:198.51.100.1]:22", false}, {"198.51.100.2:22", true},
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(cases); i++) {
        assert_int_equal(cmn_addr_parse(&a, cases[i].addr, -1), 0);
        if (turn_peer_allowed(&cfg, &a) != cases[i].ok)
            fail_msg("%s: expected %s", cases[i].addr, cases[i].ok ? "allowed" : "denied");
        if (turn__peer_port_ok(&cfg, &a) != cases[i].ok)
            fail_msg("port_ok %s: expected %d", cases[i].addr, cases[i].ok);
    }
    /* An own address in a built-in deny range (loopback) at a relay port. */
    cmn_addr_t lo;
    assert_int_equal(cmn_addr_parse(&lo, "127.0.0.1:0", -1), 0);
    cfg.own_addrs = &lo;
    assert_int_equal(cmn_addr_parse(&a, "127.0.0.1:50000", -1), 0);
    assert_true(turn_peer_allowed(&cfg, &a));
    assert_int_equal(cmn_addr_parse(&a, "127.0.0.1:8080", -1), 0);
    assert_false(turn_peer_allowed(&cfg, &a));
    assert_false(turn__peer_port_ok(&cfg, &a));
    /* Without a relay range (0) an own address is never a peer. */
    cfg.relay_port_min = cfg.relay_port_max = 0;
    assert_int_equal(cmn_addr_parse(&a, "127.0.0.1:50000", -1), 0);
    assert_false(turn_peer_allowed(&cfg, &a));
}

static void test_denied_peers(void **state)
{
    (void)state;
    static const policy_case_t cases[] = {
        {"8.8.8.8", false},          {"::ffff:8.8.8.8", false}, {"64:ff9b::808:808", false},
        {"2002:808:808::1", false},  {"2001:db8::1", false},    {"8.8.4.4", true},
        {"2001:db9::1", true},
    };
    turn_cfg_t cfg;
    cmn_cidrset_t denied;
    memset(&cfg, 0, sizeof(cfg));
    cmn_cidrset_init(&denied);
    assert_int_equal(cmn_cidrset_add_text(&denied, "8.8.8.0/24"), 0);
    assert_int_equal(cmn_cidrset_add_text(&denied, "2001:db8::/32"), 0);
    cfg.denied_peers = &denied;
    check_cases(&cfg, cases, CMN_ARRAY_LEN(cases));
    cmn_cidrset_dispose(&denied);
}

static void test_allowed_wins(void **state)
{
    (void)state;
    static const policy_case_t cases[] = {
        {"127.0.0.1", true},         {"::ffff:127.0.0.1", true}, {"::127.0.0.1", true},
        {"64:ff9b::7f00:1", true},   {"::1", false},             {"10.0.0.1", false},
        {"198.51.100.1", true},      {"8.8.8.8", true},          {"8.8.8.9", false},
    };
    turn_cfg_t cfg;
    cmn_addr_t own;
    cmn_cidrset_t allowed, denied;
    own_cfg(&cfg, &own);
    cmn_cidrset_init(&allowed);
    cmn_cidrset_init(&denied);
    assert_int_equal(cmn_cidrset_add_text(&allowed, "127.0.0.0/8"), 0);
    assert_int_equal(cmn_cidrset_add_text(&allowed, "198.51.100.1"), 0);
    assert_int_equal(cmn_cidrset_add_text(&allowed, "8.8.8.8"), 0);
    assert_int_equal(cmn_cidrset_add_text(&denied, "8.8.8.0/24"), 0);
    cfg.allowed_peers = &allowed;
    cfg.denied_peers = &denied;
    check_cases(&cfg, cases, CMN_ARRAY_LEN(cases));
    cmn_cidrset_dispose(&allowed);
    cmn_cidrset_dispose(&denied);
}

static void test_no_family(void **state)
{
    (void)state;
    turn_cfg_t cfg;
    cmn_addr_t a;
    memset(&cfg, 0, sizeof(cfg));
    memset(&a, 0, sizeof(a));
    assert_false(turn_peer_allowed(&cfg, &a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_ranges),
        cmocka_unit_test(test_mapped_and_compat),
        cmocka_unit_test(test_embedded_ipv4),
        cmocka_unit_test(test_own_address),
        cmocka_unit_test(test_own_address_relay_ports),
        cmocka_unit_test(test_denied_peers),
        cmocka_unit_test(test_allowed_wins),
        cmocka_unit_test(test_no_family),
    };
    return cmocka_run_group_tests_name("test_turn_policy", tests, NULL, NULL);
}
