/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_handlers.c: the entry point for STUN messages other than Binding
 * (turn_handle_msg) and the request handlers except Allocate, which has
 * its own file: Refresh (RFC 8656 §8), CreatePermission (§10) and
 * ChannelBind (§12).
 *
 * A request goes: retransmission? (answer from the cache) -> authenticate
 * (401/438/400) -> 5-tuple rules (437, 441) -> unknown attributes (420) ->
 * the method's handler -> encode -> cache. The handlers change the tables
 * only once everything they check has passed, so an error leaves no trace.
 * Encoding and the retransmission cache are turn_rsp.c's.
 *
 * Left out: refreshing or deleting one family of a dual allocation (the
 * REQUESTED-ADDRESS-FAMILY of a Refresh is checked, 443, but the lifetime
 * applies to the whole allocation: turn_ops_t closes all relays at once).
 */
#include "turn_int.h"

/* ---- Refresh (RFC 8656 §8.2) ------------------------------------------- */

static uint8_t family_from_stun(uint8_t stun_family)
{
    return stun_family == STUN_FAMILY_IPV4   ? CMN_AF_INET
           : stun_family == STUN_FAMILY_IPV6 ? CMN_AF_INET6
                                             : 0;
}

static void handle_refresh(turn_ctx_t *c, uint8_t *out, size_t cap)
{
    const stun_msg_t *m = c->req->msg;
    const stun_attr_t *la = stun_msg_find(m, STUN_ATTR_LIFETIME);
    const stun_attr_t *fa = stun_msg_find(m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY);
    uint32_t asked = 0;
    uint8_t fam;

    if ((la && stun_attr_get_u32(la, &asked) != 0) || (fa && stun_attr_get_family(fa, &fam) != 0)) {
        c->err = TURN_ERR_BAD_REQUEST;
        return;
    }
    /* §8.2 (from RFC 6156 §5.2): REQUESTED-ADDRESS-FAMILY must be one the
     * allocation has. For a dual allocation the lifetime still applies to
     * the whole allocation; single-family refresh is not supported. */
    if (fa) {
        cmn_addr_t probe = {.family = family_from_stun(fam)};
        if (!turn__family_ok(c->a, &probe)) {
            c->err = TURN_ERR_PEER_FAMILY;
            return;
        }
    }
    uint32_t life = la && asked == 0 ? 0 : turn__lifetime(c->t->cfg, la != NULL, asked);
    if (life == 0)
        c->deleted = true; /* ended once the answer is cached */
    else
        c->a->expires = c->req->now + life;
    turn__rsp_success(c, out, cap);
    stun_enc_u32(&c->e, STUN_ATTR_LIFETIME, life);
}

/* ---- CreatePermission (RFC 8656 §10.2) --------------------------------- */

/* The checks every XOR-PEER-ADDRESS passes: family (443), policy (403). */
static turn_err_t peer_check(turn_ctx_t *c, const cmn_addr_t *peer)
{
    if (!turn__family_ok(c->a, peer))
        return TURN_ERR_PEER_FAMILY;
    if (!turn_peer_allowed(c->t->cfg, peer)) {
        TURN_STAT_ADD(c->t, peer_denied, 1);
        return TURN_ERR_FORBIDDEN_PEER;
    }
    return TURN_OK;
}

static double perm_life(const turn_cfg_t *cfg)
{
    return cfg->permission_lifetime ? cfg->permission_lifetime : TURN_DEF_PERM_LIFETIME;
}

static double chan_life(const turn_cfg_t *cfg)
{
    return cfg->channel_lifetime ? cfg->channel_lifetime : TURN_DEF_CHAN_LIFETIME;
}

