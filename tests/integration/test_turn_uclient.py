"""TURN relaying with coturn's turnutils_uclient through icehubd to
turnutils_peer, over UDP, TCP and TLS, with channels and with Send
indications, with static and shared-secret credentials: 0% loss at a
moderate rate."""
import os
import re
import socket
import subprocess
import tempfile
import time

from harness import Daemon, free_port
from test_binding import make_cert

USER, PASS, SECRET = "alice", "wonderland", "s3cret-key"


def turn_daemon(name, extra=(), tls=False):
    args = [f"--turn.users={USER}:{PASS}", f"--turn.secrets=old-secret,{SECRET}",
            "--turn.realm=icehub.test", "--turn.allowed_peers=127.0.0.0/8"] + list(extra)
    return Daemon(name, args=args, tls=tls)


class Peer:
    """coturn's UDP echo peer."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def uclient(port, flags, n=200, clients=5, size=100, user=USER, pw=PASS, peer_port=3480,
            extra=(), timeout=60):
    cmd = ["turnutils_uclient"] + flags + ["-e", "127.0.0.1", "-r", str(peer_port), "-p",
                                           str(port), "-n", str(n), "-m", str(clients),
                                           "-l", str(size), "-z", "5"] + list(extra)
    if user:
        cmd += ["-u", user]
    if pw:
        cmd += ["-w", pw]
    cmd.append("127.0.0.1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    m = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", out)
    lost = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", out)
    assert m and lost, out[-3000:]
    return int(m.group(1)), int(m.group(2)), int(lost.group(1)), out


def check_run(d, peer, flags, **kw):
    sent, recv, lost, out = uclient(d.port if "-S" not in flags else d.tls_port, flags,
                                    peer_port=peer.port, **kw)
    # uclient runs one more session than -m asks for, so count at least n * m.
    n = kw.get("n", 200) * kw.get("clients", 5)
    assert sent >= n and recv == sent and lost == 0, (flags, sent, recv, lost, out[-2000:])
    return sent


def test_udp_channels_and_send_static_user():
    peer = Peer()
    try:
        with turn_daemon("uclient-udp") as d:
            check_run(d, peer, [])            # ChannelData
            check_run(d, peer, ["-s"])        # Send/Data indications
            check_run(d, peer, ["-g"])        # DONT-FRAGMENT
            m = d.metrics()
            assert m['icehub_turn_allocations_total{result="success"}'] >= 15
    finally:
        peer.stop()


def test_tcp_channels_and_send():
    peer = Peer()
    try:
        with turn_daemon("uclient-tcp") as d:
            check_run(d, peer, ["-t"])
            check_run(d, peer, ["-t", "-s"])
    finally:
        peer.stop()


def test_tls():
    peer = Peer()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        try:
            with turn_daemon("uclient-tls", [f"--tls.cert={cert}", f"--tls.key={key}"],
                             tls=True) as d:
                check_run(d, peer, ["-t", "-S"], n=100)
                check_run(d, peer, ["-t", "-S", "-s"], n=100)
        finally:
            peer.stop()


def test_shared_secret_credentials():
    """uclient -W computes coturn's REST API credential: timestamp:user and
    base64(HMAC-SHA1(secret, username)). Both configured secrets work
    (rotation); a wrong secret does not."""
    peer = Peer()
    try:
        with turn_daemon("uclient-secret") as d:
            check_run(d, peer, [], pw=None, extra=["-W", SECRET])
            check_run(d, peer, [], pw=None, extra=["-W", "old-secret"], n=50)
            r = subprocess.run(["turnutils_uclient", "-W", "wrong", "-u", "bob", "-e",
                                "127.0.0.1", "-r", str(peer.port), "-p", str(d.port), "-n", "5",
                                "127.0.0.1"], capture_output=True, text=True, timeout=30)
            assert "tot_recv_msgs=5" not in r.stdout
            assert d.metrics()["icehub_turn_auth_failures_total"] >= 1
    finally:
        peer.stop()
