"""A call across a cluster with real browsers: three icehubd nodes federated
through a real redis-server on loopback. Nodes 1 and 2 are signaling-only
(turn.enabled = false), node 3 is the relay. Two headless Chromium pages
(Debian's, driven by playwright-core: tests/browser/cluster_test.mjs) load
node 1's and node 2's demo pages, join one room through their own nodes,
and connect relay-only through node 3's TURN with the credentials their
hubs minted from the shared turn.secrets: the relayed addresses on both
sides are in node 3's turn.relay_ports, DataChannel messages arrive intact
both ways, a broadcast crosses the nodes, and node 3 counts the
allocations and the relayed packets.

Needs: /usr/bin/chromium, node and tests/browser/node_modules (deploy/install-deps.sh).
"""
import json
import os
import subprocess

from cluster import Redis, node, wait_up
from harness import ARTIFACTS, ROOT
from test_browser import CHROMIUM, ensure_non_loopback_ipv4

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "cluster_test.mjs")
SECRET = "cluster-turn-secret"
RELAY_PORTS = (51200, 51299)


def test_chromium_pages_on_two_nodes_relay_through_a_third():
    assert os.path.exists(CHROMIUM), "no /usr/bin/chromium: run deploy/install-deps.sh"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "no tests/browser/node_modules: run deploy/install-deps.sh"
    cleanup = ensure_non_loopback_ipv4()
    try:
        with Redis("browser") as redis:
            common = [f"--turn.secrets={SECRET}"]
            sig1 = node(redis, "sig1", common + ["--turn.enabled=false"])
            sig2 = node(redis, "sig2", common + ["--turn.enabled=false"])
            relay = node(redis, "relay", common + [
                "--turn.allowed_peers=127.0.0.0/8", "--signal.enabled=false",
                f"--turn.relay_ports={RELAY_PORTS[0]}-{RELAY_PORTS[1]}"])
            nodes = [relay.start(), sig1.start(), sig2.start()]
            try:
                wait_up(*nodes)
                m0 = relay.metrics()
                cfg = {"bases": [f"http://127.0.0.1:{sig1.http_port}",
                                 f"http://127.0.0.1:{sig2.http_port}"],
                       "room": "cluster-call", "messages": 30, "relay_ports": RELAY_PORTS,
                       "artifacts": ARTIFACTS, "timeout_ms": 15000, "executable": CHROMIUM}
                errpath = os.path.join(ARTIFACTS, "cluster-browser-node.log")
                with open(errpath, "wb") as errf:
                    p = subprocess.run(["node", SCRIPT, json.dumps(cfg)], cwd=BROWSER_DIR,
                                       stdout=subprocess.PIPE, stderr=errf, text=True,
                                       timeout=90)
                steps = {}
                for line in p.stdout.splitlines():
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue
                    if "step" in r:
                        steps[r["step"]] = r
                with open(os.path.join(ARTIFACTS, "cluster-browser-results.json"), "w") as f:
                    f.write(p.stdout)
                failed = {k: v for k, v in steps.items() if not v.get("ok")}
                assert not failed, f"steps failed: {json.dumps(failed)[:3000]}"
                assert {"launch", "connect", "messages", "signal"} <= set(steps), p.stdout[-2000:]
                assert p.returncode == 0, p.stdout[-2000:]
                # Only node 3's relay was offered, by both signaling nodes.
                for key in ("iceServersA", "iceServersB"):
                    urls = [u for s in steps["connect"][key] for u in s["urls"]]
                    assert urls and all(f":{relay.port}" in u for u in urls), urls
                m1 = relay.metrics()

                def delta(prefix):
                    return sum(v for k, v in m1.items() if k.startswith(prefix)) - \
                        sum(v for k, v in m0.items() if k.startswith(prefix))
                assert delta('icehub_turn_allocations_total{result="success"}') >= 2
                assert delta("icehub_turn_relayed_packets_total") >= 60
            finally:
                for d in nodes:
                    d.stop()
    finally:
        if cleanup:
            cleanup()
