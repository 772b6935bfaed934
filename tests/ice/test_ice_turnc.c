/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_turnc.c: ice/ice_turnc.c: the client's requests decoded with
 * stun/ (attributes, credentials, MESSAGE-INTEGRITY with the long-term
 * key), and its reading of the responses a server sends: the 401
 * challenge, success with relayed and mapped addresses, a wrong password,
 * a stale nonce (438), other transactions and forged integrity. The TURN
 * REST API credential against a value computed with Python's hmac.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ice/ice_int.h"

static const uint8_t tid[STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* A response of <method>/<cls> to <tid>; signed with <key> when given. */
typedef struct resp_s {
    uint8_t b[ICE_MSG_MAX];
    size_t len;
} resp_t;

static void resp_error(resp_t *r, uint16_t method, int code, const char *nonce)
{
    stun_enc_t e;
    stun_enc_init(&e, r->b, sizeof(r->b), stun_type(method, STUN_CLASS_ERROR), tid);
    stun_enc_error(&e, code, code == 401 ? "Unauthorized" : "Stale Nonce");
    stun_enc_text(&e, STUN_ATTR_REALM, "example.org");
    stun_enc_text(&e, STUN_ATTR_NONCE, nonce);
    stun_enc_fingerprint(&e);
    ssize_t n = stun_enc_finish(&e);
    assert_true(n > 0);
    r->len = (size_t)n;
}

static void resp_alloc_ok(resp_t *r, const uint8_t *key, size_t keylen)
{
    stun_enc_t e;
    cmn_addr_t relayed, mapped;
    assert_int_equal(cmn_addr_parse(&relayed, "192.0.2.1:50000", -1), 0);
    assert_int_equal(cmn_addr_parse(&mapped, "[2001:db8::9]:40000", -1), 0);
    stun_enc_init(&e, r->b, sizeof(r->b), stun_type(STUN_METHOD_ALLOCATE, STUN_CLASS_SUCCESS),
                  tid);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
    stun_enc_u32(&e, STUN_ATTR_LIFETIME, 600);
    stun_enc_integrity(&e, key, keylen);
    stun_enc_fingerprint(&e);
    ssize_t n = stun_enc_finish(&e);
    assert_true(n > 0);
    r->len = (size_t)n;
}

static void test_challenge_then_success(void **state)
{
    (void)state;
    ice_turnc_t c;
    ice_turnc_res_t res;
    uint8_t req[ICE_MSG_MAX];
    stun_msg_t m;
    resp_t r;
    ice_turnc_init(&c, "alice", "wonderland");
    ssize_t n = ice_turnc_allocate(&c, req, sizeof(req), tid, 600);
    assert_true(n > 0);
    assert_int_equal(stun_msg_decode(&m, req, (size_t)n, NULL), 0);
    assert_int_equal(m.method, STUN_METHOD_ALLOCATE);
    assert_non_null(stun_msg_find(&m, STUN_ATTR_REQUESTED_TRANSPORT));
    assert_null(stun_msg_find(&m, STUN_ATTR_USERNAME));
    assert_true(m.idx_fingerprint >= 0);
    resp_error(&r, STUN_METHOD_ALLOCATE, 401, "n1");
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_ALLOCATE, false, &res), 0);
    assert_false(res.success);
    assert_int_equal(res.code, 401);
    assert_string_equal(res.reason, "Unauthorized");
    assert_true(res.retry);
    assert_int_equal(c.keylen, 16);
    /* The retry carries credentials that check out with the long-term key. */
    n = ice_turnc_allocate(&c, req, sizeof(req), tid, 600);
    assert_int_equal(stun_msg_decode(&m, req, (size_t)n, NULL), 0);
    const char *s;
    size_t sl;
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_USERNAME), &s, &sl), 0);
    assert_int_equal(sl, 5);
    assert_int_equal(stun_attr_get_text(stun_msg_find(&m, STUN_ATTR_NONCE), &s, &sl), 0);
    assert_memory_equal(s, "n1", 2);
    uint8_t key[STUN_KEY_MAX];
    size_t klen;
    assert_int_equal(stun_key_long_term(STUN_PWALG_MD5, "alice", 5, "example.org", 11,
                                        "wonderland", 10, key, &klen),
                     0);
    assert_int_equal(stun_msg_check_integrity(&m, key, klen), 0);
    resp_alloc_ok(&r, key, klen);
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_ALLOCATE, true, &res), 0);
    assert_true(res.success);
    char buf[CMN_ADDR_STRLEN];
    assert_string_equal(cmn_addr_format(&res.relayed, buf, sizeof(buf), true), "192.0.2.1:50000");
    assert_string_equal(cmn_addr_format(&res.mapped, buf, sizeof(buf), true),
                        "[2001:db8::9]:40000");
    assert_int_equal(res.lifetime, 600);
    /* The same response signed with another key is not ours. */
    key[0] ^= 1;
    resp_alloc_ok(&r, key, klen);
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_ALLOCATE, true, &res),
                     CMN_EAUTH);
}

