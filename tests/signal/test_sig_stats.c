/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_stats.c: signal/sig_stats.c: connection outcomes reported with
 * {"type":"stats"}: counted by result, candidate types and relay transport,
 * the connect time histogram and the restarts; every malformed field
 * refused with bad-message; reports about unknown peers or oneself
 * refused; one report per pair and direction while both stay in the room
 * (again after the other rejoins); the per-connection rate; switched off
 * (clientStats false in joined, reports dropped); the reported pairs moved
 * by a live upgrade; and the metrics text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/signal/sig_fixture.h"

/* Two peers "a" and "b" in room "r"; the joins and peer-joined consumed. */
static void two(fx_t *fx, fx_conn_t **a, fx_conn_t **b)
{
    *a = fx_open(fx);
    *b = fx_open(fx);
    fx_say(fx, *a, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"a\"}");
    json_t *flag = json_object_get(fx_expect(*a, "joined"), "clientStats");
    assert_true(json_is_true(flag));
    fx_say(fx, *b, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"b\"}");
    fx_expect(*b, "joined");
    fx_expect(*a, "peer-joined");
}

static uint64_t conns(fx_t *fx, sig_result_t r, sig_cand_t l, sig_cand_t rm, sig_relay_t t)
{
    return sig_hub_client_stats(fx->h)->conns[r][l][rm][t];
}

static char *metrics(fx_t *fx)
{
    cmn_prom_t p;
    cmn_prom_init(&p);
    sig_hub_metrics(fx->h, &p);
    size_t len;
    return cmn_prom_take(&p, &len);
}

