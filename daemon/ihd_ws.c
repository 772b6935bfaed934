/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_ws.c: the signaling hub (signal/) on libwebsockets, and the hub's
 * settings taken from a configuration snapshot. Moves bytes and reports
 * events, nothing else: the upgrade check (path /ws, Origin allow-list, per-IP
 * limit, draining) answers refusals with an HTTP status; received frames
 * are reassembled into whole messages (permessage-deflate and lws's rx
 * buffer deliver them in pieces) and handed to the hub; what the hub sends
 * goes into a per-connection queue drained on WRITEABLE; a once-a-second
 * timer sends WebSocket pings to quiet connections, closes idle ones, runs
 * the hub's timers, hands the hub a reloaded configuration and, when asked,
 * starts the drain.
 *
 * Only the service thread touches the hub. Other threads use the two
 * atomics (drain request, open count) and lws_cancel_service.
 */
#include "ihd.h"
#include "ihd_redis.h"

#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>

#include "common/cmn_log.h"
#include "signal/sig.h"

#define IHD_WS_RX_BUFFER 1024   /* lws's per-connection receive buffer */
/* A message (text or binary) still arriving past this many times
 * signal.max_message, and past IHD_WS_CUTOFF_MIN, is cut off with close
 * 1009: a frame that declares 2^63 bytes, or fragments without end, would
 * otherwise hold the connection for as long as the sender likes. */
#define IHD_WS_CUTOFF_FACTOR 16
#define IHD_WS_CUTOFF_MIN (1u << 20)

typedef struct out_s {
    struct out_s *next;
    double rx_at;               /* arrival of the message it relays; 0 = not a relay */
    size_t len;
    uint8_t buf[];              /* LWS_PRE headroom, then the message */
} out_t;

typedef struct ws_pss_s {
    struct lws *wsi;
    sig_conn_t *conn;           /* NULL before ESTABLISHED and after CLOSED */
    char *rx;                   /* the message being reassembled */
    size_t rx_len, rx_cap;
    uint64_t rx_total;          /* bytes of the message so far, kept or not */
    bool in_msg, rx_binary, rx_oversize;
    out_t *qhead, *qtail;
    size_t qbytes;
    int close_code;             /* nonzero: close after the queue */
    char close_reason[64];
    bool ping_due;
    double last_rx, last_ping;  /* monotonic seconds */
    struct ws_pss_s *prev, *next;
} ws_pss_t;

struct ihd_ws_s {
    sig_hub_t *hub;
    struct lws_context *ctx;
    lws_sorted_usec_list_t sul;
    ihd_server_t *srv;          /* borrowed */
    uint64_t cfg_gen;           /* configuration generation the hub has */
    ws_pss_t *conns;           /* established connections */
    atomic_long open;
    atomic_int drain_req;
    bool draining;
    double drain_at;            /* wall time of the 1001 closes; 0 = not yet */
    double kill_at;             /* then: drop connections that never acked */
    bool stopping;              /* context teardown: hub output is dropped */
    double rx_at;               /* while the hub handles a message: its arrival */
    sig_conn_t *rx_conn;        /* ... and the connection it came from */
    uint64_t cut_off;           /* connections closed for an endless message */
};

/* ---- Hub ops ---------------------------------------------------------- */

static void pss_close(ws_pss_t *pss, int code, const char *reason)
{
    if (pss->close_code)
        return;
    pss->close_code = code;
    snprintf(pss->close_reason, sizeof(pss->close_reason), "%s", reason ? reason : "");
    lws_callback_on_writable(pss->wsi);
}

