/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_ice.c: signal/sig_ice.c: the iceServers
 * array (URLs from public_host or the Host header, ports, turns: only with
 * TLS, credentials that turn_ephemeral_password reproduces, hostile Host
 * headers), room tokens (round trip, peer binding, expiry, wrong room,
 * tampering, another key, malformed), and settings -> sig_cfg_t.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/signal/sig_fixture.h"
#include "turn/turn.h"

static json_t *ice(const sig_cfg_t *c, const char *host, const char *user, double now)
{
    char *t = sig_ice_servers_json(c, host, user, now);
    json_t *j = json_loads(t, 0, NULL);
    cmn_free(t);
    assert_non_null(j);
    return j;
}

static const char *url(json_t *arr, size_t i, size_t k)
{
    return json_string_value(json_array_get(json_object_get(json_array_get(arr, i), "urls"), k));
}

static void test_ice_servers_shape(void **state)
{
    (void)state;
    sig_cfg_t c;
    fx_default_cfg(&c);
    json_t *j = ice(&c, "example.org:8080", "peer1", 1000.7);
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(url(j, 0, 0), "stun:example.org:3478");
    assert_null(json_object_get(json_array_get(j, 0), "username"));
    json_t *t = json_array_get(j, 1);
    assert_string_equal(url(j, 1, 0), "turn:example.org:3478?transport=udp");
    assert_string_equal(url(j, 1, 1), "turn:example.org:3478?transport=tcp");
    const char *user = json_string_value(json_object_get(t, "username"));
    assert_string_equal(user, "1100:peer1");
    char pw[64];
    assert_int_equal(turn_ephemeral_password("turn-secret", user, pw, sizeof(pw)), 0);
    assert_string_equal(json_string_value(json_object_get(t, "credential")), pw);
    json_decref(j);

    c.turns_port = 5349;
    c.public_host = "turn.example.com";
    j = ice(&c, "ignored:1", "p", 0);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(url(j, 0, 0), "stun:turn.example.com:3478");
    assert_string_equal(url(j, 2, 0), "turns:turn.example.com:5349?transport=tcp");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 2), "username")),
                        "100:p");
    json_decref(j);
}

static void test_ice_servers_hosts(void **state)
{
    (void)state;
    sig_cfg_t c;
    fx_default_cfg(&c);
    struct {
        const char *host, *want;
    } v[] = {
        {"localhost:8080", "stun:localhost:3478"},
        {"localhost", "stun:localhost:3478"},
        {"[::1]:8080", "stun:[::1]:3478"},
        {"127.0.0.1:9", "stun:127.0.0.1:3478"},
        {"", "stun:localhost:3478"},
        {"evil\"host", "stun:localhost:3478"},
        {"a/b:1", "stun:localhost:3478"},
        {"x?y", "stun:localhost:3478"},
        {":8080", "stun:localhost:3478"},
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(v); i++) {
        json_t *j = ice(&c, v[i].host, "p", 0);
        assert_string_equal(url(j, 0, 0), v[i].want);
        json_decref(j);
    }
}

static void test_ice_servers_without_turn(void **state)
{
    (void)state;
    sig_cfg_t c;
    fx_default_cfg(&c);
    c.turn_secret = "";
    json_t *j = ice(&c, "h", "p", 0);
    assert_int_equal(json_array_size(j), 1); /* stun only */
    json_decref(j);
    c.turn_port = 0;
    j = ice(&c, "h", "p", 0);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
}

static void test_tokens(void **state)
{
    (void)state;
    sig_cfg_t c;
    fx_default_cfg(&c);
    char peer[SIG_ID_MAX + 1];
    char *t = sig_token_mint(&c, "room one", NULL, 2000);
    assert_non_null(t);
    assert_null(strpbrk(t, "+/="));
    assert_int_equal(sig_token_verify(&c, t, "room one", 1999, peer), 0);
    assert_string_equal(peer, "");
    assert_int_equal(sig_token_verify(&c, t, "room one", 2000, peer), CMN_EAUTH);
    assert_int_equal(sig_token_verify(&c, t, "room two", 1000, peer), CMN_EAUTH);
    /* Flip each character: never accepted. */
    size_t n = strlen(t);
    for (size_t i = 0; i < n; i++) {
        char saved = t[i];
        t[i] = saved == 'A' ? 'B' : 'A';
        assert_int_equal(sig_token_verify(&c, t, "room one", 1000, peer), CMN_EAUTH);
        t[i] = saved;
    }
    sig_cfg_t other = c;
    other.token_secret = "other";
    assert_int_equal(sig_token_verify(&other, t, "room one", 1000, peer), CMN_EAUTH);
    cmn_free(t);

    t = sig_token_mint(&c, "r", "bob-1", 2000);
    assert_int_equal(sig_token_verify(&c, t, "r", 1000, peer), 0);
    assert_string_equal(peer, "bob-1");
    cmn_free(t);

    const char *junk[] = {"", ".", "abc", "abc.", ".abc", "a.b.c", "!!!.???",
                          "eyJyIjoiciIsImUiOjk5OTk5OTk5OTl9.AAAA"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(junk); i++)
        assert_int_equal(sig_token_verify(&c, junk[i], "r", 0, peer), CMN_EAUTH);
    char big[3000];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    big[1500] = '.';
    assert_int_equal(sig_token_verify(&c, big, "r", 0, peer), CMN_EAUTH);
}

static void test_cfg_from_settings(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[256];
    const char *flags[] = {"signal.token_secret=abc", "signal.api_keys=k1,k2",
                           "signal.allowed_origins=*", "tls.cert=/etc/hostname",
                           "tls.key=/etc/hostname", "turn.tls_listen=0.0.0.0:5350"};
    cmn_config_src_t src = {.flags = flags, .nflags = CMN_ARRAY_LEN(flags)};
    assert_int_equal(cmn_config_load(&s, &src, err, sizeof(err)), 0);
    sig_cfg_t c;
    sig_cfg_from_settings(&c, &s, "ts", "fallback");
    assert_true(c.enabled);
    assert_string_equal(c.token_secret, "abc");
    assert_string_equal(c.turn_secret, "ts");
    assert_int_equal(c.api_keys.n, 2);
    assert_string_equal(c.api_keys.v[1], "k2");
    assert_int_equal(c.turn_port, 3478);
    assert_int_equal(c.turns_port, 5350);
    assert_int_equal(c.max_message, 65536);
    assert_int_equal(c.send_queue, 1 << 20);
    assert_int_equal(c.credential_ttl, 3600);
    sig_cfg_t d;
    sig_cfg_copy(&d, &c);
    sig_cfg_dispose(&c);
    assert_string_equal(d.allowed_origins.v[0], "*");
    sig_cfg_dispose(&d);
    cmn_config_dispose(&s);

    assert_int_equal(cmn_config_load(&s, NULL, err, sizeof(err)), 0);
    sig_cfg_from_settings(&c, &s, "", "fallback");
    assert_string_equal(c.token_secret, "fallback");
    assert_int_equal(c.turns_port, 0); /* no tls.cert */
    sig_cfg_dispose(&c);
    cmn_config_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ice_servers_shape),
        cmocka_unit_test(test_ice_servers_hosts),
        cmocka_unit_test(test_ice_servers_without_turn),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_cfg_from_settings),
    };
    return cmocka_run_group_tests_name("test_sig_ice", tests, NULL, NULL);
}
