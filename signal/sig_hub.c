/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_hub.c: the hub's state: connections (with their rate-limit bucket
 * and per-IP counts), rooms and peers, away peers in their resume grace
 * period with their bounded queues, credential refresh timers, draining,
 * and the metrics. Message handling is in sig_route.c.
 *
 * Lifetimes: a connection lives from sig_conn_open to sig_conn_gone. A
 * peer lives from its join to its leave, to the end of its grace period
 * after its socket dropped, or to the moment its socket closed when no
 * resume is possible (resume_seconds 0, the hub closed it, draining). A
 * room lives while it has peers.
 */
#include "sig_int.h"

sig_hub_t *sig_hub_new(const sig_cfg_t *cfg, const sig_ops_t *ops)
{
    sig_hub_t *h = cmn_calloc(1, sizeof(*h));
    sig_cfg_copy(&h->cfg, cfg);
    h->ops = *ops;
    sig__map_init(&h->rooms);
    sig__map_init(&h->resumes);
    sig__map_init(&h->ips);
    if (h->cfg.node && h->cfg.node[0])
        h->fed = sig__fed_new(&h->cfg);
    return h;
}

void sig__queue_free(sig_peer_t *p)
{
    sig_qmsg_t *q = p->qhead;
    while (q) {
        sig_qmsg_t *n = q->next;
        cmn_free(q->text);
        if (q->ref)
            json_decref(q->ref);
        cmn_free(q);
        q = n;
    }
    p->qhead = p->qtail = NULL;
    p->qlen = 0;
}

void sig_hub_free(sig_hub_t *h)
{
    if (!h)
        return;
    /* Connections first (they point at peers), then every room's peers. */
    while (h->conns) {
        sig_conn_t *c = h->conns;
        h->conns = c->next;
        cmn_free(c);
    }
    cmn_map_iter_t it;
    cmn_map_iter_init(&it, &h->rooms);
    for (sig_map_ent_t *e; (e = sig__map_walk(&it));) {
        sig_room_t *r = e->val;
        sig_peer_t *p = r->head;
        while (p) {
            sig_peer_t *n = p->next;
            sig__queue_free(p);
            sig__stats_free(p);
            cmn_free(p->move);
            cmn_free(p);
            p = n;
        }
        cmn_free(r->name);
        cmn_free(r);
    }
    sig__map_dispose(&h->rooms);
    sig__map_dispose(&h->resumes);
    sig__map_dispose(&h->ips);
    sig__fed_free(h);
    sig_cfg_dispose(&h->cfg);
    cmn_free(h);
}

void sig_hub_configure(sig_hub_t *h, const sig_cfg_t *cfg)
{
    sig_cfg_dispose(&h->cfg);
    sig_cfg_copy(&h->cfg, cfg);
}

const sig_cfg_t *sig_hub_cfg(const sig_hub_t *h)
{
    return &h->cfg;
}

/* ---- Admission and Origin -------------------------------------------- */

/* The "host[:port]" of an Origin "scheme://host[:port]", with the default
 * port of the scheme dropped; false when it is not of that form. */
static bool origin_hostport(const char *origin, char *out, size_t cap, bool *https)
{
    const char *sep = strstr(origin, "://");
    if (!sep || sep == origin)
        return false;
    *https = (size_t)(sep - origin) == 5 && !strncasecmp(origin, "https", 5);
    const char *hp = sep + 3;
    size_t n = strcspn(hp, "/?#");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, hp, n);
    out[n] = '\0';
    return true;
}

static void drop_default_port(char *hp, bool https)
{
    size_t n = strlen(hp);
    const char *def = https ? ":443" : ":80";
    size_t dl = strlen(def);
    if (n > dl && !strcmp(hp + n - dl, def))
        hp[n - dl] = '\0';
}

bool sig_origin_allowed(const sig_cfg_t *cfg, const char *origin, const char *host)
{
    /* Browsers always send Origin on a WebSocket upgrade; clients that
     * send none are not browsers and are not the attack Origin checks
     * stop (cross-site WebSocket hijacking). */
    if (!origin || !origin[0])
        return true;
    for (size_t i = 0; i < cfg->allowed_origins.n; i++) {
        const char *a = cfg->allowed_origins.v[i];
        if (!strcmp(a, "*") || !strcasecmp(a, origin))
            return true;
    }
    /* Same origin: the page was served by this host and port. */
    char ohp[300], hhp[300];
    bool https;
    if (!host || !host[0] || !origin_hostport(origin, ohp, sizeof(ohp), &https))
        return false;
    snprintf(hhp, sizeof(hhp), "%s", host);
    drop_default_port(ohp, https);
    drop_default_port(hhp, https);
    return !strcasecmp(ohp, hhp);
}

