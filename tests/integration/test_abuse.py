"""Abuse resistance, each limit with its counter: what one unauthenticated
packet gets back (bytes out per byte in) and how much a spoofed flood
reflects to its victim; spoofed Allocate floods leave no state; Binding
floods from one source are cut to turn.answer_rate; relay exhaustion by one
user or one IP ends in 486 while others still allocate, and a full relay
range in 508; permission and channel churn stays within its limits;
WebSocket connection floods, slowloris on HTTP, HTTPS and TURN over TLS,
frames that never complete and endless WebSocket messages are cut off in
bounded time and memory.

Spoofed packets are written with a raw socket (the suite runs as root) from
addresses of 127.0.0.0/8 to the daemon on 127.0.0.1; the victim is a UDP
socket on 127.0.0.99. The figures go to tests/artifacts/abuse-figures.txt
(docs/security.md quotes them).
"""
import os
import random
import socket
import ssl
import struct
import threading
import time

from harness import (ARTIFACTS, Daemon, build, attr, parse, wait_for, free_port)
from turnclient import TurnClient, error_code, ephemeral

USER, PASS = "alice", "wonderland"
FIGURES = os.path.join(ARTIFACTS, "abuse-figures.txt")


def figure(line):
    print("      " + line)
    with open(FIGURES, "a") as f:
        f.write(line + "\n")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# Under AddressSanitizer freed memory waits in a quarantine and shows in the
# RSS as if still held; without one, RSS measures what the daemon keeps.
NO_QUARANTINE = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                 ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"}


def msum(m, prefix):
    return sum(v for k, v in m.items() if k.startswith(prefix))


