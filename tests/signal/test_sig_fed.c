/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_fed.c: rooms across nodes (signal/sig_fed.c, sig_fed_move.c):
 * three hubs federated through the model of tests/signal/fed_fixture.h,
 * each scenario under the three interleavings of command answers and
 * channel messages. Joins, peer lists and peer-joined across nodes,
 * signals and broadcasts in order, room size and peer ids cluster-wide,
 * leave, undelivered from a remote node, resume on another node with the
 * queue and messages in flight, a dead node's peers announced left, the
 * link down (local service, undelivered) and back (resync, conflicts),
 * bad cluster messages, stats reports about peers on other nodes (one per
 * pair, kept across a move, forgotten when the peer leaves), the director
 * with signal.ice_servers, and a node's live upgrade (its rooms exported
 * with the other nodes' members).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fed_fixture.h"

static const int policies[] = {SIM_REPLIES_FIRST, SIM_MESSAGES_FIRST, SIM_ALTERNATE};

static size_t npeers(json_t *joined)
{
    return json_array_size(json_object_get(joined, "peers"));
}

static const char *peer_at(json_t *joined, size_t i)
{
    return json_string_value(json_array_get(json_object_get(joined, "peers"), i));
}

static void send_signal(sim_t *s, int node, fx_conn_t *fc, const char *to, int n)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":{\"n\":%d}}", to, n);
    sim_say(s, node, fc, buf);
}

static void expect_signal(fx_conn_t *fc, const char *from, int n)
{
    json_t *m = fx_expect(fc, "signal");
    assert_string_equal(fx_str(m, "from"), from);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "data"), "n")), n);
}

static void test_join_relay_leave(void **state)
{
    (void)state;
    for (size_t pi = 0; pi < 3; pi++) {
        sim_t *s = sim_new(policies[pi]);
        fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1), *c = sim_open(s, 2);
        json_t *ja = sim_join(s, 0, a, "r", "alice");
        assert_int_equal(npeers(ja), 0);
        json_t *jb = sim_join(s, 1, b, "r", "bob");
        assert_int_equal(npeers(jb), 1);
        assert_string_equal(peer_at(jb, 0), "alice");
        assert_string_equal(fx_str(fx_expect(a, "peer-joined"), "id"), "bob");
        json_t *jc = sim_join(s, 2, c, "r", "carol");
        assert_string_equal(peer_at(jc, 0), "alice");
        assert_string_equal(peer_at(jc, 1), "bob");
        assert_string_equal(fx_str(fx_expect(a, "peer-joined"), "id"), "carol");
        assert_string_equal(fx_str(fx_expect(b, "peer-joined"), "id"), "carol");
        /* A directed signal reaches the other node only, in order, with
         * an ack for the ref. */
        for (int i = 0; i < 5; i++)
            send_signal(s, 0, a, "bob", i);
        sim_say(s, 0, a, "{\"type\":\"signal\",\"to\":\"bob\",\"data\":1,\"ref\":\"x\"}");
        for (int i = 0; i < 5; i++)
            expect_signal(b, "alice", i);
        fx_expect(b, "signal");
        assert_string_equal(fx_str(fx_expect(a, "ack"), "ref"), "x");
        assert_true(fx_none(c));
        /* An unknown peer is known to be unknown on every node. */
        sim_say(s, 1, b, "{\"type\":\"signal\",\"to\":\"nobody\",\"data\":1}");
        fx_expect_error(b, "unknown-peer");
        /* A broadcast reaches every node's peers, once. */
        sim_say(s, 2, c, "{\"type\":\"broadcast\",\"data\":{\"hi\":1}}");
        assert_string_equal(fx_str(fx_expect(a, "broadcast"), "from"), "carol");
        assert_string_equal(fx_str(fx_expect(b, "broadcast"), "from"), "carol");
        assert_true(fx_none(a) && fx_none(b) && fx_none(c));
        /* leave, and a closed socket (resume off for it: gone at once). */
        sim_say(s, 1, b, "{\"type\":\"leave\"}");
        fx_expect(b, "left");
        json_t *l = fx_expect(a, "peer-left");
        assert_string_equal(fx_str(l, "id"), "bob");
        assert_string_equal(fx_str(l, "reason"), "leave");
        l = fx_expect(c, "peer-left");
        assert_string_equal(fx_str(l, "reason"), "leave");
        /* The node with no peer left in the room unsubscribed. */
        assert_int_equal(s->n[1].nsubs, 0);
        assert_true(fx_none(a) && fx_none(c));
        sim_free(s);
    }
}