static void test_counted(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    two(fx, &a, &b);
    fx_say(fx, a, "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"relay\","
                  "\"remote\":\"srflx\",\"relay\":\"tcp\",\"seconds\":0.7,\"restarts\":2,"
                  "\"ref\":\"s\"}");
    assert_string_equal(fx_str(fx_expect(a, "ack"), "ref"), "s");
    fx_say(fx, b, "{\"type\":\"stats\",\"peer\":\"a\",\"result\":\"connected\",\"local\":\"srflx\","
                  "\"remote\":\"relay\",\"seconds\":12}");
    assert_true(fx_none(b)); /* no ref, no ack */
    fx_say(fx, b, "{\"type\":\"leave\"}");
    fx_expect(b, "left");
    fx_expect(a, "peer-left");
    fx_say(fx, b, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"b\"}");
    fx_expect(b, "joined");
    fx_expect(a, "peer-joined");
    fx_say(fx, a, "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"failed\",\"restarts\":1,"
                  "\"seconds\":30,\"future\":\"ignored\"}");
    assert_true(fx_none(a) && fx_none(b));

    assert_int_equal(conns(fx, SIG_RESULT_CONNECTED, SIG_CAND_RELAY, SIG_CAND_SRFLX,
                           SIG_RELAY_TCP), 1);
    assert_int_equal(conns(fx, SIG_RESULT_CONNECTED, SIG_CAND_SRFLX, SIG_CAND_RELAY,
                           SIG_RELAY_NONE), 1);
    assert_int_equal(conns(fx, SIG_RESULT_FAILED, SIG_CAND_NONE, SIG_CAND_NONE,
                           SIG_RELAY_NONE), 1);
    const sig_client_stats_t *s = sig_hub_client_stats(fx->h);
    assert_int_equal(s->restarts, 3);
    assert_int_equal(s->secs_count, 2); /* failed ones have no time to connected */
    assert_int_equal(s->secs[3], 1);    /* 0.7 s: in (0.5, 1] */
    assert_int_equal(s->secs[8], 1);    /* 12 s: in (10, 20] */
    assert_true(s->secs_sum > 12.69 && s->secs_sum < 12.71);

    char *m = metrics(fx);
    assert_non_null(strstr(m, "icehub_client_connections_total{result=\"connected\","
                              "local_type=\"relay\",remote_type=\"srflx\","
                              "relay_protocol=\"tcp\"} 1\n"));
    assert_non_null(strstr(m, "icehub_client_connections_total{result=\"failed\","
                              "local_type=\"none\",remote_type=\"none\","
                              "relay_protocol=\"none\"} 1\n"));
    assert_null(strstr(m, "local_type=\"host\""));     /* only the counted label sets */
    assert_non_null(strstr(m, "icehub_client_connect_seconds_bucket{le=\"1\"} 1\n"));
    assert_non_null(strstr(m, "icehub_client_connect_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(m, "icehub_client_connect_seconds_count 2\n"));
    assert_non_null(strstr(m, "icehub_client_ice_restarts_total 3\n"));
    assert_non_null(strstr(m, "icehub_signal_messages_total{type=\"stats\"} 3\n"));
    cmn_free(m);
}

static void test_malformed(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    two(fx, &a, &b);
    static const char *const bad[] = {
        "{\"type\":\"stats\",\"result\":\"failed\"}",
        "{\"type\":\"stats\",\"peer\":7,\"result\":\"failed\"}",
        "{\"type\":\"stats\",\"peer\":\"b c\",\"result\":\"failed\"}",
        "{\"type\":\"stats\",\"peer\":\"b\"}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"maybe\"}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":true}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"seconds\":1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"host\","
        "\"seconds\":1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"host\","
        "\"remote\":\"192.0.2.7\",\"seconds\":1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"none\","
        "\"remote\":\"host\",\"seconds\":1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"host\","
        "\"remote\":\"host\"}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"host\","
        "\"remote\":\"host\",\"seconds\":-1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"host\","
        "\"remote\":\"host\",\"seconds\":3600.5}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"host\","
        "\"remote\":\"host\",\"seconds\":\"1\"}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"relay\","
        "\"remote\":\"host\",\"seconds\":1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"host\","
        "\"remote\":\"relay\",\"relay\":\"udp\",\"seconds\":1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\",\"local\":\"relay\","
        "\"remote\":\"host\",\"relay\":\"sctp\",\"seconds\":1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"failed\",\"local\":\"host\"}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"failed\",\"restarts\":1.5}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"failed\",\"restarts\":-1}",
        "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"failed\",\"restarts\":1001}",
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        fx->now += 0.5; /* under the message rate */
        fx_say(fx, a, bad[i]);
        fx_expect_error(a, "bad-message");
    }
    fx_say(fx, a, "{\"type\":\"stats\",\"peer\":\"a\",\"result\":\"failed\",\"ref\":1}");
    assert_int_equal(json_integer_value(json_object_get(fx_expect_error(a, "unknown-peer"),
                                                        "ref")), 1);
    fx_say(fx, a, "{\"type\":\"stats\",\"peer\":\"zed\",\"result\":\"failed\"}");
    fx_expect_error(a, "unknown-peer");
    fx_conn_t *c = fx_open(fx);
    fx_say(fx, c, "{\"type\":\"stats\",\"peer\":\"a\",\"result\":\"failed\"}");
    fx_expect_error(c, "not-joined");
    const sig_client_stats_t *s = sig_hub_client_stats(fx->h);
    uint64_t n = 0;
    for (size_t i = 0; i < sizeof(s->conns) / sizeof(uint64_t); i++)
        n += (&s->conns[0][0][0][0])[i];
    assert_int_equal(n + s->dropped[0] + s->dropped[1] + s->dropped[2], 0);
    assert_true(fx_none(a) && fx_none(b) && fx_none(c));
}

static void test_once_per_pair(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    two(fx, &a, &b);
    const char *rep = "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"connected\","
                      "\"local\":\"host\",\"remote\":\"host\",\"seconds\":0.1,\"ref\":\"x\"}";
    for (int i = 0; i < 3; i++) {
        fx_say(fx, a, rep);
        fx_expect(a, "ack"); /* acked alike: a duplicate learns nothing */
    }
    const sig_client_stats_t *s = sig_hub_client_stats(fx->h);
    assert_int_equal(conns(fx, SIG_RESULT_CONNECTED, SIG_CAND_HOST, SIG_CAND_HOST,
                           SIG_RELAY_NONE), 1);
    assert_int_equal(s->dropped[SIG_STATS_DROP_DUPLICATE], 2);
    /* b's own view of the same pair is another connection end. */
    fx_say(fx, b, "{\"type\":\"stats\",\"peer\":\"a\",\"result\":\"connected\","
                  "\"local\":\"host\",\"remote\":\"host\",\"seconds\":0.1}");
    assert_int_equal(conns(fx, SIG_RESULT_CONNECTED, SIG_CAND_HOST, SIG_CAND_HOST,
                           SIG_RELAY_NONE), 2);
    /* While b is away (resumable) it is still the same connection. */
    fx_gone(fx, b);
    fx_say(fx, a, rep);
    fx_expect(a, "ack");
    assert_int_equal(s->dropped[SIG_STATS_DROP_DUPLICATE], 3);
    /* Once b's grace period is over, a new b is a new connection. */
    fx_tick(fx, 31);
    fx_expect(a, "peer-left");
    fx_conn_t *b2 = fx_open(fx);
    fx_say(fx, b2, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"b\"}");
    fx_expect(b2, "joined");
    fx_expect(a, "peer-joined");
    fx_say(fx, a, rep);
    fx_expect(a, "ack");
    assert_int_equal(conns(fx, SIG_RESULT_CONNECTED, SIG_CAND_HOST, SIG_CAND_HOST,
                           SIG_RELAY_NONE), 3);
    assert_int_equal(s->dropped[SIG_STATS_DROP_DUPLICATE], 3);
}

static void test_rate(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    two(fx, &a, &b);
    /* b leaves and joins again between a's reports: each is a new pair, so
     * only the rate (a burst of max_room_peers = 4, then one a second)
     * bounds them. */
    const char *rep = "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"failed\"}";
    const sig_client_stats_t *s = sig_hub_client_stats(fx->h);
    for (int i = 0; i < 6; i++) {
        fx_say(fx, a, rep);
        fx_say(fx, b, "{\"type\":\"leave\"}");
        fx_say(fx, b, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"b\"}");
    }
    assert_int_equal(conns(fx, SIG_RESULT_FAILED, SIG_CAND_NONE, SIG_CAND_NONE,
                           SIG_RELAY_NONE), 4);
    assert_int_equal(s->dropped[SIG_STATS_DROP_RATE], 2);
    fx_tick(fx, 1.0);
    fx_say(fx, a, rep);
    fx_say(fx, a, "{\"type\":\"ping\"}"); /* not the message rate: that is another bucket */
    assert_int_equal(conns(fx, SIG_RESULT_FAILED, SIG_CAND_NONE, SIG_CAND_NONE,
                           SIG_RELAY_NONE), 5);
}

static void test_disabled(void **state)
{
    (void)state;
    sig_cfg_t c;
    fx_default_cfg(&c);
    c.client_stats = false;
    fx_t *fx = fx_new_cfg(&c);
    fx_conn_t *a = fx_open(fx), *b = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"a\"}");
    json_t *flag = json_object_get(fx_expect(a, "joined"), "clientStats");
    assert_true(json_is_false(flag));
    fx_join(fx, b, "r");
    fx_say(fx, b, "{\"type\":\"stats\",\"peer\":\"a\",\"result\":\"failed\",\"ref\":2}");
    fx_expect(b, "ack");
    const sig_client_stats_t *s = sig_hub_client_stats(fx->h);
    assert_int_equal(s->dropped[SIG_STATS_DROP_DISABLED], 1);
    assert_int_equal(conns(fx, SIG_RESULT_FAILED, SIG_CAND_NONE, SIG_CAND_NONE,
                           SIG_RELAY_NONE), 0);
    /* Switched on by a reload: counted from then on. */
    c.client_stats = true;
    sig_hub_configure(fx->h, &c);
    fx_say(fx, b, "{\"type\":\"stats\",\"peer\":\"a\",\"result\":\"failed\"}");
    assert_int_equal(conns(fx, SIG_RESULT_FAILED, SIG_CAND_NONE, SIG_CAND_NONE,
                           SIG_RELAY_NONE), 1);
    void *st = fx;
    fx_teardown(&st);
}

