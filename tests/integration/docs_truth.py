"""What the code says, for the docs drift test (test_docs.py): each set is
read from the code itself or from the built daemon, never from a list kept
by hand. No test functions here.

- settings: `icehubd --help` (the schema table: name, default, type,
  reloadability);
- command-line options: `icehubd --help` and `icehubd usage --help`;
- metrics, their labels and label values: /metrics of a live daemon that
  relayed TURN data, ran a signaling session and writes a ledger, and the
  answers of a live `icehub-probe serve` (each kind of check, a failing one,
  and its own /metrics) against that daemon;
- signaling message types and error codes: the hub's own counters on
  /metrics (client message types, every error code) and the types of what
  the live hub sent during the session;
- HTTP endpoints: the path literals the request routers compare with
  (every .c file of the tree outside tests/) and the embedded web files;
- make targets: the Makefile's rules and .PHONY list;
- repository paths: the tree itself.
"""
import asyncio
import functools
import glob
import os
import re
import subprocess
import tempfile
import time

import urllib.parse
import urllib.request

from harness import BIN, ROOT, Daemon, free_port, wait_for
from turnclient import relay_once

# Directories of source code (the daemon and its libraries); tests/ is not
# the product.
SOURCE_DIRS = sorted(d for d in os.listdir(ROOT)
                     if os.path.isdir(os.path.join(ROOT, d)) and not d.startswith(".")
                     and d not in ("tests", "docs", "deploy", "bin", "build")
                     and glob.glob(os.path.join(ROOT, d, "*.c")))


def run_bin(args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICEHUB_")}
    r = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=20, env=env)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


@functools.lru_cache(maxsize=None)
def settings():
    """{name: {"default", "type", "reload" (bool), "doc"}} from --help."""
    out = {}
    for m in re.finditer(r"^  --([a-z_]+\.[a-z_0-9]+)=(.*?)  \((.*); (SIGHUP reloads|needs a "
                         r"restart)\)\n      (.*)$", run_bin(["--help"]), re.M):
        default = "" if m.group(2) == '""' else m.group(2)
        out[m.group(1)] = {"default": default, "type": m.group(3),
                           "reload": m.group(4) == "SIGHUP reloads", "doc": m.group(5)}
    assert len(out) > 60, "cannot read the settings from icehubd --help"
    return out


def sections():
    return sorted({n.split(".")[0] for n in settings()})


def env_name(setting):
    return "ICEHUB_" + setting.replace(".", "_").upper()


def help_options(text):
    """The options of a help text: on each line that starts with an option,
    the options before the description (settings, with a '.', left out)."""
    opts = set()
    for line in text.splitlines():
        head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        if line.startswith(" ") and head.startswith("-"):
            opts.update(o for o in re.findall(r"(?<![\w-])(--?[a-zA-Z][a-z0-9._-]*)", head)
                        if "." not in o)
    return opts


@functools.lru_cache(maxsize=None)
def cli_options():
    """{program: options} from each program's own --help: "icehubd",
    "icehubd usage", and every other program the build puts in bin/ (a tool
    added later is covered without a change here)."""
    out = {"icehubd": help_options(run_bin(["--help"])),
           "icehubd usage": help_options(run_bin(["usage", "--help"]))}
    for path in sorted(glob.glob(os.path.join(ROOT, "bin", "*"))):
        name = os.path.basename(path)
        if name.startswith("icehubd") or not os.access(path, os.X_OK):
            continue
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20)
        out[name] = help_options(r.stdout + r.stderr)
    return out


@functools.lru_cache(maxsize=None)
def make_targets():
    """(every rule target, the .PHONY targets) of the Makefile."""
    text = open(os.path.join(ROOT, "Makefile")).read().replace("\\\n", " ")
    rules = set(re.findall(r"^([a-z][a-z0-9_-]*)\s*:(?!=)", text, re.M))
    phony = set()
    for m in re.finditer(r"^\.PHONY:(.*)$", text, re.M):
        phony.update(m.group(1).split())
    return rules, phony


