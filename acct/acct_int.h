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
};

/* fsync the directory holding <path> (after a rename or a create there). */
void acct__sync_dir(const char *path);

#endif /* ACCT_INT_H */
