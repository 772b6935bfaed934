/* icehub - SPDX-License-Identifier: MIT
 *
 * test_cmn_config.c: the configuration loader (common/cmn_config.c and
 * common/cmn_config_schema.c): defaults, the file, environment and flag
 * sources and their precedence, every type's bad inputs with the exact
 * message, unknown names, cross-setting checks, printing, and a drift test
 * that ties the schema to deploy/icehub.conf and docs/configuration.md.
 * The size, decimal, one-of and rate-map types are in
 * test_cmn_config_types.c; shared helpers in config_fixture.h.
 *
 * Files are found relative to $ICEHUB_SRCDIR (default "."; make test runs
 * from the repository root). Temporary files come from mkstemp/mkdtemp.
 */
#include "tests/common/config_fixture.h"

/* ---- Defaults -------------------------------------------------------- */

static void check_defaults(const cmn_settings_t *s)
{
    assert_true(s->turn.enabled);
    assert_int_equal(s->turn.listen.n, 1);
    assert_string_equal(addr_text(&s->turn.listen.v[0]), "0.0.0.0:3478");
    assert_int_equal(s->turn.tls_listen.n, 1);
    assert_string_equal(addr_text(&s->turn.tls_listen.v[0]), "0.0.0.0:5349");
    assert_string_equal(s->turn.realm, "icehub");
    assert_int_equal(s->turn.users.n, 0);
    assert_int_equal(s->turn.secrets.n, 0);
    assert_int_equal(s->turn.relay_ip.family, 0);
    assert_int_equal(s->turn.external_ip.n, 0);
    assert_int_equal(s->turn.relay_port_min, 49152);
    assert_int_equal(s->turn.relay_port_max, 65535);
    assert_int_equal(s->turn.allowed_peers.n, 0);
    assert_int_equal(s->turn.denied_peers.n, 0);
    assert_int_equal(s->turn.threads, 0);
    assert_string_equal(s->turn.software, "icehub");
    assert_int_equal(s->turn.tcp_idle_timeout, 60);
    assert_int_equal(s->turn.max_tcp_connections, 10000);
    assert_int_equal(s->turn.max_lifetime, 3600);
    assert_int_equal(s->turn.max_allocations, 10000);
    assert_int_equal(s->turn.max_allocations_per_user, 100);
    assert_int_equal(s->turn.max_allocations_per_ip, 200);
    assert_int_equal(s->turn.max_permissions, 64);
    assert_int_equal(s->turn.max_channels, 64);
    assert_int_equal(s->turn.nonce_lifetime, 600);
    assert_int_equal(s->turn.unauth_rate, 100);
    assert_true(s->turn.gso);
    assert_true(s->http.enabled);
    assert_int_equal(s->http.listen.n, 1);
    assert_string_equal(addr_text(&s->http.listen.v[0]), "127.0.0.1:8080");
    assert_int_equal(s->http.tls_listen.n, 0);
    assert_string_equal(s->tls.cert, "");
    assert_string_equal(s->tls.key, "");
    assert_int_equal(s->log.level, CMN_LOG_INFO);
    /* ledger.*, metrics.* */
    assert_string_equal(s->ledger.path, "");
    assert_int_equal(s->ledger.interval, 60);
    assert_true(s->ledger.max_bytes == 0);
    assert_false(s->ledger.rotate_daily);
    assert_int_equal(s->metrics.top_users, 10);
    assert_true(s->signal.enabled);
    assert_string_equal(s->signal.public_host, "");
    assert_int_equal(s->signal.api_keys.n, 0);
    assert_int_equal(s->signal.credential_ttl, 3600);
    assert_int_equal(s->signal.allowed_origins.n, 0);
    assert_false(s->signal.require_token);
    assert_false(s->signal.open);
    assert_string_equal(s->signal.token_secret, "");
    assert_int_equal(s->signal.max_message, 65536);
    assert_int_equal(s->signal.rate, 50);
    assert_int_equal(s->signal.burst, 200);
    assert_int_equal(s->signal.max_room_peers, 50);
    assert_int_equal(s->signal.max_rooms, 10000);
    assert_int_equal(s->signal.max_connections_per_ip, 100);
    assert_int_equal(s->signal.ping_interval, 20);
    assert_int_equal(s->signal.idle_timeout, 60);
    assert_int_equal(s->signal.resume_seconds, 30);
    assert_int_equal(s->signal.resume_queue, 256);
    assert_int_equal(s->signal.drain_delay, 5);
}

static void test_defaults(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    assert_int_equal(cmn_config_load(&s, NULL, err, sizeof(err)), 0);
    check_defaults(&s);
    cmn_config_dispose(&s);
    assert_true(all_zero(&s, sizeof(s)));
    cmn_config_dispose(&s); /* a disposed struct disposes again harmlessly */

    /* Empty sources are the defaults too; <err> may be NULL. */
    char *env[] = {NULL};
    cmn_config_src_t src = {.env = env};
    assert_int_equal(cmn_config_load(&s, &src, NULL, 0), 0);
    check_defaults(&s);
    cmn_config_dispose(&s);
}

static void test_schema_table(void **state)
{
    (void)state;
    size_t n;
    const cmn_cfg_def_t *d = cmn_config_schema(&n);
    /* Every setting needs docs and a sample entry (checked below by the drift
     * tests); the count only guards against a schema that lost rows. */
    assert_true(n >= 45);
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(d[i].name, '.');
        assert_non_null(dot);
        assert_null(strchr(dot + 1, '.'));
        assert_non_null(d[i].def);
        assert_true(d[i].doc && strlen(d[i].doc) > 10);
        assert_true(d[i].offset < sizeof(cmn_settings_t));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(d[i].name, d[j].name);
        if (d[i].type == CMN_CFG_INT)
            assert_true(d[i].min <= d[i].max);
    }
    char buf[64];
    assert_string_equal(cmn_config_env_name("turn.relay_ports", buf, sizeof(buf)),
                        "ICEHUB_TURN_RELAY_PORTS");
    assert_string_equal(cmn_config_env_name("log.level", buf, sizeof(buf)), "ICEHUB_LOG_LEVEL");
    assert_string_equal(cmn_config_env_name("turn.relay_ports", buf, 10), "ICEHUB_TU");
}

/* ---- The file -------------------------------------------------------- */

