#!/bin/bash
# icehub - SPDX-License-Identifier: MIT
#
# HEALTHCHECK of the icehub container image: GET /livez on the first
# http.listen address of the effective configuration (the mounted
# /etc/icehub/icehub.conf, ICEHUB_* variables and defaults, as
# `icehubd --print-config` shows it); exit 0 on 200. Plain bash (/dev/tcp):
# the image carries no HTTP client.
set -u
CONF=/etc/icehub/icehub.conf
args=(--print-config)
[ -f "$CONF" ] && args+=(--config "$CONF")
listen=$(/usr/local/bin/icehubd "${args[@]}" 2>/dev/null |
    sed -n '/^http = {/,/^};/s/^ *listen = \[ *"\([^"]*\)".*/\1/p')
[ -n "$listen" ] || { echo "no http.listen"; exit 1; }
port=${listen##*:}
host=${listen%:*}
case "$host" in
    0.0.0.0) host=127.0.0.1 ;;
    "[::]") host=::1 ;;
    \[*\]) host=${host#[}; host=${host%]} ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
read -r -t 4 status <&3 || exit 1
case "$status" in
    "HTTP/1."?" 200"*) exit 0 ;;
esac
echo "livez: $status"
exit 1
