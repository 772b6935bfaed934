/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_metrics.c: the daemon's /metrics page. Sums the workers' counters
 * and writes them with cmn_prom. Metric names are part of icehub's
 * interface (dashboards and alerts use them): add, never rename.
 */
#include "ihd.h"

#include "common/cmn_metrics.h"

static void per_transport(cmn_prom_t *p, const char *name, const char *type, const char *help,
                          const uint64_t *v)
{
    cmn_prom_family(p, name, type, help);
    for (int t = 0; t < IHD_TR_COUNT; t++)
        cmn_prom_sample_u64(p, name, v[t], "transport", ihd_transport_name((ihd_transport_t)t),
                            NULL);
}

char *ihd_metrics_render(ihd_server_t *srv, size_t *len)
{
    ihd_counters_t c;
    ihd__sum_counters(srv, &c);
    cmn_prom_t p;
    cmn_prom_init(&p);

    cmn_prom_family(&p, "icehub_build_info", "gauge", "Build information; always 1.");
    cmn_prom_sample(&p, "icehub_build_info", 1, "version", ICEHUB_VERSION, NULL);
    cmn_prom_family(&p, "icehub_process_start_time_seconds", "gauge",
                    "Start time of the process since the Unix epoch, in seconds.");
    cmn_prom_sample(&p, "icehub_process_start_time_seconds", srv->start_time, NULL);
    cmn_prom_family(&p, "icehub_workers", "gauge", "Relay worker threads.");
    cmn_prom_sample(&p, "icehub_workers", srv->nworkers, NULL);

    per_transport(&p, "icehub_rx_packets_total", "counter",
                  "Datagrams or stream frames received from clients.", c.rx_packets);
    per_transport(&p, "icehub_rx_bytes_total", "counter", "Bytes received from clients.",
                  c.rx_bytes);
    per_transport(&p, "icehub_tx_packets_total", "counter",
                  "Datagrams or stream frames sent to clients.", c.tx_packets);
    per_transport(&p, "icehub_tx_bytes_total", "counter", "Bytes sent to clients.", c.tx_bytes);
    per_transport(&p, "icehub_tx_errors_total", "counter",
                  "Replies that could not be sent (dropped).", c.tx_errors);

    cmn_prom_family(&p, "icehub_stun_requests_total", "counter",
                    "STUN requests answered, by method and response class.");
    cmn_prom_sample_u64(&p, "icehub_stun_requests_total", c.binding_success, "method", "binding",
                        "class", "success", NULL);
    cmn_prom_sample_u64(&p, "icehub_stun_requests_total", c.binding_error, "method", "binding",
                        "class", "error", NULL);

    cmn_prom_family(&p, "icehub_invalid_packets_total", "counter",
                    "Packets and frames dropped without a reply, by reason.");
    for (unsigned r = 1; r < IHD_DROP_COUNT; r++)
        cmn_prom_sample_u64(&p, "icehub_invalid_packets_total", c.invalid[r], "reason",
                            ihd_drop_name(r), NULL);

    per_transport(&p, "icehub_connections_accepted_total", "counter",
                  "Stream connections accepted.", c.tcp_accepted);
    cmn_prom_family(&p, "icehub_connections_open", "gauge", "Stream connections open now.");
    cmn_prom_sample_u64(&p, "icehub_connections_open", c.tcp_open, NULL);
    cmn_prom_family(&p, "icehub_connections_closed_total", "counter",
                    "Stream connections closed by the server, by reason.");
    cmn_prom_sample_u64(&p, "icehub_connections_closed_total", c.tcp_closed_idle, "reason",
                        "idle", NULL);
    cmn_prom_sample_u64(&p, "icehub_connections_closed_total", c.tcp_closed_error, "reason",
                        "error", NULL);
    cmn_prom_sample_u64(&p, "icehub_connections_closed_total", c.tcp_rejected_limit, "reason",
                        "limit", NULL);
    cmn_prom_sample_u64(&p, "icehub_connections_closed_total", c.tls_handshake_failed,
                        "reason", "tls_handshake", NULL);
    return cmn_prom_take(&p, len);
}
