/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_turn.c: libFuzzer target for the TURN state machine. An input is a
 * script of records, each [op][dt][len:2][bytes]: a STUN message from one of
 * two clients (re-signed with valid long-term credentials when the op asks,
 * so the fuzzer reaches the handlers behind authentication), a ChannelData
 * message, a datagram from a peer to the newest allocation, a clock tick,
 * or a closed stream. Fake ops hand out relayed addresses and sometimes
 * fail. Every reply is decoded again to check it is well formed.
 */
#include <stdlib.h>

#include "common/cmn_crypto.h"
#include "stun/stun.h"
#include "turn/turn.h"

#define FZ_REALM "fuzz"
#define FZ_USER "alice"
#define FZ_PASS "wonderland"

typedef struct fz_s {
    turn_t *t;
    turn_alloc_t *last;          /* newest allocation with relays open */
    unsigned opens;
    char nonce[STUN_NONCE_MAX + 1];
    uint8_t key[16];
} fz_t;

static int fz_open(void *ctx, turn_alloc_t *a, const turn_relay_req_t *req, cmn_addr_t *relayed,
                   uint8_t token_out[8])
{
    fz_t *f = ctx;
    f->opens++;
    if (f->opens % 7 == 0)
        return CMN_ELIMIT;               /* sometimes no port is free */
    if (req->use_token && f->opens % 3 == 0)
        return CMN_ENOENT;
    memset(relayed, 0, sizeof(*relayed));
    relayed->family = req->family;
    relayed->ip[0] = req->family == CMN_AF_INET ? 192 : 0x20;
    relayed->port = (uint16_t)(49152 + 2 * f->opens);
    memset(token_out, (int)f->opens, 8);
    f->last = a;
    return 0;
}

static void fz_close(void *ctx, turn_alloc_t *a)
{
    fz_t *f = ctx;
    if (f->last == a)
        f->last = NULL;
}

static void check_reply(fz_t *f, const uint8_t *out, size_t len)
{
    stun_msg_t m;
    if (len == 0)
        return;
    if (stun_msg_decode(&m, out, len, NULL) < 0)
        abort(); /* the server must never send a malformed message */
    const stun_attr_t *n = stun_msg_find(&m, STUN_ATTR_NONCE);
    const char *s;
    size_t sl;
    if (n && stun_attr_get_text(n, &s, &sl) == 0 && sl <= STUN_NONCE_MAX) {
        memcpy(f->nonce, s, sl);
        f->nonce[sl] = '\0';
    }
}

/* Re-encode the fuzzed message, dropping its own credentials, and sign it
 * with valid ones when <sign>. Returns the new length or 0. */
static size_t resign(fz_t *f, const stun_msg_t *m, bool sign, uint8_t *buf, size_t cap)
{
    stun_enc_t e;
    stun_enc_init(&e, buf, cap, m->type, m->tid);
    for (size_t i = 0; i < m->nattrs; i++) {
        uint16_t t = m->attrs[i].type;
        if (t == STUN_ATTR_USERNAME || t == STUN_ATTR_REALM || t == STUN_ATTR_NONCE ||
            t == STUN_ATTR_MESSAGE_INTEGRITY || t == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
            t == STUN_ATTR_FINGERPRINT || t == STUN_ATTR_USERHASH ||
            t == STUN_ATTR_PASSWORD_ALGORITHM || t == STUN_ATTR_PASSWORD_ALGORITHMS)
            continue;
        stun_enc_attr(&e, t, m->attrs[i].val, m->attrs[i].len);
    }
    if (sign && f->nonce[0]) {
        stun_enc_text(&e, STUN_ATTR_USERNAME, FZ_USER);
        stun_enc_text(&e, STUN_ATTR_REALM, FZ_REALM);
        stun_enc_text(&e, STUN_ATTR_NONCE, f->nonce);
        stun_enc_integrity(&e, f->key, sizeof(f->key));
    }
    stun_enc_fingerprint(&e);
    ssize_t n = stun_enc_finish(&e);
    return n > 0 ? (size_t)n : 0;
}

