"""The NAT lab's cleanup (tests/natlab/run.sh): a run interrupted while its network
namespaces exist, its icehubd runs and its browsers start, with SIGTERM to the shell
(as a CI runner cancelling a job does) or SIGKILL to natlab.py itself, leaves no
namespace of that run and no process inside one. Needs root, like the lab."""
import os
import signal
import subprocess

from harness import ARTIFACTS, ROOT, wait_for

RUN_SH = os.path.join(ROOT, "tests", "natlab", "run.sh")


def namespaces(prefix):
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def interrupted_run(kill):
    """Starts a small run, waits until its hub is up, calls kill(shell); returns the
    namespaces of the run that are left, and the shell's exit status."""
    log = open(os.path.join(ARTIFACTS, "natlab-trap.log"), "ab")
    p = subprocess.Popen(["bash", RUN_SH, "--only", "cone-cone", "--no-docs"], stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    prefix = f"natlab-{p.pid}-"
    try:
        # The server's namespace and the hub inside it: well into the run.
        assert wait_for(lambda: any(ns.endswith("-srv") for ns in namespaces(prefix)) and
                        any(subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                           text=True).stdout.strip()
                            for ns in namespaces(prefix) if ns.endswith("-srv")),
                        timeout=60, interval=0.2), "the run never started its hub"
        # The hosts' namespaces may still be coming up on a busy machine.
        assert wait_for(lambda: len(namespaces(prefix)) > 10, timeout=60, interval=0.2), \
            namespaces(prefix)
        kill(p)
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()
    return namespaces(prefix), rc


def natlab_py(shell):
    """The natlab.py that the shell started."""
    out = subprocess.run(["pgrep", "-P", str(shell.pid), "-f", "natlab.py"],
                         capture_output=True, text=True).stdout.split()
    assert out, "no natlab.py under the shell"
    return int(out[0])


def test_natlab_trap_removes_everything():
    assert os.geteuid() == 0, "the NAT lab needs root (network namespaces)"
    left, rc = interrupted_run(lambda p: p.send_signal(signal.SIGTERM))
    assert left == [] and rc == 143, (left, rc)
    # natlab.py killed outright: its own cleanup never runs; the shell's trap does it.
    left, rc = interrupted_run(lambda p: os.kill(natlab_py(p), signal.SIGKILL))
    assert left == [], left
    assert rc != 0, rc
