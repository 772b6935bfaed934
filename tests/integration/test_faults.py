"""Faults the daemon must live through: file descriptors running out
(no crash, no busy loop, every refusal counted, recovery once they free
up), and sendmsg, sendmmsg and accept4 failing at random under load
(tests/fault/fault_shim.c through LD_PRELOAD): nothing leaks (the ASan
daemon checks at exit) and no allocation is left behind. kill -9 and a
full disk are in test_ledger.py."""
import os
import socket
import struct
import threading
import time

from harness import ROOT, Daemon, attr, get_attr, parse, wait_for, xor_address
from turnclient import (TurnClient, error_code, xor_addr_value, ALLOCATE, REFRESH,
                        CREATE_PERMISSION, A_LIFETIME, A_NONCE, A_PEER, A_REALM, A_RELAYED,
                        A_REQ_TRANSPORT)

USER, PASS = "alice", "wonderland"
SHIM = os.path.join(ROOT, "build", "fault_shim.so")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def test_fd_exhaustion_refuses_counts_and_recovers():
    d = Daemon("fault-fds", args=[f"--turn.users={USER}:{PASS}", "--turn.threads=2",
                                  "--turn.allowed_peers=127.0.0.0/8"])
    base = None
    # Find how many descriptors the daemon needs idle, then run it with 24
    # more than that.
    with Daemon("fault-fds-probe", args=["--turn.threads=2"]) as p:
        time.sleep(0.3)
        base = fds(p.proc.pid)
    limit = base + 24
    d.argv = ["prlimit", f"--nofile={limit}:{limit}", "--"] + d.argv
    with d:
        conns, refused = [], 0
        for _ in range(60):
            try:
                conns.append(socket.create_connection(("127.0.0.1", d.port), timeout=2))
            except OSError:
                refused += 1
        time.sleep(0.5)
        # The listener is not left readable in a loop: the workers idle.
        c0 = cpu_s(d.proc.pid)
        time.sleep(1.0)
        busy = cpu_s(d.proc.pid) - c0
        # Out of descriptors, an Allocate gets 508 (no relay socket).
        codes = []
        for _ in range(4):
            c = TurnClient(d.port, USER, PASS)
            cls, attrs, _ = c.allocate()
            codes.append(0 if cls == 2 else error_code(attrs)[0])
            c.close()
        # The connections the daemon could not keep were closed at once.
        closed = 0
        for s in conns:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        assert d.proc.poll() is None, "daemon died"
        for s in conns:
            s.close()
        time.sleep(0.5)
        m = d.metrics()
        nodesc = m['icehub_connections_closed_total{reason="no_descriptor"}']
        e508 = m.get('icehub_turn_allocate_errors_total{code="508",reason="capacity_port"}', 0)
        print(f"      fd limit {limit} (idle use {base}): 60 connections, {closed} closed at "
              f"once, {nodesc:.0f} counted no_descriptor; Allocates {codes}; "
              f"CPU {busy:.2f} s in 1 s while the backlog waited")
        assert nodesc >= 1 and closed >= 1
        assert 508 in codes and e508 >= 1
        assert busy < 0.5, busy
        # Recovery: descriptors free again, everything works.
        c = TurnClient(d.port, USER, PASS)
        assert c.allocate()[0] == 2
        c.close()
        t = TurnClient(d.port, USER, PASS, transport="tcp")
        assert t.allocate()[0] == 2
        t.close()
        assert d.stop()[0] == 0


def retry(fn, tries=8):
    """Run a transaction again after a timeout (a lost answer): the same
    request with the same transaction id, answered from the server's cache
    when it was handled."""
    for i in range(tries):
        try:
            return fn()
        except (socket.timeout, TimeoutError):
            continue
    raise AssertionError("no answer after retries")


class Client:
    """A TURN client that retransmits (RFC 8489 §6.2.1) whatever the shim
    made the server's answer fail on."""

    def __init__(self, d, transport):
        self.c = TurnClient(d.port, USER, PASS, transport=transport)
        self.c.sock.settimeout(0.3)

    def transact(self, method, body=b"", tid=None):
        tid = tid or os.urandom(12)
        c = self.c
        # The first answer may be a 401 with the nonce; then a new request.
        for _ in range(3):
            msg, _ = c.build(method, 0, body, tid, True)
            for _ in range(10):
                c.send_raw(msg)
                try:
                    while True:
                        raw = c.recv_raw(timeout=0.3)
                        if raw[0] & 0xC0 == 0 and raw[8:20] == tid:
                            break
                    break
                except (socket.timeout, TimeoutError):
                    continue
            else:
                raise AssertionError("no answer")
            t, _, _, attrs = parse(raw)
            self.last_tid = tid
            cls = ((t >> 7) & 2) | ((t >> 4) & 1)
            code = error_code(attrs)[0]
            if cls == 3 and code in (401, 438):
                c.realm = get_attr(attrs, A_REALM).decode()
                c.nonce = get_attr(attrs, A_NONCE).decode()
                continue  # the same tid: a new request, new integrity
            return cls, attrs
        raise AssertionError("authentication loop")

    def close(self):
        self.c.close()


