/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_redis_q.c: what passes between the Redis thread and the others:
 * commands (an argv, built on any thread, and where its answer goes), the
 * items the hub's thread takes (channel messages, answers, the link), and
 * the two bounded queues between them, one mutex for both. Past
 * redis.queue_bytes a command is refused (the hub answers undelivered or
 * decides locally) and input for the hub is dropped, after which the hub
 * hears IHD_RIN_OVERFLOW and resynchronises its rooms. A queue that was
 * empty wakes its reader: the hub's through the callback it set, the Redis
 * thread through the eventfd its caller writes.
 */
#include "ihd_redis.h"

#include <stdio.h>

#include "common/cmn_metrics.h"

struct ihd_rq_s {
    pthread_mutex_t mu;
    size_t max;
    ihd_rcmd_t *out, *out_tail;
    size_t out_bytes;
    ihd_rin_t *in, *in_tail;
    size_t in_bytes;
    bool in_woken, in_lost;
    void (*wake)(void *arg);
    void *wake_arg;
    uint64_t dropped_out, dropped_in; /* atomics */
};

/* ---- Commands ------------------------------------------------------------ */

ihd_rcmd_t *ihd_rcmd_new(ihd_rreply_t reply, uint64_t id, const char *room)
{
    ihd_rcmd_t *c = cmn_calloc(1, sizeof(*c));
    c->reply = reply;
    c->id = id;
    c->room = room ? cmn_strdup(room) : NULL;
    return c;
}

void ihd_rcmd_arg(ihd_rcmd_t *c, const void *p, size_t n)
{
    if (c->argc == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->argv = cmn_realloc(c->argv, (size_t)c->cap * sizeof(*c->argv));
        c->lens = cmn_realloc(c->lens, (size_t)c->cap * sizeof(*c->lens));
    }
    c->argv[c->argc] = cmn_malloc(n + 1);
    if (n)
        memcpy(c->argv[c->argc], p, n);
    c->argv[c->argc][n] = '\0';
    c->lens[c->argc++] = n;
    c->bytes += n + 16;
}

void ihd_rcmd_str(ihd_rcmd_t *c, const char *s)
{
    ihd_rcmd_arg(c, s, strlen(s));
}

void ihd_rcmd_num(ihd_rcmd_t *c, long long v)
{
    char b[24];
    ihd_rcmd_arg(c, b, (size_t)snprintf(b, sizeof(b), "%lld", v));
}

void ihd_rcmd_cat(ihd_rcmd_t *c, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *t = cmn_malloc(la + lb + 1);
    memcpy(t, a, la);
    memcpy(t + la, b, lb + 1);
    ihd_rcmd_arg(c, t, la + lb);
    cmn_free(t);
}

void ihd_rcmd_free(ihd_rcmd_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->argc; i++)
        cmn_free(c->argv[i]);
    cmn_free(c->argv);
    cmn_free(c->lens);
    cmn_free(c->room);
    cmn_free(c);
}

/* ---- Items for the hub's thread ------------------------------------------- */

ihd_rin_t *ihd__rin_new(ihd_rin_kind_t kind, const char *room, const char *data, size_t len)
{
    ihd_rin_t *in = cmn_malloc(sizeof(*in) + len + 1);
    memset(in, 0, sizeof(*in));
    in->kind = kind;
    in->room = room ? cmn_strdup(room) : NULL;
    in->len = len;
    if (len)
        memcpy(in->data, data, len);
    in->data[len] = '\0';
    return in;
}

void ihd_rin_free(ihd_rin_t *in)
{
    if (!in)
        return;
    cmn_free(in->room);
    cmn_free(in);
}

