"""Bandwidth quotas and live relay metrics, end to end: coturn's
turnutils_uclient pushes about ten times an allocation's cap through
icehubd to turnutils_peer (which sinkes it back); the relayed rate that
/metrics reports while the traffic flows is within 10% of the cap, the
drops are counted by kind, the counters rise between two scrapes while the
allocation is still alive, and a per-user override (a glob matched
against the user part of a shared-secret name) gives that user its own
cap. The independent Python client checks the server-wide cap."""
import socket
import subprocess
import threading
import time

from harness import Daemon, free_port
from test_turn_uclient import Peer
from turnclient import TurnClient, ephemeral

USER, PASS, SECRET = "alice", "wonderland", "s3cret-key"
CAP = 800_000           # bits/s: 100 kB/s of UDP payload per direction
SIZE = 1000             # bytes per message
# uclient sends one message per -z ms per session: about 1000 kB/s offered.


def quota_daemon(name, extra=()):
    # A small bucket (16 KiB instead of the default second of the rate): a
    # token bucket lets through its burst on top of the rate in any window,
    # so with the default a sender that stalls for a while (a busy machine)
    # gets up to 100 kB back at once and a 2.5 s window reads 40% high. With
    # 16 KiB the most a window can read above the cap is 16 KiB / window.
    args = ["--quota.allocation_burst=16384", f"--turn.users={USER}:{PASS}", f"--turn.secrets={SECRET}",
            "--turn.realm=icehub.test", "--turn.allowed_peers=127.0.0.0/8",
            f"--quota.allocation_bps={CAP // 1000}k", "--cost.egress_per_gb=0.09",
            "--cost.currency=EUR", "--log.level=info"] + list(extra)
    return Daemon(name, args=args)


def start_uclient(d, peer, user=USER, pw=PASS, secret=None, n=8000):
    cmd = ["turnutils_uclient", "-c", "-m", "1", "-n", str(n), "-z", "1", "-l", str(SIZE),
           "-e", "127.0.0.1", "-r", str(peer.port), "-p", str(d.port), "-u", user]
    cmd += ["-W", secret] if secret else ["-w", pw]
    cmd.append("127.0.0.1")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sample(d):
    m = d.metrics()
    up = sum(v for k, v in m.items()
             if k.startswith('icehub_turn_relayed_bytes_total{direction="to_peer"'))
    down = sum(v for k, v in m.items()
               if k.startswith('icehub_turn_relayed_bytes_total{direction="to_client"'))
    return time.monotonic(), up, down, m


def measure(d, peer, window=3.0, **kw):
    """Start uclient, skip its first second of traffic (the burst), then
    return the to_peer rate in bytes/s over <window> and both scrapes."""
    uc = start_uclient(d, peer, **kw)
    try:
        # uclient takes a few seconds to start sending; wait until the
        # relayed bytes move.
        _, up, _, _ = sample(d)
        deadline = time.monotonic() + 10
        while sample(d)[1] == up:
            assert time.monotonic() < deadline and uc.poll() is None, "no traffic from uclient"
            time.sleep(0.1)
        time.sleep(1.0)
        t0, up0, down0, m0 = sample(d)
        time.sleep(window)
        t1, up1, down1, m1 = sample(d)
        assert uc.poll() is None, "uclient stopped before the window ended"
    finally:
        uc.kill()
        uc.wait()
    return (up1 - up0) / (t1 - t0), (down1 - down0) / (t1 - t0), m0, m1


