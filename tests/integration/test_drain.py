"""The TURN drain, end to end with the real daemon: on SIGTERM (and POST
/api/drain) /readyz answers 503, a new Allocate gets 403 "Forbidden (server
draining)" or, with turn.alternate_servers, 300 Try Alternate naming one of
them (integrity-protected), while an existing allocation keeps refreshing,
binding channels and relaying both ways; /metrics and GET /api/drain show
the drain. The process exits when the last allocation ends (its final
ledger record says "client"), or at turn.drain_timeout (the rest end with
"shutdown"), or at once on a second SIGTERM; a WebSocket peer keeps it
until the signaling drain closed it."""
import json
import os
import signal
import tempfile
import time
import urllib.request

from harness import Daemon, get_attr, plain_address, wait_for
from test_ledger import Peer, read_records
from test_signal_lib import RawWS
from turnclient import TurnClient, error_code

USERS = "--turn.users=alice:pw-a,bob:pw-b"
TOKEN = "drain-test-token-0123456789"
A_ALTERNATE_SERVER = 0x8023
A_MI = 0x08


def drain_daemon(name, timeout, extra=()):
    return Daemon(name, args=[USERS, "--turn.allowed_peers=127.0.0.0/8",
                              f"--turn.drain_timeout={timeout}", "--admin.enabled=true",
                              f"--admin.token={TOKEN}"] + list(extra))


def api(d, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}{path}", method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, json.loads(r.read())


def relay_round(c, peer, ch, n=5):
    """n datagrams each way through channel <ch>; returns bytes (sent, got)."""
    sent = got = 0
    before = peer.received
    for i in range(n):
        data = b"d" * (100 + i)
        c.send_channel(ch, data)
        sent += len(data)
    assert wait_for(lambda: peer.received - before == sent, 3.0), (peer.received, before, sent)
    for i in range(n):
        data = b"u" * (80 + i)
        peer.send(data, c.relayed)
        kind, num, payload = c.recv_data()
        assert kind == "channel" and num == ch and payload == data
        got += len(data)
    return sent, got


def allocated(port, user="alice", pw="pw-a"):
    c = TurnClient(port, user, pw)
    cls, attrs, _ = c.allocate()
    assert cls == 2, error_code(attrs)
    return c


def test_drain_refuses_new_keeps_existing_and_exits_at_last_allocation():
    peer, peer2 = Peer(), Peer()
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "ledger.jsonl")
    d = drain_daemon("drain-last", 60, [f"--ledger.path={path}", "--ledger.interval=1"])
    try:
        d.start()
        a = allocated(d.port)
        assert a.channel_bind(0x4001, peer.addr)[0] == 2
        relay_round(a, peer, 0x4001)
        assert d.http_get("/readyz")[0] == 200
        assert d.metrics()["icehub_draining"] == 0
        d.send_signal(signal.SIGTERM)
        assert wait_for(lambda: d.http_get("/readyz")[0] == 503, 2.0)
        # A new allocation is refused, and the answer says why.
        b = TurnClient(d.port, "bob", "pw-b")
        cls, attrs, raw = b.allocate()
        assert cls == 3 and error_code(attrs) == (403, "Forbidden (server draining)"), \
            error_code(attrs)
        assert get_attr(attrs, A_MI) is not None  # authenticated, like any answer to bob
        # The existing one goes on: refresh, a new channel, data both ways.
        assert a.refresh(600)[0] == 2
        assert a.channel_bind(0x4002, peer2.addr)[0] == 2
        relay_round(a, peer, 0x4001)
        relay_round(a, peer2, 0x4002)
        m = d.metrics()
        assert m["icehub_draining"] == 1
        assert m["icehub_drain_deadline_timestamp_seconds"] > time.time() + 50
        assert m['icehub_turn_allocate_errors_total{code="403",reason="draining"}'] == 1
        st, j = api(d, "/api/drain")
        assert st == 200 and j["draining"] and j["reason"] == "signal", j
        assert j["allocations"] == 1 and 50 < j["seconds_left"] <= 60, j
        assert api(d, "/api/summary")[1]["draining"] is True
        # The last allocation ends: the process exits on its own, soon.
        time.sleep(1.2)  # an interim record while draining
        t0 = time.time()
        assert a.refresh(0)[0] == 2
        rc = d.proc.wait(5)
        assert rc == 0 and time.time() - t0 < 2.5, (rc, time.time() - t0)
        recs = read_records(path)
        finals = [r for r in recs if r["type"] == "final"]
        assert [r["end_reason"] for r in finals] == ["client"], finals
        assert sum(r["to_peer_bytes"] for r in recs) == peer.received + peer2.received
        a.close()
        b.close()
    finally:
        d.stop()
        peer.close()
        peer2.close()
        tmp.cleanup()


