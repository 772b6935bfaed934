/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_redis.c: the Redis thread. It runs a GLib main loop of its own with
 * hiredis' asynchronous API (its GLib adapter) on two connections, one
 * for commands and one for subscriptions (a subscribed RESP2 connection
 * takes no other commands), and nothing else: no relay worker and not the
 * hub's thread ever waits for Redis (docs/scaling.md says why a thread of
 * its own). Around it:
 *
 *  - two bounded queues (ihd_redis_q.c): commands in (from the hub's
 *    thread, and the admin API), what the hub must hear out (channel
 *    messages, answers, the link going up or down).
 *  - the link: both connections authenticated, the cluster and node
 *    channels subscribed. hiredis 0.14 has no timeouts: a command
 *    unanswered for redis.timeout, a connection not up in
 *    redis.connect_timeout, or a subscriber connection that stops hearing
 *    this node's own heartbeat breaks the link. Reconnects back off from
 *    0.1 s, doubling with jitter, to redis.backoff_max.
 *  - a 250 ms timer for the node's own work (ihd_cluster.c: heartbeats,
 *    usage, revocations), which also runs on this thread.
 *
 * Only this file, ihd_cluster.c and ihd_cluster_acct.c include hiredis.
 */
#include "ihd_redis.h"

#include <glib-unix.h>
#include <hiredis/adapters/glib.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <sys/eventfd.h>

#include "common/cmn_log.h"
#include "common/cmn_metrics.h"

#define TIMER_MS 250

typedef struct rconn_s {
    ihd_redis_t *r;
    redisAsyncContext *ac;      /* NULL when closed */
    GSource *src;               /* ours (a reference); destroyed when the connection ends */
    GSource *dead;              /* the previous connection's, unreferenced later */
    bool sub;                   /* the subscriber connection */
    bool ready;                 /* authenticated (and for sub: base channels subscribed) */
    int base_subs;              /* sub: cluster and node channel confirmations */
    ihd_rcmd_t *fly, *fly_tail; /* sent, waiting for their answers, in order */
} rconn_t;

struct ihd_redis_s {
    ihd_server_t *srv;          /* borrowed */
    ihd_redis_cfg_t cfg;
    char chan_cluster[80], chan_node[120], chan_room[80]; /* channel names and prefix */
    pthread_t thread;
    GMainContext *ctx;
    GMainLoop *loop;
    int wakefd;                 /* eventfd: the queue has commands, or stop */
    ihd_rq_t *q;                /* owned: the two queues (ihd_redis_q.c) */
    rconn_t cmd, sub;
    bool up;                    /* read by other threads through ihd_redis_up */
    double down_since, next_try, backoff, connect_deadline, sub_heard;
    ihd_cluster_t *cluster;
    atomic_int stopping;        /* 1: goodbye first; 2: stop without it */
    double stop_deadline;       /* monotonic: give up on the goodbye */
    bool bye_done;
    uint64_t seen_gen;          /* atomic: configuration generation in use (reload) */
    /* Counters (relaxed atomics; read by /metrics). */
    uint64_t connects_ok, connects_failed, disconnects, timeouts, sent, received, errors;
};

/* ---- Sending ---------------------------------------------------------------- */

static void conn_broken(rconn_t *cn, const char *why);

static void cmd_answer(redisAsyncContext *ac, void *reply, void *privdata);

static int send_on(rconn_t *cn, ihd_rcmd_t *c)
{
    ihd_redis_t *r = cn->r;
    c->at = ihd_now();
    c->next = NULL;
    int rc = redisAsyncCommandArgv(cn->ac, cmd_answer, c, c->argc, (const char **)c->argv,
                                   c->lens);
    if (rc != REDIS_OK) {
        ihd_rcmd_free(c);
        return CMN_EIO;
    }
    if (cn->fly_tail)
        cn->fly_tail->next = c;
    else
        cn->fly = c;
    cn->fly_tail = c;
    __atomic_fetch_add(&r->sent, 1, __ATOMIC_RELAXED);
    return 0;
}

int ihd__redis_send(ihd_redis_t *r, ihd_rcmd_t *c, ihd_redis_cb fn, void *arg)
{
    c->fn = fn;
    c->arg = arg;
    if (!r->up || !r->cmd.ac) {
        if (fn)
            fn(r, arg, NULL);
        ihd_rcmd_free(c);
        return CMN_EAGAIN;
    }
    return send_on(&r->cmd, c);
}

