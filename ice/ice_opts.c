/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_opts.c: icehub-probe's command line. One table names every option,
 * the commands that take it, its type and bounds; "--name value" and
 * "--name=value" both work. A mistake is one line naming the option, what
 * was expected and what was found (exit status 2). Pure: argv in, an
 * ice_opts_t out.
 */
#include "ice_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define C_STUN (1u << ICE_CMD_STUN)
#define C_TURN (1u << ICE_CMD_TURN)
#define C_CALL (1u << ICE_CMD_CALL)
#define C_SERVE (1u << ICE_CMD_SERVE)
#define C_CHECK (C_STUN | C_TURN | C_CALL)

typedef enum opt_kind_e {
    OPT_FLAG,     /* bool, no value */
    OPT_STR,      /* char *, owned */
    OPT_INT,      /* int within min..max */
    OPT_NUM,      /* double within min..max */
    OPT_SECS,     /* double seconds (ice_parse_seconds) within min..max */
    OPT_RATIO,    /* double 0..1 (ice_parse_ratio) */
    OPT_TP,       /* ice_transport_t: udp|tcp|tls */
    OPT_CTYPE,    /* ice_ctype_t: host|srflx|relay */
    OPT_SRTP,     /* ice_srtp_suite_t: aes-cm|aes-gcm */
} opt_kind_t;

typedef struct opt_def_s {
    const char *name;
    opt_kind_t kind;
    unsigned cmds;
    size_t off;
    double min, max;
} opt_def_t;

#define O(f) offsetof(ice_opts_t, f)
static const opt_def_t opt_defs[] = {
    {"transport", OPT_TP, C_STUN | C_TURN, O(transport), 0, 0},
    {"user", OPT_STR, C_TURN, O(user), 0, ICE_CRED_MAX},
    {"pass", OPT_STR, C_TURN, O(pass), 0, ICE_CRED_MAX},
    {"secret", OPT_STR, C_TURN, O(secret), 1, ICE_CRED_MAX},
    {"ttl", OPT_INT, C_TURN, O(ttl), 1, 31536000},
    {"count", OPT_INT, C_STUN | C_TURN, O(count), 1, ICE_MAX_COUNT},
    {"rate", OPT_NUM, C_TURN | C_CALL, O(rate), 0.1, ICE_MAX_RATE},
    {"size", OPT_INT, C_TURN | C_CALL, O(size), ICE_MIN_SIZE, ICE_MAX_SIZE},
    {"duration", OPT_SECS, C_TURN | C_CALL, O(duration), 0.01, ICE_MAX_TIMEOUT},
    {"timeout", OPT_SECS, C_CHECK, O(timeout), 0.05, ICE_MAX_TIMEOUT},
    {"signal", OPT_STR, C_CALL, O(signal), 1, ICE_TEXT_MAX - 1},
    {"room", OPT_STR, C_CALL, O(room), 1, 128},
    {"relay-only", OPT_FLAG, C_CALL, O(relay_only), 0, 0},
    {"pair", OPT_FLAG, C_CALL, O(pair), 0, 0},
    {"turn-transport", OPT_TP, C_CALL, O(turn_transport), 0, 0},
    {"srtp", OPT_SRTP, C_CALL, O(srtp), 0, 0},
    {"local-address", OPT_STR, C_CHECK, O(local_address), 1, 64},
    {"ca", OPT_STR, C_CHECK, O(ca), 1, 4096},
    {"insecure", OPT_FLAG, C_CHECK, O(insecure), 0, 0},
    {"json", OPT_FLAG, C_CHECK, O(json), 0, 0},
    {"max-loss", OPT_RATIO, C_CHECK, O(lim.max_loss), 0, 1},
    {"max-rtt", OPT_SECS, C_CHECK, O(lim.max_rtt), 0, ICE_MAX_TIMEOUT},
    {"require", OPT_CTYPE, C_CALL, O(lim.require), 0, 0},
    {"listen", OPT_STR, C_SERVE, O(listen), 1, 64},
    {"modules", OPT_STR, C_SERVE, O(modules), 1, 4096},
};
#undef O

