"""icehub-probe stun and turn against real servers on loopback: icehubd
(UDP, TCP, TLS; static users and shared secrets) and coturn's turnserver,
checked against coturn's turnutils_stunclient; refusals (401, 403, 486),
timeouts, thresholds and usage errors. The probe's JSON is read back for
each figure. The call and serve checks are in test_probe_call.py and
test_probe_serve.py; their helpers live here."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

from harness import BIN, ROOT, ARTIFACTS, Daemon, free_port, udp_query, binding_request, wait_for
from test_browser import make_san_cert

# The run against the ASan+UBSan daemon uses the ASan+UBSan probe too.
PROBE = os.environ.get("ICEHUB_PROBE", os.path.join(
    ROOT, "bin", "icehub-probe-asan" if BIN.endswith("-asan") else "icehub-probe"))
USER, PASS = "probe", "s3cret-pass"
SECRET = "shared-s3cret"
# Short streams: the figures are checked, not the speed.
FAST = ["--count", "40", "--rate", "200"]


def probe(*args, timeout=60):
    """Run icehub-probe; returns (exit status, stdout + stderr, seconds)."""
    t0 = time.time()
    r = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr, time.time() - t0


def probe_json(*args, timeout=60):
    """Run with --json; returns (exit status, the report as a dict)."""
    rc, out, _ = probe(*args, "--json", timeout=timeout)
    try:
        return rc, json.loads(out.splitlines()[-1] if out.strip() else "")
    except ValueError:
        raise AssertionError(f"not JSON (exit {rc}): {out}")


class Coturn:
    """Debian's turnserver as a plain process on free loopback ports with a
    throwaway database; never the packaged service."""

    def __init__(self, name, *extra):
        self.port = free_port()
        self.tmp = tempfile.TemporaryDirectory()
        self.log_path = os.path.join(ARTIFACTS, f"coturn-{name}.log")
        self.argv = ["turnserver", "-n", "--listening-ip=127.0.0.1", f"--listening-port={self.port}",
                     "--relay-ip=127.0.0.1", "--realm=probe.test", "--allow-loopback-peers",
                     "--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780",
                     f"--db={self.tmp.name}/turndb", f"--pidfile={self.tmp.name}/pid",
                     "--log-file=stdout", "--simple-log", *extra]

    def __enter__(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"turnserver exited {self.proc.returncode}")
            try:
                udp_query(self.port, binding_request()[0], timeout=0.2)
                return True
            except OSError:
                return False
        assert wait_for(answers, timeout=10), "turnserver did not start"
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()
        self.tmp.cleanup()


def assert_turn_report(rep, count=40):
    """A passing turn report: two relayed addresses, every packet back, RTTs."""
    assert rep["pass"], rep
    assert rep["error"] is None
    assert len(rep["relayed"]) == 2 and rep["relayed"][0] != rep["relayed"][1]
    assert rep["deallocated"] is True
    assert rep["packets_sent"] == count
    assert rep["packets_received"] > 0
    assert 0 <= rep["loss_ratio"] < 0.5
    rtt = rep["rtt_seconds"]
    assert rtt["count"] == rep["packets_received"]
    assert 0 < rtt["min"] <= rtt["p50"] <= rtt["p95"] <= rtt["p99"] <= rtt["max"] < 1
    assert rep["allocation_seconds"] > 0
    assert rep["throughput_bps"] > 0


def tls_daemon(name, tmp, args=()):
    cert, key = make_san_cert(tmp)
    return Daemon(name, args=[f"--tls.cert={cert}", f"--tls.key={key}", *args], tls=True), cert


# ---- stun -------------------------------------------------------------------

def test_probe_stun_udp_tcp_tls():
    with tempfile.TemporaryDirectory() as tmp:
        d, cert = tls_daemon("probe-stun", tmp)
        with d:
            for args in ([f"127.0.0.1:{d.port}"],
                         [f"127.0.0.1:{d.port}", "--transport", "tcp"],
                         [f"stuns:127.0.0.1:{d.tls_port}", "--ca", cert],
                         [f"127.0.0.1:{d.tls_port}", "--transport", "tls", "--insecure"]):
                rc, rep = probe_json("stun", *args)
                assert rc == 0, rep
                (s,) = rep["servers"]
                assert s["mapped"] == s["local"], s
                assert s["answered"] == s["requests"] == 3
                assert s["rtt_seconds"]["count"] == 3
            # Without the CA, the self-signed certificate is refused.
            rc, out, _ = probe("stun", f"stuns:127.0.0.1:{d.tls_port}")
            assert rc == 1 and "certificate not trusted" in out, out
            m = d.metrics()
            assert m['icehub_stun_requests_total{method="binding",class="success"}'] >= 12


def test_probe_stun_agrees_with_turnutils_stunclient():
    """Both clients from 127.0.0.2: the server must reflect the same address."""
    with Daemon("probe-stunclient") as d:
        r = subprocess.run(["turnutils_stunclient", "-L", "127.0.0.2", "-p", str(d.port),
                            "127.0.0.1"], capture_output=True, text=True, timeout=20)
        m = re.search(r"UDP reflexive addr: ([0-9.]+):(\d+)", r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        rc, rep = probe_json("stun", f"127.0.0.1:{d.port}", "--local-address", "127.0.0.2")
        assert rc == 0, rep
        mapped_ip, mapped_port = rep["servers"][0]["mapped"].rsplit(":", 1)
        assert mapped_ip == m.group(1) == "127.0.0.2"
        assert rep["servers"][0]["local"] == rep["servers"][0]["mapped"]


def test_probe_stun_mapping_verdict_and_coturn():
    """Two servers asked from one local port: no NAT on loopback, so the
    mapping is endpoint-independent. One of them is coturn."""
    with Daemon("probe-map") as d, Coturn("stun") as c:
        rc, rep = probe_json("stun", f"127.0.0.1:{d.port}", f"stun:127.0.0.1:{c.port}",
                             "--count", "2")
        assert rc == 0, rep
        a, b = rep["servers"]
        assert a["mapped"] == b["mapped"] == a["local"]
        assert rep["mapping"] == "endpoint-independent"
        rc, out, _ = probe("stun", f"127.0.0.1:{d.port}", f"127.0.0.1:{c.port}")
        assert "nat mapping   endpoint-independent" in out, out


# ---- turn against icehubd ------------------------------------------------------

def test_probe_turn_static_user_udp_tcp_tls():
    with tempfile.TemporaryDirectory() as tmp:
        d, cert = tls_daemon("probe-turn", tmp, [f"--turn.users={USER}:{PASS}",
                                                 "--turn.allowed_peers=127.0.0.0/8"])
        with d:
            for url in (f"turn:127.0.0.1:{d.port}", f"turn:127.0.0.1:{d.port}?transport=tcp",
                        f"turns:127.0.0.1:{d.tls_port}"):
                rc, rep = probe_json("turn", url, "--user", USER, "--pass", PASS, "--ca", cert,
                                     *FAST)
                assert rc == 0, rep
                assert_turn_report(rep)
            # Everything was released: no allocation left on the server.
            assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0), d.metrics()
            m = d.metrics()
            assert m['icehub_turn_allocations_total{result="success"}'] == 6
            assert m['icehub_stun_requests_total{method="refresh",class="success"}'] == 6


def test_probe_turn_shared_secret():
    with Daemon("probe-secret", args=[f"--turn.secrets={SECRET}",
                                      "--turn.allowed_peers=127.0.0.0/8"]) as d:
        rc, rep = probe_json("turn", f"127.0.0.1:{d.port}", "--secret", SECRET, "--ttl", "60",
                             *FAST)
        assert rc == 0, rep
        assert_turn_report(rep)
        rc, out, _ = probe("turn", f"127.0.0.1:{d.port}", "--secret", "not-it")
        assert rc == 1 and "allocate refused: 401" in out, out


def test_probe_turn_wrong_password_prints_401():
    with Daemon("probe-401", args=[f"--turn.users={USER}:{PASS}"]) as d:
        rc, out, secs = probe("turn", f"turn:127.0.0.1:{d.port}", "--user", USER, "--pass", "nope")
        assert rc == 1, out
        assert "allocate refused: 401" in out and "FAIL" in out, out
        assert secs < 5
        rc, rep = probe_json("turn", f"turn:127.0.0.1:{d.port}", "--user", USER, "--pass", "x")
        assert rc == 1 and rep["error"]["code"] == 401 and rep["error"]["step"] == "allocate"


def test_probe_turn_refusal_486():
    """With one allocation per user the second Allocate gets 486."""
    with Daemon("probe-486", args=[f"--turn.users={USER}:{PASS}",
                                   "--turn.max_allocations_per_user=1"]) as d:
        rc, out, _ = probe("turn", f"turn:127.0.0.1:{d.port}", "--user", USER, "--pass", PASS)
        assert rc == 1 and "allocate refused: 486" in out, out
        rc, rep = probe_json("turn", f"turn:127.0.0.1:{d.port}", "--user", USER, "--pass", PASS)
        assert rep["error"]["code"] == 486 and rep["relayed"][0] is not None, rep
        # The first allocation was released all the same.
        assert wait_for(lambda: d.metrics()["icehub_turn_allocations_active"] == 0)


def test_probe_unreachable_fails_after_timeout():
    port = free_port()  # nothing listens there
    rc, out, secs = probe("turn", f"turn:127.0.0.1:{port}", "--user", "u", "--pass", "p",
                          "--timeout", "1")
    assert rc == 1, out
    assert "timeout after 1.0 s waiting for the allocate response" in out, out
    assert 1.0 <= secs < 4, secs
    rc, rep = probe_json("stun", f"127.0.0.1:{port}", "--timeout", "500ms")
    assert rc == 1 and rep["error"]["timeout_seconds"] == 0.5, rep
    rc, out, secs = probe("stun", f"127.0.0.1:{port}", "--transport", "tcp", "--timeout", "1")
    assert rc == 1 and "Connection refused" in out and secs < 1, out


def test_probe_thresholds_and_usage():
    with Daemon("probe-limits", args=[f"--turn.users={USER}:{PASS}",
                                      "--turn.allowed_peers=127.0.0.0/8"]) as d:
        url = f"turn:127.0.0.1:{d.port}"
        rc, out, _ = probe("turn", url, "--user", USER, "--pass", PASS, *FAST,
                           "--max-rtt", "1s", "--max-loss", "50%")
        assert rc == 0, out
        rc, out, _ = probe("turn", url, "--user", USER, "--pass", PASS, *FAST, "--max-rtt", "0.000001")
        assert rc == 1 and "over --max-rtt" in out, out
    for args in (["turn", "turn:h"], ["stun"], ["stun", "h", "--count", "0"], ["ping"],
                 ["turn", "turn:h", "--user", "u"], ["call", "--room", "r"], []):
        rc, out, _ = probe(*args)
        assert rc == 2, (args, out)
        assert "icehub-probe" in out or "usage" in out
    rc, out, _ = probe("--help")
    assert rc == 0 and "usage: icehub-probe" in out


# ---- turn against coturn ---------------------------------------------------------

def test_probe_turn_against_coturn():
    with Coturn("turn", "--lt-cred-mech", f"--user={USER}:{PASS}") as c:
        for url in (f"turn:127.0.0.1:{c.port}", f"turn:127.0.0.1:{c.port}?transport=tcp"):
            rc, rep = probe_json("turn", url, "--user", USER, "--pass", PASS, *FAST)
            assert rc == 0, rep
            assert_turn_report(rep)
        rc, out, _ = probe("turn", f"turn:127.0.0.1:{c.port}", "--user", USER, "--pass", "bad")
        assert rc == 1 and "allocate refused: 401" in out, out
    # Without --allow-loopback-peers coturn refuses the relayed (loopback)
    # addresses as peers: 403 at the permission step.
    c = Coturn("turn403", "--lt-cred-mech", f"--user={USER}:{PASS}")
    c.argv.remove("--allow-loopback-peers")
    with c:
        rc, rep = probe_json("turn", f"turn:127.0.0.1:{c.port}", "--user", USER, "--pass", PASS)
        assert rc == 1
        assert rep["error"]["code"] == 403 and rep["error"]["step"] == "permission", rep
        assert rep["deallocated"] is True


def test_probe_turn_against_coturn_shared_secret():
    with Coturn("secret", "--use-auth-secret", f"--static-auth-secret={SECRET}") as c:
        rc, rep = probe_json("turn", f"turn:127.0.0.1:{c.port}", "--secret", SECRET, *FAST)
        assert rc == 0, rep
        assert_turn_report(rep)
