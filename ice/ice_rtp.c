/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_rtp.c: the packets the probe streams. Every payload starts with a
 * small probe header (sequence, the sender's clock, and the echo of the
 * other side's clock for round trips); the call check wraps it in RTP
 * (RFC 3550 §5.1) before SRTP protects it, the turn check sends it as is
 * in ChannelData. Pure byte work with bounds checks; a received packet is
 * untrusted.
 */
#include "ice_int.h"

#define ICE_PKT_MAGIC 0x49485031u /* "IHP1" */

size_t ice_pkt_encode(uint8_t *buf, size_t size, const ice_pkt_t *p)
{
    cmn_put_u32be(buf, ICE_PKT_MAGIC);
    cmn_put_u32be(buf + 4, p->seq);
    cmn_put_u64be(buf + 8, p->ts_us);
    cmn_put_u64be(buf + 16, p->echo_ts_us);
    cmn_put_u32be(buf + 24, p->hold_us);
    /* A filler that is not all zeros, so a path that compresses or
     * special-cases zero runs does not flatter the result. */
    for (size_t i = ICE_PKT_HDR; i < size; i++)
        buf[i] = (uint8_t)(i * 131u + p->seq);
    return size;
}

int ice_pkt_decode(const uint8_t *buf, size_t len, ice_pkt_t *p)
{
    if (len < ICE_PKT_HDR || cmn_get_u32be(buf) != ICE_PKT_MAGIC)
        return CMN_EPROTO;
    p->seq = cmn_get_u32be(buf + 4);
    p->ts_us = cmn_get_u64be(buf + 8);
    p->echo_ts_us = cmn_get_u64be(buf + 16);
    p->hold_us = cmn_get_u32be(buf + 24);
    return 0;
}

size_t ice_rtp_header(uint8_t *buf, const ice_rtp_t *r, size_t payload_len)
{
    buf[0] = 0x80; /* V=2, P=0, X=0, CC=0 */
    buf[1] = (uint8_t)((r->marker ? 0x80 : 0) | (r->pt & 0x7f));
    cmn_put_u16be(buf + 2, r->seq);
    cmn_put_u32be(buf + 4, r->ts);
    cmn_put_u32be(buf + 8, r->ssrc);
    return ICE_RTP_HDR + payload_len;
}

int ice_rtp_parse(const uint8_t *buf, size_t len, ice_rtp_t *r)
{
    memset(r, 0, sizeof(*r));
    if (len < ICE_RTP_HDR || (buf[0] >> 6) != 2)
        return CMN_EPROTO;
    size_t off = ICE_RTP_HDR + 4u * (buf[0] & 0x0f); /* CSRC list */
    if (off > len)
        return CMN_EPROTO;
    if (buf[0] & 0x10) { /* header extension: 4 bytes + length words */
        if (4 > len - off)
            return CMN_EPROTO;
        size_t ext = 4u + 4u * cmn_get_u16be(buf + off + 2);
        if (ext > len - off)
            return CMN_EPROTO;
        off += ext;
    }
    size_t end = len;
    if (buf[0] & 0x20) { /* padding: the last byte counts it, itself included */
        uint8_t pad = buf[len - 1];
        if (pad == 0 || pad > end - off)
            return CMN_EPROTO;
        end -= pad;
    }
    r->marker = (buf[1] & 0x80) != 0;
    r->pt = buf[1] & 0x7f;
    r->seq = cmn_get_u16be(buf + 2);
    r->ts = cmn_get_u32be(buf + 4);
    r->ssrc = cmn_get_u32be(buf + 8);
    r->payload = buf + off;
    r->payload_len = end - off;
    return 0;
}
