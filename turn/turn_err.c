/* icehub - SPDX-License-Identifier: MIT
 *
 * turn_err.c: the one mapping from what a TURN handler decided to the
 * ERROR-CODE it answers with (RFC 8489 §14.8, RFC 8656 §19), and from the
 * relay_open return codes of the glue to those decisions; and the names of
 * the silent drops (turn_drop_t), which are metric labels.
 *
 * Reason phrases name the rule or limit that was hit, so a client log or a
 * packet capture says why ("Allocation Quota Reached (per-user)") without a
 * look at the server. They are static strings: nothing here formats text.
 * The class and number are what clients act on; the phrases are for people.
 */
#include "turn_int.h"

static const struct {
    int code;
    const char *reason;
} err_table[TURN_ERR_COUNT] = {
    [TURN_OK] = {500, "Server Error"}, /* never encoded; keeps the table total */
    [TURN_ERR_BAD_REQUEST] = {400, "Bad Request"},
    [TURN_ERR_BAD_TRANSPORT_ATTR] = {400, "Bad Request (REQUESTED-TRANSPORT)"},
    [TURN_ERR_BAD_ATTR_COMBO] = {400, "Bad Request (conflicting attributes)"},
    [TURN_ERR_BAD_PWALG] = {400, "Bad Request (PASSWORD-ALGORITHM)"},
    [TURN_ERR_BAD_CHANNEL] = {400, "Bad Request (channel number)"},
    [TURN_ERR_CHANNEL_IN_USE] = {400, "Bad Request (channel bound to another peer)"},
    [TURN_ERR_PEER_IN_USE] = {400, "Bad Request (peer bound to another channel)"},
    /* RFC 8489 renamed 401 from "Unauthorized" to "Unauthenticated". */
    [TURN_ERR_UNAUTHENTICATED] = {401, "Unauthenticated"},
    [TURN_ERR_FORBIDDEN_PEER] = {403, "Forbidden (peer address)"},
    [TURN_ERR_UNKNOWN_ATTR] = {420, "Unknown Attribute"},
    [TURN_ERR_ALLOC_MISMATCH] = {437, "Allocation Mismatch"},
    [TURN_ERR_STALE_NONCE] = {438, "Stale Nonce"},
    [TURN_ERR_FAMILY_UNSUPPORTED] = {440, "Address Family not Supported"},
    [TURN_ERR_WRONG_CREDENTIALS] = {441, "Wrong Credentials"},
    [TURN_ERR_BAD_TRANSPORT] = {442, "Unsupported Transport Protocol"},
    [TURN_ERR_PEER_FAMILY] = {443, "Peer Address Family Mismatch"},
    [TURN_ERR_QUOTA_USER] = {486, "Allocation Quota Reached (per-user)"},
    [TURN_ERR_QUOTA_IP] = {486, "Allocation Quota Reached (per-client-IP)"},
    [TURN_ERR_QUOTA_BYTES] = {486, "Allocation Quota Reached (user byte quota)"},
    [TURN_ERR_USER_REVOKED] = {403, "Forbidden (user revoked)"},
    /* RFC 8656 §7.2 gives 508 for a server out of resources; a full server
     * is that, not a client over its quota. */
    [TURN_ERR_CAP_TOTAL] = {508, "Insufficient Capacity (server total)"},
    [TURN_ERR_CAP_PORT] = {508, "Insufficient Capacity (no relay port)"},
    [TURN_ERR_CAP_TOKEN] = {508, "Insufficient Capacity (reservation token)"},
    /* RFC 8656 §10.2 and §12.2: "unable to satisfy the request due to some
     * capacity limit" is 508 for CreatePermission and ChannelBind. */
    [TURN_ERR_CAP_PERMS] = {508, "Insufficient Capacity (permissions per allocation)"},
    [TURN_ERR_CAP_CHANNELS] = {508, "Insufficient Capacity (channels per allocation)"},
    [TURN_ERR_CAP_ACCOUNTING] = {508, "Insufficient Capacity (usage accounting)"},
    [TURN_ERR_SERVER] = {500, "Server Error"},
    /* RFC 8489 §10 and RFC 8656 §7.2: a server may redirect an Allocate;
     * a draining one does, to turn.alternate_servers. */
    [TURN_ERR_TRY_ALTERNATE] = {300, "Try Alternate (server draining)"},
    [TURN_ERR_DRAINING] = {403, "Forbidden (server draining)"},
};

_Static_assert(TURN_ERR_COUNT <= TURN_ALLOC_ERR_SLOTS, "turn_stats_t.alloc_errors too small");

