"""A root pod sees nothing of the host it should not: a process container run
by root reads none of the host's private files under /etc and /opt (what an
unprivileged host user may not read is masked), and nothing of the host is
writable from inside except the pod's declared volumes."""
import json
import os

from nspod import rootfs
from podtest import nspod, wait_for

# Run inside the container: for each path, what reading it gives; then every
# mount it has that is writable, with its mount source and file system.
PROBE = r"""
import json, os, sys
out = {"read": {}, "rw": []}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            out["read"][path] = "entries:%d" % len(os.listdir(path))
        else:
            with open(path, "rb") as f:
                out["read"][path] = "bytes:%d" % len(f.read())
    except OSError as e:
        out["read"][path] = "error:%d" % e.errno
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    sep = fields.index("-")
    if "rw" in fields[5].split(","):
        out["rw"].append([fields[4], fields[sep + 1], fields[3]])
def touch(path):
    try:
        open(path, "w").close()
        os.unlink(path)
        return "ok"
    except OSError as e:
        return "error:%d" % e.errno
out["write"] = {d: touch(d + "/.nspod-probe") for d in
                ("/etc", "/usr", "/opt", "/sys", "/sys/fs/cgroup", "/data", "/tmp")}
try:
    with open("/proc/sys/kernel/core_pattern", "r+") as f:
        f.write(f.read())
    out["write"]["core_pattern"] = "ok"
except OSError as e:
    out["write"]["core_pattern"] = "error:%d" % e.errno
print(json.dumps(out), flush=True)
"""

# Secrets a Debian host may hold; those present here must be unreadable.
KNOWN_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssl/private",
                 "/etc/security/opasswd", "/etc/sudoers", "/etc/ssh/ssh_host_rsa_key",
                 "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key")


def private_here():
    found = set(rootfs.private_entries("/etc")) | set(rootfs.private_entries("/opt"))
    return sorted(found | {p for p in KNOWN_SECRETS if os.path.lexists(p)})


def test_root_process_container_reads_no_host_secret_and_writes_only_volumes(pods, tmp_path):
    secrets = private_here()
    assert "/etc/shadow" in secrets
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sec2-secrets"}, "spec": {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "a", "command": ["sh", "-c", 'python3 -c "$0" "$@" && exec sleep 300',
                                                 PROBE, *secrets],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                         {"name": "host", "mountPath": "/hostdir"}]}],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": str(host_dir)}}]}}
    pods.run(json.dumps(manifest))
    logged = wait_for(lambda: nspod("logs", "sec2-secrets", check=False).stdout.strip(), what="the probe")
    seen = json.loads(logged.splitlines()[0])

    for path in secrets:  # each empty: masked by an empty tmpfs or /dev/null
        assert seen["read"][path] in ("bytes:0", "entries:0"), (path, seen["read"][path])
    # The host really has content there (the test would prove nothing otherwise).
    assert os.stat("/etc/shadow").st_size > 0

    # Writable mounts: the container's own tmpfs (root, /tmp, /run, /dev,
    # /dev/shm), devpts, proc (its /proc/sys is read-only), the device
    # nodes, the pod's /etc/hosts & co., and the declared volumes. No bound
    # host tree.
    allowed_points = {"/", "/tmp", "/run", "/dev", "/dev/shm", "/dev/pts", "/proc", "/data", "/hostdir",
                      "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}
    for point, fstype, root in seen["rw"]:
        if fstype == "devtmpfs" and root in {f"/{d}" for d in rootfs.DEVICES}:
            continue  # a device node: /dev/null, ..., and /dev/null over a masked path
        assert point in allowed_points, (point, fstype, root)
    erofs = "error:30"
    assert seen["write"] == {"/etc": erofs, "/usr": erofs, "/opt": erofs, "/sys": erofs,
                             "/sys/fs/cgroup": erofs, "core_pattern": erofs, "/data": "ok", "/tmp": "ok"}


def test_private_entries_of_a_tree(tmp_path):
    (tmp_path / "open").write_text("x")
    (tmp_path / "secret").write_text("x")
    (tmp_path / "secret").chmod(0o600)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "key").write_text("k")
    (tmp_path / "dir" / "key").chmod(0o640)
    (tmp_path / "closed").mkdir(mode=0o700)
    (tmp_path / "closed").chmod(0o700)
    (tmp_path / "link").symlink_to("secret")
    found = sorted(os.path.relpath(p, tmp_path) for p in rootfs.private_entries(str(tmp_path)))
    assert found == ["closed", "dir/key", "secret"]
