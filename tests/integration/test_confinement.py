"""The security tier, first part: what containerd hides of the kernel is
hidden in every container, and no mountPath or subPath leads out of the
container's root or its volume. Checked from inside real containers (and
`nspod exec`), as an unprivileged user; tests/root runs the same as root."""
import errno
import json
import os
import textwrap
from pathlib import Path

import pytest

from podtest import nspod, wait_for

# containerd's defaults (pkg/oci/spec.go), written out here and not taken
# from nspod, so a slip in nspod's own table shows.
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# Writes that change the host when they go through. The check only opens them
# for writing (a read-only mount refuses the open itself): nothing is written
# even if the protection failed.
WRITES = ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/irq/default_smp_affinity",
          "/proc/sys/vm/drop_caches"]

# Run inside the container: what each path looks like, as JSON.
CHECK = """
import errno, json, os, sys
masked, read_only, writes = json.loads(sys.argv[1])
mounts = {}
for line in open("/proc/self/mountinfo"):
    f = line.split()
    sep = f.index("-")
    mounts[f[4]] = {"options": f[5].split(","), "fstype": f[sep + 1]}
out = {"paths": {}, "writes": {}}
for path in masked + read_only:
    seen = {"exists": os.path.lexists(path), "mount": mounts.get(path)}
    if seen["exists"] and path in masked:
        try:
            if os.path.isdir(path):
                seen["content"] = os.listdir(path)
            else:
                with open(path, "rb") as f:
                    seen["content"] = f.read(4096).decode(errors="replace")
        except OSError as e:
            seen["content"] = "error: " + errno.errorcode[e.errno]
    out["paths"][path] = seen
for path in writes:
    try:
        os.close(os.open(path, os.O_WRONLY))
        out["writes"][path] = "OPENED"
    except OSError as e:
        out["writes"][path] = errno.errorcode[e.errno]
# Nor can the container take a mask off: it has no CAP_SYS_ADMIN.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
out["umount"] = {}
for path in masked + read_only:
    if os.path.lexists(path):
        failed = libc.umount2(path.encode(), 2) != 0  # MNT_DETACH
        out["umount"][path] = errno.errorcode[ctypes.get_errno()] if failed else "UNMOUNTED"
print(json.dumps(out), flush=True)
"""


def _check_file(tmp_path):
    d = tmp_path / "check"
    d.mkdir()
    (d / "check.py").write_text(CHECK)
    d.chmod(0o755)
    return d


def _args():
    return json.dumps([MASKED, READ_ONLY, WRITES])


def _assert_confined(seen, where):
    """Every path of containerd's lists that this kernel has is masked or
    read-only, as a mount of its own; no write to the kernel opens."""
    present = {p for p in MASKED + READ_ONLY if os.path.lexists(p)}
    # Not vacuous: this kernel has paths of both kinds.
    assert present & set(MASKED) and present & set(READ_ONLY), present
    for path in MASKED + READ_ONLY:
        got = seen["paths"][path]
        assert got["exists"] == (path in present), (where, path, got)
        if path not in present:
            continue
        assert got["mount"], (where, path, "no mount of its own")
        if path in READ_ONLY:
            assert "ro" in got["mount"]["options"], (where, path, got)
        elif os.path.isdir(path):
            assert got["content"] == [], (where, path, got)
            assert got["mount"]["fstype"] == "tmpfs" and "ro" in got["mount"]["options"], (where, path, got)
        else:
            assert got["content"] == "", (where, path, got)
    assert seen["umount"] and set(seen["umount"].values()) == {"EPERM"}, (where, seen["umount"])
    for path, result in seen["writes"].items():
        if not os.path.exists(path):
            assert result == "ENOENT", (where, path, result)
            continue
        assert result != "OPENED", (where, path, "opened for writing")
        # As root only the read-only mount refuses it; rootless, the host's
        # permissions may refuse it first (its mount is checked above).
        assert result == "EROFS" or (os.geteuid() != 0 and result == "EACCES"), (where, path, result)


