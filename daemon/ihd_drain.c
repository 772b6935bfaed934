/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_drain.c: the drain, the one way icehubd stops taking new work and
 * waits for what it holds to end. It starts on SIGTERM, POST /api/drain or
 * after a live upgrade handed the UDP side to a new process; from then on
 * /readyz answers 503, the relay refuses new allocations (turn/ decides how:
 * 300 Try Alternate or 403, turn_shared_set_draining), the signaling hub
 * refuses new WebSockets and joins and closes its peers after
 * signal.drain_delay, and everything else goes on. The main thread asks
 * ihd_drain_done about once a second and stops the process when it says so.
 *
 * The state is one struct under one mutex (ihd_drain_state copies it), so
 * any thread, and anything that publishes it elsewhere later, reads it the
 * same way. Left out: what stopping does (icehubd.c).
 */
#include "ihd.h"

#include "common/cmn_log.h"

/* Signaling keeps its own pace: peers get their close after
 * signal.drain_delay and a few seconds to answer it (ihd_ws.c). */
#define IHD_DRAIN_WS_GRACE 5.0

static const char *const reason_names[] = {"none", "signal", "api", "upgrade"};

const char *ihd_drain_reason_name(ihd_drain_reason_t r)
{
    return (unsigned)r < CMN_ARRAY_LEN(reason_names) ? reason_names[r] : "?";
}

bool ihd_drain_start(ihd_server_t *srv, ihd_drain_reason_t why)
{
    pthread_mutex_lock(&srv->drain_mu);
    bool fresh = !srv->drain.active;
    if (fresh) {
        srv->drain.active = true;
        srv->drain.reason = why;
        srv->drain.since_wall = ihd_wallclock();
        srv->drain.since = ihd_now();
    }
    pthread_mutex_unlock(&srv->drain_mu);
    if (!fresh)
        return false;
    atomic_store(&srv->draining, 1);
    turn_shared_set_draining(srv->turn_shared, true);
    ihd_http_drain_start(srv);
    const ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    cmn_info("main", "draining (%s): new allocations are %s; waiting up to %d s for %u "
                     "allocation(s) to end",
             ihd_drain_reason_name(why),
             cfg->s.turn.alternate_servers.n ? "sent to turn.alternate_servers (300)"
                                             : "refused (403)",
             cfg->s.turn.drain_timeout, turn_shared_active(srv->turn_shared));
    if (srv->main_wakefd >= 0) {
        uint64_t one = 1;
        (void)!write(srv->main_wakefd, &one, sizeof(one));
    }
    return true;
}

void ihd_drain_state(ihd_server_t *srv, ihd_drain_info_t *out)
{
    pthread_mutex_lock(&srv->drain_mu);
    *out = srv->drain;
    pthread_mutex_unlock(&srv->drain_mu);
    if (out->active) {
        const ihd_cfg_t *cfg = atomic_load(&srv->cfg);
        out->deadline_wall = out->since_wall + cfg->s.turn.drain_timeout;
    }
    out->allocations = turn_shared_active(srv->turn_shared);
    out->websockets = ihd_http_ws_open(srv);
    out->connections = (uint64_t)CMN_MAX(0, atomic_load(&srv->tcp_conns));
}

bool ihd_drain_done(ihd_server_t *srv, double now)
{
    ihd_drain_info_t d;
    ihd_drain_state(srv, &d);
    if (!d.active)
        return false;
    const ihd_cfg_t *cfg = atomic_load(&srv->cfg);
    double waited = now - d.since;
    /* After an upgrade this process serves only its stream connections:
     * it stays while any is open, allocation or not. */
    bool turn_idle = d.allocations == 0 && (d.reason != IHD_DRAIN_UPGRADE || d.connections == 0);
    bool turn_done = turn_idle || waited >= cfg->s.turn.drain_timeout;
    bool ws_done = d.websockets == 0 ||
                   waited >= cfg->s.signal.drain_delay + IHD_DRAIN_WS_GRACE;
    if (turn_done && ws_done) {
        if (!turn_idle)
            cmn_info("main", "turn.drain_timeout (%d s) passed: ending %llu allocation(s) and "
                             "%llu connection(s)",
                     cfg->s.turn.drain_timeout, (unsigned long long)d.allocations,
                     (unsigned long long)d.connections);
        return true;
    }
    return false;
}
