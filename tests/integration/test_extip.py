"""turn.external_ip = "auto" against real icehubd STUN servers behind a real NAT.

A lab of three network namespaces that this test makes and always removes:

    [in] 10.200.0.2 --- 10.200.0.1 [nat] 198.51.100.1 --- [pub] 198.51.100.10, .20
         icehubd A         SNAT 10.200.0.2 -> 198.51.100.7       icehubd B1, B2 (STUN)

A asks B1 and B2 for its address and must find 198.51.100.7/10.200.0.2, and a
TURN Allocate made to A must get a relayed address on 198.51.100.7. Reloads
(SIGHUP) with servers that disagree (B1 through the NAT against B3 on the
router's inside address, which sees A unNATed) or that do not all answer keep
the address found before; a daemon whose servers never answer falls back to
its local address. Every run shows in the log and in /metrics.
"""
import os
import re
import signal
import subprocess
import tempfile
import time

from harness import ARTIFACTS, BIN, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = str(os.getpid() % 100000)
NS_IN, NS_NAT, NS_PUB = f"icx-in-{TAG}", f"icx-nat-{TAG}", f"icx-pub-{TAG}"
PUBLIC, PRIVATE = "198.51.100.7", "10.200.0.2"


def sh(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stdout}{r.stderr}")
    return r.stdout


def nsx(ns, *argv):
    return sh("ip", "netns", "exec", ns, *argv)


def lab_up():
    for ns in (NS_IN, NS_NAT, NS_PUB):
        sh("ip", "netns", "add", ns)
        nsx(ns, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", f"xp{TAG}", "netns", NS_NAT, "type", "veth", "peer", "name",
       f"xq{TAG}", "netns", NS_PUB)
    sh("ip", "link", "add", f"xi{TAG}", "netns", NS_NAT, "type", "veth", "peer", "name",
       f"xj{TAG}", "netns", NS_IN)
    for ns, dev, addrs in ((NS_NAT, f"xp{TAG}", ["198.51.100.1/24", PUBLIC + "/24"]),
                           (NS_PUB, f"xq{TAG}", ["198.51.100.10/24", "198.51.100.20/24"]),
                           (NS_NAT, f"xi{TAG}", ["10.200.0.1/24"]),
                           (NS_IN, f"xj{TAG}", [PRIVATE + "/24"])):
        for a in addrs:
            nsx(ns, "ip", "addr", "add", a, "dev", dev)
        nsx(ns, "ip", "link", "set", dev, "up")
    nsx(NS_IN, "ip", "route", "add", "default", "via", "10.200.0.1")
    nsx(NS_NAT, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    nsx(NS_NAT, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", f"xp{TAG}", "-s", PRIVATE,
        "-j", "SNAT", "--to-source", PUBLIC)


def lab_down():
    for ns in (NS_IN, NS_NAT, NS_PUB):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class NsDaemon:
    """icehubd inside a namespace; log in tests/artifacts/daemon-<name>.log."""

    def __init__(self, name, ns, args):
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.ns = ns
        self.log_path = os.path.join(ARTIFACTS, f"daemon-{name}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ICEHUB_")}
        self.logf = open(self.log_path, "wb")
        # --turn.drain_timeout=0: SIGTERM stops at once, as harness.Daemon's do.
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, BIN, "--turn.threads=1",
                                      "--log.level=debug", "--turn.drain_timeout=0", *args],
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.wait_log("ready (pid")

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, count=1, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log().count(text) >= count:
                return
            assert self.proc.poll() is None, f"icehubd exited: {self.log()}"
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the log: {self.log()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            assert rc == 0, self.log()
        self.logf.close()


def metrics(ns, http_port):
    body = nsx(ns, "/usr/bin/python3", "-c",
               "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen("
               f"'http://127.0.0.1:{http_port}/metrics', timeout=5).read().decode())")
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in body.splitlines() if line.startswith("icehub_turn_external_ip")}


def relayed_address(port):
    """Allocate from inside [in] with the independent client; the relayed address."""
    script = ("import sys; sys.path.insert(0, %r)\n"
              "from turnclient import TurnClient\n"
              "c = TurnClient(%d, 'alice', 'wonderland', host=%r)\n"
              "cls, attrs, raw = c.allocate()\n"
              "assert cls == 2, attrs\n"
              "print(c.relayed[0])\n" % (HERE, port, PRIVATE))
    return nsx(NS_IN, "/usr/bin/python3", "-c", script).strip()


