/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_route.c: signal/sig_route.c through the hub with fake ops:
 * every client message (join, signal, broadcast, leave, resume,
 * ice-servers, ping) and every error a message can cause, with "ref"
 * echoed in replies and errors; and a randomized run (valid messages,
 * mutated ones, drops, resumes, ticks) that checks the hub's counts stay
 * consistent (run under ASan by make test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/signal/sig_fixture.h"

static void test_join_and_peer_joined(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx), *b = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"r\",\"ref\":7}");
    json_t *j = fx_expect(a, "joined");
    assert_string_equal(fx_str(j, "room"), "r");
    const char *ida = fx_str(j, "id");
    assert_int_equal(strlen(ida), SIG_ID_LEN);
    assert_true(sig__id_ok(ida));
    assert_int_equal(json_array_size(json_object_get(j, "peers")), 0);
    assert_true(json_array_size(json_object_get(j, "iceServers")) >= 2);
    assert_int_equal(strlen(fx_str(j, "resume")), 32);
    assert_int_equal(json_integer_value(json_object_get(j, "resumeSeconds")), 30);
    assert_int_equal(json_integer_value(json_object_get(j, "ref")), 7);

    fx_say(fx, b, "{\"type\":\"join\",\"room\":\"r\",\"ref\":\"x\"}");
    j = fx_expect(b, "joined");
    const char *idb = fx_str(j, "id");
    assert_string_not_equal(ida, idb);
    json_t *peers = json_object_get(j, "peers");
    assert_int_equal(json_array_size(peers), 1);
    assert_string_equal(json_string_value(json_array_get(peers, 0)), ida);
    assert_string_equal(fx_str(j, "ref"), "x");
    j = fx_expect(a, "peer-joined");
    assert_string_equal(fx_str(j, "id"), idb);
    assert_null(json_object_get(j, "ref"));
    assert_true(fx_none(a) && fx_none(b));
}

static void test_join_with_chosen_peer_id(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx), *b = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"alice\"}");
    assert_string_equal(fx_str(fx_expect(a, "joined"), "id"), "alice");
    fx_say(fx, b, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"alice\"}");
    fx_expect_error(b, "already-joined");
    fx_say(fx, b, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"bad id!\"}");
    fx_expect_error(b, "bad-message");
    fx_say(fx, b, "{\"type\":\"join\",\"room\":\"r\",\"peer\":5}");
    fx_expect_error(b, "bad-message");
    /* The same id in another room is fine. */
    fx_say(fx, b, "{\"type\":\"join\",\"room\":\"s\",\"peer\":\"alice\"}");
    fx_expect(b, "joined");
}

static void test_join_errors(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"join\"}");
    fx_expect_error(a, "bad-room");
    fx_say(fx, a, "{\"type\":\"join\",\"room\":7,\"ref\":1}");
    assert_int_equal(json_integer_value(json_object_get(fx_expect_error(a, "bad-room"), "ref")),
                     1);
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"\"}");
    fx_expect_error(a, "bad-room");
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"a\\u0001b\"}");
    fx_expect_error(a, "bad-room");
    /* jansson refuses \u0000 outright. */
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"a\\u0000b\"}");
    fx_expect_error(a, "bad-message");
    char big[400];
    memset(big, 0, sizeof(big));
    strcpy(big, "{\"type\":\"join\",\"room\":\"");
    memset(big + strlen(big), 'x', SIG_ROOM_MAX + 1);
    strcat(big, "\"}");
    fx_say(fx, a, big);
    fx_expect_error(a, "bad-room");
    fx_join(fx, a, "ok");
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"other\"}");
    fx_expect_error(a, "already-joined");
}

static void test_room_full_and_too_many_rooms(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *c[6];
    for (int i = 0; i < 4; i++)
        fx_join(fx, c[i] = fx_open(fx), "full");
    c[4] = fx_open(fx);
    fx_say(fx, c[4], "{\"type\":\"join\",\"room\":\"full\",\"ref\":\"f\"}");
    assert_string_equal(fx_str(fx_expect_error(c[4], "room-full"), "ref"), "f");
    fx_join(fx, c[4], "two");
    c[5] = fx_open(fx);
    fx_join(fx, c[5], "three");
    fx_conn_t *d = fx_open(fx);
    fx_say(fx, d, "{\"type\":\"join\",\"room\":\"four\"}");
    fx_expect_error(d, "too-many-rooms");
    /* Existing rooms still take peers, and a room that empties frees a slot. */
    fx_say(fx, c[5], "{\"type\":\"leave\"}");
    fx_expect(c[5], "left");
    fx_join(fx, d, "four");
    assert_int_equal(fx->h->rooms.n, 3);
}

