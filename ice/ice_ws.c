/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_ws.c: the call check's WebSocket client to the signaling hub, on
 * libwebsockets' client API. Its event loop is the check's GMainLoop
 * (lws's glib plugin, a foreign loop), so the hub's messages, libnice's
 * agents and the packet timers all run on one thread without locks.
 * This file moves text frames and nothing else: it reassembles fragments,
 * queues writes until the socket is writeable, and reports the end of
 * the connection once. What the messages mean is ice_msg.c's business.
 */
#include "ice_int.h"

#include <glib.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdio.h>

#include "common/cmn_log.h"

#define WS_MSG_MAX (256 * 1024)   /* bytes of one message we accept from the hub */
#define WS_QUEUE_MAX 64           /* messages waiting to be written */
#define WS_CLOSE_WAIT 0.5         /* seconds a closing connection may take */

struct ice_ws_s {
    struct lws_context *ctx;
    struct lws *wsi;
    ice_ws_cb cb;
    void *ud;
    char *queue[WS_QUEUE_MAX];    /* owned, oldest first */
    size_t nqueue;
    bool established, ended;
    bool closing;                 /* close at the next writeable callback */
    GMainLoop *loop;              /* borrowed: the check's loop */
    SSL_CTX *ssl_ctx;             /* owned: wss:// only; freed after the lws context */
    char *rx;                     /* owned: the message being reassembled */
    size_t rxlen;
    bool rx_too_big;
    char host[ICE_HOST_MAX + 16]; /* the Host header; lws keeps the pointer */
    struct lws_protocols protocols[2];
};

static void ws_end(ice_ws_t *w, const char *why)
{
    if (w->ended)
        return;
    w->ended = true;
    w->wsi = NULL;
    if (w->cb)
        w->cb(w->ud, NULL, 0, why);
}

static void ws_receive(ice_ws_t *w, struct lws *wsi, const void *in, size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        w->rxlen = 0;
        w->rx_too_big = false;
    }
    if (w->rx_too_big || w->rxlen + len > WS_MSG_MAX) {
        w->rx_too_big = true;
    } else {
        w->rx = cmn_realloc(w->rx, w->rxlen + len + 1);
        memcpy(w->rx + w->rxlen, in, len);
        w->rxlen += len;
        w->rx[w->rxlen] = '\0';
    }
    if (!lws_is_final_fragment(wsi))
        return;
    if (w->rx_too_big)
        cmn_warn("probe", "signaling: dropped a message over %d bytes", WS_MSG_MAX);
    else if (!lws_frame_is_binary(wsi))
        w->cb(w->ud, w->rx, w->rxlen, NULL);
    w->rxlen = 0;
}

