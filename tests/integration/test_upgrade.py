"""Live upgrade: a second icehubd started with --upgrade takes the running
one's listening sockets, UDP relay sockets and UDP allocations over
upgrade.socket while traffic flows.

- coturn's turnutils_uclient (several clients, channels) and our own TURN
  client (tests/integration/turnclient.py, a numbered, time-stamped stream of
  ChannelData through an echo peer) relay over UDP while the upgrade happens: every
  allocation keeps working on the new process (the stream goes on, Refresh
  and ChannelBind work there with the old nonce), the old process exits by
  itself, and the ledger holds, for every allocation, records from both
  processes that continue one another (one id, seq 0, 1, 2... without a
  gap, one final record) and sum exactly to what the echo peer received from
  and sent to that relay address. The loss and the longest round trip of
  a packet sent around the handover are measured and written to
  tests/artifacts/upgrade-report.json.
- A TCP allocation stays with the old process, which keeps relaying for it
  and refuses (403, draining) a new Allocate on that connection, while new
  connections reach the new process; the old one exits when the connection
  ends.
- Refusals and failures: an incompatible version (a hand-written HELLO) is
  refused and nothing changes; a new process that fails after receiving
  everything leaves the old one serving as before (HTTP back, allocations
  relaying, a real upgrade possible afterwards); a new process given
  malformed state or refused stops with exit 2 and says why.
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

from harness import ARTIFACTS, BIN, Daemon, wait_for
from test_drain import relay_round
from test_ledger import Peer, read_records
from turnclient import TurnClient, error_code

USERS = ["--turn.users=alice:pw-a,bob:pw-b"]
MAGIC = b"icehub-upgrade\0"


class EchoPeer(Peer):
    """A UDP peer that sends back what it gets and counts it per source (a
    relay address): what went to the peer and what came back through it."""

    def __init__(self):
        self.got, self.sent = {}, {}
        super().__init__()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.port = self.addr[1]

    def handle(self, data, src):
        key = f"{src[0]}:{src[1]}"
        self.got[key] = self.got.get(key, 0) + len(data)
        self.sock.sendto(data, src)
        self.sent[key] = self.sent.get(key, 0) + len(data)


class Stream:
    """Our own client: numbered ChannelData at a steady rate through the echo
    peer and back; records when each echo arrived."""

    def __init__(self, port, peer, rate=400, size=160):
        self.c = TurnClient(port, "alice", "pw-a")
        self.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        cls, attrs, _ = self.c.allocate()
        assert cls == 2, error_code(attrs)
        assert self.c.channel_bind(0x4001, peer.addr)[0] == 2
        self.rate, self.size = rate, size
        self.sent = self.sent_bytes = self.got_bytes = 0
        self.arrivals = {}
        self.running = self.receiving = True

    def start(self):
        self.tx = threading.Thread(target=self.send_loop, daemon=True)
        self.rx = threading.Thread(target=self.recv_loop, daemon=True)
        self.rx.start()
        self.tx.start()

    def send_loop(self):
        t0 = time.time()
        while self.running:
            due = t0 + self.sent / self.rate
            now = time.time()
            if due > now:
                time.sleep(due - now)
            data = struct.pack("!Id", self.sent, time.time()) + b"s" * (self.size - 12)
            self.c.send_channel(0x4001, data)
            self.sent += 1
            self.sent_bytes += len(data)

    def recv_loop(self):
        while self.receiving:
            try:
                kind, ch, data = self.c.recv_data(timeout=0.2)
            except (socket.timeout, OSError):
                continue
            if kind == "channel" and ch == 0x4001 and len(data) >= 12:
                seq, sent_at = struct.unpack("!Id", data[:12])
                self.arrivals.setdefault(seq, (sent_at, time.time()))
                self.got_bytes += len(data)

    def finish(self, t0):
        """Loss, and the round trips of packets sent around <t0> (the
        upgrade): the longest is what the handover cost a packet."""
        self.running = False
        self.tx.join()
        deadline = time.time() + 3
        while len(self.arrivals) < self.sent and time.time() < deadline:
            time.sleep(0.05)
        self.receiving = False
        self.rx.join()
        rtts = sorted(b - a for a, b in self.arrivals.values())
        near = [b - a for a, b in self.arrivals.values() if t0 - 1 <= a <= t0 + 2]
        missing = [i for i in range(self.sent) if i not in self.arrivals][:10]
        return {"rate_pps": self.rate, "size": self.size, "sent": self.sent,
                "received": len(self.arrivals), "lost": self.sent - len(self.arrivals),
                "missing": missing,
                "rtt_median_ms": round(rtts[len(rtts) // 2] * 1000, 2) if rtts else None,
                "rtt_max_around_upgrade_ms": round(max(near) * 1000, 1) if near else None,
                "rtt_max_ms": round(rtts[-1] * 1000, 1) if rtts else None}


def uclient(port, peer_port, n, clients, size, interval_ms):
    cmd = ["turnutils_uclient", "-e", "127.0.0.1", "-r", str(peer_port), "-p", str(port),
           "-n", str(n), "-m", str(clients), "-l", str(size), "-z", str(interval_ms),
           "-c", "-u", "bob", "-w", "pw-b", "127.0.0.1"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def uclient_result(p):
    out = p.communicate(timeout=120)[0]
    m = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", out)
    lost = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", out)
    assert m and lost, out[-3000:]
    return {"sent": int(m.group(1)), "received": int(m.group(2)), "lost": int(lost.group(1))}


def upgrade_args(tmp, extra=()):
    return USERS + ["--turn.allowed_peers=127.0.0.0/8",
                    f"--upgrade.socket={os.path.join(tmp, 'upgrade.sock')}",
                    f"--ledger.path={os.path.join(tmp, 'ledger.jsonl')}",
                    "--ledger.interval=1"] + list(extra)


def successor(old, name):
    """The new process: the old one's command line plus --upgrade."""
    d = Daemon(name)
    d.argv = list(old.argv) + ["--upgrade"]
    d.port, d.http_port, d.tls_port = old.port, old.http_port, old.tls_port
    return d


