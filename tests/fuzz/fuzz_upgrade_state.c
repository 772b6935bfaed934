/* icehub - SPDX-License-Identifier: MIT
 *
 * fuzz_upgrade_state.c: libFuzzer target for the rest of what a new
 * process reads from the old one in a live upgrade: the handover stream
 * (daemon/ihd_handover_codec.c, compiled in whole: it needs nothing of the
 * daemon but its header) with a handful of real sockets beside it, and the
 * signaling hub's rooms (sig_hub_import). The first input byte picks which
 * (bit 0), and for the rooms whether the hub is a cluster's node (bit 1).
 * Whatever the bytes, nothing may crash or leak; every socket that came
 * must end up owned by the result or closed (checked with fcntl); an
 * accepted stream, encoded again, must decode to what encodes to the same
 * bytes; an accepted hub
 * export must import again into a fresh hub. Seeds:
 * tests/fuzz/gen_upgrade_seeds.py.
 */
#include <fcntl.h>

#include "daemon/ihd_handover_codec.c"
#include "signal/sig.h"
#include "tests/fuzz/fuzz_check.h"

#define FZ_FDS 6

static void fz_send(void *ud, void *conn, const char *text, size_t len)
{
    (void)ud, (void)conn, (void)text, (void)len;
}

static void fz_close(void *ud, void *conn, int code, const char *reason)
{
    (void)ud, (void)conn, (void)code, (void)reason;
}

static void handover(const uint8_t *data, size_t size)
{
    int fds[FZ_FDS], was[FZ_FDS];
    for (int i = 0; i < FZ_FDS; i++)
        fds[i] = was[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ihd_handover_t h;
    char err[256];
    if (ihd_handover_decode(data, size, fds, FZ_FDS, &h, err, sizeof(err)) == 0) {
        /* Encoded again (sockets renumbered in the order met), it decodes
         * to what encodes to the same bytes. */
        uint8_t *b1, *b2;
        size_t l1, l2, n1, n2;
        int *f1, *f2;
        ihd_handover_encode(&h, &b1, &l1, &f1, &n1);
        for (size_t i = 0; i < n1; i++)
            f1[i] = dup(f1[i]);
        ihd_handover_t h2;
        CHECK(ihd_handover_decode(b1, l1, f1, n1, &h2, err, sizeof(err)) == 0);
        ihd_handover_encode(&h2, &b2, &l2, &f2, &n2);
        CHECK(l1 == l2 && n1 == n2 && memcmp(b1, b2, l1) == 0);
        cmn_free(b1);
        cmn_free(b2);
        cmn_free(f1);
        cmn_free(f2);
        ihd_handover_free(&h2, true);
        ihd_handover_free(&h, true);
    } else {
        CHECK(strstr(err, "malformed") != NULL);
    }
    for (int i = 0; i < FZ_FDS; i++)
        CHECK(fcntl(was[i], F_GETFD) < 0); /* taken and closed, or closed */
}

static int fz_fed(void *ud, const sig_fed_req_t *r)
{
    (void)ud, (void)r;
    return 0;
}

/* With <cluster>, the hubs are a cluster's node (their rooms may hold
 * other nodes' members, their tokens name the node). */
static void hub(const uint8_t *data, size_t size, bool cluster)
{
    sig_cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.enabled = true;
    cfg.resume_seconds = 30;
    cfg.resume_queue = 8;
    cfg.max_room_peers = 8; /* bounds the imported stats "reported" lists */
    cfg.max_message = 4096;
    cfg.token_secret = "fz";
    cfg.turn_secret = "fz";
    cfg.node = cluster ? "n1" : "";
    sig_ops_t ops = {.ud = NULL, .send = fz_send, .close = fz_close, .fed = fz_fed};
    sig_hub_t *h = sig_hub_new(&cfg, &ops);
    const char *why = NULL;
    if (sig_hub_import(h, (const char *)data, size, 1.7e9, &why) == 0) {
        size_t len;
        char *text = sig_hub_export(h, 1.7e9, &len);
        sig_hub_t *h2 = sig_hub_new(&cfg, &ops);
        CHECK(sig_hub_import(h2, text, len, 1.7e9, &why) == 0);
        sig_hub_tick(h2, 1.8e9); /* every grace period over */
        sig_hub_free(h2);
        cmn_free(text);
    } else {
        CHECK(why != NULL);
    }
    sig_hub_tick(h, 1.8e9);
    sig_hub_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        handover(data + 1, size - 1);
    else
        hub(data + 1, size - 1, data[0] & 2);
    return 0;
}
