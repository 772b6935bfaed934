/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_metrics.c: the daemon's /metrics families. Sums the workers' counters
 * and writes them, and the usage families, into the cmn_prom writer it is
 * given (the HTTP glue adds the signaling hub's and serves the page). Metric names are part of icehub's
 * interface (dashboards and alerts use them): add, never rename.
 */
#include "ihd.h"

#include <malloc.h>

#include "common/cmn_metrics.h"

static void per_transport(cmn_prom_t *p, const char *name, const char *type, const char *help,
                          const uint64_t *v)
{
    cmn_prom_family(p, name, type, help);
    for (int t = 0; t < TURN_TR_COUNT; t++)
        cmn_prom_sample_u64(p, name, v[t], "transport", turn_transport_name((turn_transport_t)t),
                            CMN_PROM_END);
}

static void gauge(cmn_prom_t *p, const char *name, const char *help, uint64_t v)
{
    cmn_prom_family(p, name, "gauge", help);
    cmn_prom_sample_u64(p, name, v, CMN_PROM_END);
}

static void counter(cmn_prom_t *p, const char *name, const char *help, uint64_t v)
{
    cmn_prom_family(p, name, "counter", help);
    cmn_prom_sample_u64(p, name, v, CMN_PROM_END);
}

/* Every worker's turn_stats_t, summed (all fields are uint64_t). */
static void turn_sum(ihd_server_t *srv, turn_stats_t *sum)
{
    _Static_assert(sizeof(turn_stats_t) % sizeof(uint64_t) == 0, "turn_stats_t: u64 only");
    turn_stats_t t;
    uint64_t *s = (uint64_t *)sum;
    const uint64_t *v = (const uint64_t *)&t;
    memset(sum, 0, sizeof(*sum));
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (!srv->workers[i].turn)
            continue;
        turn_get_stats(srv->workers[i].turn, &t);
        for (size_t k = 0; k < sizeof(t) / sizeof(uint64_t); k++)
            s[k] += v[k];
    }
}

uint64_t ihd__relayed_bytes(ihd_server_t *srv)
{
    turn_stats_t sum;
    turn_sum(srv, &sum);
    uint64_t n = 0;
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        for (int tr = 0; tr < TURN_TR_COUNT; tr++)
            n += sum.relayed_bytes[d][tr];
    return n;
}

/* Relayed traffic (live), quota drops and cost. */
static void relay_metrics(cmn_prom_t *p, const cmn_settings_t *s, const turn_stats_t *st)
{
    const char *realm = s->turn.realm;
    cmn_prom_family(p, "icehub_turn_relayed_bytes_total", "counter",
                    "UDP payload bytes relayed, by direction (to_peer: client to peer, "
                    "to_client: peer to client) and client transport; counted per datagram.");
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        for (int tr = 0; tr < TURN_TR_COUNT; tr++)
            cmn_prom_sample_u64(p, "icehub_turn_relayed_bytes_total", st->relayed_bytes[d][tr],
                                "direction", turn_dir_name((turn_dir_t)d), "transport",
                                turn_transport_name((turn_transport_t)tr), "realm", realm, CMN_PROM_END);
    cmn_prom_family(p, "icehub_turn_relayed_packets_total", "counter",
                    "Datagrams relayed, by direction and client transport.");
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        for (int tr = 0; tr < TURN_TR_COUNT; tr++)
            cmn_prom_sample_u64(p, "icehub_turn_relayed_packets_total",
                                st->relayed_packets[d][tr], "direction",
                                turn_dir_name((turn_dir_t)d), "transport", turn_transport_name((turn_transport_t)tr), "realm",
                                realm, CMN_PROM_END);
    cmn_prom_family(p, "icehub_turn_quota_dropped_bytes_total", "counter",
                    "UDP payload bytes dropped by bandwidth quotas, by the limit that was hit.");
    for (int k = 0; k < TURN_QDROP_COUNT; k++)
        cmn_prom_sample_u64(p, "icehub_turn_quota_dropped_bytes_total",
                            st->quota_dropped_bytes[k], "kind", turn_qdrop_name((turn_qdrop_t)k),
                            CMN_PROM_END);
    cmn_prom_family(p, "icehub_turn_quota_dropped_packets_total", "counter",
                    "Datagrams dropped by bandwidth quotas, by the limit that was hit.");
    for (int k = 0; k < TURN_QDROP_COUNT; k++)
        cmn_prom_sample_u64(p, "icehub_turn_quota_dropped_packets_total",
                            st->quota_dropped_packets[k], "kind",
                            turn_qdrop_name((turn_qdrop_t)k), CMN_PROM_END);
    uint64_t dir[TURN_DIR_COUNT] = {0, 0};
    for (int d = 0; d < TURN_DIR_COUNT; d++)
        for (int tr = 0; tr < TURN_TR_COUNT; tr++)
            dir[d] += st->relayed_bytes[d][tr];
    cmn_prom_family(p, "icehub_turn_cost_total", "counter",
                    "Cost of the relayed bytes since start at the configured prices "
                    "(to_client = egress, to_peer = ingress).");
    acct_prices_t pr = ihd_prices(s);
    cmn_prom_sample(p, "icehub_turn_cost_total", acct_cost(&pr, 0, dir[TURN_DIR_TO_CLIENT]),
                    "realm", realm, "currency", s->cost.currency, "direction", "to_client",
                    CMN_PROM_END);
    cmn_prom_sample(p, "icehub_turn_cost_total", acct_cost(&pr, dir[TURN_DIR_TO_PEER], 0),
                    "realm", realm, "currency", s->cost.currency, "direction", "to_peer",
                    CMN_PROM_END);
}

