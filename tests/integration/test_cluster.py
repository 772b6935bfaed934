"""Rooms across nodes: three real icehubd nodes federated through a real
redis-server on loopback (tests/integration/cluster.py), peers on real
WebSockets (python3-websockets). Joins see the members of every node; a
directed signal and a broadcast cross nodes, in order per sender; peer ids
and room sizes hold across the cluster; leave; a peer that resumes on
another node keeps its id and room and gets what was queued for it, in
order, while the others see nothing; a node killed with -9 has its peers
announced as left (reason timeout) within the heartbeat TTL; the director
lists every node's relay, least loaded first. A node upgraded live keeps
its place in the cluster. The TURN side (quotas,
revocations, usage) and Redis going away are in test_cluster_turn.py."""
import asyncio
import json
import os
import signal
import tempfile
import time

from cluster import Redis, hash_of, node, wait_up
from harness import wait_for
from test_signal_lib import connect, run
from test_upgrade import successor

TTL = 3  # redis.node_ttl of the test nodes (cluster.FAST)


def test_cluster_rooms_across_nodes():
    with Redis("rooms") as redis:
        # n1 drains for a while on SIGTERM (a WebSocket stays open meanwhile).
        nodes = [node(redis, n, ["--signal.max_room_peers=4", "--signal.resume_seconds=20"] +
                      (["--signal.drain_delay=3"] if n == "n1" else []))
                 for n in ("n1", "n2", "n3")]
        for d in nodes:
            d.start()
        try:
            wait_up(*nodes)
            run(rooms(redis, nodes))
        finally:
            for d in nodes:
                d.stop()


async def rooms(redis, nodes):
    n1, n2, n3 = nodes
    a, b, c = await connect(n1), await connect(n2), await connect(n3)
    ja = await a.join("standup", peer="alice", ref=1)
    assert ja["peers"] == [] and ja["resume"].startswith("n1."), ja
    jb = await b.join("standup", peer="bob")
    assert jb["peers"] == ["alice"], jb
    await a.expect("peer-joined", id="bob")
    jc = await c.join("standup", peer="carol")
    assert jc["peers"] == ["alice", "bob"], jc
    await a.expect("peer-joined", id="carol")
    await b.expect("peer-joined", id="carol")
    # The members as Redis holds them: each id with its node.
    members = hash_of(redis, "icehub:rm:standup")
    assert {k: v.split()[1] for k, v in members.items()} == \
        {"alice": "n1", "bob": "n2", "carol": "n3"}, members

    # A directed signal crosses nodes, in order, acked; the third node's
    # peer gets nothing.
    for i in range(100):
        await a.send({"type": "signal", "to": "bob", "data": {"i": i}})
    await a.send({"type": "signal", "to": "bob", "data": "last", "ref": "L"})
    for i in range(100):
        m = await b.expect("signal")
        assert m["from"] == "alice" and m["data"] == {"i": i}, m
    await b.expect("signal", data="last")
    await a.expect("ack", ref="L")
    await c.nothing()
    # A broadcast reaches both other nodes once.
    await c.send({"type": "broadcast", "data": {"mute": True}, "ref": 7})
    for p in (a, b):
        m = await p.expect("broadcast")
        assert m["from"] == "carol" and m["data"] == {"mute": True}, m
    await c.expect("ack", ref=7)
    await a.nothing()
    await b.nothing()

    # Ids and sizes hold for the cluster.
    d1 = await connect(n1)
    await d1.send({"type": "join", "room": "standup", "peer": "bob"})
    await d1.error("already-joined")
    await d1.join("standup", peer="dave")
    for p in (a, b, c):
        await p.expect("peer-joined", id="dave")
    e2 = await connect(n2)
    await e2.send({"type": "join", "room": "standup", "peer": "erin", "ref": "E"})
    await e2.error("room-full", ref="E")
    await d1.send({"type": "leave"})
    await d1.expect("left")
    for p in (a, b, c):
        await p.expect("peer-left", id="dave", reason="leave")

    # alice's socket drops; bob and carol send while she is away on n1.
    token = ja["resume"]
    await a.close()
    for i in range(3):
        await b.send({"type": "signal", "to": "alice", "data": {"q": i}, "ref": f"q{i}"})
        await b.expect("ack", ref=f"q{i}")
    await c.send({"type": "broadcast", "data": "while-away"})
    await b.expect("broadcast", data="while-away")
    # She resumes on n3 with her token.
    a3 = await connect(n3)
    await a3.send({"type": "resume", "token": token, "ref": "R"})
    r = await a3.expect("resumed", ref="R", id="alice", room="standup")
    assert r["peers"] == ["bob", "carol"], r
    assert r["resume"].startswith("n3."), r
    for i in range(3):
        m = await a3.expect("signal", data={"q": i})
        assert m["from"] == "bob", m
    await a3.expect("broadcast", data="while-away")
    await a3.nothing()
    await b.nothing()
    await c.nothing()
    # The others reach her on n3 now.
    await b.send({"type": "signal", "to": "alice", "data": "after"})
    await a3.expect("signal", data="after")
    members = hash_of(redis, "icehub:rm:standup")
    assert members["alice"].split()[1] == "n3", members
    # The spent token fails everywhere.
    x = await connect(n2)
    await x.send({"type": "resume", "token": token})
    await x.error("resume-failed")

    # n2 dies (kill -9): bob is announced left (timeout) within node_ttl.
    t0 = time.monotonic()
    n2.proc.send_signal(signal.SIGKILL)
    n2.proc.wait()
    m = await a3.expect("peer-left", timeout=TTL + 2.0, id="bob")
    elapsed = time.monotonic() - t0
    assert m["reason"] == "timeout", m
    await c.expect("peer-left", id="bob", reason="timeout")
    print(f"n2 killed: bob announced left after {elapsed:.2f} s (node_ttl {TTL} s)")
    assert elapsed <= TTL + 0.5, elapsed
    assert "bob" not in hash_of(redis, "icehub:rm:standup")

    # The director: both live relays, never the dead one.
    await c.send({"type": "ice-servers", "ref": 1})
    ice = (await c.expect("ice-servers", ref=1))["iceServers"]
    turn = [u for s in ice if "username" in s for u in s["urls"] if "udp" in u]
    assert sorted(turn) == sorted(f"turn:127.0.0.1:{d.port}?transport=udp" for d in (n1, n3)), ice
    m = n3.metrics()
    assert m["icehub_cluster_nodes"] == 2, m.get("icehub_cluster_nodes")
    assert m['icehub_cluster_resumes_total{result="success"}'] == 1
    assert m["icehub_cluster_remote_peers"] == 0  # alice and carol are both n3's now
    assert n1.metrics()["icehub_cluster_rooms"] == 0  # n1 has nobody left in a room
    # n1 drains (SIGTERM, a WebSocket still open): its heartbeat says so and
    # the director stops listing its relay while it is still alive.
    k = await connect(n1)
    n1.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 2.5
    while True:
        await c.send({"type": "ice-servers", "ref": 2})
        ice = (await c.expect("ice-servers", ref=2))["iceServers"]
        turn = [u for s in ice if "username" in s for u in s["urls"] if "udp" in u]
        if turn == [f"turn:127.0.0.1:{n3.port}?transport=udp"]:
            break
        assert time.monotonic() < deadline, f"n1 still listed while draining: {ice}"
        await asyncio.sleep(0.2)
    assert n1.proc.poll() is None  # still draining, not gone
    for p in (a3, c, x, e2, d1, k):
        await p.close()


