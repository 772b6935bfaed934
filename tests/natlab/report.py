"""The NAT lab's judgement and its outputs: what each call must show (natlab.predict
says what ICE predicts), the printed matrix, the section of docs/connectivity.md
that the run writes, and the line for make test's summary."""
import collections
import datetime
import os
import re

import lab

BEGIN = "<!-- natlab:begin (written by tests/natlab; do not edit by hand) -->"
END = "<!-- natlab:end -->"
SHORT = {"none": "none", "cone": "cone", "symmetric": "symmetric", "udp-blocked": "UDP blocked"}
ICE = {"on": "all", "off": "STUN only", "tcp-tls": "TURN TCP/TLS only"}


def side_text(s):
    """'srflx/prflx' from one side's outcome, or '-'."""
    o = (s or {}).get("outcome") or {}
    if o.get("result") != "connected":
        return "-"
    relay = f" ({o['relay']})" if o.get("relay") else ""
    return f"{o['local']}{relay}/{o['remote']}"


def result_text(r):
    res = r["res"]
    oa = ((res.get("a") or {}).get("outcome") or {}).get("result")
    ob = ((res.get("b") or {}).get("outcome") or {}).get("result")
    if oa == ob == "connected":
        return "connected"
    if oa == ob == "failed":
        return "failed"
    return f"{oa or '?'}/{ob or '?'}"


def seconds_text(r):
    out = []
    for k in ("a", "b"):
        o = ((r["res"].get(k) or {}).get("outcome") or {})
        out.append(f"{o['seconds']:.2f}" if o.get("seconds") is not None else "-")
    return " / ".join(out) + (" s" if any(x != "-" for x in out) else "")


def relay_text(r):
    """The transports of the sides whose own candidate is relayed; 'each other's' when
    the sides send to the peer's relay instead."""
    outs = [((r["res"].get(k) or {}).get("outcome") or {}) for k in ("a", "b")]
    t = sorted({o["relay"] for o in outs if o.get("relay")})
    if not t and any(o.get("remote") == "relay" for o in outs):
        return "peer's relay"
    return ", ".join(t) or "-"


def probe_text(r):
    """icehub-probe call's view from side A: 'connected srflx/prflx (relay tcp) 2.04 s'
    or 'failed (step)'."""
    p = r.get("probe") or {}
    a, b = p.get("a") or {}, p.get("b") or {}
    if a.get("pass") and b.get("pass"):
        sp = a.get("selected_pair") or {}
        relay = f" ({sp['relay_transport']})" if sp.get("relay_transport") and \
            sp.get("local") == "relay" else ""
        return f"connected {sp.get('local')}{relay}/{sp.get('remote')} " \
               f"{a.get('connect_seconds', 0):.2f} s"
    err = a.get("error") or b.get("error") or p.get("error") or {}
    step = err.get("step") if isinstance(err, dict) else None
    return f"failed ({step or err})"


def columns(r):
    return [f"{SHORT[r['x']]} ↔ {SHORT[r['y']]}", f"{r['a']} ↔ {r['b']}", ICE[r["mode"]],
            r["expect"], result_text(r), side_text(r["res"].get("a")),
            side_text(r["res"].get("b")), relay_text(r), seconds_text(r), probe_text(r),
            "ok" if r.get("ok") else "FAIL"]


HEAD = ["pair", "networks", "iceServers", "ICE predicts", "browsers", "A local/remote",
        "B local/remote", "relay", "time to connected A / B", "icehub-probe call (A)",
        "check"]


def matrix_text(rows):
    table = [HEAD] + [columns(r) for r in rows]
    w = [max(len(row[i]) for row in table) for i in range(len(HEAD))]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(row)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def matrix_markdown(rows):
    out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for r in rows:
        out.append("| " + " | ".join(columns(r)) + " |")
    return "\n".join(out)


# ---- judgement ----------------------------------------------------------------------

def check_call(r):
    """Problems with one call (the browsers and the probe), [] when it shows what ICE
    predicts."""
    return check_browsers(r) + check_probe(r)


