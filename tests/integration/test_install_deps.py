"""deploy/install-deps.sh: it leaves every service as it found it. The script
runs for real, in a scratch copy of the tree, with stand-ins on PATH for the
commands that would change the machine (apt-get, dpkg, systemctl, sudo, npm,
pkill): they keep a log and a fake package and service state, so the test sees
every call the script makes. Checked: nothing is stopped, disabled or killed
that the install did not start or enable itself; policy-rc.d is in place
while apt-get runs and gone afterwards, unless it was the machine's own; the
build-only set is what `make` installs and what README names."""
import os
import shutil
import subprocess
import tempfile

from harness import ROOT

SCRIPT = os.path.join(ROOT, "deploy", "install-deps.sh")

# Each stand-in logs "NAME ARGS" to $STUB/log. State files under $STUB:
# installed (packages), active and enabled (service units), files/PKG (what
# `dpkg -L PKG` lists), postinst/PKG (a shell snippet apt-get runs after
# "installing" PKG), apt_rc (apt-get's exit status).
STUBS = {
    "dpkg-query": """
pkg=$(eval echo \\${$#})
grep -qx "$pkg" "$STUB/installed" && echo "install ok installed"
exit 0
""",
    "dpkg": """
[ "$1" = -L ] && cat "$STUB/files/$2" 2>/dev/null
exit 0
""",
    "apt-get": """
if [ "$1" = install ]; then
    if [ -x "$POLICY" ]; then sh "$POLICY" x start; echo "policy-rc.d $?" >>"$STUB/log"
    else echo "policy-rc.d none" >>"$STUB/log"; fi
    [ -f "$STUB/apt_rc" ] && exit "$(cat "$STUB/apt_rc")"
    for p in "$@"; do
        case $p in -*|install) continue ;; esac
        echo "$p" >>"$STUB/installed"
        [ -f "$STUB/postinst/$p" ] && . "$STUB/postinst/$p"
    done
fi
exit 0
""",
    "systemctl": """
case $1 in
is-system-running) echo running ;;
list-units) cat "$STUB/active" ;;
list-unit-files) sed 's/$/ enabled enabled/' "$STUB/enabled" ;;
stop) grep -vx "$2" "$STUB/active" >"$STUB/t" || true; mv "$STUB/t" "$STUB/active" ;;
disable) grep -vx "$2" "$STUB/enabled" >"$STUB/t" || true; mv "$STUB/t" "$STUB/enabled" ;;
esac
exit 0
""",
    "sudo": 'exec "$@"\n',
    "id": "echo 1000\n",
    "node": "exit 0\n",
    "npm": "exit 0\n",
    "pkill": "exit 0\n",
    "killall": "exit 0\n",
    "kill": "exit 0\n",
    "service": "exit 0\n",
    "invoke-rc.d": "exit 0\n",
}

BUILD = ["build-essential", "pkg-config", "libwebsockets-dev", "libssl-dev", "libconfig-dev",
         "libjansson-dev", "liburing-dev", "libev-dev", "libwebsockets-evlib-ev", "libhiredis-dev",
         "libnice-dev", "libsrtp2-dev", "libglib2.0-dev",
         "libwebsockets-evlib-glib"]


