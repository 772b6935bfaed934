#!/bin/bash
# make bench: fixed loads against icehubd and, in the same run, against
# coturn's turnserver on loopback (and, for TURN relaying, against a raw
# recvmmsg/sendmmsg forwarder, the kernel's floor); writes docs/benchmarks.md.
#
# CPU is read from each server's own /proc/PID/stat (utime+stime), since
# top, vmstat and pidstat under-report on these VMs. Servers are pinned to
# CPU 0 and load generators to CPU 1 (taskset), so a server has one core.
#
# Environment:
#   BENCH_SECONDS   length of each measured interval (default 5; turn_flood
#                   runs last 0.6 times as long and are repeated)
#   BENCH_REPEAT    runs of each turn_flood load (default 3)
#   BENCH_UCLIENT_Z turnutils_uclient -z, ms between a session's messages (default 4)
#   BENCH_UCLIENT_LOADS  SIZE:channel|send list (default all four)
#   BENCH_RATE      turn_flood fixed-rate load, messages/s (default 25000)
#   BENCH_ONLY      space-separated subset of: binding uclient flood quota signal
#                   (default all). BENCH_ONLY=quota or BENCH_ONLY=signal alone
#                   rewrites only that section of docs/benchmarks.md and keeps
#                   the rest.
#   BENCH_QUOTA_BASE  an icehubd binary built without the live relay counters
#                   (main before issue 4), added as a third server to the
#                   quota comparison when set
#   BENCH_SIG_CONNS idle WebSocket peers for the signaling memory test (default 10000)
#   BENCH_SIG_RATE  signaling relay rate, messages/s (default 10000)
#   BENCH_QUIET     wait up to this many seconds for other processes to go
#                   idle before each measurement (default 30), and
#   BENCH_QUIET_TOTAL  at most this many in all (default 120)
#   BENCH_RETRIES   turn_flood runs that may be repeated because other
#                   processes disturbed them (default 8)
set -eu
cd "$(dirname "$0")/../.."
B=build/bench
A=tests/artifacts
mkdir -p "$B" "$A"
CFLAGS="-O2 -g -Wall -Wextra"
gcc $CFLAGS -o "$B/stun_flood" tests/bench/stun_flood.c
gcc $CFLAGS -o "$B/turn_flood" tests/bench/turn_flood.c -lcrypto
gcc $CFLAGS -o "$B/raw_fwd" tests/bench/raw_fwd.c
gcc $CFLAGS -o "$B/sig_load" tests/bench/sig_load.c
SECS=${BENCH_SECONDS:-5}
# turn_flood runs are shorter and repeated more, interleaving the servers
# often: this VM's speed drifts by several percent over minutes.
FSECS=$(awk -v s="$SECS" 'BEGIN { f = s * 0.6; printf "%g", f < 1 ? 1 : f }')
REPEAT=${BENCH_REPEAT:-3}
UZ=${BENCH_UCLIENT_Z:-4}
UC_LOADS=${BENCH_UCLIENT_LOADS:-100:channel 100:send 1000:channel 1000:send}
RATE=${BENCH_RATE:-25000}
ONLY=${BENCH_ONLY:-binding uclient flood quota signal}
SIG_CONNS=${BENCH_SIG_CONNS:-10000}
SIG_RATE=${BENCH_SIG_RATE:-10000}
QUIET=${BENCH_QUIET:-30}
QUIET_TOTAL=${BENCH_QUIET_TOTAL:-120}
HZ=$(getconf CLK_TCK)
OUT=docs/benchmarks.md
LOG=$A/bench.log
T_BIND=$(mktemp) T_UC=$(mktemp) T_FL=$(mktemp) T_FIX=$(mktemp) T_SUM=$(mktemp) T_QW=$(mktemp)
T_CRASH=$(mktemp) T_SPREAD=$(mktemp) T_RETRY=$(mktemp) T_QUOTA=$(mktemp) T_SIG=$(mktemp)
echo 0 >"$T_QW"
echo "${BENCH_RETRIES:-8}" >"$T_RETRY"
: >"$LOG"
: >"$A/bench-icehubd.log"
: >"$A/bench-coturn.log"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f "$T_BIND" "$T_UC" "$T_FL" "$T_FIX" "$T_SUM" "$T_QW" "$T_CRASH" "$T_SPREAD" "$T_RETRY" \
        "$T_QUOTA" "$T_SIG"
}
trap cleanup EXIT
wants() { [[ " $ONLY " == *" $1 "* ]]; }
log() { echo "$*" | tee -a "$LOG" >&2; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy ticks of the whole machine (user nice system irq softirq).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# A port free for both UDP and TCP on 127.0.0.1 (icehubd listens on both;
# a client connection in TIME-WAIT on the port makes its TCP listen fail),
# and with P1=1 the next port free too (raw_fwd and turnutils_uclient's
# RTCP sessions use P+1).
free_port() {
    P1=${1:-0} /usr/bin/python3 -c '
import os, socket
def free(p):
    try:
        for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, t); s.bind(("127.0.0.1", p)); s.close()
        return True
    except OSError:
        return False
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]; s.close()
    if free(p) and (os.environ["P1"] == "0" or free(p + 1)):
        print(p); break'
}
free_port_pair() { free_port 1; }

