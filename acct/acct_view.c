/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_view.c: the outside views of accounting: GET /api/usage as JSON
 * (the usage table with cost and block state), and the /metrics families
 * for usage (top users, realms), the allocation histograms and the
 * ledger's health.
 *
 * Readers copy what they need under the usage mutex and format after
 * releasing it, so a scrape delays a batch of deltas by a table walk at
 * most.
 */
#include "acct_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_metrics.h"

/* ---- Snapshots for readers ------------------------------------------------ */

typedef struct snap_row_s {
    char *name, *realm;         /* owned */
    acct_counts_t c;            /* in a cluster: every node's */
    uint64_t allocations;
    acct_counts_t local;        /* this node's share */
    uint64_t local_allocations;
    bool overflow;              /* the "other" row of users past the cap */
} snap_row_t;

typedef struct snap_s {
    snap_row_t *users, *realms;
    size_t nusers, nrealms;
    size_t users_total;         /* rows in the table (the JSON lists at most a cap) */
    acct_counts_t total, local_total;
    uint64_t allocations, local_allocations;
    double pstart, pend;
    bool cluster;
} snap_t;

static void snap_row(snap_row_t *o, const acct_urow_t *r, bool overflow)
{
    o->name = cmn_strdup(r->name);
    o->realm = cmn_strdup(r->realm ? r->realm : "");
    o->local = (acct_counts_t){r->to_peer_bytes, r->to_peer_packets, r->to_client_bytes,
                               r->to_client_packets};
    o->local_allocations = r->allocations;
    /* The cluster's counts: the other nodes' added (zero on one node). */
    o->c = (acct_counts_t){r->to_peer_bytes + r->remote.to_peer_bytes,
                           r->to_peer_packets + r->remote.to_peer_packets,
                           r->to_client_bytes + r->remote.to_client_bytes,
                           r->to_client_packets + r->remote.to_client_packets};
    o->allocations = r->allocations + r->remote_allocations;
    o->overflow = overflow;
}

/* Copy the <k> top users (all realms) under the mutex. */
static void snap_take(acct_usage_t *u, size_t k, snap_t *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&u->mu);
    size_t want = CMN_MIN(k, u->users.map.n);
    acct_urow_t **top = cmn_calloc(want + 1, sizeof(*top));
    size_t n = acct_utab_top(&u->users, want, top);
    s->users = cmn_calloc(n + 1, sizeof(*s->users));
    for (size_t i = 0; i < n; i++)
        snap_row(&s->users[s->nusers++], top[i], false);
    if (u->users.other)
        snap_row(&s->users[s->nusers++], u->users.other, true);
    cmn_free(top);
    acct_urow_t **rt = cmn_calloc(u->realms.map.n + 1, sizeof(*rt));
    size_t nr = acct_utab_top(&u->realms, u->realms.map.n, rt);
    s->realms = cmn_calloc(nr + 1, sizeof(*s->realms));
    for (size_t i = 0; i < nr; i++)
        snap_row(&s->realms[s->nrealms++], rt[i], false);
    if (u->realms.other)
        snap_row(&s->realms[s->nrealms++], u->realms.other, true);
    cmn_free(rt);
    s->users_total = u->users.map.n;
    s->local_total = u->total;
    s->local_allocations = u->allocations;
    s->total = (acct_counts_t){u->total.to_peer_bytes + u->remote_total.to_peer_bytes,
                               u->total.to_peer_packets + u->remote_total.to_peer_packets,
                               u->total.to_client_bytes + u->remote_total.to_client_bytes,
                               u->total.to_client_packets + u->remote_total.to_client_packets};
    s->allocations = u->allocations + u->remote_allocations;
    s->cluster = u->cluster;
    s->pstart = u->pstart;
    s->pend = u->pend;
    pthread_mutex_unlock(&u->mu);
}

static void snap_free(snap_t *s)
{
    for (size_t i = 0; i < s->nusers; i++) {
        cmn_free(s->users[i].name);
        cmn_free(s->users[i].realm);
    }
    for (size_t i = 0; i < s->nrealms; i++) {
        cmn_free(s->realms[i].name);
        cmn_free(s->realms[i].realm);
    }
    cmn_free(s->users);
    cmn_free(s->realms);
}

