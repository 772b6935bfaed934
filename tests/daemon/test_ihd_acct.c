/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ihd_acct.c: daemon/ihd_acct.c and daemon/ihd_utab.c, the pure parts
 * of usage accounting: UTC period bounds (day, month, year end, leap
 * February), RFC 3339 formatting and parsing, ledger record encoding and
 * decoding (deltas, odd usernames), the line reader (a torn last line is
 * skipped and counted apart from bad lines), and the usage table (lookups,
 * growth, the row cap with its "other" row, top-k order).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/ihd_acct.c"
#include "daemon/ihd_utab.c"

/* Records are not NUL-terminated strings. */
#define HAS(buf, len, lit) memmem((buf), (len), (lit), sizeof(lit) - 1)

static double t_of(const char *s)
{
    double t;
    assert_int_equal(ihd_time_parse(s, &t), 0);
    return t;
}

static void test_period_bounds(void **state)
{
    (void)state;
    double s, e;
    ihd_period_bounds(IHD_PERIOD_DAY, t_of("2026-12-01T22:05:06.5Z"), &s, &e);
    assert_true(s == t_of("2026-12-01T00:00:00Z") && e == t_of("2026-12-02T00:00:00Z"));
    ihd_period_bounds(IHD_PERIOD_MONTH, t_of("2026-12-31T23:59:59Z"), &s, &e);
    assert_true(s == t_of("2026-12-01") && e == t_of("2027-01-01"));
    ihd_period_bounds(IHD_PERIOD_MONTH, t_of("2028-02-29T12:00:00Z"), &s, &e);
    assert_true(s == t_of("2028-02-01") && e == t_of("2028-03-01"));
    /* The first instant of a period belongs to it. */
    ihd_period_bounds(IHD_PERIOD_DAY, t_of("2026-03-01"), &s, &e);
    assert_true(s == t_of("2026-03-01") && e == t_of("2026-03-02"));
    ihd_period_bounds(IHD_PERIOD_DAY, t_of("2026-02-28T23:59:59.999Z"), &s, &e);
    assert_true(e == t_of("2026-03-01"));
    assert_string_equal(ihd_period_name(IHD_PERIOD_MONTH), "month");
}

static void test_time_format_parse(void **state)
{
    (void)state;
    char buf[IHD_TIME_STRLEN];
    assert_string_equal(ihd_time_format(1796162706.123, buf, sizeof(buf)),
                        "2026-12-01T22:05:06.123Z");
    assert_string_equal(ihd_time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    double t = t_of("2026-12-01T22:05:06.123Z");
    assert_true(t > 1796162706.122 && t < 1796162706.124);
    assert_true(t_of("2026-12-01T23:05:06+01:00") == t_of("2026-12-01T22:05:06Z"));
    assert_true(t_of("2026-12-01T21:35:06-00:30") == t_of("2026-12-01T22:05:06Z"));
    assert_true(t_of("1796162706") == 1796162706.0);
    assert_true(t_of("2026-12-01") == t_of("2026-12-01T00:00:00Z"));
    assert_string_equal(ihd_time_stamp(t, buf, sizeof(buf)), "20261201T220506");
    const char *bad[] = {"", "2026-13-01", "2026-02-30", "2026-12-01T22:05Z",
                         "2026-12-01T22:05:06", "2026-12-01T25:00:00Z", "yesterday",
                         "2026-12-01T22:05:06.Z", "12e3x"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad); i++)
        assert_int_equal(ihd_time_parse(bad[i], &t), CMN_EINVAL);
    assert_int_equal(ihd_time_day(t_of("1970-01-02T00:00:01Z")), 1);
}

static ihd_rec_t sample_rec(cmn_addr_t *relay, cmn_addr_t *peers)
{
    assert_int_equal(cmn_addr_parse(&relay[0], "192.0.2.10:50000", -1), 0);
    assert_int_equal(cmn_addr_parse(&relay[1], "[2001:db8::10]:50002", -1), 0);
    assert_int_equal(cmn_addr_parse(&peers[0], "198.51.100.7", 0), 0);
    ihd_rec_t r = {
        .final = true, .alloc_id = 42, .seq = 3, .user = "1700000000:alice",
        .quota_user = "alice", .realm = "example.org", .transport = TURN_TR_TLS,
        .relay = relay, .nrelay = 2, .start = t_of("2026-12-01T10:00:00Z"),
        .end = t_of("2026-12-01T10:30:00.250Z"),
        .d = {.to_peer_bytes = 1000, .to_peer_packets = 10, .to_client_bytes = 5000000000ull,
              .to_client_packets = 7},
        .peers = peers, .npeers = 1, .peers_total = 3, .end_reason = "client",
    };
    assert_int_equal(cmn_addr_parse(&r.client, "203.0.113.5:40000", -1), 0);
    return r;
}

