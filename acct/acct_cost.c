/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_cost.c: relayed bytes to money, the way hosted TURN services bill:
 * a price per 10^9 bytes (a decimal "GB") for each direction, egress being
 * what the server sends to clients (to_client) and ingress what it takes
 * from clients and sends to peers (to_peer). Bytes are UDP payload bytes,
 * the unit of the relay counters and the ledger, so the metrics, the
 * ledger CLI and /api/usage agree to the last byte.
 *
 * Left out: tiers, minimum charges, rounding (a bill rounds; a counter
 * must not), and currency conversion (one currency per server).
 */
#include "acct.h"

double acct_cost(const acct_prices_t *p, uint64_t to_peer_bytes, uint64_t to_client_bytes)
{
    /* Doubles hold byte counts exactly up to 2^53 (9 PB); beyond that the
     * relative error stays below 1e-16, far under any price's precision. */
    return (double)to_client_bytes / 1e9 * p->egress_per_gb +
           (double)to_peer_bytes / 1e9 * p->ingress_per_gb;
}