def test_kernel_paths_masked_and_read_only_in_container_and_exec(pods, tmp_path):
    check = _check_file(tmp_path)
    pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: secmask}}
    spec:
      volumes: [{{name: check, hostPath: {{path: {check}, type: Directory}}}}]
      containers:
      - name: app
        command: [sh, -c, 'python3 /check/check.py "$0" && exec sleep 300', '{_args()}']
        volumeMounts: [{{name: check, mountPath: /check, readOnly: true}}]
    """)
    logged = wait_for(lambda: nspod("logs", "secmask", check=False).stdout.strip(), what="the check's output")
    _assert_confined(json.loads(logged.splitlines()[0]), "container")
    # exec joins the container's mount namespace: the same masks.
    seen = nspod("exec", "secmask", "--", "python3", "/check/check.py", _args()).stdout
    _assert_confined(json.loads(seen), "exec")


def test_dot_dot_mount_path_is_bad_input_and_creates_nothing(pods):
    home = Path.home()
    escaped = home / "nspod-sec-ESCAPED"
    done = pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: secdotdot}}
    spec:
      volumes: [{{name: v}}]
      containers:
      - name: app
        command: [sleep, "1"]
        volumeMounts: [{{name: v, mountPath: /a/../../../..{escaped}/dir}}]
    """, check=False)
    assert done.returncode == 2, done.stderr
    assert "spec.containers[0].volumeMounts[0].mountPath" in done.stderr
    assert "must not contain '..'" in done.stderr
    assert not escaped.exists()
    assert nspod("inspect", "secdotdot", check=False).returncode == 1


# A directory of the host's /usr that is a symlink to /etc (Debian's openssl
# and ca-certificates make these): a mountPath through it must not reach the
# host's /etc.
USR_LINKS_TO_ETC = ["/usr/lib/ssl/certs", "/usr/lib/ssl/private"]

# Mount-time escapes the manifest check cannot see: container -> (mounts,
# what must happen). The hostPath volume `host` holds the links made in
# _escape_volume. None: the container starts and its command checks that
# the mount is where the container sees it; else a fragment of the StartError.
ESCAPES = [
    ("abs", [("host", "/v", None), ("scratch", "/v/abs/made", None)], None),
    ("rel", [("host", "/v", None), ("scratch", "/v/rel/made", None)], None),
    ("etc", [("host", "/v", None), ("scratch", "/v/etc/nspod-sec-made", None)],
     "cannot create /etc/nspod-sec-made: Read-only file system"),
    ("usr", [("scratch", "USR/nspod-sec-made", None)], "cannot create /etc/ssl/"),
    ("sub-etc", [("host", "/s", "etc")], "subPath etc: a symlink or '..' in it leads out of the volume"),
    ("sub-up", [("host", "/s", "up/nspod-sec-made")],
     "subPath up/nspod-sec-made: a symlink or '..' in it leads out of the volume"),
    ("sub-abs", [("host", "/s", "abs")], "subPath abs: a symlink or '..' in it leads out of the volume"),
    ("sub-inside", [("host", "/s", "inside")], None),
    ("sub-new", [("host", "/s", "inside/new/deeper")], None),
]


def _escape_volume(tmp_path):
    """tmp/vol: links out of it (abs, rel, up, etc) and one that stays (inside)."""
    vol, outside = tmp_path / "vol", tmp_path / "outside"
    vol.mkdir()
    outside.mkdir()
    (vol / "d").mkdir()
    for name, target in (("abs", str(outside)), ("rel", "../" * 12 + str(outside).lstrip("/")),
                         ("etc", "/etc"), ("up", ".."), ("inside", "d")):
        os.symlink(target, vol / name)
    for p in (tmp_path, vol, vol / "d", outside):
        p.chmod(0o777)
    return vol, outside


