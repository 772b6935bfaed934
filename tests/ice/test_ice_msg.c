/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_msg.c: ice/ice_msg.c: the messages the call check sends to the
 * hub (parsed back with jansson), the hub's messages it reads (joined with
 * iceServers in every shape docs/signaling.md allows, peer events, errors),
 * and the probes' own offer/answer/done inside "signal", with everything a
 * peer could get wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <jansson.h>

#include "ice/ice_int.h"

static ice_sig_ev_t ev;
static ice_pmsg_t pm;

static int parse(const char *text, const char **why)
{
    return ice_sig_parse(text, strlen(text), &ev, &pm, why);
}

static json_t *load(const char *text)
{
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(o);
    return o;
}

static void test_outgoing(void **state)
{
    (void)state;
    char *s = ice_sig_join("room \"1\"");
    json_t *o = load(s);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "join");
    assert_string_equal(json_string_value(json_object_get(o, "room")), "room \"1\"");
    json_decref(o);
    cmn_free(s);
    s = ice_sig_leave();
    assert_string_equal(s, "{\"type\":\"leave\"}");
    cmn_free(s);
    ice_pmsg_t done = {.kind = ICE_PMSG_DONE, .sent = 150, .received = 149};
    s = ice_sig_signal("peer-1", &done);
    o = load(s);
    assert_string_equal(json_string_value(json_object_get(o, "to")), "peer-1");
    json_t *d = json_object_get(o, "data");
    assert_string_equal(json_string_value(json_object_get(d, "probe")), "icehub-probe/1");
    assert_int_equal(json_integer_value(json_object_get(d, "received")), 149);
    json_decref(o);
    cmn_free(s);
}

static void test_joined(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(
        parse("{\"type\":\"joined\",\"room\":\"r\",\"id\":\"me_1\",\"peers\":[\"a\",\"b-2\",7,\"bad id\"],"
              "\"iceServers\":[{\"urls\":[\"stun:127.0.0.1:3478\"]},"
              "{\"urls\":[\"turn:127.0.0.1:3478?transport=udp\",\"turn:127.0.0.1:3478?transport=tcp\","
              "\"turns:h:5349?transport=tcp\",\"ws://nope\",\"bogus\"],"
              "\"username\":\"1767225600:me_1\",\"credential\":\"c+/=\"},"
              "{\"urls\":\"stun:[::1]\"}, 5, {\"urls\":7}],\"resume\":\"x\",\"ref\":\"join\"}",
              &why),
        0);
    assert_int_equal(ev.type, ICE_SIG_JOINED);
    assert_string_equal(ev.id, "me_1");
    assert_int_equal(ev.npeers, 2);
    assert_string_equal(ev.peers[1], "b-2");
    assert_int_equal(ev.nservers, 5);
    assert_int_equal(ev.servers[0].url.scheme, ICE_SCHEME_STUN);
    assert_string_equal(ev.servers[0].user, "");
    assert_int_equal(ev.servers[2].url.transport, ICE_TP_TCP);
    assert_string_equal(ev.servers[2].user, "1767225600:me_1");
    assert_string_equal(ev.servers[3].cred, "c+/=");
    assert_int_equal(ev.servers[3].url.transport, ICE_TP_TLS);
    assert_string_equal(ev.servers[4].url.host, "::1");
}

