/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_serve.c: `icehub-probe serve`, an HTTP endpoint in the manner of
 * Prometheus' blackbox_exporter: GET /probe?module=M&target=T runs one
 * check and answers its report in the Prometheus text format; /metrics
 * counts the probes served; / lists the modules. HTTP is libwebsockets'
 * server on the main thread; each check runs on a thread of its own (it
 * may take seconds), so one slow target never holds up another scrape.
 * A finished check wakes the service loop (lws_cancel_service), which
 * writes the answer. At most SERVE_MAX_BUSY checks run at once; past that
 * a scrape gets 503.
 */
#include "ice_int.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_log.h"
#include "common/cmn_metrics.h"

#define SERVE_MAX_BUSY 8          /* checks running at once */
#define SERVE_PROM_CTYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct serve_s serve_t;

/* One scrape: made on the service thread, run on its own thread, answered
 * and freed on the service thread. */
typedef struct serve_job_s {
    serve_t *srv;
    struct lws *wsi;          /* NULL once the client went away */
    size_t module;            /* index in srv->mods */
    ice_opts_t opts;          /* owned */
    bool done;                /* under srv->lock */
    bool pass;
    char *body;               /* owned: the answer */
    size_t len;
    struct serve_job_s *next;
} serve_job_t;

struct serve_s {
    struct lws_context *ctx;
    ice_modules_t mods;
    pthread_mutex_t lock;
    serve_job_t *jobs;        /* running or waiting to be written; under lock */
    int busy;                 /* under lock */
    uint64_t *ok, *failed;    /* probes per module, service thread only */
    uint64_t refused_busy;
    char iface[CMN_ADDR_STRLEN];
};

/* Per connection: the answer being written, in two steps (head, body). */
typedef struct serve_pss_s {
    serve_job_t *job;         /* a scrape in progress, or NULL */
    unsigned status;
    const char *ctype;
    char *body;               /* owned */
    size_t len;
    bool head_done;
} serve_pss_t;

static volatile sig_atomic_t serve_stop;
static struct lws_context *serve_ctx_for_signal;

static void serve_on_signal(int sig)
{
    CMN_UNUSED(sig);
    serve_stop = 1;
    if (serve_ctx_for_signal)
        lws_cancel_service(serve_ctx_for_signal); /* writes one byte to a pipe */
}

static void *serve_job_main(void *arg)
{
    serve_job_t *j = arg;
    ice_report_t *r = cmn_malloc(sizeof(*r));
    ice_run(&j->opts, r);
    ice_report_judge(r, &j->opts.lim);
    size_t len;
    char *body = ice_report_prom(r, &len);
    pthread_mutex_lock(&j->srv->lock);
    j->body = body;
    j->len = len;
    j->pass = r->pass;
    j->done = true;
    pthread_mutex_unlock(&j->srv->lock);
    cmn_free(r);
    lws_cancel_service(j->srv->ctx);
    return NULL;
}

static void serve_job_free(serve_job_t *j)
{
    ice_opts_dispose(&j->opts);
    cmn_free(j->body);
    cmn_free(j);
}

static void serve_answer(serve_pss_t *pss, unsigned status, const char *ctype, char *body,
                         size_t len)
{
    pss->status = status;
    pss->ctype = ctype;
    pss->body = body;
    pss->len = len;
    pss->head_done = false;
}

static void serve_text(serve_pss_t *pss, unsigned status, const char *text)
{
    serve_answer(pss, status, "text/plain; charset=utf-8", cmn_strdup(text), strlen(text));
}

