"""A storm of hostile HTTP and WebSocket input against one daemon (admin
API on, a signal API key, no TLS), on raw sockets: random bytes, mutated
requests (request line, methods, versions, headers, %-escapes, NULs, long
paths, queries and headers, conflicting Content-Length, chunked bodies,
short and long bodies, pipelining), half-closed, reset and slow partial
connections, every route with wrong methods and odd parameters, bad
WebSocket upgrades and, after good ones, hostile frames and hostile JSON.
Well-formed requests must get exactly one answer, never a 5xx; afterwards
the daemon is alive, /livez and /metrics answer, two peers can still join
and signal, and nothing was logged at error level (nor by a sanitizer).
Seeded: ICEHUB_STORM_SEED reproduces a run; ICEHUB_STORM_HTTP scales it.
Stdlib only."""
import base64
import concurrent.futures
import json
import os
import re
import socket
import struct
import time

from harness import Daemon, rng
from test_signal_lib import RawWS

SEED = int(os.environ.get("ICEHUB_STORM_SEED", "20261201"))
N = int(os.environ.get("ICEHUB_STORM_HTTP", "6000"))
TOKEN = "storm-admin-token-0123456789"
KEY = "storm-api-key"
ARGS = ["--admin.enabled=true", f"--admin.token={TOKEN}", f"--signal.api_keys={KEY}",
        "--signal.drain_delay=0", "--signal.max_connections_per_ip=100000",
        "--turn.users=alice:wonderland", "--turn.secrets=storm-secret"]
STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")

# ---- Raw HTTP ------------------------------------------------------------


def exchange(port, data, mode="read", timeout=3.0, pieces=None):
    """Send <data> on a new connection and read what comes back until the
    server closes or <timeout>. mode: "read" (just read), "shut" (half-close
    first), "reset" (RST right after sending, read nothing). <pieces>: send
    in that many parts with short pauses (a slow client). Returns (bytes,
    timed_out)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        if pieces:
            step = max(1, len(data) // pieces)
            for i in range(0, len(data), step):
                s.sendall(data[i:i + step])
                time.sleep(0.01)
        else:
            s.sendall(data)
        if mode == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b"", False
        if mode == "shut":
            s.shutdown(socket.SHUT_WR)
        deadline = time.time() + timeout
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                return out, False
            out += chunk
            if mode == "read" and complete(out):
                return out, False
        return out, True
    except socket.timeout:
        return out, True
    except OSError:  # reset, or closed before we were done sending
        return out, False
    finally:
        s.close()


def complete(buf):
    """Whether <buf> holds at least one whole response (headers and body)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length: *(\d+)", head)
    return m is not None and len(body) >= int(m.group(1))


def request(method, path, headers=(), body=b"", version="HTTP/1.1", close=True):
    lines = [f"{method} {path} {version}".encode("latin-1"), b"Host: 127.0.0.1"]
    for h in headers:
        lines.append(h if isinstance(h, bytes) else h.encode("latin-1"))
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def target(path):
    """<path> made a valid request-target: what may not appear in one
    (space, controls, '#', non-ASCII) %-encoded; bad %-escapes stay."""
    return "".join(c if 0x20 < ord(c) < 0x7f and c != "#" else
                   "".join(f"%{x:02X}" for x in c.encode("latin-1")) for c in path)


def statuses(buf):
    return [int(x) for x in STATUS.findall(buf)]


# ---- What to send ----------------------------------------------------------

ADMIN = f"Authorization: Bearer {TOKEN}"
APIKEY = f"Authorization: Bearer {KEY}"
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT"]


def junk(r, n=None):
    n = r.randrange(0, 40) if n is None else n
    alphabet = "aZ09-_.~%/?&=+:;@!$'()*,[]{}<>\"\\|^` \t#\x00\x7f\xff\xc3\x28"
    return "".join(r.choice(alphabet) for _ in range(n))


def pct(r, s):
    return "".join(f"%{ord(c):02X}" if r.random() < 0.3 else c for c in s)