static int ws_write(ice_ws_t *w, struct lws *wsi)
{
    if (w->nqueue == 0)
        return 0;
    char *m = w->queue[0];
    size_t n = strlen(m);
    uint8_t *buf = cmn_malloc(LWS_PRE + n);
    memcpy(buf + LWS_PRE, m, n);
    int wrote = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
    cmn_free(buf);
    cmn_free(m);
    memmove(w->queue, w->queue + 1, (w->nqueue - 1) * sizeof(*w->queue));
    w->nqueue--;
    if (wrote < (int)n)
        return -1;
    if (w->nqueue)
        lws_callback_on_writable(wsi);
    return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    ice_ws_t *w = ctx ? lws_context_user(ctx) : NULL;
    if (!w)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        w->established = true;
        if (w->nqueue)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        ws_receive(w, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (w->closing && w->nqueue == 0) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return ws_write(w, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char why[200];
        snprintf(why, sizeof(why), "cannot connect: %s", in ? (const char *)in : "error");
        ws_end(w, why);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        ws_end(w, "the hub closed the connection");
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Our own client SSL_CTX for wss://: lws 4.1.6 keeps the one it makes
 * (its client-context cache never drops the last reference once a
 * connection used it), so a long-running serve would grow with every
 * check. lws verifies the host name on each connection itself. */
static SSL_CTX *ws_ssl_ctx(const ice_tls_opts_t *tls)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!tls->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (!(tls->ca ? SSL_CTX_load_verify_locations(ctx, tls->ca, NULL)
                      : SSL_CTX_set_default_verify_paths(ctx))) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

static struct lws_context *ws_context(ice_ws_t *w, GMainLoop *loop, const ice_url_t *url,
                                      const ice_tls_opts_t *tls)
{
    struct lws_context_creation_info info;
    void *loops[1] = {loop};
    memset(&info, 0, sizeof(info));
    w->protocols[0] = (struct lws_protocols){"icehub-probe", ws_callback, 0, 4096, 0, NULL, 0};
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = w->protocols;
    info.user = w;
    info.options = LWS_SERVER_OPTION_GLIB;
    info.foreign_loops = loops;
    if (url->scheme == ICE_SCHEME_WSS) {
        w->ssl_ctx = ws_ssl_ctx(tls);
        if (!w->ssl_ctx)
            return NULL;
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.provided_client_ssl_ctx = w->ssl_ctx;
    }
    return lws_create_context(&info);
}

ice_ws_t *ice_ws_open(void *gloop, const ice_url_t *url, const ice_tls_opts_t *tls,
                      ice_ws_cb cb, void *ud, char *err, size_t errlen)
{
    ice_ws_t *w = cmn_calloc(1, sizeof(*w));
    w->loop = gloop;
    w->cb = cb;
    w->ud = ud;
    w->ctx = ws_context(w, gloop, url, tls);
    if (!w->ctx) {
        snprintf(err, errlen, w->ssl_ctx || url->scheme != ICE_SCHEME_WSS
                                  ? "cannot create the libwebsockets client context"
                                  : "cannot load the TLS CA certificates");
        ice_ws_free(w);
        return NULL;
    }
    bool v6 = strchr(url->host, ':') != NULL;
    snprintf(w->host, sizeof(w->host), "%s%s%s:%u", v6 ? "[" : "", url->host, v6 ? "]" : "",
             (unsigned)url->port);
    struct lws_client_connect_info cci;
    memset(&cci, 0, sizeof(cci));
    cci.context = w->ctx;
    cci.address = url->host;
    cci.port = url->port;
    cci.path = url->path;
    cci.host = w->host;
    cci.local_protocol_name = w->protocols[0].name;
    cci.ietf_version_or_minus_one = -1;
    if (url->scheme == ICE_SCHEME_WSS) {
        cci.ssl_connection = LCCSCF_USE_SSL;
        if (tls->insecure)
            cci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                  LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    cci.pwsi = &w->wsi;
    if (!lws_client_connect_via_info(&cci) && !w->ended) {
        snprintf(err, errlen, "cannot start a connection to %s", w->host);
        ice_ws_free(w);
        return NULL;
    }
    return w;
}

void ice_ws_send(ice_ws_t *w, const char *text)
{
    if (w->ended || w->nqueue == WS_QUEUE_MAX) {
        cmn_warn("probe", "signaling: a message was not sent (%s)",
                 w->ended ? "connection ended" : "queue full");
        return;
    }
    w->queue[w->nqueue++] = cmn_strdup(text);
    if (w->established && w->wsi)
        lws_callback_on_writable(w->wsi);
}

void ice_ws_free(ice_ws_t *w)
{
    if (!w)
        return;
    w->cb = NULL; /* no callbacks into the check from here on */
    /* Close the connection on the loop first: destroying the context with
     * a live TLS connection on a foreign loop leaks lws's client SSL_CTX
     * (lws 4.1.6). Whatever is queued (a "leave") goes out before. */
    if (w->wsi && !w->ended) {
        GMainContext *gctx = g_main_loop_get_context(w->loop);
        double until = ice_now() + WS_CLOSE_WAIT;
        w->closing = true;
        lws_callback_on_writable(w->wsi);
        while (!w->ended && ice_now() < until)
            if (!g_main_context_iteration(gctx, FALSE))
                g_usleep(1000);
    }
    w->ended = true;
    if (w->ctx)
        lws_context_destroy(w->ctx);
    if (w->ssl_ctx)
        SSL_CTX_free(w->ssl_ctx);
    for (size_t i = 0; i < w->nqueue; i++)
        cmn_free(w->queue[i]);
    cmn_free(w->rx);
    cmn_free(w);
}
