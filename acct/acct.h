/* icehub - SPDX-License-Identifier: MIT
 *
 * acct.h: usage accounting. What was relayed for whom, this period and
 * ever: UTC periods and RFC 3339 times, ledger records (one JSON object
 * per line) with the writer thread that appends them durably and the
 * reader that sums them, the usage table of the current period with its
 * byte quotas, prices, the views of the table (/api/usage JSON, /metrics
 * families) and the `icehubd usage` command.
 *
 * It knows neither the daemon nor TURN: counts come in as acct_counts_t
 * deltas with a user name, quota blocks go out through an acct_blocker_t
 * the caller implements, and time comes in as parameters (except on the
 * ledger's own writer thread). Thread-safety is per object: the usage
 * table and the ledger take their own mutexes; the rest is pure.
 */
#ifndef ACCT_H
#define ACCT_H

#include <stdio.h>

#include "common/cmn.h"
#include "common/cmn_addr.h"
#include "common/cmn_map.h"

struct cmn_prom_s;
struct json_t;

/* Relayed UDP payload of one allocation, user or period, each direction. */
typedef struct acct_counts_s {
    uint64_t to_peer_bytes;
    uint64_t to_peer_packets;
    uint64_t to_client_bytes;
    uint64_t to_client_packets;
} acct_counts_t;

/* ---- Periods and timestamps (acct_time.c) -------------------------------- */

typedef enum acct_period_e {
    ACCT_PERIOD_DAY = 0,
    ACCT_PERIOD_MONTH,
} acct_period_t;

/* [*start, *end) in Unix seconds: the UTC day or calendar month holding <t>. */
void acct_period_bounds(acct_period_t k, double t, double *start, double *end);
const char *acct_period_name(acct_period_t k);   /* "day", "month" */

#define ACCT_TIME_STRLEN 32
/* RFC 3339 in UTC with milliseconds: "2026-12-01T22:05:06.123Z". Returns <buf>. */
char *acct_time_format(double t, char *buf, size_t len);
#define ACCT_TIME_MAX 253402300800.0 /* 10000-01-01T00:00:00Z */
/* Parse an RFC 3339 time ("2026-12-01T22:05:06Z", fraction and a +hh:mm
 * offset allowed), a date "2026-12-01" (its UTC midnight) or Unix seconds.
 * Times before 1970 or from ACCT_TIME_MAX on are refused. Returns 0 or
 * CMN_EINVAL. */
int acct_time_parse(const char *s, double *out);
/* "20261201T220506" (UTC) for rotated file names; <buf> >= 16 bytes. */
char *acct_time_stamp(double t, char *buf, size_t len);
/* Unix days since the epoch of <t> (UTC). */
long acct_time_day(double t);

/* ---- Ledger records (acct_rec.c) ----------------------------------------- */

/* One ledger record as written. Byte and packet fields are deltas since the
 * allocation's previous record (docs/ledger.md). Pointers are borrowed. */
typedef struct acct_rec_s {
    bool final;                 /* "final" (allocation ended) or "interim" */
    uint64_t alloc_id;
    uint32_t seq;               /* record number within the allocation, from 0 */
    const char *user;           /* the authenticated username */
    const char *quota_user;     /* the name quotas count */
    const char *realm;
    cmn_addr_t client;
    const char *transport;      /* the client's: "udp", "tcp", "tls" */
    const cmn_addr_t *relay;
    size_t nrelay;
    double start, end;          /* interim: the interval; final: the allocation */
    acct_counts_t d;            /* deltas */
    const cmn_addr_t *peers;
    size_t npeers;
    uint32_t peers_total;
    const char *end_reason;     /* final only */
} acct_rec_t;

/* A JSON string of <s> (NULL: ""). jansson refuses text that is not UTF-8
 * and a client may send any bytes as USERNAME, so such bytes become '?':
 * a record or an API answer is never lost over a strange name. */
