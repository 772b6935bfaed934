/* icehub - SPDX-License-Identifier: MIT
 *
 * test_acct_ledger.c: acct/acct_ledger.c, the ledger writer thread, on real
 * files in a temporary directory: every queued line arrives once and in
 * order, close flushes, a torn last line left by a crash is cut at open,
 * rotation by size keeps whole lines and every file within max_bytes, daily
 * rotation renames a file started on an earlier day, reopen (logrotate)
 * starts a new file at the path, a bad path fails with a clear message, the
 * queue is bounded (drops are counted), and a full disk (/dev/full) is
 * counted and reported as failing until the records are written again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#include <stdio.h>

#include "acct/acct_int.h"
#include "common/cmn_log.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/icehub-ledger-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = cmn_malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void line(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "{\"n\":%d,\"pad\":\"%040d\"}\n", i + 1000, i); /* fixed width */
}

static void test_append_close(void **state)
{
    (void)state;
    char path[300], err[256], l[128];
    snprintf(path, sizeof(path), "%s/a.jsonl", dir);
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, 0, false, &lg, err, sizeof(err)), 0);
    for (int i = 0; i < 1000; i++) {
        line(l, sizeof(l), i);
        acct_ledger_append(lg, l, strlen(l), 1);
    }
    acct_ledger_close(lg);
    size_t len;
    char *txt = slurp(path, &len);
    char *p = txt;
    for (int i = 0; i < 1000; i++) {
        line(l, sizeof(l), i);
        assert_memory_equal(p, l, strlen(l));
        p += strlen(l);
    }
    assert_int_equal(p - txt, len);
    cmn_free(txt);
}

static void test_stats_and_sync(void **state)
{
    (void)state;
    char path[300], err[256], l[128];
    snprintf(path, sizeof(path), "%s/s.jsonl", dir);
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, 0, false, &lg, err, sizeof(err)), 0);
    line(l, sizeof(l), 1);
    acct_ledger_append(lg, l, strlen(l), 1);
    acct_ledger_append(lg, l, strlen(l), 1);
    acct_ledger_stats_t st;
    /* Written within about 50 ms, synced within about a second. */
    for (int i = 0; i < 300; i++) {
        acct_ledger_stats(lg, &st);
        if (st.records == 2 && st.last_flush > 0)
            break;
        usleep(10000);
    }
    assert_int_equal(st.records, 2);
    assert_int_equal(st.bytes, 2 * strlen(l));
    assert_true(st.last_flush > 0);
    assert_int_equal(st.write_errors, 0);
    assert_int_equal(st.queued, 0);
    acct_ledger_close(lg);
}

static void test_torn_tail_cut(void **state)
{
    (void)state;
    char path[300], err[256], l[128];
    snprintf(path, sizeof(path), "%s/t.jsonl", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"n\":1}\n{\"n\":2,\"tor", f);
    fclose(f);
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, 0, false, &lg, err, sizeof(err)), 0);
    line(l, sizeof(l), 3);
    acct_ledger_append(lg, l, strlen(l), 1);
    acct_ledger_close(lg);
    size_t len;
    char *txt = slurp(path, &len);
    char want[256];
    snprintf(want, sizeof(want), "{\"n\":1}\n%s", l);
    assert_string_equal(txt, want);
    cmn_free(txt);

    /* A file that is one torn line is emptied. */
    f = fopen(path, "w");
    fputs("{\"n\":", f);
    fclose(f);
    assert_int_equal(acct_ledger_open(path, 0, false, &lg, err, sizeof(err)), 0);
    acct_ledger_close(lg);
    txt = slurp(path, &len);
    assert_int_equal(len, 0);
    cmn_free(txt);
}

