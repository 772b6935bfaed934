/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_modules.c: ice/ice_modules.c: serve's built-in modules, a
 * libconfig modules file that redefines one and adds others (strings,
 * numbers and booleans for option values), errors with file:line, and the
 * options of one scrape (target, --pair for call, the scrape timeout).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "ice/ice_int.h"

static char path[64];
static char err[1024];

static const char *write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/ice-modules-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_builtin(void **state)
{
    (void)state;
    ice_modules_t m;
    assert_int_equal(ice_modules_load(&m, NULL, err, sizeof(err)), 0);
    assert_int_equal(m.n, 3);
    assert_int_equal(ice_modules_find(&m, "call")->opts.cmd, ICE_CMD_CALL);
    assert_null(ice_modules_find(&m, "nope"));
    ice_opts_t o;
    assert_int_equal(ice_module_opts(ice_modules_find(&m, "call"), "ws://h:8080/ws", 10, &o, err,
                                     sizeof(err)),
                     0);
    assert_true(o.pair);
    assert_string_equal(o.signal, "ws://h:8080/ws");
    assert_true(o.timeout == 5);
    ice_opts_dispose(&o);
    /* turn needs credentials: the built-in module has none. */
    assert_int_equal(ice_module_opts(ice_modules_find(&m, "turn"), "h", 0, &o, err, sizeof(err)),
                     CMN_EINVAL);
    assert_non_null(strstr(err, "credentials"));
    assert_int_equal(ice_module_opts(ice_modules_find(&m, "stun"), "", 0, &o, err, sizeof(err)),
                     CMN_EINVAL);
    ice_modules_dispose(&m);
}

static void test_file(void **state)
{
    (void)state;
    ice_modules_t m;
    write_file("# probe modules\n"
               "modules = {\n"
               "  turn = { user = \"u\"; pass = \"p\"; count = 50; rate = 25.5;\n"
               "           max_loss = \"2%\"; max_rtt = 0.25; timeout = \"3s\"; };\n"
               "  turn_tcp = { command = \"turn\"; transport = \"tcp\"; secret = \"s\"; ttl = 60; };\n"
               "  relay = { command = \"call\"; relay_only = true; duration = 1.5; room = \"x\"; };\n"
               "};\n");
    int rc = ice_modules_load(&m, path, err, sizeof(err));
    unlink(path);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(m.n, 5);
    const ice_opts_t *t = &ice_modules_find(&m, "turn")->opts;
    assert_int_equal(t->count, 50);
    assert_true(t->rate == 25.5);
    assert_true(t->lim.max_loss == 0.02);
    assert_true(t->lim.max_rtt == 0.25);
    assert_true(t->timeout == 3);
    assert_int_equal(ice_modules_find(&m, "turn_tcp")->opts.transport, ICE_TP_TCP);
    assert_true(ice_modules_find(&m, "relay")->opts.relay_only);
    ice_opts_t o;
    assert_int_equal(ice_module_opts(ice_modules_find(&m, "turn"), "turn:127.0.0.1:3478", 2.5,
                                     &o, err, sizeof(err)),
                     0);
    assert_int_equal(o.ntargets, 1);
    assert_true(o.timeout == 2.0); /* 80% of the scrape's 2.5 s */
    ice_opts_dispose(&o);
    ice_modules_dispose(&m);
}

static void bad_file(const char *text, const char *msg_part)
{
    ice_modules_t m;
    write_file(text);
    int rc = ice_modules_load(&m, path, err, sizeof(err));
    unlink(path);
    assert_int_equal(rc, CMN_EINVAL);
    if (!strstr(err, msg_part) || strncmp(err, path, strlen(path)) != 0)
        fail_msg("\"%s\" does not say \"%s\"", err, msg_part);
}

static void test_file_errors(void **state)
{
    (void)state;
    bad_file("modules = {\n  a = { command = \"ping\"; };\n};\n",
             ":2: modules.a.command: expected \"stun\", \"turn\" or \"call\", found \"ping\"");
    bad_file("modules = {\n  turn = {\n    count = 0;\n  };\n};\n",
             ":3: modules.turn.count: expected a number from 1 to 1000000, found \"0\"");
    bad_file("modules = { stun = { user = \"u\"; }; };\n",
             ":1: modules.stun.user: not a setting of a stun check");
    bad_file("modules = { stun = { count = [1]; }; };\n", "expected a string, number or boolean");
    bad_file("modules = { stun = 5; };\n", "a module is a group");
    bad_file("other = 1;\n", "expected only a group");
    bad_file("modules = { stun = { count = 3 }\n", ":2: syntax error");
    ice_modules_t m;
    assert_int_equal(ice_modules_load(&m, "/nonexistent/modules.conf", err, sizeof(err)),
                     CMN_EINVAL);
    assert_string_equal(err, "/nonexistent/modules.conf: cannot read the file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests_name("ice_modules", tests, NULL, NULL);
}
