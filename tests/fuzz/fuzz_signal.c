/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_signal.c: libFuzzer target for the signaling hub's wire inputs. An
 * input is a script of records, each [op][arg][len:2][bytes]: open a
 * connection (after sig_hub_admit) from one of a few IPs, Origins and Host
 * headers; a text message, sent as is or with placeholders replaced by what
 * a client would know (peer ids and resume tokens the hub sent, a room token
 * minted for one of a few rooms); a binary or too-large frame; a socket that
 * goes away; a resume on a new connection; clock steps and ticks; draining,
 * close_all and a reload with other limits. Fake ops check every message
 * the hub sends (a JSON object with a known "type"; errors carry a known
 * code and a message) and that nothing goes to a connection that was closed
 * or is gone. Where the relay finds a message's "data" text it must be
 * jansson's value exactly. After each record the hub's counters must agree with its
 * rooms, peers, connections and with what the clients saw. The hub is freed
 * at the end with whatever is still alive (LSan checks it leaked nothing).
 * cmn_random is wrapped (-Wl,--wrap=cmn_random) by a seeded generator, so
 * ids and tokens, and thus every run, are reproducible.
 * Seeds are in tests/fuzz/corpus/signal/ (tests/fuzz/gen_signal_seeds.py);
 * built with -DFZ_TRACE the target prints every message the hub sends.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "signal/sig_int.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_CONNS 64              /* connections per input; slots are never reused */
#define FZ_RING 16               /* ids and resume tokens remembered */
#define FZ_TEXT 8192             /* a text message after placeholder expansion */

typedef struct fz_conn_s {
    sig_conn_t *c;               /* NULL before open and once gone */
    int ip;                      /* index in fz_ips */
    bool closed;                 /* ops->close was called */
} fz_conn_t;

typedef struct fz_s {
    sig_hub_t *h;
    sig_cfg_t cfg;
    double now;
    fz_conn_t conns[FZ_CONNS];
    size_t nconns;               /* slots used */
    char ids[FZ_RING][SIG_ID_MAX + 1];
    char resumes[FZ_RING][48];
    unsigned nids, nresumes;
    /* What the clients saw, against the hub's counters. */
    uint64_t admitted;           /* frames on connections not closed */
    uint64_t joined, resumed;
    uint64_t errors[SIG_E_COUNT];
    /* The message being handled: its sender and "ref"; the first reply
     * must echo it. */
    fz_conn_t *sender;
    json_t *ref;
    bool replied;
} fz_t;

static const char *const fz_ips[] = {"192.0.2.1", "192.0.2.2", "2001:db8::1", ""};
static const char *const fz_origins[] = {"", "http://example.org:8080", "https://evil.example",
                                         "https://app.example"};
static const char *const fz_hosts[] = {"example.org:8080", "[2001:db8::1]:8080",
                                       "bad host\x80:1", ""};
static const char *const fz_rooms[] = {"standup", "r1", "\xc3\xa9t\xc3\xa9", "a b"};

/* ---- Deterministic randomness ------------------------------------------ */

static uint64_t fz_rng;

int __wrap_cmn_random(void *out, size_t len);

int __wrap_cmn_random(void *out, size_t len)
{
    uint8_t *o = out;
    for (size_t i = 0; i < len; i++) {
        fz_rng ^= fz_rng << 13;
        fz_rng ^= fz_rng >> 7;
        fz_rng ^= fz_rng << 17;
        o[i] = (uint8_t)(fz_rng >> 24);
    }
    return 0;
}

/* ---- Fake ops ---------------------------------------------------------- */

static void remember(char ring[][48], unsigned *n, const char *s, size_t cap)
{
    snprintf(ring[*n % FZ_RING], cap, "%s", s);
    (*n)++;
}

static void remember_id(fz_t *f, const char *id)
{
    snprintf(f->ids[f->nids % FZ_RING], SIG_ID_MAX + 1, "%s", id);
    f->nids++;
}

static const char *str_of(json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void check_ice(json_t *arr)
{
    CHECK(json_is_array(arr));
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        json_t *urls = json_object_get(e, "urls");
        CHECK(json_is_array(urls) && json_is_string(json_array_get(urls, 0)));
        /* A TURN entry without its credential is useless to a browser. */
        bool turn = strncmp(json_string_value(json_array_get(urls, 0)), "turn", 4) == 0;
        CHECK(!turn || (str_of(e, "username") && str_of(e, "credential")));
    }
}

