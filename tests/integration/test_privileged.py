"""securityContext.privileged, checked from inside the container: every
capability (of the pod's user namespace when rootless), no seccomp filter, no
no_new_privs, none of the masks or read-only kernel paths, /sys writable as
far as its files allow; a container beside it keeps the defaults."""
import json

from podtest import nspod

POD = """
apiVersion: v1
kind: Pod
metadata: {name: priv}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: privileged
    command: [sleep, "300"]
    securityContext: {privileged: true}
  - name: plain
    command: [sleep, "300"]
"""

PROBE = """
import json
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
mounts = {}
for line in open("/proc/self/mountinfo"):
    f = line.split()
    mounts[f[4]] = f[5].split(",")
print(json.dumps({k: status[k].strip() for k in ("CapEff", "CapBnd", "Seccomp", "NoNewPrivs")} |
                 {"mounts": {p: mounts.get(p) for p in ("/proc/keys", "/proc/sys", "/sys", "/sys/firmware")}}))
"""


def probe(container):
    return json.loads(nspod("exec", "priv", "-c", container, "--", "python3", "-c", PROBE).stdout)


def test_privileged_container(pods):
    pods.run(POD)
    import os

    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    every = (1 << (last_cap + 1)) - 1
    if os.geteuid() == 0:  # every capability nspod may give: root's bounding set (a sandbox may lack some)
        every &= int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("CapBnd:")), 16)
    seen = probe("privileged")
    assert int(seen["CapEff"], 16) == every and int(seen["CapBnd"], 16) == every, seen
    assert seen["Seccomp"] == "0" and seen["NoNewPrivs"] == "0", seen
    assert seen["mounts"]["/proc/keys"] is None and seen["mounts"]["/sys/firmware"] is None, seen  # no masks
    assert seen["mounts"]["/proc/sys"] is None, seen  # not bound read-only
    assert "rw" in seen["mounts"]["/sys"], seen
    plain = probe("plain")
    assert int(plain["CapEff"], 16) != every and plain["Seccomp"] == "2" and plain["NoNewPrivs"] == "1", plain
    assert plain["mounts"]["/proc/keys"] is not None and "ro" in plain["mounts"]["/sys"], plain
    security = {c["name"]: c["security"] for c in pods.inspect("priv")["nspod"]["containers"]}
    assert security["privileged"]["privileged"] is True and security["privileged"]["seccomp"] == "Unconfined"
    assert security["privileged"]["maskedPaths"] == [] and security["plain"]["maskedPaths"]


def test_privileged_with_no_privilege_escalation_is_bad_input(pods):
    bad = POD.replace("securityContext: {privileged: true}",
                      "securityContext: {privileged: true, allowPrivilegeEscalation: false}")
    done = pods.run(bad, check=False)
    assert done.returncode == 2 and "cannot set allowPrivilegeEscalation to false and privileged to true" in done.stderr
