/* icehub - SPDX-License-Identifier: MIT
 *
 * test_acct_rec.c: acct/acct_rec.c: ledger record encoding and decoding
 * (deltas, odd usernames), and the line reader (a torn last line is
 * skipped and counted apart from bad lines).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "tests/acct/acct_fixture.h"

/* Records are not NUL-terminated strings. */
#define HAS(buf, len, lit) memmem((buf), (len), (lit), sizeof(lit) - 1)

typedef struct rd_s {
    uint64_t bytes, n, warnings;
} rd_t;

static acct_rec_t sample_rec(cmn_addr_t *relay, cmn_addr_t *peers)
{
    assert_int_equal(cmn_addr_parse(&relay[0], "192.0.2.10:50000", -1), 0);
    assert_int_equal(cmn_addr_parse(&relay[1], "[2001:db8::10]:50002", -1), 0);
    assert_int_equal(cmn_addr_parse(&peers[0], "198.51.100.7", 0), 0);
    acct_rec_t r = {
        .final = true, .alloc_id = 42, .seq = 3, .user = "1700000000:alice",
        .quota_user = "alice", .realm = "example.org", .transport = "tls",
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
    acct_rec_t r = sample_rec(relay, peers);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    acct_rec_encode(&r, &buf, &len, &cap);
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
    acct_rec_encode(&r, &buf, &len, &cap);
    assert_null(HAS(buf + first, len - first, "end_reason"));
    assert_non_null(HAS(buf + first, len - first, "\"type\":\"interim\""));

    json_error_t je;
    json_t *j = json_loadb(buf, first - 1, 0, &je);
    assert_non_null(j);
    acct_recv_t v;
    const char *why = NULL;
    assert_int_equal(acct_rec_decode(j, &v, &why), 0);
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
    acct_rec_t r = sample_rec(relay, peers);
    r.user = "bad\xff\xfeutf8\"\n";
    r.quota_user = "caf\xc3\xa9";
    char *buf = NULL;
    size_t len = 0, cap = 0;
    acct_rec_encode(&r, &buf, &len, &cap);
    assert_null(memchr(buf, '\n', len - 1));
    for (size_t i = 0; i < len; i++)
        assert_true((unsigned char)buf[i] < 0x80); /* escaped: pure ASCII */
    assert_non_null(HAS(buf, len, "\"user\":\"bad??utf8\\\"\\n\""));
    assert_non_null(HAS(buf, len, "\"quota_user\":\"caf\\u00E9\""));
    cmn_free(buf);
}

static void rd_rec(void *ctx, const acct_recv_t *r)
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

static rd_t read_text(const char *text, acct_read_stats_t *st)
{
    rd_t c = {0, 0, 0};
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    assert_int_equal(acct_ledger_read(f, "mem", rd_rec, rd_warn, &c, st), 0);
    fclose(f);
    return c;
}

static void test_reader_torn_and_bad(void **state)
{
    (void)state;
    cmn_addr_t relay[2], peers[1];
    acct_rec_t r = sample_rec(relay, peers);
    r.d.to_client_bytes = 5;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    acct_rec_encode(&r, &buf, &len, &cap);
    acct_rec_encode(&r, &buf, &len, &cap);
    /* Two good lines: 2 * (1000 + 5). */
    char *text = cmn_malloc(2 * len + 64);
    memcpy(text, buf, len);
    text[len] = '\0';
    acct_read_stats_t st;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_odd_names),
        cmocka_unit_test(test_reader_torn_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
