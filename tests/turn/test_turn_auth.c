/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_auth.c: turn/turn_auth.c through turn_handle_msg: the 401
 * challenge and its size, static users, ephemeral (TURN REST API)
 * credentials with expiry, wrong and rotated secrets, stale and foreign
 * nonces (438), the nonce cookie and PASSWORD-ALGORITHM(S) rules, MESSAGE-
 * INTEGRITY-SHA256, USERHASH, 441 for another user, and the 401 rate
 * limit. Requests are built with the stun/ encoder; no sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

/* An ephemeral username expiring <in> seconds after the fixture's wall
 * clock, and its password from <secret>. */
static void ephemeral(fx_t *fx, double in, const char *tail, const char *secret, char *user,
                      size_t ucap, char *pass)
{
    if (tail)
        snprintf(user, ucap, "%.0f:%s", fx->wall + in, tail);
    else
        snprintf(user, ucap, "%.0f", fx->wall + in);
    assert_int_equal(turn_ephemeral_password(secret, user, pass, 29), 0);
    fx->user = user;
    fx->pass = pass;
}

static void test_challenge_then_success(void **state)
{
    fx_t *fx = *state;
    fx_challenge(fx);
    /* RFC 8489 §9.2.4: the 401 has REALM, NONCE and PASSWORD-ALGORITHMS,
     * no integrity, no SOFTWARE. */
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_REALM));
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_PASSWORD_ALGORITHMS));
    assert_null(stun_msg_find(&fx->rsp, STUN_ATTR_SOFTWARE));
    assert_true(fx->rsp.idx_integrity < 0 && fx->rsp.idx_integrity_sha256 < 0);
    assert_true(fx->rsp.idx_fingerprint >= 0);
    assert_int_equal(strlen(fx->nonce), TURN_NONCE_LEN);
    assert_memory_equal(fx->nonce, "obMatJos2gAAA", 13);
    assert_string_equal(fx_reason(fx), "Unauthenticated");
    assert_int_equal(fx->opens, 0);

    assert_int_equal(fx_allocate(fx), 0);
    fx_check_reply_integrity(fx);
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_SOFTWARE));
    assert_int_equal(fx_u32_attr(fx, STUN_ATTR_LIFETIME), 600);
    assert_int_equal(fx->opens, 1);
    assert_string_equal(turn_alloc_user(fx_alloc(fx)), FX_USER);
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.allocations_active, 1);
    assert_int_equal(st.allocations_failed, 0);
    assert_int_equal(st.auth_failures, 0);
}

/* The 401 is no larger than it must be: 20 header + ERROR-CODE (4+4+15,
 * padded to 24) + REALM (4+12) + NONCE (4+36) + PASSWORD-ALGORITHMS (4+8)
 * + FINGERPRINT (8). */
static void test_challenge_size(void **state)
{
    fx_t *fx = *state;
    fx_challenge(fx);
    assert_int_equal(fx->res.reply_len, 20 + 24 + 16 + 40 + 12 + 8);
    assert_int_equal(fx->rsp.nattrs, 5);
}

static void test_wrong_password(void **state)
{
    fx_t *fx = *state;
    fx_challenge(fx);
    fx->pass = "not-it";
    assert_int_equal(fx_allocate(fx), 401);
    assert_true(fx->rsp.idx_integrity < 0);
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_NONCE));
    assert_int_equal(fx_stats(fx).auth_failures, 1);
    assert_int_equal(fx_stats(fx).allocations_failed, 1);
    fx->user = "mallory";
    assert_int_equal(fx_allocate(fx), 401);
    assert_int_equal(fx->opens, 0);
    assert_null(fx_alloc(fx));
}

static void test_missing_attrs_400(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    uint8_t key[16] = {0};
    fx_challenge(fx);
    /* Integrity but no NONCE: 400, and no integrity on the answer. */
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    stun_enc_text(&e, STUN_ATTR_USERNAME, FX_USER);
    stun_enc_text(&e, STUN_ATTR_REALM, FX_REALM);
    stun_enc_integrity(&e, key, sizeof(key));
    assert_int_equal(fx_send(fx, &e, false), 400);
    assert_true(fx->rsp.idx_integrity < 0);
    /* A username with a NUL byte: 400. */
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    stun_enc_attr(&e, STUN_ATTR_USERNAME, "ali\0ce", 6);
    stun_enc_text(&e, STUN_ATTR_REALM, FX_REALM);
    stun_enc_text(&e, STUN_ATTR_NONCE, fx->nonce);
    stun_enc_integrity(&e, key, sizeof(key));
    assert_int_equal(fx_send(fx, &e, false), 400);
}

