/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_config.h: icehub's settings. One schema table (cmn_config_schema.c) names
 * every setting, its type, default and documentation; the same parser turns
 * a default, a libconfig file value, an environment variable
 * (ICEHUB_SECTION_KEY) and a command-line flag (--section.key=value) into the
 * typed field. Precedence: flag > environment > file > default. A list given
 * as a flag or variable is comma-separated.
 *
 * Loading either produces a complete, validated cmn_settings_t or fails with
 * one message naming the file and line (or the flag / variable), what was
 * expected and what was found. Nothing is half-applied.
 */
#ifndef CMN_CONFIG_H
#define CMN_CONFIG_H

#include <stdio.h>

#include "cmn.h"
#include "cmn_addr.h"
#include "cmn_log.h"

typedef struct cmn_strlist_s {
    char **v;   /* owned, each NUL-terminated */
    size_t n;
} cmn_strlist_t;

typedef struct cmn_addrlist_s {
    cmn_addr_t *v;  /* owned */
    size_t n;
} cmn_addrlist_t;

/* Room for one source label: "FILE:LINE: NAME", "--NAME", "ICEHUB_NAME" or
 * "NAME (default)". */
#define CMN_CONFIG_SOURCE_MAX 300

/* The smallest quota.allocation_burst in bytes: a bucket smaller than one
 * large datagram would drop every such datagram, so the relay raises a
 * smaller non-zero burst to this (and the loader warns about it). */
#define CMN_QUOTA_MIN_BURST 4096

/* All settings, parsed. Add a field here and a row in the schema table
 * (cmn_config_schema.c), deploy/icehub.conf and docs/configuration.md; a test
 * fails if the three drift apart. */
