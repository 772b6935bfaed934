/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_ice.c: what the hub hands out: the iceServers array (stun:, turn:
 * over UDP and TCP, turns: when TLS is configured; signal.ice_servers
 * picks which of them) with coturn-style
 * shared-secret credentials ("<expiry>:<user>" and base64(HMAC-SHA1(secret,
 * username)), see turn_ephemeral_password), and room tokens:
 * base64url(JSON {"r":room,"p":peer,"e":expiry}) "." base64url(HMAC-SHA256(
 * token_secret, "icehub-room-v1." + first part)). Also deep copies of the
 * hub's settings, so the hub never borrows from a configuration snapshot a
 * reload may free (the daemon builds them from its settings, ihd_ws.c).
 */
#include "sig_int.h"

#include <math.h>
#include <stdio.h>

#include "common/cmn_crypto.h"
#include "turn/turn.h"

#define TOKEN_MAX 1024
#define TOKEN_LABEL "icehub-room-v1."

/* The host part for URLs: public_host, else the Host header without its
 * port ("[v6]" keeps its brackets). Anything odd falls back to localhost:
 * the Host header is the client's and must not inject into URLs. */
static void url_host(const sig_cfg_t *cfg, const char *host, char *out, size_t cap)
{
    const char *src = cfg->public_host && cfg->public_host[0] ? cfg->public_host : host;
    size_t n;
    if (!src || !src[0]) {
        snprintf(out, cap, "localhost");
        return;
    }
    if (src[0] == '[') {
        const char *close = strchr(src, ']');
        n = close ? (size_t)(close - src) + 1 : 0;
    } else {
        n = strcspn(src, ":");
    }
    bool ok = n > 0 && n < cap;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = src[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '-' || ch == '_' || ch == ':' || ch == '[' || ch == ']';
    }
    if (!ok) {
        snprintf(out, cap, "localhost");
        return;
    }
    memcpy(out, src, n);
    out[n] = '\0';
}

static json_t *urls1(const char *u)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(u));
    return a;
}

/* One relay of the list: its URL host and ports. */
typedef struct relay_s {
    char host[300];
    uint16_t port, tls_port;
} relay_t;

/* The relays to list: the director's healthy ones, least loaded first,
 * or (none known, or one node) this node's own. Returns how many. */
static size_t relays(const sig_cfg_t *cfg, const sig_dir_t *dir, const char *host, double now,
                     relay_t *out, size_t max)
{
    const sig_node_info_t *rank[16];
    size_t n = dir ? sig__dir_rank(dir, cfg->node, now, rank, CMN_MIN(max, (size_t)16)) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *h = rank[i]->host;
        if (!h[0])
            url_host(cfg, host, out[i].host, sizeof(out[i].host));
        else if (strchr(h, ':') && h[0] != '[')
            snprintf(out[i].host, sizeof(out[i].host), "[%s]", h);
        else
            snprintf(out[i].host, sizeof(out[i].host), "%s", h);
        out[i].port = rank[i]->port;
        out[i].tls_port = rank[i]->tls_port;
    }
    if (n || !cfg->turn_port)
        return n;
    url_host(cfg, host, out[0].host, sizeof(out[0].host));
    out[0].port = cfg->turn_port;
    out[0].tls_port = cfg->turns_port;
    return 1;
}

/* {"urls":[...]} with the TURN credentials when <name> is not NULL. */
static json_t *server(json_t *urls, const char *name, const char *pass)
{
    json_t *o = json_object();
    json_object_set_new(o, "urls", urls);
    if (name) {
        json_object_set_new(o, "username", json_string(name));
        json_object_set_new(o, "credential", json_string(pass));
    }
    return o;
}

/* Relay <r>'s TURN entries of the kinds signal.ice_servers picks: one for
 * turn: over UDP and TCP, one for turns: when the relay has TLS. */
static void relay_entries(json_t *arr, const sig_cfg_t *cfg, const relay_t *r, const char *name,
                          const char *pass)
{
    static const struct {
        unsigned bit;
        const char *transport;
    } turn_urls[] = {{CMN_ICE_TURN_UDP, "udp"}, {CMN_ICE_TURN_TCP, "tcp"}};
    char u[400];
    json_t *urls = json_array();
    for (size_t i = 0; i < CMN_ARRAY_LEN(turn_urls); i++) {
        if (!(cfg->ice_urls & turn_urls[i].bit))
            continue;
        snprintf(u, sizeof(u), "turn:%.300s:%u?transport=%s", r->host, r->port,
                 turn_urls[i].transport);
        json_array_append_new(urls, json_string(u));
    }
    if (json_array_size(urls))
        json_array_append_new(arr, server(urls, name, pass));
    else
        json_decref(urls);
    if ((cfg->ice_urls & CMN_ICE_TURNS) && r->tls_port) {
        snprintf(u, sizeof(u), "turns:%.300s:%u?transport=tcp", r->host, r->tls_port);
        json_array_append_new(arr, server(urls1(u), name, pass));
    }
}

