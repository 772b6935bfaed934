/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_check.h: CHECK, the invariant check of the libFuzzer targets: a
 * broken invariant aborts, which libFuzzer reports as a crash with the
 * input that caused it.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                             \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);       \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#endif /* FUZZ_CHECK_H */
