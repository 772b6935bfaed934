/* icehub - SPDX-License-Identifier: MIT
 *
 * test_stun_frame.c: stun/stun_frame.c: stream framing (stun_frame_len:
 * EAGAIN, EPROTO, STUN and ChannelData lengths, the STUN_MAX_MSG_LEN cap),
 * ChannelData decoding with the UDP padding rules, the header writer, and a
 * stream of mixed frames cut apart byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "stun/stun.h"
#include "stun_vectors.h"

static const uint8_t tid[STUN_TID_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};

/* frame_len over an exact-size heap copy, so ASan sees any overread. */
static ssize_t frame_len(const uint8_t *src, size_t len)
{
    uint8_t *copy = dup_exact(src, len);
    ssize_t n = stun_frame_len(copy, len);
    free(copy);
    return n;
}

static int chdata(const uint8_t *src, size_t len, uint16_t *ch, size_t *dlen)
{
    const uint8_t *data;
    uint8_t *copy = dup_exact(src, len);
    int rc = stun_chdata_decode(copy, len, ch, &data, dlen);
    if (rc == 0)
        assert_ptr_equal(data, copy + STUN_CHANNEL_HEADER_LEN);
    free(copy);
    return rc;
}

static void test_frame_need_more(void **state)
{
    (void)state;
    static const uint8_t stun[4] = {0x00, 0x01, 0x00, 0x08};
    static const uint8_t ch[4] = {0x40, 0x00, 0x00, 0x05};
    assert_int_equal(frame_len(stun, 0), CMN_EAGAIN);
    for (size_t n = 1; n < 4; n++) {
        assert_int_equal(frame_len(stun, n), CMN_EAGAIN);
        assert_int_equal(frame_len(ch, n), CMN_EAGAIN);
    }
    /* Four bytes are enough for the length. */
    assert_int_equal(frame_len(stun, 4), 28);
    assert_int_equal(frame_len(ch, 4), 12);
}

static void test_frame_bad_first_byte(void **state)
{
    (void)state;
    uint8_t b[20] = {0};
    for (unsigned v = 0x80; v <= 0xFF; v++) {
        b[0] = (uint8_t)v;
        /* Known bad from the first byte on. */
        for (size_t n = 1; n <= sizeof(b); n++)
            assert_int_equal(frame_len(b, n), CMN_EPROTO);
    }
}

static void test_frame_stun(void **state)
{
    (void)state;
    uint8_t b[20] = {0x00, 0x01, 0x00, 0x00};
    cmn_put_u32be(b + 4, STUN_MAGIC_COOKIE);
    for (uint32_t len = 0; len <= 65515; len += 4) {
        cmn_put_u16be(b + 2, (uint16_t)len);
        assert_int_equal(frame_len(b, sizeof(b)), 20 + (ssize_t)len);
    }
    /* Length not a multiple of 4. */
    for (uint16_t len = 1; len < 4; len++) {
        cmn_put_u16be(b + 2, len);
        assert_int_equal(frame_len(b, 4), CMN_EPROTO);
    }
    /* Over STUN_MAX_MSG_LEN: 20 + 65516. */
    cmn_put_u16be(b + 2, 65516);
    assert_int_equal(frame_len(b, 4), CMN_EPROTO);
    cmn_put_u16be(b + 2, 65532);
    assert_int_equal(frame_len(b, 8), CMN_EPROTO);
    /* The cookie is checked once all of it is there. */
    cmn_put_u16be(b + 2, 8);
    b[7] ^= 0xFF;
    for (size_t n = 4; n < 8; n++)
        assert_int_equal(frame_len(b, n), 28);
    for (size_t n = 8; n <= 20; n++)
        assert_int_equal(frame_len(b, n), CMN_EPROTO);
    /* A real message, with more stream after it. */
    uint8_t msg[64];
    stun_enc_t e;
    stun_enc_init(&e, msg, sizeof(msg), stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST), tid);
    stun_enc_text(&e, STUN_ATTR_SOFTWARE, "abc");
    stun_enc_fingerprint(&e);
    ssize_t n = stun_enc_finish(&e);
    assert_int_equal(n, 36);
    assert_int_equal(frame_len(msg, sizeof(msg)), 36);
    assert_int_equal(frame_len(msg, 10), 36);
}

static void test_frame_channel_data(void **state)
{
    (void)state;
    uint8_t b[4];
    static const struct {
        uint16_t len;
        ssize_t frame;
    } cases[] = {{0, 4}, {1, 8}, {2, 8}, {3, 8}, {4, 8}, {5, 12}, {1200, 1204}, {1201, 1208},
                 {65528, 65532}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        stun_chdata_header(b, 0x4000, cases[i].len);
        assert_int_equal(frame_len(b, 4), cases[i].frame);
        stun_chdata_header(b, 0x7FFF, cases[i].len);
        assert_int_equal(frame_len(b, 4), cases[i].frame);
    }
    /* Padded frames over STUN_MAX_MSG_LEN (65535). */
    static const uint16_t over[] = {65529, 65531, 65532, 65535};
    for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
        stun_chdata_header(b, 0x4001, over[i]);
        assert_int_equal(frame_len(b, 4), CMN_EPROTO);
    }
}