static void test_signal(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx), *b = fx_open(fx), *c = fx_open(fx);
    const char *ida = fx_join(fx, a, "r");
    const char *idb = fx_join(fx, b, "r");
    fx_join(fx, c, "r");
    fx_expect(a, "peer-joined");
    fx_expect(a, "peer-joined");
    fx_expect(b, "peer-joined");
    char buf[256];
    snprintf(buf, sizeof(buf),
             "{\"type\":\"signal\",\"to\":\"%s\",\"data\":{\"sdp\":\"v=0\",\"n\":[1,2]},"
             "\"ref\":3}", idb);
    fx_say(fx, a, buf);
    json_t *m = fx_expect(b, "signal");
    assert_string_equal(fx_str(m, "from"), ida);
    assert_string_equal(fx_str(json_object_get(m, "data"), "sdp"), "v=0");
    assert_null(json_object_get(m, "ref"));
    assert_null(json_object_get(m, "to"));
    assert_int_equal(json_integer_value(json_object_get(fx_expect(a, "ack"), "ref")), 3);
    assert_true(fx_none(c));
    /* Without a ref, no ack; any JSON value is data. */
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":null}", idb);
    fx_say(fx, a, buf);
    m = fx_expect(b, "signal");
    assert_true(json_is_null(json_object_get(m, "data")));
    assert_true(fx_none(a));
    /* Errors. */
    fx_say(fx, a, "{\"type\":\"signal\",\"to\":\"nobody\",\"data\":1,\"ref\":\"u\"}");
    assert_string_equal(fx_str(fx_expect_error(a, "unknown-peer"), "ref"), "u");
    fx_say(fx, a, "{\"type\":\"signal\",\"data\":1}");
    fx_expect_error(a, "bad-message");
    fx_say(fx, a, "{\"type\":\"signal\",\"to\":5,\"data\":1}");
    fx_expect_error(a, "bad-message");
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\"}", idb);
    fx_say(fx, a, buf);
    fx_expect_error(a, "bad-message");
    fx_conn_t *x = fx_open(fx);
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1}", idb);
    fx_say(fx, x, buf);
    fx_expect_error(x, "not-joined");
    assert_true(fx_none(b));
    /* A peer in another room is unknown. */
    const char *idx = fx_join(fx, x, "elsewhere");
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1}", idx);
    fx_say(fx, a, buf);
    fx_expect_error(a, "unknown-peer");
}

static void test_broadcast(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx), *b = fx_open(fx), *c = fx_open(fx);
    const char *ida = fx_join(fx, a, "r");
    fx_join(fx, b, "r");
    fx_join(fx, c, "r");
    fx_expect(a, "peer-joined");
    fx_expect(a, "peer-joined");
    fx_expect(b, "peer-joined");
    fx_say(fx, a, "{\"type\":\"broadcast\",\"data\":\"hi\",\"ref\":\"b\"}");
    assert_string_equal(fx_str(fx_expect(b, "broadcast"), "from"), ida);
    json_t *m = fx_expect(c, "broadcast");
    assert_string_equal(fx_str(m, "data"), "hi");
    assert_string_equal(fx_str(fx_expect(a, "ack"), "ref"), "b");
    assert_true(fx_none(a));
    fx_say(fx, a, "{\"type\":\"broadcast\"}");
    fx_expect_error(a, "bad-message");
    fx_conn_t *x = fx_open(fx);
    fx_say(fx, x, "{\"type\":\"broadcast\",\"data\":1}");
    fx_expect_error(x, "not-joined");
}

static void test_leave(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx), *b = fx_open(fx);
    fx_join(fx, a, "r");
    const char *idb = fx_join(fx, b, "r");
    fx_expect(a, "peer-joined");
    fx_say(fx, b, "{\"type\":\"leave\",\"ref\":9}");
    json_t *m = fx_expect(b, "left");
    assert_string_equal(fx_str(m, "room"), "r");
    assert_int_equal(json_integer_value(json_object_get(m, "ref")), 9);
    m = fx_expect(a, "peer-left");
    assert_string_equal(fx_str(m, "id"), idb);
    assert_string_equal(fx_str(m, "reason"), "leave");
    fx_say(fx, b, "{\"type\":\"leave\"}");
    fx_expect_error(b, "not-joined");
    /* After leaving, the connection may join again. */
    fx_join(fx, b, "r");
    fx_expect(a, "peer-joined");
    /* The last peer out removes the room. */
    fx_say(fx, a, "{\"type\":\"leave\"}");
    fx_say(fx, b, "{\"type\":\"leave\"}");
    assert_int_equal(fx->h->rooms.n, 0);
    assert_int_equal(fx->h->npeers, 0);
}

