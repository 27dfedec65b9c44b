"""Where may nspod make cgroups, and with which controllers?

A user may manage a cgroup subtree that root (usually systemd) *delegated* to it:
the directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads
files belong to the user, and the parent enabled controllers for it. systemd does
this for user@UID.service (with the drop-in ``Delegate=cpu cpuset io memory pids``)
and for ``systemd-run --user --scope -p Delegate=yes``.

nspod starts from its own cgroup (/proc/self/cgroup) and walks up while the
cgroup is writable: the highest such cgroup is the *delegated root*. Processes can
move between any two cgroups under it (the kernel asks for write access to
cgroup.procs of their common ancestor). Root may write anywhere: its delegated
root is the top of the hierarchy.

Pure parsing here, plus a probe through the CgroupFS interface (fs.py).
"""

import os

from nspod.errors import HostUnsupported
from nspod.kernel import mountinfo
from nspod.record import field, record


class CgroupUnavailable(HostUnsupported):
    """Limits were asked for and cannot be applied on this host. The message names
    what is missing and the fix."""


# The flag the CLI offers to run without limits when they cannot be applied.
OPT_OUT_FLAG = "--no-limits"

DROP_IN_PATH = "/etc/systemd/system/user@.service.d/delegate.conf"
DROP_IN_TEXT = "[Service]\nDelegate=cpu cpuset io memory pids\n"


# ---------------------------------------------------------------------------
# /proc/self/mountinfo and /proc/self/cgroup
# ---------------------------------------------------------------------------
def parse_mountinfo(text):
    """[(mount point, root within the filesystem, fstype, super options)]"""
    return [(m["target"], m["root"], m["fstype"], m["super_options"])
            for m in mountinfo.parse(text) if m["super_options"] is not None]


def find_cgroup2_mount(mounts):
    """(mount point, root) of the cgroup2 mount, preferring /sys/fs/cgroup; or None."""
    found = [(point, root) for point, root, fstype, _ in mounts if fstype == "cgroup2"]
    for point, root in found:
        if point == "/sys/fs/cgroup":
            return point, root
    return found[0] if found else None


V1_CONTROLLER_NAMES = frozenset(
    "cpu cpuacct cpuset memory devices freezer net_cls net_prio blkio perf_event "
    "hugetlb pids rdma misc".split()
)


def find_v1_mounts(mounts):
    """{controller: mount point} of cgroup v1 hierarchies (named ones left out)."""
    controllers = {}
    for point, _, fstype, options in mounts:
        if fstype != "cgroup":
            continue
        for option in options.split(","):
            if option in V1_CONTROLLER_NAMES:
                controllers.setdefault(option, point)
    return controllers


def own_cgroups(text):
    """/proc/self/cgroup -> (v2 path or None, {v1 controller: path})."""
    v2, v1 = None, {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        else:
            for controller in controllers.split(","):
                if controller and not controller.startswith("name="):
                    v1[controller] = path
    return v2, v1


def relative_to_mount(path, mount_root):
    """A /proc/self/cgroup path as a path below the mount point."""
    path = path.split(" (deleted)")[0]
    if mount_root not in ("", "/") and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root) :] or "/"
    return "/" + path.strip("/") if path.strip("/") else "/"


def join(mount, rel):
    rel = rel.strip("/")
    return os.path.join(mount, rel) if rel else mount


def ancestors(rel):
    """'/a/b' -> ['/a/b', '/a', '/']"""
    parts = [p for p in rel.split("/") if p]
    return ["/" + "/".join(parts[:i]) if i else "/" for i in range(len(parts), -1, -1)]


# ---------------------------------------------------------------------------
# the probe
# ---------------------------------------------------------------------------
def read_controllers(fs, path):
    try:
        return frozenset(fs.read(path).split())
    except (FileNotFoundError, PermissionError):
        return frozenset()


@record
class Delegation:
    """What the probe found. Paths are relative to the mount point ("/a/b")."""

    mount: str
    own: str
    uid: int
    root: str | None = None  # the delegated root; None: nothing is writable
    available: frozenset = frozenset()  # root's cgroup.controllers
    enabled: frozenset = frozenset()  # root's cgroup.subtree_control
    # For the error message: a cgroup delegated to the user elsewhere
    # (user@UID.service) that the user's processes are not in.
    elsewhere: str | None = None
    elsewhere_available: frozenset = field(default_factory=frozenset)

    def path(self, rel=None):
        return join(self.mount, self.root if rel is None else rel)