/* A live upgrade moves which pairs were reported (sig_state.c's "reported"):
 * the new process does not count them again; what names nobody in the room
 * is dropped, and malformed lists are refused. */
static void test_upgrade_keeps_reports(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    two(fx, &a, &b);
    const char *tok_a = fx_str(a->msgs[0], "resume");
    char tok[64];
    snprintf(tok, sizeof(tok), "%s", tok_a);
    const char *rep = "{\"type\":\"stats\",\"peer\":\"b\",\"result\":\"failed\"}";
    fx_say(fx, a, rep);
    size_t len;
    char *text = sig_hub_export(fx->h, fx->now, &len);
    assert_non_null(strstr(text, "\"reported\":[\"b\"]"));

    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    fx_t *n = fx_new_cfg(&cfg);
    const char *why = "unset";
    assert_int_equal(sig_hub_import(n->h, text, len, n->now, &why), 0);
    cmn_free(text);
    fx_conn_t *a2 = fx_open(n), *b2 = fx_open(n);
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", tok);
    fx_say(n, a2, buf);
    fx_expect(a2, "resumed");
    fx_say(n, a2, rep);
    const sig_client_stats_t *s = sig_hub_client_stats(n->h);
    assert_int_equal(s->dropped[SIG_STATS_DROP_DUPLICATE], 1);
    (void)b2;
    void *st = n;
    fx_teardown(&st);

    static const struct {
        const char *reported, *why;
    } v[] = {
        {"[\"zed\"]", NULL},          /* nobody in the room: dropped */
        {"[\"b\",\"b\"]", "reported"}, {"[\"a\"]", "reported"}, {"[\"b c\"]", "reported"},
        {"\"b\"", "reported"}, {"[\"b\",\"c\",\"d\",\"e\"]", "reported"},
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(v); i++) {
        char in[600];
        snprintf(in, sizeof(in),
                 "{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":["
                 "{\"id\":\"a\",\"resume\":\"%s\",\"away_until\":1,\"queue\":[],"
                 "\"reported\":%s},{\"id\":\"b\",\"resume\":\"%s\",\"away_until\":1,"
                 "\"queue\":[]}]}]}",
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", v[i].reported,
                 "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
        n = fx_new_cfg(&cfg);
        int rc = sig_hub_import(n->h, in, strlen(in), 0, &why);
        if (v[i].why) {
            assert_int_equal(rc, CMN_EINVAL);
            assert_string_equal(why, v[i].why);
        } else {
            assert_int_equal(rc, 0);
            sig_peer_t *pa = sig__room_peer(sig__room_find(n->h, "r"), "a");
            assert_true(!pa->reported || pa->reported->n == 0);
        }
        st = n;
        fx_teardown(&st);
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(sig_result_name(SIG_RESULT_FAILED), "failed");
    assert_string_equal(sig_cand_name(SIG_CAND_PRFLX), "prflx");
    assert_string_equal(sig_cand_name(SIG_CAND_COUNT), "none");
    assert_string_equal(sig_relay_name(SIG_RELAY_TLS), "tls");
    assert_string_equal(sig_stats_drop_name(SIG_STATS_DROP_DUPLICATE), "duplicate");
    assert_string_equal(sig_type_name(SIG_T_STATS), "stats");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_malformed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_once_per_pair, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rate, fx_setup, fx_teardown),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test_setup_teardown(test_upgrade_keeps_reports, fx_setup, fx_teardown),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