struct json_t *acct_json_str(const char *s);
/* A JSON string of <a> ("192.0.2.1:3478", "[2001:db8::1]:3478"). */
struct json_t *acct_json_addr(const cmn_addr_t *a, bool with_port);

/* Append <r> as one JSON line (ending in '\n') to the growable buffer
 * <*buf> (length *len, capacity *cap; cmn_malloc'd). */
void acct_rec_encode(const acct_rec_t *r, char **buf, size_t *len, size_t *cap);

/* What readers need from a record. Strings borrow from the json_t. */
typedef struct acct_recv_s {
    bool final;
    uint32_t seq;
    const char *user;           /* quota user if present, else user */
    const char *realm;
    double start, end;
    uint64_t to_peer_bytes, to_client_bytes, to_peer_packets, to_client_packets;
} acct_recv_t;

/* Returns 0, or CMN_EINVAL with *why naming the missing or bad field. */
int acct_rec_decode(const struct json_t *j, acct_recv_t *out, const char **why);

/* Read ledger lines from <f>, calling <fn> for every good record. A final
 * line without '\n' that does not parse is a torn write (power loss) and is
 * skipped and counted in torn; other bad lines are counted in bad (and
 * reported through <warn> if given). Returns 0, or CMN_EIO on a read error. */
typedef struct acct_read_stats_s {
    uint64_t records, bad, torn;
} acct_read_stats_t;

typedef void (*acct_rec_fn)(void *ctx, const acct_recv_t *r);
typedef void (*acct_warn_fn)(void *ctx, const char *name, uint64_t line, const char *what);
int acct_ledger_read(FILE *f, const char *name, acct_rec_fn fn, acct_warn_fn warn, void *ctx,
                     acct_read_stats_t *st);

/* ---- A table of usage rows (acct_utab.c) --------------------------------- */

/* Usage of one key (a user, a realm, a day) in the current period. */
typedef struct acct_urow_s {
    cmn_map_node_t node;        /* in acct_utab_t.map, by name */
    bool quota_blocked;         /* the usage table blocked this user (ACCT_BLOCK_QUOTA) */
    bool dirty;                 /* cluster: counts moved past <flushed>, listed for a batch */
    const char *realm;          /* users: the realm row's name (same table set) */
    uint64_t to_peer_bytes, to_client_bytes, to_peer_packets, to_client_packets;
    uint64_t allocations;       /* started this period */
    acct_counts_t remote;       /* cluster: the other nodes' counts this period */
    uint64_t remote_allocations;
    acct_counts_t flushed;      /* cluster: of this node's counts, what the cluster has */
    uint64_t flushed_allocations;
    char name[];
} acct_urow_t;

/* A hash table of rows with a cap: past <max> rows every new key shares the
 * overflow row (name "other"), so memory is bounded by max * (sizeof row +
 * name) whatever names clients use; the names hash under the table's random
 * key (cmn_map), so clients cannot pick names that share a chain either.
 * map.n is the number of rows (the overflow row aside). Not thread-safe. */
typedef struct acct_utab_s {
    cmn_map_t map;              /* acct_urow_t by name */
    size_t max;
    acct_urow_t *other;         /* overflow row, created on first use */
    uint64_t overflowed;        /* lookups that landed in the overflow row */
} acct_utab_t;

void acct_utab_init(acct_utab_t *t, size_t max);
void acct_utab_dispose(acct_utab_t *t);
/* Row of <name>; created if missing (or the overflow row when full). */
acct_urow_t *acct_utab_get(acct_utab_t *t, const char *name);
acct_urow_t *acct_utab_find(const acct_utab_t *t, const char *name);
void acct_utab_foreach(const acct_utab_t *t, void (*fn)(void *ctx, acct_urow_t *r), void *ctx);
/* The <k> rows with the most bytes (both directions), most first, into
 * <out> (room for k). The overflow row is not a candidate. Returns how many. */
size_t acct_utab_top(const acct_utab_t *t, size_t k, acct_urow_t **out);