static void test_record_roundtrip(void **state)
{
    (void)state;
    cmn_addr_t relay[2], peers[1];
    ihd_rec_t r = sample_rec(relay, peers);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ihd_rec_encode(&r, &buf, &len, &cap);
    assert_true(len > 0 && buf[len - 1] == '\n');
    assert_null(memchr(buf, '\n', len - 1)); /* one line */
    const char *want =
        "{\"type\":\"final\",\"alloc_id\":42,\"seq\":3,\"user\":\"1700000000:alice\","
        "\"quota_user\":\"alice\",\"realm\":\"example.org\",\"client\":\"203.0.113.5:40000\","
        "\"client_transport\":\"tls\",\"relay\":[\"192.0.2.10:50000\",\"[2001:db8::10]:50002\"],"
        "\"start\":\"2026-12-01T10:00:00.000Z\",\"end\":\"2026-12-01T10:30:00.250Z\","
        "\"to_peer_bytes\":1000,\"to_client_bytes\":5000000000,\"to_peer_packets\":10,"
        "\"to_client_packets\":7,\"peers\":[\"198.51.100.7\"],\"peers_total\":3,"
        "\"end_reason\":\"client\"}\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);

    /* An interim record has no end_reason; records append to the buffer. */
    r.final = false;
    r.seq = 0;
    size_t first = len;
    ihd_rec_encode(&r, &buf, &len, &cap);
    assert_null(HAS(buf + first, len - first, "end_reason"));
    assert_non_null(HAS(buf + first, len - first, "\"type\":\"interim\""));

    json_error_t je;
    json_t *j = json_loadb(buf, first - 1, 0, &je);
    assert_non_null(j);
    ihd_recv_t v;
    const char *why = NULL;
    assert_int_equal(ihd_rec_decode(j, &v, &why), 0);
    assert_true(v.final);
    assert_int_equal(v.seq, 3);
    assert_string_equal(v.user, "alice"); /* the quota user wins */
    assert_string_equal(v.realm, "example.org");
    assert_true(v.to_client_bytes == 5000000000ull && v.to_peer_bytes == 1000);
    assert_true(v.to_peer_packets == 10 && v.to_client_packets == 7);
    assert_true(v.end - v.start > 1800.2 && v.end - v.start < 1800.3);
    json_decref(j);
    cmn_free(buf);
}

static void test_record_odd_names(void **state)
{
    (void)state;
    cmn_addr_t relay[2], peers[1];
    ihd_rec_t r = sample_rec(relay, peers);
    r.user = "bad\xff\xfeutf8\"\n";
    r.quota_user = "caf\xc3\xa9";
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ihd_rec_encode(&r, &buf, &len, &cap);
    assert_null(memchr(buf, '\n', len - 1));
    for (size_t i = 0; i < len; i++)
        assert_true((unsigned char)buf[i] < 0x80); /* escaped: pure ASCII */
    assert_non_null(HAS(buf, len, "\"user\":\"bad??utf8\\\"\\n\""));
    assert_non_null(HAS(buf, len, "\"quota_user\":\"caf\\u00E9\""));
    cmn_free(buf);
}

typedef struct rd_s {
    uint64_t bytes, n, warnings;
} rd_t;

static void rd_rec(void *ctx, const ihd_recv_t *r)
{
    rd_t *c = ctx;
    c->bytes += r->to_peer_bytes + r->to_client_bytes;
    c->n++;
}

static void rd_warn(void *ctx, const char *name, uint64_t line, const char *what)
{
    (void)name;
    (void)line;
    (void)what;
    ((rd_t *)ctx)->warnings++;
}

static rd_t read_text(const char *text, ihd_read_stats_t *st)
{
    rd_t c = {0, 0, 0};
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    assert_int_equal(ihd_ledger_read(f, "mem", rd_rec, rd_warn, &c, st), 0);
    fclose(f);
    return c;
}

