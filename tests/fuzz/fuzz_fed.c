/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_fed.c: libFuzzer target for what a node reads from Redis, which
 * other processes wrote: room and node channel messages into a federated
 * hub (signal/sig_fed*.c), heartbeats into its relay director
 * (signal/sig_dir.c), usage batches and revocation records
 * (acct/acct_clu.c), and the scripts' answers (results, subscriptions,
 * the link going up and down) in any order. An input is a script of
 * records [op][arg][len:2][bytes]; clients on the hub's side join, signal,
 * broadcast, leave and resume among them, so the cluster's messages meet
 * live rooms, away peers, pending joins and moves. After each record the
 * hub's counts must agree with its rooms; every message it sends a client
 * is a JSON object with a type; every cluster request it makes names what
 * its kind needs. Seeds: tests/fuzz/corpus/fed/ (tests/fuzz/gen_fed_seeds.py).
 * cmn_random is wrapped (-Wl,--wrap=cmn_random) so runs are reproducible.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "acct/acct.h"
#include "signal/sig_int.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_CONNS 32
#define FZ_REQS 64

enum {
    OP_ROOM = 0,    /* arg & 3: which room; bytes: a room channel message */
    OP_NODE,        /* bytes: a node channel message */
    OP_HEARTBEAT,   /* bytes: a cluster channel heartbeat or bye */
    OP_CLIENT,      /* arg: connection (opened on first use); bytes: its text */
    OP_GONE,        /* arg: connection */
    OP_SUBSCRIBED,  /* arg & 3: room */
    OP_RESULT,      /* arg: which remembered request; bytes[0]: status choice */
    OP_LINK,        /* arg & 1: up */
    OP_TICK,        /* arg: seconds */
    OP_DECODE,      /* bytes: a usage batch, a revocation record, a heartbeat */
    OP_FAIL,        /* arg & 1: requests fail (the queue is full) from now on */
    OP_COUNT
};

static const char *const fz_rooms[] = {"r", "standup", "\xc3\xa9t\xc3\xa9", "x y"};

typedef struct fz_s {
    sig_hub_t *h;
    sig_cfg_t cfg;
    double now;
    sig_conn_t *conns[FZ_CONNS];
    bool closed[FZ_CONNS];
    uint64_t reqs[FZ_REQS];
    unsigned nreqs;
    bool fail;
} fz_t;

static uint64_t fz_rng;

int __wrap_cmn_random(void *out, size_t len);

int __wrap_cmn_random(void *out, size_t len)
{
    uint8_t *o = out;
    for (size_t i = 0; i < len; i++) {
        fz_rng ^= fz_rng << 13;
        fz_rng ^= fz_rng >> 7;
        fz_rng ^= fz_rng << 17;
        o[i] = (uint8_t)(fz_rng >> 24);
    }
    return 0;
}

static void fz_send(void *ud, void *conn, const char *text, size_t len)
{
    fz_t *f = ud;
    size_t i = (size_t)(uintptr_t)conn;
    CHECK(i < FZ_CONNS && f->conns[i] && !f->closed[i]);
    json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    CHECK(json_is_object(m) && json_is_string(json_object_get(m, "type")));
    json_decref(m);
}

static void fz_close(void *ud, void *conn, int code, const char *reason)
{
    fz_t *f = ud;
    (void)code;
    (void)reason;
    size_t i = (size_t)(uintptr_t)conn;
    CHECK(i < FZ_CONNS && f->conns[i] && !f->closed[i]);
    f->closed[i] = true;
}

static int fz_fed(void *ud, const sig_fed_req_t *r)
{
    fz_t *f = ud;
    CHECK((unsigned)r->op < SIG_FED_COUNT);
    switch (r->op) {
    case SIG_FED_SUB:
    case SIG_FED_UNSUB:
    case SIG_FED_SYNC:
        CHECK(r->room && sig__room_ok(r->room));
        break;
    case SIG_FED_PUB_ROOM:
        CHECK(r->room && r->text && r->len);
        break;
    case SIG_FED_PUB_NODE:
    case SIG_FED_REAP:
        CHECK(r->node && sig__node_ok(r->node));
        break;
    case SIG_FED_JOIN:
    case SIG_FED_LEAVE:
    case SIG_FED_MOVE:
        CHECK(r->room && r->peer && sig__id_ok(r->peer) && r->text);
        break;
    default:
        break;
    }
    for (size_t i = 0; i < r->nlist; i++)
        CHECK(r->list[i] && r->list[i][0]);
    if (f->fail)
        return CMN_EAGAIN;
    if (r->id)
        f->reqs[f->nreqs++ % FZ_REQS] = r->id;
    return 0;
}