/* ---- GET /api/usage -------------------------------------------------------- */

static void json_counts(json_t *o, const acct_prices_t *pr, const acct_counts_t *c,
                        uint64_t allocations)
{
    json_object_set_new(o, "to_peer_bytes", json_integer((json_int_t)c->to_peer_bytes));
    json_object_set_new(o, "to_client_bytes", json_integer((json_int_t)c->to_client_bytes));
    json_object_set_new(o, "to_peer_packets", json_integer((json_int_t)c->to_peer_packets));
    json_object_set_new(o, "to_client_packets", json_integer((json_int_t)c->to_client_packets));
    json_object_set_new(o, "allocations", json_integer((json_int_t)allocations));
    json_object_set_new(o, "cost",
                        json_real(acct_cost(pr, c->to_peer_bytes, c->to_client_bytes)));
}

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("?"); /* not UTF-8: jansson refuses it */
}

static json_t *block_json(acct_usage_t *u, const snap_row_t *r)
{
    acct_block_t b = u && !r->overflow ? u->blocker.state(u->blocker.ctx, r->name)
                                       : ACCT_BLOCK_NONE;
    return b == ACCT_BLOCK_OTHER   ? json_string("revoked")
           : b == ACCT_BLOCK_QUOTA ? json_string("quota")
                                   : json_null();
}

static json_t *users_json(acct_usage_t *u, const acct_view_t *v, const snap_t *s)
{
    json_t *users = json_array();
    for (size_t i = 0; i < s->nusers; i++) {
        const snap_row_t *r = &s->users[i];
        json_t *j = json_object();
        json_object_set_new(j, "user", jstr(r->name));
        json_object_set_new(j, "realm", jstr(r->realm));
        json_counts(j, &v->prices, &r->c, r->allocations);
        if (s->cluster) {
            json_t *local = json_object();
            json_counts(local, &v->prices, &r->local, r->local_allocations);
            json_object_set_new(j, "this_node", local);
        }
        json_object_set_new(j, "blocked", block_json(u, r));
        if (r->overflow)
            json_object_set_new(j, "overflow", json_true());
        json_array_append_new(users, j);
    }
    return users;
}

char *acct_usage_json(acct_usage_t *u, const acct_view_t *v, double wall, size_t *len)
{
    snap_t s;
    memset(&s, 0, sizeof(s));
    if (u)
        snap_take(u, ACCT_JSON_USERS, &s);
    else
        acct_period_bounds(v->period, wall, &s.pstart, &s.pend);
    char t0[ACCT_TIME_STRLEN], t1[ACCT_TIME_STRLEN];
    json_t *o = json_object();
    json_t *period = json_object();
    json_object_set_new(period, "start", json_string(acct_time_format(s.pstart, t0, sizeof(t0))));
    json_object_set_new(period, "end", json_string(acct_time_format(s.pend, t1, sizeof(t1))));
    json_object_set_new(period, "kind", json_string(acct_period_name(v->period)));
    json_object_set_new(o, "period", period);
    json_object_set_new(o, "currency", jstr(v->prices.currency ? v->prices.currency : ""));
    json_object_set_new(o, "user_bytes_limit", json_integer((json_int_t)v->user_bytes));
    json_object_set_new(o, "users", users_json(u, v, &s));
    json_object_set_new(o, "users_total", json_integer((json_int_t)s.users_total));
    json_t *realms = json_array();
    for (size_t i = 0; i < s.nrealms; i++) {
        json_t *j = json_object();
        json_object_set_new(j, "realm", jstr(s.realms[i].name));
        json_counts(j, &v->prices, &s.realms[i].c, s.realms[i].allocations);
        json_array_append_new(realms, j);
    }
    json_object_set_new(o, "realms", realms);
    json_t *totals = json_object();
    json_counts(totals, &v->prices, &s.total, s.allocations);
    json_object_set_new(o, "totals", totals);
    /* In a cluster the users and totals are every node's (realms stay this
     * node's); this_node is this node's share. */
    json_object_set_new(o, "scope", json_string(s.cluster ? "cluster" : "node"));
    if (s.cluster) {
        json_t *local = json_object();
        json_counts(local, &v->prices, &s.local_total, s.local_allocations);
        json_object_set_new(o, "this_node", local);
    }
    char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    snap_free(&s);
    if (!txt)
        abort(); /* jansson fails only when out of memory */
    *len = strlen(txt);
    char *out = cmn_malloc(*len + 1);
    memcpy(out, txt, *len + 1);
    free(txt);
    return out;
}