# Other tenants of this VM run test suites now and then. Before each
# measurement, wait until the machine has been idle (under 5% busy) for
# 0.5 s, at most BENCH_QUIET s per measurement and BENCH_QUIET_TOTAL s in
# all, so they don't share the cores. Runs they disturbed anyway are
# marked in the report (see busy_other).
wait_quiet() {
    local t=0 a b busy=0 waited
    waited=$(cat "$T_QW")
    while ((t < QUIET * 2 && waited < QUIET_TOTAL * 2)); do
        a=($(head -1 /proc/stat)); sleep 0.5; b=($(head -1 /proc/stat))
        busy=$(awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN { split(a, x); split(b, y);
            for (i = 2; i <= 9; i++) tot += y[i] - x[i];
            idle = y[5] - x[5] + y[6] - x[6]; print int(100 * (tot - idle) / (tot ? tot : 1)) }')
        ((busy < 5)) && break
        t=$((t + 1)); waited=$((waited + 1))
    done
    echo "$waited" >"$T_QW"
    ((busy < 5)) || log "warning: machine busy ($busy%) after $((t / 2)) s of waiting; measuring anyway"
}

icehubd_version() { ./bin/icehubd --version | cut -d' ' -f2; }
coturn_version() { turnserver --version 2>&1 | head -1; }

# start_icehubd PORT HTTP_PORT [FLAGS...]: one worker thread, pinned to CPU 0
# (the binary: $IHD_BIN, default bin/icehubd). Sets SRV.
start_icehubd() {
    local port=$1 hport=$2
    shift 2
    taskset -c 0 "${IHD_BIN:-./bin/icehubd}" --turn.listen=127.0.0.1:$port \
        --http.listen=127.0.0.1:$hport \
        --turn.users=alice:wonderland --turn.realm=bench --turn.allowed_peers=127.0.0.0/8 \
        --turn.threads=1 --log.level=warn --turn.max_allocations_per_ip=100000 \
        --turn.max_allocations_per_user=100000 --turn.unauth_rate=100000 \
        --turn.answer_rate=1000000 "$@" \
        >>"$A/bench-icehubd.log" 2>&1 &
    SRV=$!
    PIDS+=($SRV)
    sleep 0.5
    alive $SRV icehubd "$A/bench-icehubd.log"
}

# alive PID NAME LOG: stop the benchmark if a server did not start.
alive() {
    kill -0 "$1" 2>/dev/null && return 0
    log "error: $2 did not start; the end of $3:"
    tail -5 "$3" >&2
    exit 1
}

# start_coturn PORT: one relay thread (-m 1), pinned to CPU 0. Sets SRV.
start_coturn() {
    taskset -c 0 turnserver -n --no-cli --no-tls --no-dtls -L 127.0.0.1 -p "$1" -m 1 \
        --allow-loopback-peers --user alice:wonderland -r bench --lt-cred-mech \
        --log-file=stdout --no-stdout-log >>"$A/bench-coturn.log" 2>&1 &
    SRV=$!
    PIDS+=($SRV)
    sleep 1
    alive $SRV coturn "$A/bench-coturn.log"
}

# stop_server PID [NAME]: SIGTERM and wait; a crash is logged.
stop_server() {
    local rc=0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || rc=$?
    # 143 is the SIGTERM we sent; anything else above 128 is a signal of
    # the server's own making (SIGSEGV: 139, SIGABRT: 134).
    if ((rc > 128 && rc != 143)); then
        log "error: ${2:-server} (pid $1) had died of signal $((rc - 128)) when it was stopped"
        echo "${2:-server} pid $1 signal $((rc - 128))" >>"$T_CRASH"
    fi
}

# icehubd's own count of relayed datagrams: everything received from
# clients (ChannelData, Send indications and a few requests) plus what
# came from peers on relay sockets.
icehubd_relayed() {
    curl -s "127.0.0.1:$1/metrics" | awk '/^icehub_rx_packets_total\{transport="udp"\}/ {r = $2}
        /^icehub_turn_peer_packets_total/ {p = $2} END {printf "%d\n", r + p}'
}

# mark BUSY_OTHER: a dagger when other processes used over 15% of a core.
mark() { [[ $1 != - && ${1:-0} -gt 15 ]] && echo " †" || true; }
kv() { echo "$2" | sed -E "s/.*[ ^]$1=([^ %]+).*/\1/"; }
fmt_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

# ---- STUN Binding -----------------------------------------------------------

# bench_binding NAME PID PORT: flood Binding requests; print a table row.
bench_binding() {
    local name=$1 pid=$2 port=$3
    local c0 c1 line ok
    wait_quiet
    c0=$(cpu_ticks "$pid")
    line=$("$B/stun_flood" 127.0.0.1 "$port" "$SECS" 8 64)
    c1=$(cpu_ticks "$pid")
    ok=$(echo "$line" | sed -E 's/.*ok=([0-9]+).*/\1/')
    local rate loss us
    rate=$(echo "$line" | sed -E 's/.*rate=([0-9]+).*/\1/')
    loss=$(echo "$line" | sed -E 's/.*loss=([0-9.]+)%.*/\1/')
    us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$ok" 'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
    echo "| $name | $rate | $loss% | $us |" >>"$T_BIND"
    log "binding $name: $line cpu_ticks=$((c1 - c0))"
}

if wants binding; then
    for threads in 1 2; do
        port=$(free_port)
        ./bin/icehubd --turn.listen=127.0.0.1:$port --http.enabled=false --turn.threads=$threads \
            --turn.answer_rate=1000000 --log.level=warn 2>>"$A/bench-icehubd.log" &
        pid=$!
        sleep 0.5
        bench_binding "icehubd $(icehubd_version), $threads thread(s)" $pid $port
        stop_server $pid icehubd
    done
    for threads in 1 2; do
        port=$(free_port)
        turnserver -n --no-cli --no-tls --no-dtls -S -L 127.0.0.1 -p "$port" -m $threads \
            --log-file=stdout --no-stdout-log >>"$A/bench-coturn.log" 2>&1 &
        pid=$!
        sleep 1
        bench_binding "coturn $(coturn_version), $threads relay thread(s)" $pid $port
        stop_server $pid coturn
    done
fi

# ---- TURN (a): turnutils_uclient at a fixed rate ----------------------------

# The uclient run for one server and load. uclient prints its cumulative
# tot_send_msgs / tot_recv_msgs once a second; the server's CPU ticks are
# read at each of those lines. Sessions start 1-6 s after connecting, so
# the window starts at the 8th line (index 7) and spans SECS one-second intervals;
# then uclient is stopped. Prints "relayed_per_s loss% us_min us us_max".
UC_WARMUP=7
uclient_run() {
    local server=$1 size=$2 mode=$3 port hport eport srv_pid
    port=$(free_port); hport=$(free_port); eport=$(free_port_pair)
    taskset -c 1 "$B/turn_flood" --echo-only --peer-port "$eport" >/dev/null &
    local echo_pid=$! uc_pid="" SRV=""
    # This runs in a subshell: whatever happens, leave no process behind.
    trap 'kill $echo_pid $SRV $uc_pid 2>/dev/null || true' EXIT
    if [[ $server == icehubd ]]; then start_icehubd "$port" "$hport"; else start_coturn "$port"; fi
    srv_pid=$SRV
    wait_quiet
    local n=$(((UC_WARMUP + SECS + 10) * 1000 / UZ)) flag=""
    [[ $mode == send ]] && flag=-s
    local -a ts snd rcv cpu
    local line i=0 m0=0 m1=0 b0 b1 g0 g1
    coproc UC { exec taskset -c 1 turnutils_uclient -u alice -w wonderland -e 127.0.0.1 \
        -r "$eport" -p "$port" -m 100 -z "$UZ" -n "$n" -l "$size" $flag 127.0.0.1 2>&1; }
    uc_pid=$UC_PID
    while IFS= read -r -u "${UC[0]}" line; do
        [[ $line == *"start_mclient: msz="* ]] || continue
        ts[i]=$EPOCHREALTIME
        cpu[i]=$(cpu_ticks "$srv_pid")
        snd[i]=$(echo "$line" | sed -E 's/.*tot_send_msgs=([0-9]+).*/\1/')
        rcv[i]=$(echo "$line" | sed -E 's/.*tot_recv_msgs=([0-9]+).*/\1/')
        if ((i == UC_WARMUP)); then
            b0=$(busy_ticks)
            g0=$(($(cpu_ticks "$uc_pid") + $(cpu_ticks "$echo_pid")))
            [[ $server == icehubd ]] && m0=$(icehubd_relayed "$hport")
        fi
        if ((i == UC_WARMUP + SECS)); then
            b1=$(busy_ticks)
            g1=$(($(cpu_ticks "$uc_pid") + $(cpu_ticks "$echo_pid")))
            [[ $server == icehubd ]] && m1=$(icehubd_relayed "$hport")
            break
        fi
        i=$((i + 1))
    done
    kill "$uc_pid" 2>/dev/null || true
    wait "$uc_pid" 2>/dev/null || true
    stop_server "$srv_pid" "$server"
    kill "$echo_pid"; wait "$echo_pid" 2>/dev/null || true
    if ((i < UC_WARMUP + SECS)); then
        log "uclient $server $size $mode: uclient ended early (after $i lines)"
        echo "- - - - - - - -"
        return
    fi
    local w=$UC_WARMUP e=$((UC_WARMUP + SECS)) per="" k
    for ((k = w; k < e; k++)); do
        per+="$(((rcv[k + 1] - rcv[k]) * 2)):$((cpu[k + 1] - cpu[k])) "
    done
    # Relayed = 2 x messages that came back (each crossed the server twice).
    local relayed=$(((rcv[e] - rcv[w]) * 2)) sent=$((snd[e] - snd[w])) ticks=$((cpu[e] - cpu[w]))
    local el
    el=$(awk -v a="${ts[w]}" -v b="${ts[e]}" 'BEGIN { print b - a }')
    local bg
    # Other processes' CPU in the interval, in % of one core.
    bg=$(awk -v b=$((b1 - b0)) -v s=$((ticks + g1 - g0)) -v el="$el" -v hz="$HZ" \
        'BEGIN { o = (b - s) / hz / el; if (o < 0) o = 0; printf "%.0f", 100 * o }')
    log "uclient $server size=$size $mode z=$UZ: sent=$sent relayed=$relayed ticks=$ticks" \
        "seconds=$el server_metrics_relayed=$((m1 - m0)) load_ticks=$((g1 - g0))" \
        "busy_other=$bg% per_second(relayed:ticks)=$per"
    awk -v r="$relayed" -v s="$sent" -v t="$ticks" -v el="$el" -v hz="$HZ" -v per="$per" \
        -v bg="$bg" 'BEGIN {
        us = r ? t / hz * 1e6 / r : 0; lo = 1e9; hi = 0
        n = split(per, p, " ")
        for (i = 1; i <= n; i++) {
            split(p[i], q, ":")
            if (q[1] > 0) { v = q[2] / hz * 1e6 / q[1]; if (v < lo) lo = v; if (v > hi) hi = v }
        }
        # In-flight messages can make the loss of an interval slightly negative.
        loss = s ? 100 * (1 - r / (2 * s)) : 0
        if (loss < 0) loss = 0
        printf "%.0f %.2f %.2f %.2f %.2f %.0f %d %.0f\n", r / el, loss, lo, us, hi,
            100 * t / hz / el, bg, s / el }'
}

