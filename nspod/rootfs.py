"""A process container's root filesystem, built the way bubblewrap builds one:
a fresh tmpfs holding read-only binds of the host's system directories, its
own /tmp, /dev and /proc, and the pod's volumes at any path; then the kernel's
paths containerd hides or makes read-only. A privileged container also gets
the host's devices in its /dev.

Every mount target is looked up inside the root (`kernel/inroot.py`): no
symlink in the bound host tree or a volume, and no spelling of a mountPath,
leads a mount or a created directory out of the container's root."""
import errno
import os
import stat
from contextlib import ExitStack

from .errors import NspodError
from .kernel import inroot, mounts

# Host directories the container sees read-only. A symlink on the host (merged
# /usr: /bin -> usr/bin) is recreated as the same symlink.
HOST_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
EMPTY_DIRS = ("proc", "sys", "dev", "tmp", "run", "root", "home", "var/tmp", "mnt")

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


def build(root, shm_dir, privileged=False):
    """Populate `root` (an existing directory) as a process container's root.
    Every mount nodev (docs/ARCHITECTURE.md, "Device nodes"), unless
    privileged: then /sys writable, and device nodes open anywhere."""
    nodev = not privileged
    mounts.tmpfs(root, nodev=nodev)
    for name in EMPTY_DIRS:
        os.makedirs(f"{root}/{name}", exist_ok=True)
    for name in HOST_DIRS:
        host = f"/{name}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{root}/{name}")
        elif os.path.isdir(host):
            os.mkdir(f"{root}/{name}")
            mounts.bind(host, f"{root}/{name}", readonly=True, nodev=nodev)
    if host_root():
        hide_host_secrets(root)
    mounts.bind("/sys", f"{root}/sys", readonly=not privileged, nodev=nodev)
    mounts.tmpfs(f"{root}/tmp", mode="1777", nodev=nodev)
    mounts.tmpfs(f"{root}/run", nodev=nodev)
    os.chmod(f"{root}/var/tmp", 0o1777)
    build_dev(f"{root}/dev", shm_dir, privileged)


# Bound host trees whose private entries a root process container must not
# read (docs/ARCHITECTURE.md, "A root pod sees nothing of the host"). /usr,
# /lib, ... hold packaged files, which Debian makes world-readable.
SECRET_TREES = ("etc", "opt")


def host_root():
    """True when this process is root of the host's user namespace (nspod run
    as root): the only case where host file permissions do not already keep
    the host's secrets from a container."""
    try:
        with open("/proc/self/uid_map") as f:
            return os.geteuid() == 0 and f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


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


def hide_host_secrets(root):
    """As root, a process container sees the host's /etc as any unprivileged
    host user sees it: every entry others may not read is masked as containerd
    masks /proc paths (an empty read-only tmpfs over a directory, /dev/null
    over a file, bound read-only here: the tree stays read-only). Looked up
    inside the root, so no link leads a mask out."""
    with ExitStack() as fds:
        root_fd = _enter(fds, inroot.open_root(root))
        for name in SECRET_TREES:
            if not os.path.isdir(f"{root}/{name}") or os.path.islink(f"{root}/{name}"):
                continue
            for path in private_entries(f"{root}/{name}"):
                inside = path[len(root):]
                try:
                    fd = inroot.lookup(root_fd, inside)
                except FileNotFoundError:
                    continue  # removed on the host meanwhile
                try:
                    if stat.S_ISDIR(os.fstat(fd).st_mode):
                        mounts.mask(fd)
                    else:
                        mounts.bind_onto("/dev/null", root_fd, fd, readonly=True, recursive=False)
                except OSError as e:
                    raise NspodError(f"hide {inside}: {e.strerror or e}") from None
                finally:
                    os.close(fd)