def odd_value(r):
    return r.choice(["", "%", "%0", "%zz", "%00", "%25", "+", "a+b", "%C3%28", "x" * 300,
                     "y" * 5000, "-1", "0", "99999999999999999999", "1e9", "604801", "1",
                     "%2F..%2F", "a%26b%3Dc", "\u00e9".encode().decode("latin-1"), junk(r),
                     pct(r, "room-1"), "turn", "TURN", "a:b", KEY])


def route_cases(r):
    """Well-formed requests to every route, with wrong methods and odd
    parameters: (bytes, allowed statuses)."""
    out = []
    paths = ["/livez", "/readyz", "/metrics", "/", "/icehub.js", "/dashboard", "/dashboard.js",
             "/api", "/api/", "/api/summary", "/api/usage", "/api/allocations",
             "/api/users/revoked", "/ice-servers", "/turn-credentials", "/room-token",
             "/ws", "/nope", "/../etc/passwd", "/%2e%2e/etc/passwd", "//", "/api//summary"]
    for _ in range(N // 3):
        kind = r.randrange(10)
        method = r.choice(METHODS[:5]) if r.random() < 0.9 else r.choice(METHODS)
        hdrs = []
        if kind == 0:
            path = "/api/allocations/" + r.choice(["0", "1", "18446744073709551615",
                                                    "18446744073709551616", "-1", "+1", "1x",
                                                    "0x10", " 1", "1" * 25, junk(r), pct(r, "12")])
            hdrs.append(ADMIN)
        elif kind == 1:
            name = r.choice(["alice", "bob", "x" * 255, "x" * 256, "y" * r.randrange(300, 3000),
                             "%00", "%2F", "a%2Fb", "%zz", "%FF%FE", pct(r, "alice"), junk(r), "",
                             "%0A", "a b", "\u00e9".encode().decode("latin-1")])
            path = f"/api/users/{name}/revoke"
            hdrs.append(ADMIN)
        elif kind == 2:
            path = "/api/allocations?" + "&".join(
                f"{r.choice(['user', 'limit', 'x', ''])}={odd_value(r)}"
                for _ in range(r.randrange(1, 4)))
            hdrs.append(ADMIN)
        elif kind in (3, 4, 5):
            route = ["/ice-servers", "/turn-credentials", "/room-token"][kind - 3]
            keys = {"/ice-servers": ["peer", "key"],
                    "/turn-credentials": ["service", "username", "key"],
                    "/room-token": ["room", "peer", "ttl", "key"]}[route]
            q = "&".join(f"{r.choice(keys + ['x'])}={odd_value(r)}"
                         for _ in range(r.randrange(0, 5)))
            path = route + ("?" + q if q or r.random() < 0.5 else "")
            if r.random() < 0.6:
                hdrs.append(r.choice([APIKEY, "Authorization: Bearer ", "Authorization: Basic x",
                                      "Authorization: bearer " + KEY, "Authorization: " + junk(r),
                                      "Authorization: Bearer " + "k" * 600]))
        elif kind == 6:
            path = r.choice(paths)
            hdrs.append(r.choice([ADMIN, "Authorization: Bearer wrong", "Authorization:",
                                  "Authorization: Bearer " + TOKEN + "x",
                                  "Authorization: Bearer " + "t" * 2000]))
        elif kind == 7:
            path = r.choice(paths) + r.choice(["?", "?&&", "?=", "?a", "?a=%", "?" + junk(r),
                                                "?" + "q=v&" * r.randrange(1, 200)])
            hdrs.append(ADMIN)
        elif kind == 8:
            path = "/" + "/".join(junk(r, r.randrange(0, 12)) for _ in range(r.randrange(1, 6)))
        else:
            path = r.choice(paths) + "/" + "p" * r.choice([200, 255, 256, 1000, 3000])
            hdrs.append(ADMIN)
        body = b""
        if method in ("POST", "PUT") and r.random() < 0.5:
            body = r.choice([b"{}", b"x" * 100, b"y" * 70000, os.urandom(r.randrange(1, 500))])
        req = request(method, target(path), hdrs, body)
        out.append((req, "answer" if answerable(req) else "maybe"))
    return out


def answerable(req):
    """Whether lws 4.1.6 lets a well-formed request reach us at all. It
    closes the connection without an answer when the request-target holds
    %00 or the request head outgrows its 4096-byte header table, and it
    has more query arguments than header fragments ("More hdr frags")
    (docs/testing.md)."""
    head = req.partition(b"\r\n\r\n")[0]
    line = head.split(b"\r\n")[0]
    return b"%00" not in line and len(head) < 3800 and line.count(b"&") < 60


def mutate(r, req):
    b = bytearray(req)
    k = r.randrange(16)
    if k == 0:
        return os.urandom(r.randrange(1, 3000))
    if k == 1 and b:
        for _ in range(r.randrange(1, 10)):
            b[r.randrange(len(b))] = r.randrange(256)
    elif k == 2:
        return bytes(b[:r.randrange(len(b) + 1)])
    elif k == 3:
        i = r.randrange(len(b) + 1)
        b[i:i] = r.choice([b"\x00", b"\r", b"\n", b"\r\n", b" ", b"%", b"%00", b"\xff",
                           b"\r\n\r\n", b":"])
    elif k == 4:
        return req.replace(b"HTTP/1.1", r.choice([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9.9",
                                                 b"HTTP/1.", b"HTTP", b"", b"http/1.1",
                                                 b"HTTP/1.1 extra", b"HTTP/01.01"]), 1)
    elif k == 5:
        return req.replace(req.split(b" ", 1)[0], r.choice(
            [b"", b"G", b"get", b"GETT", b"PRI", b"M-SEARCH", b"\x00GET", b"X" * 500,
             b"GET GET"]), 1)
    elif k == 6:
        head, _, body = req.partition(b"\r\n\r\n")
        extra = r.choice([b"Content-Length: 5\r\nContent-Length: 7",
                          b"Content-Length: 5\r\nContent-Length: 5",
                          b"Content-Length: -1", b"Content-Length: 99999999999999999999",
                          b"Content-Length: 0x10", b"Content-Length: 1 2",
                          b"Content-Length: 10", b"Content-Length: 2",
                          b"Transfer-Encoding: chunked",
                          b"Transfer-Encoding: chunked\r\nContent-Length: 3",
                          b"Transfer-Encoding: gzip, chunked"])
        body = r.choice([body, b"abc", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\nx\r\n",
                         b"ffffffffffffffff\r\nx", b"x" * 50])
        return head + b"\r\n" + extra + b"\r\n\r\n" + body
    elif k == 7:
        head, _, body = req.partition(b"\r\n\r\n")
        name = r.choice([b"X-" + b"h" * r.randrange(1, 9000), b"Host", b"Authorization",
                         b"Content-Type", b"Cookie", b"Origin", b"Upgrade", b"Connection",
                         b"Sec-WebSocket-Key", b"", b" Spaced", b"Bad\x00Name", b"\xff\xfe"])
        val = r.choice([b"", b"v" * r.randrange(1, 9000), b"a\x00b", b"\xc3\x28", b" ",
                        b"keep-alive, Upgrade", b"%00", b"\t\t"])
        n = r.choice([1, 1, 2, 50, 200])
        return head + (b"\r\n" + name + b": " + val) * n + b"\r\n\r\n" + body
    elif k == 8:
        i = req.find(b" ") + 1
        b[i:i] = r.choice([b"/" * 3000, b"/%", b"/%0", b"%41", b"*", b"http://x/",
                           b"/?" + b"a=b&" * 600, b"/" + b"x" * 9000, b"/\x00"])
    elif k == 9:
        return req.replace(b"\r\n", b"\n")
    elif k == 10:
        return req.replace(b"\r\n\r\n", b"\r\n")
    elif k == 11:
        return req.replace(b"Connection: close\r\n", b"") * r.randrange(2, 20)
    elif k == 12:
        return req.replace(b"\r\n", b"\r\n ", r.randrange(1, 4))  # obsolete line folding
    elif k == 13:
        return b"\r\n" * r.randrange(1, 500) + req
    else:
        b += os.urandom(r.randrange(1, 200))
    return bytes(b)


def hostile_cases(r, valid):
    out = []
    for _ in range(N // 3):
        req = mutate(r, r.choice(valid)[0])
        if r.random() < 0.3:
            req = mutate(r, req)
        mode = r.choice(["shut", "shut", "shut", "reset", "read-short"])
        out.append((req, mode))
    return out


def pipeline_cases(r):
    out = []
    for _ in range(N // 30):
        n = r.randrange(2, 12)
        reqs = [request(r.choice(["GET", "GET", "POST", "PUT", "DELETE", "HEAD"]),
                        r.choice(["/livez", "/readyz", "/ice-servers?key=" + KEY, "/api/summary",
                                  "/nope", "/metrics", "/api/users/a/revoke"]),
                        [ADMIN], body=r.choice([b"", b"{}", b"x" * 3000]), close=False)
                for _ in range(n)]
        reqs.append(request("GET", "/livez"))
        out.append((b"".join(reqs), ("pipeline", n + 1)))
    return out


# ---- WebSocket ------------------------------------------------------------

def upgrade(path="/ws", key=None, version="13", origin=None, extra=()):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade"]
    if key != "-":
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version != "-":
        lines.append(f"Sec-WebSocket-Version: {version}")
    if origin:
        lines.append(f"Origin: {origin}")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def upgrade_cases(r):
    out = []
    for _ in range(N // 30):
        kw = r.choice([{"key": ""}, {"key": "short"}, {"key": "!" * 200}, {"key": "-"},
                       {"version": "8"}, {"version": "-"}, {"version": "13, 8"},
                       {"version": "x" * 300}, {"origin": "http://evil.example"},
                       {"origin": "null"}, {"origin": "x" * 3000}, {"origin": "\x00"},
                       {"path": "/ws?x=1"}, {"path": "/ws/"}, {"path": "/WS"},
                       {"path": "/" + "w" * 500},
                       {"extra": ["Sec-WebSocket-Protocol: nope, " + "p" * 500]},
                       {"extra": ["Sec-WebSocket-Extensions: permessage-deflate; "
                                  "client_max_window_bits=1"]},
                       {"extra": ["Sec-WebSocket-Extensions: " + junk(r)]},
                       {"extra": ["Upgrade: h2c"]}])
        req = upgrade(**kw)
        if r.random() < 0.2:
            req = req.replace(b"HTTP/1.1", b"HTTP/1.0")
        out.append((req, "shut"))
    return out


def frame(opcode, payload, fin=True, mask=True, rsv=0, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def text(obj):
    return frame(1, obj if isinstance(obj, bytes) else json.dumps(obj).encode())


VALUES = [None, True, False, 0, -1, 1.5, 1e308, -1e308, 2 ** 63, -2 ** 63, 2 ** 64, "",
          "x" * 70000, "room-1", "\u0000", "\ud7ff\uffff", [], {}, [[[]]], {"a": {"b": []}}]


def hostile_json(r):
    k = r.randrange(9)
    if k == 0:
        d = r.randrange(1, 5000)
        return frame(1, (b"[" * d + b"]" * d) if r.random() < 0.5 else
                     (b'{"a":' * d + b"1" + b"}" * d))
    if k == 1:
        return frame(1, r.choice([b"1" * 5000, b"1e999999", b"-1e-999999", b"0." + b"0" * 4000 + b"1",
                                  b'{"type":"ping","ref":' + b"9" * 400 + b"}",
                                  b'{"type":"ping","ref":1e400}', b'{"type":"ping","ref":-0}',
                                  b'{"type":"ping","ref":NaN}', b'{"type":"ping","ref":Infinity}']))
    if k == 2:
        t = r.choice(["join", "signal", "broadcast", "leave", "resume", "ice-servers", "ping"])
        fields = ["type", "room", "peer", "token", "to", "data", "ref", "id"]
        msg = {"type": t}
        for f in r.sample(fields, r.randrange(1, len(fields))):
            msg[f] = r.choice(VALUES)
        if r.random() < 0.7:
            msg["type"] = t
        return text(msg)
    if k == 3:
        return text({"type": r.choice(VALUES)})
    if k == 4:
        return frame(1, r.choice([b"", b"{", b"}", b"null", b"\"\"", b'{"type":"ping"}' * 3,
                                  b'{"type":"ping","ref":"\\ud800"}',
                                  b'{"type":"ping","ref":"\\u0000"}',
                                  b'{"type":"join","room":"a\\u0000b"}',
                                  b'{"type":"join","room":"r","peer":"a\\u0000"}',
                                  b'{"type":"ping"' + b',"ref":1' * 3000 + b"}",
                                  b'{"type":"ping","ref":"' + b"\\" * 3 + b'"}']))
    if k == 5:
        return frame(1, os.urandom(r.randrange(1, 300)))
    if k == 6:
        room = r.choice(["room-1", "storm", "x" * 128, "x" * 129, "\u00e9t\u00e9", "a\tb"])
        return text({"type": "join", "room": room, "peer": r.choice([None, "p", "p" * 64,
                                                                      "p" * 65, "bad id"]),
                     "ref": r.choice(VALUES[:12])})
    if k == 7:
        return text({"type": r.choice(["signal", "broadcast"]), "to": r.choice(["", "p", "x" * 999]),
                     "data": r.choice(VALUES), "ref": r.choice(VALUES)})
    return text({"type": "resume", "token": r.choice(["", "x" * 32, "x" * 5000, 5, None])})


def hostile_frame(r):
    k = r.randrange(14)
    if k == 0:
        return frame(1, b'{"type":"ping"}', rsv=r.randrange(1, 8))
    if k == 1:
        return frame(r.choice([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]), b"x" * r.randrange(10))
    if k == 2:
        return frame(1, b'{"type":"ping"}', mask=False)
    if k == 3:
        return frame(r.choice([8, 9, 0xA]), b"ctl", fin=False)
    if k == 4:
        return frame(9, b"p" * r.choice([126, 200, 70000]))
    if k == 5:
        return frame(1, b"", length=r.choice([2 ** 63, 2 ** 64 - 1, 2 ** 62, 2 ** 32]))
    if k == 6:
        return frame(1, b"x" * 100, length=r.choice([2 ** 31, 10 ** 9, 70000]))
    if k == 7:
        return frame(1, r.choice([b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff",
                                  b'{"type":"ping","ref":"\xc0\xaf"}', b"\xe2\x82"]))
    if k == 8:
        code = r.choice([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 1000, 3000])
        payload = struct.pack("!H", code) + r.choice([b"", b"\xc3\x28", b"r" * 123, b"r" * 200])
        return frame(8, r.choice([payload, b"\x03"]))
    if k == 9:
        return (frame(1, b'{"type":', fin=False) + frame(1, b'"ping"}', fin=False) +
                frame(0, b"}"))
    if k == 10:
        return frame(0, b'{"type":"ping"}')  # a continuation with nothing to continue
    if k == 11:
        return b"".join(frame(9, os.urandom(r.randrange(0, 20))) for _ in range(r.randrange(50, 400)))
    if k == 12:
        return (frame(1, b'{"type":"pi', fin=False) + frame(9, b"mid") +
                frame(2, b"bin", fin=False) + frame(0, b'ng"}'))
    return frame(2, os.urandom(r.randrange(0, 2000)), fin=r.random() < 0.8)


def ws_cases(r):
    out = []
    for _ in range(N // 12):
        n = r.randrange(1, 8)
        frames = [hostile_json(r) if r.random() < 0.6 else hostile_frame(r) for _ in range(n)]
        out.append((frames, r.choice(["shut", "reset", "close-frame"])))
    return out


def ws_session(port, frames, mode, timeout=3.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(upgrade())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                return "no-upgrade"
            buf += chunk
        if not buf.startswith(b"HTTP/1.1 101"):
            return "refused " + buf[:12].decode("latin-1")
        for f in frames:
            s.sendall(f)
        if mode == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return "reset"
        if mode == "close-frame":
            s.sendall(frame(8, struct.pack("!H", 1000)))
        s.shutdown(socket.SHUT_WR)
        deadline = time.time() + timeout
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            if not s.recv(65536):
                return "closed"
        return "timeout"
    except socket.timeout:
        return "timeout"
    except OSError:
        return "reset-by-server"
    finally:
        s.close()


def ws_client(port):
    """A well-behaved client for the checks after the storm (the signaling
    tests' raw-socket client), upgraded."""
    w = RawWS(port)
    assert w.status == 101, w.headers
    return w


# ---- The test ----------------------------------------------------------------

def run_case(port, case):
    data, how = case
    if isinstance(data, list):
        return ("ws", ws_session(port, data, how), None)
    if how in ("answer", "maybe"):
        out, to = exchange(port, data)
        return (how, statuses(out), to)
    if isinstance(how, tuple):
        # Not half-closed: lws drops a connection whose client has shut
        # its side without answering what it already read.
        out, to = exchange(port, data, mode="read", timeout=3.0)
        return ("pipeline", statuses(out), to)
    if how == "read-short":
        out, to = exchange(port, data, mode="read", timeout=0.3, pieces=3)
        return ("hostile", statuses(out), to)
    out, to = exchange(port, data, mode=how, timeout=3.0)
    return ("hostile", statuses(out), to)


def bad_log_lines(log):
    bad = []
    for ln in log.splitlines():
        # lws's own complaints about a request head over its header table
        # and a long Sec-WebSocket-Protocol are the client's fault: icehubd
        # logs them as warnings (ihd_http.c), never as errors.
        if (re.match(r"^\S+Z error ", ln) or "Sanitizer" in ln or "runtime error:" in ln
                or "Assertion" in ln):
            bad.append(ln)
    return bad


def check_peers_work(d):
    a, b = ws_client(d.http_port), ws_client(d.http_port)
    a.send_text(json.dumps({"type": "join", "room": "after-storm", "peer": "a1"}))
    assert a.recv_json()["type"] == "joined"
    b.send_text(json.dumps({"type": "join", "room": "after-storm", "peer": "b1"}))
    jb = b.recv_json()
    assert jb["type"] == "joined" and jb["peers"] == ["a1"], jb
    assert a.recv_json() == {"type": "peer-joined", "id": "b1"}
    a.send_text(json.dumps({"type": "signal", "to": "b1", "data": {"sdp": "v=0"}, "ref": 1}))
    assert b.recv_json() == {"type": "signal", "from": "a1", "data": {"sdp": "v=0"}}
    assert a.recv_json() == {"type": "ack", "ref": 1}
    a.close()
    b.close()


def test_http_storm():
    r = rng(SEED)
    valid = route_cases(r)
    cases = (valid + hostile_cases(r, valid) + pipeline_cases(r) + upgrade_cases(r) +
             ws_cases(r))
    r.shuffle(cases)
    with Daemon("http-storm", args=ARGS) as d:
        t0 = time.time()
        # Slow partial requests held open through the storm.
        slow = []
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", d.http_port))
            s.sendall([b"GET /livez HTTP/1.1\r\nHost: x", b"POST /api/users/a/revoke HTTP/1.1\r\n"
                       b"Content-Length: 100\r\n\r\nabc", upgrade()[:40],
                       upgrade() + frame(1, b'{"type":"pi', fin=False)][i % 4])
            slow.append(s)
        problems = []
        counts = {}
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            for i, res in enumerate(ex.map(lambda c: run_case(d.http_port, c), cases)):
                kind, got, extra = res
                counts[kind] = counts.get(kind, 0) + 1
                case = cases[i][0]
                shown = case[:160] if isinstance(case, bytes) else [f[:40] for f in case[:3]]
                if kind == "answer":
                    if extra or len(got) != 1:
                        problems.append(f"no single answer ({got}, timeout={extra}): {shown!r}")
                    elif got[0] >= 500:
                        problems.append(f"{got[0]}: {shown!r}")
                elif kind == "pipeline":
                    # One request per connection: the first is answered, then
                    # the daemon closes.
                    if extra or len(got) != 1 or got[0] >= 500:
                        problems.append(f"pipeline got {got} (timeout={extra}): {shown!r}")
                elif kind == "maybe" and (len(got) > 1 or any(x >= 500 for x in got)):
                    problems.append(f"{got}: {shown!r}")
                elif kind == "hostile" and any(x >= 500 and x not in (501, 505) for x in got):
                    problems.append(f"hostile got {got}: {shown!r}")
                elif kind == "ws" and res[1] in ("no-upgrade", "timeout") or \
                        kind == "ws" and res[1].startswith("refused"):
                    problems.append(f"ws session {res[1]}: {shown!r}")
                if d.proc.poll() is not None:
                    raise AssertionError(f"daemon died during the storm: {shown!r}\n" +
                                         "\n".join(d.log().splitlines()[-30:]))
        for s in slow:
            s.close()
        took = time.time() - t0
        assert d.proc.poll() is None, "daemon died"
        assert d.http_get("/livez") == (200, "ok\n")
        m = d.metrics()
        assert "icehub_signal_connections" in m, sorted(m)[:20]
        check_peers_work(d)
        rc, _ = d.stop()
        bad = bad_log_lines(d.log())
        print(f"      http storm: seed {SEED}, {len(cases)} cases {counts} in {took:.1f} s")
        assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
        assert rc == 0, f"exit {rc}"
        assert not bad, "\n".join(bad[:40])


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def test_http_pipelined_bodies():
    """Regression: a pipelined request with a body (after another request on
    the same connection) made lws 4.1.6 spin the HTTP thread forever. Now
    every connection serves one request and is closed."""
    post = b"POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    get = b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
    with Daemon("http-pipelined", args=ARGS) as d:
        for data in (post * 2, get + post, post + get, get * 3 + post * 3):
            out, to = exchange(d.http_port, data, mode="read", timeout=3.0)
            assert not to and statuses(out) == [200], (data, out)
            assert b"connection: close" in out.lower(), out
        t0 = cpu_ticks(d.proc.pid)
        time.sleep(0.5)
        assert cpu_ticks(d.proc.pid) - t0 < 10, "the HTTP thread spins"
        assert d.http_get("/livez", timeout=2) == (200, "ok\n")


def test_http_connect_refused():
    """Regression: lws turns a CONNECT request into a raw socket that nobody
    served and that never timed out, so each one held a connection (and a
    file descriptor) forever. Now it gets 405 and is closed."""
    with Daemon("http-connect", args=ARGS) as d:
        for data in (b"CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\nSSH-2.0-x\r\n",
                     request("CONNECT", "/ws", [ADMIN], body=b"abc")):
            out, to = exchange(d.http_port, data, mode="read", timeout=3.0)
            assert not to and statuses(out) in ([405], [403]), (data, out)
        assert d.http_get("/livez", timeout=2) == (200, "ok\n")


def test_ws_empty_frames():
    """Regression: an empty text frame (or an empty fragment before any
    payload) reached memcpy(NULL, NULL, 0) in the frame reassembly, which
    UBSan stops the ASan daemon for. Now an empty message is bad-message."""
    with Daemon("ws-empty", args=ARGS) as d:
        w = ws_client(d.http_port)
        w.sock.sendall(frame(1, b""))
        m = w.recv_json()
        assert m["type"] == "error" and m["code"] == "bad-message", m
        w.send_text(json.dumps({"type": "ping"}))
        assert w.recv_json() == {"type": "pong"}
        w.close()
        for seq in ([frame(1, b'{"type":', fin=False), frame(0, b"", fin=False),
                     frame(0, b'"ping"}')],
                    [frame(1, b'{"type":"ping"}', fin=False), frame(0, b"")],
                    [frame(1, b"", fin=False), frame(0, b'{"type":"ping"}')]):
            w = ws_client(d.http_port)
            w.sock.sendall(b"".join(seq))
            assert w.recv_json() == {"type": "pong"}
            w.close()
        assert d.proc.poll() is None
        assert d.http_get("/livez", timeout=2) == (200, "ok\n")
