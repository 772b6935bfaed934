/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_extip.c: turn.external_ip = "auto". Finds the address this host has
 * on the Internet with STUN Binding requests (RFC 8489; stun/ encodes and
 * decodes them) to every turn.external_ip_servers entry, at start and at
 * every reload (SIGHUP), on the main thread, before the configuration
 * snapshot is built. Each request goes out on its own connected UDP
 * socket, so the kernel's choice of source address is the PRIVATE side and
 * the XOR-MAPPED-ADDRESS of the answer the PUBLIC side of a
 * "PUBLIC/PRIVATE" entry.
 *
 * Only agreeing answers count: within one address family, every server
 * that answers must report the same mapped address from the same local
 * address, and when two or more servers of that family are configured at
 * least two must answer (one answer can't be cross-checked). Otherwise the
 * run fails and the fallback applies: the address an earlier run of this
 * process found, else none (relayed addresses carry the local address).
 * Every run is logged and counted (icehub_turn_external_ip_discoveries_total),
 * and the addresses in use are exported (icehub_turn_external_ip_info).
 *
 * Left out: host names (servers are IP literals, so no resolver runs on
 * the main thread), STUN over TCP, and periodic re-discovery (a SIGHUP
 * runs it again).
 */
#include "ihd.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cmn_crypto.h"
#include "common/cmn_log.h"
#include "common/cmn_metrics.h"

#define EXTIP_WAIT_MS 3000          /* a whole run, all servers at once */
#define EXTIP_MAX_SERVERS 16
#define EXTIP_ENTRY_LEN (2 * CMN_ADDR_STRLEN + 2)

/* Retransmissions at 0, 0.5 and 1.5 s: RFC 8489 §6.2.1's RTO of 500 ms,
 * doubled each time, cut to the run's 3 s. */
static const int resend_ms[] = {0, 500, 1500};

typedef enum extip_result_e {
    EXTIP_OK = 0,
    EXTIP_NO_ANSWER,    /* no server of any family answered */
    EXTIP_TOO_FEW,      /* one answer where two or more servers were asked */
    EXTIP_DISAGREE,     /* answers differ */
    EXTIP_RESULT_COUNT
} extip_result_t;

static const char *const result_names[EXTIP_RESULT_COUNT] = {"ok", "no_answer", "too_few",
                                                                  "disagree"};

struct ihd_extip_s {
    pthread_mutex_t lock;       /* the main thread writes, the HTTP thread reads */
    char in_use[2][EXTIP_ENTRY_LEN]; /* "PUBLIC/PRIVATE" found by the last good run */
    size_t nin_use;
    uint64_t runs[EXTIP_RESULT_COUNT];
};

typedef struct probe_s {
    const cmn_addr_t *server;   /* borrowed from the settings */
    int fd;
    uint8_t tid[STUN_TID_LEN];
    bool answered;
    cmn_addr_t mapped;          /* XOR-MAPPED-ADDRESS of the answer */
    cmn_addr_t local;           /* our source address toward the server */
} probe_t;

ihd_extip_t *ihd_extip_new(void)
{
    ihd_extip_t *x = cmn_calloc(1, sizeof(*x));
    pthread_mutex_init(&x->lock, NULL);
    return x;
}

void ihd_extip_free(ihd_extip_t *x)
{
    if (!x)
        return;
    pthread_mutex_destroy(&x->lock);
    cmn_free(x);
}

static int probe_open(probe_t *p)
{
    struct sockaddr_storage ss;
    socklen_t sl = cmn_addr_to_sockaddr(p->server, &ss);
    int af = p->server->family == CMN_AF_INET6 ? AF_INET6 : AF_INET;
    p->fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return CMN_EIO;
    if (connect(p->fd, (struct sockaddr *)&ss, sl) < 0)
        return CMN_EIO;
    sl = sizeof(ss);
    if (getsockname(p->fd, (struct sockaddr *)&ss, &sl) < 0 ||
        cmn_addr_from_sockaddr(&p->local, (struct sockaddr *)&ss) < 0)
        return CMN_EIO;
    return cmn_random(p->tid, sizeof(p->tid));
}

static void probe_send(probe_t *p)
{
    uint8_t buf[64];
    stun_enc_t e;
    stun_enc_init(&e, buf, sizeof(buf), stun_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST),
                  p->tid);
    stun_enc_fingerprint(&e);
    ssize_t n = stun_enc_finish(&e);
    if (n > 0 && send(p->fd, buf, (size_t)n, 0) < 0)
        cmn_debug("turn", "external_ip auto: send: %s", strerror(errno));
}

