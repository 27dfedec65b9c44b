"""A process container's root filesystem, built the way bubblewrap builds one:
a fresh tmpfs holding read-only binds of the host's system directories, its
own /tmp, /dev and /proc, and the pod's volumes at any path; then the kernel's
paths containerd hides or makes read-only.

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


def build(root, shm_dir, sys_writable=False):
    """Populate `root` (an existing directory) as a process container's root."""
    mounts.tmpfs(root)
    for name in EMPTY_DIRS:
        os.makedirs(f"{root}/{name}", exist_ok=True)
    for name in HOST_DIRS:
        host = f"/{name}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{root}/{name}")
        elif os.path.isdir(host):
            os.mkdir(f"{root}/{name}")
            mounts.bind(host, f"{root}/{name}", readonly=True)
    if host_root():
        hide_host_secrets(root)
    mounts.bind("/sys", f"{root}/sys", readonly=not sys_writable)  # writable: privileged only
    mounts.tmpfs(f"{root}/tmp", mode="1777")
    mounts.tmpfs(f"{root}/run")
    os.chmod(f"{root}/var/tmp", 0o1777)
    build_dev(f"{root}/dev", shm_dir)


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


def build_image(root, image_root, shm_dir, sys_writable=False):
    """Make `root` the container's root from its image: `image_root` (the
    record image.api.prepare made for this instance, whose proc, sys and dev
    are plain directories) mounted on it: an overlay of the image's layers
    under this instance's upper dir, or its copy bound; then the same /sys
    and /dev a process container gets. /tmp and /run are the image's, as
    under containerd."""
    if image_root["driver"] != "copy":  # overlay, fuse-overlayfs
        from .image import overlay

        overlay.mount(image_root, root)
    else:
        mounts.bind(image_root["root"], root, recursive=False)
    mounts.bind("/sys", f"{root}/sys", readonly=not sys_writable)  # writable: privileged only
    build_dev(f"{root}/dev", shm_dir)


def build_dev(dev, shm_dir):
    mounts.tmpfs(dev)
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        mounts.bind(f"/dev/{name}", f"{dev}/{name}", recursive=False)
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
    mounts.bind(str(shm_dir), f"{dev}/shm")


def mount_volume(root, mount, source):
    """Bind one volumeMount at its mountPath inside root. The target is
    resolved inside root, links followed as the container will see them
    (rooted there, as runc does), and missing directories made only there;
    a subPath is resolved inside the volume and may not leave it (the kubelet
    refuses such a subPath too)."""
    where = f"volumeMount {mount.name} at {mount.mount_path}"
    try:
        with ExitStack() as fds:
            if mount.sub_path:
                source = inroot.fd_path(_enter(fds, _sub_path(source, mount.sub_path)))
            root_fd = _enter(fds, inroot.open_root(root))
            target = _enter(fds, inroot.make(root_fd, mount.mount_path, directory=os.path.isdir(source)))
            mounts.bind_onto(source, root_fd, target, readonly=mount.read_only)
    except OSError as e:
        raise NspodError(f"{where}: {_reason(e, mount)}") from None


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
