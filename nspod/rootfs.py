"""A process container's root filesystem, built the way bubblewrap builds one:
a fresh tmpfs holding read-only binds of the host's system directories, its
own /tmp, /dev and /proc, and the pod's volumes at any path; then the kernel's
paths containerd hides or makes read-only. A privileged container also gets
the host's devices in its /dev.

Each function here writes its part of a container's start plan (`ops`,
nspod/executor); nspod-exec performs it. Every mount target is looked up
inside the root there (nspod/executor/inroot.c): no symlink in the bound
host tree or a volume, and no spelling of a mountPath, leads a mount or a
created directory out of the container's root."""
import os
import stat

from .errors import NspodError
from .kernel import mounts

# Host directories the container sees read-only. A symlink on the host (merged
# /usr: /bin -> usr/bin) is recreated as the same symlink.
HOST_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
EMPTY_DIRS = ("proc", "sys", "dev", "tmp", "run", "root", "home", "var", "var/tmp", "mnt")

# What containerd hides of the kernel in every container (its default OCI spec,
# pkg/oci/spec.go: MaskedPaths, ReadonlyPaths), applied in this order, as runc
# does after pivot_root: read-only paths first, then masks. MASK puts an empty
# read-only tmpfs over a directory and /dev/null over a file; READ_ONLY binds
# the path onto itself read-only. A path this kernel does not have is skipped.
READ_ONLY, MASK = "read-only", "masked"
KERNEL_PATHS = (
    ("/proc/bus", READ_ONLY),
    ("/proc/fs", READ_ONLY),
    ("/proc/irq", READ_ONLY),
    ("/proc/sys", READ_ONLY),
    ("/proc/sysrq-trigger", READ_ONLY),
    ("/proc/acpi", MASK),
    ("/proc/asound", MASK),
    ("/proc/kcore", MASK),
    ("/proc/keys", MASK),
    ("/proc/latency_stats", MASK),
    ("/proc/timer_list", MASK),
    ("/proc/timer_stats", MASK),
    ("/proc/sched_debug", MASK),
    ("/sys/firmware", MASK),
    ("/sys/devices/virtual/powercap", MASK),
    ("/proc/scsi", MASK),
)


def build(ops, root, shm_dir, privileged=False, host_secrets=None):
    """Populate `root` (an existing directory) as a process container's root.
    Every mount nodev (docs/ARCHITECTURE.md, "Device nodes"), unless
    privileged: then /sys writable, and device nodes open anywhere.
    host_secrets: as root, what host_secrets() found (else it walks now)."""
    nodev = not privileged
    ops.add("tmpfs", root, "0755", nodev)
    for name in EMPTY_DIRS:  # (parents first: "var" before "var/tmp")
        ops.add("mkdir", f"{root}/{name}")
    for name in HOST_DIRS:
        host = f"/{name}"
        if os.path.islink(host):
            ops.add("symlink", os.readlink(host), f"{root}/{name}")
        elif os.path.isdir(host):
            ops.add("mkdir", f"{root}/{name}")
            ops.add("bind", host, f"{root}/{name}", True, True, nodev)  # read-only, recursive
    if host_root():
        for path in host_secrets if host_secrets is not None else find_host_secrets():
            ops.add("hide", root, path)
    ops.add("bind", "/sys", f"{root}/sys", not privileged, True, nodev)
    ops.add("tmpfs", f"{root}/tmp", "1777", nodev)
    ops.add("tmpfs", f"{root}/run", "0755", nodev)
    ops.add("chmod", f"{root}/var/tmp", "1777")
    build_dev(ops, f"{root}/dev", shm_dir, privileged)


# Bound host trees whose private entries a root process container must not
# read (docs/ARCHITECTURE.md, "A root pod sees nothing of the host"). /usr,
# /lib, ... hold packaged files, which Debian makes world-readable.
SECRET_TREES = ("etc", "opt")


_host_root = None


def host_root():
    """True when this process is root of the host's user namespace (nspod run
    as root): the only case where host file permissions do not already keep
    the host's secrets from a container. (A process's user namespace never
    changes: read once.)"""
    global _host_root
    if _host_root is None:
        try:
            with open("/proc/self/uid_map") as f:
                _host_root = os.geteuid() == 0 and f.read().split() == ["0", "0", "4294967295"]
        except OSError:
            _host_root = False
    return _host_root


def private_entries(top):
    """The entries under `top` an unprivileged host user may not read: files
    without the others' read bit, directories without the others' read and
    search bits (not entered: they are hidden whole). Symlinks are skipped:
    what they name is checked where it is. The host's /etc/shadow, gshadow,
    ssl/private, ssh host keys, sudoers are such entries."""
    found = []
    try:
        entries = list(os.scandir(top))
    except OSError:
        return found
    for entry in entries:
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            if mode & 0o5 != 0o5:
                found.append(entry.path)
            else:
                found.extend(private_entries(entry.path))
        elif not stat.S_ISLNK(mode) and not mode & 0o4:
            found.append(entry.path)
    return found


def find_host_secrets():
    """As root, a process container sees the host's /etc as any unprivileged
    host user sees it: every entry others may not read (these paths) is
    masked as containerd masks /proc paths (an empty read-only tmpfs over a
    directory, /dev/null over a file, bound read-only: the tree stays
    read-only), each looked up inside the root by nspod-exec. The walk takes
    ~30 ms on a host with a large /opt: a pod's supervisor walks once, when
    its first container starts, and its restarts reuse it (an entry made
    private later is hidden from containers of pods made later)."""
    found = []
    for name in SECRET_TREES:
        if os.path.isdir(f"/{name}") and not os.path.islink(f"/{name}"):
            found.extend(private_entries(f"/{name}"))
    return found


