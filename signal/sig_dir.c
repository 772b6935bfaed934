/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_dir.c: the relay director. Every node publishes a heartbeat on the
 * cluster channel (its relay's host and ports, whether it drains, its
 * allocations and bandwidth against its limits); the hub keeps the latest
 * of each node here and ranks the relays for iceServers: healthy ones
 * only (heard from within two heartbeats, not draining, with a host other
 * nodes can use), least loaded first. Load is the larger of allocations
 * over turn.max_allocations and bandwidth over quota.total_bps; a node
 * with neither limit counts its allocations against SIG_DIR_NOMINAL.
 * The table also tells sig_fed.c which nodes fell silent.
 *
 * Heartbeats come from other processes: sig_node_decode checks every
 * field. Pure: time comes in as parameters.
 */
#include "sig_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define SIG_DIR_NOMINAL 10000.0  /* allocations an unlimited relay counts against */
#define SIG_DIR_NODES_MAX 4096   /* nodes remembered; more are ignored */

typedef struct dir_node_s {
    sig_node_info_t info;
    double seen;                /* when its last heartbeat came */
    double reap_asked;          /* when sig_fed.c last asked to reap it */
} dir_node_t;

struct sig_dir_s {
    sig_map_t nodes;            /* name -> dir_node_t */
    double fresh;               /* seconds a heartbeat keeps a relay healthy */
};

sig_dir_t *sig__dir_new(double heartbeat)
{
    sig_dir_t *d = cmn_calloc(1, sizeof(*d));
    sig__map_init(&d->nodes);
    d->fresh = 2 * (heartbeat > 0 ? heartbeat : 1) + 0.5;
    return d;
}

void sig__dir_free(sig_dir_t *d)
{
    if (!d)
        return;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &d->nodes);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        cmn_free(e->val);
    sig__map_dispose(&d->nodes);
    cmn_free(d);
}

/* ---- The heartbeat ------------------------------------------------------ */

char *sig_node_encode(const sig_node_info_t *n, double now, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "k", json_string("node"));
    json_object_set_new(o, "n", json_string(n->node));
    json_object_set_new(o, "t", json_integer((json_int_t)floor(now * 1000)));
    json_object_set_new(o, "host", json_string(n->host));
    json_object_set_new(o, "port", json_integer(n->port));
    json_object_set_new(o, "tls", json_integer(n->tls_port));
    json_object_set_new(o, "sig", json_boolean(n->signal));
    json_object_set_new(o, "drain", json_boolean(n->draining));
    json_object_set_new(o, "allocs", json_integer(n->allocs));
    json_object_set_new(o, "max", json_integer(n->max_allocs));
    json_object_set_new(o, "bps", json_integer((json_int_t)n->bps));
    json_object_set_new(o, "cap", json_integer((json_int_t)n->cap_bps));
    json_object_set_new(o, "up", json_integer((json_int_t)floor(n->started)));
    return sig__encode(o, len);
}

char *sig_node_bye(const char *node, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "k", json_string("bye"));
    json_object_set_new(o, "n", json_string(node));
    return sig__encode(o, len);
}

static bool host_ok(const char *h)
{
    size_t n = strlen(h);
    if (n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':'))
            return false;
    }
    return true;
}

