"""TURN over a TCP stream cut at awkward places: frames split across
reads at every byte, many frames in one write, and ChannelData followed in
the same read by the start of a frame longer than the read buffer (its data
must reach the peer intact: the forwarded bytes borrow the read buffer
until they are sent, so the buffer must not move under them)."""
import os
import socket
import struct
import time

from harness import Daemon, wait_for
from turnclient import TurnClient, msg_type, attr, xor_addr_value, SEND, A_PEER, A_DATA, MAGIC

USER, PASS = "alice", "wonderland"


def daemon(name):
    return Daemon(name, args=[f"--turn.users={USER}:{PASS}", "--turn.realm=icehub.test",
                              "--turn.allowed_peers=127.0.0.0/8"])


def peer_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.settimeout(3)
    return s


def send_indication(peer, data):
    tid = os.urandom(12)
    body = attr(A_PEER, xor_addr_value(peer[0], peer[1], tid)) + attr(A_DATA, data)
    return struct.pack("!HHI", msg_type(SEND, 1), len(body), MAGIC) + tid + body


def channel_data(ch, data):
    pad = (4 - len(data) % 4) % 4
    return struct.pack("!HH", ch, len(data)) + data + b"\0" * pad


def relay_client(d, p):
    c = TurnClient(d.port, USER, PASS, transport="tcp")
    assert c.allocate()[0] == 2
    assert c.channel_bind(0x4001, p.getsockname())[0] == 2
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def test_tcp_frames_split_at_every_byte():
    with daemon("stream-split") as d:
        p = peer_socket()
        c = relay_client(d, p)
        stream = channel_data(0x4001, b"abc") + send_indication(p.getsockname(), b"0123456789")
        for i in range(len(stream)):
            c.sock.send(stream[i:i + 1])
            time.sleep(0.002)
        assert p.recvfrom(100)[0] == b"abc"
        assert p.recvfrom(100)[0] == b"0123456789"
        # Every two-piece split of the same stream.
        for cut in range(1, len(stream)):
            c.sock.send(stream[:cut])
            time.sleep(0.001)
            c.sock.send(stream[cut:])
            assert p.recvfrom(100)[0] == b"abc", cut
            assert p.recvfrom(100)[0] == b"0123456789", cut
        c.close()


def test_tcp_many_frames_in_one_write():
    with daemon("stream-batch") as d:
        p = peer_socket()
        c = relay_client(d, p)
        payloads = [os.urandom(1 + i % 97) for i in range(300)]
        c.sock.sendall(b"".join(channel_data(0x4001, x) if i % 2 else
                                send_indication(p.getsockname(), x)
                                for i, x in enumerate(payloads)))
        got = [p.recvfrom(2000)[0] for _ in payloads]
        assert got == payloads
        c.close()


def test_tcp_large_frame_after_forwarded_data():
    with daemon("stream-grow") as d:
        p = peer_socket()
        for size in (3000, 9000, 60000):
            c = relay_client(d, p)
            small = os.urandom(500)
            big = os.urandom(size)
            frame = send_indication(p.getsockname(), big)
            # One write: the small ChannelData and the head of the big frame
            # arrive in one read; the rest comes a moment later.
            c.sock.sendall(channel_data(0x4001, small) + frame[:100])
            time.sleep(0.2)
            c.sock.sendall(frame[100:])
            assert p.recvfrom(70000)[0] == small, size
            if size <= 9000:  # a 60000-byte datagram may not fit the peer's buffer
                assert p.recvfrom(70000)[0] == big, size
            c.close()
        assert d.proc.poll() is None
        assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0)