def build_image(root, image_root, shm_dir, privileged=False):
    """Make `root` the container's root from its image: `image_root` (the
    record image.api.prepare made for this instance, whose proc, sys and dev
    are plain directories) mounted on it: an overlay of the image's layers
    under this instance's upper dir, or its copy bound; then the same /sys
    and /dev a process container gets. /tmp and /run are the image's, as
    under containerd. nodev unless privileged: no device node the image
    ships or the container makes opens there."""
    if image_root["driver"] != "copy":  # overlay, fuse-overlayfs
        from .image import overlay

        overlay.mount(image_root, root)
    else:
        mounts.bind(image_root["root"], root, recursive=False)
    if not privileged:
        mounts.add_flags(root, mounts.MS_NODEV)
    mounts.bind("/sys", f"{root}/sys", readonly=not privileged, nodev=not privileged)
    build_dev(f"{root}/dev", shm_dir, privileged)


def build_dev(dev, shm_dir, privileged=False):
    # nodev unless privileged: as root, add_host_devices makes nodes here.
    mounts.tmpfs(dev, nodev=not privileged)
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        # The host's node, bound: the bind keeps its source's flags, so it
        # opens on a nodev /dev; read-only, so a root container's chmod or
        # chown cannot change the host's node (EROFS; reads and writes of
        # the device itself still work).
        mounts.bind(f"/dev/{name}", f"{dev}/{name}", readonly=True, recursive=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/pts")
    mounts.mount("devpts", f"{dev}/pts", "devpts", mounts.MS_NOSUID | mounts.MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=620")
    # One /dev/shm per pod: POSIX shared memory works across its containers,
    # as the pod shares one IPC namespace.
    os.mkdir(f"{dev}/shm")
    # nodev: with hostIPC this is the node's /dev/shm, which a host may mount without it.
    mounts.bind(str(shm_dir), f"{dev}/shm", nodev=not privileged)


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


def add_host_devices(root):
    """privileged: the host's devices in the container's /dev. As root each
    is a node of its own made as runc makes it (mknod with the host node's
    type, number, mode and owner); rootless, where mknod is refused, the
    host's node is bound, as rootless Podman does, for the nodes the user may
    open. Names the container already has (null, tty, ptmx, pts, shm, …) stay
    its own. Every target is looked up inside the root."""
    as_root = host_root()
    with ExitStack() as fds:
        root_fd = _enter(fds, inroot.open_root(root))
        for rel, st in host_devices(usable=None if as_root else user_may_open):
            target = f"/dev/{rel}"
            if inroot.lexists(root_fd, target):
                continue
            try:
                if as_root:
                    _make_node(root_fd, target, st)
                else:
                    _bind_node(root_fd, target, f"/dev/{rel}", st)
            except OSError as e:
                raise NspodError(f"{target}: {e.strerror or e}") from None


def _make_node(root_fd, target, st):
    parent_path, name = os.path.split(target)
    parent = inroot.make(root_fd, parent_path)
    try:
        os.mknod(name, st.st_mode, st.st_rdev, dir_fd=parent)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=parent, follow_symlinks=False)
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=parent)  # mknod's mode went through the umask
    finally:
        os.close(parent)


def _bind_node(root_fd, target, source, st):
    """Bind the host's node: opened without following a link, and still the
    device the walk found, so only a device node is ever bound."""
    with ExitStack() as fds:
        node = _enter(fds, os.open(source, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC))
        now = os.fstat(node)
        if stat.S_IFMT(now.st_mode) != stat.S_IFMT(st.st_mode) or now.st_rdev != st.st_rdev:
            raise OSError(errno.ENXIO, "the host's node changed while it was added", source)
        target_fd = _enter(fds, inroot.make(root_fd, target, directory=False))
        mounts.bind_onto(inroot.fd_path(node), root_fd, target_fd, recursive=False)


