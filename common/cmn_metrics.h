/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_metrics.h: a writer for the Prometheus text exposition format
 * (version 0.0.4). Callers sum their per-thread counters and write them
 * here; this file knows the format (HELP/TYPE lines, label escaping,
 * number formatting) and nothing about where values come from.
 */
#ifndef CMN_METRICS_H
#define CMN_METRICS_H

#include "cmn.h"

typedef struct cmn_prom_s {
    char *buf;      /* owned; NUL-terminated */
    size_t len, cap;
} cmn_prom_t;

void cmn_prom_init(cmn_prom_t *p);
void cmn_prom_dispose(cmn_prom_t *p);
/* Hand the buffer to the caller (free with cmn_free) and reset <p>. */
char *cmn_prom_take(cmn_prom_t *p, size_t *len);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, ...). */
void cmn_prom_family(cmn_prom_t *p, const char *name, const char *type, const char *help);
/* One sample. <labels> is a list of name,value pairs ending with NULL;
 * values are escaped as the format requires. End the list with CMN_PROM_END. */
/* Ends a label list (a typed null pointer, as variadic sentinels need). */
#define CMN_PROM_END ((const char *)NULL)

void cmn_prom_sample(cmn_prom_t *p, const char *name, double value, ...);
void cmn_prom_sample_u64(cmn_prom_t *p, const char *name, uint64_t value, ...);

#endif /* CMN_METRICS_H */
