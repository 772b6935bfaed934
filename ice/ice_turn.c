/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_turn.c: the turn check. Two clients, A and B, each allocate a relayed
 * address on the server (RFC 8656 §7), give each other a permission
 * (§9) and a channel (§12), and then A streams --count probe packets at
 * --rate through its channel to B's relayed address; B sends each one
 * straight back through its own channel. Every packet crosses the relay
 * twice, so the check needs no peer of its own and works against a remote
 * deployment. Both allocations end with Refresh(lifetime 0) (§8).
 * What it reports: allocation time, round-trip percentiles, jitter (of
 * the A-to-B leg, RFC 3550), round-trip loss, throughput and any error
 * code. Messages come from ice_turnc.c, sockets from ice_net.c.
 */
#include "ice_int.h"

#include <math.h>
#include <stdio.h>
#include <strings.h>

#define TURN_ATTEMPTS 4           /* a request sent again after 401/438 challenges */
#define TURN_LIFETIME 600         /* seconds asked for (RFC 8656 §3.2 default) */
#define TURN_CHANNEL_A 0x4000
#define TURN_CHANNEL_B 0x4001
#define TURN_DRAIN_MAX 1.0        /* seconds to wait for the last packets */

typedef struct turn_cl_s {
    ice_conn_t conn;
    ice_turnc_t cred;
    bool open, allocated;
    cmn_addr_t relayed, mapped;
    uint32_t lifetime;
} turn_cl_t;

typedef struct turn_req_s {
    uint16_t method;
    const char *step;         /* named in the report */
    const cmn_addr_t *peer;   /* permission, channel */
    uint16_t channel;
    uint32_t lifetime;        /* allocate, refresh */
} turn_req_t;

typedef struct turn_run_s {
    const ice_opts_t *o;
    ice_report_t *r;
    ice_url_t url;
    cmn_addr_t server;
    turn_cl_t cl[2];
} turn_run_t;

static ssize_t turn_build(const turn_cl_t *c, const turn_req_t *q, uint8_t *buf, size_t cap,
                          const uint8_t tid[STUN_TID_LEN])
{
    switch (q->method) {
    case STUN_METHOD_ALLOCATE:
        return ice_turnc_allocate(&c->cred, buf, cap, tid, q->lifetime);
    case STUN_METHOD_CREATE_PERMISSION:
        return ice_turnc_permission(&c->cred, buf, cap, tid, q->peer);
    case STUN_METHOD_CHANNEL_BIND:
        return ice_turnc_channel_bind(&c->cred, buf, cap, tid, q->channel, q->peer);
    default:
        return ice_turnc_refresh(&c->cred, buf, cap, tid, q->lifetime);
    }
}

/* Send <q> until it succeeds, is refused or times out; challenges are
 * answered. Returns 0 with <res>, or a negative code with the failure in
 * the report (when <quiet> is false). */
static int turn_do(turn_run_t *run, turn_cl_t *c, const turn_req_t *q, ice_turnc_res_t *res,
                   bool quiet)
{
    uint8_t req[ICE_MSG_MAX], resp[ICE_MSG_MAX], tid[STUN_TID_LEN];
    double deadline = ice_now() + run->o->timeout;
    for (int attempt = 0; attempt < TURN_ATTEMPTS; attempt++) {
        ice_tid(tid);
        bool creds = c->cred.keylen > 0;
        ssize_t len = turn_build(c, q, req, sizeof(req), tid);
        size_t rlen;
        int rc = len < 0 ? (int)len : ice_transact(&c->conn, req, (size_t)len, deadline, resp,
                                                    sizeof(resp), &rlen);
        if (rc == 0)
            rc = ice_turnc_response(&c->cred, resp, rlen, tid, q->method, creds, res);
        if (quiet && rc < 0)
            return rc;
        if (rc == CMN_EAGAIN) {
            char what[96];
            snprintf(what, sizeof(what), "waiting for the %s response%s", q->step,
                     c->conn.icmp_seen ? " (ICMP port unreachable seen)" : "");
            ice_report_timeout(run->r, q->step, run->o->timeout, what);
            return rc;
        }
        if (rc < 0) {
            ice_report_fail(run->r, q->step, "%s: %s", q->step,
                            rc == CMN_EAUTH ? "response failed the MESSAGE-INTEGRITY check"
                            : rc == CMN_EIO ? "the connection failed"
                                            : "malformed response");
            return rc;
        }
        if (res->success)
            return 0;
        if (!res->retry)
            break;
    }
    if (!quiet)
        ice_report_refused(run->r, q->step, res->code, res->reason);
    return CMN_EAUTH;
}

