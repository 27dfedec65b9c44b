"""securityContext.privileged, checked from inside the container: every
capability (of the pod's user namespace when rootless), no seccomp filter, no
no_new_privs, none of the masks or read-only kernel paths, /sys writable as
far as its files allow, the host's devices in /dev (as root every one,
rootless those the user may open); a container beside it keeps the defaults."""
import json
import os
import stat

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


# Run inside: every device node under /dev (links not followed) and what a
# few of the container's own /dev entries are; then one node opened.
DEVICES = """
import json, os, stat, sys
nodes = {}
for top, dirs, files in os.walk("/dev"):
    dirs[:] = [d for d in dirs if top != "/dev" or d not in ("pts", "shm")]  # the container's own
    for name in files:
        st = os.lstat(os.path.join(top, name))
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            nodes[os.path.join(top, name)] = [st.st_mode, st.st_rdev, st.st_uid, st.st_gid]
fstype = {line.split()[4]: line.split(" - ")[1].split()[0] for line in open("/proc/self/mountinfo")}
try:
    os.close(os.open(sys.argv[1], os.O_RDWR))
    opened = "yes"
except OSError as e:
    opened = e.strerror
print(json.dumps({"nodes": nodes, "opened": opened, "ptmx": os.readlink("/dev/ptmx"),
                  "pts": fstype.get("/dev/pts"), "shm": "/dev/shm" in fstype}))
"""
# containerd's HostDevices rules, written out here and not taken from nspod.
SKIPPED_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}


def host_devices():
    found = {}
    for top, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            st = os.lstat(os.path.join(top, name))
            if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and name != "console":
                found[os.path.join(top, name)] = st
    return found


def user_may_open(path):
    name = os.path.basename(path)
    virtual_console = name.startswith("tty") and name[3:].isdigit()
    return not virtual_console and (os.access(path, os.R_OK) or os.access(path, os.W_OK))


def test_privileged_container_gets_the_host_devices(pods):
    """As root every host device as a node of the container's own (the host
    node's type, number, mode and owner), rootless a bind of each node the
    user may open; a root-only one is not there. The container's own /dev
    entries stay (ptmx to its devpts, pts, shm); a plain container gets none."""
    as_root = os.geteuid() == 0
    host = host_devices()
    if as_root:
        wanted = set(host) - {"/dev/ptmx"}  # the container's ptmx is a link to its own devpts
        probe_node, must_have = "/dev/loop-control", ["/dev/kmsg", "/dev/loop-control"]
        must_not = []
    else:
        wanted = {p for p in host if user_may_open(p)} - {"/dev/ptmx"}
        probe_node, must_have = "/dev/net/tun", ["/dev/net/tun", "/dev/fuse"]  # 0666 here (scripts/setup)
        must_not = [p for p, st in host.items() if st.st_uid == 0 and not st.st_mode & 0o066]
        assert must_not and not any(user_may_open(p) for p in must_not), must_not
    assert all(p in host and user_may_open(p) for p in must_have), must_have
    pods.run(POD)
    seen = json.loads(nspod("exec", "priv", "-c", "privileged", "--", "python3", "-c", DEVICES, probe_node).stdout)
    assert set(seen["nodes"]) == wanted, (sorted(set(seen["nodes"]) - wanted), sorted(wanted - set(seen["nodes"])))
    for path in seen["nodes"]:
        mode, rdev, uid, gid = seen["nodes"][path]
        st = host[path]
        assert stat.S_IFMT(mode) == stat.S_IFMT(st.st_mode) and rdev == st.st_rdev, path
        if as_root:  # a node of its own, made like the host's
            assert (mode, uid, gid) == (st.st_mode, st.st_uid, st.st_gid), (path, mode, uid, gid)
    assert set(must_have) <= set(seen["nodes"]) and not set(must_not) & set(seen["nodes"])
    assert seen["opened"] == "yes", seen["opened"]
    assert seen["ptmx"] == "pts/ptmx" and seen["pts"] == "devpts" and seen["shm"], seen
    plain = json.loads(nspod("exec", "priv", "-c", "plain", "--", "python3", "-c", DEVICES, "/dev/null").stdout)
    defaults = {f"/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")}
    assert set(plain["nodes"]) == defaults, sorted(plain["nodes"])
