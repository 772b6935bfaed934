"""The command line as a user meets it: --help lists every setting with its
type, default and reloadability; configuration mistakes get hints (an
unquoted string or size, a quoted number, "--key value" without '=', a PEM
file that is not what it should be, each naming where the value came from);
values the daemon will not use as given are warned about at start and by
--check-config; and a started icehubd logs one block with the URLs it serves."""
import os
import re
import subprocess
import tempfile
import time

from harness import SCALE, Daemon
from test_binding import make_cert, make_two_certs
from test_daemon import run


def schema_from_print_config():
    """Every setting name, from --print-config (the schema's own list)."""
    r = run(["--print-config"])
    assert r.returncode == 0, r.stderr
    names, section = [], None
    for line in r.stdout.splitlines():
        m = re.match(r"^(\w+) = \{$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^    (\w+) = ", line)
        if m:
            names.append(f"{section}.{m.group(1)}")
    assert len(names) > 60, names
    return names


def test_help_lists_type_default_and_reload():
    r = run(["--help"])
    assert r.returncode == 0, r.stderr
    entries = dict(re.findall(r"^  --([a-z_]+\.[a-z_]+)=.*?  \((.*)\)$", r.stdout, re.M))
    assert set(entries) == set(schema_from_print_config())
    for name, what in entries.items():
        assert what.endswith("; SIGHUP reloads") or what.endswith("; needs a restart"), what
    assert "  --turn.threads=0  (integer 0..256; needs a restart)\n" in r.stdout
    assert "  --turn.realm=icehub  (string, 1..127 bytes; SIGHUP reloads)\n" in r.stdout
    assert "  --quota.allocation_bps=0  (rate (bit/s) 0..1T; SIGHUP reloads)\n" in r.stdout
    assert "  --quota.period=month  (one of day, month; SIGHUP reloads)\n" in r.stdout
    assert '  --tls.cert=""  (file path; SIGHUP reloads)\n' in r.stdout
    assert '  --upgrade.socket=""  (string, 0..107 bytes; needs a restart)\n' in r.stdout
    # Each entry's next line is the setting's one-line description.
    assert re.search(r"--turn\.threads=0 .*\n      Worker threads; 0 means one per CPU\.\n",
                     r.stdout)