/* The URL: a bare HOST[:PORT] takes --transport (tls: turns:). */
static int turn_url(turn_run_t *run)
{
    const char *t = run->o->targets[0], *why;
    char buf[ICE_TEXT_MAX + 16];
    bool bare = strncasecmp(t, "turn:", 5) != 0 && strncasecmp(t, "turns:", 6) != 0;
    if (bare) {
        static const char *const pre[] = {"turn:", "turn:", "turns:"};
        snprintf(buf, sizeof(buf), "%s%s%s", pre[run->o->transport], t,
                 run->o->transport == ICE_TP_TCP ? "?transport=tcp" : "");
        t = buf;
    }
    if (ice_url_parse(&run->url, t, ICE_SCHEME_TURN, &why) < 0 ||
        (run->url.scheme != ICE_SCHEME_TURN && run->url.scheme != ICE_SCHEME_TURNS)) {
        ice_report_fail(run->r, "resolve", "%s: %s", run->o->targets[0],
                        run->url.scheme ? "expected a turn: or turns: URL" : why);
        return CMN_EINVAL;
    }
    char err[256];
    if (ice_resolve(run->url.host, run->url.port, &run->server, err, sizeof(err)) < 0) {
        ice_report_fail(run->r, "resolve", "%s", err);
        return CMN_ENOENT;
    }
    return 0;
}

static int turn_open(turn_run_t *run, turn_cl_t *c)
{
    const ice_opts_t *o = run->o;
    char user[ICE_CRED_MAX + 1], pass[ICE_CRED_MAX + 1], err[256];
    if (o->secret) {
        if (ice_turnc_rest_creds(o->secret, ice_wallclock(), o->ttl, user, sizeof(user), pass,
                                 sizeof(pass)) < 0) {
            ice_report_fail(run->r, "credentials", "cannot compute the HMAC");
            return CMN_EIO;
        }
        ice_turnc_init(&c->cred, user, pass);
    } else {
        ice_turnc_init(&c->cred, o->user, o->pass);
    }
    ice_conn_req_t req = {
        .tp = run->url.transport, .to = run->server,
        .tls = {.ca = o->ca, .insecure = o->insecure, .sni = run->url.host},
        .local_ip = o->local_address,
        .deadline = ice_now() + o->timeout,
    };
    int rc = ice_conn_open(&c->conn, &req, err, sizeof(err));
    if (rc == CMN_EAGAIN)
        ice_report_timeout(run->r, "connect", o->timeout, "connecting to the server");
    else if (rc < 0)
        ice_report_fail(run->r, "connect", "%s", err);
    c->open = rc == 0;
    return rc;
}

static int turn_allocate(turn_run_t *run)
{
    double t0 = ice_now();
    for (int i = 0; i < 2; i++) {
        turn_cl_t *c = &run->cl[i];
        ice_turnc_res_t res;
        turn_req_t q = {.method = STUN_METHOD_ALLOCATE, .step = "allocate",
                        .lifetime = TURN_LIFETIME};
        if (turn_open(run, c) < 0 || turn_do(run, c, &q, &res, false) < 0)
            return CMN_EIO;
        if (!res.relayed.family) {
            ice_report_fail(run->r, "allocate", "the Allocate response has no XOR-RELAYED-ADDRESS");
            return CMN_EPROTO;
        }
        c->allocated = true;
        c->relayed = res.relayed;
        c->mapped = res.mapped;
        c->lifetime = res.lifetime;
        run->r->relayed[i] = res.relayed;
        run->r->mapped[i] = res.mapped;
    }
    run->r->alloc_time = ice_now() - t0;
    run->r->lifetime = run->cl[0].lifetime;
    return 0;
}

/* Permissions and channels between the two relayed addresses. */
static int turn_bind(turn_run_t *run)
{
    static const uint16_t ch[2] = {TURN_CHANNEL_A, TURN_CHANNEL_B};
    for (int i = 0; i < 2; i++) {
        turn_cl_t *c = &run->cl[i];
        const cmn_addr_t *peer = &run->cl[1 - i].relayed;
        turn_req_t perm = {.method = STUN_METHOD_CREATE_PERMISSION, .step = "permission",
                           .peer = peer};
        turn_req_t chan = {.method = STUN_METHOD_CHANNEL_BIND, .step = "channel", .peer = peer,
                           .channel = ch[i]};
        ice_turnc_res_t res;
        if (turn_do(run, c, &perm, &res, false) < 0 || turn_do(run, c, &chan, &res, false) < 0)
            return CMN_EIO;
    }
    return 0;
}

typedef struct turn_stream_s {
    ice_stats_t fwd;          /* A -> B: arrivals at B (jitter) */
    ice_stats_t back;         /* A -> B -> A: round trips */
    uint64_t sent;
    double t0;
} turn_stream_t;

