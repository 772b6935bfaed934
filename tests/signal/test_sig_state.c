/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_state.c: signal/sig_state.c, the hub moved to a new process: two
 * peers in a room (one present, one away with a queued signal) exported
 * from one hub and imported into another resume there with their tokens,
 * same ids and room, and the queued message arrives; the other is told
 * nothing but can signal the first by its old id; a peer that does not
 * come back leaves at the end of its grace period; malformed state (bad
 * version, ids, tokens, duplicates, oversized queues) is refused with the
 * field named; resume_seconds 0 exports no rooms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/signal/sig_fixture.h"

static const char *copy_of(const char *s)
{
    static char buf[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s", s);
    return buf[i];
}

static void test_move_and_resume(void **state)
{
    fx_t *a = *state;
    fx_conn_t *c1 = fx_open(a), *c2 = fx_open(a);
    const char *id1 = copy_of(fx_join(a, c1, "room"));
    const char *tok1 = copy_of(fx_str(c1->msgs[c1->read - 1], "resume"));
    const char *id2 = copy_of(fx_join(a, c2, "room"));
    const char *tok2 = copy_of(fx_str(c2->msgs[c2->read - 1], "resume"));
    fx_expect(c1, "peer-joined");
    fx_gone(a, c2); /* away: what is sent to it is queued */
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":{\"x\":1}}", id2);
    fx_say(a, c1, buf);
    size_t len;
    char *text = sig_hub_export(a->h, a->now, &len);

    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    fx_t *b = fx_new_cfg(&cfg);
    b->now = a->now + 1;
    const char *why = "unset";
    assert_int_equal(sig_hub_import(b->h, text, len, b->now, &why), 0);
    assert_null(why);
    fx_conn_t *n2 = fx_open(b), *n1 = fx_open(b);
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", tok2);
    fx_say(b, n2, buf);
    json_t *m = fx_expect(n2, "resumed");
    assert_string_equal(fx_str(m, "id"), id2);
    assert_string_equal(fx_str(m, "room"), "room");
    m = fx_expect(n2, "signal");
    assert_string_equal(fx_str(m, "from"), id1);
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", tok1);
    fx_say(b, n1, buf);
    assert_string_equal(fx_str(fx_expect(n1, "resumed"), "id"), id1);
    /* Signals by the old ids, both ways; nobody heard peer-left. */
    snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":2}", id1);
    fx_say(b, n2, buf);
    assert_string_equal(fx_str(fx_expect(n1, "signal"), "from"), id2);
    assert_true(fx_none(n1));
    assert_true(fx_none(n2));
    cmn_free(text);
    fx_teardown((void **)&b);
}

static void test_unresumed_peer_times_out(void **state)
{
    fx_t *a = *state;
    fx_conn_t *c1 = fx_open(a), *c2 = fx_open(a);
    fx_join(a, c1, "room");
    const char *tok1 = copy_of(fx_str(c1->msgs[c1->read - 1], "resume"));
    fx_join(a, c2, "room");
    size_t len;
    char *text = sig_hub_export(a->h, a->now, &len);
    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    fx_t *b = fx_new_cfg(&cfg);
    b->now = a->now;
    const char *why;
    assert_int_equal(sig_hub_import(b->h, text, len, b->now, &why), 0);
    fx_conn_t *n1 = fx_open(b);
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\"}", tok1);
    fx_say(b, n1, buf);
    fx_expect(n1, "resumed");
    fx_tick(b, cfg.resume_seconds + 1);
    json_t *m = fx_expect(n1, "peer-left");
    assert_string_equal(fx_str(m, "reason"), "timeout");
    cmn_free(text);
    fx_teardown((void **)&b);
}

static void expect_refused(const char *text, const char *field)
{
    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    fx_t *b = fx_new_cfg(&cfg);
    const char *why = NULL;
    assert_int_equal(sig_hub_import(b->h, text, strlen(text), b->now, &why), CMN_EINVAL);
    if (!why || strcmp(why, field) != 0)
        fail_msg("%s: refused for %s, expected %s", text, why ? why : "(null)", field);
    fx_teardown((void **)&b);
}

#define TOK "abcdefghijklmnopqrstuvwxyz012345"
#define TOK2 "abcdefghijklmnopqrstuvwxyz012346"
#define PEER(id, tok) "{\"id\":\"" id "\",\"resume\":\"" tok "\",\"away_until\":1700000030,\"queue\":[]}"

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("not json", "version");
    expect_refused("{\"version\":2,\"rooms\":[]}", "version");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"\",\"peers\":[" PEER("a", TOK) "]}]}",
                   "room");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[]}]}", "room");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[" PEER("a", TOK) "]},"
                   "{\"name\":\"r\",\"peers\":[" PEER("b", TOK2) "]}]}", "room");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[" PEER("a b", TOK) "]}]}",
                   "peer id");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[" PEER("a", TOK) ","
                   PEER("a", TOK2) "]}]}", "peer id");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[" PEER("a", "short")
                   "]}]}", "resume token");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[" PEER("a", TOK) ","
                   PEER("b", TOK) "]}]}", "resume token");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[{\"id\":\"a\",\"resume\":\""
                   TOK "\",\"away_until\":\"soon\",\"queue\":[]}]}]}", "away_until");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[{\"id\":\"a\",\"resume\":\""
                   TOK "\",\"away_until\":1,\"queue\":[1,2,3,4,5]}]}]}", "queue");
    expect_refused("{\"version\":1,\"rooms\":[{\"name\":\"r\",\"peers\":[{\"id\":\"a\",\"resume\":\""
                   TOK "\",\"away_until\":1,\"queue\":[{\"text\":\"x\",\"from\":\"b c\","
                   "\"ref\":null}]}]}]}", "queue");
}

static void test_no_resume_no_rooms(void **state)
{
    (void)state;
    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    cfg.resume_seconds = 0;
    fx_t *a = fx_new_cfg(&cfg);
    fx_conn_t *c = fx_open(a);
    fx_join(a, c, "room");
    size_t len;
    char *text = sig_hub_export(a->h, a->now, &len);
    assert_string_equal(text, "{\"version\":1,\"rooms\":[]}");
    cmn_free(text);
    fx_teardown((void **)&a);
}

/* The fuzz target's hub seed (tests/fuzz/gen_upgrade_seeds.py) imports. */
static void test_seed_imports(void **state)
{
    (void)state;
    const char *src = getenv("ICEHUB_SRCDIR") ? getenv("ICEHUB_SRCDIR") : ".";
    char path[512], buf[4096];
    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/upgrade_state/hub", src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    sig_cfg_t cfg;
    fx_default_cfg(&cfg);
    fx_t *b = fx_new_cfg(&cfg);
    const char *why = NULL;
    if (sig_hub_import(b->h, buf + 1, n - 1, b->now, &why) != 0)
        fail_msg("refused: %s", why);
    fx_teardown((void **)&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_move_and_resume, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unresumed_peer_times_out, fx_setup, fx_teardown),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_no_resume_no_rooms),
        cmocka_unit_test(test_seed_imports),
    };
    return cmocka_run_group_tests_name("test_sig_state", tests, NULL, NULL);
}