/* Read what arrived; anything but a Binding success with our transaction
 * id and an XOR-MAPPED-ADDRESS is ignored. */
static void probe_read(probe_t *p)
{
    uint8_t buf[IHD_UDP_MAX];
    ssize_t n;
    while (!p->answered && (n = recv(p->fd, buf, sizeof(buf), 0)) >= 0) {
        stun_msg_t m;
        const stun_attr_t *a;
        if (stun_msg_decode(&m, buf, (size_t)n, NULL) < 0 || m.classic ||
            m.method != STUN_METHOD_BINDING || m.cls != STUN_CLASS_SUCCESS ||
            memcmp(m.tid, p->tid, STUN_TID_LEN) != 0 ||
            !(a = stun_msg_find(&m, STUN_ATTR_XOR_MAPPED_ADDRESS)) ||
            stun_attr_get_xor_addr(&m, a, &p->mapped) < 0)
            continue;
        p->answered = true;
    }
}

/* Send to every server and wait for the answers, resending on schedule. */
static void run_probes(probe_t *v, size_t n)
{
    double start = ihd_now();
    size_t next = 0;
    for (;;) {
        int elapsed = (int)((ihd_now() - start) * 1000);
        while (next < CMN_ARRAY_LEN(resend_ms) && elapsed >= resend_ms[next]) {
            for (size_t i = 0; i < n; i++)
                if (v[i].fd >= 0 && !v[i].answered)
                    probe_send(&v[i]);
            next++;
        }
        struct pollfd pfd[EXTIP_MAX_SERVERS];
        nfds_t np = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].fd >= 0 && !v[i].answered)
                pfd[np++] = (struct pollfd){.fd = v[i].fd, .events = POLLIN};
        if (np == 0 || elapsed >= EXTIP_WAIT_MS)
            return;
        int until = next < CMN_ARRAY_LEN(resend_ms) ? resend_ms[next] : EXTIP_WAIT_MS;
        if (poll(pfd, np, CMN_MAX(until - elapsed, 1)) <= 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (v[i].fd >= 0 && !v[i].answered)
                probe_read(&v[i]);
    }
}

/* Judge one family's answers: 1 and "PUBLIC/PRIVATE" in <entry> when they
 * agree, 0 when none of its servers is configured or answered, -1 with
 * *fail (EXTIP_DISAGREE or EXTIP_TOO_FEW) and the reason in <why>. */
static int judge_family(const probe_t *v, size_t n, uint8_t family, char *entry,
                        extip_result_t *fail, char *why, size_t whylen)
{
    const probe_t *first = NULL;
    size_t asked = 0, answered = 0;
    char b1[CMN_ADDR_STRLEN], b2[CMN_ADDR_STRLEN], b3[CMN_ADDR_STRLEN], b4[CMN_ADDR_STRLEN];
    for (size_t i = 0; i < n; i++) {
        if (v[i].server->family != family)
            continue;
        asked++;
        if (!v[i].answered)
            continue;
        answered++;
        if (!first) {
            first = &v[i];
        } else if (!cmn_addr_ip_equal(&first->mapped, &v[i].mapped) ||
                   !cmn_addr_ip_equal(&first->local, &v[i].local)) {
            snprintf(why, whylen, "%s says %s, %s says %s",
                     cmn_addr_format(first->server, b1, sizeof(b1), true),
                     cmn_addr_format(&first->mapped, b2, sizeof(b2), false),
                     cmn_addr_format(v[i].server, b3, sizeof(b3), true),
                     cmn_addr_format(&v[i].mapped, b4, sizeof(b4), false));
            *fail = EXTIP_DISAGREE;
            return -1;
        }
    }
    if (!first)
        return 0;
    if (asked >= 2 && answered < 2) {
        snprintf(why, whylen, "only 1 of %zu IPv%u servers answered, none to cross-check",
                 asked, (unsigned)family);
        *fail = EXTIP_TOO_FEW;
        return -1;
    }
    snprintf(entry, EXTIP_ENTRY_LEN, "%s/%s",
             cmn_addr_format(&first->mapped, b1, sizeof(b1), false),
             cmn_addr_format(&first->local, b2, sizeof(b2), false));
    return 1;
}

