"""The fault tier: each nspod process killed (kill -9) at the moments that
matter, then what the next command makes of it, and `rm -f` leaves nothing
(the autouse leak check). Deterministic: the points are named in the code
(nspod/faults.py, NSPOD_FAULT) and the process kills are by pid."""
import os
import signal
import subprocess

import pytest

from nspod.node import node_pid
from podtest import NSPOD, nspod, wait_for

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {{name: a, command: [sleep, "1000"]}}
  - {{name: b, command: [sh, -c, "echo started; exec sleep 1000"]}}
"""


def run_with_fault(tmp_path, name, fault, *extra, manifest=POD):
    f = tmp_path / f"{name}.yaml"
    f.write_text(manifest.format(name=name))
    env = dict(os.environ, NSPOD_FAULT=fault)
    return subprocess.run(NSPOD + ["run", str(f), *extra], capture_output=True, text=True,
                          timeout=60, env=env)


def listed(name):
    return any(line.split()[0] == name for line in nspod("ps").stdout.splitlines()[1:])


@pytest.mark.parametrize("fault", ["run:created", "run:spawned"])
def test_cli_killed_during_run(tmp_path, fault):
    done = run_with_fault(tmp_path, "fcli", fault)
    assert done.returncode == -signal.SIGKILL
    assert listed("fcli")  # the row was made before the CLI died
    if fault == "run:spawned":  # the watchdog runs on without its CLI
        wait_for(lambda: phase("fcli") == "Running", what="the pod to run")
    nspod("rm", "-f", "fcli")


def test_run_interrupted_as_a_row_is_made_leaves_nothing(tmp_path):
    """Whatever stops `run` (a Ctrl-C) as the store makes a pod's row, before
    `run` is told: the row is counted as ours before it is made, and undone."""
    done = run_with_fault(tmp_path, "frow", "store:pod-created:fail")
    assert done.returncode == 1 and "fault injected at store:pod-created" in done.stderr, done.stderr
    assert not listed("frow")


def test_watchdog_killed_before_its_containers_start(tmp_path):
    done = run_with_fault(tmp_path, "fwd", "watchdog:sandbox")
    assert done.returncode == 1 and "ended before it reported" in done.stderr, done.stderr
    assert not listed("fwd")  # run undid everything, the orphaned pause holder included


def test_watchdog_killed_half_way_through_teardown(tmp_path, pods):
    pods.run(POD.format(name="ftd"))
    # The fault reaches the watchdog through its spawn request: start it again with one.
    nspod("stop", "ftd", "--timeout", "0")
    env = dict(os.environ, NSPOD_FAULT="watchdog:teardown")
    subprocess.run(NSPOD + ["start", "ftd"], check=True, env=env, capture_output=True, timeout=60)
    nspod("stop", "ftd", "--timeout", "0", check=False)  # the watchdog dies in its teardown
    wait_for(lambda: phase("ftd") in ("Failed", "Unknown", "Succeeded"), what="the watchdog to end")
    nspod("rm", "-f", "ftd")  # the one teardown finishes what the watchdog left


ENDS = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
  - {{name: a, command: ["true"]}}
"""


@pytest.mark.parametrize("verb", ["rm", "start"])
def test_an_ended_pod_is_taken_while_its_supervisor_takes_its_sandbox_apart(tmp_path, pods, verb):
    """The supervisor writes Succeeded, then tears the sandbox down (held
    there for faults.SLOW s): a user who saw the phase may rm or start it."""
    pods.names.append("fend")
    done = run_with_fault(tmp_path, "fend", "watchdog:teardown:slow", manifest=ENDS)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: phase("fend") == "Succeeded", what="the pod to end")
    ended = pods.inspect("fend")
    assert ended["nspod"]["watchdog"]["pid"]  # (still supervised: the window is open)
    nspod(verb, "fend")
    if verb == "start":  # it runs again, and ends again
        again = wait_for(lambda: (p := pods.inspect("fend"))["status"]["phase"] == "Succeeded"
                         and not p["nspod"]["watchdog"]["pid"] and p, what="the pod to end again")
        assert (again["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"]
                != ended["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"])
        nspod("rm", "fend")
    assert not listed("fend")


@pytest.mark.parametrize("fault", ["rm:stopped", "rm:torn-down"])
def test_cli_killed_during_rm_then_rm_again(pods, fault):
    pods.run(POD.format(name="frm"))
    env = dict(os.environ, NSPOD_FAULT=fault)
    done = subprocess.run(NSPOD + ["rm", "-f", "frm"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert listed("frm")
    nspod("rm", "-f", "frm")


def test_failed_adoption_leaves_the_pod_as_it_found_it(pods):
    pods.run(POD.format(name="fad"))
    before = pods.inspect("fad")["nspod"]
    # The whole node holder (its supervisor goes with it), so the next command
    # starts one with that command's NSPOD_FAULT: its supervisor's adoption fails.
    os.kill(node_pid(), signal.SIGKILL)
    wait_for(lambda: phase("fad") == "Unknown", what="Unknown")
    env = dict(os.environ, NSPOD_FAULT="adopt:fail")
    done = subprocess.run(NSPOD + ["start", "fad"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "fault injected at adopt" in done.stderr, done.stderr
    after = pods.inspect("fad")["nspod"]
    assert after["pause"]["pid"] == before["pause"]["pid"]  # the sandbox lives on
    assert [c["pid"] for c in after["containers"]] == [c["pid"] for c in before["containers"]]
    assert after["network"]["ip"] == before["network"]["ip"]  # and keeps its address
    assert phase("fad") == "Unknown"
    nspod("start", "fad")  # a take-over that works
    wait_for(lambda: phase("fad") == "Running", what="Running again")
    assert [c["pid"] for c in pods.inspect("fad")["nspod"]["containers"]] == [c["pid"] for c in before["containers"]]


def phase(name):
    done = nspod("inspect", name, "-o", "jsonpath={.status.phase}", check=False)
    return done.stdout.strip() if done.returncode == 0 else None
