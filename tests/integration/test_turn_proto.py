"""TURN protocol behaviour with an independent Python client: relaying in
both directions, and the negative cases: 401 wrong password and expired
credential, 438 stale nonce, 403 for denied peers (IPv4-mapped forms too),
no relaying without permission, 437, 486/508 limits, retransmissions."""
import contextlib
import os
import signal
import socket
import struct
import subprocess
import time

from harness import Daemon, attr, get_attr, xor_address, wait_for
from turnclient import (TurnClient, ephemeral, error_code, ALLOCATE, A_RELAYED, A_LIFETIME,
                        A_MAPPED, A_NONCE, A_DONT_FRAG)

USER, PASS, SECRET = "alice", "wonderland", "s3cret-key"


def daemon(name, extra=(), allow_loopback=True):
    args = [f"--turn.users={USER}:{PASS},bob:builder", f"--turn.secrets={SECRET}",
            "--turn.realm=icehub.test"]
    if allow_loopback:
        args.append("--turn.allowed_peers=127.0.0.0/8")
    return Daemon(name, args=args + list(extra))


def peer_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    return s


def test_relay_both_directions_channel_and_indication():
    with daemon("proto-relay") as d:
        c = TurnClient(d.port, USER, PASS)
        cls, attrs, raw = c.allocate()
        assert cls == 2, error_code(attrs)
        assert struct.unpack("!I", get_attr(attrs, A_LIFETIME))[0] == 600
        assert xor_address(get_attr(attrs, A_MAPPED), raw[8:20]) == c.sock.getsockname()
        p = peer_socket()
        paddr = p.getsockname()
        assert c.permit(paddr)[0] == 2
        # Send indication -> peer sees the payload from the relayed address.
        c.send_indication(paddr, b"hello peer")
        data, src = p.recvfrom(100)
        assert data == b"hello peer" and src == c.relayed
        # Peer -> client as a Data indication.
        p.sendto(b"hello client", c.relayed)
        kind, frm, data = c.recv_data()
        assert (kind, frm, data) == ("data", paddr, b"hello client")
        # Channel: both directions as ChannelData.
        assert c.channel_bind(0x4001, paddr)[0] == 2
        c.send_channel(0x4001, b"x" * 1000)
        assert p.recvfrom(2000)[0] == b"x" * 1000
        p.sendto(b"y" * 3, c.relayed)
        assert c.recv_data() == ("channel", 0x4001, b"yyy")
        m = d.metrics()
        assert m["icehub_turn_allocations_active"] == 1
        assert m["icehub_turn_channels_active"] == 1
        # Refresh 0 deletes.
        assert c.refresh(0)[0] == 2
        assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0)


@contextlib.contextmanager
def stopped(d):
    """The daemon stopped (SIGSTOP) for the block, continued after it."""
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)


def burst(d, gso):
    c = TurnClient(d.port, USER, PASS)
    assert c.allocate()[0] == 2
    p = peer_socket()
    assert c.channel_bind(0x4020, p.getsockname())[0] == 2
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    # A "video frame": 40 datagrams of 1000 bytes and a short tail, each way.
    frame = [bytes([i]) * 1000 for i in range(40)] + [b"tail"]
    # The daemon is stopped while a burst is sent, so the whole burst waits in
    # its socket and is read in one batch, as a burst from a busy network is;
    # otherwise how many datagrams a read finds depends on the scheduler.
    with stopped(d):
        for pkt in frame:
            p.sendto(pkt, c.relayed)
    got = [c.recv_data() for _ in frame]
    assert got == [("channel", 0x4020, pkt) for pkt in frame], "peer->client burst mangled"
    with stopped(d):
        for pkt in frame:
            c.send_channel(0x4020, pkt)
    assert [p.recvfrom(2000)[0] for _ in frame] == frame, "client->peer burst mangled"


def test_bursts_with_and_without_gso():
    """Runs of same-size datagrams to one destination leave as UDP GSO
    sends; what arrives must be the same datagrams, in order."""
    for gso in ("true", "false"):
        with daemon(f"proto-gso-{gso}", [f"--turn.gso={gso}"]) as d:
            burst(d, gso)
            m = d.metrics()
            assert m["icehub_turn_peer_packets_total"] == 41
            assert m['icehub_tx_errors_total{transport="udp"}'] == 0
            if gso == "true":
                assert m["icehub_udp_gso_sends_total"] >= 2, m["icehub_udp_gso_sends_total"]
            else:
                assert m["icehub_udp_gso_sends_total"] == 0