static void test_ping_and_ice_servers(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"ping\",\"ref\":\"p\"}");
    assert_string_equal(fx_str(fx_expect(a, "pong"), "ref"), "p");
    fx_say(fx, a, "{\"type\":\"ping\"}");
    assert_null(json_object_get(fx_expect(a, "pong"), "ref"));
    fx_say(fx, a, "{\"type\":\"ice-servers\",\"ref\":1.5}");
    json_t *m = fx_expect(a, "ice-servers");
    assert_int_equal(json_integer_value(json_object_get(m, "ttl")), 100);
    assert_true(json_array_size(json_object_get(m, "iceServers")) >= 2);
    assert_true(json_real_value(json_object_get(m, "ref")) == 1.5);
}

static void test_bad_messages(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    static const char *const bad[] = {
        "not json", "", "[1,2]", "\"join\"", "42", "{}", "{\"type\":5}",
        "{\"type\":\"nope\"}", "{\"type\":\"JOIN\",\"room\":\"r\"}",
        "{\"type\":\"ping\",\"ref\":{}}", "{\"type\":\"ping\",\"ref\":[1]}",
        "{\"type\":\"ping\",\"ref\":true}", "{\"type\":\"ping\",\"type\":\"ping\"}",
        "{\"type\":\"ping\"} trailing", "{\"type\":\"ping\"",
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        fx_say(fx, a, bad[i]);
        json_t *m = fx_expect_error(a, "bad-message");
        assert_null(json_object_get(m, "ref"));
    }
    /* Invalid UTF-8 (a lone continuation byte, an overlong '/'). */
    const char inv1[] = "{\"type\":\"join\",\"room\":\"\x80\"}";
    sig_conn_text(fx->h, a->c, inv1, sizeof(inv1) - 1, fx->now);
    fx_expect_error(a, "bad-message");
    const char inv2[] = "{\"type\":\"ping\",\"ref\":\"\xc0\xaf\"}";
    sig_conn_text(fx->h, a->c, inv2, sizeof(inv2) - 1, fx->now);
    fx_expect_error(a, "bad-message");
    /* An unknown type with a valid ref echoes it. */
    fx_say(fx, a, "{\"type\":\"nope\",\"ref\":\"r\"}");
    assert_string_equal(fx_str(fx_expect_error(a, "bad-message"), "ref"), "r");
    /* Deep nesting is refused by the parser, not by the stack. */
    char *deep = malloc(4001);
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    deep[4000] = 0;
    fx_say(fx, a, deep);
    free(deep);
    fx_expect_error(a, "bad-message");
    assert_int_equal(fx->h->msgs[SIG_T_INVALID], CMN_ARRAY_LEN(bad) + 4);
    assert_int_equal(a->close_code, 0);
}

static void test_binary_and_too_large(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    sig_conn_binary(fx->h, a->c, fx->now);
    fx_expect_error(a, "binary-unsupported");
    sig_conn_too_large(fx->h, a->c, fx->now);
    fx_expect_error(a, "too-large");
    char *big = malloc(5000);
    memset(big, ' ', 5000);
    memcpy(big, "{\"type\":\"ping\"}", 15);
    sig_conn_text(fx->h, a->c, big, 5000, fx->now);
    free(big);
    fx_expect_error(a, "too-large");
    /* max_message itself is fine. */
    big = malloc(4096);
    memset(big, ' ', 4096);
    memcpy(big, "{\"type\":\"ping\"}", 15);
    sig_conn_text(fx->h, a->c, big, 4096, fx->now);
    free(big);
    fx_expect(a, "pong");
}

