/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_report_out.c: a judged report as one JSON object (--json, built with
 * jansson) and in the Prometheus text format (serve's /probe answer, written
 * with common/'s exposition writer). Field and metric names are documented
 * in docs/probe.md; keep the two in step.
 */
#include "ice_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_metrics.h"

/* ---- JSON ------------------------------------------------------------------ */

static json_t *json_addr(const cmn_addr_t *a)
{
    char buf[CMN_ADDR_STRLEN];
    return a->family ? json_string(cmn_addr_format(a, buf, sizeof(buf), true)) : json_null();
}

static json_t *json_rtt(const ice_rtt_t *r)
{
    return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "count", (json_int_t)r->n, "min", r->min,
                     "mean", r->mean, "p50", r->p50, "p95", r->p95, "p99", r->p99, "max", r->max);
}

static void json_traffic(json_t *o, const ice_report_t *r)
{
    const ice_traffic_t *t = &r->traffic;
    json_object_set_new(o, "size", json_integer(r->size));
    json_object_set_new(o, "rate", json_real(r->rate));
    json_object_set_new(o, "packets_sent", json_integer((json_int_t)t->sent));
    json_object_set_new(o, "packets_received", json_integer((json_int_t)t->received));
    json_object_set_new(o, "payload_bytes_received", json_integer((json_int_t)t->bytes));
    json_object_set_new(o, "loss_ratio", json_real(t->loss));
    json_object_set_new(o, "jitter_seconds", json_real(t->jitter));
    json_object_set_new(o, "throughput_bps", json_real(t->throughput));
    json_object_set_new(o, "rtt_seconds", json_rtt(&t->rtt));
}

static void json_stun(json_t *o, const ice_report_t *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->nservers; i++) {
        const ice_server_res_t *s = &r->servers[i];
        json_array_append_new(
            arr, json_pack("{s:s,s:o,s:o,s:o,s:I,s:I,s:o}", "target", s->target, "server",
                           json_addr(&s->server), "local", json_addr(&s->local), "mapped",
                           json_addr(&s->mapped), "requests", (json_int_t)s->t.sent, "answered",
                           (json_int_t)s->t.received, "rtt_seconds", json_rtt(&s->t.rtt)));
    }
    json_object_set_new(o, "servers", arr);
    json_object_set_new(o, "mapping", json_string(ice_mapping_name(r->mapping)));
}

static void json_turn(json_t *o, const ice_report_t *r)
{
    json_object_set_new(o, "allocation_seconds", json_real(r->alloc_time));
    json_object_set_new(o, "relayed", json_pack("[o,o]", json_addr(&r->relayed[0]),
                                                json_addr(&r->relayed[1])));
    json_object_set_new(o, "mapped", json_addr(&r->mapped[0]));
    json_object_set_new(o, "lifetime_seconds", json_integer(r->lifetime));
    json_object_set_new(o, "deallocated", json_boolean(r->deallocated));
    json_traffic(o, r);
}

static json_t *json_cands(const unsigned *c)
{
    return json_pack("{s:i,s:i,s:i,s:i}", "host", c[ICE_CTYPE_HOST], "srflx", c[ICE_CTYPE_SRFLX],
                     "prflx", c[ICE_CTYPE_PRFLX], "relay", c[ICE_CTYPE_RELAY]);
}

static void json_call(json_t *o, const ice_report_t *r)
{
    const ice_pair_t *p = &r->pair;
    bool relay = p->local == ICE_CTYPE_RELAY || p->remote == ICE_CTYPE_RELAY;
    json_object_set_new(
        o, "selected_pair",
        p->local == ICE_CTYPE_NONE
            ? json_null()
            : json_pack("{s:s,s:s,s:o,s:o,s:o}", "local", ice_ctype_name(p->local), "remote",
                        ice_ctype_name(p->remote), "local_address", json_addr(&p->local_addr),
                        "remote_address", json_addr(&p->remote_addr), "relay_transport",
                        relay ? json_string(ice_transport_name(p->relay_transport))
                              : json_null()));
    json_object_set_new(o, "candidates", json_pack("{s:o,s:o}", "local",
                                                   json_cands(r->local_candidates), "remote",
                                                   json_cands(r->remote_candidates)));
    json_object_set_new(o, "gather_seconds", json_real(r->gather_time));
    json_object_set_new(o, "connect_seconds", json_real(r->connect_time));
    json_object_set_new(o, "srtp_suite", json_string(ice_srtp_suite_name(r->srtp)));
    json_object_set_new(o, "srtp_auth_failures", json_integer((json_int_t)r->srtp_auth_failures));
    json_traffic(o, r);
}

static json_t *json_error(const ice_report_t *r)
{
    if (!r->step[0])
        return json_null();
    return json_pack("{s:s,s:s,s:o,s:o,s:o}", "step", r->step, "message", r->error, "code",
                     r->error_code ? json_integer(r->error_code) : json_null(), "reason",
                     r->error_code ? json_string(r->error_reason) : json_null(), "timeout_seconds",
                     r->timed_out ? json_real(r->timeout) : json_null());
}

