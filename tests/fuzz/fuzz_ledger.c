/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_ledger.c: libFuzzer target for the usage ledger's reading side
 * (acct/): what the restart rebuild and `icehubd usage` read from a file
 * anyone with access to the disk could have changed. An input is
 * [mode][bytes]:
 *   0  <bytes> as a ledger file, read with acct_ledger_read: every
 *      non-empty line is a record, bad or torn (only the last, without its
 *      '\n', can be torn), each record handed over is sound (user and realm
 *      set, times finite), and each record's end formats as a time and
 *      falls in a period, as `icehubd usage --by day` and the rebuild use it;
 *   1  <bytes> as a time for acct_time_parse: a time it accepts formats and
 *      parses back to the same millisecond;
 *   2  <bytes> give the fields of a record (names of any bytes, counts,
 *      times, addresses): acct_rec_encode writes one ASCII line that
 *      acct_ledger_read gives back with the same numbers.
 * Seeds are in tests/fuzz/corpus/ledger/ (tests/fuzz/gen_seeds.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "acct/acct.h"

#include "tests/fuzz/fuzz_check.h"

typedef struct fz_read_s {
    uint64_t n;
    acct_recv_t last;
} fz_read_t;

static void check_time(double t)
{
    char buf[ACCT_TIME_STRLEN];
    double s, e, back;
    CHECK(isfinite(t));
    acct_time_format(t, buf, sizeof(buf));
    CHECK(acct_time_parse(buf, &back) == 0 && fabs(back - t) <= 0.0015);
    for (int k = ACCT_PERIOD_DAY; k <= ACCT_PERIOD_MONTH; k++) {
        acct_period_bounds((acct_period_t)k, t, &s, &e);
        CHECK(s <= floor(t) && floor(t) < e);
    }
}

static void on_rec(void *ctx, const acct_recv_t *r)
{
    fz_read_t *f = ctx;
    CHECK(r->user && r->realm);
    check_time(r->start);
    check_time(r->end);
    f->n++;
    f->last = *r;
}

static void fuzz_file(const uint8_t *p, size_t len)
{
    if (len == 0)
        return;
    FILE *f = fmemopen((void *)p, len, "r");
    CHECK(f != NULL);
    fz_read_t fr = {0};
    acct_read_stats_t st;
    CHECK(acct_ledger_read(f, "fuzz", on_rec, NULL, &fr, &st) == 0);
    fclose(f);
    uint64_t lines = 0;
    for (size_t i = 0, start = 0; i <= len; i++) {
        if (i == len || p[i] == '\n') {
            lines += i > start;
            start = i + 1;
        }
    }
    CHECK(st.records == fr.n && st.records + st.bad + st.torn == lines && st.torn <= 1);
    if (st.torn)
        CHECK(p[len - 1] != '\n');
}

static void fuzz_time(const uint8_t *p, size_t len)
{
    char s[256];
    double t;
    if (len >= sizeof(s))
        return;
    memcpy(s, p, len);
    s[len] = '\0';
    if (acct_time_parse(s, &t) == 0)
        check_time(t);
}

/* Take <n> bytes from the input, or zeros past its end. */
static const uint8_t *take(const uint8_t **p, const uint8_t *end, size_t n)
{
    static const uint8_t zeros[64];
    if ((size_t)(end - *p) < n)
        return zeros;
    const uint8_t *r = *p;
    *p += n;
    return r;
}

static uint64_t u64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static void fuzz_record(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    acct_rec_t r;
    memset(&r, 0, sizeof(r));
    r.final = take(&p, end, 1)[0] & 1;
    r.alloc_id = u64(take(&p, end, 8)) >> 1;
    r.seq = (uint32_t)u64(take(&p, end, 8));
    /* Counts jansson can hold (it stores signed 64-bit integers). */
    r.d.to_peer_bytes = u64(take(&p, end, 8)) >> 1;
    r.d.to_client_bytes = u64(take(&p, end, 8)) >> 1;
    r.d.to_peer_packets = u64(take(&p, end, 8)) >> 1;
    r.d.to_client_packets = u64(take(&p, end, 8)) >> 1;
    /* Times from 1970 to about 2106, in milliseconds. */
    r.start = (double)(u64(take(&p, end, 8)) % 4294967296000ull) / 1000.0;
    r.end = r.start + (double)(u64(take(&p, end, 8)) % 86400000ull) / 1000.0;
    cmn_addr_t addrs[3];
    for (int i = 0; i < 3; i++) {
        const uint8_t *b = take(&p, end, 19);
        addrs[i].family = (b[0] & 1) ? CMN_AF_INET6 : CMN_AF_INET;
        addrs[i].port = (uint16_t)(b[1] << 8 | b[2]);
        memcpy(addrs[i].ip, b + 3, addrs[i].family == CMN_AF_INET ? 4 : 16);
        if (addrs[i].family == CMN_AF_INET)
            memset(addrs[i].ip + 4, 0, 12);
    }
    r.client = addrs[0];
    r.relay = &addrs[1];
    r.nrelay = 1;
    r.peers = &addrs[2];
    r.npeers = 1;
    /* The rest: user, quota user and realm, NUL-separated. */
    static char names[3][4096];
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        while (p < end && *p && n < sizeof(names[i]) - 1)
            names[i][n++] = (char)*p++;
        names[i][n] = '\0';
        if (p < end)
            p++;
    }
    r.user = names[0];
    r.quota_user = names[1];
    r.realm = names[2];
    r.transport = "udp";
    r.end_reason = "client";
    char *buf = NULL;
    size_t blen = 0, bcap = 0;
    acct_rec_encode(&r, &buf, &blen, &bcap);
    CHECK(blen > 0 && buf[blen - 1] == '\n' && memchr(buf, '\n', blen) == buf + blen - 1);
    for (size_t i = 0; i < blen; i++)
        CHECK((unsigned char)buf[i] < 0x80);
    FILE *f = fmemopen(buf, blen, "r");
    fz_read_t fr = {0};
    acct_read_stats_t st;
    CHECK(acct_ledger_read(f, "fuzz", on_rec, NULL, &fr, &st) == 0);
    fclose(f);
    CHECK(st.records == 1 && fr.n == 1);
    CHECK(fr.last.final == r.final && fr.last.seq == r.seq);
    CHECK(fr.last.to_peer_bytes == r.d.to_peer_bytes &&
          fr.last.to_client_bytes == r.d.to_client_bytes &&
          fr.last.to_peer_packets == r.d.to_peer_packets &&
          fr.last.to_client_packets == r.d.to_client_packets);
    CHECK(fabs(fr.last.start - r.start) <= 0.0015 && fabs(fr.last.end - r.end) <= 0.0015);
    cmn_free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0: fuzz_file(data + 1, size - 1); break;
    case 1: fuzz_time(data + 1, size - 1); break;
    default: fuzz_record(data + 1, size - 1); break;
    }
    return 0;
}
