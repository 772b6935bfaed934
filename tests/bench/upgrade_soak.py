#!/usr/bin/python3
"""make upgrade-soak: a heavier live upgrade than the test suite's, for numbers.

icehubd (bin/icehubd, or ICEHUB_BIN) relays for coturn's turnutils_uclient
(--clients, one message of --size bytes every --interval ms each, echoed by a
peer) and for our own client (a time-stamped stream at --rate packets/s),
next to --idle allocations that only exist (they make the state bigger),
while it is upgraded --upgrades times in a row, each new process taking over
from the last. Per upgrade it reports the pause the new process measured
(old workers parked to new workers running), the longest round trip of a
stream packet sent around it, and the stream's loss; at the end uclient's
totals and the ledger check. Writes tests/artifacts/upgrade-soak.json.

usage: upgrade_soak.py [--clients 20] [--interval 5] [--size 120] [--rate 1000]
                       [--idle 1000] [--upgrades 3] [--gap 4]
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import ARTIFACTS, Daemon, wait_for  # noqa: E402
from test_upgrade import (EchoPeer, Stream, check_ledger, successor, uclient,  # noqa: E402
                          uclient_result, upgrade_args)
from turnclient import TurnClient  # noqa: E402


def idle_allocations(port, n):
    out = []
    for _ in range(n):
        c = TurnClient(port, "alice", "pw-a")
        if c.allocate(lifetime=3600)[0] == 2:
            out.append(c)
        else:
            c.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--size", type=int, default=120)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--upgrades", type=int, default=3)
    ap.add_argument("--gap", type=float, default=4.0, help="seconds between upgrades")
    o = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    peer = EchoPeer()
    # Every idle allocation starts with a 401: no rate limit on those here.
    cur = Daemon("soak-0", args=upgrade_args(tmp.name, ["--turn.max_allocations_per_user=100000",
                                                        "--turn.max_allocations_per_ip=100000",
                                                        "--turn.unauth_rate=1000000"]))
    procs = [cur]
    report = {"load": vars(o), "upgrades": []}
    try:
        cur.start()
        idle = idle_allocations(cur.port, o.idle)
        s = Stream(cur.port, peer, rate=o.rate)
        s.start()
        n = int((o.upgrades + 1) * o.gap * 1000 / o.interval)
        uc = uclient(cur.port, peer.port, n=n, clients=o.clients, size=o.size,
                     interval_ms=o.interval)
        for i in range(1, o.upgrades + 1):
            time.sleep(o.gap)
            new = successor(cur, f"soak-{i}")
            procs.append(new)
            t0 = time.time()
            new.start()
            assert wait_for(lambda: cur.proc.poll() is not None, 20), cur.log()[-2000:]
            m = re.search(r"took over (\d+) UDP allocation\(s\).*UDP was paused ([\d.]+) ms",
                          new.log())
            near = [b - a for a, b in s.arrivals.values() if t0 - 1 <= a <= t0 + 2]
            report["upgrades"].append({
                "allocations": int(m.group(1)), "pause_ms": float(m.group(2)),
                "stream_rtt_max_ms": round(max(near) * 1000, 1) if near else None,
                "old_exit_code": cur.proc.returncode})
            print(json.dumps(report["upgrades"][-1]), flush=True)
            cur = new
        report["uclient"] = uclient_result(uc)
        report["stream"] = s.finish(time.time())
        for c in idle:
            c.close()
        s.c.close()
        rc, _ = cur.stop()
        report["last_exit_code"] = rc
        problems = []
        to_client = check_ledger(os.path.join(tmp.name, "ledger.jsonl"), peer, 1,
                                 problems=problems)
        relay = f"{s.c.relayed[0]}:{s.c.relayed[1]}"
        report["ledger"] = {
            "records_continue": True,
            "peer_mismatches": problems[:10],  # a stalled echo peer drops datagrams
            "stream_to_client_equals_received": to_client.pop(relay) == s.got_bytes,
            "uclient_to_client_equals_received":
                sum(to_client.values()) == report["uclient"]["received"] * o.size}
    finally:
        for d in procs:
            d.stop()
        peer.close()
        tmp.cleanup()
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "upgrade-soak.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
