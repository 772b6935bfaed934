/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_msg.c: what the call check says and hears on the signaling hub
 * (docs/signaling.md): it sends join, signal and leave; it reads joined
 * (our id, the peers already there, iceServers), peer-joined, peer-left,
 * signal, ack and error. Inside "signal" the two probes exchange one JSON
 * object of their own, the offer/answer/done messages:
 *   {"probe":"icehub-probe/1","kind":"offer"|"answer",
 *    "ufrag":"...","pwd":"...","candidates":["candidate:...", ...],
 *    "srtp":{"suite":"AES_CM_128_HMAC_SHA1_80","key":"<base64 key||salt>"}}
 *   {"probe":"icehub-probe/1","kind":"done","sent":N,"received":N}
 * Each probe sends the key it protects its own packets with (as SDES,
 * RFC 4568, does); the other uses it to unprotect them.
 * Everything here is pure: text in, structs out, and back. JSON is
 * jansson's; everything a peer or the hub sends is bounded and checked.
 */
#include "ice_int.h"

#include <jansson.h>
#include <stdio.h>

#include "common/cmn_crypto.h"

#define ICE_PROBE_TAG "icehub-probe/1"

const char *ice_srtp_suite_name(ice_srtp_suite_t s)
{
    return s == ICE_SRTP_AES_GCM_128 ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80";
}

size_t ice_srtp_key_len(ice_srtp_suite_t s)
{
    /* Master key and salt: 16 + 14 for AES-CM (RFC 3711 §8.2), 16 + 12
     * for AES-GCM (RFC 7714 §12). */
    return s == ICE_SRTP_AES_GCM_128 ? 28 : 30;
}

/* A peer id: 1-64 characters from A-Z a-z 0-9 - _ (docs/signaling.md). */
bool ice_peer_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ICE_PEER_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static const char *msg_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- The probes' own offer/answer/done -------------------------------- */

static int pmsg_candidates(ice_pmsg_t *pm, json_t *arr, const char **why)
{
    if (!json_is_array(arr) || json_array_size(arr) > ICE_MAX_CANDS) {
        *why = "candidates is not an array of at most 64 strings";
        return CMN_EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v)) {
            *why = "a candidate is not a string";
            return CMN_EINVAL;
        }
        const char *line = json_string_value(v);
        size_t len = json_string_length(v);
        if (ice_cand_parse(&pm->cand[pm->ncands], line, len, why) < 0)
            return CMN_EINVAL;
        memcpy(pm->cand_text[pm->ncands], line, len);
        pm->cand_text[pm->ncands][len] = '\0';
        pm->ncands++;
    }
    return 0;
}

static int pmsg_srtp(ice_pmsg_t *pm, json_t *o, const char **why)
{
    const char *suite = msg_str(o, "suite"), *key = msg_str(o, "key");
    if (!json_is_object(o) || !suite || !key) {
        *why = "srtp needs a suite and a key";
        return CMN_EINVAL;
    }
    if (!strcmp(suite, ice_srtp_suite_name(ICE_SRTP_AES_CM_SHA1_80)))
        pm->suite = ICE_SRTP_AES_CM_SHA1_80;
    else if (!strcmp(suite, ice_srtp_suite_name(ICE_SRTP_AES_GCM_128)))
        pm->suite = ICE_SRTP_AES_GCM_128;
    else {
        *why = "unknown SRTP suite";
        return CMN_EINVAL;
    }
    ssize_t n = cmn_base64_decode(key, strlen(key), pm->key, sizeof(pm->key));
    if (n < 0 || (size_t)n != ice_srtp_key_len(pm->suite)) {
        *why = "the SRTP key is not base64 of the suite's key and salt length";
        return CMN_EINVAL;
    }
    pm->keylen = (size_t)n;
    return 0;
}

