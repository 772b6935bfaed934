/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_rest.c: signal/sig_rest.c: API-key checks (none configured,
 * missing, wrong, Bearer and ?key=), GET /ice-servers, the TURN REST API
 * form of /turn-credentials, /room-token (its token admits a join), bad
 * parameters (values that are not UTF-8 among them), other methods, other
 * paths, and signaling switched off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/signal/sig_fixture.h"
#include "turn/turn.h"

static char *keys[] = {"key-one", "key-two"};

static void rest_cfg(sig_cfg_t *c)
{
    fx_default_cfg(c);
    c->api_keys.v = keys;
    c->api_keys.n = 2;
}

/* Run one GET; returns the parsed body (caller decrefs) and the status. */
static json_t *get(const sig_cfg_t *c, const char *path, const char *query, const char *auth,
                   unsigned *status, bool *www)
{
    sig_http_req_t req = {.get = true, .path = path, .query = query,
                          .authorization = auth ? auth : "", .host = "hub.example:8080"};
    sig_http_resp_t resp;
    assert_int_equal(sig_rest_handle(c, &req, &resp, 5000.0), 0);
    *status = resp.status;
    if (www)
        *www = resp.www_authenticate;
    json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
    assert_non_null(j);
    cmn_free(resp.body);
    return j;
}

static void test_auth(void **state)
{
    (void)state;
    sig_cfg_t c;
    fx_default_cfg(&c);
    unsigned st;
    bool www;
    json_t *j = get(&c, "/ice-servers", "key=x", NULL, &st, &www);
    assert_int_equal(st, 401);
    assert_true(www);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "unauthorized");
    json_decref(j);
    rest_cfg(&c);
    const char *paths[] = {"/ice-servers", "/turn-credentials", "/room-token"};
    for (size_t i = 0; i < 3; i++) {
        json_decref(get(&c, paths[i], "", NULL, &st, &www));
        assert_true(st == 401 && www);
        json_decref(get(&c, paths[i], "key=nope", NULL, &st, &www));
        assert_true(st == 401 && www);
        json_decref(get(&c, paths[i], "key=key-one", "Bearer wrong", &st, &www));
        assert_true(st == 401 && www); /* the header wins */
        json_decref(get(&c, paths[i], "", "Bearer key-on", &st, &www));
        assert_int_equal(st, 401);
        json_decref(get(&c, paths[i], "", "Basic a2V5LW9uZQ==", &st, &www));
        assert_int_equal(st, 401);
        json_decref(get(&c, paths[i], "", "Bearer ", &st, &www));
        assert_int_equal(st, 401);
    }
    json_decref(get(&c, "/ice-servers", "", "Bearer key-two", &st, &www));
    assert_true(st == 200 && !www);
    json_decref(get(&c, "/ice-servers", "key=key-one", NULL, &st, &www));
    assert_int_equal(st, 200);
    json_decref(get(&c, "/ice-servers", "a=1&key=key%2Done&b=2", NULL, &st, &www));
    assert_int_equal(st, 200);
    json_decref(get(&c, "/ice-servers", "", "bearer key-one", &st, &www));
    assert_int_equal(st, 200);
}

static void test_ice_servers(void **state)
{
    (void)state;
    sig_cfg_t c;
    rest_cfg(&c);
    unsigned st;
    json_t *j = get(&c, "/ice-servers", "peer=web-7", "Bearer key-one", &st, NULL);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "ttl")), 100);
    json_t *arr = json_object_get(j, "iceServers");
    assert_int_equal(json_array_size(arr), 2);
    json_t *t = json_array_get(arr, 1);
    assert_string_equal(json_string_value(json_object_get(t, "username")), "5100:web-7");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_array_get(arr, 0), "urls"), 0)),
        "stun:hub.example:3478");
    json_decref(j);
    j = get(&c, "/ice-servers", "peer=a:b", "Bearer key-one", &st, NULL);
    assert_int_equal(st, 400);
    json_decref(j);
}

static void test_turn_credentials(void **state)
{
    (void)state;
    sig_cfg_t c;
    rest_cfg(&c);
    c.turns_port = 5349;
    unsigned st;
    json_t *j = get(&c, "/turn-credentials", "service=turn&username=alice&key=key-one", NULL,
                    &st, NULL);
    assert_int_equal(st, 200);
    const char *user = json_string_value(json_object_get(j, "username"));
    assert_string_equal(user, "5100:alice");
    char pw[64];
    turn_ephemeral_password("turn-secret", user, pw, sizeof(pw));
    assert_string_equal(json_string_value(json_object_get(j, "password")), pw);
    assert_int_equal(json_integer_value(json_object_get(j, "ttl")), 100);
    json_t *uris = json_object_get(j, "uris");
    assert_int_equal(json_array_size(uris), 3);
    assert_string_equal(json_string_value(json_array_get(uris, 0)),
                        "turn:hub.example:3478?transport=udp");
    assert_string_equal(json_string_value(json_array_get(uris, 2)),
                        "turns:hub.example:5349?transport=tcp");
    json_decref(j);
    /* Without username a default one; bad service or username: 400. */
    j = get(&c, "/turn-credentials", "service=turn&key=key-one", NULL, &st, NULL);
    assert_int_equal(st, 200);
    json_decref(j);
    const char *bad[] = {"key=key-one", "service=stun&key=key-one",
                         "service=turn&username=a%3Ab&key=key-one",
                         "service=turn&username=%00&key=key-one",
                         "service=turn&username=%zz&key=key-one"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        j = get(&c, "/turn-credentials", bad[i], NULL, &st, NULL);
        if (st != 400)
            fail_msg("%s: %u", bad[i], st);
        json_decref(j);
    }
    /* No TURN secret: 503. */
    c.turn_secret = "";
    j = get(&c, "/turn-credentials", "service=turn&key=key-one", NULL, &st, NULL);
    assert_int_equal(st, 503);
    json_decref(j);
}

