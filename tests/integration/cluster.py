"""Helpers for the cluster tests (test_cluster*.py): a real redis-server
(Debian's) as a plain process on a free loopback port, never the packaged
service, with no persistence (--save '' --appendonly no), killable and
restartable on the same port; a small RESP client to look at what the
nodes wrote; and a cluster of icehubd nodes federated through it. No test
functions here."""
import os
import signal
import socket
import subprocess
import time

from harness import ARTIFACTS, Daemon, free_port

REDIS_SERVER = "/usr/bin/redis-server"


class Redis:
    """redis-server on 127.0.0.1:<port>; logs to tests/artifacts/redis-<name>.log."""

    def __init__(self, name="cluster", port=None):
        self.name = name
        self.port = port or free_port(udp_and_tcp=False)
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}"
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.log_path = os.path.join(ARTIFACTS, f"redis-{name}.log")

    def start(self):
        assert os.path.exists(REDIS_SERVER), "no redis-server: run deploy/install-deps.sh"
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", os.environ.get("ICEHUB_REDIS_LOGLEVEL", "warning")],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.cmd("PING") == "PONG":
                    return self
            except OSError:
                pass
            assert self.proc.poll() is None, f"redis-server exited: {open(self.log_path).read()}"
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer PING")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def stop(self):
        self.kill(signal.SIGTERM)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()

    def cmd(self, *args, timeout=3.0):
        """One command, its decoded answer (RESP2)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return _read(f)


def _read(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise RuntimeError(f"bad RESP line {line!r}")


def hash_of(redis, key):
    flat = redis.cmd("HGETALL", key) or []
    return dict(zip(flat[::2], flat[1::2]))


FAST = ["--signal.drain_delay=0", "--signal.rate=10000", "--signal.burst=10000",
        "--redis.heartbeat=1", "--redis.node_ttl=3", "--redis.backoff_max=1",
        "--redis.timeout=1", "--redis.connect_timeout=1"]


def node(redis, name, args=(), **kw):
    """An icehubd node of the cluster of <redis> named <name>."""
    return Daemon(f"cluster-{name}", args=[f"--redis.url={redis.url}",
                                           f"--redis.node_id={name}"] + FAST + list(args), **kw)


def wait_metric(d, key, want, timeout=10.0):
    """Wait until /metrics has <key> == <want>; returns the last value."""
    deadline = time.time() + timeout
    v = None
    while time.time() < deadline:
        v = d.metrics().get(key)
        if v == want:
            return v
        time.sleep(0.1)
    raise AssertionError(f"{d.name}: {key} = {v}, wanted {want}")


def wait_up(*nodes, timeout=10.0):
    for d in nodes:
        wait_metric(d, "icehub_cluster_up", 1.0, timeout)
