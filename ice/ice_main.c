/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_main.c: icehub-probe's main: parse the command line, run the check
 * (or serve), print the report, and exit 0 (thresholds met), 1 (not met)
 * or 2 (usage error). See docs/probe.md.
 */
#include "ice.h"

#include <stdio.h>

#include "common/cmn_log.h"

int main(int argc, char **argv)
{
    ice_opts_t o;
    char err[4096];
    int rc = ice_opts_parse(&o, argc, argv, err, sizeof(err));
    if (rc == 1) {
        fputs(err, stdout);
        return ICE_EXIT_PASS;
    }
    if (rc < 0) {
        if (argc < 2)
            fputs(err, stderr);
        else
            fprintf(stderr, "icehub-probe: %s\n(icehub-probe --help lists the options)\n", err);
        return ICE_EXIT_USAGE;
    }
    cmn_log_set_level(CMN_LOG_WARN);
    if (ice_global_init() < 0) {
        fprintf(stderr, "icehub-probe: cannot initialise libsrtp\n");
        ice_opts_dispose(&o);
        return ICE_EXIT_FAIL;
    }
    if (o.cmd == ICE_CMD_SERVE) {
        rc = ice_serve(&o);
        ice_opts_dispose(&o);
        return rc;
    }
    ice_report_t r;
    if (ice_run(&o, &r) < 0) {
        fprintf(stderr, "icehub-probe: %s\n", r.error[0] ? r.error : "cannot run this check");
        ice_opts_dispose(&o);
        return ICE_EXIT_USAGE;
    }
    ice_report_judge(&r, &o.lim);
    char *out = o.json ? ice_report_json(&r) : ice_report_text(&r);
    fputs(out, stdout);
    fflush(stdout);
    cmn_free(out);
    rc = ice_report_exit(&r);
    ice_opts_dispose(&o);
    return rc;
}
