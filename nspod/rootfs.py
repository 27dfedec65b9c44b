"""A process container's root filesystem, built the way bubblewrap builds one:
a fresh tmpfs holding read-only binds of the host's system directories, its
own /tmp, /dev and /proc, and the pod's volumes at any path."""
import os

from .errors import NspodError
from .kernel import mounts

# Host directories the container sees read-only. A symlink on the host (merged
# /usr: /bin -> usr/bin) is recreated as the same symlink.
HOST_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
EMPTY_DIRS = ("proc", "sys", "dev", "tmp", "run", "root", "home", "var/tmp", "mnt")


def build(root, shm_dir):
    """Populate `root` (an existing directory) as the container's root."""
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
    mounts.bind("/sys", f"{root}/sys", readonly=True)
    mounts.tmpfs(f"{root}/tmp", mode="1777")
    mounts.tmpfs(f"{root}/run")
    os.chmod(f"{root}/var/tmp", 0o1777)
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
    """Bind one volumeMount at its mountPath inside root."""
    if mount.sub_path:
        source = os.path.join(source, mount.sub_path)
        if not os.path.lexists(source):
            os.makedirs(source, exist_ok=True)  # the kubelet creates a missing subPath
    target = root + mount.mount_path
    try:
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "w").close()
        mounts.bind(source, target, readonly=mount.read_only)
    except OSError as e:
        raise NspodError(f"volumeMount {mount.name} at {mount.mount_path}: {e.strerror}") from None
