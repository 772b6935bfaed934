/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_cluster.c: this node's own work in the cluster, on the Redis thread
 * (docs/scaling.md):
 *  - heartbeats: every redis.heartbeat seconds its key (expiring after
 *    redis.node_ttl) and, on the cluster channel, its relay's host and
 *    ports, drain state and load for the other hubs' directors; a goodbye
 *    on a clean stop, which also takes its members out of their rooms;
 *  - usage: once a second the users' new counts (acct_usage_take) go to
 *    the cluster's totals in one script that also publishes them; other
 *    nodes' batches come back as their counts (acct_usage_remote); after
 *    every reconnect a snapshot sets both right (acct_usage_reset), so a
 *    Redis that lost everything is refilled from the nodes' tables;
 *  - revocations: one made through this node's admin API goes to the
 *    cluster's hash and channel; the others' are applied here; after a
 *    reconnect both sides are merged, the later change winning.
 * What a heartbeat and a batch say is encoded by signal/sig_dir.c and
 * acct/acct_clu.c; this file moves them. Usage and revocations are in
 * ihd_cluster_acct.c.
 */
#include "ihd_redis.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"
#include "common/cmn_metrics.h"
#include "signal/sig.h"

#define USAGE_INTERVAL 1.0      /* seconds between usage batches */

const ihd_cfg_t *ihd__clu_cfg(ihd_cluster_t *c)
{
    return atomic_load_explicit(&c->srv->cfg, memory_order_acquire);
}

ihd_cluster_t *ihd__cluster_new(ihd_redis_t *r)
{
    ihd_cluster_t *c = cmn_calloc(1, sizeof(*c));
    c->r = r;
    c->srv = ihd__redis_srv(r);
    pthread_mutex_init(&c->mu, NULL);
    cmn_map_init(&c->rvk, 16);
    return c;
}

void ihd__cluster_free(ihd_cluster_t *c)
{
    if (!c)
        return;
    acct_batch_dispose(&c->fly);
    for (size_t i = 0; i < c->nheld; i++)
        acct_batch_dispose(&c->held[i]);
    cmn_free(c->held);
    cmn_free(c->held_seq);
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &c->rvk);
    for (cmn_map_node_t *n; (n = cmn_map_iter_next(&it));)
        cmn_free(CMN_MAP_ENTRY(n, ihd_rvk_ent_t, node));
    cmn_map_dispose(&c->rvk);
    pthread_mutex_destroy(&c->mu);
    cmn_free(c);
}

void ihd__clu_key(ihd_rcmd_t *cmd, ihd_cluster_t *c, const char *fmt, ...)
{
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    ihd_rcmd_cat(cmd, ihd_redis_cfg(c->r)->prefix, name);
}

ihd_rcmd_t *ihd__clu_eval(const char *script, int nkeys)
{
    ihd_rcmd_t *cmd = ihd_rcmd_new(IHD_RR_NONE, 0, NULL);
    ihd_rcmd_str(cmd, "EVAL");
    ihd_rcmd_str(cmd, script);
    ihd_rcmd_num(cmd, nkeys);
    return cmd;
}

/* ---- Heartbeats ---------------------------------------------------------------- */

/* The host other hubs put in iceServers for this node's relay. */
static void relay_host(const cmn_settings_t *s, char *out, size_t cap)
{
    out[0] = '\0';
    if (s->redis.advertise_host[0]) {
        snprintf(out, cap, "%s", s->redis.advertise_host);
    } else if (s->turn.external_ip.n) {
        snprintf(out, cap, "%.*s", (int)strcspn(s->turn.external_ip.v[0], "/"),
                 s->turn.external_ip.v[0]);
    } else if (s->turn.listen.n && !cmn_addr_is_any(&s->turn.listen.v[0])) {
        cmn_addr_format(&s->turn.listen.v[0], out, cap, false);
    }
}

