/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_config.c: loads cmn_settings_t from its four sources in rising
 * precedence (schema defaults, a libconfig file, ICEHUB_* environment
 * variables, --section.key=value flags) and checks the settings that
 * depend on each other.
 *
 * Every source is applied in full and each value replaces the one before
 * it, so a bad value is reported even when a later source overrides it. The
 * first error stops the load with one message that says where the value
 * came from ("file:line: name", "ICEHUB_NAME" or "--name"), what was
 * expected and what was found; the half-built settings are then freed.
 * Per-value parsing and printing live in cmn_config_schema.c.
 */
#include "cmn_config_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define LABEL_MAX CMN_CONFIG_SOURCE_MAX

typedef struct load_s {
    cmn_settings_t *s;
    const cmn_cfg_def_t *defs;
    size_t ndefs;
    char (*label)[LABEL_MAX]; /* per setting: where its current value came from */
    const char *path;         /* the file being read, or NULL */
    const char *incdir;       /* its directory, for @include'd names */
    char *err;
    size_t errlen;
} load_t;

static int failf(load_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failf(load_t *l, const char *fmt, ...)
{
    if (l->err && l->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err, l->errlen, fmt, ap);
        va_end(ap);
    }
    return CMN_EINVAL;
}

/* "<label>: expected <why or the type's phrase>, found <found>". */
static int value_error(load_t *l, const char *label, const cmn_cfg_def_t *d, const char *why,
                       const char *found)
{
    char exp[CMN__CFG_TEXT_MAX];
    if (!why)
        why = cmn__cfg_expect(d, exp, sizeof(exp));
    return failf(l, "%s: expected %s, found %s", label, why, found);
}