def check_ledger(path, peer, min_allocs, extra=None, problems=None):
    """Per allocation: records from both processes continue one another (one
    id, seq 0, 1, 2... and one final record); to_peer sums exactly to what
    the echo peer got from its relay address (plus <extra>: {relay:
    (to_peer, to_client)} relayed elsewhere); to_client never more than the
    peer sent there (a pause longer than a relay socket's receive buffer
    could hold lets the kernel drop some before icehubd sees them). Returns
    {relay: to_client} for exact checks against what the clients got. With a
    <problems> list, byte mismatches go there instead of failing (a peer that
    a loaded machine stalls drops datagrams the relay did send)."""
    extra = extra or {}
    by_id = {}
    for r in read_records(path):
        by_id.setdefault(r["alloc_id"], []).append(r)
    assert len(by_id) >= min_allocs, by_id.keys()
    out = {}
    for aid, recs in by_id.items():
        assert [r["seq"] for r in recs] == list(range(len(recs))), (aid, recs)
        assert [r["type"] for r in recs].count("final") == 1 and recs[-1]["type"] == "final", recs
        relay = recs[0]["relay"][0]
        more = extra.get(relay, (0, 0))
        to_peer = sum(r["to_peer_bytes"] for r in recs) - more[0]
        to_client = sum(r["to_client_bytes"] for r in recs) - more[1]
        got = peer.got.get(relay, 0)
        bad = [] if to_peer == got else [("to_peer", to_peer, got)]
        if to_client > peer.sent.get(relay, 0):
            bad.append(("to_client", to_client, peer.sent.get(relay)))
        if problems is None:
            assert not bad, (aid, relay, bad)
        else:
            problems += [(aid, relay) + b for b in bad]
        out[relay] = to_client
    # Nothing reached the peer from a relay the ledger does not know.
    assert set(peer.got) <= set(out), (set(peer.got) - set(out))
    return out


