/* icehub - SPDX-License-Identifier: MIT
 *
 * test_cmn_config_hint.c: the configuration's words for people
 * (common/cmn_config_hint.c) and the source labels the loader keeps: the
 * type of every setting in words, the hints after libconfig syntax errors
 * (unquoted string, address or size, in a scalar and in a list, in an
 * @include'd file) and after a quoted number or boolean, and the warnings
 * for values the daemon will not use as given, each naming where the value
 * came from.
 */
#include "tests/common/config_fixture.h"

static const cmn_cfg_def_t *def_of(const char *name)
{
    size_t n;
    const cmn_cfg_def_t *d = cmn_config_schema(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(d[i].name, name))
            return &d[i];
    fail_msg("no setting %s", name);
    return NULL;
}

static void test_type_text(void **state)
{
    (void)state;
    struct {
        const char *name, *want;
    } cases[] = {
        {"turn.enabled", "boolean"},
        {"turn.threads", "integer 0..256"},
        {"turn.realm", "string, 1..127 bytes"},
        {"turn.listen", "address list"},
        {"turn.users", "list of NAME:PASSWORD"},
        {"turn.relay_ip", "IP or empty"},
        {"turn.relay_ports", "port range LOW-HIGH"},
        {"turn.denied_peers", "prefix list"},
        {"turn.external_ip", "list of PUBLIC or PUBLIC/PRIVATE, or auto"},
        {"tls.cert", "file path"},
        {"signal.api_keys", "string list"},
        {"log.level", "one of error, warn, info, debug"},
        {"quota.allocation_bps", "rate (bit/s) 0..1T"},
        {"quota.allocation_burst", "size (bytes) 0..1Ti"},
        {"quota.floor_bps", "rate (bit/s) 1k..1T"},
        {"quota.user_bytes", "size (bytes)"},
        {"quota.period", "one of day, month"},
        {"quota.users", "list of PATTERN=RATE"},
        {"cost.egress_per_gb", "decimal 0..1000000"},
    };
    char buf[160];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(cmn_config_type_text(def_of(cases[i].name), buf, sizeof(buf)),
                            cases[i].want);
    /* Every setting has words, and a short buffer is cut, not overrun. */
    size_t n;
    const cmn_cfg_def_t *d = cmn_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(cmn_config_type_text(&d[i], buf, sizeof(buf))) > 3);
        char tiny[9];
        assert_true(strlen(cmn_config_type_text(&d[i], tiny, sizeof(tiny))) < sizeof(tiny));
    }
}

static void test_syntax_hints(void **state)
{
    (void)state;
    file_fails("quota = {\n  allocation_bps = 2M;\n};\n",
               "2: syntax error; hint: a size with a suffix is a string: write "
               "allocation_bps = \"2M\";");
    file_fails("quota = { total_bps = 1.5Gi; };\n",
               "1: syntax error; hint: a size with a suffix is a string: write "
               "total_bps = \"1.5Gi\";");
    file_fails("turn = {\n  realm = example.com;  # the realm\n};\n",
               "2: syntax error; hint: strings, addresses and words go in double quotes: write "
               "realm = \"example.com\";");
    file_fails("turn = { realm = \"a:b\"; listen = 127.0.0.1:3478; };\n",
               "1: syntax error; hint: strings, addresses and words go in double quotes: write "
               "listen = \"127.0.0.1:3478\";");
    file_fails("turn = {\n  listen = [\"[::1]:3478\", 0.0.0.0:3478];\n};\n",
               "2: mismatched element type in array; hint: strings, addresses and words go in "
               "double quotes, in a list too: quote each item, as in listen = "
               "[\"0.0.0.0:3478\"];");
    file_fails("turn = {\n  listen = [0.0.0.0:3478];\n};\n",
               "2: syntax error; hint: strings, addresses and words go in double quotes, in a "
               "list too: quote each item, as in listen = [\"0.0.0.0:3478\"];");
    file_fails("log : { level : warn; };\n",
               "1: syntax error; hint: strings, addresses and words go in double quotes: write "
               "level = \"warn\";");
    /* No guess where the line shows none of these slips. */
    file_fails("turn = {\n  threads = 1;\n  realm = ;\n};\n", "3: syntax error");
    file_fails("turn = { = 3; };\n", "1: syntax error");
    file_fails("turn = {\n  realm = \"unterminated;\n};\n", "4: syntax error");
}

