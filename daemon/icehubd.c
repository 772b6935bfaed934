/* icehub - SPDX-License-Identifier: MIT
 *
 * icehubd.c: the daemon's entry point. Parses the command line, loads and
 * validates the configuration, starts the services (relay workers for
 * STUN/TURN, the control-plane HTTP thread), then waits for signals:
 * SIGTERM drains (ihd_drain.c: /readyz 503, new allocations refused or
 * redirected, WebSocket peers closed after signal.drain_delay; the process
 * stops when its allocations and peers are gone or turn.drain_timeout
 * passed) and a second SIGTERM stops at once, SIGINT stops cleanly at
 * once, SIGHUP reloads the configuration (validated first; on error the
 * running configuration stays).
 *
 * This is glue: it owns no protocol logic.
 */
#include "ihd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
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
    bool upgrade;              /* --upgrade: take over from the running icehubd */
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
        } else if (!strcmp(s, "--upgrade")) {
            a->upgrade = true;
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
    /* The certificate and key are read (and matched) with the rest, so a
     * reload with a bad one fails as a whole. */
    if (ihd_turncfg_build(cfg, srv->nonce_key, err, errlen) < 0 ||
        ihd_tls_ctx_new(&cfg->s, &cfg->tls_ctx, err, errlen) < 0) {
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
    ihd_tls_ctx_free(cfg->tls_ctx);
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
        {!o->tls.cert[0] != !n->tls.cert[0], "tls.cert (TLS on or off)"},
        {!str_eq(o->ledger.path, n->ledger.path), "ledger.path"},
        {!str_eq(o->upgrade.socket, n->upgrade.socket), "upgrade.socket"},
        {!addrlist_equal(&o->metrics.listen, &n->metrics.listen), "metrics.listen"},
        {!str_eq(o->redis.url, n->redis.url) || !str_eq(o->redis.password, n->redis.password) ||
             !str_eq(o->redis.prefix, n->redis.prefix) ||
             !str_eq(o->redis.node_id, n->redis.node_id) || o->redis.timeout != n->redis.timeout ||
             o->redis.connect_timeout != n->redis.connect_timeout ||
             o->redis.heartbeat != n->redis.heartbeat || o->redis.node_ttl != n->redis.node_ttl ||
             o->redis.backoff_max != n->redis.backoff_max ||
             o->redis.queue_bytes != n->redis.queue_bytes,
         "redis.* (but advertise_host and required)"},
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
    if (srv->tls_on && !cfg->tls_ctx) {
        /* The TLS listeners stay until a restart: keep their certificate. */
        cfg->tls_ctx = ihd_tls_ctx_ref(old->tls_ctx);
    } else if (srv->tls_on) {
        char desc[256];
        ihd_tls_describe(cfg->tls_ctx, desc, sizeof(desc));
        cmn_info("tls", "certificate loaded for new TLS connections: %s", desc);
    }
    ihd_admin_configure(srv->admin, &cfg->s);
    ihd_admin_revocations_reload(srv, &cfg->s);
    cmn_log_set_level(cfg->s.log.level);
    turn_shared_set_limits(srv->turn_shared, (uint32_t)cfg->s.turn.max_allocations,
                           (uint32_t)cfg->s.turn.max_allocations_per_user,
                           (uint32_t)cfg->s.turn.max_allocations_per_ip);
    atomic_store_explicit(&srv->cfg, cfg, memory_order_release);
    ihd_workers_poke(srv);
    for (int spin = 0; spin < 5000; spin++) {
        bool all = ihd_http_seen(srv, cfg->gen) && ihd_redis_seen(srv, cfg->gen);
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

/* The relay workers: new sockets, or (a live upgrade) the old process's
 * sockets and allocations, on as many workers as it ran. */
static int start_turn(ihd_server_t *srv, const ihd_cfg_t *cfg, char *why, size_t whylen)
{
    ihd_handover_t *ho = srv->handover;
    unsigned n = ho ? ho->nworkers : worker_count(&cfg->s);
    if (ho) {
        if (n != worker_count(&cfg->s))
            cmn_warn("upgrade", "running %u relay workers, as the old process did (turn.threads "
                                "takes effect at the next restart)", n);
        turn_alloc_ids_after(ho->last_id);
        ihd_reserv_adopt(srv, ho);
    }
    if (ihd_workers_start(srv, n, why, whylen) < 0) {
        if (why[0])
            cmn_err("upgrade", "%s", why);
        else
            snprintf(why, whylen, "the relay workers did not start (see the new process's log)");
        return CMN_EIO;
    }
    if (ho) {
        srv->upgrade_pause = ihd_now() - ho->paused_at;
        for (unsigned i = 0; i < ho->nworkers; i++)
            srv->upgrade_allocs += ho->wk[i].nallocs;
        cmn_info("upgrade", "took over %llu UDP allocation(s) and the listening sockets of %u "
                            "worker(s); UDP was paused %.1f ms",
                 (unsigned long long)srv->upgrade_allocs, n, srv->upgrade_pause * 1000.0);
    }
    cmn_info("turn", "%u relay worker thread%s%s", n, n == 1 ? "" : "s",
             srv->tls_on ? ", TLS on" : ", TLS off (no tls.cert)");
    if (!cfg->s.turn.secrets.n && cfg->turn.nsecrets)
        cmn_info("turn", "no turn.secrets: TURN accepts the credentials the signaling "
                         "hub hands out (a random secret for this process)");
    else if (!cfg->s.turn.users.n && !cfg->s.turn.secrets.n)
        cmn_warn("turn", "no turn.users and no turn.secrets: every Allocate gets 401, "
                         "so only STUN Binding is useful");
    return 0;
}

/* Returns 0, EXIT_CONFIG or 1; on failure <why> says what (for a live
 * upgrade's FAIL). */
static int start_services(ihd_server_t *srv, char *why, size_t whylen)
{
    char err[1024];
    why[0] = '\0';
    ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    srv->tls_on = cfg->tls_ctx != NULL;
    /* Revoked users are blocked before any worker can take an Allocate. */
    if (ihd_admin_revocations_open(srv, &cfg->s, err, sizeof(err)) < 0) {
        cmn_err("admin", "%s", err);
        snprintf(why, whylen, "%s", err);
        return EXIT_CONFIG;
    }
    /* Usage and the ledger before the workers, so no byte goes unaccounted. */
    double t0 = ihd_now();
    if (ihd_usage_start(srv, err, sizeof(err)) < 0) {
        cmn_err("ledger", "%s", err);
        snprintf(why, whylen, "%s", err);
        return EXIT_CONFIG;
    }
    /* The cluster next: the hub and the relay find its link in place. */
    if (ihd_cluster_start(srv, err, sizeof(err)) < 0) {
        cmn_err("cluster", "%s", err);
        snprintf(why, whylen, "%s", err);
        return EXIT_CONFIG;
    }
    if (srv->handover)
        cmn_debug("upgrade", "state received %.1f ms after the old workers parked; usage caught "
                             "up in %.1f ms", (t0 - srv->handover->paused_at) * 1e3,
                  (ihd_now() - t0) * 1e3);
    if (cfg->s.turn.enabled && start_turn(srv, cfg, why, whylen) < 0)
        return 1;
    if (srv->handover) {
        /* The rooms of the old process, for ihd_http_start to import. */
        srv->hub_state = srv->handover->hub;
        srv->hub_state_len = srv->handover->hub_len;
        srv->handover->hub = NULL;
    }
    if ((cfg->s.http.enabled || cfg->s.metrics.listen.n) &&
        ihd_http_start(srv, err, sizeof(err)) < 0) {
        cmn_err("http", "%s", err);
        snprintf(why, whylen, "%s", err);
        return 1;
    }
    if (!srv->handover && ihd_upgrade_listen(srv, err, sizeof(err)) < 0) {
        cmn_err("upgrade", "%s", err);
        return EXIT_CONFIG;
    }
    return 0;
}

/* One signal: SIGHUP reloads; SIGTERM drains (a second one stops at
 * once); SIGINT stops at once. Returns true to stop now. */
static bool on_signal(ihd_server_t *srv, const ihd_args_t *a, int sig)
{
    if (sig == SIGHUP) {
        cmn_info("main", "SIGHUP: reloading the configuration");
        reload(srv, a);
        ihd_usage_reload(srv); /* and reopen the ledger (logrotate) */
        return false;
    }
    if (sig == SIGTERM && !atomic_load(&srv->draining)) {
        cmn_info("main", "SIGTERM: draining (a second SIGTERM stops at once)");
        ihd_drain_start(srv, IHD_DRAIN_SIGNAL);
        return false;
    }
    cmn_info("main", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return true;
}

/* The main thread's loop: signals (through a signalfd), wake-ups from
 * other threads (a drain started by the API), and once a second the drain
 * check. Returns when the process should stop. */
static void main_loop(ihd_server_t *srv, const ihd_args_t *a, const sigset_t *set)
{
    int sfd = signalfd(-1, set, SFD_CLOEXEC);
    if (sfd < 0) {
        cmn_err("main", "signalfd: %s", strerror(errno));
        return;
    }
    double next_second = 0;
    for (bool stop = false; !stop;) {
        struct pollfd pf[3] = {{.fd = sfd, .events = POLLIN},
                               {.fd = srv->main_wakefd, .events = POLLIN},
                               {.fd = srv->upgrade_fd, .events = POLLIN}};
        int n = poll(pf, 3, atomic_load(&srv->draining) ? 200 : 1000);
        if (n > 0 && srv->upgrade_fd >= 0 && (pf[2].revents & POLLIN))
            ihd_upgrade_serve(srv);
        if (n > 0 && (pf[1].revents & POLLIN)) {
            uint64_t v;
            (void)!read(srv->main_wakefd, &v, sizeof(v));
        }
        if (n > 0 && (pf[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                stop = on_signal(srv, a, (int)si.ssi_signo);
        }
        double now = ihd_now();
        if (now >= next_second) {
            ihd_admin_revocations_expire(srv, ihd_wallclock());
            next_second = now + 1.0;
        }
        if (!stop && ihd_drain_done(srv, now))
            stop = true;
    }
    close(sfd);
}

static int serve(ihd_server_t *srv, const ihd_args_t *a)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked before any thread starts, so every thread inherits the mask
     * and only the main loop's signalfd sees these signals. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char why[1024];
    int rc = start_services(srv, why, sizeof(why));
    if (srv->handover) {
        /* A live upgrade: tell the old process; it lets go on success and
         * takes everything back otherwise. */
        if (ihd_upgrade_finish(srv, rc == 0, why) < 0 && rc == 0)
            rc = 1;
        if (rc == 0) {
            ihd_handover_free(srv->handover, true);
            cmn_free(srv->handover);
            srv->handover = NULL;
        }
    }
    if (rc == 0) {
        cmn_info("main", "icehubd %s ready (pid %d), serving:", ICEHUB_VERSION, (int)getpid());
        ihd_cli_log_urls(&atomic_load(&srv->cfg)->s, srv->tls_on);
        main_loop(srv, a, &set);
    }
    atomic_store(&srv->draining, 1);
    ihd_upgrade_close(srv);
    ihd_http_stop(srv);
    if (srv->nworkers)
        ihd_workers_stop(srv); /* ends the allocations: final ledger records */
    ihd_cluster_stop(srv);     /* the last usage to the cluster, goodbye */
    ihd_usage_stop(srv);       /* writes and syncs the ledger */
    if (srv->handover) {       /* a failed upgrade: the old process kept it all */
        ihd_handover_free(srv->handover, true);
        cmn_free(srv->handover);
        srv->handover = NULL;
    }
    if (rc == 0)
        cmn_info("main", "stopped");
    return rc;
}

/* The server object around its first configuration snapshot (owned from
 * here on). */
static void server_init(ihd_server_t *srv, ihd_cfg_t *cfg)
{
    atomic_init(&srv->cfg, cfg);
    srv->start_time = ihd_wallclock();
    srv->turn_shared = turn_shared_new((uint32_t)cfg->s.turn.max_allocations,
                                       (uint32_t)cfg->s.turn.max_allocations_per_user,
                                       (uint32_t)cfg->s.turn.max_allocations_per_ip);
    pthread_mutex_init(&srv->reserv_lock, NULL);
    pthread_mutex_init(&srv->drain_mu, NULL);
    srv->main_wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    srv->upgrade_fd = srv->upgrade_conn = -1;
    ihd_handover_init(srv);
    srv->admin = ihd_admin_new();
    ihd_admin_configure(srv->admin, &cfg->s);
}

static void server_dispose(ihd_server_t *srv)
{
    ihd_usage_stop(srv); /* prepared for an upgrade that did not happen */
    ihd_admin_free(srv->admin);
    ihd_handover_dispose(srv);
    ihd_reserv_free_all(srv);
    pthread_mutex_destroy(&srv->reserv_lock);
    pthread_mutex_destroy(&srv->drain_mu);
    if (srv->main_wakefd >= 0)
        close(srv->main_wakefd);
    turn_shared_free(srv->turn_shared);
    ihd_extip_free(srv->extip);
    free_cfg(atomic_load(&srv->cfg));
}

/* --upgrade: the state of the icehubd on upgrade.socket, before anything
 * of this process starts. Returns 0, EXIT_CONFIG (no socket, or refused as
 * incompatible) or 1. */
static int take_over(ihd_server_t *srv, const ihd_cfg_t *cfg)
{
    char err[1024];
    if (!cfg->s.upgrade.socket[0]) {
        cmn_err("upgrade", "--upgrade needs upgrade.socket: the running icehubd's");
        return EXIT_CONFIG;
    }
    cmn_info("upgrade", "taking over from the icehubd on %s", cfg->s.upgrade.socket);
    ihd_usage_prepare(srv); /* the bulk of the ledger, before the old workers pause */
    int rc = ihd_upgrade_take(srv, cfg->s.upgrade.socket, err, sizeof(err));
    if (rc < 0) {
        cmn_err("upgrade", "%s", err);
        return rc == CMN_EINVAL ? EXIT_CONFIG : 1;
    }
    return 0;
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
        /* load_cfg loaded the certificate and key too, so a mismatched
         * pair is found here rather than at start. */
        if (a.check_only && ihd_usage_check(&cfg->s, err, sizeof(err)) < 0) {
            fprintf(stderr, "icehubd: configuration error: %s\n", err);
            free_cfg(cfg);
            cmn_free(a.flags);
            return EXIT_CONFIG;
        }
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
    server_init(&srv, cfg);
    rc = a.upgrade ? take_over(&srv, cfg) : 0;
    if (rc == 0)
        rc = serve(&srv, &a);
    server_dispose(&srv);
    cmn_free(a.flags);
    return rc;
}
