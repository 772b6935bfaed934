#!/usr/bin/python3
# icehub - SPDX-License-Identifier: MIT
"""The soak: icehubd under mixed load for a set time, sampled once a
"minute", failing if its memory or descriptors grow or anything is lost.

Load, all at once, on loopback:
  - four long-lived TURN flows echoed by UDP peers: UDP ChannelData, UDP Send
    indications, TCP ChannelData and TLS Send indications, each a packet
    every 5 ms waiting for its echo (refreshed as RFC 8656 asks);
  - churn: a UDP allocation made, used and deleted every 2 s, a TCP one
    opened and closed every 5 s;
  - signaling: two WebSocket peers in a room exchanging 20 messages a
    second, one leaving and joining again every 30 s;
  - the control plane: /metrics, /livez, /api/summary and /api/allocations
    every 2 s.

Each sample (every --seconds/10, or 60 s when --minute is given) records
RSS, open descriptors, heap in use (icehub_process_heap_bytes), live TURN
allocations and CPU seconds used since the last sample; churn pauses
while a sample is taken. After the warm-up (the first fifth of the run) the
run fails if RSS or descriptors grow more than 5% over the warm-up's last
sample, if a relayed packet or a signaling message went missing, or if
the ledger's totals differ from what the peers and clients counted.

usage: soak.py [--seconds N] [--minute S]   (make soak: 600 s; make test: 60 s)
Writes tests/artifacts/soak-report.txt and, with ICEHUB_RESULTS set, the
line "soak P F" the suite sums.
"""
import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import ARTIFACTS, Daemon  # noqa: E402
from test_binding import make_cert  # noqa: E402
from test_signal_lib import RawWS  # noqa: E402
from turnclient import TurnClient  # noqa: E402

TOKEN = "soak-admin-token-0123456789"
USERS = "alice:pw-a,bob:pw-b,carol:pw-c,dave:pw-d,churn:pw-e"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.v = {}

    def add(self, k, n=1):
        with self.lock:
            self.v[k] = self.v.get(k, 0) + n


class EchoPeer:
    """A UDP peer that sends back every datagram to where it came from."""

    def __init__(self, stats):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.stats = stats
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while True:
            try:
                data, src = self.sock.recvfrom(65536)
            except OSError:
                return
            self.stats.add("peer_rx_bytes", len(data))
            self.sock.sendto(data, src)
            self.stats.add("peer_tx_bytes", len(data))


def flow(d, user, pw, transport, channel, stop, stats):
    """One long-lived allocation: a packet every 5 ms and its echo."""
    peer = EchoPeer(stats)
    c = TurnClient(d.tls_port if transport == "tls" else d.port, user, pw, transport=transport)
    assert c.allocate(lifetime=600)[0] == 2, user
    last_refresh = time.time()

    def bind():
        if channel:
            assert c.channel_bind(0x4001, peer.addr)[0] == 2
        else:
            assert c.permit(peer.addr)[0] == 2
    bind()
    i = 0
    while not stop.is_set():
        if time.time() - last_refresh > 120:
            assert c.refresh(600)[0] == 2
            bind()
            last_refresh = time.time()
        data = bytes([i & 0xFF]) * (200 + (i * 37) % 600)
        if channel:
            c.send_channel(0x4001, data)
        else:
            c.send_indication(peer.addr, data)
        stats.add("sent_packets")
        stats.add("client_tx_bytes", len(data))
        try:
            kind, _, payload = c.recv_data(timeout=2.0)
            if payload == data:
                stats.add("echoed_packets")
                stats.add("client_rx_bytes", len(payload))
            else:
                stats.add("wrong_packets")
        except (socket.timeout, TimeoutError):
            stats.add("lost_packets")
        i += 1
        time.sleep(0.005)
    c.refresh(0)
    c.close()
    peer.sock.close()


