#!/usr/bin/python3
"""The NAT lab: icehubd on a "public" segment, and pairs of headless Chromium peers
behind routers with a chosen NAT behaviour (tests/natlab/lab.py builds the network
namespaces), to show which path ICE takes through each and to check it takes the one
ICE predicts. docs/connectivity.md explains the behaviours and holds the latest matrix,
which this run writes.

What one run does (all concurrently where it can, with one icehubd):
  1. TURN on: for every pair of behaviours (none, cone, symmetric, udp-blocked) two
     pages of icehubd's demo, one in each network, join one room through the hub with
     the default ICE policy, connect, and echo DataChannel messages. Each page's outcome
     is what icehub.js reports to the hub (connected, candidate types of the selected
     pair a few seconds after connecting, relay transport, time to connected).
     Meanwhile: a cone-to-cone call whose network is cut until Chromium calls the
     connection failed; icehub.js must restart ICE and reconnect once it is back; and
     ice/icehub-browser-check runs from a cone network (all of /selftest passes, the
     mapped address is the router's) and from the UDP-blocked one (only TURN over TCP
     and TLS work).
  2. TURN off: signal.ice_servers = ["stun"] (a reload), and the same pairs again: the
     ones that need a relay must fail, the others still connect.
  3. With --full (make natlab): ["turn-tcp", "turns"] only, as a locked-down network's
     operator might hand out: everything relayed goes over TCP or TLS.
Then: the counters icehubd built from the pages' stats reports must equal what the
pages saw; the matrix is printed and written to docs/connectivity.md.

usage: natlab.py --run ID [--full] [--only PAIR,...] [--no-docs]
(run it through tests/natlab/run.sh, whose trap removes the namespaces whatever
happens; `make natlab` does)
"""
import argparse
import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import lab  # noqa: E402
import report  # noqa: E402

BIN = os.environ.get("ICEHUB_BIN", os.path.join(ROOT, "bin", "icehubd"))
PROBE = os.path.join(ROOT, "bin", "icehub-probe")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts", "natlab")
CHECK_TOOL = os.path.join(ROOT, "ice", "icehub-browser-check")
NODE_MODULES = os.path.join(ROOT, "tests", "browser", "node_modules", "playwright-core")
ORDER = ("none", "cone", "symmetric", "udp-blocked")
NETWORKS = [("n1", "none"), ("n2", "none"), ("c1", "cone"), ("c2", "cone"),
            ("s1", "symmetric"), ("s2", "symmetric"), ("u1", "udp-blocked"),
            ("u2", "udp-blocked"), ("r1", "cone"), ("r2", "cone")]
# No DNS at all (Chromium asks for Google hosts even with background networking off);
# the lab's addresses are numeric, and an IP literal needs its EXCLUDE.
RESOLVER_FLAG = f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {lab.SERVER_IP}"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         RESOLVER_FLAG,
         # Real host addresses in candidates instead of .local names: nobody resolves
         # mDNS across the lab's networks, and the matrix wants to show them.
         "--disable-features=WebRtcHideLocalIpsWithMdns",
         "--ignore-certificate-errors"]
MODES = {"on": ["stun", "turn-udp", "turn-tcp", "turns"], "off": ["stun"],
         "tcp-tls": ["turn-tcp", "turns"]}
MESSAGES = 20


def predict(x, y, mode):
    """What ICE predicts for behaviours x, y when the hub hands out MODES[mode]:
    'direct' (connected, no relay on either side), 'relay' (connected, relayed, and a
    UDP-blocked side relays over TCP or TLS) or 'fail'."""
    kinds = {x, y}
    if kinds <= {"none", "cone"} or kinds == {"none", "symmetric"}:
        # Reachable directly: public addresses, hole punching between cones, and a
        # symmetric NAT's fresh mapping answered by a public host (peer-reflexive).
        # Without STUN (tcp-tls), a cone's mapping is unknown to the other cone.
        if mode == "tcp-tls" and kinds == {"cone"}:
            return "relay"
        return "direct"
    # A symmetric NAT against port-restricted filtering or another symmetric NAT, or a
    # network where only TCP to the server gets out: only a relay carries the call.
    return "fail" if mode == "off" else "relay"


