/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_frame.c: cutting a TCP/TLS byte stream into STUN messages and
 * ChannelData messages (RFC 8489 §6.2.2, RFC 8656 §12.5), and decoding and
 * writing the 4-byte ChannelData header (RFC 8656 §12.4).
 *
 * The two kinds of frame are told apart by the top two bits of the first
 * byte (RFC 8656 §12, RFC 7983 §7): 00 is STUN, 01 is ChannelData (channel
 * numbers 0x4000-0x7FFF). Anything else can't be resynchronised on a stream,
 * so it is a protocol error. What a channel number is bound to is turn/'s
 * business; this file only frames.
 */
#include "stun_int.h"

/* The frame length of a STUN message from its first <len> (>= 4) bytes. */
static ssize_t stun_frame(const uint8_t *src, size_t len)
{
    size_t body = cmn_get_u16be(src + 2);
    /* RFC 8489 §5: attributes are padded, so the length is a multiple of 4. */
    if (body % 4 != 0 || body > STUN_MAX_MSG_LEN - STUN_HEADER_LEN)
        return CMN_EPROTO;
    /* A stream has no classic (RFC 3489) clients: RFC 3489 ran over UDP
     * only, so the cookie is required as soon as it has arrived. */
    if (len >= 8 && cmn_get_u32be(src + 4) != STUN_MAGIC_COOKIE)
        return CMN_EPROTO;
    return (ssize_t)(STUN_HEADER_LEN + body);
}

ssize_t stun_frame_len(const uint8_t *src, size_t len)
{
    /* Reject a bad first byte at once: no later byte can make it a frame. */
    if (len >= 1 && (src[0] & 0xC0) != 0x00 && (src[0] & 0xC0) != 0x40)
        return CMN_EPROTO;
    if (len < STUN_CHANNEL_HEADER_LEN)
        return CMN_EAGAIN;
    if ((src[0] & 0xC0) == 0x00)
        return stun_frame(src, len);

    /* RFC 8656 §12.5: over TCP and TLS-over-TCP a ChannelData message is
     * padded to a multiple of 4 bytes, and the padding is not counted in
     * its length field. */
    size_t frame = STUN_CHANNEL_HEADER_LEN + stun__pad4(cmn_get_u16be(src + 2));
    if (frame > STUN_MAX_MSG_LEN)
        return CMN_EPROTO;
    return (ssize_t)frame;
}

int stun_chdata_decode(const uint8_t *src, size_t len, uint16_t *channel,
                       const uint8_t **data, size_t *dlen)
{
    if (!stun_is_channel_data(src, len))
        return CMN_EPROTO;
    size_t n = cmn_get_u16be(src + 2);
    size_t avail = len - STUN_CHANNEL_HEADER_LEN;
    /* RFC 8656 §12.4/§12.5: the length counts the application data only.
     * Over UDP padding is optional, so accept the exact length or anything
     * up to the padded length; more bytes than that is not a ChannelData
     * message this header describes. */
    if (n > avail || avail > stun__pad4(n))
        return CMN_EPROTO;
    *channel = cmn_get_u16be(src);
    *data = src + STUN_CHANNEL_HEADER_LEN;
    *dlen = n;
    return 0;
}

void stun_chdata_header(uint8_t *dst, uint16_t channel, uint16_t dlen)
{
    cmn_put_u16be(dst, channel);
    cmn_put_u16be(dst + 2, dlen);
}
