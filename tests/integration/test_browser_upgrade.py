"""A live upgrade under a real call: two Debian Chromium pages (driven by
tests/browser/upgrade_test.mjs with playwright-core; no browser is ever
downloaded) join one room through icehubd's demo page, relay only, with the
credentials the hub hands out, and exchange a numbered DataChannel message
every 20 ms each way through icehubd's TURN relay over UDP. Meanwhile a
second icehubd takes over with --upgrade. Afterwards both pages resumed on
the new process with their peer ids (no rejoin), their RTCPeerConnection
and DataChannel are the ones they had, every message arrived in order, the
pair is still relay/relay, and a hub signal by the old id gets through. The
old process exits by itself; the new one's /metrics shows the allocations
it took over and the resumes.

Needs: /usr/bin/chromium, node and tests/browser/node_modules (deploy/install-deps.sh).
"""
import json
import os
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


def test_chromium_call_survives_a_live_upgrade():
    assert os.path.exists(CHROMIUM), "no /usr/bin/chromium: run deploy/install-deps.sh"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "no tests/browser/node_modules: run deploy/install-deps.sh"
    cleanup = ensure_non_loopback_ipv4()
    tmp = tempfile.TemporaryDirectory()
    args = ["--turn.allowed_peers=127.0.0.0/8", "--signal.resume_seconds=20",
            f"--upgrade.socket={os.path.join(tmp.name, 'upgrade.sock')}"]
    old = Daemon("browser-upgrade-old", args=args)
    new = None
    errpath = os.path.join(ARTIFACTS, "upgrade-browser-node.log")
    p = None
    try:
        old.start()
        cfg = {"base": f"http://127.0.0.1:{old.http_port}", "room": "upgrade-room",
               "artifacts": ARTIFACTS, "timeout_ms": int(15000 * SCALE), "executable": CHROMIUM}
        with open(errpath, "wb") as errf:
            p = subprocess.Popen(["node", SCRIPT, json.dumps(cfg)], cwd=BROWSER_DIR,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                                 text=True)
        connected = read_json_line(p, "connected")
        assert connected and connected.get("step") == "connected", \
            f"pages did not connect: {connected}; see {errpath}"
        m0 = old.metrics()
        allocs = m0["icehub_turn_allocations_active"]
        assert allocs >= 2, m0
        new = successor(old, "browser-upgrade-new")
        new.start()
        assert wait_for(lambda: old.proc.poll() is not None, 10), old.log()[-2000:]
        assert old.proc.returncode == 0, old.log()[-2000:]
        p.stdin.write("upgraded\n")
        p.stdin.flush()
        after = read_json_line(p, "after")
        with open(os.path.join(ARTIFACTS, "upgrade-browser-results.json"), "w") as f:
            json.dump({"connected": connected, "after": after}, f, indent=1)
        assert after and after.get("ok"), f"after the upgrade: {json.dumps(after)[:3000]}"
        rc = p.wait(30)
        assert rc == 0, rc
        print(f"      longest gap between DataChannel messages: "
              f"a {after['a']['longest_gap_ms']} ms, b {after['b']['longest_gap_ms']} ms",
              flush=True)
        m = new.metrics()
        # Each page's UDP allocations moved (Chromium's TCP ones, unused,
        # ended with the old process: turn.drain_timeout is 0 here).
        assert 2 <= m["icehub_upgrade_allocations"] <= allocs, (m, allocs)
        assert m['icehub_signal_resumes_total{result="success"}'] >= 2
        assert m['icehub_signal_resumes_total{result="failure"}'] == 0
        rc, _ = new.stop()
        assert rc == 0, new.log()[-2000:]
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