/* TURN requests by method and class (the family Binding starts). */
static void turn_request_samples(cmn_prom_t *p, const turn_stats_t *st)
{
    for (int k = 0; k < TURN_REQ_KINDS; k++)
        for (int e = 0; e < 2; e++)
            cmn_prom_sample_u64(p, "icehub_stun_requests_total", st->requests[k][e], "method",
                                turn_req_kind_name((turn_req_kind_t)k), "class",
                                e ? "error" : "success", CMN_PROM_END);
}

static void alloc_error_metrics(cmn_prom_t *p, const turn_stats_t *st)
{
    cmn_prom_family(p, "icehub_turn_allocate_errors_total", "counter",
                    "Allocate error responses, by ERROR-CODE and the rule or limit behind it.");
    for (unsigned i = 0; i < TURN_ALLOC_ERR_SLOTS; i++) {
        int code;
        const char *label;
        char cbuf[8];
        if (!turn_alloc_err_info(i, &code, &label))
            continue;
        snprintf(cbuf, sizeof(cbuf), "%d", code);
        cmn_prom_sample_u64(p, "icehub_turn_allocate_errors_total", st->alloc_errors[i], "code",
                            cbuf, "reason", label, CMN_PROM_END);
    }
}

static void turn_metrics(cmn_prom_t *p, ihd_server_t *srv, const ihd_counters_t *c,
                         const turn_stats_t *stp)
{
    turn_stats_t sum = *stp;
    gauge(p, "icehub_turn_allocations_active", "TURN allocations alive now.",
          sum.allocations_active);
    cmn_prom_family(p, "icehub_turn_allocations_total", "counter",
                    "Allocate requests answered, by result.");
    cmn_prom_sample_u64(p, "icehub_turn_allocations_total", sum.allocations_created, "result",
                        "success", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_turn_allocations_total", sum.allocations_failed, "result",
                        "error", CMN_PROM_END);
    gauge(p, "icehub_turn_permissions_active", "TURN permissions alive now.",
          sum.permissions_active);
    gauge(p, "icehub_turn_channels_active", "TURN channel bindings alive now.",
          sum.channels_active);
    counter(p, "icehub_turn_auth_failures_total",
            "401 answers to requests that offered a credential.", sum.auth_failures);
    counter(p, "icehub_turn_stale_nonces_total", "438 Stale Nonce answers.", sum.stale_nonces);
    counter(p, "icehub_turn_peer_denied_total", "403 answers for peers the policy refuses.",
            sum.peer_denied);
    counter(p, "icehub_turn_requests_total", "TURN requests and indications handled.",
            c->turn_requests);
    cmn_prom_family(p, "icehub_turn_dropped_total", "counter",
                    "Client messages and data the TURN state machine dropped, by reason.");
    for (int d = TURN_DROP_NONE + 1; d < TURN_DROP_COUNT; d++)
        cmn_prom_sample_u64(p, "icehub_turn_dropped_total", c->turn_drop[d], "reason",
                            turn_drop_name((turn_drop_t)d), CMN_PROM_END);
    counter(p, "icehub_turn_peer_packets_total", "Datagrams from peers on relay sockets.",
            c->relay_rx_packets);
    counter(p, "icehub_turn_peer_dropped_total",
            "Datagrams from peers dropped (no permission, allocation ended, too big, quota).",
            c->relay_rx_dropped);
    alloc_error_metrics(p, &sum);
    relay_metrics(p, &atomic_load(&srv->cfg)->s, &sum);
    counter(p, "icehub_udp_gso_sends_total",
            "UDP GSO sends: runs of same-size datagrams to one destination sent at once.",
            c->gso_sends);
    counter(p, "icehub_udp_gso_segments_total", "Datagrams that left in UDP GSO sends.",
            c->gso_segments);
    gauge(p, "icehub_udp_io_uring_workers",
          "Worker threads that send client data to peers through io_uring (turn.io_uring).",
          c->uring_active);
    counter(p, "icehub_udp_io_uring_submits_total",
            "io_uring submissions of sends to peers: one system call each.", c->uring_submits);
    counter(p, "icehub_udp_io_uring_sends_total",
            "Sends (datagrams, or UDP GSO runs) those submissions carried.", c->uring_sends);
    counter(p, "icehub_turn_peer_send_errors_total",
            "Datagrams to peers the kernel refused to send.", c->relay_tx_errors);
}

