"""icehub-probe serve: the blackbox_exporter-style endpoint scraped with
curl for each kind of module (stun, turn with credentials from a modules
file, call) against icehubd, every answer validated with `promtool check
metrics`; its own /metrics, bad requests, a failing target, and a clean
stop on SIGTERM."""
import os
import re
import signal
import subprocess
import tempfile
import urllib.parse

from harness import ARTIFACTS, Daemon, free_port, wait_for
from test_probe import PASS, PROBE, USER

MODULES = """# modules for the test
modules = {
  turn = { user = "%s"; pass = "%s"; count = 40; rate = 200; max_loss = "10%%"; };
  turn_tcp = { command = "turn"; transport = "tcp"; user = "%s"; pass = "%s"; count = 20;
               rate = 200; };
  call_relay = { command = "call"; relay_only = true; duration = 0.5; require = "relay"; };
};
""" % (USER, PASS, USER, PASS)


def curl(url, *extra):
    r = subprocess.run(["curl", "-s", "-S", "-o", "-", "-w", "\n%{http_code}", *extra, url],
                       capture_output=True, text=True, timeout=60)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def promtool(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr + text
    # promtool prints lint problems (naming, units) even when it exits 0.
    assert (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr


def sample(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} missing in:\n{text}")


def test_probe_serve_scraped_and_promtool():
    with tempfile.TemporaryDirectory() as tmp, \
            Daemon("probe-serve", args=[f"--turn.users={USER}:{PASS}",
                                        "--turn.allowed_peers=127.0.0.0/8"]) as d:
        mods = os.path.join(tmp, "modules.conf")
        with open(mods, "w") as f:
            f.write(MODULES)
        port = free_port(udp_and_tcp=False)
        log = open(os.path.join(ARTIFACTS, "probe-serve.log"), "wb")
        p = subprocess.Popen([PROBE, "serve", "--listen", f"127.0.0.1:{port}", "--modules", mods],
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_for(lambda: curl(base + "/")[0] == 200, timeout=10)
            q = urllib.parse.quote
            checks = [("stun", f"127.0.0.1:{d.port}"),
                      ("turn", f"turn:127.0.0.1:{d.port}"),
                      ("turn_tcp", f"127.0.0.1:{d.port}"),
                      ("call_relay", f"ws://127.0.0.1:{d.http_port}/ws")]
            for module, target in checks:
                code, body = curl(f"{base}/probe?module={module}&target={q(target, safe='')}",
                                  "-H", "X-Prometheus-Scrape-Timeout-Seconds: 10")
                assert code == 200, (module, body)
                promtool(body)
                assert sample(body, "icehub_probe_success") == 1, (module, body)
                assert sample(body, "icehub_probe_rtt_seconds_count") > 0
                assert sample(body, "icehub_probe_loss_ratio") < 0.5
            assert 'icehub_probe_selected_pair_info{local="relay",remote="relay",' \
                   'relay_transport="udp"} 1' in body
            # A target that does not answer: success 0, the timeout named.
            code, body = curl(f"{base}/probe?module=stun&target=127.0.0.1:{free_port()}",
                              "-H", "X-Prometheus-Scrape-Timeout-Seconds: 1")
            assert code == 200
            promtool(body)
            assert sample(body, "icehub_probe_success") == 0
            assert sample(body, "icehub_probe_timed_out") == 1
            assert 'icehub_probe_failed_step_info{step="binding"} 1' in body
            for bad in ("/probe?module=nope&target=x", "/probe?module=stun"):
                code, body = curl(base + bad)
                assert code == 400, (bad, code, body)
            # A malformed target is the target's failure, as blackbox_exporter has it.
            code, body = curl(f"{base}/probe?module=turn&target={q('turn:h?transport=sctp')}")
            assert code == 200 and sample(body, "icehub_probe_success") == 0
            assert 'icehub_probe_failed_step_info{step="resolve"} 1' in body
            assert curl(base + "/nothing")[0] == 404
            code, body = curl(base + "/metrics")
            assert code == 200
            promtool(body)
            assert 'icehub_probe_serve_probes_total{module="stun",result="failure"} 1' in body
            assert 'icehub_probe_serve_probes_total{module="call_relay",result="success"} 1' in body
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=10)
            log.close()
        assert rc == 0


def test_probe_serve_bad_modules_file():
    with tempfile.TemporaryDirectory() as tmp:
        mods = os.path.join(tmp, "bad.conf")
        with open(mods, "w") as f:
            f.write("modules = {\n  x = { command = \"stun\"; count = \"many\"; };\n};\n")
        r = subprocess.run([PROBE, "serve", "--listen", f"127.0.0.1:{free_port()}",
                            "--modules", mods], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2
        assert f"{mods}:2: modules.x.count: expected a number" in r.stderr, r.stderr


def test_probe_serve_deploy_files():
    """deploy/probe-prometheus.yml and probe-alerts.yml pass promtool; the
    sample deploy/probe-modules.conf serves real checks; every icehub_probe_*
    metric the alerts use is in those answers."""
    deploy = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy")
    for args in (["check", "config", os.path.join(deploy, "probe-prometheus.yml")],
                 ["check", "rules", os.path.join(deploy, "probe-alerts.yml")]):
        r = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    with Daemon("probe-serve-deploy", args=["--turn.secrets=CHANGE-ME",
                                            "--turn.allowed_peers=127.0.0.0/8"]) as d:
        port = free_port(udp_and_tcp=False)
        log = open(os.path.join(ARTIFACTS, "probe-serve-deploy.log"), "wb")
        p = subprocess.Popen([PROBE, "serve", "--listen", f"127.0.0.1:{port}", "--modules",
                              os.path.join(deploy, "probe-modules.conf")],
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_for(lambda: curl(base + "/")[0] == 200, timeout=10)
            seen = set()
            q = urllib.parse.quote
            for module, target in (("stun", f"127.0.0.1:{d.port}"),
                                   ("turn", f"turn:127.0.0.1:{d.port}"),
                                   ("call_relay", f"ws://127.0.0.1:{d.http_port}/ws")):
                code, body = curl(f"{base}/probe?module={module}&target={q(target, safe='')}")
                assert code == 200 and sample(body, "icehub_probe_success") == 1, (module, body)
                seen |= {line.split("{")[0].split(" ")[0] for line in body.splitlines()
                         if line and not line.startswith("#")}
            # A failing check adds the failed step.
            code, body = curl(f"{base}/probe?module=stun&target=127.0.0.1:{free_port()}",
                              "-H", "X-Prometheus-Scrape-Timeout-Seconds: 1")
            assert code == 200 and sample(body, "icehub_probe_success") == 0
            seen |= {line.split("{")[0].split(" ")[0] for line in body.splitlines()
                     if line and not line.startswith("#")}
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
            log.close()
    with open(os.path.join(deploy, "probe-alerts.yml")) as f:
        used = set(re.findall(r"icehub_probe_[a-z_]+", f.read()))
    assert used and used <= seen, used - seen
