/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_turnc.c: the client side of STUN and TURN as messages: Binding,
 * Allocate, CreatePermission, ChannelBind and Refresh requests with
 * long-term credentials (RFC 8489 §9.2, RFC 8656 §6-§12), and reading
 * their responses. Encoding and decoding are stun/'s; this file decides
 * which attributes a request carries and what a response means. No
 * sockets: ice_turn.c and ice_stun.c send and receive.
 */
#include "ice_int.h"

#include <stdio.h>

#include "common/cmn_crypto.h"

void ice_turnc_init(ice_turnc_t *c, const char *user, const char *pass)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->user, sizeof(c->user), "%s", user ? user : "");
    snprintf(c->pass, sizeof(c->pass), "%s", pass ? pass : "");
}

int ice_turnc_rest_creds(const char *secret, long long now, int ttl, char *user, size_t ulen,
                         char *pass, size_t plen)
{
    uint8_t mac[CMN_SHA1_LEN];
    snprintf(user, ulen, "%lld:icehub-probe", now + ttl);
    if (cmn_hmac_sha1(secret, strlen(secret), user, strlen(user), mac) < 0)
        return CMN_EIO;
    if (cmn_base64_encode(mac, sizeof(mac), pass, plen) < 0)
        return CMN_EIO;
    return 0;
}

/* Start a request; the credentials are added by turnc_finish. */
static void turnc_start(stun_enc_t *e, uint8_t *buf, size_t cap, uint16_t method,
                        const uint8_t tid[STUN_TID_LEN])
{
    stun_enc_init(e, buf, cap, stun_type(method, STUN_CLASS_REQUEST), tid);
}

/* USERNAME, REALM, NONCE and MESSAGE-INTEGRITY once the server told us its
 * realm and nonce (RFC 8489 §9.2.4), then FINGERPRINT. */
static ssize_t turnc_finish(const ice_turnc_t *c, stun_enc_t *e)
{
    if (c->keylen) {
        stun_enc_text(e, STUN_ATTR_USERNAME, c->user);
        stun_enc_text(e, STUN_ATTR_REALM, c->realm);
        stun_enc_text(e, STUN_ATTR_NONCE, c->nonce);
        stun_enc_integrity(e, c->key, c->keylen);
    }
    stun_enc_fingerprint(e);
    return stun_enc_finish(e);
}

ssize_t ice_turnc_allocate(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                           const uint8_t tid[STUN_TID_LEN], uint32_t lifetime)
{
    stun_enc_t e;
    turnc_start(&e, buf, cap, STUN_METHOD_ALLOCATE, tid);
    stun_enc_transport(&e, 17); /* UDP relaying, RFC 8656 §7.1 */
    if (lifetime)
        stun_enc_u32(&e, STUN_ATTR_LIFETIME, lifetime);
    return turnc_finish(c, &e);
}

ssize_t ice_turnc_permission(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                             const uint8_t tid[STUN_TID_LEN], const cmn_addr_t *peer)
{
    stun_enc_t e;
    turnc_start(&e, buf, cap, STUN_METHOD_CREATE_PERMISSION, tid);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, peer);
    return turnc_finish(c, &e);
}

ssize_t ice_turnc_channel_bind(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                               const uint8_t tid[STUN_TID_LEN], uint16_t channel,
                               const cmn_addr_t *peer)
{
    stun_enc_t e;
    turnc_start(&e, buf, cap, STUN_METHOD_CHANNEL_BIND, tid);
    stun_enc_channel(&e, channel);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, peer);
    return turnc_finish(c, &e);
}

ssize_t ice_turnc_refresh(const ice_turnc_t *c, uint8_t *buf, size_t cap,
                          const uint8_t tid[STUN_TID_LEN], uint32_t lifetime)
{
    stun_enc_t e;
    turnc_start(&e, buf, cap, STUN_METHOD_REFRESH, tid);
    stun_enc_u32(&e, STUN_ATTR_LIFETIME, lifetime);
    return turnc_finish(c, &e);
}

ssize_t ice_binding_request(uint8_t *buf, size_t cap, const uint8_t tid[STUN_TID_LEN])
{
    stun_enc_t e;
    turnc_start(&e, buf, cap, STUN_METHOD_BINDING, tid);
    stun_enc_fingerprint(&e);
    return stun_enc_finish(&e);
}