static int find_def(const load_t *l, const char *name, size_t len)
{
    for (size_t i = 0; i < l->ndefs; i++)
        if (strlen(l->defs[i].name) == len && memcmp(l->defs[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* A section is the part of some setting's name before the dot. */
static bool known_section(const load_t *l, const char *sec, size_t len)
{
    for (size_t i = 0; i < l->ndefs; i++)
        if (strncmp(l->defs[i].name, sec, len) == 0 && l->defs[i].name[len] == '.')
            return true;
    return false;
}

char *cmn_config_env_name(const char *name, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "ICEHUB_");
    for (size_t i = 0; name[i] && o + 1 < len; i++)
        buf[o++] = name[i] == '.' ? '_' : (char)toupper((unsigned char)name[i]);
    if (len)
        buf[CMN_MIN(o, len - 1)] = '\0';
    return buf;
}

/* ---- Text values (defaults, environment, flags) --------------------- */

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        p[--n] = '\0';
    return p;
}

/* "a, b,c" -> three elements; "" (or only blanks) -> an empty list. An
 * empty element ("a,,b") is passed on and refused by the element parser. */
static int split_list(load_t *l, const char *label, const cmn_cfg_def_t *d, const char *text,
                      cmn__cfg_val_t *v)
{
    char *copy = cmn_strdup(text);
    char *p = trim(copy);
    int rc = 0;
    /* Once there is any text, every comma starts another element, so
     * "a," has an empty second element. */
    for (bool more = *p != '\0'; more;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *e = trim(p);
        const char *why;
        if (cmn__cfg_list_add(d, v, e, &why) < 0) {
            char found[CMN__CFG_TEXT_MAX];
            rc = value_error(l, label, d, why, cmn__cfg_found(d, e, found, sizeof(found)));
            break;
        }
        more = comma != NULL;
        if (more)
            p = comma + 1;
    }
    cmn_free(copy);
    return rc;
}

static void store(load_t *l, size_t idx, cmn__cfg_val_t *v, const char *label)
{
    cmn__cfg_store(l->s, &l->defs[idx], v);
    snprintf(l->label[idx], LABEL_MAX, "%s", label);
}

static int apply_text(load_t *l, size_t idx, const char *label, const char *text)
{
    const cmn_cfg_def_t *d = &l->defs[idx];
    cmn__cfg_val_t v;
    memset(&v, 0, sizeof(v));
    int rc;
    if (cmn__cfg_is_list(d->type)) {
        rc = split_list(l, label, d, text, &v);
    } else {
        const char *why;
        char found[CMN__CFG_TEXT_MAX];
        rc = cmn__cfg_parse_scalar(d, text, &v, &why);
        if (rc < 0)
            rc = value_error(l, label, d, why, cmn__cfg_found(d, text, found, sizeof(found)));
    }
    if (rc < 0) {
        cmn__cfg_val_free(d, &v);
        return rc;
    }
    store(l, idx, &v, label);
    return 0;
}

static int load_defaults(load_t *l)
{
    char label[LABEL_MAX];
    for (size_t i = 0; i < l->ndefs; i++) {
        snprintf(label, sizeof(label), "%s (default)", l->defs[i].name);
        if (apply_text(l, i, label, l->defs[i].def) < 0)
            return CMN_EINVAL;
    }
    return 0;
}

/* ICEHUB_SECTION_KEY for every known setting. Other ICEHUB_* variables
 * are left alone (ICEHUB_SRCDIR and the like belong to other tools), except
 * that a variable in a known section's namespace must name a setting:
 * ICEHUB_TURN_RELAYPORTS is a typo, and ignoring it would hide it. */
static int load_env(load_t *l, char *const *env)
{
    char name[LABEL_MAX];
    for (; *env; env++) {
        const char *e = *env, *eq = strchr(e, '=');
        if (strncmp(e, "ICEHUB_", 7) != 0 || !eq || (size_t)(eq - e) >= sizeof(name))
            continue;
        size_t nlen = (size_t)(eq - e);
        int idx = -1;
        for (size_t i = 0; i < l->ndefs && idx < 0; i++) {
            cmn_config_env_name(l->defs[i].name, name, sizeof(name));
            if (strlen(name) == nlen && memcmp(name, e, nlen) == 0)
                idx = (int)i;
        }
        memcpy(name, e, nlen);
        name[nlen] = '\0';
        if (idx >= 0) {
            if (apply_text(l, (size_t)idx, name, eq + 1) < 0)
                return CMN_EINVAL;
            continue;
        }
        /* "ICEHUB_TURN_FOO" -> "turn.foo" if "turn" is a section. */
        char guess[LABEL_MAX];
        size_t i;
        for (i = 7; i < nlen; i++)
            guess[i - 7] = (char)tolower((unsigned char)e[i]);
        guess[i - 7] = '\0';
        char *us = strchr(guess, '_');
        if (us && known_section(l, guess, (size_t)(us - guess))) {
            *us = '.';
            char qn[2 * LABEL_MAX], qg[2 * LABEL_MAX];
            cmn__cfg_found(NULL, name, qn, sizeof(qn));
            cmn__cfg_found(NULL, guess, qg, sizeof(qg));
            return failf(l, "%.*s: unknown setting %s", (int)strlen(qn) - 2, qn + 1, qg);
        }
    }
    return 0;
}

static int load_flags(load_t *l, const char *const *flags, size_t n)
{
    char label[LABEL_MAX];
    for (size_t i = 0; i < n; i++) {
        const char *f = flags[i];
        if (strncmp(f, "--", 2) == 0)
            f += 2;
        const char *eq = strchr(f, '=');
        size_t nlen = eq ? (size_t)(eq - f) : strlen(f);
        int nl = (int)CMN_MIN(nlen, (size_t)200);
        int idx = find_def(l, f, nlen);
        if (idx < 0) {
            /* The name as typed, with control bytes escaped: a message is one line. */
            char raw[LABEL_MAX], q[2 * LABEL_MAX];
            snprintf(raw, sizeof(raw), "%.*s", nl, f);
            cmn__cfg_found(NULL, raw, q, sizeof(q));
            return failf(l, "--%.*s: unknown setting %s", (int)strlen(q) - 2, q + 1, q);
        }
        snprintf(label, sizeof(label), "--%s", l->defs[idx].name);
        const char *text = eq ? eq + 1 : NULL;
        if (!text && l->defs[idx].type == CMN_CFG_BOOL)
            text = "true"; /* a bare "--turn.enabled" switches it on */
        if (!text)
            return failf(l, "%s: expected \"%s=VALUE\", found no value", label, label);
        if (apply_text(l, (size_t)idx, label, text) < 0)
            return CMN_EINVAL;
    }
    return 0;
}

/* ---- The file -------------------------------------------------------- */

/* A libconfig value as a "found" phrase. */
static const char *describe(const config_setting_t *cs, char *buf, size_t len)
{
    switch (config_setting_type(cs)) {
    case CONFIG_TYPE_INT: snprintf(buf, len, "%d", config_setting_get_int(cs)); break;
    case CONFIG_TYPE_INT64:
        snprintf(buf, len, "%lldL", (long long)config_setting_get_int64(cs));
        break;
    case CONFIG_TYPE_FLOAT: snprintf(buf, len, "%g", config_setting_get_float(cs)); break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, len, "%s", config_setting_get_bool(cs) ? "true" : "false");
        break;
    case CONFIG_TYPE_STRING: cmn__cfg_found(NULL, config_setting_get_string(cs), buf, len); break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: snprintf(buf, len, "a list"); break;
    case CONFIG_TYPE_GROUP: snprintf(buf, len, "a group"); break;
    default: snprintf(buf, len, "nothing"); break;
    }
    return buf;
}

/* "file:line" for a position libconfig reported. libconfig names an
 * @include'd file as written in the directive, relative to the include
 * directory; make it a path the reader can open. */
static const char *file_pos(const load_t *l, const char *file, unsigned line, char *buf)
{
    if (!file || strcmp(file, l->path) == 0)
        snprintf(buf, LABEL_MAX, "%s:%u", l->path, line);
    else if (file[0] != '/' && strcmp(l->incdir, ".") != 0)
        snprintf(buf, LABEL_MAX, "%s/%s:%u", l->incdir, file, line);
    else
        snprintf(buf, LABEL_MAX, "%s:%u", file, line);
    return buf;
}

static void file_label(const load_t *l, char *buf, const config_setting_t *cs, const char *name)
{
    char pos[LABEL_MAX];
    file_pos(l, config_setting_source_file(cs), config_setting_source_line(cs), pos);
    snprintf(buf, LABEL_MAX, "%.*s: %s", LABEL_MAX - 100, pos, name);
}

/* A list setting: a libconfig list or array of strings, or one string
 * taken like a flag's value (comma-separated). A bad element is reported
 * at the setting's line, and the found value says which element it is:
 * libconfig records an element's line after reading the token that follows
 * it, so the last element of a multi-line list would get the line of the
 * closing bracket. */
static int file_list(load_t *l, const cmn_cfg_def_t *d, const config_setting_t *cs,
                     cmn__cfg_val_t *v)
{
    char label[LABEL_MAX], found[CMN__CFG_TEXT_MAX];
    int type = config_setting_type(cs);
    file_label(l, label, cs, d->name);
    if (type == CONFIG_TYPE_STRING)
        return split_list(l, label, d, config_setting_get_string(cs), v);
    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return value_error(l, label, d, "a list of strings or a string",
                           describe(cs, found, sizeof(found)));
    for (int i = 0; i < config_setting_length(cs); i++) {
        const config_setting_t *e = config_setting_get_elem(cs, (unsigned)i);
        const char *why = "a string";
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return value_error(l, label, d, why, describe(e, found, sizeof(found)));
        const char *text = config_setting_get_string(e);
        if (cmn__cfg_list_add(d, v, text, &why) < 0)
            return value_error(l, label, d, why, cmn__cfg_found(d, text, found, sizeof(found)));
    }
    return 0;
}

/* A string where a boolean or an integer belongs. When the text would be
 * a good value without its quotes, say so: libconfig makes "4" a string. */
static int quoted_error(load_t *l, const char *label, const cmn_cfg_def_t *d, const char *text)
{
    char found[CMN__CFG_TEXT_MAX], exp[CMN__CFG_TEXT_MAX];
    const char *why =
        d->type == CMN_CFG_BOOL ? "true or false" : cmn__cfg_expect(d, exp, sizeof(exp));
    cmn__cfg_found(d, text, found, sizeof(found));
    cmn__cfg_val_t v;
    const char *w;
    if (cmn__cfg_parse_scalar(d, text, &v, &w) < 0)
        return value_error(l, label, d, why, found);
    const char *key = strchr(d->name, '.') + 1;
    return failf(l, "%s: expected %s, found %s (a quoted value is a string in the file: "
                    "write %s = %s; without quotes)",
                 label, why, found, key, d->type == CMN_CFG_BOOL ? (v.b ? "true" : "false") : text);
}

/* A scalar: booleans and integers must have their libconfig type (no
 * coercion: "4" is not 4); everything else is a string parsed as text. */
static int file_scalar(load_t *l, const cmn_cfg_def_t *d, const config_setting_t *cs,
                       const char *label, cmn__cfg_val_t *v)
{
    char found[CMN__CFG_TEXT_MAX];
    int type = config_setting_type(cs);
    if ((d->type == CMN_CFG_BOOL || d->type == CMN_CFG_INT) && type == CONFIG_TYPE_STRING)
        return quoted_error(l, label, d, config_setting_get_string(cs));
    if (d->type == CMN_CFG_BOOL) {
        if (type != CONFIG_TYPE_BOOL)
            return value_error(l, label, d, "true or false", describe(cs, found, sizeof(found)));
        v->b = config_setting_get_bool(cs) != 0;
        return 0;
    }
    if (d->type == CMN_CFG_INT) {
        if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) ||
            !cmn__cfg_int_ok(d, config_setting_get_int64(cs)))
            return value_error(l, label, d, NULL, describe(cs, found, sizeof(found)));
        v->i = (int)config_setting_get_int64(cs);
        return 0;
    }
    /* Sizes and prices may be bare numbers (64000, 0.085) or strings
     * ("64k"). */
    bool num = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64 || type == CONFIG_TYPE_FLOAT;
    if ((d->type == CMN_CFG_SIZE || d->type == CMN_CFG_DOUBLE) && num) {
        bool fl = type == CONFIG_TYPE_FLOAT;
        if (cmn__cfg_num_from_file(d, fl ? 0 : config_setting_get_int64(cs),
                                   fl ? config_setting_get_float(cs) : 0, fl, v) < 0)
            return value_error(l, label, d, NULL, describe(cs, found, sizeof(found)));
        return 0;
    }
    if (type != CONFIG_TYPE_STRING)
        return value_error(l, label, d, NULL, describe(cs, found, sizeof(found)));
    const char *text = config_setting_get_string(cs), *why;
    if (cmn__cfg_parse_scalar(d, text, v, &why) < 0)
        return value_error(l, label, d, why, cmn__cfg_found(d, text, found, sizeof(found)));
    return 0;
}

