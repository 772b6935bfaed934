/* icehub - SPDX-License-Identifier: MIT
 *
 * test_acct_usage.c: acct/acct_usage.c and acct/acct_view.c with a fake
 * wall clock and the blocker icehubd uses, on a real turn_shared_t: users
 * and realms add up, a user who reaches quota.user_bytes is blocked once, the overflow
 * row never is, a changed limit re-decides, a lifted quota block of a user
 * still over comes back, a period rollover (month and day) empties the
 * table and lifts quota blocks but not revocations, a clock stepped back
 * keeps the period, the start rebuilds the period from the ledger files
 * (rotated ones included, other periods and torn lines left out) and
 * blocks users already over, and /api/usage and /metrics show the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "acct/acct_int.h"
#include "tests/acct/acct_fixture.h"
#include "common/cmn_config.h"
#include "common/cmn_log.h"
#include "common/cmn_metrics.h"
#include "turn/turn.h"

/* The wall clock the table is fed (the daemon's ihd_wallclock). */
static double fake_wall;

typedef struct fx_s {
    cmn_settings_t s;           /* tests change quota.* between calls, as a reload would */
    turn_shared_t *shared;
    acct_usage_t *u;
    acct_ledger_t *ledger;
} fx_t;

static acct_period_t period_of(const fx_t *f)
{
    return f->s.quota.period == CMN_QUOTA_PERIOD_DAY ? ACCT_PERIOD_DAY : ACCT_PERIOD_MONTH;
}

static acct_rules_t rules_of(const fx_t *f)
{
    return (acct_rules_t){.period = period_of(f), .user_bytes = f->s.quota.user_bytes,
                          .realm = f->s.turn.realm};
}

static fx_t *fx_new(const char *const *flags, size_t nflags)
{
    fx_t *f = cmn_calloc(1, sizeof(*f));
    char err[512];
    cmn_config_src_t src = {.flags = flags, .nflags = nflags};
    if (cmn_config_load(&f->s, &src, err, sizeof(err)) < 0)
        fail_msg("config: %s", err);
    f->shared = turn_shared_new(0, 0, 0);
    return f;
}

/* What icehubd does at start: rebuild the period from the ledger, open it,
 * then block whoever the rebuilt usage puts over the quota. */
static void fx_start(fx_t *f)
{
    acct_blocker_t b = fx_blocker(f->shared);
    f->u = acct_usage_new(&b, period_of(f), fake_wall);
    if (f->s.ledger.path[0]) {
        char err[256];
        acct_usage_rebuild(f->u, f->s.ledger.path, NULL);
        assert_int_equal(acct_ledger_open(f->s.ledger.path, 0, false, &f->ledger, err,
                                          sizeof(err)),
                         0);
    }
    acct_rules_t r = rules_of(f);
    acct_usage_apply(f->u, &r, NULL, 0, fake_wall);
}

static void fx_free(fx_t *f)
{
    acct_ledger_close(f->ledger);
    acct_usage_free(f->u);
    turn_shared_free(f->shared);
    cmn_config_dispose(&f->s);
    cmn_free(f);
}

static void add(fx_t *f, const char *user, uint64_t peer, uint64_t client, bool started)
{
    acct_delta_t d = {.user = user,
                      .d = {.to_peer_bytes = peer, .to_peer_packets = peer ? 1 : 0,
                            .to_client_bytes = client, .to_client_packets = client ? 1 : 0},
                      .started = started};
    acct_rules_t r = rules_of(f);
    acct_usage_apply(f->u, &r, &d, 1, fake_wall);
}

static turn_block_t blocked(fx_t *f, const char *user)
{
    return turn_shared_user_blocked(f->shared, user);
}

static const acct_urow_t *row(fx_t *f, const char *user)
{
    return acct_utab_find(&f->u->users, user);
}

