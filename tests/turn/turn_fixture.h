/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_fixture.h: what the turn/ unit tests share: a configuration with a
 * static user and a shared secret, fake ops that record relay_open and
 * relay_close and hand out fake relayed addresses, a fake clock (fx->now,
 * fx->wall), and a client that builds requests with the stun/ encoder
 * (USERNAME, REALM, NONCE and MESSAGE-INTEGRITY with the right long-term
 * key), feeds them to turn_handle_msg and decodes the reply.
 *
 * Include after <cmocka.h>. Everything is static and may go unused in a
 * given test file.
 */
#ifndef TURN_FIXTURE_H
#define TURN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_crypto.h"
#include "turn/turn_int.h"

#define FX_UNUSED __attribute__((unused))
#define FX_REALM "example.org"
#define FX_USER "alice"
#define FX_PASS "wonderland"
#define FX_SECRET "s3cret"
#define FX_WALL 1700000000.0
#define FX_MAX_OPENS 8

typedef struct fx_s {
    turn_cfg_t cfg;
    turn_user_t users[2];
    char *secrets[2];
    cmn_addr_t own[1];
    turn_ops_t ops;
    turn_shared_t *shared;
    turn_t *t;
    turn_5tuple_t tuple;
    double now, wall;
    /* fake ops */
    int opens, closes;
    int rc4, rc6;                       /* what relay_open returns per family */
    turn_relay_req_t reqs[FX_MAX_OPENS];
    turn_alloc_t *closed[FX_MAX_OPENS];
    uint16_t next_port;
    /* the client */
    const char *user, *pass;
    char nonce[STUN_NONCE_MAX + 1];
    uint16_t alg;                       /* 0: send no PASSWORD-ALGORITHM(S) */
    bool sha256;                        /* MESSAGE-INTEGRITY-SHA256 instead of MI */
    bool userhash;                      /* USERHASH instead of USERNAME */
    uint32_t tid_seq;
    /* the last exchange */
    uint8_t req[2048];
    size_t req_len;
    uint8_t out[1500];
    stun_msg_t rsp;
    turn_out_t res;
} fx_t;

/* ---- Fake ops ---------------------------------------------------------- */

static FX_UNUSED int fx_relay_open(void *ctx, turn_alloc_t *a, const turn_relay_req_t *req,
                                   cmn_addr_t *relayed, uint8_t token_out[8])
{
    fx_t *fx = ctx;
    (void)a;
    if (fx->opens < FX_MAX_OPENS)
        fx->reqs[fx->opens] = *req;
    fx->opens++;
    int rc = req->family == CMN_AF_INET ? fx->rc4 : fx->rc6;
    if (rc != 0)
        return rc;
    memset(relayed, 0, sizeof(*relayed));
    if (req->family == CMN_AF_INET) {
        cmn_addr_parse_ip(relayed, "10.0.0.7");
    } else {
        cmn_addr_parse_ip(relayed, "2001:db8::7");
    }
    relayed->port = fx->next_port;
    fx->next_port += 2;
    if (req->reserve_next)
        memcpy(token_out, "TOKEN-01", 8);
    return 0;
}

static FX_UNUSED void fx_relay_close(void *ctx, turn_alloc_t *a)
{
    fx_t *fx = ctx;
    if (fx->closes < FX_MAX_OPENS)
        fx->closed[fx->closes] = a;
    fx->closes++;
}

/* ---- Setup ------------------------------------------------------------- */

static FX_UNUSED void fx_addr(cmn_addr_t *a, const char *text)
{
    assert_int_equal(cmn_addr_parse(a, text, -1), 0);
}

static FX_UNUSED fx_t *fx_new(void)
{
    fx_t *fx = cmn_calloc(1, sizeof(*fx));
    fx->users[0].name = (char *)FX_USER;
    fx->users[0].password = (char *)FX_PASS;
    fx->users[1].name = (char *)"bob";
    fx->users[1].password = (char *)"builder";
    fx->secrets[0] = (char *)FX_SECRET;
    fx->cfg.realm = FX_REALM;
    fx->cfg.software = "icehub-test";
    fx->cfg.users = fx->users;
    fx->cfg.nusers = 2;
    fx->cfg.secrets = fx->secrets;
    fx->cfg.nsecrets = 1;
    memset(fx->cfg.nonce_key, 0x42, sizeof(fx->cfg.nonce_key));
    fx_addr(&fx->own[0], "198.51.100.1:3478");
    fx->cfg.own_addrs = fx->own;
    fx->cfg.nown = 1;
    fx->ops.ctx = fx;
    fx->ops.relay_open = fx_relay_open;
    fx->ops.relay_close = fx_relay_close;
    fx->next_port = 50000;
    fx->shared = turn_shared_new(0, 0, 0);
    fx->t = turn_new(&fx->cfg, &fx->ops, fx->shared);
    fx_addr(&fx->tuple.client, "203.0.113.5:40000");
    fx_addr(&fx->tuple.server, "198.51.100.1:3478");
    fx->tuple.transport = TURN_TR_UDP;
    fx->now = 1000.0;
    fx->wall = FX_WALL;
    fx->user = FX_USER;
    fx->pass = FX_PASS;
    return fx;
}

