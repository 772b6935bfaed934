/* icehub - SPDX-License-Identifier: MIT
 *
 * stun_binding.c: the Binding service of a STUN server (RFC 8489 §6.3) as a
 * pure function from a decoded request and its source address to the bytes
 * of the response.
 *
 * The response is deliberately minimal: XOR-MAPPED-ADDRESS, SOFTWARE if
 * configured, FINGERPRINT. Nothing from the request is reflected except the
 * transaction id, so a forged source address can't be used to bounce
 * attacker-chosen bytes at a victim, and the response is barely larger than
 * the request. No authentication is asked for: the Binding usage of a
 * public STUN server is open to anyone, and ICE connectivity checks aimed at
 * us carry short-term credentials we don't have.
 *
 * RFC 3489 ("classic") requests, which some agents (libnice) still send
 * first, get the RFC 3489 answer: MAPPED-ADDRESS, the 16-byte transaction id
 * echoed, and no FINGERPRINT (§12). RFC 3489 clients doing NAT-type
 * discovery put CHANGE-REQUEST in every request; it was part of RFC 3489
 * (§11.2.4), so in a classic request it is understood, not 420'd: without
 * change flags it changes nothing, and with them (answer from another
 * address, which a single-address server doesn't have) the request goes
 * unanswered, which is what RFC 3489 clients read as "not possible". A
 * cookie-carrying request with it still gets 420, which is how an RFC 5780
 * client learns the server does no behaviour discovery.
 */
#include "stun_int.h"

/* RFC 3489 §11.2.4 (now RFC 5780 §7.2): 0x0003, a 32-bit word whose bits
 * 0x04 (change IP) and 0x02 (change port) ask for a reply from elsewhere. */
#define CHANGE_REQUEST 0x0003
#define CHANGE_FLAGS 0x00000006u

static void start_response(stun_enc_t *e, const stun_msg_t *m, uint8_t cls, uint8_t *out,
                           size_t cap)
{
    uint16_t type = stun_type(STUN_METHOD_BINDING, cls);
    if (m->classic)
        stun_enc_init_classic(e, out, cap, type, m->raw + 4);
    else
        stun_enc_init(e, out, cap, type, m->tid);
}

static void add_software(stun_enc_t *e, const stun_binding_cfg_t *cfg)
{
    if (cfg && cfg->software && cfg->software[0])
        stun_enc_text(e, STUN_ATTR_SOFTWARE, cfg->software);
}

/* The unknown attributes that call for a 420: those of the decode, less
 * CHANGE-REQUEST in a classic request. Returns how many were copied. */
static size_t unknown_list(const stun_msg_t *m, uint16_t types[STUN_MAX_UNKNOWN + 1])
{
    size_t n = 0;
    for (uint16_t i = 0; i < m->nunknown; i++)
        if (!(m->classic && m->unknown[i] == CHANGE_REQUEST))
            types[n++] = m->unknown[i];
    /* RFC 3489 §11.2.11: an odd list repeats one type so the value is a
     * multiple of 4 bytes; RFC 3489 parsers expect that. */
    if (m->classic && n % 2) {
        types[n] = types[n - 1];
        n++;
    }
    return n;
}

/* In a classic request, CHANGE-REQUEST with a change flag set asks for a
 * reply we can't send (see the file comment). */
static bool wants_other_address(const stun_msg_t *m)
{
    const stun_attr_t *a = stun_msg_find(m, CHANGE_REQUEST);
    uint32_t flags;
    if (!m->classic || !a || stun_attr_get_u32(a, &flags) != 0)
        return false;
    return (flags & CHANGE_FLAGS) != 0;
}

/* §6.3.1: unknown comprehension-required attributes get a 420 listing
 * them in UNKNOWN-ATTRIBUTES. */
static void encode_420(stun_enc_t *e, const stun_binding_cfg_t *cfg, const uint16_t *types,
                       size_t n)
{
    stun_enc_error(e, 420, "Unknown Attribute");
    stun_enc_unknown(e, types, n);
    add_software(e, cfg);
}

/* §6.3.1.1 (and RFC 3489 §11.2.1 for a classic request): the reflexive
 * transport address of the request. */
static void encode_success(stun_enc_t *e, const stun_binding_cfg_t *cfg, const stun_msg_t *m,
                           const cmn_addr_t *src)
{
    if (m->classic)
        stun_enc_addr(e, STUN_ATTR_MAPPED_ADDRESS, src);
    else
        stun_enc_xor_addr(e, STUN_ATTR_XOR_MAPPED_ADDRESS, src);
    add_software(e, cfg);
}

stun_bind_res_t stun_binding_handle(const stun_binding_cfg_t *cfg, const stun_msg_t *m,
                                    const cmn_addr_t *src, uint8_t *out, size_t cap,
                                    size_t *out_len)
{
    stun_enc_t e;
    uint16_t unknown[STUN_MAX_UNKNOWN + 1];

    *out_len = 0;
    if (m->method != STUN_METHOD_BINDING)
        return STUN_BIND_NOT_BINDING;
    /* §6.3.2: an indication gets no response; responses reaching a server
     * belong to no transaction of ours. */
    if (m->cls != STUN_CLASS_REQUEST)
        return STUN_BIND_IGNORE;

    size_t nunknown = unknown_list(m, unknown);
    if (nunknown == 0 && wants_other_address(m))
        return STUN_BIND_IGNORE;
    if (nunknown > 0) {
        start_response(&e, m, STUN_CLASS_ERROR, out, cap);
        encode_420(&e, cfg, unknown, nunknown);
    } else {
        start_response(&e, m, STUN_CLASS_SUCCESS, out, cap);
        encode_success(&e, cfg, m, src);
    }
    /* FINGERPRINT (§14.7) helps a peer demultiplex STUN from media; an
     * RFC 3489 client does not know it, so its answer goes without. */
    if (!m->classic)
        stun_enc_fingerprint(&e);

    ssize_t n = stun_enc_finish(&e);
    if (n < 0)
        return STUN_BIND_IGNORE;
    *out_len = (size_t)n;
    return STUN_BIND_REPLY;
}
