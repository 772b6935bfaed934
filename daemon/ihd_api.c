/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_api.c: the usage and admin JSON API under /api/, and the dashboard
 * page at /dashboard. Runs on the HTTP thread and never blocks a relay
 * worker: allocations come from the workers' once-a-second snapshots and
 * commands go through their mailboxes (ihd_admin.c).
 *
 * Every /api/ request needs admin.enabled (else 404, as if the API did not
 * exist) and "Authorization: Bearer <admin.token>" (else 401 with
 * WWW-Authenticate, and nothing is done). Errors are JSON:
 * {"error": code, "message": text}.
 *
 *   GET    /api/summary                 what the dashboard plots
 *   GET    /api/usage                   usage and cost this period (ihd_usage_json)
 *   GET    /api/allocations[?user=U&limit=N] live allocations (oldest first)
 *   GET    /api/allocations/{id}        one of them
 *   DELETE /api/allocations/{id}        end it (reason "admin")
 *   POST   /api/users/{name}/revoke[?ttl=S] end the user's allocations, refuse new ones
 *                                       (403) for ttl seconds (admin.revocation_ttl)
 *   DELETE /api/users/{name}/revoke     allow the user again
 *   GET    /api/users/revoked           the revoked names
 *   GET    /api/drain                   the drain state (ihd_drain_state)
 *   POST   /api/drain                   start draining, as SIGTERM does
 *
 * Left out: the snapshots and commands themselves (ihd_admin.c).
 */
#include "ihd.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "common/cmn_log.h"
#include "signal/sig_assets.h"

#define API_TOP_USERS 10

/* ---- Responses -------------------------------------------------------- */

static void method_not_allowed(ihd_http_resp_t *r, const char *allow)
{
    ihd_http_resp_error(r, 405, "method-not-allowed", "method not allowed here");
    r->extra_header_name = "allow:";
    r->extra_header_value = allow;
}

static json_t *time_json(double wall)
{
    char buf[40];
    time_t t = (time_t)wall;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static json_t *alloc_json(const ihd_admin_list_t *l, const ihd_admin_alloc_t *e,
                          const char *realm, double now_wall)
{
    json_t *relay = json_array(), *peers = json_array();
    for (size_t i = 0; i < e->nrelay; i++)
        json_array_append_new(relay, acct_json_addr(&e->relay[i], true));
    for (size_t i = 0; i < e->npeers; i++)
        json_array_append_new(peers, acct_json_addr(&e->peers[i], false));
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer((json_int_t)e->id));
    json_object_set_new(j, "user", acct_json_str(ihd_admin_str(l, e->user_off)));
    json_object_set_new(j, "quota_user", acct_json_str(ihd_admin_str(l, e->quota_user_off)));
    json_object_set_new(j, "realm", acct_json_str(realm));
    json_object_set_new(j, "transport", json_string(turn_transport_name((turn_transport_t)e->transport)));
    json_object_set_new(j, "client", acct_json_addr(&e->client, true));
    json_object_set_new(j, "server", acct_json_addr(&e->server, true));
    json_object_set_new(j, "relay", relay);
    json_object_set_new(j, "peers", peers);
    json_object_set_new(j, "peers_total", json_integer(e->peers_total));
    json_object_set_new(j, "started", time_json(e->started_wall));
    json_object_set_new(j, "started_unix", json_real(floor(e->started_wall * 1000) / 1000));
    json_object_set_new(j, "age_s", json_real(floor((now_wall - e->started_wall) * 10) / 10));
    json_object_set_new(j, "to_peer_bytes", json_integer((json_int_t)e->c.to_peer_bytes));
    json_object_set_new(j, "to_peer_packets", json_integer((json_int_t)e->c.to_peer_packets));
    json_object_set_new(j, "to_client_bytes", json_integer((json_int_t)e->c.to_client_bytes));
    json_object_set_new(j, "to_client_packets",
                        json_integer((json_int_t)e->c.to_client_packets));
    json_object_set_new(j, "to_peer_bps", json_integer((json_int_t)llround(e->to_peer_bps)));
    json_object_set_new(j, "to_client_bps",
                        json_integer((json_int_t)llround(e->to_client_bps)));
    json_object_set_new(j, "worker", json_integer(e->worker));
    return j;
}