static void test_rotate_by_size(void **state)
{
    (void)state;
    char path[300], err[256], l[128];
    snprintf(path, sizeof(path), "%s/r.jsonl", dir);
    line(l, sizeof(l), 0);
    size_t ll = strlen(l);
    uint64_t max = 10 * ll + ll / 2; /* ten lines fit, not eleven */
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, max, false, &lg, err, sizeof(err)), 0);
    for (int i = 0; i < 35; i++) {
        line(l, sizeof(l), i);
        acct_ledger_append(lg, l, ll, 1);
    }
    acct_ledger_close(lg);
    /* 35 lines: three rotated files of ten (same second: -1, -2 suffixes)
     * and five in the current file, every line once, whole. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0, lines = 0;
    char p[600];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "r.jsonl", 7))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        size_t len;
        char *txt = slurp(p, &len);
        assert_true(len <= max);
        assert_int_equal(len % ll, 0);
        if (!strcmp(e->d_name, "r.jsonl"))
            assert_int_equal(len / ll, 5);
        else
            assert_int_equal(len / ll, 10);
        lines += (int)(len / ll);
        files++;
        cmn_free(txt);
    }
    closedir(d);
    assert_int_equal(files, 4);
    assert_int_equal(lines, 35);
}

static void test_rotate_daily(void **state)
{
    (void)state;
    char path[300], err[256], l[128];
    snprintf(path, sizeof(path), "%s/d.jsonl", dir);
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, 0, true, &lg, err, sizeof(err)), 0);
    line(l, sizeof(l), 1);
    acct_ledger_append(lg, l, strlen(l), 1);
    acct_ledger_stats_t st;
    for (int i = 0; i < 200 && (acct_ledger_stats(lg, &st), st.records < 1); i++)
        usleep(10000);
    assert_int_equal(st.records, 1);
    /* As if the file had been started yesterday: the next write rotates.
     * (The writer is idle and reads <day> only while writing; the mutex of
     * the next append orders this store before that read.) */
    lg->day -= 1;
    line(l, sizeof(l), 2);
    acct_ledger_append(lg, l, strlen(l), 1);
    acct_ledger_close(lg);
    DIR *d = opendir(dir);
    struct dirent *e;
    int rotated = 0;
    char p[600];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "d.jsonl.", 8))
            continue;
        assert_int_equal(strlen(e->d_name), 8 + 15); /* d.jsonl.YYYYmmddTHHMMSS */
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        size_t len;
        char *txt = slurp(p, &len);
        assert_non_null(strstr(txt, "\"n\":1001,"));
        assert_null(strstr(txt, "\"n\":1002,"));
        cmn_free(txt);
        rotated++;
    }
    closedir(d);
    assert_int_equal(rotated, 1);
    size_t len;
    char *txt = slurp(path, &len);
    assert_non_null(strstr(txt, "\"n\":1002,"));
    assert_null(strstr(txt, "\"n\":1001,"));
    cmn_free(txt);
}

static void test_reopen(void **state)
{
    (void)state;
    char path[300], moved[320], err[256], l[128];
    snprintf(path, sizeof(path), "%s/o.jsonl", dir);
    snprintf(moved, sizeof(moved), "%s/o.jsonl.1", dir);
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, 0, false, &lg, err, sizeof(err)), 0);
    line(l, sizeof(l), 1);
    acct_ledger_append(lg, l, strlen(l), 1);
    acct_ledger_stats_t st;
    for (int i = 0; i < 200 && (acct_ledger_stats(lg, &st), st.records < 1); i++)
        usleep(10000);
    assert_int_equal(rename(path, moved), 0); /* logrotate */
    acct_ledger_reopen(lg);
    usleep(100000);
    line(l, sizeof(l), 2);
    acct_ledger_append(lg, l, strlen(l), 1);
    acct_ledger_close(lg);
    size_t len;
    char *a = slurp(moved, &len), *b = slurp(path, &len);
    assert_non_null(strstr(a, "\"n\":1001,"));
    assert_null(strstr(a, "\"n\":1002,"));
    assert_non_null(strstr(b, "\"n\":1002,"));
    assert_null(strstr(b, "\"n\":1001,"));
    cmn_free(a);
    cmn_free(b);
}

/* The ledger path is a symbolic link to /dev/full (every write fails with
 * ENOSPC), then to a real file: failing while the disk is full, the
 * records kept and written once it is not. */
