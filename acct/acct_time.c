/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_time.c: the calendar of accounting: UTC periods (a day, a calendar
 * month), RFC 3339 timestamps as the ledger writes and reads them, and the
 * stamps of rotated file names. Pure.
 */
#include "acct.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void acct_period_bounds(acct_period_t k, double t, double *start, double *end)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (k == ACCT_PERIOD_MONTH)
        tm.tm_mday = 1;
    *start = (double)timegm(&tm);
    if (k == ACCT_PERIOD_MONTH)
        tm.tm_mon++; /* timegm normalises December + 1 */
    else
        tm.tm_mday++;
    *end = (double)timegm(&tm);
}

const char *acct_period_name(acct_period_t k)
{
    return k == ACCT_PERIOD_MONTH ? "month" : "day";
}

char *acct_time_format(double t, char *buf, size_t len)
{
    /* Round to the millisecond (0.123 is 0.12299999... in binary). */
    double msd = floor(t * 1000.0 + 0.5);
    time_t s = (time_t)floor(msd / 1000.0);
    int ms = (int)(msd - (double)s * 1000.0);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

char *acct_time_stamp(double t, char *buf, size_t len)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, len, "%04d%02d%02dT%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

long acct_time_day(double t)
{
    return (long)floor(t / 86400.0);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* 1970-01-01 to the end of 9999: a time outside it is no ledger's, and
 * gmtime cannot always turn it back into a date. */
static bool in_range(double t)
{
    return t >= 0 && t < ACCT_TIME_MAX;
}

int acct_time_parse(const char *s, double *out)
{
    if (!s || !*s)
        return CMN_EINVAL;
    /* Unix seconds: digits only (with an optional fraction). */
    if (strspn(s, "0123456789.") == strlen(s) && s[0] >= '0' && s[0] <= '9') {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || *end || !in_range(v))
            return CMN_EINVAL;
        *out = v;
        return 0;
    }
    const char *p = s;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h = 0, mi = 0, se = 0;
    double frac = 0, off = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return CMN_EINVAL;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
            digits(&p, 2, &se))
            return CMN_EINVAL;
        if (*p == '.') {
            double scale = 0.1;
            p++;
            if (*p < '0' || *p > '9')
                return CMN_EINVAL;
            while (*p >= '0' && *p <= '9') {
                frac += (*p++ - '0') * scale;
                scale /= 10;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return CMN_EINVAL;
            off = sign * (oh * 3600.0 + om * 60.0);
        } else {
            return CMN_EINVAL;
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return CMN_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    struct tm chk;
    gmtime_r(&t, &chk);
    if (chk.tm_mday != d && se != 60) /* 2026-02-31 */
        return CMN_EINVAL;
    double v = (double)t + frac - off;
    if (!in_range(v))
        return CMN_EINVAL;
    *out = v;
    return 0;
}