/* ---- Routes ----------------------------------------------------------- */

static void get_allocations(ihd_server_t *srv, const ihd_api_req_t *q, ihd_http_resp_t *r)
{
    char realm[128];
    ihd_admin_realm(srv, realm, sizeof(realm));
    ihd_admin_list_t l;
    ihd_admin_list(srv, &l);
    double now = ihd_wallclock();
    json_t *arr = json_array();
    size_t count = 0;
    for (size_t i = 0; i < l.n; i++) {
        const ihd_admin_alloc_t *e = &l.v[i];
        if (q->has_user && strcmp(ihd_admin_str(&l, e->user_off), q->user) != 0 &&
            strcmp(ihd_admin_str(&l, e->quota_user_off), q->user) != 0)
            continue;
        if (count++ < q->limit)
            json_array_append_new(arr, alloc_json(&l, e, realm, now));
    }
    json_t *j = json_object();
    json_object_set_new(j, "count", json_integer((json_int_t)count));
    json_object_set_new(j, "truncated", json_boolean(count > q->limit));
    json_object_set_new(j, "snapshot_age_s", json_real(floor(l.age * 100) / 100));
    json_object_set_new(j, "allocations", arr);
    ihd_admin_list_dispose(&l);
    ihd_http_resp_json(r, 200, j);
}

static void one_allocation(ihd_server_t *srv, const ihd_http_req_t *req, uint64_t id,
                           ihd_http_resp_t *r)
{
    if (req->method == IHD_HTTP_DELETE) {
        int rc = ihd_admin_end_alloc(srv, id);
        if (rc == CMN_ENOENT) {
            ihd_http_resp_error(r, 404, "not-found", "no live allocation with this id");
        } else if (rc < 0) {
            ihd_http_resp_error(r, 503, "busy", "the relay workers did not answer in time");
        } else {
            cmn_info("admin", "allocation %llu ended through the admin API",
                     (unsigned long long)id);
            json_t *j = json_object();
            json_object_set_new(j, "id", json_integer((json_int_t)id));
            json_object_set_new(j, "ended", json_true());
            json_object_set_new(j, "reason", json_string(turn_end_reason_name(TURN_END_ADMIN)));
            ihd_http_resp_json(r, 200, j);
        }
        return;
    }
    char realm[128];
    ihd_admin_realm(srv, realm, sizeof(realm));
    ihd_admin_list_t l;
    ihd_admin_list(srv, &l);
    const ihd_admin_alloc_t *hit = NULL;
    for (size_t i = 0; i < l.n && !hit; i++)
        if (l.v[i].id == id)
            hit = &l.v[i];
    if (hit)
        ihd_http_resp_json(r, 200, alloc_json(&l, hit, realm, ihd_wallclock()));
    else
        ihd_http_resp_error(r, 404, "not-found", "no live allocation with this id");
    ihd_admin_list_dispose(&l);
}

static json_t *usage_json(ihd_server_t *srv);

/* Whether <user> is over quota.user_bytes this period, by the usage table.
 * A revocation outranks a quota block in turn_shared, so lifting one must
 * put the other back: the usage table reports each crossing only once. */
static bool over_byte_quota(ihd_server_t *srv, const char *user)
{
    json_t *u = usage_json(srv);
    if (!u)
        return false;
    json_int_t limit = json_integer_value(json_object_get(u, "user_bytes_limit"));
    json_t *users = json_object_get(u, "users"), *row;
    size_t i;
    bool over = false;
    json_array_foreach(users, i, row) {
        if (limit > 0 && !strcmp(json_string_value(json_object_get(row, "user")) ?: "", user))
            over = json_integer_value(json_object_get(row, "to_peer_bytes")) +
                       json_integer_value(json_object_get(row, "to_client_bytes")) >=
                   limit;
    }
    json_decref(u);
    return over;
}