def test_upgrade_keeps_udp_allocations_and_the_ledger():
    tmp = tempfile.TemporaryDirectory()
    peer = EchoPeer()
    old = Daemon("upgrade-old", args=upgrade_args(tmp.name))
    new = None
    try:
        old.start()
        s = Stream(old.port, peer)
        s.start()
        uc = uclient(old.port, peer.port, n=1200, clients=4, size=120, interval_ms=5)
        time.sleep(2.0)
        new = successor(old, "upgrade-new")
        t0 = time.time()
        new.start()
        assert wait_for(lambda: old.proc.poll() is not None, 10), old.log()[-2000:]
        assert old.proc.returncode == 0, old.log()[-2000:]
        took = time.time() - t0
        m = re.search(r"took over (\d+) UDP allocation\(s\).*UDP was paused ([\d.]+) ms", new.log())
        assert m, new.log()[-2000:]
        moved, pause_ms = int(m.group(1)), float(m.group(2))
        assert moved >= 5, moved  # ours and uclient's
        assert "handed" in old.log() and "shutdown" not in "".join(
            l for l in old.log().splitlines() if "ledger" in l)
        # The allocations live on in the new process.
        mt = new.metrics()
        assert mt["icehub_upgrade_allocations"] == moved
        assert mt["icehub_turn_allocations_active"] >= moved
        u = uclient_result(uc)
        st = s.finish(t0)
        # The same client on the new process: nonce, credentials, channel.
        assert s.c.refresh(600)[0] == 2
        peer2 = Peer()
        assert s.c.channel_bind(0x4002, peer2.addr)[0] == 2
        elsewhere = relay_round(s.c, peer2, 0x4002)
        # A new client is served by the new process.
        b = TurnClient(new.port, "bob", "pw-b")
        assert b.allocate()[0] == 2
        b.close()
        report = {"load": {"stream": f"{st['rate_pps']} pps x {st['size']} B through our "
                                     "client, echoed back",
                           "uclient": "4 clients, 120 B every 5 ms each, echoed back"},
                  "stream": st, "uclient": u, "allocations_moved": moved,
                  "pause_ms_new_process": pause_ms, "upgrade_wall_s": round(took, 2),
                  "binary": os.path.basename(BIN)}
        os.makedirs(ARTIFACTS, exist_ok=True)
        name = "upgrade-report-asan.json" if "asan" in BIN else "upgrade-report.json"
        with open(os.path.join(ARTIFACTS, name), "w") as f:
            json.dump(report, f, indent=1)
        print(f"      upgrade: {json.dumps(report)}", flush=True)
        # Nothing is lost: the handover's pause is absorbed by the sockets'
        # buffers (unless a loaded machine stalls it longer than a relay
        # socket's buffer holds: then what is lost fits in that stall).
        stall = st["rtt_max_around_upgrade_ms"] or 0
        if stall < 150:
            assert st["lost"] == 0, report
            assert u["lost"] == 0 and u["received"] == u["sent"], report
        else:
            assert st["lost"] <= st["rate_pps"] * stall / 1000, report
        rc, _ = new.stop()
        assert rc == 0, new.log()[-2000:]
        s.c.close()
        peer2.close()
        relay = f"{s.c.relayed[0]}:{s.c.relayed[1]}"
        to_client = check_ledger(os.path.join(tmp.name, "ledger.jsonl"), peer, moved,
                                 {relay: elsewhere})
        # And to_client is exactly what the clients received.
        assert to_client.pop(relay) == s.got_bytes
        assert sum(to_client.values()) == u["received"] * 120, (to_client, u)
    finally:
        old.stop()
        if new:
            new.stop()
        peer.close()
        tmp.cleanup()


