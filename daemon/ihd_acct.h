/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_acct.h: internals of usage accounting, shared by the usage table
 * (ihd_usage.c, ihd_usage_view.c), the ledger writer (ihd_ledger.c),
 * `icehubd usage` (ihd_usage_cli.c) and the JSON API (ihd_api.c, for the
 * JSON string helpers). The pure pieces (periods, timestamps, ledger records,
 * the usage table) live in ihd_acct.c and ihd_utab.c, which use neither
 * sockets, threads nor the server object, so unit tests include them
 * directly. Nothing outside daemon/ includes this header.
 */
#ifndef IHD_ACCT_H
#define IHD_ACCT_H

#include <stdio.h>

#include <jansson.h>

#include "common/cmn.h"
#include "common/cmn_addr.h"
#include "turn/turn.h"
#include "daemon/ihd.h"

/* ---- Periods and timestamps (ihd_acct.c) --------------------------------- */

typedef enum ihd_period_e {
    IHD_PERIOD_DAY = 0,
    IHD_PERIOD_MONTH,
} ihd_period_t;

/* [*start, *end) in Unix seconds: the UTC day or calendar month holding <t>. */
void ihd_period_bounds(ihd_period_t k, double t, double *start, double *end);
const char *ihd_period_name(ihd_period_t k);   /* "day", "month" */

#define IHD_TIME_STRLEN 32
/* RFC 3339 in UTC with milliseconds: "2026-12-01T22:05:06.123Z". Returns <buf>. */
char *ihd_time_format(double t, char *buf, size_t len);
/* Parse an RFC 3339 time ("2026-12-01T22:05:06Z", fraction and a +hh:mm
 * offset allowed), a date "2026-12-01" (its UTC midnight) or Unix seconds.
 * Returns 0 or CMN_EINVAL. */
int ihd_time_parse(const char *s, double *out);
/* "20261201T220506" (UTC) for rotated file names; <buf> >= 16 bytes. */
char *ihd_time_stamp(double t, char *buf, size_t len);
/* Unix days since the epoch of <t> (UTC). */
long ihd_time_day(double t);

/* ---- Ledger records (ihd_acct.c) ----------------------------------------- */

/* One ledger record as written. Byte and packet fields are deltas since the
 * allocation's previous record (docs/ledger.md). Pointers are borrowed. */
typedef struct ihd_rec_s {
    bool final;                 /* "final" (allocation ended) or "interim" */
    uint64_t alloc_id;
    uint32_t seq;               /* record number within the allocation, from 0 */
    const char *user;           /* the authenticated username */
    const char *quota_user;     /* the name quotas count */
    const char *realm;
    cmn_addr_t client;
    uint8_t transport;          /* turn_transport_t */
    const cmn_addr_t *relay;
    size_t nrelay;
    double start, end;          /* interim: the interval; final: the allocation */
    turn_alloc_counters_t d;    /* deltas */
    const cmn_addr_t *peers;
    size_t npeers;
    uint32_t peers_total;
    const char *end_reason;     /* final only */
} ihd_rec_t;

/* A JSON string of <s> (NULL: ""). jansson refuses text that is not UTF-8
 * and a client may send any bytes as USERNAME, so such bytes become '?':
 * a record or an API answer is never lost over a strange name. */
json_t *ihd_json_str(const char *s);
/* A JSON string of <a> ("192.0.2.1:3478", "[2001:db8::1]:3478"). */
json_t *ihd_json_addr(const cmn_addr_t *a, bool with_port);

/* Append <r> as one JSON line (ending in '\n') to the growable buffer
 * <*buf> (length *len, capacity *cap; cmn_malloc'd). */
void ihd_rec_encode(const ihd_rec_t *r, char **buf, size_t *len, size_t *cap);

/* What readers need from a record. Strings borrow from the json_t. */
typedef struct ihd_recv_s {
    bool final;
    uint32_t seq;
    const char *user;           /* quota user if present, else user */
    const char *realm;
    double start, end;
    uint64_t to_peer_bytes, to_client_bytes, to_peer_packets, to_client_packets;
} ihd_recv_t;