static void sub_message(redisAsyncContext *ac, void *reply, void *privdata);

/* SUBSCRIBE and UNSUBSCRIBE go on the subscriber connection; their
 * confirmations come through sub_message. */
static void send_sub(ihd_redis_t *r, ihd_rcmd_t *c)
{
    if (r->sub.ac)
        redisAsyncCommandArgv(r->sub.ac, sub_message, r, c->argc, (const char **)c->argv,
                              c->lens);
    ihd_rcmd_free(c);
}

/* Everything queued, in order. */
static void flush_out(ihd_redis_t *r)
{
    ihd_rcmd_t *c = ihd__rq_take_out(r->q);
    while (c) {
        ihd_rcmd_t *n = c->next;
        if (!r->up) {
            if (c->reply == IHD_RR_HUB) {
                ihd_rin_t *in = ihd__rin_new(IHD_RIN_RESULT, NULL, NULL, 0);
                in->id = c->id;
                in->status = CMN_EAGAIN;
                ihd__redis_push(r, in);
            }
            ihd_rcmd_free(c);
        } else if (c->reply == IHD_RR_SUB || c->reply == IHD_RR_UNSUB) {
            send_sub(r, c);
        } else {
            send_on(&r->cmd, c);
        }
        c = n;
    }
}

int ihd_redis_submit(ihd_redis_t *r, ihd_rcmd_t *c)
{
    if (ihd__rq_submit(r->q, c, __atomic_load_n(&r->up, __ATOMIC_ACQUIRE)) < 0)
        return CMN_EAGAIN;
    uint64_t one = 1;
    (void)!write(r->wakefd, &one, sizeof(one));
    return 0;
}

void ihd__redis_push(ihd_redis_t *r, ihd_rin_t *in)
{
    ihd__rq_push_in(r->q, in);
}

ihd_rin_t *ihd_redis_take(ihd_redis_t *r)
{
    return ihd__rq_take_in(r->q);
}

void ihd_redis_set_wake(ihd_redis_t *r, void (*wake)(void *arg), void *arg)
{
    ihd__rq_set_wake(r->q, wake, arg);
}

/* ---- Answers ------------------------------------------------------------------ */

/* A script's integer answer as the hub's status: 0, -1 taken, -2 full,
 * -3 not there; an error or no answer: CMN_EAGAIN. */
static int hub_status(const redisReply *rep)
{
    if (!rep || rep->type != REDIS_REPLY_INTEGER)
        return CMN_EAGAIN;
    switch (rep->integer) {
    case 0: return 0;
    case -1: return CMN_EEXIST;
    case -2: return CMN_ELIMIT;
    case -3: return CMN_ENOENT;
    default: return rep->integer > 0 ? 0 : CMN_EAGAIN;
    }
}

static void retry_reap(ihd_redis_t *r, ihd_rcmd_t *c, long long ms);

static void cmd_answer(redisAsyncContext *ac, void *reply, void *privdata)
{
    rconn_t *cn = ac->data;
    ihd_redis_t *r = cn->r;
    ihd_rcmd_t *c = privdata;
    redisReply *rep = reply;
    /* Answers come in the order the commands went out. */
    if (cn->fly == c) {
        cn->fly = c->next;
        if (!cn->fly)
            cn->fly_tail = NULL;
    }
    if (rep)
        __atomic_fetch_add(&r->received, 1, __ATOMIC_RELAXED);
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
        cmn_warn("cluster", "redis: %s", rep->str);
    }
    if (c->fn) {
        c->fn(r, c->arg, rep);
    } else if (c->reply == IHD_RR_HUB) {
        ihd_rin_t *in = ihd__rin_new(IHD_RIN_RESULT, NULL, NULL, 0);
        in->id = c->id;
        in->status = hub_status(rep);
        ihd__redis_push(r, in);
    } else if (c->reply == IHD_RR_REAP && rep && rep->type == REDIS_REPLY_INTEGER &&
               rep->integer > 0) {
        /* The node's heartbeat key is still there: ask again when it
         * expires. */
        retry_reap(r, c, rep->integer);
        return;
    }
    ihd_rcmd_free(c);
}

