/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_opts.c: ice/ice_opts.c: each command's options in both forms
 * ("--name value", "--name=value"), defaults, durations and ratios with
 * their suffixes, what each command requires, and the one-line messages
 * for every kind of mistake (exit status 2 in the binary).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ice/ice_int.h"

static char err[4096];

/* Parse a NULL-terminated list of words after "icehub-probe". */
static int parse_v(ice_opts_t *o, const char *first, va_list ap)
{
    char *argv[64] = {"icehub-probe"};
    int argc = 1;
    for (const char *w = first; w; w = va_arg(ap, const char *))
        argv[argc++] = (char *)w;
    return ice_opts_parse(o, argc, argv, err, sizeof(err));
}

static int parse(ice_opts_t *o, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    int rc = parse_v(o, first, ap);
    va_end(ap);
    return rc;
}

static void bad(const char *msg_part, const char *first, ...)
{
    ice_opts_t o;
    va_list ap;
    va_start(ap, first);
    int rc = parse_v(&o, first, ap);
    va_end(ap);
    assert_int_equal(rc, CMN_EINVAL);
    if (!strstr(err, msg_part))
        fail_msg("\"%s\" does not say \"%s\"", err, msg_part);
}

static void test_stun(void **state)
{
    (void)state;
    ice_opts_t o;
    assert_int_equal(parse(&o, "stun", "a:1", "[::1]", "--transport=tcp", "--count", "5",
                           "--max-rtt", "250ms", "--json", "--local-address", "127.0.0.2", NULL),
                     0);
    assert_int_equal(o.cmd, ICE_CMD_STUN);
    assert_int_equal(o.ntargets, 2);
    assert_string_equal(o.targets[1], "[::1]");
    assert_int_equal(o.transport, ICE_TP_TCP);
    assert_int_equal(o.count, 5);
    assert_true(o.lim.max_rtt == 0.25);
    assert_true(o.json);
    assert_true(o.timeout == 5);
    assert_true(o.lim.max_loss < 0);
    assert_string_equal(o.local_address, "127.0.0.2");
    ice_opts_t copy;
    ice_opts_copy(&copy, &o);
    ice_opts_dispose(&o);
    assert_string_equal(copy.targets[0], "a:1");
    ice_opts_dispose(&copy);
    ice_opts_dispose(&copy); /* twice is safe */
}

static void test_turn(void **state)
{
    (void)state;
    ice_opts_t o;
    assert_int_equal(parse(&o, "turn", "turn:h", "--user", "u", "--pass=p", "--rate", "50.5",
                           "--size", "1200", "--duration", "2s", "--max-loss", "5%", NULL),
                     0);
    assert_string_equal(o.user, "u");
    assert_string_equal(o.pass, "p");
    assert_true(o.rate == 50.5);
    assert_int_equal(o.size, 1200);
    assert_true(o.duration == 2);
    assert_true(o.lim.max_loss == 0.05);
    assert_int_equal(o.count, 100);
    ice_opts_dispose(&o);
    assert_int_equal(parse(&o, "turn", "h", "--secret", "s", "--ttl", "60", "--max-loss", "0",
                           NULL),
                     0);
    assert_int_equal(o.ttl, 60);
    assert_true(o.lim.max_loss == 0);
    ice_opts_dispose(&o);
    bad("credentials are missing", "turn", "h", "--user", "u", NULL);
    bad("not both", "turn", "h", "--user", "u", "--pass", "p", "--secret", "s", NULL);
    bad("one server URL", "turn", "--secret", "s", NULL);
    bad("one server URL", "turn", "a", "b", "--secret", "s", NULL);
    bad("at most 240 s", "turn", "h", "--secret", "s", "--count", "30000", "--rate", "100", NULL);
    bad("--size: expected a number from 32 to 1200, found \"31\"", "turn", "h", "--size", "31",
        NULL);
    bad("--count: expected a number from 1 to 1000000, found \"1.5\"", "turn", "h", "--count",
        "1.5", NULL);
}

