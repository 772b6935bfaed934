"""Signaling hub over real WebSockets (python3-websockets) against the real
daemon: every client message, every error code a client can cause, every
limit (message size, rate, room size, rooms, connections per IP), binary
frames, invalid UTF-8, fragmented messages, room tokens, the Origin
allow-list (403 at the upgrade) and the metrics. Lifecycle (resume,
expiry, keepalive, drain) and the REST endpoints are in
test_signal_life.py."""
import asyncio
import json
import subprocess
import urllib.request

from harness import Daemon
from test_signal_lib import Peer, RawWS, closed_code, connect, run

# drain_delay 0: a test that ends with sockets open need not wait 5 s.
BASE = ["--signal.drain_delay=0"]
FAST = BASE + ["--signal.rate=1000", "--signal.burst=1000"]


def test_signal_messages():
    async def go(d):
        a, b, c = await connect(d), await connect(d), await connect(d)
        j = await a.join("room-1", ref=1)
        assert j["ref"] == 1 and j["peers"] == [] and len(j["id"]) == 16
        assert j["resumeSeconds"] == 30 and len(j["resume"]) == 32
        urls = [u for s in j["iceServers"] for u in s["urls"]]
        assert urls == [f"stun:127.0.0.1:{d.port}", f"turn:127.0.0.1:{d.port}?transport=udp",
                        f"turn:127.0.0.1:{d.port}?transport=tcp"], urls
        ida = j["id"]
        jb = await b.join("room-1", peer="bob")
        assert jb["id"] == "bob" and jb["peers"] == [ida] and "ref" not in jb
        await a.expect("peer-joined", id="bob")
        jc = await c.join("room-1")
        await a.expect("peer-joined", id=jc["id"])
        await b.expect("peer-joined", id=jc["id"])
        assert jc["peers"] == [ida, "bob"]
        # signal, with and without ref; any JSON as data
        offer = {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 500}
        await a.send({"type": "signal", "to": "bob", "data": offer, "ref": "o1"})
        m = await b.expect("signal", data=offer)
        assert m["from"] == ida and "ref" not in m and "to" not in m
        await a.expect("ack", ref="o1")
        await b.send({"type": "signal", "to": ida, "data": [1, None, "x"]})
        await a.expect("signal", **{"from": "bob", "data": [1, None, "x"]})
        await b.nothing()
        await c.nothing()
        # broadcast
        await c.send({"type": "broadcast", "data": {"hello": 1}, "ref": 2.5})
        await a.expect("broadcast", **{"from": jc["id"], "data": {"hello": 1}})
        await b.expect("broadcast", **{"from": jc["id"]})
        await c.expect("ack", ref=2.5)
        # ping, ice-servers
        await a.send({"type": "ping", "ref": "p"})
        await a.expect("pong", ref="p")
        await a.send({"type": "ice-servers", "ref": 3})
        m = await a.expect("ice-servers", ref=3, ttl=3600)
        assert len(m["iceServers"]) == 2
        # leave
        await b.send({"type": "leave", "ref": "bye"})
        await b.expect("left", room="room-1", ref="bye")
        await a.expect("peer-left", id="bob", reason="leave")
        await c.expect("peer-left", id="bob", reason="leave")
        # a connection may join again after leaving
        await b.join("room-2")
        for p in (a, b, c):
            await p.close()
        m = d.metrics()
        assert m['icehub_signal_messages_total{type="join"}'] == 4
        assert m['icehub_signal_messages_total{type="signal"}'] == 2
        assert m['icehub_signal_messages_total{type="broadcast"}'] == 1
        assert m['icehub_signal_relayed_messages_total'] == 4
        # Every copy to another peer was timed: 3 peer-joined, 2 signal,
        # 2 broadcast, 2 peer-left.
        assert m['icehub_signal_delivery_seconds_count'] == 9, m
        assert m['icehub_signal_delivery_seconds_bucket{le="+Inf"}'] == 9
    with Daemon("signal-messages", args=FAST) as d:
        run(go(d))


