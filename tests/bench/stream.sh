#!/bin/bash
# tests/bench/stream.sh: TURN over TCP and TLS (sourced by run.sh):
# turn_stream's relay loads and TLS handshakes against icehubd and coturn,
# one long-running server each. Writes $RPT/stream.md.

STREAM_CLIENTS=${BENCH_STREAM_CLIENTS:-50}
STREAM_RATE=${BENCH_STREAM_RATE:-12500}
STREAM_HS=${BENCH_STREAM_HANDSHAKES:-2000}

# stream_run NAME PID PORT ARGS...: one turn_stream run on CPU 1; prints
# its key=value line with busy_other (other processes' CPU, % of a core).
stream_run() {
    local name=$1 pid=$2 port=$3 line b0 b1 scpu gen el bg
    shift 3
    wait_quiet
    b0=$(busy_ticks)
    line=$(taskset -c 1 "$B/turn_stream" --server "127.0.0.1:$port" --cpu-pid "$pid" "$@" \
        2>>"$LOG") || true
    b1=$(busy_ticks)
    scpu=$(kv server_cpu "$line"); gen=$(kv gen_cpu "$line"); el=$(kv seconds "$line")
    bg=$(awk -v b=$((b1 - b0)) -v s="${scpu:-0}" -v g="${gen:-0}" -v el="${el:-1}" -v hz="$HZ" \
        'BEGIN { o = b / hz - s - g / 100 * el; if (o < 0) o = 0; printf "%.0f", 100 * o / (el + 1) }')
    log "stream $name $*: $line busy_other~$bg%"
    echo "$line busy_other=$bg"
}

if wants stream; then
    section_begin
    T_STREAM=$B/stream.rows
    : >"$T_STREAM"
    mkdir -p "$B/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$B/tls/key.pem" -out "$B/tls/cert.pem" -days 7 -subj /CN=bench 2>/dev/null
    declare -A SPID SPORT STPORT
    SPORT[icehubd]=$(free_port); STPORT[icehubd]=$(free_port)
    start_icehubd "${SPORT[icehubd]}" "$(free_port)" --turn.tls_listen=127.0.0.1:${STPORT[icehubd]} \
        --tls.cert="$B/tls/cert.pem" --tls.key="$B/tls/key.pem" --turn.max_tcp_connections=100000
    SPID[icehubd]=$SRV
    SPORT[coturn]=$(free_port); STPORT[coturn]=$(free_port)
    start_coturn "${SPORT[coturn]}" --tls-listening-port "${STPORT[coturn]}" \
        --cert "$B/tls/cert.pem" --pkey "$B/tls/key.pem"
    SPID[coturn]=$SRV
    loads=(
        "echo|tcp|--dir echo --rate $STREAM_RATE --window 4096"
        "echo|tls|--dir echo --rate $STREAM_RATE --window 4096"
        "c2p|tcp|--dir c2p"
        "c2p|tls|--dir c2p"
        "p2c|tcp|--dir p2c"
        "p2c|tls|--dir p2c"
    )
    for load in "${loads[@]}"; do
        IFS='|' read -r dir tr args <<<"$load"
        for ((rep = 1; rep <= REPEAT; rep++)); do
            for srv in icehubd coturn; do
                port=${SPORT[$srv]}
                [[ $tr == tls ]] && port=${STPORT[$srv]}
                # shellcheck disable=SC2086
                l=$(stream_run "$srv" "${SPID[$srv]}" "$port" --transport $tr \
                    --clients "$STREAM_CLIENTS" --seconds "$FSECS" $args)
                echo "relay $dir $tr $srv $rep $(kv rate "$l") $(kv server_us "$l") $(kv loss "$l") $(kv server_cpu "$l") $(kv seconds "$l") $(kv busy_other "$l")" >>"$T_STREAM"
            done
        done
    done
    for mode in full resumed; do
        for ((rep = 1; rep <= 2; rep++)); do
            for srv in icehubd coturn; do
                extra=()
                [[ $mode == resumed ]] && extra=(--resume)
                l=$(stream_run "$srv" "${SPID[$srv]}" "${STPORT[$srv]}" --handshakes "$STREAM_HS" \
                    --window 50 "${extra[@]}")
                echo "hs $mode $srv $rep $(kv rate "$l") $(kv server_us "$l") $(kv handshakes "$l") $(kv resumed "$l") $(kv failed "$l") $(kv busy_other "$l")" >>"$T_STREAM"
            done
        done
    done
    # A profile of icehubd on TLS at the fixed rate (not a measured run).
    profile "${SPID[icehubd]}" 2 stream-tls
    taskset -c 1 "$B/turn_stream" --server "127.0.0.1:${STPORT[icehubd]}" --transport tls \
        --clients "$STREAM_CLIENTS" --dir echo --rate "$STREAM_RATE" --window 4096 \
        --seconds 2.5 >/dev/null 2>&1
    profile_wait
    profile_note stream-tls
    stop_server "${SPID[icehubd]}" icehubd
    stop_server "${SPID[coturn]}" coturn
    STREAM_STATE=$(section_state)
