/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_state.c: turn/turn_state.c, allocations as bytes for a live
 * upgrade: an allocation with permissions, a bound channel, one in its
 * quarantine, counters, quota tokens and a cached answer goes from one
 * turn_t to another (another "process") and comes out the same (encoding
 * it again gives the same bytes), keeps working there (ChannelData,
 * peer data, a retransmitted Refresh answered from the cache, the
 * remaining lifetime), counts in the new side's shared limits; every
 * truncation, a wrong version, a bad field and a taken 5-tuple are refused
 * with nothing left behind; detaching takes an allocation out without
 * relay_close; ids continue past the imported ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

#define PEER "192.0.2.80:5000"
#define PEER2 "192.0.2.81:6000"

/* An allocation worth moving: a permission, channel 0x4001 bound, channel
 * 0x4002 expired into its quarantine, data both ways, a quota. */
static fx_t *rich(void)
{
    fx_t *fx = fx_new();
    fx->cfg.nonce_lifetime = 86400;
    fx->cfg.alloc_bps = 800000;
    turn_set_cfg(fx->t, &fx->cfg);
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(fx_bind(fx, 0x4002, PEER2), 0);
    assert_int_equal(fx_refresh(fx, 3000), 0);
    fx->now += 700; /* 0x4002 expires: quarantine */
    assert_int_equal(fx_permission(fx, PEER2), 0);
    assert_int_equal(fx_bind(fx, 0x4001, PEER), 0);
    turn_out_t res;
    turn_channel_data(fx->t, &fx->tuple, 0x4001, (const uint8_t *)"abcdef", 6, fx->now, &res);
    assert_non_null(res.fwd_alloc);
    assert_int_equal(fx_refresh(fx, 3000), 0); /* the cached answer */
    return fx;
}

static size_t encode(fx_t *fx, uint8_t **out)
{
    turn_alloc_t *a = fx_alloc(fx);
    size_t need = turn_alloc_encode(a, fx->now, NULL, 0);
    *out = cmn_malloc(need);
    assert_int_equal(turn_alloc_encode(a, fx->now, *out, need), need);
    return need;
}

/* The receiving side: another turn_t with its own shared limits, its clock
 * a few seconds on. */
static fx_t *receiver(fx_t *from)
{
    fx_t *to = fx_new();
    to->cfg.nonce_lifetime = 86400;
    to->cfg.alloc_bps = 800000;
    turn_set_cfg(to->t, &to->cfg);
    to->now = from->now + 5000;
    to->wall = from->wall;
    memcpy(to->nonce, from->nonce, sizeof(to->nonce));
    return to;
}

static void test_round_trip(void **state)
{
    (void)state;
    fx_t *fx = rich();
    uint8_t *buf, *again;
    size_t len = encode(fx, &buf);
    turn_alloc_t *src = fx_alloc(fx);
    fx_t *to = receiver(fx);
    turn_alloc_t *a = NULL;
    const char *why = NULL;
    assert_int_equal(turn_alloc_import(to->t, buf, len, to->now, &a, &why), 0);
    assert_ptr_equal(fx_alloc(to), a);
    assert_int_equal(a->id, src->id);
    assert_string_equal(a->user, FX_USER);
    assert_true(a->expires - to->now == src->expires - fx->now);
    assert_true(to->now - a->started == fx->now - src->started);
    assert_int_equal(a->nrelay, 1);
    assert_true(cmn_addr_equal(&a->relay[0], &src->relay[0]));
    assert_memory_equal(&a->c, &src->c, sizeof(a->c));
    assert_int_equal(a->c.to_peer_bytes, 6);
    assert_int_equal(a->npeers, src->npeers);
    assert_int_equal(a->peers_total, src->peers_total);
    assert_true(a->q[TURN_DIR_TO_PEER].tokens == src->q[TURN_DIR_TO_PEER].tokens);
    assert_int_equal(a->last_len, src->last_len);
    turn_stats_t st = fx_stats(to);
    assert_int_equal(st.allocations_active, 1);
    assert_int_equal(st.allocations_created, 0);
    assert_int_equal(st.permissions_active, 2);
    assert_int_equal(st.channels_active, 1);
    assert_int_equal(turn_shared_active(to->shared), 1);
    /* The same bytes again, from the new side. */
    size_t len2 = turn_alloc_encode(a, to->now, NULL, 0);
    assert_int_equal(len2, len);
    again = cmn_malloc(len2);
    turn_alloc_encode(a, to->now, again, len2);
    assert_memory_equal(again, buf, len);
    cmn_free(again);
    cmn_free(buf);
    fx_free(fx);
    fx_free(to);
}