@functools.lru_cache(maxsize=None)
def endpoints():
    """HTTP paths the code routes: the literals compared with a request path
    in the source (and the router tables), and the embedded web files
    (signal/www, each at /NAME; index.html also at /, selftest.html at /selftest)."""
    lits = set()
    for d in SOURCE_DIRS:
        for path in glob.glob(os.path.join(ROOT, d, "*.c")):
            text = open(path).read()
            lits.update(re.findall(r'"(/[a-z0-9._/-]*)"', text))
    www = glob.glob(os.path.join(ROOT, "signal", "www", "*"))
    # The other paths embed_assets.sh gives some files ("/" and "/selftest").
    embed = open(os.path.join(ROOT, "signal", "embed_assets.sh")).read()
    aliases = set(re.findall(r'\{\\"(/[a-z0-9._-]*)\\"', embed))
    assets = {"/" + os.path.basename(p) for p in www} | aliases
    assert {"/metrics", "/ws", "/livez"} <= lits, lits
    return lits, assets


def tree_exists(rel):
    """A path in the repository (a glob may match several)."""
    rel = rel.rstrip("/")
    if any(c in rel for c in "*?["):
        return bool(glob.glob(os.path.join(ROOT, rel)))
    return os.path.exists(os.path.join(ROOT, rel))


def source_literal(text):
    """Does <text> occur in the tree's code, scripts or tests (not in docs)?"""
    for d, _, files in os.walk(ROOT):
        rel = os.path.relpath(d, ROOT)
        if rel.startswith((".git", "build", "bin", "docs", "tests/artifacts")) or \
                "node_modules" in rel:
            continue
        for f in files:
            if f.endswith((".c", ".h", ".py", ".sh", ".mjs", ".js", ".conf")) or f == "Makefile":
                try:
                    if text in open(os.path.join(d, f), errors="replace").read():
                        return True
                except OSError:
                    pass
    return False


# ---- A live daemon ---------------------------------------------------------

def parse_metrics(body):
    """({family: type}, {family: {label: set(values)}})."""
    types, labels = {}, {}
    for line in body.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            types[m.group(1)] = m.group(2)
            labels.setdefault(m.group(1), {})
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-z0-9_]+)(?:\{(.*)\})? ", line)
        name = m.group(1)
        fam = name
        if name not in types:
            fam = re.sub(r"_(bucket|sum|count)$", "", name)
        for k, v in re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""):
            labels.setdefault(fam, {}).setdefault(k, set()).add(v)
    return types, labels


async def signal_session(d):
    """Every kind of exchange the protocol has; returns the types the hub sent."""
    from test_signal_lib import connect
    seen = set()

    async def expect(p, type_):
        m = await p.recv()
        seen.add(m["type"])
        assert m["type"] == type_, (type_, m)
        return m

    a, b = await connect(d), await connect(d)
    await a.send({"type": "join", "room": "docs"})
    ja = await expect(a, "joined")
    await b.send({"type": "join", "room": "docs"})
    await expect(b, "joined")
    await expect(a, "peer-joined")
    await a.send({"type": "signal", "to": "nobody", "data": 1})
    await expect(a, "error")
    await b.send({"type": "signal", "to": ja["id"], "data": {"x": 1}, "ref": 1})
    await expect(a, "signal")
    await expect(b, "ack")
    await b.send({"type": "broadcast", "data": 2})
    await expect(a, "broadcast")
    await b.send({"type": "ping"})
    await expect(b, "pong")
    await b.send({"type": "ice-servers"})
    await expect(b, "ice-servers")
    await b.send({"type": "leave"})
    await expect(b, "left")
    await expect(a, "peer-left")
    await a.close()
    c = await connect(d)
    await c.send({"type": "resume", "token": ja["resume"]})
    await expect(c, "resumed")
    await c.close()
    await b.close()
    await stats_session(d)
    return seen


# Connection outcomes, one per pair of four peers, so that every label value of
# icehub_client_connections_total is on /metrics.
STATS_REPORTS = [
    (0, 1, {"result": "connected", "local": "host", "remote": "prflx", "seconds": 0.2}),
    (0, 2, {"result": "connected", "local": "srflx", "remote": "relay", "seconds": 0.4}),
    (0, 3, {"result": "connected", "local": "relay", "relay": "udp", "remote": "host",
            "seconds": 0.6}),
    (1, 2, {"result": "connected", "local": "relay", "relay": "tcp", "remote": "srflx",
            "seconds": 1.5, "restarts": 1}),
    (1, 3, {"result": "connected", "local": "relay", "relay": "tls", "remote": "relay",
            "seconds": 2.5}),
    (2, 3, {"result": "failed", "restarts": 2}),
    (3, 2, {"result": "connected", "local": "prflx", "remote": "host", "seconds": 3}),
]


