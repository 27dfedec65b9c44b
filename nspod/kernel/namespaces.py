"""Linux namespaces: create (unshare), join (setns), and name them.

A namespace is named the way `readlink /proc/PID/ns/KIND` prints it,
e.g. "net:[4026532301]"; two processes share a namespace iff the names match.
"""
import os

from .libc import call

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

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


def unshare(*kinds):
    """Move the calling process into new namespaces of the given kinds.
    A new pid namespace applies to children forked afterwards, not the caller."""
    flags = 0
    for kind in kinds:
        flags |= FLAGS[kind]
    call("unshare", flags)


def open_ns(pid, kind):
    """An fd for /proc/PID/ns/KIND, to join it later even if paths change."""
    return os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)


def setns(fd, kind):
    """Join the namespace behind fd (pid: for children forked afterwards)."""
    call("setns", fd, FLAGS[kind])


def ns_id(pid, kind):
    """The namespace's name, as `readlink /proc/PID/ns/KIND` prints it."""
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def ns_ids(pid, kinds=KINDS):
    """Names of the namespaces of pid; empty dict if the process is gone."""
    try:
        return {kind: ns_id(pid, kind) for kind in kinds}
    except OSError:
        return {}