static void node_info(ihd_cluster_t *c, double now, sig_node_info_t *n)
{
    const cmn_settings_t *s = &ihd__clu_cfg(c)->s;
    memset(n, 0, sizeof(*n));
    snprintf(n->node, sizeof(n->node), "%s", ihd_redis_cfg(c->r)->node);
    if (s->turn.enabled && c->srv->nworkers) {
        relay_host(s, n->host, sizeof(n->host));
        n->port = s->turn.listen.n ? s->turn.listen.v[0].port : 0;
        n->tls_port = c->srv->tls_on && s->turn.tls_listen.n ? s->turn.tls_listen.v[0].port : 0;
        n->allocs = turn_shared_active(c->srv->turn_shared);
        n->max_allocs = (uint32_t)s->turn.max_allocations;
        n->cap_bps = s->quota.total_bps;
    }
    n->signal = s->signal.enabled && s->http.enabled;
    /* A relay that drains (SIGTERM, POST /api/drain) takes no new
     * allocations: the directors stop listing it. */
    n->draining = atomic_load(&c->srv->draining) != 0 ||
                  (c->srv->turn_shared && turn_shared_draining(c->srv->turn_shared));
    n->started = c->srv->start_time;
    uint64_t bytes = ihd__relayed_bytes(c->srv);
    if (c->last_bytes_at > 0 && now > c->last_bytes_at && bytes >= c->last_bytes)
        n->bps = (uint64_t)(8.0 * (double)(bytes - c->last_bytes) / (now - c->last_bytes_at));
    c->last_bytes = bytes;
    c->last_bytes_at = now;
}

static void beat(ihd_cluster_t *c, double now)
{
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    sig_node_info_t n;
    node_info(c, now, &n);
    size_t len;
    char *json = sig_node_encode(&n, now, &len);
    ihd_rcmd_t *cmd = ihd__clu_eval(ihd_lua_beat, 2);
    ihd__clu_key(cmd, c, "node:%s", rc->node);
    ihd__clu_key(cmd, c, "c");
    ihd_rcmd_arg(cmd, json, len);
    ihd_rcmd_num(cmd, (long long)rc->node_ttl * 1000);
    cmn_free(json);
    c->beat_at = ihd_now();
    if (ihd__redis_send(c->r, cmd, NULL, NULL) == 0)
        IHD_INC(c->beats, 1);
}

static void bye_answer(ihd_redis_t *r, void *arg, const void *reply)
{
    (void)arg;
    (void)reply;
    ihd__redis_bye_done(r);
}

void ihd__cluster_bye(ihd_cluster_t *c)
{
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    /* The relay's last counts first (the workers have stopped): the
     * goodbye's answer comes after the batch's. */
    ihd__clu_flush_usage(c);
    size_t len;
    char *bye = sig_node_bye(rc->node, &len);
    ihd_rcmd_t *cmd = ihd__clu_eval(ihd_lua_beat, 3);
    ihd__clu_key(cmd, c, "node:%s", rc->node);
    ihd__clu_key(cmd, c, "c");
    ihd__clu_key(cmd, c, "nr:%s", rc->node);
    ihd_rcmd_arg(cmd, bye, len);
    ihd_rcmd_str(cmd, "0");
    ihd_rcmd_str(cmd, rc->node);
    ihd_rcmd_str(cmd, rc->prefix);
    cmn_free(bye);
    cmn_info("cluster", "leaving the cluster (node \"%s\")", rc->node);
    ihd__redis_send(c->r, cmd, bye_answer, c);
}

/* ---- The link and the cluster channel ------------------------------------------ */

void ihd__cluster_up(ihd_cluster_t *c)
{
    c->up = true;
    c->next_beat = 0;
    beat(c, ihd_wallclock());
    ihd__clu_usage_snapshot(c);
    ihd__clu_rvk_sync(c);
}

void ihd__cluster_down(ihd_cluster_t *c)
{
    c->up = false;
}

