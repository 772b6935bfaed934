"""The NAT lab's networks: network namespaces, veth pairs and iptables rules that
it creates for one run and always removes.

Topology (every name starts with the run's id, so two runs at once never meet):

    <run>-srv  icehubd, 203.0.113.10 (TEST-NET-3)
        |
    <run>-inet  "the internet": a router with one /29 link per network
        |                           (198.51.100.0/24, TEST-NET-2), no default route:
        |                           anything outside the plan is unreachable
    +---+-------+---------+---------+
    n1          c1-r      s1-r      u1-r      routers with a WAN address and a LAN
    (public)    |         |         |         192.168.<k>.0/24
                c1        s1        u1        the host behind each router

Behaviours (RFC 4787 terms):
  none       the host has a public address on its link; no router, no filtering
  cone       endpoint-independent mapping (MASQUERADE keeps the source port) with
             address-and-port-dependent filtering (conntrack), a "port-restricted
             cone"; the router drops unsolicited packets addressed to itself
  symmetric  endpoint-dependent mapping (MASQUERADE --random-fully: a new random
             port per destination) with the same filtering and drop
  udp-blocked  a NAT that lets out only TCP to icehubd's ports (TURN, TURN over
             TLS, HTTP, HTTPS); everything else, UDP included, is dropped

Why the router drops unsolicited input: plain MASQUERADE is not a home router.
When A's first check reaches B's router before B has sent anything, conntrack
records that inbound flow, and B's own packet to A then leaves from another port.
Dropping NEW packets in the filter table's INPUT chain keeps them from ever being
confirmed in conntrack, as a home router's firewall does.

usage: lab.py down RUN    remove every namespace of RUN (and the processes in them)
"""
import os
import shutil
import subprocess
import sys
import tempfile

SERVER_IP = "203.0.113.10"
SERVER_GW = "203.0.113.1"
# icehubd's ports inside its own namespace: nothing else can hold them there.
PORTS = {"turn": 3478, "turns": 5349, "http": 8080, "https": 8443}
BEHAVIOURS = ("none", "cone", "symmetric", "udp-blocked")
SHORT = {"none": "n", "cone": "c", "symmetric": "s", "udp-blocked": "u"}


