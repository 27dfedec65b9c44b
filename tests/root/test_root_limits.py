"""Limits as root on this cgroup v1/hybrid host (cgroupspy): the values
written, OOMKilled, and nothing left after rm. cgroup v2 is the VM tier's."""
from podtest import nspod, pod_cgroups, wait_for

LIMITED = """
apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    # 200 MB faulted in inside one mmap(MAP_POPULATE) call: killed at once.
    command: [python3, -c, "import mmap; m = mmap.mmap(-1, 200 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE); print('not killed')"]
    resources:
      limits: {memory: 50Mi, cpu: 200m}
      requests: {memory: 20Mi, cpu: 100m}
"""


def test_memory_limit_oom_killed_and_cgroups_removed(pods):
    pods.run(LIMITED)
    pod = wait_for(lambda: (p := pods.inspect("limited"))["status"]["phase"] == "Failed" and p,
                   timeout=30, what="the hog to be OOM-killed")
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "OOMKilled"
    assert term["exitCode"] == 137
    cg = pod["nspod"]["containers"][0]["cgroup"]
    assert cg["limits"]["memory.limit_in_bytes"] == str(50 * 1024 * 1024)
    assert cg["limits"]["cpu.cfs_quota_us"] == "20000"
    assert "not killed" not in nspod("logs", "limited").stdout
    nspod("rm", "limited")
    assert pod_cgroups() == []


ADOPTED = """
apiVersion: v1
kind: Pod
metadata: {name: rootadopt}
spec:
  containers:
  - name: app
    command: [sleep, "300"]
    resources: {limits: {memory: 64Mi}}
"""


def test_adoption_keeps_the_cgroups_and_rm_removes_them(pods):
    """A new watchdog takes over a pod with cgroup v1 leaves (rebuilt from
    their names), and rm removes every hierarchy's directories."""
    import os
    import signal

    pods.run(ADOPTED)
    before = pods.inspect("rootadopt")["nspod"]
    os.kill(before["watchdog"]["pid"], signal.SIGKILL)
    wait_for(lambda: pods.inspect("rootadopt")["status"]["phase"] == "Unknown", what="Unknown")
    nspod("start", "rootadopt")
    after = wait_for(lambda: (p := pods.inspect("rootadopt"))["status"]["phase"] == "Running" and p["nspod"],
                     what="Running again")
    assert after["containers"][0]["pid"] == before["containers"][0]["pid"]
    assert pod_cgroups()
    nspod("rm", "-f", "rootadopt")
    assert pod_cgroups() == []