def test_tcp_allocations_stay_with_the_old_process():
    tmp = tempfile.TemporaryDirectory()
    peer = Peer()
    old = Daemon("upgrade-tcp-old", args=upgrade_args(tmp.name, ["--turn.drain_timeout=30"]))
    new = None
    try:
        old.start()
        t = TurnClient(old.port, "alice", "pw-a", transport="tcp")
        assert t.allocate()[0] == 2
        assert t.channel_bind(0x4001, peer.addr)[0] == 2
        u = TurnClient(old.port, "bob", "pw-b")
        assert u.allocate()[0] == 2
        new = successor(old, "upgrade-tcp-new")
        new.start()
        assert "took over 1 UDP allocation" in new.log()
        time.sleep(0.3)
        assert old.proc.poll() is None  # the TCP connection keeps it
        relay_round(t, peer, 0x4001)
        assert t.refresh(600)[0] == 2
        assert new.metrics()["icehub_turn_allocations_active"] == 1  # the UDP one only
        # New TCP connections go to the new process.
        t2 = TurnClient(new.port, "bob", "pw-b", transport="tcp")
        assert t2.allocate()[0] == 2
        assert new.metrics()["icehub_turn_allocations_active"] == 2
        t2.close()
        # The old process takes no new allocation, even on its connection.
        assert t.refresh(0)[0] == 2
        cls, attrs, _ = t.allocate()
        assert cls == 3 and error_code(attrs) == (403, "Forbidden (server draining)")
        t.close()
        assert wait_for(lambda: old.proc.poll() is not None, 5), old.log()[-2000:]
        assert old.proc.returncode == 0
        u.close()
        rc, _ = new.stop(signal.SIGINT)  # at once, not a 30 s drain
        assert rc == 0
        recs = read_records(os.path.join(tmp.name, "ledger.jsonl"))
        finals = sorted((r["client_transport"], r["end_reason"]) for r in recs
                        if r["type"] == "final")
        # The old process's TCP one (deleted by its client), the new one's
        # TCP one (its connection closed) and the UDP one that moved.
        assert finals == [("tcp", "client"), ("tcp", "connection_closed"),
                          ("udp", "shutdown")], finals
    finally:
        old.stop()
        if new:
            new.stop()
        peer.close()
        tmp.cleanup()


# ---- Refusals and failures, with a hand-written other side -------------------

def hello(proto=1, turn=1, hub=1):
    return bytes([1]) + MAGIC + struct.pack("!III", proto, turn, hub) + b"test"


def seqpacket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    return s


def test_incompatible_version_is_refused_and_nothing_changes():
    tmp = tempfile.TemporaryDirectory()
    peer = Peer()
    d = Daemon("upgrade-refuse", args=upgrade_args(tmp.name))
    try:
        d.start()
        a = TurnClient(d.port, "alice", "pw-a")
        assert a.allocate()[0] == 2 and a.channel_bind(0x4001, peer.addr)[0] == 2
        path = os.path.join(tmp.name, "upgrade.sock")
        for msg, want in ((hello(turn=99), b"incompatible versions"),
                          (b"\x01garbage", b"not an icehubd upgrade request")):
            s = seqpacket(path)
            s.send(msg)
            reply = s.recv(4096)
            assert reply[0] == 2 and want in reply, reply  # REFUSE
            s.close()
        relay_round(a, peer, 0x4001)
        assert d.http_get("/readyz")[0] == 200
        assert d.metrics()['icehub_upgrades_total{result="refused"}'] == 2
        assert "refused an upgrade" in d.log()
        a.close()
    finally:
        d.stop()
        peer.close()
        tmp.cleanup()


def read_state(s):
    """DATA, FDS and END from the old process: (state bytes, sockets)."""
    state, fds = b"", []
    while True:
        msg, anc, _, _ = s.recvmsg(70000, socket.CMSG_SPACE(4 * 253))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds += list(struct.unpack(f"{len(data) // 4}i", data[:len(data) - len(data) % 4]))
        if msg[0] == 4:
            state += msg[1:]
        elif msg[0] == 6:
            return state, fds


