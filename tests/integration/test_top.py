"""nspod top against a known load: one container burns a CPU, one holds
80 MiB, one idles (rootless: figures from /proc; as root here: cgroup v1)."""
from podtest import nspod, wait_for

LOAD = """
apiVersion: v1
kind: Pod
metadata: {name: load}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: burn, command: [python3, -c, "while True: pass"]}
  - {name: hold, command: [python3, -c, "import time; b = bytearray(80 << 20); b[::4096] = b'x' * len(b[::4096]); print('held', flush=True); time.sleep(300)"]}
  - {name: idle, command: [sleep, "300"]}
"""


def mib(text):
    assert text.endswith("Mi"), text
    return int(text[:-2])


def test_top_reports_the_known_load(pods):
    pods.run(LOAD)
    wait_for(lambda: "held" in nspod("logs", "load", "-c", "hold").stdout, what="the memory to be held")
    rows = {line.split()[1]: line.split()[2:] for line in nspod("top", "load", "--containers").stdout.splitlines()[1:]}
    assert set(rows) == {"burn", "hold", "idle"}, rows
    burn_cpu, hold_mem, idle_cpu = int(rows["burn"][0][:-1]), mib(rows["hold"][1]), int(rows["idle"][0][:-1])
    # Two cores shared with the rest of the run: the burner gets a good part of one.
    assert burn_cpu >= 300, rows
    assert idle_cpu <= 100, rows
    assert 78 <= hold_mem <= 200, rows
    pod_line = nspod("top", "load").stdout.splitlines()[1].split()
    assert pod_line[0] == "load" and int(pod_line[1][:-1]) >= burn_cpu // 2 and mib(pod_line[2]) >= hold_mem
    missing = nspod("top", "nopod", check=False)
    assert missing.returncode == 1 and 'pod "nopod" not found' in missing.stderr


def test_top_watch_prints_again_until_ctrl_c(pods):
    import signal
    import subprocess

    from podtest import NSPOD

    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: watched}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {name: a, command: [sleep, "300"]}
      - {name: b, command: [sleep, "300"]}
    """)
    top = subprocess.Popen(NSPOD + ["top", "watched", "--containers", "--watch"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        tables = [[top.stdout.readline().split()[:2] for _ in range(3)]]
        assert top.stdout.readline() == "\n"  # a blank line between tables
        tables.append([top.stdout.readline().split()[:2] for _ in range(3)])
    finally:
        top.send_signal(signal.SIGINT)
        _, err = top.communicate(timeout=10)
    assert tables == [[["POD", "NAME"], ["watched", "a"], ["watched", "b"]]] * 2
    assert (top.returncode, err) == (130, "")
