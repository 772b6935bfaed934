/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_turncfg.c: turns the settings into the turn_cfg_t a worker's TURN
 * state machine reads: static users split into name and password, the
 * server's own addresses (listen and relay addresses, external addresses and
 * every local interface address, all denied as peers), the external address
 * map, limits and lifetimes, and the bandwidth quotas (quota.users split
 * into rules, quota.total_bps with the number of workers that share it).
 * Built once per configuration snapshot.
 */
#include "ihd.h"

#include <ifaddrs.h>
#include <sys/socket.h>
#include <unistd.h>

static void add_own(cmn_addr_t **v, size_t *n, size_t *cap, const cmn_addr_t *a)
{
    if (!a->family || cmn_addr_is_any(a))
        return;
    for (size_t i = 0; i < *n; i++)
        if (cmn_addr_ip_equal(&(*v)[i], a))
            return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = cmn_realloc(*v, *cap * sizeof(**v));
    }
    cmn_addr_t c;
    cmn_addr_canonical(&c, a);
    c.port = 0;
    (*v)[(*n)++] = c;
}

static void own_addresses(ihd_cfg_t *cfg)
{
    const cmn_settings_t *s = &cfg->s;
    cmn_addr_t *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < s->turn.listen.n; i++)
        add_own(&v, &n, &cap, &s->turn.listen.v[i]);
    for (size_t i = 0; i < s->turn.tls_listen.n; i++)
        add_own(&v, &n, &cap, &s->turn.tls_listen.v[i]);
    add_own(&v, &n, &cap, &s->turn.relay_ip);
    for (size_t i = 0; i < cfg->turn.next; i++) {
        add_own(&v, &n, &cap, &cfg->ext_pub[i]);
        add_own(&v, &n, &cap, &cfg->ext_priv[i]);
    }
    /* A wildcard listener is every local address: deny them all as peers. */
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
            cmn_addr_t a;
            if (i->ifa_addr && cmn_addr_from_sockaddr(&a, i->ifa_addr) == 0)
                add_own(&v, &n, &cap, &a);
        }
        freeifaddrs(ifa);
    }
    cfg->own_addrs = v;
    cfg->turn.own_addrs = v;
    cfg->turn.nown = n;
}

static int external_map(ihd_cfg_t *cfg, char *err, size_t errlen)
{
    const cmn_strlist_t *ext = &cfg->s.turn.external_ip;
    cfg->ext_pub = cmn_calloc(ext->n ? ext->n : 1, sizeof(cmn_addr_t));
    cfg->ext_priv = cmn_calloc(ext->n ? ext->n : 1, sizeof(cmn_addr_t));
    for (size_t i = 0; i < ext->n; i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", ext->v[i]);
        char *slash = strchr(buf, '/');
        if (slash)
            *slash = '\0';
        /* The config loader validated these; a failure here is a bug. */
        if (cmn_addr_parse_ip(&cfg->ext_pub[i], buf) < 0 ||
            (slash && cmn_addr_parse_ip(&cfg->ext_priv[i], slash + 1) < 0)) {
            snprintf(err, errlen, "turn.external_ip: cannot parse \"%s\"", ext->v[i]);
            return CMN_EINVAL;
        }
    }
    cfg->turn.ext_pub = cfg->ext_pub;
    cfg->turn.ext_priv = cfg->ext_priv;
    cfg->turn.next = ext->n;
    return 0;
}

static void static_users(ihd_cfg_t *cfg)
{
    const cmn_strlist_t *u = &cfg->s.turn.users;
    cfg->users = cmn_calloc(u->n ? u->n : 1, sizeof(turn_user_t));
    for (size_t i = 0; i < u->n; i++) {
        const char *colon = strchr(u->v[i], ':'); /* validated by the loader */
        size_t nl = colon ? (size_t)(colon - u->v[i]) : strlen(u->v[i]);
        cfg->users[i].name = cmn_strndup(u->v[i], nl);
        cfg->users[i].password = cmn_strdup(colon ? colon + 1 : "");
    }
    cfg->turn.users = cfg->users;
    cfg->turn.nusers = u->n;
}

