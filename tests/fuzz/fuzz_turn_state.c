/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_turn_state.c: libFuzzer target for the decoder of allocations sent
 * by another process in a live upgrade (turn_alloc_import, turn/
 * turn_state.c). The input is the encoded allocation. Whatever it holds,
 * the import must not crash or leak; a refused one must leave no trace in
 * the turn_t or its shared limits; an accepted one must encode back to bytes
 * that a second turn_t imports to the very same encoding, take ChannelData
 * on its channels and peer data from its peers, survive ticks, and end
 * cleanly (relay_close once). Seeds: tests/fuzz/gen_upgrade_seeds.py.
 */
#include <stdlib.h>

#include "stun/stun.h"
#include "tests/fuzz/fuzz_check.h"
#include "turn/turn.h"

#define FZ_NOW 5000.0
#define FZ_WALL 1800000000.0

static unsigned closes;

static int fz_open(void *ctx, turn_alloc_t *a, const turn_relay_req_t *req, cmn_addr_t *relayed,
                   uint8_t token_out[8])
{
    (void)ctx, (void)a, (void)req, (void)relayed, (void)token_out;
    return CMN_EIO; /* nothing here allocates anew */
}

static void fz_close(void *ctx, turn_alloc_t *a)
{
    (void)ctx, (void)a;
    closes++;
}

static const turn_ops_t ops = {.ctx = NULL, .relay_open = fz_open, .relay_close = fz_close};

static turn_cfg_t cfg(void)
{
    static cmn_addr_t own;
    turn_cfg_t c;
    memset(&c, 0, sizeof(c));
    c.realm = "fuzz";
    c.alloc_bps = 1000000;
    own.family = CMN_AF_INET;
    own.ip[0] = 198;
    c.own_addrs = &own;
    c.nown = 1;
    return c;
}

/* Data through every channel number and from every permission of <a>. */
static void exercise(turn_t *t, turn_alloc_t *a)
{
    const turn_5tuple_t *tu = turn_alloc_tuple(a);
    for (uint32_t ch = 0x4000; ch < 0x4010; ch++) {
        turn_out_t res;
        memset(&res, 0, sizeof(res));
        turn_channel_data(t, tu, (uint16_t)ch, (const uint8_t *)"fz", 2, FZ_NOW, &res);
        CHECK(!res.fwd_alloc || res.fwd_alloc == a);
    }
    turn_alloc_info_t info;
    turn_alloc_info(a, &info);
    for (size_t i = 0; i < info.npeers; i++) {
        uint8_t buf[TURN_PEER_HEADROOM + 8];
        const uint8_t *msg;
        size_t mlen;
        memcpy(buf + TURN_PEER_HEADROOM, "peer", 4);
        if (turn_peer_data(t, a, &info.peers[i], buf, 4, FZ_NOW, &msg, &mlen) == 0) {
            stun_msg_t m;
            uint16_t ch;
            const uint8_t *d;
            size_t dl;
            CHECK(mlen >= 4);
            CHECK((msg[0] & 0xC0) == 0x40 ? stun_chdata_decode(msg, mlen, &ch, &d, &dl) >= 0
                                          : stun_msg_decode(&m, msg, mlen, NULL) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    turn_cfg_t c = cfg();
    turn_shared_t *sh = turn_shared_new(0, 0, 0), *sh2 = turn_shared_new(0, 0, 0);
    turn_t *t = turn_new(&c, &ops, sh), *t2 = turn_new(&c, &ops, sh2);
    turn_alloc_t *a = NULL, *b = NULL;
    const char *why = NULL;
    closes = 0;
    int rc = turn_alloc_import(t, data, size, FZ_NOW, &a, &why);
    if (rc < 0) {
        turn_stats_t st;
        turn_get_stats(t, &st);
        CHECK(why != NULL);
        CHECK(st.allocations_active == 0 && st.permissions_active == 0 && st.channels_active == 0);
        CHECK(turn_shared_active(sh) == 0);
    } else {
        CHECK(turn_shared_active(sh) == 1);
        size_t n = turn_alloc_encode(a, FZ_NOW, NULL, 0);
        uint8_t *e1 = malloc(n), *e2 = malloc(n);
        CHECK(e1 && e2 && turn_alloc_encode(a, FZ_NOW, e1, n) == n);
        CHECK(turn_alloc_import(t2, e1, n, FZ_NOW, &b, &why) == 0);
        CHECK(turn_alloc_encode(b, FZ_NOW, e2, n) == n && memcmp(e1, e2, n) == 0);
        free(e1);
        free(e2);
        exercise(t, a);
        for (int i = 1; i <= 3; i++)
            turn_tick(t, FZ_NOW + i * 400.0, FZ_WALL + i * 400.0);
    }
    turn_free(t);
    turn_free(t2);
    CHECK(closes == (rc == 0 ? 2u : 0u));
    CHECK(turn_shared_active(sh) == 0 && turn_shared_active(sh2) == 0);
    turn_shared_free(sh);
    turn_shared_free(sh2);
    return 0;
}
