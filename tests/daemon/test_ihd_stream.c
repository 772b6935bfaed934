/* icehub - SPDX-License-Identifier: MIT
 *
 * test_ihd_stream.c: daemon/ihd_stream.c: frames cut from a byte stream
 * whatever the reads, garbage refused at once, the buffer bounded by the
 * declared frame and never moved under a frame handed out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/ihd_stream.c"

/* Copy <n> bytes into the stream as reads of at most <chunk> bytes,
 * counting the complete frames; returns the frame count. */
static size_t feed(ihd_stream_t *s, const uint8_t *p, size_t n, size_t chunk, bool chd,
                   size_t *lens)
{
    size_t frames = 0;
    while (n) {
        size_t room;
        uint8_t *dst = ihd_stream_room(s, &room);
        assert_non_null(dst);
        size_t k = CMN_MIN(CMN_MIN(room, chunk), n);
        memcpy(dst, p, k);
        ihd_stream_wrote(s, k);
        p += k;
        n -= k;
        const uint8_t *f;
        size_t fl;
        ihd_frame_t r;
        while ((r = ihd_stream_next(s, chd, &f, &fl)) == IHD_FRAME_OK)
            lens[frames++] = fl;
        assert_int_equal(r, IHD_FRAME_MORE);
    }
    return frames;
}

/* A Send indication header declaring <body> bytes. */
static void stun_header(uint8_t *p, size_t body)
{
    memset(p, 0, 20);
    p[1] = 0x16;
    p[2] = (uint8_t)(body >> 8);
    p[3] = (uint8_t)body;
    p[4] = 0x21, p[5] = 0x12, p[6] = 0xA4, p[7] = 0x42;
}

static size_t stun_frame(uint8_t *p, size_t body)
{
    memset(p, 0, 20 + body);
    stun_header(p, body);
    return 20 + body;
}

static void test_frames_any_split(void **state)
{
    (void)state;
    static uint8_t buf[80000];
    size_t n = 0;
    n += stun_frame(buf + n, 8);
    buf[n] = 0x40, buf[n + 1] = 0x01, buf[n + 2] = 0, buf[n + 3] = 3; /* ChannelData, 3 + 1 pad */
    n += 8;
    n += stun_frame(buf + n, 60000);
    n += stun_frame(buf + n, 0);
    size_t want[] = {28, 8, 60020, 20};
    for (size_t chunk = 1; chunk <= 4096; chunk = chunk * 3 + 1) {
        ihd_stream_t s;
        memset(&s, 0, sizeof(s));
        size_t lens[8];
        assert_int_equal(feed(&s, buf, n, chunk, true, lens), 4);
        assert_memory_equal(lens, want, sizeof(want));
        assert_true(s.cap <= 60020);
        ihd_stream_compact(&s);
        assert_int_equal(ihd_stream_pending(&s), 0);
        ihd_stream_dispose(&s);
    }
}

static void test_garbage(void **state)
{
    (void)state;
    ihd_stream_t s;
    memset(&s, 0, sizeof(s));
    const uint8_t *f;
    size_t fl, room;
    uint8_t *dst = ihd_stream_room(&s, &room);
    memcpy(dst, "GET / HTTP/1.1\r\n", 16);
    ihd_stream_wrote(&s, 16);
    /* 'G' is 0x47: ChannelData's first bits, refused without an allocation. */
    assert_int_equal(ihd_stream_next(&s, false, &f, &fl), IHD_FRAME_GARBAGE);
    ihd_stream_dispose(&s);
    dst = ihd_stream_room(&s, &room);
    dst[0] = 0xC0;
    ihd_stream_wrote(&s, 1);
    assert_int_equal(ihd_stream_next(&s, true, &f, &fl), IHD_FRAME_GARBAGE);
    ihd_stream_dispose(&s);
}

/* A frame handed out stays where it is while the next one, larger than
 * the buffer, is only begun; the buffer grows at the next read. */
static void test_no_move_under_a_frame(void **state)
{
    (void)state;
    ihd_stream_t s;
    memset(&s, 0, sizeof(s));
    uint8_t first[40], big[20];
    size_t n1 = stun_frame(first, 8);
    stun_header(big, 10000);
    size_t room;
    uint8_t *dst = ihd_stream_room(&s, &room);
    memcpy(dst, first, n1);
    memcpy(dst + n1, big, 20);
    ihd_stream_wrote(&s, n1 + 20);
    const uint8_t *f, *g;
    size_t fl, gl;
    assert_int_equal(ihd_stream_next(&s, true, &f, &fl), IHD_FRAME_OK);
    uint8_t *before = s.buf;
    assert_int_equal(ihd_stream_next(&s, true, &g, &gl), IHD_FRAME_MORE);
    assert_ptr_equal(s.buf, before);
    assert_memory_equal(f, first, n1);
    dst = ihd_stream_room(&s, &room);
    assert_true(s.cap >= 10020 && room == s.cap - 20);
    ihd_stream_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_any_split),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_no_move_under_a_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
