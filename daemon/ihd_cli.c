/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_cli.c: what icehubd says on the command line. The --help text lists
 * every setting from the schema (common/cmn_config_schema.c) with its type,
 * default and whether SIGHUP reloads it; a "--section.key value" written
 * without '=' gets a hint instead of a puzzling "unknown option"; and once
 * the services run, one short block of log lines names the URLs they serve.
 *
 * Glue only: it prints what the configuration says and decides nothing.
 */
#include "ihd.h"

#include <stdio.h>
#include <strings.h>

#include "common/cmn_log.h"

void ihd_cli_usage(FILE *f)
{
    fprintf(f,
            "usage: icehubd [options] [--section.key=value ...]\n"
            "       icehubd usage LEDGER... [--since T] [--until T] [--by user|realm|day]\n"
            "\n"
            "icehub: STUN/TURN server and WebRTC signaling hub.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE    read settings from a libconfig file\n"
            "      --check-config   validate the configuration and exit (0 ok, 2 error)\n"
            "      --print-config   print the effective configuration (secrets masked)\n"
            "      --upgrade        take over from the icehubd running on upgrade.socket:\n"
            "                       its listening sockets, UDP allocations and rooms\n"
            "  -h, --help           show this help\n"
            "  -V, --version        show the version\n"
            "\n"
            "Every setting can be given as --section.key=value or as the environment\n"
            "variable ICEHUB_SECTION_KEY (lists comma-separated); flags win over the\n"
            "environment, which wins over the file. Each setting below shows its\n"
            "default, its type, and whether SIGHUP reloads it or a change needs a\n"
            "restart.\n");
    size_t n;
    const cmn_cfg_def_t *d = cmn_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(d[i].name, '.');
        if (i == 0 || strncmp(d[i - 1].name, d[i].name, (size_t)(dot - d[i].name) + 1) != 0)
            fprintf(f, "\n%.*s:\n", (int)(dot - d[i].name), d[i].name);
        char type[160];
        fprintf(f, "  --%s=%s  (%s; %s)\n      %s\n", d[i].name, d[i].def[0] ? d[i].def : "\"\"",
                cmn_config_type_text(&d[i], type, sizeof(type)),
                d[i].reloadable ? "SIGHUP reloads" : "needs a restart", d[i].doc);
    }
    fprintf(f, "\nSee docs/configuration.md for details.\n");
}

static bool is_bool_word(const char *s)
{
    static const char *const w[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(w); i++)
        if (!strcasecmp(s, w[i]))
            return true;
    return false;
}

int ihd_cli_flag_hint(const char *flag, const char *next, char *buf, size_t len)
{
    if (strncmp(flag, "--", 2) != 0 || strchr(flag, '=') || !next || next[0] == '-')
        return CMN_ENOENT;
    size_t n;
    const cmn_cfg_def_t *d = cmn_config_schema(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(d[i].name, flag + 2) && d[i].type == CMN_CFG_BOOL && !is_bool_word(next))
            return CMN_ENOENT; /* a bare boolean switch, then something else */
    snprintf(buf, len,
             "%s %.100s: expected %s=VALUE, found the value as a separate argument; "
             "write %s=%.100s",
             flag, next, flag, flag, next);
    return 0;
}

/* ---- The URL block ------------------------------------------------------ */

/* "HOST:PORT" for URLs to <a>: signal.public_host when set, "localhost" for
 * a wildcard address (with a note of what it covers in <note>), else the
 * address itself (IPv6 in brackets). */
static void url_host(const cmn_settings_t *s, const cmn_addr_t *a, char *buf, size_t len,
                     const char **note)
{
    char ip[CMN_ADDR_STRLEN];
    *note = "";
    const char *host = s->signal.public_host;
    if (!host[0] && cmn_addr_is_any(a)) {
        host = "localhost";
        *note = a->family == CMN_AF_INET ? " (every IPv4 address)" : " (every address)";
    }
    if (host[0])
        snprintf(buf, len, "%s:%u", host, (unsigned)a->port);
    else
        snprintf(buf, len, "%s", cmn_addr_format(a, ip, sizeof(ip), true));
}

static void log_turn(const cmn_settings_t *s, bool tls_on)
{
    char h[CMN_ADDR_STRLEN + 256];
    const char *note;
    for (size_t i = 0; s->turn.enabled && i < s->turn.listen.n; i++) {
        url_host(s, &s->turn.listen.v[i], h, sizeof(h), &note);
        cmn_info("main", "  STUN/TURN  stun:%s  turn:%s?transport=udp  turn:%s?transport=tcp%s", h,
                 h, h, note);
    }
    for (size_t i = 0; s->turn.enabled && tls_on && i < s->turn.tls_listen.n; i++) {
        url_host(s, &s->turn.tls_listen.v[i], h, sizeof(h), &note);
        cmn_info("main", "  TURN/TLS   turns:%s?transport=tcp%s", h, note);
    }
}

/* The pages and endpoints of one HTTP listener. */
static void log_http(const cmn_settings_t *s, const cmn_addr_t *a, bool tls)
{
    char h[CMN_ADDR_STRLEN + 256];
    const char *note, *web = tls ? "https" : "http", *ws = tls ? "wss" : "ws";
    url_host(s, a, h, sizeof(h), &note);
    if (s->signal.enabled)
        cmn_info("main", "  demo       %s://%s/  signaling %s://%s/ws%s", web, h, ws, h, note);
    cmn_info("main", "  metrics    %s://%s/metrics%s", web, h, note);
    if (s->admin.enabled)
        cmn_info("main", "  dashboard  %s://%s/dashboard%s", web, h, note);
}

void ihd_cli_log_urls(const cmn_settings_t *s, bool tls_on)
{
    char h[CMN_ADDR_STRLEN + 256];
    const char *note;
    log_turn(s, tls_on);
    for (size_t i = 0; s->http.enabled && i < s->http.listen.n; i++)
        log_http(s, &s->http.listen.v[i], false);
    for (size_t i = 0; s->http.enabled && tls_on && i < s->http.tls_listen.n; i++)
        log_http(s, &s->http.tls_listen.v[i], true);
    for (size_t i = 0; i < s->metrics.listen.n; i++) {
        url_host(s, &s->metrics.listen.v[i], h, sizeof(h), &note);
        cmn_info("main", "  metrics    http://%s/metrics (metrics.listen)%s", h, note);
    }
}
