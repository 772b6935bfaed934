/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_data.c: the data path. Client to peer: Send indications (RFC 8656
 * §11.2) and ChannelData (§12.6) become "forward these bytes to this peer
 * through this relay" for the glue. Peer to client (§11.3): a datagram on
 * a relay socket gets a ChannelData header (§12.5) or a Data indication
 * (§11.3) written in front of it, in the headroom the glue left.
 *
 * Rules that keep it fast: no allocation, no locks, no text formatting;
 * the lookups are one hash probe for the 5-tuple and one hash probe into
 * the allocation's permission and channel indexes. Nothing here refreshes a
 * permission or a channel: only CreatePermission and ChannelBind do
 * (§9, §12). Drops are silent (the RFC's "discard") and named in
 * turn_out_t.drop for the counters.
 *
 * Payload byte counters (per allocation, and the worker's live counters
 * by direction and transport) count the UDP payload relayed, not the TURN
 * framing. Bandwidth quotas (turn_quota.c) are checked last, right before
 * the datagram is handed back to be sent: a datagram over a limit costs
 * no send work.
 *
 * Left out: ICMP errors from peers (the ICMP attribute of RFC 8656 §11.5:
 * the glue does not read the error queue), and FINGERPRINT on Data
 * indications (optional; it would cost a CRC per relayed packet).
 */
#include "turn_int.h"

/* A Data indication's header before the payload: STUN header,
 * XOR-PEER-ADDRESS (IPv4: 4 + 8, IPv6: 4 + 20) and the DATA attribute
 * header. The IPv6 case is TURN_PEER_HEADROOM. */
#define DATA_IND_HDR(alen) (STUN_HEADER_LEN + 4 + (alen) + 4)

static size_t pad4(size_t n)
{
    return (4 - (n & 3)) & 3;
}

/* ---- Client to peer ---------------------------------------------------- */

void turn__handle_send(turn_t *t, const turn_req_t *req, turn_out_t *res)
{
    const stun_msg_t *m = req->msg;
    turn_alloc_t *a = turn__alloc_find(t, req->tuple, req->now, false);
    if (!a) {
        res->drop = TURN_DROP_NO_ALLOCATION;
        return;
    }
    /* RFC 8489 §6.3.2: an indication with an unknown comprehension-required
     * attribute is discarded. */
    if (m->nunknown > 0) {
        res->drop = TURN_DROP_UNKNOWN_ATTRIBUTE;
        return;
    }
    const stun_attr_t *pa = stun_msg_find(m, STUN_ATTR_XOR_PEER_ADDRESS);
    const stun_attr_t *da = stun_msg_find(m, STUN_ATTR_DATA);
    cmn_addr_t peer;
    if (!pa || !da || stun_attr_get_xor_addr(m, pa, &peer) != 0) {
        res->drop = TURN_DROP_BAD_SEND;
        return;
    }
    if (!turn__family_ok(a, &peer)) {
        res->drop = TURN_DROP_PEER_FAMILY;
        return;
    }
    if (!turn__perm_find(a, &peer, req->now) || !turn__peer_port_ok(t->cfg, &peer)) {
        res->drop = TURN_DROP_NO_PERMISSION;
        return;
    }
    if (!turn__quota_pass(t, a, TURN_DIR_TO_PEER, da->len, req->now)) {
        res->drop = TURN_DROP_QUOTA;
        return;
    }
    res->fwd_alloc = a;
    res->fwd_peer = peer;
    res->fwd_data = da->val;
    res->fwd_len = da->len;
    res->fwd_dont_fragment = stun_msg_find(m, STUN_ATTR_DONT_FRAGMENT) != NULL;
    a->c.to_peer_bytes += da->len;
    a->c.to_peer_packets++;
}

void turn_channel_data(turn_t *t, const turn_5tuple_t *tuple, uint16_t channel,
                       const uint8_t *data, size_t len, double now, turn_out_t *res)
{
    memset(res, 0, sizeof(*res));
    turn_alloc_t *a = turn__alloc_find(t, tuple, now, false);
    if (!a) {
        res->drop = TURN_DROP_NO_ALLOCATION;
        return;
    }
    turn_chan_t *ch = turn__chan_by_num(a, channel, now);
    if (!ch || now >= ch->expires) {
        res->drop = TURN_DROP_NO_CHANNEL;
        return;
    }
    if (!turn__perm_find(a, &ch->cpeer, now)) {
        res->drop = TURN_DROP_NO_PERMISSION;
        return;
    }
    if (!turn__quota_pass(t, a, TURN_DIR_TO_PEER, len, now)) {
        res->drop = TURN_DROP_QUOTA;
        return;
    }
    res->fwd_alloc = a;
    res->fwd_peer = ch->peer;
    res->fwd_data = data;
    res->fwd_len = len;
    /* ChannelData has no DONT-FRAGMENT of its own: the Allocate's applies. */
    res->fwd_dont_fragment = a->dont_fragment;
    a->c.to_peer_bytes += len;
    a->c.to_peer_packets++;
}

/* ---- Peer to client ---------------------------------------------------- */

/* Transaction ids of Data indications: a random prefix and a counter.
 * Indications need distinct ids, not unpredictable ones (RFC 8489 §6). */
static void next_tid(turn_t *t, uint8_t tid[STUN_TID_LEN])
{
    memcpy(tid, t->ind_tid, 4);
    cmn_put_u64be(tid + 4, ++t->ind_seq);
}

/* Write a Data indication (§11.3) around the payload at <payload>. */
static int data_indication(turn_t *t, const cmn_addr_t *peer, uint8_t *payload, size_t len,
                           const uint8_t **msg, size_t *msg_len)
{
    size_t alen = peer->family == CMN_AF_INET ? 8 : 20;
    size_t head = DATA_IND_HDR(alen);
    size_t body = head - STUN_HEADER_LEN + len + pad4(len);
    if (len > UINT16_MAX || body > STUN_MAX_MSG_LEN - STUN_HEADER_LEN)
        return CMN_ERANGE;

    /* The codec writes the header and the XOR'd address into a scratch
     * buffer (it can't encode in place around the payload). */
    uint8_t tmp[DATA_IND_HDR(20)], tid[STUN_TID_LEN];
    stun_enc_t e;
    next_tid(t, tid);
    stun_enc_init(&e, tmp, sizeof(tmp), stun_type(STUN_METHOD_DATA, STUN_CLASS_INDICATION), tid);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, peer);
    if (stun_enc_finish(&e) != (ssize_t)(head - 4))
        return CMN_ERANGE;

    uint8_t *start = payload - head;
    memcpy(start, tmp, head - 4);
    cmn_put_u16be(payload - 4, STUN_ATTR_DATA);
    cmn_put_u16be(payload - 2, (uint16_t)len);
    memset(payload + len, 0, pad4(len));
    cmn_put_u16be(start + 2, (uint16_t)body);
    *msg = start;
    *msg_len = STUN_HEADER_LEN + body;
    return 0;
}

