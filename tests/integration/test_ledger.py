"""The usage ledger and the usage table, end to end with the real daemon and
real traffic: ledger byte totals equal what the clients sent and the peers
received (and the other way) exactly, for our independent Python TURN
client and for coturn's turnutils_uclient; kill -9 leaves a ledger that
parses and holds all but about the last interval; SIGTERM writes final
records ("shutdown"); rotation by size and SIGHUP reopen; a full disk
(records kept and retried); quota.user_bytes gives 486 and ends (stop) or
throttles the user's allocations, also after a restart (rebuilt from the
ledger); `icehubd usage` on the files; /api/usage; per-user metrics."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

from harness import BIN, Daemon, free_port, wait_for
from turnclient import TurnClient, error_code

USERS = "--turn.users=alice:pw-a,bob:pw-b,carol:pw-c"


TOKEN = "ledger-test-token-0123456789"


def ledger_daemon(name, path, extra=()):
    return Daemon(name, args=[USERS, "--turn.allowed_peers=127.0.0.0/8",
                              f"--ledger.path={path}", "--ledger.interval=1",
                              "--admin.enabled=true", f"--admin.token={TOKEN}"] + list(extra))


def api_usage(d):
    req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}/api/usage",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
        return json.loads(r.read())


def read_records(*paths):
    recs = []
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        assert not data or data.endswith(b"\n"), f"{p}: torn last line"
        for line in data.splitlines():
            recs.append(json.loads(line))
    return recs


def totals(recs, user=None):
    out = {"to_peer_bytes": 0, "to_client_bytes": 0, "to_peer_packets": 0,
           "to_client_packets": 0}
    for r in recs:
        if user and r["quota_user"] != user:
            continue
        for k in out:
            out[k] += r[k]
    return out


def usage_cli(*args):
    r = subprocess.run([BIN, "usage"] + list(args), capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout, r.stderr


class Peer:
    """A UDP peer that counts what arrives and can send back to a relay."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.received = 0
        self.packets = 0
        self.log = []           # (time, cumulative bytes)
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.handle(data, src)

    def handle(self, data, src):
        self.received += len(data)
        self.packets += 1
        self.log.append((time.time(), self.received))

    def send(self, data, relay):
        self.sock.sendto(data, relay)

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


