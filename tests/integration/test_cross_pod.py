"""The security tier across pods: a container cannot see, signal or ptrace
the processes of another pod or of the host, and cannot mount, make a user
namespace or reach the kernel keyring. Rootless here; tests/root runs it as
root too."""
import json
import os

from podtest import nspod

# Run inside a container with the host pids of other processes as arguments.
PROBE = r"""
import ctypes, errno, json, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
def err(fn, *args):
    ctypes.set_errno(0)
    ok = fn(*args) == 0
    return "ok" if ok else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
out = {"kill": {}, "ptrace": {}}
for pid in map(int, sys.argv[1:]):
    try:
        os.kill(pid, 0)
        out["kill"][pid] = "ok"
    except OSError as e:
        out["kill"][pid] = errno.errorcode[e.errno]
    out["ptrace"][pid] = err(libc.ptrace, ctypes.c_long(16), ctypes.c_long(pid), None, None)  # PTRACE_ATTACH
out["procs"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["comms"] = sorted({open(f"/proc/{p}/comm").read().strip() for p in out["procs"] if os.path.exists(f"/proc/{p}/comm")})
out["mount"] = subprocess.run(["mount", "-t", "tmpfs", "none", "/mnt"], capture_output=True).returncode
out["unshare"] = subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode
# keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): syscall 250 on x86-64, 219 on aarch64
number = 250 if os.uname().machine == "x86_64" else 219
out["keyctl"] = err(libc.syscall, ctypes.c_long(number), ctypes.c_long(1), None)
print(json.dumps(out))
"""


def manifest(name):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "a", "command": ["sleep", "300"]},
                       {"name": "b", "command": ["sleep", "300"]}]}})


def pids(pods, pod):
    seen = pods.inspect(pod)["nspod"]
    return {c["name"]: c["pid"] for c in seen["containers"]} | {"pause": seen["pause"]["pid"]}


def test_a_container_cannot_reach_another_pod_or_the_host(pods):
    pods.run(manifest("sec2-xpod-a"))
    pods.run(manifest("sec2-xpod-b"))
    other = pids(pods, "sec2-xpod-a")
    host = [os.getpid(), pods.inspect("sec2-xpod-b")["nspod"]["watchdog"]["pid"]]
    targets = [other["a"], other["pause"], *host]
    if os.path.exists("/proc/1"):
        targets.append(1)
    ran = nspod("exec", "sec2-xpod-b", "-c", "a", "--", "python3", "-c", PROBE, *map(str, targets))
    seen = json.loads(ran.stdout)
    for pid in targets:
        # Its own PID namespace: no other pod's or host process has a pid
        # there (pid 1 is its own sleep, which it may signal).
        if pid == 1:
            continue
        assert seen["kill"][str(pid)] == "ESRCH", (pid, seen)
        assert seen["ptrace"][str(pid)] in ("ESRCH", "EPERM"), (pid, seen)
    assert seen["comms"] == ["python3", "sleep"], seen  # only its own container (and the probe)
    assert seen["procs"][0] == 1
    assert seen["mount"] != 0
    assert seen["unshare"] != 0
    assert seen["keyctl"] == "EPERM"
