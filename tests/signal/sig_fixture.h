/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_fixture.h: the hub under test with fake ops and a fake clock. Each
 * fake connection records what the hub sent it (parsed JSON, in order)
 * and how it was closed. Included by the tests/signal/test_sig_*.c files.
 */
#ifndef SIG_FIXTURE_H
#define SIG_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "signal/sig_int.h"

#define FX_MAX_CONNS 512
#define FX_MAX_MSGS 1024

typedef struct fx_conn_s {
    sig_conn_t *c;              /* NULL once gone */
    json_t *msgs[FX_MAX_MSGS];
    size_t n, read;             /* received, consumed by fx_next */
    int close_code;             /* 0 = open */
    char close_reason[64];
} fx_conn_t;

typedef struct fx_s {
    sig_hub_t *h;
    sig_cfg_t cfg;
    double now;
    fx_conn_t conns[FX_MAX_CONNS];
    size_t nconns;
} fx_t;

static inline void fx_send(void *ud, void *conn, const char *text, size_t len)
{
    (void)ud;
    fx_conn_t *fc = conn;
    json_error_t e;
    json_t *j = json_loadb(text, len, 0, &e);
    if (!j)
        fail_msg("the hub sent invalid JSON: %.*s", (int)len, text);
    assert_true(fc->n < FX_MAX_MSGS);
    fc->msgs[fc->n++] = j;
}

static inline void fx_close(void *ud, void *conn, int code, const char *reason)
{
    (void)ud;
    fx_conn_t *fc = conn;
    assert_int_equal(fc->close_code, 0); /* closed once */
    fc->close_code = code;
    snprintf(fc->close_reason, sizeof(fc->close_reason), "%s", reason);
}

/* Settings for tests: small limits, a TURN secret, resume on. */
static inline void fx_default_cfg(sig_cfg_t *c)
{
    memset(c, 0, sizeof(*c));
    c->enabled = true;
    c->public_host = "";
    c->credential_ttl = 100;
    c->token_secret = "token-secret";
    c->turn_secret = "turn-secret";
    c->turn_port = 3478;
    c->ice_urls = CMN_ICE_STUN | CMN_ICE_TURN_UDP | CMN_ICE_TURN_TCP | CMN_ICE_TURNS;
    c->client_stats = true;
    c->max_message = 4096;
    c->rate = 10;
    c->burst = 20;
    c->max_room_peers = 4;
    c->max_rooms = 3;
    c->max_connections_per_ip = 5;
    c->ping_interval = 20;
    c->idle_timeout = 60;
    c->resume_seconds = 30;
    c->resume_queue = 4;
    c->drain_delay = 1;
    c->send_queue = 1 << 20;
}

static inline fx_t *fx_new_cfg(const sig_cfg_t *cfg)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    fx->cfg = *cfg;
    fx->now = 1700000000.0;
    sig_ops_t ops = {.ud = fx, .send = fx_send, .close = fx_close};
    fx->h = sig_hub_new(cfg, &ops);
    return fx;
}

static inline int fx_setup(void **state)
{
    sig_cfg_t c;
    fx_default_cfg(&c);
    *state = fx_new_cfg(&c);
    return 0;
}

static inline int fx_teardown(void **state)
{
    fx_t *fx = *state;
    sig_hub_free(fx->h);
    for (size_t i = 0; i < fx->nconns; i++)
        for (size_t j = 0; j < fx->conns[i].n; j++)
            json_decref(fx->conns[i].msgs[j]);
    free(fx);
    return 0;
}

/* A new connection from <ip>. */
static inline fx_conn_t *fx_open_ip(fx_t *fx, const char *ip)
{
    assert_true(fx->nconns < FX_MAX_CONNS);
    fx_conn_t *fc = &fx->conns[fx->nconns++];
    fc->c = sig_conn_open(fx->h, fc, ip, "example.org:8080", fx->now);
    return fc;
}

static inline fx_conn_t *fx_open(fx_t *fx)
{
    return fx_open_ip(fx, "192.0.2.1");
}

static inline void fx_gone(fx_t *fx, fx_conn_t *fc)
{
    sig_conn_gone(fx->h, fc->c, fx->now);
    fc->c = NULL;
}

/* Send <text> from <fc>. */
static inline void fx_say(fx_t *fx, fx_conn_t *fc, const char *text)
{
    sig_conn_text(fx->h, fc->c, text, strlen(text), fx->now);
}

/* The next message <fc> received (borrowed), or a failure. */
static inline json_t *fx_next(fx_conn_t *fc)
{
    if (fc->read >= fc->n)
        fail_msg("expected another message (got %zu)", fc->n);
    return fc->msgs[fc->read++];
}

static inline bool fx_none(fx_conn_t *fc)
{
    for (size_t i = fc->read; i < fc->n; i++) {
        char *t = json_dumps(fc->msgs[i], JSON_COMPACT);
        fprintf(stderr, "unexpected message: %s\n", t);
        free(t);
    }
    return fc->read == fc->n;
}

static inline const char *fx_str(json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);
    if (!json_is_string(v))
        fail_msg("no string \"%s\" in %s", key, json_dumps(m, JSON_COMPACT));
    return json_string_value(v);
}

/* The next message must have type <type>; returns it. */
static inline json_t *fx_expect(fx_conn_t *fc, const char *type)
{
    json_t *m = fx_next(fc);
    const char *t = fx_str(m, "type");
    if (strcmp(t, type) != 0)
        fail_msg("expected %s, got %s", type, json_dumps(m, JSON_COMPACT));
    return m;
}

/* The next message must be an error with <code>; returns it. */
static inline json_t *fx_expect_error(fx_conn_t *fc, const char *code)
{
    json_t *m = fx_expect(fc, "error");
    if (strcmp(fx_str(m, "code"), code) != 0)
        fail_msg("expected error %s, got %s", code, json_dumps(m, JSON_COMPACT));
    assert_true(strlen(fx_str(m, "message")) > 0);
    return m;
}

/* Join <room> and return the peer id (the joined message is consumed). */
static inline const char *fx_join(fx_t *fx, fx_conn_t *fc, const char *room)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"type\":\"join\",\"room\":\"%s\"}", room);
    fx_say(fx, fc, buf);
    return fx_str(fx_expect(fc, "joined"), "id");
}

static inline void fx_tick(fx_t *fx, double dt)
{
    fx->now += dt;
    sig_hub_tick(fx->h, fx->now);
}

#endif /* SIG_FIXTURE_H */
