"""Revocations that survive a restart: POST /api/users/{name}/revoke writes
revocations.json beside the ledger (mode 0600, replaced atomically); a new
icehubd reads it and refuses the user's Allocate with 403 "Forbidden (user
revoked)" from its first packet; a revocation ends at its ttl (the user may
allocate again and the file forgets it); un-revoking empties the file; a
reload that moves admin.revocations_file writes the list to the new file; a
file that is not ours stops the start with exit 2 and says why."""
import json
import os
import signal
import stat
import subprocess
import tempfile
import urllib.request

from harness import BIN, Daemon, wait_for
from turnclient import TurnClient, error_code

TOKEN = "revoke-test-token-0123456789"
USERS = "--turn.users=alice:pw-a,bob:pw-b"


def rdaemon(name, extra=(), config=None):
    return Daemon(name, args=[USERS, "--admin.enabled=true", f"--admin.token={TOKEN}"] +
                  list(extra), config=config)


def api(d, method, path):
    req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}{path}", method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def allocate(d, user, pw):
    c = TurnClient(d.port, user, pw)
    cls, attrs, _ = c.allocate()
    c.close()
    return error_code(attrs) if cls == 3 else 200


def on_file(path):
    with open(path) as f:
        j = json.load(f)
    return {e["user"]: e for e in j["revoked"]}


def test_revocations_survive_a_restart_and_expire():
    tmp = tempfile.TemporaryDirectory()
    ledger = os.path.join(tmp.name, "ledger.jsonl")
    rfile = os.path.join(tmp.name, "revocations.json")
    args = [f"--ledger.path={ledger}"]
    try:
        with rdaemon("revoke-1", args) as d:
            st, j = api(d, "POST", "/api/users/alice/revoke")
            assert st == 200 and j["changed"] and j["persisted"] and j["until"], j
            st, j = api(d, "POST", "/api/users/bob/revoke?ttl=3")
            assert st == 200 and j["persisted"], j
            assert api(d, "POST", "/api/users/bob/revoke?ttl=0")[0] == 400
            assert stat.S_IMODE(os.stat(rfile).st_mode) == 0o600
            assert set(on_file(rfile)) == {"alice", "bob"}
            assert not os.path.exists(rfile + ".tmp")
        # A new process blocks them from its start.
        with rdaemon("revoke-2", args) as d:
            assert "revocations kept in" in d.log()
            st, j = api(d, "GET", "/api/users/revoked")
            assert j["users"] == ["alice", "bob"], j
            assert {e["user"] for e in j["revocations"]} == {"alice", "bob"}
            assert allocate(d, "alice", "pw-a") == (403, "Forbidden (user revoked)")
            assert d.metrics()["icehub_revocations"] == 2
            # bob's revocation ends by itself; the file forgets it.
            assert wait_for(lambda: allocate(d, "bob", "pw-b") == 200, 6.0)
            assert wait_for(lambda: set(on_file(rfile)) == {"alice"}, 2.0)
            assert "the revocation of user \"bob\" expired" in d.log()
            assert api(d, "DELETE", "/api/users/alice/revoke")[0] == 200
            assert on_file(rfile) == {}
        with rdaemon("revoke-3", args) as d:
            assert allocate(d, "alice", "pw-a") == 200
            assert api(d, "GET", "/api/users/revoked")[1]["users"] == []
    finally:
        tmp.cleanup()


def test_revocations_file_moves_on_reload_and_bad_file_stops_start():
    tmp = tempfile.TemporaryDirectory()
    a, b = os.path.join(tmp.name, "a.json"), os.path.join(tmp.name, "b.json")
    conf = os.path.join(tmp.name, "icehub.conf")

    def write_conf(path):
        with open(conf, "w") as f:
            f.write(f'admin = {{ revocations_file = "{path}"; }};\n')
    try:
        write_conf(a)
        with rdaemon("revoke-move", config=conf) as d:
            assert api(d, "POST", "/api/users/alice/revoke")[0] == 200
            assert set(on_file(a)) == {"alice"}
            write_conf(b)
            d.send_signal(signal.SIGHUP)
            assert wait_for(lambda: os.path.exists(b) and set(on_file(b)) == {"alice"}, 3.0)
            assert allocate(d, "alice", "pw-a")[0] == 403
        with open(b, "w") as f:
            f.write('{"version": 1, "revoked": [{"user": "alice"}]}\n')
        write_conf(b)
        r = subprocess.run([BIN, "--config", conf, "--turn.listen=127.0.0.1:0",
                            "--http.listen=127.0.0.1:0"], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "admin.revocations_file" in r.stderr and b in r.stderr and "entry 0" in r.stderr, \
            r.stderr
    finally:
        tmp.cleanup()
