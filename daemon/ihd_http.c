/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_http.c: the control-plane HTTP listener on http.listen, served by
 * libwebsockets on its own thread so it never blocks a relay worker.
 * Endpoints: /livez (process alive), /readyz (listeners up and not
 * draining; 503 otherwise), /metrics (Prometheus text), the signaling
 * hub (WebSocket /ws and its REST routes, signal/), the JSON API
 * (ihd_api.c) and the embedded web assets (signal/www, "/" is the demo);
 * metrics.listen vhosts serve only the built-in routes.
 * It turns each request into an ihd_http_req_t, asks the route handlers
 * in turn, and writes their ihd_http_resp_t; handlers never see lws.
 *
 * Only this file and ihd_ws.c (the hub's WebSocket glue) include
 * libwebsockets.h.
 */
#include "ihd.h"
#include "ihd_redis.h"

#include <libwebsockets.h>
#include <unistd.h>
#include <ev.h>

#include "common/cmn_log.h"
#include "common/cmn_metrics.h"
#include "signal/sig.h"
#include "signal/sig_assets.h"

typedef struct ihd_http_s {
    struct lws_context *ctx;
    struct ev_loop *loop;    /* the thread's event loop (libev); lws's is a "foreign" one */
    pthread_t thread;
    atomic_int stop;
    ihd_server_t *srv;       /* borrowed */
    /* lws keeps the vhost name and iface pointers, not copies. */
    char vh_name[3 * IHD_MAX_LISTEN][16];
    char vh_iface[3 * IHD_MAX_LISTEN][CMN_ADDR_STRLEN];
    size_t nvh;
    ihd_ws_t *sig;           /* owned: the signaling hub at /ws */
    uint64_t seen_gen;       /* atomic: generation the thread's handlers read now */
    /* The https vhosts' SSL_CTXs (lws's; borrowed until the context is
     * destroyed), and the snapshot generation whose certificate they hold. */
    void *vh_ssl[IHD_MAX_LISTEN];
    size_t nvh_ssl;
    uint64_t tls_gen;
    struct lws_protocols protocols[3];
    struct lws_protocols protocols_metrics[2]; /* metrics.listen: HTTP only */
    struct lws_protocol_vhost_options pvo_sig, pvo_default;
} ihd_http_t;

/* Per-request state: the request body being collected, then the reply
 * body waiting for the writeable callback. */
typedef struct http_pss_s {
    ihd_http_method_t method;
    char path[256];          /* the URI path of a request with a body */
    uint8_t *req_body;       /* owned; collected POST/PUT body */
    size_t req_len;
    bool too_big;            /* the body passed IHD_HTTP_BODY_MAX */
    bool chunked;            /* a chunked body: lws does not decode those, 411 */
    bool long_path;          /* the path did not fit in <path>: 414 */
    bool answered;           /* this request was dispatched (lws may still report
                              * the completion of an empty body afterwards) */
    uint8_t *body;           /* owned; LWS_PRE bytes of headroom first */
    size_t len;
} http_pss_t;

static int http_send(struct lws *wsi, http_pss_t *pss, const ihd_http_resp_t *r)
{
    uint8_t hdr[LWS_PRE + 1024];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    pss->body = cmn_malloc(LWS_PRE + r->len + 1);
    if (r->len)
        memcpy(pss->body + LWS_PRE, r->body, r->len);
    pss->len = r->len;
    if (lws_add_http_common_headers(wsi, r->status, r->ctype, r->len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)"nosniff", 7, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                    (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (r->extra_header_name &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)r->extra_header_name,
                                    (const unsigned char *)r->extra_header_value,
                                    (int)strlen(r->extra_header_value), &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

/* /metrics: the daemon's families, then the signaling hub's (it lives on
 * this thread). */
static void http_metrics(ihd_http_t *h, ihd_http_resp_t *resp)
{
    cmn_prom_t p;
    cmn_prom_init(&p);
    ihd_metrics_render(h->srv, &p);
    sig_hub_metrics(ihd_ws_hub(h->sig), &p);
    ihd_redis_metrics(h->srv->redis, &p);
    cmn_prom_family(&p, "icehub_signal_cut_off_total", "counter",
                    "WebSocket connections closed (1009) for a message that went on past "
                    "16 times signal.max_message (at least 1 MiB).");
    cmn_prom_sample_u64(&p, "icehub_signal_cut_off_total", ihd_ws_cut_off(h->sig), CMN_PROM_END);
    resp->status = 200;
    resp->ctype = "text/plain; version=0.0.4; charset=utf-8";
    resp->body = cmn_prom_take(&p, &resp->len);
}

/* The daemon's own routes; the rest go to ihd_api_handle and the embedded
 * assets. Returns 0 with <resp> filled, or CMN_ENOENT. */
static int http_builtin(ihd_http_t *h, const ihd_http_req_t *req, ihd_http_resp_t *resp)
{
    ihd_server_t *srv = h->srv;
    if (!strcmp(req->path, "/livez")) {
        ihd_http_resp_text(resp, 200, "text/plain", "ok\n");
        return 0;
    }
    if (!strcmp(req->path, "/readyz")) {
        bool ready = !atomic_load(&srv->draining) && !atomic_load(&srv->stopping);
        /* redis.required: a node without its cluster is not ready. */
        bool cluster = !srv->redis || ihd_redis_up(srv->redis) ||
                       !atomic_load(&srv->cfg)->s.redis.required;
        ihd_http_resp_text(resp, ready && cluster ? 200 : 503, "text/plain",
                           !ready ? "draining\n" : cluster ? "ready\n" : "redis unreachable\n");
        return 0;
    }
    if (!strcmp(req->path, "/metrics")) {
        http_metrics(h, resp);
        return 0;
    }
    return CMN_ENOENT;
}

/* The signaling hub's REST endpoints (signal/sig_rest.c). */
static int http_signal(ihd_http_t *h, const ihd_http_req_t *req, ihd_http_resp_t *resp)
{
    sig_http_req_t sr = {.hub = ihd_ws_hub(h->sig), .get = req->method == IHD_HTTP_GET,
                         .path = req->path,
                         .query = req->query, .authorization = req->authorization,
                         .host = req->host};
    sig_http_resp_t out;
    if (sig_rest_handle(sig_hub_cfg(ihd_ws_hub(h->sig)), &sr, &out, ihd_wallclock()) < 0)
        return CMN_ENOENT;
    resp->status = out.status;
    resp->ctype = "application/json";
    resp->body = out.body;
    resp->len = out.len;
    if (out.www_authenticate) {
        resp->extra_header_name = "www-authenticate:";
        resp->extra_header_value = "Bearer realm=\"icehub\"";
    }
    return 0;
}

static int http_assets(const ihd_http_req_t *req, ihd_http_resp_t *resp)
{
    const sig_asset_t *a = sig_asset_find(req->path);
    if (!a)
        return CMN_ENOENT;
    if (req->method != IHD_HTTP_GET) {
        ihd_http_resp_error(resp, 405, "method-not-allowed", "use GET");
        return 0;
    }
    ihd_http_resp_asset(resp, a);
    return 0;
}

/* The query string as handlers expect it ("a=1&b=x%26y"). lws keeps the
 * arguments as separate, already percent-decoded fragments (and joins
 * them with ',' when asked for the whole token), so each is encoded again
 * (ihd_query_append). A query that does not fit is cut at an argument
 * boundary. */
static void http_query(struct lws *wsi, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i < 64; i++) {
        char frag[1024];
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0 || ihd_query_append(out, cap, frag, (size_t)n) < 0)
            break;
    }
}

static int http_dispatch(struct lws *wsi, http_pss_t *pss, ihd_http_t *h, const char *path)
{
    ihd_server_t *srv = h->srv;
    char query[1024] = "", auth[512] = "", origin[256] = "", host[256] = "", peer[64] = "";
    http_query(wsi, query, sizeof(query));
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
        lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0)
        lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HOST) > 0)
        lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST);
    ihd_http_req_t req = {
        .method = pss->method, .path = path, .query = query, .authorization = auth,
        .origin = origin, .host = host, .body = pss->req_body, .body_len = pss->req_len,
    };
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    if (cmn_addr_parse_ip(&req.remote, peer) < 0)
        memset(&req.remote, 0, sizeof(req.remote));
    ihd_http_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    pss->answered = true;
    int rc = CMN_ENOENT;
    if (pss->too_big) {
        ihd_http_resp_error(&resp, 413, "too-large", "request body too large");
        rc = 0;
    } else if (pss->long_path) {
        ihd_http_resp_error(&resp, 414, "uri-too-long", "request path too long");
        rc = 0;
    } else if (pss->chunked) {
        ihd_http_resp_error(&resp, 411, "length-required",
                            "send the body with Content-Length, not chunked");
        rc = 0;
    }
    if (rc == CMN_ENOENT)
        rc = http_builtin(h, &req, &resp);
    /* metrics.listen: the built-in routes only. */
    const char *vh = lws_get_vhost_name(lws_get_vhost(wsi));
    bool metrics_only = vh && !strncmp(vh, "metrics", 7);
    if (rc == CMN_ENOENT && !metrics_only)
        rc = http_signal(h, &req, &resp);
    if (rc == CMN_ENOENT && !metrics_only)
        rc = ihd_api_handle(srv, &req, &resp);
    if (rc == CMN_ENOENT && !metrics_only)
        rc = http_assets(&req, &resp);
    if (rc == CMN_ENOENT)
        ihd_http_resp_error(&resp, 404, "not-found", "no such page");
    int r = http_send(wsi, pss, &resp);
    cmn_free(resp.body);
    return r;
}

