/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_config_schema.c: the table of every icehub setting (name, type, field,
 * default, bounds, reloadability, one line of documentation), the parsers
 * that turn one value's text into the typed field whichever source it came
 * from, and cmn_config_print, which turns the fields back into libconfig
 * text.
 *
 * It knows nothing about where text comes from (file, environment, flag)
 * or how messages are laid out: a parser says only whether the value is
 * good and, when a general rule is not enough, which rule it broke.
 * cmn_config.c does the sources, the messages and the cross checks.
 */
#include "cmn_config_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define F(field) offsetof(cmn_settings_t, field)

/* Keep deploy/icehub.conf and docs/configuration.md in step with this
 * table; tests/common/test_cmn_config.c checks both. */
static const cmn_cfg_def_t schema[] = {
    {.name = "turn.enabled", .type = CMN_CFG_BOOL, .offset = F(turn.enabled),
     .def = "true",
     .doc = "Run the STUN/TURN service."},
    {.name = "turn.listen", .type = CMN_CFG_ADDRLIST, .offset = F(turn.listen),
     .def = "0.0.0.0:3478",
     .doc = "Addresses for STUN/TURN over UDP and TCP (both protocols on each address)."},
    {.name = "turn.tls_listen", .type = CMN_CFG_ADDRLIST, .offset = F(turn.tls_listen),
     .def = "0.0.0.0:5349",
     .doc = "Addresses for STUN/TURN over TLS; used only when tls.cert is set."},
    {.name = "turn.realm", .type = CMN_CFG_STRING, .offset = F(turn.realm),
     .def = "icehub", .min = 1, .max = 127, .reloadable = true,
     .doc = "Realm of the long-term credentials (REALM attribute)."},
    {.name = "turn.users", .type = CMN_CFG_USERLIST, .offset = F(turn.users),
     .def = "", .reloadable = true, .secret = true,
     .doc = "Static long-term credentials, each \"NAME:PASSWORD\"."},
    {.name = "turn.secrets", .type = CMN_CFG_STRLIST, .offset = F(turn.secrets),
     .def = "", .reloadable = true, .secret = true,
     .doc = "Shared secrets for time-limited credentials (TURN REST API style)."},
    {.name = "turn.relay_ip", .type = CMN_CFG_IP, .offset = F(turn.relay_ip),
     .def = "", .reloadable = true,
     .doc = "Local IP address relay sockets bind to; empty picks one automatically."},
    {.name = "turn.external_ip", .type = CMN_CFG_EXTIPLIST, .offset = F(turn.external_ip),
     .def = "", .reloadable = true,
     .doc = "Public IP advertised for relays: \"PUBLIC\", \"PUBLIC/PRIVATE\" (1:1 NAT) or \"auto\"."},
    {.name = "turn.external_ip_servers", .type = CMN_CFG_ADDRLIST,
     .offset = F(turn.external_ip_servers),
     .def = "", .reloadable = true,
     .doc = "STUN servers \"IP:PORT\" that turn.external_ip \"auto\" asks; their answers must agree."},
    {.name = "turn.relay_ports", .type = CMN_CFG_PORTRANGE, .offset = F(turn.relay_port_min),
     .def = "49152-65535", .reloadable = true,
     .doc = "UDP port range \"LOW-HIGH\" for relayed transport addresses."},
    {.name = "turn.allowed_peers", .type = CMN_CFG_CIDRLIST, .offset = F(turn.allowed_peers),
     .def = "", .reloadable = true,
     .doc = "Peer addresses or prefixes allowed even when turn.denied_peers matches them."},
    {.name = "turn.denied_peers", .type = CMN_CFG_CIDRLIST, .offset = F(turn.denied_peers),
     .def = "", .reloadable = true,
     .doc = "Peer addresses or prefixes that relays may not reach."},
    {.name = "turn.threads", .type = CMN_CFG_INT, .offset = F(turn.threads),
     .def = "0", .min = 0, .max = 256,
     .doc = "Worker threads; 0 means one per CPU."},
    {.name = "turn.software", .type = CMN_CFG_STRING, .offset = F(turn.software),
     .def = "icehub", .min = 0, .max = 127, .reloadable = true,
     .doc = "SOFTWARE attribute sent in responses; empty omits it."},
    {.name = "turn.tcp_idle_timeout", .type = CMN_CFG_INT, .offset = F(turn.tcp_idle_timeout),
     .def = "60", .min = 1, .max = 86400, .reloadable = true,
     .doc = "Seconds of silence after which a TCP or TLS client connection is closed."},
    {.name = "turn.max_tcp_connections", .type = CMN_CFG_INT,
     .offset = F(turn.max_tcp_connections),
     .def = "10000", .min = 1, .max = 1000000, .reloadable = true,
     .doc = "Most TCP and TLS client connections open at once."},
    {.name = "turn.tls_handshake_timeout", .type = CMN_CFG_INT,
     .offset = F(turn.tls_handshake_timeout),
     .def = "10", .min = 1, .max = 300, .reloadable = true,
     .doc = "Seconds from accept within which a TLS client must finish its handshake."},
    {.name = "turn.max_lifetime", .type = CMN_CFG_INT, .offset = F(turn.max_lifetime),
     .def = "3600", .min = 600, .max = 86400, .reloadable = true,
     .doc = "Longest allocation lifetime in seconds a client may ask for (the default is 600)."},
    {.name = "turn.max_allocations", .type = CMN_CFG_INT, .offset = F(turn.max_allocations),
     .def = "10000", .min = 1, .max = 10000000, .reloadable = true,
     .doc = "Most allocations on the whole server; beyond it Allocate gets 508."},
    {.name = "turn.max_allocations_per_user", .type = CMN_CFG_INT,
     .offset = F(turn.max_allocations_per_user),
     .def = "100", .min = 1, .max = 10000000, .reloadable = true,
     .doc = "Most allocations one username may hold; beyond it Allocate gets 486."},
    {.name = "turn.max_allocations_per_ip", .type = CMN_CFG_INT,
     .offset = F(turn.max_allocations_per_ip),
     .def = "200", .min = 1, .max = 10000000, .reloadable = true,
     .doc = "Most allocations from one client IP address; beyond it Allocate gets 486."},
    {.name = "turn.max_permissions", .type = CMN_CFG_INT, .offset = F(turn.max_permissions),
     .def = "64", .min = 1, .max = 4096, .reloadable = true,
     .doc = "Most permissions (peer IP addresses) one allocation may hold."},
    {.name = "turn.max_channels", .type = CMN_CFG_INT, .offset = F(turn.max_channels),
     .def = "64", .min = 1, .max = 16384, .reloadable = true,
     .doc = "Most channel bindings one allocation may hold."},
    {.name = "turn.nonce_lifetime", .type = CMN_CFG_INT, .offset = F(turn.nonce_lifetime),
     .def = "600", .min = 1, .max = 86400, .reloadable = true,
     .doc = "Seconds a NONCE stays valid; an older one gets 438 Stale Nonce."},
    {.name = "turn.unauth_rate", .type = CMN_CFG_INT, .offset = F(turn.unauth_rate),
     .def = "100", .min = 1, .max = 1000000, .reloadable = true,
     .doc = "401 answers per second to one source IP address (burst twice that); more are dropped."},
    {.name = "turn.answer_rate", .type = CMN_CFG_INT, .offset = F(turn.answer_rate),
     .def = "200", .min = 1, .max = 1000000, .reloadable = true,
     .doc = "Binding answers and 400s per second to one source IP address (burst twice that); more are dropped."},
    {.name = "turn.gso", .type = CMN_CFG_BOOL, .offset = F(turn.gso),
     .def = "true", .reloadable = true,
     .doc = "Send runs of same-size datagrams to one destination as one UDP GSO send."},
    {.name = "turn.io_uring", .type = CMN_CFG_BOOL, .offset = F(turn.io_uring),
     .def = "true", .reloadable = true,
     .doc = "Send client data for many allocations' relay sockets in one io_uring system call; "
            "without io_uring, one sendmmsg per relay socket."},
    {.name = "turn.drain_timeout", .type = CMN_CFG_INT, .offset = F(turn.drain_timeout),
     .def = "20", .min = 0, .max = 86400, .reloadable = true,
     .doc = "Seconds a drain (SIGTERM, POST /api/drain) waits for allocations to end."},
    {.name = "turn.alternate_servers", .type = CMN_CFG_ADDRLIST,
     .offset = F(turn.alternate_servers), .def = "", .reloadable = true,
     .doc = "Servers a draining icehubd sends new Allocates to (300 Try Alternate)."},
    {.name = "http.enabled", .type = CMN_CFG_BOOL, .offset = F(http.enabled),
     .def = "true",
     .doc = "Run the HTTP/WebSocket signaling service."},
    {.name = "http.listen", .type = CMN_CFG_ADDRLIST, .offset = F(http.listen),
     .def = "127.0.0.1:8080",
     .doc = "Addresses for HTTP and WebSocket signaling; loopback unless you open it up."},
    {.name = "http.tls_listen", .type = CMN_CFG_ADDRLIST, .offset = F(http.tls_listen),
     .def = "",
     .doc = "Addresses for HTTPS and secure WebSocket (wss://) signaling; used only with tls.cert."},
    {.name = "http.header_timeout", .type = CMN_CFG_INT, .offset = F(http.header_timeout),
     .def = "10", .min = 1, .max = 300,
     .doc = "Seconds from accept within which a connection must send its TLS handshake and request head."},
    {.name = "tls.cert", .type = CMN_CFG_PATH, .offset = F(tls.cert),
     .def = "", .reloadable = true,
     .doc = "PEM certificate chain for the TLS listeners; empty disables TLS."},
    {.name = "tls.key", .type = CMN_CFG_PATH, .offset = F(tls.key),
     .def = "", .reloadable = true,
     .doc = "PEM private key of tls.cert."},
    {.name = "signal.enabled", .type = CMN_CFG_BOOL, .offset = F(signal.enabled),
     .def = "true", .reloadable = true,
     .doc = "Serve the WebSocket signaling hub at /ws and its REST endpoints."},
    {.name = "signal.public_host", .type = CMN_CFG_STRING, .offset = F(signal.public_host),
     .def = "", .min = 0, .max = 253, .reloadable = true,
     .doc = "Host name put in iceServers URLs; empty uses the host of the request's Host header."},
    {.name = "signal.api_keys", .type = CMN_CFG_STRLIST, .offset = F(signal.api_keys),
     .def = "", .reloadable = true, .secret = true,
     .doc = "API keys for /ice-servers, /turn-credentials and /room-token; empty disables them."},
    {.name = "signal.credential_ttl", .type = CMN_CFG_INT, .offset = F(signal.credential_ttl),
     .def = "3600", .min = 5, .max = 604800, .reloadable = true,
     .doc = "Seconds the TURN credentials in iceServers stay valid; refreshed at 80%."},
    {.name = "signal.allowed_origins", .type = CMN_CFG_STRLIST,
     .offset = F(signal.allowed_origins),
     .def = "", .reloadable = true,
     .doc = "Origins allowed to open /ws; empty allows the same origin only, \"*\" any."},
    {.name = "signal.require_token", .type = CMN_CFG_BOOL, .offset = F(signal.require_token),
     .def = "false", .reloadable = true,
     .doc = "Require a room token (HMAC-signed, from /room-token) to join a room."},
    {.name = "signal.open", .type = CMN_CFG_BOOL, .offset = F(signal.open),
     .def = "false", .reloadable = true,
     .doc = "Serve the hub on a non-loopback address with neither tokens nor an origin list."},
    {.name = "signal.token_secret", .type = CMN_CFG_STRING, .offset = F(signal.token_secret),
     .def = "", .min = 0, .max = 256, .reloadable = true, .secret = true,
     .doc = "Key that signs room and resume tokens; empty picks a random one per process."},
    {.name = "signal.max_message", .type = CMN_CFG_INT, .offset = F(signal.max_message),
     .def = "65536", .min = 1024, .max = 16777216, .reloadable = true,
     .doc = "Largest WebSocket message in bytes; larger ones get too-large."},
    {.name = "signal.rate", .type = CMN_CFG_INT, .offset = F(signal.rate),
     .def = "50", .min = 1, .max = 1000000, .reloadable = true,
     .doc = "Messages per second one connection may send on average; more get rate-limited."},
    {.name = "signal.burst", .type = CMN_CFG_INT, .offset = F(signal.burst),
     .def = "200", .min = 1, .max = 1000000, .reloadable = true,
     .doc = "Messages one connection may send at once above signal.rate."},
    {.name = "signal.max_room_peers", .type = CMN_CFG_INT, .offset = F(signal.max_room_peers),
     .def = "50", .min = 1, .max = 100000, .reloadable = true,
     .doc = "Most peers in one room; one more gets room-full."},
    {.name = "signal.max_rooms", .type = CMN_CFG_INT, .offset = F(signal.max_rooms),
     .def = "10000", .min = 1, .max = 10000000, .reloadable = true,
     .doc = "Most rooms at once; a join that would open one more gets too-many-rooms."},
    {.name = "signal.max_connections_per_ip", .type = CMN_CFG_INT,
     .offset = F(signal.max_connections_per_ip),
     .def = "100", .min = 1, .max = 1000000, .reloadable = true,
     .doc = "Most WebSocket connections from one IP address; more are refused with 429."},
    {.name = "signal.ping_interval", .type = CMN_CFG_INT, .offset = F(signal.ping_interval),
     .def = "20", .min = 1, .max = 3600, .reloadable = true,
     .doc = "Seconds of silence after which the hub sends a WebSocket ping."},
    {.name = "signal.idle_timeout", .type = CMN_CFG_INT, .offset = F(signal.idle_timeout),
     .def = "60", .min = 2, .max = 86400, .reloadable = true,
     .doc = "Seconds without any frame (pongs count) after which a connection is closed."},
    {.name = "signal.resume_seconds", .type = CMN_CFG_INT, .offset = F(signal.resume_seconds),
     .def = "30", .min = 0, .max = 3600, .reloadable = true,
     .doc = "Grace period in seconds for a dropped peer to resume with its resume token."},
    {.name = "signal.resume_queue", .type = CMN_CFG_INT, .offset = F(signal.resume_queue),
     .def = "256", .min = 0, .max = 100000, .reloadable = true,
     .doc = "Messages kept for a peer while it is away; beyond it senders get undelivered."},
    {.name = "signal.drain_delay", .type = CMN_CFG_INT, .offset = F(signal.drain_delay),
     .def = "5", .min = 0, .max = 3600, .reloadable = true,
     .doc = "Seconds after SIGTERM before peers get a going-away close (1001) and icehubd exits."},
    {.name = "signal.ice_servers_max", .type = CMN_CFG_INT, .offset = F(signal.ice_servers_max),
     .def = "3", .min = 1, .max = 16, .reloadable = true,
     .doc = "Most TURN relays listed in iceServers (with redis.url: the least loaded first)."},
    {.name = "signal.ice_servers", .type = CMN_CFG_WORDS, .offset = F(signal.ice_servers),
     .def = "stun, turn-udp, turn-tcp, turns", .choices = "stun|turn-udp|turn-tcp|turns",
     .reloadable = true,
     .doc = "Which URLs iceServers holds: stun, turn-udp, turn-tcp, turns (TURN over TLS)."},
    {.name = "signal.client_stats", .type = CMN_CFG_BOOL, .offset = F(signal.client_stats),
     .def = "true", .reloadable = true,
     .doc = "Count the connection outcomes clients report (stats messages) on /metrics."},
    {.name = "log.level", .type = CMN_CFG_LOGLEVEL, .offset = F(log.level),
     .def = "info", .reloadable = true,
     .doc = "Least severe level logged: error, warn, info or debug."},
    /* ---- quota.*, cost.*: bandwidth quotas and prices ---- */
    {.name = "quota.allocation_bps", .type = CMN_CFG_SIZE, .offset = F(quota.allocation_bps),
     .def = "0", .min = 0, .max = 1000000000000L, .reloadable = true,
     .doc = "Bits per second of UDP payload one allocation may relay in each direction; 0 = unlimited."},
    {.name = "quota.allocation_burst", .type = CMN_CFG_SIZE,
     .offset = F(quota.allocation_burst),
     .def = "0", .min = 0, .max = 1099511627776L, .reloadable = true,
     .doc = "Bytes an allocation may send at once above its rate; 0 = one second of rate, at least 64 KiB."},
    {.name = "quota.users", .type = CMN_CFG_RATEMAP, .offset = F(quota.users),
     .def = "", .reloadable = true,
     .doc = "Per-user rates \"PATTERN=RATE\" replacing quota.allocation_bps (exact name or glob)."},
    {.name = "quota.total_bps", .type = CMN_CFG_SIZE, .offset = F(quota.total_bps),
     .def = "0", .min = 0, .max = 10000000000000L, .reloadable = true,
     .doc = "Bits per second the whole server relays (each direction), split evenly over the workers; 0 = unlimited."},
    {.name = "quota.user_bytes", .type = CMN_CFG_SIZE, .offset = F(quota.user_bytes),
     .def = "0", .min = 0, .max = 9000000000000000000L, .reloadable = true,
     .doc = "Bytes one user may relay per quota.period (both directions); 0 = unlimited."},
    {.name = "quota.period", .type = CMN_CFG_ENUM, .offset = F(quota.period),
     .def = "month", .choices = "day|month", .reloadable = true,
     .doc = "Period of quota.user_bytes and of usage: a UTC day or calendar month."},
    {.name = "quota.over_action", .type = CMN_CFG_ENUM, .offset = F(quota.over_action),
     .def = "stop", .choices = "throttle|stop", .reloadable = true,
     .doc = "What happens to a user's allocations past quota.user_bytes: throttle or stop."},
    {.name = "quota.floor_bps", .type = CMN_CFG_SIZE, .offset = F(quota.floor_bps),
     .def = "64k", .min = 1000, .max = 1000000000000L, .reloadable = true,
     .doc = "Bits per second an over-quota user's allocations keep with over_action throttle."},
    {.name = "cost.egress_per_gb", .type = CMN_CFG_DOUBLE, .offset = F(cost.egress_per_gb),
     .def = "0", .min = 0, .max = 1000000, .reloadable = true,
     .doc = "Price of 10^9 bytes relayed to clients (egress), in cost.currency."},
    {.name = "cost.ingress_per_gb", .type = CMN_CFG_DOUBLE, .offset = F(cost.ingress_per_gb),
     .def = "0", .min = 0, .max = 1000000, .reloadable = true,
     .doc = "Price of 10^9 bytes relayed from clients to peers (ingress), in cost.currency."},
    {.name = "cost.currency", .type = CMN_CFG_STRING, .offset = F(cost.currency),
     .def = "USD", .min = 1, .max = 16, .reloadable = true,
     .doc = "Currency code of the prices (a label on icehub_turn_cost_total)."},

    /* ---- ledger.*, metrics.*: usage ledger and metrics options ---- */
    {.name = "ledger.path", .type = CMN_CFG_STRING, .offset = F(ledger.path),
     .def = "", .min = 0, .max = 4000,
     .doc = "Append-only JSON-lines usage ledger (one record per allocation end); empty = off."},
    {.name = "ledger.interval", .type = CMN_CFG_INT, .offset = F(ledger.interval),
     .def = "60", .min = 1, .max = 86400, .reloadable = true,
     .doc = "Seconds between interim ledger records of a long allocation."},
    {.name = "ledger.max_bytes", .type = CMN_CFG_SIZE, .offset = F(ledger.max_bytes),
     .def = "0", .min = 0, .max = 1099511627776L, .reloadable = true,
     .doc = "Rotate the ledger file when it would grow past this many bytes; 0 = never."},
    {.name = "ledger.rotate_daily", .type = CMN_CFG_BOOL, .offset = F(ledger.rotate_daily),
     .def = "false", .reloadable = true,
     .doc = "Rotate the ledger file at the first record after UTC midnight."},
    {.name = "ledger.on_error", .type = CMN_CFG_ENUM, .offset = F(ledger.on_error),
     .def = "continue", .choices = "continue|stop", .reloadable = true,
     .doc = "While the ledger cannot write: relay on (records wait in memory) or stop (no allocations)."},
    {.name = "metrics.top_users", .type = CMN_CFG_INT, .offset = F(metrics.top_users),
     .def = "10", .min = 0, .max = 1000, .reloadable = true,
     .doc = "Users with their own per-user series on /metrics (the rest sum as \"other\")."},
    {.name = "metrics.listen", .type = CMN_CFG_ADDRLIST, .offset = F(metrics.listen),
     .def = "",
     .doc = "Extra addresses serving only /metrics, /livez and /readyz (no API, no pages)."},

    /* ---- admin.*: the admin API ---- */
    {.name = "admin.enabled", .type = CMN_CFG_BOOL, .offset = F(admin.enabled),
     .def = "false", .reloadable = true,
     .doc = "Serve the admin API (/api/*) and the dashboard on http.listen."},
    {.name = "admin.token", .type = CMN_CFG_STRING, .offset = F(admin.token),
     .def = "", .min = 0, .max = 256, .reloadable = true, .secret = true,
     .doc = "Bearer token the admin API requires; empty is allowed only on loopback listeners."},
    {.name = "admin.token_file", .type = CMN_CFG_PATH, .offset = F(admin.token_file),
     .def = "", .reloadable = true,
     .doc = "File whose first line is admin.token (a systemd credential, a mounted secret)."},
    {.name = "admin.revocations_file", .type = CMN_CFG_STRING,
     .offset = F(admin.revocations_file), .def = "", .min = 0, .max = 4000, .reloadable = true,
     .doc = "File that keeps revocations across restarts; empty = revocations.json beside "
            "ledger.path (none without a ledger)."},
    {.name = "admin.revocation_ttl", .type = CMN_CFG_INT, .offset = F(admin.revocation_ttl),
     .def = "2592000", .min = 60, .max = 315360000, .reloadable = true,
     .doc = "Seconds a revocation lasts unless the request gives its own ttl."},

    /* ---- upgrade.*: the live upgrade ---- */
    {.name = "upgrade.socket", .type = CMN_CFG_STRING, .offset = F(upgrade.socket),
     .def = "", .min = 0, .max = 107,
     .doc = "Unix socket a new icehubd --upgrade takes the running one's sockets and "
            "allocations over; empty = no live upgrade."},

    /* ---- redis.*: federation of several nodes through Redis (docs/scaling.md) ---- */
    {.name = "redis.url", .type = CMN_CFG_STRING, .offset = F(redis.url),
     .def = "", .min = 0, .max = 1024, .secret = true,
     .doc = "Redis to federate through: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix://PATH; empty = one node."},
    {.name = "redis.password", .type = CMN_CFG_STRING, .offset = F(redis.password),
     .def = "", .min = 0, .max = 255, .secret = true,
     .doc = "Password for Redis AUTH; replaces the one in redis.url."},
    {.name = "redis.prefix", .type = CMN_CFG_STRING, .offset = F(redis.prefix),
     .def = "icehub:", .min = 1, .max = 64,
     .doc = "Prefix of every Redis key and channel: one Redis can hold several clusters."},
    {.name = "redis.node_id", .type = CMN_CFG_STRING, .offset = F(redis.node_id),
     .def = "", .min = 0, .max = 32,
     .doc = "This node's name in the cluster (A-Z a-z 0-9 - _); empty derives one from the host and listeners."},
    {.name = "redis.advertise_host", .type = CMN_CFG_STRING, .offset = F(redis.advertise_host),
     .def = "", .min = 0, .max = 253, .reloadable = true,
     .doc = "Host other nodes put in iceServers for this node's relay; empty: turn.external_ip or turn.listen."},
    {.name = "redis.timeout", .type = CMN_CFG_INT, .offset = F(redis.timeout),
     .def = "2", .min = 1, .max = 60,
     .doc = "Seconds a Redis command may take before the connection counts as broken and is reopened."},
    {.name = "redis.connect_timeout", .type = CMN_CFG_INT, .offset = F(redis.connect_timeout),
     .def = "2", .min = 1, .max = 60,
     .doc = "Seconds a connection attempt to Redis may take."},
    {.name = "redis.heartbeat", .type = CMN_CFG_INT, .offset = F(redis.heartbeat),
     .def = "1", .min = 1, .max = 60,
     .doc = "Seconds between this node's heartbeats (liveness, relay load, drain state)."},
    {.name = "redis.node_ttl", .type = CMN_CFG_INT, .offset = F(redis.node_ttl),
     .def = "5", .min = 2, .max = 600,
     .doc = "Seconds a heartbeat key lives: a node silent this long is dead and its peers leave."},
    {.name = "redis.backoff_max", .type = CMN_CFG_INT, .offset = F(redis.backoff_max),
     .def = "5", .min = 1, .max = 300,
     .doc = "Longest wait in seconds between reconnect attempts (backoff from 0.1 s, doubling)."},
    {.name = "redis.queue_bytes", .type = CMN_CFG_SIZE, .offset = F(redis.queue_bytes),
     .def = "16Mi", .min = 65536, .max = 1073741824L,
     .doc = "Bytes queued each way between the hub and the Redis thread; past it messages are dropped and counted."},
    {.name = "redis.required", .type = CMN_CFG_BOOL, .offset = F(redis.required),
     .def = "false", .reloadable = true,
     .doc = "Answer /readyz with 503 while Redis is unreachable (default: local service counts as ready)."},
};

