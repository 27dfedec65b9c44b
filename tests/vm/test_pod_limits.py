"""Pods with limits, through the CLI, on a real cgroup v2 kernel, as the
unprivileged user with a delegated subtree. Fast back-off, nothing left behind."""
import json
import time
from pathlib import Path

import pytest

from podtest import HOG, nspod, supervisor_pid, wait_for


@pytest.fixture(autouse=True)
def _no_pod_leaks(no_leaks):
    yield


def pod_with(name, command, resources, policy="Always"):
    return f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: {name}}}
    spec:
      restartPolicy: {policy}
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        command: {json.dumps(command)}
        resources: {json.dumps(resources)}
    """


def keyed(path):
    return dict((k, int(v)) for k, v in (line.split() for line in Path(path).read_text().splitlines()))


def test_container_over_its_memory_limit_is_oom_killed(pods):
    # A long back-off keeps the container (and its cgroup) waiting after the kill. The
    # 200 MB are faulted in inside one mmap(MAP_POPULATE) call, so the kill comes at once
    # instead of after a slow thrash of code pages re-read over the VM's 9p root.
    pods.run(pod_with("hog", ["python3", "-c", HOG],
                      {"limits": {"memory": "50Mi"}}), "--backoff-base", "60s")
    # The first restart is immediate (the kubelet's back-off): wait for the
    # back-off after the next kill, not for the first lastState, which can be
    # seen while the second instance runs.
    st = wait_for(lambda: (s := pods.status("hog", "app"))["state"].get("waiting", {}).get("reason")
                  == "CrashLoopBackOff" and s, timeout=90, what="the OOM kill and the back-off after it")
    assert st["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert st["lastState"]["terminated"]["exitCode"] == 137
    cg = pods.inspect("hog")["nspod"]["containers"][0]["cgroup"]
    assert cg["limits"]["memory.max"] == str(50 * 1024 * 1024)
    assert cg["limits"]["memory.swap.max"] == "0"
    assert keyed(Path(cg["path"]) / "memory.events")["oom_kill"] >= 1


def test_an_oom_kill_while_no_supervisor_runs_is_still_oom_killed(pods):
    # The container waits for /tmp/go (made by `nspod exec`, which needs no
    # supervisor) and only then asks for the 200 MB: the kill comes while the
    # node holder alone holds the pod. The supervisor it starts tells the kill
    # from the cgroup's oom_kill count at the instance's start (in its row).
    wait_first = "import os, time\nwhile not os.path.exists('/tmp/go'): time.sleep(0.1)\n"
    pods.run(pod_with("idlehog", ["python3", "-c", wait_first + HOG],
                      {"limits": {"memory": "50Mi"}}), "--backoff-base", "60s")
    wait_for(lambda: supervisor_pid() is None, timeout=30, what="the supervisor to leave")
    assert pods.inspect("idlehog")["nspod"]["watchdog"]["process"] == "nspod-keeper"
    nspod("exec", "idlehog", "--", "touch", "/tmp/go")
    st = wait_for(lambda: (s := pods.status("idlehog", "app"))["restartCount"] == 1 and s, timeout=90,
                  what="the OOM kill and the restart after it")
    assert st["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert st["lastState"]["terminated"]["exitCode"] == 137


def cpu_share(cgroup, seconds=4.0):
    start = keyed(Path(cgroup) / "cpu.stat")["usage_usec"]
    t0 = time.monotonic()
    time.sleep(seconds)
    used = keyed(Path(cgroup) / "cpu.stat")["usage_usec"] - start
    return used / 1e6 / (time.monotonic() - t0)


def test_busy_loop_under_200m_uses_a_fifth_of_a_cpu(pods):
    pods.run(pod_with("busy", ["python3", "-c", "while True: pass"], {"limits": {"cpu": "200m"}}))
    pods.run(pod_with("free", ["python3", "-c", "while True: pass"], {}))
    limited = pods.inspect("busy")["nspod"]["containers"][0]["cgroup"]
    assert limited["limits"]["cpu.max"] == "20000 100000"
    free = pods.inspect("free")["nspod"]["containers"][0]["cgroup"]["path"]
    time.sleep(1)
    share = cpu_share(limited["path"])
    print(f"200m busy loop: {share:.3f} of one CPU")
    assert 0.15 <= share <= 0.25
    assert cpu_share(free, 2.0) > 0.5


def test_fork_loop_stops_at_pids_max(pods, tmp_path, monkeypatch):
    conf = tmp_path / "nspod"
    conf.mkdir()
    (conf / "config.toml").write_text("pids_max = 16\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    pods.run(pod_with("forks", ["sh", "-c", "for i in $(seq 40); do sleep 300 & done; sleep 300"], {}))
    pod = pods.inspect("forks")
    assert pod["nspod"]["cgroup"]["limits"]["pids.max"] == "16"
    pod_path = Path(pod["nspod"]["cgroup"]["path"])
    leaf = Path(pod["nspod"]["containers"][0]["cgroup"]["path"])
    # Linux 6.1 counts the refusal in the forking process's cgroup (the leaf).
    wait_for(lambda: keyed(leaf / "pids.events")["max"] + keyed(pod_path / "pids.events")["max"] > 0,
             timeout=30, what="a refused fork")
    assert int((pod_path / "pids.current").read_text()) <= 16


def test_requests_set_weight_and_low(pods):
    pods.run(pod_with("req", ["sleep", "300"],
                      {"requests": {"cpu": "500m", "memory": "32Mi"}, "limits": {"cpu": "1", "memory": "64Mi"}}))
    c = pods.inspect("req")["nspod"]["containers"][0]["cgroup"]
    assert c["limits"]["memory.low"] == str(32 * 1024 * 1024)
    assert c["limits"]["memory.max"] == str(64 * 1024 * 1024)
    assert c["limits"]["cpu.max"] == "100000 100000"
    weight = int(Path(c["path"], "cpu.weight").read_text())
    assert str(weight) == c["limits"]["cpu.weight"] and 1 < weight < 100  # 512 shares: below the default 100
    nspod("rm", "-f", "req")
    assert not Path(c["path"]).exists()


def test_exec_runs_inside_the_container_cgroup(pods):
    pods.run(pod_with("ex", ["sleep", "300"], {"limits": {"memory": "64Mi"}}))
    c = pods.inspect("ex")["nspod"]["containers"][0]["cgroup"]
    inside = nspod("exec", "ex", "--", "cat", "/proc/self/cgroup").stdout.strip()
    assert inside.endswith(c["path"].removeprefix("/sys/fs/cgroup"))