static void test_tokens(void **state)
{
    fx_t *fx = *state;
    sig_cfg_t c = fx->cfg;
    c.require_token = true;
    sig_hub_configure(fx->h, &c);
    fx_conn_t *a = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"r\",\"ref\":1}");
    fx_expect_error(a, "token-required");
    char *good = sig_token_mint(&c, "r", NULL, fx->now + 60);
    char *bound = sig_token_mint(&c, "r", "bob", fx->now + 60);
    char *other = sig_token_mint(&c, "s", NULL, fx->now + 60);
    char *old = sig_token_mint(&c, "r", NULL, fx->now - 1);
    sig_cfg_t c2 = c;
    c2.token_secret = "another";
    char *forged = sig_token_mint(&c2, "r", NULL, fx->now + 60);
    char buf[1024];
    const char *bad[] = {other, old, forged, "garbage", "a.b", ""};
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++) {
        snprintf(buf, sizeof(buf), "{\"type\":\"join\",\"room\":\"r\",\"token\":\"%s\"}", bad[i]);
        fx_say(fx, a, buf);
        fx_expect_error(a, "bad-token");
    }
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"r\",\"token\":7}");
    fx_expect_error(a, "bad-message");
    snprintf(buf, sizeof(buf),
             "{\"type\":\"join\",\"room\":\"r\",\"token\":\"%s\",\"peer\":\"eve\"}", bound);
    fx_say(fx, a, buf);
    fx_expect_error(a, "bad-token");
    snprintf(buf, sizeof(buf), "{\"type\":\"join\",\"room\":\"r\",\"token\":\"%s\"}", bound);
    fx_say(fx, a, buf);
    assert_string_equal(fx_str(fx_expect(a, "joined"), "id"), "bob");
    fx_conn_t *b = fx_open(fx);
    snprintf(buf, sizeof(buf), "{\"type\":\"join\",\"room\":\"r\",\"token\":\"%s\"}", good);
    fx_say(fx, b, buf);
    fx_expect(b, "joined");
    /* Expired later: the same token no longer admits. */
    fx_conn_t *d = fx_open(fx);
    fx->now += 61;
    fx_say(fx, d, buf);
    fx_expect_error(d, "bad-token");
    free(good);
    free(bound);
    free(other);
    free(old);
    free(forged);
}

static void test_token_checked_even_when_optional(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"join\",\"room\":\"r\",\"token\":\"x.y\"}");
    fx_expect_error(a, "bad-token");
    char *t = sig_token_mint(&fx->cfg, "r", "carol", fx->now + 5);
    char buf[512];
    snprintf(buf, sizeof(buf), "{\"type\":\"join\",\"room\":\"r\",\"token\":\"%s\"}", t);
    free(t);
    fx_say(fx, a, buf);
    assert_string_equal(fx_str(fx_expect(a, "joined"), "id"), "carol");
}

static void test_resume_message_errors(void **state)
{
    fx_t *fx = *state;
    fx_conn_t *a = fx_open(fx);
    fx_say(fx, a, "{\"type\":\"resume\",\"ref\":2}");
    assert_int_equal(json_integer_value(json_object_get(fx_expect_error(a, "resume-failed"),
                                                        "ref")), 2);
    fx_say(fx, a, "{\"type\":\"resume\",\"token\":\"nope\"}");
    fx_expect_error(a, "resume-failed");
    fx_say(fx, a, "{\"type\":\"resume\",\"token\":5}");
    fx_expect_error(a, "resume-failed");
    fx_join(fx, a, "r");
    fx_say(fx, a, "{\"type\":\"resume\",\"token\":\"nope\"}");
    fx_expect_error(a, "already-joined");
    assert_int_equal(fx->h->resumes_failed, 3);
}


/* ---- Randomized ------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* The hub's counters agree with its rooms, peers and connections. */
static void check_consistent(fx_t *fx)
{
    sig_hub_t *h = fx->h;
    size_t away = 0, rooms = 0;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));) {
        sig_room_t *r = e->val;
        uint32_t n = 0;
        rooms++;
        assert_non_null(r->head);
        for (sig_peer_t *p = r->head; p; p = p->next) {
            n++;
            assert_ptr_equal(p->room, r);
            if (!p->conn)
                away++;
            else
                assert_ptr_equal(p->conn->peer, p);
            assert_ptr_equal(sig__map_get(&h->resumes, p->resume), p);
            assert_true(p->qlen <= h->cfg.resume_queue);
        }
        assert_int_equal(n, r->npeers);
    }
    assert_int_equal(rooms, h->rooms.n);
    size_t total = 0;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        total += ((sig_room_t *)e->val)->npeers;
    assert_int_equal(total, h->npeers);
    assert_int_equal(away, h->naway);
    assert_int_equal(h->resumes.n, h->npeers);
    size_t conns = 0;
    for (sig_conn_t *c = h->conns; c; c = c->next)
        conns++;
    assert_int_equal(conns, h->nconns);
}

