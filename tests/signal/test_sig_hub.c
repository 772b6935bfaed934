/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_hub.c: signal/sig_hub.c with fake ops and a fake clock: the
 * rate limit and its refill, the 1008 close after repeated errors,
 * admission (Origin rules, per-IP limit, draining, disabled), a dropped
 * socket's grace period, resume with queued delivery in order, expiry with
 * undelivered notices and peer-left "timeout", full queues, takeover of a
 * live peer, resume_seconds 0, credential refresh pushes, drain and
 * close_all, counters and the metrics text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/signal/sig_fixture.h"

static void test_rate_limit_and_refill(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    for (int i = 0; i < 20; i++) {
        fx_say(fx, a, "{\"type\":\"ping\"}");
        fx_expect(a, "pong");
    }
    fx_say(fx, a, "{\"type\":\"ping\",\"ref\":1}");
    json_t *m = fx_expect_error(a, "rate-limited");
    assert_null(json_object_get(m, "ref")); /* dropped unread */
    sig_conn_binary(fx->h, a->c, fx->now);
    fx_expect_error(a, "rate-limited");
    /* 10 per second refill: after 0.5 s, five more. */
    fx->now += 0.5;
    for (int i = 0; i < 5; i++) {
        fx_say(fx, a, "{\"type\":\"ping\"}");
        fx_expect(a, "pong");
    }
    fx_say(fx, a, "{\"type\":\"ping\"}");
    fx_expect_error(a, "rate-limited");
    /* The bucket never holds more than the burst. */
    fx->now += 1000;
    for (int i = 0; i < 20; i++) {
        fx_say(fx, a, "{\"type\":\"ping\"}");
        fx_expect(a, "pong");
    }
    fx_say(fx, a, "{\"type\":\"ping\"}");
    fx_expect_error(a, "rate-limited");
    assert_int_equal(fx->h->errors[SIG_E_RATE_LIMITED], 4);
    assert_int_equal(a->close_code, 0);
}

static void test_abuse_closes_1008(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    for (int i = 0; i < SIG_ABUSE_MAX; i++) {
        fx->now += 0.1; /* one token back each time: never rate limited */
        fx_say(fx, a, "garbage");
        fx_expect_error(a, "bad-message");
    }
    assert_int_equal(a->close_code, 0);
    fx->now += 0.1;
    fx_say(fx, a, "garbage");
    fx_expect_error(a, "bad-message");
    assert_int_equal(a->close_code, SIG_CLOSE_POLICY);
    assert_int_equal(fx->h->closes_abuse, 1);
    /* Nothing more is read or sent on a closing connection. */
    fx_say(fx, a, "{\"type\":\"ping\"}");
    assert_true(fx_none(a));
    fx_gone(fx, a);
    assert_int_equal(sig_hub_nconns(fx->h), 0);
}

static void test_abuse_window_resets(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < SIG_ABUSE_MAX - 1; i++) {
            fx->now += 0.1;
            fx_say(fx, a, "garbage");
            fx_expect_error(a, "bad-message");
        }
        fx->now += SIG_ABUSE_WINDOW;
    }
    assert_int_equal(a->close_code, 0);
}

static void test_origin_rules(void **state)
{
    fx_t *fx = *state;
    sig_cfg_t c = fx->cfg;
    /* Same origin only. */
    assert_true(sig_origin_allowed(&c, "", "h:8080"));
    assert_true(sig_origin_allowed(&c, NULL, "h:8080"));
    assert_true(sig_origin_allowed(&c, "http://h:8080", "h:8080"));
    assert_true(sig_origin_allowed(&c, "http://H:8080", "h:8080"));
    assert_true(sig_origin_allowed(&c, "http://h", "h:80"));
    assert_true(sig_origin_allowed(&c, "https://h", "h:443"));
    assert_true(sig_origin_allowed(&c, "https://h:443", "h"));
    assert_true(sig_origin_allowed(&c, "http://[::1]:8080", "[::1]:8080"));
    assert_false(sig_origin_allowed(&c, "http://h:8081", "h:8080"));
    assert_false(sig_origin_allowed(&c, "http://evil.example", "h:8080"));
    assert_false(sig_origin_allowed(&c, "http://h:8080", ""));
    assert_false(sig_origin_allowed(&c, "null", "h:8080"));
    assert_false(sig_origin_allowed(&c, "h:8080", "h:8080"));
    assert_false(sig_origin_allowed(&c, "http://h.evil:8080", "h:8080"));
    /* A list. */
    char *list[] = {"https://app.example.com", "HTTP://Other.Example:9000"};
    c.allowed_origins.v = list;
    c.allowed_origins.n = 2;
    assert_true(sig_origin_allowed(&c, "https://app.example.com", "hub:8080"));
    assert_true(sig_origin_allowed(&c, "http://other.example:9000", "hub:8080"));
    assert_false(sig_origin_allowed(&c, "https://app.example.com:444", "hub:8080"));
    assert_true(sig_origin_allowed(&c, "http://hub:8080", "hub:8080"));
    char *any[] = {"*"};
    c.allowed_origins.v = any;
    c.allowed_origins.n = 1;
    assert_true(sig_origin_allowed(&c, "http://anything", "hub:8080"));
    assert_true(sig_origin_allowed(&c, "null", "hub:8080"));
}