static void test_reader_torn_and_bad(void **state)
{
    (void)state;
    cmn_addr_t relay[2], peers[1];
    ihd_rec_t r = sample_rec(relay, peers);
    r.d.to_client_bytes = 5;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ihd_rec_encode(&r, &buf, &len, &cap);
    ihd_rec_encode(&r, &buf, &len, &cap);
    /* Two good lines: 2 * (1000 + 5). */
    char *text = cmn_malloc(2 * len + 64);
    memcpy(text, buf, len);
    text[len] = '\0';
    ihd_read_stats_t st;
    rd_t c = read_text(text, &st);
    assert_true(c.n == 2 && c.bytes == 2010 && st.torn == 0 && st.bad == 0);

    size_t line = len / 2; /* both lines are alike */
    /* A torn last line (no '\n'): skipped, counted as torn, not bad. */
    memcpy(text + len, buf, line / 2);
    text[len + line / 2] = '\0';
    c = read_text(text, &st);
    assert_true(c.n == 2 && st.torn == 1 && st.bad == 0 && c.warnings == 1);

    /* A complete last line without its '\n' still counts. */
    memcpy(text + len, buf, line - 1);
    text[len + line - 1] = '\0';
    c = read_text(text, &st);
    assert_true(c.n == 3 && st.torn == 0);

    /* A bad line in the middle is bad; blank lines are ignored. */
    snprintf(text, 2 * len + 64, "{\"type\":\"final\"}\n\nnot json\n%.*s", (int)line, buf);
    c = read_text(text, &st);
    assert_true(c.n == 1 && st.bad == 2 && st.torn == 0 && c.warnings == 2);

    /* Negative counts are refused. */
    char *neg = cmn_strndup(buf, len);
    char *p = strstr(neg, "\"to_peer_bytes\":1000");
    memcpy(p, "\"to_peer_bytes\":-100", 20);
    neg[line - 1] = '\0';
    c = read_text(neg, &st);
    assert_true(c.n == 0 && st.torn == 1); /* last line without '\n': torn */
    cmn_free(neg);
    cmn_free(text);
    cmn_free(buf);
}

static void test_utab_basic(void **state)
{
    (void)state;
    ihd_utab_t t;
    ihd_utab_init(&t, 100000);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        ihd_urow_t *r = ihd_utab_get(&t, name);
        r->to_peer_bytes += (uint64_t)i;
        r->to_client_bytes += 1;
    }
    assert_int_equal(t.n, 5000);
    assert_true(t.nbuckets >= 5000);
    assert_true(ihd_utab_get(&t, "user17") == ihd_utab_find(&t, "user17"));
    assert_null(ihd_utab_find(&t, "nobody"));
    assert_int_equal(ihd_utab_find(&t, "user4999")->to_peer_bytes, 4999);

    ihd_urow_t *top[10];
    size_t n = ihd_utab_top(&t, 10, top);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "user%zu", 4999 - i);
        assert_string_equal(top[i]->name, name);
    }
    ihd_urow_t *all[6000];
    n = ihd_utab_top(&t, 6000, all);
    assert_int_equal(n, 5000);
    for (size_t i = 1; i < n; i++)
        assert_true(ihd_urow_bytes(all[i - 1]) >= ihd_urow_bytes(all[i]));
    assert_int_equal(ihd_utab_top(&t, 0, top), 0);
    ihd_utab_dispose(&t);
}

static void test_utab_cap(void **state)
{
    (void)state;
    ihd_utab_t t;
    ihd_utab_init(&t, 3);
    ihd_utab_get(&t, "a")->to_peer_bytes = 5;
    ihd_utab_get(&t, "b")->to_peer_bytes = 7;
    ihd_utab_get(&t, "c")->to_peer_bytes = 1;
    ihd_urow_t *o = ihd_utab_get(&t, "d");
    assert_non_null(o);
    assert_true(o == t.other);
    assert_string_equal(o->name, "other");
    assert_true(ihd_utab_get(&t, "e") == o);
    assert_true(ihd_utab_get(&t, "a") != o); /* known names keep their rows */
    assert_int_equal(t.n, 3);
    assert_int_equal(t.overflowed, 2);
    o->to_peer_bytes = 100;
    ihd_urow_t *top[4];
    size_t n = ihd_utab_top(&t, 4, top); /* the overflow row is not a candidate */
    assert_int_equal(n, 3);
    assert_string_equal(top[0]->name, "b");
    assert_string_equal(top[2]->name, "c");
    /* Ties order by name, so output is stable. */
    ihd_utab_get(&t, "c")->to_peer_bytes = 7;
    n = ihd_utab_top(&t, 2, top);
    assert_string_equal(top[0]->name, "b");
    assert_string_equal(top[1]->name, "c");
    ihd_utab_dispose(&t);
    ihd_utab_dispose(&t); /* a disposed table disposes again harmlessly */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_period_bounds),
        cmocka_unit_test(test_time_format_parse),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_odd_names),
        cmocka_unit_test(test_reader_torn_and_bad),
        cmocka_unit_test(test_utab_basic),
        cmocka_unit_test(test_utab_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
