/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ice_rtp.c: ice/ice_rtp.c: the probe header round trip, RTP headers
 * (RFC 3550 §5.1) with CSRCs, an extension and padding, and the malformed
 * packets the parser must refuse. Parsed packets are exact-size heap
 * copies, so ASan sees any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ice/ice_int.h"

static int parse(const uint8_t *b, size_t n, ice_rtp_t *r)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    int rc = ice_rtp_parse(copy, n, r);
    size_t off = rc == 0 ? (size_t)(r->payload - copy) : 0;
    free(copy);
    if (rc == 0)
        r->payload = b + off; /* point into the caller's buffer again */
    return rc;
}

static void test_pkt(void **state)
{
    (void)state;
    uint8_t b[200];
    ice_pkt_t p = {.seq = 7, .ts_us = 0x0102030405060708ull, .echo_ts_us = 99, .hold_us = 1234};
    assert_int_equal(ice_pkt_encode(b, 200, &p), 200);
    ice_pkt_t q;
    assert_int_equal(ice_pkt_decode(b, 200, &q), 0);
    assert_int_equal(q.seq, 7);
    assert_true(q.ts_us == p.ts_us);
    assert_true(q.echo_ts_us == 99);
    assert_int_equal(q.hold_us, 1234);
    assert_int_equal(ice_pkt_decode(b, ICE_PKT_HDR - 1, &q), CMN_EPROTO);
    b[0] ^= 1;
    assert_int_equal(ice_pkt_decode(b, 200, &q), CMN_EPROTO);
}

static void test_rtp_roundtrip(void **state)
{
    (void)state;
    uint8_t b[64];
    memset(b, 0xAB, sizeof(b));
    ice_rtp_t r = {.pt = 96, .marker = true, .seq = 65535, .ts = 0xDEADBEEF, .ssrc = 42};
    assert_int_equal(ice_rtp_header(b, &r, 20), 32);
    ice_rtp_t x;
    assert_int_equal(parse(b, 32, &x), 0);
    assert_int_equal(x.pt, 96);
    assert_true(x.marker);
    assert_int_equal(x.seq, 65535);
    assert_int_equal(x.ts, 0xDEADBEEF);
    assert_int_equal(x.ssrc, 42);
    assert_int_equal(x.payload_len, 20);
    assert_ptr_equal(x.payload, b + 12);
}

static void test_rtp_options(void **state)
{
    (void)state;
    uint8_t b[64];
    ice_rtp_t x;
    memset(b, 0, sizeof(b));
    /* Two CSRCs, an extension of one word, 4 payload bytes, 3 bytes of padding. */
    b[0] = 0x80 | 0x20 | 0x10 | 2;
    b[1] = 96;
    cmn_put_u16be(b + 12 + 8 + 2, 1);
    size_t len = 12 + 8 + 4 + 4 + 4 + 3;
    b[len - 1] = 3;
    assert_int_equal(parse(b, len, &x), 0);
    assert_int_equal(x.payload_len, 4);
    assert_ptr_equal(x.payload, b + 28);
}

static void test_rtp_rejected(void **state)
{
    (void)state;
    uint8_t b[64];
    ice_rtp_t x;
    memset(b, 0, sizeof(b));
    b[0] = 0x80;
    assert_int_equal(parse(b, 11, &x), CMN_EPROTO);
    b[0] = 0x40; /* version 1 */
    assert_int_equal(parse(b, 20, &x), CMN_EPROTO);
    b[0] = 0x80 | 15; /* 15 CSRCs do not fit */
    assert_int_equal(parse(b, 40, &x), CMN_EPROTO);
    b[0] = 0x80 | 0x10; /* extension header cut off */
    assert_int_equal(parse(b, 14, &x), CMN_EPROTO);
    cmn_put_u16be(b + 14, 100); /* extension longer than the packet */
    assert_int_equal(parse(b, 20, &x), CMN_EPROTO);
    b[0] = 0x80 | 0x20; /* padding count 0 */
    assert_int_equal(parse(b, 16, &x), CMN_EPROTO);
    b[15] = 5; /* padding longer than the payload */
    assert_int_equal(parse(b, 16, &x), CMN_EPROTO);
    b[15] = 4; /* exactly the payload: empty */
    assert_int_equal(parse(b, 16, &x), 0);
    assert_int_equal(x.payload_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkt),
        cmocka_unit_test(test_rtp_roundtrip),
        cmocka_unit_test(test_rtp_options),
        cmocka_unit_test(test_rtp_rejected),
    };
    return cmocka_run_group_tests_name("ice_rtp", tests, NULL, NULL);
}
