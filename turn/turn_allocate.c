/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_allocate.c: the Allocate request (RFC 8656 §7.2), in three steps:
 *   validate  the attributes alone, in the RFC's order (400, 440, 442),
 *             into a turn_relay_req_t; nothing is touched yet;
 *   decide    quotas first (486, 508), then the relay socket(s) through
 *             ops->relay_open; undone completely on failure;
 *   respond   XOR-RELAYED-ADDRESS (one, or two for a dual allocation, as
 *             the external address the configuration maps the relay to),
 *             LIFETIME, RESERVATION-TOKEN, XOR-MAPPED-ADDRESS and, when
 *             one family of a dual allocation failed, ADDRESS-ERROR-CODE.
 * Authentication, the 437 check and the final encoding happen in
 * turn_handlers.c before and after.
 *
 * A draining server (turn_shared_draining) decides no further than that:
 * 300 Try Alternate to one of turn_cfg_t.alternates, or 403 (draining).
 *
 * Left out: relaying over TCP to peers (RFC 6062): REQUESTED-TRANSPORT
 * must be UDP.
 */
#include "turn_int.h"

#define PROTO_UDP 17

typedef struct alloc_ask_s {
    bool has_lifetime;
    uint32_t lifetime;          /* as requested */
    bool dual;                  /* ADDITIONAL-ADDRESS-FAMILY: IPv6 besides IPv4 */
    turn_relay_req_t relay;     /* family: the primary family */
} alloc_ask_t;

typedef struct alloc_got_s {
    turn_alloc_t *a;
    uint32_t lifetime;
    bool has_token;
    uint8_t token[8];
    turn_err_t addr_err;        /* one family of a dual allocation failed */
    uint8_t addr_err_family;    /* STUN_FAMILY_* of that family */
} alloc_got_t;

/* ---- Validate ---------------------------------------------------------- */

/* §7.2 steps 5-9: the attributes that choose the relayed address. */
static turn_err_t validate_family(const stun_msg_t *m, alloc_ask_t *ask)
{
    const stun_attr_t *ep = stun_msg_find(m, STUN_ATTR_EVEN_PORT);
    const stun_attr_t *tok = stun_msg_find(m, STUN_ATTR_RESERVATION_TOKEN);
    const stun_attr_t *rf = stun_msg_find(m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY);
    const stun_attr_t *af = stun_msg_find(m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY);
    uint8_t fam;

    /* 0x8032 is comprehension-optional and also [MS-TURN]'s
     * MS-ALTERNATE-HOST-NAME (a name): only a 4-byte family value counts. */
    if (!af) {
        af = stun_msg_find(m, TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY_OLD);
        if (af && af->len != 4)
            af = NULL;
    }

    if (tok && (ep || rf || af))
        return TURN_ERR_BAD_ATTR_COMBO; /* step 5 */
    if (tok) {
        if (tok->len != 8)
            return TURN_ERR_BAD_REQUEST;
        ask->relay.use_token = true;
        memcpy(ask->relay.token, tok->val, 8);
    }
    if (rf && af)
        return TURN_ERR_BAD_ATTR_COMBO; /* step 6 */
    ask->relay.family = CMN_AF_INET;
    if (rf) { /* step 7 */
        if (stun_attr_get_family(rf, &fam) != 0)
            return TURN_ERR_BAD_REQUEST;
        if (fam != STUN_FAMILY_IPV4 && fam != STUN_FAMILY_IPV6)
            return TURN_ERR_FAMILY_UNSUPPORTED;
        ask->relay.family = fam == STUN_FAMILY_IPV4 ? CMN_AF_INET : CMN_AF_INET6;
    }
    if (ep) { /* step 8 */
        if (stun_attr_get_even_port(ep, &ask->relay.reserve_next) != 0)
            return TURN_ERR_BAD_REQUEST;
        ask->relay.even_port = true;
        if (ask->relay.reserve_next && af)
            return TURN_ERR_BAD_ATTR_COMBO;
    }
    if (af) { /* step 9 */
        if (stun_attr_get_family(af, &fam) != 0 || fam == STUN_FAMILY_IPV4)
            return TURN_ERR_BAD_REQUEST;
        if (fam != STUN_FAMILY_IPV6)
            return TURN_ERR_FAMILY_UNSUPPORTED;
        ask->dual = true;
    }
    return TURN_OK;
}

