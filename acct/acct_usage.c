/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_usage.c: the usage table of the current quota period (a UTC day or
 * calendar month): bytes, packets and allocations per user (the quota
 * user) and per realm, fed in batches of deltas (one mutex acquisition per
 * batch), and the byte quota decided on it.
 *
 * Quotas: when a user's bytes this period reach the limit, the user is
 * blocked through the caller's acct_blocker_t (once; the table remembers
 * whom it blocked). At a period rollover the table restarts empty and its
 * quota blocks are lifted; other blocks (revocations) stay. A changed
 * limit re-decides every row. At start the current period is rebuilt from
 * the ledger files, so a restart does not reset quotas.
 *
 * Memory: one row per user seen this period, at most ACCT_USAGE_MAX_USERS
 * (then new names share the "other" row; such users are not blocked
 * individually), and at most ACCT_USAGE_MAX_REALMS realms. It is freed at
 * each rollover.
 */
#include "acct_int.h"

#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>

#include "common/cmn_log.h"

/* ---- Lists of names --------------------------------------------------------- */

/* Users whose block changes are collected under the mutex and applied
 * after it is released (the blocker takes its own locks). */
static void names_add(acct_names_t *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = cmn_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = cmn_strdup(s);
}

static void names_clear(acct_names_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        cmn_free(l->v[i]);
    cmn_free(l->v);
    memset(l, 0, sizeof(*l));
}

static void names_copy(acct_names_t *dst, const acct_names_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        names_add(dst, src->v[i]);
}

/* Block (ACCT_BLOCK_QUOTA), lift (ACCT_BLOCK_NONE: only quota blocks,
 * never another) or re-check (<verify>: put back a quota block someone
 * lifted, e.g. an operator's un-revoke of a user still over quota) the
 * users of <l>, then free it. */
static void names_apply(const acct_blocker_t *b, acct_names_t *l, acct_block_t why, bool verify)
{
    for (size_t i = 0; i < l->n; i++) {
        acct_block_t now = b->state(b->ctx, l->v[i]);
        if (why == ACCT_BLOCK_QUOTA && (!verify || now == ACCT_BLOCK_NONE)) {
            b->block(b->ctx, l->v[i]);
            if (!verify)
                cmn_info("usage", "user \"%s\" reached quota.user_bytes for this period",
                         l->v[i]);
        } else if (why == ACCT_BLOCK_NONE) {
            b->lift(b->ctx, l->v[i]);
        }
    }
    names_clear(l);
}

/* ---- The table ------------------------------------------------------------ */

acct_usage_t *acct_usage_new(const acct_blocker_t *blocker, acct_period_t period, double wall)
{
    acct_usage_t *u = cmn_calloc(1, sizeof(*u));
    u->blocker = *blocker;
    pthread_mutex_init(&u->mu, NULL);
    u->period = period;
    acct_period_bounds(period, wall, &u->pstart, &u->pend);
    acct_utab_init(&u->users, ACCT_USAGE_MAX_USERS);
    acct_utab_init(&u->realms, ACCT_USAGE_MAX_REALMS);
    return u;
}

void acct_usage_free(acct_usage_t *u)
{
    if (!u)
        return;
    acct_utab_dispose(&u->users);
    acct_utab_dispose(&u->realms);
    names_clear(&u->qblocked);
    cmn_free(u->dirty);
    pthread_mutex_destroy(&u->mu);
    cmn_free(u);
}

/* Under the mutex: start a new period once <wall> passed the end of the
 * current one, or the period kind changed. Only forward: a wall clock
 * stepped back (NTP) keeps the current period rather than wiping it.
 * Blocks to lift go to <lift>. */
static void roll_period(acct_usage_t *u, acct_period_t period, double wall, acct_names_t *lift)
{
    if (wall < u->pend && period == u->period)
        return;
    names_copy(lift, &u->qblocked);
    names_clear(&u->qblocked);
    if (u->pend > 0)
        cmn_info("usage", "new %s period: usage restarts (%llu users last period)",
                 acct_period_name(period), (unsigned long long)u->users.map.n);
    acct_utab_dispose(&u->users);
    acct_utab_dispose(&u->realms);
    acct_utab_init(&u->users, ACCT_USAGE_MAX_USERS);
    acct_utab_init(&u->realms, ACCT_USAGE_MAX_REALMS);
    memset(&u->total, 0, sizeof(u->total));
    u->allocations = 0;
    /* The cluster's counts of the old period go with it. */
    u->ndirty = 0;
    u->cluster_seq = 0;
    memset(&u->remote_total, 0, sizeof(u->remote_total));
    u->remote_allocations = 0;
    u->period = period;
    acct_period_bounds(period, wall, &u->pstart, &u->pend);
}

static void add_counts(acct_urow_t *r, const acct_counts_t *d, bool started)
{
    r->to_peer_bytes += d->to_peer_bytes;
    r->to_client_bytes += d->to_client_bytes;
    r->to_peer_packets += d->to_peer_packets;
    r->to_client_packets += d->to_client_packets;
    r->allocations += started;
}