static void test_realm_mismatch(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    uint8_t key[STUN_KEY_MAX];
    size_t keylen;
    fx_challenge(fx);
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    stun_enc_text(&e, STUN_ATTR_USERNAME, FX_USER);
    stun_enc_text(&e, STUN_ATTR_REALM, "other.org");
    stun_enc_text(&e, STUN_ATTR_NONCE, fx->nonce);
    stun_key_long_term(STUN_PWALG_MD5, FX_USER, 5, "other.org", 9, FX_PASS, strlen(FX_PASS), key,
                       &keylen);
    stun_enc_integrity(&e, key, keylen);
    assert_int_equal(fx_send(fx, &e, false), 401);
}

static void test_stale_nonce(void **state)
{
    fx_t *fx = *state;
    fx_challenge(fx);
    char old[64];
    strcpy(old, fx->nonce);
    fx->now += 601; /* nonce_lifetime defaults to 600 s */
    assert_int_equal(fx_allocate(fx), 438);
    assert_string_equal(fx_reason(fx), "Stale Nonce");
    assert_true(fx->rsp.idx_integrity < 0);
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_REALM));
    assert_non_null(stun_msg_find(&fx->rsp, STUN_ATTR_PASSWORD_ALGORITHMS));
    fx_take_nonce(fx);
    assert_string_not_equal(old, fx->nonce);
    assert_int_equal(fx_stats(fx).stale_nonces, 1);
    assert_int_equal(fx_stats(fx).allocations_failed, 0);
    assert_int_equal(fx_allocate(fx), 0);
}

static void test_stale_nonce_needs_password(void **state)
{
    fx_t *fx = *state;
    fx_challenge(fx);
    fx->now += 601;
    fx->pass = "wrong";
    /* An old nonce with a wrong password is a 401, not a 438. */
    assert_int_equal(fx_allocate(fx), 401);
}

static void test_nonce_bound_to_client(void **state)
{
    fx_t *fx = *state;
    fx_challenge(fx);
    fx->tuple.client.port++;
    assert_int_equal(fx_allocate(fx), 438);
    fx->tuple.client.port--;
    fx->tuple.transport = TURN_TR_TCP;
    assert_int_equal(fx_allocate(fx), 438);
    fx->tuple.transport = TURN_TR_UDP;
    /* Any change to the text breaks it too. */
    fx->nonce[20] = fx->nonce[20] == 'A' ? 'B' : 'A';
    assert_int_equal(fx_allocate(fx), 438);
    strcpy(fx->nonce, "made-up-nonce");
    assert_int_equal(fx_allocate(fx), 438);
    assert_int_equal(fx->opens, 0);
}

static void test_nonce_features(void **state)
{
    fx_t *fx = *state;
    /* Static users only: "Username anonymity" is announced too. */
    fx->cfg.nsecrets = 0;
    turn_set_cfg(fx->t, &fx->cfg);
    fx_challenge(fx);
    assert_memory_equal(fx->nonce, "obMatJos2wAAA", 13);
}

static void test_ephemeral_good(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    ephemeral(fx, 3600, "carol", FX_SECRET, user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 0);
    fx_check_reply_integrity(fx);
    turn_alloc_t *a = fx_alloc(fx);
    assert_string_equal(turn_alloc_user(a), user);
    assert_string_equal(a->quota_user, "carol");
    assert_true(a->cred_expiry == fx->wall + 3600);
}

static void test_ephemeral_bare_expiry(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    ephemeral(fx, 60, NULL, FX_SECRET, user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 0);
}

static void test_ephemeral_user_first_refused(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    snprintf(user, sizeof(user), "carol:%.0f", fx->wall + 3600);
    assert_int_equal(turn_ephemeral_password(FX_SECRET, user, pass, sizeof(pass)), 0);
    fx->user = user;
    fx->pass = pass;
    assert_int_equal(fx_allocate(fx), 401);
}

static void test_ephemeral_expired(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    ephemeral(fx, -1, "carol", FX_SECRET, user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 401);
    ephemeral(fx, 0, "carol", FX_SECRET, user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 401);
    assert_int_equal(fx->opens, 0);
}

static void test_ephemeral_wrong_secret(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    ephemeral(fx, 3600, "carol", "not-the-secret", user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 401);
    /* Without secrets configured, ephemeral names are unknown users. */
    ephemeral(fx, 3600, "carol", FX_SECRET, user, sizeof(user), pass);
    fx->cfg.nsecrets = 0;
    assert_int_equal(fx_allocate(fx), 401);
}

