/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn.c: error strings and the aborting allocator.
 */
#include "cmn.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *cmn_strerror(int err)
{
    switch (err) {
    case CMN_OK: return "ok";
    case CMN_EINVAL: return "invalid argument";
    case CMN_ENOMEM: return "no room";
    case CMN_EAGAIN: return "try again";
    case CMN_ENOENT: return "not found";
    case CMN_EPROTO: return "protocol error";
    case CMN_EAUTH: return "authentication failed";
    case CMN_ERANGE: return "out of range";
    case CMN_EIO: return "I/O error";
    case CMN_EEXIST: return "already exists";
    case CMN_ELIMIT: return "limit reached";
    default: return "unknown error";
    }
}

static void oom(size_t n)
{
    char msg[80];
    int len = snprintf(msg, sizeof(msg), "fatal: out of memory allocating %zu bytes\n", n);
    if (len > 0)
        (void)!write(2, msg, (size_t)len);
    abort();
}

void *cmn_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *cmn_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *cmn_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *cmn_strdup(const char *s)
{
    return cmn_strndup(s, strlen(s));
}

char *cmn_strndup(const char *s, size_t n)
{
    char *d = cmn_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void cmn_free(void *p)
{
    free(p);
}