void sig_hub_refused(sig_hub_t *h, sig_refuse_t why)
{
    if ((unsigned)why < SIG_REFUSE_COUNT)
        h->refused[why]++;
}

int sig_hub_admit(sig_hub_t *h, const char *ip, const char *origin, const char *host,
                  sig_refuse_t *why)
{
    sig_refuse_t r;
    if (!h->cfg.enabled)
        r = SIG_REFUSE_NOT_FOUND;
    else if (h->draining)
        r = SIG_REFUSE_DRAINING;
    else if (!sig_origin_allowed(&h->cfg, origin, host))
        r = SIG_REFUSE_ORIGIN;
    else if ((uintptr_t)sig__map_get(&h->ips, ip) >= h->cfg.max_connections_per_ip)
        r = SIG_REFUSE_PER_IP;
    else
        return 0;
    h->refused[r]++;
    *why = r;
    return CMN_ELIMIT;
}

/* ---- Connections -------------------------------------------------------- */

sig_conn_t *sig_conn_open(sig_hub_t *h, void *handle, const char *ip, const char *host,
                          double now)
{
    sig_conn_t *c = cmn_calloc(1, sizeof(*c));
    c->handle = handle;
    snprintf(c->ip, sizeof(c->ip), "%s", ip ? ip : "");
    snprintf(c->host, sizeof(c->host), "%s", host ? host : "");
    c->tokens = h->cfg.burst;
    c->tokens_at = now;
    c->abuse_start = now;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    h->conns_total++;
    uintptr_t n = (uintptr_t)sig__map_get(&h->ips, c->ip);
    sig__map_put(&h->ips, c->ip, (void *)(n + 1));
    return c;
}

void sig__conn_detach(sig_hub_t *h, sig_peer_t *p, const char *reason)
{
    sig_conn_t *old = p->conn;
    old->peer = NULL;
    old->refresh_at = 0;
    old->closing = true;
    h->ops.close(h->ops.ud, old->handle, SIG_CLOSE_NORMAL, reason);
    p->conn = NULL;
}

void sig__away_unlink(sig_hub_t *h, sig_peer_t *p)
{
    if (!p->away_prev && !p->away_next && h->away != p)
        return;
    if (p->away_prev)
        p->away_prev->away_next = p->away_next;
    else if (h->away == p)
        h->away = p->away_next;
    if (p->away_next)
        p->away_next->away_prev = p->away_prev;
    p->away_prev = p->away_next = NULL;
    h->naway--;
}

void sig__peer_away(sig_hub_t *h, sig_peer_t *p, double until)
{
    p->away_until = until;
    p->away_prev = NULL;
    p->away_next = h->away;
    if (h->away)
        h->away->away_prev = p;
    h->away = p;
    h->naway++;
}

void sig_conn_gone(sig_hub_t *h, sig_conn_t *c, double now)
{
    if (c->fpend)
        sig__fed_conn_gone(h, c);
    sig_peer_t *p = c->peer;
    if (p && p->conn == c) {
        p->conn = NULL;
        if (c->closing || h->draining || h->cfg.resume_seconds == 0)
            sig__peer_remove(h, p, SIG_LEFT_CLOSED);
        else
            sig__peer_away(h, p, now + h->cfg.resume_seconds);
    }
    uintptr_t n = (uintptr_t)sig__map_get(&h->ips, c->ip);
    if (n <= 1)
        sig__map_del(&h->ips, c->ip);
    else
        sig__map_put(&h->ips, c->ip, (void *)(n - 1));
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    cmn_free(c);
}

/* ---- Rooms and peers --------------------------------------------------- */

sig_room_t *sig__room_find(sig_hub_t *h, const char *name)
{
    return sig__map_get(&h->rooms, name);
}

sig_peer_t *sig__room_peer(sig_room_t *r, const char *id)
{
    for (sig_peer_t *p = r ? r->head : NULL; p; p = p->next)
        if (!strcmp(p->id, id))
            return p;
    return NULL;
}

