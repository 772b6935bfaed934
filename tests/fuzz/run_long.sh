#!/bin/bash
# Long libFuzzer runs: `make fuzz` (time MODE: SECONDS per target) and
# `make fuzz-long` (runs MODE: until each target has run N inputs).
# usage: run_long.sh time|runs N build/fuzz/fuzz_NAME...
# Each target starts from its seeds (tests/fuzz/corpus/NAME) plus what
# earlier runs found (build/fuzz/corpus-NAME, where new inputs go), with
# tests/fuzz/NAME.dict when there is one. One line per target goes to
# build/fuzz/long-report.txt: name, inputs run, seconds, inputs/s, corpus
# size, date. A crash stops the run; the input is left in
# build/fuzz/crash-NAME-*.
set -u
mode=$1 n=$2
shift 2
report=build/fuzz/long-report.txt
mkdir -p build/fuzz
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $mode $n on $(nproc) CPUs" >>"$report"
for bin in "$@"; do
    name=$(basename "$bin")
    target=${name#fuzz_}
    corpus=build/fuzz/corpus-$target
    mkdir -p "$corpus"
    args=(-max_len=4096 -print_final_stats=1 -artifact_prefix="build/fuzz/crash-$target-")
    [ -f "tests/fuzz/$target.dict" ] && args+=(-dict="tests/fuzz/$target.dict")
    if [ "$mode" = runs ]; then args+=(-runs="$n"); else args+=(-max_total_time="$n"); fi
    log=build/fuzz/long-$target.log
    echo "== $name ($mode $n)"
    start=$(date +%s)
    if ! "$bin" "${args[@]}" "$corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
        echo "   CRASH: see $log"
        tail -40 "$log"
        exit 1
    fi
    secs=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    size=$(ls "$corpus" | wc -l)
    line="$target runs=$runs seconds=$secs exec_per_s=$rate corpus=$size date=$(date -u +%F)"
    echo "   $line"
    echo "$line" >>"$report"
done