static void test_limits_cluster_wide(void **state)
{
    (void)state;
    for (size_t pi = 0; pi < 3; pi++) {
        sig_cfg_t cfg;
        fx_default_cfg(&cfg);
        cfg.max_room_peers = 2;
        sim_t *s = sim_new_cfg(&cfg, policies[pi]);
        fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1), *c = sim_open(s, 2);
        sim_join(s, 0, a, "r", "alice");
        /* The same id on another node is taken. */
        sim_say(s, 1, b, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"alice\"}");
        fx_expect_error(b, "already-joined");
        sim_join(s, 1, b, "r", "bob");
        fx_expect(a, "peer-joined");
        /* Two members on two nodes fill the room for the third node. */
        sim_say(s, 2, c, "{\"type\":\"join\",\"room\":\"r\",\"peer\":\"carol\",\"ref\":9}");
        json_t *e = fx_expect_error(c, "room-full");
        assert_int_equal(json_integer_value(json_object_get(e, "ref")), 9);
        assert_true(fx_none(a) && fx_none(b));
        /* The failed join left nothing behind: the room is not node2's. */
        assert_int_equal(s->n[2].nsubs, 0);
        sim_free(s);
    }
}

static void test_resume_on_another_node(void **state)
{
    (void)state;
    for (size_t pi = 0; pi < 3; pi++) {
        sim_t *s = sim_new(policies[pi]);
        fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1);
        json_t *ja = sim_join(s, 0, a, "r", "alice");
        char token[SIG_TOKEN_MAX + 1];
        snprintf(token, sizeof(token), "%s", fx_str(ja, "resume"));
        assert_memory_equal(token, "node0.", 6);
        sim_join(s, 1, b, "r", "bob");
        fx_expect(a, "peer-joined");
        /* alice's socket drops: she is away on node0, her messages queue. */
        sim_gone(s, 0, a);
        for (int i = 0; i < 3; i++)
            send_signal(s, 1, b, "alice", i);
        sim_say(s, 1, b, "{\"type\":\"broadcast\",\"data\":{\"n\":3}}");
        /* She comes back on node2. */
        fx_conn_t *a2 = sim_open(s, 2);
        char buf[256];
        snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\",\"ref\":\"R\"}", token);
        sim_say(s, 2, a2, buf);
        json_t *r = fx_expect(a2, "resumed");
        assert_string_equal(fx_str(r, "id"), "alice");
        assert_string_equal(fx_str(r, "ref"), "R");
        assert_string_equal(peer_at(r, 0), "bob");
        assert_memory_equal(fx_str(r, "resume"), "node2.", 6);
        for (int i = 0; i < 3; i++)
            expect_signal(a2, "bob", i);
        fx_expect(a2, "broadcast");
        assert_true(fx_none(a2));
        /* bob saw nothing of it; his next signal reaches node2. */
        assert_true(fx_none(b));
        send_signal(s, 1, b, "alice", 4);
        expect_signal(a2, "bob", 4);
        /* node0 forgot her: no peers, no subscription. */
        assert_int_equal(sig_hub_nconns(s->n[0].fx->h), 0);
        assert_int_equal(s->n[0].nsubs, 0);
        /* The old token is spent. */
        fx_conn_t *a3 = sim_open(s, 1);
        sim_say(s, 1, a3, buf);
        fx_expect_error(a3, "resume-failed");
        sim_free(s);
    }
}