static const char *const cmd_names[] = {"stun", "turn", "call", "serve"};

const char *ice_usage(void)
{
    return "usage: icehub-probe COMMAND [options]\n"
           "commands:\n"
           "  stun HOST[:PORT]...   Binding round trip; several servers: NAT mapping verdict\n"
           "  turn URL              two allocations relaying to each other, then deallocation\n"
           "  call                  ICE (libnice) and SRTP between two probes through a hub\n"
           "  serve                 HTTP /probe?module=M&target=T for Prometheus\n"
           "stun and turn:\n"
           "  --transport udp|tcp|tls  transport to the server (turn: also from the URL)\n"
           "  --count N             Binding requests (stun) or packets each way (turn)\n"
           "turn:\n"
           "  --user U --pass P     long-term credentials\n"
           "  --secret S            shared secret (TURN REST credentials), with --ttl T\n"
           "  --ttl T               lifetime of a credential made from --secret (s)\n"
           "turn and call:\n"
           "  --rate PPS            packets per second each way\n"
           "  --size BYTES          payload bytes per packet\n"
           "  --duration S          stream length (instead of --count)\n"
           "call:\n"
           "  --signal URL          the hub, ws[s]://HOST[:PORT]/ws\n"
           "  --room R              room to join (the other probe joins it too)\n"
           "  --pair                both ends in this process\n"
           "  --relay-only          relayed candidates only\n"
           "  --turn-transport udp|tcp  transport to TURN servers from iceServers\n"
           "  --srtp aes-cm|aes-gcm  SRTP suite\n"
           "  --require host|srflx|relay  fail unless the selected pair is of this type\n"
           "serve:\n"
           "  --listen IP:PORT      address of the HTTP endpoint\n"
           "  --modules FILE        libconfig file defining the modules\n"
           "every check:\n"
           "  --timeout S           bound on each step; named in the output when hit\n"
           "  --json                one JSON object instead of the summary\n"
           "  --max-loss R          fail above this loss ratio\n"
           "  --max-rtt S           fail above this RTT p95 (s)\n"
           "  --local-address IP    source address of the probe's sockets\n"
           "  --ca FILE             CA bundle for tls, turns: and wss:\n"
           "  --insecure            do not verify the server certificate\n"
           "exit status: 0 thresholds met, 1 not met (or refused, timed out), 2 usage error\n"
           "see docs/probe.md\n";
}

void ice_opts_defaults(ice_opts_t *o, ice_cmd_t cmd)
{
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    o->transport = ICE_TP_UDP;
    o->ttl = 3600;
    o->count = cmd == ICE_CMD_STUN ? 3 : 100;
    o->rate = cmd == ICE_CMD_CALL ? 50 : 100;
    o->size = 160;
    o->duration = cmd == ICE_CMD_CALL ? 3 : 0;
    o->timeout = 5;
    o->turn_transport = ICE_TP_UDP;
    o->srtp = ICE_SRTP_AES_CM_SHA1_80;
    o->lim.max_loss = -1;
    o->lim.max_rtt = -1;
    o->lim.require = ICE_CTYPE_NONE;
}

void ice_opts_dispose(ice_opts_t *o)
{
    for (size_t i = 0; i < o->ntargets; i++)
        cmn_free(o->targets[i]);
    o->ntargets = 0;
    char **strs[] = {&o->user, &o->pass, &o->secret, &o->signal, &o->room,
                     &o->local_address, &o->ca, &o->listen, &o->modules};
    for (size_t i = 0; i < CMN_ARRAY_LEN(strs); i++) {
        cmn_free(*strs[i]);
        *strs[i] = NULL;
    }
}

static char *opt_dup(const char *s)
{
    return s ? cmn_strdup(s) : NULL;
}

