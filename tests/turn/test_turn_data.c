/* icehub - SPDX-License-Identifier: MIT
 *
 * test_turn_data.c: turn/turn_data.c: Send indications (dropped without a
 * permission, never refreshing one, DONT-FRAGMENT passed on), ChannelData
 * from the client, and peer datagrams to the client as ChannelData (padded
 * on streams only) or Data indications (IPv4 and IPv6 peers), plus the
 * per-allocation byte and packet counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/turn/turn_fixture.h"

static int send_ind(fx_t *fx, const char *peer, const void *data, size_t len, bool df)
{
    stun_enc_t e;
    cmn_addr_t p;
    fx_addr(&p, peer);
    fx_begin(fx, &e, STUN_METHOD_SEND, STUN_CLASS_INDICATION);
    stun_enc_xor_addr(&e, STUN_ATTR_XOR_PEER_ADDRESS, &p);
    if (data)
        stun_enc_attr(&e, STUN_ATTR_DATA, data, len);
    if (df)
        stun_enc_attr(&e, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
    return fx_send(fx, &e, false);
}

/* ---- Send indications -------------------------------------------------- */

static void test_send_needs_permission(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(send_ind(fx, "192.0.2.80:5000", "hello", 5, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_NO_PERMISSION);
    assert_null(fx->res.fwd_alloc);
    assert_int_equal(fx_alloc(fx)->c.to_peer_packets, 0);
}

static void test_send_forwards(void **state)
{
    fx_t *fx = *state;
    char buf[CMN_ADDR_STRLEN];
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    assert_int_equal(send_ind(fx, "192.0.2.80:5000", "hello", 5, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_NONE);
    assert_ptr_equal(fx->res.fwd_alloc, fx_alloc(fx));
    assert_string_equal(cmn_addr_format(&fx->res.fwd_peer, buf, sizeof(buf), true),
                        "192.0.2.80:5000");
    assert_int_equal(fx->res.fwd_len, 5);
    assert_memory_equal(fx->res.fwd_data, "hello", 5);
    /* Borrowed from the request, not copied. */
    assert_true(fx->res.fwd_data > fx->req && fx->res.fwd_data < fx->req + fx->req_len);
    assert_false(fx->res.fwd_dont_fragment);
    assert_int_equal(send_ind(fx, "192.0.2.80:5000", "", 0, true), -1);
    assert_true(fx->res.fwd_dont_fragment);
    assert_int_equal(fx->res.fwd_len, 0);
    const turn_alloc_counters_t *c = turn_alloc_counters(fx_alloc(fx));
    assert_int_equal(c->to_peer_packets, 2);
    assert_int_equal(c->to_peer_bytes, 5);
}

static void test_send_drops(void **state)
{
    fx_t *fx = *state;
    stun_enc_t e;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    assert_int_equal(send_ind(fx, "192.0.2.80:5000", NULL, 0, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_BAD_SEND);
    assert_int_equal(send_ind(fx, "[2001:db8::1]:5000", "x", 1, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_PEER_FAMILY);
    fx_begin(fx, &e, STUN_METHOD_SEND, STUN_CLASS_INDICATION);
    stun_enc_attr(&e, STUN_ATTR_DATA, "x", 1);
    stun_enc_u32(&e, 0x0031, 0);
    assert_int_equal(fx_send(fx, &e, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_UNKNOWN_ATTRIBUTE);
    fx->tuple.client.port++;
    assert_int_equal(send_ind(fx, "192.0.2.80:5000", "x", 1, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_NO_ALLOCATION);
}

static void test_send_does_not_refresh(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    fx->now += 299;
    assert_int_equal(send_ind(fx, "192.0.2.80:5000", "x", 1, false), -1);
    assert_non_null(fx->res.fwd_alloc);
    fx->now += 1;
    assert_int_equal(send_ind(fx, "192.0.2.80:5000", "x", 1, false), -1);
    assert_int_equal(fx->res.drop, TURN_DROP_NO_PERMISSION);
}

/* ---- ChannelData from the client --------------------------------------- */

static void test_channel_data(void **state)
{
    fx_t *fx = *state;
    turn_out_t res;
    const uint8_t data[3] = {7, 8, 9};
    char buf[CMN_ADDR_STRLEN];
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:6000"), 0);
    turn_channel_data(fx->t, &fx->tuple, 0x4001, data, 3, fx->now, &res);
    assert_int_equal(res.drop, TURN_DROP_NONE);
    assert_ptr_equal(res.fwd_alloc, fx_alloc(fx));
    assert_ptr_equal(res.fwd_data, data);
    assert_int_equal(res.fwd_len, 3);
    assert_string_equal(cmn_addr_format(&res.fwd_peer, buf, sizeof(buf), true), "192.0.2.80:6000");
    assert_false(res.fwd_dont_fragment);
    turn_channel_data(fx->t, &fx->tuple, 0x4002, data, 3, fx->now, &res);
    assert_int_equal(res.drop, TURN_DROP_NO_CHANNEL);
    assert_null(res.fwd_alloc);
    turn_5tuple_t other = fx->tuple;
    other.client.port++;
    turn_channel_data(fx->t, &other, 0x4001, data, 3, fx->now, &res);
    assert_int_equal(res.drop, TURN_DROP_NO_ALLOCATION);
    /* The binding outlives its permission unless refreshed: then drop. */
    fx->now += 300;
    turn_channel_data(fx->t, &fx->tuple, 0x4001, data, 3, fx->now, &res);
    assert_int_equal(res.drop, TURN_DROP_NO_PERMISSION);
    const turn_alloc_counters_t *c = turn_alloc_counters(fx_alloc(fx));
    assert_int_equal(c->to_peer_packets, 1);
    assert_int_equal(c->to_peer_bytes, 3);
}

static void test_channel_data_dont_fragment(void **state)
{
    fx_t *fx = *state;
    turn_out_t res;
    stun_enc_t e;
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    fx_challenge(fx);
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    stun_enc_attr(&e, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:6000"), 0);
    turn_channel_data(fx->t, &fx->tuple, 0x4001, (const uint8_t *)"x", 1, fx->now, &res);
    assert_true(res.fwd_dont_fragment);
}

/* ---- Peer to client ---------------------------------------------------- */

typedef struct peer_buf_s {
    uint8_t b[TURN_PEER_HEADROOM + 64 + 3];
} peer_buf_t;

static int peer_data(fx_t *fx, const char *peer, peer_buf_t *pb, const char *payload,
                     const uint8_t **msg, size_t *mlen)
{
    cmn_addr_t p;
    size_t len = strlen(payload);
    fx_addr(&p, peer);
    memset(pb->b, 0xEE, sizeof(pb->b));
    memcpy(pb->b + TURN_PEER_HEADROOM, payload, len);
    return turn_peer_data(fx->t, fx_alloc(fx), &p, pb->b, len, fx->now, msg, mlen);
}

static void test_peer_data_needs_permission(void **state)
{
    fx_t *fx = *state;
    peer_buf_t pb;
    const uint8_t *msg = NULL;
    size_t mlen = 0;
    assert_int_equal(peer_data(fx, "192.0.2.80:5000", &pb, "hi", &msg, &mlen), CMN_ENOENT);
    assert_int_equal(fx_alloc(fx)->c.to_client_packets, 0);
}

static void check_data_indication(const uint8_t *msg, size_t mlen, const char *peer,
                                  const char *payload)
{
    stun_msg_t m;
    cmn_addr_t p;
    char buf[CMN_ADDR_STRLEN];
    size_t len = strlen(payload);
    assert_int_equal(mlen % 4, 0);
    assert_int_equal(stun_msg_decode(&m, msg, mlen, NULL), 0);
    assert_int_equal(m.cls, STUN_CLASS_INDICATION);
    assert_int_equal(m.method, STUN_METHOD_DATA);
    assert_int_equal(m.nattrs, 2);
    assert_int_equal(stun_attr_get_xor_addr(&m, stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS), &p),
                     0);
    assert_string_equal(cmn_addr_format(&p, buf, sizeof(buf), true), peer);
    const stun_attr_t *d = stun_msg_find(&m, STUN_ATTR_DATA);
    assert_int_equal(d->len, len);
    assert_memory_equal(d->val, payload, len);
    for (size_t i = len; i % 4; i++)
        assert_int_equal(d->val[i], 0); /* zero padding */
}

static void test_peer_data_indication(void **state)
{
    fx_t *fx = *state;
    peer_buf_t pb;
    const uint8_t *msg;
    size_t mlen;
    uint8_t tid1[STUN_TID_LEN];
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    assert_int_equal(peer_data(fx, "192.0.2.80:5000", &pb, "hello", &msg, &mlen), 0);
    /* 20 header + 12 XOR-PEER-ADDRESS + 4 DATA header + 5 + 3 padding. */
    assert_int_equal(mlen, 44);
    assert_ptr_equal(msg, pb.b + TURN_PEER_HEADROOM - 36);
    check_data_indication(msg, mlen, "192.0.2.80:5000", "hello");
    memcpy(tid1, msg + 8, STUN_TID_LEN);
    assert_int_equal(peer_data(fx, "192.0.2.80:5001", &pb, "abcd", &msg, &mlen), 0);
    assert_int_equal(mlen, 40);
    check_data_indication(msg, mlen, "192.0.2.80:5001", "abcd");
    assert_memory_not_equal(tid1, msg + 8, STUN_TID_LEN);
    const turn_alloc_counters_t *c = turn_alloc_counters(fx_alloc(fx));
    assert_int_equal(c->to_client_packets, 2);
    assert_int_equal(c->to_client_bytes, 9);
}

static void test_peer_data_indication_ipv6(void **state)
{
    fx_t *fx = *state;
    peer_buf_t pb;
    const uint8_t *msg;
    size_t mlen;
    stun_enc_t e;
    fx->tuple.client.port++;
    fx->nonce[0] = '\0';
    fx_challenge(fx);
    fx_begin(fx, &e, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
    stun_enc_transport(&e, 17);
    stun_enc_family(&e, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
    assert_int_equal(fx_send(fx, &e, true), 0);
    assert_int_equal(fx_permission(fx, "[2001:db8:5::1]:1"), 0);
    assert_int_equal(peer_data(fx, "[2001:db8:5::1]:7000", &pb, "v6!", &msg, &mlen), 0);
    assert_ptr_equal(msg, pb.b); /* the whole headroom */
    assert_int_equal(mlen, 48 + 4);
    check_data_indication(msg, mlen, "[2001:db8:5::1]:7000", "v6!");
}

static void test_peer_data_channel(void **state)
{
    fx_t *fx = *state;
    peer_buf_t pb;
    const uint8_t *msg, *data;
    size_t mlen, dlen;
    uint16_t ch;
    assert_int_equal(fx_bind(fx, 0x4321, "192.0.2.80:5000"), 0);
    assert_int_equal(peer_data(fx, "192.0.2.80:5000", &pb, "hello", &msg, &mlen), 0);
    /* UDP: no padding. */
    assert_int_equal(mlen, 4 + 5);
    assert_ptr_equal(msg, pb.b + TURN_PEER_HEADROOM - 4);
    assert_int_equal(stun_chdata_decode(msg, mlen, &ch, &data, &dlen), 0);
    assert_int_equal(ch, 0x4321);
    assert_int_equal(dlen, 5);
    assert_memory_equal(data, "hello", 5);
    /* Another port of the same IP has no channel: a Data indication. */
    assert_int_equal(peer_data(fx, "192.0.2.80:5001", &pb, "hello", &msg, &mlen), 0);
    check_data_indication(msg, mlen, "192.0.2.80:5001", "hello");
}

static void test_peer_data_channel_stream_padding(void **state)
{
    fx_t *fx = *state;
    peer_buf_t pb;
    const uint8_t *msg;
    size_t mlen;
    fx->tuple.transport = TURN_TR_TCP;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:5000"), 0);
    assert_int_equal(peer_data(fx, "192.0.2.80:5000", &pb, "hello", &msg, &mlen), 0);
    assert_int_equal(mlen, 12);
    assert_int_equal(cmn_get_u16be(msg + 2), 5); /* the length excludes padding */
    assert_memory_equal(msg + 9, "\0\0\0", 3);
    assert_int_equal(stun_frame_len(msg, mlen), 12);
    assert_int_equal(peer_data(fx, "192.0.2.80:5000", &pb, "1234", &msg, &mlen), 0);
    assert_int_equal(mlen, 8);
    fx->tuple.transport = TURN_TR_TLS;
    fx->nonce[0] = '\0';
    assert_int_equal(fx_allocate(fx), 0);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:5000"), 0);
    assert_int_equal(peer_data(fx, "192.0.2.80:5000", &pb, "a", &msg, &mlen), 0);
    assert_int_equal(mlen, 8);
}

static void test_peer_data_channel_expired(void **state)
{
    fx_t *fx = *state;
    peer_buf_t pb;
    const uint8_t *msg;
    size_t mlen;
    assert_int_equal(fx_refresh(fx, 3600), 0);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:5000"), 0);
    fx->now += 600;
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    /* The channel ended (quarantined): Data indications again. */
    assert_int_equal(peer_data(fx, "192.0.2.80:5000", &pb, "x", &msg, &mlen), 0);
    check_data_indication(msg, mlen, "192.0.2.80:5000", "x");
}

static void test_peer_data_too_big(void **state)
{
    fx_t *fx = *state;
    cmn_addr_t p;
    const uint8_t *msg;
    size_t mlen;
    size_t len = 65520;
    uint8_t *buf = cmn_calloc(1, TURN_PEER_HEADROOM + len + 3);
    fx_addr(&p, "192.0.2.80:5000");
    assert_int_equal(fx_permission(fx, "192.0.2.80:1"), 0);
    assert_int_equal(turn_peer_data(fx->t, fx_alloc(fx), &p, buf, len, fx->now, &msg, &mlen),
                     CMN_ERANGE);
    assert_int_equal(turn_peer_data(fx->t, fx_alloc(fx), &p, buf, 65000, fx->now, &msg, &mlen),
                     0);
    assert_int_equal(fx_bind(fx, 0x4001, "192.0.2.80:5000"), 0);
    assert_int_equal(turn_peer_data(fx->t, fx_alloc(fx), &p, buf, len, fx->now, &msg, &mlen), 0);
    assert_int_equal(mlen, 4 + len);
    cmn_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_needs_permission, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_send_forwards, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_send_drops, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_send_does_not_refresh, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_data, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_channel_data_dont_fragment, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_data_needs_permission, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_data_indication, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_data_indication_ipv6, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_data_channel, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_data_channel_stream_padding, fx_setup_alloc,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_data_channel_expired, fx_setup_alloc, fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_data_too_big, fx_setup_alloc, fx_teardown),
    };
    return cmocka_run_group_tests_name("test_turn_data", tests, NULL, NULL);
}
