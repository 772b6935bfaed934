/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_metrics.c: Prometheus text exposition writer. Counters are written
 * as exact integers (uint64), gauges and sums as doubles.
 */
#include "cmn_metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

void cmn_prom_init(cmn_prom_t *p)
{
    p->cap = 4096;
    p->buf = cmn_malloc(p->cap);
    p->buf[0] = '\0';
    p->len = 0;
}

void cmn_prom_dispose(cmn_prom_t *p)
{
    cmn_free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

char *cmn_prom_take(cmn_prom_t *p, size_t *len)
{
    char *b = p->buf;
    if (len)
        *len = p->len;
    p->buf = NULL;
    p->len = p->cap = 0;
    return b;
}

static void prom_append(cmn_prom_t *p, const char *s, size_t n)
{
    if (p->len + n + 1 > p->cap) {
        while (p->len + n + 1 > p->cap)
            p->cap *= 2;
        p->buf = cmn_realloc(p->buf, p->cap);
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void prom_puts(cmn_prom_t *p, const char *s)
{
    prom_append(p, s, strlen(s));
}

void cmn_prom_family(cmn_prom_t *p, const char *name, const char *type, const char *help)
{
    prom_puts(p, "# HELP ");
    prom_puts(p, name);
    prom_puts(p, " ");
    /* HELP text escapes backslash and newline. */
    for (const char *c = help; *c; c++) {
        if (*c == '\\')
            prom_puts(p, "\\\\");
        else if (*c == '\n')
            prom_puts(p, "\\n");
        else
            prom_append(p, c, 1);
    }
    prom_puts(p, "\n# TYPE ");
    prom_puts(p, name);
    prom_puts(p, " ");
    prom_puts(p, type);
    prom_puts(p, "\n");
}

static void prom_labels(cmn_prom_t *p, va_list ap)
{
    const char *k = va_arg(ap, const char *);
    if (!k)
        return;
    prom_puts(p, "{");
    bool first = true;
    while (k) {
        const char *v = va_arg(ap, const char *);
        if (!first)
            prom_puts(p, ",");
        first = false;
        prom_puts(p, k);
        prom_puts(p, "=\"");
        for (const char *c = v ? v : ""; *c; c++) {
            if (*c == '\\' || *c == '"')
                prom_append(p, "\\", 1);
            if (*c == '\n')
                prom_puts(p, "\\n");
            else
                prom_append(p, c, 1);
        }
        prom_puts(p, "\"");
        k = va_arg(ap, const char *);
    }
    prom_puts(p, "}");
}

void cmn_prom_sample(cmn_prom_t *p, const char *name, double value, ...)
{
    va_list ap;
    prom_puts(p, name);
    va_start(ap, value);
    prom_labels(p, ap);
    va_end(ap);
    char num[64];
    if (isnan(value))
        snprintf(num, sizeof(num), " NaN\n");
    else if (isinf(value))
        snprintf(num, sizeof(num), value > 0 ? " +Inf\n" : " -Inf\n");
    else
        snprintf(num, sizeof(num), " %.17g\n", value);
    prom_puts(p, num);
}

void cmn_prom_sample_u64(cmn_prom_t *p, const char *name, uint64_t value, ...)
{
    va_list ap;
    prom_puts(p, name);
    va_start(ap, value);
    prom_labels(p, ap);
    va_end(ap);
    char num[32];
    snprintf(num, sizeof(num), " %llu\n", (unsigned long long)value);
    prom_puts(p, num);
}
