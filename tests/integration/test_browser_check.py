"""ice/icehub-browser-check and icehubd's /selftest page against the daemon on
loopback, with Debian's headless Chromium (the tool drives /usr/bin/chromium through
playwright-core from ice/node_modules; no browser is ever downloaded):

- a daemon with TURN over UDP, TCP and TLS and https:// + wss://: the tool's --json
  answer passes; /selftest found a server-reflexive candidate and relayed a
  DataChannel over each transport (relayProtocol udp, tcp, tls); with --call two demo
  pages joined one room through /icehub.js and connected; each page's outcome
  (connected, candidate types, time) reached the hub as a stats report, so
  icehub_client_connections_total and icehub_client_connect_seconds count exactly those
  two; the human summary says PASS and exits 0;
- signal.ice_servers=stun,turn-tcp: /selftest runs those two and calls turn-udp and
  turns "not offered" (skipped, not failed), straight from the page itself;
- turn.max_allocations=1: every TURN check needs two allocations, so each fails, the
  page says why, and the tool exits 1 with FAIL;
- nothing listening: exit 1 with an error; a usage error: exit 2.

Chromium gathers relay candidates on 127.0.0.1 only while the host has a non-loopback
IPv4 address; test_browser.ensure_non_loopback_ipv4 adds one for the test if needed.
Inside network namespaces behind NATs the same tool runs in the NAT lab (tests/natlab).
"""
import json
import os
import subprocess
import tempfile

from harness import ARTIFACTS, ROOT, Daemon, free_port
from test_browser import CHROMIUM, ensure_non_loopback_ipv4, make_san_cert

TOOL = os.path.join(ROOT, "ice", "icehub-browser-check")


def check(url, *args, timeout=120):
    """Runs the tool; returns (exit status, stdout)."""
    p = subprocess.run([TOOL, url, *args], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, ICEHUB_CHROMIUM=CHROMIUM))
    with open(os.path.join(ARTIFACTS, "browser-check.log"), "a") as f:
        f.write(f"$ icehub-browser-check {url} {' '.join(args)}\n{p.stdout}{p.stderr}\n")
    return p.returncode, p.stdout


def client_series(m):
    return {k: v for k, v in m.items() if k.startswith("icehub_client_connections_total{")}


def test_browser_check_loopback():
    assert os.path.exists(CHROMIUM), "no /usr/bin/chromium: run deploy/install-deps.sh"
    assert os.path.isdir(os.path.join(ROOT, "ice", "node_modules", "playwright-core")), \
        "no ice/node_modules: run deploy/install-deps.sh"
    cleanup = ensure_non_loopback_ipv4()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = make_san_cert(tmp)
            https_port = free_port(udp_and_tcp=False)
            args = [f"--tls.cert={cert}", f"--tls.key={key}",
                    f"--http.tls_listen=127.0.0.1:{https_port}"]
            with Daemon("browser-check", args=args, tls=True) as d:
                base = f"https://127.0.0.1:{https_port}"
                rc, out = check(base, "--insecure", "--call", "--json")
                r = json.loads(out)
                assert rc == 0 and r["pass"], out
                checks = {c["name"]: c for c in r["selftest"]["checks"]}
                assert set(checks) == {"stun", "turn-udp", "turn-tcp", "turns"}, checks
                assert all(c["status"] == "pass" for c in checks.values()), checks
                assert checks["stun"]["mapped"], checks["stun"]
                for name, proto in (("turn-udp", "udp"), ("turn-tcp", "tcp"),
                                    ("turns", "tls")):
                    assert checks[name]["relayProtocol"] == proto, checks[name]
                assert checks["turns"]["url"] == f"turns:127.0.0.1:{d.tls_port}?transport=tcp"
                call = r["call"]
                assert call["ok"] and call["messages"] == 10, call
                for side in ("a", "b"):
                    o = call[side]["outcome"]
                    assert o["result"] == "connected" and 0 < o["seconds"] < 30, o
                # Each page reported its connection once: two connected reports, with the
                # candidate types the pages saw.
                m = d.metrics()
                series = client_series(m)
                assert sum(series.values()) == 2, series
                for side in ("a", "b"):
                    o = call[side]["outcome"]
                    key = ('icehub_client_connections_total{result="connected",'
                           f'local_type="{o["local"]}",remote_type="{o["remote"]}",'
                           f'relay_protocol="{o["relay"] or "none"}"}}')
                    assert series.get(key, 0) >= 1, (key, series)
                assert m["icehub_client_connect_seconds_count"] == 2, m
                assert m['icehub_signal_messages_total{type="stats"}'] == 2, m
                # The summary a person reads.
                rc, out = check(base, "--insecure")
                assert rc == 0 and out.rstrip().endswith("PASS"), out
                assert "turns     pass" in out, out
                rc, _ = d.stop()
                assert rc == 0, d.log()[-2000:]

        # Only what the hub hands out is checked; the rest is "not offered".
        with Daemon("browser-check-choice", args=["--signal.ice_servers=stun,turn-tcp"]) as d:
            rc, out = check(f"http://127.0.0.1:{d.http_port}", "--json")
            r = json.loads(out)
            status = {c["name"]: c["status"] for c in r["selftest"]["checks"]}
            assert rc == 0 and status == {"stun": "pass", "turn-udp": "skipped",
                                          "turn-tcp": "pass", "turns": "skipped"}, out

        # A TURN server that refuses the second allocation: each relayed check fails.
        with Daemon("browser-check-fail", args=["--turn.max_allocations=1"]) as d:
            rc, out = check(f"http://127.0.0.1:{d.http_port}", "--timeout", "5")
            assert rc == 1, out
            assert "turn-udp  fail" in out and "turn-tcp  fail" in out, out
            assert "stun      pass" in out and "\nFAIL: turn-udp: timeout" in out, out
    finally:
        if cleanup:
            cleanup()

    rc, out = check(f"http://127.0.0.1:{free_port(udp_and_tcp=False)}", "--json",
                    "--timeout", "3")
    assert rc == 1 and not json.loads(out)["pass"], out
    rc, _ = check("ftp://example.org")
    assert rc == 2
