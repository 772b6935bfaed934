#!/bin/sh
# icehub: install every Debian 12 package that building, running and testing need, and
# the npm package of the browser tests (tests/browser) and of ice/icehub-browser-check. This script is the single source of
# truth for dependencies. It is idempotent: it checks what is installed and only calls
# apt-get or npm when something is missing, so it stays fast at every `make test`.
# Usage: deploy/install-deps.sh [--quiet]
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev llvm \
libwebsockets-dev libssl-dev libconfig-dev libjansson-dev libhiredis-dev \
libnice-dev libsrtp2-dev libglib2.0-dev libcmocka-dev \
coturn stun-client python3 python3-websockets prometheus iproute2 procps chromium \
iptables openssl"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUIET=""
[ "${1:-}" = "--quiet" ] && QUIET=1

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# The browser test (tests/browser) needs node and npm. A node from elsewhere (say
# NodeSource's nodejs, which bundles npm) is kept: Debian's packages come in only for a
# command that is missing.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
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
fi

# playwright-core for the browser tests and for ice/icehub-browser-check, at the version
# each package.json pins (and package-lock.json locks); npm ci again when node_modules has
# another one. It drives Debian's /usr/bin/chromium; no browser is ever downloaded (never
# `playwright install`).
for dir in "$ROOT/tests/browser" "$ROOT/ice"; do
    want=$(sed -n 's/^ *"playwright-core": *"\([^"]*\)".*/\1/p' "$dir/package.json" | head -n 1)
    have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
        "$dir/node_modules/playwright-core/package.json" 2>/dev/null | head -n 1)
    if [ "$want" != "$have" ]; then
        echo "install-deps: npm ci in ${dir#"$ROOT"/} (playwright-core $want)"
        (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
            npm ci --no-audit --no-fund --loglevel=error)
        missing="$missing playwright-core"
    fi
done

if [ -z "$missing" ]; then
    [ -n "$QUIET" ] || echo "install-deps: all packages present"
else
    echo "install-deps: done"
fi
