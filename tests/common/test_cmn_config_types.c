/* icehub - SPDX-License-Identifier: MIT
 *
 * test_cmn_config_types.c: the value types added for quotas and prices
 * (common/cmn_config_types.c): sizes and rates with k/M/G/T and Ki/Mi/Gi/Ti
 * suffixes, decimals, one-of words, word sets (signal.ice_servers) and
 * PATTERN=RATE lists, through the
 * file and flag sources, with the exact error messages.
 */
#include "tests/common/config_fixture.h"

/* ---- quota.* and cost.*: sizes, decimals, words, rate maps ---------- */

static void test_size_parser(void **state)
{
    (void)state;
    uint64_t v;
    struct {
        const char *text;
        uint64_t want;
    } good[] = {
        {"0", 0}, {"1000", 1000}, {"2M", 2000000}, {"1.5k", 1500}, {"64Ki", 65536},
        {"1Gi", 1ull << 30}, {"2.5G", 2500000000ull}, {"1T", 1000000000000ull},
        {"0.5Ki", 512}, {"7K", 7000}, {"18446744073709551", 18446744073709551ull},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (cmn_config_parse_size(good[i].text, &v) != 0)
            fail_msg("\"%s\" refused", good[i].text);
        assert_int_equal(v, good[i].want);
    }
    const char *bad[] = {"", "k", "-1", " 1", "1 ", "1.", ".5", "1.0005k", "1.5", "1m",
                         "1KB", "1e6", "0x10", "1..2", "1Ki2", "9999999999999999999",
                         "20000000T", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cmn_config_parse_size(bad[i], &v) == 0)
            fail_msg("\"%s\" accepted as %llu", bad[i], (unsigned long long)v);
    size_t plen;
    assert_int_equal(cmn_config_parse_ratemap("guest-*=500k", &plen, &v), 0);
    assert_int_equal(plen, 7);
    assert_int_equal(v, 500000);
    assert_int_equal(cmn_config_parse_ratemap("a=b=1M", &plen, &v), 0); /* the last '=' */
    assert_int_equal(plen, 3);
    assert_int_equal(cmn_config_parse_ratemap("=1M", &plen, &v), CMN_EINVAL);
    assert_int_equal(cmn_config_parse_ratemap("alice", &plen, &v), CMN_EINVAL);
    assert_int_equal(cmn_config_parse_ratemap("alice=", &plen, &v), CMN_EINVAL);
}

static void test_quota_cost_values(void **state)
{
    (void)state;
    cmn_settings_t s;
    /* Defaults. */
    flag_ok("quota.allocation_bps=0", &s);
    assert_int_equal(s.quota.allocation_bps, 0);
    assert_int_equal(s.quota.allocation_burst, 0);
    assert_int_equal(s.quota.users.n, 0);
    assert_int_equal(s.quota.total_bps, 0);
    assert_int_equal(s.quota.user_bytes, 0);
    assert_int_equal(s.quota.period, CMN_QUOTA_PERIOD_MONTH);
    assert_int_equal(s.quota.over_action, CMN_QUOTA_OVER_STOP);
    assert_int_equal(s.quota.floor_bps, 64000);
    assert_true(s.cost.egress_per_gb == 0 && s.cost.ingress_per_gb == 0);
    assert_string_equal(s.cost.currency, "USD");
    cmn_config_dispose(&s);

    /* The file: bare numbers, strings with suffixes, floats and integers
     * for prices, words in any case. */
    file_ok("quota = {\n  allocation_bps = \"2M\";\n  allocation_burst = 131072;\n"
            "  total_bps = 10000000000L;\n  user_bytes = \"50Gi\";\n  period = \"Day\";\n"
            "  over_action = \"throttle\";\n  floor_bps = \"128k\";\n"
            "  users = [\"alice=10M\", \"guest-*=500k\"];\n};\n"
            "cost = { egress_per_gb = 0.085; ingress_per_gb = 1; currency = \"EUR\"; };\n",
            &s);
    assert_int_equal(s.quota.allocation_bps, 2000000);
    assert_int_equal(s.quota.allocation_burst, 131072);
    assert_int_equal(s.quota.total_bps, 10000000000ull);
    assert_int_equal(s.quota.user_bytes, 50ull << 30);
    assert_int_equal(s.quota.period, CMN_QUOTA_PERIOD_DAY);
    assert_int_equal(s.quota.over_action, CMN_QUOTA_OVER_THROTTLE);
    assert_int_equal(s.quota.floor_bps, 128000);
    assert_int_equal(s.quota.users.n, 2);
    assert_string_equal(s.quota.users.v[1], "guest-*=500k");
    assert_true(s.cost.egress_per_gb == 0.085);
    assert_true(s.cost.ingress_per_gb == 1.0);
    assert_string_equal(s.cost.currency, "EUR");

    /* What is printed loads back to the same settings (sizes past 32 bits
     * need libconfig's L suffix). */
    char *out = print_str(&s);
    assert_non_null(strstr(out, "total_bps = 10000000000L;"));
    assert_non_null(strstr(out, "period = \"day\";"));
    assert_non_null(strstr(out, "egress_per_gb = 0.085;"));
    char *path = tmp_file(out), err[ERR_MAX];
    cmn_settings_t t;
    assert_int_equal(load(&t, path, NULL, NULL, err), 0);
    char *again = print_str(&t);
    assert_string_equal(out, again);
    rm_file(path);
    free(out);
    free(again);
    cmn_config_dispose(&t);
    cmn_config_dispose(&s);

    flag_ok("cost.ingress_per_gb=1e-3", &s);
    assert_true(s.cost.ingress_per_gb == 0.001);
    cmn_config_dispose(&s);
}