def test_allocation_cap_and_live_metrics():
    peer = Peer()
    try:
        with quota_daemon("quota-cap") as d:
            up, down, m0, m1 = measure(d, peer)
            cap = CAP / 8
            print(f"cap {cap:.0f} B/s: relayed to_peer {up:.0f} B/s, to_client {down:.0f} B/s")
            assert abs(up - cap) <= 0.10 * cap, (up, cap)
            # The sink comes back through the same allocation under its own
            # bucket; it can be no more than what went out.
            assert down <= up * 1.10 + SIZE, (down, up)
            # Live: the counters rose between two scrapes while the
            # allocation was alive.
            assert m0["icehub_turn_allocations_active"] >= 1
            assert m1["icehub_turn_allocations_active"] >= 1
            key = 'icehub_turn_relayed_bytes_total{direction="to_peer",transport="udp",' \
                  'realm="icehub.test"}'
            assert m1[key] > m0[key] > 0
            pk = 'icehub_turn_relayed_packets_total{direction="to_peer",transport="udp",' \
                 'realm="icehub.test"}'
            assert m1[pk] * SIZE == m1[key]
            # Drops: most of the offered traffic, counted by kind in bytes
            # and packets, nothing for the other kinds.
            dp = 'icehub_turn_quota_dropped_packets_total{kind="allocation"}'
            db = 'icehub_turn_quota_dropped_bytes_total{kind="allocation"}'
            assert m1[dp] - m0[dp] > 3 * (m1[pk] - m0[pk]), (m0[dp], m1[dp])
            assert m1[db] == m1[dp] * SIZE
            assert m1['icehub_turn_quota_dropped_packets_total{kind="total"}'] == 0
            assert m1['icehub_turn_dropped_total{reason="quota"}'] >= m1[dp] - 1000
            # Cost follows the egress bytes at the configured price.
            egress = sum(v for k, v in m1.items()
                         if k.startswith('icehub_turn_relayed_bytes_total{direction="to_client"'))
            cost = m1['icehub_turn_cost_total{realm="icehub.test",currency="EUR",'
                      'direction="to_client"}']
            assert abs(cost - egress / 1e9 * 0.09) < 1e-9, (cost, egress)
            assert m1['icehub_stun_requests_total{method="allocate",class="success"}'] >= 1
            assert m1['icehub_stun_requests_total{method="channel_bind",class="success"}'] >= 1
            # Still valid exposition text with live values.
            status, body = d.http_get("/metrics")
            body = body.encode() if isinstance(body, str) else body
            r = subprocess.run(["promtool", "check", "metrics"], input=body,
                               capture_output=True, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
    finally:
        peer.stop()


def test_per_user_override():
    """A shared-secret user "TIMESTAMP:bob" matches the glob "b*" and gets
    twice the default cap; alice keeps the default."""
    peer = Peer()
    try:
        with quota_daemon("quota-user", [f"--quota.users=b*={2 * CAP // 1000}k"]) as d:
            up_bob, _, _, _ = measure(d, peer, window=2.5, user="bob", secret=SECRET)
            cap = 2 * CAP / 8
            print(f"bob (b*) cap {cap:.0f} B/s: relayed {up_bob:.0f} B/s")
            assert abs(up_bob - cap) <= 0.10 * cap, (up_bob, cap)
            up_alice, _, _, _ = measure(d, peer, window=2.5)
            print(f"alice cap {CAP / 8:.0f} B/s: relayed {up_alice:.0f} B/s")
            assert abs(up_alice - CAP / 8) <= 0.10 * CAP / 8, (up_alice, CAP / 8)
    finally:
        peer.stop()


def test_total_capacity_share():
    """quota.total_bps split over 2 workers: one allocation (on one worker)
    gets half of it, whatever its own rate; drops count as kind total."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    with quota_daemon("quota-total", ["--quota.allocation_bps=0", "--quota.total_bps=1600k"]) \
            as d:
        user, pw = ephemeral(SECRET, "carol", 3600)
        c = TurnClient(d.port, user, pw)
        try:
            assert c.allocate()[0] == 2
            peer = sink.getsockname()
            assert c.channel_bind(0x4000, peer)[0] == 2
            # Read the peer side as it arrives (a socket buffer holds only
            # a few hundred datagrams).
            got = [0]

            def drain():
                sink.settimeout(1.0)
                try:
                    while True:
                        got[0] += len(sink.recv(4096))
                except (socket.timeout, OSError):
                    pass
            reader = threading.Thread(target=drain)
            reader.start()
            data = b"x" * SIZE
            # 2 s at about 2 MB/s offered; the share is 100 kB/s.
            t0 = time.monotonic()
            sent = 0
            while time.monotonic() - t0 < 2.0:
                for _ in range(20):
                    c.send_channel(0x4000, data)
                    sent += 1
                time.sleep(0.01)
            elapsed = time.monotonic() - t0
            reader.join()
            got = got[0]
            m = d.metrics()
            share = 1_600_000 / 8 / 2
            # The first second's burst (one second of the share) comes on top.
            want = share * elapsed + share
            print(f"total share: peer got {got} B in {elapsed:.2f} s, want {want:.0f}")
            assert abs(got - want) <= 0.10 * want, (got, want, sent)
            key = 'icehub_turn_relayed_bytes_total{direction="to_peer",transport="udp",' \
                  'realm="icehub.test"}'
            assert m[key] == got, (m[key], got)
            assert m['icehub_turn_quota_dropped_packets_total{kind="total"}'] > 0
            assert m['icehub_turn_quota_dropped_packets_total{kind="allocation"}'] == 0
        finally:
            c.close()
            sink.close()