static int pmsg_count(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return CMN_EINVAL;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int ice_pmsg_from_json(ice_pmsg_t *pm, json_t *o, const char **why)
{
    memset(pm, 0, sizeof(*pm));
    const char *tag = msg_str(o, "probe"), *kind = msg_str(o, "kind");
    if (!json_is_object(o) || !tag || strcmp(tag, ICE_PROBE_TAG) != 0 || !kind) {
        *why = "not an icehub-probe/1 message";
        return CMN_EINVAL;
    }
    if (!strcmp(kind, "done")) {
        pm->kind = ICE_PMSG_DONE;
        if (pmsg_count(o, "sent", &pm->sent) < 0 || pmsg_count(o, "received", &pm->received) < 0) {
            *why = "done needs sent and received counts";
            return CMN_EINVAL;
        }
        return 0;
    }
    if (!strcmp(kind, "offer"))
        pm->kind = ICE_PMSG_OFFER;
    else if (!strcmp(kind, "answer"))
        pm->kind = ICE_PMSG_ANSWER;
    else {
        *why = "kind is not offer, answer or done";
        return CMN_EINVAL;
    }
    const char *ufrag = msg_str(o, "ufrag"), *pwd = msg_str(o, "pwd");
    /* ufrag/pwd: ice-char only, 4..256 and 22..256 characters (RFC 8839 §5.4) */
    if (!ufrag || !pwd || !ice__ice_chars(ufrag, 4, 256) || !ice__ice_chars(pwd, 22, 256)) {
        *why = "ufrag or pwd missing or malformed (RFC 8839 ice-char, 4/22..256)";
        return CMN_EINVAL;
    }
    snprintf(pm->ufrag, sizeof(pm->ufrag), "%s", ufrag);
    snprintf(pm->pwd, sizeof(pm->pwd), "%s", pwd);
    if (pmsg_candidates(pm, json_object_get(o, "candidates"), why) < 0)
        return CMN_EINVAL;
    return pmsg_srtp(pm, json_object_get(o, "srtp"), why);
}

json_t *ice_pmsg_to_json(const ice_pmsg_t *pm)
{
    if (pm->kind == ICE_PMSG_DONE)
        return json_pack("{s:s,s:s,s:I,s:I}", "probe", ICE_PROBE_TAG, "kind", "done", "sent",
                         (json_int_t)pm->sent, "received", (json_int_t)pm->received);
    json_t *cands = json_array();
    for (size_t i = 0; i < pm->ncands; i++)
        json_array_append_new(cands, json_string(pm->cand_text[i]));
    char key[80];
    if (cmn_base64_encode(pm->key, pm->keylen, key, sizeof(key)) < 0)
        key[0] = '\0';
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s}}", "probe", ICE_PROBE_TAG, "kind",
                     pm->kind == ICE_PMSG_OFFER ? "offer" : "answer", "ufrag", pm->ufrag, "pwd",
                     pm->pwd, "candidates", cands, "srtp", "suite",
                     ice_srtp_suite_name(pm->suite), "key", key);
}

/* ---- Hub messages -------------------------------------------------------- */

static char *msg_dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *out = cmn_strdup(s ? s : "{}");
    free(s);
    return out;
}

char *ice_sig_join(const char *room)
{
    return msg_dump(json_pack("{s:s,s:s,s:s}", "type", "join", "room", room, "ref", "join"));
}

char *ice_sig_leave(void)
{
    return msg_dump(json_pack("{s:s}", "type", "leave"));
}

char *ice_sig_signal(const char *to, const ice_pmsg_t *pm)
{
    return msg_dump(json_pack("{s:s,s:s,s:o,s:s}", "type", "signal", "to", to, "data",
                              ice_pmsg_to_json(pm), "ref", "probe"));
}

/* One entry of iceServers: {"urls": string or [strings], "username", "credential"}.
 * URLs this probe cannot use are skipped, not errors. */
