/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_clock.h: the daemon's two clocks, inline (a vDSO call each, no
 * system call): monotonic seconds for lifetimes, timers and rates, and
 * wall-clock seconds for what carries Unix times (credentials, ledger
 * records, tokens). The pure modules take these as parameters and never
 * read a clock themselves.
 */
#ifndef IHD_CLOCK_H
#define IHD_CLOCK_H

#include <time.h>

/* CLOCK_MONOTONIC seconds. */
static inline double ihd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CLOCK_REALTIME seconds since the Unix epoch. */
static inline double ihd_wallclock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif /* IHD_CLOCK_H */