static void op_send(void *ud, void *conn, const char *text, size_t len)
{
    ihd_ws_t *s = ud;
    ws_pss_t *pss = conn;
    if (s->stopping || pss->close_code)
        return;
    if (pss->qbytes + len > sig_hub_cfg(s->hub)->send_queue) {
        /* A reader this slow would hold memory without bound. */
        cmn_debug("signal", "closing a slow reader (%zu bytes queued)", pss->qbytes);
        pss_close(pss, SIG_CLOSE_POLICY, "too slow to read");
        return;
    }
    out_t *o = cmn_malloc(sizeof(*o) + LWS_PRE + len);
    o->next = NULL;
    o->len = len;
    /* Timed: what the hub sends another connection while it handles a
     * message (relays, peer-joined/left), not its replies to the sender. */
    o->rx_at = s->rx_conn && s->rx_conn != pss->conn ? s->rx_at : 0;
    memcpy(o->buf + LWS_PRE, text, len);
    if (pss->qtail)
        pss->qtail->next = o;
    else
        pss->qhead = o;
    pss->qtail = o;
    pss->qbytes += len;
    lws_callback_on_writable(pss->wsi);
}

static void op_close(void *ud, void *conn, int code, const char *reason)
{
    ihd_ws_t *s = ud;
    if (!s->stopping)
        pss_close(conn, code, reason);
}

/* A cluster request of the hub goes to the Redis thread (ihd_fed.c). */
static int op_fed(void *ud, const sig_fed_req_t *r)
{
    ihd_ws_t *s = ud;
    return s->stopping ? CMN_EAGAIN : ihd_fed_request(s->srv->redis, r);
}

/* On the Redis thread: there is cluster input for the hub. */
static void fed_wake(void *arg)
{
    ihd_ws_t *s = arg;
    if (s->ctx)
        lws_cancel_service(s->ctx);
}

/* On this thread: hand the cluster's input to the hub. Relayed messages
 * that came from another node are timed like local ones, from here. */
static void fed_input(ihd_ws_t *s)
{
    s->rx_at = ihd_now();
    s->rx_conn = (sig_conn_t *)s; /* no connection of the hub: every copy is timed */
    ihd_fed_input(s->srv->redis, s->hub, ihd_wallclock());
    s->rx_conn = NULL;
}

/* ---- Connections ------------------------------------------------------- */

static void hdr(struct lws *wsi, enum lws_token_indexes t, char *out, size_t cap)
{
    out[0] = '\0';
    if (lws_hdr_total_length(wsi, t) > 0 && lws_hdr_copy(wsi, out, (int)cap, t) < 0)
        out[0] = '\0';
}

/* Answer a refused upgrade. Written by hand: at this point lws has not
 * yet taken the request's HTTP version, and lws_return_http_status would
 * answer "HTTP/1.0", which WebSocket clients reject as a bad handshake. */
static int refuse(struct lws *wsi, unsigned status, const char *why)
{
    const char *text = status == 403   ? "Forbidden"
                       : status == 429 ? "Too Many Requests"
                       : status == 503 ? "Service Unavailable"
                                       : "Not Found";
    char buf[LWS_PRE + 512];
    char *p = buf + LWS_PRE;
    int n = snprintf(p, sizeof(buf) - LWS_PRE,
                     "HTTP/1.1 %u %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
                     "cache-control: no-store\r\nconnection: close\r\n\r\n%s\n",
                     status, text, strlen(why) + 1, why);
    if (lws_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
        return -1;
    return 1;
}

int ihd_ws_confirm_upgrade(ihd_ws_t *s, struct lws *wsi, const char *upgrade)
{
    char uri[64], origin[256], host[256], ip[64];
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0)
        return 0; /* h2c and friends: not ours to judge */
    hdr(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri));
    hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
    hdr(wsi, WSI_TOKEN_HOST, host, sizeof(host));
    lws_get_peer_simple(wsi, ip, sizeof(ip));
    sig_refuse_t why = SIG_REFUSE_NOT_FOUND;
    unsigned status;
    if (strcmp(uri, "/ws") != 0)
        sig_hub_refused(s->hub, why);
    else if (sig_hub_admit(s->hub, ip, origin, host, &why) == 0)
        return 0;
    switch (why) {
    case SIG_REFUSE_ORIGIN: status = HTTP_STATUS_FORBIDDEN; break;
    case SIG_REFUSE_PER_IP: status = 429; break;
    case SIG_REFUSE_DRAINING: status = HTTP_STATUS_SERVICE_UNAVAILABLE; break;
    default: status = HTTP_STATUS_NOT_FOUND; break;
    }
    cmn_debug("signal", "upgrade from %s refused: %s (origin \"%s\", host \"%s\")", ip,
              sig_refuse_name(why), origin, host);
    return refuse(wsi, status, sig_refuse_name(why));
}