void sig__peer_new_resume(sig_hub_t *h, sig_peer_t *p)
{
    if (p->resume[0])
        sig__map_del(&h->resumes, p->resume);
    /* 32 random url-safe characters: 192 bits, unguessable; in a cluster
     * after the node's name and a dot, so any node knows whom to ask. */
    if (h->fed) {
        sig__fed_token(h, p->resume);
    } else {
        sig__random_id(p->resume);
        sig__random_id(p->resume + SIG_ID_LEN);
    }
    sig__map_put(&h->resumes, p->resume, p);
}

sig_room_t *sig__room_get(sig_hub_t *h, const char *name)
{
    sig_room_t *r = sig__room_find(h, name);
    if (!r) {
        r = cmn_calloc(1, sizeof(*r));
        r->name = cmn_strdup(name);
        sig__map_put(&h->rooms, r->name, r);
    }
    return r;
}

void sig__room_insert(sig_room_t *r, sig_peer_t *p)
{
    /* Members come in join order; only a resync or a degraded join can
     * bring one whose seq sorts before the last. */
    sig_peer_t *after = r->tail;
    while (after && p->seq && after->seq > p->seq)
        after = after->prev;
    p->prev = after;
    p->next = after ? after->next : r->head;
    if (p->next)
        p->next->prev = p;
    else
        r->tail = p;
    if (after)
        after->next = p;
    else
        r->head = p;
    p->room = r;
    r->npeers++;
}

void sig__room_unlink(sig_room_t *r, sig_peer_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        r->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        r->tail = p->prev;
    p->prev = p->next = NULL;
    r->npeers--;
}

bool sig__room_release(sig_hub_t *h, sig_room_t *r)
{
    if (r->nlocal || r->npending)
        return false;
    /* Only remote members are left (or none): they are the cluster's to
     * track, not ours. */
    while (r->head) {
        sig_peer_t *q = r->head;
        sig__room_unlink(r, q);
        cmn_free(q);
    }
    if (h->fed)
        sig__fed_room_close(h, r);
    sig__map_del(&h->rooms, r->name);
    cmn_free(r->name);
    cmn_free(r);
    return true;
}

sig_peer_t *sig__peer_add(sig_hub_t *h, const char *room, const char *id, sig_conn_t *c,
                          uint64_t seq)
{
    sig_room_t *r = sig__room_get(h, room);
    sig_peer_t *p = cmn_calloc(1, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->conn = c;
    p->seq = seq ? seq : r->tail ? r->tail->seq + 1 : 1;
    sig__room_insert(r, p);
    r->nlocal++;
    h->npeers++;
    if (c)
        c->peer = p;
    sig__peer_new_resume(h, p);
    return p;
}

void sig__peer_unlink(sig_hub_t *h, sig_peer_t *p)
{
    sig_room_t *r = p->room;
    bool local = !p->node[0];
    sig__away_unlink(h, p);
    if (p->conn) {
        p->conn->peer = NULL;
        p->conn->refresh_at = 0;
    }
    if (p->resume[0])
        sig__map_del(&h->resumes, p->resume);
    sig__queue_free(p);
    sig__stats_free(p);
    sig__room_unlink(r, p);
    if (local) {
        r->nlocal--;
        h->npeers--;
    }
    cmn_free(p->move);
    cmn_free(p);
    sig__room_release(h, r);
}

void sig__notify_left(sig_hub_t *h, sig_room_t *r, const char *id, const char *reason,
                      const sig_peer_t *except)
{
    if (!r->nlocal)
        return;
    sig__stats_forget(r, id);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("peer-left"));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "reason", json_string(reason));
    size_t len;
    char *text = sig__encode(o, &len);
    for (sig_peer_t *q = r->head; q; q = q->next)
        if (q != except)
            sig__deliver(h, q, text, len, NULL, NULL);
    cmn_free(text);
}

void sig__notify_joined(sig_hub_t *h, sig_peer_t *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("peer-joined"));
    json_object_set_new(o, "id", json_string(p->id));
    size_t len;
    char *text = sig__encode(o, &len);
    for (sig_peer_t *q = p->room->head; q; q = q->next)
        if (q != p)
            sig__deliver(h, q, text, len, NULL, NULL);
    cmn_free(text);
}