/* One datagram or frame from A or B. */
static void turn_recv(turn_run_t *run, turn_stream_t *st, const uint8_t *buf, size_t n,
                      size_t which)
{
    uint16_t chan;
    const uint8_t *data;
    size_t dlen;
    ice_pkt_t p;
    double now = ice_now();
    if (stun_chdata_decode(buf, n, &chan, &data, &dlen) < 0 || ice_pkt_decode(data, dlen, &p) < 0)
        return; /* not ours: a stray response or indication */
    double ts = (double)p.ts_us * 1e-6;
    if (which == 1 && chan == TURN_CHANNEL_B) {
        /* B got a packet from A: back it goes, unchanged, on B's channel. */
        ice_stats_arrival(&st->fwd, dlen, ts, now);
        uint8_t out[ICE_MAX_SIZE + STUN_CHANNEL_HEADER_LEN];
        stun_chdata_header(out, TURN_CHANNEL_B, (uint16_t)dlen);
        memcpy(out + STUN_CHANNEL_HEADER_LEN, data, dlen);
        ice_conn_send(&run->cl[1].conn, out, STUN_CHANNEL_HEADER_LEN + dlen);
    } else if (which == 0 && chan == TURN_CHANNEL_A) {
        ice_stats_arrival(&st->back, dlen, ts, now);
        ice_stats_rtt(&st->back, now - ts);
    }
}

static void turn_send(turn_run_t *run, turn_stream_t *st)
{
    uint8_t out[ICE_MAX_SIZE + STUN_CHANNEL_HEADER_LEN];
    size_t size = (size_t)run->o->size;
    ice_pkt_t p = {.seq = (uint32_t)st->sent, .ts_us = (uint64_t)(ice_now() * 1e6)};
    stun_chdata_header(out, TURN_CHANNEL_A, (uint16_t)size);
    ice_pkt_encode(out + STUN_CHANNEL_HEADER_LEN, size, &p);
    ice_stats_sent(&st->back, size, ice_now());
    if (ice_conn_send(&run->cl[0].conn, out, STUN_CHANNEL_HEADER_LEN + size) == 0)
        st->sent++;
}

/* The paced stream: packet i leaves at t0 + i / rate. */
static void turn_stream(turn_run_t *run)
{
    const ice_opts_t *o = run->o;
    uint64_t count = o->duration > 0 ? (uint64_t)ceil(o->duration * o->rate) : (uint64_t)o->count;
    turn_stream_t st;
    memset(&st, 0, sizeof(st));
    ice_stats_init(&st.fwd);
    ice_stats_init(&st.back);
    ice_conn_t *conns[2] = {&run->cl[0].conn, &run->cl[1].conn};
    uint8_t buf[2048];
    st.t0 = ice_now();
    double drain_end = 0;
    for (;;) {
        double now = ice_now(), next = st.t0 + (double)st.sent / o->rate;
        if (st.sent < count && now >= next) {
            turn_send(run, &st);
            continue;
        }
        if (st.sent == count && drain_end == 0)
            drain_end = now + CMN_MIN(o->timeout, TURN_DRAIN_MAX);
        if ((drain_end && now >= drain_end) || st.back.received >= count)
            break;
        size_t which;
        ssize_t n = ice_conn_recv_any(conns, 2, buf, sizeof(buf), drain_end ? drain_end : next,
                                      &which);
        if (n == CMN_EIO) {
            ice_report_fail(run->r, "stream", "the connection to the server failed");
            break;
        }
        if (n > 0)
            turn_recv(run, &st, buf, (size_t)n, which);
    }
    ice_stats_finish(&st.back, st.sent, &run->r->traffic);
    ice_traffic_t fwd;
    ice_stats_finish(&st.fwd, st.sent, &fwd);
    run->r->traffic.jitter = fwd.jitter;
    ice_stats_dispose(&st.fwd);
    ice_stats_dispose(&st.back);
}

static void turn_release(turn_run_t *run)
{
    bool all = run->cl[0].allocated && run->cl[1].allocated;
    for (int i = 0; i < 2; i++) {
        turn_cl_t *c = &run->cl[i];
        ice_turnc_res_t res;
        turn_req_t q = {.method = STUN_METHOD_REFRESH, .step = "refresh", .lifetime = 0};
        if (c->allocated && turn_do(run, c, &q, &res, true) < 0)
            all = false;
        if (c->open)
            ice_conn_close(&c->conn);
    }
    run->r->deallocated = all;
}

int ice_run_turn(const ice_opts_t *o, ice_report_t *r)
{
    ice_report_init(r, ICE_CMD_TURN, o->targets[0]);
    r->size = o->size;
    r->rate = o->rate;
    turn_run_t run;
    memset(&run, 0, sizeof(run));
    run.o = o;
    run.r = r;
    double t0 = ice_now();
    if (turn_url(&run) == 0) {
        char buf[ICE_TEXT_MAX + 32];
        snprintf(r->target, sizeof(r->target), "%s", ice_url_format(&run.url, buf, sizeof(buf)));
        if (turn_allocate(&run) == 0 && turn_bind(&run) == 0)
            turn_stream(&run);
    }
    turn_release(&run);
    r->duration = ice_now() - t0;
    return 0;
}