static void test_disk_full(void **state)
{
    (void)state;
    char path[300], real[320], err[256], l[128];
    snprintf(path, sizeof(path), "%s/full.jsonl", dir);
    snprintf(real, sizeof(real), "%s/real.jsonl", dir);
    assert_int_equal(symlink("/dev/full", path), 0);
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, 0, false, &lg, err, sizeof(err)), 0);
    for (int i = 0; i < 3; i++) {
        line(l, sizeof(l), i);
        acct_ledger_append(lg, l, strlen(l), 1);
    }
    acct_ledger_stats_t st;
    for (int i = 0; i < 200 && (acct_ledger_stats(lg, &st), !st.failing); i++)
        usleep(10000);
    assert_true(st.failing);
    assert_true(st.write_errors >= 1);
    assert_int_equal(st.records, 0);
    assert_true(st.queued > 0);
    /* The disk has room again (logrotate-style: a new file at the path). */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(real, path), 0);
    acct_ledger_reopen(lg);
    for (int i = 0; i < 400 && (acct_ledger_stats(lg, &st), st.failing || st.records < 3); i++)
        usleep(10000);
    assert_false(st.failing);
    assert_int_equal(st.records, 3);
    acct_ledger_close(lg);
    size_t len;
    char *a = slurp(real, &len);
    assert_non_null(strstr(a, "\"n\":1002,"));
    cmn_free(a);
}

static void test_bad_path(void **state)
{
    (void)state;
    char err[256];
    acct_ledger_t *lg = NULL;
    assert_int_equal(acct_ledger_open("/nonexistent-dir/x.jsonl", 0, false, &lg, err,
                                     sizeof(err)),
                     CMN_EIO);
    assert_string_equal(err, "ledger.path: cannot open \"/nonexistent-dir/x.jsonl\" for "
                             "appending: No such file or directory");
    assert_int_equal(acct_ledger_open(dir, 0, false, &lg, err, sizeof(err)), CMN_EIO);
    assert_non_null(strstr(err, "Is a directory"));
    /* The same checks without opening (--check-config): nothing is created. */
    char path[300];
    snprintf(path, sizeof(path), "%s/new.jsonl", dir);
    assert_int_equal(acct_ledger_check(path, 100, true, err, sizeof(err)), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(acct_ledger_check("/nonexistent-dir/x.jsonl", 0, false, err, sizeof(err)),
                     CMN_EIO);
    assert_string_equal(err, "ledger.path: cannot open \"/nonexistent-dir/x.jsonl\" for "
                             "appending: No such file or directory");
    assert_int_equal(acct_ledger_check(dir, 0, false, err, sizeof(err)), CMN_EIO);
    assert_non_null(strstr(err, "Is a directory"));
}

static void test_queue_bound(void **state)
{
    (void)state;
    char path[300], err[256];
    snprintf(path, sizeof(path), "%s/q.jsonl", dir);
    acct_ledger_t *lg;
    assert_int_equal(acct_ledger_open(path, 0, false, &lg, err, sizeof(err)), 0);
    /* Hold the lock as a stuck writer would, fill the queue past its bound. */
    size_t big = 1 << 20;
    char *chunk = cmn_malloc(big);
    memset(chunk, 'x', big);
    chunk[big - 1] = '\n';
    pthread_mutex_lock(&lg->mu);
    lg->pending = ACCT_LEDGER_QUEUE_MAX - big / 2; /* as if a failing batch were held */
    pthread_mutex_unlock(&lg->mu);
    acct_ledger_append(lg, chunk, big, 1);
    acct_ledger_stats_t st;
    acct_ledger_stats(lg, &st);
    assert_int_equal(st.dropped, 1);
    pthread_mutex_lock(&lg->mu);
    lg->pending = 0;
    pthread_mutex_unlock(&lg->mu);
    cmn_free(chunk);
    acct_ledger_close(lg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_by_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_daily, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup, teardown),
    };
    cmn_log_set_level(CMN_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
