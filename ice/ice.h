/* icehub - SPDX-License-Identifier: MIT
 *
 * ice.h: icehub-probe, a connectivity prober for any STUN/TURN deployment.
 * Four checks share one options struct and one report:
 *   stun  Binding round trips to one or more servers (UDP, TCP, TLS);
 *   turn  two allocations on one server relaying a paced stream to each
 *         other through channels, then deallocation;
 *   call  two ICE agents (libnice) that meet through icehubd's signaling hub
 *         and exchange SRTP-protected RTP (libsrtp);
 *   serve an HTTP endpoint that runs one check per Prometheus scrape.
 * A check fills an ice_report_t; ice_report_judge applies the thresholds;
 * the report is then written as text, as one JSON object or in the
 * Prometheus text format. Those parts are pure (no sockets, no clock);
 * the runners (ice_run_*) are the glue to sockets, OpenSSL, libnice,
 * libsrtp and libwebsockets.
 *
 * Threading: every function here may run on any thread, and several checks
 * may run at once (serve does); each check owns its sockets, its GMainContext
 * and its libwebsockets context. ice_global_init must run once first.
 */
#ifndef ICE_H
#define ICE_H

#include "../common/cmn.h"
#include "../common/cmn_addr.h"

/* ---- Exit status ------------------------------------------------------ */

#define ICE_EXIT_PASS 0   /* the check ran and met every threshold */
#define ICE_EXIT_FAIL 1   /* it ran and did not (or could not run: refused, timed out) */
#define ICE_EXIT_USAGE 2  /* bad command line or modules file */

/* ---- Limits -------------------------------------------------------------- */

#define ICE_MAX_TARGETS 8          /* stun: servers in one run */
#define ICE_HOST_MAX 255           /* a DNS name, RFC 1035 */
#define ICE_TEXT_MAX 256           /* credentials, rooms, paths in options */
#define ICE_MAX_COUNT 1000000      /* packets in one stream */
#define ICE_MAX_RATE 100000.0      /* packets per second */
#define ICE_MIN_SIZE 32            /* payload bytes: room for the probe header */
#define ICE_MAX_SIZE 1200          /* payload bytes: fits any path MTU */
#define ICE_MAX_TIMEOUT 3600.0     /* seconds */
#define ICE_MAX_FAILURES 8         /* reasons kept by the verdict */
#define ICE_TURN_MAX_STREAM 240    /* seconds a turn stream may last */
#define ICE_SERVE_LISTEN "127.0.0.1:9479" /* serve --listen default */

/* ---- URLs ---------------------------------------------------------------- */

typedef enum ice_scheme_e {
    ICE_SCHEME_NONE = 0,  /* "HOST[:PORT]" without a scheme */
    ICE_SCHEME_STUN,
    ICE_SCHEME_STUNS,
    ICE_SCHEME_TURN,
    ICE_SCHEME_TURNS,
    ICE_SCHEME_WS,
    ICE_SCHEME_WSS,
} ice_scheme_t;

typedef enum ice_transport_e {
    ICE_TP_UDP = 0,
    ICE_TP_TCP,
    ICE_TP_TLS,           /* TCP with TLS: turns:, stuns:, --transport tls */
} ice_transport_t;

typedef struct ice_url_s {
    ice_scheme_t scheme;
    char host[ICE_HOST_MAX + 1];  /* a DNS name or an IP literal, without brackets */
    uint16_t port;                /* the scheme's default when the URL has none */
    ice_transport_t transport;
    char path[ICE_TEXT_MAX];      /* ws/wss: the path ("/ws" by default) */
} ice_url_t;

/* ice_url_parse: parse a server address as a browser takes it (RFC 7064,
 * RFC 7065): "stun:HOST[:PORT]", "stuns:HOST[:PORT]",
 * "turn:HOST[:PORT][?transport=udp|tcp]", "turns:HOST[:PORT][?transport=tcp]",
 * "ws://HOST[:PORT][/PATH]", "wss://...", or a bare "HOST[:PORT]" (taken as
 * <bare>, which must be ICE_SCHEME_STUN, ICE_SCHEME_TURN or ICE_SCHEME_NONE
 * to refuse bare hosts). HOST is a DNS name, an IPv4 address or an IPv6
 * address in brackets. Default ports: 3478 (stun, turn), 5349 (stuns,
 * turns), 80 (ws), 443 (wss). Returns 0, or CMN_EINVAL with *why set to a
 * static phrase. */
int ice_url_parse(ice_url_t *u, const char *text, ice_scheme_t bare, const char **why);
/* Format <u> back as a URL ("turn:127.0.0.1:3478?transport=udp"). Returns <buf>. */
char *ice_url_format(const ice_url_t *u, char *buf, size_t len);
const char *ice_transport_name(ice_transport_t t); /* "udp", "tcp", "tls" */

/* ---- Options -------------------------------------------------------------- */

typedef enum ice_cmd_e {
    ICE_CMD_STUN = 0,
    ICE_CMD_TURN,
    ICE_CMD_CALL,
    ICE_CMD_SERVE,
} ice_cmd_t;