def test_failed_handover_leaves_the_old_process_serving():
    tmp = tempfile.TemporaryDirectory()
    peer = Peer()
    d = Daemon("upgrade-fail", args=upgrade_args(tmp.name))
    new = None
    try:
        d.start()
        a = TurnClient(d.port, "alice", "pw-a")
        assert a.allocate()[0] == 2 and a.channel_bind(0x4001, peer.addr)[0] == 2
        path = os.path.join(tmp.name, "upgrade.sock")
        s = seqpacket(path)
        s.send(hello())
        assert s.recv(4096)[0] == 3  # ACCEPT
        state, fds = read_state(s)
        assert state[:4] == b"IHUS" and len(fds) >= 4, (state[:8], fds)
        for fd in fds:
            os.close(fd)
        s.send(b"\x08" + b"the test says no")  # FAIL
        assert wait_for(lambda: "the upgrade failed: the test says no" in d.log(), 5)
        s.close()
        # Everything as before: HTTP, the allocation, new allocations.
        assert wait_for(lambda: d.http_get("/readyz")[0] == 200, 5)
        relay_round(a, peer, 0x4001)
        b = TurnClient(d.port, "bob", "pw-b")
        assert b.allocate()[0] == 2
        assert d.metrics()['icehub_upgrades_total{result="failed"}'] == 1
        # A new process that just goes away: the same.
        s = seqpacket(path)
        s.send(hello())
        assert s.recv(4096)[0] == 3
        state, fds = read_state(s)
        for fd in fds:
            os.close(fd)
        s.close()
        assert wait_for(lambda: d.log().count("the upgrade failed") == 2, 5)
        relay_round(a, peer, 0x4001)
        # And a real one still works.
        new = successor(d, "upgrade-fail-new")
        new.start()
        assert wait_for(lambda: d.proc.poll() is not None, 10)
        assert "took over 2 UDP allocation" in new.log()
        relay_round(a, peer, 0x4001)
        a.close()
        b.close()
    finally:
        d.stop()
        if new:
            new.stop()
        peer.close()
        tmp.cleanup()


def fake_old(path, answer):
    """Listen on <path> like a running icehubd and answer one HELLO with
    <answer> (a list of messages). Returns the thread."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def run():
        c, _ = srv.accept()
        c.settimeout(10)
        got["hello"] = c.recv(4096)
        for m in answer:
            c.send(m)
        try:
            got["reply"] = c.recv(4096)
        except OSError:
            pass
        c.close()
        srv.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, got


def test_new_process_refuses_bad_state_and_says_why():
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "upgrade.sock")
    try:
        cases = [
            ([b"\x02" + b"no thanks"], "the running icehubd refused: no thanks"),
            ([b"\x03", b"\x04" + b"IHUS" + struct.pack("!I", 99),
              b"\x06" + struct.pack("!QI", 8, 0)], "malformed at \"version\""),
            ([b"\x03", b"\x04" + b"garbage!", b"\x06" + struct.pack("!QI", 8, 0)],
             "malformed at \"magic\""),
        ]
        for answer, want in cases:
            t, got = fake_old(path, answer)
            d = Daemon("upgrade-bad-state", args=upgrade_args(tmp.name) + ["--upgrade"])
            d.start(wait=False)
            rc = d.proc.wait(10)
            t.join(5)
            os.unlink(path)
            assert rc == 2 and want in d.log(), (rc, d.log()[-1500:])
            assert got["hello"][:16] == b"\x01" + MAGIC, got
            if answer[0][0] == 3:
                assert got.get("reply", b"")[:1] == b"\x08", got  # FAIL, with the reason
        r = subprocess.run([BIN, "--upgrade", "--turn.listen=127.0.0.1:0",
                            "--http.listen=127.0.0.1:0"], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2 and "--upgrade needs upgrade.socket" in r.stderr, r.stderr
        d.stop()
    finally:
        tmp.cleanup()
