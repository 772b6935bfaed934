#!/bin/bash
# make bench: fixed loads against icehubd and, in the same run, against
# coturn's turnserver on loopback; writes docs/benchmarks.md.
# CPU is read from each server's own /proc/PID/stat (utime+stime), since
# top, vmstat and pidstat under-report on these VMs.
set -eu
cd "$(dirname "$0")/../.."
B=build/bench
mkdir -p "$B" tests/artifacts
gcc -O2 -Wall -Wextra -o "$B/stun_flood" tests/bench/stun_flood.c
SECS=${BENCH_SECONDS:-5}
HZ=$(getconf CLK_TCK)
OUT=docs/benchmarks.md
TMP=$(mktemp)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_binding NAME PID PORT: flood Binding requests; print a table row.
bench_binding() {
    local name=$1 pid=$2 port=$3
    local c0 c1 line ok
    c0=$(cpu_ticks "$pid")
    line=$("$B/stun_flood" 127.0.0.1 "$port" "$SECS" 8 64)
    c1=$(cpu_ticks "$pid")
    ok=$(echo "$line" | sed -E 's/.*ok=([0-9]+).*/\1/')
    local rate loss us
    rate=$(echo "$line" | sed -E 's/.*rate=([0-9]+).*/\1/')
    loss=$(echo "$line" | sed -E 's/.*loss=([0-9.]+)%.*/\1/')
    us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$ok" 'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
    echo "| $name | $rate | $loss% | $us |" | tee -a "$TMP"
    echo "$name: $line cpu_ticks=$((c1 - c0))" >&2
}

{
    echo "| server | answered Binding requests/s | loss | server CPU µs per request |"
    echo "|---|---|---|---|"
} >"$TMP"

for threads in 1 2; do
    port=$(free_port)
    ./bin/icehubd --turn.listen=127.0.0.1:$port --http.enabled=false --turn.threads=$threads \
        --log.level=warn 2>tests/artifacts/bench-icehubd.log &
    pid=$!
    sleep 0.5
    bench_binding "icehubd $(./bin/icehubd --version | cut -d' ' -f2), $threads thread(s)" $pid $port
    kill $pid; wait $pid || true
done

if command -v turnserver >/dev/null; then
    for threads in 1 2; do
        port=$(free_port)
        turnserver -n --no-cli --no-tls --no-dtls -S -L 127.0.0.1 -p "$port" -m $threads \
            --log-file=stdout --no-stdout-log >tests/artifacts/bench-coturn.log 2>&1 &
        pid=$!
        sleep 1
        bench_binding "coturn $(turnserver --version 2>&1 | head -1), $threads relay thread(s)" $pid $port
        kill $pid; wait $pid || true
    done
fi

{
    echo "# Benchmarks"
    echo
    echo "Written by \`make bench\` (tests/bench/run.sh). Numbers are from one run on the"
    echo "machine below; both servers ran in the same run under the same load. CPU comes"
    echo "from each server process's own /proc/PID/stat (utime+stime)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r)"
    echo "- command: \`make bench\` (BENCH_SECONDS=$SECS)"
    echo
    echo "## STUN Binding on loopback"
    echo
    echo "Load: tests/bench/stun_flood.c, 8 UDP sockets, 64 requests in flight each,"
    echo "sendmmsg/recvmmsg batches of 32, for $SECS s. The load generator shares the"
    echo "machine's $(nproc) cores with the server, so the server's CPU per request is the"
    echo "comparable figure; requests/s is bounded by the generator too."
    echo
    cat "$TMP"
} >"$OUT"
rm -f "$TMP"
echo "wrote $OUT"
