/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_dispatch.c: what to do with one message from a client, whatever the
 * transport. Demultiplexes by the first byte (RFC 7983: 0-3 STUN, 64-79
 * ChannelData), decodes with the stun/ codec, answers Binding with the
 * stun/ Binding service, hands every other method and ChannelData to the
 * worker's turn/ state machine, forwards what it says to forward, and
 * counts everything it drops by reason.
 */
#include "ihd.h"

static const char *const drop_names[IHD_DROP_COUNT - STUN_DERR_COUNT] = {
    "unknown_frame", "unexpected_class", "unsupported_method",
    "channel_data", "oversize", "tcp_framing",
};

const char *ihd_drop_name(unsigned reason)
{
    if (reason < STUN_DERR_COUNT)
        return stun_derr_name((stun_derr_t)reason);
    if (reason < IHD_DROP_COUNT)
        return drop_names[reason - STUN_DERR_COUNT];
    return "?";
}

static void tuple_of(const ihd_pkt_t *p, turn_5tuple_t *t)
{
    t->client = *p->src;
    t->server = *p->dst;
    t->transport = (uint8_t)p->tr;
}

static void forward(ihd_worker_t *w, const turn_out_t *res)
{
    if (res->fwd_alloc && res->fwd_dont_fragment)
        ihd_relay_send_df(w, res->fwd_alloc, &res->fwd_peer, res->fwd_data, res->fwd_len);
    else if (res->fwd_alloc)
        ihd_relay_send(w, res->fwd_alloc, &res->fwd_peer, res->fwd_data, res->fwd_len);
    else if (res->drop != TURN_DROP_NONE)
        IHD_INC(w->c.turn_drop[res->drop], 1);
}

static size_t dispatch_turn(ihd_worker_t *w, const ihd_pkt_t *p, const stun_msg_t *m,
                            uint8_t *out, size_t cap)
{
    if (!w->turn) {
        IHD_INC(w->c.invalid[IHD_DROP_UNSUPPORTED_METHOD], 1);
        return 0;
    }
    turn_5tuple_t t;
    tuple_of(p, &t);
    turn_req_t req = {.msg = m, .tuple = &t, .now = ihd_now(), .wall = ihd_wallclock(),
                      .origin = (void *)p};
    turn_out_t res;
    memset(&res, 0, sizeof(res));
    IHD_INC(w->c.turn_requests, 1);
    turn_handle_msg(w->turn, &req, out, cap, &res);
    forward(w, &res);
    return res.reply_len;
}

static void dispatch_channel(ihd_worker_t *w, const ihd_pkt_t *p)
{
    uint16_t ch;
    const uint8_t *data;
    size_t dlen;
    if (!w->turn || stun_chdata_decode(p->data, p->len, &ch, &data, &dlen) < 0) {
        IHD_INC(w->c.invalid[IHD_DROP_CHANNEL_DATA], 1);
        return;
    }
    turn_5tuple_t t;
    tuple_of(p, &t);
    turn_out_t res;
    memset(&res, 0, sizeof(res));
    turn_channel_data(w->turn, &t, ch, data, dlen, ihd_now(), &res);
    forward(w, &res);
}

/* An answer to a stranger (a Binding response, a 400 from the codec) may
 * go out only within the source's turn.answer_rate (turn_answer_allowed). */
static size_t answer_limited(ihd_worker_t *w, const ihd_pkt_t *p, size_t len)
{
    if (len == 0 || !w->turn || turn_answer_allowed(w->turn, p->src, ihd_now()))
        return len;
    IHD_INC(w->c.turn_drop[TURN_DROP_ANSWER_RATE_LIMITED], 1);
    return 0;
}

static size_t dispatch_stun(ihd_worker_t *w, const ihd_pkt_t *p, uint8_t *out, size_t cap)
{
    stun_msg_t m;
    stun_derr_t why = STUN_DERR_NONE;
    if (stun_msg_decode(&m, p->data, p->len, &why) < 0) {
        IHD_INC(w->c.invalid[why], 1);
        /* A request with a sound header but malformed attributes gets 400;
         * anything else is dropped. */
        return answer_limited(w, p, stun_bad_request(p->data, p->len, why, out, cap));
    }
    if (m.cls == STUN_CLASS_SUCCESS || m.cls == STUN_CLASS_ERROR) {
        IHD_INC(w->c.invalid[IHD_DROP_UNEXPECTED_CLASS], 1);
        return 0;
    }
    size_t olen = 0;
    switch (stun_binding_handle(&w->cfg->binding, &m, p->src, out, cap, &olen)) {
    case STUN_BIND_REPLY:
        IHD_INC(w->c.binding_requests[p->tr], 1);
        if (!answer_limited(w, p, olen))
            return 0;
        /* The class bits of the reply say whether it was an error (420). */
        if ((cmn_get_u16be(out) & 0x0110) == 0x0110)
            IHD_INC(w->c.binding_error, 1);
        else
            IHD_INC(w->c.binding_success, 1);
        return olen;
    case STUN_BIND_IGNORE:
        return 0;
    case STUN_BIND_NOT_BINDING:
        break;
    }
    return dispatch_turn(w, p, &m, out, cap);
}

size_t ihd_dispatch(ihd_worker_t *w, const ihd_pkt_t *p, uint8_t *out, size_t cap)
{
    if (p->len == 0) {
        IHD_INC(w->c.invalid[IHD_DROP_UNKNOWN_FRAME], 1);
        return 0;
    }
    uint8_t b0 = p->data[0];
    if (b0 <= 3)
        return dispatch_stun(w, p, out, cap);
    if (b0 >= 64 && b0 <= 127) {
        /* RFC 7983 gives ChannelData 64-79 (RFC 8656 channels); 80-127
         * are RFC 5766 channels, still accepted (turn/ decides). */
        dispatch_channel(w, p);
        return 0;
    }
    IHD_INC(w->c.invalid[IHD_DROP_UNKNOWN_FRAME], 1);
    return 0;
}