/* The port range is one setting with two fields; it is stored as a pair. */
_Static_assert(offsetof(cmn_settings_t, turn.relay_port_max) ==
                   offsetof(cmn_settings_t, turn.relay_port_min) + sizeof(uint16_t),
               "relay_port_min and relay_port_max must be adjacent");

const cmn_cfg_def_t *cmn_config_schema(size_t *n)
{
    *n = CMN_ARRAY_LEN(schema);
    return schema;
}

bool cmn__cfg_is_list(cmn_cfg_type_t t)
{
    return t == CMN_CFG_STRLIST || t == CMN_CFG_ADDRLIST || t == CMN_CFG_CIDRLIST ||
           t == CMN_CFG_USERLIST || t == CMN_CFG_EXTIPLIST || t == CMN_CFG_RATEMAP ||
           t == CMN_CFG_WORDS;
}

const char *cmn__cfg_expect(const cmn_cfg_def_t *d, char *buf, size_t len)
{
    const char *s = "a value";
    switch (d->type) {
    case CMN_CFG_BOOL: s = "one of true, false, yes, no, on, off, 1, 0"; break;
    case CMN_CFG_INT: snprintf(buf, len, "an integer in %ld..%ld", d->min, d->max); return buf;
    case CMN_CFG_STRING:
        snprintf(buf, len, "a string of %ld..%ld bytes without control characters", d->min,
                 d->max);
        return buf;
    case CMN_CFG_PATH: s = "a file path without control characters"; break;
    case CMN_CFG_STRLIST: s = "a non-empty string"; break;
    case CMN_CFG_ADDRLIST: s = "an address \"IP:PORT\" or \"[IPv6]:PORT\""; break;
    case CMN_CFG_IP: s = "an IP address or \"\" (automatic)"; break;
    case CMN_CFG_CIDRLIST: s = "an address or prefix \"IP\" or \"IP/LEN\""; break;
    case CMN_CFG_PORTRANGE: s = "\"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535"; break;
    case CMN_CFG_LOGLEVEL: s = "one of error, warn, info, debug"; break;
    case CMN_CFG_USERLIST: s = "\"NAME:PASSWORD\" with a non-empty NAME and PASSWORD"; break;
    case CMN_CFG_EXTIPLIST: s = "\"PUBLIC-IP\", \"PUBLIC-IP/PRIVATE-IP\" or \"auto\""; break;
    case CMN_CFG_SIZE:
    case CMN_CFG_DOUBLE:
    case CMN_CFG_ENUM:
    case CMN_CFG_WORDS:
    case CMN_CFG_RATEMAP: return cmn__cfg_num_expect(d, buf, len);
    }
    snprintf(buf, len, "%s", s);
    return buf;
}