void ihd__cluster_timer(ihd_cluster_t *c, double now)
{
    if (!c->up)
        return;
    const ihd_redis_cfg_t *rc = ihd_redis_cfg(c->r);
    if (now >= c->next_beat) {
        c->next_beat = now + rc->heartbeat;
        beat(c, now);
    }
    if (now >= c->next_flush) {
        c->next_flush = now + USAGE_INTERVAL;
        ihd__clu_flush_usage(c);
    }
}

void ihd__cluster_message(ihd_cluster_t *c, const char *data, size_t len)
{
    const char *nl = memchr(data, '\n', len);
    size_t hlen = nl ? (size_t)(nl - data) : len;
    json_t *hdr = json_loadb(data, hlen, 0, NULL);
    const json_t *k = json_object_get(hdr, "k"), *n = json_object_get(hdr, "n");
    const char *kind = json_string_value(k), *node = json_string_value(n);
    if (!kind || !node) {
        IHD_INC(c->bad, 1);
    } else if (!strcmp(kind, "node") || !strcmp(kind, "bye")) {
        if (!strcmp(node, ihd_redis_cfg(c->r)->node) && c->beat_at > 0)
            __atomic_store_n(&c->rtt_us, (uint64_t)((ihd_now() - c->beat_at) * 1e6),
                             __ATOMIC_RELAXED);
        ihd__redis_push(c->r, ihd__rin_new(IHD_RIN_HEARTBEAT, NULL, data, len));
    } else if (!strcmp(node, ihd_redis_cfg(c->r)->node)) {
        /* our own usage or revocation, already counted here */
    } else if (!strcmp(kind, "usage") && nl) {
        ihd__clu_on_usage(c, hdr, nl + 1, len - hlen - 1);
    } else if (!strcmp(kind, "revoke")) {
        ihd__clu_on_revoke(c, hdr);
    } else {
        IHD_INC(c->bad, 1);
    }
    json_decref(hdr);
}

void ihd__cluster_metrics(ihd_cluster_t *c, struct cmn_prom_s *p)
{
    cmn_prom_family(p, "icehub_cluster_heartbeats_total", "counter",
                    "Heartbeats this node sent.");
    cmn_prom_sample_u64(p, "icehub_cluster_heartbeats_total", IHD_READ(c->beats), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_pubsub_rtt_seconds", "gauge",
                    "Time the latest heartbeat took to come back on the subscriber connection.");
    cmn_prom_sample(p, "icehub_cluster_pubsub_rtt_seconds", (double)IHD_READ(c->rtt_us) / 1e6,
                    CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_usage_batches_total", "counter",
                    "Usage batches: sent and counted by the cluster, sent and failed (their "
                    "counts go again), received from other nodes.");
    cmn_prom_sample_u64(p, "icehub_cluster_usage_batches_total", IHD_READ(c->batches_ok), "result",
                        "success", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_usage_batches_total", IHD_READ(c->batches_failed), "result",
                        "failure", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_usage_batches_total", IHD_READ(c->batches_in), "result",
                        "received", CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_usage_snapshots_total", "counter",
                    "Usage snapshots taken after (re)connecting.");
    cmn_prom_sample_u64(p, "icehub_cluster_usage_snapshots_total", IHD_READ(c->snapshots), CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_revocations_total", "counter",
                    "Revocations and un-revocations sent to the cluster or applied from it.");
    cmn_prom_sample_u64(p, "icehub_cluster_revocations_total", IHD_READ(c->rvk_out), "direction", "out",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_revocations_total", IHD_READ(c->rvk_in), "direction", "in",
                        CMN_PROM_END);
    cmn_prom_family(p, "icehub_cluster_bad_messages_total", "counter",
                    "Cluster channel messages dropped as malformed.");
    cmn_prom_sample_u64(p, "icehub_cluster_bad_messages_total", IHD_READ(c->bad), CMN_PROM_END);
}