static int file_setting(load_t *l, size_t idx, const config_setting_t *cs)
{
    const cmn_cfg_def_t *d = &l->defs[idx];
    char label[LABEL_MAX];
    cmn__cfg_val_t v;
    memset(&v, 0, sizeof(v));
    file_label(l, label, cs, d->name);
    int rc = cmn__cfg_is_list(d->type) ? file_list(l, d, cs, &v)
                                       : file_scalar(l, d, cs, label, &v);
    if (rc < 0) {
        cmn__cfg_val_free(d, &v);
        return rc;
    }
    store(l, idx, &v, label);
    return 0;
}

static int file_section(load_t *l, const config_setting_t *sec)
{
    char name[LABEL_MAX], label[LABEL_MAX], found[CMN__CFG_TEXT_MAX];
    const char *sname = config_setting_name(sec);
    if (!known_section(l, sname, strlen(sname)))
        return failf(l, "%s: unknown %s \"%s\"",
                     file_pos(l, config_setting_source_file(sec),
                              config_setting_source_line(sec), label),
                     config_setting_is_group(sec) ? "section" : "setting", sname);
    if (!config_setting_is_group(sec)) {
        file_label(l, label, sec, sname);
        return failf(l, "%s: expected a group (%s = { ... };), found %s", label, sname,
                     describe(sec, found, sizeof(found)));
    }
    for (int i = 0; i < config_setting_length(sec); i++) {
        const config_setting_t *cs = config_setting_get_elem(sec, (unsigned)i);
        snprintf(name, sizeof(name), "%s.%s", sname, config_setting_name(cs));
        int idx = find_def(l, name, strlen(name));
        if (idx < 0)
            return failf(l, "%s: unknown setting \"%s\"",
                         file_pos(l, config_setting_source_file(cs),
                                  config_setting_source_line(cs), label),
                         name);
        if (file_setting(l, (size_t)idx, cs) < 0)
            return CMN_EINVAL;
    }
    return 0;
}

