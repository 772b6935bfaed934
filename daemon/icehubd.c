/* icehub - SPDX-License-Identifier: MIT
 *
 * icehubd.c: the daemon's entry point. Parses the command line, loads and
 * validates the configuration, starts the services (relay workers for
 * STUN/TURN, the control-plane HTTP thread), then waits for signals:
 * SIGTERM drains (/readyz turns 503 at once, WebSocket peers get a
 * going-away close after signal.drain_delay) and stops, SIGINT stops
 * cleanly, SIGHUP reloads the configuration (validated first; on error the
 * running configuration stays).
 *
 * This is glue: it owns no protocol logic.
 */
#include "ihd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"

extern char **environ;

#define EXIT_CONFIG 2

typedef struct ihd_args_s {
    const char *config;        /* --config FILE, or NULL */
    const char **flags;        /* "section.key=value" (owned array, borrowed strings) */
    size_t nflags;
    bool check_only;
    bool print_config;
} ihd_args_t;

/* Returns 0 to run, 1 to exit 0 (help/version), or EXIT_CONFIG. */
static int parse_args(int argc, char **argv, ihd_args_t *a)
{
    a->flags = cmn_calloc((size_t)argc, sizeof(*a->flags));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            ihd_cli_usage(stdout);
            return 1;
        }
        if (!strcmp(s, "-V") || !strcmp(s, "--version")) {
            printf("icehubd %s\n", ICEHUB_VERSION);
            return 1;
        }
        if (!strcmp(s, "--check-config")) {
            a->check_only = true;
        } else if (!strcmp(s, "--print-config")) {
            a->print_config = true;
        } else if (!strcmp(s, "-c") || !strcmp(s, "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "icehubd: %s: expected a file name\n", s);
                return EXIT_CONFIG;
            }
            a->config = argv[++i];
        } else if (!strncmp(s, "--config=", 9)) {
            a->config = s + 9;
        } else if (!strncmp(s, "--", 2) && strchr(s, '.')) {
            char hint[512];
            if (ihd_cli_flag_hint(s, i + 1 < argc ? argv[i + 1] : NULL, hint,
                                  sizeof(hint)) == 0) {
                fprintf(stderr, "icehubd: %s\n", hint);
                return EXIT_CONFIG;
            }
            a->flags[a->nflags++] = s + 2;
        } else {
            fprintf(stderr, "icehubd: unknown option \"%s\" (try --help)\n", s);
            return EXIT_CONFIG;
        }
    }
    return 0;
}

static void config_warn(void *ud, const char *msg)
{
    (void)ud;
    cmn_warn("config", "%s", msg);
}

static ihd_cfg_t *load_cfg(const ihd_args_t *a, uint64_t gen, const ihd_server_t *srv,
                           char *err, size_t errlen)
{
    ihd_cfg_t *cfg = cmn_calloc(1, sizeof(*cfg));
    cmn_config_src_t src = {.file = a->config, .env = environ, .flags = a->flags,
                            .nflags = a->nflags, .warn = config_warn};
    if (cmn_config_load(&cfg->s, &src, err, errlen) < 0) {
        cmn_free(cfg);
        return NULL;
    }
    ihd_extip_apply(srv->extip, &cfg->s);
    cfg->gen = gen;
    cfg->binding.software = cfg->s.turn.software;
    cfg->auto_secret = srv->auto_secret;
    if (ihd_turncfg_build(cfg, srv->nonce_key, err, errlen) < 0) {
        ihd_turncfg_dispose(cfg);
        cmn_config_dispose(&cfg->s);
        cmn_free(cfg);
        return NULL;
    }
    return cfg;
}

static void free_cfg(ihd_cfg_t *cfg)
{
    if (!cfg)
        return;
    ihd_turncfg_dispose(cfg);
    cmn_config_dispose(&cfg->s);
    cmn_free(cfg);
}

static bool addrlist_equal(const cmn_addrlist_t *x, const cmn_addrlist_t *y)
{
    if (x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++)
        if (!cmn_addr_equal(&x->v[i], &y->v[i]))
            return false;
    return true;
}

static bool str_eq(const char *x, const char *y)
{
    return !strcmp(x ? x : "", y ? y : "");
}

