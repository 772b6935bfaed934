/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_stun.c: the stun check. For each server: resolve, connect (UDP, TCP
 * or TLS), send --count Binding requests one after another and read the
 * mapped address and the round-trip time of each. Over UDP every server
 * is asked from the same local port, so the mapped addresses say how the
 * NAT in front of us maps (RFC 4787 §4.1): the same address from every
 * server is endpoint-independent mapping, a different one is not.
 */
#include "ice_int.h"

#include <stdio.h>

typedef struct stun_run_s {
    const ice_opts_t *o;
    ice_report_t *r;
    ice_stats_t all;          /* every server's transactions */
    uint16_t local_port[2];   /* UDP: the shared local port, per family (v4, v6) */
} stun_run_t;

/* One Binding transaction. Returns 0, or a negative code after recording
 * the failure in the report. */
static int stun_one(stun_run_t *run, ice_conn_t *c, ice_server_res_t *s, ice_stats_t *st)
{
    uint8_t req[ICE_MSG_MAX], resp[ICE_MSG_MAX], tid[STUN_TID_LEN];
    size_t rlen;
    ice_tid(tid);
    ssize_t len = ice_binding_request(req, sizeof(req), tid);
    double t0 = ice_now();
    ice_stats_sent(st, (size_t)len, t0);
    ice_stats_sent(&run->all, (size_t)len, t0);
    int rc = ice_transact(c, req, (size_t)len, t0 + run->o->timeout, resp, sizeof(resp), &rlen);
    double rtt = ice_now() - t0;
    if (rc == CMN_EAGAIN) {
        ice_report_timeout(run->r, "binding", run->o->timeout,
                           c->icmp_seen ? "waiting for a Binding response (ICMP port unreachable seen)"
                                        : "waiting for a Binding response");
        return rc;
    }
    if (rc < 0) {
        ice_report_fail(run->r, "binding", "%s: connection failed", s->target);
        return rc;
    }
    ice_turnc_t none;
    ice_turnc_res_t res;
    ice_turnc_init(&none, NULL, NULL);
    rc = ice_turnc_response(&none, resp, rlen, tid, STUN_METHOD_BINDING, false, &res);
    if (rc < 0) {
        ice_report_fail(run->r, "binding", "%s: malformed Binding response", s->target);
        return rc;
    }
    if (!res.success) {
        ice_report_refused(run->r, "binding", res.code, res.reason);
        return CMN_EPROTO;
    }
    s->mapped = res.mapped;
    ice_stats_arrival(st, rlen, t0, t0 + rtt);
    ice_stats_arrival(&run->all, rlen, t0, t0 + rtt);
    ice_stats_rtt(st, rtt);
    ice_stats_rtt(&run->all, rtt);
    return 0;
}

/* Resolve and connect to server <i>. */
static int stun_connect(stun_run_t *run, size_t i, ice_conn_t *c)
{
    const ice_opts_t *o = run->o;
    ice_server_res_t *s = &run->r->servers[i];
    ice_url_t u;
    const char *why;
    char err[256];
    if (ice_url_parse(&u, o->targets[i], ICE_SCHEME_STUN, &why) < 0 ||
        (u.scheme != ICE_SCHEME_STUN && u.scheme != ICE_SCHEME_STUNS)) {
        ice_report_fail(run->r, "resolve", "%s: %s", o->targets[i],
                        u.scheme ? "expected a stun: or stuns: URL, or HOST[:PORT]" : why);
        return CMN_EINVAL;
    }
    if (ice_resolve(u.host, u.port, &s->server, err, sizeof(err)) < 0) {
        ice_report_fail(run->r, "resolve", "%s", err);
        return CMN_ENOENT;
    }
    int fam = s->server.family == CMN_AF_INET6;
    ice_conn_req_t req = {
        .tp = u.scheme == ICE_SCHEME_STUNS ? ICE_TP_TLS : o->transport,
        .to = s->server,
        .tls = {.ca = o->ca, .insecure = o->insecure, .sni = u.host},
        .local_ip = o->local_address,
        .local_port = run->local_port[fam],
        .deadline = ice_now() + o->timeout,
    };
    int rc = ice_conn_open(c, &req, err, sizeof(err));
    if (rc == CMN_EAGAIN)
        ice_report_timeout(run->r, "connect", o->timeout, "connecting to the server");
    else if (rc < 0)
        ice_report_fail(run->r, "connect", "%s: %s", s->target, err);
    else if (req.tp == ICE_TP_UDP)
        run->local_port[fam] = c->local.port;
    return rc;
}

static void stun_server(stun_run_t *run, size_t i)
{
    ice_server_res_t *s = &run->r->servers[i];
    ice_conn_t c;
    ice_stats_t st;
    snprintf(s->target, sizeof(s->target), "%s", run->o->targets[i]);
    ice_stats_init(&st);
    if (stun_connect(run, i, &c) == 0) {
        s->local = c.local;
        for (int k = 0; k < run->o->count; k++)
            if (stun_one(run, &c, s, &st) < 0)
                break; /* an unanswered server is not asked again */
        ice_conn_close(&c);
    }
    ice_stats_finish(&st, st.sent, &s->t);
    ice_stats_dispose(&st);
}

/* RFC 4787 §4.1: compare what servers saw of one local UDP port. */
static ice_mapping_t stun_mapping(const ice_report_t *r, ice_transport_t tp)
{
    const ice_server_res_t *first = NULL;
    size_t n = 0;
    bool same = true;
    if (tp != ICE_TP_UDP)
        return ICE_MAPPING_UNKNOWN;
    for (size_t i = 0; i < r->nservers; i++) {
        const ice_server_res_t *s = &r->servers[i];
        if (!s->mapped.family || (first && !cmn_addr_equal(&s->local, &first->local)))
            continue; /* another family, or a TLS server asked from its own port */
        if (!first)
            first = s;
        else if (!cmn_addr_equal(&first->mapped, &s->mapped))
            same = false;
        n++;
    }
    if (n < 2)
        return ICE_MAPPING_UNKNOWN;
    return same ? ICE_MAPPING_INDEPENDENT : ICE_MAPPING_DEPENDENT;
}

int ice_run_stun(const ice_opts_t *o, ice_report_t *r)
{
    char target[ICE_TEXT_MAX * 2] = "";
    for (size_t i = 0; i < o->ntargets; i++)
        snprintf(target + strlen(target), sizeof(target) - strlen(target), "%s%s", i ? " " : "",
                 o->targets[i]);
    ice_report_init(r, ICE_CMD_STUN, target);
    stun_run_t run = {.o = o, .r = r};
    ice_stats_init(&run.all);
    double t0 = ice_now();
    r->nservers = o->ntargets;
    for (size_t i = 0; i < o->ntargets; i++)
        stun_server(&run, i);
    /* A stun: URL says nothing of the transport: --transport decides. */
    r->mapping = stun_mapping(r, o->transport);
    ice_stats_finish(&run.all, run.all.sent, &r->traffic);
    ice_stats_dispose(&run.all);
    r->duration = ice_now() - t0;
    return 0;
}
