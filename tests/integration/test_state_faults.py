"""Faults of the state and of the input: each gets one clear line and the
documented exit code (1 runtime, 2 bad input), never a traceback, and
nothing is created. As an unprivileged user; the full disk is the root
tier's (tests/root/test_root_full_disk.py: it mounts a small tmpfs)."""
import os
import subprocess

import pytest

from podtest import NSPOD

POD = """apiVersion: v1
kind: Pod
metadata: {name: sf}
spec:
  containers:
  - {name: app, command: [sleep, "100"]}
"""


def cli(*args, env=None):
    return subprocess.run(NSPOD + [str(a) for a in args], capture_output=True, text=True, timeout=60,
                          env=env)


def one_clear_line(done, code):
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("Warning: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def test_binary_manifest_is_bad_input(tmp_path):
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"\xff\xfe\x00apiVersion: v1\n")
    line = one_clear_line(cli("run", f), 2)
    assert "not UTF-8" in line
    assert cli("ps").stdout.strip().splitlines()[1:] == []


def test_huge_manifest_is_bad_input(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_bytes(POD.encode() + b"#" * (5 << 20))
    assert "larger than" in one_clear_line(cli("run", f), 2)


def test_manifest_that_is_a_directory_is_bad_input(tmp_path):
    assert "directory" in one_clear_line(cli("run", tmp_path), 2)


@pytest.mark.parametrize("value", ["-3", "nan", "1e20"])
def test_stop_timeout_out_of_range_is_bad_input(value):
    assert "--timeout" in one_clear_line(cli("stop", "nopod", "--timeout", value), 2)


@pytest.fixture
def readonly_state(tmp_path):
    """A state folder whose database exists but may not be written."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env = dict(os.environ, NSPOD_STATE_DIR=str(state))
    assert cli("ps", env=env).returncode == 0  # makes the database
    for f in state.iterdir():
        f.chmod(0o400)
    state.chmod(0o500)
    yield env
    state.chmod(0o700)


@pytest.mark.parametrize("verb", [
    ["run", "POD"], ["ps"], ["inspect", "sf"], ["describe", "sf"], ["logs", "sf"],
    ["stop", "sf"], ["start", "sf"], ["rm", "-f", "sf"], ["exec", "sf", "--", "true"],
])
def test_every_verb_on_unwritable_state_says_so_in_one_line(readonly_state, tmp_path, verb):
    f = tmp_path / "pod.yaml"
    f.write_text(POD)
    args = [f if a == "POD" else a for a in verb]
    line = one_clear_line(cli(*args, env=readonly_state), 1)
    assert "state" in line and str(readonly_state["NSPOD_STATE_DIR"]) in line, line


def test_state_folder_that_cannot_be_made(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        env = dict(os.environ, NSPOD_STATE_DIR=str(parent / "state"))
        assert "state folder" in one_clear_line(cli("ps", env=env), 1)
    finally:
        parent.chmod(0o700)