def check_browsers(r):
    res, bad = r["res"], []
    if res.get("error"):
        bad.append(f"error: {res['error']}")
    sides = {"a": res.get("a") or {}, "b": res.get("b") or {}}
    outs = {k: s.get("outcome") or {} for k, s in sides.items()}
    urls = res.get("iceServers") or []
    want = {"on": ("stun:", "turn:", "turns:"), "off": ("stun:",),
            "tcp-tls": ("turn:", "turns:")}[r["mode"]]
    if sorted({u.split(":")[0] + ":" for u in urls}) != sorted(want):
        bad.append(f"iceServers {urls} for {r['mode']}")
    if r["expect"] == "fail":
        for k, o in outs.items():
            if o.get("result") != "failed":
                bad.append(f"side {k} {o.get('result') or 'no outcome'}, expected failed")
        return bad
    for k, o in outs.items():
        if o.get("result") != "connected":
            bad.append(f"side {k} {o.get('result') or 'no outcome'}, expected connected")
    if bad:
        return bad
    if not res.get("messages"):
        bad.append("DataChannel messages did not get through both ways")
    # Each side reports the pair it uses itself; they need not be the same pair seen
    # from both ends (between two symmetric NATs each side may send to the other's
    # relay), so a call is relayed when either side has a relay candidate in its pair.
    relayed = any("relay" in (o["local"], o["remote"]) for o in outs.values())
    if r["expect"] == "direct" and relayed:
        bad.append("relayed, but a direct path exists")
    if r["expect"] == "relay":
        if not relayed:
            bad.append("connected without the relay, which ICE says is impossible")
        for k, net in (("a", r["x"]), ("b", r["y"])):
            if net == "udp-blocked" and outs[k].get("relay") not in ("tcp", "tls"):
                bad.append(f"side {k} is UDP-blocked but relays over {outs[k].get('relay')}")
    # The demo follows the final pair: what it shows is what getStats says now.
    for k, s in sides.items():
        p, shown = s.get("pair") or {}, s.get("shown") or {}
        if (shown.get("local"), shown.get("remote"), shown.get("badge")) != \
                (p.get("local"), p.get("remote"), p.get("type")):
            bad.append(f"side {k}: the page shows {shown}, getStats says {p}")
    return bad


def check_probe(r):
    """The probe (libnice) must find what the browsers found: the path ICE predicts."""
    p = r.get("probe") or {}
    a, b = p.get("a") or {}, p.get("b") or {}
    if r["expect"] == "fail":
        return [] if not a.get("pass") and not b.get("pass") else \
            ["icehub-probe connected where ICE predicts failure"]
    if not (a.get("pass") and b.get("pass")):
        return [f"icehub-probe call failed: {probe_text(r)}"]
    types = {t for s in (a, b) for t in ((s.get("selected_pair") or {}).get("local"),
                                         (s.get("selected_pair") or {}).get("remote"))}
    if r["expect"] == "direct" and "relay" in types:
        return [f"icehub-probe relayed where a direct path exists: {probe_text(r)}"]
    if r["expect"] == "relay" and "relay" not in types:
        return [f"icehub-probe connected without the relay: {probe_text(r)}"]
    return []


def check_restart(x):
    if not x or x.get("error"):
        return [f"restart: {x}"]
    res, bad = x["res"], []
    if res.get("error"):
        bad.append(f"error: {res['error']}")
    if (x.get("failed") or {}).get("conn") != "failed":
        bad.append(f"no failed connectionState seen: {x.get('failed')}")
    calls = [c for k in ("a", "b") for c in ((res.get(k) or {}).get("restarts") or [])]
    if not calls:
        bad.append("icehub.js never restarted ICE")
    elif calls[0].get("conn") != "failed":
        bad.append(f"the first restart came with connectionState {calls[0].get('conn')}")
    if not res.get("messagesAfter"):
        bad.append("no messages after the network came back")
    return bad


def check_browser(x, the_lab, net):
    if not x or x.get("error"):
        return [f"browser check: {x}"]
    bad = []
    checks = {c["name"]: c for c in (x.get("selftest") or {}).get("checks") or []}
    status = {k: c["status"] for k, c in checks.items()}
    if x["expect_pass"]:
        if x["exit"] != 0 or not x.get("pass"):
            bad.append(f"exit {x['exit']}: {status} {x.get('error')} "
                       f"{(x.get('call') or {}).get('error')}")
        mapped = (checks.get("stun") or {}).get("mapped") or ""
        if mapped.split(":")[0] != the_lab.nets[net].wan_ip:
            bad.append(f"STUN mapped {mapped}, not the router's {the_lab.nets[net].wan_ip}")
    else:
        want = {"stun": "fail", "turn-udp": "fail", "turn-tcp": "pass", "turns": "pass"}
        if x["exit"] != 1 or status != want:
            bad.append(f"exit {x['exit']} with {status}, expected 1 with {want}")
    return bad


def outcomes(rows, side):
    """Every outcome a page reported to the hub in this run."""
    outs = [(r["res"].get(k) or {}).get("outcome") for r in rows for k in ("a", "b")]
    rs = (side.get("restart") or {}).get("res") or {}
    outs += [(rs.get(k) or {}).get("outcome") for k in ("a", "b")]
    call = (side.get("check-cone") or {}).get("call") or {}
    outs += [(call.get(k) or {}).get("outcome") for k in ("a", "b")]
    return [o for o in outs if o]