/* Under the mutex: add one user's delta; a user who reaches the limit goes
 * to <block>. The overflow row is never blocked (it is not one user). */
static void apply_one(acct_usage_t *u, const char *user, const char *realm,
                      const acct_counts_t *d, bool started, acct_names_t *block)
{
    acct_urow_t *rr = acct_utab_get(&u->realms, realm);
    acct_urow_t *r = acct_utab_get(&u->users, user);
    add_counts(rr, d, started);
    add_counts(r, d, started);
    if (!r->realm)
        r->realm = rr->name;
    u->total.to_peer_bytes += d->to_peer_bytes;
    u->total.to_client_bytes += d->to_client_bytes;
    u->total.to_peer_packets += d->to_peer_packets;
    u->total.to_client_packets += d->to_client_packets;
    u->allocations += started;
    if (u->cluster)
        acct__usage_dirty(u, r);
    if (block)
        acct__usage_check(u, r, block);
}

void acct__usage_check(acct_usage_t *u, acct_urow_t *r, acct_names_t *block)
{
    if (u->limit && !r->quota_blocked && r != u->users.other && acct_urow_all(r) >= u->limit) {
        r->quota_blocked = true;
        names_add(block, r->name);
        names_add(&u->qblocked, r->name);
    }
}

void acct__usage_dirty(acct_usage_t *u, acct_urow_t *r)
{
    if (r->dirty || r == u->users.other)
        return;
    if (u->ndirty == u->dcap) {
        u->dcap = u->dcap ? 2 * u->dcap : 64;
        u->dirty = cmn_realloc(u->dirty, u->dcap * sizeof(*u->dirty));
    }
    r->dirty = true;
    u->dirty[u->ndirty++] = r;
}

typedef struct relimit_ctx_s {
    uint64_t limit;
    acct_names_t *block, *lift, *blocked;
} relimit_ctx_t;

static void relimit_one(void *ctx, acct_urow_t *r)
{
    relimit_ctx_t *c = ctx;
    bool over = c->limit && acct_urow_all(r) >= c->limit;
    if (over && !r->quota_blocked)
        names_add(c->block, r->name);
    else if (!over && r->quota_blocked)
        names_add(c->lift, r->name);
    if (over)
        names_add(c->blocked, r->name);
    r->quota_blocked = over;
}

/* Under the mutex: the limit changed (reload): re-decide every row. */
static void relimit(acct_usage_t *u, uint64_t limit, acct_names_t *block, acct_names_t *lift)
{
    if (limit == u->limit)
        return;
    u->limit = limit;
    names_clear(&u->qblocked);
    relimit_ctx_t c = {limit, block, lift, &u->qblocked};
    acct_utab_foreach(&u->users, relimit_one, &c);
}

void acct__usage_roll(acct_usage_t *u, const acct_rules_t *r, double wall,
                      acct_names_t *block, acct_names_t *lift)
{
    roll_period(u, r->period, wall, lift);
    relimit(u, r->user_bytes, block, lift);
}

void acct__usage_blocks(acct_usage_t *u, acct_names_t *block, acct_names_t *lift)
{
    names_apply(&u->blocker, lift, ACCT_BLOCK_NONE, false);
    names_apply(&u->blocker, block, ACCT_BLOCK_QUOTA, false);
}

void acct_usage_apply(acct_usage_t *u, const acct_rules_t *r, const acct_delta_t *d, size_t n,
                      double wall)
{
    acct_names_t block = {0}, lift = {0}, verify = {0};
    const acct_blocker_t *b = &u->blocker;
    uint64_t gen = b->gen(b->ctx);
    pthread_mutex_lock(&u->mu);
    roll_period(u, r->period, wall, &lift);
    relimit(u, r->user_bytes, &block, &lift);
    for (size_t i = 0; i < n; i++)
        apply_one(u, d[i].user, r->realm, &d[i].d, d[i].started, &block);
    /* The blocked set changed (a revoke or an un-revoke, or our own blocks):
     * make sure our quota blocks are all still in place. */
    if (gen != u->block_gen) {
        u->block_gen = gen;
        names_copy(&verify, &u->qblocked);
    }
    pthread_mutex_unlock(&u->mu);
    names_apply(b, &lift, ACCT_BLOCK_NONE, false);
    names_apply(b, &block, ACCT_BLOCK_QUOTA, false);
    names_apply(b, &verify, ACCT_BLOCK_QUOTA, true);
}

/* ---- Rebuild from the ledger ---------------------------------------------- */

typedef struct rebuild_s {
    acct_usage_t *u;
    uint64_t used;              /* records inside the period */
} rebuild_t;

