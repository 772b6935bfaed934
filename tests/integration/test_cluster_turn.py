"""The TURN side of a cluster, and Redis going away: real icehubd nodes
and a real redis-server on loopback (tests/integration/cluster.py), the
independent TURN client (turnclient.py).

- Usage and quotas: a user relays below quota.user_bytes on each of two
  nodes but above it in all; both nodes block it (486) on the cluster's
  total, /api/usage on either answers for the cluster (and this node's
  share), and Redis holds the sum of the two ledgers.
- Revocations: one made through node B's admin API ends the user's
  allocation on node A and refuses new ones there (403) within 2 s; an
  un-revoke on A reaches B.
- Redis killed (-9) and started again, empty, mid-run: the nodes keep
  serving (a local join, relaying, /readyz; redis.required turns /readyz
  503), signals to the other node's peers are undelivered, the link comes
  back with backoff, rooms are resynchronised, and the cluster's usage is
  rebuilt from the nodes: nothing is lost on the ledger, which matches
  what the peer received byte for byte."""
import asyncio
import os
import shutil
import tempfile
import time

from cluster import Redis, hash_of, node, wait_metric, wait_up
from harness import wait_for
from test_admin import api as admin_api
from test_ledger import Peer, read_records, totals
from test_signal_lib import connect, run
from turnclient import TurnClient, error_code

TOKEN = "cluster-admin-token-0123456789"
USERS = "--turn.users=alice:pw-a,bob:pw-b,carol:pw-c"


def turn_node(redis, name, tmp, extra=()):
    args = [USERS, "--turn.allowed_peers=127.0.0.0/8", "--turn.realm=icehub.test",
            f"--ledger.path={os.path.join(tmp, name + '.jsonl')}", "--ledger.interval=1",
            "--admin.enabled=true", f"--admin.token={TOKEN}", "--quota.period=day"]
    return node(redis, name, args + list(extra))


def api(d, path, method="GET"):
    """(status, parsed JSON) of one admin API call."""
    return admin_api(d, method, path, token=TOKEN)[:2]


def usage_of(d, user):
    _, u = api(d, "/api/usage")
    rows = {r["user"]: r for r in u["users"]}
    return u, rows.get(user)


def relay(port, user, pw, peer, n, size=1000):
    """An allocation on <port> that sends n datagrams of <size> to <peer>;
    returns the client (still allocated)."""
    c = TurnClient(port, user, pw)
    assert c.allocate()[0] == 2
    assert c.permit(peer.addr)[0] == 2
    for _ in range(n):
        c.send_indication(peer.addr, b"u" * size)
        time.sleep(0.001)
    return c


def allocate_code(d, user, pw):
    c = TurnClient(d.port, user, pw)
    try:
        cls, attrs, _ = c.allocate()
        return 200 if cls == 2 else error_code(attrs)[0]
    finally:
        c.close()


def test_cluster_quota_usage_and_revocation():
    tmp = tempfile.mkdtemp(prefix="icehub-cluster-")
    peer = Peer()
    quota = ["--quota.user_bytes=20000"]
    try:
        with Redis("turn") as redis:
            a = turn_node(redis, "ta", tmp, quota).start()
            b = turn_node(redis, "tb", tmp, quota).start()
            clients = []
            try:
                wait_up(a, b)
                # 12 kB on each node: each below 20 kB, 24 kB together.
                clients.append(relay(a.port, "alice", "pw-a", peer, 12))
                clients.append(relay(b.port, "alice", "pw-a", peer, 12))
                wait_for(lambda: peer.received >= 24000, timeout=5)
                # Both nodes decide on the cluster's total (batches ~1/s).
                for d in (a, b):
                    assert wait_for(lambda: allocate_code(d, "alice", "pw-a") == 486,
                                    timeout=5, interval=0.3), d.name
                for d in (a, b):
                    u, row = usage_of(d, "alice")
                    assert u["scope"] == "cluster", u
                    assert row["to_peer_bytes"] == 24000, row
                    assert row["this_node"]["to_peer_bytes"] == 12000, row
                    assert row["blocked"] == "quota", row
                assert allocate_code(a, "bob", "pw-b") == 200  # others are not affected

                # A revocation through B's admin API ends bob's allocation on A.
                bob = TurnClient(a.port, "bob", "pw-b")
                clients.append(bob)
                assert bob.allocate()[0] == 2
                wait_for(lambda: any(x["user"] == "bob" for x in
                                     api(a, "/api/allocations")[1]["allocations"]), timeout=3)
                t0 = time.monotonic()
                status, body = api(b, "/api/users/bob/revoke", "POST")
                assert status == 200 and body["revoked"], body
                assert wait_for(lambda: not any(x["user"] == "bob" for x in
                                                api(a, "/api/allocations")[1]["allocations"]),
                                timeout=2.0, interval=0.05), "bob's allocation on A still lives"
                took = time.monotonic() - t0
                print(f"revoked on B: bob's allocation on A ended after {took:.2f} s")
                assert api(a, "/api/users/revoked")[1]["users"] == ["bob"]
                assert allocate_code(a, "bob", "pw-b") == 403
                # An un-revoke on A reaches B.
                assert api(a, "/api/users/bob/revoke", "DELETE")[0] == 200
                assert wait_for(lambda: api(b, "/api/users/revoked")[1]["users"] == [],
                                timeout=2.0, interval=0.05)
                assert allocate_code(b, "bob", "pw-b") == 200
            finally:
                for c in clients:
                    c.close()
                a.stop()
                b.stop()
            # Redis holds the sum of the two ledgers.
            recs = read_records(os.path.join(tmp, "ta.jsonl"), os.path.join(tmp, "tb.jsonl"))
            pstart = int(time.time()) // 86400 * 86400
            h = hash_of(redis, f"icehub:u:{pstart}")
            assert int(h["pb:alice"]) == totals(recs, "alice")["to_peer_bytes"] == 24000, h
    finally:
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_cluster_survives_redis_restart():
    tmp = tempfile.mkdtemp(prefix="icehub-cluster-")
    peer = Peer()
    try:
        redis = Redis("outage").start()
        a = turn_node(redis, "oa", tmp).start()
        b = turn_node(redis, "ob", tmp, ["--redis.required=true"]).start()
        try:
            wait_up(a, b)
            run(outage(redis, a, b, peer, tmp))
        finally:
            a.stop()
            b.stop()
            redis.kill()
    finally:
        peer.close()
        shutil.rmtree(tmp, ignore_errors=True)