def test_signal_errors():
    async def go(d):
        a, b = await connect(d), await connect(d)
        for bad in ["not json", "[1]", "{}", '{"type":"nope","ref":"r"}', '{"type":7}',
                    '{"type":"ping","ref":{}}', '{"type":"ping","type":"ping"}']:
            await a.send(bad)
            m = await a.error("bad-message")
            assert m.get("ref") == ("r" if '"ref":"r"' in bad else None), m
        await a.send(b"\x00binary")
        await a.error("binary-unsupported")
        await a.send({"type": "signal", "to": "x", "data": 1, "ref": 1})
        await a.error("not-joined", ref=1)
        await a.send({"type": "broadcast", "data": 1})
        await a.error("not-joined")
        await a.send({"type": "leave"})
        await a.error("not-joined")
        await a.send({"type": "join", "room": ""})
        await a.error("bad-room")
        await a.send({"type": "join", "room": 5, "ref": "j"})
        await a.error("bad-room", ref="j")
        await a.send({"type": "join", "room": "x" * 129})
        await a.error("bad-room")
        await a.send({"type": "join", "room": "r", "peer": "no spaces"})
        await a.error("bad-message")
        await a.send({"type": "join", "room": "r", "token": "bogus"})
        await a.error("bad-token")
        await a.send({"type": "resume", "token": "bogus", "ref": "rs"})
        await a.error("resume-failed", ref="rs")
        await a.join("r", peer="alice")
        await a.send({"type": "join", "room": "r2"})
        await a.error("already-joined")
        await b.send({"type": "join", "room": "r", "peer": "alice"})
        await b.error("already-joined")
        await a.send({"type": "signal", "to": "nobody", "data": 1, "ref": "u"})
        await a.error("unknown-peer", ref="u")
        await a.send({"type": "signal", "data": 1})
        await a.error("bad-message")
        await a.send({"type": "signal", "to": "alice"})
        await a.error("bad-message")
        # The connection survived all of it.
        await a.send({"type": "ping"})
        await a.expect("pong")
        await a.close()
        await b.close()
        m = d.metrics()
        assert m['icehub_signal_errors_total{code="bad-message"}'] == 10
        assert m['icehub_signal_errors_total{code="not-joined"}'] == 3
        assert m['icehub_signal_messages_total{type="invalid"}'] >= 6
    with Daemon("signal-errors", args=FAST) as d:
        run(go(d))


def test_signal_raw_frames_utf8_fragments_and_size():
    with Daemon("signal-raw", args=FAST + ["--signal.max_message=2048"]) as d:
        w = RawWS(d.http_port)
        assert w.status == 101, w.headers
        # Invalid UTF-8 in a text frame: an error, not a crash or a close.
        w.send_text(b'{"type":"ping","ref":"\xc3\x28"}')
        m = w.recv_json()
        assert m["type"] == "error" and m["code"] == "bad-message", m
        # A message in three fragments is reassembled.
        msg = json.dumps({"type": "ping", "ref": "x" * 1500}).encode()
        w.send_frame(1, msg[:100], fin=False)
        w.send_frame(0, msg[100:1000], fin=False)
        w.send_frame(0, msg[1000:], fin=True)
        m = w.recv_json()
        assert m == {"type": "pong", "ref": "x" * 1500}, m
        # Too large, whole and in fragments; the connection lives on.
        w.send_text(json.dumps({"type": "ping", "ref": "y" * 3000}))
        assert w.recv_json()["code"] == "too-large"
        big = json.dumps({"type": "ping", "ref": "z" * 5000}).encode()
        w.send_frame(1, big[:1000], fin=False)
        w.send_frame(0, big[1000:3000], fin=False)
        w.send_frame(0, big[3000:], fin=True)
        assert w.recv_json()["code"] == "too-large"
        # Binary in fragments.
        w.send_frame(2, b"\x01" * 10, fin=False)
        w.send_frame(0, b"\x02" * 10, fin=True)
        assert w.recv_json()["code"] == "binary-unsupported"
        w.send_text('{"type":"ping"}')
        assert w.recv_json() == {"type": "pong"}
        w.close()
        # Exactly max_message is accepted.
        w = RawWS(d.http_port)
        pad = 2048 - len(json.dumps({"type": "ping", "ref": ""}))
        w.send_text(json.dumps({"type": "ping", "ref": "p" * pad}))
        assert w.recv_json()["type"] == "pong"
        w.close()


def test_signal_room_limits():
    async def go(d):
        p = [await connect(d) for _ in range(5)]
        await p[0].join("a")
        await p[1].join("a")
        await p[2].send({"type": "join", "room": "a", "ref": 1})
        await p[2].error("room-full", ref=1)
        await p[2].join("b")
        await p[3].send({"type": "join", "room": "c"})
        await p[3].error("too-many-rooms")
        await p[3].join("b")
        await p[2].expect("peer-joined")
        # A room that empties frees its slot.
        await p[2].send({"type": "leave"})
        await p[2].expect("left")
        await p[3].expect("peer-left", reason="leave")
        await p[3].send({"type": "leave"})
        await p[3].expect("left")
        await p[4].join("c")
        for x in p:
            await x.close()
        m = d.metrics()
        assert m['icehub_signal_errors_total{code="room-full"}'] == 1
        assert m['icehub_signal_errors_total{code="too-many-rooms"}'] == 1
    with Daemon("signal-rooms", args=FAST + ["--signal.max_room_peers=2",
                                              "--signal.max_rooms=2"]) as d:
        run(go(d))