class Driver:
    """peers.mjs: commands in, answers out, matched by id."""

    def __init__(self):
        self.err = open(os.path.join(ARTIFACTS, "peers-node.log"), "wb")
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "peers.mjs")], cwd=HERE,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1,
                                     env=dict(os.environ, NATLAB_ARTIFACTS=ARTIFACTS))
        self.boxes = collections.defaultdict(queue.Queue)
        self.lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.boxes[msg.get("id", msg.get("op"))].put(msg)
        for box in list(self.boxes.values()):
            box.put(None)

    def send(self, cmd):
        with self.lock:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()

    def wait(self, key, timeout):
        try:
            msg = self.boxes[key].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer for {key} from peers.mjs in {timeout} s")
        if msg is None:
            raise AssertionError("peers.mjs exited; see tests/artifacts/natlab/peers-node.log")
        return msg

    def close(self):
        try:
            self.send({"op": "quit"})
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.err.close()


class Hub(harness.Daemon):
    """icehubd inside the lab's server namespace, on the standard ports (nothing else
    can hold them there), with TLS for turns: and https://."""

    def __init__(self, the_lab):
        super().__init__("natlab")
        self.lab = the_lab
        self.conf = os.path.join(the_lab.tmp, "icehub.conf")
        self.log_path = os.path.join(ARTIFACTS, "icehubd.log")
        cert, key = os.path.join(the_lab.tmp, "cert.pem"), os.path.join(the_lab.tmp, "key.pem")
        lab.sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                "-days", "2", "-subj", "/CN=icehub-natlab",
                "-addext", f"subjectAltName=IP:{lab.SERVER_IP}"])
        ip, p = lab.SERVER_IP, lab.PORTS
        self.argv = ["ip", "netns", "exec", the_lab.srv, BIN, f"--turn.listen={ip}:{p['turn']}",
                     f"--turn.tls_listen={ip}:{p['turns']}", f"--http.listen={ip}:{p['http']}",
                     f"--http.tls_listen={ip}:{p['https']}", f"--tls.cert={cert}",
                     f"--tls.key={key}", f"--turn.relay_ip={ip}", "--turn.threads=2",
                     # A hub on a public address must say whose pages may use it: here,
                     # the pages icehubd serves itself (the probe sends no Origin).
                     f"--signal.allowed_origins=http://{ip}:{p['http']},"
                     f"https://{ip}:{p['https']}",
                     "--config", self.conf]

    def write_conf(self, mode):
        words = ", ".join(f'"{w}"' for w in MODES[mode])
        with open(self.conf, "w") as f:
            f.write(f"signal = {{ ice_servers = [ {words} ]; }};\n")

    def start_mode(self, mode):
        self.write_conf(mode)
        self.start()

    def reload(self, mode):
        self.write_conf(mode)
        mark = len(self.log())
        self.send_signal(signal.SIGHUP)
        assert harness.wait_for(lambda: "configuration reloaded" in self.log()[mark:], 10), \
            self.log()[-2000:]
        time.sleep(1.5)  # the hub takes a new configuration within a second

    def http_get(self, path, timeout=5.0):
        """GET from inside the server's namespace (the host's cannot reach it)."""
        url = f"http://{lab.SERVER_IP}:{lab.PORTS['http']}{path}"
        r = self.lab.run_in(self.lab.srv, ["/usr/bin/python3", "-c",
                            "import sys, urllib.request; sys.stdout.write(urllib.request"
                            ".urlopen(sys.argv[1], timeout=5).read().decode())", url])
        return 200, r.stdout


def assign(pairs):
    """Networks for each pair of behaviours: two of a kind for x == y, else the less
    used network of each kind (pages of several pairs share a network's browser)."""
    used = collections.Counter()
    out = []
    for x, y in pairs:
        if x == y:
            a, b = f"{x[0]}1", f"{x[0]}2"
        else:
            a = min((f"{x[0]}1", f"{x[0]}2"), key=lambda n: used[n])
            b = min((f"{y[0]}1", f"{y[0]}2"), key=lambda n: used[n])
        used[a] += 1
        used[b] += 1
        out.append((x, y, a, b))
    return out