static void test_admit(void **state)
{
    fx_t *fx = *state;
    sig_refuse_t why;
    assert_int_equal(sig_hub_admit(fx->h, "198.51.100.1", "http://evil", "h:1", &why),
                     CMN_ELIMIT);
    assert_int_equal(why, SIG_REFUSE_ORIGIN);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sig_hub_admit(fx->h, "198.51.100.1", "", "h:1", &why), 0);
        fx_open_ip(fx, "198.51.100.1");
    }
    assert_int_equal(sig_hub_admit(fx->h, "198.51.100.1", "", "h:1", &why), CMN_ELIMIT);
    assert_int_equal(why, SIG_REFUSE_PER_IP);
    assert_int_equal(sig_hub_admit(fx->h, "198.51.100.2", "", "h:1", &why), 0);
    fx_gone(fx, &fx->conns[0]);
    assert_int_equal(sig_hub_admit(fx->h, "198.51.100.1", "", "h:1", &why), 0);
    sig_hub_drain(fx->h);
    assert_true(sig_hub_draining(fx->h));
    assert_int_equal(sig_hub_admit(fx->h, "198.51.100.3", "", "h:1", &why), CMN_ELIMIT);
    assert_int_equal(why, SIG_REFUSE_DRAINING);
    sig_cfg_t c = fx->cfg;
    c.enabled = false;
    sig_hub_configure(fx->h, &c);
    assert_int_equal(sig_hub_admit(fx->h, "198.51.100.3", "", "h:1", &why), CMN_ELIMIT);
    assert_int_equal(why, SIG_REFUSE_NOT_FOUND);
    sig_hub_refused(fx->h, SIG_REFUSE_NOT_FOUND);
    assert_int_equal(fx->h->refused[SIG_REFUSE_ORIGIN], 1);
    assert_int_equal(fx->h->refused[SIG_REFUSE_PER_IP], 1);
    assert_int_equal(fx->h->refused[SIG_REFUSE_DRAINING], 1);
    assert_int_equal(fx->h->refused[SIG_REFUSE_NOT_FOUND], 2);
}

/* Two peers in "r"; returns their ids through <ida>/<idb>. */
static void pair(fx_t *fx, fx_conn_t **a, fx_conn_t **b, const char **ida, const char **idb)
{
    *a = fx_open(fx);
    *b = fx_open(fx);
    *ida = fx_join(fx, *a, "r");
    *idb = fx_join(fx, *b, "r");
    fx_expect(*a, "peer-joined");
}

static const char *resume_token(fx_conn_t *fc)
{
    /* The last joined/resumed message's token. */
    for (size_t i = fc->n; i-- > 0;) {
        json_t *r = json_object_get(fc->msgs[i], "resume");
        if (r)
            return json_string_value(r);
    }
    fail_msg("no resume token");
    return NULL;
}