static void check_error(fz_t *f, json_t *m)
{
    const char *code = str_of(m, "code");
    const char *msg = str_of(m, "message");
    CHECK(code && msg && msg[0]);
    int e;
    for (e = 0; e < SIG_E_COUNT; e++)
        if (!strcmp(code, sig_err_name((sig_err_t)e)))
            break;
    CHECK(e < SIG_E_COUNT && e != SIG_E_INTERNAL);
    if (e == SIG_E_UNDELIVERED)
        CHECK(str_of(m, "to") && sig__id_ok(str_of(m, "to")));
    f->errors[e]++;
}

static void fz_send(void *ud, void *conn, const char *text, size_t len)
{
    fz_t *f = ud;
    fz_conn_t *fc = conn;
    CHECK(fc >= f->conns && fc < f->conns + f->nconns);
    CHECK(fc->c != NULL && !fc->closed);
    CHECK(len == strlen(text));
#ifdef FZ_TRACE
    fprintf(stderr, "-> %zu %s\n", (size_t)(fc - f->conns), text);
#endif
    json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    CHECK(json_is_object(m));
    const char *type = str_of(m, "type");
    CHECK(type != NULL);
    json_t *ref = json_object_get(m, "ref");
    CHECK(!ref || json_is_string(ref) || json_is_number(ref));
    /* Every message with a "ref" gets a first answer that echoes it (a
     * rate-limited one is dropped unread). Relayed copies do not count:
     * a peer may signal itself. */
    if (fc == f->sender && !f->replied && strcmp(type, "signal") && strcmp(type, "broadcast") &&
        strncmp(type, "peer-", 5)) {
        const char *code = str_of(m, "code");
        f->replied = true;
        if (f->ref && !(code && !strcmp(code, "rate-limited")))
            CHECK(json_equal(ref, f->ref));
    }
    if (!strcmp(type, "joined") || !strcmp(type, "resumed")) {
        const char *id = str_of(m, "id"), *res = str_of(m, "resume");
        CHECK(id && sig__id_ok(id) && res && strlen(res) == 2 * SIG_ID_LEN);
        CHECK(str_of(m, "room") && json_is_array(json_object_get(m, "peers")));
        check_ice(json_object_get(m, "iceServers"));
        CHECK(fc->c->peer && !strcmp(fc->c->peer->id, id));
        remember_id(f, id);
        remember(f->resumes, &f->nresumes, res, 48);
        if (type[0] == 'j')
            f->joined++;
        else
            f->resumed++;
    } else if (!strcmp(type, "peer-joined") || !strcmp(type, "peer-left")) {
        CHECK(str_of(m, "id") && sig__id_ok(str_of(m, "id")));
        remember_id(f, str_of(m, "id"));
        const char *why = str_of(m, "reason");
        CHECK(type[5] == 'j' || (why && (!strcmp(why, "leave") || !strcmp(why, "closed") ||
                                         !strcmp(why, "timeout"))));
    } else if (!strcmp(type, "signal") || !strcmp(type, "broadcast")) {
        CHECK(str_of(m, "from") && json_object_get(m, "data") && !json_object_get(m, "to"));
    } else if (!strcmp(type, "ice-servers")) {
        check_ice(json_object_get(m, "iceServers"));
        CHECK(json_is_integer(json_object_get(m, "ttl")));
    } else if (!strcmp(type, "error")) {
        check_error(f, m);
    } else {
        CHECK(!strcmp(type, "left") || !strcmp(type, "pong") || !strcmp(type, "ack"));
        CHECK(type[0] != 'a' || ref);
    }
    json_decref(m);
}

static void fz_close(void *ud, void *conn, int code, const char *reason)
{
    fz_t *f = ud;
    fz_conn_t *fc = conn;
    CHECK(fc >= f->conns && fc < f->conns + f->nconns);
    CHECK(fc->c != NULL);
    CHECK(!fc->closed); /* once: the glue would drop a second close */
    CHECK(code == SIG_CLOSE_NORMAL || code == SIG_CLOSE_GOING_AWAY || code == SIG_CLOSE_POLICY);
    CHECK(reason && reason[0]);
    fc->closed = true;
}

