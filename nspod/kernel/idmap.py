"""User-namespace id maps: who the pod's root is on the host.

With a subordinate range in /etc/subuid (and newuidmap installed) the user
namespace maps 0 -> the user's own id and 1..N -> the range, as rootless
Podman does. Without one, only the user's own id is mapped (0 -> uid).
"""
import os
import pwd

from .. import steps
from ..errors import HostUnsupported
from ..paths import which


def subordinate_range(path, uid):
    """(start, count) of the first range for uid (by name or number), or None."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (name, str(uid)):
                    return int(parts[1]), int(parts[2])
    except FileNotFoundError:
        pass
    return None


def plan(uid=None, gid=None):
    """The maps to write: {"uid": [(inside, outside, count)], "gid": [...], "helper": bool}."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    subuid = subordinate_range("/etc/subuid", uid)
    subgid = subordinate_range("/etc/subgid", uid)
    helpers = which("newuidmap") and which("newgidmap")
    if subuid and subgid and helpers:
        return {
            "uid": [(0, uid, 1), (1, subuid[0], subuid[1])],
            "gid": [(0, gid, 1), (1, subgid[0], subgid[1])],
            "helper": True,
        }
    return {"uid": [(0, uid, 1)], "gid": [(0, gid, 1)], "helper": False}


def write_maps(pid, maps):
    """Write the id maps of the user namespace of pid (called from outside it)."""
    if maps["helper"]:
        import subprocess  # (here: only a node holder's start needs it)

        helpers = []  # both at once: each is a setuid exec (~1.5 ms), on a cold start's path
        for kind in ("uid", "gid"):
            args = [f"new{kind}map", str(pid)]
            for inside, outside, count in maps[kind]:
                args += [str(inside), str(outside), str(count)]
            helpers.append((args, subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        done = [(args, proc.communicate()[1], proc.returncode) for args, proc in helpers]  # (each waited for)
        for args, stderr, returncode in done:
            if returncode != 0:
                raise HostUnsupported(
                    f"{args[0]} failed: {stderr.strip()} "
                    "(check /etc/subuid and /etc/subgid, and that uidmap is installed)"
                )
            if steps.sink is not None:
                steps.tell(f"run {args[0]} (setuid root: writes /proc/{pid}/{kind}_map)", by_hand=" ".join(args))
        return
    # An unprivileged process may map only its own ids, and only after
    # giving up setgroups(2) for the namespace.
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    for kind in ("uid", "gid"):
        text = "".join(f"{i} {o} {c}\n" for i, o, c in maps[kind])
        with open(f"/proc/{pid}/{kind}_map", "w") as f:
            f.write(text)
        if steps.sink is not None:
            steps.tell(f'write("/proc/{pid}/{kind}_map", "{text.strip()}")',
                       by_hand=f'echo "{text.strip()}" > /proc/{pid}/{kind}_map')


def host_uid():
    """Our effective uid as the host sees it. Inside the node's user namespace
    geteuid() says 0; /proc/self/uid_map says which host uid that 0 is."""
    euid = os.geteuid()
    with open("/proc/self/uid_map") as f:
        for line in f:
            inside, outside, count = (int(x) for x in line.split())
            if inside <= euid < inside + count:
                return outside + (euid - inside)
    return euid