static gboolean reap_again(gpointer data)
{
    ihd_rcmd_t *c = data;
    ihd_redis_t *r = c->arg;
    c->arg = NULL;
    if (r->up && r->cmd.ac)
        send_on(&r->cmd, c);
    else
        ihd_rcmd_free(c);
    return G_SOURCE_REMOVE;
}

static void retry_reap(ihd_redis_t *r, ihd_rcmd_t *c, long long ms)
{
    /* A node that keeps its key alive is not dead: one retry at the
     * key's expiry; the hub asks again while the node stays silent. */
    if (c->id++ > 0) {
        ihd_rcmd_free(c);
        return;
    }
    c->arg = r;
    GSource *t = g_timeout_source_new((guint)CMN_MIN(ms + 5, 600000LL));
    g_source_set_callback(t, reap_again, c, NULL);
    g_source_attach(t, r->ctx);
    g_source_unref(t);
}

/* The room a channel name belongs to, or NULL. */
static const char *room_of(ihd_redis_t *r, const char *chan)
{
    size_t n = strlen(r->chan_room);
    return !strncmp(chan, r->chan_room, n) ? chan + n : NULL;
}

static void link_up(ihd_redis_t *r);

static void sub_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    ihd_redis_t *r = privdata;
    redisReply *rep = reply;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str, *chan = rep->element[1]->str;
    const char *room = room_of(r, chan);
    if (!strcmp(kind, "subscribe")) {
        if (room) {
            ihd__redis_push(r, ihd__rin_new(IHD_RIN_SUBSCRIBED, room, NULL, 0));
        } else if (++r->sub.base_subs == 2) {
            r->sub.ready = true;
            link_up(r);
        }
        return;
    }
    if (strcmp(kind, "message") != 0 || rep->element[2]->type != REDIS_REPLY_STRING)
        return;
    __atomic_fetch_add(&r->received, 1, __ATOMIC_RELAXED);
    const redisReply *data = rep->element[2];
    r->sub_heard = ihd_now();
    if (room)
        ihd__redis_push(r, ihd__rin_new(IHD_RIN_ROOM, room, data->str, data->len));
    else if (!strcmp(chan, r->chan_node))
        ihd__redis_push(r, ihd__rin_new(IHD_RIN_NODE, NULL, data->str, data->len));
    else if (!strcmp(chan, r->chan_cluster))
        ihd__cluster_message(r->cluster, data->str, data->len);
}

/* ---- The link ------------------------------------------------------------------ */

static void link_up(ihd_redis_t *r)
{
    if (r->up || !r->cmd.ready || !r->sub.ready)
        return;
    __atomic_store_n(&r->up, true, __ATOMIC_RELEASE);
    __atomic_fetch_add(&r->connects_ok, 1, __ATOMIC_RELAXED);
    r->backoff = 0;
    r->sub_heard = ihd_now();
    cmn_info("cluster", "redis: connected to %s as node \"%s\"",
             r->cfg.url.path[0] ? r->cfg.url.path : r->cfg.url.host, r->cfg.node);
    ihd_rin_t *in = ihd__rin_new(IHD_RIN_LINK, NULL, NULL, 0);
    in->status = 1;
    ihd__redis_push(r, in);
    ihd__cluster_up(r->cluster);
    flush_out(r);
}

static void link_down(ihd_redis_t *r, const char *why)
{
    if (r->up) {
        __atomic_store_n(&r->up, false, __ATOMIC_RELEASE);
        __atomic_fetch_add(&r->disconnects, 1, __ATOMIC_RELAXED);
        r->down_since = ihd_now();
        cmn_warn("cluster", "redis: link down (%s); serving local rooms and relays, "
                            "reconnecting", why);
        ihd_rin_t *in = ihd__rin_new(IHD_RIN_LINK, NULL, NULL, 0);
        ihd__redis_push(r, in);
        ihd__cluster_down(r->cluster);
    }
    flush_out(r); /* what waited is answered "no link" */
    conn_broken(&r->cmd, why);
    conn_broken(&r->sub, why);
    if (!r->next_try) {
        double b = r->backoff ? CMN_MIN(r->backoff * 2, (double)r->cfg.backoff_max) : 0.1;
        r->backoff = b;
        r->next_try = ihd_now() + b * (0.75 + 0.5 * g_random_double());
    }
}