def test_tcp_client_relay():
    with daemon("proto-tcp") as d:
        c = TurnClient(d.port, USER, PASS, transport="tcp")
        assert c.allocate()[0] == 2
        p = peer_socket()
        assert c.channel_bind(0x4abc, p.getsockname())[0] == 2
        c.send_channel(0x4abc, b"odd")  # 3 bytes: padded to 4 on the stream
        assert p.recvfrom(100)[0] == b"odd"
        p.sendto(b"12345", c.relayed)
        assert c.recv_data() == ("channel", 0x4abc, b"12345")
        c.close()  # closing the connection ends the allocation
        assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0)


def test_wrong_password_gets_401():
    with daemon("proto-401") as d:
        c = TurnClient(d.port, USER, "wrong")
        cls, attrs, _ = c.allocate()
        assert cls == 3 and error_code(attrs)[0] == 401
        assert get_attr(attrs, A_NONCE) is not None
        c2 = TurnClient(d.port, "mallory", "x")
        assert error_code(c2.allocate()[1])[0] == 401
        assert d.metrics()["icehub_turn_auth_failures_total"] >= 2


def test_ephemeral_credentials_and_expiry():
    with daemon("proto-ephemeral") as d:
        name, pw = ephemeral(SECRET, "carol", 3600)
        assert TurnClient(d.port, name, pw).allocate()[0] == 2
        name, pw = ephemeral(SECRET, "carol", -10)  # expired
        cls, attrs, _ = TurnClient(d.port, name, pw).allocate()
        assert cls == 3 and error_code(attrs)[0] == 401
        name, pw = ephemeral("not-the-secret", "carol", 3600)
        assert error_code(TurnClient(d.port, name, pw).allocate()[1])[0] == 401
        # A credential that expires ends its allocation (coturn keeps relaying).
        name, pw = ephemeral(SECRET, "dave", 2)
        c = TurnClient(d.port, name, pw)
        assert c.allocate()[0] == 2
        before = d.metrics()["icehub_turn_allocations_active"]
        assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == before - 1,
                        timeout=6)
        cls, attrs, _ = c.refresh(600)
        assert cls == 3 and error_code(attrs)[0] in (401, 437)


def test_stale_nonce_gets_438():
    with daemon("proto-438", ["--turn.nonce_lifetime=1"]) as d:
        c = TurnClient(d.port, USER, PASS)
        assert c.allocate()[0] == 2
        old = c.nonce
        time.sleep(2.2)
        cls, attrs, raw = c.transact(4, attr(A_LIFETIME, struct.pack("!I", 600)),
                                     retry_auth=False)
        assert cls == 3 and error_code(attrs)[0] == 438
        assert get_attr(attrs, A_NONCE).decode() != old
        # With the fresh nonce the same request succeeds.
        c.nonce = get_attr(attrs, A_NONCE).decode()
        assert c.refresh(600)[0] == 2
        assert d.metrics()["icehub_turn_stale_nonces_total"] >= 1


def test_denied_peers_get_403():
    with daemon("proto-403", allow_loopback=False) as d:
        c = TurnClient(d.port, USER, PASS)
        assert c.allocate()[0] == 2
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.1.1", "172.16.0.1", "169.254.1.1",
                   "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255"]:
            cls, attrs, _ = c.permit((ip, 5000))
            assert cls == 3 and error_code(attrs)[0] == 403, ip
        assert error_code(c.channel_bind(0x4000, ("127.0.0.1", 5000))[1])[0] == 403
        # An IPv6 relay (REQUESTED-ADDRESS-FAMILY) for the IPv6 forms, which
        # must be judged as the IPv4 addresses they embed.
        c6 = TurnClient(d.port, USER, PASS)
        cls, attrs, _ = c6.allocate(extra=attr(0x17, b"\x02\0\0\0"))
        assert cls == 2, error_code(attrs)
        assert ":" in c6.relayed[0]
        for ip in ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "::1", "::",
                   "fe80::1", "fc00::1", "ff02::1"]:
            assert error_code(c6.permit((ip, 5000))[1])[0] == 403, ip
        assert d.metrics()["icehub_turn_peer_denied_total"] >= 18


def test_ipv6_relay_for_ipv4_client():
    with daemon("proto-v6relay", ["--turn.allowed_peers=127.0.0.0/8,::1"]) as d:
        c = TurnClient(d.port, USER, PASS)
        cls, attrs, _ = c.allocate(extra=attr(0x17, b"\x02\0\0\0"))
        assert cls == 2, error_code(attrs)
        p = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        p.bind(("::1", 0))
        p.settimeout(2)
        paddr = p.getsockname()[:2]
        assert c.channel_bind(0x4002, paddr)[0] == 2
        c.send_channel(0x4002, b"over v6")
        data, src = p.recvfrom(100)
        assert data == b"over v6" and src[:2] == c.relayed
        p.sendto(b"back", c.relayed)
        assert c.recv_data() == ("channel", 0x4002, b"back")