/* The director (with redis.url) orders and filters the relays and
 * signal.ice_servers_max bounds how many; signal.ice_servers picks which
 * URLs each one gets (docs/configuration.md). */
json_t *sig__ice_servers(const sig_cfg_t *cfg, const sig_dir_t *dir, const char *host,
                         const char *user, double now)
{
    json_t *arr = json_array();
    relay_t rl[16];
    size_t max = CMN_MAX(CMN_MIN((size_t)cfg->ice_servers_max, (size_t)16), (size_t)1);
    size_t n = relays(cfg, dir, host, now, rl, max);
    if (!n)
        return arr;
    char u[400];
    if (cfg->ice_urls & CMN_ICE_STUN) {
        snprintf(u, sizeof(u), "stun:%.300s:%u", rl[0].host, rl[0].port);
        json_array_append_new(arr, server(urls1(u), NULL, NULL));
    }
    if (!(cfg->ice_urls & (CMN_ICE_TURN_UDP | CMN_ICE_TURN_TCP | CMN_ICE_TURNS)))
        return arr;
    if (!cfg->turn_secret || !cfg->turn_secret[0])
        return arr;
    /* One credential for every relay: they share turn.secrets. */
    char name[128], pass[64];
    snprintf(name, sizeof(name), "%lld:%s", (long long)floor(now) + cfg->credential_ttl,
             user && user[0] ? user : "icehub");
    if (turn_ephemeral_password(cfg->turn_secret, name, pass, sizeof(pass)) < 0)
        return arr;
    for (size_t i = 0; i < n; i++)
        relay_entries(arr, cfg, &rl[i], name, pass);
    return arr;
}

char *sig_ice_servers_json(const sig_cfg_t *cfg, const char *host, const char *user,
                           double now)
{
    size_t len;
    return sig__encode(sig__ice_servers(cfg, NULL, host, user, now), &len);
}

json_t *sig__ice_json(sig_hub_t *h, sig_conn_t *c, double now)
{
    return sig__ice_servers(&h->cfg, sig__fed_dir(h), c->host,
                            c->peer ? c->peer->id : "anonymous", now);
}

/* ---- base64url ------------------------------------------------------- */

static size_t b64url_encode(const void *src, size_t n, char *out, size_t cap)
{
    ssize_t m = cmn_base64_encode(src, n, out, cap);
    if (m < 0)
        return 0;
    size_t k = 0;
    for (ssize_t i = 0; i < m; i++) {
        char ch = out[i];
        if (ch == '=')
            break;
        out[k++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    }
    out[k] = '\0';
    return k;
}

static ssize_t b64url_decode(const char *src, size_t n, uint8_t *out, size_t cap)
{
    char tmp[TOKEN_MAX + 4];
    if (n > TOKEN_MAX)
        return CMN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '+' || ch == '/' || ch == '=')
            return CMN_EINVAL;
        tmp[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
    }
    size_t m = n;
    while (m % 4)
        tmp[m++] = '=';
    ssize_t len = cmn_base64_decode(tmp, m, out, cap);
    if (len <= 0)
        return CMN_EINVAL;
    /* Only the canonical spelling: the unused low bits of the last
     * character must be zero, so a token has exactly one valid form. */
    char again[TOKEN_MAX + 4];
    if (b64url_encode(out, (size_t)len, again, sizeof(again)) != n || memcmp(again, src, n))
        return CMN_EINVAL;
    return len;
}

static int token_mac(const sig_cfg_t *cfg, const char *part, size_t n, uint8_t *mac)
{
    char buf[TOKEN_MAX + sizeof(TOKEN_LABEL)];
    size_t ll = strlen(TOKEN_LABEL);
    if (n > TOKEN_MAX)
        return CMN_EINVAL;
    memcpy(buf, TOKEN_LABEL, ll);
    memcpy(buf + ll, part, n);
    const char *key = cfg->token_secret ? cfg->token_secret : "";
    return cmn_hmac_sha256(key, strlen(key), buf, ll + n, mac);
}

