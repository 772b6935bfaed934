/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_cli.c: `icehubd usage LEDGER... [--since T] [--until T]
 * [--by user|realm|day] [--json] [--config FILE] [--section.key=value ...]
 * [--egress-per-gb X --ingress-per-gb X --currency C]`: reads ledger files (any order, rotated
 * ones included), sums the records whose interval ended in [since, until)
 * and prints one row per key plus a total: allocations (records with seq 0,
 * i.e. allocations whose first record is in the window), GB (10^9 bytes of
 * UDP payload) to peers and to clients, and cost at the configured prices:
 * the settings load as the daemon's do (defaults, --config, ICEHUB_*
 * variables, --section.key=value flags), so the same configuration prices
 * usage the same way; the three price options override it.
 * A torn last line (power loss) is skipped with a warning; any other bad
 * line is skipped with a warning and makes the exit status 1.
 *
 * Runs before (and instead of) the daemon: no threads, no sockets.
 */
#include "acct.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_config.h"

#define CLI_EXIT_DATA 1
#define CLI_EXIT_USAGE 2

typedef enum cli_by_e { CLI_BY_USER = 0, CLI_BY_REALM, CLI_BY_DAY } cli_by_t;

typedef struct cli_s {
    const char **files;
    size_t nfiles;
    double since, until;        /* [since, until) on record end times */
    bool has_since, has_until;
    cli_by_t by;
    bool json;
    const char *config;
    const char **flags;         /* "section.key=value" (borrowed from argv) */
    size_t nflags;
    double egress, ingress;     /* < 0: not given */
    const char *currency;
    acct_utab_t rows;
    uint64_t records, used, bad, torn;
    acct_urow_t total;           /* name unused; last: its name is a flexible array */
} cli_t;

static void cli_usage(FILE *f)
{
    fprintf(f,
            "usage: icehubd usage LEDGER... [options]\n"
            "\n"
            "Sum usage ledger files (JSON lines written by icehubd, ledger.path).\n"
            "\n"
            "options:\n"
            "  --since T             only records whose interval ended at or after T\n"
            "  --until T             only records whose interval ended before T\n"
            "                        (T: 2026-12-01, 2026-12-01T10:00:00Z or Unix seconds)\n"
            "  --by user|realm|day   one row per quota user (default), realm or UTC day\n"
            "  --json                JSON instead of a table\n"
            "  --config FILE         read settings (cost.* prices, currency) from a config\n"
            "  --section.key=VALUE   any setting, as for icehubd (--cost.egress_per_gb=0.05)\n"
            "  --egress-per-gb X     price per 10^9 bytes sent to clients (overrides all)\n"
            "  --ingress-per-gb X    price per 10^9 bytes sent to peers (overrides all)\n"
            "  --currency C          currency label of the cost column (overrides all)\n"
            "\n"
            "Prices come from the settings as icehubd loads them: defaults, --config,\n"
            "ICEHUB_* variables (ICEHUB_COST_EGRESS_PER_GB=0.05) and --section.key flags.\n"
            "\n"
            "Exit status: 0 ok, 1 a file could not be read or held damaged lines,\n"
            "2 bad arguments.\n");
}

__attribute__((format(printf, 1, 2))) static int bad_arg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "icehubd usage: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try icehubd usage --help)\n");
    return CLI_EXIT_USAGE;
}

static int parse_price(const char *opt, const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= 0) || d > 1e12)
        return bad_arg("%s: expected a price >= 0 (a decimal number)", opt);
    *out = d;
    return 0;
}