/* libconfig says only "file I/O error" when it cannot open a file; open it
 * first to report the real reason. A directory opens fine, so stat too. */
static int check_readable(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    close(fd);
    return rc;
}

static int read_file(load_t *l, config_t *cfg)
{
    char pos[LABEL_MAX];
    if (!config_read_file(cfg, l->path)) {
        const char *file = config_error_file(cfg);
        if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
            return failf(l, "%s: %s", file ? file : l->path, config_error_text(cfg));
        char hint[CMN__CFG_TEXT_MAX + 64];
        file_pos(l, file, (unsigned)config_error_line(cfg), pos);
        /* The file libconfig names (an @include'd one, say) is where the
         * line is; file_pos made its name one the reader can open. */
        char path[LABEL_MAX];
        snprintf(path, sizeof(path), "%s", pos);
        char *colon = strrchr(path, ':');
        if (colon)
            *colon = '\0';
        return failf(l, "%s: %s%s", pos, config_error_text(cfg),
                     cmn__cfg_syntax_hint(path, config_error_line(cfg), hint, sizeof(hint)));
    }
    const config_setting_t *root = config_root_setting(cfg);
    for (int i = 0; i < config_setting_length(root); i++)
        if (file_section(l, config_setting_get_elem(root, (unsigned)i)) < 0)
            return CMN_EINVAL;
    return 0;
}

