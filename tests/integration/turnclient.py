"""A small TURN client (RFC 8656 with RFC 8489 long-term credentials),
written for the tests from the RFCs, independent of icehub's C code."""
import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import time
import zlib

from harness import MAGIC, attr, parse, get_attr, xor_address, fingerprint

ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION, CHANNEL_BIND = 3, 4, 6, 7, 8, 9
A_USERNAME, A_MI, A_ERROR, A_UNKNOWN, A_CHANNEL, A_LIFETIME = 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x0D
A_PEER, A_DATA, A_REALM, A_NONCE, A_RELAYED = 0x12, 0x13, 0x14, 0x15, 0x16
A_REQ_FAMILY, A_EVEN_PORT, A_REQ_TRANSPORT, A_DONT_FRAG = 0x17, 0x18, 0x19, 0x1A
A_MAPPED, A_TOKEN, A_FP = 0x20, 0x22, 0x8028


def msg_type(method, cls):
    return ((method & 0xF80) << 2) | ((method & 0x70) << 1) | (method & 0xF) | \
        ((cls & 2) << 7) | ((cls & 1) << 4)


def xor_addr_value(ip, port, tid):
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    raw = socket.inet_pton(fam, ip)
    xport = port ^ (MAGIC >> 16)
    if fam == socket.AF_INET:
        xip = struct.unpack("!I", raw)[0] ^ MAGIC
        return struct.pack("!BBHI", 0, 1, xport, xip)
    key = struct.pack("!I", MAGIC) + tid
    return struct.pack("!BBH", 0, 2, xport) + bytes(a ^ b for a, b in zip(raw, key))


def error_code(attrs):
    v = get_attr(attrs, A_ERROR)
    if v is None:
        return None, None
    return v[2] * 100 + v[3], v[4:].decode("utf-8", "replace")


def ephemeral(secret, user, ttl):
    name = f"{int(time.time()) + ttl}:{user}"
    pw = base64.b64encode(hmac.new(secret.encode(), name.encode(), hashlib.sha1).digest())
    return name, pw.decode()