/* /probe: check the arguments, then start the check's thread. */
static void serve_probe(serve_t *s, struct lws *wsi, serve_pss_t *pss)
{
    char mbuf[128], tbuf[ICE_TEXT_MAX + 16], tmo[32] = "", err[512];
    const char *mod = lws_get_urlarg_by_name(wsi, "module=", mbuf, sizeof(mbuf));
    const char *target = lws_get_urlarg_by_name(wsi, "target=", tbuf, sizeof(tbuf));
    const ice_module_t *m = mod ? ice_modules_find(&s->mods, mod) : NULL;
    if (!m) {
        snprintf(err, sizeof(err), "unknown module \"%.64s\": see / for the list\n",
                 mod ? mod : "");
        serve_text(pss, 400, err);
        return;
    }
    double scrape_timeout = 0;
    if (lws_hdr_custom_copy(wsi, tmo, sizeof(tmo), "x-prometheus-scrape-timeout-seconds:",
                            36) > 0)
        scrape_timeout = atof(tmo);
    serve_job_t *j = cmn_calloc(1, sizeof(*j));
    if (ice_module_opts(m, target, scrape_timeout, &j->opts, err, sizeof(err)) < 0) {
        cmn_free(j);
        strcat(err, "\n");
        serve_text(pss, 400, err);
        return;
    }
    j->srv = s;
    j->wsi = wsi;
    j->module = (size_t)(m - s->mods.v);
    pthread_mutex_lock(&s->lock);
    bool busy = s->busy >= SERVE_MAX_BUSY;
    pthread_t t;
    if (!busy && pthread_create(&t, NULL, serve_job_main, j) == 0) {
        pthread_detach(t);
        s->busy++;
        j->next = s->jobs;
        s->jobs = j;
        pss->job = j;
    } else {
        busy = true;
    }
    pthread_mutex_unlock(&s->lock);
    if (busy) {
        s->refused_busy++;
        serve_job_free(j);
        serve_text(pss, 503, "too many checks running; try again\n");
    }
}

static void serve_metrics(serve_t *s, serve_pss_t *pss)
{
    cmn_prom_t p;
    cmn_prom_init(&p);
    cmn_prom_family(&p, "icehub_probe_serve_probes_total", "counter",
                    "Checks run for /probe, by module and result");
    for (size_t i = 0; i < s->mods.n; i++) {
        cmn_prom_sample_u64(&p, "icehub_probe_serve_probes_total", s->ok[i], "module",
                            s->mods.v[i].name, "result", "success", CMN_PROM_END);
        cmn_prom_sample_u64(&p, "icehub_probe_serve_probes_total", s->failed[i], "module",
                            s->mods.v[i].name, "result", "failure", CMN_PROM_END);
    }
    cmn_prom_family(&p, "icehub_probe_serve_busy_total", "counter",
                    "Scrapes refused with 503 because too many checks were running");
    cmn_prom_sample_u64(&p, "icehub_probe_serve_busy_total", s->refused_busy, CMN_PROM_END);
    size_t len;
    char *body = cmn_prom_take(&p, &len);
    serve_answer(pss, 200, SERVE_PROM_CTYPE, body, len);
}

static void serve_index(serve_t *s, serve_pss_t *pss)
{
    char buf[4096];
    size_t o = (size_t)snprintf(buf, sizeof(buf),
                                "icehub-probe serve\n  /probe?module=M&target=T\n  /metrics\n"
                                "modules:\n");
    for (size_t i = 0; i < s->mods.n && o < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "  %s (%s)\n", s->mods.v[i].name,
                              ice_cmd_name(s->mods.v[i].opts.cmd));
    serve_text(pss, 200, buf);
}

/* Finished checks: hand each answer to its connection (or drop it if the
 * client left) and count it. On the service thread. */
static void serve_collect(serve_t *s)
{
    pthread_mutex_lock(&s->lock);
    for (serve_job_t **pj = &s->jobs; *pj;) {
        serve_job_t *j = *pj;
        if (!j->done) {
            pj = &j->next;
            continue;
        }
        *pj = j->next;
        s->busy--;
        (j->pass ? s->ok : s->failed)[j->module]++;
        if (j->wsi) {
            serve_pss_t *pss = lws_wsi_user(j->wsi);
            pss->job = NULL;
            serve_answer(pss, 200, SERVE_PROM_CTYPE, j->body, j->len);
            j->body = NULL;
            lws_callback_on_writable(j->wsi);
        }
        serve_job_free(j);
    }
    pthread_mutex_unlock(&s->lock);
}

