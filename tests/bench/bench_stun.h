/* icehub - SPDX-License-Identifier: MIT
 *
 * bench_stun.h: what the benchmark load generators share (turn_flood.c,
 * alloc_storm.c, turn_stream.c): a minimal STUN/TURN client encoder
 * written from RFC 8489 / RFC 8656 (long-term credentials: MD5 key,
 * HMAC-SHA1 MESSAGE-INTEGRITY), a decoder for the servers' answers, the
 * clock, and another process's CPU time and resident memory from /proc.
 * Independent of the server's code on purpose: it is the other side.
 * Everything is static inline; a generator includes it once.
 */
#ifndef BENCH_STUN_H
#define BENCH_STUN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BS_COOKIE 0x2112A442u

enum { BS_ALLOCATE = 0x003, BS_REFRESH = 0x004, BS_SEND = 0x006, BS_DATA = 0x007,
       BS_PERMISSION = 0x008, BS_CHANBIND = 0x009 };
enum {
    BS_A_USERNAME = 0x0006, BS_A_INTEGRITY = 0x0008, BS_A_ERROR = 0x0009, BS_A_CHANNEL = 0x000C,
    BS_A_LIFETIME = 0x000D, BS_A_PEER = 0x0012, BS_A_DATA = 0x0013, BS_A_REALM = 0x0014,
    BS_A_NONCE = 0x0015, BS_A_RELAYED = 0x0016, BS_A_TRANSPORT = 0x0019,
};

/* Long-term credential state: one user, the realm and nonce the server
 * offered, and the key MD5(user:realm:password). */
typedef struct bs_cred_s {
    const char *user, *pass;
    char realm[256], nonce[256];
    uint8_t key[16];
} bs_cred_t;

static inline double bs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime+stime of process <pid> in clock ticks, or -1. */
static inline long bs_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields 14 and 15 (utime, stime) follow the ")" that ends the name. */
    char *p = strrchr(buf, ')');
    long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
        return -1;
    return ut + st;
}

/* VmRSS of process <pid> in KiB, or -1. */
static inline long bs_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static inline void bs_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t bs_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void bs_put32(uint8_t *p, uint32_t v)
{
    bs_put16(p, (uint16_t)(v >> 16));
    bs_put16(p + 2, (uint16_t)v);
}

/* A message header of <type> with a random transaction id; returns 20. */
static inline size_t bs_msg_start(uint8_t *m, uint16_t type)
{
    bs_put16(m, type);
    bs_put16(m + 2, 0);
    bs_put32(m + 4, BS_COOKIE);
    for (int i = 8; i < 20; i++)
        m[i] = (uint8_t)rand();
    return 20;
}

/* Append an attribute at <off>, padded to 4; updates the header's length. */
static inline size_t bs_attr(uint8_t *m, size_t off, uint16_t type, const void *val, size_t len)
{
    bs_put16(m + off, type);
    bs_put16(m + off + 2, (uint16_t)len);
    memcpy(m + off + 4, val, len);
    size_t padded = (len + 3) & ~(size_t)3;
    memset(m + off + 4 + len, 0, padded - len);
    off += 4 + padded;
    bs_put16(m + 2, (uint16_t)(off - 20));
    return off;
}

static inline size_t bs_attr_xor_addr(uint8_t *m, size_t off, uint16_t type,
                                      const struct sockaddr_in *a)
{
    uint8_t v[8] = {0, 1};
    bs_put16(v + 2, (uint16_t)(ntohs(a->sin_port) ^ (BS_COOKIE >> 16)));
    bs_put32(v + 4, ntohl(a->sin_addr.s_addr) ^ BS_COOKIE);
    return bs_attr(m, off, type, v, sizeof(v));
}

/* USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (RFC 8489 §14.5). */
static inline size_t bs_add_auth(uint8_t *m, size_t off, const bs_cred_t *c)
{
    off = bs_attr(m, off, BS_A_USERNAME, c->user, strlen(c->user));
    off = bs_attr(m, off, BS_A_REALM, c->realm, strlen(c->realm));
    off = bs_attr(m, off, BS_A_NONCE, c->nonce, strlen(c->nonce));
    bs_put16(m + 2, (uint16_t)(off - 20 + 24));
    uint8_t mac[20];
    unsigned maclen = 0;
    HMAC(EVP_sha1(), c->key, sizeof(c->key), m, off, mac, &maclen);
    return bs_attr(m, off, BS_A_INTEGRITY, mac, 20);
}

