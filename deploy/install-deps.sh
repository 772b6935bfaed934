#!/bin/sh
# icehub: install the Debian 12 packages that building, running and testing need, and
# the npm package of the browser tests (tests/browser) and of ice/icehub-browser-check.
# This script is the single source of
# truth for dependencies. It is idempotent: it checks what is installed and only calls
# apt-get or npm when something is missing, so it stays fast at every `make test`.
#
# Usage: deploy/install-deps.sh [--build-only] [--quiet] [--list]
#   --build-only  only what `make` needs to build and run bin/icehubd (BUILD_PKGS);
#                 `make` and `make run` use this, `make test` installs everything
#   --quiet       say nothing when nothing is missing
#   --list        print the packages of the chosen set, one a line, and exit
#
# Services: the install leaves every service as it found it. It never stops, disables
# or kills a service that was running before it began (a turnserver of your own keeps
# running). While apt-get runs, service starts are refused through
# /usr/sbin/policy-rc.d (exit 101), which this script adds only when there is none and
# removes afterwards; a policy-rc.d of your own is left as it is. If a package installed
# by this very run still started or enabled a service under systemd, that service (and
# only that one) is stopped or disabled again afterwards.
set -eu

# What `make` needs: a C toolchain, pkg-config, the libraries icehubd links (hiredis for
# the Redis federation, docs/scaling.md; and lws's libev event-loop plugin, which it loads
# at start), and what icehub-probe (ice/) links on top: libnice with its GLib, libsrtp2,
# and lws's GLib event-loop plugin (the probe runs lws on libnice's GMainLoop).
BUILD_PKGS="build-essential pkg-config libwebsockets-dev libssl-dev libconfig-dev \
libjansson-dev liburing-dev libev-dev libwebsockets-evlib-ev libhiredis-dev libnice-dev libsrtp2-dev \
libglib2.0-dev libwebsockets-evlib-glib"
# What `make test` needs on top: clang and libFuzzer for the fuzz targets, cmocka for
# the unit tests, clients nobody here wrote (coturn's turnutils_* and turnserver, the
# stun client, python3-websockets, Chromium), promtool (prometheus), iproute2 and procps
# for the tests' network set-up and process checks (the NAT lab, tests/natlab, also
# needs iptables, below), the openssl command for test certificates, and redis-server,
# which the cluster tests start as a plain process on loopback (its packaged service is
# left stopped, see Services above).
TEST_PKGS="clang libclang-rt-14-dev llvm libcmocka-dev coturn stun-client \
python3 python3-websockets prometheus iproute2 procps chromium openssl redis-server"
# Deployment tests (make test-deploy, tests/deploy/): podman and buildah build and
# run the image, debootstrap makes its base image, podman-compose reads
# deploy/compose.yaml, systemd-analyze checks the unit, iptables makes the NAT of
# tests/integration/test_extip.py and the NAT lab's routers (tests/natlab). Their npm half is tests/deploy/package.json.
DEPLOY_PKGS="podman buildah runc debootstrap podman-compose systemd iptables"
TEST_PKGS="$TEST_PKGS $DEPLOY_PKGS"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The tests point this at a scratch file; everyone else gets Debian's path.
POLICY_RC_D=${ICEHUB_POLICY_RC_D:-/usr/sbin/policy-rc.d}
QUIET=""
BUILD_ONLY=""
LIST=""
for arg in "$@"; do
    case $arg in
    --quiet) QUIET=1 ;;
    --build-only) BUILD_ONLY=1 ;;
    --list) LIST=1 ;;
    *)
        echo "install-deps: unknown option $arg (use --build-only, --quiet, --list)" >&2
        exit 2
        ;;
    esac
done

PKGS=$BUILD_PKGS
[ -n "$BUILD_ONLY" ] || PKGS="$BUILD_PKGS $TEST_PKGS"
if [ -n "$LIST" ]; then
    for p in $PKGS; do echo "$p"; done
    exit 0
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$BUILD_ONLY" ]; then
    # The browser test (tests/browser) needs node and npm. A node from elsewhere (say
    # NodeSource's nodejs, which bundles npm) is kept: Debian's packages come in only
    # for a command that is missing.
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# Service units in state $1 (active or enabled), one a line.
units_in_state() {
    if [ "$1" = active ]; then
        systemctl list-units --type=service --state=active --no-legend --plain 2>/dev/null
    else
        systemctl list-unit-files --type=service --state=enabled --no-legend 2>/dev/null
    fi | awk '{print $1}' | sort -u
}

