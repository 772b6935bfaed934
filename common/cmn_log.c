/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_log.c: the stderr logger. The level is a relaxed atomic so a SIGHUP
 * reload can change it while worker threads log.
 */
#include "cmn.h"
#include "cmn_log.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int g_level = CMN_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cmn_log_set_level(cmn_log_level_t lvl)
{
    __atomic_store_n(&g_level, (int)lvl, __ATOMIC_RELAXED);
}

cmn_log_level_t cmn_log_get_level(void)
{
    return (cmn_log_level_t)__atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

int cmn_log_level_parse(const char *s, cmn_log_level_t *out)
{
    for (size_t i = 0; i < CMN_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (cmn_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = CMN_LOG_WARN;
        return 0;
    }
    return CMN_EINVAL;
}

const char *cmn_log_level_name(cmn_log_level_t lvl)
{
    if ((unsigned)lvl < CMN_ARRAY_LEN(level_names))
        return level_names[lvl];
    return "?";
}

void cmn_vlog(cmn_log_level_t lvl, const char *sub, const char *fmt, va_list ap)
{
    if (!CMN_LOG_ENABLED(lvl))
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, cmn_log_level_name(lvl), sub ? sub : "-");
    if (n < 0)
        return;
    size_t off = (size_t)n;
    int m = vsnprintf(line + off, sizeof(line) - off - 1, fmt, ap);
    if (m < 0)
        return;
    off += (size_t)m;
    if (off > sizeof(line) - 2)
        off = sizeof(line) - 2;
    /* One event, one line: fold embedded newlines so log readers stay sane. */
    for (size_t i = (size_t)n; i < off; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[off++] = '\n';
    (void)!write(2, line, off);
}

void cmn_log(cmn_log_level_t lvl, const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmn_vlog(lvl, sub, fmt, ap);
    va_end(ap);
}