class Sandbox:
    def __init__(self, installed, active=(), enabled=(), files=None, postinst=None):
        self.dir = tempfile.mkdtemp(prefix="icehub-deps-")
        self.stub = os.path.join(self.dir, "stub")
        self.policy = os.path.join(self.dir, "policy-rc.d")
        bindir = os.path.join(self.dir, "bin")
        for d in (self.stub, bindir, os.path.join(self.stub, "files"),
                  os.path.join(self.stub, "postinst")):
            os.makedirs(d)
        for name, body in STUBS.items():
            path = os.path.join(bindir, name)
            with open(path, "w") as f:
                f.write(f'#!/bin/sh\necho "{name} $*" >>"$STUB/log"\n{body}')
            os.chmod(path, 0o755)
        self.write("installed", installed)
        self.write("active", active)
        self.write("enabled", enabled)
        self.write("log", [])
        for pkg, lines in (files or {}).items():
            self.write(os.path.join("files", pkg), lines)
        for pkg, text in (postinst or {}).items():
            with open(os.path.join(self.stub, "postinst", pkg), "w") as f:
                f.write(text)
        # A copy of the tree's parts the script reads, with playwright-core
        # already at the pinned version (so npm stays out of it).
        repo = os.path.join(self.dir, "repo")
        os.makedirs(os.path.join(repo, "deploy"))
        shutil.copy(SCRIPT, os.path.join(repo, "deploy"))
        for npm_dir in (os.path.join("tests", "browser"), "ice"):
            mods = os.path.join(repo, npm_dir, "node_modules", "playwright-core")
            os.makedirs(mods)
            shutil.copy(os.path.join(ROOT, npm_dir, "package.json"),
                        os.path.join(repo, npm_dir))
            shutil.copy(os.path.join(ROOT, npm_dir, "node_modules", "playwright-core",
                                     "package.json"), mods)
        # The deployment tests' npm half, already installed and up to date.
        dep = os.path.join(repo, "tests", "deploy")
        os.makedirs(os.path.join(dep, "node_modules"))
        shutil.copy(os.path.join(ROOT, "tests", "deploy", "package-lock.json"), dep)
        shutil.copy(os.path.join(ROOT, "tests", "deploy", "package-lock.json"),
                    os.path.join(dep, "node_modules", ".package-lock.json"))
        self.script = os.path.join(repo, "deploy", "install-deps.sh")
        self.env = {"PATH": bindir + ":/usr/bin:/bin", "STUB": self.stub,
                    "POLICY": self.policy, "ICEHUB_POLICY_RC_D": self.policy}

    def write(self, name, lines):
        with open(os.path.join(self.stub, name), "w") as f:
            f.write("".join(x + "\n" for x in lines))

    def read(self, name):
        with open(os.path.join(self.stub, name)) as f:
            return [x for x in f.read().splitlines() if x]

    def run(self, *args, rc=0):
        r = subprocess.run(["sh", self.script, *args], env=self.env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == rc, (r.returncode, r.stdout, r.stderr, self.read("log"))
        return r.stdout + r.stderr

    def calls(self, name):
        return [x[len(name) + 1:] for x in self.read("log") if x.split(" ")[0] == name]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def full_list():
    r = subprocess.run(["sh", SCRIPT, "--list"], capture_output=True, text=True, check=True)
    return r.stdout.split()


def assert_nothing_killed(sb):
    for name in ("pkill", "killall", "kill", "service", "invoke-rc.d"):
        assert not sb.calls(name), (name, sb.calls(name))


def test_install_deps_lists():
    r = subprocess.run(["sh", SCRIPT, "--list", "--build-only"], capture_output=True,
                       text=True, check=True)
    assert r.stdout.split() == BUILD, r.stdout
    full = full_list()
    assert full[:len(BUILD)] == BUILD and len(set(full)) == len(full) > len(BUILD)
    for p in ("libcmocka-dev", "coturn", "chromium", "prometheus", "clang"):
        assert p in full, p
    # README says which packages `make` installs: exactly the build set.
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for p in BUILD:
        assert f"`{p}`" in readme, f"README.md does not name the build package {p}"
    r = subprocess.run(["sh", SCRIPT, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "--build-only" in r.stderr


def test_install_deps_nothing_missing_touches_nothing():
    sb = Sandbox(installed=full_list(), active=["coturn.service"],
                 enabled=["coturn.service"])
    try:
        out = sb.run()
        assert "all packages present" in out, out
        assert sb.calls("apt-get") == [] and sb.calls("systemctl") == []
        assert not os.path.exists(sb.policy)
        assert_nothing_killed(sb)
        assert sb.run("--quiet") == ""
    finally:
        sb.close()


def test_install_deps_keeps_user_services():
    """The user runs a turnserver of their own as coturn.service and an
    unrelated nginx starts meanwhile; the install brings coturn's and
    prometheus's packages, whose postinst scripts enable and start their units
    (as if policy-rc.d were ignored). Only prometheus.service, which this
    install started and enabled, is stopped and disabled again."""
    installed = [p for p in full_list() if p not in ("coturn", "prometheus", "libcmocka-dev")]
    start = 'echo {0} >>"$STUB/active"; echo {0} >>"$STUB/enabled"\n'
    sb = Sandbox(installed=installed, active=["coturn.service", "ssh.service"],
                 enabled=["coturn.service", "ssh.service"],
                 files={"coturn": ["/lib/systemd/system/coturn.service", "/usr/bin/turnserver"],
                        "prometheus": ["/lib/systemd/system/prometheus.service"]},
                 postinst={"coturn": start.format("coturn.service"),
                           "prometheus": start.format("prometheus.service") +
                           'echo nginx.service >>"$STUB/active"\n'})
    try:
        out = sb.run()
        installs = [c for c in sb.calls("apt-get") if c.startswith("install")]
        assert len(installs) == 1
        assert installs[0].split()[-3:] == ["libcmocka-dev", "coturn", "prometheus"], installs
        assert sb.calls("policy-rc.d") == ["101"], "policy-rc.d was not in place for apt-get"
        assert not os.path.exists(sb.policy), "the added policy-rc.d was left behind"
        changes = [c for c in sb.calls("systemctl") if c.split()[0] in ("stop", "disable")]
        assert changes == ["stop prometheus.service", "disable prometheus.service"], changes
        assert "coturn.service" in sb.read("active") and "coturn.service" in sb.read("enabled")
        assert "nginx.service" in sb.read("active") and "ssh.service" in sb.read("active")
        assert "stopping prometheus.service" in out, out
        assert_nothing_killed(sb)
    finally:
        sb.close()


def test_install_deps_keeps_own_policy_rc_d():
    sb = Sandbox(installed=[p for p in full_list() if p != "coturn"])
    mine = "#!/bin/sh\n# the machine's own\nexit 101\n"
    with open(sb.policy, "w") as f:
        f.write(mine)
    os.chmod(sb.policy, 0o755)
    try:
        sb.run()
        assert sb.calls("policy-rc.d") == ["101"]
        with open(sb.policy) as f:
            assert f.read() == mine
        assert_nothing_killed(sb)
    finally:
        sb.close()


def test_install_deps_build_only():
    sb = Sandbox(installed=[p for p in full_list() if p not in ("libssl-dev", "libcmocka-dev")])
    try:
        sb.run("--build-only")
        installs = [c for c in sb.calls("apt-get") if c.startswith("install")]
        assert len(installs) == 1 and installs[0].split()[-1] == "libssl-dev", installs
        assert "libcmocka-dev" not in installs[0]
        assert sb.calls("npm") == [] and sb.calls("node") == []
        assert not os.path.exists(sb.policy)
    finally:
        sb.close()


def test_install_deps_failed_install_cleans_up():
    sb = Sandbox(installed=[p for p in full_list() if p != "coturn"])
    with open(os.path.join(sb.stub, "apt_rc"), "w") as f:
        f.write("100\n")
    try:
        sb.run(rc=100)
        assert sb.calls("policy-rc.d") == ["101"]
        assert not os.path.exists(sb.policy), "policy-rc.d left behind after a failed install"
        assert [c for c in sb.calls("systemctl") if c.split()[0] in ("stop", "disable")] == []
    finally:
        sb.close()


def test_install_deps_text_never_kills():
    """Belt and braces: the script names no command that ends processes, and
    stops or disables units only inside restore_services."""
    with open(SCRIPT) as f:
        text = f.read()
    code = "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#"))
    for word in ("pkill", "killall", "kill ", "invoke-rc.d", "start-stop-daemon"):
        assert word not in code, word
    assert code.count("systemctl stop") == 1 and code.count("systemctl disable") == 1
