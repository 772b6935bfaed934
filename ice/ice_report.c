/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_report.c: a check's report: recording why it failed, the verdict
 * against the thresholds, and the readable summary. The JSON and
 * Prometheus forms are in ice_report_out.c. Pure: a report in, text out.
 */
#include "ice_int.h"

#include <stdarg.h>
#include <stdio.h>

const char *ice_mapping_name(ice_mapping_t m)
{
    switch (m) {
    case ICE_MAPPING_INDEPENDENT:
        return "endpoint-independent";
    case ICE_MAPPING_DEPENDENT:
        return "endpoint-dependent";
    case ICE_MAPPING_UNKNOWN:
        break;
    }
    return "unknown";
}

const char *ice_cmd_name(ice_cmd_t c)
{
    static const char *const names[] = {"stun", "turn", "call", "serve"};
    return (unsigned)c < CMN_ARRAY_LEN(names) ? names[c] : "?";
}

void ice_report_init(ice_report_t *r, ice_cmd_t cmd, const char *target)
{
    memset(r, 0, sizeof(*r));
    r->cmd = cmd;
    snprintf(r->target, sizeof(r->target), "%s", target ? target : "");
}

static bool report_failed(const ice_report_t *r)
{
    return r->step[0] != '\0';
}

void ice_report_fail(ice_report_t *r, const char *step, const char *fmt, ...)
{
    if (report_failed(r))
        return;
    snprintf(r->step, sizeof(r->step), "%s", step);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

void ice_report_refused(ice_report_t *r, const char *step, int code, const char *reason)
{
    if (report_failed(r))
        return;
    r->error_code = code;
    snprintf(r->error_reason, sizeof(r->error_reason), "%s", reason ? reason : "");
    ice_report_fail(r, step, "%s refused: %d %s", step, code, r->error_reason);
}

void ice_report_timeout(ice_report_t *r, const char *step, double secs, const char *what)
{
    if (report_failed(r))
        return;
    r->timed_out = true;
    r->timeout = secs;
    ice_report_fail(r, step, "timeout after %.1f s %s", secs, what);
}

static void judge_add(ice_report_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void judge_add(ice_report_t *r, const char *fmt, ...)
{
    if (r->nfailures == ICE_MAX_FAILURES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->failures[r->nfailures++], sizeof(r->failures[0]), fmt, ap);
    va_end(ap);
}

void ice_report_judge(ice_report_t *r, const ice_limits_t *lim)
{
    r->nfailures = 0;
    if (report_failed(r))
        judge_add(r, "%s", r->error);
    /* For stun, r->traffic holds every server's Binding transactions. */
    double loss = r->traffic.loss, p95 = r->traffic.rtt.p95;
    uint64_t received = r->traffic.received;
    if (!report_failed(r) && received == 0)
        judge_add(r, "no packet arrived");
    if (lim->max_loss >= 0 && loss > lim->max_loss)
        judge_add(r, "loss %.2f%% over --max-loss %.2f%%", loss * 100, lim->max_loss * 100);
    if (lim->max_rtt >= 0 && received > 0 && p95 > lim->max_rtt)
        judge_add(r, "rtt p95 %.2f ms over --max-rtt %.2f ms", p95 * 1e3, lim->max_rtt * 1e3);
    if (r->cmd == ICE_CMD_CALL && r->srtp_auth_failures)
        judge_add(r, "%llu SRTP packets failed authentication",
                  (unsigned long long)r->srtp_auth_failures);
    if (r->cmd == ICE_CMD_CALL && lim->require != ICE_CTYPE_NONE && !report_failed(r)) {
        ice_ctype_t got = r->pair.local == ICE_CTYPE_PRFLX ? ICE_CTYPE_SRFLX : r->pair.local;
        if (got != lim->require)
            judge_add(r, "selected pair is %s, --require %s", ice_ctype_name(r->pair.local),
                      ice_ctype_name(lim->require));
    }
    r->pass = r->nfailures == 0;
}

int ice_report_exit(const ice_report_t *r)
{
    return r->pass ? ICE_EXIT_PASS : ICE_EXIT_FAIL;
}

/* ---- Text ------------------------------------------------------------------ */

typedef struct txt_s {
    char *buf;
    size_t len, cap;
} txt_t;

static void txt_add(txt_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void txt_add(txt_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = 2 * t->cap + (size_t)n;
        t->buf = cmn_realloc(t->buf, t->cap);
    }
}

static const char *addr_txt(const cmn_addr_t *a, char *buf)
{
    return cmn_addr_format(a, buf, CMN_ADDR_STRLEN, true);
}

static void txt_rtt(txt_t *t, const ice_rtt_t *r)
{
    if (r->n == 0) {
        txt_add(t, "  rtt           none measured\n");
        return;
    }
    txt_add(t, "  rtt           p50 %.3f ms  p95 %.3f ms  p99 %.3f ms  (min %.3f, mean %.3f, max %.3f; %zu samples)\n",
            r->p50 * 1e3, r->p95 * 1e3, r->p99 * 1e3, r->min * 1e3, r->mean * 1e3, r->max * 1e3,
            r->n);
}

static void txt_traffic(txt_t *t, const ice_report_t *r, const char *what)
{
    const ice_traffic_t *tr = &r->traffic;
    txt_add(t, "  stream        %llu packets of %d bytes, %.0f/s %s\n",
            (unsigned long long)tr->sent, r->size, r->rate, what);
    txt_rtt(t, &tr->rtt);
    txt_add(t, "  jitter        %.3f ms\n", tr->jitter * 1e3);
    txt_add(t, "  loss          %.2f%% (%llu sent, %llu arrived)\n", tr->loss * 100,
            (unsigned long long)tr->sent, (unsigned long long)tr->received);
    txt_add(t, "  throughput    %.1f kbit/s\n", tr->throughput / 1e3);
}

static void txt_stun(txt_t *t, const ice_report_t *r)
{
    char a[CMN_ADDR_STRLEN], b[CMN_ADDR_STRLEN], c[CMN_ADDR_STRLEN];
    for (size_t i = 0; i < r->nservers; i++) {
        const ice_server_res_t *s = &r->servers[i];
        txt_add(t, "  server        %s (%s)\n", s->target, addr_txt(&s->server, a));
        if (s->t.sent == 0)
            continue;
        txt_add(t, "    mapped      %s  (local %s)\n",
                s->mapped.family ? addr_txt(&s->mapped, b) : "none", addr_txt(&s->local, c));
        txt_add(t, "    answered    %llu of %llu; rtt p50 %.3f ms, max %.3f ms\n",
                (unsigned long long)s->t.received, (unsigned long long)s->t.sent,
                s->t.rtt.p50 * 1e3, s->t.rtt.max * 1e3);
    }
    if (r->nservers > 1)
        txt_add(t, "  nat mapping   %s\n", ice_mapping_name(r->mapping));
}

static void txt_turn(txt_t *t, const ice_report_t *r)
{
    char a[CMN_ADDR_STRLEN], b[CMN_ADDR_STRLEN], c[CMN_ADDR_STRLEN];
    if (!r->relayed[1].family)
        return;
    txt_add(t, "  allocations   2 in %.3f ms, lifetime %u s\n", r->alloc_time * 1e3,
            (unsigned)r->lifetime);
    txt_add(t, "    relayed     %s and %s\n", addr_txt(&r->relayed[0], a),
            addr_txt(&r->relayed[1], b));
    txt_add(t, "    mapped      %s\n", addr_txt(&r->mapped[0], c));
    if (r->traffic.sent)
        txt_traffic(t, r, "relay to relay and back");
    txt_add(t, "  deallocation  %s\n", r->deallocated ? "ok" : "not done");
}

static void txt_call(txt_t *t, const ice_report_t *r)
{
    char a[CMN_ADDR_STRLEN], b[CMN_ADDR_STRLEN];
    const unsigned *lc = r->local_candidates, *rc = r->remote_candidates;
    txt_add(t, "  candidates    local %u host, %u srflx, %u relay; remote %u host, %u srflx, %u relay\n",
            lc[ICE_CTYPE_HOST], lc[ICE_CTYPE_SRFLX], lc[ICE_CTYPE_RELAY], rc[ICE_CTYPE_HOST],
            rc[ICE_CTYPE_SRFLX], rc[ICE_CTYPE_RELAY]);
    if (r->pair.local == ICE_CTYPE_NONE)
        return;
    txt_add(t, "  selected pair %s %s -> %s %s", ice_ctype_name(r->pair.local),
            addr_txt(&r->pair.local_addr, a), ice_ctype_name(r->pair.remote),
            addr_txt(&r->pair.remote_addr, b));
    if (r->pair.local == ICE_CTYPE_RELAY || r->pair.remote == ICE_CTYPE_RELAY)
        txt_add(t, " (relay over %s)", ice_transport_name(r->pair.relay_transport));
    txt_add(t, "\n  connected     in %.3f ms (gathering %.3f ms)\n", r->connect_time * 1e3,
            r->gather_time * 1e3);
    txt_add(t, "  srtp          %s, %llu authentication failures\n", ice_srtp_suite_name(r->srtp),
            (unsigned long long)r->srtp_auth_failures);
    if (r->traffic.sent)
        txt_traffic(t, r, "each way (both ways counted)");
}

char *ice_report_text(const ice_report_t *r)
{
    txt_t t = {cmn_malloc(1024), 0, 1024};
    t.buf[0] = '\0';
    txt_add(&t, "icehub-probe %s %s\n", ice_cmd_name(r->cmd), r->target);
    if (r->cmd == ICE_CMD_STUN)
        txt_stun(&t, r);
    else if (r->cmd == ICE_CMD_TURN)
        txt_turn(&t, r);
    else if (r->cmd == ICE_CMD_CALL)
        txt_call(&t, r);
    if (report_failed(r))
        txt_add(&t, "  error         %s (step: %s)\n", r->error, r->step);
    txt_add(&t, "  duration      %.3f s\n", r->duration);
    if (r->pass) {
        txt_add(&t, "PASS\n");
    } else {
        txt_add(&t, "FAIL");
        for (size_t i = 0; i < r->nfailures; i++)
            txt_add(&t, "%s%s", i ? "; " : ": ", r->failures[i]);
        txt_add(&t, "\n");
    }
    return t.buf;
}
