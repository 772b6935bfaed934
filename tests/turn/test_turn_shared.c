/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_shared.c: turn/turn_shared.c: the cross-worker allocation
 * limits: per user, per client IP (any port, mapped forms counted as
 * IPv4), total, which limit is reported first, unlimited zeros, release,
 * changing limits, holding every new allocation, and several threads
 * acquiring and releasing at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "turn/turn_int.h"

static cmn_addr_t ip(const char *text)
{
    cmn_addr_t a;
    assert_int_equal(cmn_addr_parse(&a, text, -1), 0);
    return a;
}

static void test_per_user(void **state)
{
    (void)state;
    turn_shared_t *s = turn_shared_new(0, 2, 0);
    cmn_addr_t a = ip("192.0.2.1:1"), b = ip("192.0.2.2:1");
    assert_int_equal(turn__shared_acquire(s, "alice", &a), TURN_OK);
    assert_int_equal(turn__shared_acquire(s, "alice", &b), TURN_OK);
    assert_int_equal(turn__shared_acquire(s, "alice", &b), TURN_ERR_QUOTA_USER);
    assert_int_equal(turn__shared_acquire(s, "bob", &b), TURN_OK);
    assert_int_equal(turn_shared_active(s), 3);
    turn__shared_release(s, "alice", &a);
    assert_int_equal(turn__shared_acquire(s, "alice", &b), TURN_OK);
    turn_shared_free(s);
}

static void test_per_ip(void **state)
{
    (void)state;
    turn_shared_t *s = turn_shared_new(0, 0, 2);
    cmn_addr_t a1 = ip("192.0.2.1:1"), a2 = ip("192.0.2.1:2"), m = ip("[::ffff:192.0.2.1]:3");
    cmn_addr_t other = ip("192.0.2.9:1");
    assert_int_equal(turn__shared_acquire(s, "u1", &a1), TURN_OK);
    assert_int_equal(turn__shared_acquire(s, "u2", &a2), TURN_OK);
    assert_int_equal(turn__shared_acquire(s, "u3", &m), TURN_ERR_QUOTA_IP);
    assert_int_equal(turn__shared_acquire(s, "u3", &other), TURN_OK);
    turn__shared_release(s, "u1", &m); /* the same IP in another form */
    assert_int_equal(turn__shared_acquire(s, "u3", &a1), TURN_OK);
    turn_shared_free(s);
}

static void test_total_and_order(void **state)
{
    (void)state;
    turn_shared_t *s = turn_shared_new(1, 1, 0);
    cmn_addr_t a = ip("192.0.2.1:1");
    assert_int_equal(turn__shared_acquire(s, "alice", &a), TURN_OK);
    /* Over both her own quota and the total: her quota is named. */
    assert_int_equal(turn__shared_acquire(s, "alice", &a), TURN_ERR_QUOTA_USER);
    assert_int_equal(turn__shared_acquire(s, "bob", &a), TURN_ERR_CAP_TOTAL);
    assert_int_equal(turn_shared_active(s), 1);
    turn_shared_set_limits(s, 0, 0, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(turn__shared_acquire(s, "alice", &a), TURN_OK);
    assert_int_equal(turn_shared_active(s), 101);
    for (int i = 0; i < 101; i++)
        turn__shared_release(s, "alice", &a);
    assert_int_equal(turn_shared_active(s), 0);
    /* A release without an acquire changes nothing. */
    turn__shared_release(s, "ghost", &a);
    assert_int_equal(turn_shared_active(s), 0);
    turn_shared_free(s);
}

/* turn_shared_hold (ledger.on_error = stop): 508 for everyone, after the
 * client's own limits; nothing counted while held; released, all is as
 * before. */
static void test_hold(void **state)
{
    (void)state;
    turn_shared_t *s = turn_shared_new(0, 1, 0);
    cmn_addr_t a = ip("192.0.2.1:1");
    assert_int_equal(turn__shared_acquire(s, "alice", &a), TURN_OK);
    assert_false(turn_shared_held(s));
    assert_true(turn_shared_hold(s, true));
    assert_false(turn_shared_hold(s, true)); /* no change */
    assert_true(turn_shared_held(s));
    assert_int_equal(turn__shared_acquire(s, "bob", &a), TURN_ERR_CAP_ACCOUNTING);
    assert_int_equal(turn__shared_acquire(s, "alice", &a), TURN_ERR_QUOTA_USER);
    assert_int_equal(turn_shared_active(s), 1);
    assert_true(turn_shared_hold(s, false));
    assert_int_equal(turn__shared_acquire(s, "bob", &a), TURN_OK);
    turn_shared_free(s);
}

static void test_free_with_entries(void **state)
{
    (void)state;
    turn_shared_t *s = turn_shared_new(0, 0, 0);
    cmn_addr_t a = ip("192.0.2.1:1");
    char name[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        assert_int_equal(turn__shared_acquire(s, name, &a), TURN_OK);
    }
    turn_shared_free(s); /* entries freed (ASan checks) */
    turn_shared_free(NULL);
}

typedef struct {
    turn_shared_t *s;
    int id;
    int got;
} worker_arg_t;

static void *worker(void *p)
{
    worker_arg_t *w = p;
    char name[16];
    cmn_addr_t a;
    snprintf(name, sizeof(name), "u%d", w->id % 3);
    memset(&a, 0, sizeof(a));
    a.family = CMN_AF_INET;
    a.ip[3] = (uint8_t)w->id;
    for (int i = 0; i < 2000; i++) {
        if (turn__shared_acquire(w->s, name, &a) == TURN_OK) {
            w->got++;
            turn__shared_release(w->s, name, &a);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    turn_shared_t *s = turn_shared_new(3, 2, 1);
    pthread_t th[6];
    worker_arg_t args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (worker_arg_t){.s = s, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(turn_shared_active(s), 0);
    int got = 0;
    for (int i = 0; i < 6; i++)
        got += args[i].got;
    assert_true(got > 0);
    turn_shared_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_user),
        cmocka_unit_test(test_per_ip),
        cmocka_unit_test(test_total_and_order),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_free_with_entries),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("test_turn_shared", tests, NULL, NULL);
}
