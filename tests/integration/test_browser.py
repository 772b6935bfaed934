"""A real browser through icehubd: Debian's headless Chromium, driven by playwright-core
from npm (tests/browser/relay_test.mjs; no browser is ever downloaded), opens a WebRTC
DataChannel between two RTCPeerConnections in one page. Both use iceTransportPolicy
'relay' with icehubd as their only ICE server, once over turn: UDP, once over turn: TCP
and once over turns: (TLS). Each run must deliver every message intact both ways, and
getStats must show a selected pair whose local and remote candidates are both relayed
(local relayProtocol udp/tcp/tls). /metrics must show the allocations and the packets on
the transport used.

Chromium takes TURN servers and relay candidates on 127.0.0.1 only while the host has
some non-loopback IPv4 address (with only lo it gathers no candidate at all). If the
machine has none, this test adds a link icehubtest0 with 192.0.2.1/32 (TEST-NET-1; no
traffic goes there) for its duration and removes it afterwards: a dummy link, or a veth
pair (icehubtest0/icehubtest1) where the kernel has no dummy driver. That needs root.

Needs: /usr/bin/chromium (Debian package chromium), node, and tests/browser/node_modules
(npm ci); deploy/install-deps.sh installs all three.
"""
import json
import os
import queue
import subprocess
import tempfile
import threading
import time

from harness import ARTIFACTS, ROOT, SCALE, Daemon, wait_for

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "relay_test.mjs")
CHROMIUM = "/usr/bin/chromium"
USER, PASS = "alice", "wonderland"
MESSAGES = 50
DUMMY_LINK, DUMMY_PEER, DUMMY_ADDR = "icehubtest0", "icehubtest1", "192.0.2.1/32"


def make_san_cert(dirpath):
    """A self-signed cert for localhost and 127.0.0.1. Chromium still refuses it as
    self-signed; relay_test.mjs passes --ignore-certificate-errors for that."""
    cert = os.path.join(dirpath, "cert.pem")
    key = os.path.join(dirpath, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def has_non_loopback_ipv4():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) > 3 and f[2] == "inet" and not f[3].startswith("127."):
            return True
    return False


