/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_ice.c: signal/sig_ice.c: the iceServers
 * array (URLs from public_host or the Host header, ports, turns: only with
 * TLS, credentials that turn_ephemeral_password reproduces, hostile Host
 * headers), room tokens (round trip, peer binding, expiry, wrong room,
 * tampering, another key, malformed), and deep copies of the settings.
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

/* signal.ice_servers: each URL only when chosen; TURN credentials only with a
 * TURN URL; turns: only with TLS as well. */
static void test_ice_servers_choice(void **state)
{
    (void)state;
    sig_cfg_t c;
    fx_default_cfg(&c);
    c.turns_port = 5349;
    c.ice_urls = CMN_ICE_STUN;
    json_t *j = ice(&c, "h", "p", 0);
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(url(j, 0, 0), "stun:h:3478");
    assert_null(json_object_get(json_array_get(j, 0), "credential"));
    json_decref(j);

    c.ice_urls = CMN_ICE_TURN_TCP | CMN_ICE_TURNS;
    j = ice(&c, "h", "p", 0);
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(url(j, 0, 0), "turn:h:3478?transport=tcp");
    assert_null(url(j, 0, 1));
    assert_string_equal(url(j, 1, 0), "turns:h:5349?transport=tcp");
    assert_non_null(json_object_get(json_array_get(j, 0), "credential"));
    json_decref(j);

    c.ice_urls = CMN_ICE_TURN_UDP;
    j = ice(&c, "h", "p", 0);
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(url(j, 0, 0), "turn:h:3478?transport=udp");
    assert_null(url(j, 0, 1));
    json_decref(j);

    c.ice_urls = CMN_ICE_TURNS;
    c.turns_port = 0; /* no TLS: nothing left to hand out */
    j = ice(&c, "h", "p", 0);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);

    c.ice_urls = 0;
    c.turns_port = 5349;
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

static void test_cfg_copy(void **state)
{
    (void)state;
    char *keys[] = {"k1", "k2"}, *origins[] = {"*"};
    sig_cfg_t c = {.public_host = "turn.example.org", .token_secret = "abc",
                   .turn_secret = NULL, .api_keys = {keys, 2},
                   .allowed_origins = {origins, 1}, .max_message = 100};
    sig_cfg_t d;
    sig_cfg_copy(&d, &c);
    assert_ptr_not_equal(d.public_host, c.public_host);
    assert_string_equal(d.public_host, "turn.example.org");
    assert_string_equal(d.token_secret, "abc");
    assert_string_equal(d.turn_secret, ""); /* NULL becomes "" */
    assert_int_equal(d.api_keys.n, 2);
    assert_ptr_not_equal(d.api_keys.v[1], keys[1]);
    assert_string_equal(d.api_keys.v[1], "k2");
    assert_string_equal(d.allowed_origins.v[0], "*");
    assert_int_equal(d.max_message, 100);
    sig_cfg_dispose(&d);
    assert_null(d.public_host);
    assert_int_equal(d.api_keys.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ice_servers_shape),
        cmocka_unit_test(test_ice_servers_hosts),
        cmocka_unit_test(test_ice_servers_without_turn),
        cmocka_unit_test(test_ice_servers_choice),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_cfg_copy),
    };
    return cmocka_run_group_tests_name("test_sig_ice", tests, NULL, NULL);
}