def test_drain_redirects_to_alternate_servers():
    d = drain_daemon("drain-alt", 60, ["--turn.alternate_servers=192.0.2.20:3478,"
                                       "[2001:db8::20]:3478,192.0.2.21:3479"])
    try:
        d.start()
        a = allocated(d.port)
        st, j = api(d, "/api/drain", "POST")
        assert st == 200 and j["changed"] is True and j["reason"] == "api", j
        assert api(d, "/api/drain", "POST")[1]["changed"] is False
        assert d.http_get("/readyz")[0] == 503
        seen = []
        for user in ("bob", "bob"):
            c = TurnClient(d.port, user, "pw-b")
            cls, attrs, raw = c.allocate()
            assert cls == 3 and error_code(attrs)[0] == 300, error_code(attrs)
            assert get_attr(attrs, A_MI) is not None
            seen.append(plain_address(get_attr(attrs, A_ALTERNATE_SERVER)))
            c.close()
        assert seen == [("192.0.2.20", 3478), ("192.0.2.21", 3479)], seen
        m = d.metrics()
        assert m['icehub_turn_allocate_errors_total{code="300",reason="draining_redirect"}'] == 2
        assert a.refresh(600)[0] == 2
        a.close()
    finally:
        rc, _ = d.stop(signal.SIGINT)
        assert rc == 0


def test_drain_ends_the_rest_at_drain_timeout():
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "ledger.jsonl")
    d = drain_daemon("drain-timeout", 2, [f"--ledger.path={path}"])
    try:
        d.start()
        a = allocated(d.port)
        t0 = time.time()
        d.send_signal(signal.SIGTERM)
        rc = d.proc.wait(10)
        took = time.time() - t0
        assert rc == 0 and 1.8 <= took < 4.5, (rc, took)
        assert "turn.drain_timeout (2 s) passed" in d.log()
        finals = [r for r in read_records(path) if r["type"] == "final"]
        assert [r["end_reason"] for r in finals] == ["shutdown"], finals
        a.close()
    finally:
        d.stop()
        tmp.cleanup()


def test_second_sigterm_stops_at_once():
    d = drain_daemon("drain-twice", 60)
    try:
        d.start()
        a = allocated(d.port)
        d.send_signal(signal.SIGTERM)
        assert wait_for(lambda: d.http_get("/readyz")[0] == 503, 2.0)
        time.sleep(0.5)
        assert d.proc.poll() is None  # still draining for the allocation
        t0 = time.time()
        d.send_signal(signal.SIGTERM)
        rc = d.proc.wait(5)
        assert rc == 0 and time.time() - t0 < 2.0, (rc, time.time() - t0)
        a.close()
    finally:
        d.stop()


def test_drain_waits_for_websocket_peers_too():
    """No allocation, one WebSocket: the process stays until the signaling
    drain closed the socket (signal.drain_delay), not longer."""
    d = drain_daemon("drain-ws", 60, ["--signal.drain_delay=1"])
    try:
        d.start()
        ws = RawWS(d.http_port)
        assert ws.status == 101
        assert wait_for(lambda: d.metrics()["icehub_signal_connections"] == 1, 3.0)
        t0 = time.time()
        d.send_signal(signal.SIGTERM)
        rc = d.proc.wait(8)
        took = time.time() - t0
        assert rc == 0 and 0.8 <= took < 5, (rc, took)
        ws.close()
    finally:
        d.stop()
