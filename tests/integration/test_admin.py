"""The admin API (/api/*) against the real daemon: bearer-token auth (401
and nothing done), live allocations with users, addresses and rising bytes,
DELETE ends one (the client's next Refresh gets 437), revoking a user ends
their allocations and refuses new ones (403) until un-revoked, the
refusal to start with a non-loopback listener and no token, and 404 while
the API is disabled."""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

from harness import BIN, Daemon, free_port, wait_for
from turnclient import TurnClient, ephemeral, error_code

TOKEN = "admin-token-0123456789"
USER, PASS, SECRET = "alice", "wonderland", "s3cret-key"


def daemon(name, extra=()):
    return Daemon(name, args=[f"--turn.users={USER}:{PASS},bob:builder",
                              f"--turn.secrets={SECRET}", "--turn.realm=icehub.test",
                              "--turn.allowed_peers=127.0.0.0/8", "--admin.enabled=true",
                              f"--admin.token={TOKEN}"] + list(extra))


def api(d, method, path, token=TOKEN, auth=None):
    """(status, parsed JSON or None, headers) of one API call."""
    req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}{path}", method=method,
                                 data=b"" if method in ("POST", "PUT") else None)
    if auth is not None:
        req.add_header("Authorization", auth)
    elif token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            body, status, hdrs = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        body, status, hdrs = e.read(), e.code, e.headers
    try:
        return status, json.loads(body), hdrs
    except ValueError:
        return status, None, hdrs


def ledger_finals(path, timeout=4.0, want=1):
    """The final records in the ledger at <path> once there are <want> of them."""
    deadline = time.time() + timeout
    while True:
        recs = []
        if os.path.exists(path):
            with open(path) as f:
                recs = [json.loads(ln) for ln in f if ln.strip()]
        finals = [r for r in recs if r["type"] == "final"]
        if len(finals) >= want or time.time() > deadline:
            return finals
        time.sleep(0.1)


def peer_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    return s


def relay_session(d, user=USER, password=PASS):
    """An allocation with a permission to a local peer; returns (client, peer)."""
    c = TurnClient(d.port, user, password)
    cls, attrs, _ = c.allocate()
    assert cls == 2, error_code(attrs)
    p = peer_socket()
    assert c.permit(p.getsockname())[0] == 2
    return c, p


def push(c, p, n=20, size=500):
    for _ in range(n):
        c.send_indication(p.getsockname(), b"u" * size)
        p.recvfrom(2000)
        p.sendto(b"d" * size, c.relayed)
        c.recv_data()


def allocations(d, query=""):
    st, j, _ = api(d, "GET", "/api/allocations" + query)
    assert st == 200, (st, j)
    return j["allocations"]


def wait_allocs(d, pred, timeout=4.0, query=""):
    deadline = time.time() + timeout
    while True:
        a = allocations(d, query)
        if pred(a) or time.time() > deadline:
            return a
        time.sleep(0.1)


