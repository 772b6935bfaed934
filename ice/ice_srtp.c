/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_srtp.c: SRTP for the call check on libsrtp2: one session that
 * protects what we send with our key, one that unprotects what the peer
 * sends with its key (SDES-style keying, RFC 4568: each side announces its
 * own sending key). AES-CM with HMAC-SHA1-80 (RFC 3711) or AEAD AES-128-GCM
 * (RFC 7714); libsrtp's errors become CMN_E* codes here.
 */
#include "ice_int.h"

#include <srtp2/srtp.h>

static int srtp_session(void **out, ice_srtp_suite_t suite, const uint8_t *key, size_t keylen,
                        bool outbound)
{
    srtp_policy_t pol;
    uint8_t k[ICE_SRTP_KEY_MAX];
    if (keylen != ice_srtp_key_len(suite) || keylen > sizeof(k))
        return CMN_EINVAL;
    memset(&pol, 0, sizeof(pol));
    if (suite == ICE_SRTP_AES_GCM_128) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
    } else {
        srtp_crypto_policy_set_rtp_default(&pol.rtp);
        srtp_crypto_policy_set_rtp_default(&pol.rtcp);
    }
    memcpy(k, key, keylen);
    pol.key = k;
    pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    pol.window_size = 1024;
    srtp_t s = NULL;
    if (srtp_create(&s, &pol) != srtp_err_status_ok)
        return CMN_EIO;
    *out = s;
    return 0;
}

int ice_srtp_start(ice_srtp_t *s, ice_srtp_suite_t suite, const uint8_t *txkey,
                   const uint8_t *rxkey, size_t keylen)
{
    memset(s, 0, sizeof(*s));
    if (srtp_session(&s->tx, suite, txkey, keylen, true) < 0 ||
        srtp_session(&s->rx, suite, rxkey, keylen, false) < 0) {
        ice_srtp_dispose(s);
        return CMN_EIO;
    }
    return 0;
}

int ice_srtp_protect(ice_srtp_t *s, uint8_t *pkt, size_t *len, size_t cap)
{
    int n = (int)*len;
    if (*len + SRTP_MAX_TRAILER_LEN > cap)
        return CMN_ENOMEM;
    if (srtp_protect(s->tx, pkt, &n) != srtp_err_status_ok)
        return CMN_EIO;
    *len = (size_t)n;
    return 0;
}

int ice_srtp_unprotect(ice_srtp_t *s, uint8_t *pkt, size_t *len)
{
    int n = (int)*len;
    srtp_err_status_t st = srtp_unprotect(s->rx, pkt, &n);
    if (st == srtp_err_status_auth_fail)
        return CMN_EAUTH;
    if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old)
        return CMN_EEXIST;
    if (st != srtp_err_status_ok)
        return CMN_EPROTO;
    *len = (size_t)n;
    return 0;
}

void ice_srtp_dispose(ice_srtp_t *s)
{
    if (s->tx)
        srtp_dealloc(s->tx);
    if (s->rx)
        srtp_dealloc(s->rx);
    s->tx = s->rx = NULL;
}