typedef struct cmn_settings_s {
    struct {
        bool enabled;               /* turn.enabled: STUN/TURN service on */
        cmn_addrlist_t listen;      /* turn.listen: UDP and TCP, same port */
        cmn_addrlist_t tls_listen;  /* turn.tls_listen: active with tls.cert */
        char *realm;                /* turn.realm */
        cmn_strlist_t users;        /* turn.users: "name:password" */
        cmn_strlist_t secrets;      /* turn.secrets */
        cmn_addr_t relay_ip;        /* turn.relay_ip: family 0 = automatic */
        cmn_strlist_t external_ip;  /* turn.external_ip: "public" or "public/private", or
                                     * the one entry CMN_EXTIP_AUTO */
        cmn_addrlist_t external_ip_servers; /* turn.external_ip_servers: STUN, for "auto" */
        uint16_t relay_port_min;    /* turn.relay_ports "LOW-HIGH" */
        uint16_t relay_port_max;
        cmn_cidrset_t allowed_peers; /* turn.allowed_peers */
        cmn_cidrset_t denied_peers;  /* turn.denied_peers */
        int threads;                /* turn.threads: 0 = one per CPU */
        char *software;             /* turn.software: SOFTWARE attribute, "" = omit */
        int tcp_idle_timeout;       /* turn.tcp_idle_timeout: seconds */
        int max_tcp_connections;    /* turn.max_tcp_connections: per process */
        int tls_handshake_timeout;  /* turn.tls_handshake_timeout: seconds from accept */
        int max_lifetime;           /* turn.max_lifetime: seconds, caps requested lifetimes */
        int max_allocations;        /* turn.max_allocations: whole server (508) */
        int max_allocations_per_user; /* turn.max_allocations_per_user (486) */
        int max_allocations_per_ip; /* turn.max_allocations_per_ip (486) */
        int max_permissions;        /* turn.max_permissions: per allocation */
        int max_channels;           /* turn.max_channels: per allocation */
        int nonce_lifetime;         /* turn.nonce_lifetime: seconds until 438 */
        int unauth_rate;            /* turn.unauth_rate: 401s per second per source IP */
        int answer_rate;            /* turn.answer_rate: Binding answers and 400s per second per IP */
        bool gso;                   /* turn.gso: UDP GSO for runs to one destination */
        bool io_uring;              /* turn.io_uring: sends of many relay sockets in one call */
        int drain_timeout;          /* turn.drain_timeout: seconds a drain waits for
                                     * allocations to end */
        cmn_addrlist_t alternate_servers; /* turn.alternate_servers: 300 targets while draining */
    } turn;
    struct {
        bool enabled;               /* http.enabled */
        cmn_addrlist_t listen;      /* http.listen */
        cmn_addrlist_t tls_listen;  /* http.tls_listen: HTTPS/WSS, with tls.cert */
        int header_timeout;         /* http.header_timeout: seconds for a request head */
    } http;
    struct {
        char *cert;                 /* tls.cert: PEM path, "" = no TLS */
        char *key;                  /* tls.key */
    } tls;
    struct {
        cmn_log_level_t level;      /* log.level */
    } log;
    /* ---- quota, cost ---- */
    struct {
        uint64_t allocation_bps;    /* quota.allocation_bps: bits/s of UDP payload, each
                                     * direction, per allocation; 0 = unlimited */
        uint64_t allocation_burst;  /* quota.allocation_burst: bytes; 0 = automatic */
        cmn_strlist_t users;        /* quota.users: "PATTERN=RATE" (validated) */
        uint64_t total_bps;         /* quota.total_bps: server capacity; 0 = unlimited */
        uint64_t user_bytes;        /* quota.user_bytes: per user per period; 0 = unlimited */
        int period;                 /* quota.period: CMN_QUOTA_PERIOD_* */
        int over_action;            /* quota.over_action: CMN_QUOTA_OVER_* */
        uint64_t floor_bps;         /* quota.floor_bps: throttled rate, bits/s */
    } quota;
    struct {
        double egress_per_gb;       /* cost.egress_per_gb: per 10^9 bytes to clients */
        double ingress_per_gb;      /* cost.ingress_per_gb: per 10^9 bytes to peers */
        char *currency;             /* cost.currency */
    } cost;

    /* ---- ledger, metrics ---- */
    struct {
        char *path;                 /* ledger.path: JSON-lines usage ledger, "" = none */
        int interval;               /* ledger.interval: seconds between interim records */
        uint64_t max_bytes;         /* ledger.max_bytes: rotate at this size, 0 = never */
        bool rotate_daily;          /* ledger.rotate_daily: rotate at UTC midnight */
        int on_error;               /* ledger.on_error: CMN_LEDGER_ON_ERROR_* */
    } ledger;
    struct {
        int top_users;              /* metrics.top_users: per-user series (+ "other") */
        cmn_addrlist_t listen;      /* metrics.listen: extra /metrics-only listeners */
    } metrics;

    /* ---- admin ---- */
    struct {
        bool enabled;               /* admin.enabled: the admin API and /dashboard */
        char *token;                /* admin.token: bearer token, "" = none (loopback only) */
        char *token_file;           /* admin.token_file: read into token by the loader */
        char *revocations_file;     /* admin.revocations_file: "" = next to ledger.path */
        int revocation_ttl;         /* admin.revocation_ttl: seconds a revocation lasts */
    } admin;

    /* ---- upgrade ---- */
    struct {
        char *socket;               /* upgrade.socket: Unix socket of the live upgrade, "" = off */
    } upgrade;

    /* ---- signal ---- */

    struct {
        bool enabled;               /* signal.enabled: the WebSocket hub at /ws */
        char *public_host;          /* signal.public_host: "" = the request's Host */
        cmn_strlist_t api_keys;     /* signal.api_keys: for the REST endpoints */
        int credential_ttl;         /* signal.credential_ttl: seconds */
        cmn_strlist_t allowed_origins; /* signal.allowed_origins: empty = same origin */
        bool require_token;         /* signal.require_token */
        bool open;                  /* signal.open: no tokens or origins on a public address */
        char *token_secret;         /* signal.token_secret: "" = random per process */
        int max_message;            /* signal.max_message: bytes */
        int rate;                   /* signal.rate: messages/s per connection */
        int burst;                  /* signal.burst */
        int max_room_peers;         /* signal.max_room_peers */
        int max_rooms;              /* signal.max_rooms */
        int max_connections_per_ip; /* signal.max_connections_per_ip */
        int ping_interval;          /* signal.ping_interval: seconds */
        int idle_timeout;           /* signal.idle_timeout: seconds */
        int resume_seconds;         /* signal.resume_seconds */
        int resume_queue;           /* signal.resume_queue: messages */
        int drain_delay;            /* signal.drain_delay: seconds */
        int ice_servers_max;        /* signal.ice_servers_max: relays listed in iceServers */
        int ice_servers;            /* signal.ice_servers: CMN_ICE_* bits */
        bool client_stats;          /* signal.client_stats: count clients' stats reports */
    } signal;

    /* ---- redis ---- */

    struct {
        char *url;                  /* redis.url: "" = no federation (docs/scaling.md) */
        char *password;             /* redis.password: replaces the URL's */
        char *prefix;               /* redis.prefix: of every key and channel */
        char *node_id;              /* redis.node_id: "" = derived from host and listeners */
        char *advertise_host;       /* redis.advertise_host: relay host for other nodes */
        int timeout;                /* redis.timeout: seconds a command may take */
        int connect_timeout;        /* redis.connect_timeout: seconds */
        int heartbeat;              /* redis.heartbeat: seconds between heartbeats */
        int node_ttl;               /* redis.node_ttl: seconds a heartbeat key lives */
        int backoff_max;            /* redis.backoff_max: seconds between reconnects, at most */
        uint64_t queue_bytes;       /* redis.queue_bytes: each way between threads */
        bool required;              /* redis.required: /readyz 503 while Redis is away */
    } redis;

    /* Where each setting's value came from, in schema order (owned; see
     * cmn_config_source). */
    char (*sources)[CMN_CONFIG_SOURCE_MAX];
} cmn_settings_t;

