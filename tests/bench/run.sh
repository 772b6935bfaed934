#!/bin/bash
# make bench: fixed loads against icehubd and, in the same run, against
# coturn's turnserver on loopback (and, for TURN relaying, against a raw
# recvmmsg/sendmmsg forwarder, the kernel's floor); writes
# docs/benchmarks.md. The sections are in tests/bench/*.sh, sourced here in
# order; report.py puts their parts of the report together.
#
# CPU is read from each server's own /proc/PID/stat (utime+stime), since
# top, vmstat and pidstat under-report on these VMs. Servers are pinned to
# CPU 0 and load generators to CPU 1 (taskset), so a server has one core.
#
# Environment:
#   COTURN          the coturn turnserver binary to compare with (default:
#                   Debian's turnserver); its version names its rows. A
#                   4.17 build adds the --multiplex-peer --udp-gso rows.
#   BENCH_ONLY      space-separated subset of: binding uclient flood quota
#                   storm stream signal cluster (default all). Sections not run
#                   keep their text from the existing docs/benchmarks.md.
#   BENCH_SECONDS   length of each measured interval (default 5; turn_flood
#                   and turn_stream runs last 0.6 times as long, repeated)
#   BENCH_REPEAT    runs of each load (default 3)
#   BENCH_UCLIENT_Z turnutils_uclient -z, ms between a session's messages (default 4)
#   BENCH_UCLIENT_LOADS  SIZE:channel|send list (default all four)
#   BENCH_RATE      turn_flood fixed-rate load, messages/s (default 25000)
#   BENCH_QUOTA_BASE  an icehubd binary built without the live relay counters
#                   (main before issue 4), added to the quota comparison
#   BENCH_STORM_ALLOCS, _STAGE, _WINDOW, _REPEAT  the allocation storm
#                   (default 15000, RSS also at 5000, 500 at once, 2 runs)
#   BENCH_STREAM_CLIENTS, _RATE, _HANDSHAKES  TURN over TCP/TLS (default 50
#                   connections, 12500 messages/s echoed, 2000 handshakes)
#   BENCH_SIG_PAIRS, _IDLE, _IDLE_STAGE, _PROCS, _STORM, _TARGET  the
#                   signaling hub (default 50 pairs, 19000 idle peers from
#                   4 processes, RSS also at 5000, storms of 10000, p99
#                   checked at 50000 messages/s)
#   BENCH_CLUSTER_RATE, _PAIRS, _JOINS  the hub across two nodes through a
#                   redis-server of its own (default 10000 messages/s, 1
#                   pair, 2000 peers joining at once)
#   BENCH_QUIET     wait up to this many seconds for other processes to go
#                   idle before each measurement (default 30), and
#   BENCH_QUIET_TOTAL  at most this many in all (default 120)
#   BENCH_RETRIES   turn_flood runs that may be repeated because other
#                   processes disturbed them (default 8)
set -eu
cd "$(dirname "$0")/../.."
B=build/bench
A=tests/artifacts
RPT=$B/report
mkdir -p "$B" "$A"
rm -rf "$RPT"
mkdir -p "$RPT"
COTURN=$(command -v "${COTURN:-turnserver}" || true)
if [[ -z $COTURN ]]; then
    echo "bench: no coturn turnserver (COTURN=${COTURN:-turnserver}); make deps installs Debian's" >&2
    exit 1
fi
CFLAGS="-O2 -g -Wall -Wextra"
gcc $CFLAGS -o "$B/stun_flood" tests/bench/stun_flood.c
gcc $CFLAGS -o "$B/turn_flood" tests/bench/turn_flood.c -lcrypto
gcc $CFLAGS -o "$B/raw_fwd" tests/bench/raw_fwd.c -luring
gcc $CFLAGS -o "$B/sig_load" tests/bench/sig_load.c -lcrypto
gcc $CFLAGS -o "$B/alloc_storm" tests/bench/alloc_storm.c -lcrypto
gcc $CFLAGS -o "$B/turn_stream" tests/bench/turn_stream.c -lssl -lcrypto
SECS=${BENCH_SECONDS:-5}
# Short runs, repeated more, interleave the servers often: this VM's speed
# drifts by several percent over minutes.
FSECS=$(awk -v s="$SECS" 'BEGIN { f = s * 0.6; printf "%g", f < 1 ? 1 : f }')
REPEAT=${BENCH_REPEAT:-3}
UZ=${BENCH_UCLIENT_Z:-4}
UC_LOADS=${BENCH_UCLIENT_LOADS:-100:channel 100:send 1000:channel 1000:send}
RATE=${BENCH_RATE:-25000}
ONLY=${BENCH_ONLY:-binding uclient flood quota storm stream signal cluster}
QUIET=${BENCH_QUIET:-30}
QUIET_TOTAL=${BENCH_QUIET_TOTAL:-120}
HZ=$(getconf CLK_TCK)
OUT=docs/benchmarks.md
LOG=$A/bench.log
T_BIND=$(mktemp) T_UC=$(mktemp) T_FL=$(mktemp) T_FIX=$(mktemp) T_SUM=$(mktemp) T_QW=$(mktemp)
T_CRASH=$RPT/crashes T_SPREAD=$(mktemp) T_RETRY=$(mktemp) T_QUOTA=$(mktemp)
echo 0 >"$T_QW"
echo "${BENCH_RETRIES:-8}" >"$T_RETRY"
: >"$T_CRASH"
: >"$LOG"
: >"$A/bench-icehubd.log"
: >"$A/bench-coturn.log"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f "$T_BIND" "$T_UC" "$T_FL" "$T_FIX" "$T_SUM" "$T_QW" "$T_SPREAD" "$T_RETRY" "$T_QUOTA"
}
trap cleanup EXIT

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
log "bench: $ONLY; coturn: $COTURN ($(coturn_version)); load average $(loadavg)"
for part in turn quota storm stream signal cluster; do
    # shellcheck disable=SC1090
    . "tests/bench/$part.sh"
done

{
    echo "# Benchmarks"
    echo
    echo "Written by \`make bench\` (tests/bench/run.sh and the section scripts beside it)."
    echo "All servers of a section ran in the same run under the same loads. CPU comes"
    echo "from each server process's own /proc/PID/stat (utime+stime, all threads); top,"
    echo "vmstat and pidstat under-report on these VMs. Every measurement's raw output"
    echo "is in tests/artifacts/bench.log. Each section ends with the machine's state"
    echo "during it: this is a 2-core VM, and when other processes run beside a"
    echo "section its figures move (the † marks and \"other processes\" columns say"
    echo "where); re-run \`make bench\` on a quiet machine for figures to compare."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r)"
    echo "- command: \`make bench COTURN=$COTURN\` (BENCH_ONLY=\"$ONLY\" BENCH_SECONDS=$SECS BENCH_REPEAT=$REPEAT BENCH_UCLIENT_Z=$UZ BENCH_RATE=$RATE)"
    echo "- servers: icehubd $(icehubd_version) (bin/icehubd, built from the working tree); $(coturn_name) ($COTURN)"
} >"$RPT/header"
python3 tests/bench/report.py "$OUT" "$RPT" "$RPT/header"