static inline uint64_t acct_urow_bytes(const acct_urow_t *r)
{
    return r->to_peer_bytes + r->to_client_bytes;
}

/* Bytes of the whole cluster: this node's and the others'. */
static inline uint64_t acct_urow_all(const acct_urow_t *r)
{
    return acct_urow_bytes(r) + r->remote.to_peer_bytes + r->remote.to_client_bytes;
}

/* ---- The ledger writer (acct_ledger.c) ----------------------------------- */

typedef struct acct_ledger_s acct_ledger_t;

#define ACCT_LEDGER_QUEUE_MAX (64u << 20) /* records held while the disk fails */

/* Open (create, append) <path> and start the writer thread. On failure
 * writes a message into <err> and returns CMN_EIO. */
int acct_ledger_open(const char *path, uint64_t max_bytes, bool rotate_daily, acct_ledger_t **out,
                     char *err, size_t errlen);
/* The checks of acct_ledger_open without opening or creating anything. */
int acct_ledger_check(const char *path, uint64_t max_bytes, bool rotate_daily, char *err,
                      size_t errlen);
/* Queue whole lines (each ending in '\n'; <nrec> of them). Never blocks on
 * the disk; past ACCT_LEDGER_QUEUE_MAX the lines are dropped and counted.
 * A NULL ledger takes nothing. */
void acct_ledger_append(acct_ledger_t *l, const char *lines, size_t len, unsigned nrec);
void acct_ledger_configure(acct_ledger_t *l, uint64_t max_bytes, bool rotate_daily);
/* Wait (at most <timeout> seconds) until every line queued so far has been
 * handed to write(): another process may then read the file whole (a live
 * upgrade). Returns 0, or CMN_EAGAIN when the time ran out (a failing
 * disk). NULL is a no-op. */
int acct_ledger_flush(acct_ledger_t *l, double timeout);
/* Reopen the file at its path (SIGHUP, after logrotate moved it). */
void acct_ledger_reopen(acct_ledger_t *l);
/* Write everything queued (retrying a failing disk for a few seconds),
 * fdatasync, stop the thread, close and free. NULL is a no-op. */
void acct_ledger_close(acct_ledger_t *l);

typedef struct acct_ledger_stats_s {
    uint64_t records;           /* written (and handed to the kernel) */
    uint64_t bytes;
    uint64_t write_errors;      /* failed write, fdatasync, open or rename calls */
    uint64_t dropped;           /* records dropped: queue full */
    uint64_t rotations;
    uint64_t queued;            /* bytes waiting now */
    double last_flush;          /* wall time of the last successful fdatasync, 0 = none */
    bool failing;               /* the last open, write or sync failed and nothing
                                 * queued has been written since */
} acct_ledger_stats_t;

/* Zeros for a NULL ledger. */
void acct_ledger_stats(acct_ledger_t *l, acct_ledger_stats_t *out);

/* ---- Prices (acct_cost.c) ------------------------------------------------ */

typedef struct acct_prices_s {
    double ingress_per_gb;      /* per 10^9 bytes relayed client to peer (to_peer) */
    double egress_per_gb;       /* per 10^9 bytes relayed peer to client (to_client) */
    const char *currency;       /* borrowed; a label */
} acct_prices_t;

/* What relaying <to_peer_bytes> and <to_client_bytes> costs at <p>. Pure. */
double acct_cost(const acct_prices_t *p, uint64_t to_peer_bytes, uint64_t to_client_bytes);

/* ---- The usage table of the current period (acct_usage.c) ---------------- */

#define ACCT_USAGE_MAX_USERS 1000000
#define ACCT_USAGE_MAX_REALMS 1000

typedef struct acct_usage_s acct_usage_t;

/* Why a user is blocked, as far as accounting cares. */
typedef enum acct_block_e {
    ACCT_BLOCK_NONE = 0,
    ACCT_BLOCK_QUOTA,           /* over the byte quota: the usage table's own block */
    ACCT_BLOCK_OTHER,           /* blocked for another reason (an operator's revocation) */
} acct_block_t;

