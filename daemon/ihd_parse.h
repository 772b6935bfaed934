/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_parse.h: the daemon's pure parsers: what the glue files (ihd_tcp.c,
 * ihd_http.c, ihd_api.c, ihd_admin.c) do with bytes a client chose, taken
 * out of them so it can be tested and fuzzed without sockets or
 * libwebsockets (tests/fuzz/fuzz_stream.c, fuzz_http.c). No function here
 * does I/O, takes a lock or reads a clock.
 *
 *  - ihd_stream.c: reassembly of STUN and ChannelData frames from a TCP or
 *    TLS byte stream, with the read buffer it owns;
 *  - ihd_req.c: HTTP query strings, the admin API's paths and parameters,
 *    and the Bearer token of an Authorization header.
 */
#ifndef IHD_PARSE_H
#define IHD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- Stream reassembly (ihd_stream.c) ----------------------------------- */

#define IHD_STREAM_INITIAL 2048     /* bytes of read buffer a connection starts with */

/* The read side of one stream connection: bytes read and not yet handed out
 * as frames. The buffer grows to the length the next frame declares (at
 * most one STUN_MAX_MSG_LEN frame), never beyond. */
typedef struct ihd_stream_s {
    uint8_t *buf;               /* owned; NULL until the first read */
    size_t len;                 /* bytes held */
    size_t off;                 /* start of the first byte not handed out */
    size_t cap;
    size_t need;                /* length of the incomplete frame at off; 0 = unknown */
} ihd_stream_t;

/* What ihd_stream_next found. */
typedef enum ihd_frame_e {
    IHD_FRAME_MORE = 0,         /* an incomplete frame: read more */
    IHD_FRAME_OK,               /* one complete frame */
    IHD_FRAME_GARBAGE,          /* bytes that cannot start a frame: close */
} ihd_frame_t;

/* Room for the next read: drops the frames handed out (ihd_stream_compact),
 * grows the buffer to the length the incomplete frame declares, writes the
 * room's size into *room and returns where to read to; NULL when the buffer
 * is full without a complete frame (which the growth rule makes impossible
 * for a caller that takes every frame; such a caller closes). Call it only
 * when no frame is borrowed any more. */
uint8_t *ihd_stream_room(ihd_stream_t *s, size_t *room);
/* <n> bytes were read into the room ihd_stream_room gave. */
void ihd_stream_wrote(ihd_stream_t *s, size_t n);
/* The next complete frame, into *frame (borrowed: valid until the next
 * ihd_stream_compact or ihd_stream_room) and *len. <chdata_ok>: ChannelData
 * may come now (the connection holds an allocation, RFC 8656 §12); without
 * it a first byte of 0x40-0x7F is garbage, such as an HTTP "GET", and is
 * not waited for. The buffer never moves here, so frames handed out
 * earlier stay valid. */
ihd_frame_t ihd_stream_next(ihd_stream_t *s, bool chdata_ok, const uint8_t **frame,
                            size_t *len);
/* Drop the frames handed out (move what is left to the front). Frames
 * borrowed from the buffer are invalid afterwards. */
void ihd_stream_compact(ihd_stream_t *s);
/* Bytes held that are not part of a frame handed out. */
static inline size_t ihd_stream_pending(const ihd_stream_t *s)
{
    return s->len - s->off;
}
/* Free the buffer; <s> is empty (and reusable) afterwards. */
void ihd_stream_dispose(ihd_stream_t *s);

/* ---- HTTP requests (ihd_req.c) ------------------------------------------ */

/* Append one query argument, as lws hands it over (percent-decoded,
 * "name=value" or "name"), to the query string <out> (capacity <cap>,
 * NUL-terminated, "" to start): joined with '&', name and value
 * percent-encoded again except for unreserved characters (RFC 3986 §2.3).
 * Returns 0, or CMN_ENOMEM when it does not fit (<out> unchanged). */
int ihd_query_append(char *out, size_t cap, const char *arg, size_t arg_len);

/* The value of <key> in the query string <q> ("a=1&b=x%26y"), %-decoded
 * and '+' read as a space, into <out> (capacity <cap>, NUL-terminated).
 * Returns 1 when present, 0 when absent, CMN_EINVAL when the value is
 * malformed: a bad %-escape, a control character or NUL, or too long. */
int ihd_query_get(const char *q, const char *key, char *out, size_t cap);

/* The token of "Bearer TOKEN" (scheme case-insensitive, spaces around the
 * token ignored): sets *tok (borrowed from <authorization>) and *len.
 * Anything else gives an empty token. */
void ihd_bearer_token(const char *authorization, const char **tok, size_t *len);

#define IHD_API_NAME_MAX 255        /* longest user name in an admin API path */
#define IHD_API_LIST_DEFAULT 1000   /* allocations listed unless ?limit= says otherwise */
#define IHD_API_LIST_MAX 100000
#define IHD_API_TTL_MAX 315360000   /* ten years, admin.revocation_ttl's maximum */

/* The admin API's routes (daemon/ihd_api.c). */
typedef enum ihd_api_route_e {
    IHD_API_NOT_FOUND = 0,      /* under /api/ but no such endpoint: 404 */
    IHD_API_SUMMARY,            /* GET /api/summary */
    IHD_API_USAGE,              /* GET /api/usage */
    IHD_API_ALLOCATIONS,        /* GET /api/allocations[?user=U&limit=N] */
    IHD_API_REVOKED,            /* GET /api/users/revoked */
    IHD_API_DRAIN,              /* GET or POST /api/drain */
    IHD_API_ALLOCATION,         /* GET or DELETE /api/allocations/{id} */
    IHD_API_REVOKE,             /* POST or DELETE /api/users/{name}/revoke[?ttl=S] */
} ihd_api_route_t;

/* A parsed admin API request. */
typedef struct ihd_api_req_s {
    ihd_api_route_t route;
    const char *allow;          /* set: the method is not allowed; the Allow header */
    const char *bad;            /* set: a 400; the error code ("bad-id", ...) */
    const char *bad_msg;        /* ... and its message */
    uint64_t id;                /* IHD_API_ALLOCATION */
    char user[IHD_API_NAME_MAX + 1]; /* IHD_API_REVOKE; IHD_API_ALLOCATIONS with has_user */
    bool has_user;
    uint64_t limit;             /* IHD_API_ALLOCATIONS */
    uint64_t ttl;               /* IHD_API_REVOKE (POST) with has_ttl: seconds */
    bool has_ttl;
} ihd_api_req_t;

/* Parse an admin API request: <method> is an ihd_http_method_t (0 GET,
 * 1 POST, 2 PUT, 3 DELETE, 4 other), <path> the decoded path under /api/,
 * <query> the query string. Always fills <out>; exactly one of route
 * NOT_FOUND, allow or bad says what went wrong, if anything. */
void ihd_api_parse(int method, const char *path, const char *query, ihd_api_req_t *out);

#endif /* IHD_PARSE_H */