static ihd_http_method_t http_method(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return IHD_HTTP_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return IHD_HTTP_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI))
        return IHD_HTTP_PUT;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
        return IHD_HTTP_DELETE;
    return IHD_HTTP_OTHER;
}

static void http_body_append(http_pss_t *pss, const void *in, size_t len)
{
    if (pss->too_big || pss->req_len + len > IHD_HTTP_BODY_MAX) {
        pss->too_big = true;
        return;
    }
    uint8_t *nb = cmn_malloc(pss->req_len + len + 1);
    if (pss->req_len)
        memcpy(nb, pss->req_body, pss->req_len);
    if (len) /* an empty POST body comes as (NULL, 0) */
        memcpy(nb + pss->req_len, in, len);
    nb[pss->req_len + len] = 0;
    cmn_free(pss->req_body);
    pss->req_body = nb;
    pss->req_len += len;
}

static void http_pss_free(http_pss_t *pss)
{
    cmn_free(pss->body);
    pss->body = NULL;
    cmn_free(pss->req_body);
    pss->req_body = NULL;
    pss->req_len = 0;
    pss->too_big = false;
    pss->chunked = false;
    pss->long_path = false;
}

static void http_woken(ihd_http_t *h);

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    http_pss_t *pss = user;
    ihd_http_t *h = lws_context_user(lws_get_context(wsi));
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        http_woken(h);
        return 0;
    }
    if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) {
        /* A TLS vhost was made: <user> is its SSL_CTX, where a reload puts
         * the new certificate (http_tls_reload). */
        if (h->nvh_ssl < CMN_ARRAY_LEN(h->vh_ssl))
            h->vh_ssl[h->nvh_ssl++] = user;
        return 0;
    }
    if (reason == LWS_CALLBACK_RAW_ADOPT) {
        /* lws turns a CONNECT request into a raw socket of the vhost's
         * first protocol, with no timeout: nobody here serves those, so
         * answer 405 and close rather than hold the connection forever. */
        static const char no[] = "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n"
                                 "connection: close\r\n\r\n";
        uint8_t buf[LWS_PRE + sizeof(no)];
        memcpy(buf + LWS_PRE, no, sizeof(no) - 1);
        lws_write(wsi, buf + LWS_PRE, sizeof(no) - 1, LWS_WRITE_RAW);
        return -1;
    }
    /* Whatever protocol the connection is bound to, an upgrade is judged
     * here: lws's dummy callback would let any Origin in. */
    if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
        return ihd_ws_confirm_upgrade(h->sig, wsi, in);
    /* lws answers some bad requests itself (403 for a malformed %-escape)
     * before the connection is bound to our protocol: no per-request state
     * then, and nothing for us to do. */
    if (!pss)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        http_pss_free(pss);
        pss->answered = false;
        pss->method = http_method(wsi);
        if (pss->method == IHD_HTTP_POST || pss->method == IHD_HTTP_PUT) {
            /* Answer once the body is in (LWS_CALLBACK_HTTP_BODY_COMPLETION);
             * without a Content-Length (or with 0) there is none to wait for,
             * and lws would not report one. */
            pss->long_path = strlen((const char *)in) >= sizeof(pss->path);
            snprintf(pss->path, sizeof(pss->path), "%s", (const char *)in);
            char cl[24] = "";
            if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
                lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
            if (cl[0] == '\0' || strspn(cl, "0") == strlen(cl)) {
                pss->chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
                return http_dispatch(wsi, pss, h, pss->path);
            }
            return 0;
        }
        if (pss->method == IHD_HTTP_OTHER) {
            /* One request per connection (see HTTP_WRITEABLE). */
            lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
            return -1;
        }
        return http_dispatch(wsi, pss, h, (const char *)in);
    case LWS_CALLBACK_HTTP_BODY:
        http_body_append(pss, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (pss->answered)
            return 0;
        return http_dispatch(wsi, pss, h, pss->path);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!pss->body)
            break;
        if (lws_write(wsi, pss->body + LWS_PRE, pss->len, LWS_WRITE_HTTP_FINAL) !=
            (int)pss->len)
            return -1;
        http_pss_free(pss);
        /* One request per connection: close (lws flushes what is still
         * buffered first) instead of keeping it alive. lws 4.1.6 parses a
         * pipelined request that waits in its rx buflist wrongly when it has
         * a body: it hands the request's own header bytes to HTTP_BODY, then
         * spins the service thread forever in lws_http_action, feeding the
         * rest to a body that wants no more (tests/integration/
         * test_http_storm.py). Without a second request on a connection
         * there is no such buflist. */
        return -1;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        http_pss_free(pss);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