/* Returns 0, or CMN_EINVAL with *why naming the missing or bad field. */
int ihd_rec_decode(const json_t *j, ihd_recv_t *out, const char **why);

/* Read ledger lines from <f>, calling <fn> for every good record. A final
 * line without '\n' that does not parse is a torn write (power loss) and is
 * skipped and counted in torn; other bad lines are counted in bad (and
 * reported through <warn> if given). Returns 0, or CMN_EIO on a read error. */
typedef struct ihd_read_stats_s {
    uint64_t records, bad, torn;
} ihd_read_stats_t;

typedef void (*ihd_rec_fn)(void *ctx, const ihd_recv_t *r);
typedef void (*ihd_warn_fn)(void *ctx, const char *name, uint64_t line, const char *what);
int ihd_ledger_read(FILE *f, const char *name, ihd_rec_fn fn, ihd_warn_fn warn, void *ctx,
                    ihd_read_stats_t *st);

/* ---- The usage table (ihd_utab.c) ---------------------------------------- */

/* Usage of one key (a user or a realm) in the current period. */
typedef struct ihd_urow_s {
    struct ihd_urow_s *next;    /* hash chain */
    uint32_t hash;
    bool quota_blocked;         /* we blocked this user (TURN_BLOCK_QUOTA) */
    const char *realm;          /* users: the realm row's name (same table set) */
    uint64_t to_peer_bytes, to_client_bytes, to_peer_packets, to_client_packets;
    uint64_t allocations;       /* started this period */
    char name[];
} ihd_urow_t;

/* A hash table of rows with a cap: past <max> rows every new key shares the
 * overflow row (name "other"), so memory is bounded by max * (sizeof row +
 * name) whatever names clients use. */
typedef struct ihd_utab_s {
    ihd_urow_t **buckets;
    size_t nbuckets, n, max;
    ihd_urow_t *other;          /* overflow row, created on first use */
    uint64_t overflowed;        /* lookups that landed in the overflow row */
} ihd_utab_t;

void ihd_utab_init(ihd_utab_t *t, size_t max);
void ihd_utab_dispose(ihd_utab_t *t);
/* Row of <name>; created if missing (or the overflow row when full). */
ihd_urow_t *ihd_utab_get(ihd_utab_t *t, const char *name);
ihd_urow_t *ihd_utab_find(const ihd_utab_t *t, const char *name);
void ihd_utab_foreach(const ihd_utab_t *t, void (*fn)(void *ctx, ihd_urow_t *r), void *ctx);
/* The <k> rows with the most bytes (both directions), most first, into
 * <out> (room for k). The overflow row is not a candidate. Returns how many. */
size_t ihd_utab_top(const ihd_utab_t *t, size_t k, ihd_urow_t **out);

static inline uint64_t ihd_urow_bytes(const ihd_urow_t *r)
{
    return r->to_peer_bytes + r->to_client_bytes;
}

/* ---- The ledger writer (ihd_ledger.c) ------------------------------------ */

typedef struct ihd_ledger_s ihd_ledger_t;

#define IHD_LEDGER_QUEUE_MAX (64u << 20) /* records held while the disk fails */

/* Open (create, append) <path> and start the writer thread. On failure
 * writes a message into <err> and returns CMN_EIO. */
int ihd_ledger_open(const char *path, uint64_t max_bytes, bool rotate_daily, ihd_ledger_t **out,
                    char *err, size_t errlen);
/* The checks of ihd_ledger_open without opening or creating anything. */
int ihd_ledger_check(const char *path, uint64_t max_bytes, bool rotate_daily, char *err,
                     size_t errlen);
/* Queue whole lines (each ending in '\n'; <nrec> of them). Never blocks on
 * the disk; past IHD_LEDGER_QUEUE_MAX the lines are dropped and counted. */
