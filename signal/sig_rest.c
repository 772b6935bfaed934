/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_rest.c: the hub's REST endpoints for application backends, each
 * authorised by an API key from signal.api_keys ("Authorization: Bearer
 * KEY" or "?key=KEY"):
 *   GET /ice-servers[?peer=ID]        {"iceServers":[...],"ttl":S}
 *   GET /turn-credentials?service=turn&username=U
 *                                     {"username","password","ttl","uris"}
 *     (the TURN REST API draft, draft-uberti-behave-turn-rest, as coturn
 *      deployments use it)
 *   GET /room-token?room=R[&peer=P][&ttl=S]
 *                                     {"token","room","peer","expires"}
 * Pure: the glue hands in the request and writes the answer.
 */
#include "sig_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_crypto.h"

#define TOKEN_TTL_DEFAULT 3600
#define TOKEN_TTL_MAX 604800

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The percent-decoded value of <name> in <query>: 1, 0 when absent, or
 * CMN_EINVAL when undecodable, too long or holding a NUL. */
static int query_get(const char *query, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t o = 0;
            for (size_t i = nl + 1; i < len; i++) {
                int ch = (unsigned char)p[i];
                if (ch == '%') {
                    int a = i + 2 < len ? hexval(p[i + 1]) : -1;
                    int b = a >= 0 ? hexval(p[i + 2]) : -1;
                    if (b < 0)
                        return CMN_EINVAL;
                    ch = a * 16 + b;
                    i += 2;
                } else if (ch == '+') {
                    ch = ' ';
                }
                if (ch == 0 || o + 1 >= cap)
                    return CMN_EINVAL;
                out[o++] = (char)ch;
            }
            out[o] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static void resp_json(sig_http_resp_t *r, unsigned status, json_t *o)
{
    r->status = status;
    r->body = sig__encode(o, &r->len);
}

static void resp_error(sig_http_resp_t *r, unsigned status, const char *code, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(code));
    json_object_set_new(o, "message", json_string(msg));
    resp_json(r, status, o);
}

static bool key_ok(const sig_cfg_t *cfg, const char *key)
{
    bool ok = false;
    size_t kl = strlen(key);
    for (size_t i = 0; i < cfg->api_keys.n; i++) {
        const char *k = cfg->api_keys.v[i];
        if (strlen(k) == kl && cmn_ct_equal(k, key, kl))
            ok = true;
    }
    return ok && kl > 0;
}

/* 0 when the request carries a valid API key; else answers 401. */
static int authorise(const sig_cfg_t *cfg, const sig_http_req_t *req, sig_http_resp_t *resp)
{
    char key[256] = "";
    const char *auth = req->authorization ? req->authorization : "";
    if (!strncasecmp(auth, "Bearer ", 7))
        snprintf(key, sizeof(key), "%s", auth + 7);
    else if (query_get(req->query, "key", key, sizeof(key)) < 0)
        key[0] = '\0';
    if (!cfg->api_keys.n) {
        resp_error(resp, 401, "unauthorized", "no signal.api_keys are configured");
    } else if (!key[0]) {
        resp_error(resp, 401, "unauthorized", "an API key is required (Authorization: Bearer)");
    } else if (!key_ok(cfg, key)) {
        resp_error(resp, 401, "unauthorized", "unknown API key");
    } else {
        explicit_bzero(key, sizeof(key));
        return 0;
    }
    explicit_bzero(key, sizeof(key));
    resp->www_authenticate = true;
    return CMN_EAUTH;
}

static bool user_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > SIG_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)u[i];
        if (ch < 0x20 || ch == 0x7f || ch == ':')
            return false;
    }
    /* It goes into the JSON answer (the credential's username). */
    return sig__utf8_ok(u);
}

/* The relay director behind the request's hub, if any. */
static const sig_dir_t *rest_dir(const sig_http_req_t *req)
{
    return req->hub ? sig__fed_dir(req->hub) : NULL;
}

static void ice_servers(const sig_cfg_t *cfg, const sig_http_req_t *req, sig_http_resp_t *resp,
                        double now)
{
    char peer[SIG_ID_MAX + 2] = "icehub";
    int q = query_get(req->query, "peer", peer, sizeof(peer));
    if (q < 0 || (q > 0 && !user_ok(peer))) {
        resp_error(resp, 400, "bad-request", "peer: 1-64 characters without ':'");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "iceServers", sig__ice_servers(cfg, rest_dir(req), req->host, peer, now));
    json_object_set_new(o, "ttl", json_integer(cfg->credential_ttl));
    resp_json(resp, 200, o);
}