def test_signal_rate_limit_and_abuse_close():
    async def go(d):
        a = await connect(d)
        for i in range(5):
            await a.send({"type": "ping", "ref": i})
        for i in range(5):
            await a.expect("pong", ref=i)
        await a.send({"type": "ping", "ref": "over"})
        m = await a.error("rate-limited")
        assert "ref" not in m
        await asyncio.sleep(0.6)  # 2/s refills one
        await a.send({"type": "ping"})
        await a.expect("pong")
        # Past the limit again and again: errors, then a 1008 close. One
        # message at a time, so the close is not lost to a TCP reset
        # caused by unread messages (as it may be for a blind flood).
        for i in range(80):
            try:
                await a.send({"type": "ping"})
                m = await a.recv()
            except Exception:
                break
            assert m["type"] in ("pong", "error"), m
        assert await closed_code(a) == 1008
        assert i >= 50, i
        m = d.metrics()
        assert m["icehub_signal_abuse_closes_total"] == 1, m
        assert m['icehub_signal_errors_total{code="rate-limited"}'] >= 51
    with Daemon("signal-rate", args=BASE + ["--signal.rate=2", "--signal.burst=5"]) as d:
        run(go(d))


def test_signal_connections_per_ip():
    with Daemon("signal-perip", args=BASE + ["--signal.max_connections_per_ip=3"]) as d:
        ws = [RawWS(d.http_port) for _ in range(3)]
        assert all(w.status == 101 for w in ws)
        extra = RawWS(d.http_port)
        assert extra.status == 429, extra.headers
        extra.close()
        ws[0].close()
        from test_signal_lib import wait_until
        assert wait_until(lambda: d.metrics()["icehub_signal_connections"] == 2)
        again = RawWS(d.http_port)
        assert again.status == 101
        for w in ws[1:] + [again]:
            w.close()
        assert d.metrics()['icehub_signal_upgrades_refused_total{reason="per_ip"}'] == 1


def test_signal_first_connections_after_start():
    """The first connections a fresh daemon takes are judged and served like
    any later one: lws set up the hub's protocol from its event loop, so a
    WebSocket that came in before that went to the plain HTTP protocol, with
    its Origin unchecked and its messages answered by nobody (one start in
    five or so under the ASan daemon)."""
    for k in range(10):
        with Daemon(f"signal-first-{k}", args=BASE) as d:
            evil = RawWS(d.http_port, origin="http://evil.example")
            good = RawWS(d.http_port)
            assert evil.status == 403, (k, evil.headers)
            assert good.status == 101, (k, good.headers)
            good.send_frame(1, json.dumps({"type": "ping", "ref": k}).encode())
            op, payload = good.recv_frame()
            assert op == 1 and json.loads(payload) == {"type": "pong", "ref": k}, (k, payload)
            evil.close()
            good.close()


def test_signal_origin_allow_list():
    with Daemon("signal-origin", args=BASE) as d:
        port = d.http_port
        assert RawWS(port, origin="http://evil.example").status == 403
        assert RawWS(port, origin="null").status == 403
        assert RawWS(port, origin=f"http://127.0.0.1:{port + 1}").status == 403
        assert RawWS(port, origin=f"http://127.0.0.1:{port}").status == 101  # same origin
        assert RawWS(port, origin=f"http://localhost:{port}",
                     host=f"localhost:{port}").status == 101
        assert RawWS(port).status == 101  # no Origin: not a browser
        assert RawWS(port, path="/other").status == 404
        assert RawWS(port, path="/ws?x=1").status in (101, 404)

        async def lib():
            try:
                p = await connect(d, origin="https://evil.example")
            except websockets_exc() as e:
                return getattr(e, "status_code", None)
            await p.close()
            return 101
        assert run(lib()) == 403
        m = d.metrics()
        assert m['icehub_signal_upgrades_refused_total{reason="origin"}'] == 4
        assert m['icehub_signal_upgrades_refused_total{reason="not_found"}'] >= 1
    with Daemon("signal-origin-list",
                args=BASE + ["--signal.allowed_origins=https://app.example.com"]) as d:
        assert RawWS(d.http_port, origin="https://app.example.com").status == 101
        assert RawWS(d.http_port, origin="https://APP.example.com").status == 101
        assert RawWS(d.http_port, origin="https://app.example.com:8443").status == 403
    with Daemon("signal-origin-any", args=BASE + ["--signal.allowed_origins=*"]) as d:
        assert RawWS(d.http_port, origin="http://anything.example").status == 101
    with Daemon("signal-off", args=["--signal.enabled=false"]) as d:
        assert RawWS(d.http_port).status == 404
        assert d.http_get("/ice-servers")[0] == 404


