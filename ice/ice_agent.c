/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_agent.c: one end of the call check on libnice and libsrtp: an ICE
 * agent (RFC 8445) with the hub's STUN and TURN servers, its candidates
 * and credentials for the offer or answer, the peer's applied, and once
 * connected a paced stream of SRTP-protected RTP in which every packet
 * echoes the peer's clock for the round-trip time (as RTCP's LSR/DLSR,
 * RFC 3550 §6.4.1). Runs on the check's GMainContext; ice_call.c decides
 * when each step happens.
 */
#include "ice_int.h"

#include <math.h>
#include <nice/agent.h>
#include <stdio.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"

static ice_ctype_t agent_ctype(NiceCandidateType t)
{
    switch (t) {
    case NICE_CANDIDATE_TYPE_HOST:
        return ICE_CTYPE_HOST;
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
        return ICE_CTYPE_SRFLX;
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
        return ICE_CTYPE_PRFLX;
    case NICE_CANDIDATE_TYPE_RELAYED:
        return ICE_CTYPE_RELAY;
    }
    return ICE_CTYPE_NONE;
}

static void agent_addr(const NiceAddress *na, cmn_addr_t *out)
{
    char ip[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(na, ip);
    if (cmn_addr_parse_ip(out, ip) < 0)
        memset(out, 0, sizeof(*out));
    else
        out->port = (uint16_t)nice_address_get_port(na);
}

/* ---- Receiving ------------------------------------------------------------ */

static void agent_rtp(ice_end_t *e, const ice_rtp_t *rtp, double now)
{
    ice_pkt_t p;
    if (rtp->pt != ICE_RTP_PT || ice_pkt_decode(rtp->payload, rtp->payload_len, &p) < 0)
        return;
    if (!e->rx_any) {
        e->rx_any = true;
        e->rx_ts0 = rtp->ts;
    }
    /* The sender's RTP clock relative to its first packet we saw (wraps
     * after 13 hours at 90 kHz, far beyond any check). */
    double sent_ts = (double)(uint32_t)(rtp->ts - e->rx_ts0) / ICE_RTP_CLOCK;
    ice_stats_arrival(&e->rx, rtp->payload_len, sent_ts, now);
    if (p.echo_ts_us) {
        double rtt = now - (double)p.echo_ts_us * 1e-6 - (double)p.hold_us * 1e-6;
        if (rtt >= 0 && rtt < 60)
            ice_stats_rtt(&e->rx, rtt);
    }
    e->last_peer_ts_us = p.ts_us;
    e->last_peer_arrival = now;
}

static void agent_recv(NiceAgent *agent, guint stream, guint component, guint len, gchar *buf,
                       gpointer ud)
{
    ice_end_t *e = ud;
    uint8_t pkt[2048];
    size_t n = len;
    ice_rtp_t rtp;
    CMN_UNUSED(agent);
    CMN_UNUSED(stream);
    CMN_UNUSED(component);
    if (!e->srtp_on || n > sizeof(pkt))
        return;
    memcpy(pkt, buf, n);
    int rc = ice_srtp_unprotect(&e->srtp, pkt, &n);
    if (rc == CMN_EAUTH)
        e->auth_failures++;
    else if (rc == CMN_EEXIST)
        e->replays++;
    if (rc == 0 && ice_rtp_parse(pkt, n, &rtp) == 0)
        agent_rtp(e, &rtp, ice_now());
}

/* ---- Sending --------------------------------------------------------------- */

static void agent_send_one(ice_end_t *e, double now)
{
    const ice_opts_t *o = ice__call_opts(e);
    uint8_t pkt[ICE_RTP_HDR + ICE_MAX_SIZE + 64];
    ice_pkt_t p = {.seq = (uint32_t)e->sent, .ts_us = (uint64_t)(now * 1e6)};
    if (e->last_peer_ts_us) {
        p.echo_ts_us = e->last_peer_ts_us;
        p.hold_us = (uint32_t)((now - e->last_peer_arrival) * 1e6);
    }
    size_t size = (size_t)o->size;
    ice_pkt_encode(pkt + ICE_RTP_HDR, size, &p);
    ice_rtp_t rtp = {.pt = ICE_RTP_PT, .seq = e->seq++, .ssrc = e->ssrc,
                     .ts = e->ts0 + (uint32_t)((now - e->t_send0) * ICE_RTP_CLOCK)};
    size_t len = ice_rtp_header(pkt, &rtp, size);
    if (ice_srtp_protect(&e->srtp, pkt, &len, sizeof(pkt)) == 0)
        nice_agent_send(e->agent, e->stream, 1, (guint)len, (const gchar *)pkt);
    e->sent++;
}

/* The pacing timer: packet i leaves at t_send0 + i / rate. */
static gboolean agent_tick(gpointer ud)
{
    ice_end_t *e = ud;
    double now = ice_now(), rate = ice__call_opts(e)->rate;
    while (e->sent < e->target && now >= e->t_send0 + (double)e->sent / rate)
        agent_send_one(e, now);
    if (e->sent < e->target)
        return G_SOURCE_CONTINUE;
    e->send_timer = 0;
    e->sending_done = true;
    ice__call_sent_all(e);
    return G_SOURCE_REMOVE;
}

void ice__agent_media(ice_end_t *e)
{
    const ice_opts_t *o = ice__call_opts(e);
    e->target = (uint64_t)ceil(o->duration * o->rate);
    e->t_send0 = ice_now();
    unsigned ms = (unsigned)CMN_MAX(1.0, floor(1000.0 / o->rate / 2));
    GSource *src = g_timeout_source_new(ms);
    g_source_set_callback(src, agent_tick, e, NULL);
    e->send_timer = g_source_attach(src, ice__call_context(e));
    g_source_unref(src);
}

/* ---- Signals ----------------------------------------------------------------- */

static void agent_gathered(NiceAgent *agent, guint stream, gpointer ud)
{
    ice_end_t *e = ud;
    CMN_UNUSED(agent);
    CMN_UNUSED(stream);
    e->gathered = true;
    e->t_gathered = ice_now();
    ice__call_gathered(e);
}

static void agent_state(NiceAgent *agent, guint stream, guint component, guint state,
                        gpointer ud)
{
    ice_end_t *e = ud;
    CMN_UNUSED(agent);
    CMN_UNUSED(stream);
    CMN_UNUSED(component);
    if (state == NICE_COMPONENT_STATE_READY && !e->connected) {
        e->connected = true;
        e->t_connected = ice_now();
        ice__call_connected(e);
    } else if (state == NICE_COMPONENT_STATE_FAILED && !e->connected) {
        ice__call_fail(e, "ice", "ICE failed: no candidate pair worked");
    }
}

/* ---- Setup ------------------------------------------------------------------- */

/* The hub's first STUN server and the TURN server of --turn-transport,
 * resolved. */
static void agent_pick(ice_end_t *e, cmn_addr_t *stun, const ice_iceserver_t **turn,
                       cmn_addr_t *turn_ip)
{
    const ice_opts_t *o = ice__call_opts(e);
    memset(stun, 0, sizeof(*stun));
    *turn = NULL;
    for (size_t i = 0; i < e->nservers; i++) {
        const ice_iceserver_t *s = &e->servers[i];
        bool is_turn = s->url.scheme == ICE_SCHEME_TURN || s->url.scheme == ICE_SCHEME_TURNS;
        cmn_addr_t ip;
        char why[200];
        if ((is_turn && (*turn || s->url.transport != o->turn_transport)) ||
            (!is_turn && (stun->family || s->url.scheme != ICE_SCHEME_STUN)) ||
            ice_resolve(s->url.host, s->url.port, &ip, why, sizeof(why)) < 0)
            continue;
        if (is_turn) {
            *turn = s;
            *turn_ip = ip;
        } else {
            *stun = ip;
        }
    }
}

static int agent_servers(ice_end_t *e, NiceAgent *a, char *err, size_t errlen)
{
    const ice_opts_t *o = ice__call_opts(e);
    const ice_iceserver_t *turn;
    cmn_addr_t stun, turn_ip;
    char ipt[CMN_ADDR_STRLEN];
    agent_pick(e, &stun, &turn, &turn_ip);
    if (!turn && o->relay_only) {
        snprintf(err, errlen, "the hub's iceServers have no TURN server over %s",
                 ice_transport_name(o->turn_transport));
        return CMN_EINVAL;
    }
    if (turn) {
        cmn_addr_format(&turn_ip, ipt, sizeof(ipt), false);
        nice_agent_set_relay_info(a, e->stream, 1, ipt, turn_ip.port, turn->user, turn->cred,
                                  turn->url.transport == ICE_TP_TCP ? NICE_RELAY_TYPE_TURN_TCP
                                                                    : NICE_RELAY_TYPE_TURN_UDP);
        e->relay_tp = turn->url.transport;
    }
    /* The Allocate response's XOR-MAPPED-ADDRESS gives libnice the srflx
     * candidate; a STUN server at the TURN server's own address would only
     * confuse its demultiplexing (it drops those Binding responses as
     * misrouted TURN traffic and waits out its retransmissions). */
    if (stun.family && !(turn && turn->url.transport == ICE_TP_UDP &&
                         cmn_addr_equal(&stun, &turn_ip))) {
        cmn_addr_format(&stun, ipt, sizeof(ipt), false);
        g_object_set(a, "stun-server", ipt, "stun-server-port", (guint)stun.port, NULL);
    }
    return 0;
}

static void agent_local_address(ice_end_t *e, NiceAgent *a)
{
    const ice_opts_t *o = ice__call_opts(e);
    const char *ip = o->local_address ? o->local_address
                     : ice__call_loopback(e) ? "127.0.0.1" : NULL;
    if (!ip)
        return; /* libnice takes every interface */
    NiceAddress na;
    nice_address_init(&na);
    if (nice_address_set_from_string(&na, ip))
        nice_agent_add_local_address(a, &na);
}

int ice__agent_start(ice_end_t *e, char *err, size_t errlen)
{
    const ice_opts_t *o = ice__call_opts(e);
    NiceAgent *a = nice_agent_new_full(ice__call_context(e), NICE_COMPATIBILITY_RFC5245,
                                       NICE_AGENT_OPTION_NONE);
    if (!a) {
        snprintf(err, errlen, "cannot create an ICE agent");
        return CMN_EIO;
    }
    e->agent = a;
    g_object_set(a, "upnp", FALSE, "ice-tcp", FALSE, "controlling-mode", (gboolean)e->offerer,
                 "force-relay", (gboolean)o->relay_only, NULL);
    agent_local_address(e, a);
    e->stream = nice_agent_add_stream(a, 1);
    if (e->stream == 0) {
        snprintf(err, errlen, "cannot add an ICE stream");
        return CMN_EIO;
    }
    nice_agent_set_stream_name(a, e->stream, "audio");
    if (agent_servers(e, a, err, errlen) < 0)
        return CMN_EINVAL;
    g_signal_connect(a, "candidate-gathering-done", G_CALLBACK(agent_gathered), e);
    g_signal_connect(a, "component-state-changed", G_CALLBACK(agent_state), e);
    nice_agent_attach_recv(a, e->stream, 1, ice__call_context(e), agent_recv, e);
    cmn_random(&e->ssrc, sizeof(e->ssrc));
    cmn_random(&e->ts0, sizeof(e->ts0));
    cmn_random(&e->seq, sizeof(e->seq));
    e->t_gather = ice_now();
    if (!nice_agent_gather_candidates(a, e->stream)) {
        snprintf(err, errlen, "cannot gather candidates (no usable local address?)");
        return CMN_EIO;
    }
    return 0;
}

void ice__agent_local(ice_end_t *e, ice_pmsg_t *pm)
{
    const ice_opts_t *o = ice__call_opts(e);
    gchar *ufrag = NULL, *pwd = NULL;
    nice_agent_get_local_credentials(e->agent, e->stream, &ufrag, &pwd);
    snprintf(pm->ufrag, sizeof(pm->ufrag), "%s", ufrag ? ufrag : "");
    snprintf(pm->pwd, sizeof(pm->pwd), "%s", pwd ? pwd : "");
    g_free(ufrag);
    g_free(pwd);
    GSList *cands = nice_agent_get_local_candidates(e->agent, e->stream, 1);
    for (GSList *l = cands; l && pm->ncands < ICE_MAX_CANDS; l = l->next) {
        NiceCandidate *c = l->data;
        ice_ctype_t t = agent_ctype(c->type);
        if (o->relay_only && t != ICE_CTYPE_RELAY)
            continue;
        gchar *sdp = nice_agent_generate_local_candidate_sdp(e->agent, c);
        const char *line = sdp && !strncmp(sdp, "a=", 2) ? sdp + 2 : sdp;
        if (line && strlen(line) <= ICE_CAND_MAX &&
            ice_cand_parse(&pm->cand[pm->ncands], line, strlen(line), NULL) == 0) {
            snprintf(pm->cand_text[pm->ncands++], ICE_CAND_MAX + 1, "%s", line);
            e->local_c[t]++;
        }
        g_free(sdp);
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    pm->suite = o->srtp;
    pm->keylen = ice_srtp_key_len(o->srtp);
    cmn_random(e->txkey, pm->keylen);
    memcpy(pm->key, e->txkey, pm->keylen);
}

int ice__agent_remote(ice_end_t *e, const ice_pmsg_t *pm, char *err, size_t errlen)
{
    const ice_opts_t *o = ice__call_opts(e);
    if (pm->suite != o->srtp) {
        snprintf(err, errlen, "the peer uses %s, this probe %s", ice_srtp_suite_name(pm->suite),
                 ice_srtp_suite_name(o->srtp));
        return CMN_EINVAL;
    }
    if (ice_srtp_start(&e->srtp, o->srtp, e->txkey, pm->key, pm->keylen) < 0) {
        snprintf(err, errlen, "libsrtp refused the keys");
        return CMN_EINVAL;
    }
    e->srtp_on = true;
    nice_agent_set_remote_credentials(e->agent, e->stream, pm->ufrag, pm->pwd);
    GSList *list = NULL;
    for (size_t i = 0; i < pm->ncands; i++) {
        char line[ICE_CAND_MAX + 3];
        snprintf(line, sizeof(line), "a=%s", pm->cand_text[i]);
        NiceCandidate *c = pm->cand[i].component == 1
                               ? nice_agent_parse_remote_candidate_sdp(e->agent, e->stream, line)
                               : NULL;
        if (!c)
            continue;
        e->remote_c[pm->cand[i].type]++;
        list = g_slist_append(list, c);
    }
    int n = list ? nice_agent_set_remote_candidates(e->agent, e->stream, 1, list) : 0;
    g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
    if (n <= 0) {
        snprintf(err, errlen, "the peer sent no candidate this probe can use");
        return CMN_EINVAL;
    }
    e->remote_set = true;
    e->t_remote = ice_now();
    return 0;
}

void ice__agent_pair(ice_end_t *e, ice_pair_t *out)
{
    NiceCandidate *l = NULL, *r = NULL;
    memset(out, 0, sizeof(*out));
    if (!e->agent || !nice_agent_get_selected_pair(e->agent, e->stream, 1, &l, &r))
        return;
    out->local = agent_ctype(l->type);
    out->remote = agent_ctype(r->type);
    out->relay_transport = e->relay_tp;
    agent_addr(&l->addr, &out->local_addr);
    agent_addr(&r->addr, &out->remote_addr);
}

static void agent_closed(GObject *src, GAsyncResult *res, gpointer ud)
{
    ice_end_t *e = ud;
    CMN_UNUSED(src);
    CMN_UNUSED(res);
    e->closed = true;
}

void ice__agent_free(ice_end_t *e, GMainContext *ctx)
{
    if (e->send_timer) {
        GSource *s = g_main_context_find_source_by_id(ctx, e->send_timer);
        if (s)
            g_source_destroy(s);
        e->send_timer = 0;
    }
    if (e->agent) {
        /* Closing releases the TURN allocations (Refresh with lifetime 0);
         * give it a second. The receive callback stays attached until then:
         * without one libnice stops reading its sockets, never sees the
         * Refresh responses, and a readable socket spins the loop. */
        e->srtp_on = false; /* agent_recv ignores what still arrives */
        nice_agent_close_async(e->agent, agent_closed, e);
        double until = ice_now() + 1.0;
        while (!e->closed && ice_now() < until)
            if (!g_main_context_iteration(ctx, FALSE))
                g_usleep(1000);
        nice_agent_attach_recv(e->agent, e->stream, 1, ctx, NULL, NULL);
        g_object_unref(e->agent);
        e->agent = NULL;
    }
    ice_srtp_dispose(&e->srtp);
}
