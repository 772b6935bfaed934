#!/bin/bash
# The whole suite for `make test`: unit tests (release), the same unit tests
# under ASan+UBSan, the integration tests against the built daemon, the NAT
# lab (browsers behind NATs in network namespaces), a short fuzz run and a
# short soak. Ends with one line "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/.."
mkdir -p tests/artifacts
export ICEHUB_RESULTS=tests/artifacts/results.txt
: >"$ICEHUB_RESULTS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
start=$(date +%s)

# One binary per tests/<module>/test_<file>.c, as the Makefile builds them
# (a binary whose source went away is not run).
unit_bins() {
    for src in tests/*/test_*.c; do echo "build/$1/${src%.c}"; done
}
echo "== unit tests (release)"
sh tests/run_unit.sh unit $(unit_bins release)
echo "== unit tests (ASan+UBSan)"
sh tests/run_unit.sh asan $(unit_bins asan)
echo "== integration tests"
/usr/bin/python3 tests/integration/run.py
echo "== integration tests against the ASan+UBSan daemon"
ICEHUB_BIN=$PWD/bin/icehubd-asan ICEHUB_LABEL=integration-asan /usr/bin/python3 tests/integration/run.py
echo "== NAT lab"
bash tests/natlab/run.sh
echo "== fuzz (short run)"
bash tests/fuzz/run_short.sh
echo "== soak (short run: make soak runs 10 minutes)"
/usr/bin/python3 tests/soak/soak.py --seconds "${ICEHUB_SOAK_SECONDS:-60}"

pass=0
fail=0
while read -r _ p f; do
    pass=$((pass + p))
    fail=$((fail + f))
done <"$ICEHUB_RESULTS"
echo "== summary ($(( $(date +%s) - start )) s)"
cat "$ICEHUB_RESULTS" | sed 's/^/  /'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