/* ---- /metrics ---------------------------------------------------------------- */

static void histogram(cmn_prom_t *p, const char *name, const char *help, const double *le,
                      size_t nle, const uint64_t *counts, double sum, uint64_t count)
{
    char bucket[96], sname[96], cname[96], lbuf[32];
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    snprintf(sname, sizeof(sname), "%s_sum", name);
    snprintf(cname, sizeof(cname), "%s_count", name);
    cmn_prom_family(p, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i < nle; i++) {
        cum += counts[i];
        snprintf(lbuf, sizeof(lbuf), "%g", le[i]);
        cmn_prom_sample_u64(p, bucket, cum, "le", lbuf, CMN_PROM_END);
    }
    cmn_prom_sample_u64(p, bucket, count, "le", "+Inf", CMN_PROM_END);
    cmn_prom_sample(p, sname, sum, CMN_PROM_END);
    cmn_prom_sample_u64(p, cname, count, CMN_PROM_END);
}

static const double dur_le[ACCT_HIST_DUR] = {1,    5,    10,    30,    60,    300,
                                             600,  1800, 3600,  7200,  21600, 86400};
static const double bytes_le[ACCT_HIST_BYTES] = {1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11};

#define HIST_ADD(field, n) \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define HIST_READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void acct_hist_observe(acct_hist_t *h, double secs, uint64_t bytes)
{
    size_t i = 0;
    while (i < ACCT_HIST_DUR && secs > dur_le[i])
        i++;
    HIST_ADD(h->dur[i], 1);
    size_t j = 0;
    while (j < ACCT_HIST_BYTES && (double)bytes > bytes_le[j])
        j++;
    HIST_ADD(h->bytes[j], 1);
    HIST_ADD(h->dur_sum_us, (uint64_t)(secs * 1e6));
    HIST_ADD(h->bytes_sum, bytes);
    HIST_ADD(h->count, 1);
}

void acct_hist_metrics(const acct_hist_t *h, size_t n, cmn_prom_t *p)
{
    uint64_t dur[ACCT_HIST_DUR + 1] = {0}, bytes[ACCT_HIST_BYTES + 1] = {0}, dsum = 0, bsum = 0;
    for (size_t w = 0; w < n; w++) {
        const acct_hist_t *k = &h[w];
        for (size_t i = 0; i <= ACCT_HIST_DUR; i++)
            dur[i] += HIST_READ(k->dur[i]);
        for (size_t i = 0; i <= ACCT_HIST_BYTES; i++)
            bytes[i] += HIST_READ(k->bytes[i]);
        dsum += HIST_READ(k->dur_sum_us);
        bsum += HIST_READ(k->bytes_sum);
    }
    /* The +Inf bucket is the sum of all buckets, so the series stay
     * consistent even if a writer updated between the reads above. */
    uint64_t dn = 0, bn = 0;
    for (size_t i = 0; i <= ACCT_HIST_DUR; i++)
        dn += dur[i];
    for (size_t i = 0; i <= ACCT_HIST_BYTES; i++)
        bn += bytes[i];
    histogram(p, "icehub_turn_allocation_duration_seconds",
              "Lifetime of ended TURN allocations, in seconds.", dur_le, ACCT_HIST_DUR, dur,
              (double)dsum / 1e6, dn);
    histogram(p, "icehub_turn_allocation_bytes",
              "UDP payload bytes relayed (both directions) by ended TURN allocations.",
              bytes_le, ACCT_HIST_BYTES, bytes, (double)bsum, bn);
}