static void test_add_and_block(void **state)
{
    (void)state;
    const char *flags[] = {"quota.user_bytes=1000", "turn.realm=example.org"};
    fake_wall = t_of("2026-12-10T12:00:00Z");
    fx_t *f = fx_new(flags, 2);
    fx_start(f);
    add(f, "alice", 300, 200, true);
    add(f, "bob", 10, 0, true);
    add(f, "alice", 0, 0, true);
    assert_int_equal(row(f, "alice")->allocations, 2);
    assert_int_equal(acct_urow_bytes(row(f, "alice")), 500);
    assert_string_equal(row(f, "alice")->realm, "example.org");
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_NONE);
    add(f, "alice", 250, 250, false); /* exactly the limit: blocked */
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_QUOTA);
    assert_int_equal(blocked(f, "bob"), TURN_BLOCK_NONE);
    const acct_urow_t *realm = acct_utab_find(&f->u->realms, "example.org");
    assert_int_equal(acct_urow_bytes(realm), 1010);
    assert_int_equal(realm->allocations, 3);
    assert_int_equal(f->u->total.to_peer_bytes, 560);
    assert_int_equal(f->u->allocations, 3);

    /* An operator's un-revoke lifted the block; the user is still over. */
    assert_true(turn_shared_lift_block(f->shared, "alice", TURN_BLOCK_QUOTA));
    add(f, "bob", 1, 0, false);
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_QUOTA);

    /* A higher limit on reload lifts; a lower one blocks again. */
    f->s.quota.user_bytes = 5000;
    add(f, "bob", 0, 0, false);
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_NONE);
    f->s.quota.user_bytes = 11;
    add(f, "bob", 0, 0, false);
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_QUOTA);
    assert_int_equal(blocked(f, "bob"), TURN_BLOCK_QUOTA);
    /* 0 = unlimited: everyone is lifted. */
    f->s.quota.user_bytes = 0;
    add(f, "bob", 0, 0, false);
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_NONE);
    assert_int_equal(blocked(f, "bob"), TURN_BLOCK_NONE);
    fx_free(f);
}

static void test_rollover(void **state)
{
    (void)state;
    const char *flags[] = {"quota.user_bytes=100", "quota.period=month"};
    fake_wall = t_of("2026-12-31T23:59:59Z");
    fx_t *f = fx_new(flags, 2);
    fx_start(f);
    add(f, "alice", 100, 0, true);
    add(f, "carol", 100, 0, true);
    turn_shared_block_user(f->shared, "carol", TURN_BLOCK_REVOKED);
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_QUOTA);
    assert_int_equal(blocked(f, "carol"), TURN_BLOCK_REVOKED);

    /* The clock steps back an hour: same period, nothing changes. */
    fake_wall = t_of("2026-12-31T23:00:00Z");
    add(f, "bob", 1, 0, true);
    assert_int_equal(f->u->users.map.n, 3);
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_QUOTA);

    /* January: an empty table; quota blocks lifted, the revocation stays. */
    fake_wall = t_of("2027-01-01T00:00:01Z");
    add(f, "bob", 5, 0, false);
    assert_true(f->u->pstart == t_of("2027-01-01"));
    assert_true(f->u->pend == t_of("2027-02-01"));
    assert_int_equal(f->u->users.map.n, 1);
    assert_int_equal(acct_urow_bytes(row(f, "bob")), 5);
    assert_null(row(f, "alice"));
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_NONE);
    assert_int_equal(blocked(f, "carol"), TURN_BLOCK_REVOKED);

    /* quota.period changed on reload: a new (daily) period at once. */
    f->s.quota.period = CMN_QUOTA_PERIOD_DAY;
    add(f, "dave", 1, 0, true);
    assert_true(f->u->pend == t_of("2027-01-02"));
    assert_null(row(f, "bob"));
    fake_wall = t_of("2027-01-02T00:00:00Z");
    add(f, "dave", 1, 0, false);
    assert_true(f->u->pstart == t_of("2027-01-02"));
    assert_int_equal(acct_urow_bytes(row(f, "dave")), 1);
    fx_free(f);
}