/* One message of a random type with random small values. */
static int random_message(char *msg, size_t cap)
{
    uint32_t a = rnd(6), b = rnd(6);
    switch (rnd(8)) {
    case 0: return snprintf(msg, cap, "{\"type\":\"join\",\"room\":\"r%u\",\"ref\":%u}", a, b);
    case 1: return snprintf(msg, cap, "{\"type\":\"join\",\"room\":\"r%u\",\"peer\":\"p%u\"}", a, b);
    case 2:
        return snprintf(msg, cap, "{\"type\":\"signal\",\"to\":\"p%u\",\"data\":{\"n\":%u},\"ref\":\"s\"}",
                        a, b);
    case 3: return snprintf(msg, cap, "{\"type\":\"broadcast\",\"data\":[%u,%u]}", a, b);
    case 4: return snprintf(msg, cap, "{\"type\":\"leave\",\"ref\":%u%u}", a, b);
    case 5: return snprintf(msg, cap, "{\"type\":\"resume\",\"token\":\"%u%u\"}", a, b);
    case 6: return snprintf(msg, cap, "{\"type\":\"ice-servers\",\"ref\":%u.%u}", a, b);
    default: return snprintf(msg, cap, "{\"type\":\"ping\",\"ref\":\"%u-%u\"}", a, b);
    }
}

static void test_randomized(void **state)
{
    fx_t *fx = *state;
    sig_cfg_t c = fx->cfg;
    c.rate = 1000000;
    c.burst = 1000000;
    c.max_rooms = 4;
    sig_hub_configure(fx->h, &c);
    fx_conn_t *live[16] = {0};
    char msg[512];
    for (int step = 0; step < 20000; step++) {
        uint32_t k = rnd(16);
        if (!live[k] || !live[k]->c) {
            if (fx->nconns >= FX_MAX_CONNS)
                continue;
            live[k] = fx_open(fx);
            continue;
        }
        fx_conn_t *fc = live[k];
        uint32_t what = rnd(100);
        if (what < 2) {
            fx_gone(fx, fc);
            continue;
        }
        if (what < 4) {
            fx_tick(fx, rnd(40));
            check_consistent(fx);
            continue;
        }
        if (what < 8) {
            /* Resume with a token some peer really holds. */
            sig_peer_t *p = fx->h->away;
            if (p) {
                snprintf(msg, sizeof(msg), "{\"type\":\"resume\",\"token\":\"%s\"}",
                         p->resume);
                fx_say(fx, fc, msg);
            }
            continue;
        }
        int n = random_message(msg, sizeof(msg));
        if (what < 40) {
            /* Mutate: flip bytes, cut, or splice garbage. */
            int m = 1 + (int)rnd(4);
            for (int i = 0; i < m; i++)
                msg[rnd((uint32_t)n)] = (char)rnd(256);
            if (rnd(2))
                n = (int)rnd((uint32_t)n + 1);
        }
        sig_conn_text(fx->h, fc->c, msg, (size_t)n, fx->now);
        if (fc->close_code && fc->c)
            fx_gone(fx, fc);
        /* Forget what was received: only the hub's state is checked. */
        for (size_t i = 0; i < FX_MAX_CONNS; i++) {
            fx_conn_t *x = &fx->conns[i];
            for (size_t j = 0; j < x->n; j++)
                json_decref(x->msgs[j]);
            x->n = x->read = 0;
        }
        if (step % 500 == 0)
            check_consistent(fx);
    }
    check_consistent(fx);
    sig_hub_t *h = fx->h;
    /* The run did reach every path that matters. */
    assert_true(h->msgs[SIG_T_JOIN] > 100 && h->relayed > 100 && h->resumes_ok > 10);
    assert_true(h->errors[SIG_E_BAD_MESSAGE] > 100 && h->expired > 0 && h->queued > 0);
    assert_true(h->left[SIG_LEFT_TIMEOUT] > 0 && h->left[SIG_LEFT_LEAVE] > 0);
    fx_tick(fx, 1000);
    check_consistent(fx);
    assert_int_equal(h->naway, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_join_and_peer_joined, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_join_with_chosen_peer_id, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_join_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_room_full_and_too_many_rooms, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_signal, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_leave, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ping_and_ice_servers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_messages, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_binary_and_too_large, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tokens, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_checked_even_when_optional, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_resume_message_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_randomized, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_sig_route", tests, NULL, NULL);
}