static void test_room_token(void **state)
{
    (void)state;
    sig_cfg_t c;
    rest_cfg(&c);
    unsigned st;
    json_t *j = get(&c, "/room-token", "room=my%20room&peer=bob&ttl=60&key=key-one", NULL, &st,
                    NULL);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "room")), "my room");
    assert_string_equal(json_string_value(json_object_get(j, "peer")), "bob");
    assert_int_equal(json_integer_value(json_object_get(j, "expires")), 5060);
    char peer[SIG_ID_MAX + 1];
    const char *tok = json_string_value(json_object_get(j, "token"));
    assert_int_equal(sig_token_verify(&c, tok, "my room", 5059, peer), 0);
    assert_string_equal(peer, "bob");
    assert_int_equal(sig_token_verify(&c, tok, "my room", 5060, peer), CMN_EAUTH);
    json_decref(j);
    j = get(&c, "/room-token", "room=r&key=key-one", NULL, &st, NULL);
    assert_int_equal(st, 200);
    assert_null(json_object_get(j, "peer"));
    assert_int_equal(json_integer_value(json_object_get(j, "expires")), 5000 + 3600);
    json_decref(j);
    const char *bad[] = {"key=key-one", "room=&key=key-one", "room=a%01&key=key-one",
                         "room=r&peer=b%20b&key=key-one", "room=r&ttl=0&key=key-one",
                         "room=r&ttl=x&key=key-one", "room=r&ttl=604801&key=key-one",
                         "room=r&ttl=5s&key=key-one"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        j = get(&c, "/room-token", bad[i], NULL, &st, NULL);
        if (st != 400)
            fail_msg("%s: %u", bad[i], st);
        json_decref(j);
    }
}

/* Found by fuzz_signal_rest: a percent-encoded value that is not UTF-8
 * passed the checks, and jansson then refused to encode it: /room-token
 * answered 200 without "room" and with a token naming no room (it never
 * verified), /ice-servers gave a turn: entry without credentials, and
 * /turn-credentials said 503. Such values are bad requests. */
static void test_not_utf8(void **state)
{
    (void)state;
    sig_cfg_t c;
    rest_cfg(&c);
    unsigned st;
    const char *bad[] = {"%FF", "a%C3", "%C3%28", "%ED%A0%80", "%C0%AF"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        char q[64];
        snprintf(q, sizeof(q), "key=key-one&room=%s", bad[i]);
        json_decref(get(&c, "/room-token", q, NULL, &st, NULL));
        assert_int_equal(st, 400);
        snprintf(q, sizeof(q), "key=key-one&peer=%s", bad[i]);
        json_decref(get(&c, "/ice-servers", q, NULL, &st, NULL));
        assert_int_equal(st, 400);
        snprintf(q, sizeof(q), "key=key-one&service=turn&username=%s", bad[i]);
        json_decref(get(&c, "/turn-credentials", q, NULL, &st, NULL));
        assert_int_equal(st, 400);
    }
    /* UTF-8 is fine. */
    json_t *j = get(&c, "/room-token", "key=key-one&room=%C3%A9t%C3%A9", NULL, &st, NULL);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "room")), "\xc3\xa9t\xc3\xa9");
    char peer[SIG_ID_MAX + 1];
    assert_int_equal(sig_token_verify(&c, json_string_value(json_object_get(j, "token")),
                                      "\xc3\xa9t\xc3\xa9", 5000.0, peer), 0);
    json_decref(j);
    j = get(&c, "/turn-credentials", "key=key-one&service=turn&username=%C3%A9", NULL, &st, NULL);
    assert_int_equal(st, 200);
    assert_non_null(strstr(json_string_value(json_object_get(j, "username")), ":\xc3\xa9"));
    json_decref(j);
}

static void test_methods_paths_disabled(void **state)
{
    (void)state;
    sig_cfg_t c;
    rest_cfg(&c);
    sig_http_req_t req = {.get = false, .path = "/ice-servers", .query = "key=key-one",
                          .authorization = "", .host = ""};
    sig_http_resp_t resp;
    assert_int_equal(sig_rest_handle(&c, &req, &resp, 0), 0);
    assert_int_equal(resp.status, 405);
    cmn_free(resp.body);
    req.path = "/ice-servers/";
    assert_int_equal(sig_rest_handle(&c, &req, &resp, 0), CMN_ENOENT);
    req.path = "/ws";
    assert_int_equal(sig_rest_handle(&c, &req, &resp, 0), CMN_ENOENT);
    req.get = true;
    req.path = "/room-token";
    c.enabled = false;
    assert_int_equal(sig_rest_handle(&c, &req, &resp, 0), 0);
    assert_int_equal(resp.status, 404);
    cmn_free(resp.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_ice_servers),
        cmocka_unit_test(test_turn_credentials),
        cmocka_unit_test(test_room_token),
        cmocka_unit_test(test_methods_paths_disabled),
        cmocka_unit_test(test_not_utf8),
    };
    return cmocka_run_group_tests_name("test_sig_rest", tests, NULL, NULL);
}