def churn(d, stop, quiet, stats):
    """Allocations and connections made and ended all the time."""
    peer = EchoPeer(stats)
    n = 0
    while not stop.is_set():
        with quiet:
            c = TurnClient(d.port, "churn", "pw-e")
            assert c.allocate()[0] == 2
            assert c.permit(peer.addr)[0] == 2
            for k in range(5):
                data = b"c" * (100 + k)
                c.send_indication(peer.addr, data)
                stats.add("client_tx_bytes", len(data))
                stats.add("sent_packets")
                try:
                    _, _, payload = c.recv_data(timeout=2.0)
                    stats.add("echoed_packets")
                    stats.add("client_rx_bytes", len(payload))
                except (socket.timeout, TimeoutError):
                    stats.add("lost_packets")
            assert c.refresh(0)[0] == 2
            c.close()
            stats.add("churned_allocations")
            if n % 3 == 0:
                t = TurnClient(d.port, "churn", "pw-e", transport="tcp")
                assert t.allocate()[0] == 2
                t.close()  # the allocation ends with the connection
                stats.add("churned_connections")
        n += 1
        stop.wait(2.0)
    peer.sock.close()


def ws_join(port, name):
    """A peer in room "soak" (test_signal_lib's raw WebSocket client)."""
    w = RawWS(port)
    assert w.status == 101, w.headers
    w.send_text(json.dumps({"type": "join", "room": "soak", "peer": name}))
    recv_type(w, "joined")
    return w


def recv_type(w, t):
    while True:
        m = w.recv_json(timeout=5)
        if m.get("type") == t:
            return m


def signaling(d, stop, quiet, stats):
    """Two peers in a room: 20 messages a second, one rejoins every 30 s."""
    a, b = ws_join(d.http_port, "a"), ws_join(d.http_port, "b")
    last_rejoin = time.time()
    seq = 0
    while not stop.is_set():
        if time.time() - last_rejoin > 30:
            with quiet:
                b.send_text(json.dumps({"type": "leave"}))
                b.close()
                recv_type(a, "peer-left")
                b = ws_join(d.http_port, "b")
                recv_type(a, "peer-joined")
                stats.add("signal_rejoins")
            last_rejoin = time.time()
        seq += 1
        a.send_text(json.dumps({"type": "signal", "to": "b", "data": {"seq": seq}}))
        stats.add("signal_sent")
        m = recv_type(b, "signal")
        if m["data"].get("seq") == seq:
            stats.add("signal_received")
        time.sleep(0.05)
    a.close()
    b.close()


def scrape(d, stop, stats):
    def get(path, auth=False):
        h = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
        req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}{path}", headers=h)
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()
            return r.status
    while not stop.is_set():
        for path, auth in (("/metrics", False), ("/livez", False), ("/api/summary", True),
                           ("/api/allocations", True)):
            if get(path, auth) != 200:
                stats.add("scrape_errors")
            stats.add("scrapes")
        stop.wait(2.0)


def sample(d, last_cpu):
    pid = d.proc.pid
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    nfd = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    m = d.metrics()
    return {"rss_kb": rss, "fds": nfd, "heap_kb": int(m["icehub_process_heap_bytes"] / 1024),
            "allocations": int(m["icehub_turn_allocations_active"]), "cpu_s": cpu - last_cpu,
            "_cpu": cpu}


def ledger_totals(path):
    tp = tc = 0
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            tp += r["to_peer_bytes"]
            tc += r["to_client_bytes"]
    return tp, tc


