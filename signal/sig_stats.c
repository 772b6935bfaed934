/* icehub - SPDX-License-Identifier: MIT
 *
 * sig_stats.c: the hub's icehub_signal_* metrics for /metrics. The hub
 * and the page renderer share one thread, so this reads the hub's plain
 * counters directly. Names are interface: add, never rename.
 */
#include "sig_int.h"

static void one(cmn_prom_t *p, const char *name, const char *type, const char *help,
                uint64_t v)
{
    cmn_prom_family(p, name, type, help);
    cmn_prom_sample_u64(p, name, v, CMN_PROM_END);
}

void sig_hub_metrics(const sig_hub_t *h, cmn_prom_t *p)
{
    one(p, "icehub_signal_connections", "gauge", "Signaling WebSocket connections open now.",
        h->nconns);
    one(p, "icehub_signal_connections_total", "counter",
        "Signaling WebSocket connections accepted.", h->conns_total);
    one(p, "icehub_signal_rooms", "gauge", "Signaling rooms with at least one peer.",
        h->rooms.n);
    cmn_prom_family(p, "icehub_signal_peers", "gauge",
                    "Peers in rooms, by state (away: in the resume grace period).");
    cmn_prom_sample_u64(p, "icehub_signal_peers", h->npeers - h->naway, "state", "present",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_signal_peers", h->naway, "state", "away", CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_messages_total", "counter",
                    "Messages received from clients, by type (invalid: unparseable, "
                    "unknown, binary, too large or rate-limited).");
    for (int t = 0; t < SIG_T_COUNT; t++)
        cmn_prom_sample_u64(p, "icehub_signal_messages_total", h->msgs[t], "type",
                            sig_type_name((sig_type_t)t), CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_errors_total", "counter",
                    "Error messages sent to clients, by code.");
    for (int e = 0; e < SIG_E_COUNT; e++)
        cmn_prom_sample_u64(p, "icehub_signal_errors_total", h->errors[e], "code",
                            sig_err_name((sig_err_t)e), CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_resumes_total", "counter",
                    "Resume attempts, by result.");
    cmn_prom_sample_u64(p, "icehub_signal_resumes_total", h->resumes_ok, "result", "success",
                        CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_signal_resumes_total", h->resumes_failed, "result",
                        "failure", CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_upgrades_refused_total", "counter",
                    "WebSocket upgrades refused, by reason.");
    for (int r = 0; r < SIG_REFUSE_COUNT; r++)
        cmn_prom_sample_u64(p, "icehub_signal_upgrades_refused_total", h->refused[r], "reason",
                            sig_refuse_name((sig_refuse_t)r), CMN_PROM_END);
    cmn_prom_family(p, "icehub_signal_peers_left_total", "counter",
                    "Peers that left their room, by reason.");
    static const char *const left[] = {"leave", "closed", "timeout"};
    for (int i = 0; i < 3; i++)
        cmn_prom_sample_u64(p, "icehub_signal_peers_left_total", h->left[i], "reason", left[i],
                            CMN_PROM_END);
    one(p, "icehub_signal_relayed_messages_total", "counter",
        "signal and broadcast messages delivered or queued for a peer.", h->relayed);
    one(p, "icehub_signal_queued_messages_total", "counter",
        "Messages kept for an away peer.", h->queued);
    one(p, "icehub_signal_expired_messages_total", "counter",
        "Queued messages dropped when their peer's grace period ended.", h->expired);
    one(p, "icehub_signal_credential_refreshes_total", "counter",
        "ice-servers messages pushed before credentials expired.", h->refreshes);
    one(p, "icehub_signal_abuse_closes_total", "counter",
        "Connections closed (1008) after too many errors.", h->closes_abuse);
}