static void test_ephemeral_rotated_secret(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    fx->secrets[0] = (char *)"new-secret";
    fx->secrets[1] = (char *)FX_SECRET;
    fx->cfg.nsecrets = 2;
    ephemeral(fx, 3600, "carol", FX_SECRET, user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 0);
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    ephemeral(fx, 3600, "dave", "new-secret", user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(fx_stats(fx).allocations_active, 2);
}

static void test_ephemeral_expired_at_refresh(void **state)
{
    fx_t *fx = *state;
    char user[64], pass[29];
    ephemeral(fx, 100, "carol", FX_SECRET, user, sizeof(user), pass);
    assert_int_equal(fx_allocate(fx), 0);
    fx->wall += 101;
    assert_int_equal(fx_refresh(fx, 600), 401);
}

static void test_ephemeral_password_vectors(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(turn_ephemeral_password("s3cret", "1700003600:carol", out, sizeof(out)), 0);
    assert_string_equal(out, "iX0IzzWR+U+Z6wZ8G5YmrLGX69E=");
    assert_int_equal(turn_ephemeral_password("north", "1433895918:guest", out, sizeof(out)), 0);
    assert_string_equal(out, "DZ+3hnl8p0tAogyQOPwzx87LORs=");
    assert_int_equal(turn_ephemeral_password("north", "x", out, 28), CMN_EINVAL);
    assert_int_equal(turn_ephemeral_password(NULL, "x", out, sizeof(out)), CMN_EINVAL);
}

static void test_wrong_credentials_441(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx_allocate(fx), 0);
    fx->user = "bob";
    fx->pass = "builder";
    assert_int_equal(fx_refresh(fx, 600), 441);
    assert_string_equal(fx_reason(fx), "Wrong Credentials");
    fx_check_reply_integrity(fx); /* bob authenticated: the 441 is signed for him */
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 441);
    fx->user = FX_USER;
    fx->pass = FX_PASS;
    assert_int_equal(fx_refresh(fx, 600), 0);
}

static void test_sha256_with_pwalgs(void **state)
{
    fx_t *fx = *state;
    fx->alg = STUN_PWALG_SHA256;
    fx->sha256 = true;
    assert_int_equal(fx_allocate(fx), 0);
    fx_check_reply_integrity(fx);
    assert_int_equal(fx_refresh(fx, 300), 0);
    fx_check_reply_integrity(fx);
}

static void test_md5_key_with_mi_sha256(void **state)
{
    fx_t *fx = *state;
    fx->alg = STUN_PWALG_MD5;
    fx->sha256 = true;
    assert_int_equal(fx_allocate(fx), 0);
    fx_check_reply_integrity(fx);
    /* SHA-256 key under HMAC-SHA1 MESSAGE-INTEGRITY works as well. */
    fx->alg = STUN_PWALG_SHA256;
    fx->sha256 = false;
    assert_int_equal(fx_refresh(fx, 300), 0);
    fx_check_reply_integrity(fx);
}

/* Build an Allocate with the given PASSWORD-ALGORITHM(S) and a correct
 * SHA-256 key; returns the reply code. */
static int send_pwalgs(fx_t *fx, const uint16_t *list, size_t n, int one)
{
    stun_enc_t e;
    uint8_t key[STUN_KEY_MAX];
    size_t keylen;
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    stun_enc_text(&e, STUN_ATTR_USERNAME, FX_USER);
    stun_enc_text(&e, STUN_ATTR_REALM, FX_REALM);
    stun_enc_text(&e, STUN_ATTR_NONCE, fx->nonce);
    if (n)
        stun_enc_pwalgs(&e, list, n);
    if (one >= 0)
        stun_enc_pwalg(&e, (uint16_t)one);
    stun_key_long_term(one > 0 ? (uint16_t)one : STUN_PWALG_MD5, FX_USER, 5, FX_REALM,
                       strlen(FX_REALM), FX_PASS, strlen(FX_PASS), key, &keylen);
    stun_enc_integrity_sha256(&e, key, keylen);
    return fx_send(fx, &e, false);
}

static void test_pwalgs_must_echo(void **state)
{
    fx_t *fx = *state;
    const uint16_t ours[2] = {STUN_PWALG_SHA256, STUN_PWALG_MD5};
    const uint16_t other[2] = {STUN_PWALG_MD5, STUN_PWALG_SHA256};
    const uint16_t shorter[1] = {STUN_PWALG_SHA256};
    fx_challenge(fx);
    assert_int_equal(send_pwalgs(fx, NULL, 0, STUN_PWALG_SHA256), 400);
    assert_string_equal(fx_reason(fx), "Bad Request (PASSWORD-ALGORITHM)");
    assert_true(fx->rsp.idx_integrity < 0 && fx->rsp.idx_integrity_sha256 < 0);
    assert_int_equal(send_pwalgs(fx, ours, 2, -1), 400);
    assert_int_equal(send_pwalgs(fx, other, 2, STUN_PWALG_SHA256), 400);
    assert_int_equal(send_pwalgs(fx, shorter, 1, STUN_PWALG_SHA256), 400);
    assert_int_equal(send_pwalgs(fx, ours, 2, 0x0003), 400);
    assert_int_equal(fx->opens, 0);
    assert_int_equal(send_pwalgs(fx, ours, 2, STUN_PWALG_SHA256), 0);
}