static void test_call(void **state)
{
    (void)state;
    ice_opts_t o;
    assert_int_equal(parse(&o, "call", "--signal", "ws://h/ws", "--pair", "--relay-only",
                           "--srtp", "aes-gcm", "--turn-transport", "tcp", "--require", "relay",
                           NULL),
                     0);
    assert_true(o.pair);
    assert_true(o.relay_only);
    assert_int_equal(o.srtp, ICE_SRTP_AES_GCM_128);
    assert_int_equal(o.turn_transport, ICE_TP_TCP);
    assert_int_equal(o.lim.require, ICE_CTYPE_RELAY);
    assert_true(o.duration == 3);
    assert_null(o.room);
    ice_opts_dispose(&o);
    bad("--room R (or --pair)", "call", "--signal", "ws://h/ws", NULL);
    bad("--signal", "call", "--room", "r", NULL);
    bad("--require: expected host, srflx or relay, found \"prflx\"", "call", "--require", "prflx",
        NULL);
    bad("--srtp: expected aes-cm or aes-gcm", "call", "--srtp", "null", NULL);
    bad("--turn-transport tls is not available", "call", "--signal", "ws://h/ws", "--pair",
        "--turn-transport", "tls", NULL);
}

static void test_mistakes(void **state)
{
    (void)state;
    bad("unknown command \"ping\"", "ping", NULL);
    bad("--user: unknown option for stun (another command takes it)", "stun", "h", "--user", "u",
        NULL);
    bad("--bogus: unknown option for stun", "stun", "h", "--bogus", NULL);
    bad("--json takes no value", "stun", "h", "--json=1", NULL);
    bad("--count: a value is missing", "stun", "h", "--count", NULL);
    bad("--timeout: expected seconds", "stun", "h", "--timeout", "soon", NULL);
    bad("--timeout: expected seconds", "stun", "h", "--timeout", "0", NULL);
    bad("--max-loss: expected a ratio", "stun", "h", "--max-loss", "150%", NULL);
    bad("--transport: expected udp, tcp or tls", "stun", "h", "--transport", "sctp", NULL);
    bad("at least one server", "stun", NULL);
    bad("at most 8 servers", "stun", "1", "2", "3", "4", "5", "6", "7", "8", "9", NULL);
    bad("unexpected argument", "serve", "x", NULL);
    ice_opts_t o;
    assert_int_equal(parse(&o, NULL), CMN_EINVAL);
    assert_non_null(strstr(err, "usage: icehub-probe"));
    assert_int_equal(parse(&o, "--help", NULL), 1);
    assert_int_equal(parse(&o, "turn", "-h", NULL), 1);
    assert_non_null(strstr(err, "exit status"));
}

static void test_values(void **state)
{
    (void)state;
    double v;
    assert_int_equal(ice_parse_seconds("1.5", &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(ice_parse_seconds("250ms", &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(ice_parse_seconds("2s", &v), 0);
    assert_true(v == 2);
    assert_int_equal(ice_parse_seconds("ms", &v), CMN_EINVAL);
    assert_int_equal(ice_parse_seconds("-1", &v), CMN_EINVAL);
    assert_int_equal(ice_parse_seconds("1e999", &v), CMN_EINVAL);
    assert_int_equal(ice_parse_seconds("nan", &v), CMN_EINVAL);
    assert_int_equal(ice_parse_seconds("", &v), CMN_EINVAL);
    assert_int_equal(ice_parse_ratio("2.5%", &v), 0);
    assert_true(v == 0.025);
    assert_int_equal(ice_parse_ratio("1", &v), 0);
    assert_int_equal(ice_parse_ratio("1.01", &v), CMN_EINVAL);
    assert_int_equal(ice_parse_ratio("%", &v), CMN_EINVAL);
    ice_opts_t o;
    ice_opts_defaults(&o, ICE_CMD_CALL);
    char e[256];
    assert_int_equal(ice__opts_set(&o, "relay-only", "true", e, sizeof(e)), 0);
    assert_true(o.relay_only);
    assert_int_equal(ice__opts_set(&o, "relay-only", "yes", e, sizeof(e)), CMN_EINVAL);
    assert_int_equal(ice__opts_set(&o, "user", "u", e, sizeof(e)), CMN_EINVAL);
    assert_non_null(strstr(e, "not a setting of a call check"));
    ice_opts_dispose(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stun),     cmocka_unit_test(test_turn),
        cmocka_unit_test(test_call),     cmocka_unit_test(test_mistakes),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests_name("ice_opts", tests, NULL, NULL);
}