static void test_peer_events(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"type\":\"peer-joined\",\"id\":\"p\"}", NULL), 0);
    assert_int_equal(ev.type, ICE_SIG_PEER_JOINED);
    assert_string_equal(ev.id, "p");
    assert_int_equal(parse("{\"type\":\"peer-left\",\"id\":\"p\",\"reason\":\"leave\"}", NULL), 0);
    assert_int_equal(ev.type, ICE_SIG_PEER_LEFT);
    assert_int_equal(parse("{\"type\":\"error\",\"code\":\"room-full\",\"message\":\"full\"}", NULL),
                     0);
    assert_int_equal(ev.type, ICE_SIG_ERROR);
    assert_string_equal(ev.code, "room-full");
    assert_string_equal(ev.message, "full");
    assert_int_equal(parse("{\"type\":\"ack\",\"ref\":\"probe\"}", NULL), 0);
    assert_int_equal(ev.type, ICE_SIG_ACK);
    assert_int_equal(parse("{\"type\":\"pong\"}", NULL), 0);
    assert_int_equal(ev.type, ICE_SIG_OTHER);
    const char *why = NULL;
    assert_int_equal(parse("{\"type\":\"peer-joined\",\"id\":\"a b\"}", &why), CMN_EINVAL);
    assert_non_null(strstr(why, "peer id"));
    assert_int_equal(parse("{\"type\":\"peer-joined\"}", &why), CMN_EINVAL);
    assert_int_equal(parse("{\"id\":\"p\"}", &why), CMN_EINVAL);
    assert_non_null(strstr(why, "type"));
    assert_int_equal(parse("[1]", &why), CMN_EINVAL);
    assert_int_equal(parse("{\"type\":\"ack\",\"type\":\"ack\"}", &why), CMN_EINVAL);
    assert_int_equal(parse("{\"type\":", &why), CMN_EINVAL);
    char id65[100] = "{\"type\":\"peer-left\",\"id\":\"";
    memset(id65 + strlen(id65), 'a', 65);
    strcat(id65, "\"}");
    assert_int_equal(parse(id65, &why), CMN_EINVAL);
}

static const char offer[] =
    "{\"type\":\"signal\",\"from\":\"peer-9\",\"data\":{\"probe\":\"icehub-probe/1\",\"kind\":\"offer\","
    "\"ufrag\":\"abcd\",\"pwd\":\"0123456789abcdefghij+/\","
    "\"candidates\":[\"candidate:1 1 UDP 2015363327 127.0.0.1 42420 typ host\","
    "\"candidate:2 1 UDP 8331263 127.0.0.1 50123 typ relay raddr 127.0.0.1 rport 40000\"],"
    "\"srtp\":{\"suite\":\"AES_CM_128_HMAC_SHA1_80\",\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\"}}}";

static void test_offer(void **state)
{
    (void)state;
    const char *why = NULL;
    if (parse(offer, &why) != 0)
        fail_msg("%s", why);
    assert_int_equal(ev.type, ICE_SIG_SIGNAL);
    assert_string_equal(ev.id, "peer-9");
    assert_int_equal(pm.kind, ICE_PMSG_OFFER);
    assert_int_equal(pm.ncands, 2);
    assert_int_equal(pm.cand[1].type, ICE_CTYPE_RELAY);
    assert_string_equal(pm.cand_text[0], "candidate:1 1 UDP 2015363327 127.0.0.1 42420 typ host");
    assert_int_equal(pm.suite, ICE_SRTP_AES_CM_SHA1_80);
    assert_int_equal(pm.keylen, 30);
    assert_int_equal(pm.key[29], 29);
    /* Back to JSON and in again: the same message. */
    ice_pmsg_t copy = pm;
    copy.kind = ICE_PMSG_ANSWER;
    char *s = ice_sig_signal("x", &copy);
    json_t *o = load(s);
    json_object_set_new(o, "from", json_string("x"));
    char *again = json_dumps(o, 0);
    assert_int_equal(parse(again, &why), 0);
    assert_int_equal(pm.kind, ICE_PMSG_ANSWER);
    assert_int_equal(pm.ncands, 2);
    assert_memory_equal(pm.key, copy.key, 30);
    free(again);
    json_decref(o);
    cmn_free(s);
}

/* <offer> with <from> replaced by <to>. */
static void bad_offer(const char *from, const char *to, const char *why_part)
{
    char buf[4096];
    const char *at = strstr(offer, from);
    assert_non_null(at);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - offer), offer, to, at + strlen(from));
    const char *why = NULL;
    assert_int_equal(parse(buf, &why), CMN_EINVAL);
    if (!strstr(why, why_part))
        fail_msg("\"%s\" does not say \"%s\"", why, why_part);
}