static inline void bs_make_key(bs_cred_t *c)
{
    char s[700];
    int n = snprintf(s, sizeof(s), "%s:%s:%s", c->user, c->realm, c->pass);
    unsigned len = 0;
    EVP_Digest(s, (size_t)n, c->key, &len, EVP_md5(), NULL);
}

/* The value of the first attribute <type> of message <m>, or NULL. */
static inline const uint8_t *bs_find_attr(const uint8_t *m, size_t len, uint16_t type,
                                          size_t *alen)
{
    size_t off = 20;
    while (off + 4 <= len) {
        uint16_t t = bs_get16(m + off), l = bs_get16(m + off + 2);
        if (l > len - off - 4)
            return NULL;
        if (t == type) {
            *alen = l;
            return m + off + 4;
        }
        off += 4 + (((size_t)l + 3) & ~(size_t)3);
    }
    return NULL;
}

static inline void bs_copy_str(char *dst, size_t cap, const uint8_t *v, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = 0;
}

/* The answer <r>: 0 for a success response, the STUN error code
 * otherwise (600 without ERROR-CODE). A 401 or 438 hands its REALM and
 * NONCE to <c> (and the key is made again). */
static inline int bs_answer(const uint8_t *r, size_t n, bs_cred_t *c)
{
    if ((bs_get16(r) & 0x0110) == 0x0100)
        return 0;
    size_t al;
    const uint8_t *e = bs_find_attr(r, n, BS_A_ERROR, &al);
    int code = e && al >= 4 ? (e[2] & 7) * 100 + e[3] : 600;
    const uint8_t *v;
    if (c && (code == 401 || code == 438)) {
        if ((v = bs_find_attr(r, n, BS_A_REALM, &al)))
            bs_copy_str(c->realm, sizeof(c->realm), v, al);
        if ((v = bs_find_attr(r, n, BS_A_NONCE, &al)))
            bs_copy_str(c->nonce, sizeof(c->nonce), v, al);
        bs_make_key(c);
    }
    return code;
}

/* XOR-RELAYED-ADDRESS of an Allocate success into <out>; -1 if absent. */
static inline int bs_relayed(const uint8_t *r, size_t n, struct sockaddr_in *out)
{
    size_t al;
    const uint8_t *v = bs_find_attr(r, n, BS_A_RELAYED, &al);
    if (!v || al < 8 || v[1] != 1)
        return -1;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)(bs_get16(v + 2) ^ (BS_COOKIE >> 16)));
    out->sin_addr.s_addr = htonl(((uint32_t)bs_get16(v + 4) << 16 | bs_get16(v + 6)) ^ BS_COOKIE);
    return 0;
}

/* Datagrams the kernel dropped because the socket bound to port <port>
 * had a full receive buffer (the last column of /proc/net/udp): the
 * generators' sinks never read, and this counts what reached them. */
static inline long bs_udp_drops(uint16_t port)
{
    FILE *f = fopen("/proc/net/udp", "r");
    char line[512];
    long drops = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref
         * pointer drops */
        unsigned lport;
        long d;
        if (sscanf(line, " %*d: %*x:%x %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %ld", &lport,
                   &d) == 2 && lport == port)
            drops += d;
    }
    fclose(f);
    return drops;
}

/* "HOST:PORT" (IPv4) into <out> and, when <userpass> is "USER:PASS", the
 * credential into <c> (the strings are cut in place). Returns 0 or -1. */
static inline int bs_parse_target(char *server, char *userpass, struct sockaddr_in *out,
                                  bs_cred_t *c)
{
    char *colon = server ? strrchr(server, ':') : NULL;
    if (!colon)
        return -1;
    *colon = 0;
    *out = (struct sockaddr_in){.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, server, &out->sin_addr) != 1)
        return -1;
    if (userpass && (colon = strchr(userpass, ':'))) {
        *colon = 0;
        c->user = userpass;
        c->pass = colon + 1;
    }
    return 0;
}

/* Percentile <q> (0..1) of <n> sorted values. */
static inline double bs_pct(const double *sorted, size_t n, double q)
{
    if (!n)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static inline int bs_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#endif /* BENCH_STUN_H */
