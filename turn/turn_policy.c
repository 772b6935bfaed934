/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_policy.c: which peers a relay may reach (RFC 8656 §21 and §10.2,
 * §12.2: "the server MAY impose restrictions on the IP address ... allowed
 * in the XOR-PEER-ADDRESS attribute"). A TURN server is an open proxy into
 * whatever network it sits in, so the default refuses every address that
 * is not public unicast: loopback, private and shared space, link-local,
 * multicast, reserved, the server's own addresses. An operator lists the
 * exceptions in allowed_peers (tests relay to 127.0.0.1, say) and more
 * refusals in denied_peers.
 *
 * Order of the checks:
 *   1. canonicalise: ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d
 *      (IPv4-compatible, other than :: and ::1) are judged as a.b.c.d;
 *   2. allowed_peers matches: allowed (it wins over everything below);
 *   3. an IP equal to one of the server's own addresses: allowed only at a
 *      port of the relay range, that is, another allocation's relayed
 *      address on this server. Two WebRTC peers that both relay through one
 *      server talk relay to relay, and must; the server's other services
 *      (its TURN, HTTP, SSH ports) stay out of reach. Permissions are per
 *      IP, so the Send path checks the port again (turn__peer_port_ok);
 *      channels are checked with their port at ChannelBind;
 *   3b. the built-in deny list or denied_peers: refused;
 *   4. IPv6 addresses that carry an IPv4 address a gateway will reach are
 *      judged again as that IPv4 address: NAT64 64:ff9b::/96 (RFC 6052,
 *      the address in the last 32 bits) and 6to4 2002::/16 (RFC 3056, the
 *      address in bits 16-47). So 64:ff9b::127.0.0.1 is refused like
 *      127.0.0.1, and is allowed only if allowed_peers covers 127.0.0.1 (or
 *      the IPv6 address itself).
 *   5. anything else: allowed.
 * Left out: Teredo (2001::/32) and the local-use NAT64 prefix
 * 64:ff9b:1::/48 (RFC 8215) are not translated; list them in denied_peers
 * where they can reach inside networks.
 *
 * This file also holds the address-family check of XOR-PEER-ADDRESS
 * against the allocation's relayed addresses (443, RFC 8656 §10.2, §12.2).
 */
#include "turn_int.h"

/* Built-in refusals (RFC 6890 special-purpose registries, RFC 8656 §21). */
static const cmn_cidr_t deny_builtin[] = {
    {CMN_AF_INET, 8, {0, 0, 0, 0}},          /* 0.0.0.0/8 "this network" */
    {CMN_AF_INET, 8, {127, 0, 0, 0}},        /* loopback */
    {CMN_AF_INET, 8, {10, 0, 0, 0}},         /* RFC 1918 */
    {CMN_AF_INET, 12, {172, 16, 0, 0}},      /* RFC 1918 */
    {CMN_AF_INET, 16, {192, 168, 0, 0}},     /* RFC 1918 */
    {CMN_AF_INET, 10, {100, 64, 0, 0}},      /* shared address space (CGN), RFC 6598 */
    {CMN_AF_INET, 16, {169, 254, 0, 0}},     /* link-local */
    {CMN_AF_INET, 24, {192, 0, 0, 0}},       /* IETF protocol assignments */
    {CMN_AF_INET, 4, {224, 0, 0, 0}},        /* multicast */
    {CMN_AF_INET, 4, {240, 0, 0, 0}},        /* reserved */
    {CMN_AF_INET, 32, {255, 255, 255, 255}}, /* limited broadcast (inside 240/4 too) */
    {CMN_AF_INET6, 128, {0}},                /* :: unspecified */
    {CMN_AF_INET6, 128, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}, /* ::1 */
    {CMN_AF_INET6, 7, {0xfc}},               /* unique local */
    {CMN_AF_INET6, 10, {0xfe, 0x80}},        /* link-local */
    {CMN_AF_INET6, 8, {0xff}},               /* multicast */
};

static const uint8_t nat64_wkp[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

static bool in_builtin(const cmn_addr_t *c)
{
    for (size_t i = 0; i < CMN_ARRAY_LEN(deny_builtin); i++)
        if (cmn_cidr_contains(&deny_builtin[i], c))
            return true;
    return false;
}

static bool is_own(const turn_cfg_t *cfg, const cmn_addr_t *c)
{
    for (size_t i = 0; i < cfg->nown; i++) {
        cmn_addr_t own;
        cmn_addr_canonical(&own, &cfg->own_addrs[i]);
        if (cmn_addr_ip_equal(&own, c))
            return true;
    }
    return false;
}

/* The IPv4 address an IPv6 address embeds for a translator or tunnel that
 * this server might use (step 4 above); false when it embeds none. */
static bool embedded_v4(const cmn_addr_t *c, cmn_addr_t *v4)
{
    if (c->family != CMN_AF_INET6)
        return false;
    memset(v4, 0, sizeof(*v4));
    v4->family = CMN_AF_INET;
    if (memcmp(c->ip, nat64_wkp, sizeof(nat64_wkp)) == 0) {
        memcpy(v4->ip, c->ip + 12, 4);
        return true;
    }
    if (c->ip[0] == 0x20 && c->ip[1] == 0x02) {
        memcpy(v4->ip, c->ip + 2, 4);
        return true;
    }
    return false;
}

static bool in_relay_range(const turn_cfg_t *cfg, uint16_t port)
{
    return cfg->relay_port_min && port >= cfg->relay_port_min && port <= cfg->relay_port_max;
}

/* Steps 2-5 for a canonical address; <depth> stops after one translation. */
static bool verdict(const turn_cfg_t *cfg, const cmn_addr_t *c, int depth)
{
    if (cfg->allowed_peers && cmn_cidrset_contains(cfg->allowed_peers, c))
        return true;
    if (is_own(cfg, c))
        return in_relay_range(cfg, c->port);
    if (in_builtin(c))
        return false;
    if (cfg->denied_peers && cmn_cidrset_contains(cfg->denied_peers, c))
        return false;
    cmn_addr_t v4;
    if (depth == 0 && embedded_v4(c, &v4))
        return verdict(cfg, &v4, depth + 1);
    return true;
}

bool turn_peer_allowed(const turn_cfg_t *cfg, const cmn_addr_t *peer)
{
    cmn_addr_t c;
    cmn_addr_canonical(&c, peer);
    if (c.family != CMN_AF_INET && c.family != CMN_AF_INET6)
        return false;
    return verdict(cfg, &c, 0);
}

bool turn__peer_port_ok(const turn_cfg_t *cfg, const cmn_addr_t *peer)
{
    cmn_addr_t c;
    cmn_addr_canonical(&c, peer);
    if (!is_own(cfg, &c) || in_relay_range(cfg, c.port))
        return true;
    return cfg->allowed_peers && cmn_cidrset_contains(cfg->allowed_peers, &c);
}

/* RFC 8656 §10.2, §12.2: the peer's family (as sent in XOR-PEER-ADDRESS)
 * must be that of one of the allocation's relayed addresses. */
bool turn__family_ok(const turn_alloc_t *a, const cmn_addr_t *peer)
{
    for (uint8_t i = 0; i < a->nrelay; i++)
        if (a->relay[i].family == peer->family)
            return true;
    return false;
}