def mount_volume(root, mount, source, privileged=False):
    """Bind one volumeMount at its mountPath inside root. The target is
    resolved inside root, links followed as the container will see them
    (rooted there, as runc does), and missing directories made only there;
    a subPath is resolved inside the volume and may not leave it (the kubelet
    refuses such a subPath too). The bind is nodev, every submount too,
    unless privileged or the volume is one node containerd's device cgroup
    lets a container open (OPENABLE_DEVICES): decided on the source opened
    once, which is then what is bound."""
    where = f"volumeMount {mount.name} at {mount.mount_path}"
    try:
        with ExitStack() as fds:
            if mount.sub_path:
                found = _enter(fds, _sub_path(source, mount.sub_path))
            else:  # links followed: a hostPath names a place on the host
                found = _enter(fds, os.open(source, os.O_PATH | os.O_CLOEXEC))
            st = os.fstat(found)
            root_fd = _enter(fds, inroot.open_root(root))
            target = _enter(fds, inroot.make(root_fd, mount.mount_path, directory=stat.S_ISDIR(st.st_mode)))
            mounts.bind_onto(inroot.fd_path(found), root_fd, target, readonly=mount.read_only,
                             nodev=not privileged and not openable_device(st))
    except OSError as e:
        raise NspodError(f"{where}: {_reason(e, mount)}") from None


# The character devices containerd's device cgroup lets a non-privileged
# container open (oci.WithDefaultUnixDevices, runc's AllowedDevices): null,
# zero, full, random, urandom, tty, console, ptmx, /dev/net/tun, and any
# /dev/pts/N (major 136). A volume that is one of these nodes (a hostPath
# /dev/net/tun for a VPN sidecar) opens as under containerd; nothing else
# reached through a volume does.
OPENABLE_DEVICES = {(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (10, 200)}
OPENABLE_MAJORS = {136}


def openable_device(st):
    if not stat.S_ISCHR(st.st_mode):
        return False
    number = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return number in OPENABLE_DEVICES or number[0] in OPENABLE_MAJORS


def _sub_path(volume, sub_path):
    """An fd for the subPath inside the volume's directory, made if missing
    (as the kubelet makes it: a directory with the volume's mode)."""
    with ExitStack() as fds:
        vol_fd = _enter(fds, inroot.open_root(volume))
        try:
            return inroot.lookup(vol_fd, sub_path, inroot.BENEATH)
        except FileNotFoundError:
            mode = os.stat(vol_fd).st_mode & 0o7777
            return inroot.make(vol_fd, sub_path, resolve=inroot.BENEATH, mode=mode)


def _reason(e, mount):
    if e.errno == errno.EXDEV and mount.sub_path:
        return f"subPath {mount.sub_path}: a symlink or '..' in it leads out of the volume"
    text = e.strerror or str(e)
    return f"{text}: {e.filename}" if e.filename else text


def _enter(stack, fd):
    stack.callback(os.close, fd)
    return fd


def make_root_readonly(own_tmp):
    """securityContext.readOnlyRootFilesystem, after pivot_root and every
    mount: the root mount itself read-only, not what is mounted on it (as runc
    remounts only the rootfs): /dev, /dev/shm, /proc, /sys and the volumes
    keep their own mode. own_tmp (a process container): nspod's /tmp and /run
    tmpfs stand in for an image's own directories, which are part of the root
    under runc, so they turn read-only too, unless a volume covers them."""
    mounts.remount_readonly("/")
    if not own_tmp:
        return
    with open("/proc/self/mountinfo") as f:
        table = [line.split() for line in f]
    root_id = next(fields[0] for fields in table if fields[4] == "/")
    for point in ("/tmp", "/run"):
        stacked = [fields for fields in table if fields[4] == point]
        if len(stacked) == 1 and stacked[0][1] == root_id:  # ours, and nothing mounted over it
            mounts.remount_readonly(point)


def confine_kernel_paths():
    """Mask and make read-only the KERNEL_PATHS of this (new) root, after
    pivot_root: their /proc is the container's, their /sys the bound one."""
    with ExitStack() as fds:
        root_fd = _enter(fds, inroot.open_root("/"))
        for path, how in KERNEL_PATHS:
            try:
                fd = inroot.lookup(root_fd, path)
            except FileNotFoundError:
                continue  # not on this kernel (e.g. no /proc/sched_debug)
            try:
                if how == READ_ONLY:
                    mounts.bind_onto(inroot.fd_path(fd), root_fd, fd, readonly=True)
                else:
                    mounts.mask(fd)
            except OSError as e:
                raise NspodError(f"{path} ({how}): {e.strerror or e}") from None
            finally:
                os.close(fd)