static int load_file(load_t *l, const char *path)
{
    int e = check_readable(path);
    if (e)
        return failf(l, "%s: %s", path, strerror(e));
    /* @include is relative to the working directory unless told otherwise;
     * make it relative to the including file, as people expect. */
    char *dir = cmn_strdup(path), *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    l->path = path;
    l->incdir = slash ? dir : ".";
    config_t cfg;
    config_init(&cfg);
    config_set_include_dir(&cfg, l->incdir);
    int rc = read_file(l, &cfg);
    config_destroy(&cfg);
    cmn_free(dir);
    l->path = l->incdir = NULL;
    return rc;
}

/* ---- Checks across settings ----------------------------------------- */

static const char *label_of(const load_t *l, const char *name)
{
    int idx = find_def(l, name, strlen(name));
    return idx >= 0 ? l->label[idx] : name;
}

static int validate_paths(load_t *l)
{
    const cmn_settings_t *s = l->s;
    if (s->tls.key[0] && !s->tls.cert[0])
        return failf(l, "%s: a TLS key needs tls.cert as well", label_of(l, "tls.key"));
    if (s->tls.cert[0] && !s->tls.key[0])
        return failf(l, "%s: a TLS certificate needs tls.key as well", label_of(l, "tls.cert"));
    for (size_t i = 0; i < l->ndefs; i++) {
        const cmn_cfg_def_t *d = &l->defs[i];
        if (d->type != CMN_CFG_PATH)
            continue;
        const char *path = *(char *const *)((const char *)s + d->offset);
        if (path[0] == '\0')
            continue;
        int e = check_readable(path);
        if (e) {
            char found[CMN__CFG_TEXT_MAX];
            return failf(l, "%s: expected a readable file, found %s (%s)", l->label[i],
                         cmn__cfg_found(d, path, found, sizeof(found)), strerror(e));
        }
    }
    return 0;
}

/* An admin API reachable from other hosts must have a token; a short one
 * can be guessed. */
static int validate_admin(load_t *l)
{
    const cmn_settings_t *s = l->s;
    size_t tlen = strlen(s->admin.token);
    if (tlen && tlen < 16)
        return failf(l, "%s: expected at least 16 characters, found %zu",
                     label_of(l, s->admin.token_file[0] ? "admin.token_file" : "admin.token"),
                     tlen);
    for (size_t i = 0; s->http.enabled && i < s->metrics.listen.n; i++) {
        char buf[CMN_ADDR_STRLEN];
        for (size_t k = 0; k < s->http.listen.n; k++)
            if (cmn_addr_equal(&s->metrics.listen.v[i], &s->http.listen.v[k]))
                return failf(l, "%s: expected addresses that are not in http.listen, found %s",
                             label_of(l, "metrics.listen"),
                             cmn_addr_format(&s->metrics.listen.v[i], buf, sizeof(buf), true));
    }
    if (!s->admin.enabled || !s->http.enabled || tlen)
        return 0;
    for (size_t i = 0; i < s->http.listen.n; i++) {
        char buf[CMN_ADDR_STRLEN];
        if (!cmn_addr_is_loopback(&s->http.listen.v[i]))
            return failf(l, "%s: the admin API on a non-loopback address (http.listen %s) "
                            "needs admin.token, found an empty token",
                         label_of(l, "admin.enabled"),
                         cmn_addr_format(&s->http.listen.v[i], buf, sizeof(buf), true));
    }
    return 0;
}