/* <q>: the user (and ?ttl=, else admin.revocation_ttl) from the path. */
static void user_revoke(ihd_server_t *srv, const ihd_http_req_t *req, const ihd_api_req_t *q,
                        ihd_http_resp_t *r)
{
    const char *user = q->user;
    bool revoke = req->method == IHD_HTTP_POST;
    ihd_revoke_t rv = {0, true};
    int rc;
    if (revoke) {
        uint64_t ttl = q->has_ttl ? q->ttl
                                  : (uint64_t)atomic_load(&srv->cfg)->s.admin.revocation_ttl;
        rc = ihd_admin_revoke(srv, user, (double)ttl, &rv);
        if (rc == CMN_ELIMIT) {
            ihd_http_resp_error(r, 503, "too-many", "the revocation list is full");
            return;
        }
    } else {
        rc = ihd_admin_unrevoke(srv, user, &rv.persisted);
        if (rc == CMN_ENOENT) {
            ihd_http_resp_error(r, 404, "not-revoked", "this user is not revoked");
            return;
        }
    }
    /* In a cluster every node hears of it (within a second or two). */
    ihd_cluster_revoke(srv, user, revoke, rv.until);
    if (rc == 0)
        cmn_info("admin", "user \"%s\" %s through the admin API", user,
                 revoke ? "revoked" : "un-revoked");
    bool quota = false;
    if (!revoke && over_byte_quota(srv, user)) {
        turn_shared_block_user(srv->turn_shared, user, TURN_BLOCK_QUOTA);
        cmn_info("admin", "user \"%s\" stays blocked: over quota.user_bytes", user);
        quota = true;
    }
    /* The workers end the user's allocations at their next tick (within a
     * second); these are the ones the latest snapshots list. */
    ihd_admin_list_t l;
    ihd_admin_list(srv, &l);
    json_int_t live = 0;
    for (size_t i = 0; i < l.n; i++)
        if (!strcmp(ihd_admin_str(&l, l.v[i].quota_user_off), user))
            live++;
    ihd_admin_list_dispose(&l);
    json_t *j = json_object();
    json_object_set_new(j, "user", acct_json_str(user));
    json_object_set_new(j, "revoked", json_boolean(revoke));
    json_object_set_new(j, "changed", json_boolean(rc == 0));
    json_object_set_new(j, "blocked", revoke  ? json_string("revoked")
                                      : quota ? json_string("quota")
                                              : json_null());
    json_object_set_new(j, "live_allocations", json_integer(live));
    json_object_set_new(j, "until", revoke ? time_json(rv.until) : json_null());
    json_object_set_new(j, "persisted", json_boolean(rv.persisted));
    ihd_http_resp_json(r, 200, j);
}

static void route_revoked(ihd_server_t *srv, ihd_http_resp_t *r)
{
    size_t n;
    acct_revoked_t *v = ihd_admin_revoked(srv, &n);
    json_t *names = json_array(), *full = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(names, acct_json_str(v[i].user));
        json_t *e = json_object();
        json_object_set_new(e, "user", acct_json_str(v[i].user));
        json_object_set_new(e, "since", time_json(v[i].since));
        json_object_set_new(e, "until", time_json(v[i].until));
        json_array_append_new(full, e);
    }
    acct_revokes_list_free(v, n);
    json_t *j = json_object();
    json_object_set_new(j, "users", names);
    json_object_set_new(j, "revocations", full);
    ihd_http_resp_json(r, 200, j);
}

/* The usage table's JSON (ihd_usage.c), parsed; NULL if it cannot be. */
static json_t *usage_json(ihd_server_t *srv)
{
    size_t len = 0;
    char *text = ihd_usage_json(srv, &len);
    if (!text)
        return NULL;
    json_error_t err;
    json_t *j = json_loadb(text, len, 0, &err);
    cmn_free(text);
    return j;
}