static void sig_ice_server(ice_sig_ev_t *ev, json_t *srv)
{
    json_t *urls = json_object_get(srv, "urls");
    const char *user = msg_str(srv, "username"), *cred = msg_str(srv, "credential");
    json_t *one = json_is_string(urls) ? urls : NULL;
    size_t n = one ? 1 : json_is_array(urls) ? json_array_size(urls) : 0;
    for (size_t i = 0; i < n && ev->nservers < ICE_MAX_ICE_URLS; i++) {
        json_t *u = one ? one : json_array_get(urls, i);
        ice_iceserver_t *s = &ev->servers[ev->nservers];
        memset(s, 0, sizeof(*s));
        if (!json_is_string(u) || ice_url_parse(&s->url, json_string_value(u), ICE_SCHEME_NONE,
                                                NULL) < 0)
            continue;
        if (s->url.scheme == ICE_SCHEME_WS || s->url.scheme == ICE_SCHEME_WSS)
            continue;
        if ((user && strlen(user) > ICE_CRED_MAX) || (cred && strlen(cred) > ICE_CRED_MAX))
            continue;
        snprintf(s->user, sizeof(s->user), "%s", user ? user : "");
        snprintf(s->cred, sizeof(s->cred), "%s", cred ? cred : "");
        ev->nservers++;
    }
}

static void sig_joined(ice_sig_ev_t *ev, json_t *o)
{
    json_t *peers = json_object_get(o, "peers"), *servers = json_object_get(o, "iceServers");
    size_t i;
    json_t *v;
    json_array_foreach(peers, i, v) {
        if (ev->npeers < ICE_MAX_PEERS && json_is_string(v) && ice_peer_id_ok(json_string_value(v)))
            snprintf(ev->peers[ev->npeers++], ICE_PEER_ID_MAX + 1, "%s", json_string_value(v));
    }
    json_array_foreach(servers, i, v) {
        if (json_is_object(v))
            sig_ice_server(ev, v);
    }
}

static const struct {
    const char *name;
    ice_sig_type_t type;
    const char *id_key; /* the field holding a peer id, or NULL */
} sig_types[] = {
    {"joined", ICE_SIG_JOINED, "id"},   {"peer-joined", ICE_SIG_PEER_JOINED, "id"},
    {"peer-left", ICE_SIG_PEER_LEFT, "id"}, {"signal", ICE_SIG_SIGNAL, "from"},
    {"error", ICE_SIG_ERROR, NULL},     {"ack", ICE_SIG_ACK, NULL},
};

/* Fill <ev> from a parsed hub message <o>. */
static int sig_event(ice_sig_ev_t *ev, ice_pmsg_t *pm, json_t *o, const char **why)
{
    const char *type = msg_str(o, "type");
    if (!type) {
        *why = "a hub message without a type";
        return CMN_EINVAL;
    }
    for (size_t i = 0; i < CMN_ARRAY_LEN(sig_types); i++) {
        if (strcmp(type, sig_types[i].name) != 0)
            continue;
        ev->type = sig_types[i].type;
        if (sig_types[i].id_key) {
            const char *id = msg_str(o, sig_types[i].id_key);
            if (!id || !ice_peer_id_ok(id)) {
                *why = "a peer id that is missing or malformed";
                return CMN_EINVAL;
            }
            snprintf(ev->id, sizeof(ev->id), "%s", id);
        }
        break;
    }
    if (ev->type == ICE_SIG_JOINED)
        sig_joined(ev, o);
    if (ev->type == ICE_SIG_ERROR) {
        const char *code = msg_str(o, "code"), *m = msg_str(o, "message");
        snprintf(ev->code, sizeof(ev->code), "%s", code ? code : "?");
        snprintf(ev->message, sizeof(ev->message), "%s", m ? m : "");
    }
    if (ev->type == ICE_SIG_SIGNAL)
        return ice_pmsg_from_json(pm, json_object_get(o, "data"), why);
    return 0;
}

int ice_sig_parse(const char *text, size_t len, ice_sig_ev_t *ev, ice_pmsg_t *pm,
                  const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(ev, 0, sizeof(*ev));
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        *why = "not a JSON object";
        return CMN_EINVAL;
    }
    int rc = sig_event(ev, pm, o, why);
    json_decref(o);
    return rc;
}
