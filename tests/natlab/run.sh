#!/bin/bash
# icehub - SPDX-License-Identifier: MIT
#
# The NAT lab (tests/natlab/natlab.py; docs/connectivity.md). Its network namespaces
# carry this run's id (the shell's pid and a random number), so two runs at once never
# share one, and the EXIT trap removes them whatever happens: success, failure, ^C,
# SIGTERM or SIGHUP to this shell (natlab.py is stopped first and cleans up itself),
# even a natlab.py killed with SIGKILL. Needs root. Arguments go to natlab.py (--full,
# --only PAIR,..., --no-docs).
set -u
cd "$(dirname "$0")/../.."
RUN="natlab-$$-$RANDOM"
child=""
teardown() {
    /usr/bin/python3 tests/natlab/lab.py down "$RUN"
}
# A signal stops natlab.py (which removes what it built) before the shell exits. It
# gets SIGTERM whatever came here: a background job of a script ignores SIGINT.
stop() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null
        wait "$child"
    fi
    exit "$1"
}
trap teardown EXIT
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop 129' HUP
# In the background and waited for, so that the traps run at once, not after it.
/usr/bin/python3 tests/natlab/natlab.py --run "$RUN" "$@" &
child=$!
wait "$child"
rc=$?
child=""
exit "$rc"