static void route_usage(ihd_server_t *srv, ihd_http_resp_t *r)
{
    json_t *j = usage_json(srv);
    if (!j) {
        ihd_http_resp_error(r, 503, "not-available", "usage accounting is not available");
        return;
    }
    ihd_http_resp_json(r, 200, j);
}

/* ---- Drain ------------------------------------------------------------- */

static json_t *drain_json(ihd_server_t *srv)
{
    ihd_drain_info_t d;
    ihd_drain_state(srv, &d);
    json_t *j = json_object();
    json_object_set_new(j, "draining", json_boolean(d.active));
    json_object_set_new(j, "reason", d.active ? json_string(ihd_drain_reason_name(d.reason))
                                              : json_null());
    json_object_set_new(j, "since", d.active ? time_json(d.since_wall) : json_null());
    json_object_set_new(j, "deadline", d.active ? time_json(d.deadline_wall) : json_null());
    double left = d.active ? CMN_MAX(0.0, d.deadline_wall - ihd_wallclock()) : 0.0;
    json_object_set_new(j, "seconds_left", json_real(floor(left * 10) / 10));
    json_object_set_new(j, "allocations", json_integer((json_int_t)d.allocations));
    json_object_set_new(j, "websockets", json_integer(d.websockets));
    json_object_set_new(j, "connections", json_integer((json_int_t)d.connections));
    return j;
}

static void route_drain(ihd_server_t *srv, const ihd_http_req_t *req, ihd_http_resp_t *r)
{
    bool changed = false;
    if (req->method == IHD_HTTP_POST) {
        changed = ihd_drain_start(srv, IHD_DRAIN_API);
        if (changed)
            cmn_info("admin", "drain started through the admin API");
    }
    json_t *j = drain_json(srv);
    if (req->method == IHD_HTTP_POST)
        json_object_set_new(j, "changed", json_boolean(changed));
    ihd_http_resp_json(r, 200, j);
}

/* ---- The dashboard's summary ------------------------------------------ */

typedef struct user_agg_s {
    const char *name;           /* borrowed from the list's pool */
    unsigned allocations;
    double to_peer_bps, to_client_bps;
    uint64_t to_peer_bytes, to_client_bytes;
} user_agg_t;

static int by_name_ptr(const void *x, const void *y)
{
    return strcmp(((const user_agg_t *)x)->name, ((const user_agg_t *)y)->name);
}

/* Busiest first: by rate now, then by bytes so far. */
static int by_busy(const void *x, const void *y)
{
    const user_agg_t *a = x, *b = y;
    double ra = a->to_peer_bps + a->to_client_bps, rb = b->to_peer_bps + b->to_client_bps;
    if (ra != rb)
        return ra < rb ? 1 : -1;
    uint64_t ba = a->to_peer_bytes + a->to_client_bytes, bb = b->to_peer_bytes + b->to_client_bytes;
    return ba < bb ? 1 : ba > bb ? -1 : strcmp(a->name, b->name);
}

/* Live allocations per quota user, busiest first; returns the count. */
static size_t users_live(const ihd_admin_list_t *l, user_agg_t **out)
{
    user_agg_t *v = cmn_calloc(l->n + 1, sizeof(*v));
    for (size_t i = 0; i < l->n; i++)
        v[i].name = ihd_admin_str(l, l->v[i].quota_user_off);
    /* Sort the names, keeping each allocation's numbers with it. */
    for (size_t i = 0; i < l->n; i++) {
        v[i].allocations = 1;
        v[i].to_peer_bps = l->v[i].to_peer_bps;
        v[i].to_client_bps = l->v[i].to_client_bps;
        v[i].to_peer_bytes = l->v[i].c.to_peer_bytes;
        v[i].to_client_bytes = l->v[i].c.to_client_bytes;
    }
    if (l->n)
        qsort(v, l->n, sizeof(*v), by_name_ptr);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (n && !strcmp(v[n - 1].name, v[i].name)) {
            user_agg_t *u = &v[n - 1];
            u->allocations++;
            u->to_peer_bps += v[i].to_peer_bps;
            u->to_client_bps += v[i].to_client_bps;
            u->to_peer_bytes += v[i].to_peer_bytes;
            u->to_client_bytes += v[i].to_client_bytes;
        } else {
            v[n++] = v[i];
        }
    }
    if (n)
        qsort(v, n, sizeof(*v), by_busy);
    *out = v;
    return n;
}