static turn_err_t alloc_validate(const stun_msg_t *m, alloc_ask_t *ask)
{
    const stun_attr_t *tr = stun_msg_find(m, STUN_ATTR_REQUESTED_TRANSPORT);
    const stun_attr_t *lt = stun_msg_find(m, STUN_ATTR_LIFETIME);
    uint8_t proto;

    memset(ask, 0, sizeof(*ask));
    /* Step 3: REQUESTED-TRANSPORT is mandatory; only UDP is relayed. */
    if (!tr || stun_attr_get_transport(tr, &proto) != 0)
        return TURN_ERR_BAD_TRANSPORT_ATTR;
    if (proto != PROTO_UDP)
        return TURN_ERR_BAD_TRANSPORT;
    /* Step 4: DONT-FRAGMENT is supported (the glue sets DF on the relay
     * socket), so it is never an unknown attribute here. */
    ask->relay.dont_fragment = stun_msg_find(m, STUN_ATTR_DONT_FRAGMENT) != NULL;
    turn_err_t err = validate_family(m, ask);
    if (err != TURN_OK)
        return err;
    if (lt) {
        if (stun_attr_get_u32(lt, &ask->lifetime) != 0)
            return TURN_ERR_BAD_REQUEST;
        ask->has_lifetime = true;
    }
    return TURN_OK;
}

/* ---- Decide ------------------------------------------------------------ */

static int relay_open(turn_t *t, turn_alloc_t *a, const turn_relay_req_t *rq, uint8_t tok[8])
{
    cmn_addr_t relayed;
    memset(&relayed, 0, sizeof(relayed));
    int rc = t->ops->relay_open(t->ops->ctx, a, rq, &relayed, tok);
    if (rc == 0 && a->nrelay < 2)
        a->relay[a->nrelay++] = relayed;
    return rc;
}

/* Open the relay socket(s). A dual allocation succeeds when either family
 * does, and reports the other in ADDRESS-ERROR-CODE (§7.2 step 9). */
static turn_err_t open_relays(turn_t *t, turn_alloc_t *a, const alloc_ask_t *ask, alloc_got_t *got)
{
    int rc = relay_open(t, a, &ask->relay, got->token);
    got->has_token = rc == 0 && ask->relay.reserve_next;
    if (!ask->dual)
        return turn__err_from_relay(rc);
    turn_relay_req_t v6 = ask->relay;
    v6.family = CMN_AF_INET6;
    v6.reserve_next = false;
    uint8_t unused[8];
    int rc6 = relay_open(t, a, &v6, unused);
    if (rc != 0 && rc6 != 0)
        return turn__err_from_relay(rc);
    if (rc != 0 || rc6 != 0) {
        got->addr_err = turn__err_from_relay(rc != 0 ? rc : rc6);
        got->addr_err_family = rc != 0 ? STUN_FAMILY_IPV4 : STUN_FAMILY_IPV6;
    }
    return TURN_OK;
}

/* A draining server sends the client elsewhere (RFC 8489 §10): the
 * alternates of the client's family in turn (one count for all workers),
 * so redirected clients spread over them. The answer is authenticated like
 * any other to this request, so a client can trust the ALTERNATE-SERVER it
 * names. */
static turn_err_t alloc_drain(turn_ctx_t *c)
{
    const turn_cfg_t *cfg = c->t->cfg;
    uint8_t fam = c->req->tuple->client.family;
    size_t n = 0;
    for (size_t k = 0; k < cfg->nalternates; k++)
        n += cfg->alternates[k].family == fam;
    if (n == 0)
        return TURN_ERR_DRAINING;
    size_t pick = turn__shared_next_alt(c->t->shared) % n;
    for (size_t k = 0; k < cfg->nalternates; k++) {
        if (cfg->alternates[k].family == fam && pick-- == 0) {
            c->alt = cfg->alternates[k];
            break;
        }
    }
    return TURN_ERR_TRY_ALTERNATE;
}