def probe_call(the_lab, x, y, a, b, room, mode):
    """`icehub-probe call` (libnice, not a browser) between networks a and b, both ends
    at once in one room; returns {"a": its JSON answer, "b": ...}. TURN over TCP where
    UDP is blocked or the hub hands out no UDP TURN (the probe does no TLS)."""
    procs = {}
    for side, net, kind in (("a", a, x), ("b", b, y)):
        argv = ["ip", "netns", "exec", the_lab.nets[net].host_ns, PROBE, "call", "--json",
                "--signal", f"ws://{lab.SERVER_IP}:{lab.PORTS['http']}/ws", "--room", room,
                "--duration", "1", "--timeout", "6"]
        if kind == "udp-blocked" or mode == "tcp-tls":
            argv += ["--turn-transport", "tcp"]
        procs[side] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
    out = {}
    for side, p in procs.items():
        stdout, stderr = p.communicate(timeout=90)
        try:
            out[side] = json.loads(stdout)
        except ValueError:
            out[side] = {"pass": False, "error": {"message": (stdout + stderr)[-300:]}}
    return out


def run_pairs(driver, the_lab, pairs, mode, room_prefix):
    """Starts every pair at once, in browsers and with icehub-probe; returns their
    results."""
    base = f"http://{lab.SERVER_IP}:{lab.PORTS['http']}"
    probes = {}
    threads = []
    for i, (x, y, a, b) in enumerate(pairs):
        driver.send({"op": "pair", "id": f"{mode}-{i}", "a": a, "b": b, "base": base,
                     "room": f"{room_prefix}-{mode}-{i}", "messages": MESSAGES,
                     "timeout_ms": 60000})
        threads.append(in_background(probes, i, lambda x=x, y=y, a=a, b=b, i=i: probe_call(
            the_lab, x, y, a, b, f"{room_prefix}-probe-{mode}-{i}", mode)))
    rows = []
    for i, (x, y, a, b) in enumerate(pairs):
        msg = driver.wait(f"{mode}-{i}", timeout=150)
        rows.append({"x": x, "y": y, "a": a, "b": b, "mode": mode, "res": msg["result"],
                     "expect": predict(x, y, mode)})
    for t in threads:
        t.join(timeout=120)
    for i, r in enumerate(rows):
        r["probe"] = probes.get(i) or {"error": "no answer"}
    return rows


def in_background(side, name, fn):
    """Runs fn() in a thread; its result (or the exception that ended it, as that check's
    failure) lands in side[name]. Returns the thread."""
    def target():
        try:
            side[name] = fn()
        except Exception as e:
            side[name] = {"error": f"{type(e).__name__}: {e}"}
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def restart_check(driver, the_lab, room):
    """A cone-to-cone call; r1 is cut off until a page sees the connection fail, then
    restored: icehub.js must have restarted ICE and the call must carry messages again."""
    base = f"http://{lab.SERVER_IP}:{lab.PORTS['http']}"
    driver.send({"op": "restart", "id": "restart", "a": "r1", "b": "r2", "base": base,
                 "room": room, "messages": MESSAGES, "timeout_ms": 60000})
    first = driver.wait("restart", timeout=90)
    if "result" in first:
        return {"error": "never connected", "res": first["result"]}
    t0 = time.time()
    the_lab.set_blocked("r1", True)
    try:
        failed = driver.wait("restart", timeout=90)
    finally:
        the_lab.set_blocked("r1", False)
    blocked_s = time.time() - t0
    res = driver.wait("restart", timeout=120)["result"]
    return {"failed": failed.get("states"), "blocked_seconds": round(blocked_s, 1), "res": res}