async def outage(redis, a, b, peer, tmp):
    p1, p2 = await connect(a), await connect(b)
    await p1.join("r", peer="p1")
    await p2.join("r", peer="p2")
    await p1.expect("peer-joined", id="p2")
    carol = relay(a.port, "carol", "pw-c", peer, 20)
    sent = 20000

    t_kill = time.monotonic()
    redis.kill()
    # Both notice (command or subscriber silence past redis.timeout).
    wait_metric(a, "icehub_cluster_up", 0.0, timeout=5)
    wait_metric(b, "icehub_cluster_up", 0.0, timeout=5)
    print(f"redis killed: link down after {time.monotonic() - t_kill:.2f} s")
    assert a.http_get("/readyz")[0] == 200                 # local service goes on
    assert b.http_get("/readyz") == (503, "redis unreachable\n")  # redis.required
    # Relaying goes on and is accounted.
    for _ in range(20):
        carol.send_indication(peer.addr, b"o" * 1000)
        time.sleep(0.002)
    sent += 20000
    # A join is decided locally; the peer on the other node is unreachable.
    p3 = await connect(a)
    j3 = await p3.join("r", peer="p3")
    assert j3["peers"] == ["p1", "p2"], j3
    await p1.expect("peer-joined", id="p3")
    await p1.send({"type": "signal", "to": "p2", "data": 1, "ref": "u"})
    await p1.error("undelivered", to="p2", ref="u")
    await asyncio.sleep(1.5)  # reconnect attempts back off meanwhile

    redis.start()  # same port, empty: it lost everything
    wait_up(a, b, timeout=10)
    print(f"redis restarted: links up {time.monotonic() - t_kill:.2f} s after the kill")
    assert b.http_get("/readyz")[0] == 200
    # Rooms are resynchronised: p2 hears of p3, and signals cross again.
    await p2.expect("peer-joined", id="p3", timeout=5)
    await p1.send({"type": "signal", "to": "p2", "data": "back"})
    await p2.expect("signal", data="back")
    await p2.send({"type": "signal", "to": "p3", "data": "hi"})
    await p3.expect("signal", data="hi")
    for _ in range(10):
        carol.send_indication(peer.addr, b"p" * 1000)
        time.sleep(0.002)
    sent += 10000
    wait_for(lambda: peer.received >= sent, timeout=5)
    assert carol.refresh(0)[0] == 2  # the final ledger record
    carol.close()
    path = os.path.join(tmp, "oa.jsonl")
    wait_for(lambda: any(r["type"] == "final" for r in read_records(path)), timeout=5)
    ledger = totals(read_records(path), "carol")["to_peer_bytes"]
    assert ledger == sent == peer.received, (ledger, sent, peer.received)
    # The cluster's usage was rebuilt from the nodes: B answers for it.
    assert wait_for(lambda: (usage_of(b, "carol")[1] or {}).get("to_peer_bytes") == sent,
                    timeout=5), usage_of(b, "carol")
    pstart = int(time.time()) // 86400 * 86400
    assert int(hash_of(redis, f"icehub:u:{pstart}")["pb:carol"]) == sent
    m = a.metrics()
    assert m["icehub_cluster_disconnects_total"] >= 1
    assert m['icehub_cluster_connects_total{result="success"}'] >= 2
    assert m['icehub_cluster_hub_errors_total{kind="local_join"}'] >= 1
    for p in (p1, p2, p3):
        await p.close()