if wants uclient && command -v turnutils_uclient >/dev/null; then
    for load in $UC_LOADS; do
        size=${load%:*} mode=${load#*:}
        {
            r_ih=$(uclient_run icehubd $size $mode)
            r_co=$(uclient_run coturn $size $mode)
            read -r ih_rate ih_loss ih_lo ih_us ih_hi ih_busy ih_bg ih_sent <<<"$r_ih"
            read -r co_rate co_loss co_lo co_us co_hi co_busy co_bg co_sent <<<"$r_co"
            label="$size B, $([[ $mode == channel ]] && echo ChannelData || echo 'Send/Data ind.')"
            echo "| $label | icehubd$(mark "$ih_bg") | $ih_sent | $ih_rate | $ih_loss% | $ih_busy% | $ih_us ($ih_lo-$ih_hi) | $(fmt_ratio "$ih_us" "$co_us") |" >>"$T_UC"
            echo "| $label | coturn$(mark "$co_bg") | $co_sent | $co_rate | $co_loss% | $co_busy% | $co_us ($co_lo-$co_hi) | 1 |" >>"$T_UC"
            echo "uc $size $mode $ih_us $co_us $ih_rate $co_rate" >>"$T_SUM"
        }
    done
fi

# ---- TURN (b) and (c): turn_flood, saturation and fixed rate ----------------

# flood_run NAME PID PORT ARGS...: one turn_flood run pinned to CPU 1;
# prints "rate us loss gen_cpu busy_other server_busy%". A run that other
# processes disturbed (over 15% of a core) is run again once, while the
# budget of BENCH_RETRIES (default 8) lasts; the calmer run is kept.
flood_run() {
    local name=$1 pid=$2 port=$3 try out best="" best_bg=1000 left
    shift 3
    for try in 1 2; do
        out=$(flood_once "$name" "$pid" "$port" "$@")
        read -r _ _ _ _ bg _ <<<"$out"
        if ((bg < best_bg)); then best=$out best_bg=$bg; fi
        ((bg <= 15)) && break
        left=$(cat "$T_RETRY")
        ((left > 0)) || break
        echo $((left - 1)) >"$T_RETRY"
        log "flood $name: disturbed (busy_other $bg%), running it again"
    done
    echo "$best"
}

flood_once() {
    local name=$1 pid=$2 port=$3
    shift 3
    wait_quiet
    local b0 b1 line
    b0=$(busy_ticks)
    line=$(taskset -c 1 "$B/turn_flood" --server "127.0.0.1:$port" --cpu-pid "$pid" \
        --seconds "$FSECS" "$@")
    b1=$(busy_ticks)
    local rate us loss gen scpu el bg
    rate=$(kv rate "$line"); us=$(kv server_us "$line"); loss=$(kv loss "$line")
    gen=$(kv gen_cpu "$line"); scpu=$(kv server_cpu "$line"); el=$(kv seconds "$line")
    # Other processes' CPU during the run, in % of one core (the two
    # measured processes subtracted; the setup before the clock is in it).
    bg=$(awk -v b=$((b1 - b0)) -v s="$scpu" -v g="$gen" -v el="$el" -v hz="$HZ" \
        'BEGIN { o = b / hz - s - g / 100 * el; if (o < 0) o = 0; printf "%.0f", 100 * o / (el + 1) }')
    log "flood $name $*: $line busy_other~$bg%"
    echo "$rate $us $loss $gen $bg $(awk -v s="$scpu" -v el="$el" 'BEGIN { printf "%.0f", 100 * s / el }')"
}

# kind_args KIND: turn_flood options for a framing kind. "burst" is
# ChannelData sent in runs of 32 per client (see the report).
kind_args() {
    case $1 in
    send) echo --send ;;
    burst) echo --burst 32 ;;
    esac
}
kind_label() {
    case $1 in
    channel) echo ChannelData ;;
    send) echo "Send/Data ind." ;;
    burst) echo "ChannelData, runs of 32" ;;
    esac
}

# run_all LABEL KIND ARGS...: every server REPEAT times, interleaved (the
# raw forwarder only for ChannelData kinds). Results go to RES.
declare -A RES
run_all() {
    local label=$1 kind=$2 rep
    shift 2
    for ((rep = 1; rep <= REPEAT; rep++)); do
        if [[ $kind != send ]]; then
            RES[$label,raw,$rep]=$(flood_run raw $RAW "$rport" --raw --peer-port "$rpeer" \
                $(kind_args $kind) "$@")
        fi
        if [[ $label == sat-c2p-channel ]]; then
            RES[$label,raw1,$rep]=$(flood_run raw1 $RAW1 "$r1port" --raw --peer-port "$r1peer" \
                $(kind_args $kind) "$@")
        fi
        RES[$label,icehubd,$rep]=$(flood_run icehubd $IH "$iport" $(kind_args $kind) "$@")
        RES[$label,coturn,$rep]=$(flood_run coturn $CO "$cport" $(kind_args $kind) "$@")
    done
}