void ihd_http_drain_start(ihd_server_t *srv)
{
    ihd_http_t *h = srv->http;
    if (h && h->sig)
        ihd_ws_request_drain(h->sig);
}

long ihd_http_ws_open(ihd_server_t *srv)
{
    ihd_http_t *h = srv->http;
    return h && h->sig ? ihd_ws_open(h->sig) : 0;
}

/* lws logs some things a client can cause at error level (an oversized
 * request head, a long Sec-WebSocket-Protocol). Those are the client's
 * error, not ours: log them as warnings, so errors in our log stay ours. */
static void lws_log_emit(int level, const char *line)
{
    static const char *const client_caused[] = {
        "Ran out of header data space",
        "protocol list too long",
    };
    cmn_log_level_t lvl = level == LLL_ERR ? CMN_LOG_ERROR : CMN_LOG_WARN;
    for (size_t i = 0; i < CMN_ARRAY_LEN(client_caused); i++)
        if (strstr(line, client_caused[i]))
            lvl = CMN_LOG_WARN;
    cmn_log(lvl, "http", "%s", line);
}

/* A reloaded snapshot: its certificate goes into the https vhosts' SSL_CTXs,
 * on this thread, between two callbacks. New handshakes use it; an open
 * connection's SSL has its own copy of the old one and keeps it, so no wss:
 * peer is dropped. (The pair was checked when the snapshot loaded.) */