def sh(argv, check=True, **kw):
    """Runs argv; raises with its stderr when check and it fails."""
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def netns_list():
    out = sh(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pids_in(ns):
    out = sh(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def teardown(run):
    """Kills what runs inside RUN's namespaces (our own icehubd, browsers, probes),
    then deletes the namespaces; their veth links go with them."""
    mine = [ns for ns in netns_list() if ns.startswith(run + "-")]
    for sig in ("TERM", "KILL"):
        pids = [p for ns in mine for p in pids_in(ns)]
        for p in pids:
            sh(["kill", f"-{sig}", str(p)], check=False)
        if pids and sig == "TERM":
            sh(["sleep", "1"], check=False)
    for ns in mine:
        sh(["ip", "netns", "del", ns], check=False)
    tmp = os.path.join(tempfile.gettempdir(), run)
    if os.path.isdir(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    return mine


class Network:
    """One network of the lab: a host, and its router unless it is 'none'."""

    def __init__(self, lab, name, behaviour, index):
        self.lab = lab
        self.name = name                  # "c1"
        self.behaviour = behaviour
        self.index = index
        self.host_ns = f"{lab.run}-{name}"
        self.router_ns = None if behaviour == "none" else f"{lab.run}-{name}-r"
        base = 8 * index
        self.link_gw = f"198.51.100.{base + 1}"     # inet's side of the link
        self.wan_ip = f"198.51.100.{base + 2}"      # router WAN, or the public host
        self.lan = f"192.168.{10 + index}"
        self.host_ip = self.wan_ip if behaviour == "none" else f"{self.lan}.2"

    def describe(self):
        return {"name": self.name, "behaviour": self.behaviour, "ns": self.host_ns,
                "router_ns": self.router_ns, "host_ip": self.host_ip, "wan_ip": self.wan_ip}


class Lab:
    """Builds the namespaces of one run; down() removes them all."""

    def __init__(self, run, networks):
        self.run = run
        self.tmp = os.path.join(tempfile.gettempdir(), run)
        self.inet = f"{run}-inet"
        self.srv = f"{run}-srv"
        self.nets = {}
        for i, (name, behaviour) in enumerate(networks):
            assert behaviour in BEHAVIOURS, behaviour
            self.nets[name] = Network(self, name, behaviour, i)

    # ---- helpers ------------------------------------------------------------

    def ip(self, ns, *args):
        return sh(["ip", "-n", ns, *args])

    def run_in(self, ns, argv, check=True):
        return sh(["ip", "netns", "exec", ns, *argv], check=check)

    def ipt(self, ns, *args):
        return self.run_in(ns, ["iptables", "-w", *args])

    def add_ns(self, ns):
        sh(["ip", "netns", "add", ns])
        self.ip(ns, "link", "set", "lo", "up")
        # IPv4 only: no IPv6 link-local candidates to muddy the matrix.
        self.run_in(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
        self.run_in(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])

    def link(self, ns_a, if_a, addr_a, ns_b, if_b, addr_b):
        """A veth pair created straight inside the two namespaces (never in the
        host's, so its names cannot clash with anyone's)."""
        sh(["ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b,
            "netns", ns_b])
        self.ip(ns_a, "addr", "add", addr_a, "dev", if_a)
        self.ip(ns_b, "addr", "add", addr_b, "dev", if_b)
        self.ip(ns_a, "link", "set", if_a, "up")
        self.ip(ns_b, "link", "set", if_b, "up")

    # ---- building -------------------------------------------------------------

    def up(self):
        os.makedirs(self.tmp, exist_ok=True)
        self.add_ns(self.inet)
        self.run_in(self.inet, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        self.add_ns(self.srv)
        self.link(self.inet, "srv", f"{SERVER_GW}/24", self.srv, "eth0", f"{SERVER_IP}/24")
        self.ip(self.srv, "route", "add", "default", "via", SERVER_GW)
        for net in self.nets.values():
            self._up_network(net)
        return self

    def _up_network(self, net):
        self.add_ns(net.host_ns)
        if net.behaviour == "none":
            self.link(self.inet, net.name, f"{net.link_gw}/29", net.host_ns, "eth0",
                      f"{net.wan_ip}/29")
            self.ip(net.host_ns, "route", "add", "default", "via", net.link_gw)
            return
        r = net.router_ns
        self.add_ns(r)
        self.run_in(r, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        self.link(self.inet, net.name, f"{net.link_gw}/29", r, "wan", f"{net.wan_ip}/29")
        self.ip(r, "route", "add", "default", "via", net.link_gw)
        self.link(r, "lan", f"{net.lan}.1/24", net.host_ns, "eth0", f"{net.lan}.2/24")
        self.ip(net.host_ns, "route", "add", "default", "via", f"{net.lan}.1")
        self._nat_rules(net)

    def _nat_rules(self, net):
        r = net.router_ns
        masq = ["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"]
        if net.behaviour == "symmetric":
            masq.append("--random-fully")
        self.ipt(r, *masq)
        # A home router's firewall: nothing unsolicited reaches the router or the LAN.
        self.ipt(r, "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate",
                 "ESTABLISHED,RELATED", "-j", "ACCEPT")
        self.ipt(r, "-A", "INPUT", "-i", "wan", "-j", "DROP")
        self.ipt(r, "-P", "FORWARD", "DROP")
        self.ipt(r, "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
                 "-j", "ACCEPT")
        if net.behaviour == "udp-blocked":
            ports = ",".join(str(p) for p in PORTS.values())
            self.ipt(r, "-A", "FORWARD", "-i", "lan", "-o", "wan", "-p", "tcp", "-d",
                     SERVER_IP, "-m", "multiport", "--dports", ports, "-j", "ACCEPT")
        else:
            self.ipt(r, "-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT")

    def set_blocked(self, name, blocked):
        """Cuts (or restores) everything between network NAME and the internet:
        the router, or the public host's link, drops every packet both ways."""
        net = self.nets[name]
        ns, dev = (net.router_ns, "wan") if net.router_ns else (net.host_ns, "eth0")
        op = "-I" if blocked else "-D"
        for chain, d in (("INPUT", "-i"), ("OUTPUT", "-o"), ("FORWARD", "-i"),
                         ("FORWARD", "-o")):
            self.ipt(ns, op, chain, d, dev, "-j", "DROP")

    def chromium_wrapper(self, name):
        """An executable that starts Debian's Chromium inside network NAME's host
        namespace, for playwright's executablePath (it drives it over a pipe)."""
        path = os.path.join(self.tmp, f"chromium-{name}")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")
            f.write(f'exec ip netns exec {self.nets[name].host_ns} /usr/bin/chromium "$@"\n')
        os.chmod(path, 0o755)
        return path

    def describe(self):
        return {"run": self.run, "server": SERVER_IP, "ports": PORTS, "srv_ns": self.srv,
                "networks": {n: net.describe() for n, net in self.nets.items()}}

    def down(self):
        return teardown(self.run)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "down":
        gone = teardown(sys.argv[2])
        if gone:
            print(f"natlab: removed {len(gone)} namespaces of {sys.argv[2]}")
        sys.exit(0)
    print(__doc__.split("usage:")[1].strip(), file=sys.stderr)
    sys.exit(2)