static void test_bad_offers(void **state)
{
    (void)state;
    bad_offer("icehub-probe/1", "icehub-probe/2", "not an icehub-probe/1");
    bad_offer("\"offer\"", "\"hello\"", "kind");
    bad_offer("\"abcd\"", "\"abc\"", "ufrag");
    bad_offer("\"abcd\"", "\"ab-d\"", "ufrag");
    bad_offer("0123456789abcdefghij+/", "short", "pwd");
    bad_offer("typ host", "typ hots", "typ");
    bad_offer("[\"candidate:1", "[7,\"candidate:1", "not a string");
    bad_offer("\"candidates\":[", "\"candidates\":\"x\",\"c2\":[", "array");
    bad_offer("AES_CM_128_HMAC_SHA1_80", "NULL_NULL", "unknown SRTP");
    bad_offer("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", "key");
    bad_offer("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", "AAEC", "key");
    bad_offer("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", "!!!!", "key");
    bad_offer("\"srtp\":{", "\"srtq\":{", "srtp");
    bad_offer("\"from\":\"peer-9\"", "\"from\":\"peer 9\"", "peer id");
    bad_offer("\"data\":{", "\"data\":7,\"x\":{", "not an icehub-probe/1");
}

static void test_too_many_candidates(void **state)
{
    (void)state;
    json_t *o = load(offer);
    json_t *d = json_object_get(o, "data"), *c = json_object_get(d, "candidates");
    while (json_array_size(c) <= ICE_MAX_CANDS)
        json_array_append_new(c, json_string("candidate:1 1 UDP 1 1.2.3.4 5 typ host"));
    char *s = json_dumps(o, 0);
    const char *why = NULL;
    assert_int_equal(parse(s, &why), CMN_EINVAL);
    assert_non_null(strstr(why, "64"));
    json_array_remove(c, 0);
    free(s);
    s = json_dumps(o, 0);
    assert_int_equal(parse(s, &why), 0);
    assert_int_equal(pm.ncands, ICE_MAX_CANDS);
    free(s);
    json_decref(o);
}

static void test_done(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(parse("{\"type\":\"signal\",\"from\":\"p\",\"data\":{\"probe\":\"icehub-probe/1\","
                           "\"kind\":\"done\",\"sent\":150,\"received\":148}}",
                           &why),
                     0);
    assert_int_equal(pm.kind, ICE_PMSG_DONE);
    assert_int_equal(pm.sent, 150);
    assert_int_equal(pm.received, 148);
    assert_int_equal(parse("{\"type\":\"signal\",\"from\":\"p\",\"data\":{\"probe\":\"icehub-probe/1\","
                           "\"kind\":\"done\",\"sent\":-1,\"received\":148}}",
                           &why),
                     CMN_EINVAL);
    assert_int_equal(parse("{\"type\":\"signal\",\"from\":\"p\",\"data\":{\"probe\":\"icehub-probe/1\","
                           "\"kind\":\"done\",\"sent\":1.5,\"received\":148}}",
                           &why),
                     CMN_EINVAL);
}

static void test_ids_and_keys(void **state)
{
    (void)state;
    assert_true(ice_peer_id_ok("Ab-_9"));
    assert_false(ice_peer_id_ok(""));
    assert_false(ice_peer_id_ok("a.b"));
    assert_int_equal(ice_srtp_key_len(ICE_SRTP_AES_GCM_128), 28);
    assert_string_equal(ice_srtp_suite_name(ICE_SRTP_AES_GCM_128), "AEAD_AES_128_GCM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outgoing),   cmocka_unit_test(test_joined),
        cmocka_unit_test(test_peer_events), cmocka_unit_test(test_offer),
        cmocka_unit_test(test_bad_offers), cmocka_unit_test(test_too_many_candidates),
        cmocka_unit_test(test_done),       cmocka_unit_test(test_ids_and_keys),
    };
    return cmocka_run_group_tests_name("ice_msg", tests, NULL, NULL);
}