void sig__peer_remove(sig_hub_t *h, sig_peer_t *p, int reason)
{
    sig_room_t *r = p->room;
    h->left[reason]++;
    if (h->fed)
        sig__fed_left(h, p, reason);
    char id[SIG_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", p->id);
    /* Keep the room while the others hear about it. */
    r->npending++;
    sig__peer_unlink(h, p);
    sig__notify_left(h, r, id, sig__left_name(reason), NULL);
    r->npending--;
    sig__room_release(h, r);
}

int sig__deliver(sig_hub_t *h, sig_peer_t *p, const char *text, size_t len, const char *from,
                 const json_t *ref)
{
    if (p->node[0])
        return 0; /* a remote member: its node delivers (sig_fed.c) */
    if (p->conn) {
        if (!p->conn->closing)
            h->ops.send(h->ops.ud, p->conn->handle, text, len);
        return 0;
    }
    if (p->qlen >= h->cfg.resume_queue)
        return CMN_ELIMIT;
    sig_qmsg_t *q = cmn_calloc(1, sizeof(*q));
    q->text = cmn_malloc(len + 1);
    memcpy(q->text, text, len);
    q->text[len] = '\0';
    q->len = len;
    snprintf(q->from, sizeof(q->from), "%s", from ? from : "");
    if (ref)
        q->ref = json_incref((json_t *)ref);
    if (p->qtail)
        p->qtail->next = q;
    else
        p->qhead = q;
    p->qtail = q;
    p->qlen++;
    h->queued++;
    return 0;
}

/* ---- Timers ----------------------------------------------------------- */

/* The grace period of <p> ended: tell the senders of what it never got,
 * then the room. */
static void peer_expire(sig_hub_t *h, sig_peer_t *p)
{
    sig_qmsg_t *q = p->qhead;
    p->qhead = p->qtail = NULL;
    p->qlen = 0;
    while (q) {
        sig_qmsg_t *n = q->next;
        sig_peer_t *s = q->from[0] ? sig__room_peer(p->room, q->from) : NULL;
        h->expired++;
        if (s && s != p) {
            json_t *o = sig__undelivered(p->id, "the peer left before it could receive this",
                                         q->ref);
            h->errors[SIG_E_UNDELIVERED]++;
            if (s->node[0] && h->fed) {
                sig__fed_undelivered(h, p->room, s->id, o);
            } else {
                size_t len;
                char *text = sig__encode(o, &len);
                sig__deliver(h, s, text, len, NULL, NULL);
                cmn_free(text);
            }
        }
        cmn_free(q->text);
        if (q->ref)
            json_decref(q->ref);
        cmn_free(q);
        q = n;
    }
    sig__peer_remove(h, p, SIG_LEFT_TIMEOUT);
}

void sig__conn_refresh_at(sig_hub_t *h, sig_conn_t *c, double now)
{
    c->refresh_at = now + 0.8 * h->cfg.credential_ttl;
}

void sig_hub_tick(sig_hub_t *h, double now)
{
    /* Expire one at a time: an expiry may queue notices for other away
     * peers, never free them, but restart the walk to be safe. */
    for (bool again = true; again;) {
        again = false;
        for (sig_peer_t *p = h->away; p; p = p->away_next) {
            if (now >= p->away_until && !p->move) {
                peer_expire(h, p);
                again = true;
                break;
            }
        }
    }
    for (sig_conn_t *c = h->conns; c; c = c->next) {
        if (!c->refresh_at || now < c->refresh_at || c->closing)
            continue;
        json_t *o = sig__reply("ice-servers", NULL);
        json_object_set_new(o, "iceServers", sig__ice_json(h, c, now));
        json_object_set_new(o, "ttl", json_integer(h->cfg.credential_ttl));
        sig__send(h, c, o);
        sig__conn_refresh_at(h, c, now);
        h->refreshes++;
    }
    if (h->fed)
        sig__fed_tick(h, now);
}

void sig_hub_drain(sig_hub_t *h)
{
    h->draining = true;
}

bool sig_hub_draining(const sig_hub_t *h)
{
    return h->draining;
}

void sig_hub_close_all(sig_hub_t *h, int code, const char *reason)
{
    for (sig_conn_t *c = h->conns; c; c = c->next) {
        if (c->closing)
            continue;
        c->closing = true;
        h->ops.close(h->ops.ud, c->handle, code, reason);
    }
}

size_t sig_hub_nconns(const sig_hub_t *h)
{
    return h->nconns;
}