static void rebuild_rec(void *ctx, const acct_recv_t *r)
{
    rebuild_t *rb = ctx;
    acct_usage_t *u = rb->u;
    /* A record belongs to the period its interval ended in (the live
     * table counts bytes when a tick sees them, so the two agree up to
     * one interval around a rollover). */
    if (r->end < u->pstart || r->end >= u->pend)
        return;
    acct_counts_t d = {.to_peer_bytes = r->to_peer_bytes,
                       .to_peer_packets = r->to_peer_packets,
                       .to_client_bytes = r->to_client_bytes,
                       .to_client_packets = r->to_client_packets};
    pthread_mutex_lock(&u->mu);
    apply_one(u, r->user, r->realm, &d, r->seq == 0, NULL);
    pthread_mutex_unlock(&u->mu);
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
    if (st[8] != 'T' || acct_time_parse(iso, &t) < 0 || (st[15] && st[15] != '-'))
        return false;
    return t >= pstart;
}

static void read_from(rebuild_t *rb, FILE *f, const char *path, acct_read_stats_t *st)
{
    if (acct_ledger_read(f, path, rebuild_rec, rebuild_warn, rb, st) < 0)
        cmn_warn("usage", "read error in %s; usage rebuilt from what was read", path);
}

/* Where the last whole line before <end> of <fd> ends. */
static uint64_t whole_lines_end(int fd, uint64_t end)
{
    char buf[4096];
    for (uint64_t pos = end; pos > 0;) {
        size_t n = (size_t)CMN_MIN((uint64_t)sizeof(buf), pos);
        pos -= n;
        if (pread(fd, buf, n, (off_t)pos) != (ssize_t)n)
            return 0;
        for (size_t i = n; i-- > 0;)
            if (buf[i] == '\n')
                return pos + i + 1;
    }
    return 0;
}

/* Read <path>; with <mark>, keep it open and remember where the whole
 * lines read ended (a line still being written when the reader got to the
 * end is skipped as torn, and read whole by the catch-up). */
static void rebuild_file(rebuild_t *rb, const char *path, uint64_t *files, acct_mark_t *mark)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT)
            cmn_warn("usage", "cannot read %s to rebuild usage: %s", path, strerror(errno));
        return;
    }
    acct_read_stats_t st;
    memset(&st, 0, sizeof(st));
    read_from(rb, f, path, &st);
    if (mark) {
        struct stat sb;
        off_t end = ftello(f);
        mark->off = end < 0 ? 0 : st.torn ? whole_lines_end(fileno(f), (uint64_t)end)
                                          : (uint64_t)end;
        mark->fd = dup(fileno(f));
        memset(&sb, 0, sizeof(sb));
        (void)fstat(fileno(f), &sb);
        mark->ino = (uint64_t)sb.st_ino;
        mark->dev = (uint64_t)sb.st_dev;
    }
    fclose(f);
    (*files)++;
}

void acct_usage_rebuild(acct_usage_t *u, const char *path, acct_mark_t *mark)
{
    rebuild_t rb = {u, 0};
    uint64_t files = 0;
    char *d = cmn_strdup(path), *b = cmn_strdup(path);
    const char *dir = dirname(d), *base = basename(b);
    DIR *dh = opendir(dir);
    if (mark)
        mark->fd = -1;
    if (dh) {
        struct dirent *e;
        while ((e = readdir(dh))) {
            if (!rotated_in_period(base, e->d_name, u->pstart))
                continue;
            size_t n = strlen(dir) + strlen(e->d_name) + 2;
            char *full = cmn_malloc(n);
            snprintf(full, n, "%s/%s", dir, e->d_name);
            rebuild_file(&rb, full, &files, NULL);
            cmn_free(full);
        }
        closedir(dh);
    }
    rebuild_file(&rb, path, &files, mark);
    char t[ACCT_TIME_STRLEN];
    if (files)
        cmn_info("usage", "rebuilt usage since %s from %llu ledger records in %llu files "
                          "(%llu users)",
                 acct_time_format(u->pstart, t, sizeof(t)), (unsigned long long)rb.used,
                 (unsigned long long)files, (unsigned long long)u->users.map.n);
    cmn_free(d);
    cmn_free(b);
}

void acct_usage_catch_up(acct_usage_t *u, const char *path, acct_mark_t *mark)
{
    rebuild_t rb = {u, 0};
    FILE *f = mark->fd >= 0 ? fdopen(mark->fd, "r") : NULL;
    acct_read_stats_t st;
    if (f && fseeko(f, (off_t)mark->off, SEEK_SET) == 0)
        read_from(&rb, f, path, &st);
    if (f)
        fclose(f);
    else if (mark->fd >= 0)
        close(mark->fd);
    mark->fd = -1;
    /* Rotated since the mark: the new file at <path> holds the rest. */
    struct stat sb;
    if (stat(path, &sb) == 0 && ((uint64_t)sb.st_ino != mark->ino ||
                                 (uint64_t)sb.st_dev != mark->dev)) {
        uint64_t files = 0;
        rebuild_file(&rb, path, &files, NULL);
    }
    cmn_debug("usage", "caught up with %llu ledger records", (unsigned long long)rb.used);
}