def ip_udp(src, sport, dst, dport, payload):
    """An IPv4 datagram with a source address of our choosing (the kernel
    fills in the IP checksum; a UDP checksum of 0 means none)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + udp


def raw_socket():
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def requests():
    """The smallest request that earns each kind of answer."""
    return {
        "binding": build(0x0001, fp=False)[0],                                   # 20 bytes
        "allocate_401": build(0x0003, fp=False)[0],                               # 20 bytes
        "unserved_400": build(0x000F, fp=False)[0],                               # 20 bytes
        "malformed_400": build(0x0001, attr(0x0020, b"\0\x09"), fp=False)[0],     # 26->28 bytes
    }


SECRET = "abuse-secret"


def turn_daemon(name, extra=()):
    return Daemon(name, args=[f"--turn.users={USER}:{PASS},bob:builder",
                              f"--turn.secrets={SECRET}", "--turn.realm=icehub.test",
                              "--turn.allowed_peers=127.0.0.0/8", *extra], env=NO_QUARANTINE)


def test_answer_sizes_and_amplification():
    with turn_daemon("abuse-sizes") as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.connect(("127.0.0.1", d.port))
        for name, req in requests().items():
            s.send(req)
            out = s.recv(4096)
            t = parse(out)[0]
            assert t & 0x0110 in (0x0100, 0x0110), (name, hex(t))
            if name != "binding":
                code = error_code(parse(out)[3])[0]
                assert code == (401 if name == "allocate_401" else 400), (name, code)
            # One answer per request, never much larger than it.
            assert len(out) <= 6 * len(req), (name, len(req), len(out))
            figure(f"amplification {name}: {len(req)} bytes in, {len(out)} bytes out, "
                   f"factor {len(out) / len(req):.2f}")
        s.close()


def drain(sock):
    """(datagrams, bytes) waiting on a non-blocking socket, read."""
    n = b = 0
    try:
        while True:
            b += len(sock.recv(4096))
            n += 1
    except BlockingIOError:
        return n, b


def test_spoofed_flood_reflection_is_bounded():
    """A flood spoofed from one victim address: the victim gets at most the
    two per-IP rates' worth of answers, whatever the flood's rate."""
    threads, unauth, answer, secs = 2, 100, 200, 3.0
    with turn_daemon("abuse-reflect", ["--turn.threads=2"]) as d:
        victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        victim.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        victim.bind(("127.0.0.99", 0))
        victim.setblocking(False)
        vport = victim.getsockname()[1]
        raw = raw_socket()
        reqs = list(requests().values())
        sent_pkts = sent_bytes = got_pkts = got_bytes = 0
        r = random.Random(5)
        t0 = time.time()
        while time.time() - t0 < secs:
            for _ in range(200):
                req = reqs[r.randrange(len(reqs))]
                # Spoofed from the victim's address and port: every answer
                # goes to it. Both workers get a share (the victim's port
                # is one, so the kernel's hash sends them to one worker;
                # a second victim port below covers the other).
                raw.sendto(ip_udp("127.0.0.99", vport, "127.0.0.1", d.port, req),
                           ("127.0.0.1", 0))
                sent_pkts += 1
                sent_bytes += len(req)
            n, b = drain(victim)
            got_pkts, got_bytes = got_pkts + n, got_bytes + b
        elapsed = time.time() - t0
        time.sleep(0.3)
        n, b = drain(victim)
        got_pkts, got_bytes = got_pkts + n, got_bytes + b
        m = d.metrics()
        limited_401 = m['icehub_turn_dropped_total{reason="unauth_rate_limited"}']
        limited_ans = m['icehub_turn_dropped_total{reason="answer_rate_limited"}']
        # The most the rates allow over the run (each worker has its own
        # buckets; a bucket starts full at twice its rate).
        max_401 = threads * (2 * unauth + unauth * elapsed)
        max_ans = threads * (2 * answer + answer * elapsed)
        bound = max_401 * 120 + max_ans * 56
        figure(f"spoofed flood at one victim: {sent_pkts / elapsed:.0f} packets/s, "
               f"{sent_bytes / elapsed / 1000:.0f} kB/s in; victim got {got_pkts / elapsed:.0f} "
               f"answers/s, {got_bytes / elapsed / 1000:.1f} kB/s "
               f"(factor {got_bytes / max(sent_bytes, 1):.3f} of the flood's bytes; "
               f"bound {bound / elapsed / 1000:.0f} kB/s with {threads} workers); "
               f"dropped {limited_401:.0f} 401s and {limited_ans:.0f} other answers")
        assert got_bytes <= bound, (got_bytes, bound)
        assert limited_401 > 0 and limited_ans > 0
        assert got_pkts < sent_pkts / 4
        assert m["icehub_turn_allocations_active"] == 0
        victim.close()
        raw.close()


def test_spoofed_allocate_flood_keeps_no_state():
    """Allocates from 60,000 spoofed sources all over 127.0.0.0/8: no
    allocation, no cached answer, no memory growth (nonces are stateless,
    the 401 buckets a fixed array)."""
    with turn_daemon("abuse-spoof", ["--turn.threads=2"]) as d:
        raw = raw_socket()
        r = random.Random(7)
        warm = build(0x0003, attr(0x0019, b"\x11\0\0\0"), fp=False)[0]
        for _ in range(2000):
            raw.sendto(ip_udp(f"127.{r.randrange(1, 255)}.{r.randrange(256)}.{r.randrange(1, 255)}",
                              r.randrange(1024, 65535), "127.0.0.1", d.port, warm),
                       ("127.0.0.1", 0))
        time.sleep(0.5)
        before = rss_kb(d.proc.pid)
        n = 60000
        for i in range(n):
            req = build(0x0003, attr(0x0019, b"\x11\0\0\0"), fp=False)[0]
            src = f"127.{r.randrange(1, 255)}.{r.randrange(256)}.{r.randrange(1, 255)}"
            raw.sendto(ip_udp(src, r.randrange(1024, 65535), "127.0.0.1", d.port, req),
                       ("127.0.0.1", 0))
            if i % 5000 == 0:
                time.sleep(0.01)
        # A slow daemon (valgrind) works through its socket buffer for a
        # while: measure once it has taken everything that arrived.
        last = -1
        while d.metrics()['icehub_rx_packets_total{transport="udp"}'] != last:
            last = d.metrics()['icehub_rx_packets_total{transport="udp"}']
            time.sleep(0.5)
        after = rss_kb(d.proc.pid)
        m = d.metrics()
        limited = m['icehub_turn_dropped_total{reason="unauth_rate_limited"}']
        figure(f"spoofed Allocate flood: {n} requests from random 127/8 sources, RSS "
               f"{before} -> {after} kB, allocations {m['icehub_turn_allocations_active']:.0f}, "
               f"401s rate-limited {limited:.0f}")
        assert m["icehub_turn_allocations_active"] == 0
        assert after - before < 2048, (before, after)
        # And the server still serves a real client at once.
        c = TurnClient(d.port, USER, PASS)
        assert c.allocate()[0] == 2
        c.close()
        raw.close()


def test_binding_flood_from_one_source_is_limited():
    rate = 50
    with turn_daemon("abuse-binding", ["--turn.threads=1", f"--turn.answer_rate={rate}"]) as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", d.port))
        s.setblocking(False)
        req = requests()["binding"]
        sent = got = 0
        t0 = time.time()
        while time.time() - t0 < 2.0:
            for _ in range(100):
                s.send(req)
                sent += 1
            got += drain(s)[0]
            time.sleep(0.001)
        sending = time.time() - t0
        # A slow daemon (valgrind) may still be working through its socket
        # buffer: wait until it has taken every datagram that arrived; its
        # buckets refill meanwhile, so the bound counts that time too.
        last = -1
        while d.metrics()['icehub_rx_packets_total{transport="udp"}'] != last:
            last = d.metrics()['icehub_rx_packets_total{transport="udp"}']
            time.sleep(0.3)
        elapsed = time.time() - t0
        got += drain(s)[0]
        m = d.metrics()
        limited = m['icehub_turn_dropped_total{reason="answer_rate_limited"}']
        answered = m['icehub_stun_requests_total{method="binding",class="success"}']
        arrived = m['icehub_rx_packets_total{transport="udp"}']
        figure(f"Binding flood from one source: {sent} requests in {sending:.1f} s, "
               f"{got} answered (turn.answer_rate={rate}), {limited:.0f} dropped")
        assert got <= answered <= 2 * rate + rate * elapsed + 1, (got, answered)
        assert got >= rate, got
        # Every request that reached the daemon was answered or counted.
        assert limited == arrived - answered, (limited, arrived, answered)
        # Another source is not affected.
        s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s2.bind(("127.0.0.2", 0))
        s2.settimeout(2)
        s2.sendto(req, ("127.0.0.1", d.port))
        assert parse(s2.recv(4096))[0] == 0x0101
        s.close()
        s2.close()


def client_from(d, ip, user, pw):
    c = TurnClient(d.port, user, pw)
    c.sock.close()
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.sock.bind((ip, 0))
    c.sock.connect(("127.0.0.1", d.port))
    c.sock.settimeout(2)
    return c


def test_relay_exhaustion_by_one_user_or_ip_is_bounded():
    extra = ["--turn.max_allocations_per_user=4", "--turn.max_allocations_per_ip=6",
             "--turn.relay_ports=50000-50011", "--turn.threads=1"]
    with turn_daemon("abuse-ports", extra) as d:
        held = []

        def alloc(ip, user, pw):
            c = client_from(d, ip, user, pw)
            cls, attrs, _ = c.allocate()
            held.append(c)
            return 0 if cls == 2 else error_code(attrs)[0]

        # One user: 4, then 486 (per user).
        assert [alloc("127.0.0.2", USER, PASS) for _ in range(5)] == [0, 0, 0, 0, 486]
        # Same IP, another user: 2 more, then 486 (per IP).
        assert [alloc("127.0.0.2", "bob", "builder") for _ in range(3)] == [0, 0, 486]
        # Others still allocate until the 12 ports are gone, then 508.
        got = [alloc(f"127.0.0.{3 + i}", *ephemeral(SECRET, f"user{i}", 600)) for i in range(7)]
        assert got[:4] == [0, 0, 0, 0] and got[6] == 508, got
        m = d.metrics()
        e486 = msum(m, 'icehub_turn_allocate_errors_total{code="486"')
        e508 = msum(m, 'icehub_turn_allocate_errors_total{code="508"')
        figure(f"relay exhaustion: per user 4 -> 486, per IP 6 -> 486, 12 relay ports -> 508; "
               f"counted 486: {e486:.0f}, 508: {e508:.0f}")
        assert e486 == 2 and e508 >= 1
        # A freed port is taken again.
        held[0].refresh(0)
        c = client_from(d, "127.0.0.20", *ephemeral(SECRET, "late", 600))
        assert c.allocate()[0] == 2
        for c2 in held + [c]:
            c2.close()


def test_permission_and_channel_churn_is_bounded():
    """One allocation asks for permissions and channels to 3000 peers: past
    the limits each is refused (508), the tables stay at the limits and the
    daemon's memory does not grow."""
    extra = ["--turn.max_permissions=16", "--turn.max_channels=8"]
    with turn_daemon("abuse-churn", extra) as d:
        c = TurnClient(d.port, USER, PASS)
        assert c.allocate()[0] == 2
        codes = {}
        before = None
        for i in range(3000):
            peer = (f"127.1.{i // 250}.{i % 250 + 1}", 40000 + i % 1000)
            if i % 2:
                cls, attrs, _ = c.permit(peer)
            else:
                cls, attrs, _ = c.channel_bind(0x4000 + (i // 2) % 0x1000, peer)
            code = 0 if cls == 2 else error_code(attrs)[0]
            codes[code] = codes.get(code, 0) + 1
            if i == 500:
                before = rss_kb(d.proc.pid)
        after = rss_kb(d.proc.pid)
        m = d.metrics()
        figure(f"permission/channel churn over 3000 peers: answers {codes}, permissions "
               f"{m['icehub_turn_permissions_active']:.0f}, channels "
               f"{m['icehub_turn_channels_active']:.0f}, RSS {before} -> {after} kB")
        assert m["icehub_turn_permissions_active"] <= 16
        assert m["icehub_turn_channels_active"] <= 8
        assert codes.get(508, 0) > 2900
        assert after - before < 1024
        c.close()


def ws_upgrade(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, int(head.split(b" ", 2)[1]) if head else 0


def test_websocket_connection_flood():
    with Daemon("abuse-ws", args=["--signal.max_connections_per_ip=20",
                                  "--signal.drain_delay=0"], env=NO_QUARANTINE) as d:
        before = rss_kb(d.proc.pid)
        socks, statuses = [], {}
        for i in range(100):
            s, st = ws_upgrade(d.http_port, "127.0.0.5")
            statuses[st] = statuses.get(st, 0) + 1
            socks.append(s)
        for i in range(5):
            for k in range(20):
                s, st = ws_upgrade(d.http_port, f"127.0.1.{i + 1}")
                statuses[st] = statuses.get(st, 0) + 1
                socks.append(s)
        after = rss_kb(d.proc.pid)
        m = d.metrics()
        refused = m['icehub_signal_upgrades_refused_total{reason="per_ip"}']
        figure(f"WebSocket flood: 100 upgrades from one IP and 20 from each of 5 others: "
               f"{statuses}; refused per_ip {refused:.0f}; RSS {before} -> {after} kB")
        assert statuses == {101: 120, 429: 80}
        assert refused == 80
        for s in socks:
            s.close()
        assert wait_for(lambda: d.metrics()["icehub_signal_connections"] == 0)


def trickle(port, data, deadline):
    """Send <data> a byte every 0.5 s; returns seconds until the server
    closed the connection (or None if it was still open at <deadline>).
    Paced by the clock, not by socket timeouts (which ICEHUB_TIME_SCALE
    stretches)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    t0 = time.time()
    i = 0
    try:
        while time.time() - t0 < deadline:
            if i < len(data):
                s.send(data[i:i + 1])
                i += 1
            time.sleep(0.5)
            try:
                if s.recv(4096) == b"":
                    return time.time() - t0
            except BlockingIOError:
                pass
    except OSError:
        return time.time() - t0
    finally:
        s.close()
    return None


def client_hello():
    """The first bytes a real TLS client sends (Python's ClientHello)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).wrap_bio(inc, out, server_hostname="x")
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def test_slowloris_http_https_and_turn_tls():
    import tempfile
    from test_binding import make_cert
    tmp = tempfile.mkdtemp()
    cert, key = make_cert(tmp)
    https = free_port(udp_and_tcp=False)
    with Daemon("abuse-slow", args=[f"--tls.cert={cert}", f"--tls.key={key}",
                                    f"--http.tls_listen=127.0.0.1:{https}",
                                    "--http.header_timeout=2", "--turn.tls_handshake_timeout=2",
                                    "--turn.tcp_idle_timeout=2"], tls=True) as d:
        hello = client_hello()
        stun_head = build(0x0001, attr(0x8022, b"x" * 400), fp=False)[0]
        # Many at once, to show they do not stop anyone else.
        held = [socket.create_connection(("127.0.0.1", d.http_port)) for _ in range(200)]
        for h in held:
            h.send(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        jobs = {
            "http": (d.http_port, b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40),
            "https": (https, hello),
            "turn_tls": (d.tls_port, hello),
            "turn_tcp_frame": (d.port, stun_head),
        }
        times = {}
        threads = [threading.Thread(target=lambda k, a: times.__setitem__(k, trickle(*a, 8)),
                                    args=(k, a)) for k, a in jobs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert d.http_get("/livez", timeout=2)[0] == 200
        figure("slowloris (a byte every 0.5 s, limits 2 s): closed after " +
               ", ".join(f"{k} {v:.1f} s" if v else f"{k} never" for k, v in times.items()))
        for k, v in times.items():
            assert v is not None and v < 4.5, (k, v)
        for h in held:
            h.settimeout(3)
            assert h.recv(100) == b""  # closed by the server
            h.close()
        m = d.metrics()
        assert m['icehub_connections_closed_total{reason="handshake_timeout"}'] >= 1
        assert m['icehub_connections_closed_total{reason="slow_frame"}'] >= 1


def test_endless_frames_are_cut_off():
    with Daemon("abuse-frames", args=["--signal.max_message=4096", "--signal.drain_delay=0",
                                      "--turn.tcp_idle_timeout=2"], env=NO_QUARANTINE) as d:
        before = rss_kb(d.proc.pid)
        # WebSocket: a frame that declares 2^62 bytes, then fragments without end.
        results = {}
        for kind in ("huge_frame", "endless_fragments"):
            s, st = ws_upgrade(d.http_port, "127.0.0.1")
            assert st == 101
            mask = b"\0\0\0\0"
            if kind == "huge_frame":
                s.sendall(struct.pack("!BBQ", 0x81, 0xFF, 1 << 62) + mask)
                first = b""
            else:
                first = struct.pack("!BB", 0x01, 0x80 | 125) + mask + b"x" * 125
            chunk = ((struct.pack("!BB", 0x00, 0x80 | 125) + mask + b"x" * 125) * 500
                     if kind == "endless_fragments" else b"y" * 65536)
            sent = 0
            t0 = time.time()
            code = None
            s.settimeout(0.01)
            if first:
                s.sendall(first)
            buf = b""
            while time.time() - t0 < 20 and code is None:
                try:
                    s.sendall(chunk)
                    sent += len(chunk)
                except OSError:
                    code = "reset"
                    break
                try:
                    data = s.recv(65536)
                    if not data:
                        code = "closed"
                    buf += data
                    i = buf.find(b"\x88")
                    if i >= 0 and len(buf) >= i + 4:
                        code = struct.unpack("!H", buf[i + 2:i + 4])[0]
                except socket.timeout:
                    pass
                except OSError:
                    code = "reset"
            results[kind] = (code, sent, time.time() - t0)
            s.close()
        # TURN over TCP: a frame that declares 64 KiB and never completes.
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(struct.pack("!HHI", 0x0001, 65512, 0x2112A442) + b"\0" * 12 + b"z" * 30000)
        s.settimeout(6)
        t0 = time.time()
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass  # closed with our bytes unread: a reset
        results["turn_tcp_64k_frame"] = ("closed", 30020, time.time() - t0)
        assert results["turn_tcp_64k_frame"][2] > 1.0  # waited for the rest, then gave up
        after = rss_kb(d.proc.pid)
        m = d.metrics()
        figure("endless frames: " + ", ".join(f"{k} -> {c} after {n // 1024} KiB, {t:.1f} s"
                                               for k, (c, n, t) in results.items()) +
               f"; RSS {before} -> {after} kB")
        for k in ("huge_frame", "endless_fragments"):
            assert results[k][0] in (1009, "closed", "reset"), results
            assert results[k][1] <= (1 << 20) + (4 << 20), results
        assert m["icehub_signal_cut_off_total"] == 2
        assert results["turn_tcp_64k_frame"][2] < 5
        assert after - before < 8192
        # HTTP: a body past 64 KiB is refused with 413, a head past 4 KiB closed.
        s = socket.create_connection(("127.0.0.1", d.http_port))
        s.sendall(b"POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" +
                  b"b" * 200000)
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 413")
        s.close()
        s = socket.create_connection(("127.0.0.1", d.http_port))
        s.settimeout(5)
        answer = b""
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 20000 + b"\r\n\r\n")
            answer = s.recv(100)
        except OSError:
            pass
        assert not answer.startswith(b"HTTP/1.1 200"), answer
        s.close()
        assert d.http_get("/livez")[0] == 200
