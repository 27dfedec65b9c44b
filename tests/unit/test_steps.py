"""--explain's pure parts: the step line (nspod/steps.py), the mount(8)
equivalents, and the text the CLI prints (nspod/steplog.py)."""
import json
import os

import pytest

from nspod import steps, steplog
from nspod.kernel import mounts


@pytest.fixture
def pipe():
    r, w = steps.open_sink()
    before = steps.explaining(w, "tester")
    yield r, w
    steps.restore(before)
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_a_step_is_one_json_line_with_who_where_what(pipe):
    r, _ = pipe
    steps.tell("unshare(CLONE_NEWNS)", by_hand="unshare --mount")
    step = json.loads(os.read(r, 65536))
    assert step["role"] == "tester" and step["pid"] == os.getpid()
    assert step["ns"]["net"] == os.readlink("/proc/self/ns/net")
    assert (step["call"], step["result"], step["by_hand"]) == ("unshare(CLONE_NEWNS)", "", "unshare --mount")


def test_a_long_field_is_cut_so_a_line_fits_one_atomic_write(pipe):
    r, _ = pipe
    steps.tell("mount(" + "x" * 10000 + ")", by_hand="y" * 10000)
    line = os.read(r, 65536)
    assert len(line) < 4096 and line.endswith(b"\n")
    assert json.loads(line)["call"].endswith("…")


def test_a_full_pipe_loses_steps_and_never_blocks(pipe):
    r, w = pipe
    for _ in range(20000):  # far more than the pipe holds: a writer that blocked would hang here
        steps.tell("write(cpu.max)", by_hand="echo")
    assert steps.sink == w  # still telling: a reader that catches up gets what comes next


def test_a_reader_gone_stops_the_telling(pipe):
    r, _ = pipe
    os.close(r)
    steps.tell("fork()")
    assert steps.sink is None


def test_off_tells_nothing():
    assert steps.sink is None
    steps.become("somebody")  # a no-op when not explaining
    assert steps.role != "somebody"


def test_setns_fd_named_by_its_path(pipe):
    from nspod.kernel import namespaces

    fd = namespaces.open_ns(os.getpid(), "net")
    try:
        assert steps.fd_name(fd) == f"/proc/{os.getpid()}/ns/net"
    finally:
        os.close(fd)


@pytest.mark.parametrize("args, command", [
    (("tmpfs", "/r/dev", "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV, "mode=0755"),
     "mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /r/dev"),
    (("/usr", "/r/usr", None, mounts.MS_BIND | mounts.MS_REC, None), "mount --rbind /usr /r/usr"),
    (("/dev/null", "/r/dev/null", None, mounts.MS_BIND, None), "mount --bind /dev/null /r/dev/null"),
    ((None, "/r/usr", None, mounts.MS_REMOUNT | mounts.MS_BIND | mounts.MS_RDONLY, None),
     "mount -o remount,bind,ro /r/usr"),
    ((None, "/", None, mounts.MS_REC | mounts.MS_PRIVATE, None), "mount --make-rprivate /"),
    (("proc", "/r/proc", "proc", mounts.MS_NOSUID | mounts.MS_NODEV | mounts.MS_NOEXEC, None),
     "mount -t proc -o nosuid,nodev,noexec proc /r/proc"),
])
def test_mount_by_hand(args, command):
    assert mounts.by_hand(*args) == command


def test_render_shows_namespaces_under_the_first_step_and_when_they_change():
    seen = {}
    ns = {"user": "user:[1]", "net": "net:[2]"}
    text = steplog.render({"pid": 7, "role": "app", "ns": ns, "call": "fork()", "result": "8 (x)",
                           "by_hand": ""}, seen)
    assert text == "[app 7] fork() -> 8 (x)\n        in user:[1] net:[2]\n"
    text = steplog.render({"pid": 7, "role": "app", "ns": {**ns, "net": "net:[3]"},
                           "call": "setns(/proc/5/ns/net, CLONE_NEWNET)", "result": "net:[3]",
                           "by_hand": "nsenter --target 5 --net"}, seen)
    first, second = text.splitlines()
    assert first.startswith("[app 7] setns(/proc/5/ns/net, CLONE_NEWNET) -> net:[3] ")
    assert first.endswith("  # nsenter --target 5 --net")
    assert second == "        now in net:[3]"
    text = steplog.render({"pid": 7, "role": "app", "ns": {**ns, "net": "net:[3]"}, "call": "x()",
                           "result": "", "by_hand": ""}, seen)
    assert text == "[app 7] x()\n"


def test_a_child_with_sigpipe_default_survives_a_reader_gone():
    """A container's child restores SIGPIPE's default before its first step:
    a reader that went away must cost the steps, not the container."""
    import subprocess
    import sys

    code = ("import os, signal; from nspod import steps; r, w = os.pipe(); os.close(r); "
            "signal.signal(signal.SIGPIPE, signal.SIG_DFL); steps.explaining(w, 'app'); "
            "steps.tell('setns()'); print('alive', steps.sink)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "alive None\n"), done.stderr
