#!/bin/sh
# icehub: install every Debian 12 package that building, running and testing need.
# This script is the single source of truth for dependencies. It is idempotent: it
# checks what is installed and only calls apt-get when something is missing.
# Usage: deploy/install-deps.sh [--quiet]
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev llvm \
libwebsockets-dev libssl-dev libconfig-dev libjansson-dev libhiredis-dev \
libnice-dev libsrtp2-dev libglib2.0-dev libcmocka-dev \
coturn stun-client python3 prometheus iproute2 procps"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    [ "${1:-}" = "--quiet" ] || echo "install-deps: all packages present"
    exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# coturn's package would start turnserver as a system service; our tests run their own
# servers, so forbid service starts during the install (policy-rc.d exit 101).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# Make sure no packaged turnserver is left running to squat on 3478.
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
fi
pkill -x turnserver >/dev/null 2>&1 || true
echo "install-deps: done"
