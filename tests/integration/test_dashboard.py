"""The live dashboard in a real browser: Debian's headless Chromium (playwright-core from
npm, tests/browser/dashboard_test.mjs; no browser is ever downloaded) opens
http://.../dashboard#token=... on icehubd while two TURN clients push data through
relays. The page must load only from icehubd (no CDN), plot live samples by itself
(window.icehubDashboard: at least 5 samples, the last throughput and allocation count
above zero, every chart's canvas drawn), show the busiest user first, show the calls
panel from the clients' stats reports (seven reports sent before: the totals, the
relayed and failed shares and the median time to connected that the histogram gives),
and leave a screenshot in tests/artifacts/dashboard.png.

Needs: /usr/bin/chromium, node and tests/browser/node_modules (deploy/install-deps.sh).
"""
import asyncio
import json
import os
import socket
import subprocess
import threading
import time

from docs_truth import STATS_REPORTS, stats_session
from harness import ARTIFACTS, ROOT, Daemon
from turnclient import TurnClient, error_code

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "dashboard_test.mjs")
TOKEN = "dashboard-token-0123456789"


class Traffic(threading.Thread):
    """A TURN client relaying <size>-byte datagrams both ways through a local peer
    until stopped; counts what it sent and what came back."""

    def __init__(self, port, user, password, size):
        super().__init__(daemon=True)
        self.c = TurnClient(port, user, password)
        cls, attrs, _ = self.c.allocate()
        assert cls == 2, error_code(attrs)
        self.p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.p.bind(("127.0.0.1", 0))
        self.p.settimeout(1)
        assert self.c.permit(self.p.getsockname())[0] == 2
        self.size, self.stop, self.sent = size, threading.Event(), 0

    def run(self):
        peer = self.p.getsockname()
        while not self.stop.is_set():
            self.c.send_indication(peer, b"u" * self.size)
            try:
                self.p.recvfrom(4096)
                self.p.sendto(b"d" * self.size, self.c.relayed)
                self.c.recv_data(timeout=1)
            except (socket.timeout, OSError):
                continue
            self.sent += 2 * self.size
            time.sleep(0.005)


def test_dashboard_live_charts():
    d = Daemon("dashboard", args=["--turn.users=alice:wonderland,bob:builder",
                                  "--turn.allowed_peers=127.0.0.0/8", "--admin.enabled=true",
                                  "--cost.egress_per_gb=90", "--cost.currency=USD",
                                  f"--admin.token={TOKEN}"])
    with d:
        asyncio.run(stats_session(d))
        flows = [Traffic(d.port, "alice", "wonderland", 1000),
                 Traffic(d.port, "bob", "builder", 200)]
        for f in flows:
            f.start()
        try:
            cfg = {"url": f"http://127.0.0.1:{d.http_port}/dashboard#token={TOKEN}",
                   "artifacts": ARTIFACTS, "min_samples": 5, "timeout_ms": 30000,
                   "executable": "/usr/bin/chromium"}
            r = subprocess.run(["node", SCRIPT, json.dumps(cfg)], cwd=BROWSER_DIR,
                               capture_output=True, text=True, timeout=90)
        finally:
            for f in flows:
                f.stop.set()
            for f in flows:
                f.join(timeout=3)
        with open(os.path.join(ARTIFACTS, "dashboard-node.log"), "w") as f:
            f.write(r.stdout + "\n" + r.stderr)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        assert lines, f"no result from dashboard_test.mjs: {r.stderr[-2000:]}"
        res = json.loads(lines[-1])
        assert res["ok"], (res.get("error"), res.get("state"), res.get("console"))
        assert r.returncode == 0
        assert all(f.sent > 0 for f in flows)
        # Live data reached the charts.
        assert res["samples"] >= 5 and res["lastThroughputBps"] > 0, res
        assert res["lastAllocations"] == 2, res
        assert sum(1 for v in res["throughput"] if v > 0) >= 2, res["throughput"]
        # The calls panel: docs_truth.STATS_REPORTS are 7 reports, 1 failed; of the 6
        # connected, 3 relay at their own end and 1 at the other; the median of 0.2,
        # 0.4, 0.6, 1.5, 2.5 and 3 s within the histogram's (0.5, 1] bucket is 1 s.
        calls = res["calls"]
        assert len(STATS_REPORTS) == 7 and calls["total"] == 7, calls
        assert calls["failed"] == 1 and calls["connected"] == 6 and calls["relayed"] == 4, calls
        assert calls["paths"] == {"direct": 2, "relay udp": 1, "relay tcp": 1, "relay tls": 1,
                                  "relayed by peer": 1, "failed": 1}, calls
        assert abs(calls["medianS"] - 1.0) < 1e-9, calls
        assert res["callTiles"] == ["7", "66.7 %", "14.3 %", "1.00 s"], res["callTiles"]
        for cid in ("c-throughput", "c-allocations", "c-users", "c-cost", "c-calls"):
            assert res["canvases"].get(cid, 0) > 0, (cid, res["canvases"])
        users = [u["label"] for u in res["topUsers"]]
        assert users[:2] == ["alice", "bob"], res["topUsers"]
        assert res["status"].startswith("live"), res["status"]
        # Throughput from /metrics' relayed-bytes counters; cost from /api/summary.
        assert res["source"] == "metrics", res["source"]
        assert res["lastCost"] is not None and res["lastCost"] > 0, res["lastCost"]
        # Nothing but icehubd was asked for anything.
        origin = f"http://127.0.0.1:{d.http_port}/"
        assert res["requests"] and all(u.startswith(origin) for u in res["requests"]), \
            res["requests"]
        assert os.path.getsize(res["screenshot"]) > 10000
        assert not [c for c in res["console"] if c.startswith(("error", "pageerror"))], \
            res["console"]
