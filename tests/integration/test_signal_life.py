"""Signaling hub lifecycle over real WebSockets against the real daemon:
reconnect with a resume token (queued messages delivered in order, the
room sees nothing), expiry after the grace period (senders told
undelivered, the room told peer-left "timeout"), the away queue's limit, WebSocket ping/pong
keepalive and the idle timeout, credential refresh pushes, the REST
endpoints (/ice-servers, /turn-credentials, /room-token: 401s, and the
credentials they and "joined" hand out authenticate a TURN Allocate on
the same daemon, with turn.secrets set and with the generated secret),
settings applied on SIGHUP, wss:// on http.tls_listen, and the drain on SIGTERM (/readyz 503 at
once, 1001 after signal.drain_delay, exit 0)."""
import asyncio
import json
import signal
import ssl
import tempfile
import os
import time
import urllib.request

from harness import SCALE, Daemon
from test_signal_lib import RawWS, closed_code, connect, run, wait_until
from turnclient import TurnClient, ephemeral
import websockets

BASE = ["--signal.drain_delay=0"]


def test_signal_resume_and_expiry():
    async def go(d):
        a, b, c = await connect(d), await connect(d), await connect(d)
        ida = (await a.join("r"))["id"]
        jb = await b.join("r")
        idb, rt = jb["id"], jb["resume"]
        await a.expect("peer-joined", id=idb)
        jc = await c.join("r")
        idc = jc["id"]
        await a.expect("peer-joined", id=idc)
        await b.expect("peer-joined", id=idc)
        # b's socket drops; a keeps sending to it.
        b.ws.transport.abort()
        await asyncio.sleep(0.2)
        for i in range(3):
            await a.send({"type": "signal", "to": idb, "data": {"n": i}, "ref": f"s{i}"})
            await a.expect("ack", ref=f"s{i}")
        await c.send({"type": "broadcast", "data": "hello"})
        # Resume on a new socket: same id, new token, the queue in order.
        b2 = await connect(d)
        await b2.send({"type": "resume", "token": rt, "ref": "R"})
        m = await b2.expect("resumed", room="r", id=idb, ref="R")
        assert sorted(m["peers"]) == sorted([ida, idc])
        assert m["resume"] != rt and len(m["iceServers"]) == 2
        for i in range(3):
            await b2.expect("signal", data={"n": i}, **{"from": ida})
        await b2.expect("broadcast", data="hello", **{"from": idc})
        await a.expect("broadcast", data="hello", **{"from": idc})
        await a.nothing()  # the room saw no peer-left / peer-joined
        await c.nothing()
        # The spent token does not resume twice.
        x = await connect(d)
        await x.send({"type": "resume", "token": rt})
        await x.error("resume-failed")
        # c drops and never comes back: a's message to it expires.
        c.ws.transport.abort()
        await asyncio.sleep(0.2)
        await a.send({"type": "signal", "to": idc, "data": 1, "ref": "late"})
        await a.expect("ack", ref="late")
        t0 = time.time()
        m = await a.error("undelivered", timeout=5, to=idc, ref="late")
        await a.expect("peer-left", id=idc, reason="timeout")
        await b2.expect("peer-left", id=idc, reason="timeout")
        assert 1.0 < time.time() - t0 < 4.5
        rtc = jc["resume"]
        await x.send({"type": "resume", "token": rtc})
        await x.error("resume-failed")
        # A clean leave is announced at once, with reason "leave".
        await b2.send({"type": "leave"})
        await b2.expect("left")
        await a.expect("peer-left", id=idb, reason="leave")
        for p in (a, b2, x):
            await p.close()
        m = d.metrics()
        assert m['icehub_signal_resumes_total{result="success"}'] == 1
        assert m['icehub_signal_resumes_total{result="failure"}'] == 2
        assert m["icehub_signal_expired_messages_total"] == 1
        assert m['icehub_signal_peers_left_total{reason="timeout"}'] == 1
    with Daemon("signal-resume", args=BASE + ["--signal.resume_seconds=2"]) as d:
        run(go(d))


