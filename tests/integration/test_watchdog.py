"""The watchdog for real: restart policies, back-off, logs, graceful stop,
and the faults a pod must survive. As an unprivileged user, fast back-off."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from podtest import NSPOD, nspod, wait_for

FAST = ("--backoff-base", "300ms")


def one_container(name, command, policy="Always", grace=30, volume=None):
    vol = ""
    mount = ""
    if volume:
        vol = f"volumes: [{{name: v, hostPath: {{path: {volume}, type: Directory}}}}]"
        mount = "volumeMounts: [{name: v, mountPath: /v}]"
    return f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: {name}}}
    spec:
      restartPolicy: {policy}
      terminationGracePeriodSeconds: {grace}
      {vol}
      containers:
      - name: app
        command: {json.dumps(command)}
        {mount}
    """


def phase_of(pods, name):
    return pods.inspect(name)["status"]["phase"]


@pytest.mark.parametrize("policy,code,restarts,final", [
    ("Always", 0, True, "Running"),
    ("Always", 1, True, "Running"),
    ("OnFailure", 0, False, "Succeeded"),
    ("OnFailure", 1, True, "Running"),
    ("Never", 0, False, "Succeeded"),
    ("Never", 1, False, "Failed"),
])
def test_restart_policy(pods, policy, code, restarts, final):
    pods.run(one_container("rp", ["sh", "-c", f"sleep 0.2; exit {code}"], policy), *FAST)
    if restarts:
        st = wait_for(lambda: (s := pods.status("rp", "app"))["restartCount"] >= 2 and s, timeout=20,
                      what="two restarts")
        last = st["lastState"]["terminated"]
        assert last["exitCode"] == code
        assert last["reason"] == ("Completed" if code == 0 else "Error")
        assert phase_of(pods, "rp") == final
    else:
        pod = wait_for(lambda: (p := pods.inspect("rp"))["status"]["phase"] == final and p, timeout=10,
                       what=f"phase {final}")
        st = pod["status"]["containerStatuses"][0]
        assert st["restartCount"] == 0
        assert st["state"]["terminated"]["exitCode"] == code
        assert st["lastState"] == {}
        # A terminal phase never changes, and the sandbox is gone.
        time.sleep(1)
        again = pods.inspect("rp")
        assert again["status"]["phase"] == final
        assert again["nspod"]["pause"]["pid"] is None


def test_crash_loop_back_off_between_restarts(pods):
    pods.run(one_container("crash", ["sh", "-c", "exit 3"]), "--backoff-base", "1s")
    st = wait_for(lambda: (s := pods.status("crash", "app"))["state"].get("waiting", {}).get("reason")
                  == "CrashLoopBackOff" and s, timeout=15, what="CrashLoopBackOff")
    assert "back-off" in st["state"]["waiting"]["message"]
    assert st["lastState"]["terminated"]["exitCode"] == 3
    assert st["ready"] is False
    described = nspod("describe", "crash").stdout
    assert "BackOff" in described and "CrashLoopBackOff" in described
    ps_row = nspod("ps").stdout.splitlines()[1].split()
    assert ps_row[:3] == ["crash", "0/1", "CrashLoopBackOff"]  # as kubectl get pods shows it


def test_logs_previous_and_timestamps(pods, tmp_path):
    runs = tmp_path / "runs"  # one file per instance: instance k prints out{k}
    runs.mkdir(mode=0o777)
    runs.chmod(0o777)
    pods.run(one_container("logs", ["sh", "-c", "n=$(ls /v | wc -l); touch /v/run$n; echo out$n; echo err$n >&2; exit 1"],
                           volume=runs), *FAST)
    wait_for(lambda: pods.status("logs", "app")["restartCount"] >= 2, timeout=20, what="two restarts")
    nspod("stop", "--timeout", "0", "logs")  # no more restarts while we look
    st = pods.status("logs", "app")
    n = st["restartCount"]
    previous = nspod("logs", "logs", "--previous").stdout.split()
    assert sorted(previous) == sorted([f"out{n - 1}", f"err{n - 1}"])
    stamped = nspod("logs", "logs", "-c", "app", "--previous", "--timestamps").stdout.splitlines()
    assert all(len(line.split(" ", 1)[0]) == 30 and line.split(" ", 1)[0].endswith("Z") for line in stamped)
    assert nspod("logs", "logs", "--tail", "1", "--previous").stdout.count("\n") == 1