static void pss_established(ihd_ws_t *s, ws_pss_t *pss, struct lws *wsi)
{
    char host[256], ip[64];
    hdr(wsi, WSI_TOKEN_HOST, host, sizeof(host));
    lws_get_peer_simple(wsi, ip, sizeof(ip));
    memset(pss, 0, sizeof(*pss));
    pss->wsi = wsi;
    pss->last_rx = pss->last_ping = ihd_now();
    pss->conn = sig_conn_open(s->hub, pss, ip, host, ihd_wallclock());
    pss->next = s->conns;
    if (s->conns)
        s->conns->prev = pss;
    s->conns = pss;
    atomic_fetch_add(&s->open, 1);
}

static void pss_closed(ihd_ws_t *s, ws_pss_t *pss)
{
    if (!pss->conn)
        return;
    sig_conn_gone(s->hub, pss->conn, ihd_wallclock());
    pss->conn = NULL;
    while (pss->qhead) {
        out_t *n = pss->qhead->next;
        cmn_free(pss->qhead);
        pss->qhead = n;
    }
    pss->qtail = NULL;
    cmn_free(pss->rx);
    pss->rx = NULL;
    if (pss->prev)
        pss->prev->next = pss->next;
    else
        s->conns = pss->next;
    if (pss->next)
        pss->next->prev = pss->prev;
    atomic_fetch_sub(&s->open, 1);
}

/* Returns -1 to close the connection (a message past the cut-off). */
static int pss_receive(ihd_ws_t *s, ws_pss_t *pss, struct lws *wsi, const void *in,
                       size_t len)
{
    size_t max = sig_hub_cfg(s->hub)->max_message;
    pss->last_rx = ihd_now();
    if (!pss->in_msg && lws_is_final_fragment(wsi) && !lws_frame_is_binary(wsi) && len <= max) {
        /* A whole text message in one piece (the usual case): the hub reads
         * it where lws has it, no reassembly copy. */
        s->rx_at = pss->last_rx;
        s->rx_conn = pss->conn;
        sig_conn_text(s->hub, pss->conn, in ? in : "", len, ihd_wallclock());
        s->rx_conn = NULL;
        return 0;
    }
    if (!pss->in_msg) {
        pss->in_msg = true;
        pss->rx_binary = lws_frame_is_binary(wsi);
        pss->rx_oversize = false;
        pss->rx_len = 0;
        pss->rx_total = 0;
    }
    pss->rx_total += len;
    if (pss->rx_total > CMN_MAX((uint64_t)max * IHD_WS_CUTOFF_FACTOR, IHD_WS_CUTOFF_MIN)) {
        /* The close frame says why; nothing may follow it (so no
         * too-large error message from the hub). */
        static const char why[] = "message too big";
        lws_close_reason(wsi, (enum lws_close_status)SIG_CLOSE_TOO_BIG, (unsigned char *)why,
                         sizeof(why) - 1);
        s->cut_off++;
        return -1;
    }
    if (!pss->rx_oversize && !pss->rx_binary) {
        if (len > max - pss->rx_len) {
            pss->rx_oversize = true;
        } else if (len) { /* an empty frame comes as (NULL, 0): nothing to copy */
            if (pss->rx_len + len > pss->rx_cap) {
                pss->rx_cap = CMN_MIN(CMN_MAX(pss->rx_cap * 2, pss->rx_len + len), max);
                pss->rx = cmn_realloc(pss->rx, pss->rx_cap);
            }
            memcpy(pss->rx + pss->rx_len, in, len);
            pss->rx_len += len;
        }
    }
    if (!lws_is_final_fragment(wsi))
        return 0;
    pss->in_msg = false;
    double now = ihd_wallclock();
    s->rx_at = pss->last_rx;
    s->rx_conn = pss->conn;
    if (pss->rx_binary)
        sig_conn_binary(s->hub, pss->conn, now);
    else if (pss->rx_oversize)
        sig_conn_too_large(s->hub, pss->conn, now);
    else
        sig_conn_text(s->hub, pss->conn, pss->rx ? pss->rx : "", pss->rx_len, now);
    s->rx_conn = NULL;
    /* Keep a small buffer for the next message, not a large one. */
    if (pss->rx_cap > 4096) {
        cmn_free(pss->rx);
        pss->rx = NULL;
        pss->rx_cap = 0;
    }
    pss->rx_len = 0;
    return 0;
}