static FX_UNUSED void fx_free(fx_t *fx)
{
    turn_free(fx->t);
    turn_shared_free(fx->shared);
    cmn_free(fx);
}

static FX_UNUSED int fx_setup(void **state)
{
    *state = fx_new();
    return 0;
}

static FX_UNUSED int fx_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* ---- Requests ---------------------------------------------------------- */

static FX_UNUSED void fx_begin(fx_t *fx, stun_enc_t *e, uint16_t method, uint8_t cls)
{
    uint8_t tid[STUN_TID_LEN] = {0};
    cmn_put_u32be(tid + 8, ++fx->tid_seq);
    tid[0] = 0xAB;
    stun_enc_init(e, fx->req, sizeof(fx->req), stun_type(method, cls), tid);
}

/* Credentials as the client would send them after a 401. */
static FX_UNUSED void fx_sign(fx_t *fx, stun_enc_t *e)
{
    uint8_t key[STUN_KEY_MAX];
    size_t keylen;
    uint16_t alg = fx->alg ? fx->alg : STUN_PWALG_MD5;
    if (fx->userhash) {
        uint8_t h[32];
        stun_userhash(fx->user, strlen(fx->user), FX_REALM, strlen(FX_REALM), h);
        stun_enc_attr(e, STUN_ATTR_USERHASH, h, 32);
    } else {
        stun_enc_text(e, STUN_ATTR_USERNAME, fx->user);
    }
    stun_enc_text(e, STUN_ATTR_REALM, FX_REALM);
    stun_enc_text(e, STUN_ATTR_NONCE, fx->nonce);
    if (fx->alg) {
        stun_enc_pwalgs(e, turn__pwalgs, 2);
        stun_enc_pwalg(e, fx->alg);
    }
    assert_int_equal(stun_key_long_term(alg, fx->user, strlen(fx->user), FX_REALM,
                                        strlen(FX_REALM), fx->pass, strlen(fx->pass), key,
                                        &keylen),
                     0);
    if (fx->sha256)
        stun_enc_integrity_sha256(e, key, keylen);
    else
        stun_enc_integrity(e, key, keylen);
}

/* Feed fx->req[0..len) to turn_handle_msg; decode the reply into fx->rsp.
 * Returns the reply's error code, 0 for a success, -1 for no reply. */
static FX_UNUSED int fx_feed(fx_t *fx, size_t len)
{
    stun_msg_t m;
    fx->req_len = len;
    assert_int_equal(stun_msg_decode(&m, fx->req, len, NULL), 0);
    turn_req_t r = {.msg = &m, .tuple = &fx->tuple, .now = fx->now, .wall = fx->wall,
                    .origin = fx};
    assert_int_equal(turn_handle_msg(fx->t, &r, fx->out, sizeof(fx->out), &fx->res), 0);
    if (fx->res.reply_len == 0)
        return -1;
    assert_int_equal(stun_msg_decode(&fx->rsp, fx->out, fx->res.reply_len, NULL), 0);
    assert_memory_equal(fx->rsp.tid, m.tid, STUN_TID_LEN);
    assert_int_equal(fx->rsp.method, m.method);
    if (fx->rsp.cls == STUN_CLASS_SUCCESS)
        return 0;
    assert_int_equal(fx->rsp.cls, STUN_CLASS_ERROR);
    const stun_attr_t *ea = stun_msg_find(&fx->rsp, STUN_ATTR_ERROR_CODE);
    assert_non_null(ea);
    int code;
    const char *reason;
    size_t rlen;
    assert_int_equal(stun_attr_get_error(ea, &code, &reason, &rlen), 0);
    return code;
}

/* Finish <e> (FINGERPRINT, optionally signed) and feed it. */
static FX_UNUSED int fx_send(fx_t *fx, stun_enc_t *e, bool sign)
{
    if (sign)
        fx_sign(fx, e);
    stun_enc_fingerprint(e);
    ssize_t n = stun_enc_finish(e);
    assert_true(n > 0);
    return fx_feed(fx, (size_t)n);
}

/* Send the same bytes again (a retransmission). */
static FX_UNUSED int fx_resend(fx_t *fx)
{
    return fx_feed(fx, fx->req_len);
}

/* The reason phrase of the last error reply, NUL-terminated. */
static FX_UNUSED const char *fx_reason(fx_t *fx)
{
    static char buf[STUN_REASON_MAX + 1];
    const stun_attr_t *ea = stun_msg_find(&fx->rsp, STUN_ATTR_ERROR_CODE);
    int code;
    const char *reason;
    size_t rlen;
    assert_non_null(ea);
    assert_int_equal(stun_attr_get_error(ea, &code, &reason, &rlen), 0);
    memcpy(buf, reason, rlen);
    buf[rlen] = '\0';
    return buf;
}