/* Where quota blocks go: the caller's block list (the relay's, in icehubd).
 * Called without the usage mutex held; every call is for a quota user. */
typedef struct acct_blocker_s {
    void *ctx;
    acct_block_t (*state)(void *ctx, const char *user);
    /* Block <user> for its quota (never replacing an ACCT_BLOCK_OTHER). */
    void (*block)(void *ctx, const char *user);
    /* Lift <user>'s quota block, and only a quota block. */
    void (*lift)(void *ctx, const char *user);
    /* Changes whenever the blocked set changes (anyone's change). */
    uint64_t (*gen)(void *ctx);
} acct_blocker_t;

/* The rules a batch is counted under (from the settings of the moment). */
typedef struct acct_rules_s {
    acct_period_t period;       /* quota.period */
    uint64_t user_bytes;        /* quota.user_bytes; 0 = unlimited */
    const char *realm;          /* the realm the users' rows count under */
} acct_rules_t;

/* A user's new counts from one allocation. */
typedef struct acct_delta_s {
    const char *user;           /* borrowed for the call: the quota user */
    acct_counts_t d;
    bool started;               /* first report of this allocation */
} acct_delta_t;

/* An empty table for the <period> holding <wall>. <blocker> is copied. */
acct_usage_t *acct_usage_new(const acct_blocker_t *blocker, acct_period_t period, double wall);
void acct_usage_free(acct_usage_t *u);
/* Add <n> deltas with one lock: first roll the period over when <wall>
 * passed its end or r->period changed (a new, empty table; the table's
 * quota blocks are lifted, other blocks stay), re-decide every user when
 * r->user_bytes changed, then count; a user who reaches r->user_bytes is
 * blocked once. When the blocked set changed since the last call, the
 * table's quota blocks that someone lifted are put back. <n> may be 0. */
void acct_usage_apply(acct_usage_t *u, const acct_rules_t *r, const acct_delta_t *d, size_t n,
                      double wall);
/* Where a rebuild stopped reading the current ledger file (kept open), so
 * a catch-up can read what another writer appended since. */
typedef struct acct_mark_s {
    int fd;                     /* -1: none */
    uint64_t off;               /* the end of the last whole line read */
    uint64_t dev, ino;          /* the file's identity, to notice a rotation */
} acct_mark_t;

/* Rebuild the current period from the ledger at <path> and the files
 * rotated from it during the period (PATH.YYYYmmddTHHMMSS[-N]): records
 * whose interval ended in the period count. Logs what it read and what it
 * skipped. Call before acct_usage_apply blocks anyone. With <mark> (may be
 * NULL), the current file stays open and *mark says where its whole lines
 * ended: acct_usage_catch_up later adds what was appended since (a live
 * upgrade reads the bulk before the handover and the rest in it). */
void acct_usage_rebuild(acct_usage_t *u, const char *path, acct_mark_t *mark);
/* Add the records appended to the marked file since <mark>, and those of a
 * new file at <path> if it was rotated meanwhile; closes the mark. */
void acct_usage_catch_up(acct_usage_t *u, const char *path, acct_mark_t *mark);

/* ---- Views of the usage table (acct_view.c) ------------------------------ */

/* What the JSON view shows besides the table. */
typedef struct acct_view_s {
    acct_period_t period;       /* the configured kind (also without a table) */
    uint64_t user_bytes;        /* quota.user_bytes */
    acct_prices_t prices;
} acct_view_t;

#define ACCT_JSON_USERS 10000   /* users listed by the JSON view, most bytes first */

/* GET /api/usage: the period's usage per user and realm, with cost, as
 * compact JSON (docs/ledger.md); cmn_malloc'd, length in *len. <u> may be
 * NULL (no accounting): an empty period holding <wall>. */
char *acct_usage_json(acct_usage_t *u, const acct_view_t *v, double wall, size_t *len);
/* The usage families: the top <top_users> users by bytes (the rest as
 * user="other"), realms, rows, period start. */
