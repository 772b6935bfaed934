#!/bin/sh
# Run cmocka unit-test binaries and count their results (TAP output).
# usage: tests/run_unit.sh LABEL BINARY...
# Prints one line per binary and "LABEL: N passed, N failed" last; appends
# "LABEL P F" to $ICEHUB_RESULTS when set. Exit 1 if anything failed.
label=$1
shift
pass=0
fail=0
mkdir -p tests/artifacts
for t in "$@"; do
    name=$(echo "$t" | sed 's|^build/[^/]*/tests/||')
    log="tests/artifacts/unit-$label-$(echo "$name" | tr '/' '_').log"
    CMOCKA_MESSAGE_OUTPUT=TAP ICEHUB_SRCDIR=. "./$t" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # Crashed or aborted (a sanitizer report, say) without a TAP failure line.
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "  $name: ran no test" >>"$log"
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    if [ "$f" -gt 0 ]; then
        echo "  FAIL $label $name ($p passed, $f failed) - see $log"
        grep -E '^not ok|ERROR|runtime error|Sanitizer' "$log" | head -20 | sed 's/^/      /'
    else
        echo "  ok   $label $name ($p passed)"
    fi
done
echo "$label: $pass passed, $fail failed"
[ -n "$ICEHUB_RESULTS" ] && echo "$label $pass $fail" >>"$ICEHUB_RESULTS"
[ "$fail" -eq 0 ]
