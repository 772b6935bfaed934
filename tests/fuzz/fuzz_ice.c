/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_ice.c: libFuzzer target for what icehub-probe reads from the
 * network that stun/'s target does not cover. An input is [mode][bytes]:
 *   0  a hub message (ice_sig_parse): joined with iceServers, peer events,
 *      errors, and "signal" carrying another probe's offer/answer/done with
 *      candidate lines and an SRTP key. Whatever is accepted must hold: ids
 *      are valid peer ids, counts within their limits, every kept candidate
 *      line parses again to the same candidate, and an offer or answer
 *      turned back into JSON and parsed again gives the same message;
 *   1  a candidate line (ice_cand_parse), alone and with "a=" in front;
 *   2  a server URL (ice_url_parse) under each bare scheme; an accepted one,
 *      formatted and parsed again, is the same URL;
 *   3  an RTP packet and its probe header (ice_rtp_parse, ice_pkt_decode):
 *      the payload lies inside the packet;
 *   4  a response to a TURN request (ice_turnc_response) for each method,
 *      with and without credentials sent: a success has a known family, a
 *      retry only follows a 401/438 that taught a realm.
 * Seeds are in tests/fuzz/corpus/ice/ (tests/fuzz/gen_ice_seeds.py).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "ice/ice_int.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_MAX 8192

static ice_sig_ev_t ev;
static ice_pmsg_t pm, pm2;

static void fz_text_ok(const char *s, size_t cap)
{
    CHECK(memchr(s, '\0', cap) != NULL);
}

static void fz_same_cand(const ice_cand_t *a, const ice_cand_t *b)
{
    CHECK(!strcmp(a->foundation, b->foundation) && a->component == b->component &&
          a->transport == b->transport && a->priority == b->priority &&
          cmn_addr_equal(&a->addr, &b->addr) && a->type == b->type &&
          a->raddr.family == b->raddr.family);
}

/* An accepted offer or answer: JSON and back gives the same message. */
static void fz_pmsg_roundtrip(void)
{
    for (size_t i = 0; i < pm.ncands; i++) {
        ice_cand_t c;
        CHECK(ice_cand_parse(&c, pm.cand_text[i], strlen(pm.cand_text[i]), NULL) == 0);
        fz_same_cand(&c, &pm.cand[i]);
    }
    CHECK(pm.keylen == ice_srtp_key_len(pm.suite));
    json_t *o = ice_pmsg_to_json(&pm);
    CHECK(o != NULL);
    const char *why;
    CHECK(ice_pmsg_from_json(&pm2, o, &why) == 0);
    json_decref(o);
    CHECK(pm2.kind == pm.kind && pm2.ncands == pm.ncands && pm2.keylen == pm.keylen);
    CHECK(!strcmp(pm2.ufrag, pm.ufrag) && !strcmp(pm2.pwd, pm.pwd));
    CHECK(!memcmp(pm2.key, pm.key, pm.keylen));
}

static void fz_sig(const char *text, size_t len)
{
    const char *why = NULL;
    if (ice_sig_parse(text, len, &ev, &pm, &why) < 0) {
        CHECK(why != NULL);
        return;
    }
    CHECK(ev.npeers <= ICE_MAX_PEERS && ev.nservers <= ICE_MAX_ICE_URLS);
    if (ev.type == ICE_SIG_JOINED || ev.type == ICE_SIG_PEER_JOINED ||
        ev.type == ICE_SIG_PEER_LEFT || ev.type == ICE_SIG_SIGNAL)
        CHECK(ice_peer_id_ok(ev.id));
    for (size_t i = 0; i < ev.npeers; i++)
        CHECK(ice_peer_id_ok(ev.peers[i]));
    for (size_t i = 0; i < ev.nservers; i++) {
        const ice_iceserver_t *s = &ev.servers[i];
        CHECK(s->url.scheme >= ICE_SCHEME_STUN && s->url.scheme <= ICE_SCHEME_TURNS);
        CHECK(s->url.port != 0 && s->url.host[0]);
        fz_text_ok(s->user, sizeof(s->user));
        fz_text_ok(s->cred, sizeof(s->cred));
    }
    fz_text_ok(ev.code, sizeof(ev.code));
    fz_text_ok(ev.message, sizeof(ev.message));
    if (ev.type == ICE_SIG_SIGNAL && pm.kind != ICE_PMSG_DONE) {
        CHECK(pm.ncands <= ICE_MAX_CANDS);
        fz_pmsg_roundtrip();
    }
}