/* The hint reads the line from the file libconfig names: an @include'd one. */
static void test_syntax_hint_in_include(void **state)
{
    (void)state;
    char dir[] = "/tmp/icehub-test-inc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char main_path[256], inc_path[256], err[ERR_MAX], want[ERR_MAX];
    dir_file(dir, "main.conf", "log = { level = \"info\"; };\n@include \"quota.conf\"\n",
             main_path, sizeof(main_path));
    dir_file(dir, "quota.conf", "\nquota = { floor_bps = 64k; };\n", inc_path, sizeof(inc_path));
    cmn_settings_t s;
    assert_int_equal(load(&s, main_path, NULL, NULL, err), CMN_EINVAL);
    snprintf(want, sizeof(want),
             "%s:2: syntax error; hint: a size with a suffix is a string: write "
             "floor_bps = \"64k\";",
             inc_path);
    assert_string_equal(err, want);
    unlink(main_path);
    unlink(inc_path);
    rmdir(dir);
}

static void test_quoted_values(void **state)
{
    (void)state;
    file_fails("turn = { max_channels = \"100\"; };\n",
               "1: turn.max_channels: expected an integer in 1..16384, found \"100\" (a quoted "
               "value is a string in the file: write max_channels = 100; without quotes)");
    file_fails("ledger = { rotate_daily = \"off\"; };\n",
               "1: ledger.rotate_daily: expected true or false, found \"off\" (a quoted value is "
               "a string in the file: write rotate_daily = false; without quotes)");
    /* A quoted value that would be wrong without its quotes too: no hint. */
    file_fails("turn = { threads = \"abc\"; };\n",
               "1: turn.threads: expected an integer in 0..256, found \"abc\"");
    file_fails("turn = { threads = \"999\"; };\n",
               "1: turn.threads: expected an integer in 0..256, found \"999\"");
    file_fails("turn = { gso = \"maybe\"; };\n",
               "1: turn.gso: expected true or false, found \"maybe\"");
    /* Where quotes belong they stay fine. */
    cmn_settings_t s;
    file_ok("quota = { allocation_bps = \"2M\"; };\n", &s);
    assert_true(s.quota.allocation_bps == 2000000);
    cmn_config_dispose(&s);
}

static void test_sources(void **state)
{
    (void)state;
    char *path = tmp_file("turn = {\n  realm = \"file.example\";\n  threads = 2;\n};\n");
    char *env[] = {"ICEHUB_TURN_THREADS=3", NULL};
    const char *flags[] = {"log.level=debug", NULL};
    cmn_settings_t s;
    char err[ERR_MAX], want[ERR_MAX];
    assert_int_equal(load(&s, path, env, flags, err), 0);
    snprintf(want, sizeof(want), "%s:2: turn.realm", path);
    assert_string_equal(cmn_config_source(&s, "turn.realm"), want);
    assert_string_equal(cmn_config_source(&s, "turn.threads"), "ICEHUB_TURN_THREADS");
    assert_string_equal(cmn_config_source(&s, "log.level"), "--log.level");
    assert_string_equal(cmn_config_source(&s, "turn.gso"), "turn.gso (default)");
    assert_string_equal(cmn_config_source(&s, "no.such"), "no.such");
    cmn_config_dispose(&s);
    /* Disposed (or never loaded): the name itself. */
    assert_string_equal(cmn_config_source(&s, "turn.realm"), "turn.realm");
    rm_file(path);
}

typedef struct warns_s {
    char msg[4][1024];
    int n;
} warns_t;