/* Messages sent while the move happens arrive once and in order. */
static void test_resume_with_messages_in_flight(void **state)
{
    (void)state;
    for (size_t pi = 0; pi < 3; pi++) {
        sim_t *s = sim_new(policies[pi]);
        fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1);
        json_t *ja = sim_join(s, 0, a, "r", "alice");
        char buf[256];
        snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}",
                 fx_str(ja, "resume"));
        sim_join(s, 1, b, "r", "bob");
        fx_expect(a, "peer-joined");
        /* Her old socket is still open (a network change): the resume
         * on node2 takes over and closes it. bob's signals go out while
         * the requests are still in flight. */
        send_signal(s, 1, b, "alice", 0);
        fx_conn_t *a2 = sim_open(s, 2);
        fx_say(s->n[2].fx, a2, buf);
        fx_say(s->n[1].fx, b, "{\"type\":\"signal\",\"to\":\"alice\",\"data\":{\"n\":1}}");
        for (int k = 0; k < 4; k++) {
            for (int i = 0; i < SIM_NODES; i++)
                sim_step(s, &s->n[i]);
            char t[128];
            snprintf(t, sizeof(t), "{\"type\":\"signal\",\"to\":\"alice\",\"data\":{\"n\":%d}}",
                     k + 2);
            fx_say(s->n[1].fx, b, t);
        }
        sim_run(s);
        send_signal(s, 1, b, "alice", 6);
        expect_signal(a, "bob", 0);
        int next = 1;
        while (a->read < a->n)
            expect_signal(a, "bob", next++);
        assert_int_equal(a->close_code, SIG_CLOSE_NORMAL);
        fx_expect(a2, "resumed");
        while (next <= 6)
            expect_signal(a2, "bob", next++);
        assert_true(fx_none(a2) && fx_none(b));
        sim_free(s);
    }
}

static const char stats_bob[] =
    "{\"type\":\"stats\",\"peer\":\"bob\",\"result\":\"connected\",\"local\":\"relay\","
    "\"remote\":\"srflx\",\"relay\":\"udp\",\"seconds\":0.8,\"restarts\":0}";

static uint64_t stats_counted(sim_t *s, int node)
{
    return sig_hub_client_stats(s->n[node].fx->h)
        ->conns[SIG_RESULT_CONNECTED][SIG_CAND_RELAY][SIG_CAND_SRFLX][SIG_RELAY_UDP];
}

static uint64_t stats_dups(sim_t *s, int node)
{
    return sig_hub_client_stats(s->n[node].fx->h)->dropped[SIG_STATS_DROP_DUPLICATE];
}

/* A stats report about a peer on another node counts once per pair: the
 * pairs move with a peer that resumes elsewhere, and a pair may be
 * reported again once its peer left the room (wherever it was). */
static void test_stats_across_nodes(void **state)
{
    (void)state;
    for (size_t pi = 0; pi < 3; pi++) {
        sim_t *s = sim_new(policies[pi]);
        fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1);
        json_t *ja = sim_join(s, 0, a, "r", "alice");
        char buf[256];
        snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}",
                 fx_str(ja, "resume"));
        sim_join(s, 1, b, "r", "bob");
        fx_expect(a, "peer-joined");
        sim_say(s, 0, a, stats_bob);
        sim_say(s, 0, a, stats_bob);
        assert_int_equal(stats_counted(s, 0), 1);
        assert_int_equal(stats_dups(s, 0), 1);
        /* alice moves to node2: her pair with bob goes with her. */
        sim_gone(s, 0, a);
        fx_conn_t *a2 = sim_open(s, 2);
        sim_say(s, 2, a2, buf);
        fx_expect(a2, "resumed");
        sim_say(s, 2, a2, stats_bob);
        assert_int_equal(stats_counted(s, 2), 0);
        assert_int_equal(stats_dups(s, 2), 1);
        /* bob leaves on node1 and comes back: a new connection to report. */
        sim_say(s, 1, b, "{\"type\":\"leave\"}");
        fx_expect(b, "left");
        fx_expect(a2, "peer-left");
        sim_join(s, 1, b, "r", "bob");
        fx_expect(a2, "peer-joined");
        sim_say(s, 2, a2, stats_bob);
        assert_int_equal(stats_counted(s, 2), 1);
        assert_true(fx_none(a2));
        sim_free(s);
    }
}

static void test_dead_node_peers_leave(void **state)
{
    (void)state;
    sim_t *s = sim_new(SIM_ALTERNATE);
    fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1), *c = sim_open(s, 1);
    sim_join(s, 0, a, "r", "alice");
    sim_join(s, 1, b, "r", "bob");
    sim_join(s, 1, c, "r", "carol");
    fx_expect(a, "peer-joined");
    fx_expect(a, "peer-joined");
    /* node1 dies: no more heartbeats; its key expires. */
    s->n[1].alive = false;
    s->n[1].down = true;
    for (int i = 0; i < 4; i++) {
        sim_heartbeats(s);
        sim_tick(s, 1.0);
    }
    json_t *l = fx_expect(a, "peer-left");
    assert_string_equal(fx_str(l, "id"), "bob");
    assert_string_equal(fx_str(l, "reason"), "timeout");
    assert_string_equal(fx_str(fx_expect(a, "peer-left"), "id"), "carol");
    assert_true(fx_none(a));
    assert_true(s->reqs[SIG_FED_REAP] >= 1);
    sim_free(s);
}