def test_signal_keepalive_and_idle_timeout():
    async def go(d):
        # python-websockets answers pings by itself: it stays.
        live = await connect(d)
        # A raw client that never answers pings is closed after idle_timeout.
        raw = RawWS(d.http_port)
        t0 = time.time()
        pings, code = 0, None
        while time.time() - t0 < 6:
            try:
                op, payload = await asyncio.to_thread(raw.recv_frame, 6)
            except Exception:
                break
            if op == 9:
                pings += 1
            elif op == 8:
                code = int.from_bytes(payload[:2], "big")
                break
        took = time.time() - t0
        assert code == 1001 and pings >= 1, (code, pings)
        assert 2.5 < took < 5 * SCALE, took
        await live.send({"type": "ping"})
        await live.expect("pong")
        await live.close()
        raw.close()
    with Daemon("signal-idle", args=BASE + ["--signal.ping_interval=1",
                                            "--signal.idle_timeout=3"]) as d:
        run(go(d))


def test_signal_credential_refresh_push():
    async def go(d):
        a = await connect(d)
        j = await a.join("r")
        u1 = j["iceServers"][1]["username"]
        m = await a.expect("ice-servers", timeout=7, ttl=5)
        u2 = m["iceServers"][1]["username"]
        assert int(u2.split(":")[0]) > int(u1.split(":")[0]) and u2.endswith(":" + j["id"])
        await a.close()
        assert d.metrics()["icehub_signal_credential_refreshes_total"] == 1
    with Daemon("signal-refresh", args=BASE + ["--signal.credential_ttl=5"]) as d:
        run(go(d))


def http(d, path, auth=None):
    req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}{path}",
                                 headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def allocate_ok(d, user, password, transport="udp"):
    c = TurnClient(d.port, user, password, transport=transport)
    try:
        return c.allocate()[0] == 2
    finally:
        c.close()


def test_signal_rest_credentials_allocate():
    async def go(d, secret):
        a = await connect(d)
        j = await a.join("r")
        turn = j["iceServers"][1]
        assert allocate_ok(d, turn["username"], turn["credential"])
        assert allocate_ok(d, turn["username"], turn["credential"], "tcp")
        assert not allocate_ok(d, turn["username"], "wrong")
        await a.close()
        if secret:  # with turn.secrets the hub uses the first one
            name, pw = ephemeral(secret, j["id"], 3600)
            assert (name, pw) == (turn["username"], turn["credential"]) or \
                abs(int(name.split(":")[0]) - int(turn["username"].split(":")[0])) <= 1
    for secret in (None, "shared-s3cret"):
        args = BASE + ["--signal.api_keys=key1,key2"]
        if secret:
            args.append(f"--turn.secrets={secret}")
        with Daemon(f"signal-rest-{bool(secret)}", args=args) as d:
            for path in ("/ice-servers", "/turn-credentials?service=turn", "/room-token?room=r"):
                st, body, hdr = http(d, path)
                assert st == 401 and body["error"] == "unauthorized", (path, st, body)
                assert hdr.get("WWW-Authenticate", "").startswith("Bearer"), hdr
                assert http(d, path, "Bearer nope")[0] == 401
            st, body, _ = http(d, "/ice-servers?peer=backend", "Bearer key2")
            assert st == 200 and body["ttl"] == 3600, body
            turn = body["iceServers"][1]
            assert turn["username"].endswith(":backend")
            assert allocate_ok(d, turn["username"], turn["credential"])
            st, body, _ = http(d, "/turn-credentials?service=turn&username=app&key=key1")
            assert st == 200 and set(body) == {"username", "password", "ttl", "uris"}, body
            assert body["uris"] == [f"turn:127.0.0.1:{d.port}?transport=udp",
                                    f"turn:127.0.0.1:{d.port}?transport=tcp"], body
            assert allocate_ok(d, body["username"], body["password"])
            assert http(d, "/turn-credentials?service=stun&key=key1")[0] == 400
            run(go(d, secret))
    # No API key configured: 401 for everyone.
    with Daemon("signal-rest-nokeys", args=BASE) as d:
        st, body, _ = http(d, "/ice-servers?key=")
        assert st == 401 and "api_keys" in body["message"], body