char *sig_token_mint(const sig_cfg_t *cfg, const char *room, const char *peer, double expires)
{
    json_t *o = json_object();
    json_object_set_new(o, "r", json_string(room));
    if (peer && peer[0])
        json_object_set_new(o, "p", json_string(peer));
    json_object_set_new(o, "e", json_integer((json_int_t)floor(expires)));
    size_t plen;
    char *payload = sig__encode(o, &plen);
    char *out = cmn_malloc(TOKEN_MAX + 64);
    size_t n = b64url_encode(payload, plen, out, TOKEN_MAX);
    cmn_free(payload);
    uint8_t mac[CMN_SHA256_LEN];
    if (n == 0 || token_mac(cfg, out, n, mac) < 0) {
        cmn_free(out);
        return NULL;
    }
    out[n] = '.';
    b64url_encode(mac, sizeof(mac), out + n + 1, 64);
    return out;
}

int sig_token_verify(const sig_cfg_t *cfg, const char *token, const char *room, double now,
                     char *peer)
{
    peer[0] = '\0';
    const char *dot = strchr(token, '.');
    size_t n = dot ? (size_t)(dot - token) : 0;
    if (!dot || n == 0 || n > TOKEN_MAX || strlen(dot + 1) > 64)
        return CMN_EAUTH;
    uint8_t mac[CMN_SHA256_LEN], got[CMN_SHA256_LEN + 4];
    if (token_mac(cfg, token, n, mac) < 0 ||
        b64url_decode(dot + 1, strlen(dot + 1), got, sizeof(got)) != CMN_SHA256_LEN ||
        !cmn_ct_equal(mac, got, CMN_SHA256_LEN))
        return CMN_EAUTH;
    uint8_t payload[TOKEN_MAX];
    ssize_t plen = b64url_decode(token, n, payload, sizeof(payload));
    if (plen <= 0)
        return CMN_EAUTH;
    json_t *o = json_loadb((const char *)payload, (size_t)plen, 0, NULL);
    int rc = CMN_EAUTH;
    json_t *r = json_object_get(o, "r"), *p = json_object_get(o, "p"), *e = json_object_get(o, "e");
    if (json_is_string(r) && json_is_integer(e) && !strcmp(json_string_value(r), room) &&
        (double)json_integer_value(e) > now &&
        (!p || (json_is_string(p) && sig__id_ok(json_string_value(p))))) {
        if (p)
            snprintf(peer, SIG_ID_MAX + 1, "%s", json_string_value(p));
        rc = 0;
    }
    json_decref(o);
    return rc;
}

/* ---- Settings ------------------------------------------------------------ */

static void strlist_copy(cmn_strlist_t *dst, const cmn_strlist_t *src)
{
    dst->n = src->n;
    dst->v = cmn_calloc(src->n ? src->n : 1, sizeof(char *));
    for (size_t i = 0; i < src->n; i++)
        dst->v[i] = cmn_strdup(src->v[i]);
}

static void strlist_free(cmn_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        explicit_bzero(l->v[i], strlen(l->v[i]));
        cmn_free(l->v[i]);
    }
    cmn_free(l->v);
    l->v = NULL;
    l->n = 0;
}

static char *secret_dup(const char *s)
{
    return cmn_strdup(s ? s : "");
}

void sig_cfg_copy(sig_cfg_t *dst, const sig_cfg_t *src)
{
    *dst = *src;
    dst->public_host = cmn_strdup(src->public_host ? src->public_host : "");
    dst->token_secret = secret_dup(src->token_secret);
    dst->turn_secret = secret_dup(src->turn_secret);
    dst->node = cmn_strdup(src->node ? src->node : "");
    strlist_copy(&dst->api_keys, &src->api_keys);
    strlist_copy(&dst->allowed_origins, &src->allowed_origins);
}

void sig_cfg_dispose(sig_cfg_t *c)
{
    cmn_free(c->public_host);
    cmn_free(c->node);
    if (c->token_secret) {
        explicit_bzero(c->token_secret, strlen(c->token_secret));
        cmn_free(c->token_secret);
    }
    if (c->turn_secret) {
        explicit_bzero(c->turn_secret, strlen(c->turn_secret));
        cmn_free(c->turn_secret);
    }
    strlist_free(&c->api_keys);
    strlist_free(&c->allowed_origins);
    memset(c, 0, sizeof(*c));
}