static int pss_write_queue(ihd_ws_t *s, ws_pss_t *pss, struct lws *wsi);

/* Returns -1 to close the connection. */
static int pss_writeable(ihd_ws_t *s, ws_pss_t *pss, struct lws *wsi)
{
    if (pss->ping_due) {
        /* With a payload: lws 4.1 does not report an empty pong. */
        uint8_t buf[LWS_PRE + 8];
        memcpy(buf + LWS_PRE, "icehub", 6);
        pss->ping_due = false;
        if (lws_write(wsi, buf + LWS_PRE, 6, LWS_WRITE_PING) < 0)
            return -1;
    }
    /* Several messages queued (a busy peer): cork the socket while lws
     * writes them, one frame per write, so the kernel sends them in as few
     * segments as fit instead of one TCP segment (and its trip through the
     * stack) per message; uncorking sends the rest at once. */
    int fd = pss->qhead && pss->qhead->next ? lws_get_socket_fd(wsi) : -1, on = 1, off = 0;
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
    int rc = pss_write_queue(s, pss, wsi);
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
    if (rc < 0)
        return -1;
    if (pss->qhead) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (pss->close_code) {
        lws_close_reason(wsi, (enum lws_close_status)pss->close_code,
                         (unsigned char *)pss->close_reason, strlen(pss->close_reason));
        return -1;
    }
    return 0;
}

/* Write queued messages while the socket takes them. Returns -1 to close. */
static int pss_write_queue(ihd_ws_t *s, ws_pss_t *pss, struct lws *wsi)
{
    while (pss->qhead && !lws_send_pipe_choked(wsi)) {
        out_t *o = pss->qhead;
        int n = lws_write(wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_TEXT);
        if (n >= 0 && o->rx_at > 0)
            sig_hub_observe_delivery(s->hub, ihd_now() - o->rx_at);
        pss->qhead = o->next;
        if (!pss->qhead)
            pss->qtail = NULL;
        pss->qbytes -= o->len;
        cmn_free(o);
        if (n < 0)
            return -1;
    }
    return 0;
}

/* ---- Settings ------------------------------------------------------------ */

