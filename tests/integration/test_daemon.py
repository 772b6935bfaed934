"""Daemon behaviour: command line, configuration errors, signals, reload,
health endpoints and the metrics exposition."""
import os
import signal
import socket
import subprocess
import tempfile
import time

from harness import (Daemon, BIN, SCALE, binding_request, parse, udp_query, wait_for,
                     free_port)


def run(args, env=None, timeout=10):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ICEHUB_")}
    e.update(env or {})
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, env=e)


def test_version_and_help():
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("icehubd "), r
    r = run(["--help"])
    assert r.returncode == 0 and "--turn.listen=" in r.stdout and "--config" in r.stdout


def test_check_config_ok_and_sample():
    r = run(["--check-config"])
    assert r.returncode == 0, r.stderr
    r = run(["--check-config", "--config", "deploy/icehub.conf"])
    assert r.returncode == 0, r.stderr


def test_bad_config_file_names_file_and_line():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write('turn = {\n  realm = "x";\n  relay_ports = "9-3";\n};\n')
        path = f.name
    try:
        r = run(["--config", path])
        assert r.returncode == 2, r
        assert f"{path}:3" in r.stderr and "turn.relay_ports" in r.stderr, r.stderr
        assert "9-3" in r.stderr
        # Syntax error: libconfig's file:line.
        with open(path, "w") as f:
            f.write('turn = {\n  realm = ;\n};\n')
        r = run(["--config", path])
        assert r.returncode == 2 and f"{path}:2" in r.stderr, r.stderr
        # Unknown key.
        with open(path, "w") as f:
            f.write('log = {\n  level = "info";\n  colour = true;\n};\n')
        r = run(["--config", path])
        assert r.returncode == 2 and f"{path}:3" in r.stderr and "log.colour" in r.stderr, r.stderr
    finally:
        os.unlink(path)
    r = run(["--config", "/nonexistent/icehub.conf"])
    assert r.returncode == 2 and "/nonexistent/icehub.conf" in r.stderr


def test_check_config_catches_mismatched_tls_key():
    from test_binding import make_two_certs
    with tempfile.TemporaryDirectory() as tmp:
        (cert, _), (_, key) = make_two_certs(tmp)
        r = run(["--check-config", f"--tls.cert={cert}", f"--tls.key={key}"])
        assert r.returncode == 2, r.stderr
        assert (f'--tls.key: expected the private key of tls.cert "{cert}", found "{key}", the '
                'key of another certificate') in r.stderr, r.stderr


def test_bad_flag_and_env():
    r = run(["--turn.threads=lots"])
    assert r.returncode == 2 and "--turn.threads" in r.stderr and "lots" in r.stderr, r.stderr
    r = run(["--nope.key=1"])
    assert r.returncode == 2 and "nope.key" in r.stderr, r.stderr
    r = run(["--bogus"])
    assert r.returncode == 2
    r = run([], env={"ICEHUB_LOG_LEVEL": "loud"})
    assert r.returncode == 2 and "ICEHUB_LOG_LEVEL" in r.stderr and "loud" in r.stderr, r.stderr
    r = run(["--turn.listen=1.2.3:99999"])
    assert r.returncode == 2 and "turn.listen" in r.stderr


def test_precedence_flag_env_file():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write('turn = { realm = "from-file"; software = "file"; threads = 3; };\n')
        path = f.name
    try:
        r = run(["--config", path, "--print-config", "--turn.realm=from-flag"],
                env={"ICEHUB_TURN_REALM": "from-env", "ICEHUB_TURN_SOFTWARE": "env"})
        assert r.returncode == 0, r.stderr
        assert '"from-flag"' in r.stdout and '"env"' in r.stdout and "threads = 3" in r.stdout, \
            r.stdout
    finally:
        os.unlink(path)


def test_sigterm_and_sigint_stop_cleanly():
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Daemon(f"stop-{sig}", tls=False).start()
        s = socket.create_connection(("127.0.0.1", d.port))  # an open TCP client
        rc, took = d.stop(sig)
        assert rc == 0, (rc, d.log())
        assert took < 2.0 * SCALE, took
        s.close()
        # The listeners are closed: the port can be bound again.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", d.port))
        u.close()


