"""Integration-test harness: start the real icehubd on loopback with free
ports, talk to it over real sockets, stop it. Also a small independent STUN
encoder/decoder (written from RFC 8489, not from our C code) for checks.
"""
import os
import random
import signal
import socket
import struct
import subprocess
import time
import urllib.request
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("ICEHUB_BIN", os.path.join(ROOT, "bin", "icehubd"))
# ICEHUB_TIME_SCALE: how much slower the daemon under test is than the
# release build (make valgrind runs it under memcheck, about 20 times
# slower). Every timeout a test waits with, and every bound on how long the
# daemon may take, is multiplied by it; no assertion on behaviour changes.
SCALE = float(os.environ.get("ICEHUB_TIME_SCALE", "1"))

if SCALE != 1:
    _settimeout = socket.socket.settimeout
    _wait, _communicate = subprocess.Popen.wait, subprocess.Popen.communicate

    def _scaled_settimeout(self, t):
        _settimeout(self, None if t is None else t * SCALE)

    # Processes (the daemon run as a command, clients that wait for it).
    def _scaled_wait(self, timeout=None):
        return _wait(self, None if timeout is None else timeout * SCALE)

    def _scaled_communicate(self, input=None, timeout=None):
        return _communicate(self, input, None if timeout is None else timeout * SCALE)
    socket.socket.settimeout = _scaled_settimeout
    subprocess.Popen.wait = _scaled_wait
    subprocess.Popen.communicate = _scaled_communicate
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
MAGIC = 0x2112A442


def free_port(udp_and_tcp=True, family=socket.AF_INET, host="127.0.0.1"):
    """A port free for both UDP and TCP on host."""
    for _ in range(200):
        t = socket.socket(family, socket.SOCK_STREAM)
        t.bind((host, 0))
        port = t.getsockname()[1]
        if udp_and_tcp:
            u = socket.socket(family, socket.SOCK_DGRAM)
            try:
                u.bind((host, port))
            except OSError:
                t.close()
                continue
            u.close()
        t.close()
        return port
    raise RuntimeError("no free port")


