/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_usage_view.c: the life cycle and the outside views of the usage
 * table (ihd_usage.c): start (rebuild the current period from the ledger
 * files, then open the ledger), SIGHUP, stop; GET /api/usage as JSON; and
 * the /metrics families for usage (top users, realms), allocation
 * histograms and ledger health.
 *
 * Readers copy what they need under the usage mutex and format after
 * releasing it, so a scrape delays a worker's tick by a table walk at most.
 */
#include "ihd.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>

#include "common/cmn_log.h"
#include "common/cmn_metrics.h"
#include "daemon/ihd_acct.h"

/* ---- Rebuild from the ledger --------------------------------------------- */

typedef struct rebuild_s {
    ihd_usage_t *u;
    uint64_t used;              /* records inside the period */
} rebuild_t;

static void rebuild_rec(void *ctx, const ihd_recv_t *r)
{
    rebuild_t *rb = ctx;
    ihd_usage_t *u = rb->u;
    /* A record belongs to the period its interval ended in (the live
     * table counts bytes when a tick sees them, so the two agree up to
     * one interval around a rollover). */
    if (r->end < u->pstart || r->end >= u->pend)
        return;
    turn_alloc_counters_t d = {.to_peer_bytes = r->to_peer_bytes,
                               .to_peer_packets = r->to_peer_packets,
                               .to_client_bytes = r->to_client_bytes,
                               .to_client_packets = r->to_client_packets};
    ihd__usage_fold(u, r->user, r->realm, &d, r->seq == 0);
    rb->used++;
}

static void rebuild_warn(void *ctx, const char *name, uint64_t line, const char *what)
{
    (void)ctx;
    cmn_warn("usage", "%s:%llu: %s (skipped)", name, (unsigned long long)line, what);
}

/* Files rotated at or after the period start may hold its records:
 * PATH.YYYYmmddTHHMMSS[-N]. */
static bool rotated_in_period(const char *base, const char *name, double pstart)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) || name[bl] != '.' || strlen(name + bl + 1) < 15)
        return false;
    const char *st = name + bl + 1;
    char iso[32];
    snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", st, st + 4, st + 6, st + 9,
             st + 11, st + 13);
    double t;
    if (st[8] != 'T' || ihd_time_parse(iso, &t) < 0 || (st[15] && st[15] != '-'))
        return false;
    return t >= pstart;
}

static void rebuild_file(rebuild_t *rb, const char *path, uint64_t *files)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT)
            cmn_warn("usage", "cannot read %s to rebuild usage: %s", path, strerror(errno));
        return;
    }
    ihd_read_stats_t st;
    if (ihd_ledger_read(f, path, rebuild_rec, rebuild_warn, rb, &st) < 0)
        cmn_warn("usage", "read error in %s; usage rebuilt from what was read", path);
    fclose(f);
    (*files)++;
}

static void rebuild(ihd_usage_t *u, const char *path)
{
    rebuild_t rb = {u, 0};
    uint64_t files = 0;
    char *d = cmn_strdup(path), *b = cmn_strdup(path);
    const char *dir = dirname(d), *base = basename(b);
    DIR *dh = opendir(dir);
    if (dh) {
        struct dirent *e;
        while ((e = readdir(dh))) {
            if (!rotated_in_period(base, e->d_name, u->pstart))
                continue;
            size_t n = strlen(dir) + strlen(e->d_name) + 2;
            char *full = cmn_malloc(n);
            snprintf(full, n, "%s/%s", dir, e->d_name);
            rebuild_file(&rb, full, &files);
            cmn_free(full);
        }
        closedir(dh);
    }
    rebuild_file(&rb, path, &files);
    char t[IHD_TIME_STRLEN];
    if (files)
        cmn_info("usage", "rebuilt usage since %s from %llu ledger records in %llu files "
                          "(%llu users)",
                 ihd_time_format(u->pstart, t, sizeof(t)), (unsigned long long)rb.used,
                 (unsigned long long)files, (unsigned long long)u->users.n);
    cmn_free(d);
    cmn_free(b);
}