def test_signal_reload_applies_limits():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("signal = { max_room_peers = 1; drain_delay = 0; };\n")
        path = f.name

    async def go(d):
        a, b = await connect(d), await connect(d)
        await a.join("r")
        await b.send({"type": "join", "room": "r"})
        await b.error("room-full")
        with open(path, "w") as f:
            f.write("signal = { max_room_peers = 2; drain_delay = 0; };\n")
        d.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while True:
            await asyncio.sleep(0.3)
            await b.send({"type": "join", "room": "r"})
            m = await b.recv()
            if m["type"] == "joined":
                break
            assert m["code"] == "room-full" and time.time() < deadline, m
        await a.close()
        await b.close()
    try:
        with Daemon("signal-reload", config=path) as d:
            run(go(d))
    finally:
        os.unlink(path)


def test_signal_drain_on_sigterm():
    async def go(d):
        a, b = await connect(d), await connect(d)
        await a.join("r")
        await b.join("r")
        await a.expect("peer-joined")
        idle = await connect(d)
        assert d.http_get("/readyz")[0] == 200
        t0 = time.time()
        d.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(wait_until, lambda: d.http_get("/readyz")[0] == 503, 1.0)
        assert time.time() - t0 < 0.5
        # Draining: no new WebSockets, no joins; peers in rooms still talk.
        assert (await asyncio.to_thread(RawWS, d.http_port)).status == 503
        await idle.send({"type": "join", "room": "r", "ref": 1})
        await idle.error("draining", ref=1)
        await a.send({"type": "broadcast", "data": "still here"})
        await b.expect("broadcast", data="still here")
        codes = await asyncio.gather(closed_code(a, 5), closed_code(b, 5), closed_code(idle, 5))
        took = time.time() - t0
        assert codes == [1001, 1001, 1001], codes
        assert 1.5 <= took < 4 * SCALE, took
        rc = await asyncio.to_thread(d.proc.wait, 5)
        assert rc == 0, rc
    d = Daemon("signal-drain", args=["--signal.drain_delay=2"]).start()
    try:
        run(go(d))
        assert "draining" in d.log()
    finally:
        d.stop()


def test_signal_sigterm_without_peers_is_fast():
    d = Daemon("signal-drain-empty", args=["--signal.drain_delay=30"]).start()
    rc, took = d.stop()
    assert rc == 0 and took < 2.0 * SCALE, (rc, took)


def test_signal_wss_on_tls_listener():
    from harness import free_port
    from test_binding import make_cert
    from test_signal_lib import Peer

    async def go(d, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ws = await websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=ctx, open_timeout=5)
        a = Peer(ws)
        j = await a.join("secure")
        urls = [u for s in j["iceServers"] for u in s["urls"]]
        assert f"turns:127.0.0.1:{d.tls_port}?transport=tcp" in urls, urls
        turns = j["iceServers"][2]
        c = TurnClient(d.tls_port, turns["username"], turns["credential"], transport="tls")
        try:
            assert c.allocate()[0] == 2
        finally:
            c.close()
        await a.close()
        # The plain listener still speaks plain HTTP.
        assert d.http_get("/livez")[0] == 200
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        port = free_port(udp_and_tcp=False)
        with Daemon("signal-wss", tls=True,
                    args=BASE + [f"--tls.cert={cert}", f"--tls.key={key}",
                                 f"--http.tls_listen=127.0.0.1:{port}"]) as d:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx,
                                        timeout=5) as r:
                assert r.status == 200
            run(go(d, port))


def test_signal_resume_queue_limit():
    async def go(d):
        a, b = await connect(d), await connect(d)
        await a.join("q")
        idb = (await b.join("q"))["id"]
        await a.expect("peer-joined", id=idb)
        b.ws.transport.abort()
        await asyncio.sleep(0.2)
        await a.send({"type": "signal", "to": idb, "data": 1, "ref": 1})
        await a.expect("ack", ref=1)
        await a.send({"type": "signal", "to": idb, "data": 2, "ref": 2})
        await a.error("undelivered", to=idb, ref=2)  # queue full: told at once, no ack
        await a.send({"type": "broadcast", "data": 3, "ref": 3})
        await a.error("undelivered", to=idb, ref=3)
        await a.expect("ack", ref=3)
        await a.close()
        assert d.metrics()["icehub_signal_queued_messages_total"] == 1
    with Daemon("signal-queue", args=BASE + ["--signal.resume_queue=1"]) as d:
        run(go(d))
