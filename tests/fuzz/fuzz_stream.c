/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_stream.c: libFuzzer target for the reassembly of STUN and
 * ChannelData frames from a TCP or TLS byte stream (daemon/ihd_stream.c,
 * what ihd_tcp.c reads into). An input is [rule][stream bytes]; the stream
 * is fed as the socket would hand it over in several ways: in the largest
 * reads the buffer allows, one byte at a time, in two pieces cut at every
 * byte (every 8th past 512 bytes), and in pieces of random sizes. Each way
 * must give the same frames (same lengths, the stream's own bytes) and end
 * the same way (garbage at the same frame, or the same bytes waiting). The
 * buffer never grows past one maximum frame, and a frame handed out is not
 * moved while the next is read. ChannelData is allowed once <rule> & 3
 * frames have passed (as a connection gets an allocation mid-stream).
 * Seeds are in tests/fuzz/corpus/stream/.
 */
#include <stdlib.h>

#include "daemon/ihd_parse.h"
#include "stun/stun.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_MAX_FRAMES 4096

typedef struct fz_run_s {
    size_t lens[FZ_MAX_FRAMES];
    size_t nframes;
    bool garbage;               /* ended on bytes that cannot start a frame */
    size_t pending;             /* else: bytes waiting for the rest of a frame */
} fz_run_t;

typedef struct fz_chunks_s {
    const size_t *cuts;         /* piece ends, ascending; NULL: <step> bytes each */
    size_t ncuts;
    size_t step;                /* 0: as much as the room allows */
    uint64_t rng;               /* nonzero: random pieces of 1..rng%N bytes */
} fz_chunks_t;

static size_t piece(fz_chunks_t *c, size_t pos, size_t left)
{
    if (c->cuts) {
        for (size_t i = 0; i < c->ncuts; i++)
            if (c->cuts[i] > pos)
                return CMN_MIN(c->cuts[i] - pos, left);
        return left;
    }
    if (c->rng) {
        c->rng ^= c->rng << 13;
        c->rng ^= c->rng >> 7;
        c->rng ^= c->rng << 17;
        return CMN_MIN(1 + (size_t)(c->rng % 300), left);
    }
    return c->step ? CMN_MIN(c->step, left) : left;
}

static void run(const uint8_t *d, size_t n, unsigned need, fz_chunks_t *c, fz_run_t *out)
{
    ihd_stream_t s;
    memset(&s, 0, sizeof(s));
    memset(out, 0, sizeof(*out));
    size_t pos = 0, framed = 0;
    while (pos < n && !out->garbage) {
        size_t room;
        uint8_t *dst = ihd_stream_room(&s, &room);
        CHECK(dst != NULL && room > 0);
        CHECK(s.cap <= CMN_MAX((size_t)IHD_STREAM_INITIAL, (size_t)STUN_MAX_MSG_LEN));
        size_t k = CMN_MIN(piece(c, pos, n - pos), room);
        memcpy(dst, d + pos, k);
        ihd_stream_wrote(&s, k);
        pos += k;
        /* Frames of this read, checked again once the read is done: the
         * buffer must not have moved under them. */
        static const uint8_t *held[FZ_MAX_FRAMES];
        size_t nheld = 0, start = framed;
        const uint8_t *f;
        size_t fl;
        ihd_frame_t r;
        while ((r = ihd_stream_next(&s, out->nframes >= need, &f, &fl)) == IHD_FRAME_OK) {
            CHECK(fl >= 4 && fl <= STUN_MAX_MSG_LEN && framed + fl <= n);
            CHECK(memcmp(f, d + framed, fl) == 0);
            CHECK(out->nframes < FZ_MAX_FRAMES);
            held[nheld++] = f;
            out->lens[out->nframes++] = fl;
            framed += fl;
        }
        for (size_t i = 0, at = start; i < nheld; i++) {
            size_t len = out->lens[out->nframes - nheld + i];
            CHECK(memcmp(held[i], d + at, len) == 0);
            at += len;
        }
        out->garbage = r == IHD_FRAME_GARBAGE;
    }
    out->pending = out->garbage ? framed : n - framed;
    ihd_stream_dispose(&s);
}

static void same(const fz_run_t *a, const fz_run_t *b)
{
    CHECK(a->nframes == b->nframes && a->garbage == b->garbage && a->pending == b->pending);
    CHECK(memcmp(a->lens, b->lens, a->nframes * sizeof(a->lens[0])) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz_run_t ref, got;
    if (size < 1)
        return 0;
    unsigned need = data[0] & 3;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    fz_chunks_t whole = {0};
    run(d, n, need, &whole, &ref);
    fz_chunks_t bytes = {.step = 1};
    run(d, n, need, &bytes, &got);
    same(&ref, &got);
    for (size_t cut = 1; cut < n; cut += n > 512 ? 8 : 1) {
        fz_chunks_t two = {.cuts = &cut, .ncuts = 1};
        run(d, n, need, &two, &got);
        same(&ref, &got);
    }
    fz_chunks_t rnd = {.rng = 0x9E3779B97F4A7C15ull ^ data[0] ^ (uint64_t)n << 20};
    run(d, n, need, &rnd, &got);
    same(&ref, &got);
    return 0;
}