def test_auth_list_rates_and_delete():
    ledger = os.path.join(tempfile.mkdtemp(prefix="icehub-admin-"), "usage.jsonl")
    with daemon("admin-main", [f"--ledger.path={ledger}"]) as d:
        c, p = relay_session(d)
        push(c, p)
        a = wait_allocs(d, lambda a: a and a[0]["to_peer_bytes"] >= 10000)
        assert len(a) == 1, a
        e = a[0]
        assert e["user"] == USER and e["quota_user"] == USER and e["realm"] == "icehub.test"
        assert e["transport"] == "udp"
        assert e["client"] == "%s:%d" % c.sock.getsockname()
        assert e["relay"] == ["%s:%d" % c.relayed]
        assert e["peers"] == ["127.0.0.1"] and e["peers_total"] == 1
        assert e["to_peer_bytes"] == 10000 and e["to_client_bytes"] == 10000
        assert e["to_peer_packets"] == 20 and e["to_client_packets"] == 20
        assert e["started"].endswith("Z") and e["age_s"] >= 0
        # Bytes rise while traffic flows, and so does the rate.
        push(c, p, n=40)
        a = wait_allocs(d, lambda a: a[0]["to_peer_bytes"] >= 30000)
        assert a[0]["to_client_bytes"] == 30000
        # The rate covers the second before the snapshot: 20 kB just went by.
        push(c, p, n=40)
        a = wait_allocs(d, lambda a: a[0]["to_peer_bytes"] >= 50000 and
                        a[0]["to_peer_bps"] > 0 and a[0]["to_client_bps"] > 0)
        assert a[0]["to_peer_bps"] > 0 and a[0]["to_client_bps"] > 0, a
        assert a[0]["to_peer_bps"] <= 8 * 50000 / 0.05, a
        st, one, _ = api(d, "GET", f"/api/allocations/{e['id']}")
        assert st == 200 and one["id"] == e["id"] and one["to_peer_bytes"] >= 50000
        assert allocations(d, "?user=bob") == []
        assert len(allocations(d, "?user=alice")) == 1

        # No token, a wrong one, a wrong scheme: 401 and nothing done.
        for kw in ({"token": None}, {"token": "wrong-token-0123456789"},
                   {"auth": f"Basic {TOKEN}"}, {"token": TOKEN + "x"}, {"token": TOKEN[:-1]}):
            st, j, h = api(d, "DELETE", f"/api/allocations/{e['id']}", **kw)
            assert st == 401 and j["error"] == "unauthorized", (kw, st, j)
            assert h["WWW-Authenticate"].startswith("Bearer"), dict(h)
            st, j, _ = api(d, "POST", f"/api/users/{USER}/revoke", **kw)
            assert st == 401
            assert api(d, "GET", "/api/allocations", **kw)[0] == 401
        assert c.refresh(600)[0] == 2  # still alive
        assert api(d, "GET", "/api/users/revoked")[1]["users"] == []

        # Bad requests.
        assert api(d, "DELETE", "/api/allocations/999999")[0] == 404
        assert api(d, "GET", "/api/allocations/abc")[0] == 400
        assert api(d, "GET", "/api/nothing")[0] == 404
        st, j, h = api(d, "POST", "/api/allocations")
        assert st == 405 and j["error"] == "method-not-allowed" and "GET" in h["Allow"]

        # DELETE ends it: gone from the list, the client's Refresh gets 437.
        st, j, _ = api(d, "DELETE", f"/api/allocations/{e['id']}")
        assert st == 200 and j["ended"] and j["reason"] == "admin", j
        cls, attrs, _ = c.refresh(600)
        assert (cls, error_code(attrs)[0]) == (3, 437)
        assert wait_allocs(d, lambda a: a == []) == []
        assert api(d, "DELETE", f"/api/allocations/{e['id']}")[0] == 404
        assert "ended through the admin API" in d.log()
        # The ledger's final record names the same id and the reason.
        f = ledger_finals(ledger)
        assert [(r["alloc_id"], r["end_reason"]) for r in f] == [(e["id"], "admin")], f
        assert f[0]["to_peer_bytes"] == 50000 and f[0]["to_client_bytes"] == 50000, f


def test_revoke_and_unrevoke():
    ledger = os.path.join(tempfile.mkdtemp(prefix="icehub-admin-"), "usage.jsonl")
    with daemon("admin-revoke", [f"--ledger.path={ledger}"]) as d:
        # Two allocations of one shared-secret user, one of another.
        name, pw = ephemeral(SECRET, "carol", 3600)
        c1, p1 = relay_session(d, name, pw)
        c2, _ = relay_session(d, name, pw)
        b, _ = relay_session(d, "bob", "builder")
        wait_allocs(d, lambda a: len(a) == 3)
        st, j, _ = api(d, "GET", "/api/allocations?limit=2")
        assert st == 200 and j["count"] == 3 and j["truncated"] and len(j["allocations"]) == 2
        assert [a["id"] for a in j["allocations"]] == sorted(a["id"] for a in j["allocations"])
        assert api(d, "GET", "/api/allocations?limit=0")[0] == 400
        assert api(d, "GET", "/api/allocations?limit=x")[0] == 400
        st, j, _ = api(d, "POST", "/api/users/carol/revoke")
        assert st == 200 and j["revoked"] and j["changed"] and j["live_allocations"] == 2, j
        assert api(d, "POST", "/api/users/carol/revoke")[1]["changed"] is False
        assert api(d, "GET", "/api/users/revoked")[1]["users"] == ["carol"]
        # Existing allocations end at the workers' next tick; bob's stays.
        a = wait_allocs(d, lambda a: len(a) == 1)
        assert [x["user"] for x in a] == ["bob"], a
        for c in (c1, c2):
            cls, attrs, _ = c.refresh(600)
            assert (cls, error_code(attrs)[0]) == (3, 437)
        f = ledger_finals(ledger, want=2)
        assert sorted((r["quota_user"], r["end_reason"]) for r in f) == \
            [("carol", "revoked"), ("carol", "revoked")], f
        # New Allocates are refused with 403, with a fresh credential too.
        name2, pw2 = ephemeral(SECRET, "carol", 600)
        n = TurnClient(d.port, name2, pw2)
        cls, attrs, _ = n.allocate()
        assert cls == 3 and error_code(attrs) == (403, "Forbidden (user revoked)"), \
            error_code(attrs)
        assert b.refresh(600)[0] == 2
        # Un-revoke: allowed again.
        st, j, _ = api(d, "DELETE", "/api/users/carol/revoke")
        assert st == 200 and j["revoked"] is False and j["changed"], j
        assert api(d, "DELETE", "/api/users/carol/revoke")[0] == 404
        assert api(d, "GET", "/api/users/revoked")[1]["users"] == []
        n2 = TurnClient(d.port, name2, pw2)
        assert n2.allocate()[0] == 2
        wait_allocs(d, lambda a: len(a) == 2)
        assert len(allocations(d, "?user=carol")) == 1
        assert len(allocations(d, "?user=" + name2.replace(":", "%3A"))) == 1