# summarize LABEL SERVER ->
#   "rate_mean us_mean rate_cells us_cells loss_max busy_min busy_other_max spread%"
# (spread: highest minus lowest CPU per packet of the runs, over the mean)
summarize() {
    local label=$1 srv=$2 rep rates="" uss="" losses="" busy="" bgs=""
    for ((rep = 1; rep <= REPEAT; rep++)); do
        read -r r u l g bg ub <<<"${RES[$label,$srv,$rep]}"
        rates+="$r "; uss+="$u "; losses+="$l "; busy+="$ub "; bgs+="$bg "
    done
    awk -v r="$rates" -v u="$uss" -v l="$losses" -v b="$busy" -v o="$bgs" 'BEGIN {
        n = split(r, R, " "); split(u, U, " "); split(l, L, " "); split(b, Bz, " ")
        split(o, O, " ")
        mb = 1000
        for (i = 1; i <= n; i++) { sr += R[i]; su += U[i]; if (L[i] > ml) ml = L[i]
            if (Bz[i] < mb) mb = Bz[i]; if (O[i] > mo) mo = O[i]
            cr = cr (i > 1 ? "," : "") sprintf("%.0f", R[i] / 1000) "k"
            cu = cu (i > 1 ? "," : "") sprintf("%.2f", U[i]) }
        lo = hi = U[1]
        for (i = 2; i <= n; i++) { if (U[i] < lo) lo = U[i]; if (U[i] > hi) hi = U[i] }
        printf "%.0f %.3f %s %s %.2f %d %d %.1f\n", sr / n, su / n, cr, cu, ml, mb, mo,
            su ? 100 * (hi - lo) / (su / n) : 0 }'
}
# spread LABEL SERVER DESCRIPTION: note the run-to-run spread of CPU per packet.
spread() {
    printf '%s\t%s\n' "$(summarize "$1" "$2" | awk '{print $8}')" "$3" >>"$T_SPREAD"
}
spaced() { echo "$1" | sed 's/,/, /g'; }

if wants flood; then
    rport=$(free_port_pair); rpeer=$(free_port)
    taskset -c 0 "$B/raw_fwd" "$rport" "$rpeer" &
    RAW=$!
    PIDS+=($RAW)
    r1port=$(free_port_pair); r1peer=$(free_port)
    taskset -c 0 "$B/raw_fwd" "$r1port" "$r1peer" one &
    RAW1=$!
    PIDS+=($RAW1)
    iport=$(free_port); ihport=$(free_port)
    start_icehubd "$iport" "$ihport"
    IH=$SRV
    cport=$(free_port)
    start_coturn "$cport"
    CO=$SRV

    for dir in c2p p2c; do
        for kind in channel send burst; do
            run_all "sat-$dir-$kind" $kind --dir $dir --allocs 16 --size 100
        done
    done
    for kind in channel send; do
        run_all "fix-$kind" $kind --dir echo --allocs 16 --size 100 --rate "$RATE" --window 4096
    done
    stop_server $IH icehubd; stop_server $CO coturn; stop_server $RAW raw_fwd; stop_server $RAW1 raw_fwd

    for dir in c2p p2c; do
        dlabel=$([[ $dir == c2p ]] && echo "client → peer" || echo "peer → client")
        for kind in channel send burst; do
            read -r co_r co_u rest <<<"$(summarize "sat-$dir-$kind" coturn)"
            raw_r=0 raw_u=0
            [[ $kind != send ]] && read -r raw_r raw_u rest <<<"$(summarize "sat-$dir-$kind" raw)"
            for srv in raw raw1 icehubd coturn; do
                [[ $srv == raw && $kind == send ]] && continue
                [[ $srv == raw1 && "$dir-$kind" != c2p-channel ]] && continue
                read -r r u rc uc l ub ob sp <<<"$(summarize "sat-$dir-$kind" $srv)"
                name=$srv
                [[ $srv == raw ]] && name="raw forwarder"
                [[ $srv == raw1 ]] && name="raw forwarder, one send per datagram"
                name+=$(mark "$ob")
                spread "sat-$dir-$kind" $srv "(b) $dlabel, $(kind_label $kind), $name"
                vs_raw=-
                [[ $kind != send ]] && vs_raw=$(fmt_ratio "$u" "$raw_u")
                echo "| $dlabel | $(kind_label $kind) | $name | $r ($(spaced "$rc")) | $(printf %.2f "$u") ($(spaced "$uc")) | $ub% | $(fmt_ratio "$r" "$co_r") | $vs_raw |" >>"$T_FL"
            done
            read -r ih_r ih_u rest <<<"$(summarize "sat-$dir-$kind" icehubd)"
            raw1_u=0
            [[ "$dir-$kind" == c2p-channel ]] && read -r x raw1_u rest <<<"$(summarize "sat-$dir-$kind" raw1)"
            echo "sat $dir $kind $ih_r $co_r $ih_u $co_u $raw_u $raw1_u" >>"$T_SUM"
        done
    done
    # (the raw forwarder's figure for ChannelData is the floor for both kinds)
    read -r raw_r fix_raw_u rest <<<"$(summarize "fix-channel" raw)"
    for kind in channel send; do
        read -r co_r co_u rest <<<"$(summarize "fix-$kind" coturn)"
        raw_u=$fix_raw_u
        for srv in raw icehubd coturn; do
            [[ $srv == raw && $kind != channel ]] && continue
            read -r r u rc uc l ub ob sp <<<"$(summarize "fix-$kind" $srv)"
            name=$srv
            [[ $srv == raw ]] && name="raw forwarder"
            name+=$(mark "$ob")
            spread "fix-$kind" $srv "(c) $(kind_label $kind), $name"
            vs_raw=$(fmt_ratio "$u" "$raw_u")
            echo "| $(kind_label $kind) | $name | $r | $l% | $(printf %.2f "$u") ($(spaced "$uc")) | $ub% | $(fmt_ratio "$u" "$co_u") | $vs_raw |" >>"$T_FIX"
        done
        read -r ih_r ih_u rest <<<"$(summarize "fix-$kind" icehubd)"
        echo "fix $kind $ih_u $co_u $raw_u" >>"$T_SUM"
    done
fi

# ---- Quotas and live metrics: on vs off ------------------------------------------

