/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_fed.c: the hub's side of the Redis thread, on the HTTP thread. It
 * turns the hub's cluster requests (sig_fed_req_t) into Redis commands
 * (channel names, keys, which script with which arguments) and queues
 * them for the Redis thread; and it hands what the Redis thread queued
 * back to the hub in order (channel messages, answers, heartbeats, the
 * link). Thin: what a request means is decided in signal/sig_fed.c, what
 * a script does is in ihd_redis_lua.c.
 */
#include "ihd_redis.h"

#include "signal/sig.h"

static void key(ihd_rcmd_t *c, const ihd_redis_cfg_t *cfg, const char *kind, const char *name)
{
    size_t pl = strlen(cfg->prefix), kl = strlen(kind), nl = strlen(name);
    char *k = cmn_malloc(pl + kl + nl + 1);
    memcpy(k, cfg->prefix, pl);
    memcpy(k + pl, kind, kl);
    memcpy(k + pl + kl, name, nl + 1);
    ihd_rcmd_arg(c, k, pl + kl + nl);
    cmn_free(k);
}

static ihd_rcmd_t *eval(const char *script, int nkeys, ihd_rreply_t reply, uint64_t id)
{
    ihd_rcmd_t *c = ihd_rcmd_new(reply, id, NULL);
    ihd_rcmd_str(c, "EVAL");
    ihd_rcmd_str(c, script);
    ihd_rcmd_num(c, nkeys);
    return c;
}

/* The four keys a room's scripts start with. */
static void room_keys(ihd_rcmd_t *c, const ihd_redis_cfg_t *cfg, const char *room,
                      const char *set_node)
{
    key(c, cfg, "rm:", room);
    key(c, cfg, "rs:", room);
    key(c, cfg, "nr:", set_node);
}

static ihd_rcmd_t *build(const ihd_redis_cfg_t *cfg, const sig_fed_req_t *q)
{
    ihd_rreply_t rr = q->id ? IHD_RR_HUB : IHD_RR_NONE;
    ihd_rcmd_t *c = NULL;
    switch (q->op) {
    case SIG_FED_SUB:
    case SIG_FED_UNSUB:
        c = ihd_rcmd_new(q->op == SIG_FED_SUB ? IHD_RR_SUB : IHD_RR_UNSUB, 0, q->room);
        ihd_rcmd_str(c, q->op == SIG_FED_SUB ? "SUBSCRIBE" : "UNSUBSCRIBE");
        key(c, cfg, "r:", q->room);
        return c;
    case SIG_FED_PUB_ROOM:
    case SIG_FED_PUB_NODE:
        c = ihd_rcmd_new(IHD_RR_NONE, 0, NULL);
        ihd_rcmd_str(c, "PUBLISH");
        key(c, cfg, q->op == SIG_FED_PUB_ROOM ? "r:" : "n:",
            q->op == SIG_FED_PUB_ROOM ? q->room : q->node);
        ihd_rcmd_arg(c, q->text, q->len);
        return c;
    case SIG_FED_JOIN:
        c = eval(ihd_lua_join, 4, rr, q->id);
        room_keys(c, cfg, q->room, cfg->node);
        key(c, cfg, "r:", q->room);
        ihd_rcmd_str(c, q->peer);
        ihd_rcmd_str(c, cfg->node);
        ihd_rcmd_num(c, q->max);
        ihd_rcmd_arg(c, q->text, q->len);
        ihd_rcmd_str(c, q->room);
        return c;
    case SIG_FED_LEAVE:
        c = eval(ihd_lua_leave, 4, rr, q->id);
        room_keys(c, cfg, q->room, cfg->node);
        key(c, cfg, "r:", q->room);
        ihd_rcmd_str(c, q->peer);
        ihd_rcmd_str(c, cfg->node);
        ihd_rcmd_arg(c, q->text, q->len);
        ihd_rcmd_str(c, q->room);
        return c;
    case SIG_FED_MOVE:
        c = eval(ihd_lua_move, 5, rr, q->id);
        room_keys(c, cfg, q->room, q->node);
        key(c, cfg, "nr:", cfg->node);
        key(c, cfg, "r:", q->room);
        ihd_rcmd_str(c, q->peer);
        ihd_rcmd_str(c, q->node);
        ihd_rcmd_str(c, cfg->node);
        ihd_rcmd_arg(c, q->text, q->len);
        ihd_rcmd_str(c, q->room);
        return c;
    case SIG_FED_SYNC:
        c = eval(ihd_lua_sync, 4, rr, q->id);
        room_keys(c, cfg, q->room, cfg->node);
        key(c, cfg, "r:", q->room);
        ihd_rcmd_str(c, cfg->node);
        ihd_rcmd_arg(c, q->text, q->len);
        ihd_rcmd_str(c, q->room);
        for (size_t i = 0; i < q->nlist; i++)
            ihd_rcmd_str(c, q->list[i]);
        return c;
    case SIG_FED_PRUNE:
        c = eval(ihd_lua_prune, 1, rr, q->id);
        key(c, cfg, "nr:", cfg->node);
        ihd_rcmd_str(c, cfg->node);
        ihd_rcmd_str(c, cfg->prefix);
        for (size_t i = 0; i < q->nlist; i++)
            ihd_rcmd_str(c, q->list[i]);
        return c;
    case SIG_FED_REAP:
        c = eval(ihd_lua_reap, 2, IHD_RR_REAP, 0);
        key(c, cfg, "node:", q->node);
        key(c, cfg, "nr:", q->node);
        ihd_rcmd_str(c, q->node);
        ihd_rcmd_str(c, cfg->prefix);
        return c;
    default:
        return NULL;
    }
}

int ihd_fed_request(ihd_redis_t *r, const sig_fed_req_t *q)
{
    if (!r)
        return CMN_EAGAIN;
    ihd_rcmd_t *c = build(ihd_redis_cfg(r), q);
    return c ? ihd_redis_submit(r, c) : CMN_EINVAL;
}

void ihd_fed_input(ihd_redis_t *r, sig_hub_t *hub, double now)
{
    if (!r)
        return;
    for (ihd_rin_t *in = ihd_redis_take(r), *n; in; in = n) {
        n = in->next;
        switch (in->kind) {
        case IHD_RIN_LINK: sig_hub_fed_link(hub, in->status != 0, now); break;
        case IHD_RIN_ROOM: sig_hub_fed_message(hub, in->room, in->data, in->len, now); break;
        case IHD_RIN_NODE: sig_hub_fed_message(hub, NULL, in->data, in->len, now); break;
        case IHD_RIN_HEARTBEAT: sig_hub_fed_node(hub, in->data, in->len, now); break;
        case IHD_RIN_SUBSCRIBED: sig_hub_fed_subscribed(hub, in->room, now); break;
        case IHD_RIN_RESULT: sig_hub_fed_result(hub, in->id, in->status, now); break;
        case IHD_RIN_OVERFLOW: sig_hub_fed_resync(hub, now); break;
        }
        ihd_rin_free(in);
    }
}