static void test_overflow_row_not_blocked(void **state)
{
    (void)state;
    const char *flags[] = {"quota.user_bytes=10"};
    fake_wall = t_of("2026-12-10T12:00:00Z");
    fx_t *f = fx_new(flags, 1);
    fx_start(f);
    f->u->users.max = 2; /* a small cap instead of a million names */
    add(f, "a", 1, 0, true);
    add(f, "b", 1, 0, true);
    add(f, "c", 100, 0, true);
    add(f, "d", 100, 0, true);
    assert_int_equal(acct_urow_bytes(f->u->users.other), 200);
    assert_int_equal(blocked(f, "c"), TURN_BLOCK_NONE);
    assert_int_equal(blocked(f, "other"), TURN_BLOCK_NONE);
    /* JSON lists the overflow row, marked. */
    size_t len;
    acct_view_t v = {.period = period_of(f), .user_bytes = f->s.quota.user_bytes};
    char *js = acct_usage_json(f->u, &v, fake_wall, &len);
    json_error_t je;
    json_t *j = json_loadb(js, len, 0, &je);
    assert_non_null(j);
    json_t *users = json_object_get(j, "users");
    assert_int_equal(json_array_size(users), 3);
    json_t *last = json_array_get(users, 2);
    assert_string_equal(json_string_value(json_object_get(last, "user")), "other");
    assert_true(json_is_true(json_object_get(last, "overflow")));
    assert_int_equal(json_integer_value(json_object_get(j, "users_total")), 2);
    json_decref(j);
    cmn_free(js);
    fx_free(f);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

#define REC(seq, user, end, peer, client)                                                    \
    "{\"type\":\"interim\",\"alloc_id\":1,\"seq\":" #seq ",\"user\":\"x:" user            \
    "\",\"quota_user\":\"" user "\",\"realm\":\"r\",\"start\":\"" end "\",\"end\":\"" end \
    "\",\"to_peer_bytes\":" #peer ",\"to_client_bytes\":" #client                          \
    ",\"to_peer_packets\":1,\"to_client_packets\":1}\n"

static void test_rebuild_from_ledger(void **state)
{
    (void)state;
    char dir[] = "/tmp/icehub-usage-XXXXXX", p[256], flag[300];
    assert_non_null(mkdtemp(dir));
    /* December is the period. The current file, a file rotated in
     * December and one rotated in November (not read). */
    snprintf(p, sizeof(p), "%s/u.jsonl", dir);
    write_file(p, REC(1, "alice", "2026-12-09T10:00:00.000Z", 100, 200)
                  REC(0, "bob", "2026-12-09T11:00:00.000Z", 5, 5)
                  "{\"type\":\"interim\",\"alloc_id\":9,\"seq\":0,\"user\":\"torn");
    snprintf(flag, sizeof(flag), "ledger.path=%s", p);
    snprintf(p, sizeof(p), "%s/u.jsonl.20261205T000000", dir);
    write_file(p, REC(0, "alice", "2026-11-30T23:59:59.000Z", 1000000, 0)
                  REC(0, "alice", "2026-12-01T00:00:00.000Z", 700, 0));
    snprintf(p, sizeof(p), "%s/u.jsonl.20261130T235959-1", dir);
    write_file(p, REC(0, "alice", "2026-12-01T00:00:01.000Z", 99999, 0));
    snprintf(p, sizeof(p), "%s/u.jsonl.bak", dir);
    write_file(p, REC(0, "alice", "2026-12-01T00:00:01.000Z", 99999, 0));

    const char *flags[] = {flag, "quota.user_bytes=1000", "metrics.top_users=1"};
    fake_wall = t_of("2026-12-10T12:00:00Z");
    fx_t *f = fx_new(flags, 3);
    fx_start(f);
    const acct_urow_t *a = row(f, "alice"), *b = row(f, "bob");
    assert_non_null(a);
    assert_int_equal(a->to_peer_bytes, 800);
    assert_int_equal(a->to_client_bytes, 200);
    assert_int_equal(a->allocations, 1); /* seq 0 in the period */
    assert_int_equal(acct_urow_bytes(b), 10);
    assert_int_equal(b->allocations, 1);
    assert_int_equal(blocked(f, "alice"), TURN_BLOCK_QUOTA); /* 1000 >= 1000 at start */
    assert_int_equal(blocked(f, "bob"), TURN_BLOCK_NONE);

    /* /metrics shows the rebuilt usage; with metrics.top_users=1 bob is in
     * "other". */
    cmn_prom_t pm;
    cmn_prom_init(&pm);
    acct_hist_t hist;
    memset(&hist, 0, sizeof(hist));
    acct_usage_metrics(f->u, (size_t)f->s.metrics.top_users, &pm);
    acct_hist_metrics(&hist, 1, &pm);
    acct_ledger_metrics(f->ledger, &pm);
    assert_non_null(strstr(pm.buf, "icehub_turn_user_relayed_bytes{user=\"alice\","
                                   "direction=\"to_peer\"} 800\n"));
    assert_non_null(strstr(pm.buf, "icehub_turn_user_relayed_bytes{user=\"other\","
                                   "direction=\"to_peer\"} 5\n"));
    assert_non_null(
        strstr(pm.buf, "icehub_turn_allocation_duration_seconds_bucket{le=\"+Inf\"} 0"));
    assert_non_null(strstr(pm.buf, "icehub_ledger_enabled 1"));
    cmn_prom_dispose(&pm);
    fx_free(f);

    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_block),
        cmocka_unit_test(test_rollover),
        cmocka_unit_test(test_overflow_row_not_blocked),
        cmocka_unit_test(test_rebuild_from_ledger),
    };
    cmn_log_set_level(CMN_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