def traffic(c, peer, rounds, size0, use_channel):
    """Client -> peer and peer -> client through allocation <c>. Returns the
    payload bytes the client sent and received."""
    sent = got = 0
    if use_channel:
        assert c.channel_bind(0x4001, peer.addr)[0] == 2
    else:
        assert c.permit(peer.addr)[0] == 2
    for i in range(rounds):
        data = bytes([i & 0xFF]) * (size0 + (i * 7) % 300)
        if use_channel:
            c.send_channel(0x4001, data)
        else:
            c.send_indication(peer.addr, data)
        sent += len(data)
        back = b"r" * (size0 // 2 + i % 50)
        peer.send(back, c.relayed)
        kind, _, payload = c.recv_data(timeout=2.0)
        assert payload == back
        got += len(payload)
    return sent, got


def test_ledger_totals_exact_and_cli():
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    path = os.path.join(tmp, "usage.jsonl")
    peer = Peer()
    try:
        d = ledger_daemon("ledger-totals", path).start()
        clients = [TurnClient(d.port, "alice", "pw-a"), TurnClient(d.port, "alice", "pw-a"),
                   TurnClient(d.port, "bob", "pw-b", transport="tcp")]
        sent = got = 0
        for c in clients:
            assert c.allocate()[0] == 2
        for i, c in enumerate(clients):
            s, g = traffic(c, peer, 150, 100 + 200 * i, use_channel=i % 2 == 1)
            sent += s
            got += g
        time.sleep(1.5)  # interim records of live allocations
        for i, c in enumerate(clients):
            s, g = traffic(c, peer, 50, 500, use_channel=i % 2 == 1)
            sent += s
            got += g
        assert clients[0].refresh(0)[0] == 2  # ended by the client
        wait_for(lambda: peer.received == sent, timeout=3)
        # The usage table (per-user gauges) has everything within a tick.
        wait_for(lambda: d.metrics().get(
            'icehub_turn_user_relayed_bytes{user="bob",direction="to_client"}', 0) > 0)
        time.sleep(1.2)
        m = d.metrics()
        ub = sum(v for k, v in m.items() if k.startswith("icehub_turn_user_relayed_bytes{"))
        assert ub == sent + got, (ub, sent, got)
        assert m['icehub_turn_user_relayed_bytes{user="other",direction="to_peer"}'] == 0
        assert m["icehub_ledger_records_written_total"] >= 4
        assert m["icehub_ledger_write_errors_total"] == 0
        assert m["icehub_usage_users"] == 2
        u = api_usage(d)
        assert u["totals"]["to_peer_bytes"] == sent and u["totals"]["to_client_bytes"] == got
        assert u["totals"]["allocations"] == 3 and u["period"]["kind"] == "month"
        assert u["period"]["start"].endswith("-01T00:00:00.000Z")
        users = {r["user"]: r for r in u["users"]}
        assert set(users) == {"alice", "bob"} and users["alice"]["allocations"] == 2
        assert users["bob"]["blocked"] is None and users["bob"]["realm"] == "icehub"
        assert u["realms"][0]["realm"] == "icehub" and u["users_total"] == 2
        status, body = d.http_get("/metrics")
        prom = subprocess.run(["promtool", "check", "metrics"], input=body,
                              capture_output=True, text=True)
        assert prom.returncode == 0, prom.stdout + prom.stderr
        rc, dt = d.stop()
        assert rc == 0
        for c in clients:
            c.close()

        recs = read_records(path)
        t = totals(recs)
        # The exact equality of the issue: what the clients sent is what the
        # peer received is what the ledger says, and the other way.
        assert peer.received == sent
        assert t["to_peer_bytes"] == sent, (t, sent)
        assert t["to_client_bytes"] == got, (t, got)
        assert t["to_peer_packets"] == peer.packets == 3 * 200
        assert t["to_client_packets"] == 3 * 200
        finals = [r for r in recs if r["type"] == "final"]
        assert len(finals) == 3
        assert sorted(r["end_reason"] for r in finals) == ["client", "shutdown", "shutdown"]
        assert {r["client_transport"] for r in finals} == {"udp", "tcp"}
        assert any(r["type"] == "interim" for r in recs)
        for r in recs:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["end"])
            assert r["peers"] == ["127.0.0.1"] and r["realm"] == "icehub"
        # Per allocation, seq counts 0, 1, 2... and the final record is last.
        by_id = {}
        for r in recs:
            by_id.setdefault(r["alloc_id"], []).append(r)
        for rs in by_id.values():
            assert [r["seq"] for r in rs] == list(range(len(rs)))
            assert rs[-1]["type"] == "final"

        # icehubd usage: the same totals, by user, in JSON and as a table.
        rc, out, err = usage_cli(path, "--json", "--egress-per-gb", "0.08",
                                 "--ingress-per-gb", "0.01", "--currency", "EUR")
        assert rc == 0, err
        j = json.loads(out)
        assert j["total"]["to_peer_bytes"] == sent and j["total"]["to_client_bytes"] == got
        assert j["total"]["allocations"] == 3 and j["currency"] == "EUR"
        rows = {r["key"]: r for r in j["rows"]}
        assert set(rows) == {"alice", "bob"} and rows["alice"]["allocations"] == 2
        assert abs(j["total"]["cost"] - (got * 0.08 + sent * 0.01) / 1e9) < 1e-12
        rc, out, err = usage_cli(path, "--by", "realm")
        assert rc == 0 and "icehub" in out and "TOTAL" in out, out + err
        total_line = [l for l in out.splitlines() if l.startswith("TOTAL")][0].split()
        assert total_line[1] == "3" and float(total_line[2]) == round(sent / 1e9, 9)
        rc, out, err = usage_cli(path, "--json", "--by", "day", "--since", "2000-01-01",
                                 "--until", "2100-01-01")
        j = json.loads(out)
        assert rc == 0 and len(j["rows"]) >= 1 and j["total"]["to_client_bytes"] == got
        rc, out, err = usage_cli(path, "--json", "--until", "2000-01-01")
        assert rc == 0 and json.loads(out)["total"]["to_peer_bytes"] == 0
    finally:
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_uclient_totals():
    """coturn's client and echo peer: the ledger's bytes are the messages
    uclient sent and got back, times their size."""
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    path = os.path.join(tmp, "usage.jsonl")
    pport = free_port()
    peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(pport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.2)
        with ledger_daemon("ledger-uclient", path) as d:
            size = 120
            r = subprocess.run(["turnutils_uclient", "-e", "127.0.0.1", "-r", str(pport), "-p",
                                str(d.port), "-n", "100", "-m", "3", "-l", str(size), "-z", "5",
                                "-u", "carol", "-w", "pw-c", "127.0.0.1"],
                               capture_output=True, text=True, timeout=60)
            out = r.stdout + r.stderr
            m = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", out)
            assert m, out[-2000:]
            sent, recv = int(m.group(1)), int(m.group(2))
            assert sent >= 300 and recv == sent, out[-2000:]
        t = totals(read_records(path), "carol")
        assert t["to_peer_bytes"] == sent * size, (t, sent)
        assert t["to_client_bytes"] == recv * size, (t, recv)
    finally:
        peer.kill()
        peer.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def test_kill9_under_load_loses_at_most_an_interval_then_rebuild():
    """kill -9 while three users relay at once (UDP Send, UDP ChannelData,
    TCP ChannelData) on two workers: every line of the ledger parses, no
    byte is counted twice, at most the last interval is missing, and the
    restarted daemon's usage (rebuilt from the ledger) is the ledger's, per
    user."""
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    path = os.path.join(tmp, "usage.jsonl")
    peers = [Peer() for _ in range(3)]
    try:
        d = ledger_daemon("ledger-kill9", path, ["--turn.threads=2"]).start()
        users = [("alice", "pw-a", "udp", False), ("bob", "pw-b", "udp", True),
                 ("carol", "pw-c", "tcp", True)]
        clients = []
        for (user, pw, tr, chan), p in zip(users, peers):
            c = TurnClient(d.port, user, pw, transport=tr)
            assert c.allocate()[0] == 2
            if chan:
                assert c.channel_bind(0x4001, p.addr)[0] == 2
            else:
                assert c.permit(p.addr)[0] == 2
            clients.append((c, chan, p))

        def load(c, chan, p):
            t_end = time.time() + 3.5
            while time.time() < t_end:
                if chan:
                    c.send_channel(0x4001, b"k" * 700)
                else:
                    c.send_indication(p.addr, b"k" * 700)
                time.sleep(0.002)

        threads = [threading.Thread(target=load, args=x) for x in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.2)  # what was sent has arrived
        d.proc.kill()
        d.proc.wait()
        t_kill = time.time()
        # Every line parses (no torn record) and no byte is counted twice.
        recs = read_records(path)
        for (user, _, _, _), p in zip(users, peers):
            got = totals(recs, user)["to_peer_bytes"]
            assert got <= p.received, (user, got, p.received)
            # All but the last interval: the ledger holds at least everything
            # that had arrived two seconds (one interval plus a tick) before
            # the kill.
            before = max([b for (t, b) in p.log if t <= t_kill - 2.0] or [0])
            print(f"      kill -9: {user}: peer got {p.received}, ledger {got}, "
                  f"2 s before kill {before}")
            assert got >= before > 0, (user, got, before, p.received)
        rc, out, err = usage_cli(path, "--json")
        got_all = totals(recs)["to_peer_bytes"]
        assert rc == 0 and json.loads(out)["total"]["to_peer_bytes"] == got_all, err

        # A restart rebuilds the period's usage from the ledger, per user.
        d2 = ledger_daemon("ledger-kill9-restart", path).start()
        m = d2.metrics()
        for user, _, _, _ in users:
            key = f'icehub_turn_user_relayed_bytes{{user="{user}",direction="to_peer"}}'
            assert m[key] == totals(recs, user)["to_peer_bytes"], user
        assert api_usage(d2)["totals"]["to_peer_bytes"] == got_all
        assert "rebuilt usage" in d2.log()
        d2.stop()
        for c, _, _ in clients:
            c.close()
    finally:
        for p in peers:
            p.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_rotation_and_sighup_reopen():
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    path = os.path.join(tmp, "usage.jsonl")
    peer = Peer()
    try:
        d = ledger_daemon("ledger-rotate", path, ["--ledger.max_bytes=1500"]).start()
        sent = 0
        clients = []
        for i in range(4):
            c = TurnClient(d.port, "bob", "pw-b")
            assert c.allocate()[0] == 2
            s, _ = traffic(c, peer, 20, 100, use_channel=False)
            sent += s
            clients.append(c)
        def rotations():
            return sorted(f for f in os.listdir(tmp) if re.fullmatch(
                r"usage\.jsonl\.\d{8}T\d{6}(-\d+)?", f))
        # Interim records (one a second per allocation) -> several rotations.
        assert wait_for(lambda: len(rotations()) >= 2, timeout=10), os.listdir(tmp)
        moved = path + ".logrotated"
        os.rename(path, moved)
        d.send_signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(path), timeout=5)
        for c in clients:
            s, _ = traffic(c, peer, 5, 100, use_channel=True)
            sent += s
        assert d.stop()[0] == 0
        for c in clients:
            c.close()
        rotated = rotations()
        assert len(rotated) >= 2, os.listdir(tmp)
        files = [os.path.join(tmp, f) for f in rotated] + [moved, path]
        for f in files[:-2]:
            assert os.path.getsize(f) <= 1500
        new = read_records(path)
        assert new and all(r["end"] >= read_records(moved)[-1]["end"] for r in new)
        assert totals(read_records(*files))["to_peer_bytes"] == sent
        rc, out, err = usage_cli(*files, "--json")
        assert rc == 0 and json.loads(out)["total"]["to_peer_bytes"] == sent, err
        assert "reopened" in d.log() and "rotated to" in d.log()
    finally:
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_user_byte_quota_486_and_restart():
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    path = os.path.join(tmp, "usage.jsonl")
    peer = Peer()
    quota = ["--quota.user_bytes=20000", "--quota.period=day"]
    try:
        d = ledger_daemon("ledger-quota", path, quota).start()
        a = TurnClient(d.port, "alice", "pw-a")
        assert a.allocate()[0] == 2
        assert a.permit(peer.addr)[0] == 2
        for _ in range(30):
            a.send_indication(peer.addr, b"q" * 1000)  # 30000 > 20000
            time.sleep(0.002)
        # Within a tick or two the user is blocked: a new Allocate gets 486.
        tries = []

        def refused():  # a fresh client each time: an earlier try may have succeeded
            c = TurnClient(d.port, "alice", "pw-a")
            tries.append(c)
            return error_code(c.allocate()[1])[0] == 486
        wait_for(refused, timeout=5, interval=0.3)
        code, reason = error_code(tries[-1].allocate()[1])
        assert code == 486 and "quota" in reason.lower(), reason
        users = {r["user"]: r for r in api_usage(d)["users"]}
        assert users["alice"]["blocked"] == "quota", users
        b = TurnClient(d.port, "bob", "pw-b")
        assert b.allocate()[0] == 2  # others are not affected
        # The existing allocation ended (quota.over_action stop).
        wait_for(lambda: any(r["type"] == "final" and r["end_reason"] == "quota"
                             for r in read_records(path)), timeout=5)
        d.stop()
        # After a restart the quota still holds: usage is rebuilt from the ledger.
        d2 = ledger_daemon("ledger-quota-restart", path, quota).start()
        a3 = TurnClient(d2.port, "alice", "pw-a")
        cls, attrs, _ = a3.allocate()
        assert cls == 3 and error_code(attrs)[0] == 486
        b2 = TurnClient(d2.port, "bob", "pw-b")
        assert b2.allocate()[0] == 2
        d2.stop()
        for c in [a, a3, b, b2] + tries:
            c.close()
    finally:
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_user_byte_quota_throttle():
    """quota.over_action = throttle: past quota.user_bytes the user's live
    allocation stays but runs at quota.floor_bps (the excess is dropped and
    counted, and not billed: the ledger holds exactly what the peer got);
    a new Allocate still gets 486."""
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    path = os.path.join(tmp, "usage.jsonl")
    peer = Peer()
    try:
        d = ledger_daemon("ledger-throttle", path, [
            "--quota.user_bytes=20000", "--quota.over_action=throttle",
            "--quota.floor_bps=80k"]).start()
        a = TurnClient(d.port, "alice", "pw-a")
        assert a.allocate()[0] == 2
        assert a.permit(peer.addr)[0] == 2
        for _ in range(30):
            a.send_indication(peer.addr, b"t" * 1000)
            time.sleep(0.002)
        tries = []

        def refused():  # a fresh client each time: an earlier try may have succeeded
            c = TurnClient(d.port, "alice", "pw-a")
            tries.append(c)
            return error_code(c.allocate()[1])[0] == 486
        wait_for(refused, timeout=5, interval=0.3)
        # 300 kB offered in 2 s against a 10 kB/s floor.
        before = peer.received
        t0 = time.time()
        for _ in range(300):
            a.send_indication(peer.addr, b"t" * 1000)
            time.sleep(0.0066)
        time.sleep(0.3)
        passed = peer.received - before
        secs = time.time() - t0
        assert passed < 150000, (passed, secs)   # floor rate plus a burst, far below 300 kB
        assert a.refresh(600)[0] == 2            # still alive
        time.sleep(1.2)
        m = d.metrics()
        dropped = sum(v for k, v in m.items()
                      if k.startswith("icehub_turn_quota_dropped_bytes_total"))
        assert dropped >= 300000 - passed - 1000, (dropped, passed)
        assert d.stop()[0] == 0
        recs = read_records(path)
        assert totals(recs)["to_peer_bytes"] == peer.received
        assert {r["end_reason"] for r in recs if r["type"] == "final"} == {"shutdown"}
        for c in [a] + tries:
            c.close()
    finally:
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)