def _delegated(fs, path):
    """The files a delegation hands over: the directory (to make children), the
    process list (to move processes) and subtree_control (to enable controllers)."""
    return all(
        fs.writable(p)
        for p in (
            path,
            os.path.join(path, "cgroup.procs"),
            os.path.join(path, "cgroup.subtree_control"),
        )
        if fs.exists(p)
    ) and fs.exists(os.path.join(path, "cgroup.procs"))


def probe(fs, mount, own, uid):
    """Find the delegated root above ``own`` (a path relative to ``mount``)."""
    found = Delegation(mount=mount, own=own, uid=uid)
    for rel in ancestors(own):
        if not _delegated(fs, join(mount, rel)):
            break
        found.root = rel
    if found.root is not None:
        path = found.path()
        found.available = read_controllers(fs, os.path.join(path, "cgroup.controllers"))
        found.enabled = read_controllers(fs, os.path.join(path, "cgroup.subtree_control"))
    if uid != 0:
        user_service = f"/user.slice/user-{uid}.slice/user@{uid}.service"
        if not (found.root or "").startswith(user_service) and _delegated(
            fs, join(mount, user_service)
        ):
            found.elsewhere = user_service
            found.elsewhere_available = read_controllers(
                fs, os.path.join(join(mount, user_service), "cgroup.controllers")
            )
    return found


# ---------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------
def _words(names):
    return " ".join(sorted(names)) or "none"


def _controller_list(missing):
    names = sorted(missing)
    noun = "controller" if len(names) == 1 else "controllers"
    return f"cgroup {noun} {', '.join(names)}"


FIX_DELEGATE = (
    "Fix (once, as root): delegate the controllers to user sessions with the systemd drop-in\n"
    f"  {DROP_IN_PATH}:\n"
    "    [Service]\n"
    "    Delegate=cpu cpuset io memory pids\n"
    "  then `systemctl daemon-reload` and log in again (scripts/provision does all this)"
)
FIX_SCOPE = (
    "run nspod inside a delegated scope of your user manager:\n"
    "  systemd-run --user --scope -p Delegate=yes nspod ..."
)
FIX_OPT_OUT = f"Or run without limits: nspod run {OPT_OUT_FLAG} ... (prints a warning)"


def message_not_delegated(missing, found):
    """Text for: the user's own cgroup is not theirs to manage."""
    lines = [
        f"{_controller_list(missing)} cannot be used: your cgroup {found.own} is not "
        f"delegated to uid {found.uid} (it belongs to root), so nspod cannot make cgroups there."
    ]
    if found.elsewhere and missing <= found.elsewhere_available:
        lines.append(
            f"{found.elsewhere} is delegated to you (controllers: "
            f"{_words(found.elsewhere_available)}); {FIX_SCOPE}"
        )
    elif found.elsewhere:
        lines.append(
            f"{found.elsewhere} is delegated to you but offers only: "
            f"{_words(found.elsewhere_available)}."
        )
        lines.append(FIX_DELEGATE + ";")
        lines.append("and " + FIX_SCOPE)
    else:
        lines.append(FIX_DELEGATE + ";")
        lines.append("and " + FIX_SCOPE)
    lines.append(FIX_OPT_OUT)
    return "\n".join(lines)


def message_missing_controllers(missing, found):
    """Text for: delegated, but without some controllers."""
    lines = [
        f"{_controller_list(missing)} not delegated to uid {found.uid}: "
        f"your delegated cgroup {found.root} offers only: {_words(found.available)} "
        f"({found.path()}/cgroup.controllers)."
    ]
    if found.uid == 0:
        lines.append(
            "Fix: enable them in the parent's cgroup.subtree_control, e.g. "
            f"echo '+{' +'.join(sorted(missing))}' > {os.path.dirname(found.path())}/cgroup.subtree_control"
        )
    else:
        lines.append(FIX_DELEGATE + ",")
        lines.append("or, for one command: " + FIX_SCOPE.split(":\n")[1].strip())
    lines.append(FIX_OPT_OUT)
    return "\n".join(lines)


def message_no_cgroup2(missing, v2_mount, v2_offered, uid):
    """Text for: cgroup v1 or hybrid host, rootless."""
    where = (
        f"its cgroup v2 hierarchy ({v2_mount}) offers only: {_words(v2_offered)}"
        if v2_mount
        else "it has no cgroup v2 hierarchy"
    )
    return "\n".join(
        [
            f"{_controller_list(missing)} cannot be used by uid {uid}: this host runs cgroup v1 "
            f"for them ({where}); rootless limits need cgroup v2 with delegation.",
            "Fix (as root): boot with the unified hierarchy: add systemd.unified_cgroup_hierarchy=1 "
            "to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot; then",
            FIX_DELEGATE + ".",
            "Or run nspod as root (it uses cgroup v1 then).",
            FIX_OPT_OUT,
        ]
    )