async def stats_session(d):
    from test_signal_lib import connect
    peers = [await connect(d) for _ in range(4)]
    ids = []
    for i, p in enumerate(peers):
        await p.send({"type": "join", "room": "docs-stats", "peer": f"p{i}"})
        while True:
            m = await p.recv()
            if m["type"] == "joined":
                break
        ids.append(m["id"])
    for a, b, report in STATS_REPORTS:
        await peers[a].send({"type": "stats", "peer": ids[b], "ref": "s", **report})
        while (await peers[a].recv())["type"] != "ack":
            pass
    for p in peers:
        await p.close()


@functools.lru_cache(maxsize=None)
def live():
    """(metric types, metric labels, server message types) of a daemon that
    relayed TURN data, ran a signaling session, writes a ledger, has the
    admin API on and is a node of a cluster (a redis-server of its own, so
    the icehub_cluster_* families are there)."""
    from cluster import Redis
    with tempfile.TemporaryDirectory() as tmp, Redis("docs-truth") as redis, \
            Daemon("docs-truth-stun", http=False) as stun:
        # turn.external_ip = "auto" asks a second daemon, so the external
        # address metrics have their labels too.
        d = Daemon("docs-truth", args=["--turn.users=alice:wonderland",
                                       "--turn.external_ip=auto",
                                       f"--turn.external_ip_servers=127.0.0.1:{stun.port}",
                                       "--turn.allowed_peers=127.0.0.0/8",
                                       "--cost.egress_per_gb=0.05", "--admin.enabled=true",
                                       f"--ledger.path={tmp}/ledger.jsonl",
                                       f"--redis.url={redis.url}",
                                       "--signal.drain_delay=0"])
        with d:
            relay_once(d.port, "alice", "wonderland")
            server_types = asyncio.run(signal_session(d))
            probe_body = probe_answers(d, tmp)
            status, body = d.http_get("/metrics")
            assert status == 200
            # The usage table folds in the relayed bytes within a second.
            for _ in range(40):
                if 'icehub_turn_realm_relayed_bytes{' in body:
                    break
                time.sleep(0.1)
                status, body = d.http_get("/metrics")
    types, labels = parse_metrics(body)
    ptypes, plabels = parse_metrics(probe_body)
    types.update(ptypes)
    for fam, ls in plabels.items():
        for k, vs in ls.items():
            labels.setdefault(fam, {}).setdefault(k, set()).update(vs)
    return types, labels, server_types


def probe_answers(d, tmp):
    """What `icehub-probe serve` answers for a stun, a turn and a call check
    against daemon d, for a stun check that fails, and on its own /metrics,
    concatenated (each answer is a complete exposition)."""
    probe = os.path.join(ROOT, "bin", "icehub-probe")
    mods = os.path.join(tmp, "modules.conf")
    with open(mods, "w") as f:
        f.write('modules = { turn = { user = "alice"; pass = "wonderland"; count = 5; }; '
                'call = { duration = 0.3; }; '
                'down = { command = "stun"; timeout = "0.5s"; }; };\n')
    port = free_port(udp_and_tcp=False)
    base = f"http://127.0.0.1:{port}"
    p = subprocess.Popen([probe, "serve", "--listen", f"127.0.0.1:{port}", "--modules", mods],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def get(path):
        try:
            with urllib.request.urlopen(base + path, timeout=30) as r:
                return r.read().decode()
        except OSError:
            return None
    try:
        assert wait_for(lambda: get("/") is not None, timeout=10), "icehub-probe serve"
        q = urllib.parse.quote
        out = []
        for module, target in (("stun", f"127.0.0.1:{d.port}"),
                               ("turn", f"turn:127.0.0.1:{d.port}"),
                               ("call", f"ws://127.0.0.1:{d.http_port}/ws"),
                               ("down", f"127.0.0.1:{free_port()}")):
            out.append(get(f"/probe?module={module}&target={q(target, safe='')}") or "")
        out.append(get("/metrics") or "")
        return "\n".join(out)
    finally:
        p.terminate()
        p.wait(timeout=10)


def client_types():
    return live()[1]["icehub_signal_messages_total"]["type"] - {"invalid"}


def error_codes():
    return live()[1]["icehub_signal_errors_total"]["code"]
