/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_log.h: one line per event on stderr, with a UTC timestamp, level and
 * subsystem. Safe to call from any thread: each line is one write(2).
 * Not for the per-packet path: log counters there, not lines.
 */
#ifndef CMN_LOG_H
#define CMN_LOG_H

#include <stdarg.h>

typedef enum cmn_log_level_e {
    CMN_LOG_ERROR = 0,
    CMN_LOG_WARN = 1,
    CMN_LOG_INFO = 2,
    CMN_LOG_DEBUG = 3,
} cmn_log_level_t;

void cmn_log_set_level(cmn_log_level_t lvl);
cmn_log_level_t cmn_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; returns 0 or CMN_EINVAL. */
int cmn_log_level_parse(const char *s, cmn_log_level_t *out);
const char *cmn_log_level_name(cmn_log_level_t lvl);

void cmn_log(cmn_log_level_t lvl, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cmn_vlog(cmn_log_level_t lvl, const char *sub, const char *fmt, va_list ap);

#define CMN_LOG_ENABLED(lvl) ((lvl) <= cmn_log_get_level())
#define cmn_err(sub, ...) cmn_log(CMN_LOG_ERROR, sub, __VA_ARGS__)
#define cmn_warn(sub, ...) cmn_log(CMN_LOG_WARN, sub, __VA_ARGS__)
#define cmn_info(sub, ...) cmn_log(CMN_LOG_INFO, sub, __VA_ARGS__)
#define cmn_debug(sub, ...) \
    do { if (CMN_LOG_ENABLED(CMN_LOG_DEBUG)) cmn_log(CMN_LOG_DEBUG, sub, __VA_ARGS__); } while (0)

#endif /* CMN_LOG_H */