void ihd_ledger_append(ihd_ledger_t *l, const char *lines, size_t len, unsigned nrec);
void ihd_ledger_configure(ihd_ledger_t *l, uint64_t max_bytes, bool rotate_daily);
/* Reopen the file at its path (SIGHUP, after logrotate moved it). */
void ihd_ledger_reopen(ihd_ledger_t *l);
/* Write everything queued (retrying a failing disk for a few seconds),
 * fdatasync, stop the thread, close and free. */
void ihd_ledger_close(ihd_ledger_t *l);

typedef struct ihd_ledger_stats_s {
    uint64_t records;           /* written (and handed to the kernel) */
    uint64_t bytes;
    uint64_t write_errors;      /* failed write, fdatasync, open or rename calls */
    uint64_t dropped;           /* records dropped: queue full */
    uint64_t rotations;
    uint64_t queued;            /* bytes waiting now */
    double last_flush;          /* wall time of the last successful fdatasync, 0 = none */
} ihd_ledger_stats_t;

void ihd_ledger_stats(ihd_ledger_t *l, ihd_ledger_stats_t *out);

/* ---- Usage state of the server (ihd_usage.c, ihd_usage_view.c) ---------- */

#define IHD_USAGE_MAX_USERS 1000000
#define IHD_USAGE_MAX_REALMS 1000
#define IHD_USAGE_JSON_USERS 10000   /* users listed by /api/usage, most bytes first */

/* Histogram bounds (ihd_usage.c): allocation duration in seconds and bytes
 * relayed (both directions). */
#define NDUR 12
#define NBYTES 9
extern const double ihd__dur_le[NDUR];
extern const double ihd__bytes_le[NBYTES];

/* A user's new bytes from one allocation, gathered during a tick. */
typedef struct usage_delta_s {
    const char *user;           /* borrowed from the allocation (valid during the tick) */
    turn_alloc_counters_t d;
    bool started;               /* first report of this allocation */
} usage_delta_t;

/* Per-worker state; written by its worker, histograms read by /metrics. */
typedef struct usage_worker_s {
    uint64_t dur[NDUR + 1];     /* per bucket (not cumulative); relaxed atomics */
    uint64_t bytes[NBYTES + 1];
    uint64_t dur_sum_us, bytes_sum, count;
    usage_delta_t *d;           /* tick scratch */
    size_t nd, dcap;
    char *lines;                /* interim records of this tick */
    size_t llen, lcap;
    unsigned nlines;
} __attribute__((aligned(64))) usage_worker_t;

/* A list of owned names. */
typedef struct ihd_names_s {
    char **v;
    size_t n, cap;
} ihd_names_t;

struct ihd_usage_s {
    ihd_server_t *srv;
    pthread_mutex_t mu;         /* guards the table and the period */
    ihd_utab_t users, realms;
    turn_alloc_counters_t total;
    uint64_t allocations;
    int period_kind;            /* CMN_QUOTA_PERIOD_* of the table */
    double pstart, pend;        /* [start, end) Unix seconds */
    uint64_t limit;             /* quota.user_bytes the blocks were decided with */
    ihd_names_t qblocked;       /* users we blocked this period (TURN_BLOCK_QUOTA) */
    uint64_t block_gen;         /* turn_shared_block_gen when qblocked was last checked */
    ihd_ledger_t *ledger;       /* NULL without ledger.path */
    usage_worker_t wk[IHD_MAX_WORKERS];
};
typedef struct ihd_usage_s ihd_usage_t;

/* ihd_usage.c: add <n> deltas to the table with one lock (rolling the
 * period over and re-deciding quota blocks first); realm from <s>. */
void ihd__usage_apply(ihd_usage_t *u, const cmn_settings_t *s, const usage_delta_t *d,
                      size_t n, double wall);
/* Under u->mu: add one record's counts (the restart rebuild). */
void ihd__usage_fold(ihd_usage_t *u, const char *user, const char *realm,
                     const turn_alloc_counters_t *d, bool started);

#endif /* IHD_ACCT_H */
