/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn.h: the project-wide basics every module uses: error codes, the
 * allocator that aborts on exhaustion, big-endian byte helpers and a few
 * macros. Nothing here touches sockets, clocks or globals.
 */
#ifndef CMN_H
#define CMN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

/* Error codes: functions return 0 on success or one of these (negative). */
enum {
    CMN_OK = 0,
    CMN_EINVAL = -1,    /* bad argument or malformed input */
    CMN_ENOMEM = -2,    /* a bounded table or buffer is full */
    CMN_EAGAIN = -3,    /* need more bytes / try again later */
    CMN_ENOENT = -4,    /* not found */
    CMN_EPROTO = -5,    /* protocol violation on the wire */
    CMN_EAUTH = -6,     /* integrity or credential check failed */
    CMN_ERANGE = -7,    /* value out of range */
    CMN_EIO = -8,       /* I/O or library error reported by glue */
    CMN_EEXIST = -9,    /* already exists */
    CMN_ELIMIT = -10,   /* a configured limit was hit */
};

/* cmn_strerror: a static description of a CMN_E* code. */
const char *cmn_strerror(int err);

#define CMN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CMN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CMN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define CMN_UNUSED(x) ((void)(x))
#define CMN_LIKELY(x) __builtin_expect(!!(x), 1)
#define CMN_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Allocation: these never return NULL; on exhaustion they log and abort
 * (a server that cannot allocate a few bytes cannot make progress). */
void *cmn_malloc(size_t n);
void *cmn_calloc(size_t nmemb, size_t size);
void *cmn_realloc(void *p, size_t n);
char *cmn_strdup(const char *s);
char *cmn_strndup(const char *s, size_t n);
void cmn_free(void *p);

/* Big-endian integer access. Callers check bounds first. */
static inline uint16_t cmn_get_u16be(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t cmn_get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t cmn_get_u64be(const uint8_t *p)
{
    return (uint64_t)cmn_get_u32be(p) << 32 | cmn_get_u32be(p + 4);
}
static inline void cmn_put_u16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void cmn_put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void cmn_put_u64be(uint8_t *p, uint64_t v)
{
    cmn_put_u32be(p, (uint32_t)(v >> 32));
    cmn_put_u32be(p + 4, (uint32_t)v);
}

#endif /* CMN_H */
