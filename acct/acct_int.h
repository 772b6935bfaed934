/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_int.h: what the files of acct/ share and nothing outside uses (its
 * unit tests aside): the ledger writer's and the usage table's objects,
 * and a list of owned names.
 */
#ifndef ACCT_INT_H
#define ACCT_INT_H

#include <pthread.h>

#include "acct.h"

/* A growable list of owned names. */
typedef struct acct_names_s {
    char **v;
    size_t n, cap;
} acct_names_t;

struct acct_ledger_s {
    char *path;                 /* owned */
    int fd;                     /* -1 while it cannot be opened */
    uint64_t size;              /* bytes in the current file */
    long day;                   /* UTC day the current file began */
    bool torn_tail;             /* a failed write left bytes ftruncate could not remove */
    pthread_t thread;
    pthread_mutex_t mu;         /* guards everything below */
    pthread_cond_t cv;
    char *q;                    /* queued whole lines */
    size_t qlen, qcap;
    size_t pending;             /* bytes the writer holds (a batch being retried) */
    uint64_t max_bytes;
    bool rotate_daily;
    bool reopen, stop;
    int flush;                  /* callers of acct_ledger_flush waiting: no gathering */
    acct_ledger_stats_t st;
    double last_err_log;
};

struct acct_usage_s {
    acct_blocker_t blocker;     /* the caller's; called outside <mu> */
    pthread_mutex_t mu;         /* guards everything below */
    acct_utab_t users, realms;
    acct_counts_t total;
    uint64_t allocations;
    acct_period_t period;       /* of the table */
    double pstart, pend;        /* [start, end) Unix seconds */
    uint64_t limit;             /* quota.user_bytes the blocks were decided with */
    acct_names_t qblocked;      /* users the table blocked this period */
    uint64_t block_gen;         /* blocker->gen when qblocked was last checked */
    /* Cluster (acct_clu.c). */
    bool cluster;
    uint64_t cluster_seq;       /* the last batch of others counted (or snapshot) */
    acct_urow_t **dirty;        /* users whose counts moved since the last take */
    size_t ndirty, dcap;
    acct_counts_t remote_total; /* the other nodes' counts of the period */
    uint64_t remote_allocations;
};

/* acct_usage.c, for acct_clu.c (under the mutex): a user who reaches the
 * limit with the cluster's counts goes to <block>. */
void acct__usage_check(acct_usage_t *u, acct_urow_t *r, acct_names_t *block);
/* List <r> for the next batch (once). */
void acct__usage_dirty(acct_usage_t *u, acct_urow_t *r);
/* Apply block and lift lists outside the mutex (and free them). */
void acct__usage_blocks(acct_usage_t *u, acct_names_t *block, acct_names_t *lift);
/* Start a new period when <wall> or the period kind says so. */
void acct__usage_roll(acct_usage_t *u, const acct_rules_t *r, double wall,
                      acct_names_t *block, acct_names_t *lift);
/* fsync the directory holding <path> (after a rename or a create there). */
void acct__sync_dir(const char *path);

#endif /* ACCT_INT_H */