def test_summary_and_usage():
    with daemon("admin-summary", ["--cost.egress_per_gb=0.08", "--cost.ingress_per_gb=0.02",
                                  "--cost.currency=EUR"]) as d:
        c, p = relay_session(d)
        for _ in range(3):
            push(c, p, n=20)
            time.sleep(0.4)
        st, s, _ = api(d, "GET", "/api/summary")
        assert st == 200, (st, s)
        assert s["allocations"] == 1 and s["workers"] == 2
        assert s["top_users"][0]["user"] == USER and s["top_users"][0]["allocations"] == 1
        assert s["live_bytes"]["to_peer"] >= 10000
        assert s["throughput_bps"]["total"] >= 0
        # This period's usage (the usage table is fed by the same ticks).
        deadline = time.time() + 4
        while time.time() < deadline:
            s = api(d, "GET", "/api/summary")[1]
            if s["usage"]["totals"]["to_peer_bytes"] >= 30000:
                break
            time.sleep(0.2)
        u = s["usage"]
        assert u["currency"] == "EUR" and u["period"]["kind"] in ("day", "month"), u
        assert u["totals"]["to_peer_bytes"] == 30000 and u["totals"]["to_client_bytes"] == 30000
        assert abs(u["totals"]["cost"] - (30000 * 0.08 + 30000 * 0.02) / 1e9) < 1e-12, u
        assert u["top_users"][0]["user"] == USER
        st, full, _ = api(d, "GET", "/api/usage")
        assert st == 200 and full["totals"]["to_client_bytes"] == 30000, full
        assert api(d, "POST", "/api/usage")[0] == 405
        assert api(d, "GET", "/api/usage", token=None)[0] == 401


def test_disabled_is_404():
    d = Daemon("admin-off", args=["--turn.users=alice:wonderland"])
    with d:
        for path in ("/api/allocations", "/api/summary", "/dashboard"):
            st, j, _ = api(d, "GET", path)
            assert st == 404 and "disabled" in j["message"], (path, st, j)
        st, j, _ = api(d, "POST", "/api/users/alice/revoke")
        assert st == 404