static void test_file_all_types(void **state)
{
    (void)state;
    cmn_settings_t s;
    char *cert = tmp_file("cert"), *key = tmp_file("key");
    char body[2048];
    snprintf(body, sizeof(body),
             "# comment\n"
             "turn = {\n"
             "  enabled = false;\n"
             "  listen = [\"127.0.0.1:3478\", \"[::1]:3479\"];\n"
             "  tls_listen = (\"[::]:5349\");\n"
             "  realm = \"example.org\";\n"
             "  users = [\"alice:pa:ss,word\", \"bob:x\"];\n"
             "  secrets = \"s1, s2\";\n"
             "  relay_ip = \"::ffff:10.0.0.5\";\n"
             "  external_ip = [\"203.0.113.7/10.0.0.5\", \"2001:db8::7\"];\n"
             "  relay_ports = \"40000-40099\";\n"
             "  allowed_peers = [\"10.1.0.0/16\"];\n"
             "  denied_peers = [\"10.0.0.0/8\", \"::1\", \"fe80::/10\"];\n"
             "  threads = 4L;\n"
             "  software = \"\";\n"
             "  tcp_idle_timeout = 86400;\n"
             "  max_tcp_connections = 1;\n"
             "};\n"
             "http = { enabled = false; listen = []; };\n"
             "tls = { cert = \"%s\"; key = \"%s\"; };\n"
             "log = { level = \"DEBUG\"; };\n",
             cert, key);
    file_ok(body, &s);
    assert_false(s.turn.enabled);
    assert_int_equal(s.turn.listen.n, 2);
    assert_string_equal(addr_text(&s.turn.listen.v[1]), "[::1]:3479");
    assert_string_equal(addr_text(&s.turn.tls_listen.v[0]), "[::]:5349");
    assert_string_equal(s.turn.realm, "example.org");
    assert_int_equal(s.turn.users.n, 2);
    assert_string_equal(s.turn.users.v[0], "alice:pa:ss,word"); /* verbatim in a file list */
    assert_int_equal(s.turn.secrets.n, 2);
    assert_string_equal(s.turn.secrets.v[1], "s2"); /* a single string is comma-split */
    assert_int_equal(s.turn.relay_ip.family, CMN_AF_INET); /* canonical */
    assert_int_equal(s.turn.external_ip.n, 2);
    assert_string_equal(s.turn.external_ip.v[0], "203.0.113.7/10.0.0.5");
    assert_string_equal(s.turn.external_ip.v[1], "2001:db8::7");
    assert_int_equal(s.turn.relay_port_min, 40000);
    assert_int_equal(s.turn.relay_port_max, 40099);
    assert_int_equal(s.turn.allowed_peers.n, 1);
    assert_int_equal(s.turn.denied_peers.n, 3);
    assert_int_equal(s.turn.threads, 4);
    assert_string_equal(s.turn.software, "");
    assert_int_equal(s.turn.tcp_idle_timeout, 86400);
    assert_int_equal(s.turn.max_tcp_connections, 1);
    assert_false(s.http.enabled);
    assert_int_equal(s.http.listen.n, 0);
    assert_string_equal(s.tls.cert, cert);
    assert_string_equal(s.tls.key, key);
    assert_int_equal(s.log.level, CMN_LOG_DEBUG);
    cmn_config_dispose(&s);
    rm_file(cert);
    rm_file(key);
}

static void test_file_partial_and_semicolon(void **state)
{
    (void)state;
    cmn_settings_t s;
    /* Unset settings keep their defaults; libconfig accepts a missing ';'. */
    file_ok("turn = {\n  threads = 8\n  realm = \"r\"\n};\n", &s);
    assert_int_equal(s.turn.threads, 8);
    assert_string_equal(s.turn.realm, "r");
    assert_int_equal(s.turn.relay_port_min, 49152);
    cmn_config_dispose(&s);
    file_ok("", &s);
    check_defaults(&s);
    cmn_config_dispose(&s);
    file_ok("log = {};\n", &s);
    check_defaults(&s);
    cmn_config_dispose(&s);
}

static void test_file_bad_types(void **state)
{
    (void)state;
    file_fails("turn = {\n  threads = \"4\";\n};\n",
               "2: turn.threads: expected an integer in 0..256, found \"4\" (a quoted value "
               "is a string in the file: write threads = 4; without quotes)");
    file_fails("turn = {\n\n  threads = 300;\n};\n",
               "3: turn.threads: expected an integer in 0..256, found 300");
    file_fails("turn = { threads = -1; };\n",
               "1: turn.threads: expected an integer in 0..256, found -1");
    file_fails("turn = { threads = 1.5; };\n",
               "1: turn.threads: expected an integer in 0..256, found 1.5");
    file_fails("turn = { threads = 5000000000L; };\n",
               "1: turn.threads: expected an integer in 0..256, found 5000000000L");
    file_fails("turn = { tcp_idle_timeout = 0; };\n",
               "1: turn.tcp_idle_timeout: expected an integer in 1..86400, found 0");
    file_fails("turn = { enabled = \"yes\"; };\n",
               "1: turn.enabled: expected true or false, found \"yes\" (a quoted value is a "
               "string in the file: write enabled = true; without quotes)");
    file_fails("http = { enabled = 1; };\n",
               "1: http.enabled: expected true or false, found 1");
    file_fails("turn = {\n  relay_ports = \"9-3\";\n};\n",
               "2: turn.relay_ports: expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535, "
               "found \"9-3\"");
    file_fails("turn = { relay_ports = 5000; };\n",
               "1: turn.relay_ports: expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535, "
               "found 5000");
    file_fails("turn = { realm = 5; };\n",
               "1: turn.realm: expected a string of 1..127 bytes without control characters, "
               "found 5");
    file_fails("turn = { realm = \"a\\tb\"; };\n",
               "1: turn.realm: expected a string of 1..127 bytes without control characters, "
               "found \"a\\x09b\"");
    file_fails("log = { level = 3; };\n",
               "1: log.level: expected one of error, warn, info, debug, found 3");
    file_fails("log = { level = [\"info\"]; };\n",
               "1: log.level: expected one of error, warn, info, debug, found a list");
    file_fails("tls = { cert = true; };\n",
               "1: tls.cert: expected a file path without control characters, found true");
    file_fails("turn = { relay_ip = \"0.0.0.0\"; };\n",
               "1: turn.relay_ip: expected a specific IP address (not 0.0.0.0 or ::) or \"\" "
               "(automatic), found \"0.0.0.0\"");
    file_fails("turn = { listen = 3478; };\n",
               "1: turn.listen: expected a list of strings or a string, found 3478");
    file_fails("turn = { listen = { a = 1; }; };\n",
               "1: turn.listen: expected a list of strings or a string, found a group");
}