/* The first address of the HTTP listeners (plain, and TLS when it runs)
 * that other hosts can reach, or NULL; its setting's name in <setting>. */
static const cmn_addr_t *public_http(const cmn_settings_t *s, const char **setting)
{
    for (size_t i = 0; s->http.enabled && i < s->http.listen.n; i++)
        if (!cmn_addr_is_loopback(&s->http.listen.v[i])) {
            *setting = "http.listen";
            return &s->http.listen.v[i];
        }
    for (size_t i = 0; s->http.enabled && s->tls.cert[0] && i < s->http.tls_listen.n; i++)
        if (!cmn_addr_is_loopback(&s->http.tls_listen.v[i])) {
            *setting = "http.tls_listen";
            return &s->http.tls_listen.v[i];
        }
    return NULL;
}

const cmn_addr_t *cmn__cfg_open_hub(const cmn_settings_t *s, const char **setting)
{
    if (!s->signal.enabled || s->signal.require_token || s->signal.allowed_origins.n)
        return NULL;
    return public_http(s, setting);
}

/* A hub that other hosts reach with neither room tokens nor an Origin
 * allow-list hands working TURN credentials to anyone who can open a
 * WebSocket: it must be asked for (signal.open), not fallen into. */
static int validate_signal(load_t *l)
{
    const char *setting;
    const cmn_addr_t *a = cmn__cfg_open_hub(l->s, &setting);
    if (!a || l->s->signal.open)
        return 0;
    char buf[CMN_ADDR_STRLEN];
    return failf(l, "%s: the signaling hub on %s would give TURN credentials to anyone who can "
                    "open a WebSocket; set signal.require_token = true (room tokens from your "
                    "backend) or signal.allowed_origins (your web app's origins), or "
                    "signal.open = true to serve it open on purpose",
                 label_of(l, setting), cmn_addr_format(a, buf, sizeof(buf), true));
}

/* admin.token_file: its first line, without the line end, becomes
 * admin.token, so the token can come from a systemd credential or a
 * mounted secret instead of the configuration or the environment. Read at
 * every load, so a reload picks up a replaced file. */
static int load_token_file(load_t *l)
{
    cmn_settings_t *s = l->s;
    const char *label = label_of(l, "admin.token_file");
    if (!s->admin.token_file[0])
        return 0;
    if (s->admin.token[0])
        return failf(l, "%s: expected admin.token or admin.token_file, found both", label);
    int fd = open(s->admin.token_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return failf(l, "%s: cannot read the token: %s", label, strerror(errno));
    char buf[CMN_CONFIG_TOKEN_MAX + 3];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    size_t len = strcspn(buf, "\r\n");
    bool ctl = false;
    for (size_t i = 0; i < len; i++)
        ctl |= (unsigned char)buf[i] < 0x20 || buf[i] == 0x7f;
    if (n < 0 || len > CMN_CONFIG_TOKEN_MAX || ctl || len == 0) {
        explicit_bzero(buf, sizeof(buf));
        return failf(l, "%s: expected a file whose first line is a token of 1..%d printable "
                        "bytes, found %s", label, CMN_CONFIG_TOKEN_MAX,
                     n < 0 ? strerror(errno) : len == 0 ? "an empty first line"
                     : ctl ? "control characters" : "a longer line");
    }
    cmn_free(s->admin.token);
    s->admin.token = cmn_strndup(buf, len);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

static int validate_extip(load_t *l)
{
    const cmn_settings_t *s = l->s;
    if (s->turn.external_ip.n == 1 && strcmp(s->turn.external_ip.v[0], CMN_EXTIP_AUTO) == 0 &&
        s->turn.external_ip_servers.n == 0)
        return failf(l, "%s: \"auto\" needs turn.external_ip_servers, found an empty list",
                     label_of(l, "turn.external_ip"));
    return 0;
}

static bool name_chars(const char *s, bool host)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || (host && (c == '.' || c == ':'))))
            return false;
    }
    return true;
}