static uint64_t usage_bytes(json_t *u)
{
    return (uint64_t)json_integer_value(json_object_get(u, "to_peer_bytes")) +
           (uint64_t)json_integer_value(json_object_get(u, "to_client_bytes"));
}

static int by_usage(const void *x, const void *y)
{
    uint64_t a = usage_bytes(*(json_t *const *)x), b = usage_bytes(*(json_t *const *)y);
    return a < b ? 1 : a > b ? -1 : 0;
}

/* This period's usage, cut to what the dashboard shows: period, currency,
 * totals and the top users by bytes. NULL without a usage table. */
static json_t *usage_summary(ihd_server_t *srv)
{
    json_t *u = usage_json(srv);
    if (!u)
        return NULL;
    json_t *out = json_object();
    static const char *const keep[] = {"period", "currency", "totals"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(keep); i++) {
        json_t *v = json_object_get(u, keep[i]);
        if (v)
            json_object_set(out, keep[i], v);
    }
    json_t *users = json_object_get(u, "users");
    json_t *top = json_array();
    size_t n = json_is_array(users) ? json_array_size(users) : 0;
    if (n) {
        json_t **v = cmn_calloc(n, sizeof(*v));
        for (size_t i = 0; i < n; i++)
            v[i] = json_array_get(users, i);
        qsort(v, n, sizeof(*v), by_usage);
        for (size_t i = 0; i < n && i < API_TOP_USERS; i++)
            json_array_append(top, v[i]);
        cmn_free(v);
    }
    json_object_set_new(out, "top_users", top);
    json_decref(u);
    return out;
}

static void route_summary(ihd_server_t *srv, ihd_http_resp_t *r)
{
    ihd_admin_list_t l;
    ihd_admin_list(srv, &l);
    double up = 0, down = 0;
    uint64_t upb = 0, downb = 0;
    for (size_t i = 0; i < l.n; i++) {
        up += l.v[i].to_peer_bps;
        down += l.v[i].to_client_bps;
        upb += l.v[i].c.to_peer_bytes;
        downb += l.v[i].c.to_client_bytes;
    }
    user_agg_t *users;
    size_t nu = users_live(&l, &users);
    json_t *top = json_array();
    for (size_t i = 0; i < nu && i < API_TOP_USERS; i++) {
        json_t *u = json_object();
        json_object_set_new(u, "user", acct_json_str(users[i].name));
        json_object_set_new(u, "allocations", json_integer(users[i].allocations));
        json_object_set_new(u, "to_peer_bps", json_integer((json_int_t)llround(users[i].to_peer_bps)));
        json_object_set_new(u, "to_client_bps",
                            json_integer((json_int_t)llround(users[i].to_client_bps)));
        json_object_set_new(u, "to_peer_bytes", json_integer((json_int_t)users[i].to_peer_bytes));
        json_object_set_new(u, "to_client_bytes",
                            json_integer((json_int_t)users[i].to_client_bytes));
        json_array_append_new(top, u);
    }
    size_t nrev;
    acct_revoked_t *rev = ihd_admin_revoked(srv, &nrev);
    acct_revokes_list_free(rev, nrev);

    double now = ihd_wallclock();
    json_t *tp = json_object();
    json_object_set_new(tp, "to_peer", json_integer((json_int_t)llround(up)));
    json_object_set_new(tp, "to_client", json_integer((json_int_t)llround(down)));
    json_object_set_new(tp, "total", json_integer((json_int_t)llround(up + down)));
    json_t *lb = json_object();
    json_object_set_new(lb, "to_peer", json_integer((json_int_t)upb));
    json_object_set_new(lb, "to_client", json_integer((json_int_t)downb));
    json_t *j = json_object();
    json_object_set_new(j, "time_unix", json_real(floor(now * 1000) / 1000));
    json_object_set_new(j, "uptime_s", json_real(floor((now - srv->start_time) * 10) / 10));
    json_object_set_new(j, "workers", json_integer(srv->nworkers));
    json_object_set_new(j, "allocations", json_integer((json_int_t)l.n));
    json_object_set_new(j, "snapshot_age_s", json_real(floor(l.age * 100) / 100));
    json_object_set_new(j, "throughput_bps", tp);
    json_object_set_new(j, "live_bytes", lb);
    json_object_set_new(j, "users_live", json_integer((json_int_t)nu));
    json_object_set_new(j, "top_users", top);
    json_object_set_new(j, "revoked_users", json_integer((json_int_t)nrev));
    json_object_set_new(j, "draining", json_boolean(atomic_load(&srv->draining)));
    json_t *usage = usage_summary(srv);
    json_object_set_new(j, "usage", usage ? usage : json_null());
    cmn_free(users);
    ihd_admin_list_dispose(&l);
    ihd_http_resp_json(r, 200, j);
}