def websockets_exc():
    import websockets
    return websockets.InvalidStatusCode


def test_signal_room_tokens():
    async def go(d):
        def mint(q):
            req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}/room-token?{q}",
                                         headers={"Authorization": "Bearer k1"})
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.loads(r.read())
        a, b, c = await connect(d), await connect(d), await connect(d)
        await a.send({"type": "join", "room": "vip", "ref": 1})
        await a.error("token-required", ref=1)
        t = mint("room=vip&peer=alice&ttl=60")
        assert t["room"] == "vip" and t["peer"] == "alice"
        await a.send({"type": "join", "room": "other", "token": t["token"]})
        await a.error("bad-token")
        await a.send({"type": "join", "room": "vip", "token": t["token"], "peer": "mallory"})
        await a.error("bad-token")
        await a.send({"type": "join", "room": "vip", "token": t["token"][:-2] + "AA"})
        await a.error("bad-token")
        j = await a.join("vip", token=t["token"])
        assert j["id"] == "alice"
        t2 = mint("room=vip")
        j = await b.join("vip", token=t2["token"], peer="bob")
        assert j["id"] == "bob"
        t3 = mint("room=vip&ttl=1")
        await asyncio.sleep(1.2)
        await c.send({"type": "join", "room": "vip", "token": t3["token"]})
        await c.error("bad-token")
        for p in (a, b, c):
            await p.close()
    with Daemon("signal-tokens", args=FAST + ["--signal.require_token=true",
                                              "--signal.api_keys=k1",
                                              "--signal.token_secret=s3cret"]) as d:
        run(go(d))


def test_signal_metrics_pass_promtool():
    async def go(d):
        a = await connect(d)
        await a.join("m")
        await a.send("junk")
        await a.error("bad-message")
        status, body = d.http_get("/metrics")
        assert status == 200
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        for name in ["icehub_signal_connections 1", "icehub_signal_rooms 1",
                     'icehub_signal_peers{state="present"} 1',
                     'icehub_signal_errors_total{code="bad-message"} 1',
                     'icehub_signal_resumes_total{result="success"} 0',
                     'icehub_signal_upgrades_refused_total{reason="origin"} 0']:
            assert name + "\n" in body, name
        await a.close()
    with Daemon("signal-metrics", args=BASE) as d:
        run(go(d))


def test_signal_burst_arrives_whole_in_order_and_as_written():
    """A burst of relays from several senders to one peer: its messages
    queue and leave corked, several per TCP segment; each arrives whole, in
    order, with "data" exactly as its sender wrote it (numbers too: 0.1 is
    not re-encoded as 0.10000000000000001)."""
    async def go(d):
        peers = [await connect(d) for _ in range(4)]
        ids = [(await p.join("burst"))["id"] for p in peers]
        for i, p in enumerate(peers):
            for _ in range(len(peers) - 1 - i):
                await p.expect("peer-joined")
        raw = RawWS(d.http_port)
        raw.send_text(json.dumps({"type": "join", "room": "burst"}))
        me = None
        while me is None:
            op, payload = raw.recv_frame(3)
            m = json.loads(payload)
            if m["type"] == "joined":
                me = m["id"]
        for p in peers:
            await p.expect("peer-joined", id=me)
        n = 200
        for k in range(n):
            src = peers[k % len(peers)]
            await src.send('{"type":"signal","to":"%s","data":{"k":%d,"x":0.1,"s":"\\u00e9"}}'
                           % (me, k))
        got = []
        while len(got) < n:
            op, payload = raw.recv_frame(3)
            assert op == 1
            got.append(payload.decode())
        want = ['{"type":"signal","from":"%s","data":{"k":%d,"x":0.1,"s":"\\u00e9"}}'
                % (ids[k % len(peers)], k) for k in range(n)]
        # Each sender's messages in its order (senders interleave freely).
        for i in range(len(peers)):
            assert [g for g in got if f'"from":"{ids[i]}"' in g] == want[i::len(peers)]
        raw.close()
        for p in peers:
            await p.close()
    with Daemon("signal-burst", args=FAST) as d:
        run(go(d))