static void test_chdata_decode(void **state)
{
    (void)state;
    uint8_t b[16] = {0};
    uint16_t ch;
    size_t dlen;
    stun_chdata_header(b, 0x4ABC, 5);
    memcpy(b + 4, "hello", 5);
    assert_memory_equal(b, "\x4a\xbc\x00\x05", 4);
    /* Exact, and with 1..3 bytes of padding (RFC 8656 §12.5). */
    for (size_t len = 9; len <= 12; len++) {
        ch = 0;
        dlen = 0;
        assert_int_equal(chdata(b, len, &ch, &dlen), 0);
        assert_int_equal(ch, 0x4ABC);
        assert_int_equal(dlen, 5);
    }
    /* Shorter than declared; more than the padding after. */
    for (size_t len = 4; len < 9; len++)
        assert_int_equal(chdata(b, len, &ch, &dlen), CMN_EPROTO);
    assert_int_equal(chdata(b, 13, &ch, &dlen), CMN_EPROTO);
    assert_int_equal(chdata(b, 16, &ch, &dlen), CMN_EPROTO);
    /* A multiple of 4 has no padding at all. */
    stun_chdata_header(b, 0x4000, 8);
    assert_int_equal(chdata(b, 12, &ch, &dlen), 0);
    assert_int_equal(dlen, 8);
    assert_int_equal(chdata(b, 13, &ch, &dlen), CMN_EPROTO);
    /* Empty data. */
    stun_chdata_header(b, 0x7FFF, 0);
    assert_int_equal(chdata(b, 4, &ch, &dlen), 0);
    assert_int_equal(ch, 0x7FFF);
    assert_int_equal(dlen, 0);
    assert_int_equal(chdata(b, 5, &ch, &dlen), CMN_EPROTO);
    /* Too short for a header; not ChannelData at all. */
    for (size_t len = 0; len < 4; len++)
        assert_int_equal(chdata(b, len, &ch, &dlen), CMN_EPROTO);
    static const uint8_t top[] = {0x00, 0x3F, 0x80, 0xC0, 0xFF};
    for (size_t i = 0; i < sizeof(top); i++) {
        b[0] = top[i];
        b[1] = 0;
        b[2] = 0;
        b[3] = 0;
        assert_int_equal(chdata(b, 4, &ch, &dlen), CMN_EPROTO);
    }
    assert_false(stun_is_channel_data(b, 3));
}

/* A stream holding STUN, ChannelData (padded), STUN, cut at every offset:
 * frame_len asks for more until a frame is complete, then each frame
 * decodes. */
static void test_stream_reassembly(void **state)
{
    (void)state;
    uint8_t stream[256];
    size_t pos = 0;
    stun_enc_t e;
    stun_enc_init(&e, stream, sizeof(stream), stun_type(STUN_METHOD_REFRESH, STUN_CLASS_REQUEST),
                  tid);
    stun_enc_u32(&e, STUN_ATTR_LIFETIME, 0);
    stun_enc_fingerprint(&e);
    pos = (size_t)stun_enc_finish(&e);
    stun_chdata_header(stream + pos, 0x4001, 7);
    memcpy(stream + pos + 4, "payload\0", 8);
    pos += 12;
    stun_enc_init(&e, stream + pos, sizeof(stream) - pos,
                  stun_type(STUN_METHOD_SEND, STUN_CLASS_INDICATION), tid);
    stun_enc_attr(&e, STUN_ATTR_DATA, "xyz", 3);
    pos += (size_t)stun_enc_finish(&e);

    size_t want[] = {36, 12, 28};
    assert_int_equal(pos, 36 + 12 + 28);
    size_t off = 0;
    for (int k = 0; k < 3; k++) {
        size_t avail;
        ssize_t n = CMN_EAGAIN;
        for (avail = 0; avail <= pos - off; avail++) {
            n = frame_len(stream + off, avail);
            if (n > 0 && (size_t)n <= avail)
                break;
            assert_true(n == CMN_EAGAIN || (n > 0 && (size_t)n > avail));
        }
        assert_int_equal(n, want[k]);
        if (k == 1) {
            uint16_t ch;
            size_t dlen;
            assert_int_equal(chdata(stream + off, (size_t)n, &ch, &dlen), 0);
            assert_int_equal(dlen, 7);
        } else {
            stun_msg_t m;
            assert_int_equal(stun_msg_decode(&m, stream + off, (size_t)n, NULL), 0);
        }
        off += (size_t)n;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_need_more),
        cmocka_unit_test(test_frame_bad_first_byte),
        cmocka_unit_test(test_frame_stun),
        cmocka_unit_test(test_frame_channel_data),
        cmocka_unit_test(test_chdata_decode),
        cmocka_unit_test(test_stream_reassembly),
    };
    return cmocka_run_group_tests_name("test_stun_frame", tests, NULL, NULL);
}
