"""Device nodes, as containerd's device cgroup allows them: a root container
keeps CAP_MKNOD and may make a node, but opens only the default ones. nspod
gets there with nodev: every mount of a non-privileged container is nodev
but devpts and the bound default nodes, so a node made (or shipped in an
image) anywhere it can write does not open. Checked from inside real
containers with the numbers of a real host disk; rootless (where mknod is
refused outright) and, via tests/root/test_root_device_nodes.py, as root,
where a privileged container beside it opens what it makes."""
import json
import os
import shutil
import uuid

from imagepods import base_entries, image_dir, LayeredImage, registry  # noqa: F401 (fixtures)
from podtest import nspod

# containerd's device cgroup, written out here and not taken from nspod: the
# nodes a non-privileged container may open (null, zero, full, random,
# urandom, tty, console, ptmx, tun; pts is major 136).
ALLOWED = {(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (10, 200)}
DEFAULTS = ["null", "zero", "full", "random", "urandom"]

# Run inside: mknod a block node with the given numbers in each place, open
# it read-only (harmless even if it opened), remove it; the default nodes;
# every mount with its options and, for a device node bound alone, its numbers.
PROBE = """
import errno, json, os, stat, sys
major, minor, places, opens = json.loads(sys.argv[1])
def code(e): return errno.errorcode[e.errno]
def try_open(path, flags=os.O_RDONLY):
    try:
        os.close(os.open(path, flags))
        return "yes"
    except OSError as e:
        return code(e)
out = {"made": {}, "opened": {}, "defaults": {}, "opens": {}, "mounts": []}
for place in places:
    node = os.path.join(place, "nspod-probe-" + sys.argv[2])
    try:
        os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(major, minor))
    except OSError as e:
        out["made"][place] = code(e)
        continue
    out["made"][place] = "yes"
    out["opened"][place] = try_open(node)
    os.unlink(node)
for name in %(defaults)r:
    out["defaults"][name] = try_open("/dev/" + name, os.O_RDWR)
with open("/dev/zero", "rb") as f, open("/dev/urandom", "rb") as g, open("/dev/null", "wb") as h:
    out["read"] = [len(f.read(8)), len(g.read(8)), h.write(b"x")]
try:
    os.chmod("/dev/null", 0o600)
    out["chmod_null"] = "yes"
except OSError as e:
    out["chmod_null"] = code(e)
master, slave = os.openpty()  # /dev/ptmx -> the container's devpts, and a /dev/pts/N
os.write(master, b"hi\\n")
out["pty"] = os.read(slave, 3).decode()
out["tty"] = try_open("/dev/tty", os.O_RDWR)
for path in opens:
    out["opens"][path] = try_open(path)
for line in open("/proc/self/mountinfo"):
    f = line.split()
    point = f[4].replace("\\\\040", " ")
    device = None
    try:
        st = os.lstat(point)
        if stat.S_ISCHR(st.st_mode):
            device = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    except OSError:
        pass
    out["mounts"].append({"point": point, "options": f[5].split(","), "fstype": f[f.index("-") + 1],
                          "device": device})
print(json.dumps(out))
""" % {"defaults": DEFAULTS}

# Places a root container can write: its root, its own tmpfs, /dev, /dev/shm,
# an emptyDir on disk and in memory, a hostPath directory.
PLACES = ["/", "/tmp", "/run", "/var/tmp", "/dev", "/dev/shm", "/empty", "/memory", "/host"]


def host_disk():
    """(major, minor) of a real block device of this host: the one under /
    first, then those in /sys/dev/block. As root, the first whose host node
    opens read-only, so a node with its numbers would open wherever nodev
    does not stop it (a sandboxed host may refuse even root some disks)."""
    dev = os.stat("/").st_dev
    candidates = [f"{os.major(dev)}:{os.minor(dev)}"] + sorted(os.listdir("/sys/dev/block"))
    candidates = [c for c in candidates if os.path.exists(f"/sys/dev/block/{c}")]
    assert candidates, "this host has no block device in /sys/dev/block to test with"
    if os.geteuid() == 0:
        candidates = [c for c in candidates if _host_node_opens(c)]
        assert candidates, "no block device of this host opens read-only for root: nothing to test with"
    major, minor = candidates[0].split(":")
    return int(major), int(minor)


def _host_node_opens(numbers):
    with open(f"/sys/dev/block/{numbers}/uevent") as f:
        name = dict(line.strip().partition("=")[::2] for line in f).get("DEVNAME")
    try:
        os.close(os.open(f"/dev/{name}", os.O_RDONLY))
        return True
    except OSError:
        return False


def probe(pod, container, places=PLACES, opens=()):
    args = json.dumps([*host_disk(), list(places), list(opens)])
    return json.loads(nspod("exec", pod, "-c", container, "--", "python3", "-c", PROBE, args,
                            uuid.uuid4().hex[:8]).stdout)


def mount_of(seen, path):
    """The mount a path lies on: the last one mounted at its longest prefix."""
    best = None
    for m in seen["mounts"]:
        point = m["point"]
        if path == point or path.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= len(best["point"]):
                best = m
    return best


def assert_only_allowed_devices(seen):
    """Every mount nodev, but devpts and a device node bound alone that
    containerd's cgroup lets a container open."""
    for m in seen["mounts"]:
        if "nodev" in m["options"] or m["fstype"] == "devpts":
            continue
        assert m["device"] and tuple(m["device"]) in ALLOWED, m


def assert_defaults_work(seen):
    assert seen["defaults"] == {name: "yes" for name in DEFAULTS}, seen["defaults"]
    assert seen["read"] == [8, 8, 1] and seen["pty"] == "hi\n", seen
    assert seen["tty"] in ("yes", "ENXIO"), seen  # ENXIO: no controlling terminal; never EACCES
    assert seen["chmod_null"] == "EROFS", seen  # the host's /dev/null, bound read-only


POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  hostIPC: {host_ipc}
  volumes:
  - {{name: empty, emptyDir: {{}}}}
  - {{name: memory, emptyDir: {{medium: Memory}}}}
  - {{name: host, hostPath: {{path: {host}, type: Directory}}}}
  - {{name: devdir, hostPath: {{path: /dev, type: Directory}}}}
  - {{name: tun, hostPath: {{path: /dev/net/tun}}}}
  - {{name: loopctl, hostPath: {{path: /dev/loop-control}}}}
  containers:
  - name: plain
    command: [sleep, "300"]
    volumeMounts: &mounts
    - {{name: empty, mountPath: /empty}}
    - {{name: memory, mountPath: /memory}}
    - {{name: host, mountPath: /host}}
    - {{name: devdir, mountPath: /hostdev}}
    - {{name: tun, mountPath: /tun}}
    - {{name: loopctl, mountPath: /loopctl}}
  - name: privileged
    command: [sleep, "300"]
    securityContext: {{privileged: true}}
    volumeMounts: *mounts
"""
# What each container opens through a volume: /dev/net/tun alone is one of
# the allowed nodes (0666 here, scripts/setup); loop-control is not (0660
# root:disk: rootless it is refused by its mode too). Through the hostPath of
# /dev, a directory, nothing opens for the plain container.
OPENS = ["/tun", "/loopctl", "/hostdev/loop-control", "/hostdev/null"]


def run_pod(pods, tmp_path, name, host_ipc=False):
    host = tmp_path / "host"
    host.mkdir()
    pods.run(POD.format(name=name, host=host, host_ipc=str(host_ipc).lower()))
    return host


def test_made_nodes_do_not_open_anywhere_a_container_writes(pods, tmp_path):
    """The plain container: as root every mknod works and no node opens
    (EACCES); rootless mknod itself is refused (EPERM). Every mount is nodev
    but devpts and allowed nodes; the defaults, a pty and a hostPath of
    /dev/net/tun work. The privileged container beside it, as root, opens
    its nodes and the host's devices through the same volumes."""
    as_root = os.geteuid() == 0
    host = run_pod(pods, tmp_path, "devnodes")
    seen = probe("devnodes", "plain", opens=OPENS)
    if as_root:
        assert seen["made"] == {p: "yes" for p in PLACES}, seen["made"]
        assert seen["opened"] == {p: "EACCES" for p in PLACES}, seen["opened"]
    else:
        assert seen["made"] == {p: "EPERM" for p in PLACES}, seen["made"]
    for place in PLACES:
        assert "nodev" in mount_of(seen, place)["options"], (place, mount_of(seen, place))
    for point in ("/usr", "/etc", "/sys", "/sys/fs/cgroup", "/proc", "/etc/hosts", "/hostdev", "/hostdev/pts",
                  "/loopctl"):
        assert "nodev" in mount_of(seen, point)["options"], (point, mount_of(seen, point))
    assert_only_allowed_devices(seen)
    assert_defaults_work(seen)
    assert seen["opens"] == {"/tun": "yes", "/loopctl": "EACCES", "/hostdev/loop-control": "EACCES",
                             "/hostdev/null": "EACCES"}, seen["opens"]
    assert "nodev" not in mount_of(seen, "/tun")["options"]
    assert not list(host.iterdir())  # the probe removed what it made

    privileged = probe("devnodes", "privileged", opens=OPENS)
    if as_root:  # /dev/shm and the Memory emptyDir are the pod's own tmpfs, nodev for all (as containerd's shm)
        opened = {p: "EACCES" if p in ("/dev/shm", "/memory") else "yes" for p in PLACES}
        assert privileged["opened"] == opened, privileged["opened"]
        assert privileged["opens"] == {p: "yes" for p in OPENS}, privileged["opens"]
    else:
        assert privileged["made"] == {p: "EPERM" for p in PLACES}, privileged["made"]
        assert privileged["opens"]["/tun"] == "yes" and privileged["opens"]["/hostdev/null"] == "yes", privileged
    assert_defaults_work(privileged)


def test_host_ipc_dev_shm_is_nodev(pods, tmp_path):
    """hostIPC: /dev/shm is the node's own, which the host mounts without
    nodev here; the container's bind of it is nodev."""
    run_pod(pods, tmp_path, "devnodes-ipc", host_ipc=True)
    seen = probe("devnodes-ipc", "plain", places=["/dev/shm"])
    assert seen["made"]["/dev/shm"] == ("yes" if os.geteuid() == 0 else "EPERM"), seen["made"]
    assert seen["opened"].get("/dev/shm", "EACCES") == "EACCES", seen["opened"]
    assert "nodev" in mount_of(seen, "/dev/shm")["options"], mount_of(seen, "/dev/shm")
    assert not [n for n in os.listdir("/dev/shm") if n.startswith("nspod-probe-")]


# Run inside an image (busybox only): open the node the image ships, make
# one in the root and open it, then the mount table.
IMAGE_PROBE = """
busybox head -c 1 /shipped >/dev/null 2>/tmp/err && echo shipped=opened || echo "shipped=$(cat /tmp/err)"
if busybox mknod /made b {major} {minor} 2>/tmp/err; then
  busybox head -c 1 /made >/dev/null 2>/tmp/err && echo made=opened || echo "made=$(cat /tmp/err)"
  busybox rm -f /made
else
  echo "made=$(cat /tmp/err)"
fi
cat /proc/self/mountinfo
"""


def test_image_root_is_nodev(pods, registry, image_dir, monkeypatch):
    """The image's root, with each driver: nodev, so neither a node the image
    ships (as root the layer's node is made in the store) nor one the
    container makes opens there. As root a privileged container of the same
    image opens both (its root is not nodev)."""
    major, minor = host_disk()
    image = LayeredImage([base_entries() + [("shipped", "blockdev", (major, minor), 0)]])
    registry.push("test/devnodes", "v1", image)
    ref = f"{registry.netloc}/test/devnodes:v1"
    try:
        for driver in ("overlay", "fuse-overlayfs", "copy"):
            monkeypatch.setenv("NSPOD_IMAGE_DRIVER", driver)
            name = f"devnodes-{driver[:4]}"
            pods.run(f"""
            apiVersion: v1
            kind: Pod
            metadata: {{name: {name}}}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - name: app
                image: "{ref}"
                command: [sleep, "300"]
              - name: privileged
                image: "{ref}"
                command: [sleep, "300"]
                securityContext: {{privileged: true}}
            """)
            shown = {c["rootfs"]["driver"] for c in pods.inspect(name)["nspod"]["containers"]}
            assert shown == {driver}
            script = IMAGE_PROBE.format(major=major, minor=minor)
            lines = nspod("exec", name, "-c", "app", "--", "/bin/sh", "-c", script).stdout.splitlines()
            privileged = nspod("exec", name, "-c", "privileged", "--", "/bin/sh", "-c", script).stdout.splitlines()
            if os.geteuid() == 0:
                assert lines[0].startswith("shipped=") and "Permission denied" in lines[0], (driver, lines[0])
                assert lines[1].startswith("made=") and "Permission denied" in lines[1], (driver, lines[1])
                if driver != "fuse-overlayfs":  # which mounts itself nodev (libfuse's default), privileged too
                    assert privileged[:2] == ["shipped=opened", "made=opened"], (driver, privileged[:2])
            else:  # rootless: the layer's node is not made, nor may the container make one
                assert "No such file" in lines[0] and "Operation not permitted" in lines[1], (driver, lines[:2])
            root = [line.split() for line in lines[2:] if line.split()[4] == "/"][-1]
            assert "nodev" in root[5].split(","), (driver, root)
            nspod("rm", "-f", name)
    finally:
        if os.geteuid() == 0:  # the layer in the store holds a node of the host's disk
            pods.remove_all()
            shutil.rmtree(image_dir)