/* Copy a text attribute into a NUL-terminated buffer. */
static int turnc_text(const stun_msg_t *m, uint16_t type, char *out, size_t cap)
{
    const stun_attr_t *a = stun_msg_find(m, type);
    const char *s;
    size_t n;
    if (!a || stun_attr_get_text(a, &s, &n) < 0 || n >= cap)
        return CMN_EPROTO;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* A 401 or 438 (RFC 8489 §9.2.5): learn realm and nonce; say whether the
 * request is worth sending again. */
static void turnc_challenge(ice_turnc_t *c, const stun_msg_t *m, bool had_creds,
                            ice_turnc_res_t *res)
{
    char realm[STUN_REALM_MAX + 1], nonce[STUN_NONCE_MAX + 1];
    if (turnc_text(m, STUN_ATTR_REALM, realm, sizeof(realm)) < 0 ||
        turnc_text(m, STUN_ATTR_NONCE, nonce, sizeof(nonce)) < 0)
        return;
    bool stale = res->code == 438 || strcmp(nonce, c->nonce) != 0;
    if (res->code == 401 && had_creds && !strcmp(realm, c->realm))
        stale = false; /* same realm, credentials refused: wrong password */
    snprintf(c->nonce, sizeof(c->nonce), "%s", nonce);
    if (strcmp(realm, c->realm) != 0 || !c->keylen) {
        snprintf(c->realm, sizeof(c->realm), "%s", realm);
        if (stun_key_long_term(STUN_PWALG_MD5, c->user, strlen(c->user), c->realm,
                               strlen(c->realm), c->pass, strlen(c->pass), c->key,
                               &c->keylen) < 0)
            c->keylen = 0;
        res->retry = c->keylen > 0;
        return;
    }
    res->retry = stale && c->keylen > 0;
}

static void turnc_success(const stun_msg_t *m, ice_turnc_res_t *res)
{
    const stun_attr_t *a;
    res->success = true;
    if ((a = stun_msg_find(m, STUN_ATTR_XOR_RELAYED_ADDRESS)))
        stun_attr_get_xor_addr(m, a, &res->relayed);
    if ((a = stun_msg_find(m, STUN_ATTR_XOR_MAPPED_ADDRESS)))
        stun_attr_get_xor_addr(m, a, &res->mapped);
    else if ((a = stun_msg_find(m, STUN_ATTR_MAPPED_ADDRESS)))
        stun_attr_get_addr(a, &res->mapped);
    if ((a = stun_msg_find(m, STUN_ATTR_LIFETIME)))
        stun_attr_get_u32(a, &res->lifetime);
}

int ice_turnc_response(ice_turnc_t *c, const uint8_t *buf, size_t len,
                       const uint8_t tid[STUN_TID_LEN], uint16_t method, bool had_creds,
                       ice_turnc_res_t *res)
{
    memset(res, 0, sizeof(*res));
    stun_msg_t m;
    if (!stun_is_stun(buf, len))
        return CMN_ENOENT;
    if (stun_msg_decode(&m, buf, len, NULL) < 0)
        return memcmp(buf + 8, tid, STUN_TID_LEN) == 0 ? CMN_EPROTO : CMN_ENOENT;
    if (memcmp(m.tid, tid, STUN_TID_LEN) != 0 || m.method != method ||
        (m.cls != STUN_CLASS_SUCCESS && m.cls != STUN_CLASS_ERROR))
        return CMN_ENOENT;
    /* RFC 8489 §9.2.5: a response to an authenticated request carries
     * MESSAGE-INTEGRITY made with the same key; one that fails is dropped
     * as if it never came. A challenge (401/438) carries none. */
    if (had_creds && c->keylen && m.idx_integrity >= 0 &&
        stun_msg_check_integrity(&m, c->key, c->keylen) < 0)
        return CMN_EAUTH;
    if (m.cls == STUN_CLASS_SUCCESS) {
        turnc_success(&m, res);
        return 0;
    }
    const stun_attr_t *a = stun_msg_find(&m, STUN_ATTR_ERROR_CODE);
    const char *reason = "";
    size_t rlen = 0;
    if (a && stun_attr_get_error(a, &res->code, &reason, &rlen) == 0) {
        rlen = CMN_MIN(rlen, sizeof(res->reason) - 1);
        /* The phrase is shown to a person: keep printable bytes only. */
        for (size_t i = 0; i < rlen; i++)
            res->reason[i] = (reason[i] >= 0x20 && reason[i] != 0x7f) ? reason[i] : '?';
        res->reason[rlen] = '\0';
    }
    if (res->code == 401 || res->code == 438)
        turnc_challenge(c, &m, had_creds, res);
    return 0;
}
