/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_config.c: libFuzzer target for the configuration loader
 * (common/cmn_config*.c): a libconfig file, ICEHUB_* environment variables
 * and --flags, as an operator (or a template gone wrong) might write them.
 * An input is NUL-separated parts: the file's text, then each further part
 * is a flag ("turn.realm=x"), or an environment entry when it starts with
 * "ICEHUB_", or, when it starts with "inc:", the text of a second file
 * "inc.conf" the first may @include. Files live in a private directory;
 * an @include of anything but a plain name there is skipped.
 * Checked:
 *   - a failed load says why in one line and leaves the settings zeroed;
 *   - a good load printed (--print-config) loads again from the printed
 *     text alone and prints the same text: the printer writes what the
 *     parser reads, escapes included.
 * Seeds are in tests/fuzz/corpus/config/ (tests/fuzz/gen_seeds.py).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmn_config.h"
#include "common/cmn_log.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_PARTS 32

static char fz_dir[64], fz_main[128], fz_inc[128], fz_print[128];

/* libconfig 1.5 leaks the string being read when a syntax error stops
 * it inside one (strbuf_append): its bug, 64 bytes per failed load of a
 * broken file; docs/security.md lists it. */
const char *__lsan_default_suppressions(void);

const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

static void cleanup(void)
{
    unlink(fz_main);
    unlink(fz_inc);
    unlink(fz_print);
    rmdir(fz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(fz_dir, sizeof(fz_dir), "/tmp/icehub-fuzz-config-XXXXXX");
    CHECK(mkdtemp(fz_dir) != NULL);
    snprintf(fz_main, sizeof(fz_main), "%s/icehub.conf", fz_dir);
    snprintf(fz_inc, sizeof(fz_inc), "%s/inc.conf", fz_dir);
    snprintf(fz_print, sizeof(fz_print), "%s/printed.conf", fz_dir);
    /* Nothing an input names may read the fuzzer's own stdin. */
    CHECK(freopen("/dev/null", "r", stdin) != NULL);
    cmn_log_set_level(CMN_LOG_ERROR);
    atexit(cleanup);
    return 0;
}

static void put_file(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
}

/* Only @include "plain-name" in the private directory. */
static bool includes_ok(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while ((p = memmem(p, (size_t)(end - p), "include", 7)) != NULL) {
        p += 7;
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q)
            return true;
        const char *e = memchr(q + 1, '"', (size_t)(end - q - 1));
        size_t n = e ? (size_t)(e - q - 1) : (size_t)(end - q - 1);
        if (memchr(q + 1, '/', n) || memchr(q + 1, '\\', n) || n == 0 ||
            memmem(q + 1, n, "..", 2))
            return false;
    }
    return true;
}

static char *print(const cmn_settings_t *s, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    CHECK(f != NULL);
    cmn_config_print(s, f);
    CHECK(fclose(f) == 0);
    return buf;
}

/* Replaces the first FROM in file PATH by TO. */
static void replace_in_file(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    CHECK(n < sizeof(buf) - 1);
    fclose(f);
    buf[n] = '\0';
    char *at = strstr(buf, from);
    if (!at)
        return;
    f = fopen(path, "wb");
    CHECK(f != NULL);
    fwrite(buf, 1, (size_t)(at - buf), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    CHECK(fclose(f) == 0);
}

static bool zeroed(const cmn_settings_t *s)
{
    static const cmn_settings_t zero;
    return memcmp(s, &zero, sizeof(zero)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *parts[FZ_PARTS];
    size_t lens[FZ_PARTS], n = 0;
    for (size_t i = 0, start = 0; i <= size && n < FZ_PARTS; i++) {
        if (i == size || data[i] == '\0') {
            parts[n] = (const char *)data + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    if (!includes_ok((const char *)data, size))
        return 0;
    put_file(fz_main, parts[0], lens[0]);
    unlink(fz_inc);
    const char *flags[FZ_PARTS];
    char *env[FZ_PARTS + 1];
    size_t nflags = 0, nenv = 0;
    static char copy[FZ_PARTS][4096];
    for (size_t i = 1; i < n; i++) {
        if (lens[i] >= sizeof(copy[i]))
            return 0;
        memcpy(copy[i], parts[i], lens[i]);
        copy[i][lens[i]] = '\0';
        if (!strncmp(copy[i], "inc:", 4))
            put_file(fz_inc, copy[i] + 4, lens[i] - 4);
        else if (!strncmp(copy[i], "ICEHUB_", 7))
            env[nenv++] = copy[i];
        else
            flags[nflags++] = copy[i];
    }
    env[nenv] = NULL;
    cmn_config_src_t src = {.file = fz_main, .env = env, .flags = flags, .nflags = nflags};
    cmn_settings_t s;
    char err[512] = "";
    int rc = cmn_config_load(&s, &src, err, sizeof(err));
    if (rc != 0) {
        CHECK(rc == CMN_EINVAL && err[0] && !strchr(err, '\n') && zeroed(&s));
        return 0;
    }
    size_t plen;
    char *printed = print(&s, &plen);
    put_file(fz_print, printed, plen);
    /* Secrets print as "***"; admin.token must be 16 characters or more, so
     * the file loaded again holds a placeholder of that length instead (it
     * prints as "***" again). */
    if (s.admin.token[0])
        replace_in_file(fz_print, "token = \"***\";", "token = \"****************\";");
    cmn_settings_t s2;
    cmn_config_src_t src2 = {.file = fz_print};
    rc = cmn_config_load(&s2, &src2, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "printed settings do not load again: %s\n%s\n", err, printed);
    CHECK(rc == 0);
    size_t plen2;
    char *again = print(&s2, &plen2);
    if (plen != plen2 || memcmp(printed, again, plen))
        fprintf(stderr, "printed twice differently:\n%s\n----\n%s\n", printed, again);
    CHECK(plen == plen2 && memcmp(printed, again, plen) == 0);
    free(printed);
    free(again);
    cmn_config_dispose(&s);
    cmn_config_dispose(&s2);
    return 0;
}
