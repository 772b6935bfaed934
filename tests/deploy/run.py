#!/usr/bin/python3
"""`make test-deploy`: every file in deploy/ is exercised, not only written.

Static checks: deploy/Dockerfile linted (dockerfilelint and dockerfile-utils,
npm), deploy/compose.yaml parsed by podman-compose and validated against the
compose-spec JSON schema, deploy/kubernetes/ validated against the Kubernetes
schemas (kubernetes-models, npm) with unknown fields refused, `make install`
staged under DESTDIR and PREFIX, and the installed icehubd.service passing
`systemd-analyze verify`.

The container: a debian:bookworm-slim base image made here (debootstrap
--variant=minbase bookworm, imported under the tag deploy/Dockerfile's FROM
names; no registry is reachable), the real Dockerfile built unchanged with
podman/buildah, and the image run with host networking and checked: non-root,
no compiler, STUN, a TURN allocation relaying data both ways, a /ws join,
/readyz, /metrics (promtool), the HEALTHCHECK, Prometheus from Debian scraping
it with deploy/prometheus.yml and alerts.yml, and SIGTERM ending it cleanly.

Everything it makes (debootstrap tree, podman storage and run state, configs,
Prometheus data) lives under build/deploy-test/, removed at the end, after a
failure too. The process runs in its own mount namespace where
/var/lib/containers is that directory's, so podman leaves nothing on the host.
Ends with "deploy: N passed, N failed"; exit 1 on failure.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import MAGIC, binding_request, free_port, get_attr, parse, xor_address  # noqa: E402
from test_signal_lib import RawWS  # noqa: E402
from turnclient import TurnClient  # noqa: E402

WORK = os.path.join(ROOT, "build", "deploy-test")
IMAGE = "localhost/icehub:deploy-test"
CONTAINER = "icehub-deploy-test"
MIRROR = os.environ.get("ICEHUB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
NODE_TOOLS = os.path.join(HERE, "node_modules", ".bin")
# Host paths podman and runc write to whatever their configuration says (the
# blob cache, runc's state): bind-mounted from WORK inside this process's
# mount namespace.
HOST_STATE = ["/var/lib/containers", "/run/runc"]


class Results:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, fn, *args):
        """Run one check; True if it passed."""
        t0 = time.time()
        try:
            fn(*args)
        except Exception:
            self.failed += 1
            print(f"  FAIL {name} ({time.time() - t0:.1f} s)", flush=True)
            print("      " + traceback.format_exc().replace("\n", "\n      "), flush=True)
            return False
        self.passed += 1
        print(f"  ok   {name} ({time.time() - t0:.1f} s)", flush=True)
        return True

    def not_run(self, name, why):
        self.failed += 1
        print(f"  FAIL {name} (not run: {why})", flush=True)


def run(argv, timeout=600, env=None, check=True, cwd=ROOT):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout[-4000:]}"
                             f"{r.stderr[-4000:]}")
    return r


# ---- podman, confined to WORK ------------------------------------------

def podman_env():
    env = dict(os.environ)
    env.update(CONTAINERS_CONF=os.path.join(WORK, "containers.conf"),
               CONTAINERS_STORAGE_CONF=os.path.join(WORK, "storage.conf"),
               TMPDIR=os.path.join(WORK, "tmp"))
    return env


def podman(*args, timeout=600, check=True):
    return run(["podman", *args], timeout=timeout, env=podman_env(), check=check)


def write_podman_conf():
    """The settings that work on these machines (vfs, chroot builds, runc
    with cgroupfs, nofile at most 20000), with all state under WORK."""
    for d in ("storage", "run", "tmp", "libpod", "volumes", "networks", "host-state"):
        os.makedirs(os.path.join(WORK, d), exist_ok=True)
    with open(os.path.join(WORK, "storage.conf"), "w") as f:
        f.write('[storage]\ndriver = "vfs"\n'
                f'graphroot = "{WORK}/storage"\nrunroot = "{WORK}/run"\n')
    with open(os.path.join(WORK, "containers.conf"), "w") as f:
        f.write('[containers]\n'
                'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
                'log_driver = "k8s-file"\n'
                '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                'runtime = "runc"\n'
                f'tmp_dir = "{WORK}/libpod"\nvolume_path = "{WORK}/volumes"\n'
                f'[network]\nnetwork_config_dir = "{WORK}/networks"\n')


def confine_host_state():
    """In this process's own mount namespace, put WORK's directories over the
    host paths podman writes regardless of its configuration."""
    for i, path in enumerate(HOST_STATE):
        if not os.path.isdir(path):
            os.makedirs(path)
            CREATED.append(path)
        src = os.path.join(WORK, "host-state", str(i))
        os.makedirs(src, exist_ok=True)
        run(["mount", "--bind", src, path])


CREATED = []


def cleanup():
    """Remove the container, the storage and WORK; safe to call twice."""
    if os.path.isdir(WORK) and os.path.exists(os.path.join(WORK, "containers.conf")):
        podman("rm", "--force", "--all", "--time", "0", check=False, timeout=60)
    for path in HOST_STATE:
        run(["umount", "--lazy", path], check=False)
    shutil.rmtree(WORK, ignore_errors=True)
    for path in CREATED:
        try:
            os.rmdir(path)
        except OSError:
            pass
    CREATED.clear()


# ---- the base image and the build --------------------------------------

def from_images():
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
        names = {m.group(1) for m in re.finditer(r"^FROM\s+(\S+)", f.read(), re.M)}
    return sorted(n for n in names if n.count(":") == 1 and "/" not in n)


def make_base_image():
    """debian:bookworm-slim from debootstrap, made slim the way the official
    image is: dpkg leaves out docs, man pages and locales; apt keeps no
    downloaded packages."""
    names = from_images()
    assert names == ["debian:bookworm-slim"], names
    rootfs = os.path.join(WORK, "rootfs")
    run(["debootstrap", "--variant=minbase", "bookworm", rootfs, MIRROR], timeout=900)
    with open(os.path.join(rootfs, "etc/dpkg/dpkg.cfg.d/slim"), "w") as f:
        f.write("".join(f"path-exclude /usr/share/{d}/*\n"
                        for d in ("doc", "man", "groff", "info", "lintian", "locale")))
        f.write("path-include /usr/share/doc/*/copyright\n")
    with open(os.path.join(rootfs, "etc/apt/apt.conf.d/slim-clean"), "w") as f:
        f.write('DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
                '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
                'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n')
    for d in ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
              "var/lib/apt/lists", "var/cache/apt/archives"):
        shutil.rmtree(os.path.join(rootfs, d), ignore_errors=True)
    os.makedirs(os.path.join(rootfs, "var/lib/apt/lists/partial"))
    os.makedirs(os.path.join(rootfs, "var/cache/apt/archives/partial"))
    tar = os.path.join(WORK, "base.tar")
    run(["tar", "-C", rootfs, "-cf", tar, "."])
    shutil.rmtree(rootfs)
    podman("import", "--change", 'CMD ["bash"]', tar, "docker.io/library/" + names[0])
    os.unlink(tar)


def build_image():
    """The real Dockerfile, unchanged, from the top of the repository."""
    r = podman("build", "--pull=never", "--isolation", "chroot", "--network", "host",
               "--format", "docker", "--layers=false", "-f", "deploy/Dockerfile", "-t", IMAGE,
               ".", timeout=1800)
    with open(os.path.join(WORK, "build.log"), "w") as f:
        f.write(r.stdout + r.stderr)


def image_size():
    return int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())


def check_image_contents():
    size = image_size()
    print(f"      image size: {size / 1e6:.1f} MB", flush=True)
    data = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    cfg = data["Config"]
    assert cfg["User"] == "10001:10001", cfg["User"]
    assert set(cfg["ExposedPorts"]) == {"3478/udp", "3478/tcp", "5349/tcp", "8080/tcp"}
    hc = data.get("Healthcheck") or cfg.get("Healthcheck") or {}
    assert hc.get("Test") == ["CMD", "/usr/local/bin/icehub-healthcheck"], data
    r = podman("run", "--rm", "--network", "host", "--no-healthcheck", "--entrypoint", "sh",
               IMAGE, "-c", "dpkg-query -W -f '${Package}\\n'; "
               "for c in gcc cc make clang ld; do command -v $c; done; "
               "ls /usr/local/bin; ldd /usr/local/bin/icehubd /usr/local/bin/icehub-probe "
               "| grep -c 'not found' || true")
    out = r.stdout.split()
    assert not [p for p in out if p.endswith("-dev")], [p for p in out if p.endswith("-dev")]
    assert not [p for p in out if p.startswith("/usr/bin/")], out  # no compiler or make
    for lib in ("libwebsockets17", "libnice10", "libsrtp2-1", "libglib2.0-0",
                "libwebsockets-evlib-glib", "icehubd", "icehub-probe", "icehub-entrypoint",
                "icehub-healthcheck"):
        assert lib in out, lib
    assert out[-1] == "0", "icehubd misses libraries: " + r.stdout
    # A regression guard, not a target: the runtime libraries (libnice's
    # gupnp/soup/ICU chain is most of it) fit well under it.
    assert size < 230e6, f"image grew to {size / 1e6:.1f} MB"


# ---- the running container ---------------------------------------------

class Box:
    """The container under test and the ports it serves on 127.0.0.1."""

    def __init__(self):
        self.port = free_port()
        self.http = free_port(udp_and_tcp=False)
        lo = 40000 + (os.getpid() % 200) * 100
        self.relay = (lo, lo + 99)
        self.conf = os.path.join(WORK, "icehub.conf")
        with open(self.conf, "w") as f:
            f.write('turn = {\n  realm = "deploy-test.example";\n'
                    '  users = ["alice:wonderland"];\n  allowed_peers = ["127.0.0.0/8"];\n'
                    '  drain_timeout = 3;\n};\n'
                    'signal = { drain_delay = 1; };\n')
        os.chmod(self.conf, 0o644)

    def start(self):
        # The ports were free when picked; on a busy machine another process
        # may take one before the container binds it: then pick again.
        for _ in range(3):
            try:
                return self.start_once()
            except AssertionError as e:
                if "Address already in use" not in str(e):
                    raise
                podman("rm", "-f", CONTAINER, check=False)
                self.port, self.http = free_port(), free_port(udp_and_tcp=False)
        return self.start_once()

    def start_once(self):
        podman("run", "-d", "--name", CONTAINER, "--network", "host",
               "-v", f"{self.conf}:/etc/icehub/icehub.conf:ro",
               "-e", f"ICEHUB_TURN_LISTEN=127.0.0.1:{self.port}",
               "-e", f"ICEHUB_HTTP_LISTEN=127.0.0.1:{self.http}",
               "-e", f"ICEHUB_TURN_RELAY_PORTS={self.relay[0]}-{self.relay[1]}",
               "-e", "ICEHUB_TURN_THREADS=2", "-e", "ICEHUB_LOG_LEVEL=debug", IMAGE)
        deadline = time.time() + 20
        while time.time() < deadline:
            if "ready (pid 1)" in self.logs():
                return
            time.sleep(0.1)
        raise AssertionError("not ready: " + self.logs())

    def logs(self):
        r = podman("logs", CONTAINER, check=False)
        return r.stdout + r.stderr

    def pid(self):
        return int(podman("inspect", "--format", "{{.State.Pid}}", CONTAINER).stdout)

    def http_get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def check_nonroot(box):
    with open(f"/proc/{box.pid()}/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    assert st["Uid"].split() == ["10001"] * 4, st["Uid"]
    assert st["Gid"].split() == ["10001"] * 4, st["Gid"]
    assert int(st["CapEff"], 16) == 0, st["CapEff"]
    with open(f"/proc/{box.pid()}/limits") as f:
        assert re.search(r"Max open files\s+20000\s+20000", f.read())


def check_config_sources(box):
    """The mounted file (realm, users) and the ICEHUB_* variables both apply."""
    log = box.logs()
    assert f"listening on 127.0.0.1:{box.port} (udp)" in log, log
    c = TurnClient(box.port, "alice", "wonderland")
    assert c.allocate()[0] == 2
    assert c.realm == "deploy-test.example", c.realm
    assert box.relay[0] <= c.relayed[1] <= box.relay[1], c.relayed
    c.refresh(0)
    c.close()


def check_stun(box):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", box.port))
    msg, tid = binding_request()
    s.send(msg)
    t, cookie, rtid, attrs = parse(s.recv(2048))
    assert t == 0x0101 and cookie == MAGIC and rtid == tid, hex(t)
    assert xor_address(get_attr(attrs, 0x0020), tid) == s.getsockname()
    s.close()


def check_probe(box):
    """The image's icehub-probe checks the container's own STUN and TURN
    (static user of the mounted file) and exits 0."""
    for args in (["stun", f"127.0.0.1:{box.port}"],
                 ["turn", f"turn:127.0.0.1:{box.port}", "--user", "alice", "--pass",
                  "wonderland", "--count", "20", "--rate", "100"]):
        r = podman("exec", CONTAINER, "icehub-probe", *args, "--timeout", "5", check=False)
        assert r.returncode == 0, (args, r.stdout, r.stderr)


def check_turn_relay(box):
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(2)
    c = TurnClient(box.port, "alice", "wonderland")
    assert c.allocate()[0] == 2
    assert c.permit(peer.getsockname())[0] == 2
    c.send_indication(peer.getsockname(), b"to the peer")
    data, relayed = peer.recvfrom(2048)
    assert data == b"to the peer" and relayed[1] == c.relayed[1], (data, relayed, c.relayed)
    assert c.channel_bind(0x4001, peer.getsockname())[0] == 2
    peer.sendto(b"to the client", relayed)
    assert c.recv_data() == ("channel", 0x4001, b"to the client")
    c.send_channel(0x4001, b"over the channel")
    assert peer.recvfrom(2048)[0] == b"over the channel"
    c.close()
    peer.close()


def check_ws_join(box):
    a, b = RawWS(box.http), RawWS(box.http)
    assert a.status == 101 and b.status == 101, (a.status, b.status)
    a.send_text(json.dumps({"type": "join", "room": "deploy"}))
    ja = a.recv_json()
    assert ja["type"] == "joined" and ja["peers"] == [], ja
    urls = [u for s in ja["iceServers"] for u in s["urls"]]
    assert f"turn:127.0.0.1:{box.port}?transport=udp" in urls, urls
    b.send_text(json.dumps({"type": "join", "room": "deploy"}))
    jb = b.recv_json()
    assert jb["peers"] == [ja["id"]], jb
    assert a.recv_json()["type"] == "peer-joined"
    b.send_text(json.dumps({"type": "signal", "to": ja["id"], "data": {"sdp": "v=0"}}))
    m = a.recv_json()
    assert m["type"] == "signal" and m["data"] == {"sdp": "v=0"}, m
    a.close()
    b.close()


def check_readyz_metrics(box):
    assert box.http_get("/livez")[0] == 200
    assert box.http_get("/readyz")[0] == 200
    status, body = box.http_get("/metrics")
    assert status == 200
    path = os.path.join(WORK, "metrics.txt")
    with open(path, "w") as f:
        f.write(body)
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            values[k] = float(v)
    assert values['icehub_stun_requests_total{method="binding",class="success"}'] >= 1
    relayed = sum(v for k, v in values.items()
                  if k.startswith("icehub_turn_relayed_bytes_total{"))
    assert relayed >= len("to the peer"), relayed


def check_healthcheck(box):
    podman("healthcheck", "run", CONTAINER)
    status = podman("inspect", "--format", "{{.State.Health.Status}}", CONTAINER).stdout.strip()
    assert status == "healthy", status


def check_prometheus(box):
    """Prometheus from Debian with deploy/prometheus.yml and alerts.yml (the
    files compose.yaml mounts), pointed at the container, scrapes it."""
    pdir = os.path.join(WORK, "prometheus")
    os.makedirs(pdir)
    with open(os.path.join(ROOT, "deploy", "prometheus.yml")) as f:
        cfg = f.read()
    assert "127.0.0.1:8080" in cfg
    with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
        f.write(cfg.replace("127.0.0.1:8080", f"127.0.0.1:{box.http}")
                .replace("scrape_interval: 15s", "scrape_interval: 1s")
                .replace("scrape_timeout: 5s", "scrape_timeout: 1s"))
    shutil.copy(os.path.join(ROOT, "deploy", "alerts.yml"), pdir)
    web = free_port(udp_and_tcp=False)
    log = open(os.path.join(pdir, "prometheus.log"), "w")
    proc = subprocess.Popen(["prometheus", f"--config.file={pdir}/prometheus.yml",
                             f"--storage.tsdb.path={pdir}/data",
                             f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        api = f"http://127.0.0.1:{web}/api/v1"
        deadline = time.time() + 60
        up = None
        while time.time() < deadline and proc.poll() is None:
            try:
                q = urllib.request.urlopen(f"{api}/query?query=up%7Bjob%3D%22icehub%22%7D",
                                           timeout=2)
                res = json.load(q)["data"]["result"]
                if res and res[0]["value"][1] == "1":
                    up = res
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        with open(log.name) as f:
            assert up, "Prometheus never saw icehub up: " + f.read()[-2000:]
        q = urllib.request.urlopen(f"{api}/query?query=icehub_turn_allocations_total", timeout=5)
        assert json.load(q)["data"]["result"], "no icehub_turn_allocations_total"
        rules = json.load(urllib.request.urlopen(f"{api}/rules", timeout=5))["data"]["groups"]
        assert rules and rules[0]["name"] == "icehub" and len(rules[0]["rules"]) == 6, rules
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def check_sigterm(box):
    """SIGTERM drains: a WebSocket peer gets going-away (1001) after
    signal.drain_delay (1 s here), and icehubd, PID 1, exits 0 once its
    allocations have ended or turn.drain_timeout (3 s here) has passed."""
    ws = RawWS(box.http)
    ws.send_text(json.dumps({"type": "join", "room": "drain"}))
    assert ws.recv_json()["type"] == "joined"
    t0 = time.time()
    podman("kill", "--signal", "TERM", CONTAINER)
    op, payload = ws.recv_frame(timeout=10)
    while op != 8:
        op, payload = ws.recv_frame(timeout=10)
    assert int.from_bytes(payload[:2], "big") == 1001, payload
    rc = podman("wait", CONTAINER, timeout=30).stdout.strip()
    took = time.time() - t0
    assert rc == "0", rc
    assert took < 10, took
    log = box.logs()
    assert "SIGTERM: draining" in log and "[main] stopped" in log, log
    assert " error " not in log, log


# ---- static checks ------------------------------------------------------

def node_tool(name, *args):
    return run([os.path.join(NODE_TOOLS, name), *args], timeout=120)


def check_dockerfile_lint():
    node_tool("dockerfilelint", "deploy/Dockerfile")
    r = node_tool("dockerfile-utils", "lint", "deploy/Dockerfile")
    assert r.stdout.strip() == "", r.stdout


def check_dockerfile_packages():
    """The build stage installs exactly what `deploy/install-deps.sh
    --build-only` (the single list of dependencies) names for a build."""
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
        build = f.read().split("\nFROM ")[1]
    wanted = set(re.search(r"apt-get install[^\n]*\\\n((?:[^&]*\\\n)+)", build).group(1)
                 .replace("\\", " ").split())
    r = subprocess.run(["sh", os.path.join(ROOT, "deploy", "install-deps.sh"), "--build-only",
                        "--list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    listed = set(r.stdout.split())
    assert wanted == listed, (sorted(wanted - listed), sorted(listed - wanted))


def check_compose_podman():
    """podman-compose (Debian's, 1.0.3: no `config`, no profiles) reads the
    file in --dry-run mode and prints the podman commands it would run (it
    still creates the volumes and networks, in WORK's storage)."""
    r = run(["podman-compose", "-p", "icehub", "-f", "deploy/compose.yaml", "--dry-run", "up",
             "-d"], timeout=120, env=podman_env())
    runs = {m.group(1): m.group(0) for m in
            re.finditer(r"^podman run --name=icehub_([a-z-]+)_1 .*$", r.stdout, re.M)}
    assert set(runs) == {"icehubd", "icehubd-bridge", "prometheus", "grafana"}, r.stdout
    conf = os.path.join(ROOT, "deploy", "icehub.conf")
    assert "--network host" in runs["icehubd"], runs["icehubd"]
    assert f"-v {conf}:/etc/icehub/icehub.conf:ro" in runs["icehubd"], runs["icehubd"]
    assert "-p 49160-49200:49160-49200/udp" in runs["icehubd-bridge"], runs["icehubd-bridge"]
    assert "-e ICEHUB_TURN_RELAY_PORTS=49160-49200" in runs["icehubd-bridge"]
    assert "--web.listen-address=127.0.0.1:9090" in runs["prometheus"], runs["prometheus"]
    assert "/grafana-dashboard.json:/etc/grafana/dashboards/icehub.json:ro" in runs["grafana"]


def check_schemas():
    run(["node", os.path.join(HERE, "validate.js"), "deploy/compose.yaml",
         *sorted(os.path.join("deploy", "kubernetes", f)
                 for f in os.listdir(os.path.join(ROOT, "deploy", "kubernetes"))
                 if f.endswith(".yaml"))], timeout=120)


def check_make_install():
    dest = os.path.join(WORK, "destdir")
    run(["make", "install", f"DESTDIR={dest}", "PREFIX=/usr"], timeout=300)
    for p in ("usr/bin/icehubd", "usr/lib/systemd/system/icehubd.service",
              "usr/lib/sysusers.d/icehub.conf", "usr/share/doc/icehub/deploy.md",
              "usr/share/doc/icehub/examples/icehub.conf", "etc/icehub/icehub.conf"):
        assert os.path.exists(os.path.join(dest, p)), p
    with open(os.path.join(dest, "usr/lib/systemd/system/icehubd.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/bin/icehubd --config /etc/icehub/icehub.conf" in unit, unit
    # An existing configuration is kept.
    with open(os.path.join(dest, "etc/icehub/icehub.conf"), "w") as f:
        f.write("# mine\n")
    run(["make", "install", f"DESTDIR={dest}", "PREFIX=/usr"], timeout=300)
    with open(os.path.join(dest, "etc/icehub/icehub.conf")) as f:
        assert f.read() == "# mine\n"
    run(["make", "uninstall", f"DESTDIR={dest}", "PREFIX=/usr"], timeout=300)
    assert not os.path.exists(os.path.join(dest, "usr/bin/icehubd"))


def check_systemd_verify():
    """The unit as `make install` writes it, for a prefix whose binary exists
    (so verify can check ExecStart), with no other output than none."""
    prefix = os.path.join(WORK, "prefix")
    run(["make", "install", f"PREFIX={prefix}", f"SYSCONFDIR={prefix}/etc"], timeout=300)
    unit = os.path.join(prefix, "lib/systemd/system/icehubd.service")
    r = run(["systemd-analyze", "verify", unit], timeout=120)
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr
    r = run(["systemd-analyze", "security", "--offline=yes", unit], timeout=120, check=False)
    m = re.search(r"Overall exposure level for icehubd.service: ([0-9.]+)", r.stdout)
    assert m and float(m.group(1)) <= 2.5, r.stdout[-2000:]
    with open(unit) as f:
        text = f.read()
    for want in ("User=icehub", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/icehub", "LimitNOFILE=", "ExecReload=/bin/kill -HUP",
                 "LoadCredential=admin.token:", "ICEHUB_ADMIN_TOKEN_FILE=%d/admin.token",
                 f"ExecStart={prefix}/bin/icehubd"):
        assert want in text, want
    # The ExecStart line works: the installed binary checks the installed sample.
    run([f"{prefix}/bin/icehubd", "--check-config", "--config", f"{prefix}/etc/icehub/icehub.conf"])


# ---- main ---------------------------------------------------------------

def container_checks(res):
    if not res.check("base image: debootstrap --variant=minbase bookworm, imported as "
                     "debian:bookworm-slim", make_base_image):
        return res.not_run("the image and the container", "no base image")
    if not res.check("podman build -f deploy/Dockerfile (unchanged)", build_image):
        return res.not_run("the container", "the image did not build")
    res.check("image: non-root user, ports, HEALTHCHECK, no compiler or -dev package, size",
              check_image_contents)
    box = Box()
    if not res.check("container starts (host network, /etc/icehub/icehub.conf mounted)",
                     box.start):
        return res.not_run("checks against the container", "it did not start")
    res.check("runs as uid 10001 without capabilities, nofile 20000", check_nonroot, box)
    res.check("config file and ICEHUB_* variables both apply", check_config_sources, box)
    res.check("STUN Binding over UDP", check_stun, box)
    res.check("TURN allocation relays data both ways (indication, channel)",
              check_turn_relay, box)
    res.check("icehub-probe in the image checks its STUN and TURN", check_probe, box)
    res.check("signaling: /ws join and signal between two peers", check_ws_join, box)
    res.check("/livez, /readyz, /metrics (promtool check metrics)", check_readyz_metrics, box)
    res.check("HEALTHCHECK (podman healthcheck run)", check_healthcheck, box)
    res.check("Prometheus (Debian) scrapes it with deploy/prometheus.yml and alerts.yml",
              check_prometheus, box)
    res.check("SIGTERM: WebSocket going-away, exit 0", check_sigterm, box)


def main():
    if os.environ.get("ICEHUB_DEPLOY_NS") != "1":
        # Our own mount namespace: the bind mounts of confine_host_state end
        # with this process, whatever happens to it.
        os.environ["ICEHUB_DEPLOY_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                              sys.executable, os.path.abspath(__file__), *sys.argv[1:]])
    t0 = time.time()

    def stop(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")

    signal.signal(signal.SIGTERM, stop)
    res = Results()
    cleanup()  # what a killed earlier run left
    try:
        os.makedirs(WORK)
        write_podman_conf()
        confine_host_state()
        print("== deploy: static checks", flush=True)
        res.check("deploy/Dockerfile lint (dockerfilelint, dockerfile-utils)",
                  check_dockerfile_lint)
        res.check("deploy/Dockerfile's build packages are install-deps.sh's",
                  check_dockerfile_packages)
        res.check("deploy/compose.yaml read by podman-compose (--dry-run up)",
                  check_compose_podman)
        res.check("compose-spec and Kubernetes schemas (deploy/compose.yaml, "
                  "deploy/kubernetes/)", check_schemas)
        res.check("make install / uninstall with PREFIX and DESTDIR", check_make_install)
        res.check("icehubd.service: systemd-analyze verify and security", check_systemd_verify)
        print("== deploy: the container image", flush=True)
        container_checks(res)
    finally:
        cleanup()
    print(f"== deploy ({time.time() - t0:.0f} s)")
    print(f"deploy: {res.passed} passed, {res.failed} failed")
    return 1 if res.failed or not res.passed else 0


if __name__ == "__main__":
    sys.exit(main())