def test_mount_targets_and_sub_paths_never_leave_the_root(pods, tmp_path):
    usr = next((p for p in USR_LINKS_TO_ETC if os.path.islink(p) and os.readlink(p).startswith("/etc/")), None)
    assert usr, f"none of {USR_LINKS_TO_ETC} is a symlink to /etc on this host"
    vol, outside = _escape_volume(tmp_path)
    host_etc = [Path("/etc/nspod-sec-made"), Path(os.readlink(usr)) / "nspod-sec-made"]
    containers = []
    for name, mounts, error in ESCAPES:
        vms = [{"name": v, "mountPath": m.replace("USR", usr), **({"subPath": s} if s else {})}
               for v, m, s in mounts]
        # A container that starts proves its mount is where it sees it.
        last = vms[-1]["mountPath"]
        command = ["sh", "-c", f"test -d {last} && echo {name} > {last}/seen"]
        containers.append({"name": name, "command": command, "volumeMounts": vms})
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "secescape"},
                "spec": {"restartPolicy": "Never", "containers": containers,
                         "volumes": [{"name": "host", "hostPath": {"path": str(vol)}},
                                     {"name": "scratch", "emptyDir": {}}]}}
    try:
        pods.run(json.dumps(manifest))
        pod = wait_for(lambda: (p := pods.inspect("secescape"))["status"]["phase"] in ("Succeeded", "Failed") and p,
                       timeout=20, what="every container to end")
        states = {s["name"]: s["state"] for s in pod["status"]["containerStatuses"]}
        for name, _, error in ESCAPES:
            ended = states[name].get("terminated")
            assert ended, (name, states[name])
            if error is None:
                assert ended["exitCode"] == 0, (name, ended)
            else:
                assert ended["reason"] == "StartError" and ended["exitCode"] == 128, (name, ended)
                assert "mount volumes: volumeMount" in ended["message"], (name, ended)
                assert error in ended["message"], (name, ended)
        # Nothing was made outside: not beside the volume, not on the host.
        assert list(outside.iterdir()) == []
        assert not (tmp_path / "nspod-sec-made").exists()
        assert sorted(p.name for p in vol.iterdir()) == ["abs", "d", "etc", "inside", "rel", "up"]
        # What stayed inside the volume was made there, and the containers wrote through it.
        assert (vol / "d" / "seen").read_text() == "sub-inside\n"
        assert (vol / "d" / "new" / "deeper" / "seen").read_text() == "sub-new\n"
        for made in host_etc:
            assert not made.exists(), made
    finally:
        for made in host_etc:  # were the fix ever lost, root must not keep these
            if os.geteuid() == 0 and made.is_dir():
                for f in made.iterdir():
                    f.unlink()
                made.rmdir()


def test_etc_files_follow_links_inside_the_root(pods):
    """/etc/hosts and /etc/resolv.conf are bound through the same lookup:
    the pod's own files are what the container reads."""
    pods.run(textwrap.dedent("""
    apiVersion: v1
    kind: Pod
    metadata: {name: secetc}
    spec:
      hostAliases: [{ip: 10.9.9.9, hostnames: [sec-alias]}]
      containers: [{name: app, command: [sleep, "300"]}]
    """))
    hosts = nspod("exec", "secetc", "--", "cat", "/etc/hosts").stdout
    assert "10.9.9.9\tsec-alias" in hosts
    resolv = nspod("exec", "secetc", "--", "cat", "/etc/resolv.conf").stdout
    assert resolv.startswith("nameserver ")


@pytest.mark.parametrize("kind,error", [
    ("FileOrCreate", "is a symlink to"),
    ("DirectoryOrCreate", "cannot create directory: File exists"),
])
def test_host_path_create_types_make_only_the_path_named(pods, tmp_path, kind, error):
    """A hostPath that is a dangling symlink: the kubelet's open(O_CREAT) would
    make the link's target, a path the manifest never named."""
    target = tmp_path / "elsewhere" / "made"
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "link"
    os.symlink(target, link)
    done = pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: seccreate}}
    spec:
      volumes: [{{name: h, hostPath: {{path: {link}, type: {kind}}}}}]
      containers: [{{name: app, command: [sleep, "1"], volumeMounts: [{{name: h, mountPath: /h}}]}}]
    """, check=False)
    assert done.returncode == 1, done.stderr
    assert error in done.stderr
    assert not target.exists()
    assert nspod("inspect", "seccreate", check=False).returncode == 1


# The host trees a process container sees read-only, with whatever is mounted
# below them on the host (cgroup hierarchies under /sys, files a container
# runtime bound into /etc): every one of those mounts must be read-only too.
READ_ONLY_TREES = ("/sys", "/usr", "/etc", "/opt")
OWN_FILES = ("/etc/hosts", "/etc/resolv.conf")  # the pod's own files, bound over the host's


def test_host_trees_are_read_only_with_every_submount(pods):
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: secro}
    spec:
      containers:
      - {name: app, command: [sleep, "300"]}
    """)
    info = nspod("exec", "secro", "--", "cat", "/proc/self/mountinfo").stdout
    writable = []
    checked = 0
    for line in info.splitlines():
        f = line.split()
        point, options = f[4], f[5].split(",")
        if point in OWN_FILES or point in MASKED:
            continue
        if any(point == t or point.startswith(t + "/") for t in READ_ONLY_TREES):
            checked += 1
            if "ro" not in options:
                writable.append(point)
    assert checked and not writable, f"writable in the container: {writable}"
