#!/bin/bash
# tests/bench/cluster.sh: the signaling hub across nodes through Redis
# (sourced by run.sh, after signal.sh, whose sig_hist and hist_q it uses):
# relay latency and rate at BENCH_CLUSTER_RATE messages/s and the join rate,
# one node without Redis against two nodes federated through a
# redis-server of the benchmark's own. Writes $RPT/cluster.md.

CLU_RATE=${BENCH_CLUSTER_RATE:-10000}
CLU_PAIRS=${BENCH_CLUSTER_PAIRS:-1}
CLU_JOINS=${BENCH_CLUSTER_JOINS:-2000}

# start_node HTTP_PORT [REDIS_PORT NAME]: icehubd for the cluster loads (the
# limits of start_sig), pinned to CPU 0; with REDIS_PORT a node of that
# Redis. Sets NODE.
start_node() {
    local port extra=()
    port=$(free_port)
    [[ -n ${2:-} ]] && extra=(--redis.url=redis://127.0.0.1:$2 --redis.node_id=$3)
    taskset -c 0 ./bin/icehubd --turn.listen=127.0.0.1:$port --http.listen=127.0.0.1:$1 \
        --turn.threads=1 --log.level=warn --signal.rate=1000000 --signal.burst=1000000 \
        --signal.max_connections_per_ip=1000000 --signal.max_rooms=1000000 \
        --signal.drain_delay=0 --signal.open=true "${extra[@]}" >>"$A/bench-icehubd.log" 2>&1 &
    NODE=$!
    PIDS+=($NODE)
    wait_port "$1" || sleep 0.5
    alive $NODE icehubd "$A/bench-icehubd.log"
}

# A redis-server of the benchmark's own on CPU 0 (never the packaged
# service), without persistence. Sets REDIS.
start_redis() {
    taskset -c 0 redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
        --loglevel warning >>"$A/bench-redis.log" 2>&1 &
    REDIS=$!
    PIDS+=($REDIS)
    for _ in $(seq 50); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "error: redis-server did not start"
    return 1
}

wait_cluster_up() {
    local p
    for p in "$@"; do
        for _ in $(seq 100); do
            curl -s "127.0.0.1:$p/metrics" | grep -q '^icehub_cluster_up 1$' && break
            sleep 0.1
        done
    done
}

# cluster_relay LABEL HPORT_A HPORT_B PID...: one paced relay run (peer A of
# each pair on the first node, B on the second) with the CPU of the given
# processes; appends a row to T_CLU.
cluster_relay() {
    local label=$1 ha=$2 hb=$3 line c0=0 c1=0 p got us bg b0 b1 el gen h0 h1
    shift 3
    wait_quiet
    b0=$(busy_ticks)
    h0=$(sig_hist "$hb")
    for p in "$@"; do c0=$((c0 + $(cpu_ticks "$p"))); done
    line=" $(taskset -c 1 "$B/sig_load" relay 127.0.0.1 "$ha" "$CLU_RATE" "$SECS" "$CLU_PAIRS" \
        "$hb" 2>>"$LOG")" || true
    for p in "$@"; do c1=$((c1 + $(cpu_ticks "$p"))); done
    h1=$(sig_hist "$hb")
    b1=$(busy_ticks)
    got=$(kv received "$line"); el=$(kv seconds "$line"); gen=$(kv gen_cpu_s "$line")
    us=$(us_per $((c1 - c0)) "${got:-0}")
    bg=$(awk -v b=$((b1 - b0)) -v s=$((c1 - c0)) -v g="${gen:-0}" -v el="${el:-1}" -v hz="$HZ" \
        'BEGIN { o = (b - s) / hz - g; if (o < 0) o = 0; printf "%.0f", (el > 0 ? 100 * o / el : 0) }')
    log "cluster relay ($label): $line server_cpu_ticks=$((c1 - c0)) busy_other~$bg%"
    echo "relay|$label|$(kv rate "$line")|$(kv p50_us "$line")|$(kv p99_us "$line")|$(kv p999_us "$line")|$(hist_q "$h0" "$h1" 0.5)|$(hist_q "$h0" "$h1" 0.99)|$us|$bg" >>"$T_CLU"
}

cluster_joins() {
    local label=$1 ha=$2 hb=$3 line
    wait_quiet
    line=" $(taskset -c 1 "$B/sig_load" joins 127.0.0.1 "$ha" "$hb" "$CLU_JOINS" 2>>"$LOG")" || true
    log "cluster joins ($label): $line"
    echo "joins|$label|$(kv joins "$line")|$(kv seconds "$line")|$(kv rate "$line")" >>"$T_CLU"
}

bench_cluster() {
    local h1 h2 rp n1 n2 r
    # One node, no Redis: the baseline.
    h1=$(free_port)
    start_node "$h1"
    n1=$NODE
    for ((r = 1; r <= REPEAT; r++)); do cluster_relay "one-node" "$h1" "$h1" "$n1"; done
    cluster_joins "one-node" "$h1" "$h1"
    stop_server "$n1" icehubd
    # Two nodes and Redis: A on node 1, B on node 2.
    rp=$(free_port)
    start_redis "$rp"
    h1=$(free_port)
    start_node "$h1" "$rp" bench1
    n1=$NODE
    h2=$(free_port)
    start_node "$h2" "$rp" bench2
    n2=$NODE
    wait_cluster_up "$h1" "$h2"
    for ((r = 1; r <= REPEAT; r++)); do
        cluster_relay "two-nodes" "$h1" "$h2" "$n1" "$n2" "$REDIS"
    done
    cluster_joins "two-nodes" "$h1" "$h2"
    stop_server "$n1" icehubd
    stop_server "$n2" icehubd
    stop_server "$REDIS" redis-server
}

if wants cluster; then
    section_begin
    T_CLU=$B/cluster.rows
    : >"$T_CLU"
    if command -v redis-server >/dev/null; then
        bench_cluster
    else
        log "cluster: no redis-server (make deps installs it); section not run"
    fi
    CLU_STATE=$(section_state)
fi

report_cluster() {
    cat <<EOF
## Signaling across nodes (Redis federation)

Load: tests/bench/sig_load.c on CPU 1, as in the signaling section; the
icehubd nodes and a redis-server of the benchmark's own (no persistence)
share CPU 0. "one-node": both peers of each pair on one icehubd without
Redis. "two-nodes": peer A on node 1, peer B on node 2, federated through
Redis (docs/scaling.md): each signal goes A -> node 1's hub -> its Redis
thread -> PUBLISH on the room's channel -> node 2's Redis thread -> its
hub -> B. Latency is client send to client receive; the hub columns are the
receiving node's histogram (for two nodes it starts when that hub takes the
message from its Redis thread). Server CPU sums every server process of the
setup (both nodes and redis-server) per message delivered. $CLU_PAIRS
pair(s), $CLU_RATE messages/s for $SECS s, $REPEAT runs each. Other
processes' CPU during a run is in % of one core (a † above 15%).

| setup | messages/s delivered | p50 µs | p99 µs | p99.9 µs | hub p50 µs | hub p99 µs | server CPU µs per message | other processes |
|---|---|---|---|---|---|---|---|---|
EOF
    awk -F'|' '$1 == "relay" { printf "| %s | %s | %s | %s | %s | ≤ %s | ≤ %s | %s | %s%%%s |\n",
        $2, $3, $4, $5, $6, $7, $8, $9, $10, ($10 > 15 ? " †" : "") }' "$T_CLU"
    cat <<EOF

**Join rate**: $CLU_JOINS WebSockets (for two nodes every other one on node 2)
join rooms of two at once, one peer of each room on each node; the time
from the first join sent to the last "joined" read. A cluster join is a
Lua script in Redis (the id and the room size checked for the whole
cluster) whose message comes back on the room's channel before the hub
answers, after a SUBSCRIBE for the first peer of a room on a node.

| setup | joins | seconds | joins/s |
|---|---|---|---|
EOF
    awk -F'|' '$1 == "joins" { printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5 }' "$T_CLU"
    cat <<EOF

$CLU_STATE
EOF
}

[[ -s ${T_CLU:-/nonexistent} ]] && report_cluster >"$RPT/cluster.md"

true