int turn_peer_data(turn_t *t, turn_alloc_t *a, const cmn_addr_t *peer, uint8_t *buf,
                   size_t len, double now, const uint8_t **msg, size_t *msg_len)
{
    cmn_addr_t cpeer;
    if (a->ended || now >= a->expires)
        return CMN_ENOENT;
    /* §9: no permission for the peer's IP, no relaying. */
    cmn_addr_canonical(&cpeer, peer);
    if (!turn__perm_find(a, &cpeer, now))
        return CMN_ENOENT;
    uint8_t *payload = buf + TURN_PEER_HEADROOM;
    turn_chan_t *ch = turn__chan_by_peer(a, &cpeer, now);
    if (ch && now < ch->expires) {
        /* §12.5: ChannelData; padded to 4 bytes on streams only. */
        if (len > UINT16_MAX)
            return CMN_ERANGE;
        size_t pad = a->tuple.transport == TURN_TR_UDP ? 0 : pad4(len);
        stun_chdata_header(payload - STUN_CHANNEL_HEADER_LEN, ch->num, (uint16_t)len);
        memset(payload + len, 0, pad);
        *msg = payload - STUN_CHANNEL_HEADER_LEN;
        *msg_len = STUN_CHANNEL_HEADER_LEN + len + pad;
    } else {
        int rc = data_indication(t, peer, payload, len, msg, msg_len);
        if (rc != 0)
            return rc;
    }
    /* Quotas after the framing (a few stores into the headroom, and the
     * only step that can still refuse the datagram) and before the caller
     * does any send work. */
    if (!turn__quota_pass(t, a, TURN_DIR_TO_CLIENT, len, now))
        return CMN_ELIMIT;
    a->c.to_client_bytes += len;
    a->c.to_client_packets++;
    return 0;
}
