"""deploy/: the Prometheus scrape config and alert rules pass `promtool check`
(Debian package prometheus), and the Grafana dashboard is valid JSON whose every
query parses as PromQL (promtool, via a scratch rules file) and names only metrics,
and groups only by labels, that a live icehubd's /metrics really has (one that relayed
data and counted clients' stats reports, so the "Calls" row's metrics have their
labels)."""
import asyncio
import json
import os
import re
import subprocess
import tempfile

from docs_truth import stats_session
from harness import ROOT, Daemon
from turnclient import relay_once

DEPLOY = os.path.join(ROOT, "deploy")
METRIC = re.compile(r"\b(icehub_[a-z0-9_]+)")
BY = re.compile(r"\bby \(([^)]*)\)")


def promtool(*args):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def grafana_exprs():
    with open(os.path.join(DEPLOY, "grafana-dashboard.json")) as f:
        dash = json.load(f)
    assert dash["title"] and dash["uid"] and dash["panels"]
    exprs = []
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        assert p["targets"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        exprs += [t["expr"] for t in p["targets"]]
    return exprs


def alert_exprs():
    out = []
    for line in open(os.path.join(DEPLOY, "alerts.yml")):
        line = line.strip()
        if line.startswith("expr:"):
            out.append(line[5:].strip())
    return out


def live_metrics():
    """{metric name: set of label names} from a daemon that relayed some data."""
    d = Daemon("deploy-metrics", args=["--turn.users=alice:wonderland",
                                        "--turn.allowed_peers=127.0.0.0/8",
                                        "--cost.egress_per_gb=0.05"])
    with d:
        relay_once(d.port, "alice", "wonderland")
        asyncio.run(stats_session(d))
        status, body = d.http_get("/metrics")
        assert status == 200
    names = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-z0-9_]+)(?:\{(.*)\})? ", line)
        labels = set(re.findall(r'([a-z_]+)="', m.group(2) or ""))
        names.setdefault(m.group(1), set()).update(labels)
    return names


def test_prometheus_config_and_rules():
    out = promtool("check", "config", os.path.join(DEPLOY, "prometheus.yml"))
    assert "1 rule files found" in out, out
    out = promtool("check", "rules", os.path.join(DEPLOY, "alerts.yml"))
    assert "6 rules found" in out, out


def test_grafana_queries_match_live_metrics():
    exprs = grafana_exprs()
    alerts = alert_exprs()
    assert len(exprs) >= 15 and len(alerts) >= 5
    # Every query is PromQL that promtool accepts (Grafana's variables filled in).
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("groups:\n  - name: grafana\n    rules:\n")
        for i, e in enumerate(exprs):
            e = e.replace("$__range", "1h").replace("$instance", ".*")
            f.write(f"      - record: grafana:q{i}\n        expr: {json.dumps(e)}\n")
        path = f.name
    try:
        promtool("check", "rules", path)
    finally:
        os.unlink(path)
    live = live_metrics()
    used = set()
    for e in exprs + alerts:
        names = METRIC.findall(e)
        used.update(names)
        for n in names:
            assert n in live, f"{n} (in {e}) is not on /metrics"
            for group in BY.findall(e):
                for label in (x.strip() for x in group.split(",")):
                    if label and label not in ("instance", "le"):
                        assert label in live[n], f"{n} has no label {label!r} ({e})"
    # The fixed names are all on the dashboard.
    for n in ("icehub_turn_relayed_bytes_total", "icehub_turn_relayed_packets_total",
              "icehub_turn_allocations_active", "icehub_turn_allocations_total",
              "icehub_turn_quota_dropped_bytes_total", "icehub_stun_requests_total",
              "icehub_turn_cost_total", "icehub_turn_auth_failures_total",
              "icehub_turn_user_relayed_bytes", "icehub_client_connections_total",
              "icehub_client_connect_seconds_bucket"):
        assert n in used, n
