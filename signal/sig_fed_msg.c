/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_fed_msg.c: the messages nodes exchange through Redis about rooms
 * (docs/scaling.md): a JSON header with "k" (the kind) and "n" (the node
 * that wrote it), and for the kinds that carry what a client receives,
 * a newline and that text, passed on byte for byte (never decoded and
 * encoded again). Another process wrote every byte, so the decoder checks
 * each field like a client's message: names are url-safe, numbers are
 * whole and in range, lists are bounded, the client text is a JSON object
 * with a type. It decides nothing; sig_fed.c does.
 */
#include "sig_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/cmn_log.h"

static const char *const kind_names[SIG_FK_COUNT] = {
    "join", "left", "moved", "sync", "sig", "bc", "und", "take", "took", "state",
};

static const char *const left_names[] = {"leave", "closed", "timeout"};

const char *sig__left_name(int reason)
{
    return reason >= 0 && reason < 3 ? left_names[reason] : "closed";
}

bool sig__node_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= SIG_NODE_MAX && sig__id_ok(s);
}

/* A string member: NULL when absent or not a string without NULs. */
static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

static bool uint_of(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool ref_ok(const json_t *v)
{
    return !v || json_is_string(v) || json_is_integer(v) || json_is_real(v);
}

/* [[ID, SEQ, NODE], ...] with good ids and nodes. */
static bool members_ok(const json_t *m)
{
    if (!json_is_array(m) || json_array_size(m) > SIG_FED_MEMBERS_MAX)
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(m, i, e) {
        const json_t *id = json_array_get(e, 0), *seq = json_array_get(e, 1),
                     *node = json_array_get(e, 2);
        if (!json_is_array(e) || json_array_size(e) != 3 || !json_is_string(id) ||
            !json_is_integer(seq) || json_integer_value(seq) < 0 || !json_is_string(node) ||
            strlen(json_string_value(id)) != json_string_length(id) ||
            strlen(json_string_value(node)) != json_string_length(node) ||
            !sig__id_ok(json_string_value(id)) || !sig__node_ok(json_string_value(node)))
            return false;
    }
    return true;
}

/* What a client is given: a JSON object with a "type". */
static bool client_text_ok(const char *t, size_t n)
{
    json_t *j = n ? json_loadb(t, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    bool ok = json_is_object(j) && json_is_string(json_object_get(j, "type"));
    json_decref(j);
    return ok;
}

/* [[TEXT, FROM, REF], ...]: TEXT a client message, FROM "" or a peer id. */
static bool queue_ok(const json_t *q)
{
    if (!json_is_array(q) || json_array_size(q) > SIG_FED_QUEUE_MAX)
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(q, i, e) {
        const json_t *t = json_array_get(e, 0), *f = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 3 || !json_is_string(t) ||
            !json_is_string(f) || json_string_length(t) == 0 ||
            strlen(json_string_value(f)) != json_string_length(f) ||
            (json_string_length(f) && !sig__id_ok(json_string_value(f))) ||
            !client_text_ok(json_string_value(t), json_string_length(t)))
            return false;
        const json_t *r = json_array_get(e, 2);
        if (!json_is_null(r) && !ref_ok(r))
            return false;
    }
    return true;
}

/* [ID, ...]: the peers a moving peer reported (sig_stats.c); the new node
 * checks them against the room as a live upgrade's import does. */
static bool ids_ok(const json_t *a)
{
    if (!json_is_array(a) || json_array_size(a) > SIG_FED_MEMBERS_MAX)
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(a, i, e) {
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e) ||
            !sig__id_ok(json_string_value(e)))
            return false;
    }
    return true;
}

static int kind_of(const char *k)
{
    for (int i = 0; k && i < SIG_FK_COUNT; i++)
        if (!strcmp(k, kind_names[i]))
            return i;
    return -1;
}

static int left_of(const char *w)
{
    for (int i = 0; w && i < 3; i++)
        if (!strcmp(w, left_names[i]))
            return i;
    return -1;
}