def test_the_default_container_is_kubectls(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata:
      name: picked
      annotations: {kubectl.kubernetes.io/default-container: side}
    spec:
      initContainers: [{name: prep, command: [echo, prepared]}]
      containers:
      - {name: main, command: [sh, -c, "echo from-main; sleep 300"]}
      - {name: side, command: [sh, -c, "echo from-side; sleep 300"]}
    """)
    wait_for(lambda: nspod("logs", "picked", "-c", "main").stdout == "from-main\n", what="main's output")
    wait_for(lambda: nspod("logs", "picked", "-c", "side").stdout == "from-side\n", what="side's output")
    done = nspod("exec", "picked", "--", "cat", "/proc/1/cmdline")  # the annotation's container, silently
    assert "from-side" in done.stdout and done.stderr == ""
    assert nspod("logs", "picked").stdout == "from-side\n"
    # An annotation naming no container: said, then the first container, as kubectl.
    nspod("rm", "-f", "picked")
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata:
      name: picked
      annotations: {kubectl.kubernetes.io/default-container: gone}
    spec:
      initContainers: [{name: prep, command: [echo, prepared]}]
      containers: [{name: main, command: [sh, -c, "echo from-main; sleep 300"]}]
    """)
    wait_for(lambda: nspod("logs", "picked", "-c", "main").stdout == "from-main\n", what="main's output")
    done = nspod("logs", "picked")
    assert done.stdout == "from-main\n"
    assert done.stderr.splitlines() == ['Default container name "gone" not found in pod picked',
                                        'Defaulted container "main" out of: main, prep (init)']