/* Settings that need a restart: say so instead of silently ignoring them. */
static void warn_restart_needed(const cmn_settings_t *o, const cmn_settings_t *n)
{
    struct {
        bool changed;
        const char *name;
    } checks[] = {
        {o->turn.enabled != n->turn.enabled, "turn.enabled"},
        {!addrlist_equal(&o->turn.listen, &n->turn.listen), "turn.listen"},
        {!addrlist_equal(&o->turn.tls_listen, &n->turn.tls_listen), "turn.tls_listen"},
        {o->turn.threads != n->turn.threads, "turn.threads"},
        {o->http.enabled != n->http.enabled, "http.enabled"},
        {!addrlist_equal(&o->http.listen, &n->http.listen), "http.listen"},
        {!addrlist_equal(&o->http.tls_listen, &n->http.tls_listen), "http.tls_listen"},
        {!str_eq(o->tls.cert, n->tls.cert) || !str_eq(o->tls.key, n->tls.key), "tls.cert/tls.key"},
        {!str_eq(o->ledger.path, n->ledger.path), "ledger.path"},
        {!addrlist_equal(&o->metrics.listen, &n->metrics.listen), "metrics.listen"},
    };
    for (size_t i = 0; i < CMN_ARRAY_LEN(checks); i++)
        if (checks[i].changed)
            cmn_warn("config", "%s changed; it takes effect after a restart", checks[i].name);
}

/* Publish a new snapshot, then free the old one once every worker and the
 * HTTP thread have moved to the new one (workers refresh at least every
 * 250 ms, the HTTP thread between two lws_service calls; the pokes make
 * both immediate). */
static void reload(ihd_server_t *srv, const ihd_args_t *a)
{
    char err[1024];
    ihd_cfg_t *old = atomic_load(&srv->cfg);
    ihd_cfg_t *cfg = load_cfg(a, old->gen + 1, srv, err, sizeof(err));
    if (!cfg) {
        cmn_err("config", "reload failed, keeping the running configuration: %s", err);
        return;
    }
    warn_restart_needed(&old->s, &cfg->s);
    ihd_admin_configure(srv->admin, &cfg->s);
    cmn_log_set_level(cfg->s.log.level);
    turn_shared_set_limits(srv->turn_shared, (uint32_t)cfg->s.turn.max_allocations,
                           (uint32_t)cfg->s.turn.max_allocations_per_user,
                           (uint32_t)cfg->s.turn.max_allocations_per_ip);
    atomic_store_explicit(&srv->cfg, cfg, memory_order_release);
    ihd_workers_poke(srv);
    for (int spin = 0; spin < 5000; spin++) {
        bool all = ihd_http_seen(srv, cfg->gen);
        for (unsigned i = 0; i < srv->nworkers; i++)
            if (__atomic_load_n(&srv->workers[i].seen_gen, __ATOMIC_ACQUIRE) < cfg->gen)
                all = false;
        if (all) {
            free_cfg(old);
            old = NULL;
            break;
        }
        usleep(1000);
    }
    if (old)
        cmn_warn("config", "a thread did not pick up the new configuration; keeping the old one");
    cmn_info("config", "configuration reloaded (generation %llu)", (unsigned long long)cfg->gen);
}

static unsigned worker_count(const cmn_settings_t *s)
{
    long n = s->turn.threads;
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    return (unsigned)CMN_MIN(n, IHD_MAX_WORKERS);
}

static int start_services(ihd_server_t *srv)
{
    char err[1024];
    ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    if (ihd_tls_ctx_new(&cfg->s, &srv->ssl_ctx, err, sizeof(err)) < 0) {
        cmn_err("tls", "%s", err);
        return EXIT_CONFIG;
    }
    /* Usage and the ledger before the workers, so no byte goes unaccounted. */
    if (ihd_usage_start(srv, err, sizeof(err)) < 0) {
        cmn_err("ledger", "%s", err);
        return EXIT_CONFIG;
    }
    if (cfg->s.turn.enabled) {
        unsigned n = worker_count(&cfg->s);
        if (ihd_workers_start(srv, n) < 0)
            return 1;
        cmn_info("turn", "%u relay worker thread%s%s", n, n == 1 ? "" : "s",
                 srv->ssl_ctx ? ", TLS on" : ", TLS off (no tls.cert)");
        if (!cfg->s.turn.secrets.n && cfg->turn.nsecrets)
            cmn_info("turn", "no turn.secrets: TURN accepts the credentials the signaling "
                             "hub hands out (a random secret for this process)");
        else if (!cfg->s.turn.users.n && !cfg->s.turn.secrets.n)
            cmn_warn("turn", "no turn.users and no turn.secrets: every Allocate gets 401, "
                             "so only STUN Binding is useful");
    }
    if ((cfg->s.http.enabled || cfg->s.metrics.listen.n) &&
        ihd_http_start(srv, err, sizeof(err)) < 0) {
        cmn_err("http", "%s", err);
        return 1;
    }
    return 0;
}