static void test_link_down_and_back(void **state)
{
    (void)state;
    sim_t *s = sim_new(SIM_REPLIES_FIRST);
    fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1);
    sim_join(s, 0, a, "r", "alice");
    sim_join(s, 1, b, "r", "bob");
    fx_expect(a, "peer-joined");
    sim_link(s, 0, false);
    /* Local service goes on: a join here is decided here. */
    fx_conn_t *d = sim_open(s, 0);
    json_t *jd = sim_join(s, 0, d, "r", "dave");
    assert_int_equal(npeers(jd), 2);
    fx_expect(a, "peer-joined");
    /* A signal to a peer on the unreachable side is undelivered, with
     * its ref. */
    sim_say(s, 0, a, "{\"type\":\"signal\",\"to\":\"bob\",\"data\":1,\"ref\":5}");
    json_t *e = fx_expect_error(a, "undelivered");
    assert_string_equal(fx_str(e, "to"), "bob");
    assert_true(fx_none(a));
    /* Back: the room is resynchronised, bob hears of dave. */
    sim_link(s, 0, true);
    assert_string_equal(fx_str(fx_expect(b, "peer-joined"), "id"), "dave");
    send_signal(s, 1, b, "dave", 7);
    expect_signal(d, "bob", 7);
    assert_true(fx_none(b));
    sim_free(s);
}

static void test_conflict_after_partition(void **state)
{
    (void)state;
    sim_t *s = sim_new(SIM_MESSAGES_FIRST);
    fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1);
    sim_join(s, 0, a, "r", "alice");
    sim_link(s, 1, false);
    /* While node1 is cut off, both admit an "eve". */
    fx_conn_t *e1 = sim_open(s, 1);
    sim_join(s, 1, e1, "r", "eve");
    fx_conn_t *e0 = sim_open(s, 0);
    sim_join(s, 0, e0, "r", "eve");
    fx_expect(a, "peer-joined");
    sim_join(s, 1, b, "r", "bob");
    sim_link(s, 1, true);
    /* The cluster kept node0's eve: node1's hears why it is dropped. */
    assert_string_equal(fx_str(fx_expect(e1, "peer-joined"), "id"), "bob");
    assert_string_equal(fx_str(fx_expect(e1, "peer-joined"), "id"), "alice");
    fx_expect_error(e1, "already-joined");
    assert_true(fx_none(e1));
    /* bob (joined on node1 meanwhile) learns of alice and eve; eve stays. */
    assert_string_equal(fx_str(fx_expect(b, "peer-joined"), "id"), "alice");
    assert_true(fx_none(b));
    assert_string_equal(fx_str(fx_expect(a, "peer-joined"), "id"), "bob");
    assert_true(fx_none(a));
    assert_string_equal(fx_str(fx_expect(e0, "peer-joined"), "id"), "bob");
    send_signal(s, 1, b, "eve", 1);
    expect_signal(e0, "bob", 1);
    sim_free(s);
}

/* Redis restarts empty: the nodes come back one after the other and
 * write their members again; nobody hears a peer leave meanwhile. A node
 * that never comes back has its members leave after two node_ttls. */