/* Take the NONCE of the last reply (a 401 or 438). */
static FX_UNUSED void fx_take_nonce(fx_t *fx)
{
    const stun_attr_t *na = stun_msg_find(&fx->rsp, STUN_ATTR_NONCE);
    const char *s;
    size_t n;
    assert_non_null(na);
    assert_int_equal(stun_attr_get_text(na, &s, &n), 0);
    memcpy(fx->nonce, s, n);
    fx->nonce[n] = '\0';
}

/* An unauthenticated Allocate to learn the nonce (expects the 401). */
static FX_UNUSED void fx_challenge(fx_t *fx)
{
    stun_enc_t e;
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    assert_int_equal(fx_send(fx, &e, false), 401);
    fx_take_nonce(fx);
}

/* Check the integrity of the last reply with the client's key. */
static FX_UNUSED void fx_check_reply_integrity(fx_t *fx)
{
    uint8_t key[STUN_KEY_MAX];
    size_t keylen;
    uint16_t alg = fx->alg ? fx->alg : STUN_PWALG_MD5;
    assert_int_equal(stun_key_long_term(alg, fx->user, strlen(fx->user), FX_REALM,
                                        strlen(FX_REALM), fx->pass, strlen(fx->pass), key,
                                        &keylen),
                     0);
    if (fx->sha256) {
        assert_true(fx->rsp.idx_integrity < 0);
        assert_int_equal(stun_msg_check_integrity_sha256(&fx->rsp, key, keylen), 0);
    } else {
        assert_true(fx->rsp.idx_integrity_sha256 < 0);
        assert_int_equal(stun_msg_check_integrity(&fx->rsp, key, keylen), 0);
    }
    assert_true(fx->rsp.idx_fingerprint >= 0);
}

/* A plain authenticated Allocate (UDP, IPv4); returns the reply code. */
static FX_UNUSED int fx_allocate(fx_t *fx)
{
    stun_enc_t e;
    if (!fx->nonce[0])
        fx_challenge(fx);
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    return fx_send(fx, &e, true);
}

static FX_UNUSED int fx_refresh(fx_t *fx, int64_t lifetime)
{
    stun_enc_t e;
    fx_begin(fx, &e, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
    if (lifetime >= 0)
        stun_enc_u32(&e, STUN_ATTR_LIFETIME, (uint32_t)lifetime);
    return fx_send(fx, &e, true);
}

static FX_UNUSED int fx_permission(fx_t *fx, const char *peer)
{
    stun_enc_t e;
    cmn_addr_t p;
    fx_addr(&p, peer);
    fx_begin(fx, &e, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, &p);
    return fx_send(fx, &e, true);
}

static FX_UNUSED int fx_bind(fx_t *fx, uint16_t channel, const char *peer)
{
    stun_enc_t e;
    cmn_addr_t p;
    fx_addr(&p, peer);
    fx_begin(fx, &e, STUN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST);
    stun_enc_channel(&e, channel);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, &p);
    return fx_send(fx, &e, true);
}

/* The allocation of the fixture's 5-tuple, or NULL. */
static FX_UNUSED turn_alloc_t *fx_alloc(fx_t *fx)
{
    return turn__alloc_find(fx->t, &fx->tuple, fx->now, false);
}

static FX_UNUSED uint32_t fx_u32_attr(fx_t *fx, uint16_t type)
{
    const stun_attr_t *a = stun_msg_find(&fx->rsp, type);
    uint32_t v;
    assert_non_null(a);
    assert_int_equal(stun_attr_get_u32(a, &v), 0);
    return v;
}

static FX_UNUSED turn_stats_t fx_stats(fx_t *fx)
{
    turn_stats_t st;
    turn_get_stats(fx->t, &st);
    return st;
}

/* Move both clocks by <dt> seconds and run turn_tick. */
static FX_UNUSED void fx_tick(fx_t *fx, double dt)
{
    fx->now += dt;
    fx->wall += dt;
    turn_tick(fx->t, fx->now, fx->wall);
}

/* A cmocka setup with one allocation made, and nonces that outlive the
 * clock moves of the tests. */
static FX_UNUSED int fx_setup_alloc(void **state)
{
    fx_t *fx = fx_new();
    fx->cfg.nonce_lifetime = 86400;
    assert_int_equal(fx_allocate(fx), 0);
    *state = fx;
    return 0;
}

static FX_UNUSED bool fx_has_perm(fx_t *fx, const char *ip)
{
    cmn_addr_t a;
    fx_addr(&a, ip);
    return turn__perm_find(fx_alloc(fx), &a, fx->now) != NULL;
}

#endif /* TURN_FIXTURE_H */
