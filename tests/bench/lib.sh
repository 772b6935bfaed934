#!/bin/bash
# tests/bench/lib.sh: what the benchmark sections share (sourced by run.sh):
# ports, the wait for a quiet machine, CPU and machine-state readings, the
# servers under test (icehubd; coturn from $COTURN in its default mode and,
# where it has one, --multiplex-peer --udp-gso), profiles with perf, and the
# verdict a target gets. Every section writes its part of
# docs/benchmarks.md into $RPT/<section>.md (report.py assembles them).

log() { echo "$*" | tee -a "$LOG" >&2; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy ticks of the whole machine (user nice system irq softirq).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# Time the hypervisor ran something else on this VM's CPUs (all CPUs).
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
kv() { echo " $2" | sed -E "s/.*[ ^]$1=([^ %]+).*/\1/"; }
fmt_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
us_per() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }'; }

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
    if p < 60000 and free(p) and (os.environ["P1"] == "0" or free(p + 1)) and free(p + 2):
        print(p); break'
}
free_port_pair() { free_port 1; }

# Other tenants of this VM run test suites now and then. Before each
# measurement, wait until the machine has been idle (under 5% busy) for
# 0.5 s, at most BENCH_QUIET s per measurement and BENCH_QUIET_TOTAL s in
# all, so they don't share the cores. Runs they disturbed anyway are
# marked in the report (busy_other).
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

# The state of the machine over a section: section_begin at its start,
# section_state at its end prints the load averages and the steal time.
section_begin() { SEC_T0=$EPOCHREALTIME SEC_ST0=$(steal_ticks) SEC_LOAD0=$(loadavg); }
section_state() {
    local st=$(($(steal_ticks) - SEC_ST0))
    awk -v t0="$SEC_T0" -v t1="$EPOCHREALTIME" -v st="$st" -v hz="$HZ" -v l0="$SEC_LOAD0" \
        -v l1="$(loadavg)" -v n="$(nproc)" 'BEGIN {
        el = t1 - t0
        printf "Machine during this section (%s UTC, %.0f s): load average %s at the start, %s at the end (%d CPUs); steal %.1f%% of the CPUs'"'"' time.\n",
            strftime("%Y-%m-%d %H:%M", systime(), 1), el, l0, l1, n, (el > 0 ? 100 * st / hz / (el * n) : 0) }'
}

icehubd_version() { ./bin/icehubd --version | cut -d' ' -f2; }
# The coturn under comparison: $COTURN (a turnserver binary), by default
# Debian's. Its version names its rows.
coturn_version() { "$COTURN" --version 2>&1 | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -1; }
coturn_name() { echo "coturn $(coturn_version)"; }
coturn_has() { "$COTURN" --help 2>&1 | grep -q -- "$1"; }

# start_icehubd PORT HTTP_PORT [FLAGS...]: one worker thread, pinned to CPU
# 0 (the binary: $IHD_BIN, default bin/icehubd). Sets SRV.
start_icehubd() {
    local port=$1 hport=$2
    shift 2
    taskset -c 0 "${IHD_BIN:-./bin/icehubd}" --turn.listen=127.0.0.1:$port \
        --http.listen=127.0.0.1:$hport \
        --turn.users=alice:wonderland --turn.realm=bench --turn.allowed_peers=127.0.0.0/8 \
        --turn.threads=1 --log.level=warn --turn.max_allocations_per_ip=100000 \
        --turn.max_allocations_per_user=100000 --turn.unauth_rate=100000 "$@" \
        >>"$A/bench-icehubd.log" 2>&1 &
    SRV=$!
    PIDS+=($SRV)
    wait_port "$port" || sleep 0.5
    alive $SRV icehubd "$A/bench-icehubd.log"
}

