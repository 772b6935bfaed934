/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_rsp.c: the responses every TURN request handler shares: success
 * and error responses, with MESSAGE-INTEGRITY(-SHA256) for authenticated
 * requests, SOFTWARE on Allocate and Refresh answers, and FINGERPRINT on
 * all of them; and the cache that answers retransmissions.
 *
 * Retransmissions (RFC 8489 §6.3.1): each allocation keeps the last
 * response it sent and the transaction id it answered; the same request
 * arriving again gets those bytes again, so a retransmitted Allocate does
 * not meet its own allocation as a 437. A Refresh that deleted the
 * allocation leaves its answer in a small ring of the worker's, for
 * TURN_RECENT_TTL seconds.
 *
 * Left out: what goes into a success response (the handlers write their
 * attributes between turn__rsp_success and turn__rsp_finish).
 */
#include "turn_int.h"

/* ---- Building ---------------------------------------------------------- */

void turn__rsp_success(turn_ctx_t *c, uint8_t *out, size_t cap)
{
    const stun_msg_t *m = c->req->msg;
    stun_enc_init(&c->e, out, cap, stun_type(m->method, STUN_CLASS_SUCCESS), m->tid);
}

size_t turn__rsp_finish(turn_ctx_t *c)
{
    const char *sw = c->t->cfg->software;
    if (c->software && sw && *sw)
        stun_enc_text(&c->e, STUN_ATTR_SOFTWARE, sw);
    /* RFC 8489 §9.2.4: the response is protected like the request was. */
    if (c->auth && c->auth->sha256)
        stun_enc_integrity_sha256(&c->e, c->auth->key, c->auth->keylen);
    else if (c->auth)
        stun_enc_integrity(&c->e, c->auth->key, c->auth->keylen);
    stun_enc_fingerprint(&c->e);
    ssize_t n = stun_enc_finish(&c->e);
    return n > 0 ? (size_t)n : 0;
}

/* 401 and 438 (RFC 8489 §9.2.4) carry what the client needs to try again
 * and nothing else: REALM, a fresh NONCE and PASSWORD-ALGORITHMS; no
 * SOFTWARE and no integrity, so they are as small as they can be. */
static void challenge_attrs(turn_ctx_t *c)
{
    char nonce[TURN_NONCE_LEN + 1];
    const char *realm = c->t->cfg->realm ? c->t->cfg->realm : "";
    turn__nonce_make(c->t, c->req->tuple, c->req->now, nonce);
    stun_enc_text(&c->e, STUN_ATTR_REALM, realm);
    stun_enc_text(&c->e, STUN_ATTR_NONCE, nonce);
    stun_enc_pwalgs(&c->e, turn__pwalgs, CMN_ARRAY_LEN(turn__pwalgs));
    c->software = false;
    c->auth = NULL;
}

size_t turn__rsp_error(turn_ctx_t *c, uint8_t *out, size_t cap)
{
    const stun_msg_t *m = c->req->msg;
    int code;
    const char *reason;
    turn__err_code(c->err, &code, &reason);
    stun_enc_init(&c->e, out, cap, stun_type(m->method, STUN_CLASS_ERROR), m->tid);
    stun_enc_error(&c->e, code, reason);
    if (c->err == TURN_ERR_UNKNOWN_ATTR)
        stun_enc_unknown(&c->e, m->unknown, m->nunknown);
    else if (c->err == TURN_ERR_TRY_ALTERNATE)
        stun_enc_addr(&c->e, STUN_ATTR_ALTERNATE_SERVER, &c->alt);
    else if (c->err == TURN_ERR_UNAUTHENTICATED || c->err == TURN_ERR_STALE_NONCE)
        challenge_attrs(c);
    return turn__rsp_finish(c);
}

/* ---- Retransmissions --------------------------------------------------- */

/* Remember a deleted allocation's last response in the worker's ring. */
static void recent_put(turn_t *t, const turn_alloc_t *a, double now)
{
    if (a->last_len == 0)
        return;
    turn_recent_t *r = &t->recent[t->recent_next];
    t->recent_next = (t->recent_next + 1) % TURN_RECENT_SLOTS;
    r->tuple = a->tuple;
    memcpy(r->tid, a->last_tid, STUN_TID_LEN);
    r->method = a->last_method;
    r->len = a->last_len;
    r->when = now;
    memcpy(r->resp, a->last_resp, a->last_len);
}

static const turn_recent_t *recent_find(const turn_t *t, const turn_5tuple_t *tuple,
                                        const uint8_t tid[STUN_TID_LEN], double now)
{
    for (size_t i = 0; i < TURN_RECENT_SLOTS; i++) {
        const turn_recent_t *r = &t->recent[i];
        if (r->len && now - r->when < TURN_RECENT_TTL &&
            memcmp(r->tid, tid, STUN_TID_LEN) == 0 && turn__tuple_equal(&r->tuple, tuple))
            return r;
    }
    return NULL;
}

bool turn__rsp_replay(turn_ctx_t *c, uint8_t *out, size_t cap, size_t *len)
{
    const stun_msg_t *m = c->req->msg;
    const uint8_t *src = NULL;
    size_t n = 0;
    if (c->a && c->a->last_len && c->a->last_method == m->method &&
        memcmp(c->a->last_tid, m->tid, STUN_TID_LEN) == 0) {
        src = c->a->last_resp;
        n = c->a->last_len;
    } else {
        /* Also with an allocation: the 5-tuple may have allocated again
         * since, and the old Refresh must not delete the new one. */
        const turn_recent_t *r = recent_find(c->t, c->req->tuple, m->tid, c->req->now);
        if (r && r->method == m->method) {
            src = r->resp;
            n = r->len;
        }
    }
    if (!src || n > cap)
        return false;
    memcpy(out, src, n);
    *len = n;
    return true;
}

/* Not when it answered someone else (437 to a second Allocate, 441 to
 * another user): those must not replace the owner's cached answer. */
void turn__rsp_remember(turn_ctx_t *c, const uint8_t *out, size_t len)
{
    turn_alloc_t *a = c->a;
    if (!a || a->ended || len == 0 || len > TURN_RESP_CACHE_MAX ||
        c->err == TURN_ERR_ALLOC_MISMATCH || c->err == TURN_ERR_WRONG_CREDENTIALS)
        return;
    memcpy(a->last_resp, out, len);
    a->last_len = (uint16_t)len;
    a->last_method = c->req->msg->method;
    memcpy(a->last_tid, c->req->msg->tid, STUN_TID_LEN);
    if (c->deleted)
        recent_put(c->t, a, c->req->now);
}