class Daemon:
    """The real daemon as a subprocess. Logs go to tests/artifacts/<name>.log."""

    def __init__(self, name, args=(), env=None, config=None, listen_host="127.0.0.1",
                 tls=False, http=True, preexec=None):
        self.name = name
        self.preexec = preexec  # run in the child before exec (a seccomp filter, say)
        self.port = free_port()
        self.http_port = free_port(udp_and_tcp=False)
        self.tls_port = free_port(udp_and_tcp=False) if tls else None
        h = f"[{listen_host}]" if ":" in listen_host else listen_host
        self.host = listen_host
        self.argv = [BIN, f"--turn.listen={h}:{self.port}",
                     f"--http.listen=127.0.0.1:{self.http_port}",
                     "--turn.threads=2", "--log.level=debug"]
        if tls:
            self.argv.append(f"--turn.tls_listen={h}:{self.tls_port}")
        if not http:
            self.argv.append("--http.enabled=false")
        # SIGTERM drains for turn.drain_timeout while allocations live; test
        # daemons stop at once unless a test asks for a drain (test_drain.py).
        if not any(a.startswith("--turn.drain_timeout=") for a in args):
            self.argv.append("--turn.drain_timeout=0")
        if config:
            self.argv += ["--config", config]
        self.argv += list(args)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("ICEHUB_"):
                del self.env[k]
        self.env.update(env or {})
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.log_path = os.path.join(ARTIFACTS, f"daemon-{name}.log")
        self.proc = None

    def start(self, wait=True):
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=self.env, stdin=subprocess.DEVNULL,
                                     preexec_fn=self.preexec)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        deadline = time.time() + timeout * SCALE
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"icehubd exited with {self.proc.returncode}: {self.log()}")
            if "ready (pid" in self.log():
                return
            time.sleep(0.02)
        raise AssertionError("icehubd did not become ready: " + self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Stop; returns (exit code, seconds it took)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None, 0.0)
        t0 = time.time()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout * SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.logf.close()
        return rc, time.time() - t0

    def http_get(self, path, timeout=5.0):
        """(status, body) of GET http://127.0.0.1:http_port/path."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:  # scaled with the socket
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        """Parse /metrics into {'name{labels}': value}."""
        status, body = self.http_get("/metrics")
        assert status == 200, status
        out = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
        return out

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---- A minimal independent STUN implementation for the tests ----------

def fingerprint(msg):
    return struct.pack("!HHI", 0x8028, 4, (zlib.crc32(msg) ^ 0x5354554E) & 0xFFFFFFFF)


def attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack("!HH", t, len(v)) + v + b"\0" * pad


def build(method_type=0x0001, attrs=b"", tid=None, fp=False, cookie=MAGIC):
    tid = tid or os.urandom(12)
    body = attrs
    length = len(body) + (8 if fp else 0)
    hdr = struct.pack("!HHI", method_type, length, cookie) + tid
    msg = hdr + body
    if fp:
        msg += fingerprint(msg)
    return msg, tid


def binding_request(fp=True, extra=b""):
    return build(0x0001, extra, fp=fp)


def parse(msg):
    """Decode a STUN message into (type, tid, [(type, value)])."""
    assert len(msg) >= 20, f"short message {len(msg)}"
    t, length, cookie = struct.unpack("!HHI", msg[:8])
    assert length + 20 == len(msg), (length, len(msg))
    tid = msg[8:20]
    attrs = []
    off = 20
    while off < len(msg):
        at, al = struct.unpack("!HH", msg[off:off + 4])
        attrs.append((at, msg[off + 4:off + 4 + al]))
        off += 4 + al + (4 - al % 4) % 4
    return t, cookie, tid, attrs


def get_attr(attrs, t):
    for at, v in attrs:
        if at == t:
            return v
    return None


def xor_address(v, tid):
    fam = v[1]
    port = struct.unpack("!H", v[2:4])[0] ^ (MAGIC >> 16)
    if fam == 1:
        ip = struct.unpack("!I", v[4:8])[0] ^ MAGIC
        return socket.inet_ntop(socket.AF_INET, struct.pack("!I", ip)), port
    key = struct.pack("!I", MAGIC) + tid
    raw = bytes(a ^ b for a, b in zip(v[4:20], key))
    return socket.inet_ntop(socket.AF_INET6, raw), port


def plain_address(v):
    fam = v[1]
    port = struct.unpack("!H", v[2:4])[0]
    if fam == 1:
        return socket.inet_ntop(socket.AF_INET, v[4:8]), port
    return socket.inet_ntop(socket.AF_INET6, v[4:20]), port


def check_fingerprint(msg):
    t, cookie, tid, attrs = parse(msg)
    assert attrs and attrs[-1][0] == 0x8028, "no FINGERPRINT last"
    want = fingerprint(msg[:-8])[4:]
    assert msg[-4:] == want, "bad FINGERPRINT"


def udp_query(port, msg, host="127.0.0.1", timeout=2.0, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))  # so getsockname() shows the address the server sees
        s.send(msg)
        data = s.recv(4096)
        return data, s.getsockname()
    finally:
        s.close()


def tcp_frames(sock, n, timeout=3.0):
    """Read n STUN frames from a stream."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    while len(out) < n:
        while len(buf) >= 20:
            ln = struct.unpack("!H", buf[2:4])[0] + 20
            if len(buf) < ln:
                break
            out.append(buf[:ln])
            buf = buf[ln:]
        if len(out) >= n:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed")
        buf += chunk
    return out


def wait_for(pred, timeout=5.0, interval=0.05):
    deadline = time.time() + timeout * SCALE
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def rng(seed):
    return random.Random(seed)
