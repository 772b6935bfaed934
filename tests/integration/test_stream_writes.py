"""Stream connections (TCP and TLS): what a connection is sent during one
pass over the worker's events leaves in one write (on TLS, one record per
message, the records in one write: turnutils_uclient, for one, takes a
record for a message), and
TLS reads ahead: several records that arrive in one TCP segment are all
answered, though only the first raises a readable event. Checked with a
TLS client that controls its records (ssl.MemoryBIO) and the daemon's
icehub_stream_writes_total against icehub_tx_packets_total."""
import socket
import ssl
import struct
import tempfile

from harness import Daemon, binding_request, parse, wait_for
from test_binding import make_cert
from turnclient import TurnClient, error_code

USER, PASS = "alice", "wonderland"


def tls_daemon(name, tmp):
    cert, key = make_cert(tmp)
    return Daemon(name, tls=True,
                  args=[f"--tls.cert={cert}", f"--tls.key={key}",
                        f"--turn.users={USER}:{PASS}", "--turn.realm=icehub.test",
                        "--turn.allowed_peers=127.0.0.0/8", "--turn.threads=1"])


class RecordClient:
    """TLS over a socket through memory BIOs, so the test decides which
    records leave in which TCP write."""

    def __init__(self, port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(3)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._pump()
        self._push()
        self.plain = b""

    def _push(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _pump(self):
        self._push()
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.inc.write(chunk)

    def send_records(self, messages):
        """Each message its own TLS record, all records in one TCP write."""
        for m in messages:
            self.obj.write(m)
        self._push()

    def records(self, n):
        """The next <n> application records from the server, as read
        (SSLObject.read returns at most one record's data)."""
        got = []
        while len(got) < n:
            try:
                got.append(self.obj.read(65536))
            except ssl.SSLWantReadError:
                self._pump()
        return got

    def frames(self, n):
        """The next <n> STUN frames from the server."""
        got = []
        while len(got) < n:
            while len(self.plain) >= 20:
                ln = 20 + struct.unpack("!H", self.plain[2:4])[0]
                if len(self.plain) < ln:
                    break
                got.append(self.plain[:ln])
                self.plain = self.plain[ln:]
            if len(got) >= n:
                break
            try:
                self.plain += self.obj.read(65536)
            except ssl.SSLWantReadError:
                self._pump()
        return got

    def close(self):
        self.sock.close()


def counters(d, transport):
    m = d.metrics()
    return (m[f'icehub_stream_writes_total{{transport="{transport}"}}'],
            m[f'icehub_tx_packets_total{{transport="{transport}"}}'])


def test_tls_records_in_one_segment_all_answered_and_replies_coalesced():
    with tempfile.TemporaryDirectory() as tmp, tls_daemon("stream-tls-records", tmp) as d:
        c = RecordClient(d.tls_port)
        w0, f0 = counters(d, "tls")
        reqs = [binding_request(fp=True) for _ in range(12)]
        c.send_records([m for m, _ in reqs])
        answers = c.records(12)  # one message per record
        # Every record answered (read-ahead took them all in one read), in order.
        assert [a[8:20] for a in answers] == [tid for _, tid in reqs]
        assert all(parse(a)[0] == 0x0101 for a in answers)
        w1, f1 = wait_for(lambda: (lambda v: v if v[1] - f0 == 12 else None)(counters(d, "tls")))
        # Twelve replies, each its own record (the client read one message
        # per record above), in at most a few writes (one pass over the
        # events answers them all; a slow pass may split them).
        assert w1 - w0 <= 3, (w1 - w0, f1 - f0)
        c.close()


def test_tcp_replies_coalesced():
    with tempfile.TemporaryDirectory() as tmp, tls_daemon("stream-tcp-coalesce", tmp) as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.settimeout(3)
        w0, f0 = counters(d, "tcp")
        reqs = [binding_request(fp=True) for _ in range(20)]
        s.sendall(b"".join(m for m, _ in reqs))
        buf, tids = b"", []
        while len(tids) < 20:
            buf += s.recv(65536)
            while len(buf) >= 20 and len(buf) >= 20 + struct.unpack("!H", buf[2:4])[0]:
                ln = 20 + struct.unpack("!H", buf[2:4])[0]
                tids.append(buf[8:20])
                buf = buf[ln:]
        assert tids == [tid for _, tid in reqs]
        w1, f1 = wait_for(lambda: (lambda v: v if v[1] - f0 == 20 else None)(counters(d, "tcp")))
        assert w1 - w0 <= 3, (w1 - w0, f1 - f0)
        s.close()


def test_tls_relay_burst_intact():
    """A burst of datagrams from the peer reaches a TLS client whole and in
    order, however the frames were grouped into records."""
    with tempfile.TemporaryDirectory() as tmp, tls_daemon("stream-tls-burst", tmp) as d:
        c = TurnClient(d.tls_port, USER, PASS, transport="tls")
        cls, attrs, _ = c.allocate()
        assert cls == 2, error_code(attrs)
        p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        p.bind(("127.0.0.1", 0))
        assert c.channel_bind(0x4001, p.getsockname())[0] == 2
        frame = [bytes([i]) * (100 + i) for i in range(60)] + [b"end"]
        for pkt in frame:
            p.sendto(pkt, c.relayed)
        got = [c.recv_data(timeout=3) for _ in frame]
        assert got == [("channel", 0x4001, pkt) for pkt in frame]
        w, f = counters(d, "tls")
        assert w < f, (w, f)  # some frames shared a write
        # And the other way, frames written back to back in one record.
        c.sock.sendall(b"".join(struct.pack("!HH", 0x4001, len(x)) + x + b"\0" * (-len(x) % 4)
                                for x in frame))
        p.settimeout(3)
        assert [p.recvfrom(2000)[0] for _ in frame] == frame
        p.close()
        c.close()
