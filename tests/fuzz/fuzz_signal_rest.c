/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_signal_rest.c: libFuzzer target for the signaling hub's stateless
 * wire inputs: room tokens and the REST endpoints. An input is
 * [mode][sel][bytes]:
 *   0  sig_token_verify on <bytes> as a token, for one of a few rooms;
 *   1  <bytes> as a token payload, signed with the hub's key (so the
 *      fuzzer gets past the MAC to the payload checks), then verified: the
 *      result must match what the payload says (room, expiry, peer id),
 *      and changing the MAC's last character must fail it;
 *   2  sig_rest_handle with <bytes> as the query string, the path, method,
 *      Authorization, Host and settings picked by <sel>: every answer is a
 *      JSON object with the fields of its status, a 200 from /room-token
 *      holds a token that verifies, and credentials come with every
 *      turn: URL;
 *   3  <bytes> as "room\0peer" for sig_token_mint: a valid room and peer
 *      id give a token that verifies for that room and peer only, until
 *      it expires.
 * Seeds are in tests/fuzz/corpus/signal_rest/ (tests/fuzz/gen_signal_seeds.py).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_crypto.h"
#include "signal/sig_int.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_NOW 1.7e9
#define FZ_MAX 4096

static const char *const fz_rooms[] = {"standup", "r1", "\xc3\xa9t\xc3\xa9", "a b"};
static const char *const fz_paths[] = {"/ice-servers", "/turn-credentials", "/room-token",
                                       "/ice-servers/"};
static const char *const fz_auths[] = {"Bearer k1", "", "Bearer nope", "bearer k2"};
static const char *const fz_hosts[] = {"example.org:8080", "[::1]:8080", "a\"b", ""};

static sig_cfg_t fz_cfg(bool enabled, bool turn)
{
    static char *keys[] = {"k1", "k2"};
    return (sig_cfg_t){
        .enabled = enabled, .public_host = "", .api_keys = {keys, 2}, .credential_ttl = 3600,
        .token_secret = "token-secret", .turn_secret = turn ? "turn-secret" : "",
        .turn_port = 3478, .turns_port = 5349, .ice_urls = 15,
    };
}