void ice_opts_copy(ice_opts_t *dst, const ice_opts_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < src->ntargets; i++)
        dst->targets[i] = opt_dup(src->targets[i]);
    dst->user = opt_dup(src->user);
    dst->pass = opt_dup(src->pass);
    dst->secret = opt_dup(src->secret);
    dst->signal = opt_dup(src->signal);
    dst->room = opt_dup(src->room);
    dst->local_address = opt_dup(src->local_address);
    dst->ca = opt_dup(src->ca);
    dst->listen = opt_dup(src->listen);
    dst->modules = opt_dup(src->modules);
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!*s)
        return CMN_EINVAL;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return CMN_EINVAL;
    *out = v;
    return 0;
}

/* The number in the first <n> bytes of <s>, times <scale>. */
static int parse_scaled(const char *s, size_t n, double scale, double *out)
{
    char num[64];
    if (n == 0 || n >= sizeof(num))
        return CMN_EINVAL;
    memcpy(num, s, n);
    num[n] = '\0';
    double v;
    if (parse_double(num, &v) < 0)
        return CMN_EINVAL;
    *out = v * scale;
    return 0;
}

int ice_parse_seconds(const char *s, double *out)
{
    size_t n = strlen(s);
    double v;
    int rc;
    if (n > 2 && !strcmp(s + n - 2, "ms"))
        rc = parse_scaled(s, n - 2, 1e-3, &v);
    else
        rc = parse_scaled(s, n > 1 && s[n - 1] == 's' ? n - 1 : n, 1, &v);
    if (rc < 0 || v < 0)
        return CMN_EINVAL;
    *out = v;
    return 0;
}

int ice_parse_ratio(const char *s, double *out)
{
    size_t n = strlen(s);
    bool pct = n > 1 && s[n - 1] == '%';
    double v;
    if (parse_scaled(s, pct ? n - 1 : n, pct ? 0.01 : 1, &v) < 0 || v < 0 || v > 1)
        return CMN_EINVAL;
    *out = v;
    return 0;
}

/* What a value of <d> must look like, for the error message. */
static const char *opt_expect(const opt_def_t *d, char *buf, size_t len)
{
    switch (d->kind) {
    case OPT_TP:
        return "udp, tcp or tls";
    case OPT_CTYPE:
        return "host, srflx or relay";
    case OPT_SRTP:
        return "aes-cm or aes-gcm";
    case OPT_RATIO:
        return "a ratio from 0 to 1, or a percentage (\"2%\")";
    case OPT_SECS:
        snprintf(buf, len, "seconds from %.10g to %.10g (\"1.5\", \"250ms\")", d->min, d->max);
        return buf;
    case OPT_INT:
    case OPT_NUM:
        snprintf(buf, len, "a number from %.10g to %.10g", d->min, d->max);
        return buf;
    case OPT_STR:
        snprintf(buf, len, "%.10g to %.10g bytes of text", d->min, d->max);
        return buf;
    case OPT_FLAG:
        break;
    }
    return "no value";
}

static int opt_word(const char *v, const char *const *words, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v, words[i])) {
            *out = (int)i;
            return 0;
        }
    }
    return CMN_EINVAL;
}