/* The hub's counts agree with its rooms. */
static void check_hub(const sig_hub_t *h)
{
    size_t local = 0;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, (cmn_map_t *)&h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));) {
        const sig_room_t *r = e->val;
        uint32_t n = 0, nl = 0;
        for (const sig_peer_t *p = r->head; p; p = p->next) {
            CHECK(p->room == r);
            CHECK(!p->next || p->next->prev == p);
            n++;
            nl += !p->node[0];
        }
        CHECK(n == r->npeers && nl == r->nlocal);
        CHECK(r->nlocal || r->npending);
        local += nl;
    }
    CHECK(local == h->npeers);
}

static void decode_only(const uint8_t *p, size_t n)
{
    acct_batch_t b;
    const char *why;
    if (acct_batch_decode((const char *)p, n, &b, &why) == 0) {
        size_t len;
        char *t = acct_batch_encode(&b, &len);
        acct_batch_t again;
        CHECK(acct_batch_decode(t, len, &again, &why) == 0 && again.n == b.n);
        acct_batch_dispose(&again);
        cmn_free(t);
        acct_batch_dispose(&b);
    }
    acct_rvk_t r;
    if (acct_rvk_decode((const char *)p, n, &r) == 0) {
        size_t len;
        char *t = acct_rvk_encode(&r, &len);
        acct_rvk_t again;
        CHECK(acct_rvk_decode(t, len, &again) == 0 && again.on == r.on);
        cmn_free(t);
    }
    sig_node_info_t info;
    if (sig_node_decode((const char *)p, n, &info, &why) == 1)
        CHECK(sig__node_ok(info.node));
}

static void client(fz_t *f, unsigned i, const uint8_t *p, size_t n)
{
    i %= FZ_CONNS;
    if (!f->conns[i]) {
        f->conns[i] = sig_conn_open(f->h, (void *)(uintptr_t)i, "192.0.2.1", "example.org",
                                    f->now);
        f->closed[i] = false;
    }
    if (!f->closed[i])
        sig_conn_text(f->h, f->conns[i], (const char *)p, n, f->now);
}

static void record(fz_t *f, int op, unsigned arg, const uint8_t *p, size_t n)
{
    sig_hub_t *h = f->h;
    switch (op) {
    case OP_ROOM: sig_hub_fed_message(h, fz_rooms[arg & 3], (const char *)p, n, f->now); break;
    case OP_NODE: sig_hub_fed_message(h, NULL, (const char *)p, n, f->now); break;
    case OP_HEARTBEAT: sig_hub_fed_node(h, (const char *)p, n, f->now); break;
    case OP_CLIENT: client(f, arg, p, n); break;
    case OP_GONE:
        if (f->conns[arg % FZ_CONNS]) {
            sig_conn_gone(h, f->conns[arg % FZ_CONNS], f->now);
            f->conns[arg % FZ_CONNS] = NULL;
        }
        break;
    case OP_SUBSCRIBED: sig_hub_fed_subscribed(h, fz_rooms[arg & 3], f->now); break;
    case OP_RESULT: {
        static const int st[] = {0, CMN_EEXIST, CMN_ELIMIT, CMN_ENOENT, CMN_EAGAIN};
        uint64_t id = f->nreqs ? f->reqs[arg % CMN_MIN(f->nreqs, (unsigned)FZ_REQS)] : arg;
        sig_hub_fed_result(h, id, st[(n ? p[0] : 0) % 5], f->now);
        break;
    }
    case OP_LINK: sig_hub_fed_link(h, arg & 1, f->now); break;
    case OP_TICK:
        f->now += arg % 64;
        sig_hub_tick(h, f->now);
        break;
    case OP_DECODE: decode_only(p, n); break;
    case OP_FAIL: f->fail = arg & 1; break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f;
    memset(&f, 0, sizeof(f));
    fz_rng = 0x9e3779b97f4a7c15ull;
    f.now = 1700000000.0;
    sig_cfg_t *c = &f.cfg;
    c->enabled = true;
    c->public_host = "";
    c->credential_ttl = 100;
    c->token_secret = "token-secret";
    c->turn_secret = "turn-secret";
    c->turn_port = 3478;
    c->max_message = 4096;
    c->rate = 1000;
    c->burst = 1000;
    c->max_room_peers = 6;
    c->max_rooms = 8;
    c->max_connections_per_ip = 64;
    c->resume_seconds = 10;
    c->resume_queue = 4;
    c->ice_servers_max = 3;
    c->node = "me";
    c->fed_timeout = 2;
    c->fed_heartbeat = 1;
    c->fed_node_ttl = 3;
    sig_ops_t ops = {.ud = &f, .send = fz_send, .close = fz_close, .fed = fz_fed};
    f.h = sig_hub_new(c, &ops);
    sig_hub_fed_link(f.h, true, f.now);
    size_t off = 0;
    while (size - off >= 4) {
        int op = data[off] % OP_COUNT;
        unsigned arg = data[off + 1];
        size_t n = (size_t)data[off + 2] << 8 | data[off + 3];
        off += 4;
        n = CMN_MIN(n, size - off);
        record(&f, op, arg, data + off, n);
        off += n;
        check_hub(f.h);
    }
    sig_hub_free(f.h);
    return 0;
}