void acct_ledger_metrics(acct_ledger_t *l, cmn_prom_t *p)
{
    acct_ledger_stats_t st;
    acct_ledger_stats(l, &st);
    cmn_prom_family(p, "icehub_ledger_enabled", "gauge", "1 when ledger.path is set.");
    cmn_prom_sample(p, "icehub_ledger_enabled", l ? 1 : 0, CMN_PROM_END);
    struct {
        const char *name, *type, *help;
        uint64_t v;
    } m[] = {
        {"icehub_ledger_records_written_total", "counter",
         "Ledger records written to the ledger file.", st.records},
        {"icehub_ledger_bytes_written_total", "counter", "Bytes written to the ledger file.",
         st.bytes},
        {"icehub_ledger_write_errors_total", "counter",
         "Failed ledger open, write, sync or rename calls (records are kept and retried).",
         st.write_errors},
        {"icehub_ledger_records_dropped_total", "counter",
         "Ledger records lost because the in-memory queue was full (the disk failed too long).",
         st.dropped},
        {"icehub_ledger_rotations_total", "counter", "Ledger file rotations.", st.rotations},
        {"icehub_ledger_queue_bytes", "gauge", "Ledger bytes waiting to be written.",
         st.queued},
        {"icehub_ledger_failing", "gauge",
         "1 while the ledger cannot write (its last open, write or sync failed); with "
         "ledger.on_error = stop no allocation lives meanwhile.",
         st.failing},
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(m); i++) {
        cmn_prom_family(p, m[i].name, m[i].type, m[i].help);
        cmn_prom_sample_u64(p, m[i].name, m[i].v, CMN_PROM_END);
    }
    cmn_prom_family(p, "icehub_ledger_last_flush_timestamp_seconds", "gauge",
                    "Time of the last successful fdatasync of the ledger (Unix seconds; 0 = "
                    "none yet).");
    cmn_prom_sample(p, "icehub_ledger_last_flush_timestamp_seconds", st.last_flush,
                    CMN_PROM_END);
}

static void usage_series(cmn_prom_t *p, const char *name, const char *label, const char *key,
                         const acct_counts_t *c)
{
    cmn_prom_sample_u64(p, name, c->to_peer_bytes, label, key, "direction", "to_peer",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, name, c->to_client_bytes, label, key, "direction", "to_client",
                        CMN_PROM_END);
}

void acct_usage_metrics(acct_usage_t *u, size_t k, cmn_prom_t *p)
{
    snap_t s;
    /* One more than asked: a real user called "other" is left out of the
     * top (its name is the remainder's label) and may push one in. */
    snap_take(u, k + 1, &s);
    cmn_prom_family(p, "icehub_turn_user_relayed_bytes", "gauge",
                    "UDP payload bytes relayed this quota period by the top metrics.top_users "
                    "users; user=\"other\" sums everyone else. Resets at each period start.");
    acct_counts_t rest = s.total;
    size_t shown = 0;
    for (size_t i = 0; i < s.nusers && shown < k; i++) {
        const snap_row_t *r = &s.users[i];
        if (r->overflow || !strcmp(r->name, "other"))
            continue;
        usage_series(p, "icehub_turn_user_relayed_bytes", "user", r->name, &r->c);
        rest.to_peer_bytes -= r->c.to_peer_bytes;
        rest.to_client_bytes -= r->c.to_client_bytes;
        shown++;
    }
    usage_series(p, "icehub_turn_user_relayed_bytes", "user", "other", &rest);
    cmn_prom_family(p, "icehub_turn_realm_relayed_bytes", "gauge",
                    "UDP payload bytes relayed this quota period, by realm. Resets at each "
                    "period start.");
    for (size_t i = 0; i < s.nrealms; i++)
        usage_series(p, "icehub_turn_realm_relayed_bytes", "realm", s.realms[i].name,
                     &s.realms[i].c);
    cmn_prom_family(p, "icehub_usage_users", "gauge",
                    "Users with usage this quota period (rows of the usage table).");
    cmn_prom_sample_u64(p, "icehub_usage_users", s.users_total, CMN_PROM_END);
    cmn_prom_family(p, "icehub_usage_period_start_timestamp_seconds", "gauge",
                    "Start of the current quota period (Unix seconds).");
    cmn_prom_sample(p, "icehub_usage_period_start_timestamp_seconds", s.pstart, CMN_PROM_END);
    snap_free(&s);
}
