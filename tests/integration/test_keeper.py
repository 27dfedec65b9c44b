"""The keeper (nspod-keeper, the node holder) and the Python supervisor, its
child: the supervisor leaves when no pod needs it, and the keeper holds the
pods alone (their processes, their output FIFOs, which it writes to the
logs) until a command or a process's end needs the supervisor again; a
supervisor that dies is started again, and no exit status is lost.

The supervisor's idle time is 1 s here (NSPOD_SUPERVISOR_IDLE, read by the
supervisor the keeper starts): the module begins and ends with no node
holder running, so its own starts with that setting."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from nspod.kernel import process
from nspod.node import node_pid
from podtest import nspod, state_dir, supervisor_pid, wait_for


def end_node_holder():
    """Stop the running node holder, if any (no pod runs between tests)."""
    pid = node_pid()
    started = process.start_time(pid) if pid else None
    if started and process.kill(pid, started, signal.SIGTERM):
        wait_for(lambda: not process.alive(pid, started), timeout=15, what="the node holder to end")


@pytest.fixture(autouse=True, scope="module")
def quick_to_leave():
    end_node_holder()
    os.environ["NSPOD_SUPERVISOR_IDLE"] = "1"
    try:
        yield
    finally:
        del os.environ["NSPOD_SUPERVISOR_IDLE"]
        end_node_holder()


def manifest(name, command, policy="Always"):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"restartPolicy": policy, "terminationGracePeriodSeconds": 0,
                                "containers": [{"name": "app", "command": command}]}})


# Waits for /tmp/go (made by `nspod exec`, which needs no supervisor), then says so and exits 3.
GO_THEN_EXIT = ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo went; exit 3"]


def supervisor_gone():
    return wait_for(lambda: supervisor_pid() is None, timeout=20, what="the supervisor to leave")


def node_log():
    return (state_dir() / "node.log").read_text(errors="replace")


def test_the_supervisor_leaves_and_the_keeper_holds_the_pod(pods):
    pods.run(manifest("held", ["sleep", "1000"]))
    keeper = node_pid()
    with open(f"/proc/{keeper}/comm") as f:
        assert f.read().strip() == "nspod-node"
    supervisor = supervisor_pid()
    assert supervisor, "a supervisor runs while `run` waits on it"
    assert pods.inspect("held")["nspod"]["watchdog"] == {"pid": supervisor, "process": "nspod-supervise"}
    supervisor_gone()
    info = pods.inspect("held")
    # Still Running, not Unknown: the keeper vouches for it (inspect names it).
    assert info["status"]["phase"] == "Running"
    assert info["nspod"]["watchdog"] == {"pid": keeper, "process": "nspod-keeper"}
    container = info["nspod"]["containers"][0]["pid"]
    assert process.parent_of(container) == keeper  # its exit status will be the keeper's
    assert process.parent_of(info["nspod"]["pause"]["pid"]) == keeper
    # A command that needs a supervisor gets one, which resumes the pod quietly.
    nspod("stop", "held")
    info = pods.inspect("held")
    assert info["nspod"]["containers"][0]["pid"] is None and info["nspod"]["pause"]["pid"] is None
    assert "Adopted" not in nspod("describe", "held").stdout


def test_an_exit_while_no_supervisor_runs_is_restarted_with_its_exit_code(pods):
    pods.run(manifest("exits", GO_THEN_EXIT))
    supervisor_gone()
    first = pods.inspect("exits")["nspod"]["containers"][0]["pid"]
    nspod("exec", "exits", "--", "touch", "/tmp/go")
    st = wait_for(lambda: (s := pods.status("exits", "app"))["restartCount"] == 1 and "running" in s["state"] and s,
                  what="the container to be restarted")
    assert st["lastState"]["terminated"]["exitCode"] == 3
    assert st["lastState"]["terminated"]["reason"] == "Error"
    assert pods.inspect("exits")["nspod"]["containers"][0]["pid"] != first
    assert "a pod's process ended" in node_log()
    # Its output came through the FIFO the keeper held, into the first instance's log.
    assert "went" in nspod("logs", "exits", "--previous").stdout


def test_output_while_no_supervisor_runs_is_logged_by_the_keeper(pods):
    # While no supervisor runs, the keeper writes the log itself: a long line
    # cut into P records, a "\r\n" line, a line left unterminated, and 12 MB
    # more (the log rotates) wake no supervisor.
    script = ("while [ ! -e /tmp/go ]; do sleep 0.05; done; "
              "head -c 40000 /dev/zero | tr '\\0' a; echo; printf 'dos\\r\\n'; "
              "yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
              " | head -n 120000; echo end-of-burst; printf half; "
              "while [ ! -e /tmp/go2 ]; do sleep 0.05; done; echo -done; sleep 1000")
    pods.run(manifest("talks", ["sh", "-c", script]))
    supervisor_gone()
    woken = node_log().count("a container wrote output")  # (node.log holds the tier's earlier tests too)
    nspod("exec", "talks", "--", "touch", "/tmp/go")
    logs = state_dir() / "pods" / "talks" / "logs" / "app"

    def all_written():  # (up to the last whole line; "half" waits for its newline)
        try:
            return (logs / "0.log").read_bytes().endswith(b" stdout F end-of-burst\n")
        except FileNotFoundError:  # (the keeper is rotating it)
            return False

    wait_for(all_written, timeout=30, what="the output to be written")
    assert supervisor_pid() is None
    assert node_log().count("a container wrote output") == woken
    assert sorted(p.name for p in logs.iterdir() if ".log" in p.name) == ["0.log", "0.log.1"]
    assert all(p.stat().st_size <= 10 << 20 for p in logs.iterdir() if ".log" in p.name)
    records = (logs / "0.log.1").read_bytes().split(b"\n", 4)
    assert [r.split(b" ")[1:3] for r in records[:4]] == [[b"stdout", b"P"], [b"stdout", b"P"],
                                                         [b"stdout", b"F"], [b"stdout", b"F"]]
    assert len(records[0].split(b" ", 3)[3]) == 16384 and records[3].split(b" ", 3)[3] == b"dos"
    # A command that needs a supervisor starts one: it takes the log over where the keeper left it.
    pods.run(manifest("other", ["sleep", "1000"]))
    nspod("exec", "talks", "--", "touch", "/tmp/go2")
    wait_for(lambda: nspod("logs", "talks", "--tail", "1").stdout == "half-done\n", what="the last line")
    lines = nspod("logs", "talks").stdout.splitlines()
    assert len(lines) == 2 + 120000 + 2 and lines[0] == "a" * 40000 and lines[1] == "dos"
    assert lines[-2] == "end-of-burst"
    assert pods.status("talks", "app")["restartCount"] == 0


def test_an_instance_that_ends_while_the_keeper_writes_its_log_keeps_its_last_words(pods):
    # Its output and its unterminated last line are in its own log; the
    # next instance writes the next one.
    pods.run(manifest("last", ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; "
                                           "echo whole; printf partial; exit 4"]))
    supervisor_gone()
    nspod("exec", "last", "--", "touch", "/tmp/go")
    st = wait_for(lambda: (s := pods.status("last", "app"))["restartCount"] == 1 and "running" in s["state"] and s,
                  what="the container to be restarted")
    assert st["lastState"]["terminated"]["exitCode"] == 4
    assert nspod("logs", "last", "--previous").stdout.splitlines() == ["whole", "partial"]
    first = (state_dir() / "pods" / "last" / "logs" / "app" / "0.log").read_bytes().splitlines()
    assert [r.split(b" ", 2)[2] for r in first] == [b"F whole", b"P partial"]
    assert nspod("logs", "last").stdout == ""


def test_the_crash_loop_back_off_goes_on_across_supervisors(pods):
    # Each instance runs 3 s, so the supervisor (idle after 1 s) leaves before
    # it ends, and the next one resumes the pod: the second exit must still
    # wait the back-off (3 s here), not restart at once as a first exit does.
    woken = node_log().count("a pod's process ended")
    pods.run(manifest("loops", ["sh", "-c", "sleep 3; exit 1"]), "--backoff-base", "3s")
    wait_for(lambda: pods.status("loops", "app")["restartCount"] == 2, timeout=30,
             what="the second restart")
    assert node_log().count("a pod's process ended") >= woken + 2  # (both exits came while no supervisor ran)
    assert "Back-off restarting failed container app" in nspod("describe", "loops").stdout


def test_a_killed_supervisor_is_started_again_and_loses_no_exit_status(pods):
    pods.run(manifest("kept", GO_THEN_EXIT))
    pods.run(manifest("writer", ["sh", "-c", "while :; do echo line; sleep 0.01; done"]))
    writer = pods.inspect("writer")["nspod"]["containers"][0]["pid"]
    supervisor = supervisor_pid()  # (it has just started the pods: it has not left yet)
    started = process.start_time(supervisor)
    os.kill(supervisor, signal.SIGKILL)
    # The container ends while no supervisor runs: the keeper, its parent, reaps it.
    nspod("exec", "kept", "--", "touch", "/tmp/go")
    wait_for(lambda: supervisor_pid() not in (None, supervisor), what="the keeper to start a supervisor again")
    assert not process.alive(supervisor, started)
    st = wait_for(lambda: (s := pods.status("kept", "app"))["restartCount"] == 1 and s,
                  what="the ended container to be restarted")
    assert st["lastState"]["terminated"]["exitCode"] == 3  # not ContainerStatusUnknown
    assert "Adopted" in nspod("describe", "kept").stdout  # (its supervisor died: adopted, not resumed)
    # The writer never met a FIFO without a reader (the keeper holds them): no SIGPIPE, no restart.
    info = pods.inspect("writer")
    assert info["nspod"]["containers"][0]["pid"] == writer
    assert info["status"]["containerStatuses"][0]["restartCount"] == 0
    assert "ended by signal 9 without handing its pods over" in node_log()


def test_removing_a_held_pod_leaves_the_keeper_and_the_other_pods(pods):
    pods.run(manifest("one", ["sleep", "1000"]))
    pods.run(manifest("two", ["sleep", "1000"]))
    supervisor_gone()
    keeper = node_pid()
    nspod("rm", "-f", "one")
    assert node_pid() == keeper and process.alive(keeper, process.start_time(keeper))
    info = pods.inspect("two")
    assert info["status"]["phase"] == "Running"
    assert process.alive(info["nspod"]["containers"][0]["pid"], process.start_time(info["nspod"]["containers"][0]["pid"]))
    supervisor_gone()  # and it leaves again


def test_a_pod_that_needs_the_supervisor_keeps_it(pods):
    probed = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed"},
              "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                  "name": "app", "command": ["sleep", "1000"],
                  "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}]}}
    pods.run(json.dumps(probed))
    supervisor = supervisor_pid()
    time.sleep(3)  # three times its idle time
    assert supervisor_pid() == supervisor


def test_a_missing_keeper_is_a_clear_error_and_starts_nothing(tmp_path):
    end_node_holder()
    path = tmp_path / "p.yaml"
    path.write_text(manifest("nokeeper", ["sleep", "1000"]))
    code = ("import sys, nspod.node; nspod.node.KEEPER = '/nonexistent/nspod-keeper'; "
            "from nspod.cli import main; sys.exit(main(['run', sys.argv[1]]))")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done
    assert "the node holder did not start: /nonexistent/nspod-keeper: No such file or directory" in done.stderr
    assert node_pid() is None or not os.path.exists(f"/proc/{node_pid()}")
    assert not (state_dir() / "node.sock").exists()
    nspod("rm", "-f", "nokeeper", check=False)  # (its row, if `run` made one before the node holder)
