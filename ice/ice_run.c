/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_run.c: what every check needs once per process (libsrtp, SIGPIPE
 * off: a server that hangs up on a TLS write must not kill the probe) and
 * the dispatch from a command to its runner.
 */
#include "ice_int.h"

#include <libwebsockets.h>
#include <signal.h>
#include <srtp2/srtp.h>

#include "common/cmn_log.h"

/* lws's own errors, in our log format; its notices (version banners) are
 * not a probe's business. */
static void run_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    cmn_log(level == LLL_ERR ? CMN_LOG_ERROR : CMN_LOG_WARN, "lws", "%.*s", (int)n, line);
}

int ice_global_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, run_lws_log);
    return srtp_init() == srtp_err_status_ok ? 0 : CMN_EIO;
}

int ice_run(const ice_opts_t *o, ice_report_t *r)
{
    switch (o->cmd) {
    case ICE_CMD_STUN:
        return ice_run_stun(o, r);
    case ICE_CMD_TURN:
        return ice_run_turn(o, r);
    case ICE_CMD_CALL:
        return ice_run_call(o, r);
    case ICE_CMD_SERVE:
        break;
    }
    ice_report_init(r, o->cmd, "");
    return CMN_EINVAL;
}
