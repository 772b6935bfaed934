/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_assets.h: the web files served by icehubd (the browser client
 * /icehub.js, the demo page at /, the self-test page at /selftest, the
 * dashboard), compiled into the
 * binary from signal/www/ by signal/embed_assets.sh so an installed
 * daemon needs no files beside it.
 */
#ifndef SIG_ASSETS_H
#define SIG_ASSETS_H

#include <stddef.h>

typedef struct sig_asset_s {
    const char *path;            /* URL path: "/icehub.js"; index.html is also "/" */
    const char *ctype;           /* Content-Type */
    const unsigned char *data;   /* static */
    size_t len;
} sig_asset_t;

/* The asset served at <path> (exact match), or NULL. */
const sig_asset_t *sig_asset_find(const char *path);

#endif /* SIG_ASSETS_H */