class TmpfsDisk:
    """A 64 KiB tmpfs in a temporary directory (the suite runs as root),
    unmounted and removed at the end."""

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
        self.path = os.path.join(self.tmp, "disk")
        os.mkdir(self.path)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", self.path],
                       check=True)
        return self.path

    def __exit__(self, *exc):
        subprocess.run(["umount", self.path])
        shutil.rmtree(self.tmp, ignore_errors=True)


def fill(disk):
    fd = os.open(os.path.join(disk, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 512) > 0:
            pass
    except OSError:
        pass
    os.close(fd)


def test_disk_full_keeps_and_retries():
    """A full disk: writes fail and are counted, records wait in memory
    (no torn line is left), and once there is room again everything is
    written: the ledger still adds up to the byte. Uses a 64 KiB tmpfs
    (the suite runs as root)."""
    with TmpfsDisk() as disk:
        disk_full_continue(disk)


def disk_full_continue(disk):
    path = os.path.join(disk, "usage.jsonl")
    peer = Peer()
    d = ledger_daemon("ledger-diskfull", path)
    try:
        d.start()
        fill(disk)
        sent = 0
        clients = []
        for i in range(3):
            c = TurnClient(d.port, "carol", "pw-c")
            assert c.allocate()[0] == 2
            s, _ = traffic(c, peer, 20, 300, use_channel=False)
            sent += s
            clients.append(c)
        wait_for(lambda: d.metrics()["icehub_ledger_write_errors_total"] > 0, timeout=5)
        m = d.metrics()
        assert m["icehub_ledger_queue_bytes"] > 0
        assert m["icehub_ledger_records_dropped_total"] == 0
        assert m["icehub_ledger_failing"] == 1
        assert m["icehub_turn_allocations_active"] == 3  # ledger.on_error = continue
        assert "No space left on device" in d.log()
        os.unlink(os.path.join(disk, "filler"))
        wait_for(lambda: d.metrics()["icehub_ledger_queue_bytes"] == 0, timeout=5)
        assert wait_for(lambda: d.metrics()["icehub_ledger_failing"] == 0, timeout=5)
        assert d.stop()[0] == 0
        for c in clients:
            c.close()
        recs = read_records(path)  # every line whole
        assert totals(recs)["to_peer_bytes"] == sent == peer.received
        assert len([r for r in recs if r["type"] == "final"]) == 3
    finally:
        d.stop()
        peer.close()


def test_disk_full_with_on_error_stop():
    """ledger.on_error = stop: while the ledger cannot write, live
    allocations end (end_reason "accounting") and Allocate gets 508; once the
    disk has room again, allocations are accepted and every record,
    the ended allocation's final one included, is written."""
    with TmpfsDisk() as disk:
        disk_full_stop(disk)


def disk_full_stop(disk):
    path = os.path.join(disk, "usage.jsonl")
    peer = Peer()
    d = ledger_daemon("ledger-diskfull-stop", path, ["--ledger.on_error=stop"])
    try:
        d.start()
        c = TurnClient(d.port, "alice", "pw-a")
        assert c.allocate()[0] == 2
        sent, _ = traffic(c, peer, 5, 300, use_channel=True)
        fill(disk)
        c.send_channel(0x4001, b"x" * 200)  # a record is due within the interval
        sent += 200
        assert wait_for(lambda: d.metrics()["icehub_ledger_failing"] == 1, timeout=5)
        assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0, timeout=5)
        c2 = TurnClient(d.port, "bob", "pw-b")
        cls, attrs, _ = c2.allocate()
        assert cls == 3 and error_code(attrs) == (508, "Insufficient Capacity (usage accounting)")
        m = d.metrics()
        assert m['icehub_turn_allocate_errors_total{code="508",reason="capacity_accounting"}'] == 1
        assert "allocations refused and ended" in d.log()
        os.unlink(os.path.join(disk, "filler"))
        assert wait_for(lambda: d.metrics()["icehub_ledger_failing"] == 0, timeout=5)
        # The workers let go of the hold at their next tick (within a second).
        c3 = TurnClient(d.port, "bob", "pw-b")
        assert wait_for(lambda: c3.allocate()[0] == 2, timeout=3, interval=0.3)
        assert "writing again: allocations accepted" in d.log()
        assert d.stop()[0] == 0
        recs = read_records(path)
        ended = [r for r in recs if r["type"] == "final" and r["quota_user"] == "alice"]
        assert len(ended) == 1 and ended[0]["end_reason"] == "accounting", ended
        assert totals(recs, "alice")["to_peer_bytes"] == sent == peer.received
        for x in (c, c2, c3):
            x.close()
    finally:
        d.stop()
        peer.close()


