/* icehub - SPDX-License-Identifier: MIT
 *
 * config_fixture.h: helpers the configuration tests share (test_cmn_config.c,
 * test_cmn_config_types.c): temporary files, loading from given sources
 * with the "never half-configured" check, and one-flag / one-file cases that
 * must fail with an exact message or succeed.
 */
#ifndef CONFIG_FIXTURE_H
#define CONFIG_FIXTURE_H

#define CFX_UNUSED __attribute__((unused))

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmn_config.h"

#define ERR_MAX 1024

/* ---- Helpers --------------------------------------------------------- */

/* Write <text> to a new temporary file; returns its malloc'd path. */
static CFX_UNUSED char *tmp_file(const char *text)
{
    char *path = strdup("/tmp/icehub-test-conf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

/* Write <text> to <dir>/<name>; its path goes to <path>. */
static CFX_UNUSED void dir_file(const char *dir, const char *name, const char *text, char *path,
                                size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static CFX_UNUSED void rm_file(char *path)
{
    unlink(path);
    free(path);
}

static CFX_UNUSED const char *srcdir(void)
{
    const char *d = getenv("ICEHUB_SRCDIR");
    return d && *d ? d : ".";
}

static CFX_UNUSED char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (run from the repository root or set ICEHUB_SRCDIR)", path);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

static CFX_UNUSED char *print_str(const cmn_settings_t *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cmn_config_print(s, m);
    fclose(m);
    return buf;
}

static CFX_UNUSED bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* Load from the given sources (each may be NULL). */
static CFX_UNUSED int load(cmn_settings_t *s, const char *file, char *const *env, const char *const *flags,
                char *err)
{
    size_t n = 0;
    while (flags && flags[n])
        n++;
    cmn_config_src_t src = {.file = file, .env = env, .flags = flags, .nflags = n};
    int rc = cmn_config_load(s, &src, err, ERR_MAX);
    if (rc < 0)
        assert_true(all_zero(s, sizeof(*s))); /* never half-configured */
    else
        assert_string_equal(err, "");
    return rc;
}

/* One flag must fail with exactly <msg>. */
static CFX_UNUSED void flag_fails(const char *flag, const char *msg)
{
    cmn_settings_t s;
    char err[ERR_MAX];
    const char *flags[] = {flag, NULL};
    if (load(&s, NULL, NULL, flags, err) != CMN_EINVAL)
        fail_msg("flag %s was accepted", flag);
    assert_string_equal(err, msg);
}

static CFX_UNUSED void flag_ok(const char *flag, cmn_settings_t *s)
{
    char err[ERR_MAX];
    const char *flags[] = {flag, NULL};
    if (load(s, NULL, NULL, flags, err) != 0)
        fail_msg("flag %s failed: %s", flag, err);
}

/* A file holding <body> must fail with exactly "<path>:<msg>" (<msg>
 * starts with the line number). */
static CFX_UNUSED void file_fails(const char *body, const char *msg)
{
    cmn_settings_t s;
    char err[ERR_MAX], want[ERR_MAX];
    char *path = tmp_file(body);
    int rc = load(&s, path, NULL, NULL, err);
    snprintf(want, sizeof(want), "%s:%s", path, msg);
    rm_file(path);
    if (rc != CMN_EINVAL)
        fail_msg("file was accepted: %s", body);
    assert_string_equal(err, want);
}

static CFX_UNUSED void file_ok(const char *body, cmn_settings_t *s)
{
    char err[ERR_MAX];
    char *path = tmp_file(body);
    int rc = load(s, path, NULL, NULL, err);
    rm_file(path);
    if (rc != 0)
        fail_msg("file failed: %s", err);
}

static CFX_UNUSED const char *addr_text(const cmn_addr_t *a)
{
    static char buf[CMN_ADDR_STRLEN];
    return cmn_addr_format(a, buf, sizeof(buf), true);
}

#endif /* CONFIG_FIXTURE_H */