void acct_usage_metrics(acct_usage_t *u, size_t top_users, struct cmn_prom_s *p);
/* The ledger families (icehub_ledger_*); <l> NULL: disabled. */
void acct_ledger_metrics(acct_ledger_t *l, struct cmn_prom_s *p);

/* Histograms of ended allocations: duration and bytes. One per writer
 * thread (relaxed atomic updates; a cache line of its own); readers sum
 * them. */
#define ACCT_HIST_DUR 12
#define ACCT_HIST_BYTES 9
typedef struct acct_hist_s {
    uint64_t dur[ACCT_HIST_DUR + 1];    /* per bucket, not cumulative */
    uint64_t bytes[ACCT_HIST_BYTES + 1];
    uint64_t dur_sum_us, bytes_sum, count;
} __attribute__((aligned(64))) acct_hist_t;

/* Count an allocation that lived <secs> and relayed <bytes> (both ways). */
void acct_hist_observe(acct_hist_t *h, double secs, uint64_t bytes);
/* Write the two histograms summed over <h>[0..n). */
void acct_hist_metrics(const acct_hist_t *h, size_t n, struct cmn_prom_s *p);

/* ---- Usage across a cluster (acct_clu.c, docs/scaling.md) -------------------- */

/* Every node adds its users' new counts to the cluster's totals in
 * batches (about once a second) and hears the others' batches; quota
 * decisions use this node's counts plus the others'. The per-node ledger
 * stays the durable record: the cluster's totals are rebuilt from the
 * nodes' tables when Redis loses them. */

/* One user's counts in a batch. */
typedef struct acct_brow_s {
    char *user;                 /* owned */
    acct_counts_t d;
    uint64_t allocations;
} acct_brow_t;

typedef struct acct_batch_s {
    double pstart;              /* the period the counts belong to (Unix seconds) */
    acct_brow_t *v;             /* owned */
    size_t n, cap;
} acct_batch_t;

#define ACCT_BATCH_MAX 100000   /* rows one batch may carry */

void acct_batch_add(acct_batch_t *b, const char *user, const acct_counts_t *d,
                    uint64_t allocations);
void acct_batch_dispose(acct_batch_t *b);
/* {"u":[[USER,TO_PEER_BYTES,TO_CLIENT_BYTES,TO_PEER_PACKETS,TO_CLIENT_PACKETS,ALLOCS],..]}
 * (cmn_malloc'd, *len set); users that are not UTF-8 are written with '?'. */
char *acct_batch_encode(const acct_batch_t *b, size_t *len);
/* Another process wrote it: every field is checked. 0 or CMN_EINVAL with *why. */
int acct_batch_decode(const char *data, size_t len, acct_batch_t *out, const char **why);

/* Put the table in cluster mode: counts are listed for batches from now on. */
void acct_usage_cluster(acct_usage_t *u);
/* This node's new counts since they were last taken, for at most <max>
 * users, into <out> (its pstart set): the cluster has them once
 * acct_usage_taken(ok) says so; not ok puts them back. */
size_t acct_usage_take(acct_usage_t *u, size_t max, acct_batch_t *out);
void acct_usage_taken(acct_usage_t *u, const acct_batch_t *b, bool ok);
/* Another node's batch number <seq>: added to the others' counts (unless
 * <seq> is not past the last snapshot's, or it is of another period);
 * users it puts over r->user_bytes are blocked. */
void acct_usage_remote(acct_usage_t *u, const acct_rules_t *r, const acct_batch_t *b,
                       uint64_t seq, double wall);
/* The cluster's totals <all> and this node's share <own> at batch number
 * <seq>: of <own>, what this table holds counts as flushed and the rest
 * as history (the others'), the others' counts become all - flushed, and
 * what the cluster lacks of this node's counts is listed again (Redis lost
 * them, or a batch never arrived). Blocks users over the limit. */
