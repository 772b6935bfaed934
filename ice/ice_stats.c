/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_stats.c: the figures a stream of probe packets yields: round-trip
 * time percentiles, the interarrival jitter of RFC 3550 §6.4.1, loss and
 * throughput. Pure computation on samples the runners record; times are
 * seconds as doubles from whatever clock the caller uses.
 */
#include "ice_int.h"

#include <math.h>
#include <stdlib.h>

void ice_stats_init(ice_stats_t *s)
{
    memset(s, 0, sizeof(*s));
}

void ice_stats_dispose(ice_stats_t *s)
{
    cmn_free(s->rtt);
    memset(s, 0, sizeof(*s));
}

void ice_stats_sent(ice_stats_t *s, size_t bytes, double now)
{
    if (s->sent == 0)
        s->first_tx = now;
    s->sent++;
    s->bytes_tx += bytes;
}

void ice_stats_rtt(ice_stats_t *s, double rtt)
{
    if (!(rtt >= 0) || isinf(rtt))
        return;
    if (s->nrtt == s->rtt_cap) {
        s->rtt_cap = s->rtt_cap ? 2 * s->rtt_cap : 256;
        s->rtt = cmn_realloc(s->rtt, s->rtt_cap * sizeof(*s->rtt));
    }
    s->rtt[s->nrtt++] = rtt;
}

/* RFC 3550 §6.4.1: with S the sender's timestamp and R the arrival time of a
 * packet, D(i-1,i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) = (R_i - S_i) -
 * (R_{i-1} - S_{i-1}), and J += (|D| - J) / 16, in arrival order. The two
 * clocks need not agree: only differences of transit times are used. */
void ice_stats_arrival(ice_stats_t *s, size_t bytes, double sent_ts, double now)
{
    double transit = now - sent_ts;
    if (s->received > 0) {
        double d = fabs(transit - s->last_transit);
        s->jitter += (d - s->jitter) / 16.0;
    }
    s->last_transit = transit;
    if (s->received == 0)
        s->first_rx = now;
    s->last_rx = now;
    s->received++;
    s->bytes_rx += bytes;
}

static int stats_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of <n> sorted samples: the smallest sample with
 * at least q% of the samples at or below it. */
double ice_percentile(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    double rank = ceil(q / 100.0 * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return sorted[i < n ? i : n - 1];
}

void ice_rtt_summary(ice_rtt_t *out, double *samples, size_t n)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return;
    qsort(samples, n, sizeof(*samples), stats_cmp);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += samples[i];
    out->n = n;
    out->min = samples[0];
    out->max = samples[n - 1];
    out->mean = sum / (double)n;
    out->p50 = ice_percentile(samples, n, 50);
    out->p95 = ice_percentile(samples, n, 95);
    out->p99 = ice_percentile(samples, n, 99);
}

double ice_loss_ratio(uint64_t sent, uint64_t received)
{
    if (sent == 0 || received >= sent)
        return 0;
    return 1.0 - (double)received / (double)sent;
}

void ice_stats_finish(ice_stats_t *s, uint64_t sent, ice_traffic_t *out)
{
    memset(out, 0, sizeof(*out));
    out->sent = sent;
    out->received = s->received;
    out->bytes = s->bytes_rx;
    out->loss = ice_loss_ratio(sent, s->received);
    out->jitter = s->jitter;
    /* Payload that arrived over the time it took to arrive: from the first
     * packet sent to the last one received. */
    double span = s->last_rx - s->first_tx;
    if (s->received > 1 && span > 0)
        out->throughput = (double)s->bytes_rx * 8.0 / span;
    ice_rtt_summary(&out->rtt, s->rtt, s->nrtt);
}

void ice_traffic_merge(ice_traffic_t *out, const ice_traffic_t *a, const ice_traffic_t *b)
{
    ice_traffic_t m;
    memset(&m, 0, sizeof(m));
    m.sent = a->sent + b->sent;
    m.received = a->received + b->received;
    m.bytes = a->bytes + b->bytes;
    m.loss = ice_loss_ratio(m.sent, m.received);
    m.jitter = CMN_MAX(a->jitter, b->jitter);
    m.throughput = a->throughput + b->throughput;
    *out = m;
}