/* ---- Life cycle ----------------------------------------------------------- */

int ihd_usage_start(ihd_server_t *srv, char *err, size_t errlen)
{
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    ihd_usage_t *u = cmn_calloc(1, sizeof(*u));
    u->srv = srv;
    pthread_mutex_init(&u->mu, NULL);
    double wall = ihd_wallclock();
    u->period_kind = s->quota.period;
    ihd_period_bounds(u->period_kind == CMN_QUOTA_PERIOD_DAY ? IHD_PERIOD_DAY : IHD_PERIOD_MONTH,
                      wall, &u->pstart, &u->pend);
    ihd_utab_init(&u->users, IHD_USAGE_MAX_USERS);
    ihd_utab_init(&u->realms, IHD_USAGE_MAX_REALMS);
    if (s->ledger.path[0]) {
        rebuild(u, s->ledger.path);
        if (ihd_ledger_open(s->ledger.path, s->ledger.max_bytes, s->ledger.rotate_daily,
                            &u->ledger, err, errlen) < 0) {
            ihd_utab_dispose(&u->users);
            ihd_utab_dispose(&u->realms);
            pthread_mutex_destroy(&u->mu);
            cmn_free(u);
            return CMN_EIO;
        }
        cmn_info("ledger", "writing %s (interim records every %d s)", s->ledger.path,
                 s->ledger.interval);
    }
    srv->usage = u;
    /* Block the users the rebuilt usage already puts over the quota. */
    ihd__usage_apply(u, s, NULL, 0, wall);
    return 0;
}

int ihd_usage_check(const cmn_settings_t *s, char *err, size_t errlen)
{
    if (!s->ledger.path[0])
        return 0;
    return ihd_ledger_check(s->ledger.path, s->ledger.max_bytes, s->ledger.rotate_daily, err,
                            errlen);
}

void ihd_usage_reload(ihd_server_t *srv)
{
    ihd_usage_t *u = srv->usage;
    if (!u || !u->ledger)
        return;
    const cmn_settings_t *s = &atomic_load(&srv->cfg)->s;
    ihd_ledger_configure(u->ledger, s->ledger.max_bytes, s->ledger.rotate_daily);
    ihd_ledger_reopen(u->ledger);
}

void ihd_usage_stop(ihd_server_t *srv)
{
    ihd_usage_t *u = srv->usage;
    if (!u)
        return;
    srv->usage = NULL;
    ihd_ledger_close(u->ledger);
    for (unsigned i = 0; i < IHD_MAX_WORKERS; i++) {
        cmn_free(u->wk[i].d);
        cmn_free(u->wk[i].lines);
    }
    ihd_utab_dispose(&u->users);
    ihd_utab_dispose(&u->realms);
    for (size_t i = 0; i < u->qblocked.n; i++)
        cmn_free(u->qblocked.v[i]);
    cmn_free(u->qblocked.v);
    pthread_mutex_destroy(&u->mu);
    cmn_free(u);
}

/* ---- Snapshots for readers ------------------------------------------------ */

typedef struct snap_row_s {
    char *name, *realm;         /* owned */
    turn_alloc_counters_t c;
    uint64_t allocations;
    bool overflow;              /* the "other" row of users past the cap */
} snap_row_t;

typedef struct snap_s {
    snap_row_t *users, *realms;
    size_t nusers, nrealms;
    size_t users_total;         /* rows in the table (the JSON lists at most a cap) */
    turn_alloc_counters_t total;
    uint64_t allocations;
    double pstart, pend;
    int kind;
} snap_t;

static void snap_row(snap_row_t *o, const ihd_urow_t *r, bool overflow)
{
    o->name = cmn_strdup(r->name);
    o->realm = cmn_strdup(r->realm ? r->realm : "");
    o->c = (turn_alloc_counters_t){r->to_peer_bytes, r->to_peer_packets, r->to_client_bytes,
                                   r->to_client_packets};
    o->allocations = r->allocations;
    o->overflow = overflow;
}