/* All or nothing: every address is checked before any is installed. */
static void handle_create_permission(turn_ctx_t *c, uint8_t *out, size_t cap)
{
    const stun_msg_t *m = c->req->msg;
    cmn_addr_t peers[STUN_MAX_ATTRS];
    size_t n = 0;

    for (uint16_t i = 0; i < m->nattrs; i++) {
        if (m->attrs[i].type != STUN_ATTR_XOR_PEER_ADDRESS)
            continue;
        if (stun_attr_get_xor_addr(m, &m->attrs[i], &peers[n]) != 0) {
            c->err = TURN_ERR_BAD_REQUEST;
            return;
        }
        n++;
    }
    if (n == 0) {
        c->err = TURN_ERR_BAD_REQUEST;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if ((c->err = peer_check(c, &peers[i])) != TURN_OK)
            return;
    if (!turn__perm_fits(c->a, peers, n, c->req->now, turn__max_perms(c->t->cfg))) {
        c->err = TURN_ERR_CAP_PERMS;
        return;
    }
    double expires = c->req->now + perm_life(c->t->cfg);
    for (size_t i = 0; i < n; i++)
        turn__perm_install(c->a, &peers[i], expires);
    turn__rsp_success(c, out, cap);
}

/* ---- ChannelBind (RFC 8656 §12.2) -------------------------------------- */

/* The binding rules: number in range, neither side bound elsewhere
 * (bindings in their 5-minute quarantine count), room for a new one. */
static turn_err_t chan_check(turn_ctx_t *c, uint16_t num, const cmn_addr_t *peer,
                             turn_chan_t **found)
{
    turn_alloc_t *a = c->a;
    double now = c->req->now;
    cmn_addr_t cpeer;

    /* RFC 8656 §12 narrowed the range to 0x4000-0x4FFF; RFC 5766's
     * 0x4000-0x7FFF is accepted because clients still pick from it. */
    if (num < STUN_CHANNEL_MIN || num > STUN_CHANNEL_MAX)
        return TURN_ERR_BAD_CHANNEL;
    turn_err_t err = peer_check(c, peer);
    if (err != TURN_OK)
        return err;
    cmn_addr_canonical(&cpeer, peer);
    turn_chan_t *by_num = turn__chan_by_num(a, num, now);
    turn_chan_t *by_peer = turn__chan_by_peer(a, &cpeer, now);
    if (by_num && !cmn_addr_equal(&by_num->cpeer, &cpeer))
        return TURN_ERR_CHANNEL_IN_USE;
    if (by_peer && by_peer->num != num)
        return TURN_ERR_PEER_IN_USE;
    if ((!by_num || now >= by_num->expires) &&
        turn__chan_bound_count(a, now) >= turn__max_chans(c->t->cfg))
        return TURN_ERR_CAP_CHANNELS;
    if (!turn__perm_fits(a, peer, 1, now, turn__max_perms(c->t->cfg)))
        return TURN_ERR_CAP_PERMS;
    *found = by_num;
    return TURN_OK;
}

static void handle_channel_bind(turn_ctx_t *c, uint8_t *out, size_t cap)
{
    const stun_msg_t *m = c->req->msg;
    const stun_attr_t *na = stun_msg_find(m, STUN_ATTR_CHANNEL_NUMBER);
    const stun_attr_t *pa = stun_msg_find(m, STUN_ATTR_XOR_PEER_ADDRESS);
    uint16_t num;
    cmn_addr_t peer;
    turn_chan_t *ch = NULL;

    if (!na || !pa || stun_attr_get_channel(na, &num) != 0 ||
        stun_attr_get_xor_addr(m, pa, &peer) != 0) {
        c->err = TURN_ERR_BAD_REQUEST;
        return;
    }
    if ((c->err = chan_check(c, num, &peer, &ch)) != TURN_OK)
        return;
    double now = c->req->now;
    if (!ch)
        ch = turn__chan_add(c->a, num, &peer);
    /* A bind creates or refreshes the binding and the permission (§12.2). */
    turn__chan_refresh(c->a, ch, now + chan_life(c->t->cfg));
    turn__perm_install(c->a, &peer, now + perm_life(c->t->cfg));
    turn__rsp_success(c, out, cap);
}

/* ---- Dispatch ---------------------------------------------------------- */

/* RFC 8656 §5: an Allocate needs a 5-tuple without an allocation, every
 * other request one with it (437), created by the same user (441). */
static turn_err_t tuple_rules(const turn_ctx_t *c)
{
    const stun_msg_t *m = c->req->msg;
    if ((m->method == STUN_METHOD_ALLOCATE) == (c->a != NULL))
        return TURN_ERR_ALLOC_MISMATCH;
    if (c->a && strcmp(c->a->user, c->auth->user) != 0)
        return TURN_ERR_WRONG_CREDENTIALS;
    if (m->nunknown > 0)
        return TURN_ERR_UNKNOWN_ATTR;
    return TURN_OK;
}

/* Count an answered request by method and class, and a failed Allocate
 * by its error. */
static void count_answer(turn_ctx_t *c)
{
    uint16_t m = c->req->msg->method;
    turn_req_kind_t k = m == STUN_METHOD_ALLOCATE            ? TURN_REQ_ALLOCATE
                        : m == STUN_METHOD_REFRESH           ? TURN_REQ_REFRESH
                        : m == STUN_METHOD_CREATE_PERMISSION ? TURN_REQ_CREATE_PERMISSION
                                                             : TURN_REQ_CHANNEL_BIND;
    TURN_STAT_ADD(c->t, requests[k][c->err != TURN_OK], 1);
}

static void count_alloc_failed(turn_ctx_t *c)
{
    TURN_STAT_ADD(c->t, allocations_failed, 1);
    TURN_STAT_ADD(c->t, alloc_errors[(unsigned)c->err % TURN_ALLOC_ERR_SLOTS], 1);
}

static size_t auth_failed(turn_ctx_t *c, const turn_auth_t *au, uint8_t *out, size_t cap,
                          turn_out_t *res)
{
    if (c->err == TURN_ERR_UNAUTHENTICATED) {
        if (!turn__rl_allow(c->t, &c->req->tuple->client, c->req->now)) {
            res->drop = TURN_DROP_UNAUTH_RATE_LIMITED;
            return 0;
        }
        if (au->offered)
            TURN_STAT_ADD(c->t, auth_failures, 1);
    } else if (c->err == TURN_ERR_STALE_NONCE) {
        TURN_STAT_ADD(c->t, stale_nonces, 1);
    } else if (!turn_answer_allowed(c->t, &c->req->tuple->client, c->req->now)) {
        /* A 400 before authentication: a stranger's, like a Binding answer. */
        res->drop = TURN_DROP_ANSWER_RATE_LIMITED;
        return 0;
    }
    /* The first 401 of every allocation and 438s are the normal flow. */
    if (c->req->msg->method == STUN_METHOD_ALLOCATE && c->err != TURN_ERR_STALE_NONCE &&
        (c->err != TURN_ERR_UNAUTHENTICATED || au->offered))
        count_alloc_failed(c);
    count_answer(c);
    return turn__rsp_error(c, out, cap);
}

static size_t handle_request(turn_ctx_t *c, uint8_t *out, size_t cap, turn_out_t *res)
{
    const stun_msg_t *m = c->req->msg;
    turn_auth_t au;

    c->software = m->method == STUN_METHOD_ALLOCATE || m->method == STUN_METHOD_REFRESH;
    if (m->method != STUN_METHOD_ALLOCATE && m->method != STUN_METHOD_REFRESH &&
        m->method != STUN_METHOD_CREATE_PERMISSION && m->method != STUN_METHOD_CHANNEL_BIND) {
        c->err = TURN_ERR_BAD_REQUEST; /* a method this server does not serve */
        if (!turn_answer_allowed(c->t, &c->req->tuple->client, c->req->now)) {
            res->drop = TURN_DROP_ANSWER_RATE_LIMITED;
            return 0;
        }
        return turn__rsp_error(c, out, cap);
    }
    if ((c->err = turn__authenticate(c->t, c->req, &au)) != TURN_OK)
        return auth_failed(c, &au, out, cap, res);
    c->auth = &au;
    if ((c->err = tuple_rules(c)) == TURN_OK) {
        switch (m->method) {
        case STUN_METHOD_ALLOCATE: turn__handle_allocate(c, out, cap); break;
        case STUN_METHOD_REFRESH: handle_refresh(c, out, cap); break;
        case STUN_METHOD_CREATE_PERMISSION: handle_create_permission(c, out, cap); break;
        default: handle_channel_bind(c, out, cap); break;
        }
    }
    if (c->err != TURN_OK && m->method == STUN_METHOD_ALLOCATE)
        count_alloc_failed(c);
    count_answer(c);
    size_t len = c->err == TURN_OK ? turn__rsp_finish(c) : turn__rsp_error(c, out, cap);
    if (len == 0)
        res->drop = TURN_DROP_ENCODE_FAILED;
    turn__rsp_remember(c, out, len);
    if (c->deleted)
        turn__alloc_end(c->t, c->a, TURN_END_CLIENT);
    c->auth = NULL; /* <au> lives on this frame only */
    return len;
}

int turn_handle_msg(turn_t *t, const turn_req_t *req, uint8_t *out, size_t cap, turn_out_t *res)
{
    const stun_msg_t *m = req->msg;
    memset(res, 0, sizeof(*res));
    if (m->classic) {
        res->drop = TURN_DROP_UNEXPECTED_CLASS;
        return 0;
    }
    if (m->cls == STUN_CLASS_INDICATION) {
        if (m->method == STUN_METHOD_SEND)
            turn__handle_send(t, req, res);
        else
            res->drop = TURN_DROP_UNEXPECTED_INDICATION;
        return 0;
    }
    if (m->cls != STUN_CLASS_REQUEST) {
        res->drop = TURN_DROP_UNEXPECTED_CLASS;
        return 0;
    }
    turn_ctx_t c = {.t = t, .req = req};
    c.a = turn__alloc_find(t, req->tuple, req->now, true);
    if (turn__rsp_replay(&c, out, cap, &res->reply_len))
        return 0;
    res->reply_len = handle_request(&c, out, cap, res);
    return 0;
}