static void test_redis_lost_everything(void **state)
{
    (void)state;
    sim_t *s = sim_new(SIM_ALTERNATE);
    fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1), *c = sim_open(s, 2);
    sim_join(s, 0, a, "r", "alice");
    sim_join(s, 1, b, "r", "bob");
    sim_join(s, 2, c, "r", "carol");
    fx_expect(a, "peer-joined");
    fx_expect(a, "peer-joined");
    fx_expect(b, "peer-joined");
    for (int i = 0; i < SIM_NODES; i++)
        sim_link(s, i, false);
    s->nrooms = 0; /* the data is gone */
    sim_link(s, 0, true);
    sim_tick(s, 1);
    sim_link(s, 1, true);
    assert_true(fx_none(a) && fx_none(b));
    send_signal(s, 0, a, "bob", 1);
    expect_signal(b, "alice", 1);
    /* node2 never returns: carol leaves once the grace period ends. */
    s->n[2].alive = false;
    for (int i = 0; i < 4; i++)
        sim_tick(s, 1);
    assert_true(fx_none(a) && fx_none(b));
    sim_tick(s, 1.5); /* node0 resynchronised 6.5 s ago, node1 5.5 s ago */
    json_t *l = fx_expect(a, "peer-left");
    assert_string_equal(fx_str(l, "id"), "carol");
    assert_true(fx_none(b));
    sim_tick(s, 1);
    assert_string_equal(fx_str(fx_expect(b, "peer-left"), "id"), "carol");
    assert_true(fx_none(a) && fx_none(b));
    sim_free(s);
}

/* A remote sender hears undelivered: queue full, or the peer never came
 * back. */
static void test_undelivered_across_nodes(void **state)
{
    (void)state;
    sim_t *s = sim_new(SIM_ALTERNATE);
    fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1);
    sim_join(s, 0, a, "r", "alice");
    sim_join(s, 1, b, "r", "bob");
    fx_expect(a, "peer-joined");
    sim_gone(s, 0, a);
    for (int i = 0; i < 5; i++) {
        char t[128];
        snprintf(t, sizeof(t), "{\"type\":\"signal\",\"to\":\"alice\",\"data\":%d,\"ref\":%d}",
                 i, i);
        sim_say(s, 1, b, t);
        fx_expect(b, "ack");
    }
    /* resume_queue is 4: the fifth is undelivered at once. */
    json_t *e = fx_expect_error(b, "undelivered");
    assert_int_equal(json_integer_value(json_object_get(e, "ref")), 4);
    assert_true(fx_none(b));
    /* The grace period ends: the four queued are undelivered too. */
    sim_tick(s, 31);
    for (int i = 0; i < 4; i++) {
        e = fx_expect_error(b, "undelivered");
        assert_int_equal(json_integer_value(json_object_get(e, "ref")), i);
    }
    assert_string_equal(fx_str(fx_expect(b, "peer-left"), "reason"), "timeout");
    sim_free(s);
}

static void test_bad_cluster_messages(void **state)
{
    (void)state;
    sim_t *s = sim_new(SIM_REPLIES_FIRST);
    fx_conn_t *a = sim_open(s, 0);
    sim_join(s, 0, a, "r", "alice");
    static const char *const bad[] = {
        "", "{", "[]", "{\"k\":\"join\"}", "{\"k\":\"nope\",\"n\":\"x\"}",
        "{\"k\":\"join\",\"n\":\"x\",\"id\":\"a b\",\"s\":1,\"m\":[]}",
        "{\"k\":\"join\",\"n\":\"x\",\"id\":\"z\",\"s\":-1,\"m\":[]}",
        "{\"k\":\"join\",\"n\":\"x\",\"id\":\"z\",\"s\":1,\"m\":[[\"z\",1]]}",
        "{\"k\":\"sig\",\"n\":\"x\",\"from\":\"z\",\"to\":\"alice\"}",
        "{\"k\":\"sig\",\"n\":\"x\",\"from\":\"z\",\"to\":\"alice\"}\n\xff\xfe",
        "{\"k\":\"sig\",\"n\":\"x\",\"from\":\"z\",\"to\":\"alice\"}\nnot json",
        "{\"k\":\"left\",\"n\":\"x\",\"id\":\"alice\",\"why\":\"because\"}",
        "{\"k\":\"left\",\"n\":\"x\",\"id\":\"alice\"}\n{}",
        "{\"k\":\"take\",\"n\":\"x\",\"tok\":1,\"r\":1}",
        "{\"k\":\"n\",\"n\":\"x\",\"k\":\"join\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        sig_hub_fed_message(s->n[0].fx->h, "r", bad[i], strlen(bad[i]), s->n[0].fx->now);
    /* A node message on a room's channel, and a room message on the node's. */
    const char *take = "{\"k\":\"take\",\"n\":\"x\",\"tok\":\"t\",\"r\":1}";
    sig_hub_fed_message(s->n[0].fx->h, "r", take, strlen(take), s->n[0].fx->now);
    const char *left = "{\"k\":\"left\",\"n\":\"x\",\"id\":\"alice\",\"why\":\"leave\"}";
    sig_hub_fed_message(s->n[0].fx->h, NULL, left, strlen(left), s->n[0].fx->now);
    sig_hub_fed_node(s->n[0].fx->h, "{\"k\":\"node\",\"n\":\"x\"}", 21, s->n[0].fx->now);
    sim_run(s);
    assert_true(fx_none(a));
    sim_say(s, 0, a, "{\"type\":\"ping\"}");
    fx_expect(a, "pong");
    sim_free(s);
}

/* ---- The relay director ------------------------------------------------- */

static void heartbeat(sig_hub_t *h, const char *node, const char *host, uint32_t allocs,
                      uint32_t max, bool drain, double now)
{
    sig_node_info_t n = {.port = 3478, .allocs = allocs, .max_allocs = max, .draining = drain};
    snprintf(n.node, sizeof(n.node), "%s", node);
    snprintf(n.host, sizeof(n.host), "%s", host);
    size_t len;
    char *t = sig_node_encode(&n, now, &len);
    sig_node_info_t back;
    const char *why;
    assert_int_equal(sig_node_decode(t, len, &back, &why), 1);
    assert_int_equal(back.allocs, allocs);
    assert_int_equal(back.draining, drain);
    sig_hub_fed_node(h, t, len, now);
    cmn_free(t);
}

static json_t *turn_urls(json_t *ice)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(ice, i, e) {
        json_t *u = json_array_get(json_object_get(e, "urls"), 0);
        if (json_object_get(e, "username"))
            json_array_append(out, u);
    }
    return out;
}