/* turn.external_ip = "auto": the daemon finds the public address with STUN
 * Binding requests to turn.external_ip_servers (daemon/ihd_extip.c). */
#define CMN_EXTIP_AUTO "auto"

/* A parsed redis.url (cmn_config_parse_redis_url). */
typedef struct cmn_redis_url_s {
    char host[256];             /* name, IPv4 or IPv6 (no brackets); "" with a socket path */
    uint16_t port;              /* default 6379 */
    char path[256];             /* unix:// socket path, or "" */
    char user[128];             /* ACL user (Redis 6+), "" = the default user */
    char password[256];         /* "" = no AUTH */
    int db;                     /* SELECT; 0..15 */
} cmn_redis_url_t;

/* Parse redis.url: "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" (HOST a
 * name, an IPv4 address or "[IPv6]"; USER and PASSWORD %-decoded) or
 * "unix://PATH[?db=N]". "rediss://" (TLS) is refused: Debian 12's hiredis
 * 0.14.1 has no TLS. Returns 0, or CMN_EINVAL with *why naming the rule
 * broken (a static string). */
int cmn_config_parse_redis_url(const char *text, cmn_redis_url_t *out, const char **why);

/* Longest admin.token (and first line of admin.token_file), in bytes. */
#define CMN_CONFIG_TOKEN_MAX 256

/* quota.period and quota.over_action (CMN_CFG_ENUM: the index of the word
 * in the schema's choices). */
enum { CMN_QUOTA_PERIOD_DAY = 0, CMN_QUOTA_PERIOD_MONTH = 1 };
enum { CMN_QUOTA_OVER_THROTTLE = 0, CMN_QUOTA_OVER_STOP = 1 };
/* signal.ice_servers (CMN_CFG_WORDS: bit i is the i-th word of the schema's
 * choices "stun|turn-udp|turn-tcp|turns"). */
enum { CMN_ICE_STUN = 1, CMN_ICE_TURN_UDP = 2, CMN_ICE_TURN_TCP = 4, CMN_ICE_TURNS = 8 };
/* ledger.on_error (CMN_CFG_ENUM). */
enum { CMN_LEDGER_ON_ERROR_CONTINUE = 0, CMN_LEDGER_ON_ERROR_STOP = 1 };

/* Setting types in the schema. */
typedef enum cmn_cfg_type_e {
    CMN_CFG_BOOL,
    CMN_CFG_INT,        /* with min/max */
    CMN_CFG_STRING,
    CMN_CFG_PATH,       /* a string naming a file; checked readable when non-empty */
    CMN_CFG_STRLIST,
    CMN_CFG_ADDRLIST,   /* "host:port" list; IP literals only */
    CMN_CFG_IP,         /* a bare IP or "" */
    CMN_CFG_CIDRLIST,
    CMN_CFG_PORTRANGE,  /* "LOW-HIGH" */
    CMN_CFG_LOGLEVEL,
    CMN_CFG_USERLIST,   /* "name:password" list */
    CMN_CFG_EXTIPLIST,  /* "PUBLIC" or "PUBLIC/PRIVATE" IP list, stored as cmn_strlist_t */
    CMN_CFG_SIZE,       /* uint64_t: a whole number with an optional k/M/G/T (10^3..)
                         * or Ki/Mi/Gi/Ti (2^10..) suffix; min/max bounds */
    CMN_CFG_DOUBLE,     /* double: a decimal number; min/max bounds */
    CMN_CFG_ENUM,       /* int: the index of one word of <choices> */
    CMN_CFG_RATEMAP,    /* "PATTERN=SIZE" list, stored as cmn_strlist_t */
    CMN_CFG_WORDS,      /* int: a list of words of <choices>, each at most once,
                         * stored as bits (bit i = the i-th word) */
} cmn_cfg_type_t;

