"""securityContext.procMount and spec.hostUsers, checked from inside the
container: Default keeps containerd's masked and read-only kernel paths,
Unmasked (only with hostUsers: false, as the API server allows it) has none
of them; hostUsers must name what nspod does (rootless: every pod has a user
namespace; as root: none), else exit 2 with the field path. tests/root runs
the parts that hold as root too."""
import json
import os

from podtest import nspod
from test_confinement import MASKED, READ_ONLY

# Run inside: for each kernel path, whether it exists and has a mount of its own.
PROBE = """
import json, os, sys
mounts = {line.split()[4]: line.split()[5].split(",") for line in open("/proc/self/mountinfo")}
print(json.dumps({p: {"exists": os.path.lexists(p), "mount": mounts.get(p)} for p in json.loads(sys.argv[1])}))
"""


def pod(name, proc_mount, host_users=None, second=""):
    users = "" if host_users is None else f"\n  hostUsers: {host_users}"
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1{users}
  containers:
  - name: app
    command: [sleep, "300"]
    securityContext: {{procMount: {proc_mount}}}{second}
"""


def probe(name, container):
    done = nspod("exec", name, "-c", container, "--", "python3", "-c", PROBE, json.dumps(MASKED + READ_ONLY))
    return json.loads(done.stdout)


def present():
    """The kernel paths this host has: both kinds, or the checks say nothing."""
    found = [p for p in MASKED + READ_ONLY if os.path.lexists(p)]
    assert set(found) & set(MASKED) and set(found) & set(READ_ONLY), found
    assert "/proc/keys" in found and "/proc/sys" in found, found
    return found


def test_unmasked_proc_rootless(pods):
    """Rootless only: as root hostUsers: false, which Unmasked needs, is
    refused (test_host_users_nspod_cannot_honour_is_bad_input)."""
    assert os.geteuid() != 0, "rootless only (tests/root does not collect it)"
    side = "\n  - name: side\n    command: [sleep, \"300\"]\n    securityContext: {procMount: Default}"
    pods.run(pod("unmasked", "Unmasked", host_users="false", second=side))
    unmasked, default = probe("unmasked", "app"), probe("unmasked", "side")
    for path in present():
        assert unmasked[path] == {"exists": True, "mount": None}, (path, unmasked[path])
        assert default[path]["mount"], (path, default[path])  # masked or bound read-only
    assert "ro" in default["/proc/sys"]["mount"] and default["/proc/keys"]["mount"]
    security = {c["name"]: c["security"] for c in pods.inspect("unmasked")["nspod"]["containers"]}
    assert security["app"]["procMount"] == "Unmasked"
    assert security["app"]["maskedPaths"] == [] and security["app"]["readonlyPaths"] == []
    assert "/proc/keys" in security["side"]["maskedPaths"] and "/proc/sys" in security["side"]["readonlyPaths"]
    assert security["app"]["seccomp"] == "RuntimeDefault" and not security["app"]["privileged"]


def test_default_proc_mount_masks(pods):
    pods.run(pod("procdefault", "Default"))
    seen = probe("procdefault", "app")
    for path in present():
        assert seen[path]["mount"], (path, seen[path])
    assert "ro" in seen["/proc/sys"]["mount"], seen["/proc/sys"]
    security = pods.inspect("procdefault")["nspod"]["containers"][0]["security"]
    assert security["procMount"] == "Default" and "/proc/keys" in security["maskedPaths"]


def refused(pods, manifest, field, fragment):
    done = pods.run(manifest, check=False)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert field in done.stderr and fragment in done.stderr, done.stderr
    assert nspod("ps", "-o", "name").stdout.strip() == ""  # nothing was created


def test_unmasked_without_host_users_false_is_bad_input(pods):
    for host_users in (None, "true"):
        refused(pods, pod("procbad", "Unmasked", host_users), "spec.containers[0].securityContext.procMount",
                "`hostUsers` must be false to use `Unmasked`")


def test_bad_proc_mount_value_is_bad_input(pods):
    refused(pods, pod("procbad", "Masked"), "spec.containers[0].securityContext.procMount",
            "must be one of Default, Unmasked")


def test_host_users_nspod_cannot_honour_is_bad_input(pods):
    """Rootless every pod lives in the user's user namespace: hostUsers:
    true is refused. As root pods live in the host's: false is refused,
    and with it Unmasked."""
    if os.geteuid() == 0:
        refused(pods, pod("procbad", "Unmasked", "false"), "spec.hostUsers", "false is not supported as root")
        pods.run(pod("hostusers", "Default", "true"))  # what root does
    else:
        refused(pods, pod("procbad", "Default", "true"), "spec.hostUsers", "true is not possible rootless")
        pods.run(pod("hostusers", "Default", "false"))  # what rootless does
    assert pods.inspect("hostusers")["status"]["phase"] == "Running"