/* Store <v> into the field of <d>. */
static int opt_store(ice_opts_t *o, const opt_def_t *d, const char *v)
{
    static const char *const tps[] = {"udp", "tcp", "tls"};
    static const char *const srtps[] = {"aes-cm", "aes-gcm"};
    void *f = (char *)o + d->off;
    double x;
    int w;
    switch (d->kind) {
    case OPT_FLAG:
        *(bool *)f = true;
        return 0;
    case OPT_STR:
        if (strlen(v) < d->min || strlen(v) > d->max)
            return CMN_EINVAL;
        cmn_free(*(char **)f);
        *(char **)f = cmn_strdup(v);
        return 0;
    case OPT_INT:
    case OPT_NUM:
        if (parse_double(v, &x) < 0 || x < d->min || x > d->max ||
            (d->kind == OPT_INT && x != floor(x)))
            return CMN_EINVAL;
        if (d->kind == OPT_INT)
            *(int *)f = (int)x;
        else
            *(double *)f = x;
        return 0;
    case OPT_SECS:
        if (ice_parse_seconds(v, &x) < 0 || x < d->min || x > d->max)
            return CMN_EINVAL;
        *(double *)f = x;
        return 0;
    case OPT_RATIO:
        return ice_parse_ratio(v, (double *)f);
    case OPT_TP:
        if (opt_word(v, tps, CMN_ARRAY_LEN(tps), &w) < 0)
            return CMN_EINVAL;
        *(ice_transport_t *)f = (ice_transport_t)w;
        return 0;
    case OPT_CTYPE:
        if (ice_ctype_parse(v, (ice_ctype_t *)f) < 0 || *(ice_ctype_t *)f == ICE_CTYPE_PRFLX)
            return CMN_EINVAL;
        return 0;
    case OPT_SRTP:
        if (opt_word(v, srtps, CMN_ARRAY_LEN(srtps), &w) < 0)
            return CMN_EINVAL;
        *(ice_srtp_suite_t *)f = (ice_srtp_suite_t)w;
        return 0;
    }
    return CMN_EINVAL;
}

static const opt_def_t *opt_find(const char *name, size_t nlen)
{
    for (size_t k = 0; k < CMN_ARRAY_LEN(opt_defs); k++)
        if (strlen(opt_defs[k].name) == nlen && !strncmp(opt_defs[k].name, name, nlen))
            return &opt_defs[k];
    return NULL;
}

static int opt_bad_value(const opt_def_t *d, const char *label, const char *v, char *err,
                         size_t errlen)
{
    char buf[96];
    snprintf(err, errlen, "%s: expected %s, found \"%.64s\"", label,
             opt_expect(d, buf, sizeof(buf)), v);
    return CMN_EINVAL;
}

int ice__opts_set(ice_opts_t *o, const char *name, const char *v, char *err, size_t errlen)
{
    const opt_def_t *d = opt_find(name, strlen(name));
    if (!d || !(d->cmds & (1u << o->cmd))) {
        snprintf(err, errlen, "%s: not a setting of a %s check", name, cmd_names[o->cmd]);
        return CMN_EINVAL;
    }
    if (d->kind == OPT_FLAG) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            snprintf(err, errlen, "%s: expected true or false, found \"%.64s\"", name, v);
            return CMN_EINVAL;
        }
        *(bool *)((char *)o + d->off) = !strcmp(v, "true");
        return 0;
    }
    if (opt_store(o, d, v) < 0)
        return opt_bad_value(d, name, v, err, errlen);
    return 0;
}

/* One "--name[=value]" at argv[*i]; consumes its value. */
static int opt_one(ice_opts_t *o, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
    const opt_def_t *d = opt_find(arg, eq ? (size_t)(eq - arg) : strlen(arg));
    if (!d || !(d->cmds & (1u << o->cmd))) {
        snprintf(err, errlen, "%s: unknown option for %s%s", argv[*i], cmd_names[o->cmd],
                 d ? " (another command takes it)" : "");
        return CMN_EINVAL;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (d->kind == OPT_FLAG && v) {
        snprintf(err, errlen, "--%s takes no value, found \"%s\"", d->name, v);
        return CMN_EINVAL;
    }
    if (d->kind != OPT_FLAG && !v) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "--%s: a value is missing", d->name);
            return CMN_EINVAL;
        }
        v = argv[++*i];
    }
    if (opt_store(o, d, v) < 0) {
        char label[64];
        snprintf(label, sizeof(label), "--%s", d->name);
        return opt_bad_value(d, label, v, err, errlen);
    }
    return 0;
}

