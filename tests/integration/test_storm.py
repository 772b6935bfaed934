"""A storm of random and mutated datagrams (and garbage TCP streams): the
daemon counts and drops them, never crashes, and keeps answering Binding."""
import os
import socket
import struct
import time

from harness import (Daemon, binding_request, build, attr, parse, udp_query, wait_for, rng,
                     fingerprint, MAGIC)

N = int(os.environ.get("ICEHUB_STORM_PACKETS", "100000"))


def seeds():
    out = []
    for fp in (False, True):
        out.append(binding_request(fp=fp)[0])
    out.append(build(0x0001, attr(0x0006, b"user") + attr(0x0014, b"realm") +
                     attr(0x8022, b"sw"), fp=True)[0])
    out.append(build(0x0003, attr(0x0019, b"\x11\0\0\0") + attr(0x000D, b"\0\0\x02\x58"))[0])
    out.append(struct.pack("!HH", 0x4001, 8) + b"abcdefgh")
    out.append(struct.pack("!HH", 0x0001, 0) + os.urandom(16))
    return out


def mutate(r, s):
    b = bytearray(s)
    kind = r.randrange(8)
    if kind == 0:
        return os.urandom(r.randrange(0, 1500))
    if kind == 1 and b:
        for _ in range(r.randrange(1, 8)):
            b[r.randrange(len(b))] = r.randrange(256)
    elif kind == 2:
        return bytes(b[:r.randrange(len(b) + 1)])
    elif kind == 3:
        b += os.urandom(r.randrange(1, 64))
    elif kind == 4 and len(b) >= 4:
        struct.pack_into("!H", b, 2, r.randrange(65536))  # lie about the length
    elif kind == 5 and len(b) >= 24:
        struct.pack_into("!H", b, 22, r.randrange(65536))  # lie about an attribute length
    elif kind == 6:
        b = bytearray(struct.pack("!HHI", r.randrange(0x4000), 4 * r.randrange(64), MAGIC)
                      + os.urandom(12 + 4 * r.randrange(64)))
    else:
        b[0] = r.choice([0, 1, 2, 3, 0x40, 0x4f, 0x80, 0xff])
    return bytes(b)


def test_storm_udp():
    r = rng(1234)
    base = seeds()
    with Daemon("storm") as d:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        for s in socks:
            s.setblocking(False)
        sent = 0
        t0 = time.time()
        while sent < N:
            s = socks[sent % len(socks)]
            pkt = mutate(r, r.choice(base))
            try:
                s.sendto(pkt, ("127.0.0.1", d.port))
            except BlockingIOError:
                time.sleep(0.001)
                continue
            sent += 1
            if sent % 2000 == 0:
                # Drain replies so our receive buffers do not fill, and pace a little.
                for x in socks:
                    try:
                        while x.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                time.sleep(0.002)
        assert d.proc.poll() is None, "daemon died"
        # Still answers, correctly. The storm came from this IP and emptied its
        # turn.answer_rate bucket (200/s, burst 400), so give it 0.1 s to hold
        # a token again: a query right after the storm is dropped on purpose.
        time.sleep(0.1)
        msg, tid = binding_request()
        data, local = udp_query(d.port, msg)
        t, cookie, rtid, attrs = parse(data)
        assert t == 0x0101 and rtid == tid
        m = d.metrics()
        invalid = sum(v for k, v in m.items() if k.startswith("icehub_invalid_packets_total"))
        rx = m['icehub_rx_packets_total{transport="udp"}']
        assert invalid > N / 4, (invalid, rx)
        print(f"      storm: {sent} datagrams in {time.time() - t0:.1f} s, "
              f"received {rx:.0f}, invalid {invalid:.0f}")


def test_storm_tcp():
    r = rng(99)
    base = seeds()
    with Daemon("storm-tcp") as d:
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", d.port))
            try:
                s.sendall(b"".join(mutate(r, r.choice(base)) for _ in range(r.randrange(1, 6))))
            except OSError:
                pass
            s.close()
        assert d.proc.poll() is None
        s = socket.create_connection(("127.0.0.1", d.port))
        msg, tid = binding_request()
        s.sendall(msg)
        s.settimeout(3)
        data = s.recv(1000)
        assert parse(data)[2] == tid
        s.close()
