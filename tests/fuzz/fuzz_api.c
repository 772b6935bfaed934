/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_api.c: libFuzzer target for the JSON and /metrics text the admin
 * API builds from names clients chose (a USERNAME is any bytes a client
 * sends; the usage table keys on it): the usage table (acct/acct_usage.c)
 * fed by a script of deltas, and its views, GET /api/usage's JSON and the
 * usage families of /metrics. An input is a script of records
 * [op][a][b][len][bytes]: a delta (<bytes> the quota user, <a>/<b> the
 * amounts, a started allocation or not), the clock moving (across a
 * period end when it is large), the rules changing (byte quota, period),
 * a view taken. Checked after every record:
 *   - the JSON parses; it lists at most ACCT_JSON_USERS users and its
 *     totals are what was fed this period; every user's bytes are within
 *     the totals, and a user over a set quota is blocked (the blocker saw
 *     it);
 *   - the /metrics text is valid exposition: every sample line is
 *     name{label="value",...} value, label values escaped (\\, \", \n).
 * Seeds are in tests/fuzz/corpus/api/ (tests/fuzz/gen_seeds.py).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "acct/acct.h"
#include "common/cmn_log.h"
#include "common/cmn_metrics.h"

#include "tests/fuzz/fuzz_check.h"

#define FZ_BLOCKED 64

typedef struct fz_s {
    char blocked[FZ_BLOCKED][256];   /* quota-blocked users (names cut) */
    size_t nblocked;
    uint64_t gen;
    uint64_t fed;                    /* bytes fed this period */
    double pend;                     /* current period's end */
} fz_t;

static acct_block_t fz_state(void *ctx, const char *user)
{
    fz_t *f = ctx;
    for (size_t i = 0; i < f->nblocked; i++)
        if (!strncmp(f->blocked[i], user, 255))
            return ACCT_BLOCK_QUOTA;
    return ACCT_BLOCK_NONE;
}

static void fz_block(void *ctx, const char *user)
{
    fz_t *f = ctx;
    if (fz_state(ctx, user) != ACCT_BLOCK_NONE || f->nblocked == FZ_BLOCKED)
        return;
    snprintf(f->blocked[f->nblocked++], 256, "%s", user);
    f->gen++;
}

static void fz_lift(void *ctx, const char *user)
{
    fz_t *f = ctx;
    for (size_t i = 0; i < f->nblocked; i++) {
        if (!strncmp(f->blocked[i], user, 255)) {
            memcpy(f->blocked[i], f->blocked[--f->nblocked], 256);
            f->gen++;
            return;
        }
    }
}

static uint64_t fz_gen(void *ctx)
{
    return ((fz_t *)ctx)->gen;
}

/* A Prometheus text exposition line by line (format 0.0.4). */
static void check_prom(const char *t)
{
    for (const char *p = t; *p;) {
        const char *nl = strchr(p, '\n');
        CHECK(nl != NULL); /* every line ends in '\n' */
        if (*p != '#') {
            const char *q = p;
            CHECK((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' || *q == ':');
            while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                   (*q >= '0' && *q <= '9') || *q == '_' || *q == ':')
                q++;
            if (*q == '{') {
                q++;
                while (*q != '}') {
                    while ((*q >= 'a' && *q <= 'z') || *q == '_')
                        q++;
                    CHECK(q[0] == '=' && q[1] == '"');
                    q += 2;
                    while (*q != '"') {
                        CHECK(*q != '\n' && *q != '\0');
                        if (*q == '\\') {
                            CHECK(q[1] == '\\' || q[1] == '"' || q[1] == 'n');
                            q++;
                        }
                        q++;
                    }
                    q++;
                    if (*q == ',')
                        q++;
                    else
                        CHECK(*q == '}');
                }
                q++;
            }
            CHECK(*q == ' ');
            char *end;
            (void)strtod(q + 1, &end);
            CHECK(end == nl);
        }
        p = nl + 1;
    }
}

static uint64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    CHECK(json_is_integer(v) && json_integer_value(v) >= 0);
    return (uint64_t)json_integer_value(v);
}

static void check_views(fz_t *f, acct_usage_t *u, const acct_rules_t *r, double wall)
{
    acct_view_t v = {.period = r->period, .user_bytes = r->user_bytes,
                     .prices = {.ingress_per_gb = 0.5, .egress_per_gb = 1, .currency = "EUR"}};
    size_t len;
    char *txt = acct_usage_json(u, &v, wall, &len);
    CHECK(txt && strlen(txt) == len);
    json_error_t e;
    json_t *o = json_loadb(txt, len, JSON_REJECT_DUPLICATES, &e);
    CHECK(json_is_object(o));
    json_t *users = json_object_get(o, "users"), *row;
    CHECK(json_is_array(users) && json_array_size(users) <= ACCT_JSON_USERS);
    json_t *tot = json_object_get(o, "totals");
    uint64_t total = jint(tot, "to_peer_bytes") + jint(tot, "to_client_bytes");
    CHECK(total == f->fed);
    size_t i;
    json_array_foreach(users, i, row) {
        CHECK(json_is_string(json_object_get(row, "user")));
        uint64_t b = jint(row, "to_peer_bytes") + jint(row, "to_client_bytes");
        CHECK(b <= total);
        json_t *bl = json_object_get(row, "blocked");
        if (r->user_bytes && b >= r->user_bytes && !json_is_true(json_object_get(row, "overflow")))
            CHECK(!json_is_null(bl) && bl != NULL);
    }
    json_decref(o);
    cmn_free(txt);
    cmn_prom_t p;
    cmn_prom_init(&p);
    acct_usage_metrics(u, 3, &p);
    check_prom(p.buf ? p.buf : "");
    cmn_prom_dispose(&p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* Quota events are logged at info: written for every input they cost
     * more than the table itself (270 inputs/s, a log of gigabytes). */
    cmn_log_set_level(CMN_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz_t f;
    memset(&f, 0, sizeof(f));
    acct_blocker_t b = {.ctx = &f, .state = fz_state, .block = fz_block, .lift = fz_lift,
                        .gen = fz_gen};
    double wall = 1.7e9;
    acct_rules_t r = {.period = ACCT_PERIOD_DAY, .user_bytes = 0, .realm = "re\"alm\n"};
    acct_usage_t *u = acct_usage_new(&b, r.period, wall);
    double ps;
    acct_period_bounds(r.period, wall, &ps, &f.pend);
    static char name[1024];
    size_t off = 0;
    while (size - off >= 4) {
        uint8_t op = data[off], a = data[off + 1], c = data[off + 2];
        size_t len = CMN_MIN((size_t)data[off + 3], size - off - 4);
        const uint8_t *p = data + off + 4;
        off += 4 + len;
        switch (op % 5) {
        case 0: {
            size_t n = 0;
            while (n < len && p[n])
                n++;
            memcpy(name, p, n);
            name[n] = '\0';
            acct_delta_t d = {.user = name, .started = op & 8,
                              .d = {.to_peer_bytes = (uint64_t)a << (c & 31),
                                    .to_client_bytes = c, .to_peer_packets = 1,
                                    .to_client_packets = 1}};
            if (wall >= f.pend) {
                f.fed = 0; /* the apply below rolls the period over first */
                acct_period_bounds(r.period, wall, &ps, &f.pend);
            }
            acct_usage_apply(u, &r, &d, 1, wall);
            f.fed += d.d.to_peer_bytes + d.d.to_client_bytes;
            break;
        }
        case 1:
            wall += (double)a * (c & 1 ? 3600.0 : 1.0);
            break;
        case 2: {
            acct_period_t np = c & 1 ? ACCT_PERIOD_MONTH : ACCT_PERIOD_DAY;
            r.user_bytes = (uint64_t)a << (c >> 3);
            if (np != r.period || wall >= f.pend) {
                r.period = np;
                f.fed = 0; /* a new period starts at the next apply */
                acct_period_bounds(r.period, wall, &ps, &f.pend);
            }
            acct_usage_apply(u, &r, NULL, 0, wall);
            break;
        }
        default:
            if (wall >= f.pend) {
                f.fed = 0;
                acct_period_bounds(r.period, wall, &ps, &f.pend);
                acct_usage_apply(u, &r, NULL, 0, wall);
            }
            check_views(&f, u, &r, wall);
            break;
        }
    }
    if (wall >= f.pend) {
        f.fed = 0;
        acct_usage_apply(u, &r, NULL, 0, wall);
    }
    check_views(&f, u, &r, wall);
    acct_usage_free(u);
    return 0;
}