static int serve_write(struct lws *wsi, serve_pss_t *pss)
{
    if (!pss->body)
        return 0;
    if (!pss->head_done) {
        uint8_t hdr[LWS_PRE + 512], *p = hdr + LWS_PRE, *end = hdr + sizeof(hdr) - 1;
        if (lws_add_http_common_headers(wsi, pss->status, pss->ctype, pss->len, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                        (const unsigned char *)"close", 5, &p, end) ||
            lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
            return -1;
        pss->head_done = true;
        lws_callback_on_writable(wsi);
        return 0;
    }
    uint8_t *buf = cmn_malloc(LWS_PRE + pss->len + 1);
    memcpy(buf + LWS_PRE, pss->body, pss->len);
    int n = lws_write(wsi, buf + LWS_PRE, pss->len, LWS_WRITE_HTTP_FINAL);
    cmn_free(buf);
    cmn_free(pss->body);
    pss->body = NULL;
    CMN_UNUSED(n);
    return -1; /* one request per connection */
}

static int serve_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    serve_pss_t *pss = user;
    struct lws_context *ctx = lws_get_context(wsi);
    serve_t *s = ctx ? lws_context_user(ctx) : NULL;
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        if (s)
            serve_collect(s);
        return 0;
    }
    if (!pss || !s)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        const char *path = in;
        memset(pss, 0, sizeof(*pss));
        if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
            serve_text(pss, 405, "use GET\n");
        else if (!strcmp(path, "/probe"))
            serve_probe(s, wsi, pss);
        else if (!strcmp(path, "/metrics"))
            serve_metrics(s, pss);
        else if (!strcmp(path, "/"))
            serve_index(s, pss);
        else
            serve_text(pss, 404, "not found: try /probe, /metrics or /\n");
        if (pss->body)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return serve_write(wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss->job) {
            pthread_mutex_lock(&s->lock);
            pss->job->wsi = NULL; /* the check finishes; its answer is dropped */
            pthread_mutex_unlock(&s->lock);
            pss->job = NULL;
        }
        cmn_free(pss->body);
        pss->body = NULL;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int serve_start(serve_t *s, const ice_opts_t *o, struct lws_protocols *protos)
{
    cmn_addr_t a;
    const char *listen = o->listen ? o->listen : ICE_SERVE_LISTEN;
    if (cmn_addr_parse(&a, listen, -1) < 0) {
        fprintf(stderr, "icehub-probe: --listen: expected IP:PORT, found \"%s\"\n", listen);
        return ICE_EXIT_USAGE;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    protos[0] = (struct lws_protocols){"http", serve_cb, sizeof(serve_pss_t), 0, 0, NULL, 0};
    info.protocols = protos;
    info.port = a.port;
    info.user = s;
    cmn_addr_format(&a, s->iface, sizeof(s->iface), false);
    /* lws binds every interface when IPv6 is on and iface is an IPv4
     * address: turn IPv6 off for IPv4 listeners. */
    if (a.family == CMN_AF_INET)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (!cmn_addr_is_any(&a))
        info.iface = s->iface;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        fprintf(stderr, "icehub-probe: cannot listen on %s\n", listen);
        return ICE_EXIT_FAIL;
    }
    cmn_info("serve", "listening on %s (%zu modules)", listen, s->mods.n);
    return 0;
}

int ice_serve(const ice_opts_t *o)
{
    /* On the heap: checks still running at exit hold a pointer to it. */
    serve_t *s = cmn_calloc(1, sizeof(*s));
    struct lws_protocols *protos = cmn_calloc(2, sizeof(*protos));
    char err[1024];
    if (ice_modules_load(&s->mods, o->modules, err, sizeof(err)) < 0) {
        fprintf(stderr, "icehub-probe: %s\n", err);
        cmn_free(protos);
        cmn_free(s);
        return ICE_EXIT_USAGE;
    }
    cmn_log_set_level(CMN_LOG_INFO); /* a service: say where it listens */
    s->ok = cmn_calloc(s->mods.n, sizeof(*s->ok));
    s->failed = cmn_calloc(s->mods.n, sizeof(*s->failed));
    pthread_mutex_init(&s->lock, NULL);
    int rc = serve_start(s, o, protos);
    if (rc != 0)
        return rc;
    serve_ctx_for_signal = s->ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = serve_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!serve_stop)
        if (lws_service(s->ctx, 0) < 0)
            break;
    serve_ctx_for_signal = NULL;
    pthread_mutex_lock(&s->lock);
    int busy = s->busy;
    pthread_mutex_unlock(&s->lock);
    /* Checks still running are abandoned with the process; their threads
     * may still wake the context, so then it stays. */
    if (busy == 0) {
        lws_context_destroy(s->ctx);
        while (s->jobs) {
            serve_job_t *j = s->jobs;
            s->jobs = j->next;
            serve_job_free(j);
        }
        ice_modules_dispose(&s->mods);
        cmn_free(s->ok);
        cmn_free(s->failed);
        cmn_free(protos);
        cmn_free(s);
    }
    return ICE_EXIT_PASS;
}