def test_logs_errors(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: two}
    spec:
      containers: [{name: a, command: [sleep, "300"]}, {name: b, command: [sleep, "300"]}]
    """)
    done = nspod("logs", "two")  # as kubectl: the first container, and a word on stderr
    assert done.stderr == 'Defaulted container "a" out of: a, b\n'
    assert nspod("logs", "two", "-c", "nope", check=False).returncode == 1
    missing = nspod("logs", "two", "-c", "a", "--previous", check=False)
    assert missing.returncode == 1 and "previous terminated container" in missing.stderr
    assert nspod("logs", "nopod", check=False).returncode == 1


def test_logs_follow(pods):
    pods.run(one_container("follow", ["sh", "-c", "for i in 1 2 3 4 5 6; do echo line$i; sleep 0.3; done"],
                           policy="Never"))
    follower = subprocess.Popen(NSPOD + ["logs", "-f", "follow"], stdout=subprocess.PIPE, text=True)
    out, _ = follower.communicate(timeout=20)  # ends by itself when the container ends
    assert out.split() == [f"line{i}" for i in range(1, 7)]
    assert follower.returncode == 0


def test_graceful_stop_of_a_process_that_traps_term(pods):
    pods.run(one_container("trap", ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done"],
                           grace=20))
    t0 = time.monotonic()
    nspod("stop", "trap")
    assert time.monotonic() - t0 < 5  # it exited on TERM, long before the 20 s grace period
    st = pods.status("trap", "app")
    assert st["state"]["terminated"]["exitCode"] == 0
    assert pods.inspect("trap")["status"]["phase"] == "Succeeded"
    assert "got TERM" in nspod("logs", "trap").stdout
    events = nspod("describe", "trap").stdout
    assert "Killing" in events


def test_stop_timeout_kills_a_process_that_ignores_term(pods):
    pods.run(one_container("ignore", ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]))
    t0 = time.monotonic()
    nspod("stop", "--timeout", "1", "ignore")
    took = time.monotonic() - t0
    assert 1 <= took < 8
    st = pods.status("ignore", "app")["state"]["terminated"]
    assert st["exitCode"] == 137 and st["signal"] == 9
    assert pods.inspect("ignore")["status"]["phase"] == "Failed"
    # No restart after a stop, even with restartPolicy Always; start brings it back.
    time.sleep(1)
    assert pods.status("ignore", "app")["restartCount"] == 0
    nspod("start", "ignore")
    assert wait_for(lambda: "running" in pods.status("ignore", "app")["state"], what="running again")
    assert phase_of(pods, "ignore") == "Running"


def test_killed_cli_harms_no_pod(pods, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(one_container("survivor", ["sleep", "300"]).replace("\n    ", "\n"))
    cli = subprocess.Popen(NSPOD + ["run", str(path)], stdout=subprocess.PIPE, text=True)
    pods.names.append("survivor")
    wait_for(lambda: any(l.startswith("survivor") for l in nspod("ps").stdout.splitlines()), what="pod listed")
    cli.kill()
    cli.wait()
    wait_for(lambda: phase_of(pods, "survivor") == "Running", what="Running")
    time.sleep(0.5)
    assert phase_of(pods, "survivor") == "Running"


def test_ctrl_c_half_way_through_run_undoes_everything(tmp_path):
    docs = "\n---\n".join(one_container(f"multi{i}", ["sleep", "300"]).replace("\n    ", "\n") for i in range(8))
    path = tmp_path / "multi.yaml"
    path.write_text(docs)
    cli = subprocess.Popen(NSPOD + ["run", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(nspod("ps").stdout.splitlines()) >= 3, what="two pods created")
    cli.send_signal(signal.SIGINT)
    cli.communicate(timeout=60)
    assert cli.returncode == 130
    assert nspod("ps").stdout.strip().splitlines()[1:] == []  # and the leak check follows


def watchdog_pid(pods, name):
    return pods.inspect(name)["nspod"]["watchdog"]["pid"]


def test_killed_watchdog_shows_unknown_and_rm_f_removes_everything(pods):
    pods.run(one_container("orphan", ["sleep", "300"]))
    os.kill(watchdog_pid(pods, "orphan"), signal.SIGKILL)
    wait_for(lambda: phase_of(pods, "orphan") == "Unknown", what="Unknown")
    assert nspod("ps").stdout.splitlines()[1].split()[2] == "Unknown"
    nspod("rm", "-f", "orphan")  # the leak check verifies every process went


def test_new_watchdog_adopts_running_containers(pods):
    pods.run(one_container("adopt", ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done"]))
    before = pods.inspect("adopt")
    container_pid = before["nspod"]["containers"][0]["pid"]
    os.kill(before["nspod"]["watchdog"]["pid"], signal.SIGKILL)
    wait_for(lambda: phase_of(pods, "adopt") == "Unknown", what="Unknown")
    # Its output wakes the node holder, which starts a supervisor again (after
    # a back-off: one that died may die again), and that one adopts the pod.
    after = wait_for(lambda: (p := pods.inspect("adopt"))["status"]["phase"] == "Running" and p,
                     what="the pod adopted by the next supervisor")
    assert after["nspod"]["containers"][0]["pid"] == container_pid  # the same process, adopted
    assert after["nspod"]["pause"]["pid"] == before["nspod"]["pause"]["pid"]
    # Output written while no watchdog read it was kept, and new output is logged.
    lines = wait_for(lambda: (l := nspod("logs", "adopt").stdout.split()) and len(l) > 3 and l, what="logs")
    numbers = [int(x[4:]) for x in lines]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    # Its exit status is not lost: the node holder, its parent now, kept it for the new supervisor.
    os.kill(container_pid, signal.SIGKILL)
    st = wait_for(lambda: (s := pods.status("adopt", "app"))["restartCount"] == 1 and s, what="restart")
    assert st["lastState"]["terminated"]["exitCode"] == 137
    assert st["lastState"]["terminated"]["reason"] == "Error"
    assert "Adopted" in nspod("describe", "adopt").stdout


def test_killed_pause_holder_recreates_the_sandbox(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: sandbox}
    spec:
      volumes: [{name: mem, emptyDir: {medium: Memory}}]
      containers:
      - name: app
        command: [sleep, "300"]
        volumeMounts: [{name: mem, mountPath: /mem}]
    """, *FAST)
    nspod("exec", "sandbox", "--", "sh", "-c", "echo kept > /mem/f")
    before = pods.inspect("sandbox")
    os.kill(before["nspod"]["pause"]["pid"], signal.SIGKILL)
    after = wait_for(lambda: (p := pods.inspect("sandbox"))["status"]["containerStatuses"][0]["restartCount"] == 1
                     and "running" in p["status"]["containerStatuses"][0]["state"] and p, timeout=15,
                     what="container restarted in a new sandbox")
    assert after["nspod"]["pause"]["pid"] not in (None, before["nspod"]["pause"]["pid"])
    assert after["nspod"]["pause"]["namespaces"]["net"] != before["nspod"]["pause"]["namespaces"]["net"]
    assert after["nspod"]["containers"][0]["namespaces"]["net"] == after["nspod"]["pause"]["namespaces"]["net"]
    assert "SandboxChanged" in nspod("describe", "sandbox").stdout
    assert after["status"]["phase"] == "Running"
    # The pod's volumes outlive its sandbox, as in Kubernetes: the tmpfs too
    # (the watchdog kept the pod's mount namespace; the new pause holder joined it).
    assert nspod("exec", "sandbox", "--", "cat", "/mem/f").stdout == "kept\n"
    assert after["nspod"]["pause"]["namespaces"]["mnt"] == before["nspod"]["pause"]["namespaces"]["mnt"]


def test_config_file_sets_backoff_base(pods, tmp_path, monkeypatch):
    conf = tmp_path / "config" / "nspod"
    conf.mkdir(parents=True)
    (conf / "config.toml").write_text('backoff_base = "nonsense"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    bad = pods.run(one_container("cfg", ["sh", "-c", "exit 1"]), check=False)
    assert bad.returncode == 2 and "backoff_base" in bad.stderr
    (conf / "config.toml").write_text('backoff_base = "100ms"\n')
    pods.run(one_container("cfg", ["sh", "-c", "exit 1"]))
    wait_for(lambda: pods.status("cfg", "app")["restartCount"] >= 3, timeout=10, what="fast restarts")