/* ---- Invariants -------------------------------------------------------- */

static void check_hub(fz_t *f)
{
    sig_hub_t *h = f->h;
    size_t rooms = 0, peers = 0, away = 0, present = 0;
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));) {
        sig_room_t *r = e->val;
        uint32_t n = 0;
        rooms++;
        CHECK(r->head && !strcmp(e->key, r->name));
        for (sig_peer_t *p = r->head; p; p = p->next) {
            n++;
            CHECK(p->room == r && (p->next || r->tail == p));
            CHECK(sig__map_get(&h->resumes, p->resume) == p);
            CHECK(p->qlen == 0 || !p->conn);
            /* Stats reports: at most one per other peer of the room. */
            if (p->reported) {
                cmn_map_iter_t rit;
                cmn_map_iter_init(&rit, p->reported);
                for (sig_map_ent_t *re; (re = sig__map_walk(&rit));) {
                    sig_peer_t *o = sig__room_peer(r, re->key);
                    CHECK(o && o != p);
                }
                CHECK(p->reported->n < r->npeers);
            }
            if (p->conn) {
                CHECK(p->conn->peer == p);
                present++;
            } else {
                away++;
            }
        }
        CHECK(n == r->npeers);
        peers += n;
    }
    CHECK(rooms == h->rooms.n && peers == h->npeers && away == h->naway);
    CHECK(h->resumes.n == h->npeers);
    size_t n = 0;
    for (sig_peer_t *p = h->away; p; p = p->away_next, n++)
        CHECK(!p->conn && (p->away_prev || h->away == p));
    CHECK(n == h->naway);
    /* Connections: the hub's list is the model's live slots. */
    size_t conns = 0, joined = 0, per_ip[CMN_ARRAY_LEN(fz_ips)] = {0};
    for (sig_conn_t *c = h->conns; c; c = c->next) {
        fz_conn_t *fc = c->handle;
        CHECK(fc->c == c && fc->closed == c->closing);
        CHECK(!c->peer || c->peer->conn == c);
        conns++;
        joined += c->peer != NULL;
        per_ip[fc->ip]++;
    }
    CHECK(conns == h->nconns && joined == present);
    for (size_t i = 0; i < CMN_ARRAY_LEN(fz_ips); i++)
        CHECK((uintptr_t)sig__map_get(&h->ips, fz_ips[i]) == per_ip[i]);
    /* Counters against what the clients saw. */
    uint64_t msgs = 0;
    for (int t = 0; t < SIG_T_COUNT; t++)
        msgs += h->msgs[t];
    CHECK(msgs == f->admitted);
    CHECK(f->joined == h->npeers + h->left[0] + h->left[1] + h->left[2]);
    CHECK(f->resumed == h->resumes_ok);
    for (int e = 0; e < SIG_E_COUNT; e++) {
        /* Undelivered notices may sit in a queue or die with it. */
        if (e == SIG_E_UNDELIVERED)
            CHECK(f->errors[e] <= h->errors[e]);
        else
            CHECK(f->errors[e] == h->errors[e]);
    }
}

/* ---- Records ------------------------------------------------------------ */

/* The <k>-th connection that is open (closed ones included: frames in
 * flight still arrive), or NULL. */
static fz_conn_t *pick(fz_t *f, unsigned k)
{
    size_t live = 0;
    for (size_t i = 0; i < f->nconns; i++)
        live += f->conns[i].c != NULL;
    if (!live)
        return NULL;
    k %= live;
    for (size_t i = 0; i < f->nconns; i++)
        if (f->conns[i].c && k-- == 0)
            return &f->conns[i];
    return NULL;
}

