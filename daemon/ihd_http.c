/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_http.c: the control-plane HTTP listener on http.listen, served by
 * libwebsockets on its own thread so it never blocks a relay worker.
 * Endpoints: /livez (process alive), /readyz (listeners up and not
 * draining; 503 otherwise), /metrics (Prometheus text). The signaling hub
 * (WebSocket /ws) and the admin API join this vhost later.
 *
 * Only this file includes libwebsockets.h.
 */
#include "ihd.h"

#include <libwebsockets.h>

#include "common/cmn_log.h"

typedef struct ihd_http_s {
    struct lws_context *ctx;
    pthread_t thread;
    atomic_int stop;
    ihd_server_t *srv;       /* borrowed */
} ihd_http_t;

/* Per-request state: the body waiting for the writeable callback. */
typedef struct http_pss_s {
    uint8_t *body;           /* owned; LWS_PRE bytes of headroom first */
    size_t len;
} http_pss_t;

static int http_reply(struct lws *wsi, http_pss_t *pss, unsigned status, const char *ctype,
                      char *text, size_t len)
{
    uint8_t hdr[LWS_PRE + 512];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    pss->body = cmn_malloc(LWS_PRE + len + 1);
    memcpy(pss->body + LWS_PRE, text, len);
    pss->len = len;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

static int http_route(struct lws *wsi, http_pss_t *pss, ihd_server_t *srv, const char *path)
{
    if (!strcmp(path, "/livez")) {
        char ok[] = "ok\n";
        return http_reply(wsi, pss, 200, "text/plain", ok, 3);
    }
    if (!strcmp(path, "/readyz")) {
        bool ready = !atomic_load(&srv->draining) && !atomic_load(&srv->stopping);
        char ok[] = "ready\n", no[] = "draining\n";
        return ready ? http_reply(wsi, pss, 200, "text/plain", ok, strlen(ok))
                     : http_reply(wsi, pss, 503, "text/plain", no, strlen(no));
    }
    if (!strcmp(path, "/metrics")) {
        size_t len = 0;
        char *text = ihd_metrics_render(srv, &len);
        int r = http_reply(wsi, pss, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
        cmn_free(text);
        return r;
    }
    if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    http_pss_t *pss = user;
    ihd_http_t *h = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
            lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        return http_route(wsi, pss, h->srv, (const char *)in);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!pss->body)
            break;
        if (lws_write(wsi, pss->body + LWS_PRE, pss->len, LWS_WRITE_HTTP_FINAL) !=
            (int)pss->len)
            return -1;
        cmn_free(pss->body);
        pss->body = NULL;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        cmn_free(pss->body);
        pss->body = NULL;
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols http_protocols[] = {
    {"http", http_cb, sizeof(http_pss_t), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_emit(int level, const char *line)
{
    cmn_log(level == LLL_ERR ? CMN_LOG_ERROR : CMN_LOG_WARN, "http", "%s", line);
}

static void *http_main(void *arg)
{
    ihd_http_t *h = arg;
    while (!atomic_load(&h->stop))
        if (lws_service(h->ctx, 0) < 0)
            break;
    return NULL;
}

static int http_vhosts(ihd_http_t *h, const cmn_settings_t *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->http.listen.n; i++) {
        const cmn_addr_t *a = &s->http.listen.v[i];
        char ip[CMN_ADDR_STRLEN], name[32];
        struct lws_context_creation_info vi;
        memset(&vi, 0, sizeof(vi));
        cmn_addr_format(a, ip, sizeof(ip), false);
        snprintf(name, sizeof(name), "http%zu", i);
        vi.vhost_name = name;
        vi.port = a->port;
        /* lws binds every interface when IPv6 is on and iface is an IPv4
         * address (FIELD-NOTES): turn IPv6 off for IPv4 listeners. */
        if (a->family == CMN_AF_INET) {
            vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
            if (!cmn_addr_is_any(a))
                vi.iface = ip;
        } else if (!cmn_addr_is_any(a)) {
            vi.iface = ip;
        }
        vi.protocols = http_protocols;
        if (!lws_create_vhost(h->ctx, &vi)) {
            snprintf(err, errlen, "http.listen: cannot listen on %s",
                     cmn_addr_format(a, ip, sizeof(ip), true));
            return CMN_EIO;
        }
        cmn_info("http", "listening on %s", cmn_addr_format(a, ip, sizeof(ip), true));
    }
    return 0;
}

int ihd_http_start(ihd_server_t *srv, char *err, size_t errlen)
{
    ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    ihd_http_t *h = cmn_calloc(1, sizeof(*h));
    h->srv = srv;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    ci.user = h;
    ci.port = CONTEXT_PORT_NO_LISTEN;
    h->ctx = lws_create_context(&ci);
    if (!h->ctx) {
        snprintf(err, errlen, "http: cannot create the libwebsockets context");
        cmn_free(h);
        return CMN_EIO;
    }
    if (http_vhosts(h, &cfg->s, err, errlen) < 0 ||
        pthread_create(&h->thread, NULL, http_main, h) != 0) {
        lws_context_destroy(h->ctx);
        cmn_free(h);
        return CMN_EIO;
    }
    srv->http = h;
    return 0;
}

void ihd_http_stop(ihd_server_t *srv)
{
    ihd_http_t *h = srv->http;
    if (!h)
        return;
    atomic_store(&h->stop, 1);
    lws_cancel_service(h->ctx);
    pthread_join(h->thread, NULL);
    lws_context_destroy(h->ctx);
    cmn_free(h);
    srv->http = NULL;
}