/* A connection's GSource ends with it. Destroyed at once when hiredis'
 * cleanup (which takes the descriptor off the source) has run: GLib may
 * already have picked the source to dispatch in this very iteration, and
 * its dispatch would then touch the freed context. Within hiredis' own
 * callback for that context the cleanup comes after us: the source is
 * destroyed one timer tick later (GLib refuses the cleanup on a destroyed
 * source), and it is not dispatched meanwhile (no descriptor). */
static void src_retire(rconn_t *cn, bool cleaned)
{
    if (!cn->src)
        return;
    if (cn->dead) {
        g_source_destroy(cn->dead);
        g_source_unref(cn->dead);
    }
    cn->dead = cn->src;
    cn->src = NULL;
    if (cleaned)
        g_source_destroy(cn->dead);
}

static void src_reap(rconn_t *cn)
{
    if (cn->dead) {
        g_source_destroy(cn->dead);
        g_source_unref(cn->dead);
        cn->dead = NULL;
    }
}

/* Close <cn> (no-op when closed). hiredis answers what is in flight
 * with NULL first. */
static void conn_broken(rconn_t *cn, const char *why)
{
    (void)why;
    if (!cn->ac)
        return;
    redisAsyncContext *ac = cn->ac;
    cn->ac = NULL;
    cn->ready = false;
    /* Inside a callback of <ac> hiredis frees it when the callback returns. */
    bool now = !(ac->c.flags & REDIS_IN_CALLBACK);
    redisAsyncFree(ac);
    src_retire(cn, now);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    rconn_t *cn = ac->data;
    ihd_redis_t *r = cn->r;
    src_retire(cn, true); /* hiredis ran its cleanup before this callback */
    cn->fly = cn->fly_tail = NULL;
    if (cn->ac == ac) {
        cn->ac = NULL;
        cn->ready = false;
        link_down(r, ac->errstr[0] ? ac->errstr : "connection closed");
    }
}

static void setup_answer(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    rconn_t *cn = ac->data;
    redisReply *rep = reply;
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        cmn_err("cluster", "redis: %s", rep->str);
        __atomic_fetch_add(&cn->r->connects_failed, 1, __ATOMIC_RELAXED);
        link_down(cn->r, "AUTH or SELECT refused");
    }
}

static void ready_answer(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    rconn_t *cn = ac->data;
    if (!reply || ((redisReply *)reply)->type == REDIS_REPLY_ERROR)
        return;
    cn->ready = true;
    link_up(cn->r);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rconn_t *cn = ac->data;
    ihd_redis_t *r = cn->r;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this, without on_disconnect. */
        __atomic_fetch_add(&r->connects_failed, 1, __ATOMIC_RELAXED);
        cmn_debug("cluster", "redis: cannot connect: %s", ac->errstr);
        src_retire(cn, false);
        if (cn->ac == ac)
            cn->ac = NULL;
        link_down(r, ac->errstr);
        return;
    }
    const cmn_redis_url_t *u = &r->cfg.url;
    if (u->password[0] && u->user[0])
        redisAsyncCommand(ac, setup_answer, NULL, "AUTH %s %s", u->user, u->password);
    else if (u->password[0])
        redisAsyncCommand(ac, setup_answer, NULL, "AUTH %s", u->password);
    if (u->db)
        redisAsyncCommand(ac, setup_answer, NULL, "SELECT %d", u->db);
    if (cn->sub) {
        redisAsyncCommand(ac, sub_message, r, "SUBSCRIBE %s %s", r->chan_cluster, r->chan_node);
    } else {
        redisAsyncCommand(ac, ready_answer, NULL, "PING");
    }
}