class TurnClient:
    def __init__(self, port, user=None, password=None, host="127.0.0.1", transport="udp"):
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.realm = self.nonce = None
        self.transport = transport
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        if transport == "udp":
            self.sock = socket.socket(fam, socket.SOCK_DGRAM)
            self.sock.connect((host, port))
        else:
            raw = socket.create_connection((host, port))
            if transport == "tls":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                raw = ctx.wrap_socket(raw)
            self.sock = raw
        self.sock.settimeout(2.0)
        self.buf = b""

    def close(self):
        self.sock.close()

    # ---- framing ----
    def send_raw(self, data):
        if self.transport != "udp" and data[0] & 0xC0 == 0x40 and len(data) % 4:
            data += b"\0" * (4 - len(data) % 4)  # RFC 8656 §12.5: pad on streams
        self.sock.sendall(data) if self.transport != "udp" else self.sock.send(data)

    def recv_raw(self, timeout=2.0):
        self.sock.settimeout(timeout)
        if self.transport == "udp":
            return self.sock.recv(65536)
        while True:
            if len(self.buf) >= 4:
                if self.buf[0] & 0xC0 == 0x40:
                    ln = 4 + struct.unpack("!H", self.buf[2:4])[0]
                    full = (ln + 3) & ~3
                else:
                    ln = full = 20 + struct.unpack("!H", self.buf[2:4])[0]
                if len(self.buf) >= full:
                    out, self.buf = self.buf[:ln], self.buf[full:]
                    return out
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    # ---- messages ----
    def key(self):
        return hashlib.md5(f"{self.user}:{self.realm}:{self.password}".encode()).digest()

    def build(self, method, cls, body, tid=None, auth=True):
        tid = tid or os.urandom(12)
        if auth and self.user and self.nonce:
            body += attr(A_USERNAME, self.user.encode()) + attr(A_REALM, self.realm.encode()) + \
                attr(A_NONCE, self.nonce.encode())
            hdr = struct.pack("!HHI", msg_type(method, cls), len(body) + 24, MAGIC) + tid
            mac = hmac.new(self.key(), hdr + body, hashlib.sha1).digest()
            body += attr(A_MI, mac)
        hdr = struct.pack("!HHI", msg_type(method, cls), len(body) + 8, MAGIC) + tid
        msg = hdr + body
        return msg + fingerprint(msg), tid

    def transact(self, method, body=b"", tid=None, auth=True, retry_auth=True):
        """Send a request; returns (class, attrs, raw). Handles 401/438 once."""
        msg, tid = self.build(method, 0, body, tid, auth)
        self.send_raw(msg)
        while True:
            raw = self.recv_raw()
            if raw[0] & 0xC0 == 0:
                t, _, rtid, attrs = parse(raw)
                if rtid == tid:
                    break
        cls = ((t >> 7) & 2) | ((t >> 4) & 1)
        code, _ = error_code(attrs)
        if cls == 3 and code in (401, 438) and retry_auth and self.user:
            had_nonce = self.nonce is not None
            self.realm = get_attr(attrs, A_REALM).decode()
            self.nonce = get_attr(attrs, A_NONCE).decode()
            if code == 438 or not had_nonce:
                return self.transact(method, body, None, auth, retry_auth=False)
        return cls, attrs, raw

    def allocate(self, lifetime=None, extra=b"", tid=None):
        body = attr(A_REQ_TRANSPORT, b"\x11\0\0\0") + extra
        if lifetime is not None:
            body += attr(A_LIFETIME, struct.pack("!I", lifetime))
        cls, attrs, raw = self.transact(ALLOCATE, body, tid=tid)
        self.relayed = xor_address(get_attr(attrs, A_RELAYED), raw[8:20]) if cls == 2 else None
        return cls, attrs, raw

    def refresh(self, lifetime):
        return self.transact(REFRESH, attr(A_LIFETIME, struct.pack("!I", lifetime)))

    def permit(self, *peers):
        tid = os.urandom(12)
        body = b"".join(attr(A_PEER, xor_addr_value(ip, port, tid)) for ip, port in peers)
        return self.transact(CREATE_PERMISSION, body, tid=tid)

    def channel_bind(self, ch, peer):
        tid = os.urandom(12)
        body = attr(A_CHANNEL, struct.pack("!HH", ch, 0)) + \
            attr(A_PEER, xor_addr_value(peer[0], peer[1], tid))
        return self.transact(CHANNEL_BIND, body, tid=tid)

    def send_indication(self, peer, data, extra=b""):
        tid = os.urandom(12)
        body = attr(A_PEER, xor_addr_value(peer[0], peer[1], tid)) + attr(A_DATA, data) + extra
        hdr = struct.pack("!HHI", msg_type(SEND, 1), len(body), MAGIC) + tid
        self.send_raw(hdr + body)

    def send_channel(self, ch, data):
        self.send_raw(struct.pack("!HH", ch, len(data)) + data)

    def recv_data(self, timeout=2.0):
        """Next relayed payload: ('channel', ch, data) or ('data', peer, data)."""
        while True:
            raw = self.recv_raw(timeout)
            if raw[0] & 0xC0 == 0x40:
                ch, ln = struct.unpack("!HH", raw[:4])
                return "channel", ch, raw[4:4 + ln]
            t, _, tid, attrs = parse(raw)
            if t == msg_type(DATA, 1):
                return "data", xor_address(get_attr(attrs, A_PEER), tid), get_attr(attrs, A_DATA)


def relay_once(port, user, password, size=100):
    """One allocation that relays <size> bytes to a loopback peer and ends
    (the daemon needs turn.allowed_peers for 127.0.0.0/8): what a metrics
    or ledger check needs to see every series move."""
    c = TurnClient(port, user, password)
    p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert c.allocate()[0] == 2
        p.bind(("127.0.0.1", 0))
        p.settimeout(2)
        assert c.permit(p.getsockname())[0] == 2
        c.send_indication(p.getsockname(), b"x" * size)
        p.recvfrom(size + 100)
        assert c.refresh(0)[0] == 2  # an ended allocation fills the histograms
    finally:
        p.close()
        c.close()
