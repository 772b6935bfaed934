/* icehub - SPDX-License-Identifier: MIT
 *
 * test_acct_revoke.c: acct/acct_revoke.c, the revoked users with their
 * state file, on real files in a temporary directory: a missing file is an
 * empty list; add, extend, remove and expire, each written through to the
 * file (no temporary left behind) and read back by a second list; entries
 * that ended are dropped when the file is read; a name that is not UTF-8
 * comes back byte for byte; files that are not ours are refused with the
 * reason; a file that cannot be written keeps the change in memory and
 * counts the error; a new path gets the list at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acct/acct.h"
#include "common/cmn_log.h"

#define NOW 1800000000.0

static char dir[256], path[600];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/icehub-revoke-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/revocations.json", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (unlink(p) < 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    return 0;
}

static void write_text(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static acct_revokes_t *reopen(double now)
{
    char err[512];
    acct_revokes_t *r = acct_revokes_new();
    assert_int_equal(acct_revokes_open(r, path, now, err, sizeof(err)), 0);
    return r;
}

static void test_round_trip(void **state)
{
    (void)state;
    acct_revokes_t *r = reopen(NOW); /* no file yet: empty */
    bool fresh;
    double until;
    size_t n;
    assert_int_equal(acct_revokes_add(r, "alice", NOW, 100, &fresh, &until), 0);
    assert_true(fresh);
    assert_true(until == NOW + 100);
    assert_int_equal(acct_revokes_add(r, "bob", NOW, 10, &fresh, &until), 0);
    assert_int_equal(acct_revokes_add(r, "alice", NOW + 50, 100, &fresh, &until), 0);
    assert_false(fresh); /* extended */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);

    acct_revokes_t *r2 = reopen(NOW + 1);
    acct_revoked_t *v = acct_revokes_list(r2, &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].user, "alice");
    assert_true(v[0].since == NOW && v[0].until == NOW + 150);
    assert_string_equal(v[1].user, "bob");
    acct_revokes_list_free(v, n);
    acct_revokes_free(r2);

    /* Read after bob's end: he is gone. */
    r2 = reopen(NOW + 20);
    assert_true(acct_revokes_has(r2, "alice"));
    assert_false(acct_revokes_has(r2, "bob"));
    acct_revokes_free(r2);

    assert_int_equal(acct_revokes_remove(r, "alice"), 0);
    assert_int_equal(acct_revokes_remove(r, "alice"), CMN_ENOENT);
    r2 = reopen(NOW);
    v = acct_revokes_list(r2, &n);
    assert_int_equal(n, 1);
    acct_revokes_list_free(v, n);
    acct_revokes_free(r2);
    acct_revokes_free(r);
}

static int expired_seen;
static void on_expired(void *ctx, const char *user)
{
    (void)ctx;
    assert_string_equal(user, "bob");
    expired_seen++;
}

static void test_expire(void **state)
{
    (void)state;
    acct_revokes_t *r = reopen(NOW);
    bool fresh;
    double until;
    acct_revokes_add(r, "alice", NOW, 100, &fresh, &until);
    acct_revokes_add(r, "bob", NOW, 10, &fresh, &until);
    expired_seen = 0;
    assert_int_equal(acct_revokes_expire(r, NOW + 5, on_expired, NULL), 0);
    assert_int_equal(acct_revokes_expire(r, NOW + 10, on_expired, NULL), 1);
    assert_int_equal(expired_seen, 1);
    assert_false(acct_revokes_has(r, "bob"));
    acct_revokes_t *r2 = reopen(NOW);
    assert_true(acct_revokes_has(r2, "alice"));
    assert_false(acct_revokes_has(r2, "bob"));
    acct_revokes_free(r2);
    acct_revokes_free(r);
}

static void test_non_utf8_name(void **state)
{
    (void)state;
    const char odd[] = {'m', (char)0xff, (char)0xc3, 'x', 0};
    acct_revokes_t *r = reopen(NOW);
    bool fresh;
    double until;
    assert_int_equal(acct_revokes_add(r, odd, NOW, 100, &fresh, &until), 0);
    acct_revokes_free(r);
    r = reopen(NOW);
    assert_true(acct_revokes_has(r, odd));
    acct_revokes_free(r);
}

static void test_bad_files(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"not json", ":1:"},
        {"{\"version\": 2, \"revoked\": []}", "expected {\"version\":1"},
        {"{\"version\": 1}", "expected {\"version\":1"},
        {"{\"version\": 1, \"revoked\": [{\"user\": \"a\"}]}", "entry 0"},
        {"{\"version\": 1, \"revoked\": [{\"user\": \"a\", \"since\": \"x\", \"until\": "
         "\"2027-01-01\"}]}", "entry 0"},
        {"{\"version\": 1, \"revoked\": [{\"user_hex\": \"0g\", \"since\": \"2027-01-01\", "
         "\"until\": \"2027-01-01\"}]}", "entry 0"},
        {"{\"version\": 1, \"revoked\": [{\"user\": \"\", \"since\": \"2027-01-01\", "
         "\"until\": \"2027-01-01\"}]}", "entry 0"},
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(cases); i++) {
        char err[512] = "";
        write_text(cases[i].text);
        acct_revokes_t *r = acct_revokes_new();
        assert_int_equal(acct_revokes_open(r, path, NOW, err, sizeof(err)), CMN_EINVAL);
        if (!strstr(err, cases[i].why) || !strstr(err, path))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].why);
        size_t n;
        acct_revoked_t *v = acct_revokes_list(r, &n);
        assert_int_equal(n, 0);
        acct_revokes_list_free(v, n);
        acct_revokes_free(r);
    }
}

static void test_unwritable_and_move(void **state)
{
    (void)state;
    char err[512], bad[700], moved[600];
    snprintf(bad, sizeof(bad), "%s/no-such-dir/revocations.json", dir);
    acct_revokes_t *r = acct_revokes_new();
    assert_int_equal(acct_revokes_open(r, bad, NOW, err, sizeof(err)), 0); /* missing: empty */
    bool fresh;
    double until;
    assert_int_equal(acct_revokes_add(r, "alice", NOW, 100, &fresh, &until), CMN_EIO);
    assert_true(acct_revokes_has(r, "alice"));
    assert_int_equal(acct_revokes_save_errors(r), 1);
    snprintf(moved, sizeof(moved), "%s/moved.json", dir);
    assert_int_equal(acct_revokes_set_path(r, moved), 0);
    char *saved = cmn_strdup(path);
    snprintf(path, sizeof(path), "%s", moved);
    acct_revokes_t *r2 = reopen(NOW);
    assert_true(acct_revokes_has(r2, "alice"));
    acct_revokes_free(r2);
    snprintf(path, sizeof(path), "%s", saved);
    cmn_free(saved);
    /* Memory only. */
    assert_int_equal(acct_revokes_set_path(r, ""), 0);
    assert_int_equal(acct_revokes_add(r, "bob", NOW, 100, &fresh, &until), 0);
    acct_revokes_free(r);
}

int main(void)
{
    cmn_log_set_level(CMN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_utf8_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_and_move, setup, teardown),
    };
    return cmocka_run_group_tests_name("test_acct_revoke", tests, NULL, NULL);
}