static void test_works_after_import(void **state)
{
    (void)state;
    fx_t *fx = rich();
    uint8_t *buf;
    size_t len = encode(fx, &buf);
    uint8_t saved[2048];
    size_t slen = fx->req_len;
    memcpy(saved, fx->req, slen); /* the last Refresh, to retransmit */
    fx_t *to = receiver(fx);
    turn_alloc_t *a;
    const char *why;
    assert_int_equal(turn_alloc_import(to->t, buf, len, to->now, &a, &why), 0);
    memcpy(to->req, saved, slen);
    assert_int_equal(fx_feed(to, slen), 0); /* answered from the cache */
    assert_int_equal(to->opens, 0);
    turn_out_t res;
    turn_channel_data(to->t, &to->tuple, 0x4001, (const uint8_t *)"xyz", 3, to->now, &res);
    assert_ptr_equal(res.fwd_alloc, a);
    turn_channel_data(to->t, &to->tuple, 0x4002, (const uint8_t *)"xyz", 3, to->now, &res);
    assert_int_equal(res.drop, TURN_DROP_NO_CHANNEL); /* in quarantine */
    /* ... and the number stays reserved to its old peer. */
    assert_int_equal(fx_bind(to, 0x4002, PEER), 400);
    uint8_t pb[TURN_PEER_HEADROOM + 16];
    const uint8_t *msg;
    size_t mlen;
    cmn_addr_t p;
    fx_addr(&p, PEER);
    memcpy(pb + TURN_PEER_HEADROOM, "hi", 2);
    assert_int_equal(turn_peer_data(to->t, a, &p, pb, 2, to->now, &msg, &mlen), 0);
    assert_int_equal(a->c.to_client_packets, 1);
    assert_int_equal(fx_refresh(to, 600), 0);
    /* Its lifetime runs out in the new process as it would have. */
    fx_tick(to, 601);
    assert_null(fx_alloc(to));
    assert_int_equal(to->closes, 1);
    cmn_free(buf);
    fx_free(fx);
    fx_free(to);
}

static void expect_refused(fx_t *to, const uint8_t *buf, size_t len, const char *want)
{
    turn_alloc_t *a = NULL;
    const char *why = NULL;
    assert_int_equal(turn_alloc_import(to->t, buf, len, to->now, &a, &why), CMN_EINVAL);
    assert_non_null(why);
    if (want && strcmp(why, want) != 0)
        fail_msg("refused for \"%s\", expected \"%s\"", why, want);
    turn_stats_t st = fx_stats(to);
    assert_int_equal(st.allocations_active + st.permissions_active + st.channels_active, 0);
    assert_int_equal(turn_shared_active(to->shared), 0);
}