static fz_conn_t *open_conn(fz_t *f, unsigned arg)
{
    if (f->nconns >= FZ_CONNS)
        return NULL;
    unsigned ip = arg & 3, origin = (arg >> 2) & 3, host = (arg >> 4) & 3;
    size_t same = 0;
    for (size_t i = 0; i < f->nconns; i++)
        same += f->conns[i].c && f->conns[i].ip == (int)ip;
    sig_refuse_t why;
    if (!(arg & 0x40) &&
        sig_hub_admit(f->h, fz_ips[ip], fz_origins[origin], fz_hosts[host], &why) < 0) {
        CHECK(why < SIG_REFUSE_COUNT);
        CHECK(why != SIG_REFUSE_PER_IP || same >= f->h->cfg.max_connections_per_ip);
        return NULL;
    }
    if (!(arg & 0x40))
        CHECK(same < f->h->cfg.max_connections_per_ip && !f->h->draining);
    fz_conn_t *fc = &f->conns[f->nconns++];
    fc->ip = (int)ip;
    fc->c = sig_conn_open(f->h, fc, fz_ips[ip], fz_hosts[host], f->now);
    return fc;
}

/* Where the relay finds "data" in a message jansson accepted, it finds
 * exactly jansson's value (relays copy that text as written). */
static void check_raw_data(const char *s, size_t len, json_t *m)
{
    size_t off, vlen;
    json_t *data = json_is_object(m) ? json_object_get(m, "data") : NULL;
    if (!sig__member_raw(s, len, "data", &off, &vlen)) {
        /* Not found as a plain key: then it is absent or written with
         * escapes. */
        CHECK(!data || memmem(s, len, "\"data\"", 6) == NULL ||
              memchr(s, '\\', len) != NULL);
        return;
    }
    CHECK(data != NULL);
    json_t *v = json_loadb(s + off, vlen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    CHECK(v != NULL && json_equal(v, data));
    json_decref(v);
}

static void text(fz_t *f, fz_conn_t *fc, const char *s, size_t len)
{
    json_t *m = NULL, *ref = NULL;
    if (len <= f->h->cfg.max_message && !fc->closed) {
        m = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(m))
            check_raw_data(s, len, m);
        ref = json_object_get(m, "ref");
        if (!json_is_string(ref) && !json_is_number(ref))
            ref = NULL;
    }
    f->admitted += !fc->closed;
    f->sender = fc;
    f->ref = ref;
    f->replied = false;
    sig_conn_text(f->h, fc->c, s, len, f->now);
    CHECK(!ref || f->replied);
    f->sender = NULL;
    f->ref = NULL;
    json_decref(m);
}

/* Append <s> to out[*o..cap). */
static void put(char *out, size_t *o, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - *o)
        n = cap - *o;
    memcpy(out + *o, s, n);
    *o += n;
}

/* Expand placeholders: \x01 i = a peer id the hub sent, \x02 i = a resume
 * token it sent, \x03 i = a room token for fz_rooms[i & 3] (bound to a
 * known id when i & 4, expired when i & 8). */
static size_t expand(fz_t *f, const uint8_t *p, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o < cap; i++) {
        uint8_t ch = p[i];
        if (ch < 1 || ch > 3 || i + 1 >= len) {
            out[o++] = (char)ch;
            continue;
        }
        unsigned k = p[++i];
        if (ch == 1) {
            put(out, &o, cap, f->nids ? f->ids[k % CMN_MIN(f->nids, FZ_RING)] : "nobody");
        } else if (ch == 2) {
            put(out, &o, cap, f->nresumes ? f->resumes[k % CMN_MIN(f->nresumes, FZ_RING)] : "x");
        } else {
            const char *peer = (k & 4) && f->nids ? f->ids[(k >> 4) % CMN_MIN(f->nids, FZ_RING)]
                                                  : NULL;
            char *tok = sig_token_mint(&f->cfg, fz_rooms[k & 3], peer,
                                       f->now + ((k & 8) ? -1 : 600));
            put(out, &o, cap, tok ? tok : "");
            cmn_free(tok);
        }
    }
    return o;
}

/* A reload: limits from the bits of <arg>. */
static void reconfigure(fz_t *f, unsigned arg)
{
    f->cfg.resume_seconds = (arg & 1) ? 0 : 30;
    f->cfg.resume_queue = (arg & 2) ? 1 : 4;
    f->cfg.max_room_peers = (arg & 4) ? 2 : 4;
    f->cfg.require_token = (arg & 8) != 0;
    f->cfg.turns_port = (arg & 16) ? 5349 : 0;
    f->cfg.burst = (arg & 32) ? 4 : 16;
    f->cfg.client_stats = !(arg & 64);
    f->cfg.ice_urls = (arg & 128) ? CMN_ICE_STUN : 15;
    sig_hub_configure(f->h, &f->cfg);
}

