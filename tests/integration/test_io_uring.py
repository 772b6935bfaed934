"""turn.io_uring: client data of many allocations leaves through their own
relay sockets, batched into one io_uring submission. Interleaved clients
reach their peers in order and from their relayed addresses, with the ring
on, off, refused by a seccomp filter (as container runtimes' default
profiles refuse io_uring) and turned on by a reload."""
import ctypes
import os
import signal
import socket
import struct
import tempfile

from harness import Daemon, wait_for
from turnclient import TurnClient, error_code

USER, PASS = "alice", "wonderland"
NCLIENTS, ROUNDS = 6, 40


def daemon(name, extra=(), **kw):
    return Daemon(name, args=[f"--turn.users={USER}:{PASS}", "--turn.realm=icehub.test",
                              "--turn.allowed_peers=127.0.0.0/8"] + list(extra), **kw)


def deny_io_uring_setup():
    """In the child before exec: a seccomp filter that answers
    io_uring_setup (425 on every architecture) with EPERM and allows the
    rest, as Docker's and podman's default profiles do."""
    libc = ctypes.CDLL(None, use_errno=True)
    ld_nr = struct.pack("=HBBI", 0x20, 0, 0, 0)            # A = seccomp_data.nr
    jeq = struct.pack("=HBBI", 0x15, 0, 1, 425)             # A == io_uring_setup?
    deny = struct.pack("=HBBI", 0x06, 0, 0, 0x00050000 | 1)  # SECCOMP_RET_ERRNO | EPERM
    allow = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)     # SECCOMP_RET_ALLOW
    prog = ctypes.create_string_buffer(ld_nr + jeq + deny + allow)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fp = Fprog(4, ctypes.addressof(prog))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, 2, ctypes.byref(fp), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def relay_interleaved(d):
    """NCLIENTS allocations, each with a channel to its own peer socket;
    ROUNDS datagrams each, sent round-robin as fast as Python can, so the
    server reads datagrams of several allocations in one batch. Each peer
    gets its client's datagrams, in order, from the client's relayed
    address."""
    clients, peers = [], []
    try:
        for i in range(NCLIENTS):
            c = TurnClient(d.port, USER, PASS)
            cls, attrs, _ = c.allocate()
            assert cls == 2, error_code(attrs)
            p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            p.bind(("127.0.0.1", 0))
            p.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            p.settimeout(3)
            assert c.channel_bind(0x4000 + i, p.getsockname())[0] == 2
            clients.append(c)
            peers.append(p)
        # The daemon is stopped while they are sent, so its workers find
        # datagrams of several allocations in one read whatever the
        # scheduler does (a fast daemon may otherwise take them one by one).
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            for r in range(ROUNDS):
                for i, c in enumerate(clients):
                    c.send_channel(0x4000 + i, b"c%d-r%03d" % (i, r))
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        for i, p in enumerate(peers):
            got = []
            for _ in range(ROUNDS):
                data, src = p.recvfrom(100)
                assert src == clients[i].relayed, (src, clients[i].relayed)
                got.append(data)
            assert got == [b"c%d-r%03d" % (i, r) for r in range(ROUNDS)], got[:5]
    finally:
        for s in clients + peers:
            s.close()


def test_ring_batches_sends_of_many_allocations():
    with daemon("uring-on") as d:
        assert "io_uring: client data for many relay sockets" in d.log()
        m = d.metrics()
        assert m["icehub_udp_io_uring_workers"] == 2  # both worker threads
        relay_interleaved(d)
        m = d.metrics()
        subs = m["icehub_udp_io_uring_submits_total"]
        sends = m["icehub_udp_io_uring_sends_total"]
        assert subs > 0 and sends >= subs, (subs, sends)
        assert m["icehub_turn_peer_send_errors_total"] == 0


def test_off_sends_without_the_ring():
    with daemon("uring-off", ["--turn.io_uring=false"]) as d:
        relay_interleaved(d)
        m = d.metrics()
        assert m["icehub_udp_io_uring_workers"] == 0
        assert m["icehub_udp_io_uring_submits_total"] == 0


def test_seccomp_refusal_falls_back():
    with daemon("uring-seccomp", preexec=deny_io_uring_setup) as d:
        assert "io_uring not used (io_uring is not permitted here" in d.log(), d.log()
        relay_interleaved(d)
        m = d.metrics()
        assert m["icehub_udp_io_uring_workers"] == 0
        assert m["icehub_udp_io_uring_submits_total"] == 0
        assert m["icehub_turn_peer_send_errors_total"] == 0


def test_reload_turns_it_on():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("turn = { io_uring = false; };\n")
        path = f.name
    try:
        with daemon("uring-reload", config=path) as d:
            assert d.metrics()["icehub_udp_io_uring_workers"] == 0
            relay_interleaved(d)
            with open(path, "w") as f:
                f.write("turn = { io_uring = true; };\n")
            d.send_signal(signal.SIGHUP)
            assert wait_for(lambda: d.metrics()["icehub_udp_io_uring_workers"] == 2)
            relay_interleaved(d)
            assert d.metrics()["icehub_udp_io_uring_submits_total"] > 0
    finally:
        os.unlink(path)