static void test_refusals(void **state)
{
    (void)state;
    fx_t *fx = rich();
    uint8_t *buf;
    size_t len = encode(fx, &buf);
    fx_t *to = receiver(fx);
    for (size_t n = 0; n < len; n++)
        expect_refused(to, buf, n, NULL);
    uint8_t *longer = cmn_malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    expect_refused(to, longer, len + 1, "trailing bytes");
    cmn_free(longer);
    buf[0] = TURN_STATE_VERSION + 1;
    expect_refused(to, buf, len, "version");
    buf[0] = TURN_STATE_VERSION;
    buf[1] = TURN_TR_COUNT;
    expect_refused(to, buf, len, "transport");
    buf[1] = TURN_TR_UDP;
    buf[2] = 5; /* client family */
    expect_refused(to, buf, len, "client");
    buf[2] = CMN_AF_INET;
    buf[2 + 3 + 4] = 1; /* a byte after an IPv4 address */
    expect_refused(to, buf, len, "client");
    buf[2 + 3 + 4] = 0;
    size_t id_at = 2 + 2 * 19;
    uint8_t idb[8];
    memcpy(idb, buf + id_at, 8);
    memset(buf + id_at, 0, 8);
    expect_refused(to, buf, len, "id");
    memcpy(buf + id_at, idb, 8);
    /* expires_in: NaN, then negative. */
    size_t exp_at = id_at + 8 + 2 + strlen(FX_USER) + 2 + strlen(FX_USER);
    uint8_t eb[8];
    memcpy(eb, buf + exp_at, 8);
    memset(buf + exp_at, 0xff, 8);
    expect_refused(to, buf, len, "expires_in");
    buf[exp_at] = 0xbf; /* -1.x */
    memset(buf + exp_at + 1, 0xf0, 7);
    expect_refused(to, buf, len, "expires_in");
    memcpy(buf + exp_at, eb, 8);
    /* Still good after all that. */
    turn_alloc_t *a;
    const char *why;
    assert_int_equal(turn_alloc_import(to->t, buf, len, to->now, &a, &why), 0);
    /* The same 5-tuple twice. */
    assert_int_equal(turn_alloc_import(to->t, buf, len, to->now, &a, &why), CMN_EEXIST);
    assert_int_equal(fx_stats(to).allocations_active, 1);
    assert_int_equal(turn_shared_active(to->shared), 1);
    cmn_free(buf);
    fx_free(fx);
    fx_free(to);
}

static void test_detach_and_ids(void **state)
{
    (void)state;
    fx_t *fx = rich();
    uint64_t id = fx_alloc(fx)->id;
    assert_true(turn_alloc_last_id() >= id);
    turn_alloc_detach(fx->t, fx_alloc(fx));
    assert_null(fx_alloc(fx));
    assert_int_equal(fx->closes, 0);
    turn_stats_t st = fx_stats(fx);
    assert_int_equal(st.allocations_active + st.permissions_active + st.channels_active, 0);
    assert_int_equal(turn_shared_active(fx->shared), 0);
    fx_tick(fx, 1); /* freed here */
    turn_alloc_ids_after(id + 1000);
    assert_int_equal(turn_alloc_last_id(), id + 1000);
    turn_alloc_ids_after(5); /* never backwards */
    assert_int_equal(turn_alloc_last_id(), id + 1000);
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(fx_alloc(fx)->id, id + 1001);
    fx_free(fx);
}

/* The fuzz target's seeds (tests/fuzz/gen_upgrade_seeds.py, written
 * from the format's description) decode: the description and the code
 * agree. */
static void test_seed_corpus_imports(void **state)
{
    (void)state;
    static const char *const names[] = {"bare", "tables", "dual", "ephemeral"};
    const char *src = getenv("ICEHUB_SRCDIR") ? getenv("ICEHUB_SRCDIR") : ".";
    for (size_t i = 0; i < CMN_ARRAY_LEN(names); i++) {
        char path[512];
        uint8_t buf[4096];
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/turn_state/%s", src, names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        fx_t *to = fx_new();
        turn_alloc_t *a;
        const char *why = "";
        if (turn_alloc_import(to->t, buf, n, to->now, &a, &why) != 0)
            fail_msg("%s: refused (%s)", names[i], why);
        fx_free(to);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_works_after_import),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_detach_and_ids),
        cmocka_unit_test(test_seed_corpus_imports),
    };
    return cmocka_run_group_tests_name("test_turn_state", tests, NULL, NULL);
}
