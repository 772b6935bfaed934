/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_stream.c: the read side of a TCP or TLS client connection. Bytes
 * come in whatever pieces the socket (or OpenSSL) hands over; frames go out
 * whole, cut with stun_frame_len (RFC 8489 §6.2.2 framing, RFC 8656 §12.5
 * padded ChannelData). The buffer grows to the length the next frame
 * declares and no further, so a connection holds at most one maximum
 * frame (64 KiB) whatever it sends.
 *
 * Pure: no sockets and no clock. ihd_tcp.c does the reading and the
 * closing; tests/fuzz/fuzz_stream.c checks that every way of splitting a
 * stream gives the same frames.
 */
#include "ihd_parse.h"

#include "common/cmn.h"
#include "stun/stun.h"

uint8_t *ihd_stream_room(ihd_stream_t *s, size_t *room)
{
    ihd_stream_compact(s);
    size_t want = CMN_MAX(s->need, (size_t)IHD_STREAM_INITIAL);
    if (s->cap < want) {
        s->buf = cmn_realloc(s->buf, want);
        s->cap = want;
    }
    if (s->len == s->cap) {
        /* Full with no complete frame: the buffer is as large as the frame
         * it holds declares, so only a caller that did not ask for frames
         * gets here. */
        *room = 0;
        return NULL;
    }
    *room = s->cap - s->len;
    return s->buf + s->len;
}

void ihd_stream_wrote(ihd_stream_t *s, size_t n)
{
    s->len += n;
}

ihd_frame_t ihd_stream_next(ihd_stream_t *s, bool chdata_ok, const uint8_t **frame,
                            size_t *len)
{
    size_t have = s->len - s->off;
    if (have == 0)
        return IHD_FRAME_MORE;
    const uint8_t *p = s->buf + s->off;
    ssize_t fl = stun_frame_len(p, have);
    if (fl == CMN_EAGAIN)
        return IHD_FRAME_MORE;
    /* Without an allocation a ChannelData first byte is garbage: closing
     * now beats waiting for a "frame" of whatever length it declares. */
    if (fl < 0 || ((p[0] & 0xC0) == 0x40 && !chdata_ok))
        return IHD_FRAME_GARBAGE;
    if ((size_t)fl > have) {
        /* ihd_stream_room makes room for all of it. Not here: frames
         * handed out earlier may still be in use, and a realloc or a move
         * would pull the bytes from under them. */
        s->need = (size_t)fl;
        return IHD_FRAME_MORE;
    }
    s->need = 0;
    *frame = p;
    *len = (size_t)fl;
    s->off += (size_t)fl;
    return IHD_FRAME_OK;
}

void ihd_stream_compact(ihd_stream_t *s)
{
    if (!s->off)
        return;
    if (s->off == s->len) {
        s->len = s->off = 0;
        /* Idle connections keep a small buffer, not the largest frame
         * they ever sent. */
        if (s->cap > IHD_STREAM_INITIAL) {
            cmn_free(s->buf);
            s->buf = NULL;
            s->cap = 0;
        }
        return;
    }
    memmove(s->buf, s->buf + s->off, s->len - s->off);
    s->len -= s->off;
    s->off = 0;
}

void ihd_stream_dispose(ihd_stream_t *s)
{
    cmn_free(s->buf);
    memset(s, 0, sizeof(*s));
}
