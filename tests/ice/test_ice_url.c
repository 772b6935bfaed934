/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_url.c: ice/ice_url.c: the server address forms browsers use
 * (RFC 7064 stun:, RFC 7065 turn: with ?transport=, ws://), their default
 * ports and transports, bare HOST[:PORT], IPv6 brackets, and every
 * rejection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ice/ice_int.h"

static ice_url_t parse_ok(const char *text, ice_scheme_t bare)
{
    ice_url_t u;
    const char *why = NULL;
    int rc = ice_url_parse(&u, text, bare, &why);
    if (rc != 0)
        fail_msg("%s: %s", text, why);
    return u;
}

static void parse_bad(const char *text, ice_scheme_t bare, const char *why_part)
{
    ice_url_t u;
    const char *why = NULL;
    assert_int_equal(ice_url_parse(&u, text, bare, &why), CMN_EINVAL);
    assert_non_null(why);
    if (!strstr(why, why_part))
        fail_msg("%s: \"%s\" does not say \"%s\"", text, why, why_part);
}

static void test_turn_forms(void **state)
{
    (void)state;
    ice_url_t u = parse_ok("turn:127.0.0.1:3478", ICE_SCHEME_NONE);
    assert_int_equal(u.scheme, ICE_SCHEME_TURN);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 3478);
    assert_int_equal(u.transport, ICE_TP_UDP);
    u = parse_ok("turn:turn.example.com?transport=tcp", ICE_SCHEME_NONE);
    assert_string_equal(u.host, "turn.example.com");
    assert_int_equal(u.port, 3478);
    assert_int_equal(u.transport, ICE_TP_TCP);
    u = parse_ok("TURN:h:9?TRANSPORT=UDP", ICE_SCHEME_NONE);
    assert_int_equal(u.transport, ICE_TP_UDP);
    assert_int_equal(u.port, 9);
    u = parse_ok("turns:h", ICE_SCHEME_NONE);
    assert_int_equal(u.port, 5349);
    assert_int_equal(u.transport, ICE_TP_TLS);
    u = parse_ok("turns:h:443?transport=tcp", ICE_SCHEME_NONE);
    assert_int_equal(u.transport, ICE_TP_TLS);
    assert_int_equal(u.port, 443);
}

static void test_stun_and_bare(void **state)
{
    (void)state;
    ice_url_t u = parse_ok("stun:[::1]:3479", ICE_SCHEME_NONE);
    assert_int_equal(u.scheme, ICE_SCHEME_STUN);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 3479);
    u = parse_ok("stuns:[2001:db8::1]", ICE_SCHEME_NONE);
    assert_int_equal(u.port, 5349);
    assert_int_equal(u.transport, ICE_TP_TLS);
    u = parse_ok("192.0.2.1", ICE_SCHEME_STUN);
    assert_int_equal(u.scheme, ICE_SCHEME_STUN);
    assert_int_equal(u.port, 3478);
    u = parse_ok("example.net:1234", ICE_SCHEME_TURN);
    assert_int_equal(u.scheme, ICE_SCHEME_TURN);
    assert_int_equal(u.port, 1234);
    u = parse_ok("[::1]", ICE_SCHEME_STUN);
    assert_string_equal(u.host, "::1");
}

static void test_ws(void **state)
{
    (void)state;
    ice_url_t u = parse_ok("ws://127.0.0.1:8080/ws", ICE_SCHEME_NONE);
    assert_int_equal(u.scheme, ICE_SCHEME_WS);
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/ws");
    u = parse_ok("wss://hub.example.com", ICE_SCHEME_NONE);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/ws");
    u = parse_ok("ws://h/other/path?x=1", ICE_SCHEME_NONE);
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/other/path?x=1");
    u = parse_ok("ws://h:81?x=1", ICE_SCHEME_NONE);
    assert_string_equal(u.path, "/?x=1");
}

static void test_rejected(void **state)
{
    (void)state;
    parse_bad("http://h/", ICE_SCHEME_NONE, "unknown scheme");
    parse_bad("h:3478", ICE_SCHEME_NONE, "unknown scheme");
    parse_bad("turn:h:0", ICE_SCHEME_NONE, "port");
    parse_bad("turn:h:65536", ICE_SCHEME_NONE, "port");
    parse_bad("turn:h:123456", ICE_SCHEME_NONE, "port");
    parse_bad("turn:h:", ICE_SCHEME_NONE, "port");
    parse_bad("turn:h:3x", ICE_SCHEME_NONE, "port");
    parse_bad("turn:", ICE_SCHEME_NONE, "host");
    parse_bad("turn://h", ICE_SCHEME_NONE, "host");
    parse_bad("turn:h h", ICE_SCHEME_NONE, "host");
    parse_bad("turn:a..b", ICE_SCHEME_NONE, "host");
    parse_bad("turn:::1", ICE_SCHEME_NONE, "brackets");
    parse_bad("turn:[::1", ICE_SCHEME_NONE, "']'");
    parse_bad("turn:[1.2.3.4]:5", ICE_SCHEME_NONE, "IPv6");
    parse_bad("turn:[::1]5", ICE_SCHEME_NONE, "':PORT'");
    parse_bad("turn:h?transport=sctp", ICE_SCHEME_NONE, "udp or tcp");
    parse_bad("turn:h?foo=bar", ICE_SCHEME_NONE, "transport");
    parse_bad("turns:h?transport=udp", ICE_SCHEME_NONE, "DTLS");
    parse_bad("stun:h?transport=udp", ICE_SCHEME_NONE, "only turn");
    parse_bad("ws://h/a b", ICE_SCHEME_NONE, "blank");
    parse_bad("ws://h/\x01", ICE_SCHEME_NONE, "control");
    char longhost[300];
    memset(longhost, 'a', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    parse_bad(longhost, ICE_SCHEME_STUN, "host");
    char longpath[400] = "ws://h/";
    memset(longpath + 7, 'p', 300);
    longpath[307] = '\0';
    parse_bad(longpath, ICE_SCHEME_NONE, "too long");
}

static void test_format(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "turn:127.0.0.1:3478?transport=udp", "turn:h:1?transport=tcp",
        "turns:[::1]:5349?transport=tcp", "stun:h:3478", "ws://h:8080/ws", "wss://[::1]:443/x",
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(urls); i++) {
        char buf[512];
        ice_url_t u = parse_ok(urls[i], ICE_SCHEME_NONE);
        assert_string_equal(ice_url_format(&u, buf, sizeof(buf)), urls[i]);
    }
    assert_string_equal(ice_transport_name(ICE_TP_TLS), "tls");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turn_forms), cmocka_unit_test(test_stun_and_bare),
        cmocka_unit_test(test_ws),         cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests_name("ice_url", tests, NULL, NULL);
}