def test_bad_ledger_path_fails_at_start():
    d = Daemon("ledger-badpath", args=["--ledger.path=/nonexistent-dir/usage.jsonl"])
    d.start(wait=False)
    rc = d.proc.wait(timeout=10)
    assert rc == 2
    assert 'ledger.path: cannot open "/nonexistent-dir/usage.jsonl" for appending' in d.log()
    # --check-config finds it too, without creating anything.
    r = subprocess.run([BIN, "--check-config", "--ledger.path=/nonexistent-dir/usage.jsonl"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "No such file or directory" in r.stderr, r.stderr
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    try:
        r = subprocess.run([BIN, "--check-config", f"--ledger.path={tmp}/new.jsonl"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and not os.listdir(tmp), r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_usage_cli_errors_and_torn_lines():
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    try:
        rec = {"type": "final", "alloc_id": 1, "seq": 0, "user": "u", "quota_user": "u",
               "realm": "r", "start": "2026-01-01T00:00:00.000Z",
               "end": "2026-01-01T00:01:00.000Z", "to_peer_bytes": 10, "to_client_bytes": 20,
               "to_peer_packets": 1, "to_client_packets": 2}
        good = os.path.join(tmp, "good.jsonl")
        with open(good, "w") as f:
            f.write(json.dumps(rec) + "\n" + json.dumps(rec) + "\n" + json.dumps(rec)[:30])
        rc, out, err = usage_cli(good, "--json")
        assert rc == 0 and "torn last line" in err, err
        assert json.loads(out)["total"]["to_client_bytes"] == 40
        bad = os.path.join(tmp, "bad.jsonl")
        with open(bad, "w") as f:
            f.write("garbage\n" + json.dumps(rec) + "\n")
        rc, out, err = usage_cli(bad)
        assert rc == 1 and "bad.jsonl:1" in err, err
        for args, msg in [((), "expected at least one LEDGER file"),
                          ((good, "--by", "week"), "--by: expected user, realm or day"),
                          ((good, "--since", "yesterday"), "expected a time"),
                          ((good, "--frobnicate"), "unknown option"),
                          ((good, "--egress-per-gb", "-1"), "expected a price"),
                          ((good, "--since", "2026-02-01", "--until", "2026-01-01"),
                           "--until must be later")]:
            rc, out, err = usage_cli(*args)
            assert rc == 2 and msg in err, (args, rc, err)
        rc, out, err = usage_cli(os.path.join(tmp, "missing.jsonl"))
        assert rc == 1 and "No such file" in err
        rc, out, err = usage_cli("--help")
        assert rc == 0 and "--by user|realm|day" in out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_usage_cli_prices_from_the_settings():
    """icehubd usage prices usage the way icehubd does: the same defaults,
    file, ICEHUB_* variables and --section.key flags, in that precedence;
    the three price options win over all of them."""
    tmp = tempfile.mkdtemp(prefix="icehub-ledger-")
    try:
        rec = {"type": "final", "alloc_id": 1, "seq": 0, "user": "u", "quota_user": "u",
               "realm": "r", "start": "2026-01-01T00:00:00.000Z",
               "end": "2026-01-01T00:01:00.000Z", "to_peer_bytes": 10 ** 9,
               "to_client_bytes": 2 * 10 ** 9, "to_peer_packets": 1, "to_client_packets": 2}
        path = os.path.join(tmp, "u.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps(rec) + "\n")
        conf = os.path.join(tmp, "icehub.conf")
        with open(conf, "w") as f:
            f.write('cost = { egress_per_gb = 0.5; ingress_per_gb = 0.25; currency = "EUR"; };\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("ICEHUB_")}

        def cost(*args, extra_env=None):
            r = subprocess.run([BIN, "usage", path, "--json", *args], capture_output=True,
                               text=True, timeout=20, env=dict(env, **(extra_env or {})))
            assert r.returncode == 0, r.stderr
            j = json.loads(r.stdout)
            return round(j["total"]["cost"], 6), j["currency"]
        assert cost() == (0, "USD")
        assert cost("--config", conf) == (1.25, "EUR")
        assert cost(extra_env={"ICEHUB_COST_EGRESS_PER_GB": "0.05"}) == (0.1, "USD")
        assert cost("--config", conf, extra_env={"ICEHUB_COST_EGRESS_PER_GB": "1"}) == \
            (2.25, "EUR")
        assert cost("--config", conf, "--cost.egress_per_gb=2", "--cost.currency=GBP",
                    extra_env={"ICEHUB_COST_EGRESS_PER_GB": "1"}) == (4.25, "GBP")
        assert cost("--cost.egress_per_gb=2", "--egress-per-gb", "3") == (6, "USD")
        # A bad setting is a configuration error, named as icehubd names it.
        r = subprocess.run([BIN, "usage", path, "--cost.egress_per_gb=cheap"],
                           capture_output=True, text=True, timeout=20, env=env)
        assert r.returncode == 2 and "--cost.egress_per_gb: expected" in r.stderr, r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