static void fz_cand(const uint8_t *data, size_t len)
{
    ice_cand_t c, c2;
    if (ice_cand_parse(&c, (const char *)data, len, NULL) < 0)
        return;
    CHECK(c.component >= 1 && c.component <= 256);
    CHECK(c.type >= ICE_CTYPE_HOST && c.type <= ICE_CTYPE_RELAY);
    CHECK(c.addr.family == CMN_AF_INET || c.addr.family == CMN_AF_INET6);
    char *line = malloc(len + 2);
    memcpy(line, "a=", 2);
    memcpy(line + 2, data, len);
    if (len >= 2 && !memcmp(data, "a=", 2))
        CHECK(ice_cand_parse(&c2, line, len + 2, NULL) == CMN_EINVAL); /* "a=a=" */
    else if (len + 2 <= ICE_CAND_MAX) {
        CHECK(ice_cand_parse(&c2, line, len + 2, NULL) == 0);
        fz_same_cand(&c, &c2);
    }
    free(line);
}

static void fz_url(const uint8_t *data, size_t len)
{
    static const ice_scheme_t bare[] = {ICE_SCHEME_NONE, ICE_SCHEME_STUN, ICE_SCHEME_TURN};
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    for (size_t k = 0; k < 3; k++) {
        ice_url_t u, u2;
        char buf[ICE_TEXT_MAX + ICE_HOST_MAX + 64];
        if (ice_url_parse(&u, text, bare[k], NULL) < 0)
            continue;
        CHECK(u.port != 0 && u.host[0] && strlen(u.host) <= ICE_HOST_MAX);
        ice_url_format(&u, buf, sizeof(buf));
        CHECK(ice_url_parse(&u2, buf, ICE_SCHEME_NONE, NULL) == 0);
        CHECK(u2.scheme == u.scheme && u2.port == u.port && u2.transport == u.transport);
        CHECK(!strcmp(u2.host, u.host) && !strcmp(u2.path, u.path));
    }
    free(text);
}

static void fz_rtp(const uint8_t *data, size_t len)
{
    ice_rtp_t r;
    ice_pkt_t p;
    if (ice_rtp_parse(data, len, &r) == 0) {
        CHECK(r.payload >= data + ICE_RTP_HDR && r.payload + r.payload_len <= data + len);
        ice_pkt_decode(r.payload, r.payload_len, &p);
    }
    ice_pkt_decode(data, len, &p);
}

static void fz_turnc(const uint8_t *data, size_t len)
{
    static const uint16_t methods[] = {STUN_METHOD_BINDING, STUN_METHOD_ALLOCATE,
                                       STUN_METHOD_REFRESH, STUN_METHOD_CREATE_PERMISSION,
                                       STUN_METHOD_CHANNEL_BIND};
    uint8_t tid[STUN_TID_LEN] = {0};
    if (len >= STUN_HEADER_LEN)
        memcpy(tid, data + 8, STUN_TID_LEN);
    for (size_t m = 0; m < CMN_ARRAY_LEN(methods); m++) {
        for (int creds = 0; creds < 2; creds++) {
            ice_turnc_t c;
            ice_turnc_res_t res;
            ice_turnc_init(&c, "user", "pass");
            if (creds) {
                strcpy(c.realm, "realm");
                strcpy(c.nonce, "nonce");
                CHECK(stun_key_long_term(STUN_PWALG_MD5, "user", 4, "realm", 5, "pass", 4, c.key,
                                         &c.keylen) == 0);
            }
            if (ice_turnc_response(&c, data, len, tid, methods[m], creds, &res) < 0)
                continue;
            fz_text_ok(res.reason, sizeof(res.reason));
            CHECK(!res.success || res.code == 0);
            CHECK(!res.retry || ((res.code == 401 || res.code == 438) && c.keylen > 0));
            CHECK(res.relayed.family == 0 || res.relayed.family == CMN_AF_INET ||
                  res.relayed.family == CMN_AF_INET6);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FZ_MAX)
        return 0;
    /* An exact-size copy: ASan sees any read past the end. */
    size_t len = size - 1;
    uint8_t *body = malloc(len ? len : 1);
    memcpy(body, data + 1, len);
    switch (data[0] % 5) {
    case 0:
        fz_sig((const char *)body, len);
        break;
    case 1:
        fz_cand(body, len);
        break;
    case 2:
        fz_url(body, len);
        break;
    case 3:
        fz_rtp(body, len);
        break;
    default:
        fz_turnc(body, len);
        break;
    }
    free(body);
    return 0;
}