static void test_wrong_password_and_stale_nonce(void **state)
{
    (void)state;
    ice_turnc_t c;
    ice_turnc_res_t res;
    resp_t r;
    ice_turnc_init(&c, "alice", "wrong");
    resp_error(&r, STUN_METHOD_ALLOCATE, 401, "n1");
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_ALLOCATE, false, &res), 0);
    assert_true(res.retry);
    /* Credentials sent and refused in the same realm: no point trying again. */
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_ALLOCATE, true, &res), 0);
    assert_false(res.retry);
    assert_int_equal(res.code, 401);
    /* 438 with a new nonce: send again with it. */
    resp_error(&r, STUN_METHOD_CREATE_PERMISSION, 438, "n2");
    assert_int_equal(
        ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_CREATE_PERMISSION, true, &res), 0);
    assert_true(res.retry);
    assert_string_equal(c.nonce, "n2");
}

static void test_not_ours(void **state)
{
    (void)state;
    ice_turnc_t c;
    ice_turnc_res_t res;
    resp_t r;
    uint8_t other[STUN_TID_LEN] = {9};
    ice_turnc_init(&c, "u", "p");
    resp_error(&r, STUN_METHOD_ALLOCATE, 401, "n1");
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, other, STUN_METHOD_ALLOCATE, false, &res),
                     CMN_ENOENT);
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_REFRESH, false, &res),
                     CMN_ENOENT);
    uint8_t chdata[8] = {0x40, 0, 0, 4, 1, 2, 3, 4};
    assert_int_equal(ice_turnc_response(&c, chdata, 8, tid, STUN_METHOD_ALLOCATE, false, &res),
                     CMN_ENOENT);
    r.b[r.len - 1] ^= 1; /* broken FINGERPRINT on our transaction */
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_ALLOCATE, false, &res),
                     CMN_EPROTO);
}

static void test_other_requests(void **state)
{
    (void)state;
    ice_turnc_t c;
    uint8_t req[ICE_MSG_MAX];
    stun_msg_t m;
    cmn_addr_t peer, got;
    uint16_t ch;
    uint32_t life;
    ice_turnc_init(&c, "u", "p");
    assert_int_equal(cmn_addr_parse(&peer, "198.51.100.4:6000", -1), 0);
    ssize_t n = ice_turnc_channel_bind(&c, req, sizeof(req), tid, 0x4001, &peer);
    assert_int_equal(stun_msg_decode(&m, req, (size_t)n, NULL), 0);
    assert_int_equal(m.method, STUN_METHOD_CHANNEL_BIND);
    assert_int_equal(stun_attr_get_channel(stun_msg_find(&m, STUN_ATTR_CHANNEL_NUMBER), &ch), 0);
    assert_int_equal(ch, 0x4001);
    assert_int_equal(
        stun_attr_get_xor_addr(&m, stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS), &got), 0);
    assert_true(cmn_addr_equal(&got, &peer));
    n = ice_turnc_permission(&c, req, sizeof(req), tid, &peer);
    assert_int_equal(stun_msg_decode(&m, req, (size_t)n, NULL), 0);
    assert_int_equal(m.method, STUN_METHOD_CREATE_PERMISSION);
    n = ice_turnc_refresh(&c, req, sizeof(req), tid, 0);
    assert_int_equal(stun_msg_decode(&m, req, (size_t)n, NULL), 0);
    assert_int_equal(stun_attr_get_u32(stun_msg_find(&m, STUN_ATTR_LIFETIME), &life), 0);
    assert_int_equal(life, 0);
    n = ice_binding_request(req, sizeof(req), tid);
    assert_int_equal(n, 28);
    assert_int_equal(stun_msg_decode(&m, req, (size_t)n, NULL), 0);
    assert_int_equal(m.method, STUN_METHOD_BINDING);
    assert_true(ice_turnc_allocate(&c, req, 10, tid, 0) < 0);
}

static void test_binding_response(void **state)
{
    (void)state;
    ice_turnc_t c;
    ice_turnc_res_t res;
    resp_t r;
    stun_enc_t e;
    cmn_addr_t mapped;
    ice_turnc_init(&c, NULL, NULL);
    assert_int_equal(cmn_addr_parse(&mapped, "203.0.113.5:1234", -1), 0);
    stun_enc_init(&e, r.b, sizeof(r.b), stun_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS), tid);
    stun_enc_addr(&e, STUN_ATTR_MAPPED_ADDRESS, &mapped);
    r.len = (size_t)stun_enc_finish(&e);
    assert_int_equal(ice_turnc_response(&c, r.b, r.len, tid, STUN_METHOD_BINDING, false, &res), 0);
    assert_true(res.success);
    assert_true(cmn_addr_equal(&res.mapped, &mapped));
}

static void test_rest_creds(void **state)
{
    (void)state;
    char user[64], pass[64];
    assert_int_equal(ice_turnc_rest_creds("s3cret", 1700000000, 3600, user, sizeof(user), pass,
                                          sizeof(pass)),
                     0);
    assert_string_equal(user, "1700003600:icehub-probe");
    assert_string_equal(pass, "QRynhTuIsZgQ1iT3zZVnxMu3OIw=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge_then_success),
        cmocka_unit_test(test_wrong_password_and_stale_nonce),
        cmocka_unit_test(test_not_ours),
        cmocka_unit_test(test_other_requests),
        cmocka_unit_test(test_binding_response),
        cmocka_unit_test(test_rest_creds),
    };
    return cmocka_run_group_tests_name("ice_turnc", tests, NULL, NULL);
}
