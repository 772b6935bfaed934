#!/bin/bash
# icehub - SPDX-License-Identifier: MIT
#
# The NAT lab (tests/natlab/natlab.py; docs/connectivity.md). Its network namespaces
# carry this run's id (the shell's pid and a random number), so two runs at once never
# share one, and the trap removes them whatever happens: success, failure, ^C, SIGTERM,
# even a killed natlab.py. Needs root. Arguments go to natlab.py (--full, --only ...).
set -u
cd "$(dirname "$0")/../.."
RUN="natlab-$$-$RANDOM"
teardown() {
    /usr/bin/python3 tests/natlab/lab.py down "$RUN"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
/usr/bin/python3 tests/natlab/natlab.py --run "$RUN" "$@"
