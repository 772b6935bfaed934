/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ihd_handover_codec.c: daemon/ihd_handover_codec.c, the state of a
 * live upgrade as bytes and sockets: a handover with two workers, their
 * listeners, allocations (one dual-stack), a reservation and the hub's
 * rooms comes back the same, each socket where the stream named it and
 * the unnamed one closed; every truncation, a wrong magic or version, a
 * socket named twice, an index past the sockets, a lying count and trailing
 * bytes are refused with the place named and every socket closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>

#include "daemon/ihd_handover_codec.c"

static int sock(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    return fd;
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void sample(ihd_handover_t *h)
{
    memset(h, 0, sizeof(*h));
    memset(h->nonce_key, 0x42, sizeof(h->nonce_key));
    snprintf(h->auto_secret, sizeof(h->auto_secret), "auto-secret");
    snprintf(h->token_key, sizeof(h->token_key), "token-key");
    h->last_id = 77;
    h->paused_at = 12345.5;
    h->nworkers = 2;
    h->wk = cmn_calloc(2, sizeof(*h->wk));
    for (unsigned i = 0; i < 2; i++) {
        ihd_ho_worker_t *w = &h->wk[i];
        w->nls = 2;
        w->ls = cmn_calloc(2, sizeof(*w->ls));
        w->ls[0] = (ihd_ho_listener_t){TURN_TR_UDP, {0}, sock()};
        w->ls[1] = (ihd_ho_listener_t){TURN_TR_TCP, {0}, sock()};
        cmn_addr_parse(&w->ls[0].addr, "127.0.0.1:3478", -1);
        cmn_addr_parse(&w->ls[1].addr, "127.0.0.1:3478", -1);
    }
    ihd_ho_worker_t *w = &h->wk[1];
    w->nallocs = w->cap = 2;
    w->allocs = cmn_calloc(2, sizeof(*w->allocs));
    for (int k = 0; k < 2; k++) {
        ihd_ho_alloc_t *a = &w->allocs[k];
        a->len = 100 + (size_t)k;
        a->blob = cmn_malloc(a->len);
        memset(a->blob, 'a' + k, a->len);
        a->relay_fd[0] = sock();
        a->relay_fd[1] = k ? sock() : -1;
        a->relay_df[1] = k;
        a->usage = (ihd_usage_state_t){.seen = true, .ledger_last = 1.8e9, .interim_in = -2,
                                       .seq = 3 + (uint32_t)k};
        a->usage.ledger_rep.to_client_bytes = 999;
    }
    h->nrv = 1;
    h->rv = cmn_calloc(1, sizeof(*h->rv));
    h->rv[0] = (ihd_ho_reserv_t){{1, 2, 3, 4, 5, 6, 7, 8}, {0}, sock(), 12.5};
    cmn_addr_parse(&h->rv[0].addr, "127.0.0.1:50001", -1);
    h->hub = cmn_strdup("{\"version\":1,\"rooms\":[]}");
    h->hub_len = strlen(h->hub);
}

/* The sockets as they would arrive: copies, plus one more nobody names. */
static int *arrive(const int *fds, size_t n)
{
    int *in = cmn_malloc((n + 1) * sizeof(int));
    for (size_t i = 0; i < n; i++)
        in[i] = dup(fds[i]);
    in[n] = sock();
    return in;
}

static void test_round_trip(void **state)
{
    (void)state;
    ihd_handover_t h, out;
    sample(&h);
    uint8_t *buf;
    size_t len, nfds;
    int *fds;
    ihd_handover_encode(&h, &buf, &len, &fds, &nfds);
    assert_int_equal(nfds, 4 + 3 + 1); /* listeners, relays, reservation */
    int *in = arrive(fds, nfds), *was = cmn_malloc((nfds + 1) * sizeof(int));
    memcpy(was, in, (nfds + 1) * sizeof(int)); /* decode marks what it took */
    char err[256];
    assert_int_equal(ihd_handover_decode(buf, len, in, nfds + 1, &out, err, sizeof(err)), 0);
    assert_false(is_open(was[nfds])); /* not named: closed */
    assert_memory_equal(out.nonce_key, h.nonce_key, 32);
    assert_string_equal(out.auto_secret, "auto-secret");
    assert_string_equal(out.token_key, "token-key");
    assert_true(out.last_id == 77 && out.paused_at == 12345.5);
    assert_int_equal(out.nworkers, 2);
    assert_int_equal(out.wk[0].nls, 2);
    assert_int_equal(out.wk[0].ls[1].tr, TURN_TR_TCP);
    assert_int_equal(out.wk[0].ls[0].fd, was[0]);
    assert_int_equal(out.wk[1].nallocs, 2);
    ihd_ho_alloc_t *a = &out.wk[1].allocs[1];
    assert_int_equal(a->len, 101);
    assert_memory_equal(a->blob, h.wk[1].allocs[1].blob, 101);
    assert_true(a->relay_fd[0] >= 0 && a->relay_fd[1] >= 0 && a->relay_df[1]);
    assert_int_equal(out.wk[1].allocs[0].relay_fd[1], -1);
    assert_true(a->usage.seen && a->usage.seq == 4 && a->usage.interim_in == -2);
    assert_int_equal(a->usage.ledger_rep.to_client_bytes, 999);
    assert_int_equal(out.nrv, 1);
    assert_true(out.rv[0].ttl == 12.5 && out.rv[0].token[7] == 8);
    assert_int_equal(out.hub_len, h.hub_len);
    assert_memory_equal(out.hub, h.hub, h.hub_len);
    ihd_handover_free(&out, true);
    for (size_t i = 0; i < nfds; i++)
        assert_false(is_open(was[i]));
    ihd_handover_free(&h, true);
    cmn_free(in);
    cmn_free(was);
    cmn_free(buf);
    cmn_free(fds);
}

static void expect_refused(const uint8_t *buf, size_t len, const int *fds, size_t nfds,
                           const char *where)
{
    int *in = arrive(fds, nfds), was[16];
    assert_true(nfds < 16);
    memcpy(was, in, (nfds + 1) * sizeof(int));
    ihd_handover_t out;
    char err[256] = "";
    assert_int_equal(ihd_handover_decode(buf, len, in, nfds + 1, &out, err, sizeof(err)),
                     CMN_EINVAL);
    if (where && !strstr(err, where))
        fail_msg("refused with \"%s\", expected \"%s\"", err, where);
    for (size_t i = 0; i <= nfds; i++)
        assert_false(is_open(was[i]));
    cmn_free(in);
}

static void test_refusals(void **state)
{
    (void)state;
    ihd_handover_t h;
    sample(&h);
    uint8_t *buf;
    size_t len, nfds;
    int *fds;
    ihd_handover_encode(&h, &buf, &len, &fds, &nfds);
    for (size_t n = 0; n < len; n += n < 200 ? 1 : 7)
        expect_refused(buf, n, fds, nfds, NULL);
    uint8_t *more = cmn_malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    expect_refused(more, len + 1, fds, nfds, "\"trailing bytes\"");
    cmn_free(more);
    buf[0] = 'X';
    expect_refused(buf, len, fds, nfds, "\"magic\"");
    buf[0] = 'I';
    buf[7] = 2;
    expect_refused(buf, len, fds, nfds, "\"version\"");
    buf[7] = 1;
    /* The first listener's socket index (after the header and worker 0's
     * listener count, transport and address): point it at the second's. */
    size_t at = 4 + 4 + 32 + 4 + strlen("auto-secret") + 4 + strlen("token-key") + 8 + 8 + 4 +
                4 + 1 + 19;
    assert_int_equal(cmn_get_u32be(buf + at), 0);
    cmn_put_u32be(buf + at, 1);
    expect_refused(buf, len, fds, nfds, "\"listener\""); /* index 1 used twice */
    cmn_put_u32be(buf + at, 1000);
    expect_refused(buf, len, fds, nfds, "\"listener\"");
    cmn_put_u32be(buf + at, 0);
    /* Worker 0's allocation count: more than the bytes could hold. */
    size_t count_at = at + 4 + 1 + 19 + 4;
    assert_int_equal(cmn_get_u32be(buf + count_at), 0);
    cmn_put_u32be(buf + count_at, 5000000);
    expect_refused(buf, len, fds, nfds, "\"allocations\"");
    ihd_handover_free(&h, true);
    cmn_free(buf);
    cmn_free(fds);
}

/* The fuzz target's seed (tests/fuzz/gen_upgrade_seeds.py, written from
 * the format's description above) decodes. */
static void test_seed_decodes(void **state)
{
    (void)state;
    const char *src = getenv("ICEHUB_SRCDIR") ? getenv("ICEHUB_SRCDIR") : ".";
    char path[512];
    uint8_t buf[8192];
    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/upgrade_state/handover", src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    int fds[4] = {sock(), sock(), sock(), sock()};
    ihd_handover_t out;
    char err[256] = "";
    if (ihd_handover_decode(buf + 1, n - 1, fds, 4, &out, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(out.wk[0].nallocs, 1);
    assert_true(out.hub_len > 0);
    ihd_handover_free(&out, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_seed_decodes),
    };
    return cmocka_run_group_tests_name("test_ihd_handover_codec", tests, NULL, NULL);
}