static int serve(ihd_server_t *srv, const ihd_args_t *a)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked before any thread starts, so every thread inherits the mask
     * and only sigwait below sees these signals. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = start_services(srv);
    if (rc == 0) {
        cmn_info("main", "icehubd %s ready (pid %d), serving:", ICEHUB_VERSION, (int)getpid());
        ihd_cli_log_urls(&atomic_load(&srv->cfg)->s, srv->ssl_ctx != NULL);
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0)
                continue;
            if (sig == SIGHUP) {
                cmn_info("main", "SIGHUP: reloading the configuration");
                reload(srv, a);
                ihd_usage_reload(srv); /* and reopen the ledger (logrotate) */
                continue;
            }
            cmn_info("main", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            /* /readyz answers 503 from now on; with SIGTERM the WebSocket
             * peers get their going-away close after signal.drain_delay. */
            atomic_store(&srv->draining, 1);
            if (sig == SIGTERM)
                ihd_http_drain(srv);
            break;
        }
    }
    atomic_store(&srv->draining, 1);
    ihd_http_stop(srv);
    if (srv->nworkers)
        ihd_workers_stop(srv); /* ends the allocations: final ledger records */
    ihd_usage_stop(srv);       /* writes and syncs the ledger */
    ihd_tls_ctx_free(srv->ssl_ctx);
    if (rc == 0)
        cmn_info("main", "stopped");
    return rc;
}

/* 10,000 WebSockets and as many TURN connections need more descriptors
 * than the usual soft limit of 1024: take the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            cmn_warn("main", "cannot raise RLIMIT_NOFILE: %s", strerror(errno));
    }
}

/* <n> random bytes as base64 text into <out> (cap >= 4*ceil(n/3)+1). */
static int random_text(char *out, size_t cap, size_t n)
{
    uint8_t r[32];
    if (n > sizeof(r) || cmn_random(r, n) < 0 || cmn_base64_encode(r, n, out, cap) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "usage"))
        return acct_cli(argc - 1, argv + 1);
    ihd_args_t a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        cmn_free(a.flags);
        return rc == 1 ? 0 : rc;
    }
    char err[1024];
    ihd_server_t srv;
    memset(&srv, 0, sizeof(srv));
    if (cmn_random(srv.nonce_key, sizeof(srv.nonce_key)) < 0 ||
        random_text(srv.auto_secret, sizeof(srv.auto_secret), 24) < 0 ||
        random_text(srv.token_key, sizeof(srv.token_key), 24) < 0) {
        fprintf(stderr, "icehubd: no random bytes for the nonce key\n");
        return 1;
    }
    if (!a.check_only && !a.print_config)
        srv.extip = ihd_extip_new();
    ihd_cfg_t *cfg = load_cfg(&a, 1, &srv, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "icehubd: configuration error: %s\n", err);
        ihd_extip_free(srv.extip);
        cmn_free(a.flags);
        return EXIT_CONFIG;
    }
    if (a.check_only || a.print_config) {
        /* --check-config also loads the certificate and key, so a
         * mismatched pair is found here rather than at start. */
        void *ssl = NULL;
        if (a.check_only && (ihd_tls_ctx_new(&cfg->s, &ssl, err, sizeof(err)) < 0 ||
                             ihd_usage_check(&cfg->s, err, sizeof(err)) < 0)) {
            fprintf(stderr, "icehubd: configuration error: %s\n", err);
            free_cfg(cfg);
            cmn_free(a.flags);
            return EXIT_CONFIG;
        }
        ihd_tls_ctx_free(ssl);
        if (a.print_config)
            cmn_config_print(&cfg->s, stdout);
        if (a.check_only)
            fprintf(stderr, "icehubd: configuration OK\n");
        free_cfg(cfg);
        cmn_free(a.flags);
        return 0;
    }
    cmn_log_set_level(cfg->s.log.level);
    raise_nofile();
    atomic_init(&srv.cfg, cfg);
    srv.start_time = ihd_wallclock();
    srv.turn_shared = turn_shared_new((uint32_t)cfg->s.turn.max_allocations,
                                      (uint32_t)cfg->s.turn.max_allocations_per_user,
                                      (uint32_t)cfg->s.turn.max_allocations_per_ip);
    pthread_mutex_init(&srv.reserv_lock, NULL);
    srv.admin = ihd_admin_new();
    ihd_admin_configure(srv.admin, &cfg->s);
    rc = serve(&srv, &a);
    ihd_admin_free(srv.admin);
    ihd_reserv_free_all(&srv);
    pthread_mutex_destroy(&srv.reserv_lock);
    turn_shared_free(srv.turn_shared);
    ihd_extip_free(srv.extip);
    free_cfg(atomic_load(&srv.cfg));
    cmn_free(a.flags);
    return rc;
}
