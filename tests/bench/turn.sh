#!/bin/bash
# tests/bench/turn.sh: the STUN and TURN-over-UDP sections of make bench
# (sourced by run.sh): Binding requests, turnutils_uclient at a fixed
# rate, turn_flood at saturation and at a fixed rate, against coturn and
# the raw forwarder. Writes $RPT/binding.md and $RPT/turn.md.

icehubd_relayed() {
    curl -s "127.0.0.1:$1/metrics" | awk '/^icehub_rx_packets_total\{transport="udp"\}/ {r = $2}
        /^icehub_turn_peer_packets_total/ {p = $2} END {printf "%d\n", r + p}'
}

# icehubd's limit on answers per source IP (turn.answer_rate, where the
# build has it) high enough for a generator that sends everything from
# 127.0.0.1; start_icehubd sets turn.unauth_rate likewise.
ihd_rate_flags() {
    ./bin/icehubd --help 2>&1 | grep -q -- "--turn.answer_rate" && echo "--turn.answer_rate=1000000"
    true
}

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
    section_begin
    for threads in 1 2; do
        port=$(free_port)
        # shellcheck disable=SC2046
        ./bin/icehubd --turn.listen=127.0.0.1:$port --http.enabled=false --turn.threads=$threads \
            --log.level=warn $(ihd_rate_flags) 2>>"$A/bench-icehubd.log" &
        pid=$!
        wait_port "$port" || sleep 0.5
        bench_binding "icehubd $(icehubd_version), $threads thread(s)" $pid $port
        stop_server $pid icehubd
    done
    for threads in 1 2; do
        port=$(free_port)
        "$COTURN" -n --no-cli --no-tls --no-dtls -S -L 127.0.0.1 -p "$port" -m $threads \
            --log-file=stdout --no-stdout-log >>"$A/bench-coturn.log" 2>&1 &
        pid=$!
        wait_port "$port" || sleep 1
        bench_binding "$(coturn_name), $threads relay thread(s)" $pid $port
        stop_server $pid coturn
    done
    BIND_STATE=$(section_state)
fi
wants uclient || wants flood && section_begin

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
            echo "| $label | $(coturn_name)$(mark "$co_bg") | $co_sent | $co_rate | $co_loss% | $co_busy% | $co_us ($co_lo-$co_hi) | 1 |" >>"$T_UC"
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

# run_all LABEL KIND "SERVERS" ARGS...: every server of SERVERS (names of
# SRV_PID / SRV_PORT below) REPEAT times, interleaved. Results go to RES.
declare -A RES SRV_PID SRV_PORT SRV_ARGS
run_all() {
    local label=$1 kind=$2 servers=$3 rep srv
    shift 3
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for srv in $servers; do
            [[ -n ${SRV_PID[$srv]:-} ]] || continue
            # shellcheck disable=SC2086
            RES[$label,$srv,$rep]=$(flood_run "$srv" "${SRV_PID[$srv]}" "${SRV_PORT[$srv]}" \
                ${SRV_ARGS[$srv]:-} $(kind_args "$kind") "$@")
        done
    done
}

# The name of a flood server in the tables.
srv_label() {
    case $1 in
    raw) echo "raw forwarder" ;;
    raw1) echo "raw forwarder, one send per datagram" ;;
    rawsk) echo "raw forwarder, 16 sockets, one send per datagram" ;;
    rawur) echo "raw forwarder, 16 sockets, io_uring" ;;
    rawip) echo "raw forwarder, 16 sockets, raw IP socket" ;;
    icehubd) echo "icehubd" ;;
    ihnu) echo "icehubd, turn.io_uring=false" ;;
    coturn) coturn_name ;;
    comx) echo "$(coturn_name) --multiplex-peer --udp-gso" ;;
    esac
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

# start_raw NAME MODE: a raw forwarder on CPU 0 (the peer port beside it).
start_raw() {
    local port peer
    port=$(free_port_pair); peer=$(free_port)
    taskset -c 0 "$B/raw_fwd" "$port" "$peer" "$2" 2>>"$LOG" &
    SRV_PID[$1]=$!
    PIDS+=(${SRV_PID[$1]})
    SRV_PORT[$1]=$port
    SRV_ARGS[$1]="--raw --peer-port $peer"
    sleep 0.2
    if ! kill -0 "${SRV_PID[$1]}" 2>/dev/null; then
        log "raw forwarder $2 did not start (the raw IP socket needs CAP_NET_RAW): its row is left out"
        unset "SRV_PID[$1]"
    fi
}