def build_image(ops, root, image_root, shm_dir, privileged=False):
    """Make `root` the container's root from its image: `image_root` (the
    record image.api.prepare made for this instance, whose proc, sys and dev
    are plain directories) mounted on it: an overlay of the image's layers
    under this instance's upper dir, or its copy bound; then the same /sys
    and /dev a process container gets. /tmp and /run are the image's, as
    under containerd. nodev unless privileged: no device node the image
    ships or the container makes opens there."""
    if image_root["driver"] != "copy":  # overlay, fuse-overlayfs
        from .image import overlay

        overlay.mount_op(ops, image_root, root)
    else:
        ops.add("bind", image_root["root"], root, False, False, False)
    if not privileged:
        ops.add("addflags", root, mounts.MS_NODEV, False)
    ops.add("bind", "/sys", f"{root}/sys", not privileged, True, not privileged)
    build_dev(ops, f"{root}/dev", shm_dir, privileged)


def build_dev(ops, dev, shm_dir, privileged=False):
    # nodev unless privileged: as root, add_host_devices makes nodes here.
    ops.add("tmpfs", dev, "0755", not privileged)
    for name in DEVICES:
        ops.add("touch", f"{dev}/{name}")
        # The host's node, bound: the bind keeps its source's flags, so it
        # opens on a nodev /dev; read-only, so a root container's chmod or
        # chown cannot change the host's node (EROFS; reads and writes of
        # the device itself still work).
        ops.add("bind", f"/dev/{name}", f"{dev}/{name}", True, False, False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):
        ops.add("symlink", target, f"{dev}/{name}")
    ops.add("mkdir", f"{dev}/pts")
    ops.add("mount", "devpts", f"{dev}/pts", "devpts", mounts.MS_NOSUID | mounts.MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=620")
    # One /dev/shm per pod: POSIX shared memory works across its containers,
    # as the pod shares one IPC namespace.
    ops.add("mkdir", f"{dev}/shm")
    # nodev: with hostIPC this is the node's /dev/shm, which a host may mount without it.
    ops.add("bind", str(shm_dir), f"{dev}/shm", False, True, not privileged)


# containerd's HostDevices (pkg/oci/utils_unix.go), what a privileged
# container gets: every block and character device under the host's /dev,
# walked without following links; fifos, any `console`, and directories of
# these names (the container keeps its own pts, shm, mqueue; fd is /proc's).
HOST_DEV_SKIPPED = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")
MAX_HOST_DEVICES = 4096  # bounds the nodes (rootless: the mounts) one container start makes


def host_devices(top="/dev", usable=None, limit=MAX_HOST_DEVICES):
    """[(path under top, its lstat)] of the device nodes containerd's
    HostDevices finds, in a stable order; usable(path) (if given) picks some.
    A directory that cannot be read is skipped (rootless: as containerd in a
    user namespace). More than `limit` is an error, not a silent cut."""
    found, pending = [], [""]
    while pending:
        rel = pending.pop()
        try:
            entries = sorted(os.scandir(os.path.join(top, rel)), key=lambda e: e.name)
        except (FileNotFoundError, PermissionError):
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone meanwhile
            path = os.path.join(rel, entry.name)
            if stat.S_ISDIR(st.st_mode):
                if entry.name not in HOST_DEV_SKIPPED:
                    pending.append(path)
            elif _is_device(st) and entry.name != "console" and (usable is None or usable(entry.path)):
                found.append((path, st))
                if len(found) > limit:
                    raise NspodError(f"{top} has more than {limit} device nodes: nspod gives a "
                                     f"privileged container at most {limit}")
    return sorted(found, key=lambda f: f[0])


def _is_device(st):
    return stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)


def user_may_open(path):
    """Rootless: a node the invoking user may open for reading or writing
    (access(2), as the user: host root is not mapped, so no capability
    overrides the node's mode). Not the virtual consoles, as rootless Podman
    leaves them out."""
    name = os.path.basename(path)
    if name.startswith("tty") and name[3:].isdigit():
        return False
    return os.access(path, os.R_OK) or os.access(path, os.W_OK)


def add_host_devices(ops, root):
    """privileged: the host's devices in the container's /dev. As root each
    is a node of its own made as runc makes it (mknod with the host node's
    type, number, mode and owner); rootless, where mknod is refused, the
    host's node is bound, as rootless Podman does, for the nodes the user may
    open (nspod-exec checks it is still the device found here). Names the
    container already has (null, tty, ptmx, pts, shm, ...) stay its own.
    Every target is looked up inside the root."""
    as_root = host_root()
    for rel, st in host_devices(usable=None if as_root else user_may_open):
        ops.add("hostdev", root, f"/dev/{rel}", f"/dev/{rel}", st.st_mode, st.st_rdev, st.st_uid, st.st_gid,
                as_root)


def mount_volume(ops, root, mount, source, privileged=False):
    """Bind one volumeMount at its mountPath inside root. The target is
    resolved inside root, links followed as the container will see them
    (rooted there, as runc does), and missing directories made only there;
    a subPath is resolved inside the volume and may not leave it (the kubelet
    refuses such a subPath too). The bind is nodev, every submount too,
    unless privileged or the volume is one node containerd's device cgroup
    lets a container open: decided on the source opened once, which is then
    what is bound (nspod/executor/main.c mount_volume)."""
    ops.add("volume", root, mount.name, mount.mount_path, source, mount.sub_path or "", mount.read_only,
            privileged)