/* Candidate types, in the order RFC 8445 §5.1.2.2 prefers them. */
typedef enum ice_ctype_e {
    ICE_CTYPE_NONE = 0,
    ICE_CTYPE_HOST,
    ICE_CTYPE_SRFLX,
    ICE_CTYPE_PRFLX,
    ICE_CTYPE_RELAY,
} ice_ctype_t;
const char *ice_ctype_name(ice_ctype_t t); /* "host", "srflx", "prflx", "relay", "none" */

typedef enum ice_srtp_suite_e {
    ICE_SRTP_AES_CM_SHA1_80 = 0,  /* AES_CM_128_HMAC_SHA1_80 (RFC 3711) */
    ICE_SRTP_AES_GCM_128,         /* AEAD_AES_128_GCM (RFC 7714) */
} ice_srtp_suite_t;
const char *ice_srtp_suite_name(ice_srtp_suite_t s); /* the RFC 4568 / 7714 names */

typedef struct ice_limits_s {
    double max_loss;          /* ratio 0..1; < 0: not set */
    double max_rtt;           /* seconds, compared with the 95th percentile; < 0: not set */
    ice_ctype_t require;      /* call: the selected pair's local type; NONE: not set */
} ice_limits_t;

/* Everything a command line or a serve module says. Strings are owned
 * (cmn_strdup) and freed by ice_opts_dispose. */
typedef struct ice_opts_s {
    ice_cmd_t cmd;
    char *targets[ICE_MAX_TARGETS];  /* stun: servers; turn: the URL */
    size_t ntargets;
    ice_transport_t transport;       /* stun --transport */
    char *user, *pass;               /* turn: long-term credentials */
    char *secret;                    /* turn: shared secret (TURN REST API) */
    int ttl;                         /* seconds the secret's username is valid */
    int count;                       /* packets (stun: Binding requests per server) */
    double rate;                     /* packets per second */
    int size;                        /* payload bytes per packet */
    double duration;                 /* seconds; 0 = count/rate */
    double timeout;                  /* seconds each step may take */
    char *signal;                    /* call: ws[s]:// URL of the hub */
    char *room;                      /* call: room name; NULL = random (with --pair) */
    bool relay_only;                 /* call: relayed candidates only */
    bool pair;                       /* call: both ends in this process */
    ice_transport_t turn_transport;  /* call: transport to the hub's TURN server */
    ice_srtp_suite_t srtp;           /* call */
    char *local_address;             /* the local address to use, or NULL for the kernel's
                                      * choice (call: libnice's, or 127.0.0.1 for a loopback hub) */
    char *ca;                        /* TLS: CA file to verify the server with */
    bool insecure;                   /* TLS: do not verify the server's certificate */
    bool json;                       /* print one JSON object */
    ice_limits_t lim;
    char *listen;                    /* serve: "IP:PORT" */
    char *modules;                   /* serve: libconfig file of modules */
} ice_opts_t;

/* Defaults for <cmd> (all strings NULL). */
void ice_opts_defaults(ice_opts_t *o, ice_cmd_t cmd);
/* ice_opts_parse: parse argv (argv[0] is the program, argv[1] the command).
 * Returns 0, 1 when help was asked for (usage printed into <err>), or
 * CMN_EINVAL with one line in <err> naming the option and what was wrong.
 * <o> is disposed on failure. */
int ice_opts_parse(ice_opts_t *o, int argc, char **argv, char *err, size_t errlen);
/* Free the strings <o> owns; safe twice. */
void ice_opts_dispose(ice_opts_t *o);
/* Deep copy (serve hands each check its own). */
void ice_opts_copy(ice_opts_t *dst, const ice_opts_t *src);
/* The usage text (static). */
const char *ice_usage(void);

/* ---- Reports ------------------------------------------------------------ */

typedef struct ice_rtt_s {
    size_t n;                 /* samples */
    double min, mean, p50, p95, p99, max; /* seconds; 0 when n == 0 */
} ice_rtt_t;

/* A stream of packets in one direction or round trip. */
typedef struct ice_traffic_s {
    uint64_t sent;            /* packets sent */
    uint64_t received;        /* packets that arrived (stun, turn: came back) */
    uint64_t bytes;           /* payload bytes that arrived */
    double loss;              /* 1 - received/sent; 0 when nothing was sent */
    double jitter;            /* seconds, RFC 3550 §6.4.1 interarrival jitter */
    double throughput;        /* bits per second of payload that arrived */
    ice_rtt_t rtt;
} ice_traffic_t;

typedef enum ice_mapping_e {
    ICE_MAPPING_UNKNOWN = 0,  /* fewer than two servers answered, or not UDP */
    ICE_MAPPING_INDEPENDENT,  /* same mapped address from every server (RFC 4787 EIM) */
    ICE_MAPPING_DEPENDENT,    /* mapped port differs between servers */
} ice_mapping_t;
const char *ice_mapping_name(ice_mapping_t m); /* "unknown", "endpoint-independent", ... */

