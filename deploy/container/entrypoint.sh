#!/bin/sh
# icehub - SPDX-License-Identifier: MIT
#
# Entry point of the icehub container image (deploy/Dockerfile). With no
# arguments, or only options (--section.key=value, --check-config, ...), it
# runs icehubd as PID 1 (exec, so SIGTERM and SIGHUP reach it) and adds
# --config /etc/icehub/icehub.conf when that file exists; ICEHUB_*
# variables apply on top of the file as usual. `usage LEDGER...` runs the
# ledger report; any other command runs as given (say, `sh`).
set -eu
CONF=/etc/icehub/icehub.conf

if [ "${1:-}" = "usage" ]; then
    exec /usr/local/bin/icehubd "$@"
fi
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
    if [ -f "$CONF" ]; then
        set -- --config "$CONF" "$@"
    fi
    exec /usr/local/bin/icehubd "$@"
fi
exec "$@"