static void http_tls_reload(ihd_http_t *h, const ihd_cfg_t *cfg)
{
    if (cfg->gen == h->tls_gen)
        return;
    h->tls_gen = cfg->gen;
    for (size_t i = 0; cfg->tls_ctx && i < h->nvh_ssl; i++)
        if (ihd_tls_ctx_copy_cert(h->vh_ssl[i], cfg->tls_ctx) < 0)
            cmn_err("tls", "https: cannot use the reloaded certificate; new connections "
                           "keep the previous one");
}

/* Between two callbacks no handler holds a configuration snapshot (each
 * loads it when it starts): take a reloaded certificate, and publish the
 * generation that handlers load from now on, so a reload knows when the
 * snapshot it replaced is no longer read here (ihd_http_seen). */
static void http_publish_gen(ihd_http_t *h)
{
    ihd_cfg_t *cfg = atomic_load_explicit(&h->srv->cfg, memory_order_acquire);
    http_tls_reload(h, cfg);
    __atomic_store_n(&h->seen_gen, cfg->gen, __ATOMIC_RELEASE);
}

/* lws_cancel_service woke the thread (a reload waits, or the thread is to
 * stop): publish the generation; to stop, leave the event loop. */
static void http_woken(ihd_http_t *h)
{
    http_publish_gen(h);
    if (atomic_load(&h->stop))
        ev_break(h->loop, EVBREAK_ALL);
}

/* The service thread: libev's loop (epoll) with lws on it, until
 * http_woken stops it. */
static void *http_main(void *arg)
{
    ihd_http_t *h = arg;
    http_publish_gen(h);
    while (!atomic_load(&h->stop))
        ev_run(h->loop, 0);
    __atomic_store_n(&h->seen_gen, UINT64_MAX, __ATOMIC_RELEASE);
    return NULL;
}

/* Destroy the context on its (stopped) loop, then the loop. Main thread,
 * with the service thread gone. */
static void http_destroy(ihd_http_t *h)
{
    if (h->ctx)
        lws_context_destroy(h->ctx);
    h->ctx = NULL;
    if (h->loop)
        ev_loop_destroy(h->loop);
    h->loop = NULL;
}