typedef struct ice_server_res_s {
    char target[ICE_TEXT_MAX];   /* as given */
    cmn_addr_t server;           /* the address the host resolved to */
    cmn_addr_t local;            /* our socket's address */
    cmn_addr_t mapped;           /* XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS); family 0: none */
    ice_traffic_t t;             /* requests sent, answered, RTT */
} ice_server_res_t;

/* The selected candidate pair of a call. */
typedef struct ice_pair_s {
    ice_ctype_t local, remote;
    ice_transport_t relay_transport; /* to the TURN server, when local is relay */
    cmn_addr_t local_addr, remote_addr;
} ice_pair_t;

typedef struct ice_report_s {
    ice_cmd_t cmd;
    char target[ICE_TEXT_MAX];
    double duration;             /* seconds the whole check took */
    /* Why the check could not finish; all empty when it did. */
    char step[48];               /* the step that failed: "allocate", "connect", ... */
    int error_code;              /* a STUN ERROR-CODE that refused it (401, 403, ...), or 0 */
    char error_reason[128];      /* its reason phrase */
    bool timed_out;              /* the step ran out of --timeout */
    double timeout;              /* that timeout, seconds */
    char error[256];             /* a readable description of the failure */
    /* stun */
    ice_server_res_t servers[ICE_MAX_TARGETS];
    size_t nservers;
    ice_mapping_t mapping;
    /* turn */
    double alloc_time;           /* seconds from the first Allocate to both succeeding */
    cmn_addr_t relayed[2], mapped[2];
    uint32_t lifetime;           /* seconds the server granted */
    bool deallocated;            /* both Refresh(lifetime 0) succeeded */
    /* every check */
    ice_traffic_t traffic;       /* stun: every server's Binding transactions; turn: round
                                  * trips; call: both directions together */
    int size;                    /* payload bytes per packet */
    double rate;                 /* packets per second */
    /* call */
    ice_pair_t pair;
    double gather_time;          /* seconds to gather local candidates (the slower end) */
    double connect_time;         /* seconds from remote candidates to ICE connected */
    uint64_t srtp_auth_failures; /* SRTP packets that failed authentication or replay checks */
    ice_srtp_suite_t srtp;
    unsigned local_candidates[5], remote_candidates[5]; /* by ice_ctype_t */
    /* Verdict (ice_report_judge). */
    bool pass;
    size_t nfailures;
    char failures[ICE_MAX_FAILURES][160];
} ice_report_t;

/* Zero <r> for <cmd> and <target>. */
void ice_report_init(ice_report_t *r, ice_cmd_t cmd, const char *target);
/* Record why the check failed at <step> (printf-style message). The first
 * failure wins; later calls are ignored. */
void ice_report_fail(ice_report_t *r, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, for a STUN error response <code> <reason>. */
void ice_report_refused(ice_report_t *r, const char *step, int code, const char *reason);
/* Same, for a named timeout of <secs>. */
void ice_report_timeout(ice_report_t *r, const char *step, double secs, const char *what);
/* Apply <lim>: sets pass and the failure reasons. A check that could not
 * finish fails; so do a stream where nothing arrived, any SRTP
 * authentication failure, loss over max_loss, a p95 RTT over max_rtt and,
 * for call, a selected pair whose local candidate is not of <require>
 * (prflx counts as srflx). */
void ice_report_judge(ice_report_t *r, const ice_limits_t *lim);
/* Exit status for a judged report. */
int ice_report_exit(const ice_report_t *r);
/* Readable summary, several lines. Returns a cmn_malloc'd string. */
char *ice_report_text(const ice_report_t *r);
/* One JSON object and a newline. Returns a cmn_malloc'd string. */
char *ice_report_json(const ice_report_t *r);
/* Prometheus text exposition of one check (serve's /probe answer).
 * Returns a cmn_malloc'd string, *len its length. */
char *ice_report_prom(const ice_report_t *r, size_t *len);

/* ---- Running checks --------------------------------------------------------- */

/* Once per process, before any check: libsrtp, OpenSSL, logging. Returns 0
 * or CMN_EIO. */
int ice_global_init(void);
/* Run the check <o> names into <r> (not yet judged). They return 0 when a
 * report was made (a refused or timed-out check is a report too) and
 * CMN_EINVAL when <o> cannot be run (bad target). Each step is bounded by
 * o->timeout; none blocks longer than its named timeout. */
int ice_run_stun(const ice_opts_t *o, ice_report_t *r);
int ice_run_turn(const ice_opts_t *o, ice_report_t *r);
int ice_run_call(const ice_opts_t *o, ice_report_t *r);
/* Dispatch on o->cmd (stun, turn, call). */
int ice_run(const ice_opts_t *o, ice_report_t *r);
/* serve: answer /probe until SIGINT or SIGTERM. Returns an exit status. */
int ice_serve(const ice_opts_t *o);

#endif /* ICE_H */
