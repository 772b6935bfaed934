"""Safe by default on a public address: a signaling hub that other hosts can
reach must not hand TURN credentials to anyone who opens a WebSocket. With
the defaults HTTP listens on loopback only; on any other address icehubd
refuses to start (and --check-config and a reload refuse the configuration)
unless signal.require_token, signal.allowed_origins or signal.open is set,
and signal.open is announced loudly. See docs/security.md#signaling-hub."""
import os
import re
import signal
import tempfile
import time

from harness import Daemon, free_port
from test_daemon import run
from test_signal_lib import connect, run as arun

REFUSAL = ("the signaling hub on {} would give TURN credentials to anyone who can open a "
           "WebSocket; set signal.require_token = true (room tokens from your backend) or "
           "signal.allowed_origins (your web app's origins), or signal.open = true to serve it "
           "open on purpose")


def join_needs_token(d):
    async def go():
        p = await connect(d)
        await p.send({"type": "join", "room": "r"})
        await p.error("token-required")
        await p.close()
    arun(go())


def test_defaults_listen_on_loopback_and_start():
    """What `make run` runs: the defaults pass and serve HTTP on loopback only."""
    r = run(["--check-config"])
    assert r.returncode == 0 and "warn" not in r.stderr, r.stderr
    r = run(["--print-config"])
    http = r.stdout[r.stdout.index("http = {"):]
    assert 'listen = [ "127.0.0.1:8080" ];' in http.split("};")[0], http
    assert "    open = false;\n" in r.stdout


def test_public_hub_refused_at_start():
    port, hp = free_port(), free_port(udp_and_tcp=False)
    args = [f"--turn.listen=127.0.0.1:{port}", f"--http.listen=0.0.0.0:{hp}"]
    r = run(args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr == ("icehubd: configuration error: --http.listen: " +
                        REFUSAL.format(f"0.0.0.0:{hp}") + "\n"), r.stderr
    # The same from the environment and for wss:// on http.tls_listen.
    r = run([f"--turn.listen=127.0.0.1:{port}"], env={"ICEHUB_HTTP_LISTEN": f"[::]:{hp}"})
    assert r.returncode == 2 and "ICEHUB_HTTP_LISTEN: " + REFUSAL.format(f"[::]:{hp}") \
        in r.stderr, r.stderr
    from test_binding import make_cert
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        r = run(["--check-config", f"--tls.cert={cert}", f"--tls.key={key}",
                 f"--http.tls_listen=0.0.0.0:{hp}"])
        assert r.returncode == 2 and "--http.tls_listen: " + REFUSAL.format(f"0.0.0.0:{hp}") \
            in r.stderr, r.stderr


def test_public_hub_with_tokens_starts_and_requires_them():
    hp = free_port(udp_and_tcp=False)
    d = Daemon("safe-token", args=["--signal.require_token=true", f"--http.listen=0.0.0.0:{hp}"])
    d.http_port = hp
    with d:
        assert "OPEN" not in d.log()
        join_needs_token(d)
    d = Daemon("safe-origins", args=["--signal.allowed_origins=https://app.example.com",
                                     f"--http.listen=0.0.0.0:{hp}"])
    d.http_port = hp
    with d:
        assert "OPEN" not in d.log()


def test_open_hub_on_purpose_is_loud():
    hp = free_port(udp_and_tcp=False)
    d = Daemon("safe-open", args=["--signal.open=true", f"--http.listen=0.0.0.0:{hp}"])
    d.http_port = hp
    with d:
        log = d.log()
        assert re.search(r"warn  \[config\] --signal\.open: the signaling hub on 0\.0\.0\.0:"
                         rf"{hp} is OPEN: anyone who can reach it joins rooms and gets TURN "
                         r"credentials", log), log

        async def go():
            p = await connect(d)
            j = await p.join("r")
            assert any("username" in s for s in j["iceServers"]), j
            await p.close()
        arun(go())
        # Every reload says it again.
        d.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while d.log().count("is OPEN") < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert d.log().count("is OPEN") == 2, d.log()
    # On loopback signal.open changes nothing and says nothing.
    with Daemon("safe-open-lo", args=["--signal.open=true"]) as d:
        assert "OPEN" not in d.log()


def test_reload_cannot_open_a_public_hub():
    hp = free_port(udp_and_tcp=False)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(f'http = {{ listen = ["0.0.0.0:{hp}"]; }};\n'
                'signal = { require_token = true; };\n')
        path = f.name
    try:
        d = Daemon("safe-reload", config=path)
        # The harness's own --http.listen comes first; the file's is below it.
        d.argv = [a for a in d.argv if not a.startswith("--http.listen")]
        d.http_port = hp
        with d:
            with open(path, "w") as f:
                f.write(f'http = {{ listen = ["0.0.0.0:{hp}"]; }};\n'
                        'signal = { require_token = false; };\n')
            d.send_signal(signal.SIGHUP)
            deadline = time.time() + 5
            while "reload failed" not in d.log() and time.time() < deadline:
                time.sleep(0.05)
            assert f"{path}:1: http.listen: " + REFUSAL.format(f"0.0.0.0:{hp}") in d.log(), \
                d.log()
            join_needs_token(d)
    finally:
        os.unlink(path)
