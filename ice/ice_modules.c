/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_modules.c: serve's modules, as Prometheus' blackbox_exporter has
 * them: a named set of check options that a scrape picks with ?module=.
 * Three are built in (stun, turn and call with the command-line defaults);
 * a libconfig file may redefine them and add more:
 *   modules = {
 *     turn_tcp = { command = "turn"; transport = "tcp"; secret = "s3cret";
 *                  count = 50; max_loss = "2%"; max_rtt = "250ms"; };
 *   };
 * A setting is a command-line option of that command with '_' for '-';
 * its value is the option's text, or a number or boolean where that reads
 * better. Errors name the file and line, the setting, what was expected
 * and what was found. The target of each scrape comes from ?target=.
 */
#include "ice_int.h"

#include <libconfig.h>
#include <stdio.h>

/* Add module <name> with the defaults of <cmd>, or reset it if it exists. */
static ice_opts_t *mod_add(ice_modules_t *m, const char *name, ice_cmd_t cmd)
{
    for (size_t i = 0; i < m->n; i++) {
        if (!strcmp(m->v[i].name, name)) {
            ice_opts_dispose(&m->v[i].opts);
            ice_opts_defaults(&m->v[i].opts, cmd);
            return &m->v[i].opts;
        }
    }
    m->v = cmn_realloc(m->v, (m->n + 1) * sizeof(*m->v));
    ice_module_t *mod = &m->v[m->n++];
    snprintf(mod->name, sizeof(mod->name), "%s", name);
    ice_opts_defaults(&mod->opts, cmd);
    return &mod->opts;
}

void ice_modules_dispose(ice_modules_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        ice_opts_dispose(&m->v[i].opts);
    cmn_free(m->v);
    m->v = NULL;
    m->n = 0;
}

const ice_module_t *ice_modules_find(const ice_modules_t *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i].name, name))
            return &m->v[i];
    return NULL;
}

/* A scalar setting as the text its command-line option takes. */
static int mod_text(const config_setting_t *s, char *buf, size_t len)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING:
        snprintf(buf, len, "%s", config_setting_get_string(s));
        return 0;
    case CONFIG_TYPE_INT:
        snprintf(buf, len, "%d", config_setting_get_int(s));
        return 0;
    case CONFIG_TYPE_INT64:
        snprintf(buf, len, "%lld", config_setting_get_int64(s));
        return 0;
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, len, "%.17g", config_setting_get_float(s));
        return 0;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
        return 0;
    default:
        return CMN_EINVAL;
    }
}

static int mod_err(const char *path, const config_setting_t *s, char *err, size_t errlen,
                   const char *what)
{
    snprintf(err, errlen, "%s:%u: %s", path, config_setting_source_line(s), what);
    return CMN_EINVAL;
}

/* One module group: its command first, then every other setting. */
static int mod_group(ice_modules_t *m, const char *path, config_setting_t *g, char *err,
                     size_t errlen)
{
    static const char *const cmds[] = {"stun", "turn", "call"};
    const char *name = config_setting_name(g), *cmd = NULL;
    char msg[512], text[4200];
    if (!config_setting_is_group(g) || strlen(name) >= sizeof(m->v[0].name))
        return mod_err(path, g, err, errlen, "a module is a group { ... } with a short name");
    if (!config_setting_lookup_string(g, "command", &cmd))
        cmd = name; /* the built-in names imply their command */
    int c = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(cmd, cmds[i]))
            c = i;
    if (c < 0) {
        snprintf(msg, sizeof(msg), "modules.%s.command: expected \"stun\", \"turn\" or \"call\", found \"%.64s\"",
                 name, cmd);
        return mod_err(path, g, err, errlen, msg);
    }
    ice_opts_t *o = mod_add(m, name, (ice_cmd_t)c);
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *key = config_setting_name(s);
        if (!strcmp(key, "command"))
            continue;
        char opt[64], why[400];
        snprintf(opt, sizeof(opt), "%s", key);
        for (char *p = opt; *p; p++)
            if (*p == '_')
                *p = '-';
        if (mod_text(s, text, sizeof(text)) < 0) {
            snprintf(msg, sizeof(msg), "modules.%s.%s: expected a string, number or boolean",
                     name, key);
            return mod_err(path, s, err, errlen, msg);
        }
        if (ice__opts_set(o, opt, text, why, sizeof(why)) < 0) {
            snprintf(msg, sizeof(msg), "modules.%s.%s", name, why);
            return mod_err(path, s, err, errlen, msg);
        }
    }
    return 0;
}

int ice_modules_load(ice_modules_t *m, const char *path, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    mod_add(m, "stun", ICE_CMD_STUN);
    mod_add(m, "turn", ICE_CMD_TURN);
    mod_add(m, "call", ICE_CMD_CALL);
    if (!path)
        return 0;
    config_t cfg;
    config_init(&cfg);
    int rc = 0;
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read the file", path);
        else
            snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&cfg),
                     config_error_text(&cfg));
        rc = CMN_EINVAL;
        goto out;
    }
    config_setting_t *root = config_root_setting(&cfg);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        if (strcmp(config_setting_name(s), "modules") != 0 || !config_setting_is_group(s)) {
            rc = mod_err(path, s, err, errlen, "expected only a group \"modules = { ... };\"");
            goto out;
        }
        for (int k = 0; k < config_setting_length(s) && rc == 0; k++)
            rc = mod_group(m, path, config_setting_get_elem(s, (unsigned)k), err, errlen);
    }
out:
    config_destroy(&cfg);
    if (rc < 0)
        ice_modules_dispose(m);
    return rc;
}

int ice_module_opts(const ice_module_t *mod, const char *target, double scrape_timeout,
                    ice_opts_t *out, char *err, size_t errlen)
{
    ice_opts_copy(out, &mod->opts);
    for (size_t i = 0; i < out->ntargets; i++)
        cmn_free(out->targets[i]);
    out->ntargets = 0;
    if (!target || !*target || strlen(target) >= ICE_TEXT_MAX) {
        snprintf(err, errlen, "target: expected a server, found %s", target ? "a long one" : "none");
        ice_opts_dispose(out);
        return CMN_EINVAL;
    }
    if (out->cmd == ICE_CMD_CALL) {
        /* One scrape is one process: both ends of the call run here. */
        cmn_free(out->signal);
        out->signal = cmn_strdup(target);
        out->pair = true;
    } else {
        out->targets[out->ntargets++] = cmn_strdup(target);
    }
    /* Leave room to answer before Prometheus gives up on the scrape. */
    if (scrape_timeout > 0 && out->timeout > scrape_timeout * 0.8)
        out->timeout = scrape_timeout * 0.8;
    out->json = false;
    if (ice_opts_check(out, err, errlen) < 0) {
        ice_opts_dispose(out);
        return CMN_EINVAL;
    }
    return 0;
}