/* Copy the <k> top users (all realms) under the mutex. */
static void snap_take(ihd_usage_t *u, size_t k, snap_t *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&u->mu);
    size_t want = CMN_MIN(k, u->users.n);
    ihd_urow_t **top = cmn_calloc(want + 1, sizeof(*top));
    size_t n = ihd_utab_top(&u->users, want, top);
    s->users = cmn_calloc(n + 1, sizeof(*s->users));
    for (size_t i = 0; i < n; i++)
        snap_row(&s->users[s->nusers++], top[i], false);
    if (u->users.other)
        snap_row(&s->users[s->nusers++], u->users.other, true);
    cmn_free(top);
    ihd_urow_t **rt = cmn_calloc(u->realms.n + 1, sizeof(*rt));
    size_t nr = ihd_utab_top(&u->realms, u->realms.n, rt);
    s->realms = cmn_calloc(nr + 1, sizeof(*s->realms));
    for (size_t i = 0; i < nr; i++)
        snap_row(&s->realms[s->nrealms++], rt[i], false);
    if (u->realms.other)
        snap_row(&s->realms[s->nrealms++], u->realms.other, true);
    cmn_free(rt);
    s->users_total = u->users.n;
    s->total = u->total;
    s->allocations = u->allocations;
    s->pstart = u->pstart;
    s->pend = u->pend;
    s->kind = u->period_kind;
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

static void json_counts(json_t *o, const cmn_settings_t *cs, const turn_alloc_counters_t *c,
                        uint64_t allocations)
{
    json_object_set_new(o, "to_peer_bytes", json_integer((json_int_t)c->to_peer_bytes));
    json_object_set_new(o, "to_client_bytes", json_integer((json_int_t)c->to_client_bytes));
    json_object_set_new(o, "to_peer_packets", json_integer((json_int_t)c->to_peer_packets));
    json_object_set_new(o, "to_client_packets", json_integer((json_int_t)c->to_client_packets));
    json_object_set_new(o, "allocations", json_integer((json_int_t)allocations));
    json_object_set_new(o, "cost",
                        json_real(ihd_cost(cs, c->to_peer_bytes, c->to_client_bytes)));
}

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("?"); /* not UTF-8: jansson refuses it */
}