static void conn_open(ihd_redis_t *r, rconn_t *cn)
{
    const cmn_redis_url_t *u = &r->cfg.url;
    redisAsyncContext *ac = u->path[0] ? redisAsyncConnectUnix(u->path)
                                       : redisAsyncConnect(u->host, u->port);
    if (!ac || ac->err) {
        cmn_debug("cluster", "redis: cannot connect: %s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        __atomic_fetch_add(&r->connects_failed, 1, __ATOMIC_RELAXED);
        return;
    }
    ac->data = cn;
    cn->ac = ac;
    cn->ready = false;
    cn->base_subs = 0;
    cn->src = redis_source_new(ac);
    g_source_attach(cn->src, r->ctx);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Between two callbacks nothing here holds a configuration snapshot:
 * say which one the next callbacks load (for a reload's free). */
static void publish_gen(ihd_redis_t *r)
{
    const ihd_cfg_t *cfg = atomic_load_explicit(&r->srv->cfg, memory_order_acquire);
    __atomic_store_n(&r->seen_gen, cfg->gen, __ATOMIC_RELEASE);
}

/* Every 250 ms: (re)connect, time out, the cluster's own work. */
static gboolean on_timer(gpointer data)
{
    ihd_redis_t *r = data;
    double now = ihd_now();
    publish_gen(r);
    src_reap(&r->cmd);
    src_reap(&r->sub);
    if (!r->up && !r->cmd.ac && !r->sub.ac && now >= r->next_try) {
        r->next_try = 0;
        r->connect_deadline = now + r->cfg.connect_timeout;
        conn_open(r, &r->cmd);
        conn_open(r, &r->sub);
    } else if (!r->up && (r->cmd.ac || r->sub.ac) && now >= r->connect_deadline) {
        __atomic_fetch_add(&r->timeouts, 1, __ATOMIC_RELAXED);
        link_down(r, "connect timeout");
    }
    if (r->up) {
        double oldest = r->cmd.fly ? r->cmd.fly->at : now;
        /* Our own heartbeat comes back on the subscriber connection every
         * redis.heartbeat seconds. */
        double quiet = r->cfg.timeout + r->cfg.heartbeat;
        if (now - oldest > r->cfg.timeout || now - r->sub_heard > quiet) {
            __atomic_fetch_add(&r->timeouts, 1, __ATOMIC_RELAXED);
            link_down(r, now - oldest > r->cfg.timeout ? "command timeout" : "subscriber silent");
        }
    }
    ihd__cluster_timer(r->cluster, ihd_wallclock());
    if (atomic_load(&r->stopping) && (r->bye_done || !r->up || now > r->stop_deadline))
        g_main_loop_quit(r->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean on_wake(gint fd, GIOCondition cond, gpointer data)
{
    (void)cond;
    ihd_redis_t *r = data;
    uint64_t n;
    (void)!read(fd, &n, sizeof(n));
    publish_gen(r);
    flush_out(r);
    if (atomic_load(&r->stopping) == 2) {
        g_main_loop_quit(r->loop);
    } else if (atomic_load(&r->stopping) && !r->bye_done && !r->stop_deadline) {
        r->stop_deadline = ihd_now() + 1.5;
        if (r->up)
            ihd__cluster_bye(r->cluster);
        else
            g_main_loop_quit(r->loop);
    }
    return G_SOURCE_CONTINUE;
}

void ihd__redis_bye_done(ihd_redis_t *r)
{
    r->bye_done = true;
    g_main_loop_quit(r->loop);
}

static void *redis_main(void *arg)
{
    ihd_redis_t *r = arg;
    g_main_context_push_thread_default(r->ctx);
    GSource *t = g_timeout_source_new(TIMER_MS);
    g_source_set_callback(t, on_timer, r, NULL);
    g_source_attach(t, r->ctx);
    GSource *w = g_unix_fd_source_new(r->wakefd, G_IO_IN);
    g_source_set_callback(w, (GSourceFunc)(void (*)(void))on_wake, r, NULL);
    g_source_attach(w, r->ctx);
    on_timer(r);
    g_main_loop_run(r->loop);
    __atomic_store_n(&r->up, false, __ATOMIC_RELEASE);
    __atomic_store_n(&r->seen_gen, UINT64_MAX, __ATOMIC_RELEASE);
    conn_broken(&r->cmd, "stopping");
    conn_broken(&r->sub, "stopping");
    g_source_destroy(t);
    g_source_unref(t);
    g_source_destroy(w);
    g_source_unref(w);
    /* Let hiredis' frees finish their callbacks before the sources go. */
    while (g_main_context_iteration(r->ctx, FALSE))
        ;
    src_reap(&r->cmd);
    src_reap(&r->sub);
    g_main_context_pop_thread_default(r->ctx);
    return NULL;
}

/* ---- Life cycle ---------------------------------------------------------------- */

ihd_redis_t *ihd_redis_start(ihd_server_t *srv, const ihd_redis_cfg_t *cfg)
{
    ihd_redis_t *r = cmn_calloc(1, sizeof(*r));
    r->srv = srv;
    r->cfg = *cfg;
    snprintf(r->chan_cluster, sizeof(r->chan_cluster), "%sc", cfg->prefix);
    snprintf(r->chan_node, sizeof(r->chan_node), "%sn:%s", cfg->prefix, cfg->node);
    snprintf(r->chan_room, sizeof(r->chan_room), "%sr:", cfg->prefix);
    r->cmd.r = r->sub.r = r;
    r->sub.sub = true;
    r->q = ihd__rq_new(cfg->queue_bytes);
    r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->ctx = g_main_context_new();
    r->loop = g_main_loop_new(r->ctx, FALSE);
    r->cluster = ihd__cluster_new(r);
    if (r->wakefd < 0 || pthread_create(&r->thread, NULL, redis_main, r) != 0) {
        cmn_err("cluster", "cannot start the Redis thread");
        ihd__cluster_free(r->cluster);
        g_main_loop_unref(r->loop);
        g_main_context_unref(r->ctx);
        if (r->wakefd >= 0)
            close(r->wakefd);
        ihd__rq_free(r->q);
        cmn_free(r);
        return NULL;
    }
    return r;
}

void ihd_redis_stop(ihd_redis_t *r, bool bye)
{
    if (!r)
        return;
    atomic_store(&r->stopping, bye ? 1 : 2);
    uint64_t one = 1;
    (void)!write(r->wakefd, &one, sizeof(one));
    pthread_join(r->thread, NULL);
    ihd__cluster_free(r->cluster);
    g_main_loop_unref(r->loop);
    g_main_context_unref(r->ctx);
    close(r->wakefd);
    ihd__rq_free(r->q);
    explicit_bzero(&r->cfg.url, sizeof(r->cfg.url));
    cmn_free(r);
}

const ihd_redis_cfg_t *ihd_redis_cfg(const ihd_redis_t *r)
{
    return &r->cfg;
}

bool ihd_redis_up(const ihd_redis_t *r)
{
    return r && __atomic_load_n(&r->up, __ATOMIC_ACQUIRE);
}

ihd_server_t *ihd__redis_srv(ihd_redis_t *r)
{
    return r->srv;
}

ihd_cluster_t *ihd__redis_cluster(ihd_redis_t *r)
{
    return r->cluster;
}

bool ihd_redis_seen(ihd_server_t *srv, uint64_t gen)
{
    ihd_redis_t *r = srv->redis;
    if (!r)
        return true;
    uint64_t one = 1;
    (void)!write(r->wakefd, &one, sizeof(one));
    return __atomic_load_n(&r->seen_gen, __ATOMIC_ACQUIRE) >= gen;
}

/* ---- Metrics --------------------------------------------------------------------- */

static uint64_t rd(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void ihd_redis_metrics(ihd_redis_t *r, struct cmn_prom_s *p)
{
    if (!r)
        return;
    cmn_prom_family(p, "icehub_cluster_up", "gauge",
                    "1 while both Redis connections work and this node's channels are "
                    "subscribed, else 0.");
    cmn_prom_sample_u64(p, "icehub_cluster_up", ihd_redis_up(r), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_connects_total", "counter",
                    "Attempts to bring the Redis link up, by result.");
    cmn_prom_sample_u64(p, "icehub_cluster_connects_total", rd(&r->connects_ok), "result",
                        "success", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_connects_total", rd(&r->connects_failed), "result",
                        "failure", CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_disconnects_total", "counter",
                    "Times the Redis link went down, timeouts included.");
    cmn_prom_sample_u64(p, "icehub_cluster_disconnects_total", rd(&r->disconnects),
                        CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_timeouts_total", "counter",
                    "Commands, connects or a silent subscriber connection past redis.timeout.");
    cmn_prom_sample_u64(p, "icehub_cluster_timeouts_total", rd(&r->timeouts), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_redis_commands_total", "counter",
                    "Redis commands sent, answers and messages received, error answers.");
    cmn_prom_sample_u64(p, "icehub_cluster_redis_commands_total", rd(&r->sent), "what", "sent",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_redis_commands_total", rd(&r->received), "what",
                        "received", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_redis_commands_total", rd(&r->errors), "what",
                        "error", CMN_PROM_END);
    ihd__rq_metrics(r->q, p);
    ihd__cluster_metrics(r->cluster, p);
}