/* ---- Start and stop (main thread) ----------------------------------------------- */

/* redis.node_id, or "HOST-XXXXXX": the host name (url-safe, at most 20
 * characters) and six characters of a hash of what tells two nodes on one
 * host apart (their listeners and ledger), so a restart keeps the name. */
static void node_name(const cmn_settings_t *s, char *out, size_t cap)
{
    if (s->redis.node_id[0]) {
        snprintf(out, cap, "%s", s->redis.node_id);
        return;
    }
    char host[256] = "node", id[SIG_NODE_MAX + 1], a[CMN_ADDR_STRLEN] = "", b[CMN_ADDR_STRLEN] = "";
    gethostname(host, sizeof(host) - 1);
    size_t n = 0;
    for (size_t i = 0; host[i] && n < 20; i++) {
        char ch = host[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        id[n++] = ok ? ch : '-';
    }
    id[n] = '\0';
    if (s->http.listen.n)
        cmn_addr_format(&s->http.listen.v[0], a, sizeof(a), true);
    if (s->turn.listen.n)
        cmn_addr_format(&s->turn.listen.v[0], b, sizeof(b), true);
    char text[5000];
    int tl = snprintf(text, sizeof(text), "%s|%s|%s|%s", host, a, b, s->ledger.path);
    uint8_t mac[CMN_SHA256_LEN];
    char b64[64];
    const char *k = "icehub-node";
    cmn_hmac_sha256(k, strlen(k), text, (size_t)CMN_MIN(tl, (int)sizeof(text) - 1), mac);
    cmn_base64_encode(mac, 6, b64, sizeof(b64));
    for (char *p = b64; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    id[CMN_MIN(n, (size_t)20)] = '\0';
    snprintf(out, cap, "%.20s-%.6s", n ? id : "node", b64);
}

int ihd_cluster_start(ihd_server_t *srv, char *err, size_t errlen)
{
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    node_name(s, srv->node_id, sizeof(srv->node_id));
    if (!s->redis.url[0])
        return 0;
    ihd_redis_cfg_t rc;
    memset(&rc, 0, sizeof(rc));
    const char *why;
    if (cmn_config_parse_redis_url(s->redis.url, &rc.url, &why) < 0) {
        snprintf(err, errlen, "redis.url: %s", why);
        return CMN_EIO;
    }
    if (s->redis.password[0])
        snprintf(rc.url.password, sizeof(rc.url.password), "%s", s->redis.password);
    snprintf(rc.prefix, sizeof(rc.prefix), "%s", s->redis.prefix);
    snprintf(rc.node, sizeof(rc.node), "%s", srv->node_id);
    rc.timeout = s->redis.timeout;
    rc.connect_timeout = s->redis.connect_timeout;
    rc.heartbeat = s->redis.heartbeat;
    rc.node_ttl = s->redis.node_ttl;
    rc.backoff_max = s->redis.backoff_max;
    rc.queue_bytes = (size_t)s->redis.queue_bytes;
    if (srv->usage)
        acct_usage_cluster(ihd__usage_table(srv));
    srv->redis = ihd_redis_start(srv, &rc);
    explicit_bzero(&rc.url, sizeof(rc.url));
    if (!srv->redis) {
        snprintf(err, errlen, "redis: cannot start the Redis thread");
        return CMN_EIO;
    }
    cmn_info("cluster", "node \"%s\": federating through Redis (prefix \"%s\")", srv->node_id,
             s->redis.prefix);
    return 0;
}

void ihd_cluster_stop(ihd_server_t *srv)
{
    ihd_redis_stop(srv->redis, true);
    srv->redis = NULL;
}

void ihd_cluster_handoff(ihd_server_t *srv)
{
    if (!srv->redis)
        return;
    cmn_info("cluster", "node \"%s\" goes on in the new process", srv->node_id);
    ihd_redis_stop(srv->redis, false);
    srv->redis = NULL;
}