def churn(d, transport, rounds, peer, stats):
    """Allocate, permit the peer, relay both ways, delete; again and again."""
    for _ in range(rounds):
        try:
            k = Client(d, transport)
        except OSError:
            stats["connect_failed"] += 1
            continue
        try:
            cls, attrs = k.transact(ALLOCATE, attr(A_REQ_TRANSPORT, b"\x11\0\0\0"))
            if cls != 2:
                stats["alloc_failed"] += 1
                continue
            stats["allocated"] += 1
            tid = os.urandom(12)
            relayed = xor_address(get_attr(attrs, A_RELAYED), k.last_tid)
            pa = peer.getsockname()
            k.transact(CREATE_PERMISSION, attr(A_PEER, xor_addr_value(pa[0], pa[1], tid)),
                       tid=tid)
            for i in range(10):
                k.c.send_indication(pa, b"d" * 100)
                peer.sendto(b"u" * 80, relayed)
            cls, _ = k.transact(REFRESH, attr(A_LIFETIME, b"\0\0\0\0"))
            stats["deleted" if cls == 2 else "delete_failed"] += 1
        except (AssertionError, ConnectionError, OSError):
            stats["broken"] += 1
        finally:
            k.close()


def test_injected_send_and_accept_failures_leave_nothing_behind():
    """One call in five to sendmsg, sendmmsg and accept4 fails (with the
    errors the kernel gives); clients over UDP, TCP and TLS allocate,
    relay and delete for a few seconds, retransmitting as RFC 8489 says.
    Afterwards no allocation and no connection is left, and the daemon
    exits cleanly (the ASan daemon also reports no leak)."""
    assert os.path.exists(SHIM), "build/fault_shim.so (make test builds it)"
    count = os.path.join(ROOT, "tests", "artifacts", "fault-shim-counts.txt")
    env = {"LD_PRELOAD": SHIM, "ICEHUB_FAULT_RATE": "0.2", "ICEHUB_FAULT_SEED": "7",
           "ICEHUB_FAULT_COUNT": count,
           # ASan wants to be first in the library list; the shim goes first.
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    with Daemon("fault-inject", args=[f"--turn.users={USER}:{PASS}", "--turn.threads=2",
                                      "--turn.allowed_peers=127.0.0.0/8"], env=env) as d:
        stats = {k: 0 for k in ("allocated", "deleted", "alloc_failed", "delete_failed",
                                "broken", "connect_failed")}
        threads = [threading.Thread(target=churn, args=(d, tr, 15, peer, stats))
                   for tr in ("udp", "udp", "tcp", "tcp")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # TCP allocations end with their connections; UDP ones were deleted
        # (Refresh 0, retransmitted until answered).
        ok = wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0, timeout=5)
        m = d.metrics()
        txerr = sum(v for k, v in m.items() if k.startswith("icehub_tx_errors_total") or
                    k.startswith("icehub_turn_peer_send_errors_total"))
        print(f"      injected failures: {stats}; allocations left "
              f"{m['icehub_turn_allocations_active']:.0f}, connections open "
              f"{m['icehub_connections_open']:.0f}, send errors counted {txerr:.0f}")
        assert ok, m["icehub_turn_allocations_active"]
        assert wait_for(lambda: d.metrics()["icehub_connections_open"] == 0, timeout=5)
        assert stats["allocated"] >= 30 and stats["broken"] <= 10, stats
        rc, _ = d.stop()
        assert rc == 0
        log = d.log()
        assert "LeakSanitizer" not in log and "ERROR: AddressSanitizer" not in log, log[-2000:]
    with open(count) as f:
        counts = dict(line.split() for line in f)
    print(f"      failures injected: {counts}")
    assert int(counts["sendmsg"]) + int(counts["sendmmsg"]) > 10
    assert int(counts["accept4"]) > 0
    peer.close()