static void api_route(ihd_server_t *srv, const ihd_http_req_t *req, ihd_http_resp_t *r)
{
    ihd_api_req_t q;
    ihd_api_parse((int)req->method, req->path, req->query, &q);
    if (q.route == IHD_API_NOT_FOUND) {
        ihd_http_resp_error(r, 404, "not-found", "no such API endpoint");
        return;
    }
    if (q.bad) {
        ihd_http_resp_error(r, 400, q.bad, q.bad_msg);
        return;
    }
    if (q.allow) {
        method_not_allowed(r, q.allow);
        return;
    }
    switch (q.route) {
    case IHD_API_SUMMARY: route_summary(srv, r); break;
    case IHD_API_USAGE: route_usage(srv, r); break;
    case IHD_API_ALLOCATIONS: get_allocations(srv, &q, r); break;
    case IHD_API_REVOKED: route_revoked(srv, r); break;
    case IHD_API_DRAIN: route_drain(srv, req, r); break;
    case IHD_API_ALLOCATION: one_allocation(srv, req, q.id, r); break;
    case IHD_API_REVOKE: user_revoke(srv, req, &q, r); break;
    default: break;
    }
}

static bool is_dashboard(const char *path)
{
    return !strcmp(path, "/dashboard") || !strcmp(path, "/dashboard/") ||
           !strncmp(path, "/dashboard.", 11);
}

int ihd_api_handle(ihd_server_t *srv, const ihd_http_req_t *req, ihd_http_resp_t *resp)
{
    bool api = !strncmp(req->path, "/api/", 5) || !strcmp(req->path, "/api");
    if (!api && !is_dashboard(req->path))
        return CMN_ENOENT;
    if (!srv->admin || !ihd_admin_enabled(srv)) {
        ihd_http_resp_error(resp, 404, "not-found",
                            "the admin API and the dashboard are disabled: set admin.enabled = true "
                            "and admin.token (e.g. --admin.enabled=true --admin.token=...)");
        return 0;
    }
    if (!api) {
        /* The page itself holds no data; its requests carry the token. */
        if (strncmp(req->path, "/dashboard.", 11) != 0) {
            const sig_asset_t *a = sig_asset_find("/dashboard.html");
            if (!a)
                return CMN_ENOENT;
            if (req->method != IHD_HTTP_GET) {
                method_not_allowed(resp, "GET");
                return 0;
            }
            ihd_http_resp_asset(resp, a);
            return 0;
        }
        return CMN_ENOENT; /* /dashboard.js etc.: the embedded assets */
    }
    if (!ihd_admin_auth(srv, req->authorization)) {
        ihd_http_resp_error(resp, 401, "unauthorized",
                            "expected an Authorization: Bearer header with admin.token");
        resp->extra_header_name = "www-authenticate:";
        resp->extra_header_value = "Bearer realm=\"icehub-admin\"";
        return 0;
    }
    api_route(srv, req, resp);
    return 0;
}