def write_servers(path, servers):
    with open(path, "w") as f:
        f.write('turn = { external_ip = "auto"; external_ip_servers = [%s]; };\n'
                % ", ".join(f'"{s}"' for s in servers))


def test_external_ip_auto_behind_nat():
    stun_port = free_port()
    lab_up()
    daemons = []
    try:
        for name, ns, ip in (("extip-b1", NS_PUB, "198.51.100.10"),
                             ("extip-b2", NS_PUB, "198.51.100.20"),
                             ("extip-b3", NS_NAT, "10.200.0.1")):
            daemons.append(NsDaemon(name, ns, [f"--turn.listen={ip}:{stun_port}",
                                               "--http.enabled=false"]))
        b1, b2 = f"198.51.100.10:{stun_port}", f"198.51.100.20:{stun_port}"
        inside = f"10.200.0.1:{stun_port}"
        port, http = free_port(), free_port(udp_and_tcp=False)
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "icehub.conf")
            write_servers(conf, [b1, b2])
            a = NsDaemon("extip-a", NS_IN, [
                "--config", conf, f"--turn.listen={PRIVATE}:{port}",
                f"--http.listen=127.0.0.1:{http}", "--turn.users=alice:wonderland"])
            daemons.append(a)
            assert f"external_ip auto: {PUBLIC}/{PRIVATE}" in a.log(), a.log()
            m = metrics(NS_IN, http)
            assert m[f'icehub_turn_external_ip_info{{address="{PUBLIC}",private="{PRIVATE}"}}'] == 1
            assert m['icehub_turn_external_ip_discoveries_total{result="ok"}'] == 1
            assert relayed_address(port) == PUBLIC

            # B1 (through the NAT) and B3 (inside it) disagree: keep the address.
            write_servers(conf, [b1, inside])
            a.proc.send_signal(signal.SIGHUP)
            a.wait_log("configuration reloaded", 1)
            assert re.search(r"external_ip auto failed \(disagree\): .* says 198\.51\.100\.7, "
                             r".* says 10\.200\.0\.2; keeping 198\.51\.100\.7/10\.200\.0\.2 "
                             r"found earlier", a.log()), a.log()
            # Two listed, one answers (nothing listens on .20's other port).
            write_servers(conf, [b1, f"198.51.100.20:{free_port()}"])
            a.proc.send_signal(signal.SIGHUP)
            a.wait_log("configuration reloaded", 2)
            assert "external_ip auto failed (too_few): only 1 of 2 IPv4 servers answered" \
                in a.log(), a.log()
            m = metrics(NS_IN, http)
            assert m['icehub_turn_external_ip_discoveries_total{result="disagree"}'] == 1
            assert m['icehub_turn_external_ip_discoveries_total{result="too_few"}'] == 1
            assert m[f'icehub_turn_external_ip_info{{address="{PUBLIC}",private="{PRIVATE}"}}'] == 1
            assert relayed_address(port) == PUBLIC
            a.stop()
            daemons.remove(a)

            # No earlier address: relays fall back to the local one.
            write_servers(conf, [f"198.51.100.10:{free_port()}"])
            a = NsDaemon("extip-a-fallback", NS_IN, [
                "--config", conf, f"--turn.listen={PRIVATE}:{port}",
                f"--http.listen=127.0.0.1:{http}", "--turn.users=alice:wonderland"])
            daemons.append(a)
            assert "external_ip auto failed (no_answer): no answer from any of 1 servers " \
                "within 3000 ms; relayed addresses carry the local address" in a.log(), a.log()
            m = metrics(NS_IN, http)
            assert m['icehub_turn_external_ip_discoveries_total{result="no_answer"}'] == 1
            assert not any(k.startswith("icehub_turn_external_ip_info{") for k in m)
            assert relayed_address(port) == PRIVATE
            # --check-config accepts "auto" without asking anyone.
            out = subprocess.run([BIN, "--check-config", "--config", conf],
                                 capture_output=True, text=True, timeout=10)
            assert out.returncode == 0 and "configuration OK" in out.stderr, out.stderr
        for d in daemons:
            d.stop()
        daemons = []
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        lab_down()
