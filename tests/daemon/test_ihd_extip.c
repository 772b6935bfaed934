/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ihd_extip.c: daemon/ihd_extip.c, turn.external_ip = "auto". The
 * judgement of answers (agreeing, differing mapped or local addresses, too
 * few to cross-check, one family failing while the other agrees), a whole
 * run against a STUN responder on a loopback socket (the real icehubd
 * against icehubd runs in tests/integration/test_extip.py), the fallback to
 * the last good result, and what "auto" becomes when nothing may be sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include "daemon/ihd_extip.c"

static cmn_addr_t ip(const char *text)
{
    cmn_addr_t a;
    assert_int_equal(cmn_addr_parse(&a, text, 3478), 0);
    return a;
}

/* A probe of <server> that got <mapped> back from <local>. */
static probe_t answered(const cmn_addr_t *server, const char *mapped, const char *local)
{
    probe_t p = {.server = server, .fd = -1, .answered = mapped != NULL};
    if (mapped) {
        p.mapped = ip(mapped);
        p.local = ip(local);
    }
    return p;
}

static void test_judge(void **state)
{
    (void)state;
    cmn_addr_t s1 = ip("192.0.2.10:3478"), s2 = ip("198.51.100.20:3478");
    cmn_addr_t s6 = ip("[2001:db8::1]:3478");
    char entry[EXTIP_ENTRY_LEN], why[256];
    extip_result_t fail = EXTIP_OK;
    probe_t v[3] = {answered(&s1, "203.0.113.7", "10.0.0.7"),
                    answered(&s2, "203.0.113.7", "10.0.0.7"), answered(&s6, NULL, NULL)};
    assert_int_equal(judge_family(v, 3, CMN_AF_INET, entry, &fail, why, sizeof(why)), 1);
    assert_string_equal(entry, "203.0.113.7/10.0.0.7");
    /* The IPv6 server did not answer: that family has nothing, no failure. */
    assert_int_equal(judge_family(v, 3, CMN_AF_INET6, entry, &fail, why, sizeof(why)), 0);
    /* The ports of the mapped addresses may differ (NATs map each socket). */
    v[1].mapped.port = 40000;
    assert_int_equal(judge_family(v, 3, CMN_AF_INET, entry, &fail, why, sizeof(why)), 1);
    v[1] = answered(&s2, "203.0.113.8", "10.0.0.7");
    assert_int_equal(judge_family(v, 3, CMN_AF_INET, entry, &fail, why, sizeof(why)), -1);
    assert_int_equal(fail, EXTIP_DISAGREE);
    assert_string_equal(why, "192.0.2.10:3478 says 203.0.113.7, 198.51.100.20:3478 says "
                             "203.0.113.8");
    v[1] = answered(&s2, "203.0.113.7", "10.0.0.8"); /* left from another interface */
    assert_int_equal(judge_family(v, 3, CMN_AF_INET, entry, &fail, why, sizeof(why)), -1);
    assert_int_equal(fail, EXTIP_DISAGREE);
    v[1] = answered(&s2, NULL, NULL);
    assert_int_equal(judge_family(v, 3, CMN_AF_INET, entry, &fail, why, sizeof(why)), -1);
    assert_int_equal(fail, EXTIP_TOO_FEW);
    assert_string_equal(why, "only 1 of 2 IPv4 servers answered, none to cross-check");
    /* One server of a family is enough when only one is listed. */
    assert_int_equal(judge_family(v, 1, CMN_AF_INET, entry, &fail, why, sizeof(why)), 1);
}

/* A STUN server on a loopback socket, answering one Binding request. */
static void *responder(void *arg)
{
    int fd = *(int *)arg;
    uint8_t buf[512], out[128];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
    stun_msg_t m;
    /* No cmocka asserts off the main thread: a bad request gets no answer,
     * and the run then fails where the main thread checks it. */
    if (n <= 0 || stun_msg_decode(&m, buf, (size_t)n, NULL) < 0 ||
        m.method != STUN_METHOD_BINDING || m.cls != STUN_CLASS_REQUEST ||
        m.idx_fingerprint < 0)
        return NULL;
    cmn_addr_t mapped = ip("203.0.113.7:1"), other = ip("198.51.100.66:1");
    stun_enc_t e;
    /* First an answer with another transaction id, which must be ignored. */
    uint8_t tid[STUN_TID_LEN] = {0};
    stun_enc_init(&e, out, sizeof(out), stun_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS), tid);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_MAPPED_ADDRESS, &other);
    sendto(fd, out, (size_t)stun_enc_finish(&e), 0, (struct sockaddr *)&from, fl);
    stun_enc_init(&e, out, sizeof(out), stun_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS), m.tid);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
    sendto(fd, out, (size_t)stun_enc_finish(&e), 0, (struct sockaddr *)&from, fl);
    return NULL;
}

static void set_auto(cmn_settings_t *s, const char *server)
{
    memset(s, 0, sizeof(*s));
    s->turn.external_ip.v = cmn_calloc(1, sizeof(char *));
    s->turn.external_ip.v[0] = cmn_strdup(CMN_EXTIP_AUTO);
    s->turn.external_ip.n = 1;
    s->turn.external_ip_servers.v = cmn_calloc(1, sizeof(cmn_addr_t));
    s->turn.external_ip_servers.v[0] = ip(server);
    s->turn.external_ip_servers.n = 1;
}

static void dispose(cmn_settings_t *s)
{
    set_list(&s->turn.external_ip, NULL, 0);
    cmn_free(s->turn.external_ip_servers.v);
}

static void test_run_and_fallback(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sl), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    char server[64];
    snprintf(server, sizeof(server), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    pthread_t t;
    pthread_create(&t, NULL, responder, &fd);

    ihd_extip_t *x = ihd_extip_new();
    cmn_settings_t s;
    set_auto(&s, server);
    ihd_extip_apply(x, &s);
    pthread_join(t, NULL);
    assert_int_equal(s.turn.external_ip.n, 1);
    assert_string_equal(s.turn.external_ip.v[0], "203.0.113.7/127.0.0.1");
    assert_int_equal(x->runs[EXTIP_OK], 1);
    dispose(&s);

    /* Nobody answers now: the address found before stays. */
    close(fd);
    set_auto(&s, server);
    ihd_extip_apply(x, &s);
    assert_int_equal(s.turn.external_ip.n, 1);
    assert_string_equal(s.turn.external_ip.v[0], "203.0.113.7/127.0.0.1");
    assert_int_equal(x->runs[EXTIP_NO_ANSWER], 1);
    dispose(&s);

    /* Without state (--check-config) "auto" goes away and nothing is sent;
     * addresses that are not "auto" are left alone. */
    set_auto(&s, server);
    ihd_extip_apply(NULL, &s);
    assert_int_equal(s.turn.external_ip.n, 0);
    cmn_free(s.turn.external_ip_servers.v);
    char entries[1][EXTIP_ENTRY_LEN] = {"203.0.113.9"};
    set_list(&s.turn.external_ip, entries, 1);
    ihd_extip_apply(x, &s);
    assert_string_equal(s.turn.external_ip.v[0], "203.0.113.9");
    set_list(&s.turn.external_ip, NULL, 0);
    ihd_extip_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_run_and_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