def test_sighup_reload_and_bad_reload():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write('turn = { software = "before"; };\n')
        path = f.name
    try:
        d = Daemon("reload", config=path).start()
        msg, tid = binding_request()
        assert b"before" in udp_query(d.port, msg)[0]
        with open(path, "w") as f:
            f.write('turn = { software = "after"; };\n')
        d.send_signal(signal.SIGHUP)
        assert wait_for(lambda: b"after" in udp_query(d.port, binding_request()[0])[0])
        # A broken file: logged, and the running configuration stays.
        with open(path, "w") as f:
            f.write('turn = { software = 12; };\n')
        d.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "reload failed" in d.log())
        assert f"{path}:1" in d.log()
        assert b"after" in udp_query(d.port, binding_request()[0])[0]
        rc, _ = d.stop()
        assert rc == 0
    finally:
        os.unlink(path)


def test_reloads_while_http_serves():
    """Reloads in quick succession while the HTTP thread renders /metrics and
    the usage API, which read the configuration snapshot: each replaced
    snapshot is freed only once the HTTP thread has moved past it (run under
    ASan in the suite's second pass, a use-after-free would abort it)."""
    import threading
    import urllib.request
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write('turn = { realm = "r0"; };\n')
        path = f.name
    stop = threading.Event()
    fails = []

    def scrape(url):
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    r.read()
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                fails.append(repr(e))
                return

    try:
        d = Daemon("reload-http", config=path,
                   args=["--admin.enabled=true", "--cost.egress_per_gb=0.05"]).start()
        base = f"http://127.0.0.1:{d.http_port}"
        threads = [threading.Thread(target=scrape, args=(base + p,))
                   for p in ("/metrics", "/api/usage", "/metrics")]
        for t in threads:
            t.start()
        for i in range(1, 31):
            with open(path, "w") as f:
                f.write(f'turn = {{ realm = "r{i}"; }};\n')
            d.send_signal(signal.SIGHUP)
            time.sleep(0.05)
        assert wait_for(lambda: 'realm="r30"' in urllib.request.urlopen(
            base + "/metrics", timeout=5).read().decode())
        stop.set()
        for t in threads:
            t.join()
        assert not fails, fails
        assert "did not pick up" not in d.log()
        rc, _ = d.stop()
        assert rc == 0
    finally:
        stop.set()
        os.unlink(path)


def test_port_in_use_fails_at_start():
    port = free_port()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", port))
    try:
        r = run([f"--turn.listen=127.0.0.1:{port}", "--http.enabled=false"], timeout=10)
        assert r.returncode != 0 and "cannot listen" in r.stderr, r.stderr
    finally:
        blocker.close()


def test_second_daemon_on_same_port_is_refused():
    """SO_REUSEPORT must not let a second icehubd share the port silently."""
    with Daemon("first") as d:
        r = run([f"--turn.listen=127.0.0.1:{d.port}", "--http.enabled=false"], timeout=10)
        assert r.returncode != 0 and "cannot listen" in r.stderr, r.stderr
        assert "Address already in use" in r.stderr


def test_health_and_metrics_pass_promtool():
    with Daemon("metrics") as d:
        assert d.http_get("/livez") == (200, "ok\n")
        assert d.http_get("/readyz")[0] == 200
        assert d.http_get("/nope")[0] == 404
        udp_query(d.port, binding_request()[0])
        status, body = d.http_get("/metrics")
        assert status == 200
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        m = d.metrics()
        assert m['icehub_rx_packets_total{transport="udp"}'] >= 1
        assert m['icehub_stun_requests_total{method="binding",class="success"}'] >= 1


def test_services_can_be_turned_off():
    with Daemon("no-http", http=False) as d:
        assert parse(udp_query(d.port, binding_request()[0])[0])[0] == 0x0101
    with Daemon("no-turn", args=["--turn.enabled=false"]) as d:
        assert d.http_get("/livez")[0] == 200
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", d.port))  # nobody listens there
        s.close()