int ice_opts_check(const ice_opts_t *o, char *err, size_t errlen)
{
    switch (o->cmd) {
    case ICE_CMD_STUN:
        if (o->ntargets == 0) {
            snprintf(err, errlen, "stun: name at least one server: HOST[:PORT]");
            return CMN_EINVAL;
        }
        return 0;
    case ICE_CMD_TURN:
        if (o->ntargets != 1) {
            snprintf(err, errlen, "turn: name one server URL: turn:HOST[:PORT][?transport=udp|tcp]");
            return CMN_EINVAL;
        }
        if (o->secret && (o->user || o->pass)) {
            snprintf(err, errlen, "turn: give --user and --pass, or --secret, not both");
            return CMN_EINVAL;
        }
        if (!o->secret && (!o->user || !o->pass)) {
            snprintf(err, errlen, "turn: credentials are missing: --user U --pass P, or --secret S");
            return CMN_EINVAL;
        }
        /* A permission lives 300 s (RFC 8656 §9) and the check does not
         * refresh it mid-stream. */
        if ((o->duration > 0 ? o->duration : o->count / o->rate) > ICE_TURN_MAX_STREAM) {
            snprintf(err, errlen, "turn: the stream may last at most %d s (--count / --rate, or --duration)",
                     ICE_TURN_MAX_STREAM);
            return CMN_EINVAL;
        }
        return 0;
    case ICE_CMD_CALL:
        if (o->ntargets || !o->signal || (!o->room && !o->pair)) {
            snprintf(err, errlen, "call: give --signal ws[s]://HOST[:PORT]/ws and --room R (or --pair)");
            return CMN_EINVAL;
        }
        /* libnice 0.1.21 speaks TURN-over-TLS as plain TCP outside its
         * Google/MSOC modes: it cannot reach a real turns: server. */
        if (o->turn_transport == ICE_TP_TLS) {
            snprintf(err, errlen, "call: --turn-transport tls is not available (libnice sends "
                                  "TURN over TLS as plain TCP); check turns: with the turn command");
            return CMN_EINVAL;
        }
        return 0;
    case ICE_CMD_SERVE:
        if (o->ntargets) {
            snprintf(err, errlen, "serve: unexpected argument \"%s\"", o->targets[0]);
            return CMN_EINVAL;
        }
        return 0;
    }
    return CMN_EINVAL;
}

int ice_opts_parse(ice_opts_t *o, int argc, char **argv, char *err, size_t errlen)
{
    int cmd;
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        ice_opts_defaults(o, ICE_CMD_STUN);
        snprintf(err, errlen, "%s", ice_usage());
        return argc < 2 ? CMN_EINVAL : 1;
    }
    if (opt_word(argv[1], cmd_names, CMN_ARRAY_LEN(cmd_names), &cmd) < 0) {
        ice_opts_defaults(o, ICE_CMD_STUN);
        snprintf(err, errlen, "unknown command \"%.64s\": expected stun, turn, call or serve",
                 argv[1]);
        return CMN_EINVAL;
    }
    ice_opts_defaults(o, (ice_cmd_t)cmd);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            snprintf(err, errlen, "%s", ice_usage());
            ice_opts_dispose(o);
            return 1;
        }
        int rc = 0;
        if (!strncmp(argv[i], "--", 2)) {
            rc = opt_one(o, argc, argv, &i, err, errlen);
        } else if (o->ntargets == ICE_MAX_TARGETS || strlen(argv[i]) >= ICE_TEXT_MAX) {
            snprintf(err, errlen, "at most %d servers of fewer than %d bytes each",
                     ICE_MAX_TARGETS, ICE_TEXT_MAX);
            rc = CMN_EINVAL;
        } else {
            o->targets[o->ntargets++] = cmn_strdup(argv[i]);
        }
        if (rc < 0) {
            ice_opts_dispose(o);
            return rc;
        }
    }
    if (ice_opts_check(o, err, errlen) < 0) {
        ice_opts_dispose(o);
        return CMN_EINVAL;
    }
    return 0;
}
