"""A full disk under nspod's state (a small tmpfs as the state folder):
every verb says so in one line with exit 1, and a running pod's watchdog
keeps supervising (restarts go on), keeps its state in memory and writes it,
with a StateWriteFailed event, once there is space again."""
import ctypes
import json
import os
import subprocess
import time

import pytest

from podtest import NSPOD, wait_for

POD = """apiVersion: v1
kind: Pod
metadata: {name: full}
spec:
  restartPolicy: Always
  volumes: [{name: out, hostPath: {path: OUT, type: Directory}}]
  containers:
  - name: app
    # While /out/noisy exists, 300 kB of output (its log writes fail on the full
    # disk), else one short line: logs freed by restarts (each start deletes the
    # log two back) are one page each, never room for the 300 kB.
    command: [sh, -c, "echo x >> /out/starts; if [ -e /out/noisy ]; then head -c 300000 /dev/zero | tr '\\\\0' y; echo; else echo started; fi; sleep 0.3; exit 1"]
    volumeMounts: [{name: out, mountPath: /out}]
"""

libc = ctypes.CDLL(None, use_errno=True)


@pytest.fixture
def small_state(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    if libc.mount(b"tmpfs", str(state).encode(), b"tmpfs", 0, b"size=2m,mode=0700") != 0:
        raise OSError(ctypes.get_errno(), "mount tmpfs")
    env = dict(os.environ, NSPOD_STATE_DIR=str(state), NSPOD_NODE_LINGER="1")
    yield state, env
    subprocess.run(NSPOD + ["rm", "-f", "full"], env=env, capture_output=True, timeout=60)
    pidfile = state / "node.pid"
    if pidfile.exists():  # the node holder of this state folder ends 1 s after its last pod
        pid = int(pidfile.read_text())
        wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
                 timeout=30, what="the node holder to end")
    libc.umount2(str(state).encode(), 2)


def cli(env, *args):
    return subprocess.run(NSPOD + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=90)


def fill(state):
    filler = state / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def status(env):
    return json.loads(cli(env, "inspect", "full").stdout)["status"]["containerStatuses"][0]


def test_full_disk(small_state, tmp_path):
    state, env = small_state
    out = tmp_path / "out"
    out.mkdir()
    manifest = tmp_path / "full.yaml"
    manifest.write_text(POD.replace("OUT", str(out)))
    assert cli(env, "run", manifest, "--backoff-base", "0").returncode == 0
    wait_for(lambda: status(env)["restartCount"] >= 1, what="a restart")
    filler = fill(state)
    (out / "noisy").touch()
    try:
        other = tmp_path / "other.yaml"
        other.write_text(POD.replace("OUT", str(out)).replace("name: full", "name: other"))
        done = cli(env, "run", other)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "disk is full" in done.stderr.strip().splitlines()[-1], done.stderr
        starts = len((out / "starts").read_text().split())
        time.sleep(3)  # restarts go on while nothing can be written
        assert len((out / "starts").read_text().split()) >= starts + 3
        for verb in (["ps"], ["inspect", "full"], ["describe", "full"]):
            done = cli(env, *verb)
            assert "Traceback" not in done.stderr and done.returncode in (0, 1), (verb, done.stderr)
    finally:
        (out / "noisy").unlink()
        filler.unlink()
    # Space again: the watchdog writes what it kept, and says what happened.
    wait_for(lambda: "StateWriteFailed" in cli(env, "describe", "full").stdout, timeout=20,
             what="the StateWriteFailed event")
    # Its output could not be logged meanwhile: dropped, said so, and logged again now.
    events = wait_for(lambda: (e := cli(env, "describe", "full").stdout) and "LogWriteResumed" in e and e,
                      timeout=20, what="the LogWriteResumed event")
    assert "LogWriteFailed" in events, events
    st = status(env)
    assert st["restartCount"] >= starts + 2
    assert "other" not in cli(env, "ps").stdout  # the failed run left nothing