def ensure_non_loopback_ipv4():
    """Returns a cleanup function (None if nothing was changed)."""
    if has_non_loopback_ipv4():
        return None
    assert os.geteuid() == 0, "no non-loopback IPv4 address and not root to add one"
    # A dummy link; kernels without the dummy driver get a veth pair instead.
    r = subprocess.run(["ip", "link", "add", DUMMY_LINK, "type", "dummy"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["ip", "link", "add", DUMMY_LINK, "type", "veth", "peer", "name",
                        DUMMY_PEER], check=True)

    def cleanup():
        subprocess.run(["ip", "link", "del", DUMMY_LINK], check=False)  # and its veth peer
    try:
        subprocess.run(["ip", "addr", "add", DUMMY_ADDR, "dev", DUMMY_LINK], check=True)
        subprocess.run(["ip", "link", "set", DUMMY_LINK, "up"], check=True)
        if r.returncode != 0:
            subprocess.run(["ip", "link", "set", DUMMY_PEER, "up"], check=True)
    except Exception:
        cleanup()
        raise
    return cleanup


class Browser:
    """relay_test.mjs in its stdin mode: one run per line written, one JSON line back."""

    def __init__(self):
        self.stderr_path = os.path.join(ARTIFACTS, "browser-node.log")
        self.errf = open(self.stderr_path, "wb")
        cfg = {"username": USER, "credential": PASS, "messages": MESSAGES,
               "artifacts": ARTIFACTS, "timeout_ms": int(15000 * SCALE), "executable": CHROMIUM}
        self.proc = subprocess.Popen(["node", SCRIPT, json.dumps(cfg)], cwd=BROWSER_DIR,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from relay_test.mjs in {timeout} s; see "
                                 f"{self.stderr_path}")
        assert line is not None, f"relay_test.mjs exited early; see {self.stderr_path}"
        return json.loads(line)

    def run(self, name, url, timeout=40):
        self.proc.stdin.write(json.dumps({"name": name, "url": url}) + "\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.errf.close()


def delta(m0, m1, key):
    return m1.get(key, 0) - m0.get(key, 0)


def check_run(res, relay_protocol):
    brief = {k: res.get(k) for k in ("name", "url", "ok", "opened", "sent_a", "sent_b",
                                     "received_a", "received_b", "intact", "error", "ms")}
    where = f"{brief}; see tests/artifacts/browser-{res.get('name')}.*"
    assert res.get("opened"), "DataChannel did not open: " + where
    assert res["received_a"] == MESSAGES and res["received_b"] == MESSAGES, where
    assert res["intact"] and res["ok"], where
    for side in ("a", "b"):
        pair = res["pair"][side]
        assert pair, f"no selected candidate pair on {side}: {where}"
        # libwebrtc reports the selected pair "in-progress" while a consent check on it
        # is outstanding, "succeeded" otherwise.
        assert pair["state"] in ("succeeded", "in-progress"), (side, pair)
        assert pair["nominated"] and pair["bytesSent"] > 0 and pair["bytesReceived"] > 0, \
            (side, pair)
        assert pair["local"]["candidateType"] == "relay", (side, pair)
        assert pair["remote"]["candidateType"] == "relay", (side, pair)
        assert pair["local"]["relayProtocol"] == relay_protocol, (side, pair)
        assert pair["local"]["address"] == "127.0.0.1", (side, pair)


def test_chromium_datachannel_over_turn_udp_tcp_tls():
    assert os.path.exists(CHROMIUM), "no /usr/bin/chromium: run deploy/install-deps.sh"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "no tests/browser/node_modules: run deploy/install-deps.sh"
    cleanup = ensure_non_loopback_ipv4()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = make_san_cert(tmp)
            args = [f"--turn.users={USER}:{PASS}", "--turn.realm=icehub.test",
                    "--turn.allowed_peers=127.0.0.0/8", f"--tls.cert={cert}",
                    f"--tls.key={key}"]
            with Daemon("browser", args=args, tls=True) as d:
                browser = Browser()
                results = []
                try:
                    ready = browser.read(timeout=40)
                    assert ready.get("ready"), ready
                    runs = [("udp", f"turn:127.0.0.1:{d.port}?transport=udp", "udp"),
                            ("tcp", f"turn:127.0.0.1:{d.port}?transport=tcp", "tcp"),
                            ("tls", f"turns:127.0.0.1:{d.tls_port}?transport=tcp", "tls")]
                    for name, url, proto in runs:
                        m0 = d.metrics()
                        res = browser.run(name, url)
                        m1 = d.metrics()
                        res["metrics_delta"] = {k: delta(m0, m1, k) for k in m1
                                                if delta(m0, m1, k)}
                        results.append(res)
                        check_run(res, proto)
                        ok = 'icehub_turn_allocations_total{result="success"}'
                        # One allocation per peer connection.
                        assert delta(m0, m1, ok) >= 2, res["metrics_delta"]
                        rx = f'icehub_rx_packets_total{{transport="{proto}"}}'
                        assert delta(m0, m1, rx) >= 20, res["metrics_delta"]
                        for other in {"tcp", "tls"} - {proto}:
                            k = f'icehub_rx_packets_total{{transport="{other}"}}'
                            assert delta(m0, m1, k) == 0, (name, res["metrics_delta"])
                    # Closing the peer connections releases the allocations (Refresh 0).
                    assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0,
                                    timeout=5), d.metrics()["icehub_turn_allocations_active"]
                finally:
                    browser.close()
                    with open(os.path.join(ARTIFACTS, "browser-results.json"), "w") as f:
                        for r in results:
                            f.write(json.dumps(r) + "\n")
                rc, _ = d.stop()
                assert rc == 0, f"icehubd exit {rc}: {d.log()[-3000:]}"
    finally:
        if cleanup:
            cleanup()