static void test_userhash(void **state)
{
    fx_t *fx = *state;
    fx->userhash = true;
    fx->sha256 = true;
    fx->alg = STUN_PWALG_SHA256;
    assert_int_equal(fx_allocate(fx), 0);
    fx_check_reply_integrity(fx);
    assert_string_equal(turn_alloc_user(fx_alloc(fx)), FX_USER);
    /* An unknown hash is an unknown user. */
    fx->tuple.client.port++;
    fx->user = "nobody";
    assert_int_equal(fx_allocate(fx), 401);
}

static void test_unauth_rate_limit(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    fx->cfg.unauth_rate = 1; /* burst 2 */
    for (int i = 0; i < 2; i++) {
        fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
        stun_enc_transport(&e, 17);
        assert_int_equal(fx_send(fx, &e, false), 401);
    }
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    assert_int_equal(fx_send(fx, &e, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_UNAUTH_RATE_LIMITED);
    /* The same IP on another port shares the bucket; another IP does not. */
    fx->tuple.client.port++;
    assert_int_equal(fx_resend(fx), -1);
    fx_addr(&fx->tuple.client, "203.0.113.99:40000");
    assert_int_equal(fx_resend(fx), 401);
    /* One second refills one token. */
    fx_addr(&fx->tuple.client, "203.0.113.5:40000");
    fx->now += 1.0;
    assert_int_equal(fx_resend(fx), 401);
    assert_int_equal(fx_resend(fx), -1);
    /* Authenticated requests are not limited. */
    fx_take_nonce(fx);
    assert_int_equal(fx_allocate(fx), 0);
}

/* Binding answers and 400s to strangers have their own bucket
 * (turn.answer_rate): turn_answer_allowed for the caller's, and the state
 * machine's own 400 for a method it does not serve. */
static void test_answer_rate_limit(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    fx->cfg.answer_rate = 2; /* burst 4 */
    const cmn_addr_t *src = &fx->tuple.client;
    for (int i = 0; i < 3; i++)
        assert_true(turn_answer_allowed(fx->t, src, fx->now));
    fx_begin(fx, &e, 0x00F, STUN_CLASS_REQUEST); /* no such method here */
    assert_int_equal(fx_send(fx, &e, false), 400);
    fx_begin(fx, &e, 0x00F, STUN_CLASS_REQUEST);
    assert_int_equal(fx_send(fx, &e, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_ANSWER_RATE_LIMITED);
    assert_false(turn_answer_allowed(fx->t, src, fx->now));
    /* The 401 bucket is another one. */
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    assert_int_equal(fx_send(fx, &e, false), 401);
    /* Other IPs have their own; half a second refills one token. */
    cmn_addr_t other;
    fx_addr(&other, "203.0.113.99:1");
    assert_true(turn_answer_allowed(fx->t, &other, fx->now));
    fx->now += 0.5;
    assert_true(turn_answer_allowed(fx->t, src, fx->now));
    assert_false(turn_answer_allowed(fx->t, src, fx->now));
    /* 0: unlimited. */
    fx->cfg.answer_rate = 0;
    assert_true(turn_answer_allowed(fx->t, src, fx->now));
}

static void test_unauthenticated_leaves_no_state(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    for (int i = 0; i < 100; i++) {
        fx->tuple.client.port = (uint16_t)(1000 + i);
        fx_begin(fx, &e, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
        assert_int_equal(fx_send(fx, &e, false), 401);
    }
    assert_int_equal(fx->t->allocs.n, 0);
    assert_int_equal(fx->opens, 0);
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.auth_failures, 0);
    assert_int_equal(st.allocations_failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_challenge_then_success, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_challenge_size, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_attrs_400, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_realm_mismatch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_nonce, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_nonce_needs_password, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_nonce_bound_to_client, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_nonce_features, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_good, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_bare_expiry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_user_first_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_expired, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_wrong_secret, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_rotated_secret, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_expired_at_refresh, fx_setup, fx_teardown),
        cmocka_unit_test(test_ephemeral_password_vectors),
        cmocka_unit_test_setup_teardown(test_wrong_credentials_441, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sha256_with_pwalgs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_md5_key_with_mi_sha256, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pwalgs_must_echo, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_userhash, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unauth_rate_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_answer_rate_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unauthenticated_leaves_no_state, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_auth", tests, NULL, NULL);
}