static void on_warn(void *ud, const char *msg)
{
    warns_t *w = ud;
    if (w->n < 4)
        snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
    w->n++;
}

/* Load <flags> (NULL-terminated) and collect the warnings. */
static void warnings_of(const char *const *flags, char *const *env, warns_t *w)
{
    size_t n = 0;
    while (flags[n])
        n++;
    memset(w, 0, sizeof(*w));
    cmn_config_src_t src = {.env = env, .flags = flags, .nflags = n, .warn = on_warn,
                            .warn_ud = w};
    cmn_settings_t s;
    char err[ERR_MAX];
    if (cmn_config_load(&s, &src, err, sizeof(err)) < 0)
        fail_msg("load failed: %s", err);
    cmn_config_dispose(&s);
}

static void test_warnings(void **state)
{
    (void)state;
    warns_t w;
    const char *burst[] = {"quota.allocation_burst=1000", NULL};
    warnings_of(burst, NULL, &w);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "--quota.allocation_burst: 1000 bytes is below the smallest "
                                  "burst, 4096; icehubd uses 4096 (0 picks one second of the "
                                  "rate, at least 64 KiB)");
    const char *burst_ok[] = {"quota.allocation_burst=4096", NULL};
    warnings_of(burst_ok, NULL, &w);
    assert_int_equal(w.n, 0);
    const char *burst_auto[] = {"quota.allocation_burst=0", NULL};
    warnings_of(burst_auto, NULL, &w);
    assert_int_equal(w.n, 0);

    const char *none[] = {NULL};
    char *no_http[] = {"ICEHUB_HTTP_ENABLED=false", NULL};
    warnings_of(none, no_http, &w);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "ICEHUB_HTTP_ENABLED: http.enabled is false, so the signaling "
                                  "hub (signal.enabled) is not served: nothing answers /ws or "
                                  "its REST endpoints; set signal.enabled = false to run "
                                  "without it");
    const char *no_hub[] = {"http.enabled=false", "signal.enabled=false", NULL};
    warnings_of(no_hub, NULL, &w);
    assert_int_equal(w.n, 0);
    const char *no_admin[] = {"http.enabled=false", "signal.enabled=false", "admin.enabled=true",
                              NULL};
    warnings_of(no_admin, NULL, &w);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "--admin.enabled: admin.enabled is true but http.enabled is "
                                  "false, so the admin API and the dashboard are not served");
    const char *idle[] = {"signal.ping_interval=30", "signal.idle_timeout=30", NULL};
    warnings_of(idle, NULL, &w);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "--signal.idle_timeout: 30 s is not above "
                                  "signal.ping_interval (30 s), so a quiet WebSocket is closed "
                                  "before a ping can keep it open");
    const char *idle_ok[] = {"signal.ping_interval=30", "signal.idle_timeout=31", NULL};
    warnings_of(idle_ok, NULL, &w);
    assert_int_equal(w.n, 0);
    const char *no_cert[] = {"http.tls_listen=127.0.0.1:8443", NULL};
    warnings_of(no_cert, NULL, &w);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "--http.tls_listen: no HTTPS/WSS listener starts without "
                                  "tls.cert and tls.key");
    /* The defaults warn about nothing; a failed load warns about nothing. */
    warnings_of(none, NULL, &w);
    assert_int_equal(w.n, 0);
    const char *bad[] = {"quota.allocation_burst=1000", "turn.threads=x", NULL};
    memset(&w, 0, sizeof(w));
    cmn_config_src_t src = {.flags = bad, .nflags = 2, .warn = on_warn, .warn_ud = &w};
    cmn_settings_t s;
    char err[ERR_MAX];
    assert_int_equal(cmn_config_load(&s, &src, err, sizeof(err)), CMN_EINVAL);
    assert_int_equal(w.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_text),
        cmocka_unit_test(test_syntax_hints),
        cmocka_unit_test(test_syntax_hint_in_include),
        cmocka_unit_test(test_quoted_values),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
