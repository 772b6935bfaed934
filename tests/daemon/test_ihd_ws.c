/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ihd_ws.c: daemon/ihd_ws.c: the hub's settings from a configuration
 * snapshot (signal.*, the TURN ports, the TURN secret the hub mints with:
 * turn.secrets[0], the process's own when TURN uses it, none otherwise;
 * the process's token key when signal.token_secret is empty). The glue
 * itself runs against real WebSocket clients in
 * tests/integration/test_signal*.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/ihd_ws.c"

/* The glue's calls into the Redis thread's files (ihd_fed.c, ihd_redis.c),
 * which this test does not link: only ihd_ws_cfg runs here. */
int ihd_fed_request(ihd_redis_t *r, const struct sig_fed_req_s *q)
{
    (void)r;
    (void)q;
    return CMN_EAGAIN;
}

void ihd_fed_input(ihd_redis_t *r, struct sig_hub_s *hub, double now)
{
    (void)r;
    (void)hub;
    (void)now;
}

void ihd_redis_set_wake(ihd_redis_t *r, void (*wake)(void *arg), void *arg)
{
    (void)r;
    (void)wake;
    (void)arg;
}

bool ihd_redis_up(const ihd_redis_t *r)
{
    (void)r;
    return false;
}

static void load(ihd_cfg_t *cfg, const char *const *flags, size_t n)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    cmn_config_src_t src = {.flags = flags, .nflags = n};
    assert_int_equal(cmn_config_load(&cfg->s, &src, err, sizeof(err)), 0);
}

static void test_cfg_from_settings(void **state)
{
    (void)state;
    ihd_server_t srv;
    memset(&srv, 0, sizeof(srv));
    snprintf(srv.auto_secret, sizeof(srv.auto_secret), "ts");
    snprintf(srv.token_key, sizeof(srv.token_key), "fallback");
    ihd_cfg_t cfg;
    const char *flags[] = {"signal.token_secret=abc", "signal.api_keys=k1,k2",
                           "signal.allowed_origins=*", "tls.cert=/etc/hostname",
                           "tls.key=/etc/hostname", "turn.tls_listen=0.0.0.0:5350"};
    load(&cfg, flags, CMN_ARRAY_LEN(flags));
    cfg.turn.nsecrets = 1; /* TURN accepts the process's own secret */
    sig_cfg_t c;
    ihd_ws_cfg(&cfg, &srv, &c);
    assert_true(c.enabled);
    assert_string_equal(c.token_secret, "abc");
    assert_string_equal(c.turn_secret, "ts");
    assert_int_equal(c.api_keys.n, 2);
    assert_string_equal(c.api_keys.v[1], "k2");
    assert_int_equal(c.turn_port, 3478);
    assert_int_equal(c.turns_port, 5350);
    assert_int_equal(c.max_message, 65536);
    assert_int_equal(c.send_queue, 1 << 20);
    assert_int_equal(c.credential_ttl, 3600);
    sig_cfg_t d;
    sig_cfg_copy(&d, &c);
    sig_cfg_dispose(&c);
    assert_string_equal(d.allowed_origins.v[0], "*");
    sig_cfg_dispose(&d);
    cmn_config_dispose(&cfg.s);

    load(&cfg, NULL, 0);
    ihd_ws_cfg(&cfg, &srv, &c);
    assert_string_equal(c.token_secret, "fallback");
    assert_string_equal(c.turn_secret, ""); /* TURN takes no secret */
    assert_int_equal(c.turns_port, 0);      /* no tls.cert */
    sig_cfg_dispose(&c);
    cmn_config_dispose(&cfg.s);

    const char *secrets[] = {"turn.secrets=first,second"};
    load(&cfg, secrets, 1);
    cfg.turn.nsecrets = 2;
    ihd_ws_cfg(&cfg, &srv, &c);
    assert_string_equal(c.turn_secret, "first");
    sig_cfg_dispose(&c);
    cmn_config_dispose(&cfg.s);
}

/* With redis.url the hub federates under the node's name. */
static void test_cfg_cluster(void **state)
{
    (void)state;
    ihd_server_t srv;
    memset(&srv, 0, sizeof(srv));
    snprintf(srv.node_id, sizeof(srv.node_id), "edge-1");
    ihd_cfg_t cfg;
    sig_cfg_t c;
    load(&cfg, NULL, 0);
    ihd_ws_cfg(&cfg, &srv, &c);
    assert_string_equal(c.node, ""); /* no redis.url: one node */
    assert_int_equal(c.ice_servers_max, 3);
    sig_cfg_dispose(&c);
    cmn_config_dispose(&cfg.s);
    const char *flags[] = {"redis.url=redis://127.0.0.1:6379", "redis.timeout=3",
                           "redis.heartbeat=2", "redis.node_ttl=7",
                           "signal.ice_servers_max=5"};
    load(&cfg, flags, CMN_ARRAY_LEN(flags));
    ihd_ws_cfg(&cfg, &srv, &c);
    assert_string_equal(c.node, "edge-1");
    assert_int_equal(c.fed_timeout, 3);
    assert_int_equal(c.fed_heartbeat, 2);
    assert_int_equal(c.fed_node_ttl, 7);
    assert_int_equal(c.ice_servers_max, 5);
    sig_cfg_dispose(&c);
    cmn_config_dispose(&cfg.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_from_settings),
        cmocka_unit_test(test_cfg_cluster),
    };
    cmn_log_set_level(CMN_LOG_ERROR);
    return cmocka_run_group_tests_name("test_ihd_ws", tests, NULL, NULL);
}
