"""nspod top on cgroup v2 (the delegated VM): the figures come from the
containers' own cgroups. A container held to half a CPU burns all it may, one
holds 80 MiB, one idles; top must say so."""
import pytest

from podtest import nspod, wait_for

LOAD = """
apiVersion: v1
kind: Pod
metadata: {name: load}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: burn
    command: [python3, -c, "while True: pass"]
    resources: {limits: {cpu: 500m}}
  - name: hold
    command: [python3, -c, "import time; b = bytearray(80 << 20); b[::4096] = b'x' * len(b[::4096]); print('held', flush=True); time.sleep(300)"]
    resources: {limits: {memory: 200Mi}}
  - {name: idle, command: [sleep, "300"]}
"""


@pytest.fixture(autouse=True)
def _no_pod_leaks(no_leaks):
    yield


def test_top_reports_the_known_load_from_cgroup_v2(pods):
    pods.run(LOAD)
    wait_for(lambda: "held" in nspod("logs", "load", "-c", "hold").stdout, timeout=120, what="the memory to be held")
    cgroup = pods.inspect("load")["nspod"]["containers"][0]["cgroup"]
    assert cgroup and cgroup["path"].startswith("/sys/fs/cgroup/"), cgroup  # cgroup v2 figures, not /proc
    out = nspod("top", "load", "--containers", timeout=120).stdout
    print(out)  # (the figures, for the record)
    rows = {line.split()[1]: line.split()[2:] for line in out.splitlines()[1:]}
    assert set(rows) == {"burn", "hold", "idle"}, rows
    burn, hold_mem, idle = int(rows["burn"][0][:-1]), int(rows["hold"][1][:-2]), int(rows["idle"][0][:-1])
    # cpu.max lets the burner have 500m at most; under software emulation it may get less.
    assert 150 <= burn <= 600, rows
    assert idle <= 50, rows
    assert 80 <= hold_mem <= 120, rows  # the working set: 80 MiB and the interpreter