/* redis.*: a URL hiredis can reach, names other nodes can use, a heartbeat
 * key that outlives two heartbeats. The URL may hold a password, so an
 * error shows only its scheme. */
static int validate_redis(load_t *l)
{
    const cmn_settings_t *s = l->s;
    if (!name_chars(s->redis.node_id, false))
        return failf(l, "%s: expected 1..32 characters of A-Z a-z 0-9 - _, found \"%s\"",
                     label_of(l, "redis.node_id"), s->redis.node_id);
    if (!name_chars(s->redis.advertise_host, true))
        return failf(l, "%s: expected a host name or an IP address, found \"%s\"",
                     label_of(l, "redis.advertise_host"), s->redis.advertise_host);
    if (s->redis.node_ttl < 2 * s->redis.heartbeat)
        return failf(l, "%s: expected at least twice redis.heartbeat (%d s), found %d s",
                     label_of(l, "redis.node_ttl"), s->redis.heartbeat, s->redis.node_ttl);
    if (!s->redis.url[0])
        return 0;
    cmn_redis_url_t u;
    const char *why;
    if (cmn_config_parse_redis_url(s->redis.url, &u, &why) < 0) {
        size_t sch = strcspn(s->redis.url, ":");
        return failf(l, "%s: %s, found a URL starting \"%.*s\"", label_of(l, "redis.url"), why,
                     (int)CMN_MIN(sch + 3, (size_t)16), s->redis.url);
    }
    explicit_bzero(&u, sizeof(u));
    return 0;
}

static int validate(load_t *l)
{
    const cmn_settings_t *s = l->s;
    if (validate_paths(l) < 0 || load_token_file(l) < 0 || validate_extip(l) < 0)
        return CMN_EINVAL;
    bool tls_on = s->tls.cert[0] && s->turn.tls_listen.n;
    if (s->turn.enabled && s->turn.listen.n == 0 && !tls_on)
        return failf(l, "%s: expected at least one address while turn.enabled is true "
                        "(or turn.tls_listen with tls.cert), found an empty list",
                     label_of(l, "turn.listen"));
    if (s->http.enabled && s->http.listen.n == 0)
        return failf(l, "%s: expected at least one address while http.enabled is true, "
                        "found an empty list",
                     label_of(l, "http.listen"));
    if (validate_admin(l) < 0 || validate_redis(l) < 0)
        return CMN_EINVAL;
    return validate_signal(l);
}

int cmn_config_load(cmn_settings_t *out, const cmn_config_src_t *src, char *err, size_t errlen)
{
    load_t l;
    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';
    l.s = out;
    l.defs = cmn_config_schema(&l.ndefs);
    l.label = cmn_calloc(l.ndefs, sizeof(*l.label));
    l.err = err;
    l.errlen = errlen;
    int rc = load_defaults(&l);
    if (rc == 0 && src && src->file)
        rc = load_file(&l, src->file);
    if (rc == 0 && src && src->env)
        rc = load_env(&l, src->env);
    if (rc == 0 && src && src->flags)
        rc = load_flags(&l, src->flags, src->nflags);
    if (rc == 0)
        rc = validate(&l);
    if (rc < 0) {
        cmn_free(l.label);
        cmn_config_dispose(out);
        return CMN_EINVAL;
    }
    out->sources = l.label;
    if (src && src->warn)
        cmn__cfg_warnings(out, src->warn, src->warn_ud);
    return 0;
}

const char *cmn_config_source(const cmn_settings_t *s, const char *name)
{
    size_t n;
    const cmn_cfg_def_t *defs = cmn_config_schema(&n);
    for (size_t i = 0; s->sources && i < n; i++)
        if (!strcmp(defs[i].name, name))
            return s->sources[i];
    return name;
}

void cmn_config_dispose(cmn_settings_t *s)
{
    size_t n;
    const cmn_cfg_def_t *defs = cmn_config_schema(&n);
    for (size_t i = 0; i < n; i++)
        cmn__cfg_field_free(s, &defs[i]);
    cmn_free(s->sources);
    memset(s, 0, sizeof(*s));
}