static void test_resume_delivers_queue_in_order(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    const char *rt = resume_token(b);
    fx_gone(fx, b);
    assert_int_equal(fx->h->naway, 1);
    assert_true(fx_none(a)); /* nobody hears of the drop yet */
    char buf[256];
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":%d,\"ref\":%d}",
                 idb, i, i);
        fx_say(fx, a, buf);
        fx_expect(a, "ack"); /* queued counts as delivered */
    }
    fx_say(fx, a, "{\"type\":\"broadcast\",\"data\":\"all\"}");
    fx_tick(fx, 29);
    fx_conn_t *b2 = fx_open(fx);
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\",\"ref\":\"R\"}", rt);
    fx_say(fx, b2, buf);
    json_t *m = fx_expect(b2, "resumed");
    assert_string_equal(fx_str(m, "id"), idb);
    assert_string_equal(fx_str(m, "room"), "r");
    assert_string_equal(fx_str(m, "ref"), "R");
    assert_string_equal(json_string_value(json_array_get(json_object_get(m, "peers"), 0)), ida);
    assert_true(json_array_size(json_object_get(m, "iceServers")) >= 2);
    const char *rt2 = fx_str(m, "resume");
    assert_string_not_equal(rt, rt2);
    for (int i = 0; i < 3; i++) {
        m = fx_expect(b2, "signal");
        assert_int_equal(json_integer_value(json_object_get(m, "data")), i);
        assert_string_equal(fx_str(m, "from"), ida);
    }
    assert_string_equal(fx_str(fx_expect(b2, "broadcast"), "data"), "all");
    assert_true(fx_none(b2));
    assert_true(fx_none(a));
    assert_int_equal(fx->h->naway, 0);
    assert_int_equal(fx->h->resumes_ok, 1);
    /* Live again: direct delivery; the old token is spent. */
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":9}", idb);
    fx_say(fx, a, buf);
    fx_expect(b2, "signal");
    fx_conn_t *x = fx_open(fx);
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", rt);
    fx_say(fx, x, buf);
    fx_expect_error(x, "resume-failed");
    /* The grace period that was running is over: no expiry later (and
     * the first credential refresh is not due before 80 s). */
    fx_tick(fx, 40);
    assert_true(fx_none(a));
}

static void test_expiry_tells_senders_and_room(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b, *c = NULL;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    c = fx_open(fx);
    fx_join(fx, c, "r");
    fx_expect(a, "peer-joined");
    fx_expect(b, "peer-joined");
    const char *rt = resume_token(b);
    fx_gone(fx, b);
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1,\"ref\":\"q1\"}",
             idb);
    fx_say(fx, a, buf);
    fx_expect(a, "ack");
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":2}", idb);
    fx_say(fx, c, buf);
    fx_tick(fx, 29.5);
    assert_true(fx_none(a));
    fx_tick(fx, 1);
    json_t *m = fx_expect_error(a, "undelivered");
    assert_string_equal(fx_str(m, "to"), idb);
    assert_string_equal(fx_str(m, "ref"), "q1");
    m = fx_expect(a, "peer-left");
    assert_string_equal(fx_str(m, "id"), idb);
    assert_string_equal(fx_str(m, "reason"), "timeout");
    m = fx_expect_error(c, "undelivered");
    assert_null(json_object_get(m, "ref"));
    fx_expect(c, "peer-left");
    assert_int_equal(fx->h->expired, 2);
    assert_int_equal(fx->h->left[SIG_LEFT_TIMEOUT], 1);
    /* Too late to resume. */
    fx_conn_t *b2 = fx_open(fx);
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", rt);
    fx_say(fx, b2, buf);
    fx_expect_error(b2, "resume-failed");
}

static void test_full_queue_undelivered_at_once(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    fx_gone(fx, b);
    char buf[256];
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":%d}", idb, i);
        fx_say(fx, a, buf);
    }
    assert_true(fx_none(a));
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":5,\"ref\":5}", idb);
    fx_say(fx, a, buf);
    json_t *m = fx_expect_error(a, "undelivered");
    assert_string_equal(fx_str(m, "to"), idb);
    assert_int_equal(json_integer_value(json_object_get(m, "ref")), 5);
    assert_true(fx_none(a)); /* no ack for it */
    fx_say(fx, a, "{\"type\":\"broadcast\",\"data\":6,\"ref\":6}");
    fx_expect_error(a, "undelivered");
    fx_expect(a, "ack");
}

static void test_away_sender_gets_notice_queued(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    const char *rta = resume_token(a);
    fx_gone(fx, b);
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1,\"ref\":1}", idb);
    fx_say(fx, a, buf);
    fx_expect(a, "ack");
    fx_tick(fx, 10);
    fx_gone(fx, a); /* a is away too when b expires */
    fx_tick(fx, 21);
    fx_conn_t *a2 = fx_open(fx);
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", rta);
    fx_say(fx, a2, buf);
    json_t *m = fx_expect(a2, "resumed");
    assert_int_equal(json_array_size(json_object_get(m, "peers")), 0);
    fx_expect_error(a2, "undelivered");
    fx_expect(a2, "peer-left");
}