/* "--opt VALUE" or "--opt=VALUE": returns the value or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *matched)
{
    size_t n = strlen(name);
    const char *s = argv[*i];
    *matched = false;
    if (strncmp(s, name, n))
        return NULL;
    if (s[n] == '=') {
        *matched = true;
        return s + n + 1;
    }
    if (s[n])
        return NULL;
    *matched = true;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static int parse_cli(int argc, char **argv, cli_t *c)
{
    static const char *const with_value[] = {"--since", "--until", "--by", "--config",
                                             "--egress-per-gb", "--ingress-per-gb",
                                             "--currency"};
    c->files = cmn_calloc((size_t)argc + 1, sizeof(*c->files));
    c->flags = cmn_calloc((size_t)argc + 1, sizeof(*c->flags));
    c->egress = c->ingress = -1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            cli_usage(stdout);
            return -1;
        }
        if (!strcmp(s, "--json")) {
            c->json = true;
            continue;
        }
        if (s[0] != '-' || !strcmp(s, "-")) {
            c->files[c->nfiles++] = s;
            continue;
        }
        /* A setting, as icehubd takes it: --section.key=value. */
        const char *dot = strchr(s, '.'), *eq = strchr(s, '=');
        if (!strncmp(s, "--", 2) && dot && (!eq || dot < eq)) {
            c->flags[c->nflags++] = s + 2;
            continue;
        }
        size_t k;
        const char *v = NULL;
        bool matched = false;
        for (k = 0; k < CMN_ARRAY_LEN(with_value); k++) {
            v = opt_value(argc, argv, &i, with_value[k], &matched);
            if (matched)
                break;
        }
        if (!matched)
            return bad_arg("unknown option \"%s\"", s);
        if (!v)
            return bad_arg("%s: expected a value", with_value[k]);
        int rc = 0;
        switch (k) {
        case 0:
        case 1: {
            double t;
            if (acct_time_parse(v, &t) < 0)
                return bad_arg("expected a time like 2026-12-01, 2026-12-01T10:00:00Z or "
                               "Unix seconds, found \"%s\"",
                               v);
            if (k == 0) {
                c->since = t;
                c->has_since = true;
            } else {
                c->until = t;
                c->has_until = true;
            }
            break;
        }
        case 2:
            if (!strcmp(v, "user"))
                c->by = CLI_BY_USER;
            else if (!strcmp(v, "realm"))
                c->by = CLI_BY_REALM;
            else if (!strcmp(v, "day"))
                c->by = CLI_BY_DAY;
            else
                return bad_arg("--by: expected user, realm or day, found \"%s\"", v);
            break;
        case 3: c->config = v; break;
        case 4: rc = parse_price("--egress-per-gb", v, &c->egress); break;
        case 5: rc = parse_price("--ingress-per-gb", v, &c->ingress); break;
        case 6: c->currency = v; break;
        }
        if (rc)
            return rc;
    }
    if (!c->nfiles)
        return bad_arg("%s", "expected at least one LEDGER file");
    if (c->has_since && c->has_until && c->until <= c->since)
        return bad_arg("%s", "--until must be later than --since");
    return 0;
}

static void add_rec(acct_urow_t *r, const acct_recv_t *v)
{
    r->to_peer_bytes += v->to_peer_bytes;
    r->to_client_bytes += v->to_client_bytes;
    r->to_peer_packets += v->to_peer_packets;
    r->to_client_packets += v->to_client_packets;
    r->allocations += v->seq == 0;
}

static void on_rec(void *ctx, const acct_recv_t *v)
{
    cli_t *c = ctx;
    if ((c->has_since && v->end < c->since) || (c->has_until && v->end >= c->until))
        return;
    char day[ACCT_TIME_STRLEN];
    const char *key = v->user;
    if (c->by == CLI_BY_REALM) {
        key = v->realm;
    } else if (c->by == CLI_BY_DAY) {
        acct_time_format(v->end, day, sizeof(day));
        day[10] = '\0';
        key = day;
    }
    add_rec(acct_utab_get(&c->rows, key), v);
    add_rec(&c->total, v);
    c->used++;
}

static void on_warn(void *ctx, const char *name, uint64_t line, const char *what)
{
    (void)ctx;
    fprintf(stderr, "icehubd usage: warning: %s:%llu: %s\n", name, (unsigned long long)line,
            what);
}

static int read_files(cli_t *c)
{
    int rc = 0;
    for (size_t i = 0; i < c->nfiles; i++) {
        const char *name = c->files[i];
        bool std = !strcmp(name, "-");
        FILE *f = std ? stdin : fopen(name, "r");
        if (!f) {
            fprintf(stderr, "icehubd usage: %s: %s\n", name, strerror(errno));
            rc = CLI_EXIT_DATA;
            continue;
        }
        acct_read_stats_t st;
        if (acct_ledger_read(f, std ? "(stdin)" : name, on_rec, on_warn, c, &st) < 0) {
            fprintf(stderr, "icehubd usage: %s: read error\n", name);
            rc = CLI_EXIT_DATA;
        }
        if (st.bad)
            rc = CLI_EXIT_DATA;
        c->records += st.records;
        c->bad += st.bad;
        c->torn += st.torn;
        if (!std)
            fclose(f);
    }
    return rc;
}

static int cmp_key(const void *x, const void *y)
{
    return strcmp((*(acct_urow_t *const *)x)->name, (*(acct_urow_t *const *)y)->name);
}

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("?"); /* not UTF-8: jansson refuses it */
}