def test_cluster_node_live_upgrade():
    """A node upgraded live (icehubd --upgrade) keeps its place in the
    cluster: its peers resume in the new process knowing the other nodes'
    members (no peer-joined again), the other nodes hear nothing (no
    goodbye, no peer-left), and signals cross both ways afterwards."""
    tmp = tempfile.TemporaryDirectory()
    with Redis("upgrade") as redis:
        sock = f"--upgrade.socket={os.path.join(tmp.name, 'upgrade.sock')}"
        n1 = node(redis, "n1", ["--signal.resume_seconds=20", sock])
        n2 = node(redis, "n2")
        new = None
        try:
            for d in (n1, n2):
                d.start()
            wait_up(n1, n2)
            new = successor(n1, "cluster-n1-new")
            run(upgrade(redis, n1, n2, new))
        finally:
            for d in (new, n1, n2):
                if d:
                    d.stop()
            tmp.cleanup()


async def upgrade(redis, n1, n2, new):
    a, b = await connect(n1), await connect(n2)
    token = (await a.join("up", peer="alice"))["resume"]
    await b.join("up", peer="bob")
    await a.expect("peer-joined", id="bob")
    new.start()
    assert wait_for(lambda: n1.proc.poll() is not None, 10), n1.log()[-2000:]
    assert "goes on in the new process" in n1.log() and "leaving the cluster" not in n1.log()
    wait_up(new)
    a2 = await connect(new)
    await a2.send({"type": "resume", "token": token, "ref": "R"})
    r = await a2.expect("resumed", ref="R", id="alice", room="up")
    assert r["peers"] == ["bob"], r
    await b.send({"type": "signal", "to": "alice", "data": "after"})
    await a2.expect("signal", data="after", **{"from": "bob"})
    await a2.send({"type": "signal", "to": "bob", "data": "back"})
    await b.expect("signal", data="back", **{"from": "alice"})
    await a2.nothing()
    await b.nothing()
    assert hash_of(redis, "icehub:rm:up")["alice"].split()[1] == "n1"
    assert new.metrics()["icehub_cluster_remote_peers"] == 1
    for p in (a2, b):
        await p.close()