/* The drain (ihd_drain_state). */
static void lifecycle_metrics(ihd_server_t *srv, cmn_prom_t *p)
{
    ihd_drain_info_t d;
    ihd_drain_state(srv, &d);
    gauge(p, "icehub_draining", "1 while draining: new allocations refused or redirected.",
          d.active);
    cmn_prom_family(p, "icehub_drain_deadline_timestamp_seconds", "gauge",
                    "When a running drain ends what is left (turn.drain_timeout), Unix "
                    "seconds; 0 while not draining.");
    cmn_prom_sample(p, "icehub_drain_deadline_timestamp_seconds",
                    d.active ? d.deadline_wall : 0, CMN_PROM_END);
    gauge(p, "icehub_upgrade_allocations",
          "UDP allocations this process took over in the live upgrade that started it.",
          srv->upgrade_allocs);
    cmn_prom_family(p, "icehub_upgrade_pause_seconds", "gauge",
                    "How long UDP went unserved in the live upgrade that started this process "
                    "(old workers parked to new workers running); 0 without one.");
    cmn_prom_sample(p, "icehub_upgrade_pause_seconds", srv->upgrade_pause, CMN_PROM_END);
    static const char *const results[IHD_UPG_RESULTS] = {"committed", "refused", "failed"};
    cmn_prom_family(p, "icehub_upgrades_total", "counter",
                    "Live upgrades asked of this process, by how they ended.");
    for (int i = 0; i < IHD_UPG_RESULTS; i++)
        cmn_prom_sample_u64(p, "icehub_upgrades_total", IHD_READ(srv->upgrade_results[i]), "result",
                            results[i], CMN_PROM_END);
    size_t nrev;
    acct_revoked_t *rev = ihd_admin_revoked(srv, &nrev);
    acct_revokes_list_free(rev, nrev);
    gauge(p, "icehub_revocations", "Users revoked now (admin API; kept across restarts).",
          nrev);
    counter(p, "icehub_revocations_write_errors_total",
            "Failed writes of admin.revocations_file (the revocations hold in memory).",
            ihd_admin_revocation_errors(srv));
}