# Undo what the packages this run installed did to services despite policy-rc.d: stop
# a unit that is active now and was not before, disable one enabled now and not
# before, and only when one of those packages ships the unit.
restore_services() {
    ours=$(for p in $missing; do dpkg -L "$p" 2>/dev/null; done |
        sed -n 's|.*/systemd/system/\([^/]*\.service\)$|\1|p' | sort -u)
    [ -n "$ours" ] || return 0
    for state in active enabled; do
        units_in_state $state >"$STATE_DIR/$state.after"
        for u in $(comm -13 "$STATE_DIR/$state.before" "$STATE_DIR/$state.after"); do
            echo "$ours" | grep -qx "$u" || continue
            if [ $state = active ]; then
                echo "install-deps: stopping $u, which this install started"
                $SUDO systemctl stop "$u" || true
            else
                echo "install-deps: disabling $u, which this install enabled"
                $SUDO systemctl disable "$u" >/dev/null 2>&1 || true
            fi
        done
    done
}

cleanup() {
    if [ -n "${ADDED_POLICY:-}" ]; then
        $SUDO rm -f "$POLICY_RC_D"
    fi
    [ -z "${STATE_DIR:-}" ] || rm -rf "$STATE_DIR"
}

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # Packages such as coturn and prometheus would start their daemons as system
    # services; forbid service starts for the length of this install only.
    if [ ! -e "$POLICY_RC_D" ]; then
        printf '#!/bin/sh\n# added by icehub deploy/install-deps.sh for one install\nexit 101\n' |
            $SUDO tee "$POLICY_RC_D" >/dev/null
        $SUDO chmod +x "$POLICY_RC_D"
        ADDED_POLICY=1
    fi
    STATE_DIR=$(mktemp -d)
    # Under systemd a package's postinst may enable its units; without it (a
    # container, say) policy-rc.d alone decides, as invoke-rc.d asks it first.
    HAVE_SYSTEMD=""
    case $(systemctl is-system-running 2>/dev/null || true) in
    "" | offline | unknown) ;;
    *) HAVE_SYSTEMD=1 ;;
    esac
    if [ -n "$HAVE_SYSTEMD" ]; then
        units_in_state active >"$STATE_DIR/active.before"
        units_in_state enabled >"$STATE_DIR/enabled.before"
    fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
    [ -z "$HAVE_SYSTEMD" ] || restore_services
fi

if [ -z "$BUILD_ONLY" ]; then
    # playwright-core for the browser tests and for ice/icehub-browser-check, at the
    # version each package.json pins (and package-lock.json locks); npm ci again when
    # node_modules has another one. It drives Debian's /usr/bin/chromium; no browser is
    # ever downloaded (never `playwright install`).
    for dir in "$ROOT/tests/browser" "$ROOT/ice"; do
        want=$(sed -n 's/^ *"playwright-core": *"\([^"]*\)".*/\1/p' "$dir/package.json" |
            head -n 1)
        have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
            "$dir/node_modules/playwright-core/package.json" 2>/dev/null | head -n 1)
        if [ "$want" != "$have" ]; then
            echo "install-deps: npm ci in ${dir#"$ROOT"/} (playwright-core $want)"
            (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
                npm ci --no-audit --no-fund --loglevel=error)
            missing="$missing playwright-core"
        fi
    done

    # The deployment tests' linters and schema validators (tests/deploy/package.json,
    # locked by its package-lock.json): npm ci when node_modules is missing or older.
    DEPLOY_DIR="$ROOT/tests/deploy"
    if [ ! -e "$DEPLOY_DIR/node_modules/.package-lock.json" ] ||
        [ "$DEPLOY_DIR/package-lock.json" -nt "$DEPLOY_DIR/node_modules/.package-lock.json" ]; then
        echo "install-deps: npm ci in tests/deploy"
        (cd "$DEPLOY_DIR" && npm ci --no-audit --no-fund --loglevel=error)
        missing="$missing tests/deploy"
    fi
fi

if [ -z "$missing" ]; then
    [ -n "$QUIET" ] || echo "install-deps: all packages present"
else
    echo "install-deps: done"
fi