def browser_check(the_lab, net, expect_pass, call):
    """ice/icehub-browser-check run from inside network <net>."""
    argv = [CHECK_TOOL, f"https://{lab.SERVER_IP}:{lab.PORTS['https']}", "--insecure",
            "--json", "--timeout", "6", "--chromium", the_lab.chromium_wrapper(net),
            f"--chromium-arg={RESOLVER_FLAG}"]
    if call:
        argv.append("--call")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=150)
    with open(os.path.join(ARTIFACTS, f"browser-check-{net}.json"), "w") as f:
        f.write(p.stdout + p.stderr)
    r = json.loads(p.stdout)
    r["exit"] = p.returncode
    r["expect_pass"] = expect_pass
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    os.makedirs(ARTIFACTS, exist_ok=True)
    for what, ok in (("root (network namespaces)", os.geteuid() == 0),
                     (BIN, os.access(BIN, os.X_OK)), (PROBE, os.access(PROBE, os.X_OK)),
                     ("/usr/bin/chromium",
                                                      os.path.exists("/usr/bin/chromium")),
                     (NODE_MODULES, os.path.isdir(NODE_MODULES)),
                     ("ice/node_modules", os.path.isdir(os.path.join(ROOT, "ice",
                                                                     "node_modules")))):
        if not ok:
            print(f"natlab: needs {what} (deploy/install-deps.sh, make)", file=sys.stderr)
            report.results(0, 1)
            return 1
    pairs = [(x, y) for i, x in enumerate(ORDER) for y in ORDER[i:]]
    if args.only:
        want = set(args.only.split(","))
        pairs = [p for p in pairs if f"{p[0]}-{p[1]}" in want or f"{p[1]}-{p[0]}" in want]
    plan = assign(pairs)
    t_start = time.time()
    the_lab = lab.Lab(args.run, NETWORKS)
    hub = driver = None
    try:
        the_lab.up()
        t_up = time.time() - t_start
        hub = Hub(the_lab)
        hub.start_mode("on")
        driver = Driver()
        driver.send({"op": "browsers", "flags": FLAGS, "artifacts": ARTIFACTS,
                     "nets": {n: the_lab.chromium_wrapper(n) for n, _ in NETWORKS}})
        ready = driver.wait("browsers", timeout=120)
        assert ready.get("ok"), ready
        # The restart check spans the phases (waiting for Chromium to call the cut-off
        # connection failed takes half a minute); the browser checks run in the first.
        side = {}
        t0 = time.time()
        restart = in_background(side, "restart",
                                lambda: restart_check(driver, the_lab, f"{args.run}-restart"))
        checks = [in_background(side, "check-cone",
                                lambda: browser_check(the_lab, "c1", True, True)),
                  in_background(side, "check-udp-blocked",
                                lambda: browser_check(the_lab, "u1", False, False))]
        rows = run_pairs(driver, the_lab, plan, "on", args.run)
        for t in checks:
            t.join(timeout=180)
        phases = [(report.ICE["on"], time.time() - t0)]
        for mode in ["off"] + (["tcp-tls"] if args.full else []):
            hub.reload(mode)
            t0 = time.time()
            rows += run_pairs(driver, the_lab, plan, mode, args.run)
            phases.append((report.ICE[mode], time.time() - t0))
        restart.join(timeout=240)
        metrics = hub.metrics()
        with open(os.path.join(ARTIFACTS, "results.json"), "w") as f:
            json.dump({"rows": rows, "side": side}, f, indent=1, default=str)
        t_total = time.time() - t_start
        res = report.judge(rows, side, metrics, the_lab)
        text = report.matrix_text(rows)
        print(text)
        for line in res["lines"]:
            print(line)
        timing = {"setup": t_up, "phases": phases, "total": t_total}
        print(f"natlab: {len(rows)} calls in {t_total:.0f} s (namespaces {t_up:.1f} s; " +
              "; ".join(f"iceServers {n}: {s:.0f} s" for n, s in phases) + ")")
        if not args.no_docs and not args.only:
            report.write_docs(os.path.join(ROOT, "docs", "connectivity.md"), rows, side,
                              timing, ready.get("version"), res)
        report.results(res["passed"], res["failed"])
        return 0 if res["failed"] == 0 else 1
    finally:
        if driver:
            driver.close()
        if hub:
            hub.stop(signal.SIGINT)
        the_lab.down()


def interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    # SIGTERM and SIGHUP end the run like ^C does, through main's finally.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupted)
    sys.exit(main())