fi

# stream_mean DIR TR SERVER FIELD: mean of a field (6 rate, 7 us) over runs.
stream_mean() {
    awk -v d="$1" -v t="$2" -v s="$3" -v f="$4" '$1 == "relay" && $2 == d && $3 == t && $4 == s {
        x += $f; n++ } END { printf "%.2f", n ? x / n : 0 }' "$T_STREAM"
}
hs_mean() {
    awk -v m="$1" -v s="$2" -v f="$3" '$1 == "hs" && $2 == m && $3 == s { x += $f; n++ }
        END { printf "%.1f", n ? x / n : 0 }' "$T_STREAM"
}

report_stream() {
    local co
    co=$(coturn_name)
    cat <<EOF
## TURN over TCP and TLS on loopback

Load: tests/bench/turn_stream.c, $STREAM_CLIENTS stream connections, each
holding one allocation (401, Allocate, CreatePermission, ChannelBind over
the stream), ChannelData of 100 bytes padded to 4 (RFC 8656 §12.5), one
frame per write (per TLS record, as browsers write them), all relaying to
one UDP peer socket:

- *echo*: $STREAM_RATE messages/s in all ($((2 * STREAM_RATE / 1000))k relayed packets/s), the
  peer sends each back, the clients read; both legs count. CPU per packet
  at a fixed rate, the issue's first measurement (there with
  turnutils_uclient).
- *c2p*: the clients write as fast as they can; the peer socket never
  reads and its drop counter counts what arrived (as in the UDP section).
- *p2c*: the peer sends to the $STREAM_CLIENTS relayed addresses in turn as fast as it
  can; the clients read their streams.

TLS: TLS 1.3, a self-signed P-256 ECDSA certificate, OpenSSL 3.0 on both
sides. Handshakes: $STREAM_HS connections, 50 at a time, each a TLS
handshake and a close_notify; *resumed* ones offer a session ticket from
an earlier connection (one use each, as browsers do; TLS 1.3 PSK with
(EC)DHE, so still a key exchange). Both servers run one relay thread on
CPU 0 and stay up for the whole section; each load ran $REPEAT times for
$FSECS s (handshakes twice), the servers interleaved.