void ihd_ws_cfg(const ihd_cfg_t *cfg, const ihd_server_t *srv, sig_cfg_t *out)
{
    const cmn_settings_t *s = &cfg->s;
    /* The secret the TURN service accepts: the first of turn.secrets, or
     * the process's own when TURN runs on it (turn.secrets empty). */
    const char *turn_secret = s->turn.secrets.n ? s->turn.secrets.v[0]
                              : cfg->turn.nsecrets ? srv->auto_secret : "";
    sig_cfg_t c;
    memset(&c, 0, sizeof(c));
    c.enabled = s->signal.enabled;
    c.public_host = (char *)s->signal.public_host;
    c.api_keys = s->signal.api_keys;
    c.credential_ttl = (uint32_t)s->signal.credential_ttl;
    c.allowed_origins = s->signal.allowed_origins;
    c.require_token = s->signal.require_token;
    c.token_secret = s->signal.token_secret && s->signal.token_secret[0]
                         ? s->signal.token_secret : (char *)srv->token_key;
    c.turn_secret = (char *)turn_secret;
    if (s->turn.enabled && s->turn.listen.n)
        c.turn_port = s->turn.listen.v[0].port;
    if (s->turn.enabled && s->tls.cert && s->tls.cert[0] && s->turn.tls_listen.n)
        c.turns_port = s->turn.tls_listen.v[0].port;
    c.max_message = (size_t)s->signal.max_message;
    c.rate = (uint32_t)s->signal.rate;
    c.burst = (uint32_t)s->signal.burst;
    c.max_room_peers = (uint32_t)s->signal.max_room_peers;
    c.max_rooms = (uint32_t)s->signal.max_rooms;
    c.max_connections_per_ip = (uint32_t)s->signal.max_connections_per_ip;
    c.ping_interval = (uint32_t)s->signal.ping_interval;
    c.idle_timeout = (uint32_t)s->signal.idle_timeout;
    c.resume_seconds = (uint32_t)s->signal.resume_seconds;
    c.resume_queue = (uint32_t)s->signal.resume_queue;
    c.drain_delay = (uint32_t)s->signal.drain_delay;
    c.ice_urls = (unsigned)s->signal.ice_servers;
    c.client_stats = s->signal.client_stats;
    c.send_queue = CMN_MAX((size_t)4 * c.max_message, (size_t)1 << 20);
    c.ice_servers_max = (uint32_t)s->signal.ice_servers_max;
    /* A cluster node's hub federates (srv->node_id is set at start). */
    c.node = s->redis.url[0] ? (char *)srv->node_id : "";
    c.fed_timeout = (uint32_t)s->redis.timeout;
    c.fed_heartbeat = (uint32_t)s->redis.heartbeat;
    c.fed_node_ttl = (uint32_t)s->redis.node_ttl;
    sig_cfg_copy(out, &c);
}

/* Once a second on the service thread: give the hub a reloaded
 * configuration. */
static void sync_cfg(ihd_ws_t *s)
{
    const ihd_cfg_t *cfg = atomic_load(&s->srv->cfg);
    if (cfg->gen == s->cfg_gen)
        return;
    sig_cfg_t sc;
    ihd_ws_cfg(cfg, s->srv, &sc);
    sig_hub_configure(s->hub, &sc);
    sig_cfg_dispose(&sc);
    s->cfg_gen = cfg->gen;
}

/* ---- Timers and drain ---------------------------------------------------- */

static void start_drain(ihd_ws_t *s)
{
    if (s->draining)
        return;
    s->draining = true;
    sig_hub_drain(s->hub);
    s->drain_at = ihd_wallclock() + sig_hub_cfg(s->hub)->drain_delay;
    cmn_info("signal", "draining: %ld WebSocket connection(s) get a going-away close in %u s",
             (long)atomic_load(&s->open), sig_hub_cfg(s->hub)->drain_delay);
    if (!sig_hub_cfg(s->hub)->drain_delay) {
        s->drain_at = 0;
        s->kill_at = ihd_wallclock() + 2;
        sig_hub_close_all(s->hub, SIG_CLOSE_GOING_AWAY, "server shutting down");
    }
}