def conf(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    f.write(text)
    f.close()
    return f.name


def check_fails(args, want, env=None):
    r = run(["--check-config", *args], env=env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert want in r.stderr, r.stderr
    return r.stderr


def test_syntax_hints():
    cases = [
        ('quota = {\n  allocation_bps = 2M;\n};\n',
         ':2: syntax error; hint: a size with a suffix is a string: write allocation_bps = "2M";'),
        ('turn = {\n  realm = example.com;\n};\n',
         ':2: syntax error; hint: strings, addresses and words go in double quotes: '
         'write realm = "example.com";'),
        ('turn = {\n  listen = [0.0.0.0:3478];\n};\n',
         ':2: syntax error; hint: strings, addresses and words go in double quotes, in a list '
         'too: quote each item, as in listen = ["0.0.0.0:3478"];'),
        ('turn = {\n  threads = "4";\n};\n',
         ':2: turn.threads: expected an integer in 0..256, found "4" (a quoted value is a '
         'string in the file: write threads = 4; without quotes)'),
    ]
    for body, want in cases:
        path = conf(body)
        try:
            err = check_fails(["--config", path], path + want)
            assert err.startswith("icehubd: configuration error: "), err
        finally:
            os.unlink(path)


def test_flag_without_equals_gets_a_hint():
    r = run(["--turn.realm", "example.com"])
    assert r.returncode == 2
    want = ("icehubd: --turn.realm example.com: expected --turn.realm=VALUE, found the value as "
            "a separate argument; write --turn.realm=example.com\n")
    assert r.stderr == want, r.stderr
    r = run(["--check-config", "--signal.enabled", "off"])
    assert r.returncode == 2 and "write --signal.enabled=off" in r.stderr, r.stderr
    # A bare boolean switch is still a switch.
    r = run(["--check-config", "--admin.enabled", "--admin.token=0123456789abcdef",
             "--http.listen=127.0.0.1:8080"])
    assert r.returncode == 0, r.stderr


def test_pem_errors_name_the_source():
    with tempfile.TemporaryDirectory() as tmp:
        (cert, key), (_, key_b) = make_two_certs(tmp)
        der = os.path.join(tmp, "cert.der")
        subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER", "-out", der],
                       check=True)
        enc = os.path.join(tmp, "enc.pem")
        subprocess.run(["openssl", "pkey", "-in", key, "-aes128", "-passout", "pass:x",
                        "-out", enc], check=True)
        check_fails([f"--tls.cert={der}", f"--tls.key={key}"],
                    f'--tls.cert: expected a PEM certificate chain, found "{der}", which holds '
                    'no PEM certificate ("-----BEGIN CERTIFICATE-----")')
        check_fails([f"--tls.cert={cert}"],
                    f'ICEHUB_TLS_KEY: expected an unencrypted PEM private key, found "{cert}", '
                    'which holds no PEM private key ("PRIVATE KEY-----")',
                    env={"ICEHUB_TLS_KEY": cert})
        check_fails([f"--tls.cert={cert}", f"--tls.key={enc}"],
                    f'--tls.key: expected an unencrypted PEM private key, found "{enc}", an '
                    'encrypted key (icehubd asks for no passphrase)')
        path = conf(f'tls = {{\n  cert = "{cert}";\n  key = "{key_b}";\n}};\n')
        try:
            check_fails(["--config", path],
                        f'{path}:3: tls.key: expected the private key of tls.cert "{cert}", '
                        f'found "{key_b}", the key of another certificate')
            # The same at start, not only with --check-config.
            r = run(["--config", path, "--turn.listen=127.0.0.1:0", "--http.enabled=false",
                     "--signal.enabled=false"])
            assert r.returncode == 2 and f"{path}:3: tls.key: expected" in r.stderr, r.stderr
        finally:
            os.unlink(path)


def test_warnings_at_check_and_start():
    r = run(["--check-config", "--quota.allocation_burst=1000"])
    assert r.returncode == 0, r.stderr
    assert ("[config] --quota.allocation_burst: 1000 bytes is below the smallest burst, 4096; "
            "icehubd uses 4096") in r.stderr, r.stderr
    r = run(["--check-config"], env={"ICEHUB_HTTP_ENABLED": "false"})
    assert r.returncode == 0
    assert ("[config] ICEHUB_HTTP_ENABLED: http.enabled is false, so the signaling hub "
            "(signal.enabled) is not served") in r.stderr, r.stderr
    r = run(["--check-config", "--http.enabled=false", "--signal.enabled=false"])
    assert r.returncode == 0 and "warn" not in r.stderr, r.stderr
    for args, want in [
            (["--http.enabled=false", "--signal.enabled=false", "--admin.enabled=true"],
             "--admin.enabled: admin.enabled is true but http.enabled is false"),
            (["--http.tls_listen=127.0.0.1:8443"],
             "--http.tls_listen: no HTTPS/WSS listener starts without tls.cert"),
            (["--signal.ping_interval=60"],
             "signal.idle_timeout (default): 60 s is not above signal.ping_interval (60 s)")]:
        r = run(["--check-config", *args])
        assert r.returncode == 0 and f"[config] {want}" in r.stderr, (args, r.stderr)
    r = run(["--check-config"])
    assert r.returncode == 0 and "warn" not in r.stderr, r.stderr
    # At start the same lines go to the log.
    with Daemon("cli-warn", args=["--quota.allocation_burst=10"], http=False) as d:
        log = d.log()
    assert "--quota.allocation_burst: 10 bytes is below the smallest burst" in log, log
    assert "--http.enabled: http.enabled is false, so the signaling hub" in log, log


def settled_block(d):
    """The URL block once the daemon has written all of it: its lines come
    just after "ready", and a slow daemon (valgrind) may still be writing."""
    last = None
    while True:
        block = url_block(d.log())
        if block == last:
            return block
        last = block
        time.sleep(0.3 * SCALE)


def url_block(log):
    lines = log.splitlines()
    start = next(i for i, x in enumerate(lines) if "ready (pid" in x)
    assert lines[start].endswith("), serving:"), lines[start]
    block = []
    for x in lines[start + 1:]:
        m = re.match(r".* info  \[main\]   (.*)$", x)
        if not m:
            break
        block.append(m.group(1))
    return block


def test_start_logs_the_urls_it_serves():
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        with Daemon("cli-urls", tls=True,
                    args=[f"--tls.cert={cert}", f"--tls.key={key}", "--admin.enabled=true"]) as d:
            block = settled_block(d)
            p, hp, tp = d.port, d.http_port, d.tls_port
    assert block == [
        f"STUN/TURN  stun:127.0.0.1:{p}  turn:127.0.0.1:{p}?transport=udp  "
        f"turn:127.0.0.1:{p}?transport=tcp",
        f"TURN/TLS   turns:127.0.0.1:{tp}?transport=tcp",
        f"demo       http://127.0.0.1:{hp}/  signaling ws://127.0.0.1:{hp}/ws",
        f"metrics    http://127.0.0.1:{hp}/metrics",
        f"dashboard  http://127.0.0.1:{hp}/dashboard",
    ], block
    # A wildcard address says localhost and what it covers; public_host wins;
    # no hub, no demo; no HTTP, no web lines.
    with Daemon("cli-urls-any", listen_host="0.0.0.0",
                args=["--signal.enabled=false"]) as d:
        block = settled_block(d)
        p, hp = d.port, d.http_port
    assert block == [
        f"STUN/TURN  stun:localhost:{p}  turn:localhost:{p}?transport=udp  "
        f"turn:localhost:{p}?transport=tcp (every IPv4 address)",
        f"metrics    http://127.0.0.1:{hp}/metrics",
    ], block
    with Daemon("cli-urls-host", http=False,
                args=["--signal.enabled=false", "--signal.public_host=turn.example.com"]) as d:
        block = settled_block(d)
        p = d.port
    assert block == [f"STUN/TURN  stun:turn.example.com:{p}  turn:turn.example.com:{p}"
                     f"?transport=udp  turn:turn.example.com:{p}?transport=tcp"], block