/* Labels for metrics: which rule an Allocate error stands for. */
static const char *const err_labels[TURN_ERR_COUNT] = {
    [TURN_OK] = NULL,
    [TURN_ERR_BAD_REQUEST] = "bad_request",
    [TURN_ERR_BAD_TRANSPORT_ATTR] = "bad_requested_transport",
    [TURN_ERR_BAD_ATTR_COMBO] = "conflicting_attributes",
    [TURN_ERR_BAD_PWALG] = "bad_password_algorithm",
    [TURN_ERR_BAD_CHANNEL] = "bad_channel",
    [TURN_ERR_CHANNEL_IN_USE] = "channel_in_use",
    [TURN_ERR_PEER_IN_USE] = "peer_in_use",
    [TURN_ERR_UNAUTHENTICATED] = "unauthenticated",
    [TURN_ERR_FORBIDDEN_PEER] = "forbidden_peer",
    [TURN_ERR_UNKNOWN_ATTR] = "unknown_attribute",
    [TURN_ERR_ALLOC_MISMATCH] = "allocation_mismatch",
    [TURN_ERR_STALE_NONCE] = "stale_nonce",
    [TURN_ERR_FAMILY_UNSUPPORTED] = "family_unsupported",
    [TURN_ERR_WRONG_CREDENTIALS] = "wrong_credentials",
    [TURN_ERR_BAD_TRANSPORT] = "unsupported_transport",
    [TURN_ERR_PEER_FAMILY] = "peer_family",
    [TURN_ERR_QUOTA_USER] = "quota_user_allocations",
    [TURN_ERR_QUOTA_IP] = "quota_ip_allocations",
    [TURN_ERR_QUOTA_BYTES] = "quota_user_bytes",
    [TURN_ERR_USER_REVOKED] = "user_revoked",
    [TURN_ERR_CAP_TOTAL] = "capacity_total",
    [TURN_ERR_CAP_PORT] = "capacity_port",
    [TURN_ERR_CAP_TOKEN] = "capacity_token",
    [TURN_ERR_CAP_PERMS] = "capacity_permissions",
    [TURN_ERR_CAP_CHANNELS] = "capacity_channels",
    [TURN_ERR_CAP_ACCOUNTING] = "capacity_accounting",
    [TURN_ERR_SERVER] = "server_error",
    [TURN_ERR_TRY_ALTERNATE] = "draining_redirect",
    [TURN_ERR_DRAINING] = "draining",
};

bool turn_alloc_err_info(unsigned i, int *code, const char **label)
{
    if (i >= TURN_ERR_COUNT || !err_labels[i])
        return false;
    *code = err_table[i].code;
    *label = err_labels[i];
    return true;
}

void turn__err_code(turn_err_t e, int *code, const char **reason)
{
    if ((unsigned)e >= TURN_ERR_COUNT || e == TURN_OK)
        e = TURN_ERR_SERVER;
    *code = err_table[e].code;
    *reason = err_table[e].reason;
}

turn_err_t turn__err_from_relay(int rc)
{
    switch (rc) {
    case 0:
        return TURN_OK;
    case CMN_ELIMIT:
        return TURN_ERR_CAP_PORT;
    /* RFC 8656 §7.2 step 5: an invalid token is 508. */
    case CMN_ENOENT:
        return TURN_ERR_CAP_TOKEN;
    /* §7.2 step 7: a family the server does not relay is 440. */
    case CMN_EINVAL:
        return TURN_ERR_FAMILY_UNSUPPORTED;
    default:
        return TURN_ERR_SERVER;
    }
}

static const char *const drop_names[TURN_DROP_COUNT] = {
    [TURN_DROP_NONE] = "none",
    [TURN_DROP_NO_ALLOCATION] = "no_allocation",
    [TURN_DROP_NO_CHANNEL] = "no_channel",
    [TURN_DROP_NO_PERMISSION] = "no_permission",
    [TURN_DROP_BAD_SEND] = "bad_send",
    [TURN_DROP_PEER_FAMILY] = "peer_family",
    [TURN_DROP_UNKNOWN_ATTRIBUTE] = "unknown_attribute",
    [TURN_DROP_UNEXPECTED_CLASS] = "unexpected_class",
    [TURN_DROP_UNEXPECTED_INDICATION] = "unexpected_indication",
    [TURN_DROP_UNAUTH_RATE_LIMITED] = "unauth_rate_limited",
    [TURN_DROP_ANSWER_RATE_LIMITED] = "answer_rate_limited",
    [TURN_DROP_ENCODE_FAILED] = "encode_failed",
    [TURN_DROP_QUOTA] = "quota",
};

const char *turn_drop_name(turn_drop_t d)
{
    return (unsigned)d < TURN_DROP_COUNT ? drop_names[d] : "?";
}
