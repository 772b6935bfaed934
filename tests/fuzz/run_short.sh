#!/bin/bash
# A short libFuzzer run of every fuzz target, starting from the seed corpus
# (with the target's dictionary, tests/fuzz/NAME.dict, if it has one).
# Any crash fails the suite. The targets share FUZZ_SHORT_TOTAL seconds
# (default 60), so adding one does not make `make test` longer;
# FUZZ_SHORT_SECONDS sets the time of each instead.
set -u
bins=()
for bin in build/fuzz/fuzz_*; do
    [ -x "$bin" ] && bins+=("$bin")
done
total=${FUZZ_SHORT_TOTAL:-60}
secs=${FUZZ_SHORT_SECONDS:-$(( total / (${#bins[@]} > 0 ? ${#bins[@]} : 1) ))}
[ "$secs" -ge 1 ] || secs=1
pass=0
fail=0
for bin in "${bins[@]}"; do
    name=$(basename "$bin")
    target=${name#fuzz_}
    work=$(mktemp -d)
    cp -r "tests/fuzz/corpus/$target/." "$work/" 2>/dev/null
    log="tests/artifacts/$name.log"
    dict=()
    [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
    if "$bin" -max_total_time="$secs" -max_len=2048 -artifact_prefix="tests/artifacts/$name-" \
        "${dict[@]}" "$work" >"$log" 2>&1; then
        echo "  ok   $name: $(grep -E '^(#[0-9]+\s+DONE|Done)' "$log" | tail -1)"
        pass=$((pass + 1))
    else
        echo "  FAIL $name - see $log"
        tail -30 "$log" | sed 's/^/      /'
        fail=$((fail + 1))
    fi
    rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed"
[ -n "${ICEHUB_RESULTS:-}" ] && echo "fuzz $pass $fail" >>"$ICEHUB_RESULTS"
[ "$fail" -eq 0 ]
