"""Linux namespaces: create (unshare), join (setns), and name them.

A namespace is named the way `readlink /proc/PID/ns/KIND` prints it,
e.g. "net:[4026532301]"; two processes share a namespace iff the names match.
"""
import fcntl
import os
import struct

from .. import steps
from .libc import call
from .process import alive

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NS_GET_OWNER_UID = 0xB704  # ioctl_ns(2): _IO(0xb7, 0x4)

FLAGS = {
    "user": CLONE_NEWUSER,
    "mnt": CLONE_NEWNS,
    "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "cgroup": CLONE_NEWCGROUP,
}
KINDS = ("user", "net", "ipc", "uts", "pid", "mnt")
FLAG_NAMES = {flag: "CLONE_NEW" + {"mnt": "NS"}.get(kind, kind.upper()) for kind, flag in FLAGS.items()}
OPTIONS = {"user": "--user", "mnt": "--mount", "pid": "--pid", "net": "--net", "ipc": "--ipc",
           "uts": "--uts", "cgroup": "--cgroup"}  # unshare(1)'s and nsenter(1)'s


def unshare(*kinds):
    """Move the calling process into new namespaces of the given kinds.
    A new pid namespace applies to children forked afterwards, not the caller."""
    flags = 0
    for kind in kinds:
        flags |= FLAGS[kind]
    call("unshare", flags)
    if steps.sink is not None:
        steps.tell(f"unshare({steps.flag_names(flags, FLAG_NAMES)})",
                   by_hand="unshare " + " ".join(OPTIONS[kind] for kind in kinds))


def open_ns(pid, kind):
    """An fd for /proc/PID/ns/KIND, to join it later even if paths change."""
    path = f"/proc/{pid}/ns/{kind}"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    steps.name_fd(fd, path)
    return fd


def setns(fd, kind):
    """Join the namespace behind fd (pid: for children forked afterwards)."""
    if steps.sink is not None:  # (read before: joining mnt may hide /proc/self)
        joined, path = steps.fd_target(fd), steps.fd_name(fd)
    call("setns", fd, FLAGS[kind])
    if steps.sink is not None:
        target = path.split("/")[2] if path.startswith("/proc/") else "PID"
        steps.tell(f"setns({path}, {FLAG_NAMES[FLAGS[kind]]})", result=joined,
                   by_hand=f"nsenter --target {target} {OPTIONS[kind]}", joined={kind: joined})


def ns_id(pid, kind):
    """The namespace's name, as `readlink /proc/PID/ns/KIND` prints it."""
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def ns_ids(pid, kinds=KINDS):
    """Names of the namespaces of pid; empty dict if the process is gone."""
    try:
        return {kind: ns_id(pid, kind) for kind in kinds}
    except OSError:
        return {}


def open_ns_of(pid, started, kind):
    """An fd for the KIND namespace of the process (pid, started), or None if
    that process is gone (a zombie counts as gone). The fd pins the namespace:
    it stays valid, and names the same one, after the process has ended."""
    if not alive(pid, started):
        return None
    try:
        fd = open_ns(pid, kind)
    except OSError:
        return None
    # Checked again with the fd open: the pid was not reused in between.
    if not alive(pid, started):
        os.close(fd)
        return None
    return fd


def fd_ns_id(fd):
    """The name of the namespace behind fd ("user:[4026532301]")."""
    return os.readlink(f"/proc/self/fd/{fd}")


def owner_uid(fd):
    """The uid (as our user namespace sees it) that created the user namespace behind fd."""
    buf = bytearray(4)
    fcntl.ioctl(fd, NS_GET_OWNER_UID, buf, True)
    return struct.unpack("I", buf)[0]


def in_initial_user_ns():
    """True in the host's user namespace (its uid_map is the whole range)."""
    with open("/proc/self/uid_map") as f:
        return f.read().split() == ["0", "0", "4294967295"]