typedef struct cmn_cfg_def_s {
    const char *name;       /* "turn.listen" */
    cmn_cfg_type_t type;
    size_t offset;          /* of the field in cmn_settings_t */
    const char *def;        /* default, in flag syntax (lists comma-separated) */
    long min, max;          /* CMN_CFG_INT bounds; CMN_CFG_STRING length bounds in bytes */
    bool reloadable;        /* takes effect on SIGHUP without a restart */
    const char *doc;        /* one-line description for docs and --help */
    bool secret;            /* printed as "***" (USERLIST: the passwords) */
    const char *choices;    /* CMN_CFG_ENUM, CMN_CFG_WORDS: the words, '|'-separated
                             * ("day|month") */
} cmn_cfg_def_t;

/* The schema, in documentation order. */
const cmn_cfg_def_t *cmn_config_schema(size_t *n);

typedef struct cmn_config_src_s {
    const char *file;       /* libconfig file, or NULL for none */
    char *const *env;       /* environ-style array, or NULL; ICEHUB_* used */
    const char *const *flags; /* "section.key=value" strings (no leading --), or NULL */
    size_t nflags;
    /* Called once per warning after a successful load (a value the daemon
     * will raise, a setting that cannot take effect), with one line naming
     * where the value came from. NULL drops warnings. */
    void (*warn)(void *ud, const char *msg);
    void *warn_ud;
} cmn_config_src_t;

/* Load settings from defaults and the sources. On failure returns
 * CMN_EINVAL and writes one message into <err> (e.g.
 * "/etc/icehub.conf:12: turn.relay_ports: expected \"LOW-HIGH\" with
 * 1 <= LOW <= HIGH <= 65535, found \"9-3\""); <out> is then left disposed
 * (all zero; cmn_config_dispose on it is a no-op). <out> is overwritten
 * without being disposed first: load into a fresh struct and swap.
 * Every source is parsed in full, so a bad value is an error even when a
 * source of higher precedence overrides it. <err> may be NULL. */
int cmn_config_load(cmn_settings_t *out, const cmn_config_src_t *src, char *err, size_t errlen);
/* Free everything <s> owns and zero it. Safe on a zeroed struct. */
void cmn_config_dispose(cmn_settings_t *s);

/* Write the effective settings as libconfig text (for --print-config).
 * Secrets and user passwords are written as "***". */
void cmn_config_print(const cmn_settings_t *s, FILE *f);

/* Parse a CMN_CFG_SIZE text ("10M", "64Ki", "1.5G", "1000"): decimal
 * digits with an optional fraction, then an optional suffix k, M, G, T
 * (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024); the result must be
 * a whole number that fits in 64 bits. Returns 0 or CMN_EINVAL. */
int cmn_config_parse_size(const char *text, uint64_t *out);

/* Split a CMN_CFG_RATEMAP element "PATTERN=SIZE" at its last '=': writes
 * the pattern's length and the size. Returns 0 or CMN_EINVAL. */
int cmn_config_parse_ratemap(const char *elem, size_t *pattern_len, uint64_t *out);

/* Where the value of setting <name> in <s> came from, as error messages
 * name it: "/etc/icehub.conf:12: tls.cert", "--tls.cert", "ICEHUB_TLS_CERT"
 * or "tls.cert (default)"; <name> itself for an unknown name or a settings
 * struct that was not loaded. Borrowed; valid until <s> is disposed. */
const char *cmn_config_source(const cmn_settings_t *s, const char *name);

/* The type of <d> in a few words, as --help and docs/configuration.md show
 * it: "integer 0..256", "string, 1..127 bytes", "address list", "rate
 * (bit/s) 0..1T", "one of day, month", ... Returns <buf>. */
const char *cmn_config_type_text(const cmn_cfg_def_t *d, char *buf, size_t len);

/* "ICEHUB_TURN_RELAY_PORTS" for "turn.relay_ports". Returns <buf>. */
char *cmn_config_env_name(const char *name, char *buf, size_t len);

#endif /* CMN_CONFIG_H */