static void test_quota_cost_errors(void **state)
{
    (void)state;
    file_fails("quota = {\n  allocation_bps = \"2 M\";\n};\n",
               "2: quota.allocation_bps: expected a whole number in 0..1000000000000, "
               "optionally with a suffix k, M, G, T (x1000) or Ki, Mi, Gi, Ti (x1024), "
               "found \"2 M\"");
    file_fails("quota = { allocation_bps = -5; };\n",
               "1: quota.allocation_bps: expected a whole number in 0..1000000000000, "
               "optionally with a suffix k, M, G, T (x1000) or Ki, Mi, Gi, Ti (x1024), "
               "found -5");
    file_fails("quota = { allocation_bps = 1.5; };\n",
               "1: quota.allocation_bps: expected a whole number in 0..1000000000000, "
               "optionally with a suffix k, M, G, T (x1000) or Ki, Mi, Gi, Ti (x1024), "
               "found 1.5");
    file_fails("quota = { floor_bps = 10; };\n",
               "1: quota.floor_bps: expected a whole number in 1000..1000000000000, "
               "optionally with a suffix k, M, G, T (x1000) or Ki, Mi, Gi, Ti (x1024), "
               "found 10");
    file_fails("quota = {\n\n  period = \"week\";\n};\n",
               "3: quota.period: expected one of day, month, found \"week\"");
    file_fails("quota = { over_action = 1; };\n",
               "1: quota.over_action: expected one of throttle, stop, found 1");
    file_fails("quota = { users = [\"alice=1M\", \"alice=2M\"]; };\n",
               "1: quota.users: expected each PATTERN once, found \"alice=2M\"");
    file_fails("quota = { users = [\"bob\"]; };\n",
               "1: quota.users: expected \"PATTERN=RATE\" with a non-empty PATTERN (a name "
               "or a glob with * and ?) and a RATE such as 2M, found \"bob\"");
    file_fails("cost = { egress_per_gb = \"cheap\"; };\n",
               "1: cost.egress_per_gb: expected a decimal number in 0..1000000, found "
               "\"cheap\"");
    file_fails("cost = { egress_per_gb = -0.5; };\n",
               "1: cost.egress_per_gb: expected a decimal number in 0..1000000, found -0.5");
    file_fails("cost = { currency = \"\"; };\n",
               "1: cost.currency: expected a string of 1..16 bytes without control "
               "characters, found \"\"");
    flag_fails("--cost.ingress_per_gb=nan",
               "--cost.ingress_per_gb: expected a decimal number in 0..1000000, found \"nan\"");
    flag_fails("--cost.ingress_per_gb=0x10",
               "--cost.ingress_per_gb: expected a decimal number in 0..1000000, found \"0x10\"");
    flag_fails("--quota.users=a b=1M",
               "--quota.users: expected \"PATTERN=RATE\" with a non-empty PATTERN (a name "
               "or a glob with * and ?) and a RATE such as 2M, found \"a b=1M\"");
    flag_fails("--quota.total_bps=1e9",
               "--quota.total_bps: expected a whole number in 0..10000000000000, "
               "optionally with a suffix k, M, G, T (x1000) or Ki, Mi, Gi, Ti (x1024), "
               "found \"1e9\"");
}