# The same icehubd binary twice: "off" with no quota settings (no bucket
# ever limits, but the live counters run: they cannot be turned off), "on"
# with per-allocation and server-wide rates far above the load (every
# datagram goes through both buckets and is never dropped), and, with
# BENCH_QUOTA_BASE, a build from before the live counters and quotas.
QUOTA_ON="--quota.allocation_bps=100G --quota.total_bps=1T"
QMICRO=""
if wants quota; then
    # The state machine alone (no sockets): ns of CPU per datagram.
    make -s build/release/libicehub.a
    # shellcheck disable=SC2046
    gcc $CFLAGS -std=gnu11 -D_GNU_SOURCE -I. -o "$B/quota_micro" tests/bench/quota_micro.c \
        build/release/libicehub.a $(pkg-config --libs openssl libconfig) -lm -pthread
    wait_quiet
    QMICRO=$(taskset -c 0 "$B/quota_micro" 5 9 | tee -a "$LOG" | tail -1)
    log "$QMICRO"
    qo_port=$(free_port); qo_h=$(free_port)
    start_icehubd "$qo_port" "$qo_h"
    Q_OFF=$SRV
    qn_port=$(free_port); qn_h=$(free_port)
    # shellcheck disable=SC2086
    start_icehubd "$qn_port" "$qn_h" $QUOTA_ON
    Q_ON=$SRV
    Q_SERVERS="off on"
    if [[ -n ${BENCH_QUOTA_BASE:-} ]]; then
        qb_port=$(free_port); qb_h=$(free_port)
        IHD_BIN=$BENCH_QUOTA_BASE start_icehubd "$qb_port" "$qb_h"
        Q_BASE=$SRV
        Q_SERVERS="base off on"
    fi
    for load in "c2p channel" "p2c channel" "c2p send" "echo channel"; do
        read -r qdir qkind <<<"$load"
        qlabel="quota-$qdir-$qkind"
        qargs="--dir $qdir --allocs 16 --size 100"
        [[ $qdir == echo ]] && qargs+=" --rate $RATE --window 4096"
        for ((rep = 1; rep <= REPEAT; rep++)); do
            for srv in $Q_SERVERS; do
                case $srv in
                off) qp=$Q_OFF qport=$qo_port ;;
                on) qp=$Q_ON qport=$qn_port ;;
                base) qp=$Q_BASE qport=$qb_port ;;
                esac
                # shellcheck disable=SC2086
                RES[$qlabel,$srv,$rep]=$(flood_run "icehubd-quota-$srv" "$qp" "$qport" \
                    $(kind_args "$qkind") $qargs)
            done
        done
        read -r off_r off_u rest <<<"$(summarize "$qlabel" off)"
        [[ -z ${Q_OFF_US:-} ]] && Q_OFF_US=$off_u
        for srv in $Q_SERVERS; do
            read -r r u rc uc l ub ob sp <<<"$(summarize "$qlabel" "$srv")"
            case $srv in
            off) name="quotas off, live counters on" ;;
            on) name="quotas on (rates never reached), live counters on" ;;
            base) name="before issue 4 (no live counters, no quotas)" ;;
            esac
            name+=$(mark "$ob")
            case $qdir in echo) dl="echo, $((2 * RATE / 1000))k/s" ;; c2p) dl="client → peer" ;; *) dl="peer → client" ;; esac
            echo "| $dl | $(kind_label "$qkind") | $name | $r ($(spaced "$rc")) | $(printf %.2f "$u") ($(spaced "$uc")) | $l% | $ub% | $(fmt_ratio "$u" "$off_u") |" >>"$T_QUOTA"
        done
    done
    stop_server "$Q_OFF" icehubd
    stop_server "$Q_ON" icehubd
    [[ -n ${Q_BASE:-} ]] && stop_server "$Q_BASE" icehubd
fi