static void turn_credentials(const sig_cfg_t *cfg, const sig_http_req_t *req,
                             sig_http_resp_t *resp, double now)
{
    char service[16] = "", user[SIG_ID_MAX + 2] = "icehub";
    if (query_get(req->query, "service", service, sizeof(service)) <= 0 ||
        strcmp(service, "turn") != 0) {
        resp_error(resp, 400, "bad-request", "service=turn is required");
        return;
    }
    int q = query_get(req->query, "username", user, sizeof(user));
    if (q < 0 || (q > 0 && !user_ok(user))) {
        resp_error(resp, 400, "bad-request", "username: 1-64 characters without ':'");
        return;
    }
    json_t *ice = sig__ice_servers(cfg, rest_dir(req), req->host, user, now);
    json_t *uris = json_array(), *cred = NULL;
    for (size_t i = 0; i < json_array_size(ice); i++) {
        json_t *e = json_array_get(ice, i);
        if (!json_object_get(e, "username"))
            continue;
        cred = e;
        json_array_extend(uris, json_object_get(e, "urls"));
    }
    if (!cred) {
        json_decref(ice);
        json_decref(uris);
        resp_error(resp, 503, "unavailable", "the TURN service is not enabled");
        return;
    }
    json_t *o = json_object();
    json_object_set(o, "username", json_object_get(cred, "username"));
    json_object_set(o, "password", json_object_get(cred, "credential"));
    json_object_set_new(o, "ttl", json_integer(cfg->credential_ttl));
    json_object_set_new(o, "uris", uris);
    json_decref(ice);
    resp_json(resp, 200, o);
}

static void room_token(const sig_cfg_t *cfg, const sig_http_req_t *req, sig_http_resp_t *resp,
                       double now)
{
    char room[SIG_ROOM_MAX + 2], peer[SIG_ID_MAX + 2] = "", ttl_s[16] = "";
    if (query_get(req->query, "room", room, sizeof(room)) <= 0 || !sig__room_ok(room)) {
        resp_error(resp, 400, "bad-request", "room: 1-128 bytes without control characters");
        return;
    }
    int q = query_get(req->query, "peer", peer, sizeof(peer));
    if (q < 0 || (q > 0 && !sig__id_ok(peer))) {
        resp_error(resp, 400, "bad-request", "peer: 1-64 characters of A-Z a-z 0-9 - _");
        return;
    }
    long ttl = TOKEN_TTL_DEFAULT;
    q = query_get(req->query, "ttl", ttl_s, sizeof(ttl_s));
    if (q < 0) {
        resp_error(resp, 400, "bad-request", "ttl: seconds, 1..604800");
        return;
    }
    if (q > 0) {
        char *end;
        ttl = strtol(ttl_s, &end, 10);
        if (end == ttl_s || *end || ttl < 1 || ttl > TOKEN_TTL_MAX) {
            resp_error(resp, 400, "bad-request", "ttl: seconds, 1..604800");
            return;
        }
    }
    double exp = now + (double)ttl;
    char *tok = sig_token_mint(cfg, room, peer, exp);
    if (!tok) {
        resp_error(resp, 500, "internal", "cannot sign the token");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "token", json_string(tok));
    json_object_set_new(o, "room", json_string(room));
    if (peer[0])
        json_object_set_new(o, "peer", json_string(peer));
    json_object_set_new(o, "expires", json_integer((json_int_t)exp));
    cmn_free(tok);
    resp_json(resp, 200, o);
}

int sig_rest_handle(const sig_cfg_t *cfg, const sig_http_req_t *req, sig_http_resp_t *resp,
                    double now)
{
    int which;
    if (!strcmp(req->path, "/ice-servers"))
        which = 0;
    else if (!strcmp(req->path, "/turn-credentials"))
        which = 1;
    else if (!strcmp(req->path, "/room-token"))
        which = 2;
    else
        return CMN_ENOENT;
    memset(resp, 0, sizeof(*resp));
    if (!cfg->enabled) {
        resp_error(resp, 404, "not-found", "signaling is disabled (signal.enabled)");
        return 0;
    }
    if (!req->get) {
        resp_error(resp, 405, "method-not-allowed", "use GET");
        return 0;
    }
    if (authorise(cfg, req, resp) < 0)
        return 0;
    if (which == 0)
        ice_servers(cfg, req, resp, now);
    else if (which == 1)
        turn_credentials(cfg, req, resp, now);
    else
        room_token(cfg, req, resp, now);
    return 0;
}