char *ice_report_json(const ice_report_t *r)
{
    json_t *fails = json_array();
    for (size_t i = 0; i < r->nfailures; i++)
        json_array_append_new(fails, json_string(r->failures[i]));
    json_t *o = json_pack("{s:s,s:s,s:b,s:o,s:f,s:o}", "command", ice_cmd_name(r->cmd), "target",
                          r->target, "pass", r->pass, "failures", fails, "duration_seconds",
                          r->duration, "error", json_error(r));
    if (r->cmd == ICE_CMD_STUN)
        json_stun(o, r);
    else if (r->cmd == ICE_CMD_TURN)
        json_turn(o, r);
    else if (r->cmd == ICE_CMD_CALL)
        json_call(o, r);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    size_t n = s ? strlen(s) : 0;
    char *out = cmn_malloc(n + 2);
    if (n)
        memcpy(out, s, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    free(s);
    return out;
}

/* ---- Prometheus ------------------------------------------------------------ */

static void prom_gauge(cmn_prom_t *p, const char *name, const char *help, double v)
{
    cmn_prom_family(p, name, "gauge", help);
    cmn_prom_sample(p, name, v, CMN_PROM_END);
}

static void prom_rtt(cmn_prom_t *p, const ice_rtt_t *r)
{
    cmn_prom_family(p, "icehub_probe_rtt_seconds", "summary",
                    "Round-trip times the check measured");
    cmn_prom_sample(p, "icehub_probe_rtt_seconds", r->p50, "quantile", "0.5", CMN_PROM_END);
    cmn_prom_sample(p, "icehub_probe_rtt_seconds", r->p95, "quantile", "0.95", CMN_PROM_END);
    cmn_prom_sample(p, "icehub_probe_rtt_seconds", r->p99, "quantile", "0.99", CMN_PROM_END);
    cmn_prom_sample(p, "icehub_probe_rtt_seconds_sum", r->mean * (double)r->n, CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_probe_rtt_seconds_count", r->n, CMN_PROM_END);
}

static void prom_traffic(cmn_prom_t *p, const ice_traffic_t *t)
{
    prom_rtt(p, &t->rtt);
    prom_gauge(p, "icehub_probe_loss_ratio", "Fraction of the probe's packets that did not arrive",
               t->loss);
    prom_gauge(p, "icehub_probe_jitter_seconds", "Interarrival jitter (RFC 3550)", t->jitter);
    prom_gauge(p, "icehub_probe_throughput_bytes_per_second",
               "Payload bytes per second that arrived", t->throughput / 8);
    prom_gauge(p, "icehub_probe_packets_sent", "Packets the check sent", (double)t->sent);
    prom_gauge(p, "icehub_probe_packets_received", "Packets that arrived (came back for turn)",
               (double)t->received);
}

/* stun: the runner put the Binding transactions of every server in
 * r->traffic, as one stream. */
static void prom_stun(cmn_prom_t *p, const ice_report_t *r)
{
    prom_traffic(p, &r->traffic);
    cmn_prom_family(p, "icehub_probe_nat_mapping_info", "gauge",
                    "NAT mapping behaviour seen from several servers (RFC 4787)");
    cmn_prom_sample(p, "icehub_probe_nat_mapping_info", 1, "mapping", ice_mapping_name(r->mapping),
                    CMN_PROM_END);
}

static void prom_call(cmn_prom_t *p, const ice_report_t *r)
{
    prom_traffic(p, &r->traffic);
    prom_gauge(p, "icehub_probe_gather_seconds", "Seconds to gather local candidates",
               r->gather_time);
    prom_gauge(p, "icehub_probe_connect_seconds", "Seconds from remote candidates to connected",
               r->connect_time);
    prom_gauge(p, "icehub_probe_srtp_auth_failures",
               "SRTP packets that failed authentication or replay checks",
               (double)r->srtp_auth_failures);
    if (r->pair.local == ICE_CTYPE_NONE)
        return;
    bool relay = r->pair.local == ICE_CTYPE_RELAY || r->pair.remote == ICE_CTYPE_RELAY;
    cmn_prom_family(p, "icehub_probe_selected_pair_info", "gauge",
                    "The candidate pair ICE selected");
    cmn_prom_sample(p, "icehub_probe_selected_pair_info", 1, "local",
                    ice_ctype_name(r->pair.local), "remote", ice_ctype_name(r->pair.remote),
                    "relay_transport", relay ? ice_transport_name(r->pair.relay_transport) : "",
                    CMN_PROM_END);
}

char *ice_report_prom(const ice_report_t *r, size_t *len)
{
    cmn_prom_t p;
    cmn_prom_init(&p);
    prom_gauge(&p, "icehub_probe_success", "1 if the check met its thresholds", r->pass);
    prom_gauge(&p, "icehub_probe_duration_seconds", "Seconds the check took", r->duration);
    prom_gauge(&p, "icehub_probe_error_code",
               "STUN error code of the response that refused the check, 0 if none",
               r->error_code);
    prom_gauge(&p, "icehub_probe_timed_out", "1 if a step ran out of its timeout", r->timed_out);
    if (r->step[0]) {
        cmn_prom_family(&p, "icehub_probe_failed_step_info", "gauge",
                        "The step at which the check failed");
        cmn_prom_sample(&p, "icehub_probe_failed_step_info", 1, "step", r->step, CMN_PROM_END);
    }
    if (r->cmd == ICE_CMD_STUN) {
        prom_stun(&p, r);
    } else if (r->cmd == ICE_CMD_TURN) {
        prom_traffic(&p, &r->traffic);
        prom_gauge(&p, "icehub_probe_allocation_seconds", "Seconds to make both allocations",
                   r->alloc_time);
    } else if (r->cmd == ICE_CMD_CALL) {
        prom_call(&p, r);
    }
    return cmn_prom_take(&p, len);
}