static void test_director_ranks_relays(void **state)
{
    (void)state;
    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    cfg.node = "hub";
    cfg.fed_heartbeat = 1;
    cfg.ice_servers_max = 2;
    fx_t *fx = fx_new_cfg(&cfg);
    double now = fx->now;
    /* No relay known yet: this node's own, with the request's host. */
    json_t *ice = sig__ice_servers(&fx->h->cfg, sig__fed_dir(fx->h), "h.example:8080", "u", now);
    json_t *u = turn_urls(ice);
    assert_string_equal(json_string_value(json_array_get(u, 0)),
                        "turn:h.example:3478?transport=udp");
    json_decref(u);
    json_decref(ice);
    heartbeat(fx->h, "busy", "10.0.0.1", 900, 1000, false, now);
    heartbeat(fx->h, "idle", "10.0.0.2", 10, 1000, false, now);
    heartbeat(fx->h, "mid", "2001:db8::3", 500, 1000, false, now);
    heartbeat(fx->h, "drain", "10.0.0.4", 0, 1000, true, now);
    heartbeat(fx->h, "hostless", "", 0, 1000, false, now);
    ice = sig__ice_servers(&fx->h->cfg, sig__fed_dir(fx->h), "h.example", "u", now + 1);
    u = turn_urls(ice);
    /* Least loaded first, at most signal.ice_servers_max, never the
     * draining one or one with no host. */
    assert_int_equal(json_array_size(u), 2);
    assert_string_equal(json_string_value(json_array_get(u, 0)),
                        "turn:10.0.0.2:3478?transport=udp");
    assert_string_equal(json_string_value(json_array_get(u, 1)),
                        "turn:[2001:db8::3]:3478?transport=udp");
    assert_string_equal(json_string_value(json_array_get(json_object_get(
                            json_array_get(ice, 0), "urls"), 0)), "stun:10.0.0.2:3478");
    json_decref(u);
    json_decref(ice);
    /* "idle" falls silent (dead): the next least loaded takes its place. */
    heartbeat(fx->h, "busy", "10.0.0.1", 900, 1000, false, now + 3);
    heartbeat(fx->h, "mid", "2001:db8::3", 500, 1000, false, now + 3);
    ice = sig__ice_servers(&fx->h->cfg, sig__fed_dir(fx->h), "h.example", "u", now + 3);
    u = turn_urls(ice);
    assert_string_equal(json_string_value(json_array_get(u, 0)),
                        "turn:[2001:db8::3]:3478?transport=udp");
    assert_string_equal(json_string_value(json_array_get(u, 1)),
                        "turn:10.0.0.1:3478?transport=udp");
    json_decref(u);
    json_decref(ice);
    /* bye: gone at once. */
    size_t len;
    char *bye = sig_node_bye("mid", &len);
    sig_hub_fed_node(fx->h, bye, len, now + 3);
    cmn_free(bye);
    ice = sig__ice_servers(&fx->h->cfg, sig__fed_dir(fx->h), "h.example", "u", now + 3);
    u = turn_urls(ice);
    assert_int_equal(json_array_size(u), 1);
    json_decref(u);
    json_decref(ice);
    /* Bad heartbeats are refused. */
    sig_node_info_t n;
    const char *why;
    static const char *const bad[] = {
        "{\"k\":\"node\",\"n\":\"a\"}",
        "{\"k\":\"node\",\"n\":\"a\",\"host\":\"x y\",\"port\":1,\"tls\":0,\"allocs\":0,"
        "\"max\":0,\"bps\":0,\"cap\":0,\"up\":0,\"sig\":true,\"drain\":false}",
        "{\"k\":\"node\",\"n\":\"a\",\"host\":\"x\",\"port\":70000,\"tls\":0,\"allocs\":0,"
        "\"max\":0,\"bps\":0,\"cap\":0,\"up\":0,\"sig\":true,\"drain\":false}",
        "{\"k\":\"bye\",\"n\":\"a.b\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sig_node_decode(bad[i], strlen(bad[i]), &n, &why), CMN_EINVAL);
    void *st = fx;
    fx_teardown(&st);
}

/* Node <i> is replaced by a new process (a live upgrade): its hub is
 * exported, the old one goes without a word (its link and subscriptions
 * with it), and a new hub imports the rooms and links up. The export is
 * returned (cmn_malloc'd). */
static char *sim_upgrade(sim_t *s, int i, size_t *len)
{
    sim_node_t *n = &s->n[i];
    char *text = sig_hub_export(n->fx->h, n->fx->now, len);
    n->down = true;
    n->nsubs = 0;
    while (sim_step(s, n))
        ;
    fx_t *old = n->fx, *fx = calloc(1, sizeof(*fx));
    fx->cfg = old->cfg;
    fx->now = old->now + 0.5;
    sig_ops_t ops = {.ud = n, .send = fx_send, .close = fx_close, .fed = sim_fed};
    fx->h = sig_hub_new(&fx->cfg, &ops);
    const char *why = "unset";
    assert_int_equal(sig_hub_import(fx->h, text, *len, fx->now, &why), 0);
    void *state = old;
    fx_teardown(&state);
    n->fx = fx;
    n->down = false;
    sig_hub_fed_link(fx->h, true, fx->now);
    sim_run(s);
    return text;
}

/* The director picks and orders the relays, signal.ice_servers_max bounds
 * them, signal.ice_servers picks each one's URLs. */
static void test_director_with_url_kinds(void **state)
{
    (void)state;
    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    cfg.node = "hub";
    cfg.fed_heartbeat = 1;
    cfg.ice_servers_max = 2;
    cfg.ice_urls = CMN_ICE_TURN_TCP | CMN_ICE_TURNS;
    fx_t *fx = fx_new_cfg(&cfg);
    double now = fx->now;
    sig_node_info_t n = {.port = 3478, .tls_port = 5349, .allocs = 1, .max_allocs = 100};
    snprintf(n.node, sizeof(n.node), "tls");
    snprintf(n.host, sizeof(n.host), "10.0.0.1");
    size_t len;
    char *t = sig_node_encode(&n, now, &len);
    sig_hub_fed_node(fx->h, t, len, now);
    cmn_free(t);
    heartbeat(fx->h, "plain", "10.0.0.2", 50, 100, false, now);
    heartbeat(fx->h, "busy", "10.0.0.3", 90, 100, false, now);
    json_t *ice = sig__ice_servers(&fx->h->cfg, sig__fed_dir(fx->h), "h.example", "u", now);
    char *text = json_dumps(ice, JSON_COMPACT);
    /* No stun:, no UDP; "tls" (least loaded) with turns:, "plain" without;
     * "busy" past the bound. */
    assert_int_equal(json_array_size(ice), 3);
    const char *want[] = {"turn:10.0.0.1:3478?transport=tcp", "turns:10.0.0.1:5349?transport=tcp",
                          "turn:10.0.0.2:3478?transport=tcp"};
    for (size_t i = 0; i < 3; i++) {
        json_t *urls = json_object_get(json_array_get(ice, i), "urls");
        assert_int_equal(json_array_size(urls), 1);
        assert_string_equal(json_string_value(json_array_get(urls, 0)), want[i]);
        assert_non_null(json_object_get(json_array_get(ice, i), "credential"));
    }
    assert_null(strstr(text, "10.0.0.3"));
    free(text);
    json_decref(ice);
    /* stun alone: one stun: URL, of the first relay, and no credentials. */
    fx->h->cfg.ice_urls = CMN_ICE_STUN;
    ice = sig__ice_servers(&fx->h->cfg, sig__fed_dir(fx->h), "h.example", "u", now);
    assert_int_equal(json_array_size(ice), 1);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_array_get(ice, 0), "urls"), 0)),
                        "stun:10.0.0.1:3478");
    assert_null(json_object_get(json_array_get(ice, 0), "credential"));
    json_decref(ice);
    void *st = fx;
    fx_teardown(&st);
}