static const char *str_of(json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* base64url without padding, as sig_ice.c writes it. */
static size_t b64url(const void *src, size_t n, char *out, size_t cap)
{
    ssize_t m = cmn_base64_encode(src, n, out, cap);
    CHECK(m >= 0);
    size_t k = 0;
    for (ssize_t i = 0; i < m && out[i] != '='; i++)
        out[k++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[k] = '\0';
    return k;
}

static void fuzz_verify_raw(unsigned sel, const char *s)
{
    sig_cfg_t cfg = fz_cfg(true, true);
    char peer[SIG_ID_MAX + 1];
    int rc = sig_token_verify(&cfg, s, fz_rooms[sel & 3], FZ_NOW, peer);
    CHECK(rc == 0 || rc == CMN_EAUTH);
    CHECK(peer[0] == '\0' || (rc == 0 && sig__id_ok(peer)));
}

static void fuzz_verify_signed(unsigned sel, const uint8_t *p, size_t len)
{
    static char tok[2 * FZ_MAX + 128];
    sig_cfg_t cfg = fz_cfg(true, true);
    if (len > FZ_MAX)
        return;
    size_t n = b64url(p, len, tok, sizeof(tok) - 64);
    char buf[sizeof(tok) + 32];
    int bl = snprintf(buf, sizeof(buf), "icehub-room-v1.%s", tok);
    uint8_t mac[CMN_SHA256_LEN];
    CHECK(cmn_hmac_sha256("token-secret", 12, buf, (size_t)bl, mac) == 0);
    tok[n] = '.';
    size_t m = b64url(mac, sizeof(mac), tok + n + 1, 64);
    /* What the payload says, read independently. */
    const char *room = fz_rooms[sel & 3];
    json_t *o = json_loadb((const char *)p, len, 0, NULL);
    json_t *r = json_object_get(o, "r"), *pe = json_object_get(o, "p"),
           *e = json_object_get(o, "e");
    bool want = n <= 1024 && json_is_string(r) && !strcmp(json_string_value(r), room) &&
                json_is_integer(e) && (double)json_integer_value(e) > FZ_NOW &&
                (!pe || (json_is_string(pe) && sig__id_ok(json_string_value(pe))));
    char peer[SIG_ID_MAX + 1];
    int rc = sig_token_verify(&cfg, tok, room, FZ_NOW, peer);
    CHECK((rc == 0) == want);
    if (want)
        CHECK(!strcmp(peer, pe ? json_string_value(pe) : ""));
    json_decref(o);
    /* Only the canonical MAC spelling is accepted. */
    char *last = tok + n + m;
    for (const char *alt = "AQgw-_"; *alt; alt++) {
        if (*alt == last[-1])
            continue;
        char keep = last[-1];
        last[-1] = *alt;
        CHECK(sig_token_verify(&cfg, tok, room, FZ_NOW, peer) == CMN_EAUTH);
        last[-1] = keep;
    }
}

static void check_ice(json_t *arr)
{
    size_t i;
    json_t *e;
    CHECK(json_is_array(arr));
    json_array_foreach(arr, i, e) {
        json_t *urls = json_object_get(e, "urls");
        CHECK(json_is_array(urls) && json_is_string(json_array_get(urls, 0)));
        if (!strncmp(json_string_value(json_array_get(urls, 0)), "turn", 4))
            CHECK(str_of(e, "username") && str_of(e, "credential"));
    }
}

static void check_ok(const sig_cfg_t *cfg, unsigned path, json_t *o)
{
    if (path == 0) {
        check_ice(json_object_get(o, "iceServers"));
        /* With a TURN secret there are always credentials. */
        CHECK(json_array_size(json_object_get(o, "iceServers")) == (cfg->turn_secret[0] ? 3 : 1));
    } else if (path == 1) {
        CHECK(str_of(o, "username") && str_of(o, "password"));
        CHECK(json_array_size(json_object_get(o, "uris")) == (cfg->turns_port ? 3 : 2));
    } else {
        const char *tok = str_of(o, "token"), *room = str_of(o, "room");
        CHECK(tok && room && json_is_integer(json_object_get(o, "expires")));
        char peer[SIG_ID_MAX + 1];
        CHECK(sig_token_verify(cfg, tok, room, FZ_NOW, peer) == 0);
        const char *want = str_of(o, "peer");
        CHECK(!strcmp(peer, want ? want : ""));
    }
}

static void fuzz_rest(unsigned sel, const char *query)
{
    unsigned path = sel & 3;
    sig_cfg_t cfg = fz_cfg(!(sel & 0x20), !(sel & 0x40));
    sig_http_req_t req = {
        .get = !(sel & 0x10), .path = fz_paths[path], .query = query,
        .authorization = fz_auths[(sel >> 2) & 3], .host = fz_hosts[(sel >> 6) & 3],
    };
    sig_http_resp_t resp;
    int rc = sig_rest_handle(&cfg, &req, &resp, FZ_NOW);
    if (path == 3) {
        CHECK(rc == CMN_ENOENT);
        return;
    }
    CHECK(rc == 0 && resp.body && resp.len == strlen(resp.body));
    json_t *o = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
    CHECK(json_is_object(o));
    CHECK(resp.www_authenticate == (resp.status == 401));
    switch (resp.status) {
    case 200:
        CHECK(cfg.enabled && req.get);
        check_ok(&cfg, path, o);
        break;
    case 503:
        CHECK(path == 1 && !cfg.turn_secret[0]);
        /* fall through */
    case 400:
    case 401:
    case 404:
    case 405:
        CHECK(str_of(o, "error") && str_of(o, "message"));
        break;
    default:
        CHECK(!"unexpected status");
    }
    json_decref(o);
    cmn_free(resp.body);
}

static void fuzz_mint(const char *room, const char *peer)
{
    sig_cfg_t cfg = fz_cfg(true, true);
    if (!sig__room_ok(room) || (peer[0] && !sig__id_ok(peer)))
        return;
    char *tok = sig_token_mint(&cfg, room, peer, FZ_NOW + 60);
    CHECK(tok != NULL);
    char got[SIG_ID_MAX + 1];
    CHECK(sig_token_verify(&cfg, tok, room, FZ_NOW, got) == 0 && !strcmp(got, peer));
    CHECK(sig_token_verify(&cfg, tok, room, FZ_NOW + 60, got) == CMN_EAUTH);
    CHECK(sig_token_verify(&cfg, tok, "other-room", FZ_NOW, got) == CMN_EAUTH ||
          !strcmp(room, "other-room"));
    cmn_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[FZ_MAX + 1];
    if (size < 2 || size - 2 > FZ_MAX)
        return 0;
    unsigned mode = data[0] & 3, sel = data[1];
    const uint8_t *p = data + 2;
    size_t len = size - 2;
    memcpy(s, p, len);
    s[len] = '\0';
    switch (mode) {
    case 0: fuzz_verify_raw(sel, s); break;
    case 1: fuzz_verify_signed(sel, p, len); break;
    case 2: fuzz_rest(sel, s); break;
    default: fuzz_mint(s, strlen(s) < len ? s + strlen(s) + 1 : ""); break;
    }
    return 0;
}