/* One run against <servers>: the entries found (at most one per family). */
static extip_result_t discover(const cmn_addrlist_t *servers, char out[2][EXTIP_ENTRY_LEN],
                               size_t *nout, char *why, size_t whylen)
{
    probe_t v[EXTIP_MAX_SERVERS];
    size_t n = CMN_MIN(servers->n, (size_t)EXTIP_MAX_SERVERS);
    if (servers->n > n)
        cmn_warn("turn", "external_ip auto: asking the first %d of %zu servers",
                 EXTIP_MAX_SERVERS, servers->n);
    for (size_t i = 0; i < n; i++) {
        v[i] = (probe_t){.server = &servers->v[i], .fd = -1};
        if (probe_open(&v[i]) < 0) {
            int e = errno;
            char b[CMN_ADDR_STRLEN];
            cmn_warn("turn", "external_ip auto: cannot reach %s: %s",
                     cmn_addr_format(v[i].server, b, sizeof(b), true), strerror(e));
            if (v[i].fd >= 0)
                close(v[i].fd);
            v[i].fd = -1;
        }
    }
    run_probes(v, n);
    for (size_t i = 0; i < n; i++)
        if (v[i].fd >= 0)
            close(v[i].fd);
    extip_result_t res = EXTIP_NO_ANSWER;
    static const uint8_t families[2] = {CMN_AF_INET, CMN_AF_INET6};
    *nout = 0;
    snprintf(why, whylen, "no answer from any of %zu servers within %d ms", n, EXTIP_WAIT_MS);
    for (size_t f = 0; f < 2; f++) {
        extip_result_t fail = EXTIP_DISAGREE;
        int r = judge_family(v, n, families[f], out[*nout], &fail, why, whylen);
        if (r < 0)
            return fail;
        if (r > 0) {
            (*nout)++;
            res = EXTIP_OK;
        }
    }
    return res;
}

static void set_list(cmn_strlist_t *l, char entries[][EXTIP_ENTRY_LEN], size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        cmn_free(l->v[i]);
    cmn_free(l->v);
    l->v = n ? cmn_calloc(n, sizeof(*l->v)) : NULL;
    for (size_t i = 0; i < n; i++)
        l->v[i] = cmn_strdup(entries[i]);
    l->n = n;
}

void ihd_extip_apply(ihd_extip_t *x, cmn_settings_t *s)
{
    cmn_strlist_t *ext = &s->turn.external_ip;
    if (ext->n != 1 || strcmp(ext->v[0], CMN_EXTIP_AUTO) != 0)
        return;
    if (!x) { /* --check-config, --print-config: send nothing */
        set_list(ext, NULL, 0);
        return;
    }
    char found[2][EXTIP_ENTRY_LEN], why[256];
    size_t nfound = 0;
    extip_result_t res = discover(&s->turn.external_ip_servers, found, &nfound, why,
                                  sizeof(why));
    pthread_mutex_lock(&x->lock);
    x->runs[res]++;
    if (res == EXTIP_OK) {
        memcpy(x->in_use, found, sizeof(found));
        x->nin_use = nfound;
    }
    set_list(ext, x->in_use, x->nin_use);
    pthread_mutex_unlock(&x->lock);
    if (res == EXTIP_OK)
        cmn_info("turn", "external_ip auto: %s%s%s", found[0], nfound > 1 ? ", " : "",
                 nfound > 1 ? found[1] : "");
    else if (ext->n)
        cmn_err("turn", "external_ip auto failed (%s): %s; keeping %s%s%s found earlier",
                result_names[res], why, ext->v[0], ext->n > 1 ? ", " : "",
                ext->n > 1 ? ext->v[1] : "");
    else
        cmn_err("turn", "external_ip auto failed (%s): %s; relayed addresses carry the local "
                        "address until a reload (SIGHUP) finds the public one",
                result_names[res], why);
}

void ihd_extip_metrics(ihd_server_t *srv, struct cmn_prom_s *p)
{
    ihd_extip_t *x = srv->extip;
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    cmn_prom_family(p, "icehub_turn_external_ip_discoveries_total", "counter",
                    "Runs of turn.external_ip \"auto\" (at start and on SIGHUP), by result.");
    for (int r = 0; r < EXTIP_RESULT_COUNT; r++)
        cmn_prom_sample_u64(p, "icehub_turn_external_ip_discoveries_total", x->runs[r],
                            "result", result_names[r], CMN_PROM_END);
    cmn_prom_family(p, "icehub_turn_external_ip_info", "gauge",
                    "1 for each external address turn.external_ip \"auto\" found and relays "
                    "advertise (public, and the local address it maps).");
    for (size_t i = 0; i < x->nin_use; i++) {
        char pub[EXTIP_ENTRY_LEN];
        snprintf(pub, sizeof(pub), "%s", x->in_use[i]);
        char *slash = strchr(pub, '/');
        *slash = '\0';
        cmn_prom_sample_u64(p, "icehub_turn_external_ip_info", 1, "address", pub, "private",
                            slash + 1, CMN_PROM_END);
    }
    pthread_mutex_unlock(&x->lock);
}