def test_loopback_without_token_and_refusal():
    # Loopback only and no token: the API answers without one.
    d = Daemon("admin-notoken", args=["--admin.enabled=true"])
    with d:
        st, j, _ = api(d, "GET", "/api/allocations", token=None)
        assert st == 200 and j["allocations"] == []
    # Any non-loopback listener without a token: refused, also by --check-config.
    port = free_port(udp_and_tcp=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICEHUB_")}
    for extra in ([], ["--check-config"]):
        r = subprocess.run([BIN, "--turn.listen=127.0.0.1:%d" % free_port(),
                            f"--http.listen=0.0.0.0:{port}", "--admin.enabled=true"] + extra,
                           capture_output=True, text=True, timeout=10, env=env)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "needs admin.token" in r.stderr and "0.0.0.0:" in r.stderr, r.stderr
    # With a token the admin API may be public (the hub then needs its own
    # guard: docs/security.md#signaling-hub).
    r = subprocess.run([BIN, f"--http.listen=0.0.0.0:{port}", "--admin.enabled=true",
                        f"--admin.token={TOKEN}", "--signal.require_token=true",
                        "--check-config"],
                       capture_output=True, text=True, timeout=10, env=env)
    assert r.returncode == 0, r.stderr


def test_unrevoke_keeps_byte_quota_block():
    # A user over quota.user_bytes who is revoked and then un-revoked stays
    # blocked by the quota (486), not free until the period ends.
    with daemon("admin-quota", ["--quota.user_bytes=20000", "--quota.over_action=stop"]) as d:
        c, p = relay_session(d)
        push(c, p, n=25)  # 25 kB to the peer and 25 kB back
        deadline = time.time() + 4
        while time.time() < deadline:
            u = api(d, "GET", "/api/usage")[1]["users"]
            if u and u[0]["blocked"] == "quota":
                break
            time.sleep(0.1)
        assert u[0]["blocked"] == "quota", u
        assert api(d, "POST", f"/api/users/{USER}/revoke")[0] == 200
        assert api(d, "GET", "/api/usage")[1]["users"][0]["blocked"] == "revoked"
        st, j, _ = api(d, "DELETE", f"/api/users/{USER}/revoke")
        assert st == 200 and j["blocked"] == "quota", j
        cls, attrs, _ = TurnClient(d.port, USER, PASS).allocate()
        assert cls == 3 and error_code(attrs)[0] == 486, error_code(attrs)
        # Someone under the quota is unaffected.
        assert TurnClient(d.port, "bob", "builder").allocate()[0] == 2


def test_metrics_listen_serves_metrics_only():
    mport = free_port(udp_and_tcp=False)
    with daemon("admin-metrics-listen", [f"--metrics.listen=127.0.0.1:{mport}"]) as d:
        class M:  # the same helpers, pointed at the metrics listener
            http_port = mport
        st, body = Daemon.http_get(M, "/metrics")
        assert st == 200 and "icehub_turn_relayed_bytes_total" in body
        assert Daemon.http_get(M, "/livez")[0] == 200
        for path in ("/api/allocations", "/dashboard", "/", "/api/usage"):
            st, j, _ = api(M, "GET", path)
            assert st == 404, (path, st, j)
        assert api(d, "GET", "/api/allocations")[0] == 200  # http.listen is unchanged
    # Without the HTTP service, the metrics listener still runs.
    d = Daemon("admin-metrics-only", args=[f"--metrics.listen=127.0.0.1:{mport}",
                                           "--http.enabled=false"])
    with d:
        class M2:
            http_port = mport
        assert Daemon.http_get(M2, "/metrics")[0] == 200
        assert api(M2, "GET", "/api/allocations")[0] == 404


def raw_http(d, data, timeout=3.0):
    """Send raw bytes to http.listen; returns what came back until close or timeout."""
    s = socket.create_connection(("127.0.0.1", d.http_port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and (out.rstrip().endswith(b"}") or b"</html>" in out):
                break
    except socket.timeout:
        pass
    s.close()
    return out


def test_malformed_requests_never_crash():
    with daemon("admin-malformed") as d:
        auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
        # A %-escape lws refuses itself (it answers before our handler runs).
        out = raw_http(d, b"GET /api/allocations?user=%ZZ HTTP/1.1\r\nHost: x\r\n" + auth +
                       b"\r\n")
        assert out.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), out[:100]
        # POST without Content-Length: answered at once, no body to wait for.
        out = raw_http(d, b"POST /api/users/erin/revoke HTTP/1.1\r\nHost: x\r\n" + auth +
                       b"\r\n")
        assert out.startswith(b"HTTP/1.1 200") and b'"user":"erin"' in out, out
        # A chunked body (lws does not decode those): 411, nothing done.
        out = raw_http(d, b"POST /api/users/frank/revoke HTTP/1.1\r\nHost: x\r\n" + auth +
                       b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 411") and b"length-required" in out, out
        # Too large a body: 413, nothing done.
        big = b"x" * 70000
        out = raw_http(d, b"POST /api/users/gina/revoke HTTP/1.1\r\nHost: x\r\n" + auth +
                       b"Content-Length: %d\r\n\r\n" % len(big) + big)
        assert out.startswith(b"HTTP/1.1 413"), out[:200]
        # Names: not UTF-8 is shown with '?', too long is 400.
        st, j, _ = api(d, "POST", "/api/users/%FFx/revoke")
        assert st == 200 and j["user"] == "?x", j
        assert api(d, "DELETE", "/api/users/" + "n" * 300 + "/revoke")[0] == 400
        assert api(d, "POST", "/api/users/" + "n" * 300 + "/revoke")[0] == 414
        assert api(d, "POST", "/api/users/%C3%A9ve/revoke")[1]["user"] == "\u00e9ve"
        assert api(d, "GET", "/api/allocations/99999999999999999999999")[0] == 400
        assert api(d, "PUT", "/api/allocations/1")[0] == 405
        revoked = api(d, "GET", "/api/users/revoked")[1]["users"]
        assert "erin" in revoked and "frank" not in revoked and "gina" not in revoked, revoked
        assert d.http_get("/livez")[0] == 200
        assert d.proc.poll() is None