bool ihd_http_seen(ihd_server_t *srv, uint64_t gen)
{
    ihd_http_t *h = srv->http;
    if (!h)
        return true;
    lws_cancel_service(h->ctx);
    return __atomic_load_n(&h->seen_gen, __ATOMIC_ACQUIRE) >= gen;
}

/* One vhost per address. <kind> is "http", "https" (HTTPS and wss:// with
 * tls.cert) or "metrics" (a metrics.listen vhost: only the built-in routes
 * of http_dispatch, no WebSocket hub). */
static int http_vhost(ihd_http_t *h, const cmn_settings_t *s, const cmn_addr_t *a,
                      const char *kind, size_t i, char *err, size_t errlen)
{
    bool tls = !strcmp(kind, "https"), metrics = !strcmp(kind, "metrics");
    const char *setting = tls ? "http.tls_listen" : metrics ? "metrics.listen" : "http.listen";
    if (h->nvh == CMN_ARRAY_LEN(h->vh_name)) {
        snprintf(err, errlen, "%s: too many addresses", setting);
        return CMN_EINVAL;
    }
    char *ip = h->vh_iface[h->nvh], *name = h->vh_name[h->nvh];
    h->nvh++;
    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof(vi));
    cmn_addr_format(a, ip, CMN_ADDR_STRLEN, false);
    snprintf(name, sizeof(h->vh_name[0]), "%s%zu", kind, i);
    vi.vhost_name = name;
    vi.port = a->port;
    /* A request head (and the TLS handshake before it) must arrive whole
     * this long after the accept, however slowly it trickles. */
    vi.timeout_secs_ah_idle = (unsigned)s->http.header_timeout;
    /* lws binds every interface when IPv6 is on and iface is an IPv4
     * address (FIELD-NOTES): turn IPv6 off for IPv4 listeners. */
    if (a->family == CMN_AF_INET) {
        vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        if (!cmn_addr_is_any(a))
            vi.iface = ip;
    } else if (!cmn_addr_is_any(a)) {
        vi.iface = ip;
    }
    if (tls) {
        /* Without this option in the vhost's own options the "TLS" port
         * speaks plain HTTP (FIELD-NOTES). */
        vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        vi.ssl_cert_filepath = s->tls.cert;
        vi.ssl_private_key_filepath = s->tls.key;
        /* HTTP/1.1 only: every WebSocket then comes through the upgrade
         * check (a WebSocket over HTTP/2, RFC 8441, would not). */
        vi.alpn = "http/1.1";
    }
    if (metrics) {
        vi.protocols = h->protocols_metrics;
    } else {
        vi.protocols = h->protocols;
        /* A WebSocket upgrade without a subprotocol (new WebSocket(url))
         * gets the vhost's default protocol: the hub's. */
        vi.pvo = &h->pvo_sig;
    }
    char buf[CMN_ADDR_STRLEN];
    if (!lws_create_vhost(h->ctx, &vi)) {
        snprintf(err, errlen, "%s: cannot listen on %s", setting,
                 cmn_addr_format(a, buf, sizeof(buf), true));
        return CMN_EIO;
    }
    cmn_info("http", "listening on %s%s", cmn_addr_format(a, buf, sizeof(buf), true),
             tls ? " (TLS: https, wss)" : metrics ? " (metrics only)" : "");
    return 0;
}

static int http_vhosts(ihd_http_t *h, const cmn_settings_t *s, char *err, size_t errlen)
{
    for (size_t i = 0; s->http.enabled && i < s->http.listen.n; i++)
        if (http_vhost(h, s, &s->http.listen.v[i], "http", i, err, errlen) < 0)
            return CMN_EIO;
    for (size_t i = 0; s->http.enabled && s->tls.cert && s->tls.cert[0] &&
                       i < s->http.tls_listen.n; i++)
        if (http_vhost(h, s, &s->http.tls_listen.v[i], "https", i, err, errlen) < 0)
            return CMN_EIO;
    for (size_t i = 0; i < s->metrics.listen.n; i++)
        if (http_vhost(h, s, &s->metrics.listen.v[i], "metrics", i, err, errlen) < 0)
            return CMN_EIO;
    return 0;
}

/* Rooms handed over by a live upgrade (or taken back after a failed one):
 * their clients resume here. */