def check_metrics(rows, side, m):
    want = collections.Counter()
    for o in outcomes(rows, side):
        want[(o["result"], o.get("local") or "none", o.get("remote") or "none",
              o.get("relay") or "none")] += 1
    got = collections.Counter()
    pat = re.compile(r'icehub_client_connections_total\{result="(\w+)",local_type="(\w+)",'
                     r'remote_type="(\w+)",relay_protocol="(\w+)"\}')
    for k, v in m.items():
        hit = pat.fullmatch(k)
        if hit:
            got[hit.groups()] += int(v)
    bad = []
    if got != want:
        bad.append(f"icehub_client_connections_total {dict(got)} != the pages' {dict(want)}")
    connected = sum(n for k, n in want.items() if k[0] == "connected")
    if m.get("icehub_client_connect_seconds_count") != connected:
        bad.append(f"icehub_client_connect_seconds_count "
                   f"{m.get('icehub_client_connect_seconds_count')} != {connected}")
    dropped = {k: v for k, v in m.items()
               if k.startswith("icehub_client_reports_dropped_total") and v}
    if dropped:
        bad.append(f"reports dropped: {dropped}")
    return bad, sum(want.values())


def judge(rows, side, metrics, the_lab):
    lines, passed, failed = [], 0, 0

    def note(name, problems):
        nonlocal passed, failed
        if problems:
            failed += 1
            lines.append(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
        return not problems

    for r in rows:
        r["ok"] = note(f"{r['x']} <-> {r['y']} ({ICE[r['mode']]})", check_call(r))
    side["restart_ok"] = note("ICE restart after the network failed",
                              check_restart(side.get("restart")))
    side["cone_ok"] = note("icehub-browser-check from the cone network",
                           check_browser(side.get("check-cone"), the_lab, "c1"))
    side["udp_ok"] = note("icehub-browser-check from the UDP-blocked network",
                          check_browser(side.get("check-udp-blocked"), the_lab, "u1"))
    bad, n = check_metrics(rows, side, metrics)
    side["metrics_ok"] = note("client stats counters against the pages", bad)
    side["reports"] = n
    lines.append(f"natlab: {passed} checks passed, {failed} failed")
    return {"lines": lines, "passed": passed, "failed": failed}


# ---- outputs ------------------------------------------------------------------------

def restart_text(x):
    x = x or {}
    res = x.get("res") or {}
    calls = [c for k in ("a", "b") for c in ((res.get(k) or {}).get("restarts") or [])]
    first = calls[0] if calls else {}
    return (f"cone ↔ cone, one network cut off: Chromium set connectionState "
            f"`{(x.get('failed') or {}).get('conn')}` with iceConnectionState "
            f"`{(x.get('failed') or {}).get('ice')}` {x.get('blocked_seconds')} s after the "
            f"cut, and the lab put the network back; icehub.js called restartIce {len(calls)} time(s) (the first with "
            f"connectionState `{first.get('conn')}`, iceConnectionState `{first.get('ice')}`); "
            f"once the network was back the call carried messages again: "
            f"{'yes' if res.get('messagesAfter') else 'no'}.")


def browser_text(x, net):
    x = x or {}
    checks = (x.get("selftest") or {}).get("checks") or []
    parts = [f"{c['name']} {c['status']}" for c in checks]
    call = x.get("call")
    if call:
        parts.append("call " + ("connected" if call.get("ok") else "failed"))
    return f"from `{net}`: exit {x.get('exit')}; " + ", ".join(parts)


def write_docs(path, rows, side, timing, version, res):
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    phases = "; ".join(f"iceServers {n}: {s:.0f} s" for n, s in timing["phases"])
    body = [BEGIN, "",
            f"Run of {when}, Chromium {version}, icehubd on {lab.SERVER_IP}; "
            f"{res['passed']} checks passed, {res['failed']} failed. The whole lab took "
            f"{timing['total']:.0f} s (namespaces {timing['setup']:.1f} s; {phases}) on a "
            f"2-core VM shared with other work.", "",
            matrix_markdown(rows), "",
            f"- ICE restart: {restart_text(side.get('restart'))}",
            f"- icehub-browser-check {browser_text(side.get('check-cone'), 'c1')}.",
            f"- icehub-browser-check {browser_text(side.get('check-udp-blocked'), 'u1')}.",
            f"- icehubd's `icehub_client_connections_total` after the run matched the "
            f"{side.get('reports')} outcomes the pages reported: "
            f"{'yes' if side.get('metrics_ok') else 'no'}.", "", END]
    with open(path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(body) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(body) + "\n"
    with open(path, "w") as f:
        f.write(text)


def results(passed, failed):
    path = os.environ.get("ICEHUB_RESULTS")
    if path:
        with open(path, "a") as f:
            f.write(f"natlab {passed} {failed}\n")