static void run_record(fz_t *f, uint8_t op, uint8_t arg, const uint8_t *p, size_t len)
{
    static char buf[FZ_TEXT + 128];
    fz_conn_t *fc;
    switch (op % 12) {
    case 0:
        open_conn(f, arg);
        break;
    case 1: /* raw text */
    case 2: /* text with placeholders */
        if (!(fc = pick(f, arg)))
            return;
        if (op % 12 == 1) {
            text(f, fc, (const char *)p, len);
        } else {
            size_t n = expand(f, p, len, buf, FZ_TEXT);
            text(f, fc, buf, n);
        }
        break;
    case 3:
    case 4:
        if (!(fc = pick(f, arg)))
            return;
        f->admitted += !fc->closed;
        if (op % 12 == 3)
            sig_conn_binary(f->h, fc->c, f->now);
        else
            sig_conn_too_large(f->h, fc->c, f->now);
        break;
    case 5:
        if (!(fc = pick(f, arg)))
            return;
        sig_conn_gone(f->h, fc->c, f->now);
        fc->c = NULL;
        break;
    case 6: { /* resume on a new connection with a token the hub sent */
        if (!f->nresumes || !(fc = open_conn(f, arg & 0x3f)))
            return;
        int n = snprintf(buf, sizeof(buf), "{\"type\":\"resume\",\"token\":\"%s\",\"ref\":%u}",
                         f->resumes[arg % CMN_MIN(f->nresumes, FZ_RING)], arg);
        text(f, fc, buf, (size_t)n);
        break;
    }
    case 7:
        f->now += arg * 0.01;
        break;
    case 8:
        f->now += arg * 0.5;
        sig_hub_tick(f->h, f->now);
        break;
    case 9:
        if (arg == 0x55)
            sig_hub_close_all(f->h, SIG_CLOSE_GOING_AWAY, "draining");
        else if (arg == 0xaa)
            sig_hub_drain(f->h);
        break;
    case 10:
        reconfigure(f, arg);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *origins[] = {"https://app.example"};
    static fz_t f;
    static bool seeded;
    if (!seeded) {
        /* sig_map.c seeds its hash once per process: do it before the
         * generator is reset, so every input sees the same sequence. */
        sig_map_t m;
        sig__map_init(&m);
        (void)sig__map_get(&m, "");
        sig__map_dispose(&m);
        seeded = true;
    }
    memset(&f, 0, sizeof(f));
    fz_rng = 0x9e3779b97f4a7c15ull;
    f.now = 1.7e9;
    f.cfg = (sig_cfg_t){
        .enabled = true, .public_host = "", .credential_ttl = 100,
        .allowed_origins = {origins, 1}, .token_secret = "token-secret",
        .turn_secret = "turn-secret", .turn_port = 3478, .ice_urls = 15, .client_stats = true,
        .max_message = 1024, .rate = 50,
        .burst = 16, .max_room_peers = 4, .max_rooms = 3, .max_connections_per_ip = 4,
        .resume_seconds = 30, .resume_queue = 4, .send_queue = 1 << 20,
    };
    sig_ops_t ops = {.ud = &f, .send = fz_send, .close = fz_close};
    f.h = sig_hub_new(&f.cfg, &ops);
    size_t off = 0;
    while (size - off >= 4) {
        uint8_t op = data[off], arg = data[off + 1];
        size_t len = (size_t)(data[off + 2] << 8 | data[off + 3]);
        off += 4;
        if (len > size - off)
            len = size - off;
        run_record(&f, op, arg, data + off, len);
        off += len;
        check_hub(&f);
    }
    /* Half the inputs expire every away peer at the end; the others leave
     * them, queues and all, to sig_hub_free, which like the live
     * connections must release them. */
    if (size & 1) {
        f.now += 1000;
        sig_hub_tick(f.h, f.now);
        check_hub(&f);
        CHECK(f.h->naway == 0);
    }
    cmn_prom_t prom;
    cmn_prom_init(&prom);
    sig_hub_metrics(f.h, &prom);
    cmn_prom_dispose(&prom);
    sig_hub_free(f.h);
    return 0;
}