/* ---- Scalars --------------------------------------------------------- */

static int parse_bool(const char *t, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < CMN_ARRAY_LEN(yes); i++) {
        if (strcasecmp(t, yes[i]) == 0 || strcasecmp(t, no[i]) == 0) {
            *out = strcasecmp(t, yes[i]) == 0;
            return 0;
        }
    }
    return CMN_EINVAL;
}

/* Decimal only: an optional '-', then digits, nothing before or after. */
static int parse_llong(const char *t, long long *out)
{
    const char *p = t[0] == '-' ? t + 1 : t;
    if (*p < '0' || *p > '9')
        return CMN_EINVAL;
    char *end;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return CMN_EINVAL;
    *out = x;
    return 0;
}

bool cmn__cfg_int_ok(const cmn_cfg_def_t *d, long long x)
{
    return x >= d->min && x <= d->max;
}

static bool has_control(const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* Strict decimal 0..65535, at most 5 digits. */
static int parse_u16(const char *t, size_t n, unsigned *out)
{
    if (n == 0 || n > 5)
        return CMN_EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return CMN_EINVAL;
        v = v * 10 + (unsigned)(t[i] - '0');
    }
    if (v > 65535)
        return CMN_EINVAL;
    *out = v;
    return 0;
}

static int parse_range(const char *t, uint16_t range[2], const char **why)
{
    const char *dash = strchr(t, '-');
    unsigned lo, hi;
    if (!dash || parse_u16(t, (size_t)(dash - t), &lo) < 0 ||
        parse_u16(dash + 1, strlen(dash + 1), &hi) < 0 || lo < 1 || lo > hi)
        return CMN_EINVAL;
    /* EVEN-PORT (RFC 8656 section 14.6) and any sensible relay need a
     * choice of ports; a one-port range serves a single allocation. */
    if (hi == lo) {
        *why = "a range of at least 2 ports \"LOW-HIGH\"";
        return CMN_EINVAL;
    }
    range[0] = (uint16_t)lo;
    range[1] = (uint16_t)hi;
    return 0;
}