def test_relay_to_relay_on_one_server():
    """Two clients that both relay through this server reach each other
    relay to relay with the default policy (the server's own addresses are
    peers only at relay ports); its other ports stay out of reach."""
    # Relay ports outside Linux's ephemeral range, so the free ports the
    # harness picks for the daemon's own services never fall inside.
    with daemon("proto-r2r", ["--turn.relay_ports=61000-61999"], allow_loopback=False) as d:
        a = TurnClient(d.port, USER, PASS)
        b = TurnClient(d.port, "bob", "builder")
        assert a.allocate()[0] == 2 and b.allocate()[0] == 2
        assert a.permit(b.relayed)[0] == 2, "relay-to-relay refused"
        assert b.permit(a.relayed)[0] == 2
        a.send_indication(b.relayed, b"a to b")
        assert b.recv_data() == ("data", a.relayed, b"a to b")
        assert b.channel_bind(0x4010, a.relayed)[0] == 2
        b.send_channel(0x4010, b"b to a")
        assert a.recv_data() == ("data", b.relayed, b"b to a")
        # The server's own non-relay ports: refused, and not reachable by a
        # Send through a permission installed for a relay port.
        http = ("127.0.0.1", d.http_port)
        assert error_code(a.permit(http)[1])[0] == 403
        assert error_code(a.channel_bind(0x4011, http)[1])[0] == 403
        a.send_indication(http, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert wait_for(lambda: d.metrics()[
            'icehub_turn_dropped_total{reason="no_permission"}'] == 1)


def test_no_relay_without_permission():
    with daemon("proto-noperm") as d:
        c = TurnClient(d.port, USER, PASS)
        assert c.allocate()[0] == 2
        p = peer_socket()
        c.send_indication(p.getsockname(), b"should not pass")
        p.settimeout(0.5)
        try:
            p.recvfrom(100)
            assert False, "relayed without permission"
        except socket.timeout:
            pass
        assert wait_for(lambda: d.metrics()[
            'icehub_turn_dropped_total{reason="no_permission"}'] == 1)
        # Nor from a peer without permission to the client.
        p.sendto(b"unsolicited", c.relayed)
        try:
            c.recv_data(timeout=0.5)
            assert False, "relayed without permission"
        except socket.timeout:
            pass
        assert d.metrics()["icehub_turn_peer_dropped_total"] == 1
        # ChannelData on a channel that is not bound: dropped and counted.
        c.send_channel(0x4005, b"nobody home")
        assert wait_for(lambda: d.metrics()[
            'icehub_turn_dropped_total{reason="no_channel"}'] == 1)
        try:
            p.recvfrom(100)
            assert False, "relayed on an unbound channel"
        except socket.timeout:
            pass


def test_allocation_mismatch_437():
    with daemon("proto-437") as d:
        c = TurnClient(d.port, USER, PASS)
        cls, attrs, _ = c.refresh(600)
        # First a 401 (no nonce yet) then, authenticated, 437: no allocation.
        assert cls == 3 and error_code(attrs)[0] == 437
        assert c.allocate()[0] == 2
        cls, attrs, _ = c.allocate()  # a second Allocate, new transaction
        assert cls == 3 and error_code(attrs)[0] == 437


def test_retransmitted_allocate_gets_same_answer():
    with daemon("proto-retrans") as d:
        c = TurnClient(d.port, USER, PASS)
        # Learn this 5-tuple's nonce first (nonces are bound to the client
        # address): a Refresh without allocation gets 401, then 437.
        assert error_code(c.refresh(600)[1])[0] == 437
        tid = os.urandom(12)
        cls1, a1, r1 = c.allocate(tid=tid)
        cls2, a2, r2 = c.allocate(tid=tid)
        assert cls1 == cls2 == 2, (error_code(a1), error_code(a2))
        assert r1 == r2
        assert d.metrics()["icehub_turn_allocations_active"] == 1


def test_allocation_quotas():
    with daemon("proto-quota", ["--turn.max_allocations_per_user=2",
                                "--turn.max_allocations=3"]) as d:
        cs = [TurnClient(d.port, USER, PASS) for _ in range(3)]
        assert cs[0].allocate()[0] == 2
        assert cs[1].allocate()[0] == 2
        cls, attrs, _ = cs[2].allocate()
        code, reason = error_code(attrs)
        assert cls == 3 and code == 486 and "user" in reason, (code, reason)
        b1 = TurnClient(d.port, "bob", "builder")
        assert b1.allocate()[0] == 2
        b2 = TurnClient(d.port, "bob", "builder")
        code, reason = error_code(b2.allocate()[1])
        assert code == 508 and "total" in reason, (code, reason)
        # Ending one frees a slot.
        assert cs[0].refresh(0)[0] == 2
        assert b2.allocate()[0] == 2


def test_external_ip_is_advertised():
    """Behind a NAT: relays bind locally, XOR-RELAYED-ADDRESS shows the
    public address (turn.external_ip PUBLIC/PRIVATE), same port."""
    with daemon("proto-extip", ["--turn.external_ip=203.0.113.7/127.0.0.1"]) as d:
        c = TurnClient(d.port, USER, PASS)
        cls, attrs, raw = c.allocate()
        assert cls == 2, error_code(attrs)
        ip, port = c.relayed
        assert ip == "203.0.113.7", c.relayed
        # The relay really listens on the private address at that port.
        p = peer_socket()
        assert c.permit(p.getsockname())[0] == 2
        c.send_indication(p.getsockname(), b"via nat")
        data, src = p.recvfrom(100)
        assert data == b"via nat" and src == ("127.0.0.1", port)


def test_lifetime_is_capped():
    with daemon("proto-lifetime", ["--turn.max_lifetime=900"]) as d:
        c = TurnClient(d.port, USER, PASS)
        cls, attrs, _ = c.allocate(lifetime=100000)
        assert cls == 2
        assert struct.unpack("!I", get_attr(attrs, A_LIFETIME))[0] == 900


def test_dont_fragment():
    """DONT-FRAGMENT (RFC 8656 §7.2, §11.2): on a Send indication, that one
    datagram leaves with DF; on the Allocate, every datagram does. A loopback
    address with a locked route MTU of 1280 (a route this test adds to the local
    table and removes) makes DF visible: 1400 bytes with DF cannot leave,
    without DF the kernel fragments them and the peer gets them whole."""
    route = ["local", "127.77.0.1/32", "dev", "lo", "mtu", "lock", "1280", "table", "local"]
    subprocess.run(["ip", "route", "replace"] + route, check=True)
    try:
        with daemon("proto-df") as d:
            p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            p.bind(("127.77.0.1", 0))
            p.settimeout(1)
            paddr = p.getsockname()
            big = b"f" * 1400
            c = TurnClient(d.port, USER, PASS)
            assert c.allocate()[0] == 2
            assert c.permit(paddr)[0] == 2
            c.send_indication(paddr, big)
            assert p.recvfrom(2000)[0] == big
            errors = d.metrics().get("icehub_turn_peer_send_errors_total", 0)
            c.send_indication(paddr, big, extra=attr(A_DONT_FRAG, b""))
            c.send_indication(paddr, b"small, DF")
            assert p.recvfrom(2000)[0] == b"small, DF"  # the big one never left
            assert wait_for(lambda: d.metrics()["icehub_turn_peer_send_errors_total"] > errors)
            c.send_indication(paddr, big)  # DF is off again for the next datagram
            assert p.recvfrom(2000)[0] == big
            # DONT-FRAGMENT on the Allocate: every datagram.
            c2 = TurnClient(d.port, USER, PASS)
            assert c2.allocate(extra=attr(A_DONT_FRAG, b""))[0] == 2
            assert c2.permit(paddr)[0] == 2
            c2.send_indication(paddr, big)
            c2.send_indication(paddr, b"after")
            assert p.recvfrom(2000)[0] == b"after"
    finally:
        subprocess.run(["ip", "route", "del"] + route, check=False)


def test_malformed_attribute_gets_400():
    """A request whose header is sound but whose attribute is malformed (a 3-byte
    LIFETIME) gets 400 Bad Request (RFC 8489 §6.3.1.1) and is counted; an
    indication with the same fault is dropped silently."""
    with daemon("proto-400") as d:
        c = TurnClient(d.port, USER, PASS)
        cls, attrs, _ = c.allocate(extra=attr(A_LIFETIME, b"\0\0\x01"))
        assert cls == 3 and error_code(attrs)[0] == 400, error_code(attrs)
        assert "malformed" in error_code(attrs)[1]
        m = d.metrics()
        assert m['icehub_invalid_packets_total{reason="bad_attr_length"}'] >= 1
        # The client can go on with a good request.
        assert c.allocate()[0] == 2