report_quota() {
    local base_note=""
    [[ -n ${BENCH_QUOTA_BASE:-} ]] && base_note="
- *before issue 4*: a build of main before the live counters and quotas
  (\`BENCH_QUOTA_BASE\`): what the live counters themselves cost."
    cat <<REPORT_END
<!-- quota-bench: written by tests/bench/run.sh (BENCH_ONLY=quota rewrites only this section) -->

## Quotas and live metrics: on vs off

The cost on the fast path of the bandwidth quotas (two token buckets per
datagram: the allocation's and the worker's share of the server's capacity)
and of the live relay counters (bytes and packets by direction and
transport, counted per datagram). Each server is pinned to CPU 0 with one
worker thread and measured in turn under turn_flood loads like those of (b)
and (c) (16 allocations, 100-byte payloads):

- *quotas off*: no quota settings (the default): the buckets are unlimited
  and return at once; the live counters still run (they are always on);
- *quotas on*: \`$QUOTA_ON\`: every datagram refills and takes from
  both buckets, and none is ever dropped (the rates are far above the load).$base_note

Each load ran $REPEAT times for $FSECS s, the servers interleaved; cells give
the mean and each run. The last column is CPU per packet relative to
"quotas off" (target: quotas and metrics add under 10%). Whole-server
figures like these move by 10-20% from run to run on this shared VM (see
the variance note above), more than the quotas cost, so the state machine
is also measured alone first.

**The state machine alone** (tests/bench/quota_micro.c: turn_channel_data
and turn_peer_data for 16 allocations in turn, no sockets, CPU time of the
thread, the fastest of 9 alternating runs of 10M datagrams each):
$(echo "$QMICRO" | awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%.1f ns per datagram with quotas off, %.1f ns with quotas on: %+.1f ns, no drops.", v["off_ns"], v["on_ns"], v["delta_ns"] }')
$(echo "$QMICRO" | awk -v us="${Q_OFF_US:-0}" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (us > 0) printf "Against the %.2f µs of CPU icehubd spent per relayed datagram (client → peer, ChannelData, quotas off, below; almost all of it in system calls), that is %+.2f%%.", us, 100 * v["delta_ns"] / (us * 1000) }')

**The whole server.** Rows marked † ran while other processes used more
than 15% of a core (busy_other in the log). When the machine is that busy
the "core busy" column falls far below 100%: the starved generator, not the
server, set the rate, and the CPU-per-packet columns of such a run say
little about a difference of a few percent. The live counters' own cost
(the "before issue 4" rows) is likewise below what these runs resolve.

| load | framing | server | relayed packets/s | server CPU µs per relayed packet | loss | core busy | CPU vs quotas off |
|---|---|---|---|---|---|---|---|
REPORT_END
    cat "$T_QUOTA"
    echo
    echo "Command: \`BENCH_ONLY=quota${BENCH_QUOTA_BASE:+ BENCH_QUOTA_BASE=...} BENCH_SECONDS=$SECS BENCH_REPEAT=$REPEAT tests/bench/run.sh\` ($(date -u +%Y-%m-%dT%H:%M:%SZ))."
    echo "<!-- /quota-bench -->"
}

# BENCH_ONLY=quota: splice the quota section into the existing report.
if [[ $ONLY == quota ]]; then
    T_NEW=$(mktemp)
    report_quota >"$T_NEW"
    python3 - "$OUT" "$T_NEW" <<'SPLICE_END'
import re, sys
out, new = sys.argv[1], open(sys.argv[2]).read().rstrip("\n") + "\n"
try:
    old = open(out).read()
except FileNotFoundError:
    old = "# Benchmarks\n"
pat = re.compile(r"\n*<!-- quota-bench.*?<!-- /quota-bench -->\n?", re.S)
body = pat.sub("\n", old).rstrip("\n") + "\n\n" + new
open(out, "w").write(body)
SPLICE_END
    rm -f "$T_NEW"
    echo "wrote the quota section of $OUT"
    exit 0
fi

# ---- The report ---------------------------------------------------------------

# verdict VALUE LIMIT le|ge: "met" or "missed", with the margin.
verdict() {
    awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN {
        if (v == "-" || v == "") { print "not measured"; exit }
        ok = op == "le" ? v <= lim : v >= lim
        if (ok) printf "met (%.2f; limit %.2f)", v, lim
        else printf "**missed** (%.2f; limit %.2f: %.0f%% %s)", v, lim,
            100 * (op == "le" ? v / lim - 1 : 1 - v / lim), op == "le" ? "over" : "short" }'
}
# floor_note COTURN_US RAW_US: say so when half of coturn's CPU per packet
# is below what the raw forwarder, which parses nothing, costs.
floor_note() {
    awk -v c="$1" -v r="$2" 'BEGIN { if (r > 0 && c / 2 < r)
        printf " Half of coturn'"'"'s figure (%.2f µs) is below what the raw forwarder, which parses nothing, costs at the same load (%.2f µs).", c / 2, r }'
}
dir_label() { [[ $1 == c2p ]] && echo "client → peer" || echo "peer → client"; }

report_turn_intro() {
    cat <<EOF

## TURN relaying on loopback

A *relayed packet* is one UDP datagram the server forwarded, in either
direction: client → peer (ChannelData or a Send indication in, the bare
payload out of the allocation's relay socket) or peer → client (a datagram
in on the relay socket, ChannelData or a Data indication out). A message
echoed by the peer counts twice. *Server CPU per relayed packet* is the
server process's utime+stime (/proc/PID/stat, all threads) over the
measured interval divided by the packets it relayed in that interval;
*core busy* is that CPU time over the interval's length.

Each server gets one core: it is pinned to CPU 0 with taskset (icehubd with
\`--turn.threads=1\`, coturn with \`-m 1\`; every thread of either on CPU 0),
and the load generators to CPU 1. Both servers have the same user (alice,
long-term credentials, realm "bench") and allow loopback peers; coturn runs
with \`--allow-loopback-peers --no-cli --no-tls --no-dtls --lt-cred-mech\`.
coturn 4.6.1 has no \`--rfc5766-channel-numbers\` option and accepts
uclient's 0x4000-0x7FFF channels as is. icehubd runs with
\`--turn.unauth_rate=100000\` (the default, 100 401-answers/s per source IP
with bursts of 200, is near what uclient's 100 sessions ask at once, all
from 127.0.0.1; 20, the default of earlier versions, made them wait 500 ms
for a retransmission every few sessions) and \`--turn.answer_rate=1000000\`
(the Binding flood comes from one address, which the default of 200
answers/s per source IP would cut to that rate).

This VM is slow at system calls (the raw forwarder below costs about 5 µs
per packet where the issue's reference machine measured 2), and other
sessions share it. Before each measurement the script waits for the
machine to go idle (at most ${QUIET} s, ${QUIET_TOTAL} s in all), runs a
turn_flood load again if other processes used more than 15% of a core
during it (a few times per benchmark), and marks with † the results where
that still happened (\`busy_other\` in the log).
EOF
}

report_uclient() {
    cat <<EOF

### (a) Fixed rate: turnutils_uclient, 100 sessions

Load: \`turnutils_uclient -m 100 -z $UZ -l SIZE [-s]\`: coturn's own client,
100 allocations (50 RTP/RTCP pairs), each sending a message every $UZ ms
($((200 / UZ))k relayed packets/s nominal), ChannelData or (with -s) Send
indications, toward an echo peer (\`turn_flood --echo-only\`:
recvmmsg/sendmmsg with 4 MB buffers, on the peer port and the next, which
uclient's RTCP sessions use; turnutils_peer's default-size buffer
overflowed under uclient's bursts and its losses were charged to the
servers). The issue's load is \`-z 1\` (200k/s); on this VM that is more
than either server relays on one core (see (b)), so it measures overload,
not cost per packet; \`BENCH_UCLIENT_Z=1 make bench\` runs it.

uclient prints its cumulative counts once a second; the interval measured
is the $SECS s after all sessions have started (uclient starts them 1-6 s
after connecting), then uclient is stopped. Relayed packets = 2 x the
messages that came back; icehubd's own count (/metrics) is in the log.
Loss = 1 - relayed / (2 x sent). The CPU column gives the interval's figure
and, in parentheses, the lowest and highest of its one-second parts.

| load | server | messages sent/s | relayed packets/s | loss | core busy | server CPU µs per relayed packet | CPU vs coturn |
|---|---|---|---|---|---|---|---|
EOF
    cat "$T_UC"
}

report_flood() {
    cat <<EOF

### (b) Saturation: turn_flood, one direction at a time

Load: tests/bench/turn_flood.c with 16 allocations and 100-byte payloads.
The 16 clients share one UDP socket and send from 16 source addresses
(127.0.0.1-16, set per datagram with IP_PKTINFO), so one sendmmsg carries
one datagram of each client in turn: arrivals interleave as those of
independent clients would. There is no window: the generator sends as fast
as its core allows, more than the servers relay. The sink sockets never
read: their receive buffers are as small as the kernel allows, and the
kernel's per-socket drop counter (/proc/net/udp), read at the end of the
interval, counts every datagram the server delivered.

- client → peer: the clients send ChannelData (channel bound) or Send
  indications (permission only) to the server, which sends the payloads
  from each allocation's relay socket to one peer socket.
- peer → client: the peer sends bare payloads to the 16 relayed addresses
  in turn; the server sends ChannelData or Data indications to the clients.
- "runs of 32": ChannelData again, but 32 datagrams of one client (or, peer
  → client, to one relayed address) in a row, sent as one UDP GSO send that
  the kernel splits before the server's socket: the pattern of a video
  frame. It lets a server batch one relay socket's sends.

The raw forwarder (tests/bench/raw_fwd.c) gets the same bare payloads: it
reads its listener socket with recvmmsg and sends to the peer from its one
relay socket with sendmmsg, 32 per call, and back the same way; no parsing,
unconnected sockets. A TURN server has one relay socket per allocation, so
with interleaved clients it needs one send call per datagram on the client
→ peer path where the raw forwarder needs one per 32. The row "raw
forwarder, one send per datagram" (\`raw_fwd ... one\`) is that floor: the
same forwarder, sending each datagram with its own call.

Each load ran $REPEAT times for $FSECS s, the servers interleaved; cells give
the mean and, in parentheses, each run. Core busy is the lowest of the runs; near
100% means the server, not the generator, set the rate.

| direction | framing | server | relayed packets/s | server CPU µs per relayed packet | core busy | rate vs coturn | CPU vs raw forwarder |
|---|---|---|---|---|---|---|---|
EOF
    cat "$T_FL"
    cat <<EOF

### (c) Fixed rate with turn_flood: the raw forwarder at the same load

Load: turn_flood echo mode, 16 allocations interleaved as in (b), 100-byte
payloads, paced to $RATE messages/s ($((2 * RATE / 1000))k relayed packets/s) in
100 µs steps, at most 4096 in flight. The peer echoes every datagram to its
source (the relayed address; for the raw forwarder, its relay socket).
Each load ran $REPEAT times for $FSECS s; cells give the mean and each run.
The last column compares every row with the raw forwarder's row
(it forwards bare payloads either way). Batches are small at this rate, so
every server, the raw forwarder too, pays more per packet than at
saturation: each wakeup and call is shared by fewer datagrams.

| framing | server | relayed packets/s | loss | server CPU µs per relayed packet | core busy | CPU vs coturn | CPU vs raw forwarder |
|---|---|---|---|---|---|---|---|
EOF
    cat "$T_FIX"
}

report_targets() {
    echo
    echo "### Targets"
    echo
    echo "From the issue, checked against the tables above (a CPU ratio below 1 means"
    echo "icehubd is cheaper)."
    echo
    local kind a b c d e f g h ch note
    while read -r kind a b c d e f g h; do
        case $kind in
        fix)
            if [[ $a == channel ]]; then
                echo "- ChannelData at a fixed rate (c): icehubd's CPU per packet within 10% of the raw forwarder's: $(verdict "$(fmt_ratio "$b" "$d")" 1.10 le)."
            else
                echo "- Send indications at a fixed rate (c): icehubd's CPU per packet at most half of coturn's: $(verdict "$(fmt_ratio "$b" "$c")" 0.5 le).$(floor_note "$c" "$d")"
            fi
            ;;
        uc)
            [[ $b == send ]] && echo "- Send indications, $a B, uclient (a): icehubd's CPU per packet at most half of coturn's: $(verdict "$(fmt_ratio "$c" "$d")" 0.5 le)."
            ;;
        sat)
            [[ $b == send ]] && continue
            [[ $b == channel ]] && ch="interleaved" || ch="in runs of 32"
            note=""
            [[ ${h:-0} != 0 ]] && note=" Against the raw forwarder sending each datagram with its own call, as a TURN server must here: $(fmt_ratio "$e" "$h")."
            echo "- ChannelData $ch, $(dir_label "$a"), saturation (b): icehubd's CPU per packet within 10% of the raw forwarder's: $(verdict "$(fmt_ratio "$e" "$g")" 1.10 le).$note"
            ;;
        esac
    done <"$T_SUM"
    while read -r kind a b c d e f g; do
        [[ $kind == sat ]] || continue
        echo "- Saturation (b), $(dir_label "$a"), $(kind_label "$b"): icehubd's relayed packets/s at least 1.25x coturn's: $(verdict "$(fmt_ratio "$c" "$d")" 1.25 ge)."
    done <"$T_SUM"
    if [[ -s $T_SPREAD ]]; then
        echo
        sort -n "$T_SPREAD" | awk -F '\t' '{ v[NR] = $1; w[NR] = $2 } END {
            printf "Variance: over the %d loads of (b) and (c), each run %d times, the runs of a\n", NR, '"$REPEAT"'
            printf "load differ in CPU per packet by %.1f%% (median) and at most %.1f%% (%s).\n", v[int((NR + 1) / 2)], v[NR], w[NR] }'
        echo "The uclient rows of (a) give the spread between the seconds of one run instead."
    fi
}

# ---- Signaling hub ------------------------------------------------------------

# start_sig HTTP_PORT: icehubd for the signaling loads (limits out of the
# way, one relay worker), pinned to CPU 0. Sets SRV.
start_sig() {
    local port
    port=$(free_port)
    taskset -c 0 ./bin/icehubd --turn.listen=127.0.0.1:$port --http.listen=127.0.0.1:$1 \
        --turn.threads=1 --log.level=warn --signal.rate=1000000 --signal.burst=1000000 \
        --signal.max_connections_per_ip=1000000 --signal.max_rooms=1000000 \
        --signal.drain_delay=0 >>"$A/bench-icehubd.log" 2>&1 &
    SRV=$!
    PIDS+=($SRV)
    sleep 0.5
    alive $SRV icehubd "$A/bench-icehubd.log"
}

# Time the hypervisor ran something else on this VM's CPUs (all CPUs).
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }

# The hub's delivery-time histogram (icehub_signal_delivery_seconds) as
# "le count" lines, cumulative.
sig_hist() {
    curl -s "127.0.0.1:$1/metrics" |
        sed -nE 's/^icehub_signal_delivery_seconds_bucket\{le="([^"]+)"\} ([0-9]+)$/\1 \2/p'
}

# hist_q BEFORE AFTER Q: the upper bound in µs of the bucket holding the
# Q quantile of what was observed between the two snapshots.
hist_q() {
    paste -d' ' <(echo "$1") <(echo "$2") | awk -v q="$3" '
        { le[NR] = $1; n[NR] = $4 - $2 } END {
            tot = n[NR]; for (i = 1; i <= NR; i++) if (n[i] >= q * tot) {
                if (le[i] == "+Inf") print ">1000000"; else printf "%g\n", le[i] * 1e6; exit } }'
}

# Relay: sig_load's two peers, A -> B "signal" messages paced at SIG_RATE/s
# for SECS s, REPEAT runs on one server (fresh peers each run). A run that
# other processes disturbed (over 15% of a core) is run again once, while
# the BENCH_RETRIES budget lasts; the calmer run is kept.
sig_relay_once() {
    local hport=$1 line c0 c1 b0 b1 us got el gen bg st0 st1 steal h0 h1 hp50 hp99
    wait_quiet
    b0=$(busy_ticks)
    st0=$(steal_ticks)
    h0=$(sig_hist "$hport")
    c0=$(cpu_ticks "$SRV")
    line=" $(taskset -c 1 "$B/sig_load" relay 127.0.0.1 "$hport" "$SIG_RATE" "$SECS")" || true
    c1=$(cpu_ticks "$SRV")
    h1=$(sig_hist "$hport")
    b1=$(busy_ticks)
    st1=$(steal_ticks)
    steal=$(((st1 - st0) * 1000 / HZ))
    got=$(kv received "$line"); el=$(kv seconds "$line"); gen=$(kv gen_cpu_s "$line")
    us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$got" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
    bg=$(awk -v b=$((b1 - b0)) -v s=$((c1 - c0)) -v g="$gen" -v el="$el" -v hz="$HZ" \
        'BEGIN { o = (b - s) / hz - g; if (o < 0) o = 0; printf "%.0f", (el > 0 ? 100 * o / el : 0) }')
    hp50=$(hist_q "$h0" "$h1" 0.5)
    hp99=$(hist_q "$h0" "$h1" 0.99)
    log "signal relay: $line cpu_ticks=$((c1 - c0)) steal_ms=$steal busy_other~$bg% hub_p50<=${hp50}us hub_p99<=${hp99}us"
    echo "$(kv rate "$line") $(kv p50_us "$line") $(kv p99_us "$line") $(kv p999_us "$line") $(kv max_us "$line") $hp50 $hp99 $us $steal $bg"
}

bench_signal_relay() {
    local hport out best best_bg bg left r try
    hport=$(free_port)
    start_sig "$hport"
    for ((r = 1; r <= REPEAT; r++)); do
        best="" best_bg=1000
        for try in 1 2; do
            out=$(sig_relay_once "$hport")
            bg=${out##* }
            if ((bg < best_bg)); then best=$out best_bg=$bg; fi
            ((bg <= 15)) && break
            left=$(cat "$T_RETRY")
            ((left > 0)) || break
            echo $((left - 1)) >"$T_RETRY"
            log "signal relay: disturbed (busy_other $bg%), running it again"
        done
        echo "relay $r $best" >>"$T_SIG"
    done
    stop_server "$SRV" icehubd
}

# Idle peers: SIG_CONNS WebSockets, each joined to a room of two; the
# server's RSS before and after.
bench_signal_idle() {
    local hport line
    hport=$(free_port)
    start_sig "$hport"
    wait_quiet
    line=$(taskset -c 1 "$B/sig_load" idle 127.0.0.1 "$hport" "$SIG_CONNS" "$SRV") || true
    log "signal idle: $line"
    line=" $line" # kv finds a key after a blank
    echo "idle $(kv idle_conns "$line") $(kv rss_before_kib "$line") $(kv rss_after_kib "$line") $(kv kib_per_conn "$line") $(kv connect_s "$line")" >>"$T_SIG"
    stop_server "$SRV" icehubd
}

if wants signal; then
    bench_signal_relay
    bench_signal_idle
fi

report_signal() {
    local p99max
    cat <<EOF

## Signaling hub (WebSocket) on loopback

Load: tests/bench/sig_load.c, an epoll WebSocket client written for the
benchmark (RFC 6455 framing, no library), pinned to CPU 1; icehubd on CPU 0.
The hub runs on icehubd's HTTP thread (libwebsockets, one thread).

**Relay**: two peers in one room; A sends B a \`signal\` message (about 170
bytes: an ICE candidate and a send timestamp) every $((1000000 / SIG_RATE)) µs,
$SIG_RATE messages/s for $SECS s; B takes the latency when it reads each
message. The latency is client send to client receive on loopback, so it
includes the client's own work and scheduling. The hub's own share comes from
icehubd's histogram icehub_signal_delivery_seconds (from the read of a
message to the write of its copy to the recipient's socket), read from
/metrics before and after each run; its p50 and p99 are bucket upper bounds
(buckets 25, 50, 100, 250, 500 µs, 1, 2.5, 5, 10 ms, ...). $REPEAT runs on one
server, fresh peers each run.

Other processes' CPU during a run is given in % of one core (a † marks
runs above 15%, which were run once more when the retry budget allowed),
and the steal time: milliseconds in which the hypervisor ran something else
on this VM's CPUs (/proc/stat). Tail latency on this 2-core VM follows both.

| run | messages/s delivered | p50 µs | p99 µs | p99.9 µs | max µs | hub p50 µs | hub p99 µs | server CPU µs per message | steal ms | other processes |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
    awk '$1 == "relay" { printf "| %s | %s | %s | %s | %s | %s | ≤ %s | ≤ %s | %s | %s | %s%%%s |\n", $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, ($12 > 15 ? " †" : "") }' "$T_SIG"
    cat <<EOF

**Idle peers**: $SIG_CONNS WebSockets opened one after another, each joined to a
room of two; the server's resident memory (VmRSS) before the first and 2 s
after the last joined.

| peers | RSS before | RSS after | KiB per idle peer | time to connect and join all |
|---|---|---|---|---|
EOF
    awk '$1 == "idle" { printf "| %s | %s KiB | %s KiB | %s | %s s |\n", $2, $3, $4, $5, $6 }' "$T_SIG"
    p99max=$(awk '$1 == "relay" { if ($5 > m) m = $5 } END { print m + 0 }' "$T_SIG")
    echo
    echo "Targets (issue 5):"
    echo
    echo "- under 10 KiB of RSS per idle connection: $(awk '$1 == "idle" { print ($5 < 10 ? "met" : "not met") " (" $5 " KiB)" }' "$T_SIG")."
    echo "- p99 under 1 ms at $SIG_RATE messages/s, client to client: $(awk -v m="$p99max" 'BEGIN { print (m < 1000 ? "met" : "not met") " (worst run " m " µs)" }')."
    echo "- the same inside the hub (histogram): $(awk '$1 == "relay" { v = $9; sub(/^>/, "", v); if (v + 0 > m) m = v + 0 } END { print (m <= 1000 ? "met" : "not met") " (worst run p99 ≤ " m " µs)" }' "$T_SIG")."
}

# A run of the signaling benchmark alone replaces its section in the
# existing report and keeps the rest.
if [[ -s $T_SIG && ! -s $T_BIND && ! -s $T_UC && ! -s $T_FL && -f $OUT ]]; then
    awk '/^## Signaling hub/ { skip = 1; next } /^## / { skip = 0 } !skip' "$OUT" >"$OUT.tmp"
    report_signal >>"$OUT.tmp"
    mv "$OUT.tmp" "$OUT"
    echo "wrote the signaling section of $OUT"
    exit 0
fi

{
    echo "# Benchmarks"
    echo
    echo "Written by \`make bench\` (tests/bench/run.sh). Numbers are from one run on the"
    echo "machine below; all servers ran in the same run under the same loads. CPU comes"
    echo "from each server process's own /proc/PID/stat (utime+stime, all threads); top,"
    echo "vmstat and pidstat under-report on these VMs. Every measurement's raw output"
    echo "is in tests/artifacts/bench.log."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r)"
    echo "- command: \`make bench\` (BENCH_SECONDS=$SECS BENCH_REPEAT=$REPEAT BENCH_UCLIENT_Z=$UZ BENCH_RATE=$RATE)"
    echo "- servers: icehubd $(icehubd_version) (bin/icehubd, built from the working tree); coturn $(coturn_version) (Debian's turnserver)"
    if [[ -s $T_BIND ]]; then
        echo
        echo "## STUN Binding on loopback"
        echo
        echo "Load: tests/bench/stun_flood.c, 8 UDP sockets, 64 requests in flight each,"
        echo "sendmmsg/recvmmsg batches of 32, for $SECS s. The load generator shares the"
        echo "machine's $(nproc) cores with the server, so the server's CPU per request is the"
        echo "comparable figure; requests/s is bounded by the generator too."
        echo
        echo "| server | answered Binding requests/s | loss | server CPU µs per request |"
        echo "|---|---|---|---|"
        cat "$T_BIND"
    fi
    if [[ -s $T_UC || -s $T_FL ]]; then report_turn_intro; fi
    if [[ -s $T_UC ]]; then report_uclient; fi
    if [[ -s $T_FL ]]; then report_flood; fi
    if [[ -s $T_SUM ]]; then report_targets; fi
    if [[ -s $T_QUOTA ]]; then echo; report_quota; fi
    if [[ -s $T_SIG ]]; then report_signal; fi
    if [[ -s $T_CRASH ]]; then
        echo
        echo "### Server crashes"
        echo
        echo "Servers found dead of a signal (not our SIGTERM) when they were stopped:"
        echo
        sed 's/^/- /' "$T_CRASH"
    fi
} >"$OUT"
echo "wrote $OUT"