static void keepalive(ihd_ws_t *s)
{
    const sig_cfg_t *cfg = sig_hub_cfg(s->hub);
    double now = ihd_now();
    for (ws_pss_t *p = s->conns; p; p = p->next) {
        if (p->close_code)
            continue;
        if (now - p->last_rx >= cfg->idle_timeout) {
            pss_close(p, SIG_CLOSE_GOING_AWAY, "idle timeout");
        } else if (now - p->last_rx >= cfg->ping_interval &&
                   now - p->last_ping >= cfg->ping_interval) {
            p->ping_due = true;
            p->last_ping = now;
            lws_callback_on_writable(p->wsi);
        }
    }
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    ihd_ws_t *s = lws_container_of(sul, ihd_ws_t, sul);
    sync_cfg(s);
    if (atomic_load(&s->drain_req))
        start_drain(s);
    double now = ihd_wallclock();
    if (s->draining && s->drain_at && now >= s->drain_at) {
        s->drain_at = 0;
        s->kill_at = now + 2;
        sig_hub_close_all(s->hub, SIG_CLOSE_GOING_AWAY, "server shutting down");
    } else if (s->kill_at && now >= s->kill_at) {
        /* Peers that did not answer the close in time: the daemon is
         * leaving, it does not wait out lws's close-ack timeout. */
        s->kill_at = 0;
        for (ws_pss_t *p = s->conns; p; p = p->next)
            lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    keepalive(s);
    fed_input(s);
    sig_hub_tick(s->hub, now);
    lws_sul_schedule(s->ctx, 0, &s->sul, tick_cb, LWS_US_PER_SEC);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    ihd_ws_t *s = proto ? proto->user : NULL;
    ws_pss_t *pss = user;
    if (!s)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        pss_established(s, pss, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return pss->conn ? pss_receive(s, pss, wsi, in, len) : 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        pss->last_rx = ihd_now();
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->conn ? pss_writeable(s, pss, wsi) : 0;
    case LWS_CALLBACK_CLOSED:
        pss_closed(s, pss);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (atomic_load(&s->drain_req) && !s->draining)
            start_drain(s);
        if (!s->stopping)
            fed_input(s);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* As the vhost's default protocol this one is bound to new
         * connections until their request picks a protocol. */
        return ihd_ws_confirm_upgrade(s, wsi, in);
    default:
        /* HTTP reasons reach the default protocol too (FIELD-NOTES). */
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- Setup --------------------------------------------------------------- */

ihd_ws_t *ihd_ws_new(ihd_server_t *srv)
{
    ihd_ws_t *s = cmn_calloc(1, sizeof(*s));
    sig_ops_t ops = {.ud = s, .send = op_send, .close = op_close, .fed = op_fed};
    const ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    sig_cfg_t sc;
    ihd_ws_cfg(cfg, srv, &sc);
    s->hub = sig_hub_new(&sc, &ops);
    sig_cfg_dispose(&sc);
    s->srv = srv;
    s->cfg_gen = cfg->gen;
    atomic_init(&s->open, 0);
    atomic_init(&s->drain_req, 0);
    return s;
}

void ihd_ws_free(ihd_ws_t *s)
{
    if (!s)
        return;
    sig_hub_free(s->hub);
    cmn_free(s);
}

sig_hub_t *ihd_ws_hub(ihd_ws_t *s)
{
    return s->hub;
}

void ihd_ws_protocol(ihd_ws_t *s, struct lws_protocols *out)
{
    memset(out, 0, sizeof(*out));
    out->name = "icehub-signal";
    out->callback = ws_cb;
    out->per_session_data_size = sizeof(ws_pss_t);
    out->rx_buffer_size = IHD_WS_RX_BUFFER;
    out->tx_packet_size = 65536; /* bytes per send(); lws buffers the rest */
    out->user = s;
}

void ihd_ws_start(ihd_ws_t *s, struct lws_context *ctx)
{
    s->ctx = ctx;
    if (s->srv->redis) {
        ihd_redis_set_wake(s->srv->redis, fed_wake, s);
        /* A hub made while the link is up (HTTP taken back after a failed
         * upgrade) missed the event that said so; one made before it comes
         * up gets the event from the queue. */
        if (ihd_redis_up(s->srv->redis))
            sig_hub_fed_link(s->hub, true, ihd_wallclock());
    }
    lws_sul_schedule(ctx, 0, &s->sul, tick_cb, LWS_US_PER_SEC);
}

void ihd_ws_stopping(ihd_ws_t *s)
{
    s->stopping = true;
    if (s->srv->redis)
        ihd_redis_set_wake(s->srv->redis, NULL, NULL);
}

void ihd_ws_request_drain(ihd_ws_t *s)
{
    atomic_store(&s->drain_req, 1);
    if (s->ctx)
        lws_cancel_service(s->ctx);
}

uint64_t ihd_ws_cut_off(const ihd_ws_t *s)
{
    return s->cut_off;
}

long ihd_ws_open(const ihd_ws_t *s)
{
    return atomic_load(&((ihd_ws_t *)s)->open);
}