# start_coturn PORT [FLAGS...]: one relay thread (-m 1), pinned to CPU 0,
# with RFC 5766 channel numbers where the build needs the option for them
# (turnutils_uclient picks 0x4000-0x7FFF). Sets SRV.
start_coturn() {
    local port=$1 extra=()
    shift
    coturn_has rfc5766-channel-numbers && extra+=(--rfc5766-channel-numbers)
    [[ " $* " == *" --cert "* ]] || extra+=(--no-tls)
    taskset -c 0 "$COTURN" -n --no-cli --no-dtls -L 127.0.0.1 -p "$port" -m 1 \
        --allow-loopback-peers --user alice:wonderland -r bench --lt-cred-mech \
        --log-file=stdout --no-stdout-log "${extra[@]}" "$@" >>"$A/bench-coturn.log" 2>&1 &
    SRV=$!
    PIDS+=($SRV)
    wait_port "$port" || sleep 1
    sleep 0.3
    alive $SRV coturn "$A/bench-coturn.log"
}

# Wait (up to 5 s) until something accepts TCP connections on PORT.
wait_port() {
    local i
    for ((i = 0; i < 50; i++)); do
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# alive PID NAME LOG: stop the benchmark if a server did not start.
alive() {
    kill -0 "$1" 2>/dev/null && return 0
    log "error: $2 did not start; the end of $3:"
    tail -5 "$3" >&2
    exit 1
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

# mark BUSY_OTHER: a dagger when other processes used over 15% of a core.
mark() { [[ $1 != - && ${1:-0} -gt 15 ]] && echo " †" || true; }

# verdict VALUE LIMIT le|ge: "met" or "missed", with the margin.
verdict() {
    awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN {
        if (v == "-" || v == "") { print "not measured"; exit }
        ok = op == "le" ? v <= lim : v >= lim
        if (ok) printf "met (%.2f; limit %.2f)", v, lim
        else printf "**missed** (%.2f; limit %.2f: %.0f%% %s)", v, lim,
            100 * (op == "le" ? v / lim - 1 : 1 - v / lim), op == "le" ? "over" : "short" }'
}

# ---- Profiles ----------------------------------------------------------------

# profile PID SECONDS NAME: perf record (cpu-clock: these VMs have no
# hardware counters) of PID for SECONDS, in the background; sets PROF_PID.
# Data in $B/perf-NAME.data. Nothing when perf is missing.
profile() {
    PROF_PID=""
    command -v perf >/dev/null || return 0
    perf record -q -e cpu-clock -g -p "$1" -o "$B/perf-$3.data" -- sleep "$2" \
        >/dev/null 2>&1 &
    PROF_PID=$!
}
profile_wait() { [[ -n ${PROF_PID:-} ]] && wait "$PROF_PID" 2>/dev/null || true; }

# profile_summary NAME: one line: the share of samples per binary (kernel,
# icehubd, libraries) and the kernel paths with the most samples beneath
# them (inclusive), for the "what limits it" paragraphs.
profile_summary() {
    local f="$B/perf-$1.data"
    [[ -s $f ]] || { echo "(no profile: perf missing or failed)"; return; }
    local dso sym
    dso=$(perf report -i "$f" --no-children --stdio -g none --sort dso 2>/dev/null |
        awk '/^ +[0-9.]+%/ { gsub(/\[kernel.kallsyms\]/, "kernel", $2); sub(/\.so.*/, "", $2);
             if (n < 6) { printf "%s%s %s", n ? ", " : "", $2, $1; n++ } }')
    sym=$(perf report -i "$f" --children --stdio -g none --sort sym 2>/dev/null |
        awk '/^ +[0-9.]+% +[0-9.]+% +\[k\]/ && $4 !~ /^(do_syscall_64|entry_SYSCALL|0x|x64_sys_call)/ {
             if (n < 6) { printf "%s%s %s", n ? ", " : "", $4, $1; n++ } }')
    echo "samples by binary: $dso; kernel paths (inclusive): $sym"
}

# Record a section's profile summary in the log and in $RPT/NAME.profile.
profile_note() {
    local s
    s=$(profile_summary "$1")
    log "profile $1: $s"
    echo "$s" >"$RPT/$1.profile"
}