/* Quotas before anything is allocated (STYLE §4), then the relay. */
static turn_err_t alloc_decide(turn_ctx_t *c, const alloc_ask_t *ask, alloc_got_t *got)
{
    turn_t *t = c->t;
    const turn_5tuple_t *tuple = c->req->tuple;
    memset(got, 0, sizeof(*got));
    turn_err_t err = turn__shared_acquire(t->shared, c->auth->quota_user, &tuple->client);
    if (err != TURN_OK)
        return err;
    turn_alloc_t *a = turn__alloc_new(t, tuple, c->auth);
    if ((err = open_relays(t, a, ask, got)) != TURN_OK)
        goto fail;
    got->lifetime = turn__lifetime(t->cfg, ask->has_lifetime, ask->lifetime);
    a->expires = c->req->now + got->lifetime;
    a->started = c->req->now;
    a->started_wall = c->req->wall;
    turn__quota_setup(t, a, c->req->now);
    a->dont_fragment = ask->relay.dont_fragment;
    turn__alloc_insert(t, a);
    got->a = a;
    return TURN_OK;

fail:
    /* Nothing was opened (a dual allocation fails only when both families
     * did), so there is no relay to close. */
    turn__shared_release(t->shared, a->quota_user, &tuple->client);
    turn__alloc_free(a);
    return err;
}

/* ---- Respond ----------------------------------------------------------- */

void turn__ext_map(const turn_cfg_t *cfg, const cmn_addr_t *relay, cmn_addr_t *out)
{
    const cmn_addr_t *any = NULL;
    *out = *relay;
    for (size_t i = 0; i < cfg->next; i++) {
        const cmn_addr_t *pub = &cfg->ext_pub[i];
        const cmn_addr_t *priv = cfg->ext_priv ? &cfg->ext_priv[i] : NULL;
        if (!priv || priv->family == 0) {
            if (!any && pub->family == relay->family)
                any = pub;
        } else if (cmn_addr_ip_equal(priv, relay)) {
            any = pub; /* an exact PUBLIC/PRIVATE pair wins */
            break;
        }
    }
    if (any) {
        out->family = any->family;
        memcpy(out->ip, any->ip, sizeof(out->ip));
    }
}

static void alloc_respond(turn_ctx_t *c, const alloc_got_t *got, uint8_t *out, size_t cap)
{
    const turn_alloc_t *a = got->a;
    turn__rsp_success(c, out, cap);
    for (uint8_t i = 0; i < a->nrelay; i++) {
        cmn_addr_t pub;
        turn__ext_map(c->t->cfg, &a->relay[i], &pub);
        stun_enc_xor_addr(&c->e, STUN_ATTR_XOR_RELAYED_ADDRESS, &pub);
    }
    stun_enc_u32(&c->e, STUN_ATTR_LIFETIME, got->lifetime);
    if (got->has_token)
        stun_enc_attr(&c->e, STUN_ATTR_RESERVATION_TOKEN, got->token, 8);
    stun_enc_xor_addr(&c->e, STUN_ATTR_XOR_MAPPED_ADDRESS, &c->req->tuple->client);
    if (got->addr_err != TURN_OK) {
        int code;
        const char *reason;
        turn__err_code(got->addr_err, &code, &reason);
        stun_enc_addr_error(&c->e, got->addr_err_family, code, reason);
    }
}

void turn__handle_allocate(turn_ctx_t *c, uint8_t *out, size_t cap)
{
    alloc_ask_t ask;
    alloc_got_t got;
    if ((c->err = alloc_validate(c->req->msg, &ask)) != TURN_OK)
        return;
    ask.relay.origin = c->req->origin;
    if (turn_shared_draining(c->t->shared)) {
        c->err = alloc_drain(c);
        return;
    }
    if ((c->err = alloc_decide(c, &ask, &got)) != TURN_OK)
        return;
    c->a = got.a;
    alloc_respond(c, &got, out, cap);
}