char *ihd_usage_json(ihd_server_t *srv, size_t *len)
{
    const cmn_settings_t *cs = &atomic_load(&srv->cfg)->s;
    ihd_usage_t *u = srv->usage;
    snap_t s;
    memset(&s, 0, sizeof(s));
    if (u)
        snap_take(u, IHD_USAGE_JSON_USERS, &s);
    else
        ihd_period_bounds(cs->quota.period == CMN_QUOTA_PERIOD_DAY ? IHD_PERIOD_DAY
                                                                    : IHD_PERIOD_MONTH,
                          ihd_wallclock(), &s.pstart, &s.pend);
    char t0[IHD_TIME_STRLEN], t1[IHD_TIME_STRLEN];
    json_t *o = json_object();
    json_t *period = json_object();
    json_object_set_new(period, "start", json_string(ihd_time_format(s.pstart, t0, sizeof(t0))));
    json_object_set_new(period, "end", json_string(ihd_time_format(s.pend, t1, sizeof(t1))));
    json_object_set_new(period, "kind",
                        json_string(cs->quota.period == CMN_QUOTA_PERIOD_DAY ? "day" : "month"));
    json_object_set_new(o, "period", period);
    json_object_set_new(o, "currency", jstr(cs->cost.currency ? cs->cost.currency : ""));
    json_object_set_new(o, "user_bytes_limit", json_integer((json_int_t)cs->quota.user_bytes));
    json_t *users = json_array();
    for (size_t i = 0; i < s.nusers; i++) {
        const snap_row_t *r = &s.users[i];
        json_t *j = json_object();
        json_object_set_new(j, "user", jstr(r->name));
        json_object_set_new(j, "realm", jstr(r->realm));
        json_counts(j, cs, &r->c, r->allocations);
        turn_block_t b = r->overflow ? TURN_BLOCK_NONE
                                     : turn_shared_user_blocked(srv->turn_shared, r->name);
        json_object_set_new(j, "blocked", b == TURN_BLOCK_REVOKED ? json_string("revoked")
                                          : b == TURN_BLOCK_QUOTA ? json_string("quota")
                                                                  : json_null());
        if (r->overflow)
            json_object_set_new(j, "overflow", json_true());
        json_array_append_new(users, j);
    }
    json_object_set_new(o, "users", users);
    json_object_set_new(o, "users_total", json_integer((json_int_t)s.users_total));
    json_t *realms = json_array();
    for (size_t i = 0; i < s.nrealms; i++) {
        json_t *j = json_object();
        json_object_set_new(j, "realm", jstr(s.realms[i].name));
        json_counts(j, cs, &s.realms[i].c, s.realms[i].allocations);
        json_array_append_new(realms, j);
    }
    json_object_set_new(o, "realms", realms);
    json_t *totals = json_object();
    json_counts(totals, cs, &s.total, s.allocations);
    json_object_set_new(o, "totals", totals);
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

static void hist_metrics(cmn_prom_t *p, ihd_usage_t *u)
{
    uint64_t dur[NDUR + 1] = {0}, bytes[NBYTES + 1] = {0}, dsum = 0, bsum = 0, n = 0;
    for (unsigned w = 0; w < IHD_MAX_WORKERS; w++) {
        const usage_worker_t *k = &u->wk[w];
        for (size_t i = 0; i <= NDUR; i++)
            dur[i] += IHD_READ(k->dur[i]);
        for (size_t i = 0; i <= NBYTES; i++)
            bytes[i] += IHD_READ(k->bytes[i]);
        dsum += IHD_READ(k->dur_sum_us);
        bsum += IHD_READ(k->bytes_sum);
        n += IHD_READ(k->count);
    }
    /* The +Inf bucket is the sum of all buckets, so the series stay
     * consistent even if a worker updated between the reads above. */
    uint64_t dn = 0, bn = 0;
    for (size_t i = 0; i <= NDUR; i++)
        dn += dur[i];
    for (size_t i = 0; i <= NBYTES; i++)
        bn += bytes[i];
    (void)n;
    histogram(p, "icehub_turn_allocation_duration_seconds",
              "Lifetime of ended TURN allocations, in seconds.", ihd__dur_le, NDUR, dur,
              (double)dsum / 1e6, dn);
    histogram(p, "icehub_turn_allocation_bytes",
              "UDP payload bytes relayed (both directions) by ended TURN allocations.",
              ihd__bytes_le, NBYTES, bytes, (double)bsum, bn);
}

static void ledger_metrics(cmn_prom_t *p, ihd_usage_t *u)
{
    ihd_ledger_stats_t st;
    ihd_ledger_stats(u->ledger, &st);
    cmn_prom_family(p, "icehub_ledger_enabled", "gauge", "1 when ledger.path is set.");
    cmn_prom_sample(p, "icehub_ledger_enabled", u->ledger ? 1 : 0, CMN_PROM_END);
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
                         const turn_alloc_counters_t *c)
{
    cmn_prom_sample_u64(p, name, c->to_peer_bytes, label, key, "direction", "to_peer",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, name, c->to_client_bytes, label, key, "direction", "to_client",
                        CMN_PROM_END);
}

void ihd_usage_metrics(ihd_server_t *srv, cmn_prom_t *p)
{
    ihd_usage_t *u = srv->usage;
    if (!u)
        return;
    const cmn_settings_t *cs = &atomic_load(&srv->cfg)->s;
    size_t k = (size_t)cs->metrics.top_users;
    snap_t s;
    /* One more than asked: a real user called "other" is left out of the
     * top (its name is the remainder's label) and may push one in. */
    snap_take(u, k + 1, &s);
    cmn_prom_family(p, "icehub_turn_user_relayed_bytes", "gauge",
                    "UDP payload bytes relayed this quota period by the top metrics.top_users "
                    "users; user=\"other\" sums everyone else. Resets at each period start.");
    turn_alloc_counters_t rest = s.total;
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
    hist_metrics(p, u);
    ledger_metrics(p, u);
}