static void test_file_bad_list_elements(void **state)
{
    (void)state;
    /* The line is the setting's; the found value names the element. */
    file_fails("turn = {\n  listen = [\n    \"1.2.3.4:5\",\n    \"example.com:3478\"\n  ];\n};\n",
               "2: turn.listen: expected an address \"IP:PORT\" or \"[IPv6]:PORT\", "
               "found \"example.com:3478\"");
    file_fails("turn = {\n  listen = (\"1.2.3.4:5\",\n  7);\n};\n",
               "2: turn.listen: expected a string, found 7");
    file_fails("turn = { listen = [\"1.2.3.4:5\", \"1.2.3.4:5\"]; };\n",
               "1: turn.listen: expected each address once, found \"1.2.3.4:5\"");
    file_fails("turn = { denied_peers = \"10.0.0.0/8,banana\"; };\n",
               "1: turn.denied_peers: expected an address or prefix \"IP\" or \"IP/LEN\", "
               "found \"banana\"");
    file_fails("turn = { users = [\"alice:secretpw\", \"alice:other\"]; };\n",
               "1: turn.users: expected unique user names, found \"alice:***\"");
    file_fails("turn = { secrets = [\"a\", \"\"]; };\n",
               "1: turn.secrets: expected a non-empty string, found \"\"");
}

static void test_file_unknown_names(void **state)
{
    (void)state;
    file_fails("turn = {\n  threads = 1;\n  foo = 1;\n};\n", "3: unknown setting \"turn.foo\"");
    file_fails("turn = { threads = 1; };\n\nfoo = {\n  bar = 1;\n};\n",
               "3: unknown section \"foo\"");
    file_fails("threads = 1;\n", "1: unknown setting \"threads\"");
    file_fails("turn = 1;\n", "1: turn: expected a group (turn = { ... };), found 1");
    file_fails("turn = { turn = { threads = 1; }; };\n", "1: unknown setting \"turn.turn\"");
}

static void test_file_syntax_errors(void **state)
{
    (void)state;
    file_fails("turn = {\n  threads = 1;\n  realm = ;\n};\n", "3: syntax error");
    file_fails("turn = {\n  threads = 1;\n  threads = 2;\n};\n", "3: duplicate setting name");
    /* libconfig reports a string left open where the file ends. */
    file_fails("turn = {\n  realm = \"unterminated;\n};\n", "4: syntax error");
}