static int http_import_hub(ihd_server_t *srv, ihd_http_t *h, char *err, size_t errlen)
{
    if (!srv->hub_state)
        return 0;
    const char *why = NULL;
    int rc = sig_hub_import(ihd_ws_hub(h->sig), srv->hub_state, srv->hub_state_len,
                            ihd_wallclock(), &why);
    cmn_free(srv->hub_state);
    srv->hub_state = NULL;
    if (rc < 0)
        snprintf(err, errlen, "the handed-over signaling rooms are malformed (%s)", why);
    return rc;
}

int ihd_http_start(ihd_server_t *srv, char *err, size_t errlen)
{
    ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    ihd_http_t *h = cmn_calloc(1, sizeof(*h));
    h->srv = srv;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof(ci));
    /* libev's event loop (lws's evlib_ev plugin), ours: epoll, so each
     * turn costs what is active, not every open WebSocket as poll() does
     * (with 15,000 idle peers poll() took 88% of the thread). */
    h->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
    if (!h->loop) {
        snprintf(err, errlen, "http: cannot make an event loop");
        cmn_free(h);
        return CMN_EIO;
    }
    void *loops[1] = {h->loop};
    ci.foreign_loops = loops;
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_LIBEV;
    if (cfg->s.tls.cert && cfg->s.tls.cert[0] && cfg->s.http.tls_listen.n)
        ci.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    ci.user = h;
    ci.port = CONTEXT_PORT_NO_LISTEN;
    /* One lws fd table for every WebSocket: as large as RLIMIT_NOFILE
     * (raised to its hard limit at start) allows. */
    ci.fd_limit_per_thread = 0;
    h->sig = ihd_ws_new(srv);
    h->protocols[0] = (struct lws_protocols){"http", http_cb, sizeof(http_pss_t), 0, 0, NULL, 0};
    h->protocols_metrics[0] = h->protocols[0];
    ihd_ws_protocol(h->sig, &h->protocols[1]);
    h->pvo_default = (struct lws_protocol_vhost_options){NULL, NULL, "default", ""};
    h->pvo_sig = (struct lws_protocol_vhost_options){NULL, &h->pvo_default,
                                                      h->protocols[1].name, ""};
    h->ctx = lws_create_context(&ci);
    if (!h->ctx) {
        snprintf(err, errlen, "http: cannot create the libwebsockets context (libev event "
                              "library: package libwebsockets-evlib-ev)");
        http_destroy(h);
        ihd_ws_free(h->sig);
        cmn_free(h);
        return CMN_EIO;
    }
    h->tls_gen = cfg->gen; /* the vhosts load this snapshot's files themselves */
    int rc = http_import_hub(srv, h, err, errlen);
    ihd_ws_start(h->sig, h->ctx); /* after the import: the rooms are there when it links */
    /* lws_protocol_init: on a foreign (libev) loop lws would initialise the
     * vhosts' protocols from the loop, after it may have accepted a
     * connection; one that came first was bound to the "http" protocol, its
     * WebSocket upgrade went unjudged and its messages to nobody. So the
     * protocols are ready before the loop runs. */
    if (rc < 0 || http_vhosts(h, &cfg->s, err, errlen) < 0 || lws_protocol_init(h->ctx) != 0 ||
        pthread_create(&h->thread, NULL, http_main, h) != 0) {
        ihd_ws_stopping(h->sig);
        http_destroy(h);
        ihd_ws_free(h->sig);
        cmn_free(h);
        return rc < 0 ? rc : CMN_EIO;
    }
    srv->http = h;
    return 0;
}

/* Stop the service thread; with <hub_len>, export the hub's rooms first
 * (the thread is gone, so the hub is this thread's). */
static char *http_teardown(ihd_server_t *srv, size_t *hub_len)
{
    ihd_http_t *h = srv->http;
    char *hub = NULL;
    if (!h)
        return NULL;
    atomic_store(&h->stop, 1);
    lws_cancel_service(h->ctx);
    pthread_join(h->thread, NULL);
    if (hub_len)
        hub = sig_hub_export(ihd_ws_hub(h->sig), ihd_wallclock(), hub_len);
    ihd_ws_stopping(h->sig);
    http_destroy(h);
    ihd_ws_free(h->sig);
    cmn_free(h);
    srv->http = NULL;
    return hub;
}

void ihd_http_stop(ihd_server_t *srv)
{
    http_teardown(srv, NULL);
}

char *ihd_http_handover(ihd_server_t *srv, size_t *len)
{
    *len = 0;
    return http_teardown(srv, len);
}