ihd_rq_t *ihd__rq_new(size_t max_bytes)
{
    ihd_rq_t *q = cmn_calloc(1, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    q->max = max_bytes;
    return q;
}

void ihd__rq_free(ihd_rq_t *q)
{
    if (!q)
        return;
    while (q->out) {
        ihd_rcmd_t *n = q->out->next;
        ihd_rcmd_free(q->out);
        q->out = n;
    }
    while (q->in) {
        ihd_rin_t *n = q->in->next;
        ihd_rin_free(q->in);
        q->in = n;
    }
    pthread_mutex_destroy(&q->mu);
    cmn_free(q);
}

int ihd__rq_submit(ihd_rq_t *q, ihd_rcmd_t *c, bool up)
{
    pthread_mutex_lock(&q->mu);
    if (!up || q->out_bytes + c->bytes > q->max) {
        pthread_mutex_unlock(&q->mu);
        __atomic_fetch_add(&q->dropped_out, 1, __ATOMIC_RELAXED);
        ihd_rcmd_free(c);
        return CMN_EAGAIN;
    }
    if (q->out_tail)
        q->out_tail->next = c;
    else
        q->out = c;
    q->out_tail = c;
    q->out_bytes += c->bytes;
    pthread_mutex_unlock(&q->mu);
    return 0;
}

ihd_rcmd_t *ihd__rq_take_out(ihd_rq_t *q)
{
    pthread_mutex_lock(&q->mu);
    ihd_rcmd_t *c = q->out;
    q->out = q->out_tail = NULL;
    q->out_bytes = 0;
    pthread_mutex_unlock(&q->mu);
    return c;
}

void ihd__rq_push_in(ihd_rq_t *q, ihd_rin_t *in)
{
    size_t bytes = sizeof(*in) + in->len;
    bool wake = false;
    pthread_mutex_lock(&q->mu);
    /* Link changes always pass: the hub must know. Past the bound the
     * rest is dropped once, and the hub hears of it. */
    if (in->kind != IHD_RIN_LINK && q->in_bytes + bytes > q->max) {
        q->in_lost = true;
        __atomic_fetch_add(&q->dropped_in, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&q->mu);
        ihd_rin_free(in);
        return;
    }
    if (q->in_lost) {
        q->in_lost = false;
        ihd_rin_t *ov = ihd__rin_new(IHD_RIN_OVERFLOW, NULL, NULL, 0);
        if (q->in_tail)
            q->in_tail->next = ov;
        else
            q->in = ov;
        q->in_tail = ov;
    }
    if (q->in_tail)
        q->in_tail->next = in;
    else
        q->in = in;
    q->in_tail = in;
    q->in_bytes += bytes;
    if (!q->in_woken && q->wake) {
        q->in_woken = true;
        wake = true;
    }
    /* Under the mutex, so the hub's thread can take the wake away
     * (ihd__rq_set_wake) before it stops. */
    if (wake)
        q->wake(q->wake_arg);
    pthread_mutex_unlock(&q->mu);
}

ihd_rin_t *ihd__rq_take_in(ihd_rq_t *q)
{
    pthread_mutex_lock(&q->mu);
    ihd_rin_t *all = q->in;
    q->in = q->in_tail = NULL;
    q->in_bytes = 0;
    q->in_woken = false; /* what comes next wakes the hub again */
    pthread_mutex_unlock(&q->mu);
    return all;
}

void ihd__rq_set_wake(ihd_rq_t *q, void (*wake)(void *arg), void *arg)
{
    pthread_mutex_lock(&q->mu);
    q->wake = wake;
    q->wake_arg = arg;
    q->in_woken = false;
    pthread_mutex_unlock(&q->mu);
}

void ihd__rq_metrics(ihd_rq_t *q, struct cmn_prom_s *p)
{
    cmn_prom_family(p, "icehub_cluster_dropped_total", "counter",
                    "Cluster traffic dropped between threads, by queue (out: refused while the "
                    "link was down or the queue full; in: the hub's queue was full).");
    cmn_prom_sample_u64(p, "icehub_cluster_dropped_total",
                        __atomic_load_n(&q->dropped_out, __ATOMIC_RELAXED), "queue", "out",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_dropped_total",
                        __atomic_load_n(&q->dropped_in, __ATOMIC_RELAXED), "queue", "in",
                        CMN_PROM_END);
    pthread_mutex_lock(&q->mu);
    size_t ob = q->out_bytes, ib = q->in_bytes;
    pthread_mutex_unlock(&q->mu);
    cmn_prom_family(p, "icehub_cluster_queue_bytes", "gauge",
                    "Bytes waiting between the hub's thread and the Redis thread, by queue.");
    cmn_prom_sample_u64(p, "icehub_cluster_queue_bytes", ob, "queue", "out", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_cluster_queue_bytes", ib, "queue", "in", CMN_PROM_END);
}
