"""The signaling hub with a real browser: Debian's headless Chromium, driven by
playwright-core (tests/browser/signal_test.mjs; no browser is ever downloaded), opens
icehubd's demo page in two browser contexts. Each page loads /icehub.js from the hub,
joins one room over /ws, negotiates through the hub (perfect negotiation, trickle ICE)
and connects with iceTransportPolicy 'relay' through icehubd's own TURN server, with the
credentials the hub put in joined's iceServers (minted from the TURN shared secret the
daemon generates when none is configured, as with `make run`). Checked there: chat
through the demo page's form both ways, 50 DataChannel messages each way intact, a
relay/relay selected pair in getStats and in the page's pair display, a resume (one
page's WebSocket dropped: same peer id afterwards, the signals and the broadcast sent to
it while away arrive in order, the other page sees no peer-left), a rejoin (a page
away longer than signal.resume_seconds: the other page hears peer-left "timeout" and
"undelivered" for what it sent meanwhile, the late resume is refused and the page joins
again under a new id and reconnects), a camera/mic call with
Chromium's fake devices started on both pages at once (offer glare), a page from a
foreign Origin refused at the upgrade, the demo over https:// (http.tls_listen: the
client defaults to wss://, iceServers has turns:, two more pages connect), fresh TURN credentials pushed by the hub before
the first ones expire (signal.credential_ttl=30: the page restarts ICE with them and
the connection outlives the first credentials), and leave. Here: every step passed, and /metrics
shows the TURN allocations and the relayed packets, the resume and the refused upgrade.
A screenshot of the demo page is kept in tests/artifacts/signal-demo.png.

Chromium gathers relay candidates on 127.0.0.1 only while the host has a non-loopback
IPv4 address; test_browser.ensure_non_loopback_ipv4 adds one for the test if needed.

Needs: /usr/bin/chromium, node and tests/browser/node_modules (deploy/install-deps.sh).
"""
import json
import os
import subprocess
import tempfile

from harness import ARTIFACTS, ROOT, SCALE, Daemon, free_port
from test_browser import CHROMIUM, ensure_non_loopback_ipv4, make_san_cert

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "signal_test.mjs")
MESSAGES = 50
RESUME_S = 3
TTL_S = 30
STEPS = ["launch", "connect", "chat", "messages", "resume", "rejoin", "media", "origin",
         "wss", "refresh", "leave"]


def run_node(cfg, timeout=90):
    """Runs signal_test.mjs; returns (exit status, {step: result}, raw stdout)."""
    errpath = os.path.join(ARTIFACTS, "signal-browser-node.log")
    with open(errpath, "wb") as errf:
        try:
            p = subprocess.run(["node", SCRIPT, json.dumps(cfg)], cwd=BROWSER_DIR,
                               stdout=subprocess.PIPE, stderr=errf, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"signal_test.mjs still running after {timeout} s; "
                                 f"output so far: {e.stdout}; see {errpath}")
    steps = {}
    for line in p.stdout.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if "step" in r:
            steps[r["step"]] = r
    with open(os.path.join(ARTIFACTS, "signal-browser-results.json"), "w") as f:
        f.write(p.stdout)
    return p.returncode, steps, p.stdout


def metric(m, prefix):
    """Sum of every series whose key starts with prefix."""
    return sum(v for k, v in m.items() if k.startswith(prefix))


def test_chromium_two_pages_relay_through_the_hub():
    assert os.path.exists(CHROMIUM), "no /usr/bin/chromium: run deploy/install-deps.sh"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "no tests/browser/node_modules: run deploy/install-deps.sh"
    cleanup = ensure_non_loopback_ipv4()
    try:
        # Relayed peers talk to each other's relay address on 127.0.0.1.
        # A short resume grace period, so the rejoin step need not wait long.
        # Short-lived TURN credentials (the minimum), so the refresh step sees the
        # hub push new ones and the connection outlive the first ones.
        args = ["--turn.allowed_peers=127.0.0.0/8", f"--signal.resume_seconds={RESUME_S}",
                f"--signal.credential_ttl={TTL_S}"]
        # And https:// + wss:// on http.tls_listen, with turns: in iceServers.
        tmp = tempfile.TemporaryDirectory()
        cert, key = make_san_cert(tmp.name)
        https_port = free_port(udp_and_tcp=False)
        args += [f"--tls.cert={cert}", f"--tls.key={key}",
                 f"--http.tls_listen=127.0.0.1:{https_port}"]
        with tmp, Daemon("browser-signal", args=args, tls=True) as d:
            m0 = d.metrics()
            cfg = {"base": f"http://127.0.0.1:{d.http_port}", "room": "browser-room",
                   "messages": MESSAGES, "artifacts": ARTIFACTS, "timeout_ms": int(15000 * SCALE),
                   "executable": CHROMIUM, "resume_seconds": RESUME_S,
                   "credential_ttl": TTL_S,
                   "secure_base": f"https://127.0.0.1:{https_port}"}
            rc, steps, out = run_node(cfg)
            m1 = d.metrics()
            failed = {k: v for k, v in steps.items() if not v.get("ok")}
            where = "see tests/artifacts/signal-browser-results.json and signal-{a,b}.*"
            assert not failed, f"steps failed: {json.dumps(failed)[:3000]}; {where}"
            missing = [s for s in STEPS if s not in steps]
            assert not missing, f"steps missing: {missing}: {out[-2000:]}; {where}"
            assert rc == 0, f"signal_test.mjs exit {rc}: {out[-2000:]}"

            # The iceServers came from the hub, for the host the page used.
            ice = steps["connect"]["iceServers"]
            turn = [s for s in ice if any(u.startswith("turn:") for u in s["urls"])]
            assert turn and turn[0]["username"] and turn[0]["credential"], ice
            assert f"turn:127.0.0.1:{d.port}?transport=udp" in turn[0]["urls"], ice
            for side in ("pair_a", "pair_b"):
                pair = steps["messages"][side]
                assert pair["local"]["candidateType"] == "relay", pair
                assert pair["remote"]["candidateType"] == "relay", pair
                assert pair["local"]["address"] == "127.0.0.1", pair
            assert steps["resume"]["id"] == steps["connect"]["a"], steps["resume"]
            assert f"turns:127.0.0.1:{d.tls_port}?transport=tcp" in steps["wss"]["urls"], \
                steps["wss"]

            def delta(prefix):
                return metric(m1, prefix) - metric(m0, prefix)
            ok = 'icehub_turn_allocations_total{result="success"}'
            assert delta(ok) >= 2, "no TURN allocations"
            assert delta("icehub_rx_packets_total") >= 100, "no relayed packets"
            assert delta('icehub_signal_resumes_total{result="success"}') == 1, \
                "resume not counted"
            # The rejoin step's resume comes after the grace period.
            assert delta('icehub_signal_resumes_total{result="failure"}') == 1, \
                "the late resume was not refused"
            assert delta('icehub_signal_peers_left_total{reason="timeout"}') >= 1, \
                "timeout not counted"
            assert delta('icehub_signal_errors_total{code="undelivered"}') >= 1, \
                "undelivered not counted"
            assert delta("icehub_signal_credential_refreshes_total") >= 1, \
                "no ice-servers push counted"
            assert delta('icehub_signal_peers_left_total{reason="leave"}') >= 1, \
                "leave not counted"
            assert delta('icehub_signal_upgrades_refused_total{reason="origin"}') >= 1, \
                "foreign Origin not counted as refused"
            rc, _ = d.stop()
            assert rc == 0, f"icehubd exit {rc}: {d.log()[-3000:]}"
    finally:
        if cleanup:
            cleanup()