| load | transport | server | relayed packets/s (runs) | server CPU µs per relayed packet (runs) | loss | vs $co: CPU | vs $co: rate |
|---|---|---|---|---|---|---|---|
EOF
    local dir tr srv
    for dir in echo c2p p2c; do
        for tr in tcp tls; do
            for srv in icehubd coturn; do
                awk -v d=$dir -v t=$tr -v s=$srv -v name="$([[ $srv == icehubd ]] && echo icehubd || echo "$co")" \
                    -v cu="$(stream_mean $dir $tr coturn 7)" -v cr="$(stream_mean $dir $tr coturn 6)" '
                    $1 == "relay" && $2 == d && $3 == t && $4 == s { r = r (n ? ", " : "") $6;
                        u = u (n ? ", " : "") $7; sr += $6; su += $7; n++; if ($8 + 0 > l) l = $8 + 0;
                        if ($11 > 15) dag = " †" }
                    END { if (!n) exit
                        printf "| %s | %s | %s%s | %.0f (%s) | %.2f (%s) | %.2f%% | %.2f | %.2f |\n",
                            d, toupper(t), name, dag, sr / n, r, su / n, u, l,
                            (cu > 0 ? su / n / cu : 0), (cr > 0 ? sr / n / cr : 0) }' "$T_STREAM"
            done
        done
    done
    cat <<EOF

| handshakes | server | handshakes/s | server CPU µs per handshake | resumed | failed |
|---|---|---|---|---|---|
EOF
    awk -v co="$co" '$1 == "hs" { k = $2 " " $3; r[k] += $5; u[k] += $6; res[k] += $8; f[k] += $9; n[k]++ }
        END { for (m = 1; m <= 2; m++) for (s = 1; s <= 2; s++) {
            mode = m == 1 ? "full" : "resumed"; srv = s == 1 ? "icehubd" : "coturn"; k = mode " " srv
            if (n[k]) printf "| %s | %s | %.0f | %.0f | %d | %d |\n", mode, s == 1 ? "icehubd" : co,
                r[k] / n[k], u[k] / n[k], res[k], f[k] } }' "$T_STREAM"
    echo
    echo "Targets (issue 16), means of the runs:"
    echo
    for tr in tcp tls; do
        echo "- ${tr^^}, echo at a fixed rate: icehubd's CPU per packet at most half of $co's: $(verdict "$(fmt_ratio "$(stream_mean echo $tr icehubd 7)" "$(stream_mean echo $tr coturn 7)")" 0.5 le)."
        for dir in c2p p2c; do
            echo "- ${tr^^}, $dir at saturation: icehubd's relayed packets/s at least 1.25x $co's: $(verdict "$(fmt_ratio "$(stream_mean $dir $tr icehubd 6)" "$(stream_mean $dir $tr coturn 6)")" 1.25 ge)."
        done
    done
    echo "- TLS handshakes (no target): full $(fmt_ratio "$(hs_mean full icehubd 5)" "$(hs_mean full coturn 5)")x $co's rate, resumed $(fmt_ratio "$(hs_mean resumed icehubd 5)" "$(hs_mean resumed coturn 5)")x."
    cat <<EOF

### What limits it

A profile of icehubd (perf, cpu-clock, 2 s) on TLS echo at the fixed rate:
$(cat "$RPT/stream-tls.profile" 2>/dev/null || echo "(not run)").

Over streams a relayed packet costs a TCP send or receive besides the UDP
leg, and on loopback the TCP send path also runs the receiving socket's
side (the ACK, the copy into the client's queue): the kernel's TCP
stack is most of the time, for both servers, and the same for both. At a
fixed rate each connection gets a frame every few milliseconds, so there
is nothing to put together: one read and one write per frame, as coturn
does; this is why icehubd cannot reach half of coturn's CPU per packet
here. What icehubd changed is where frames do meet: what a connection is
sent during one pass over the events leaves in one send (TLS: one record
per message, still, since turnutils_uclient and some clients take a record
for a message; the records share the send), and TLS reads ahead (one
read for all the records the socket holds, where OpenSSL otherwise reads a
5-byte header and then the body of each record). Those count at
saturation and in bursts. Kernel TLS would move the record encryption
into the kernel, but this kernel has no "tls" ULP (setsockopt TCP_ULP
"tls" gives ENOENT), so it was not tried. Handshakes are OpenSSL's
key exchange and signature, for both servers.

$STREAM_STATE
EOF
}

[[ -s ${T_STREAM:-/nonexistent} ]] && report_stream >"$RPT/stream.md"

true