static void test_takeover_of_live_peer(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    fx_conn_t *b2 = fx_open(fx);
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", resume_token(b));
    fx_say(fx, b2, buf);
    fx_expect(b2, "resumed");
    assert_int_equal(b->close_code, SIG_CLOSE_NORMAL);
    fx_gone(fx, b); /* the old socket's close changes nothing */
    assert_int_equal(fx->h->naway, 0);
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1}", idb);
    fx_say(fx, a, buf);
    fx_expect(b2, "signal");
    assert_true(fx_none(a));
}

/* Found by fuzz_signal: a peer whose socket the hub had closed (1008 for
 * abuse) could be resumed before the glue reported the socket gone; the
 * takeover closed that socket a second time and the peer stayed, although
 * a peer the server closed cannot resume (docs/signaling.md). */
static void test_no_takeover_of_closed_peer(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    for (int i = 0; i <= SIG_ABUSE_MAX; i++) {
        fx->now += 0.1;
        sig_conn_binary(fx->h, b->c, fx->now);
        fx_expect_error(b, "binary-unsupported");
    }
    assert_int_equal(b->close_code, SIG_CLOSE_POLICY);
    fx_conn_t *b2 = fx_open(fx);
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\",\"ref\":1}",
             resume_token(b));
    fx_say(fx, b2, buf);
    fx_expect_error(b2, "resume-failed");
    assert_null(b2->c->peer);
    assert_int_equal(fx->h->resumes_failed, 1);
    fx_gone(fx, b); /* fx_close checked it was closed once */
    json_t *m = fx_expect(a, "peer-left");
    assert_string_equal(fx_str(m, "id"), idb);
    assert_string_equal(fx_str(m, "reason"), "closed");
    assert_int_equal(fx->h->npeers, 1);
}

static void test_no_resume_means_closed_at_once(void **state)
{
    fx_t *fx = *state;
    sig_cfg_t c = fx->cfg;
    c.resume_seconds = 0;
    sig_hub_configure(fx->h, &c);
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    assert_int_equal(json_integer_value(json_object_get(b->msgs[0], "resumeSeconds")), 0);
    fx_gone(fx, b);
    json_t *m = fx_expect(a, "peer-left");
    assert_string_equal(fx_str(m, "id"), idb);
    assert_string_equal(fx_str(m, "reason"), "closed");
    fx_gone(fx, a);
    assert_int_equal(fx->h->rooms.n, 0);
    assert_int_equal(fx->h->npeers, 0);
}

static void test_credential_refresh(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx), *idle = fx_open(fx);
    fx_join(fx, a, "r");
    fx_tick(fx, 79);
    assert_true(fx_none(a));
    fx_tick(fx, 1);
    json_t *m = fx_expect(a, "ice-servers");
    assert_null(json_object_get(m, "ref"));
    json_t *turn = json_array_get(json_object_get(m, "iceServers"), 1);
    char want[64];
    snprintf(want, sizeof(want), "%lld:", (long long)fx->now + 100);
    assert_memory_equal(fx_str(turn, "username"), want, strlen(want));
    fx_tick(fx, 79);
    assert_true(fx_none(a));
    fx_tick(fx, 1);
    fx_expect(a, "ice-servers");
    assert_true(fx_none(idle)); /* never got iceServers, never gets a push */
    /* Asking resets the schedule; leaving stops it. */
    fx_say(fx, a, "{\"type\":\"ice-servers\"}");
    fx_expect(a, "ice-servers");
    fx_tick(fx, 50);
    fx_say(fx, a, "{\"type\":\"leave\"}");
    fx_expect(a, "left");
    fx_tick(fx, 100);
    assert_true(fx_none(a));
    assert_int_equal(fx->h->refreshes, 2);
}