/* The fields each kind needs; *why says which is missing or bad. */
static bool fields(sig_fmsg_t *m, const char **why)
{
    const json_t *o = m->root;
    bool idk = m->kind == SIG_FK_JOIN || m->kind == SIG_FK_LEFT || m->kind == SIG_FK_MOVED;
    m->id = str(o, "id");
    if (idk && (!m->id || !sig__id_ok(m->id)))
        return *why = "a member id", false;
    switch (m->kind) {
    case SIG_FK_LEFT:
        m->why = left_of(str(o, "why"));
        return m->why >= 0 || (*why = "a reason for left", false);
    case SIG_FK_MOVED:
        m->from = str(o, "from");
        if (!m->from || !sig__node_ok(m->from) || !uint_of(o, "r", &m->req))
            return *why = "the node and request of moved", false;
        /* fall through */
    case SIG_FK_JOIN:
        if (!uint_of(o, "s", &m->seq))
            return *why = "the member's seq", false;
        /* fall through */
    case SIG_FK_SYNC:
        m->members = json_object_get(o, "m");
        return members_ok(m->members) || (*why = "the members", false);
    case SIG_FK_SIG:
        m->to = str(o, "to");
        if (!m->to || !sig__id_ok(m->to))
            return *why = "the recipient", false;
        /* fall through */
    case SIG_FK_BC:
        m->from = str(o, "from");
        m->ref = json_object_get(o, "ref");
        return (m->from && sig__id_ok(m->from) && ref_ok(m->ref)) ||
               (*why = "the sender or its ref", false);
    case SIG_FK_UND:
        m->to = str(o, "to");
        return (m->to && sig__id_ok(m->to)) || (*why = "the recipient", false);
    case SIG_FK_TAKE:
        m->token = str(o, "tok");
        return (m->token && uint_of(o, "r", &m->req) && strlen(m->token) <= SIG_TOKEN_MAX) ||
               (*why = "the token and request of take", false);
    case SIG_FK_TOOK:
        m->ok = json_is_true(json_object_get(o, "ok"));
        m->room = str(o, "room");
        if (!uint_of(o, "r", &m->req))
            return *why = "the request of took", false;
        return !m->ok || (m->room && sig__room_ok(m->room) && m->id && sig__id_ok(m->id)) ||
               (*why = "the room and id of took", false);
    case SIG_FK_STATE:
        m->queue = json_object_get(o, "q");
        m->reported = json_object_get(o, "rp");
        return (uint_of(o, "r", &m->req) && queue_ok(m->queue) &&
                (!m->reported || ids_ok(m->reported))) ||
               (*why = "the request, queue and reported of state", false);
    default:
        return true;
    }
}

int sig__fmsg_decode(const char *data, size_t len, sig_fmsg_t *m, const char **why)
{
    memset(m, 0, sizeof(*m));
    const char *nl = memchr(data, '\n', len);
    size_t hlen = nl ? (size_t)(nl - data) : len;
    m->root = json_loadb(data, hlen, JSON_REJECT_DUPLICATES, NULL);
    int k = kind_of(str(m->root, "k"));
    m->node = str(m->root, "n");
    if (!json_is_object(m->root) || k < 0 || !m->node || !sig__node_ok(m->node)) {
        *why = "not a cluster message (k, n)";
        goto fail;
    }
    m->kind = (sig_fkind_t)k;
    bool has_body = m->kind == SIG_FK_SIG || m->kind == SIG_FK_BC || m->kind == SIG_FK_UND;
    if (has_body) {
        m->body = nl ? nl + 1 : NULL;
        m->blen = nl ? len - hlen - 1 : 0;
        /* It goes to browsers as it is: a JSON object with a "type", as
         * everything the hub sends (so UTF-8 too). Checking costs one
         * parse per message that crossed nodes; trusting another process
         * would cost a client's connection. */
        if (!client_text_ok(m->body, m->blen)) {
            *why = "a client message after the header";
            goto fail;
        }
    } else if (nl) {
        *why = "a body on a kind without one";
        goto fail;
    }
    if (!fields(m, why))
        goto fail;
    return 0;
fail:
    sig__fmsg_dispose(m);
    return CMN_EINVAL;
}

void sig__fmsg_dispose(sig_fmsg_t *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

char *sig__fmsg_encode(json_t *hdr, const char *body, size_t blen, size_t *len)
{
    size_t hl;
    char *h = sig__encode(hdr, &hl);
    if (!blen) {
        *len = hl;
        return h;
    }
    char *out = cmn_malloc(hl + 1 + blen + 1);
    memcpy(out, h, hl);
    out[hl] = '\n';
    memcpy(out + hl + 1, body, blen);
    out[hl + 1 + blen] = '\0';
    cmn_free(h);
    *len = hl + 1 + blen;
    return out;
}

char *sig__fmsg_prefix(json_t *hdr, size_t *len)
{
    char *h = sig__encode(hdr, len);
    /* Compact JSON of an object ends with its brace. */
    if (*len && h[*len - 1] == '}')
        h[--*len] = '\0';
    return h;
}