void acct_usage_reset(acct_usage_t *u, const acct_rules_t *r, const acct_batch_t *all,
                      const acct_batch_t *own, uint64_t seq, double wall);
/* The current period's start, for the cluster's key names. */
double acct_usage_pstart(acct_usage_t *u);

/* A revocation as the cluster keeps it: revoked (or lifted) at <at>. */
typedef struct acct_rvk_s {
    bool on;                    /* revoked; false: lifted */
    double at;                  /* Unix seconds of the change */
    double until;               /* revoked until (0 = no end) */
} acct_rvk_t;

/* {"on":B,"at":MS,"until":S} (cmn_malloc'd); decode checks every field. */
char *acct_rvk_encode(const acct_rvk_t *r, size_t *len);
int acct_rvk_decode(const char *data, size_t len, acct_rvk_t *out);
/* Does <a> replace <b>? The later change wins; at the same moment, a
 * revocation. */
bool acct_rvk_newer(const acct_rvk_t *a, const acct_rvk_t *b);

/* ---- Revoked users (acct_revoke.c) ------------------------------------------ */

/* The users an operator revoked, each until an expiry, kept in a small JSON
 * file (written atomically) so the list survives restarts. The one
 * interface revocations go through: a store elsewhere (a cluster's) would
 * implement these same calls. Thread-safe. It does not block anyone
 * itself: the caller applies the list to the relay. */
#define ACCT_REVOKES_MAX 100000

typedef struct acct_revokes_s acct_revokes_t;

typedef struct acct_revoked_s {
    char *user;                 /* owned: the quota user */
    double since, until;        /* Unix seconds */
} acct_revoked_t;

acct_revokes_t *acct_revokes_new(void);
void acct_revokes_free(acct_revokes_t *r);
/* Keep the list in <path> (NULL or "": in memory only) and read it: the
 * list becomes the file's, less the entries that ended by <now>. A missing
 * file is an empty list. Returns 0, or CMN_EIO / CMN_EINVAL with the file
 * and what was wrong in <err> (the list is then empty). */
int acct_revokes_open(acct_revokes_t *r, const char *path, double now, char *err,
                      size_t errlen);
/* Move the list to <path> (a reload): written there at once if it changed.
 * Returns 0 or CMN_EIO. */
int acct_revokes_set_path(acct_revokes_t *r, const char *path);
/* Revoke <user> from <now> for <ttl> seconds (again: the end moves to
 * now + ttl). *fresh says whether it was new, *until when it ends. Returns
 * 0; CMN_EIO when the file could not be written (the entry holds in
 * memory); CMN_ELIMIT past ACCT_REVOKES_MAX (nothing added). */
int acct_revokes_add(acct_revokes_t *r, const char *user, double now, double ttl, bool *fresh,
                     double *until);
/* Returns 0, CMN_ENOENT (not revoked) or CMN_EIO (removed, file not written). */
int acct_revokes_remove(acct_revokes_t *r, const char *user);
/* Drop the entries that ended by <now>, calling <fn> with each name first
 * (with the list's mutex held: <fn> must not call back). Returns how many. */
size_t acct_revokes_expire(acct_revokes_t *r, double now, void (*fn)(void *ctx, const char *user),
                           void *ctx);
/* A copy of the list, sorted by name; free with acct_revokes_list_free. */
acct_revoked_t *acct_revokes_list(acct_revokes_t *r, size_t *n);
void acct_revokes_list_free(acct_revoked_t *v, size_t n);
bool acct_revokes_has(acct_revokes_t *r, const char *user);
/* Failed writes of the file since start. */
uint64_t acct_revokes_save_errors(acct_revokes_t *r);

/* ---- `icehubd usage` (acct_cli.c) ------------------------------------------- */

/* `icehubd usage LEDGER... [options]` (<argv>[0] is "usage"): returns the
 * exit status (0, 1 for unreadable or damaged files, 2 for usage errors). */
int acct_cli(int argc, char **argv);

#endif /* ACCT_H */