static void test_drain(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    fx_conn_t *c = fx_open(fx);
    sig_hub_drain(fx->h);
    fx_say(fx, c, "{\"type\":\"join\",\"room\":\"r\",\"ref\":1}");
    fx_expect_error(c, "draining");
    fx_say(fx, c, "{\"type\":\"resume\",\"token\":\"x\"}");
    fx_expect_error(c, "draining");
    /* Peers already in keep talking. */
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1}", idb);
    fx_say(fx, a, buf);
    fx_expect(b, "signal");
    sig_hub_close_all(fx->h, SIG_CLOSE_GOING_AWAY, "bye");
    assert_int_equal(a->close_code, SIG_CLOSE_GOING_AWAY);
    assert_int_equal(b->close_code, SIG_CLOSE_GOING_AWAY);
    assert_int_equal(c->close_code, SIG_CLOSE_GOING_AWAY);
    assert_string_equal(a->close_reason, "bye");
    sig_hub_close_all(fx->h, SIG_CLOSE_GOING_AWAY, "again"); /* closes once */
    fx_gone(fx, a);
    fx_gone(fx, b);
    fx_gone(fx, c);
    assert_int_equal(fx->h->npeers, 0);
    assert_int_equal(fx->h->naway, 0);
    assert_int_equal(sig_hub_nconns(fx->h), 0);
}

static void test_free_with_everything_alive(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    fx_gone(fx, b);
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1,\"ref\":2}", idb);
    fx_say(fx, a, buf);
    fx_join(fx, fx_open(fx), "s");
    /* fx_teardown frees the hub with rooms, an away peer and its queue. */
}

static void test_metrics(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a, *b;
    const char *ida, *idb;
    pair(fx, &a, &b, &ida, &idb);
    fx_gone(fx, b);
    fx_say(fx, a, "nope");
    sig_hub_refused(fx->h, SIG_REFUSE_ORIGIN);
    sig_hub_observe_delivery(fx->h, 0.00002);   /* first bucket */
    sig_hub_observe_delivery(fx->h, 0.00003);   /* 50 us */
    sig_hub_observe_delivery(fx->h, 0.0003);    /* 500 us */
    sig_hub_observe_delivery(fx->h, 5.0);       /* +Inf */
    sig_hub_observe_delivery(fx->h, -1.0);      /* clock step: counted as 0 */
    cmn_prom_t p;
    cmn_prom_init(&p);
    sig_hub_metrics(fx->h, &p);
    const char *want[] = {
        "icehub_signal_connections 1\n",
        "icehub_signal_connections_total 2\n",
        "icehub_signal_rooms 1\n",
        "icehub_signal_peers{state=\"present\"} 1\n",
        "icehub_signal_peers{state=\"away\"} 1\n",
        "icehub_signal_messages_total{type=\"join\"} 2\n",
        "icehub_signal_messages_total{type=\"invalid\"} 1\n",
        "icehub_signal_errors_total{code=\"bad-message\"} 1\n",
        "icehub_signal_errors_total{code=\"internal\"} 0\n",
        "icehub_signal_resumes_total{result=\"success\"} 0\n",
        "icehub_signal_upgrades_refused_total{reason=\"origin\"} 1\n",
        "icehub_signal_peers_left_total{reason=\"timeout\"} 0\n",
        "# TYPE icehub_signal_relayed_messages_total counter\n",
        "icehub_signal_abuse_closes_total 0\n",
        "# TYPE icehub_signal_delivery_seconds histogram\n",
        "icehub_signal_delivery_seconds_bucket{le=\"2.5e-05\"} 2\n",
        "icehub_signal_delivery_seconds_bucket{le=\"5e-05\"} 3\n",
        "icehub_signal_delivery_seconds_bucket{le=\"0.00025\"} 3\n",
        "icehub_signal_delivery_seconds_bucket{le=\"0.0005\"} 4\n",
        "icehub_signal_delivery_seconds_bucket{le=\"1\"} 4\n",
        "icehub_signal_delivery_seconds_bucket{le=\"+Inf\"} 5\n",
        "icehub_signal_delivery_seconds_count 5\n",
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(want); i++)
        if (!strstr(p.buf, want[i]))
            fail_msg("metrics lack %s in:\n%s", want[i], p.buf);
    cmn_prom_dispose(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rate_limit_and_refill, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abuse_closes_1008, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abuse_window_resets, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_origin_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_admit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_resume_delivers_queue_in_order, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_tells_senders_and_room, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_undelivered_at_once, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_away_sender_gets_notice_queued, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_takeover_of_live_peer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_takeover_of_closed_peer, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_resume_means_closed_at_once, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_credential_refresh, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_drain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_free_with_everything_alive, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_metrics, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_sig_hub", tests, NULL, NULL);
}
