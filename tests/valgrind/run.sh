#!/bin/bash
# make valgrind: the integration suite against icehubd under valgrind
# memcheck. Every daemon a test starts runs as
#   valgrind --tool=memcheck --leak-check=full ... bin/icehubd ARGS
# through the wrapper build/valgrind/icehubd (ICEHUB_BIN), with test
# timeouts scaled by ICEHUB_TIME_SCALE (default 20: memcheck is about that
# much slower) and the UDP storm scaled down to what such a daemon answers
# in the same time (ICEHUB_STORM_PACKETS). Then every memcheck log (build/valgrind/logs/) must say
# "ERROR SUMMARY: 0 errors" and "definitely lost: 0 bytes". Suppressions of
# third-party code: tests/valgrind/icehub.supp (each with its reason).
# Freed blocks are handed out again after 1 MB of frees (--freelist-vol),
# not 20 MB: several tests bound the daemon's RSS growth, and memcheck's
# default would add 20 MB of freed-but-held memory to it. Use-after-free
# is what the ASan run of the same suite (make test) checks.
# usage: run.sh [test-name-filter]
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
V=build/valgrind
rm -rf "$V/logs"
mkdir -p "$V/logs" tests/artifacts
cat >"$V/icehubd" <<WRAP
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \\
    --errors-for-leak-kinds=definite --num-callers=30 --track-origins=no \\
    --freelist-vol=1000000 \\
    --suppressions=$ROOT/tests/valgrind/icehub.supp \\
    --log-file=$ROOT/$V/logs/vg.%p.log $ROOT/bin/icehubd "\$@"
WRAP
chmod +x "$V/icehubd"
start=$(date +%s)
ICEHUB_BIN=$ROOT/$V/icehubd ICEHUB_LABEL=valgrind \
    ICEHUB_TIME_SCALE=${ICEHUB_TIME_SCALE:-20} \
    ICEHUB_STORM_PACKETS=${ICEHUB_STORM_PACKETS:-5000} \
    /usr/bin/python3 tests/integration/run.py "${1:-}"
suite=$?
logs=0 bad=0
for f in "$V"/logs/vg.*.log; do
    [ -e "$f" ] || continue
    logs=$((logs + 1))
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" | tail -1 | tr -d ,)
    lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -1 | tr -d ,)
    cmd=$(sed -n 's/.*Command: //p' "$f" | head -1 | cut -c1-100)
    if [ -z "$errs" ]; then
        # A process that did not exit through valgrind (kill -9 in a test):
        # nothing to judge, but say so.
        echo "  --   $(basename "$f"): no summary (killed): $cmd"
        continue
    fi
    if [ "$errs" != 0 ] || [ "${lost:-0}" != 0 ]; then
        echo "  FAIL $(basename "$f"): $errs errors, ${lost:-0} bytes definitely lost: $cmd"
        bad=$((bad + 1))
    fi
done
echo "valgrind: $logs memcheck logs, $bad with errors or definite leaks;" \
     "suite exit $suite; $(( $(date +%s) - start )) s"
[ "$suite" -eq 0 ] && [ "$bad" -eq 0 ]
