/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_call.c: the call check. Each end joins a room on icehubd's signaling
 * hub (docs/signaling.md) and takes its STUN and TURN servers from the
 * joined message's iceServers. The end that finds a peer already there
 * offers (and controls ICE); the other answers. Offer and answer carry ICE
 * credentials, candidate lines and an SRTP key (ice_msg.c). Once ICE is
 * connected each end streams SRTP-protected RTP for --duration, waits for
 * stragglers, and sends a "done" with what it sent and received.
 *
 * Every step has a named timeout (--timeout): "signal" (the hub's joined),
 * "peer" (another probe in the room), "gather", "answer", "ice" (connected),
 * "done" (the peer's counts). With --pair both ends run here, on one
 * GMainLoop with their own WebSockets and agents (ice_agent.c).
 */
#include "ice_int.h"

#include <glib.h>
#include <stdio.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"

#define CALL_TICK_MS 20           /* how often deadlines are checked */
#define CALL_DRAIN_MAX 0.5        /* seconds to wait for the last packets */

struct ice_call_s {
    const ice_opts_t *o;
    ice_report_t *r;
    GMainContext *ctx;
    GMainLoop *loop;
    ice_url_t sig;
    bool loopback;            /* the hub resolved to a loopback address */
    bool stopping;            /* results are in: ignore further events */
    char room[160];
    int nends;
    ice_end_t end[2];
};

const ice_opts_t *ice__call_opts(const ice_end_t *e)
{
    return e->call->o;
}

GMainContext *ice__call_context(const ice_end_t *e)
{
    return e->call->ctx;
}

bool ice__call_loopback(const ice_end_t *e)
{
    return e->call->loopback;
}

static void call_phase(ice_end_t *e, const char *phase, const char *waiting, double secs)
{
    e->phase = phase;
    e->waiting = waiting;
    e->deadline = ice_now() + secs;
}

static void call_stop(ice_call_t *c)
{
    c->stopping = true;
    g_main_loop_quit(c->loop);
}

void ice__call_fail(ice_end_t *e, const char *step, const char *msg)
{
    ice_call_t *c = e->call;
    if (c->stopping)
        return;
    if (c->nends > 1)
        ice_report_fail(c->r, step, "end %d: %s", e->idx + 1, msg);
    else
        ice_report_fail(c->r, step, "%s", msg);
    call_stop(c);
}

static void call_send(ice_end_t *e, const ice_pmsg_t *pm)
{
    char *text = ice_sig_signal(e->peer, pm);
    ice_ws_send(e->ws, text);
    cmn_free(text);
}

static void call_check_finished(ice_end_t *e)
{
    ice_call_t *c = e->call;
    if (!e->done_sent || !e->done_received)
        return;
    e->finished = true;
    e->deadline = 0;
    for (int i = 0; i < c->nends; i++)
        if (!c->end[i].finished)
            return;
    call_stop(c);
}

static void call_start_agent(ice_end_t *e)
{
    char err[256];
    call_phase(e, "gather", "gathering candidates", e->call->o->timeout);
    if (ice__agent_start(e, err, sizeof(err)) < 0)
        ice__call_fail(e, "gather", err);
}

static void call_apply_remote(ice_end_t *e, const ice_pmsg_t *pm)
{
    char err[256];
    call_phase(e, "ice", "waiting for ICE to connect", e->call->o->timeout);
    if (ice__agent_remote(e, pm, err, sizeof(err)) < 0)
        ice__call_fail(e, "ice", err);
}

void ice__call_gathered(ice_end_t *e)
{
    const ice_opts_t *o = e->call->o;
    if (e->call->stopping)
        return;
    ice_pmsg_t *pm = cmn_calloc(1, sizeof(*pm));
    pm->kind = e->offerer ? ICE_PMSG_OFFER : ICE_PMSG_ANSWER;
    ice__agent_local(e, pm);
    if (pm->ncands == 0) {
        ice__call_fail(e, "gather",
                       o->relay_only ? "no relay candidate: the TURN server refused the "
                                       "allocation or did not answer"
                                     : "no candidate gathered");
    } else if (e->offerer) {
        call_phase(e, "answer", "waiting for the peer's answer", o->timeout);
        call_send(e, pm);
    } else {
        call_send(e, pm);
        call_apply_remote(e, e->remote);
    }
    cmn_free(pm);
}

void ice__call_connected(ice_end_t *e)
{
    const ice_opts_t *o = e->call->o;
    if (e->call->stopping)
        return;
    call_phase(e, "stream", "sending the stream", o->duration + o->timeout);
    ice__agent_media(e);
}

static gboolean call_send_done(gpointer ud)
{
    ice_end_t *e = ud;
    if (e->call->stopping)
        return G_SOURCE_REMOVE;
    ice_pmsg_t pm = {.kind = ICE_PMSG_DONE, .sent = e->sent, .received = e->rx.received};
    call_send(e, &pm);
    e->done_sent = true;
    if (!e->done_received)
        call_phase(e, "done", "waiting for the peer's counts", e->call->o->timeout);
    call_check_finished(e);
    return G_SOURCE_REMOVE;
}

void ice__call_sent_all(ice_end_t *e)
{
    double drain = CMN_MIN(e->call->o->timeout, CALL_DRAIN_MAX);
    GSource *s = g_timeout_source_new((guint)(drain * 1000));
    g_source_set_callback(s, call_send_done, e, NULL);
    g_source_attach(s, e->call->ctx);
    g_source_unref(s);
}

/* ---- The hub's messages -------------------------------------------------- */

static void call_joined(ice_end_t *e, const ice_sig_ev_t *ev)
{
    if (e->joined)
        return;
    e->joined = true;
    snprintf(e->id, sizeof(e->id), "%s", ev->id);
    e->nservers = ev->nservers;
    memcpy(e->servers, ev->servers, ev->nservers * sizeof(ev->servers[0]));
    if (ev->npeers > 0) {
        e->offerer = true;
        snprintf(e->peer, sizeof(e->peer), "%s", ev->peers[0]);
        call_start_agent(e);
    } else {
        call_phase(e, "peer", "waiting for another probe in the room", e->call->o->timeout);
    }
}

/* A probe message from <ev->id>; takes <pm> when it keeps it. */
static bool call_signal(ice_end_t *e, const ice_sig_ev_t *ev, ice_pmsg_t *pm)
{
    bool from_peer = e->peer[0] && !strcmp(e->peer, ev->id);
    switch (pm->kind) {
    case ICE_PMSG_OFFER:
        if (e->offerer || e->agent || (e->peer[0] && !from_peer))
            return false;
        snprintf(e->peer, sizeof(e->peer), "%s", ev->id);
        e->remote = pm;
        call_start_agent(e);
        return true;
    case ICE_PMSG_ANSWER:
        if (e->offerer && from_peer && e->gathered && !e->remote_set)
            call_apply_remote(e, pm);
        return false;
    case ICE_PMSG_DONE:
        if (!from_peer || e->done_received)
            return false;
        e->done_received = true;
        e->peer_sent = pm->sent;
        e->peer_received = pm->received;
        call_check_finished(e);
        return false;
    }
    return false;
}

static void call_event(ice_end_t *e, const ice_sig_ev_t *ev, ice_pmsg_t *pm, bool *kept)
{
    char msg[400];
    switch (ev->type) {
    case ICE_SIG_JOINED:
        call_joined(e, ev);
        break;
    case ICE_SIG_PEER_LEFT:
        if (!strcmp(ev->id, e->peer) && !e->finished)
            ice__call_fail(e, e->phase, "the peer left the room");
        break;
    case ICE_SIG_SIGNAL:
        *kept = call_signal(e, ev, pm);
        break;
    case ICE_SIG_ERROR:
        snprintf(msg, sizeof(msg), "the hub answered %s: %s", ev->code, ev->message);
        ice__call_fail(e, e->phase, msg);
        break;
    default:
        break;
    }
}

static void call_ws(void *ud, const char *text, size_t len, const char *err)
{
    ice_end_t *e = ud;
    if (e->call->stopping)
        return;
    if (!text) {
        if (!e->finished)
            ice__call_fail(e, e->phase, err);
        return;
    }
    ice_sig_ev_t *ev = cmn_calloc(1, sizeof(*ev));
    ice_pmsg_t *pm = cmn_calloc(1, sizeof(*pm));
    const char *why;
    bool kept = false;
    if (ice_sig_parse(text, len, ev, pm, &why) < 0)
        cmn_warn("probe", "signaling: ignored a message (%s)", why);
    else
        call_event(e, ev, pm, &kept);
    if (!kept)
        cmn_free(pm);
    cmn_free(ev);
}

/* ---- Running ------------------------------------------------------------------ */

static gboolean call_tick(gpointer ud)
{
    ice_call_t *c = ud;
    double now = ice_now();
    for (int i = 0; i < c->nends && !c->stopping; i++) {
        ice_end_t *e = &c->end[i];
        if (!e->finished && e->deadline > 0 && now > e->deadline) {
            double secs = !strcmp(e->phase, "stream") ? c->o->duration + c->o->timeout
                                                      : c->o->timeout;
            ice_report_timeout(c->r, e->phase, secs, e->waiting);
            call_stop(c);
        }
    }
    return G_SOURCE_CONTINUE;
}

static int call_open(ice_call_t *c, ice_end_t *e)
{
    char err[256];
    ice_tls_opts_t tls = {.ca = c->o->ca, .insecure = c->o->insecure, .sni = c->sig.host};
    call_phase(e, "signal", "waiting for the hub's joined", c->o->timeout);
    e->ws = ice_ws_open(c->loop, &c->sig, &tls, call_ws, e, err, sizeof(err));
    if (!e->ws) {
        ice__call_fail(e, "signal", err);
        return CMN_EIO;
    }
    char *join = ice_sig_join(c->room);
    ice_ws_send(e->ws, join);
    cmn_free(join);
    return 0;
}

static int call_setup(ice_call_t *c)
{
    const char *why;
    char err[256];
    cmn_addr_t a;
    if (ice_url_parse(&c->sig, c->o->signal, ICE_SCHEME_NONE, &why) < 0 ||
        (c->sig.scheme != ICE_SCHEME_WS && c->sig.scheme != ICE_SCHEME_WSS)) {
        ice_report_fail(c->r, "signal", "--signal %s: %s", c->o->signal,
                        c->sig.scheme ? "expected ws:// or wss://" : why);
        return CMN_EINVAL;
    }
    if (ice_resolve(c->sig.host, c->sig.port, &a, err, sizeof(err)) < 0) {
        ice_report_fail(c->r, "signal", "%s", err);
        return CMN_ENOENT;
    }
    c->loopback = (a.family == CMN_AF_INET && a.ip[0] == 127) ||
                  (a.family == CMN_AF_INET6 && !memcmp(a.ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16));
    if (c->o->room) {
        snprintf(c->room, sizeof(c->room), "%s", c->o->room);
    } else {
        uint8_t rnd[8];
        cmn_random(rnd, sizeof(rnd));
        snprintf(c->room, sizeof(c->room), "icehub-probe-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
                 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    }
    return 0;
}

/* Leave the room and give the last messages a moment to go out. */
static void call_teardown(ice_call_t *c)
{
    c->stopping = true;
    for (int i = 0; i < c->nends; i++) {
        ice_end_t *e = &c->end[i];
        if (e->ws && e->joined) {
            char *leave = ice_sig_leave();
            ice_ws_send(e->ws, leave);
            cmn_free(leave);
        }
        ice__agent_free(e, c->ctx);
    }
    double until = ice_now() + 0.1;
    while (ice_now() < until)
        if (!g_main_context_iteration(c->ctx, FALSE))
            g_usleep(2000);
    for (int i = 0; i < c->nends; i++) {
        ice_ws_free(c->end[i].ws);
        c->end[i].ws = NULL;
        cmn_free(c->end[i].remote);
        ice_stats_dispose(&c->end[i].rx);
    }
}

/* ---- The report ---------------------------------------------------------------- */

/* What arrived at <e> from a sender that sent <sent> packets. */
static void call_rx(ice_call_t *c, ice_end_t *e, uint64_t sent, ice_traffic_t *out)
{
    /* n packets arrive over n - 1 intervals: count one more for the span. */
    e->rx.first_tx = e->rx.first_rx - 1.0 / c->o->rate;
    double *keep = e->rx.rtt;
    size_t nkeep = e->rx.nrtt;
    e->rx.nrtt = 0; /* the RTT samples are summarised with both ends' below */
    ice_stats_finish(&e->rx, sent, out);
    e->rx.nrtt = nkeep;
    e->rx.rtt = keep;
}

static void call_traffic(ice_call_t *c, ice_report_t *r)
{
    ice_traffic_t a, b;
    ice_end_t *e0 = &c->end[0], *e1 = &c->end[1];
    if (c->nends == 2) {
        call_rx(c, e0, e1->sent, &a);
        call_rx(c, e1, e0->sent, &b);
    } else {
        /* The other direction as the peer counted it in its "done". */
        call_rx(c, e0, e0->peer_sent, &a);
        memset(&b, 0, sizeof(b));
        b.sent = e0->sent;
        b.received = e0->peer_received;
        b.bytes = e0->peer_received * (uint64_t)c->o->size;
        if (c->o->duration > 0)
            b.throughput = (double)b.bytes * 8.0 / c->o->duration;
    }
    ice_traffic_merge(&r->traffic, &a, &b);
    size_t n = e0->rx.nrtt + (c->nends == 2 ? e1->rx.nrtt : 0);
    double *all = cmn_malloc((n ? n : 1) * sizeof(double));
    if (e0->rx.nrtt)
        memcpy(all, e0->rx.rtt, e0->rx.nrtt * sizeof(double));
    if (c->nends == 2 && e1->rx.nrtt)
        memcpy(all + e0->rx.nrtt, e1->rx.rtt, e1->rx.nrtt * sizeof(double));
    ice_rtt_summary(&r->traffic.rtt, all, n);
    cmn_free(all);
}

static void call_report(ice_call_t *c)
{
    ice_report_t *r = c->r;
    /* The offerer's view of the pair: it controls ICE and nominates. */
    ice_end_t *rep = &c->end[0];
    for (int i = 0; i < c->nends; i++)
        if (c->end[i].offerer)
            rep = &c->end[i];
    ice__agent_pair(rep, &r->pair);
    memcpy(r->local_candidates, rep->local_c, sizeof(r->local_candidates));
    memcpy(r->remote_candidates, rep->remote_c, sizeof(r->remote_candidates));
    r->srtp = c->o->srtp;
    r->size = c->o->size;
    r->rate = c->o->rate;
    for (int i = 0; i < c->nends; i++) {
        ice_end_t *e = &c->end[i];
        if (e->gathered)
            r->gather_time = CMN_MAX(r->gather_time, e->t_gathered - e->t_gather);
        if (e->connected)
            r->connect_time = CMN_MAX(r->connect_time, e->t_connected - e->t_remote);
        r->srtp_auth_failures += e->auth_failures;
    }
    call_traffic(c, r);
}

int ice_run_call(const ice_opts_t *o, ice_report_t *r)
{
    ice_report_init(r, ICE_CMD_CALL, o->signal);
    ice_call_t *c = cmn_calloc(1, sizeof(*c));
    c->o = o;
    c->r = r;
    double t0 = ice_now();
    if (call_setup(c) < 0) {
        cmn_free(c);
        r->duration = ice_now() - t0;
        return 0;
    }
    c->ctx = g_main_context_new();
    c->loop = g_main_loop_new(c->ctx, FALSE);
    g_main_context_push_thread_default(c->ctx);
    c->nends = o->pair ? 2 : 1;
    for (int i = 0; i < c->nends; i++) {
        c->end[i].call = c;
        c->end[i].idx = i;
        ice_stats_init(&c->end[i].rx);
    }
    GSource *tick = g_timeout_source_new(CALL_TICK_MS);
    g_source_set_callback(tick, call_tick, c, NULL);
    g_source_attach(tick, c->ctx);
    for (int i = 0; i < c->nends && !c->stopping; i++)
        call_open(c, &c->end[i]);
    if (!c->stopping)
        g_main_loop_run(c->loop);
    call_report(c);
    g_source_destroy(tick);
    g_source_unref(tick);
    call_teardown(c);
    g_main_context_pop_thread_default(c->ctx);
    g_main_loop_unref(c->loop);
    g_main_context_unref(c->ctx);
    cmn_free(c);
    r->duration = ice_now() - t0;
    return 0;
}