static void test_upgrade_keeps_cluster_members(void **state)
{
    (void)state;
    for (size_t pi = 0; pi < 3; pi++) {
        sim_t *s = sim_new(policies[pi]);
        fx_conn_t *a = sim_open(s, 0), *b = sim_open(s, 1), *c = sim_open(s, 0);
        char token[SIG_TOKEN_MAX + 1];
        snprintf(token, sizeof(token), "%s", fx_str(sim_join(s, 0, a, "r", "alice"), "resume"));
        sim_join(s, 1, b, "r", "bob");
        sim_join(s, 0, c, "r", "carol");
        size_t len;
        char *text = sim_upgrade(s, 0, &len);
        /* alice resumes in the new process: bob is known there (no
         * peer-joined for him), and bob heard nothing of the upgrade. */
        fx_conn_t *a2 = sim_open(s, 0);
        char buf[256];
        snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", token);
        sim_say(s, 0, a2, buf);
        json_t *r = fx_expect(a2, "resumed");
        assert_int_equal(npeers(r), 2);
        assert_string_equal(peer_at(r, 0), "bob");
        assert_string_equal(peer_at(r, 1), "carol");
        fx_expect(b, "peer-joined"); /* carol, before the upgrade */
        assert_true(fx_none(b));
        send_signal(s, 1, b, "alice", 1);
        expect_signal(a2, "bob", 1);
        send_signal(s, 0, a2, "bob", 2);
        expect_signal(b, "alice", 2);
        sim_tick(s, 10.0); /* past the stale grace: bob was confirmed */
        assert_true(fx_none(a2));
        assert_true(fx_none(b));
        /* Without federation the new process keeps only its own peers. */
        sig_cfg_t cfg;
        fx_default_cfg(&cfg);
        fx_t *plain = fx_new_cfg(&cfg);
        const char *why = "unset";
        assert_int_equal(sig_hub_import(plain->h, text, len, plain->now, &why), 0);
        fx_conn_t *p = fx_open(plain);
        fx_say(plain, p, buf);
        r = fx_expect(p, "resumed");
        assert_int_equal(npeers(r), 1);
        assert_string_equal(peer_at(r, 0), "carol");
        void *st = plain;
        fx_teardown(&st);
        cmn_free(text);
        sim_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_relay_leave),
        cmocka_unit_test(test_limits_cluster_wide),
        cmocka_unit_test(test_resume_on_another_node),
        cmocka_unit_test(test_resume_with_messages_in_flight),
        cmocka_unit_test(test_stats_across_nodes),
        cmocka_unit_test(test_dead_node_peers_leave),
        cmocka_unit_test(test_link_down_and_back),
        cmocka_unit_test(test_conflict_after_partition),
        cmocka_unit_test(test_redis_lost_everything),
        cmocka_unit_test(test_undelivered_across_nodes),
        cmocka_unit_test(test_bad_cluster_messages),
        cmocka_unit_test(test_director_ranks_relays),
        cmocka_unit_test(test_director_with_url_kinds),
        cmocka_unit_test(test_upgrade_keeps_cluster_members),
    };
    return cmocka_run_group_tests_name("test_sig_fed", tests, NULL, NULL);
}
