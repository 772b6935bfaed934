"""icehub-probe call through icehubd's signaling hub: two libnice agents
(both in one process with --pair, or two probe processes in one room) take
their STUN/TURN servers from the hub's iceServers, exchange candidates and
SRTP keys in signal messages, connect and stream SRTP-protected RTP both
ways. With the default policy the pair is host/host on loopback; with
--relay-only it must be relay/relay, over the TURN transport asked for."""
import subprocess
import tempfile

from harness import Daemon, free_port
from test_probe import PROBE, probe, probe_json, tls_daemon

CALL = ["--duration", "1", "--rate", "50"]


def assert_call_report(rep, local, remote):
    assert rep["pass"], rep
    pair = rep["selected_pair"]
    assert (pair["local"], pair["remote"]) == (local, remote), pair
    assert rep["srtp_auth_failures"] == 0
    assert rep["packets_sent"] == 100  # 50 packets/s for 1 s, each way
    assert rep["packets_received"] > 80
    assert rep["loss_ratio"] < 0.2
    rtt = rep["rtt_seconds"]
    assert rtt["count"] > 50 and 0 < rtt["p50"] <= rtt["p95"] < 0.5, rtt
    assert 0 < rep["connect_seconds"] < 5
    assert rep["candidates"]["local"]["relay"] >= 1 or local != "relay"


def test_probe_call_pair_default_policy():
    with Daemon("probe-call") as d:
        rc, rep = probe_json("call", "--signal", f"ws://127.0.0.1:{d.http_port}/ws", "--pair",
                             *CALL)
        assert rc == 0, rep
        assert_call_report(rep, "host", "host")
        assert rep["selected_pair"]["relay_transport"] is None
        assert rep["srtp_suite"] == "AES_CM_128_HMAC_SHA1_80"
        m = d.metrics()
        assert m['icehub_signal_messages_total{type="signal"}'] >= 4  # offer, answer, 2 x done
        assert m['icehub_signal_messages_total{type="join"}'] == 2


def test_probe_call_pair_relay_only():
    """Relay to relay through icehubd over UDP, then TCP to the TURN server
    with AES-GCM; --require relay holds. (libnice cannot do TURN over TLS:
    the probe refuses --turn-transport tls as a usage error.)"""
    with tempfile.TemporaryDirectory() as tmp:
        d, cert = tls_daemon("probe-call-relay", tmp, ["--turn.allowed_peers=127.0.0.0/8"])
        with d:
            sig = f"ws://127.0.0.1:{d.http_port}/ws"
            for extra, tp in ((["--require", "relay"], "udp"),
                              (["--turn-transport", "tcp", "--srtp", "aes-gcm"], "tcp")):
                rc, rep = probe_json("call", "--signal", sig, "--pair", "--relay-only", *CALL,
                                     *extra)
                assert rc == 0, (extra, rep)
                assert_call_report(rep, "relay", "relay")
                assert rep["selected_pair"]["relay_transport"] == tp
                assert rep["candidates"]["local"]["host"] == 0
            m = d.metrics()
            assert m['icehub_turn_allocations_total{result="success"}'] >= 4
            rc, out, _ = probe("call", "--signal", sig, "--pair", *CALL, "--require", "relay")
            assert rc == 1 and "selected pair is host, --require relay" in out, out
            rc, out, _ = probe("call", "--signal", sig, "--pair", "--turn-transport", "tls")
            assert rc == 2 and "not available" in out, out


def test_probe_call_over_wss():
    """The hub over wss://, its certificate checked against --ca (an IP in
    its subjectAltName); without the CA the connection is refused."""
    with tempfile.TemporaryDirectory() as tmp:
        wss = free_port(udp_and_tcp=False)
        d, cert = tls_daemon("probe-call-wss", tmp, [f"--http.tls_listen=127.0.0.1:{wss}"])
        with d:
            rc, rep = probe_json("call", "--signal", f"wss://127.0.0.1:{wss}/ws", "--pair",
                                 "--ca", cert, *CALL)
            assert rc == 0, rep
            assert_call_report(rep, "host", "host")
            rc, out, secs = probe("call", "--signal", f"wss://127.0.0.1:{wss}/ws", "--pair",
                                  "--timeout", "2")
            assert rc == 1 and "cannot connect" in out and secs < 3, out


def test_probe_call_two_processes_one_room():
    with Daemon("probe-call-two") as d:
        argv = [PROBE, "call", "--signal", f"ws://127.0.0.1:{d.http_port}/ws", "--room",
                "probe-two", "--json", *CALL]
        first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        second = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        out1, _ = first.communicate(timeout=30)
        assert first.returncode == 0 and second.returncode == 0, (out1, second.stdout)
        import json
        for out in (out1, second.stdout):
            rep = json.loads(out.splitlines()[-1])
            assert rep["packets_sent"] == 100 and rep["packets_received"] > 80, rep


def test_probe_call_failures_are_named():
    port = free_port()
    rc, out, secs = probe("call", "--signal", f"ws://127.0.0.1:{port}/ws", "--pair",
                          "--timeout", "2")
    assert rc == 1 and "cannot connect" in out and secs < 3, out
    with Daemon("probe-call-alone") as d:
        rc, rep = probe_json("call", "--signal", f"ws://127.0.0.1:{d.http_port}/ws", "--room",
                             "empty", "--timeout", "1")
        assert rc == 1
        assert rep["error"]["step"] == "peer" and rep["error"]["timeout_seconds"] == 1, rep
    with Daemon("probe-call-noturn", args=["--turn.enabled=false"]) as d:
        rc, out, _ = probe("call", "--signal", f"ws://127.0.0.1:{d.http_port}/ws", "--pair",
                           "--relay-only", "--timeout", "2")
        assert rc == 1 and "no TURN server over udp" in out, out