# Loads: LABEL KIND "SERVERS" TURN_FLOOD_ARGS. The ppa loads give each
# allocation its own peer address (--peer-per-alloc), the one kind of load
# coturn's --multiplex-peer mode serves.
FLOOD_LOADS=(
    "sat-c2p-channel|channel|raw raw1 rawsk rawur rawip icehubd ihnu coturn|--dir c2p"
    "sat-c2p-send|send|icehubd ihnu coturn|--dir c2p"
    "sat-c2p-burst|burst|raw icehubd coturn|--dir c2p"
    "sat-p2c-channel|channel|raw icehubd coturn|--dir p2c"
    "sat-p2c-send|send|icehubd coturn|--dir p2c"
    "sat-p2c-burst|burst|raw icehubd coturn|--dir p2c"
    "ppa-c2p-channel|channel|icehubd ihnu coturn comx|--dir c2p --peer-per-alloc"
    "ppa-c2p-burst|burst|icehubd coturn comx|--dir c2p --peer-per-alloc"
    "ppa-p2c-channel|channel|icehubd coturn comx|--dir p2c --peer-per-alloc"
)

if wants flood; then
    start_raw raw batch; start_raw raw1 one; start_raw rawsk sockets
    start_raw rawur uring; start_raw rawip rawip
    for srv in icehubd ihnu; do
        SRV_PORT[$srv]=$(free_port); hp=$(free_port)
        # shellcheck disable=SC2046
        start_icehubd "${SRV_PORT[$srv]}" "$hp" $([[ $srv == ihnu ]] && echo --turn.io_uring=false)
        SRV_PID[$srv]=$SRV
    done
    SRV_PORT[coturn]=$(free_port)
    start_coturn "${SRV_PORT[coturn]}"
    SRV_PID[coturn]=$SRV
    COMX_NOTE=""
    if coturn_has multiplex-peer; then
        SRV_PORT[comx]=$(free_port)
        start_coturn "${SRV_PORT[comx]}" --multiplex-peer --udp-gso
        SRV_PID[comx]=$SRV
        # The load it cannot serve: all allocations relaying to one peer
        # address (an SFU). Asked once; the refusal goes in the report.
        COMX_NOTE=$(taskset -c 1 "$B/turn_flood" --server "127.0.0.1:${SRV_PORT[comx]}" \
            --seconds 0.3 --dir c2p --allocs 16 --size 100 2>&1 | tail -1)
        log "flood comx, 16 allocations to one peer address: $COMX_NOTE"
    fi
    for load in "${FLOOD_LOADS[@]}"; do
        IFS='|' read -r label kind servers args <<<"$load"
        # shellcheck disable=SC2086
        run_all "$label" "$kind" "$servers" $args --allocs 16 --size 100
    done
    for kind in channel send; do
        servers="icehubd coturn"
        [[ $kind == channel ]] && servers="raw icehubd coturn"
        run_all "fix-$kind" $kind "$servers" --dir echo --allocs 16 --size 100 --rate "$RATE" \
            --window 4096
    done
    # A profile of icehubd on the load the floor is about (not a measured run).
    profile "${SRV_PID[icehubd]}" 2 flood-c2p
    taskset -c 1 "$B/turn_flood" --server "127.0.0.1:${SRV_PORT[icehubd]}" --seconds 2.5 \
        --dir c2p --allocs 16 --size 100 >/dev/null
    profile_wait
    profile_note flood-c2p
    for srv in "${!SRV_PID[@]}"; do stop_server "${SRV_PID[$srv]}" "$srv"; done

    for load in "${FLOOD_LOADS[@]}"; do
        IFS='|' read -r label kind servers args <<<"$load"
        dir=${label#*-}; dir=${dir%%-*}
        dlabel=$([[ $dir == c2p ]] && echo "client → peer" || echo "peer → client")
        [[ $label == ppa-* ]] && dlabel+=", a peer per allocation"
        read -r co_r co_u rest <<<"$(summarize "$label" coturn)"
        raw_r=0 raw_u=0
        [[ " $servers " == *" raw "* ]] && read -r raw_r raw_u rest <<<"$(summarize "$label" raw)"
        for srv in $servers; do
            [[ -n ${RES[$label,$srv,1]:-} ]] || continue
            read -r r u rc uc l ub ob sp <<<"$(summarize "$label" $srv)"
            name="$(srv_label $srv)$(mark "$ob")"
            spread "$label" $srv "(b) $dlabel, $(kind_label $kind), $name"
            vs_raw=-
            [[ $raw_u != 0 ]] && vs_raw=$(fmt_ratio "$u" "$raw_u")
            echo "| $dlabel | $(kind_label $kind) | $name | $r ($(spaced "$rc")) | $(printf %.2f "$u") ($(spaced "$uc")) | $ub% | $(fmt_ratio "$r" "$co_r") | $vs_raw |" >>"$T_FL"
        done
        read -r ih_r ih_u rest <<<"$(summarize "$label" icehubd)"
        if [[ $label == sat-* ]]; then
            raw1_u=0
            [[ $label == sat-c2p-channel ]] && read -r x raw1_u rest <<<"$(summarize "$label" raw1)"
            echo "sat $dir $kind $ih_r $co_r $ih_u $co_u $raw_u $raw1_u" >>"$T_SUM"
        elif [[ -n ${RES[$label,comx,1]:-} ]]; then
            read -r mx_r mx_u rest <<<"$(summarize "$label" comx)"
            echo "ppa $dir $kind $ih_r $mx_r $ih_u $mx_u" >>"$T_SUM"
        fi
    done
    # (the raw forwarder's figure for ChannelData is the floor for both kinds)
    read -r raw_r fix_raw_u rest <<<"$(summarize "fix-channel" raw)"
    for kind in channel send; do
        read -r co_r co_u rest <<<"$(summarize "fix-$kind" coturn)"
        raw_u=$fix_raw_u
        for srv in raw icehubd coturn; do
            [[ $srv == raw && $kind != channel ]] && continue
            read -r r u rc uc l ub ob sp <<<"$(summarize "fix-$kind" $srv)"
            name="$(srv_label $srv)$(mark "$ob")"
            spread "fix-$kind" $srv "(c) $(kind_label $kind), $name"
            vs_raw=$(fmt_ratio "$u" "$raw_u")
            echo "| $(kind_label $kind) | $name | $r | $l% | $(printf %.2f "$u") ($(spaced "$uc")) | $ub% | $(fmt_ratio "$u" "$co_u") | $vs_raw |" >>"$T_FIX"
        done
        read -r ih_r ih_u rest <<<"$(summarize "fix-$kind" icehubd)"
        echo "fix $kind $ih_u $co_u $raw_u" >>"$T_SUM"
    done
fi
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
long-term credentials, realm "bench") and allow loopback peers. coturn is
$(coturn_name) (\`COTURN=$COTURN\`), run with \`--allow-loopback-peers
--no-cli --no-tls --no-dtls --lt-cred-mech\`$(coturn_has rfc5766-channel-numbers && echo ' and `--rfc5766-channel-numbers` (uclient binds channels in 0x4000-0x7FFF, the RFC 5766 range)')$(coturn_has multiplex-peer && echo '; "--multiplex-peer --udp-gso" rows are the same binary in that mode (one relay socket per thread, sendmmsg and UDP GSO toward peers)'). icehubd runs with
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
same forwarder, sending each datagram with its own call. Three more rows
are the candidates for getting below it, in the same forwarder with one
relay socket per client as a TURN server has: "16 sockets, one send per
datagram" (what icehubd did before), "16 sockets, io_uring" (a received
batch's sends, whatever sockets they are for, in one io_uring submission:
what \`turn.io_uring\` does) and "16 sockets, raw IP socket" (the sockets
stay bound for their ports; each datagram is written with its IPv4/UDP
header through one IPPROTO_RAW socket, a batch per sendmmsg; needs
CAP_NET_RAW, and it skips what the kernel does per socket: conntrack state
of the socket's flow, socket options, per-socket counters).
"icehubd, turn.io_uring=false" is icehubd sending one sendmmsg per relay
socket (its datagrams grouped by socket).

The "a peer per allocation" loads give each allocation its own peer address
(\`turn_flood --peer-per-alloc\`: client k relays to 127.0.1.k), the only
kind of load coturn's \`--multiplex-peer\` mode serves: it refuses, with
400, a second allocation's permission to a peer address another allocation
already uses. Many clients relaying to one SFU address (every other load
here) therefore cannot run on it at all$(test -n "${COMX_NOTE:-}" && echo " (here: \`$COMX_NOTE\`)").

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
    echo
    echo "Below the floor (issue 16):"
    echo
    while read -r kind a b c d e f g h; do
        if [[ $kind == sat && $a == c2p && $b == channel ]]; then
            echo "- ChannelData interleaved, client → peer, saturation: icehubd's CPU per packet at or below the raw forwarder's (one relay socket, sendmmsg of 32): $(verdict "$(fmt_ratio "$e" "$g")" 1.00 le); its rate $(fmt_ratio "$c" "$d")x $(coturn_name)'s (the issue put the floor at 1.4x coturn 4.17.1's rate)."
        elif [[ $kind == ppa && $a == c2p && $b == channel ]]; then
            echo "- A peer per allocation, client → peer, ChannelData: icehubd's relayed packets/s at least $(coturn_name) --multiplex-peer --udp-gso's: $(verdict "$(fmt_ratio "$c" "$d")" 1.00 ge) (CPU per packet $(fmt_ratio "$e" "$f")x)."
        elif [[ $kind == ppa ]]; then
            echo "- A peer per allocation, $(dir_label "$a"), $(kind_label "$b"): icehubd's rate $(fmt_ratio "$c" "$d")x $(coturn_name) --multiplex-peer --udp-gso's, CPU per packet $(fmt_ratio "$e" "$f")x (no target; for the record)."
        fi
    done <"$T_SUM"
    if [[ -s $T_SPREAD ]]; then
        echo
        sort -n "$T_SPREAD" | awk -F '\t' '{ v[NR] = $1; w[NR] = $2 } END {
            printf "Variance: over the %d loads of (b) and (c), each run %d times, the runs of a\n", NR, '"$REPEAT"'
            printf "load differ in CPU per packet by %.1f%% (median) and at most %.1f%% (%s).\n", v[int((NR + 1) / 2)], v[NR], w[NR] }'
        echo "The uclient rows of (a) give the spread between the seconds of one run instead."
    fi
    report_turn_limits
}

report_turn_limits() {
    cat <<LIMITS

### What limits it

A profile of icehubd (perf, cpu-clock, 2 s) on load (b) client → peer
interleaved ChannelData, io_uring on: $(cat "$RPT/flood-c2p.profile" 2>/dev/null || echo "(not run)").

Almost all of the server's time is the kernel's UDP send and receive
paths; on loopback the send path also delivers each datagram into the
sink's socket (the receiver's softirq work is charged to the sender), for
icehubd and coturn alike. The work icehubd itself does per datagram
(decode, the 5-tuple and channel lookups, the permission check, the
buckets) is the few percent under "icehubd". What io_uring removes is the
system call per datagram (entry, exit, the msghdr copied in): the sends of
a batch leave in one io_uring_enter, each still the full udp_sendmsg of its
own relay socket (route lookup, IP header, netfilter, the socket's
counters); the "16 sockets, io_uring" forwarder row is that mechanism with
nothing else around it. The raw IP socket batches with sendmmsg on one
socket instead; it measured no better than io_uring here, needs
CAP_NET_RAW and skips the kernel's per-socket work, so it was not kept.
What remains between icehubd and the one-socket raw forwarder is the
per-socket send work (16 relay sockets, a route lookup each, against one
socket) and icehubd's own parsing. Connected "shadow" sockets (one per
allocation and busy peer, to skip the route lookup) were not tried: each
costs a descriptor, and with 20,000 per process they would halve the
allocations a process holds, for a lookup that is a few percent of the
profile.
LIMITS
}

# ---- This file's parts of the report --------------------------------------------

if [[ -s $T_BIND ]]; then
    {
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
        echo
        echo "$BIND_STATE"
    } >"$RPT/binding.md"
fi
if [[ -s $T_UC || -s $T_FL ]]; then
    {
        report_turn_intro
        [[ -s $T_UC ]] && report_uclient
        [[ -s $T_FL ]] && report_flood
        [[ -s $T_SUM ]] && report_targets
        echo
        section_state
    } | sed '1{/^$/d}' >"$RPT/turn.md"
fi

true