/* ---- redis.url ------------------------------------------------------- */

static void test_redis_url(void **state)
{
    (void)state;
    cmn_redis_url_t u;
    const char *why;
    assert_int_equal(cmn_config_parse_redis_url("redis://10.0.0.5", &u, &why), 0);
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_int_equal(cmn_config_parse_redis_url("redis://app:p%40ss%3Aw@redis.example.com:6380/3",
                                                &u, &why), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p@ss:w");
    assert_string_equal(u.host, "redis.example.com");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 3);
    /* "redis://secret@host": the password alone, as redis-cli -u reads it. */
    assert_int_equal(cmn_config_parse_redis_url("redis://secret@h", &u, &why), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "secret");
    assert_int_equal(cmn_config_parse_redis_url("redis://:pw@[::1]:7000/", &u, &why), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_string_equal(u.password, "pw");
    assert_int_equal(cmn_config_parse_redis_url("unix:///run/redis/redis.sock?db=2", &u, &why), 0);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 2);
    static const char *const bad[] = {
        "", "http://h", "redis://", "redis://h:0", "redis://h:65536", "redis://h:x",
        "redis://h/16", "redis://h/a", "redis://[::1", "redis://h h", "redis://a:%zz@h",
        "redis://a:%4@h", "unix://", "unix://rel.sock", "unix:///s?db=99", "redis://h:6379x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cmn_config_parse_redis_url(bad[i], &u, &why) == 0)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(cmn_config_parse_redis_url("rediss://h:6380", &u, &why), CMN_EINVAL);
    assert_non_null(strstr(why, "hiredis 0.14.1 has no TLS"));
    flag_fails("--redis.url=rediss://user:secret@h",
               "--redis.url: rediss:// (TLS) is not supported: Debian 12's hiredis 0.14.1 has "
               "no TLS; reach Redis through a TLS tunnel on loopback (stunnel, spiped) and give "
               "its redis:// address (docs/scaling.md), found a URL starting \"rediss://\"");
    flag_fails("--redis.node_id=a.b",
               "--redis.node_id: expected 1..32 characters of A-Z a-z 0-9 - _, found \"a.b\"");
}

/* ---- Drift: schema, sample file and documentation ------------------- */

/* WORDS (signal.ice_servers): words of the choices in any order and case,
 * each once, stored as bits and printed back in the choices' order. */
static void test_words(void **state)
{
    (void)state;
    cmn_settings_t s;
    flag_ok("signal.ice_servers=TURNS, stun", &s);
    assert_int_equal(s.signal.ice_servers, CMN_ICE_STUN | CMN_ICE_TURNS);
    char *out = print_str(&s);
    assert_non_null(strstr(out, "ice_servers = [ \"stun\", \"turns\" ];"));
    free(out);
    cmn_config_dispose(&s);
    flag_ok("signal.ice_servers=", &s);
    assert_int_equal(s.signal.ice_servers, 0);
    out = print_str(&s);
    assert_non_null(strstr(out, "ice_servers = [];"));
    free(out);
    cmn_config_dispose(&s);
    file_ok("signal = { ice_servers = [\"turn-tcp\", \"turn-udp\"]; };\n", &s);
    assert_int_equal(s.signal.ice_servers, CMN_ICE_TURN_UDP | CMN_ICE_TURN_TCP);
    cmn_config_dispose(&s);
    file_ok("signal = { ice_servers = \"stun,turns\"; };\n", &s);
    assert_int_equal(s.signal.ice_servers, CMN_ICE_STUN | CMN_ICE_TURNS);
    cmn_config_dispose(&s);

    flag_fails("signal.ice_servers=stun,turn",
               "--signal.ice_servers: expected one of stun, turn-udp, turn-tcp, turns, "
               "found \"turn\"");
    flag_fails("signal.ice_servers=stun,,turns",
               "--signal.ice_servers: expected one of stun, turn-udp, turn-tcp, turns, "
               "found \"\"");
    file_fails("signal = {\n  ice_servers = [\"stun\", \"STUN\"];\n};\n",
               "2: signal.ice_servers: expected each word once, found \"STUN\"");
    file_fails("signal = { ice_servers = (\"stun\", 3); };\n",
               "1: signal.ice_servers: expected a string, found 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_parser),
        cmocka_unit_test(test_quota_cost_values),
        cmocka_unit_test(test_quota_cost_errors),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_words),
    };
    return cmocka_run_group_tests_name("test_cmn_config_types", tests, NULL, NULL);
}
