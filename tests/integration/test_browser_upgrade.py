"""A live upgrade under a real call: two Debian Chromium pages (driven by
tests/browser/upgrade_test.mjs with playwright-core; no browser is ever
downloaded) join one room through icehubd's demo page, relay only, with the
credentials the hub hands out, and exchange a numbered DataChannel message
every 20 ms each way through icehubd's TURN relay over UDP. Meanwhile a
second icehubd takes over with --upgrade. Afterwards both pages resumed on
the new process with their peer ids (no rejoin), their RTCPeerConnection
and DataChannel are the ones they had, every message arrived in order, the
pair is still relay/relay, and a hub signal by the old id gets through. The
old process exits by itself (after turn.drain_timeout: Chromium's TURN/TCP
allocations stay with it); the new one's /metrics shows the allocations it
took over and the resumes.

Chromium may pick a pair on its TURN/TCP allocation instead. Such an
allocation cannot move; icehub.js restarts ICE after the resume, onto the
new process, while the old one still relays. A second call with only the
TURN/TCP URL shows that: never "failed", nothing lost, and afterwards the
pair runs through an allocation over TCP on the new process.

Needs: /usr/bin/chromium, node and tests/browser/node_modules (deploy/install-deps.sh).
"""
import json
import os
import signal
import subprocess
import tempfile

from harness import ARTIFACTS, ROOT, SCALE, Daemon, wait_for
from test_browser import CHROMIUM, ensure_non_loopback_ipv4
from test_upgrade import successor

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "upgrade_test.mjs")


def read_json_line(p, want):
    """The next JSON line from node's stdout with "step" == want (or done)."""
    for line in p.stdout:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("step") == want or r.get("done"):
            return r
    return None


# The old process serves its TCP connections this long after the upgrade:
# room for the pages to resume and move off stream allocations (icehub.js).
DRAIN = 6


def upgrade_call(name, turn_transport=None):
    """One call through an --upgrade; returns (connected, after, old allocations,
    the new process's metrics)."""
    assert os.path.exists(CHROMIUM), "no /usr/bin/chromium: run deploy/install-deps.sh"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "no tests/browser/node_modules: run deploy/install-deps.sh"
    cleanup = ensure_non_loopback_ipv4()
    tmp = tempfile.TemporaryDirectory()
    args = ["--turn.allowed_peers=127.0.0.0/8", "--signal.resume_seconds=20",
            f"--turn.drain_timeout={DRAIN}",
            f"--upgrade.socket={os.path.join(tmp.name, 'upgrade.sock')}"]
    old = Daemon(f"{name}-old", args=args)
    new = None
    errpath = os.path.join(ARTIFACTS, f"{name}-node.log")
    p = None
    try:
        old.start()
        cfg = {"base": f"http://127.0.0.1:{old.http_port}", "room": "upgrade-room",
               "artifacts": ARTIFACTS, "timeout_ms": int(15000 * SCALE), "executable": CHROMIUM,
               "turn_transport": turn_transport}
        with open(errpath, "wb") as errf:
            p = subprocess.Popen(["node", SCRIPT, json.dumps(cfg)], cwd=BROWSER_DIR,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                                 text=True)
        connected = read_json_line(p, "connected")
        assert connected and connected.get("step") == "connected", \
            f"pages did not connect: {connected}; see {errpath}"
        allocs = old.metrics()["icehub_turn_allocations_active"]
        assert allocs >= 2, allocs
        new = successor(old, f"{name}-new")
        new.start()
        assert wait_for(lambda: old.proc.poll() is not None, DRAIN + 10), old.log()[-2000:]
        assert old.proc.returncode == 0, old.log()[-2000:]
        p.stdin.write("upgraded\n")
        p.stdin.flush()
        after = read_json_line(p, "after")
        with open(os.path.join(ARTIFACTS, f"{name}-results.json"), "w") as f:
            json.dump({"connected": connected, "after": after}, f, indent=1)
        if not (after and after.get("ok")):
            # The new hub's side of it: did the pages come back, resume or fail?
            m = {k: v for k, v in new.metrics().items() if k.startswith(
                ("icehub_signal_", "icehub_turn_allocations_active")) and "seconds" not in k}
            assert False, f"after the upgrade: {json.dumps(after)[:3000]}; the new process: {m}"
        rc = p.wait(30)
        assert rc == 0, rc
        print(f"      longest gap between DataChannel messages: "
              f"a {after['a']['longest_gap_ms']} ms, b {after['b']['longest_gap_ms']} ms; "
              f"a relayed over {connected.get('relay_a')} before the upgrade",
              flush=True)
        m = new.metrics()
        assert m['icehub_signal_resumes_total{result="success"}'] >= 2
        assert m['icehub_signal_resumes_total{result="failure"}'] == 0
        rc, _ = new.stop(signal.SIGINT)  # at once, not a drain
        assert rc == 0, new.log()[-2000:]
        return connected, after, allocs, m
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        old.stop()
        if new:
            new.stop()
        tmp.cleanup()
        if cleanup:
            cleanup()


def test_chromium_call_survives_a_live_upgrade():
    connected, after, allocs, m = upgrade_call("upgrade-browser")
    # Each page's UDP allocations moved (its TCP ones stayed with the old process).
    assert 2 <= m["icehub_upgrade_allocations"] <= allocs, (m, allocs)


def test_chromium_call_over_turn_tcp_moves_off_the_old_process():
    connected, after, allocs, m = upgrade_call("upgrade-browser-tcp", turn_transport="tcp")
    assert connected["relay_a"] == "tcp", connected
    assert m["icehub_upgrade_allocations"] == 0, m  # nothing over UDP to move
    # Each side resumed on a TCP pair and ICE restarted (new credentials came
    # with the resume, or icehub.js left the stream allocation): the pair
    # moved onto allocations of the new process before the old one ended.
    assert after["a"]["ice_restarts"] + after["b"]["ice_restarts"] >= 1, after
    for r in (after["a"], after["b"]):
        assert r["pair_before"].startswith("tcp:"), r["pair_before"]
        assert not r["pair_before"].startswith(f"tcp:{r['pair']['local']['port']}-"), r
    assert m["icehub_turn_allocations_total{result=\"success\"}"] >= 2, m