static void run_record(fz_t *f, uint8_t op, const uint8_t *p, size_t len, double now,
                       double wall)
{
    static uint8_t out[1500], buf[4096], pbuf[TURN_PEER_HEADROOM + 2048 + 4];
    turn_5tuple_t tu;
    memset(&tu, 0, sizeof(tu));
    tu.client.family = tu.server.family = CMN_AF_INET;
    tu.client.ip[0] = 203, tu.client.ip[3] = (uint8_t)(1 + ((op >> 3) & 1));
    tu.client.port = 40000;
    tu.server.ip[0] = 198, tu.server.port = 3478;
    tu.transport = (op >> 4) & 1 ? TURN_TR_TCP : TURN_TR_UDP;
    turn_out_t res;
    memset(&res, 0, sizeof(res));
    switch (op & 7) {
    case 0:
    case 1: {
        stun_msg_t m;
        if (stun_msg_decode(&m, p, len, NULL) < 0 || m.method == STUN_METHOD_BINDING)
            return;
        size_t n = resign(f, &m, (op & 7) == 1, buf, sizeof(buf));
        stun_msg_t m2;
        if (!n || stun_msg_decode(&m2, buf, n, NULL) < 0)
            return;
        turn_req_t req = {.msg = &m2, .tuple = &tu, .now = now, .wall = wall};
        turn_handle_msg(f->t, &req, out, sizeof(out), &res);
        check_reply(f, out, res.reply_len);
        break;
    }
    case 2: {
        uint16_t ch;
        const uint8_t *d;
        size_t dl;
        if (stun_chdata_decode(p, len, &ch, &d, &dl) == 0)
            turn_channel_data(f->t, &tu, ch, d, dl, now, &res);
        break;
    }
    case 3: {
        if (!f->last || len > 2048 || len < 6)
            return;
        cmn_addr_t peer;
        memset(&peer, 0, sizeof(peer));
        peer.family = CMN_AF_INET;
        memcpy(peer.ip, p, 4);
        peer.port = (uint16_t)(p[4] << 8 | p[5]);
        memcpy(pbuf + TURN_PEER_HEADROOM, p + 6, len - 6);
        const uint8_t *msg;
        size_t ml;
        turn_peer_data(f->t, f->last, &peer, pbuf, len - 6, now, &msg, &ml);
        break;
    }
    case 4:
        turn_tick(f->t, now, wall);
        break;
    case 5:
        turn_end_tuple(f->t, &tu);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *secrets[] = {"s3cret"};
    static turn_user_t users[] = {{FZ_USER, FZ_PASS}};
    static cmn_cidrset_t allowed, denied;
    fz_t f;
    memset(&f, 0, sizeof(f));
    size_t kl;
    stun_key_long_term(STUN_PWALG_MD5, FZ_USER, 5, FZ_REALM, 4, FZ_PASS, 10, f.key, &kl);
    turn_cfg_t cfg = {
        .realm = FZ_REALM, .software = "fz", .users = users, .nusers = 1,
        .secrets = secrets, .nsecrets = 1, .nonce_lifetime = 600, .default_lifetime = 600,
        .max_lifetime = 3600, .permission_lifetime = 300, .channel_lifetime = 600,
        .max_permissions = 8, .max_channels = 8, .allowed_peers = &allowed,
        .denied_peers = &denied, .unauth_rate = 0,
    };
    turn_ops_t ops = {.ctx = &f, .relay_open = fz_open, .relay_close = fz_close};
    turn_shared_t *sh = turn_shared_new(4, 3, 3);
    f.t = turn_new(&cfg, &ops, sh);
    double now = 1000.0, wall = 1.7e9;
    size_t off = 0;
    while (size - off >= 4) {
        uint8_t op = data[off], dt = data[off + 1];
        size_t len = (size_t)(data[off + 2] << 8 | data[off + 3]);
        off += 4;
        if (len > size - off)
            len = size - off;
        now += dt;
        wall += dt;
        run_record(&f, op, data + off, len, now, wall);
        off += len;
    }
    turn_free(f.t);
    turn_shared_free(sh);
    return 0;
}
