/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_dispatch.c: what to do with one message from a client, whatever the
 * transport. Demultiplexes by the first byte (RFC 7983: 0-3 STUN, 64-79
 * ChannelData), decodes with the stun/ codec, answers Binding with the
 * stun/ Binding service, and counts everything it drops by reason.
 * TURN methods and ChannelData are handed to turn/ once it exists; until
 * then they are counted and dropped.
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

static size_t dispatch_stun(ihd_worker_t *w, const ihd_pkt_t *p, uint8_t *out, size_t cap)
{
    stun_msg_t m;
    stun_derr_t why = STUN_DERR_NONE;
    if (stun_msg_decode(&m, p->data, p->len, &why) < 0) {
        IHD_INC(w->c.invalid[why], 1);
        return 0;
    }
    if (m.cls == STUN_CLASS_SUCCESS || m.cls == STUN_CLASS_ERROR) {
        IHD_INC(w->c.invalid[IHD_DROP_UNEXPECTED_CLASS], 1);
        return 0;
    }
    size_t olen = 0;
    switch (stun_binding_handle(&w->cfg->binding, &m, p->src, out, cap, &olen)) {
    case STUN_BIND_REPLY:
        IHD_INC(w->c.binding_requests[p->tr], 1);
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
    IHD_INC(w->c.invalid[IHD_DROP_UNSUPPORTED_METHOD], 1);
    return 0;
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
    if (b0 >= 64 && b0 <= 79) {
        IHD_INC(w->c.invalid[IHD_DROP_CHANNEL_DATA], 1);
        return 0;
    }
    IHD_INC(w->c.invalid[IHD_DROP_UNKNOWN_FRAME], 1);
    return 0;
}