/* An integer member in [0, max]. */
static bool num(const json_t *o, const char *key, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

int sig_node_decode(const char *data, size_t len, sig_node_info_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *k = json_object_get(o, "k"), *n = json_object_get(o, "n"),
                 *host = json_object_get(o, "host");
    int rc = CMN_EINVAL;
    *why = "not a node message (k, n)";
    if (!json_is_string(k) || !json_is_string(n) ||
        strlen(json_string_value(n)) != json_string_length(n) ||
        !sig__node_ok(json_string_value(n)))
        goto done;
    snprintf(out->node, sizeof(out->node), "%s", json_string_value(n));
    if (!strcmp(json_string_value(k), "bye")) {
        rc = 0;
        goto done;
    }
    uint64_t port, tls, allocs, max, bps, cap, up;
    *why = "a heartbeat field (host, port, tls, allocs, max, bps, cap, up, sig, drain)";
    if (strcmp(json_string_value(k), "node") != 0 || !json_is_string(host) ||
        strlen(json_string_value(host)) != json_string_length(host) ||
        !host_ok(json_string_value(host)) || !num(o, "port", 65535, &port) ||
        !num(o, "tls", 65535, &tls) || !num(o, "allocs", UINT32_MAX, &allocs) ||
        !num(o, "max", UINT32_MAX, &max) || !num(o, "bps", UINT64_MAX >> 1, &bps) ||
        !num(o, "cap", UINT64_MAX >> 1, &cap) || !num(o, "up", UINT64_MAX >> 1, &up) ||
        !json_is_boolean(json_object_get(o, "sig")) ||
        !json_is_boolean(json_object_get(o, "drain")))
        goto done;
    snprintf(out->host, sizeof(out->host), "%s", json_string_value(host));
    out->port = (uint16_t)port;
    out->tls_port = (uint16_t)tls;
    out->allocs = (uint32_t)allocs;
    out->max_allocs = (uint32_t)max;
    out->bps = bps;
    out->cap_bps = cap;
    out->started = (double)up;
    out->signal = json_is_true(json_object_get(o, "sig"));
    out->draining = json_is_true(json_object_get(o, "drain"));
    rc = 1;
done:
    json_decref(o);
    return rc;
}

/* ---- The table ---------------------------------------------------------- */

int sig__dir_update(sig_dir_t *d, const char *data, size_t len, double now, const char **why)
{
    sig_node_info_t info;
    int rc = sig_node_decode(data, len, &info, why);
    if (rc < 0)
        return rc;
    dir_node_t *e = sig__map_get(&d->nodes, info.node);
    if (rc == 0) {
        /* bye: it left on purpose; forget it at once. */
        if (e) {
            sig__map_del(&d->nodes, info.node);
            cmn_free(e);
        }
        return 0;
    }
    if (!e) {
        if (d->nodes.n >= SIG_DIR_NODES_MAX) {
            *why = "too many nodes";
            return CMN_ELIMIT;
        }
        e = cmn_calloc(1, sizeof(*e));
        sig__map_put(&d->nodes, info.node, e);
    }
    e->info = info;
    e->seen = now;
    return 0;
}

void sig__dir_forget(sig_dir_t *d, const char *node)
{
    dir_node_t *e = sig__map_del(&d->nodes, node);
    cmn_free(e);
}

void sig__dir_touch(sig_dir_t *d, const char *node, double now)
{
    if (sig__map_get(&d->nodes, node) || d->nodes.n >= SIG_DIR_NODES_MAX)
        return;
    dir_node_t *e = cmn_calloc(1, sizeof(*e));
    snprintf(e->info.node, sizeof(e->info.node), "%s", node);
    e->seen = now; /* no relay (port 0): never ranked until it beats */
    sig__map_put(&d->nodes, node, e);
}

double sig__dir_seen(const sig_dir_t *d, const char *node)
{
    const dir_node_t *e = d ? sig__map_get(&d->nodes, node) : NULL;
    return e ? e->seen : 0;
}

size_t sig__dir_alive(const sig_dir_t *d, double now)
{
    size_t n = 0;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, (cmn_map_t *)&d->nodes);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));)
        n += now - ((const dir_node_t *)e->val)->seen <= d->fresh;
    return n;
}

double sig__dir_load(const sig_node_info_t *n)
{
    double load = 0;
    bool limited = false;
    if (n->max_allocs) {
        load = fmax(load, (double)n->allocs / n->max_allocs);
        limited = true;
    }
    if (n->cap_bps) {
        load = fmax(load, (double)n->bps / (2.0 * (double)n->cap_bps));
        limited = true;
    }
    return limited ? load : n->allocs / SIG_DIR_NOMINAL;
}

static int by_load(const void *x, const void *y)
{
    const sig_node_info_t *a = *(const sig_node_info_t *const *)x;
    const sig_node_info_t *b = *(const sig_node_info_t *const *)y;
    double la = sig__dir_load(a), lb = sig__dir_load(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    if (a->allocs != b->allocs)
        return a->allocs < b->allocs ? -1 : 1;
    return strcmp(a->node, b->node);
}

size_t sig__dir_rank(const sig_dir_t *d, const char *self, double now,
                     const sig_node_info_t **out, size_t max)
{
    if (!d || !max)
        return 0;
    size_t n = 0, cap = d->nodes.n;
    const sig_node_info_t **v = cmn_calloc(cap ? cap : 1, sizeof(*v));
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, (cmn_map_t *)&d->nodes);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));) {
        const dir_node_t *dn = e->val;
        const sig_node_info_t *i = &dn->info;
        /* This node may offer its relay with the request's host. */
        bool hosted = i->host[0] || (self && !strcmp(i->node, self));
        if (now - dn->seen <= d->fresh && !i->draining && i->port && hosted)
            v[n++] = i;
    }
    if (n)
        qsort(v, n, sizeof(*v), by_load);
    n = CMN_MIN(n, max);
    memcpy(out, v, n * sizeof(*v));
    cmn_free(v);
    return n;
}

/* Nodes silent for longer than <silence>, asked about at most once per
 * <every> seconds: <fn> is called for each (with the name). */
void sig__dir_silent(sig_dir_t *d, double now, double silence, double every, double forget,
                     void (*fn)(void *ctx, const char *node), void *ctx)
{
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &d->nodes);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));) {
        dir_node_t *dn = e->val;
        if (now - dn->seen > forget) {
            /* Long reaped: stop asking (the walk may delete its entry). */
            sig__map_del(&d->nodes, dn->info.node);
            cmn_free(dn);
            continue;
        }
        if (now - dn->seen > silence && now - dn->reap_asked >= every) {
            dn->reap_asked = now;
            fn(ctx, dn->info.node);
        }
    }
}