def run(seconds, minute):
    tmp = tempfile.mkdtemp(prefix="icehub-soak-")
    cert, key = make_cert(tmp)
    ledger = os.path.join(tmp, "usage.jsonl")
    d = Daemon("soak", args=[f"--turn.users={USERS}", "--turn.allowed_peers=127.0.0.0/8",
                             "--turn.threads=2", f"--tls.cert={cert}", f"--tls.key={key}",
                             "--admin.enabled=true", f"--admin.token={TOKEN}",
                             f"--ledger.path={ledger}", "--ledger.interval=5",
                             "--signal.drain_delay=0", "--log.level=info"], tls=True)
    d.start()
    stats, stop, quiet = Stats(), threading.Event(), threading.Lock()
    threads = [threading.Thread(target=flow, args=(d, u, p, tr, ch, stop, stats))
               for u, p, tr, ch in (("alice", "pw-a", "udp", True), ("bob", "pw-b", "udp", False),
                                    ("carol", "pw-c", "tcp", True), ("dave", "pw-d", "tls", False))]
    threads += [threading.Thread(target=churn, args=(d, stop, quiet, stats)),
                threading.Thread(target=signaling, args=(d, stop, quiet, stats)),
                threading.Thread(target=scrape, args=(d, stop, stats))]
    errors = []

    def guard(t):
        orig = t._target

        def wrapped(*a):
            try:
                orig(*a)
            except Exception as e:  # a load thread that fails fails the soak
                errors.append(f"{orig.__name__}: {e!r}")
                stop.set()
        t._target = wrapped
    for t in threads:
        guard(t)
        t.daemon = True
        t.start()
    step = minute or max(seconds / 10.0, 1.0)
    samples = []
    with quiet:
        time.sleep(0.2)
        last = sample(d, 0)
    t0 = time.time()
    while time.time() - t0 < seconds and not stop.is_set():
        stop.wait(max(0.0, t0 + step * (len(samples) + 1) - time.time()))
        with quiet:
            time.sleep(0.2)
            s = sample(d, last["_cpu"])
        s["t"] = time.time() - t0
        samples.append(s)
        last = s
    stop.set()
    for t in threads:
        t.join(timeout=30)
    rc, _ = d.stop(timeout=20)
    time.sleep(0.2)
    tp, tc = ledger_totals(ledger)
    v = stats.v
    lines = [f"soak: {seconds:.0f} s, a sample every {step:.0f} s, icehubd {d.argv[0]}",
             "| t (s) | RSS (kB) | fds | heap (kB) | TURN allocations | CPU (s) |",
             "|---|---|---|---|---|---|"]
    for s in samples:
        lines.append(f"| {s['t']:.0f} | {s['rss_kb']} | {s['fds']} | {s['heap_kb']} | "
                     f"{s['allocations']} | {s['cpu_s']:.2f} |")
    lines.append("load: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)))
    lines.append(f"ledger: to_peer {tp} bytes (peers received {v.get('peer_rx_bytes', 0)}), "
                 f"to_client {tc} (peers echoed {v.get('peer_tx_bytes', 0)})")
    fails = list(errors)
    warm = max(1, len(samples) // 5)
    if len(samples) <= warm:
        fails.append(f"only {len(samples)} samples")
    else:
        base = samples[warm - 1]
        for s in samples[warm:]:
            for k in ("rss_kb", "fds"):
                if s[k] > base[k] * 1.05:
                    fails.append(f"{k} grew from {base[k]} to {s[k]} at {s['t']:.0f} s")
    for k in ("lost_packets", "wrong_packets", "scrape_errors"):
        if v.get(k):
            fails.append(f"{k}: {v[k]}")
    if v.get("signal_sent", 0) != v.get("signal_received", 0) or not v.get("signal_sent"):
        fails.append(f"signaling: sent {v.get('signal_sent')} received {v.get('signal_received')}")
    if v.get("sent_packets", 0) != v.get("echoed_packets", 0) or not v.get("sent_packets"):
        fails.append(f"relay: sent {v.get('sent_packets')} echoed {v.get('echoed_packets')}")
    if tp != v.get("peer_rx_bytes") or tc != v.get("peer_tx_bytes") or \
            tc != v.get("client_rx_bytes"):
        fails.append("ledger totals differ from what was relayed")
    if rc != 0:
        fails.append(f"icehubd exited with {rc}")
    for f in fails:
        lines.append("FAIL: " + f)
    lines.append("soak: " + ("ok" if not fails else "FAILED"))
    report = "\n".join(lines)
    print(report)
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "soak-report.txt"), "w") as f:
        f.write(report + "\n")
    res = os.environ.get("ICEHUB_RESULTS")
    if res:
        with open(res, "a") as f:
            f.write(f"soak {0 if fails else 1} {1 if fails else 0}\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--minute", type=float, default=0,
                    help="seconds between samples (default: a tenth of the run)")
    a = ap.parse_args()
    return run(a.seconds, a.minute)


if __name__ == "__main__":
    sys.exit(main())
