/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_auth.c: the long-term credential mechanism of RFC 8489 §9.2 as a
 * TURN server runs it (RFC 8656 §5): stateless nonces, the nonce cookie
 * with its security feature bits, PASSWORD-ALGORITHM(S) (MD5 and SHA-256
 * keys), MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256, USERHASH for the
 * static users, coturn-compatible ephemeral credentials for shared secrets
 * ("TURN REST API"), and the token buckets that limit 401 answers.
 *
 * Nonces keep no state. A nonce is
 *     "obMatJos2" + 4 base64 chars of the feature bits            (13 chars)
 *     + base64url(expiry[4] + HMAC-SHA256(nonce_key, msg)[0..12])  (22 chars)
 * where msg is the 13-char prefix, the expiry (big-endian seconds of the
 * monotonic clock), and the client's transport, family, port and IP. A
 * nonce is valid for the client it was given to until its expiry; a
 * request that has not authenticated leaves nothing behind (the token
 * buckets are a fixed array).
 *
 * Ephemeral credentials: username "<expiry>" or "<expiry>:<anything>"
 * (coturn's default separator), expiry in Unix seconds; the password is
 * base64(HMAC-SHA1(secret, username)); every configured secret is tried
 * so secrets can rotate. The "<user>:<expiry>" order is not accepted.
 *
 * Left out: OpaqueString (RFC 8265) preparation of names and passwords
 * (they are used as the bytes configured and received), and ALTERNATE-
 * DOMAIN. USERHASH works for static users only: an ephemeral name can't be
 * found from its hash without state.
 */
#include "turn_int.h"

#include "../common/cmn_crypto.h"

#define NONCE_MAC_LEN 12
#define EPHEMERAL_PW_LEN 28 /* base64 of a 20-byte HMAC-SHA1 */

const uint16_t turn__pwalgs[2] = {STUN_PWALG_SHA256, STUN_PWALG_MD5};

/* ---- Nonces ----------------------------------------------------------- */

uint32_t turn__nonce_features(const turn_cfg_t *cfg)
{
    /* Announce username anonymity only when every user can be found from
     * its hash, i.e. there are static users and no ephemeral ones. */
    if (cfg->nusers > 0 && cfg->nsecrets == 0)
        return TURN_FEAT_PWALGS | TURN_FEAT_USERHASH;
    return TURN_FEAT_PWALGS;
}

static double nonce_lifetime(const turn_cfg_t *cfg)
{
    return cfg->nonce_lifetime ? cfg->nonce_lifetime : TURN_DEF_NONCE_LIFETIME;
}

static void b64url(const uint8_t *src, size_t n, char *out, size_t cap)
{
    ssize_t len = cmn_base64_encode(src, n, out, cap);
    for (ssize_t i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
        else if (out[i] == '=')
            out[i] = '\0';
    }
}

/* The nonce for <tuple> expiring at <expiry>, written to <out>. */
static void nonce_build(const turn_t *t, const turn_5tuple_t *tuple, uint32_t expiry,
                        char out[TURN_NONCE_LEN + 1])
{
    uint8_t feat[3], msg[TURN_NONCE_PREFIX_LEN + 24], mac[CMN_SHA256_LEN], body[16];
    uint32_t f = turn__nonce_features(t->cfg);
    char fb64[8];

    feat[0] = (uint8_t)(f >> 16);
    feat[1] = (uint8_t)(f >> 8);
    feat[2] = (uint8_t)f;
    cmn_base64_encode(feat, 3, fb64, sizeof(fb64));
    memcpy(out, TURN_NONCE_COOKIE, TURN_NONCE_COOKIE_LEN);
    memcpy(out + TURN_NONCE_COOKIE_LEN, fb64, 4);

    memcpy(msg, out, TURN_NONCE_PREFIX_LEN);
    uint8_t *p = msg + TURN_NONCE_PREFIX_LEN;
    cmn_put_u32be(p, expiry);
    p[4] = tuple->transport;
    p[5] = tuple->client.family;
    cmn_put_u16be(p + 6, tuple->client.port);
    memcpy(p + 8, tuple->client.ip, 16);
    if (cmn_hmac_sha256(t->cfg->nonce_key, sizeof(t->cfg->nonce_key), msg, sizeof(msg), mac) != 0)
        memset(mac, 0, sizeof(mac)); /* fails every check: the client just gets 438s */

    cmn_put_u32be(body, expiry);
    memcpy(body + 4, mac, NONCE_MAC_LEN);
    char enc[32];
    b64url(body, sizeof(body), enc, sizeof(enc));
    memcpy(out + TURN_NONCE_PREFIX_LEN, enc, TURN_NONCE_LEN - TURN_NONCE_PREFIX_LEN);
    out[TURN_NONCE_LEN] = '\0';
}

void turn__nonce_make(const turn_t *t, const turn_5tuple_t *tuple, double now,
                      char out[TURN_NONCE_LEN + 1])
{
    nonce_build(t, tuple, (uint32_t)(now + nonce_lifetime(t->cfg)), out);
}

/* The expiry a nonce claims (22 base64url characters after the prefix). */
static bool nonce_expiry(const char *n, uint32_t *expiry)
{
    char b64[25];
    uint8_t body[18];
    for (size_t i = 0; i < 22; i++) {
        char ch = n[TURN_NONCE_PREFIX_LEN + i];
        if (ch == '-')
            ch = '+';
        else if (ch == '_')
            ch = '/';
        b64[i] = ch;
    }
    b64[22] = b64[23] = '=';
    if (cmn_base64_decode(b64, 24, body, sizeof(body)) != 16)
        return false;
    *expiry = cmn_get_u32be(body);
    return true;
}

/* RFC 8489 §9.2.4: a nonce is valid if we made it for this client and it
 * has not expired. Rebuilding it and comparing the whole text (constant
 * time) checks the prefix, the MAC and the encoding at once. */
static bool nonce_valid(const turn_t *t, const turn_5tuple_t *tuple, const char *n, size_t len,
                        double now)
{
    uint32_t expiry;
    char want[TURN_NONCE_LEN + 1];
    if (len != TURN_NONCE_LEN || !nonce_expiry(n, &expiry))
        return false;
    if ((double)expiry <= now || (double)expiry > now + nonce_lifetime(t->cfg) + 1)
        return false;
    nonce_build(t, tuple, expiry, want);
    return cmn_ct_equal(want, n, TURN_NONCE_LEN);
}

/* ---- PASSWORD-ALGORITHM(S) -------------------------------------------- */

/* True when <nonce> carries the cookie with the "Password algorithms" bit
 * (RFC 8489 §9.2.4, checked before the nonce's validity). */
static bool nonce_has_pwalgs(const char *nonce, size_t len)
{
    uint8_t feat[3];
    if (len < TURN_NONCE_PREFIX_LEN || memcmp(nonce, TURN_NONCE_COOKIE, TURN_NONCE_COOKIE_LEN) != 0)
        return false;
    if (cmn_base64_decode(nonce + TURN_NONCE_COOKIE_LEN, 4, feat, sizeof(feat)) != 3)
        return false;
    return (feat[0] & 0x80) != 0;
}

/* RFC 8489 §9.2.4: with the cookie, either neither attribute (MD5), or
 * PASSWORD-ALGORITHMS exactly as we offered it plus a PASSWORD-ALGORITHM
 * from that list; anything else is 400. */
static turn_err_t pick_alg(const stun_msg_t *m, const char *nonce, size_t nlen, uint16_t *alg)
{
    const stun_attr_t *one = stun_msg_find(m, STUN_ATTR_PASSWORD_ALGORITHM);
    const stun_attr_t *list = stun_msg_find(m, STUN_ATTR_PASSWORD_ALGORITHMS);
    *alg = STUN_PWALG_MD5;
    if (!nonce_has_pwalgs(nonce, nlen) || (!one && !list))
        return TURN_OK;
    if (!one || !list)
        return TURN_ERR_BAD_PWALG;
    size_t n = CMN_ARRAY_LEN(turn__pwalgs);
    uint16_t v;
    for (size_t i = 0; i < n; i++)
        if (stun_attr_get_pwalgs(list, i, &v) != 0 || v != turn__pwalgs[i])
            return TURN_ERR_BAD_PWALG;
    if (stun_attr_get_pwalgs(list, n, &v) != CMN_ENOENT)
        return TURN_ERR_BAD_PWALG;
    const uint8_t *params;
    size_t plen;
    if (stun_attr_get_pwalg(one, &v, &params, &plen) != 0 || plen != 0)
        return TURN_ERR_BAD_PWALG;
    for (size_t i = 0; i < n; i++) {
        if (v == turn__pwalgs[i]) {
            *alg = v;
            return TURN_OK;
        }
    }
    return TURN_ERR_BAD_PWALG;
}

/* ---- Users ------------------------------------------------------------- */

void turn__auth_reload(turn_t *t)
{
    const turn_cfg_t *cfg = t->cfg;
    const char *realm = cfg->realm ? cfg->realm : "";
    cmn_free(t->uhash);
    t->uhash = cmn_calloc(cfg->nusers ? cfg->nusers : 1, sizeof(*t->uhash));
    t->nuhash = 0;
    for (size_t i = 0; i < cfg->nusers; i++) {
        turn_uhash_t *u = &t->uhash[t->nuhash++];
        stun_userhash(cfg->users[i].name, strlen(cfg->users[i].name), realm, strlen(realm),
                      u->hash);
        u->user = i;
    }
}

static const turn_user_t *user_by_name(const turn_cfg_t *cfg, const char *u, size_t n)
{
    for (size_t i = 0; i < cfg->nusers; i++) {
        const char *name = cfg->users[i].name;
        if (strlen(name) == n && memcmp(name, u, n) == 0)
            return &cfg->users[i];
    }
    return NULL;
}

static const turn_user_t *user_by_hash(const turn_t *t, const uint8_t hash[32])
{
    const turn_user_t *found = NULL;
    /* Scan all of them: the time taken does not tell which one matched. */
    for (size_t i = 0; i < t->nuhash; i++)
        if (cmn_ct_equal(t->uhash[i].hash, hash, 32) && !found)
            found = &t->cfg->users[t->uhash[i].user];
    return found;
}

/* "<digits>" or "<digits>:<rest>": the expiry, and where the name that
 * quotas count starts (<rest>, or the whole name without one). */
static bool ephemeral_parse(const char *u, size_t n, double *expiry, size_t *qoff)
{
    size_t i = 0;
    double v = 0;
    while (i < n && u[i] >= '0' && u[i] <= '9' && i < 15)
        v = v * 10 + (u[i++] - '0');
    if (i == 0 || (i < n && u[i] != ':'))
        return false;
    *expiry = v;
    *qoff = i < n && i + 1 < n ? i + 1 : 0;
    return true;
}

static bool integrity_ok(const stun_msg_t *m, const uint8_t *key, size_t keylen)
{
    if (m->idx_integrity_sha256 >= 0)
        return stun_msg_check_integrity_sha256(m, key, keylen) == 0;
    return stun_msg_check_integrity(m, key, keylen) == 0;
}

static bool key_for(turn_auth_t *au, uint16_t alg, const char *realm, const char *pw, size_t plen)
{
    return stun_key_long_term(alg, au->user, au->ulen, realm, strlen(realm), pw, plen, au->key,
                              &au->keylen) == 0;
}

/* Find the credential of au->user and check the message with it. */
static turn_err_t verify_user(const turn_t *t, const stun_msg_t *m, double wall, uint16_t alg,
                              turn_auth_t *au)
{
    const turn_cfg_t *cfg = t->cfg;
    const char *realm = cfg->realm ? cfg->realm : "";
    const turn_user_t *u = user_by_name(cfg, au->user, au->ulen);
    au->quota_user = au->user;
    au->qlen = au->ulen;
    if (u) {
        if (key_for(au, alg, realm, u->password, strlen(u->password)) &&
            integrity_ok(m, au->key, au->keylen))
            return TURN_OK;
        return TURN_ERR_UNAUTHENTICATED;
    }
    double expiry;
    size_t qoff;
    if (cfg->nsecrets == 0 || !ephemeral_parse(au->user, au->ulen, &expiry, &qoff))
        return TURN_ERR_UNAUTHENTICATED;
    /* An expired credential is refused before any HMAC is spent on it. */
    if (expiry <= wall)
        return TURN_ERR_UNAUTHENTICATED;
    au->cred_expiry = expiry;
    au->quota_user = au->user + qoff;
    au->qlen = au->ulen - qoff;
    for (size_t i = 0; i < cfg->nsecrets; i++) {
        char pw[EPHEMERAL_PW_LEN + 1];
        if (turn_ephemeral_password(cfg->secrets[i], au->user, pw, sizeof(pw)) == 0 &&
            key_for(au, alg, realm, pw, strlen(pw)) && integrity_ok(m, au->key, au->keylen))
            return TURN_OK;
    }
    return TURN_ERR_UNAUTHENTICATED;
}

/* USERNAME (copied) or USERHASH (mapped to a static user) into <au>. */
static turn_err_t take_user(const turn_t *t, const stun_msg_t *m, turn_auth_t *au)
{
    const stun_attr_t *ua = stun_msg_find(m, STUN_ATTR_USERNAME);
    const char *s;
    size_t n;
    if (ua) {
        if (stun_attr_get_text(ua, &s, &n) != 0 || n == 0 || memchr(s, '\0', n))
            return TURN_ERR_BAD_REQUEST;
    } else {
        const stun_attr_t *ha = stun_msg_find(m, STUN_ATTR_USERHASH);
        if (!ha)
            return TURN_ERR_BAD_REQUEST;
        const turn_user_t *u = user_by_hash(t, ha->val);
        if (!u || strlen(u->name) > STUN_USERNAME_MAX)
            return TURN_ERR_UNAUTHENTICATED;
        s = u->name;
        n = strlen(u->name);
    }
    memcpy(au->user, s, n);
    au->user[n] = '\0';
    au->ulen = n;
    return TURN_OK;
}

/* ---- The check --------------------------------------------------------- */

/* RFC 8489 §9.2.4, in its order: no integrity -> 401; integrity without
 * USERNAME/USERHASH, REALM or NONCE -> 400; PASSWORD-ALGORITHM(S) not as
 * offered -> 400; unknown user or wrong integrity -> 401; then a nonce
 * that is not ours or has expired -> 438. Checking the integrity before
 * the nonce means a 438 goes only to a client that knows the password. */
turn_err_t turn__authenticate(turn_t *t, const turn_req_t *req, turn_auth_t *au)
{
    const stun_msg_t *m = req->msg;
    const char *realm, *nonce;
    size_t rlen, nlen;
    uint16_t alg;

    memset(au, 0, sizeof(*au));
    if (m->idx_integrity < 0 && m->idx_integrity_sha256 < 0)
        return TURN_ERR_UNAUTHENTICATED;
    au->offered = true;
    const stun_attr_t *ra = stun_msg_find(m, STUN_ATTR_REALM);
    const stun_attr_t *na = stun_msg_find(m, STUN_ATTR_NONCE);
    if (!ra || !na || stun_attr_get_text(ra, &realm, &rlen) != 0 ||
        stun_attr_get_text(na, &nonce, &nlen) != 0)
        return TURN_ERR_BAD_REQUEST;
    turn_err_t err = take_user(t, m, au);
    if (err == TURN_OK)
        err = pick_alg(m, nonce, nlen, &alg);
    if (err != TURN_OK)
        return err;
    const char *our = t->cfg->realm ? t->cfg->realm : "";
    if (rlen != strlen(our) || memcmp(realm, our, rlen) != 0)
        return TURN_ERR_UNAUTHENTICATED;
    err = verify_user(t, m, req->wall, alg, au);
    if (err != TURN_OK)
        return err;
    if (!nonce_valid(t, req->tuple, nonce, nlen, req->now))
        return TURN_ERR_STALE_NONCE;
    au->sha256 = m->idx_integrity_sha256 >= 0;
    return TURN_OK;
}

/* ---- Rate limits of answers to strangers ------------------------------ */

/* Take a token from <ip>'s bucket in <tab> (refilled at <rate> per second,
 * holding twice that). The IP's canonical form counts, not the port. */
static bool rl_take(turn_t *t, turn_rl_slot_t *tab, uint32_t salt, uint32_t rate,
                    const cmn_addr_t *ip, double now)
{
    if (rate == 0)
        return true;
    cmn_addr_t c;
    cmn_addr_canonical(&c, ip);
    c.port = 0;
    turn_rl_slot_t *s = &tab[cmn_addr_hash(&c, t->seed ^ salt) & (TURN_RL_SLOTS - 1)];
    double burst = 2.0 * rate;
    double tokens = burst;
    if (s->used && now > s->last)
        tokens = CMN_MIN(burst, s->tokens + (now - s->last) * rate);
    else if (s->used)
        tokens = s->tokens;
    s->used = true;
    s->last = now;
    if (tokens < 1.0) {
        s->tokens = (float)tokens;
        return false;
    }
    s->tokens = (float)(tokens - 1.0);
    return true;
}

bool turn__rl_allow(turn_t *t, const cmn_addr_t *ip, double now)
{
    return rl_take(t, t->rl, 0x5bd1e995u, t->cfg->unauth_rate, ip, now);
}

bool turn_answer_allowed(turn_t *t, const cmn_addr_t *src, double now)
{
    return rl_take(t, t->rl_answer, 0x9e3779b9u, t->cfg->answer_rate, src, now);
}

/* ---- Shared with signal/ ----------------------------------------------- */

int turn_ephemeral_password(const char *secret, const char *username, char *out, size_t cap)
{
    uint8_t mac[CMN_SHA1_LEN];
    if (!secret || !username || !out || cap < EPHEMERAL_PW_LEN + 1)
        return CMN_EINVAL;
    if (cmn_hmac_sha1(secret, strlen(secret), username, strlen(username), mac) != 0)
        return CMN_EINVAL;
    return cmn_base64_encode(mac, sizeof(mac), out, cap) == EPHEMERAL_PW_LEN ? 0 : CMN_EINVAL;
}