static json_t *row_json(const char *key, const acct_urow_t *r, double cost)
{
    json_t *o = json_object();
    if (key)
        json_object_set_new(o, "key", jstr(key));
    json_object_set_new(o, "allocations", json_integer((json_int_t)r->allocations));
    json_object_set_new(o, "to_peer_bytes", json_integer((json_int_t)r->to_peer_bytes));
    json_object_set_new(o, "to_client_bytes", json_integer((json_int_t)r->to_client_bytes));
    json_object_set_new(o, "to_peer_packets", json_integer((json_int_t)r->to_peer_packets));
    json_object_set_new(o, "to_client_packets", json_integer((json_int_t)r->to_client_packets));
    json_object_set_new(o, "cost", json_real(cost));
    return o;
}

static void print_report(cli_t *c, const acct_prices_t *pr)
{
    static const char *const by_name[] = {"user", "realm", "day"};
    size_t n = c->rows.map.n;
    acct_urow_t **rows = cmn_calloc(n + 1, sizeof(*rows));
    n = acct_utab_top(&c->rows, n, rows); /* most bytes first */
    if (c->by == CLI_BY_DAY)
        qsort(rows, n, sizeof(*rows), cmp_key);
    const char *cur = pr->currency ? pr->currency : "";
    if (c->json) {
        json_t *o = json_object(), *arr = json_array();
        json_object_set_new(o, "by", json_string(by_name[c->by]));
        json_object_set_new(o, "currency", jstr(cur));
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, row_json(rows[i]->name, rows[i],
                                                acct_cost(pr, rows[i]->to_peer_bytes,
                                                          rows[i]->to_client_bytes)));
        json_object_set_new(o, "rows", arr);
        json_object_set_new(o, "total", row_json(NULL, &c->total,
                                                 acct_cost(pr, c->total.to_peer_bytes,
                                                           c->total.to_client_bytes)));
        json_object_set_new(o, "records", json_integer((json_int_t)c->used));
        json_object_set_new(o, "records_read", json_integer((json_int_t)c->records));
        json_object_set_new(o, "torn_lines", json_integer((json_int_t)c->torn));
        json_object_set_new(o, "bad_lines", json_integer((json_int_t)c->bad));
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (txt)
            printf("%s\n", txt);
        free(txt);
        json_decref(o);
    } else {
        int w = 5;
        for (size_t i = 0; i < n; i++)
            w = CMN_MAX(w, (int)CMN_MIN(strlen(rows[i]->name), 60));
        printf("%-*s %12s %14s %14s %14s\n", w, by_name[c->by], "allocations", "GB to peer",
               "GB to client", "cost");
        for (size_t i = 0; i <= n; i++) {
            const acct_urow_t *r = i < n ? rows[i] : &c->total;
            double cost = acct_cost(pr, r->to_peer_bytes, r->to_client_bytes);
            printf("%-*.60s %12llu %14.9f %14.9f %10.4f %s\n", w, i < n ? r->name : "TOTAL",
                   (unsigned long long)r->allocations, (double)r->to_peer_bytes / 1e9,
                   (double)r->to_client_bytes / 1e9, cost, cur);
        }
    }
    cmn_free(rows);
}

int acct_cli(int argc, char **argv)
{
    extern char **environ;
    cli_t c;
    memset(&c, 0, sizeof(c));
    int rc = parse_cli(argc, argv, &c);
    if (rc) {
        cmn_free(c.files);
        cmn_free(c.flags);
        return rc < 0 ? 0 : rc;
    }
    cmn_settings_t s;
    char err[1024];
    cmn_config_src_t src = {.file = c.config, .env = environ, .flags = c.flags,
                            .nflags = c.nflags};
    if (cmn_config_load(&s, &src, err, sizeof(err)) < 0) {
        fprintf(stderr, "icehubd usage: configuration error: %s\n", err);
        cmn_free(c.files);
        cmn_free(c.flags);
        return CLI_EXIT_USAGE;
    }
    acct_prices_t prices = {
        .ingress_per_gb = c.ingress >= 0 ? c.ingress : s.cost.ingress_per_gb,
        .egress_per_gb = c.egress >= 0 ? c.egress : s.cost.egress_per_gb,
        .currency = c.currency ? c.currency : s.cost.currency,
    };
    acct_utab_init(&c.rows, SIZE_MAX);
    rc = read_files(&c);
    if (c.torn || c.bad)
        fprintf(stderr, "icehubd usage: %llu records read, %llu torn and %llu bad lines skipped\n",
                (unsigned long long)c.records, (unsigned long long)c.torn,
                (unsigned long long)c.bad);
    print_report(&c, &prices);
    acct_utab_dispose(&c.rows);
    cmn_config_dispose(&s);
    cmn_free(c.files);
    cmn_free(c.flags);
    return rc;
}