static void test_file_unreadable(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    assert_int_equal(load(&s, "/nonexistent/icehub.conf", NULL, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "/nonexistent/icehub.conf: No such file or directory");
    assert_int_equal(load(&s, "/tmp", NULL, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "/tmp: Is a directory");
}

static void test_file_include(void **state)
{
    (void)state;
    char dir[] = "/tmp/icehub-test-inc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char main_path[256], part_path[256], err[ERR_MAX], want[ERR_MAX];
    dir_file(dir, "main.conf", "turn = { threads = 3; };\n@include \"part.conf\"\n", main_path,
             sizeof(main_path));
    dir_file(dir, "part.conf", "log = {\n  level = \"warn\";\n};\n", part_path,
             sizeof(part_path));

    /* The working directory is not <dir>: the include is relative to the
     * including file. */
    cmn_settings_t s;
    assert_int_equal(load(&s, main_path, NULL, NULL, err), 0);
    assert_int_equal(s.turn.threads, 3);
    assert_int_equal(s.log.level, CMN_LOG_WARN);
    cmn_config_dispose(&s);

    /* An error inside the included file names that file and its line. */
    dir_file(dir, "part.conf", "log = {\n  level = \"loud\";\n};\n", part_path,
             sizeof(part_path));
    assert_int_equal(load(&s, main_path, NULL, NULL, err), CMN_EINVAL);
    snprintf(want, sizeof(want),
             "%s:2: log.level: expected one of error, warn, info, debug, found \"loud\"",
             part_path);
    assert_string_equal(err, want);

    unlink(part_path);
    assert_int_equal(load(&s, main_path, NULL, NULL, err), CMN_EINVAL);
    snprintf(want, sizeof(want), "%s:2: cannot open include file", main_path);
    assert_string_equal(err, want);
    unlink(main_path);
    rmdir(dir);
}

/* ---- Flags and environment ------------------------------------------ */

static void test_flags_bad_values(void **state)
{
    (void)state;
    const char *int_msg = "--turn.threads: expected an integer in 0..256, found ";
    static const char *const bad_ints[] = {"abc", " 4", "4 ", "4x", "0x10", "", "257", "-1",
                                           "+4", "99999999999999999999", "4.0"};
    char want[ERR_MAX], flag[64];
    for (size_t i = 0; i < CMN_ARRAY_LEN(bad_ints); i++) {
        snprintf(flag, sizeof(flag), "turn.threads=%s", bad_ints[i]);
        snprintf(want, sizeof(want), "%s\"%s\"", int_msg, bad_ints[i]);
        flag_fails(flag, want);
    }
    flag_fails("turn.enabled=maybe", "--turn.enabled: expected one of true, false, yes, no, "
                                     "on, off, 1, 0, found \"maybe\"");
    flag_fails("turn.enabled=", "--turn.enabled: expected one of true, false, yes, no, "
                                "on, off, 1, 0, found \"\"");
    flag_fails("turn.relay_ports=0-5", "--turn.relay_ports: expected \"LOW-HIGH\" with "
                                       "1 <= LOW <= HIGH <= 65535, found \"0-5\"");
    flag_fails("turn.relay_ports=1-65536", "--turn.relay_ports: expected \"LOW-HIGH\" with "
                                           "1 <= LOW <= HIGH <= 65535, found \"1-65536\"");
    flag_fails("turn.relay_ports=5000", "--turn.relay_ports: expected \"LOW-HIGH\" with "
                                        "1 <= LOW <= HIGH <= 65535, found \"5000\"");
    flag_fails("turn.relay_ports=a-b", "--turn.relay_ports: expected \"LOW-HIGH\" with "
                                       "1 <= LOW <= HIGH <= 65535, found \"a-b\"");
    flag_fails("turn.relay_ports=5000-5000",
               "--turn.relay_ports: expected a range of at least 2 ports \"LOW-HIGH\", "
               "found \"5000-5000\"");
    flag_fails("turn.realm=", "--turn.realm: expected a string of 1..127 bytes without "
                              "control characters, found \"\"");
    flag_fails("turn.relay_ip=1.2.3.4:5", "--turn.relay_ip: expected an IP address or \"\" "
                                          "(automatic), found \"1.2.3.4:5\"");
    flag_fails("turn.relay_ip=::", "--turn.relay_ip: expected a specific IP address (not "
                                   "0.0.0.0 or ::) or \"\" (automatic), found \"::\"");
    flag_fails("log.level=loud",
               "--log.level: expected one of error, warn, info, debug, found \"loud\"");
    flag_fails("turn.listen=1.2.3.4", "--turn.listen: expected an address \"IP:PORT\" or "
                                      "\"[IPv6]:PORT\", found \"1.2.3.4\"");
    flag_fails("http.listen=[::1]:70000", "--http.listen: expected an address \"IP:PORT\" or "
                                          "\"[IPv6]:PORT\", found \"[::1]:70000\"");
    flag_fails("turn.allowed_peers=10.0.0.0/33", "--turn.allowed_peers: expected an address "
                                                 "or prefix \"IP\" or \"IP/LEN\", found "
                                                 "\"10.0.0.0/33\"");
    flag_fails("turn.external_ip=1.2.3.4/::1", "--turn.external_ip: expected \"PUBLIC-IP/"
                                               "PRIVATE-IP\" of one address family, found "
                                               "\"1.2.3.4/::1\"");
    flag_fails("turn.external_ip=1.2.3.4/", "--turn.external_ip: expected \"PUBLIC-IP\", "
                                            "\"PUBLIC-IP/PRIVATE-IP\" or \"auto\", found "
                                            "\"1.2.3.4/\"");
    flag_fails("turn.external_ip=0.0.0.0", "--turn.external_ip: expected a specific IP address "
                                           "(not 0.0.0.0 or ::) or \"\" (automatic), found "
                                           "\"0.0.0.0\"");
    flag_fails("turn.software=a\nb", "--turn.software: expected a string of 0..127 bytes "
                                     "without control characters, found \"a\\x0ab\"");
    flag_fails("turn.threads", "--turn.threads: expected \"--turn.threads=VALUE\", "
                               "found no value");
}

static void test_flags_user_entries(void **state)
{
    (void)state;
    const char *exp = "--turn.users: expected \"NAME:PASSWORD\" with a non-empty NAME and "
                      "PASSWORD, found ";
    char want[ERR_MAX];
    snprintf(want, sizeof(want), "%san entry without ':'", exp);
    flag_fails("turn.users=alicesecret", want);
    snprintf(want, sizeof(want), "%s\":***\"", exp);
    flag_fails("turn.users=:secret", want);
    snprintf(want, sizeof(want), "%s\"alice:***\"", exp);
    flag_fails("turn.users=alice:", want);
    flag_fails("turn.users=alice:secret1, alice:secret2",
               "--turn.users: expected unique user names, found \"alice:***\"");

    /* A password never reaches a message. */
    cmn_settings_t s;
    char err[ERR_MAX];
    const char *flags[] = {"turn.users=bob:hunter2,alice:hunter3,bob:hunter4", NULL};
    assert_int_equal(load(&s, NULL, NULL, flags, err), CMN_EINVAL);
    assert_null(strstr(err, "hunter"));

    flag_ok("turn.users=alice:pa:ss", &s);
    assert_int_equal(s.turn.users.n, 1);
    assert_string_equal(s.turn.users.v[0], "alice:pa:ss");
    cmn_config_dispose(&s);
}

static void test_flags_bools(void **state)
{
    (void)state;
    static const char *const on[] = {"true", "TRUE", "yes", "Yes", "on", "1"};
    static const char *const off[] = {"false", "False", "no", "NO", "off", "0"};
    char flag[64];
    cmn_settings_t s;
    for (size_t i = 0; i < CMN_ARRAY_LEN(on); i++) {
        snprintf(flag, sizeof(flag), "http.enabled=%s", off[i]);
        flag_ok(flag, &s);
        assert_false(s.http.enabled);
        cmn_config_dispose(&s);
        char flag2[64], err[ERR_MAX];
        snprintf(flag2, sizeof(flag2), "--http.enabled=%s", on[i]);
        const char *both[] = {flag, flag2, NULL};
        assert_int_equal(load(&s, NULL, NULL, both, err), 0);
        assert_true(s.http.enabled); /* the later flag wins */
        cmn_config_dispose(&s);
    }
    /* A bare boolean flag means true. */
    const char *flags[] = {"turn.enabled=false", "--turn.enabled", NULL};
    char err[ERR_MAX];
    assert_int_equal(load(&s, NULL, NULL, flags, err), 0);
    assert_true(s.turn.enabled);
    cmn_config_dispose(&s);
}

static void test_flags_lists(void **state)
{
    (void)state;
    cmn_settings_t s;
    flag_ok("turn.listen= 1.2.3.4:5, [::1]:6 ,\t7.8.9.10:11 ", &s);
    assert_int_equal(s.turn.listen.n, 3);
    assert_string_equal(addr_text(&s.turn.listen.v[0]), "1.2.3.4:5");
    assert_string_equal(addr_text(&s.turn.listen.v[1]), "[::1]:6");
    assert_string_equal(addr_text(&s.turn.listen.v[2]), "7.8.9.10:11");
    cmn_config_dispose(&s);

    flag_ok("turn.denied_peers=", &s);
    assert_int_equal(s.turn.denied_peers.n, 0);
    cmn_config_dispose(&s);
    flag_ok("turn.denied_peers=  ", &s);
    assert_int_equal(s.turn.denied_peers.n, 0);
    cmn_config_dispose(&s);
    flag_ok("turn.denied_peers=127.0.0.0/8,::1,10.1.2.3/8", &s);
    assert_int_equal(s.turn.denied_peers.n, 3);
    cmn_addr_t a;
    assert_int_equal(cmn_addr_parse_ip(&a, "::ffff:10.9.9.9"), 0);
    assert_true(cmn_cidrset_contains(&s.turn.denied_peers, &a));
    cmn_config_dispose(&s);

    flag_fails("turn.secrets=a,,b", "--turn.secrets: expected a non-empty string, found \"\"");
    flag_fails("turn.secrets=a,", "--turn.secrets: expected a non-empty string, found \"\"");
    flag_fails("turn.secrets=,a", "--turn.secrets: expected a non-empty string, found \"\"");
    flag_fails("turn.listen=1.2.3.4:5,", "--turn.listen: expected an address \"IP:PORT\" or "
                                         "\"[IPv6]:PORT\", found \"\"");
}

static void test_unknown_flags_and_env(void **state)
{
    (void)state;
    flag_fails("foo.bar=1", "--foo.bar: unknown setting \"foo.bar\"");
    flag_fails("turn.foo=1", "--turn.foo: unknown setting \"turn.foo\"");
    flag_fails("turn=1", "--turn: unknown setting \"turn\"");
    flag_fails("--turn.Threads=1", "--turn.Threads: unknown setting \"turn.Threads\"");
    /* A message stays one line whatever the name holds (found by fuzz_config). */
    flag_fails("turn.x\ny=1", "--turn.x\\x0ay: unknown setting \"turn.x\\x0ay\"");

    cmn_settings_t s;
    char err[ERR_MAX];
    /* Variables outside the settings' namespaces are someone else's. */
    char *env_ok[] = {"ICEHUB_SRCDIR=/x", "ICEHUB_FOO=1", "ICEHUB=1", "ICEHUB_NOEQUALS",
                      "HOME=/root", "icehub_turn_threads=9", "ICEHUB_TURN_THREADSX", NULL};
    assert_int_equal(load(&s, NULL, env_ok, NULL, err), 0);
    check_defaults(&s);
    cmn_config_dispose(&s);
    /* ...but a typo inside a section's namespace is an error. */
    char *env_bad[] = {"ICEHUB_TURN_RELAYPORTS=1-2", NULL};
    assert_int_equal(load(&s, NULL, env_bad, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_TURN_RELAYPORTS: unknown setting \"turn.relayports\"");
    char *env_bad2[] = {"ICEHUB_LOG_FILE=/x", NULL};
    assert_int_equal(load(&s, NULL, env_bad2, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_LOG_FILE: unknown setting \"log.file\"");
    char *env_bad3[] = {"ICEHUB_TURN_A\tB=1", NULL};
    assert_int_equal(load(&s, NULL, env_bad3, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_TURN_A\\x09B: unknown setting \"turn.a\\x09b\"");
}

static void test_env_values(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    char *env[] = {"PATH=/bin", "ICEHUB_TURN_RELAY_PORTS=40000-40001",
                   "ICEHUB_TURN_LISTEN=1.2.3.4:5,[::1]:6", "ICEHUB_LOG_LEVEL=warning",
                   "ICEHUB_HTTP_ENABLED=off", "ICEHUB_TURN_SECRETS=", NULL};
    assert_int_equal(load(&s, NULL, env, NULL, err), 0);
    assert_int_equal(s.turn.relay_port_min, 40000);
    assert_int_equal(s.turn.relay_port_max, 40001);
    assert_int_equal(s.turn.listen.n, 2);
    assert_int_equal(s.log.level, CMN_LOG_WARN);
    assert_false(s.http.enabled);
    assert_int_equal(s.turn.secrets.n, 0);
    cmn_config_dispose(&s);

    char *bad[] = {"ICEHUB_LOG_LEVEL=loud", NULL};
    assert_int_equal(load(&s, NULL, bad, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_LOG_LEVEL: expected one of error, warn, info, debug, "
                             "found \"loud\"");
    char *bad2[] = {"ICEHUB_TURN_THREADS=abc", NULL};
    assert_int_equal(load(&s, NULL, bad2, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_TURN_THREADS: expected an integer in 0..256, "
                             "found \"abc\"");
}

static void test_precedence(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    char *path = tmp_file("turn = {\n  realm = \"file\";\n  threads = 1;\n"
                          "  listen = [\"1.1.1.1:1\", \"2.2.2.2:2\"];\n  software = \"f\";\n};\n");
    char *env[] = {"ICEHUB_TURN_REALM=env", "ICEHUB_TURN_THREADS=2",
                   "ICEHUB_TURN_LISTEN=3.3.3.3:3", NULL};
    const char *flags[] = {"turn.realm=flag", NULL};

    assert_int_equal(load(&s, path, env, flags, err), 0);
    assert_string_equal(s.turn.realm, "flag");   /* flag > env */
    assert_int_equal(s.turn.threads, 2);         /* env > file */
    assert_int_equal(s.turn.listen.n, 1);        /* lists are replaced, not merged */
    assert_string_equal(addr_text(&s.turn.listen.v[0]), "3.3.3.3:3");
    assert_string_equal(s.turn.software, "f");   /* file > default */
    assert_int_equal(s.turn.tcp_idle_timeout, 60);
    cmn_config_dispose(&s);

    assert_int_equal(load(&s, path, env, NULL, err), 0);
    assert_string_equal(s.turn.realm, "env");
    cmn_config_dispose(&s);
    assert_int_equal(load(&s, path, NULL, NULL, err), 0);
    assert_string_equal(s.turn.realm, "file");
    assert_int_equal(s.turn.listen.n, 2);
    cmn_config_dispose(&s);

    /* A bad value is an error even when a higher source overrides it. */
    char *env_bad[] = {"ICEHUB_TURN_THREADS=lots", NULL};
    const char *flags_fix[] = {"turn.threads=3", NULL};
    assert_int_equal(load(&s, path, env_bad, flags_fix, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_TURN_THREADS: expected an integer in 0..256, "
                             "found \"lots\"");
    rm_file(path);
}

/* ---- Checks across settings ----------------------------------------- */

static void test_tls_pair(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX], want[ERR_MAX], fc[300], fk[300];
    char *cert = tmp_file("c"), *key = tmp_file("k");
    snprintf(fc, sizeof(fc), "tls.cert=%s", cert);
    snprintf(fk, sizeof(fk), "tls.key=%s", key);

    flag_fails(fk, "--tls.key: a TLS key needs tls.cert as well");
    flag_fails(fc, "--tls.cert: a TLS certificate needs tls.key as well");
    char *env[] = {"ICEHUB_TLS_KEY=/x", NULL};
    assert_int_equal(load(&s, NULL, env, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_TLS_KEY: a TLS key needs tls.cert as well");

    const char *both[] = {fc, fk, NULL};
    assert_int_equal(load(&s, NULL, NULL, both, err), 0);
    assert_string_equal(s.tls.cert, cert);
    cmn_config_dispose(&s);

    const char *missing[] = {"tls.cert=/nonexistent/cert.pem", fk, NULL};
    assert_int_equal(load(&s, NULL, NULL, missing, err), CMN_EINVAL);
    assert_string_equal(err, "--tls.cert: expected a readable file, found "
                             "\"/nonexistent/cert.pem\" (No such file or directory)");
    const char *dir[] = {fc, "tls.key=/tmp", NULL};
    assert_int_equal(load(&s, NULL, NULL, dir, err), CMN_EINVAL);
    assert_string_equal(err, "--tls.key: expected a readable file, found \"/tmp\" "
                             "(Is a directory)");

    /* The file's line is kept for checks made after loading. */
    char body[700];
    snprintf(body, sizeof(body), "tls = {\n  cert = \"%s\";\n  key = \"/nonexistent/k\";\n};\n",
             cert);
    char *path = tmp_file(body);
    assert_int_equal(load(&s, path, NULL, NULL, err), CMN_EINVAL);
    snprintf(want, sizeof(want), "%s:3: tls.key: expected a readable file, found "
             "\"/nonexistent/k\" (No such file or directory)", path);
    assert_string_equal(err, want);
    rm_file(path);
    rm_file(cert);
    rm_file(key);
}

static void test_listen_required(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    flag_fails("turn.listen=", "--turn.listen: expected at least one address while "
                               "turn.enabled is true (or turn.tls_listen with tls.cert), "
                               "found an empty list");
    flag_fails("http.listen=", "--http.listen: expected at least one address while "
                               "http.enabled is true, found an empty list");
    const char *off[] = {"turn.listen=", "turn.enabled=no", "http.listen=", "http.enabled=0",
                         NULL};
    assert_int_equal(load(&s, NULL, NULL, off, err), 0);
    cmn_config_dispose(&s);

    /* TLS alone is enough for TURN. */
    char *cert = tmp_file("c"), *key = tmp_file("k");
    char fc[300], fk[300];
    snprintf(fc, sizeof(fc), "tls.cert=%s", cert);
    snprintf(fk, sizeof(fk), "tls.key=%s", key);
    const char *tls_only[] = {"turn.listen=", fc, fk, NULL};
    assert_int_equal(load(&s, NULL, NULL, tls_only, err), 0);
    cmn_config_dispose(&s);
    const char *nothing[] = {"turn.listen=", "turn.tls_listen=", fc, fk, NULL};
    assert_int_equal(load(&s, NULL, NULL, nothing, err), CMN_EINVAL);
    rm_file(cert);
    rm_file(key);
}

/* The admin API off loopback needs a token; the token is never printed. */
static void test_admin_token_required(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    const char *any[] = {"admin.enabled=true", "http.listen=0.0.0.0:8080", NULL};
    assert_int_equal(load(&s, NULL, NULL, any, err), CMN_EINVAL);
    assert_string_equal(err, "--admin.enabled: the admin API on a non-loopback address "
                             "(http.listen 0.0.0.0:8080) needs admin.token, found an empty "
                             "token");
    /* The default http.listen is loopback: the API needs no token there. */
    flag_ok("admin.enabled=true", &s);
    cmn_config_dispose(&s);
    const char *v6[] = {"admin.enabled=true", "http.listen=127.0.0.1:8080,[2001:db8::1]:8080",
                        NULL};
    assert_int_equal(load(&s, NULL, NULL, v6, err), CMN_EINVAL);
    assert_non_null(strstr(err, "[2001:db8::1]:8080"));
    const char *lo[] = {"admin.enabled=true", "http.listen=127.0.0.1:8080,[::1]:8080", NULL};
    assert_int_equal(load(&s, NULL, NULL, lo, err), 0);
    assert_true(s.admin.enabled);
    assert_string_equal(s.admin.token, "");
    cmn_config_dispose(&s);
    const char *tok[] = {"admin.enabled=true", "admin.token=0123456789abcdef", NULL};
    assert_int_equal(load(&s, NULL, NULL, tok, err), 0);
    assert_string_equal(s.admin.token, "0123456789abcdef");
    char *out = print_str(&s);
    assert_null(strstr(out, "0123456789abcdef"));
    assert_non_null(strstr(out, "token = \"***\";"));
    free(out);
    cmn_config_dispose(&s);
    /* HTTP off: nothing is exposed, no token needed. */
    const char *off[] = {"admin.enabled=true", "http.enabled=false", NULL};
    assert_int_equal(load(&s, NULL, NULL, off, err), 0);
    cmn_config_dispose(&s);
    flag_fails("admin.token=short", "--admin.token: expected at least 16 characters, found 5");
    /* metrics.listen: extra listeners, never one of http.listen's. */
    const char *ml[] = {"metrics.listen=127.0.0.1:9464,[::1]:9464", NULL};
    assert_int_equal(load(&s, NULL, NULL, ml, err), 0);
    assert_int_equal(s.metrics.listen.n, 2);
    cmn_config_dispose(&s);
    flag_fails("metrics.listen=127.0.0.1:8080",
               "--metrics.listen: expected addresses that are not in http.listen, found "
               "127.0.0.1:8080");
}

/* A hub other hosts can reach needs room tokens, an Origin allow-list or
 * an explicit signal.open; loopback needs nothing. */
#define OPEN_HUB(addr)                                                                  \
    "the signaling hub on " addr " would give TURN credentials to anyone who can open a " \
    "WebSocket; set signal.require_token = true (room tokens from your backend) or "      \
    "signal.allowed_origins (your web app's origins), or signal.open = true to serve it " \
    "open on purpose"

static void test_open_hub_refused(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    flag_fails("http.listen=0.0.0.0:8080", "--http.listen: " OPEN_HUB("0.0.0.0:8080"));
    char *env[] = {"ICEHUB_HTTP_LISTEN=127.0.0.1:80,[2001:db8::1]:80", NULL};
    assert_int_equal(load(&s, NULL, env, NULL, err), CMN_EINVAL);
    assert_string_equal(err, "ICEHUB_HTTP_LISTEN: " OPEN_HUB("[2001:db8::1]:80"));
    /* In the file: the line of http.listen. */
    file_fails("http = {\n  enabled = true;\n  listen = [\"10.1.2.3:8080\"];\n};\n",
               "3: http.listen: " OPEN_HUB("10.1.2.3:8080"));
    /* Each way out. */
    const char *ok[][3] = {
        {"http.listen=0.0.0.0:8080", "signal.require_token=true", NULL},
        {"http.listen=0.0.0.0:8080", "signal.allowed_origins=https://app.example.com", NULL},
        {"http.listen=0.0.0.0:8080", "signal.open=true", NULL},
        {"http.listen=0.0.0.0:8080", "signal.enabled=false", NULL},
        {"http.listen=127.0.0.1:8080,[::1]:8080", NULL, NULL},
        {"http.listen=0.0.0.0:8080", "http.enabled=false", NULL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (load(&s, NULL, NULL, ok[i], err) != 0)
            fail_msg("%s %s: %s", ok[i][0], ok[i][1] ? ok[i][1] : "", err);
        cmn_config_dispose(&s);
    }
}

/* turn.external_ip = "auto": alone, and only with servers to ask. */
static void test_external_ip_auto(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX];
    const char *ok[] = {"turn.external_ip=auto",
                        "turn.external_ip_servers=192.0.2.10:3478,[2001:db8::1]:3478", NULL};
    assert_int_equal(load(&s, NULL, NULL, ok, err), 0);
    assert_int_equal(s.turn.external_ip.n, 1);
    assert_string_equal(s.turn.external_ip.v[0], CMN_EXTIP_AUTO);
    assert_int_equal(s.turn.external_ip_servers.n, 2);
    cmn_config_dispose(&s);
    flag_fails("turn.external_ip=auto",
               "--turn.external_ip: \"auto\" needs turn.external_ip_servers, found an empty "
               "list");
    flag_fails("turn.external_ip=auto,203.0.113.7",
               "--turn.external_ip: expected \"auto\" alone, or addresses without \"auto\", "
               "found \"203.0.113.7\"");
    flag_fails("turn.external_ip=203.0.113.7,auto",
               "--turn.external_ip: expected \"auto\" alone, or addresses without \"auto\", "
               "found \"auto\"");
    flag_fails("turn.external_ip_servers=stun.example.com:3478",
               "--turn.external_ip_servers: expected an address \"IP:PORT\" or "
               "\"[IPv6]:PORT\", found \"stun.example.com:3478\"");
}

/* admin.token_file: the first line is the token; the rules of admin.token
 * apply to it, and it never shows in --print-config. */
static void test_admin_token_file(void **state)
{
    (void)state;
    cmn_settings_t s;
    char err[ERR_MAX], flag[600];
    char *path = tmp_file("0123456789abcdef-from-file\nsecond line ignored\n");
    snprintf(flag, sizeof(flag), "admin.token_file=%s", path);
    const char *ok[] = {flag, "admin.enabled=true", NULL};
    assert_int_equal(load(&s, NULL, NULL, ok, err), 0);
    assert_string_equal(s.admin.token, "0123456789abcdef-from-file");
    char *out = print_str(&s);
    assert_null(strstr(out, "from-file\""));
    free(out);
    cmn_config_dispose(&s);
    const char *both[] = {flag, "admin.token=0123456789abcdef", NULL};
    assert_int_equal(load(&s, NULL, NULL, both, err), CMN_EINVAL);
    assert_string_equal(err, "--admin.token_file: expected admin.token or admin.token_file, "
                             "found both");
    rm_file(path);
    path = tmp_file("short\r\n");
    snprintf(flag, sizeof(flag), "admin.token_file=%s", path);
    const char *shortf[] = {flag, NULL};
    assert_int_equal(load(&s, NULL, NULL, shortf, err), CMN_EINVAL);
    assert_string_equal(err, "--admin.token_file: expected at least 16 characters, found 5");
    rm_file(path);
    path = tmp_file("\nthe token is not on the first line\n");
    snprintf(flag, sizeof(flag), "admin.token_file=%s", path);
    const char *empty[] = {flag, NULL};
    assert_int_equal(load(&s, NULL, NULL, empty, err), CMN_EINVAL);
    assert_string_equal(err, "--admin.token_file: expected a file whose first line is a token "
                             "of 1..256 printable bytes, found an empty first line");
    rm_file(path);
    const char *missing[] = {"admin.token_file=/nonexistent/admin.token", NULL};
    assert_int_equal(load(&s, NULL, NULL, missing, err), CMN_EINVAL);
    assert_non_null(strstr(err, "--admin.token_file: expected a readable file"));
}

static void test_never_half_configured(void **state)
{
    (void)state;
    /* Lists and strings are allocated by the time the last flag fails;
     * load() asserts the result is all zero and ASan checks for leaks. */
    cmn_settings_t s;
    char err[ERR_MAX];
    char *path = tmp_file("turn = { users = [\"a:b\"]; denied_peers = [\"10.0.0.0/8\"];"
                          " realm = \"x\"; external_ip = [\"1.2.3.4\"]; };\n");
    char *env[] = {"ICEHUB_TURN_SECRETS=s1,s2", "ICEHUB_HTTP_LISTEN=1.2.3.4:80", NULL};
    const char *flags[] = {"turn.listen=1.2.3.4:5", "log.level=nope", NULL};
    memset(&s, 0xa5, sizeof(s)); /* garbage in <out> is overwritten, not freed */
    assert_int_equal(load(&s, path, env, flags, err), CMN_EINVAL);
    assert_string_equal(err, "--log.level: expected one of error, warn, info, debug, "
                             "found \"nope\"");
    cmn_config_dispose(&s);
    rm_file(path);

    /* A small error buffer is filled as far as it goes. */
    const char *bad[] = {"turn.threads=x", NULL};
    cmn_config_src_t src = {.flags = bad, .nflags = 1};
    char small[8];
    assert_int_equal(cmn_config_load(&s, &src, small, sizeof(small)), CMN_EINVAL);
    assert_string_equal(small, "--turn.");
    assert_int_equal(cmn_config_load(&s, &src, NULL, 0), CMN_EINVAL);
}

/* ---- Printing -------------------------------------------------------- */

static void test_print_masks_and_reloads(void **state)
{
    (void)state;
    cmn_settings_t s, t;
    char err[ERR_MAX];
    const char *flags[] = {"turn.users=alice:hunter2,bob:pw:with:colons",
                           "turn.secrets=topsecret1,topsecret2",
                           "turn.realm=we \"quote\" \\ here",
                           "turn.denied_peers=10.1.2.3/8,::ffff:127.0.0.1,fe80::/10",
                           "turn.relay_ip=2001:db8::1", "log.level=debug", NULL};
    assert_int_equal(load(&s, NULL, NULL, flags, err), 0);
    char *out = print_str(&s);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "topsecret"));
    assert_null(strstr(out, "with:colons"));
    assert_non_null(strstr(out, "users = [ \"alice:***\", \"bob:***\" ];"));
    assert_non_null(strstr(out, "secrets = [ \"***\", \"***\" ];"));
    assert_non_null(strstr(out, "denied_peers = [ \"10.0.0.0/8\", \"127.0.0.1/32\", "
                                "\"fe80::/10\" ];"));
    assert_non_null(strstr(out, "realm = \"we \\\"quote\\\" \\\\ here\";"));
    assert_non_null(strstr(out, "relay_ip = \"2001:db8::1\";"));

    /* The printed text is a valid file that loads to the same settings
     * (apart from the masked credentials, which are dropped here). */
    cmn_config_dispose(&s);
    const char *flags2[] = {"turn.realm=we \"quote\" \\ here",
                            "turn.denied_peers=10.1.2.3/8,::ffff:127.0.0.1,fe80::/10",
                            "turn.relay_ip=2001:db8::1", "log.level=debug", NULL};
    assert_int_equal(load(&s, NULL, NULL, flags2, err), 0);
    free(out);
    out = print_str(&s);
    char *path = tmp_file(out);
    assert_int_equal(load(&t, path, NULL, NULL, err), 0);
    char *again = print_str(&t);
    assert_string_equal(out, again);
    rm_file(path);
    free(out);
    free(again);
    cmn_config_dispose(&s);
    cmn_config_dispose(&t);

    /* A user name with a quote or a control byte is escaped like any
     * string, so the printed file still loads (found by fuzz_config). */
    const char *flags3[] = {"turn.users=a\"b:pw,c\x01" "d:pw", NULL};
    assert_int_equal(load(&s, NULL, NULL, flags3, err), 0);
    out = print_str(&s);
    assert_non_null(strstr(out, "users = [ \"a\\\"b:***\", \"c\\x01d:***\" ];"));
    path = tmp_file(out);
    assert_int_equal(load(&t, path, NULL, NULL, err), 0);
    assert_string_equal(t.turn.users.v[0], "a\"b:***");
    rm_file(path);
    free(out);
    cmn_config_dispose(&s);
    cmn_config_dispose(&t);
}

static void test_drift_docs_and_sample(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/configuration.md", srcdir());
    char *docs = read_all(path);
    snprintf(path, sizeof(path), "%s/deploy/icehub.conf", srcdir());

    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, path))
        fail_msg("%s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
    size_t n;
    const cmn_cfg_def_t *d = cmn_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        char want[128], env[96];
        snprintf(want, sizeof(want), "`%s`", d[i].name);
        if (!strstr(docs, want))
            fail_msg("docs/configuration.md does not document %s", d[i].name);
        snprintf(want, sizeof(want), "`%s`", cmn_config_env_name(d[i].name, env, sizeof(env)));
        if (!strstr(docs, want))
            fail_msg("docs/configuration.md lacks the variable %s", want);
        snprintf(want, sizeof(want), "`--%s=", d[i].name);
        if (!strstr(docs, want))
            fail_msg("docs/configuration.md lacks the flag form %s...`", want);
        /* The key sits inside its section (a libconfig path lookup). */
        if (!config_lookup(&cfg, d[i].name))
            fail_msg("deploy/icehub.conf lacks %s", d[i].name);
    }
    config_destroy(&cfg);
    free(docs);

    /* The sample loads to exactly the defaults. */
    cmn_settings_t def, sample;
    char err[ERR_MAX];
    assert_int_equal(load(&def, NULL, NULL, NULL, err), 0);
    if (load(&sample, path, NULL, NULL, err) != 0)
        fail_msg("deploy/icehub.conf: %s", err);
    char *a = print_str(&def), *b = print_str(&sample);
    assert_string_equal(a, b);
    check_defaults(&sample);
    free(a);
    free(b);
    cmn_config_dispose(&def);
    cmn_config_dispose(&sample);
}

/* Each setting's table row in the docs states its reloadability. */
static void test_drift_docs_reloadable(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/configuration.md", srcdir());
    char *docs = read_all(path);
    size_t n;
    const cmn_cfg_def_t *d = cmn_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        char head[128];
        snprintf(head, sizeof(head), "| `%s` |", d[i].name);
        const char *row = strstr(docs, head);
        if (!row)
            fail_msg("docs/configuration.md has no table row for %s", d[i].name);
        const char *eol = strchr(row, '\n');
        assert_non_null(eol);
        const char *want = d[i].reloadable ? "| yes |" : "| no |";
        size_t wl = strlen(want), rl = (size_t)(eol - row);
        if (rl < wl || memcmp(eol - wl, want, wl) != 0)
            fail_msg("docs row for %s should end with \"%s\"", d[i].name, want);
    }
    free(docs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_schema_table),
        cmocka_unit_test(test_external_ip_auto),
        cmocka_unit_test(test_admin_token_file),
        cmocka_unit_test(test_file_all_types),
        cmocka_unit_test(test_file_partial_and_semicolon),
        cmocka_unit_test(test_file_bad_types),
        cmocka_unit_test(test_file_bad_list_elements),
        cmocka_unit_test(test_file_unknown_names),
        cmocka_unit_test(test_file_syntax_errors),
        cmocka_unit_test(test_file_unreadable),
        cmocka_unit_test(test_file_include),
        cmocka_unit_test(test_flags_bad_values),
        cmocka_unit_test(test_flags_user_entries),
        cmocka_unit_test(test_flags_bools),
        cmocka_unit_test(test_flags_lists),
        cmocka_unit_test(test_unknown_flags_and_env),
        cmocka_unit_test(test_env_values),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_tls_pair),
        cmocka_unit_test(test_listen_required),
        cmocka_unit_test(test_admin_token_required),
        cmocka_unit_test(test_open_hub_refused),
        cmocka_unit_test(test_never_half_configured),
        cmocka_unit_test(test_print_masks_and_reloads),
        cmocka_unit_test(test_drift_docs_and_sample),
        cmocka_unit_test(test_drift_docs_reloadable),
    };
    return cmocka_run_group_tests_name("test_cmn_config", tests, NULL, NULL);
}
