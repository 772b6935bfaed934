/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_cfg.c: the hub's settings: built from the signal.* settings plus
 * what the hub needs from the TURN side (its ports, whether TLS is on, the
 * shared secret it accepts), and deep copies so the hub never borrows from
 * a configuration snapshot a reload may free.
 */
#include "sig_int.h"

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

void sig_cfg_from_settings(sig_cfg_t *out, const cmn_settings_t *s, const char *turn_secret,
                           const char *token_secret)
{
    sig_cfg_t c;
    memset(&c, 0, sizeof(c));
    c.enabled = s->signal.enabled;
    c.public_host = (char *)s->signal.public_host;
    c.api_keys = s->signal.api_keys;
    c.credential_ttl = (uint32_t)s->signal.credential_ttl;
    c.allowed_origins = s->signal.allowed_origins;
    c.require_token = s->signal.require_token;
    c.token_secret = s->signal.token_secret && s->signal.token_secret[0]
                         ? s->signal.token_secret : (char *)token_secret;
    c.turn_secret = (char *)turn_secret;
    if (s->turn.enabled && s->turn.listen.n)
        c.turn_port = s->turn.listen.v[0].port;
    if (s->turn.enabled && s->tls.cert && s->tls.cert[0] && s->turn.tls_listen.n)
        c.turns_port = s->turn.tls_listen.v[0].port;
    c.max_message = (size_t)s->signal.max_message;
    c.rate = (uint32_t)s->signal.rate;
    c.burst = (uint32_t)s->signal.burst;
    c.max_room_peers = (uint32_t)s->signal.max_room_peers;
    c.max_rooms = (uint32_t)s->signal.max_rooms;
    c.max_connections_per_ip = (uint32_t)s->signal.max_connections_per_ip;
    c.ping_interval = (uint32_t)s->signal.ping_interval;
    c.idle_timeout = (uint32_t)s->signal.idle_timeout;
    c.resume_seconds = (uint32_t)s->signal.resume_seconds;
    c.resume_queue = (uint32_t)s->signal.resume_queue;
    c.drain_delay = (uint32_t)s->signal.drain_delay;
    c.send_queue = CMN_MAX((size_t)4 * c.max_message, (size_t)1 << 20);
    sig_cfg_copy(out, &c);
}

void sig_cfg_copy(sig_cfg_t *dst, const sig_cfg_t *src)
{
    *dst = *src;
    dst->public_host = cmn_strdup(src->public_host ? src->public_host : "");
    dst->token_secret = secret_dup(src->token_secret);
    dst->turn_secret = secret_dup(src->turn_secret);
    strlist_copy(&dst->api_keys, &src->api_keys);
    strlist_copy(&dst->allowed_origins, &src->allowed_origins);
}

void sig_cfg_dispose(sig_cfg_t *c)
{
    cmn_free(c->public_host);
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