/* quota.users "PATTERN=RATE" (validated by the loader) into rules. */
static void quota_rules(ihd_cfg_t *cfg)
{
    const cmn_strlist_t *u = &cfg->s.quota.users;
    cfg->quota_rules = cmn_calloc(u->n ? u->n : 1, sizeof(turn_quota_rule_t));
    for (size_t i = 0; i < u->n; i++) {
        size_t plen = 0;
        uint64_t bps = 0;
        (void)cmn_config_parse_ratemap(u->v[i], &plen, &bps);
        char *pat = cmn_strndup(u->v[i], plen);
        cfg->quota_rules[i].pattern = pat;
        cfg->quota_rules[i].glob = strpbrk(pat, "*?[") != NULL;
        cfg->quota_rules[i].bps = bps;
    }
    cfg->turn.quota_rules = cfg->quota_rules;
    cfg->turn.nquota_rules = u->n;
}

/* The workers quota.total_bps is split over: as many as icehubd starts
 * (turn.threads, 0 = one per CPU; not reloadable, so fixed per process). */
static uint32_t total_shares(const cmn_settings_t *s)
{
    long n = s->turn.threads;
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return (uint32_t)CMN_MAX(1, CMN_MIN(n, IHD_MAX_WORKERS));
}

static void quotas(ihd_cfg_t *cfg)
{
    const cmn_settings_t *s = &cfg->s;
    turn_cfg_t *t = &cfg->turn;
    t->alloc_bps = s->quota.allocation_bps;
    t->alloc_burst = s->quota.allocation_burst;
    t->total_bps = s->quota.total_bps;
    t->total_shares = total_shares(s);
    t->over_throttle = s->quota.over_action == CMN_QUOTA_OVER_THROTTLE;
    t->floor_bps = s->quota.floor_bps;
    quota_rules(cfg);
}

int ihd_turncfg_build(ihd_cfg_t *cfg, const uint8_t nonce_key[32], char *err, size_t errlen)
{
    const cmn_settings_t *s = &cfg->s;
    turn_cfg_t *t = &cfg->turn;
    memset(t, 0, sizeof(*t));
    t->realm = s->turn.realm;
    t->software = s->turn.software;
    t->secrets = s->turn.secrets.v;
    t->nsecrets = s->turn.secrets.n;
    /* No configured secret while the signaling hub runs: accept the
     * process's own, which the hub uses for the credentials it hands out
     * in iceServers. (Without the hub nothing could use it, and static
     * users keep USERHASH anonymity.) */
    if (!t->nsecrets && s->signal.enabled && s->http.enabled && cfg->auto_secret &&
        cfg->auto_secret[0]) {
        cfg->auto_secrets[0] = (char *)cfg->auto_secret;
        t->secrets = cfg->auto_secrets;
        t->nsecrets = 1;
    }
    memcpy(t->nonce_key, nonce_key, sizeof(t->nonce_key));
    t->nonce_lifetime = (uint32_t)s->turn.nonce_lifetime;
    t->default_lifetime = 600;
    t->max_lifetime = (uint32_t)s->turn.max_lifetime;
    t->permission_lifetime = 300;
    t->channel_lifetime = 600;
    t->max_permissions = (uint32_t)s->turn.max_permissions;
    t->max_channels = (uint32_t)s->turn.max_channels;
    t->allowed_peers = &s->turn.allowed_peers;
    t->denied_peers = &s->turn.denied_peers;
    t->unauth_rate = (uint32_t)s->turn.unauth_rate;
    t->answer_rate = (uint32_t)s->turn.answer_rate;
    t->alternates = s->turn.alternate_servers.v;
    t->nalternates = s->turn.alternate_servers.n;
    t->relay_port_min = s->turn.relay_port_min;
    t->relay_port_max = s->turn.relay_port_max;
    static_users(cfg);
    quotas(cfg);
    if (external_map(cfg, err, errlen) < 0)
        return CMN_EINVAL;
    own_addresses(cfg);
    return 0;
}

void ihd_turncfg_dispose(ihd_cfg_t *cfg)
{
    for (size_t i = 0; cfg->users && i < cfg->turn.nusers; i++) {
        /* Passwords do not linger in freed memory. */
        explicit_bzero(cfg->users[i].password, strlen(cfg->users[i].password));
        cmn_free(cfg->users[i].name);
        cmn_free(cfg->users[i].password);
    }
    cmn_free(cfg->users);
    for (size_t i = 0; cfg->quota_rules && i < cfg->turn.nquota_rules; i++)
        cmn_free((char *)cfg->quota_rules[i].pattern);
    cmn_free(cfg->quota_rules);
    cfg->quota_rules = NULL;
    cmn_free(cfg->own_addrs);
    cmn_free(cfg->ext_pub);
    cmn_free(cfg->ext_priv);
    cfg->users = NULL;
    cfg->own_addrs = cfg->ext_pub = cfg->ext_priv = NULL;
}