void ihd_metrics_render(ihd_server_t *srv, cmn_prom_t *p)
{
    ihd_counters_t c;
    turn_stats_t st;
    ihd__sum_counters(srv, &c);
    turn_sum(srv, &st);

    cmn_prom_family(p, "icehub_build_info", "gauge", "Build information; always 1.");
    cmn_prom_sample(p, "icehub_build_info", 1, "version", ICEHUB_VERSION, CMN_PROM_END);
    cmn_prom_family(p, "icehub_process_start_time_seconds", "gauge",
                    "Start time of the process since the Unix epoch, in seconds.");
    cmn_prom_sample(p, "icehub_process_start_time_seconds", srv->start_time, CMN_PROM_END);
    /* What malloc holds for the process: the soak test's leak gauge. */
    struct mallinfo2 mi = mallinfo2();
    cmn_prom_family(p, "icehub_process_heap_bytes", "gauge",
                    "Bytes of heap in use (malloc's arenas and mmapped blocks).");
    cmn_prom_sample_u64(p, "icehub_process_heap_bytes", (uint64_t)(mi.uordblks + mi.hblkhd),
                        CMN_PROM_END);
    cmn_prom_family(p, "icehub_workers", "gauge", "Relay worker threads.");
    cmn_prom_sample(p, "icehub_workers", srv->nworkers, CMN_PROM_END);
    lifecycle_metrics(srv, p);

    per_transport(p, "icehub_rx_packets_total", "counter",
                  "Datagrams or stream frames received from clients.", c.rx_packets);
    per_transport(p, "icehub_rx_bytes_total", "counter", "Bytes received from clients.",
                  c.rx_bytes);
    per_transport(p, "icehub_tx_packets_total", "counter",
                  "Datagrams or stream frames sent to clients.", c.tx_packets);
    per_transport(p, "icehub_tx_bytes_total", "counter", "Bytes sent to clients.", c.tx_bytes);
    per_transport(p, "icehub_tx_errors_total", "counter",
                  "Replies that could not be sent (dropped).", c.tx_errors);

    cmn_prom_family(p, "icehub_stun_requests_total", "counter",
                    "STUN requests answered, by method and response class.");
    cmn_prom_sample_u64(p, "icehub_stun_requests_total", c.binding_success, "method", "binding",
                        "class", "success", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_stun_requests_total", c.binding_error, "method", "binding",
                        "class", "error", CMN_PROM_END);
    turn_request_samples(p, &st);

    cmn_prom_family(p, "icehub_invalid_packets_total", "counter",
                    "Packets and frames dropped without a reply, by reason.");
    for (unsigned r = 1; r < IHD_DROP_COUNT; r++)
        cmn_prom_sample_u64(p, "icehub_invalid_packets_total", c.invalid[r], "reason",
                            ihd_drop_name(r), CMN_PROM_END);

    per_transport(p, "icehub_connections_accepted_total", "counter",
                  "Stream connections accepted.", c.tcp_accepted);
    per_transport(p, "icehub_stream_writes_total", "counter",
                  "Writes (send calls) to stream clients: the frames of icehub_tx_packets_total "
                  "(on TLS each its own record) leave coalesced in these.", c.tcp_writes);
    cmn_prom_family(p, "icehub_connections_open", "gauge", "Stream connections open now.");
    cmn_prom_sample_u64(p, "icehub_connections_open", c.tcp_open, CMN_PROM_END);
    cmn_prom_family(p, "icehub_connections_closed_total", "counter",
                    "Stream connections closed, by reason (peer: the client closed it).");
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tcp_closed_idle, "reason",
                        "idle", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tcp_closed_error, "reason",
                        "error", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tcp_closed_peer, "reason",
                        "peer", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tcp_closed_slow, "reason",
                        "slow_reader", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tcp_rejected_limit, "reason",
                        "limit", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tls_handshake_failed,
                        "reason", "tls_handshake", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tls_handshake_timeout,
                        "reason", "handshake_timeout", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tcp_closed_slow_frame,
                        "reason", "slow_frame", CMN_PROM_END);
    cmn_prom_sample_u64(p, "icehub_connections_closed_total", c.tcp_rejected_fd, "reason",
                        "no_descriptor", CMN_PROM_END);
    turn_metrics(p, srv, &c, &st);
    ihd_usage_metrics(srv, p);
    ihd_extip_metrics(srv, p);
}