static int parse_ip(const char *t, cmn_addr_t *out, const char **why)
{
    if (t[0] == '\0') {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    cmn_addr_t a;
    if (cmn_addr_parse_ip(&a, t) < 0)
        return CMN_EINVAL;
    if (cmn_addr_is_any(&a)) {
        *why = "a specific IP address (not 0.0.0.0 or ::) or \"\" (automatic)";
        return CMN_EINVAL;
    }
    cmn_addr_canonical(out, &a);
    return 0;
}

int cmn__cfg_parse_scalar(const cmn_cfg_def_t *d, const char *text, cmn__cfg_val_t *v,
                          const char **why)
{
    long long x;
    size_t n = strlen(text);
    *why = NULL;
    memset(v, 0, sizeof(*v));
    switch (d->type) {
    case CMN_CFG_BOOL: return parse_bool(text, &v->b);
    case CMN_CFG_INT:
        if (parse_llong(text, &x) < 0 || !cmn__cfg_int_ok(d, x))
            return CMN_EINVAL;
        v->i = (int)x;
        return 0;
    case CMN_CFG_STRING:
        if (has_control(text) || (long)n < d->min || (long)n > d->max)
            return CMN_EINVAL;
        v->str = cmn_strdup(text);
        return 0;
    case CMN_CFG_PATH:
        if (has_control(text))
            return CMN_EINVAL;
        v->str = cmn_strdup(text);
        return 0;
    case CMN_CFG_IP: return parse_ip(text, &v->ip, why);
    case CMN_CFG_PORTRANGE: return parse_range(text, v->range, why);
    case CMN_CFG_LOGLEVEL: return cmn_log_level_parse(text, &v->level) < 0 ? CMN_EINVAL : 0;
    case CMN_CFG_SIZE:
    case CMN_CFG_DOUBLE:
    case CMN_CFG_ENUM: return cmn__cfg_parse_num(d, text, v, why);
    default: return CMN_EINVAL; /* a list: the caller goes element by element */
    }
}

/* ---- List elements --------------------------------------------------- */

static void strlist_push(cmn_strlist_t *l, char *s)
{
    l->v = cmn_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = s;
}

static int add_user(cmn_strlist_t *l, const char *e, const char **why)
{
    const char *colon = strchr(e, ':');
    if (!colon || colon == e || colon[1] == '\0')
        return CMN_EINVAL;
    size_t nlen = (size_t)(colon - e);
    for (size_t i = 0; i < l->n; i++) {
        if (strncmp(l->v[i], e, nlen + 1) == 0) {
            *why = "unique user names";
            return CMN_EINVAL;
        }
    }
    strlist_push(l, cmn_strdup(e));
    return 0;
}

static int add_addr(cmn_addrlist_t *l, const char *e, const char **why)
{
    cmn_addr_t a;
    if (cmn_addr_parse(&a, e, -1) < 0)
        return CMN_EINVAL;
    for (size_t i = 0; i < l->n; i++) {
        if (cmn_addr_equal(&l->v[i], &a)) {
            *why = "each address once";
            return CMN_EINVAL;
        }
    }
    l->v = cmn_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = a;
    return 0;
}

/* "PUBLIC" or "PUBLIC/PRIVATE": specific addresses of one family, stored in
 * the canonical text form so consumers need not parse leniently. */
static int add_extip(cmn_strlist_t *l, const char *e, const char **why)
{
    /* "auto": found at run time (turn.external_ip_servers); alone or not at all. */
    if (strcmp(e, CMN_EXTIP_AUTO) == 0 || (l->n && strcmp(l->v[0], CMN_EXTIP_AUTO) == 0)) {
        if (l->n) {
            *why = "\"auto\" alone, or addresses without \"auto\"";
            return CMN_EINVAL;
        }
        strlist_push(l, cmn_strdup(CMN_EXTIP_AUTO));
        return 0;
    }
    const char *slash = strchr(e, '/');
    char pub_text[CMN_ADDR_STRLEN];
    size_t plen = slash ? (size_t)(slash - e) : strlen(e);
    if (plen == 0 || plen >= sizeof(pub_text))
        return CMN_EINVAL;
    memcpy(pub_text, e, plen);
    pub_text[plen] = '\0';
    cmn_addr_t pub, priv;
    if (parse_ip(pub_text, &pub, why) < 0 || (slash && parse_ip(slash + 1, &priv, why) < 0))
        return CMN_EINVAL;
    if (pub.family == 0 || (slash && priv.family == 0))
        return CMN_EINVAL;
    if (slash && priv.family != pub.family) {
        *why = "\"PUBLIC-IP/PRIVATE-IP\" of one address family";
        return CMN_EINVAL;
    }
    char out[2 * CMN_ADDR_STRLEN + 1], b1[CMN_ADDR_STRLEN], b2[CMN_ADDR_STRLEN];
    cmn_addr_format(&pub, b1, sizeof(b1), false);
    if (slash)
        snprintf(out, sizeof(out), "%s/%s", b1, cmn_addr_format(&priv, b2, sizeof(b2), false));
    else
        snprintf(out, sizeof(out), "%s", b1);
    strlist_push(l, cmn_strdup(out));
    return 0;
}

int cmn__cfg_list_add(const cmn_cfg_def_t *d, cmn__cfg_val_t *v, const char *elem,
                      const char **why)
{
    *why = NULL;
    switch (d->type) {
    case CMN_CFG_STRLIST:
        if (elem[0] == '\0')
            return CMN_EINVAL;
        strlist_push(&v->sl, cmn_strdup(elem));
        return 0;
    case CMN_CFG_USERLIST: return add_user(&v->sl, elem, why);
    case CMN_CFG_ADDRLIST: return add_addr(&v->al, elem, why);
    case CMN_CFG_CIDRLIST: return cmn_cidrset_add_text(&v->cs, elem);
    case CMN_CFG_EXTIPLIST: return add_extip(&v->sl, elem, why);
    case CMN_CFG_RATEMAP: return cmn__cfg_add_ratemap(&v->sl, elem, why);
    case CMN_CFG_WORDS: return cmn__cfg_add_word(d, &v->i, elem, why);
    default: return CMN_EINVAL;
    }
}

/* ---- Storage --------------------------------------------------------- */

static size_t type_size(cmn_cfg_type_t t)
{
    switch (t) {
    case CMN_CFG_BOOL: return sizeof(bool);
    case CMN_CFG_INT:
    case CMN_CFG_ENUM:
    case CMN_CFG_WORDS: return sizeof(int);
    case CMN_CFG_SIZE: return sizeof(uint64_t);
    case CMN_CFG_DOUBLE: return sizeof(double);
    case CMN_CFG_STRING:
    case CMN_CFG_PATH: return sizeof(char *);
    case CMN_CFG_IP: return sizeof(cmn_addr_t);
    case CMN_CFG_PORTRANGE: return 2 * sizeof(uint16_t);
    case CMN_CFG_LOGLEVEL: return sizeof(cmn_log_level_t);
    case CMN_CFG_STRLIST:
    case CMN_CFG_USERLIST:
    case CMN_CFG_EXTIPLIST:
    case CMN_CFG_RATEMAP: return sizeof(cmn_strlist_t);
    case CMN_CFG_ADDRLIST: return sizeof(cmn_addrlist_t);
    case CMN_CFG_CIDRLIST: return sizeof(cmn_cidrset_t);
    }
    return 0;
}

/* Free what a value of type <t> at <p> owns and zero it. Fields and union
 * members share their layout, so this serves both. */
static void free_value(cmn_cfg_type_t t, void *p)
{
    if (t == CMN_CFG_STRING || t == CMN_CFG_PATH) {
        cmn_free(*(char **)p);
    } else if (t == CMN_CFG_STRLIST || t == CMN_CFG_USERLIST || t == CMN_CFG_EXTIPLIST ||
               t == CMN_CFG_RATEMAP) {
        cmn_strlist_t *l = p;
        for (size_t i = 0; i < l->n; i++) {
            /* Lists hold passwords and shared secrets: wipe before freeing. */
            explicit_bzero(l->v[i], strlen(l->v[i]));
            cmn_free(l->v[i]);
        }
        cmn_free(l->v);
    } else if (t == CMN_CFG_ADDRLIST) {
        cmn_free(((cmn_addrlist_t *)p)->v);
    } else if (t == CMN_CFG_CIDRLIST) {
        cmn_cidrset_dispose(p);
    }
    memset(p, 0, type_size(t));
}

void cmn__cfg_val_free(const cmn_cfg_def_t *d, cmn__cfg_val_t *v)
{
    free_value(d->type, v);
}

void cmn__cfg_field_free(cmn_settings_t *s, const cmn_cfg_def_t *d)
{
    free_value(d->type, (char *)s + d->offset);
}

void cmn__cfg_store(cmn_settings_t *s, const cmn_cfg_def_t *d, cmn__cfg_val_t *v)
{
    cmn__cfg_field_free(s, d);
    memcpy((char *)s + d->offset, v, type_size(d->type));
    memset(v, 0, sizeof(*v));
}

/* ---- Messages -------------------------------------------------------- */

/* Double-quote <s>, escaping '"', '\\' and control bytes, and cut it after
 * <cap> input bytes with "..." so one bad value cannot flood a message. */
static void quote(const char *s, size_t cap, char *buf, size_t len)
{
    size_t o = 0;
    if (len < 8) {
        if (len)
            buf[0] = '\0';
        return;
    }
    buf[o++] = '"';
    for (size_t i = 0; s[i] && o + 8 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

const char *cmn__cfg_found(const cmn_cfg_def_t *d, const char *text, char *buf, size_t len)
{
    if (d && d->type == CMN_CFG_USERLIST) {
        /* Show the name, never the password. */
        const char *colon = strchr(text, ':');
        char name[80];
        if (!colon) {
            snprintf(buf, len, "an entry without ':'");
            return buf;
        }
        size_t n = CMN_MIN((size_t)(colon - text), sizeof(name) - 1);
        memcpy(name, text, n);
        name[n] = '\0';
        quote(name, 64, buf, len > 5 ? len - 5 : len);
        size_t o = strlen(buf);
        if (o > 0 && o + 5 <= len)
            memcpy(buf + o - 1, ":***\"", 6);
        return buf;
    }
    quote(text, 100, buf, len);
    return buf;
}

/* ---- Printing -------------------------------------------------------- */

/* A libconfig string literal: '"' and '\\' escaped, control bytes as \xNN. */
static void print_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* One list element; <i> indexes the list field at <p>. */
static void print_elem(FILE *f, const cmn_cfg_def_t *d, const void *p, size_t i)
{
    char buf[CMN_ADDR_STRLEN];
    if (d->type == CMN_CFG_ADDRLIST) {
        print_string(f, cmn_addr_format(&((const cmn_addrlist_t *)p)->v[i], buf, sizeof(buf),
                                        true));
    } else if (d->type == CMN_CFG_CIDRLIST) {
        print_string(f, cmn_cidr_format(&((const cmn_cidrset_t *)p)->v[i], buf, sizeof(buf)));
    } else {
        const char *e = ((const cmn_strlist_t *)p)->v[i];
        if (d->type == CMN_CFG_USERLIST && d->secret) {
            /* Keep the name, hide the password; the name is escaped like
             * any string (a '"' in it once broke the printed file). */
            size_t nl = strcspn(e, ":");
            char *shown = cmn_malloc(nl + 5);
            memcpy(shown, e, nl);
            memcpy(shown + nl, ":***", 5);
            print_string(f, shown);
            cmn_free(shown);
        } else {
            print_string(f, d->secret ? "***" : e);
        }
    }
}

static size_t list_len(const cmn_cfg_def_t *d, const void *p)
{
    if (d->type == CMN_CFG_ADDRLIST)
        return ((const cmn_addrlist_t *)p)->n;
    if (d->type == CMN_CFG_CIDRLIST)
        return ((const cmn_cidrset_t *)p)->n;
    return ((const cmn_strlist_t *)p)->n;
}

static void print_value(FILE *f, const cmn_cfg_def_t *d, const void *p)
{
    char buf[CMN_ADDR_STRLEN];
    switch (d->type) {
    case CMN_CFG_BOOL: fputs(*(const bool *)p ? "true" : "false", f); return;
    case CMN_CFG_INT: fprintf(f, "%d", *(const int *)p); return;
    case CMN_CFG_STRING:
    case CMN_CFG_PATH: {
        const char *v = *(char *const *)p;
        print_string(f, d->secret && v[0] ? "***" : v);
        return;
    }
    case CMN_CFG_IP: {
        const cmn_addr_t *a = p;
        print_string(f, a->family ? cmn_addr_format(a, buf, sizeof(buf), false) : "");
        return;
    }
    case CMN_CFG_PORTRANGE: {
        const uint16_t *r = p;
        fprintf(f, "\"%u-%u\"", (unsigned)r[0], (unsigned)r[1]);
        return;
    }
    case CMN_CFG_LOGLEVEL:
        print_string(f, cmn_log_level_name(*(const cmn_log_level_t *)p));
        return;
    case CMN_CFG_SIZE:
    case CMN_CFG_DOUBLE:
    case CMN_CFG_ENUM:
    case CMN_CFG_WORDS: cmn__cfg_num_print(f, d, p); return;
    default: break;
    }
    size_t n = list_len(d, p);
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : " ", f);
        print_elem(f, d, p, i);
    }
    fputs(n ? " ]" : "]", f);
}

void cmn_config_print(const cmn_settings_t *s, FILE *f)
{
    size_t n;
    const cmn_cfg_def_t *defs = cmn_config_schema(&n);
    size_t seclen = 0;
    const char *sec = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = defs[i].name, *dot = strchr(name, '.');
        size_t len = (size_t)(dot - name);
        if (!sec || len != seclen || strncmp(sec, name, len) != 0) {
            if (sec)
                fputs("};\n", f);
            fprintf(f, "%.*s = {\n", (int)len, name);
            sec = name;
            seclen = len;
        }
        fprintf(f, "    %s = ", dot + 1);
        print_value(f, &defs[i], (const char *)s + defs[i].offset);
        fputs(";\n", f);
    }
    if (sec)
        fputs("};\n", f);
}
