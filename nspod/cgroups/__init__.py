"""cgroups: CPU, memory and pids limits for pods and containers.

    cg = open_cgroups(required={"cpu", "memory"})   # or CgroupUnavailable, naming the fix
    pod = cg.create_pod(uid, pod_resources, pids_max)
    pause = pod.create_leaf(PAUSE_LEAF)
    web = pod.create_leaf("web", container.resources)
    web.attach(pid)            # or, in the child before exec: web.enter()
    web.oom_kills()            # > 0 after the container died: OOMKilled
    pod.remove()               # kill what is left, remove leaves, then the pod

cgroup v2 (delegated to the user, or as root) is the main path: v2.py writes the
files directly. Root on a cgroup v1/hybrid host goes through v1.py (cgroupspy).
When nothing can be used and no limit is required, a NullCgroups stands in: the
same calls, no cgroups, and a ``warning`` to print. The interface every
driver offers is written down in interface.py (typing.Protocol classes, for
readers and the unit tests; nspod itself does not load typing).
"""

import os

from nspod.cgroups import translate
from nspod.cgroups.delegation import (
    OPT_OUT_FLAG,
    CgroupUnavailable,
    find_cgroup2_mount,
    find_v1_mounts,
    message_missing_controllers,
    message_no_cgroup2,
    message_not_delegated,
    own_cgroups,
    parse_mountinfo,
    probe,
    read_controllers,
    relative_to_mount,
)
from nspod.cgroups.fs import CgroupFS
from nspod.errors import NspodError
from nspod.cgroups.translate import DEFAULT_PIDS_MAX, requested_controllers
from nspod.cgroups.v2 import BASE_NAME, DEFAULT_CONTROLLERS, PAUSE_LEAF, CgroupError, V2Cgroups

__all__ = [
    "BASE_NAME",
    "leaf_record",
    "pod_from_record",
    "record_of",
    "remove_cgroup_paths",
    "DEFAULT_PIDS_MAX",
    "OPT_OUT_FLAG",
    "PAUSE_LEAF",
    "CgroupError",
    "CgroupUnavailable",
    "NullCgroups",
    "open_cgroups",
    "requested_controllers",
    "translate",
]


class NullLeaf:
    path = None
    paths = {}

    def __init__(self, name):
        self.name = name
        self.limits = {}
        self.skipped = {}

    def attach(self, pid):
        pass

    def enter(self):
        pass

    def procs_files(self):
        return []

    def pids(self):
        return []

    def populated(self):
        return False

    def oom_kills(self):
        return 0

    def memory_events(self):
        return {}

    def cpu_stat(self):
        return {}


class NullPod:
    path = None
    paths = {}

    def __init__(self, uid, skipped=None):
        self.uid = uid
        self.limits = {}
        self.skipped = dict(skipped or {})

    def create_leaf(self, name, resources=None):
        leaf = NullLeaf(name)
        if name != PAUSE_LEAF:
            leaf.skipped = {
                k: v
                for k, v in translate.container_files(resources).items()
                if k != "memory.oom.group"
                and translate.CONTROLLER_OF[k] in requested_controllers(resources)
                and not translate.is_unset(k, v)
            }
        return leaf

    def leaf(self, name):
        return NullLeaf(name)

    def leaves(self):
        return []

    def populated(self):
        return False

    def kill(self):
        pass

    def remove(self, timeout=None):
        pass


class NullCgroups:
    """No cgroups: limits are not applied. ``warning`` says why."""

    version = None
    available = False
    path = None
    controllers = frozenset()

    def __init__(self, reason):
        self.reason = reason

    def __repr__(self):
        return "NullCgroups()"

    @property
    def warning(self):
        return f"running without cgroup limits: {self.reason}"

    def create_pod(
        self, pod_uid, pod_resources=None, pids_max=DEFAULT_PIDS_MAX, *, container_resources=None
    ):
        return NullPod(pod_uid)

    def pod(self, pod_uid):
        return NullPod(pod_uid)

    def pod_uids(self):
        return []

    def remove_pod(self, pod_uid, timeout=None):
        pass

    def tidy(self):
        pass

    def describe(self):
        return {"version": None, "reason": self.reason}


def _read(path):
    with open(path) as f:
        return f.read()


def open_cgroups(
    required=frozenset(),
    *,
    strict=True,
    fs=None,
    mountinfo=None,
    proc_cgroup=None,
    own_cgroup=None,
    euid=None,
):
    """Find where nspod may make cgroups and make its base cgroup there.

    ``required``: controllers the pods need ({"cpu", "memory", "pids"} or fewer;
    translate.requested_controllers(resources) tells for one Resources). Missing
    ones raise CgroupUnavailable with the fix, unless ``strict`` is False (the
    user's opt-out, OPT_OUT_FLAG): then whatever can be applied is, and
    ``.warning`` says what cannot. pids (for pids.max), memory (for OOM counts)
    and cpu are enabled wherever delegated, even when not required.

    The keyword arguments after ``strict`` replace what is read from the system
    (the file system, /proc/self/mountinfo, /proc/self/cgroup, the cgroup path
    relative to the mount, the effective uid): for tests.
    """
    required = frozenset(required)
    fs = fs or CgroupFS()
    if euid is None:  # as the host sees us: inside the node's user namespace geteuid() is 0
        from nspod.kernel.idmap import host_uid

        euid = host_uid()
    mounts = parse_mountinfo(mountinfo if mountinfo is not None else _read("/proc/self/mountinfo"))
    own_v2, own_v1 = own_cgroups(
        proc_cgroup if proc_cgroup is not None else _read("/proc/self/cgroup")
    )
    v2 = find_cgroup2_mount(mounts)
    v1 = find_v1_mounts(mounts)

    def unavailable(message):
        if required and strict:
            raise CgroupUnavailable(message)
        return NullCgroups(message)

    if any(c in v1 for c in ("cpu", "memory", "pids")):
        # A cgroup v1 or hybrid host: cpu, memory and pids are bound to v1.
        if euid == 0:
            from nspod.cgroups.v1 import V1Cgroups

            try:
                return V1Cgroups(fs, v1, own_v1, required, strict)
            except CgroupUnavailable as error:
                return unavailable(str(error))
        v2_offered = (
            read_controllers(fs, os.path.join(v2[0], "cgroup.controllers")) if v2 else frozenset()
        )
        return unavailable(
            message_no_cgroup2(
                required or DEFAULT_CONTROLLERS, v2[0] if v2 else None, v2_offered, euid
            )
        )

    if v2 is None:
        return unavailable("no cgroup filesystem is mounted (neither cgroup2 nor cgroup v1)")

    mount, mount_root = v2
    own = own_cgroup if own_cgroup is not None else relative_to_mount(own_v2 or "/", mount_root)
    found = probe(fs, mount, own, euid)
    if found.root is None:
        return unavailable(message_not_delegated(required or DEFAULT_CONTROLLERS, found))
    missing = required - found.available
    if missing and strict:
        raise CgroupUnavailable(message_missing_controllers(missing, found))
    # Even with no controller at all, a delegated cgroup is worth having: it
    # tracks a pod's processes and kills them all on removal (cgroup.kill).
    return V2Cgroups(fs, found, required, strict)


def record_of(pod):
    """What the store keeps of a pod cgroup (any driver's), so that any
    process of the same user can kill and remove it later: pod_from_record()."""
    paths = dict(getattr(pod, "paths", None) or ({"": pod.path} if pod.path else {}))
    return {"version": getattr(pod, "version", None), "path": pod.path, "paths": paths,
            "limits": pod.limits}


def leaf_record(leaf):
    """What the store keeps of a container's leaf: `exec` joins its cgroup.procs files."""
    paths = getattr(leaf, "paths", None) or ({"": leaf.path} if leaf.path else {})
    procs = sorted({os.path.join(p, "cgroup.procs") for p in paths.values() if p})
    return {"path": leaf.path, "procs": procs, "limits": leaf.limits}


class StoredPodCgroup:
    """A pod cgroup rebuilt from its stored record: every hierarchy it has a
    directory in (one on cgroup v2, one per controller on v1)."""

    def __init__(self, record, fs=None):
        record = record or {}
        paths = record.get("paths") or {}
        self.paths = [p for p in paths.values() if p] or ([record["path"]] if record.get("path") else [])
        self.fs = fs or CgroupFS()

    def kill(self):
        from nspod.cgroups.v2 import kill_all

        for path in self.paths:
            if self.fs.isdir(path):
                kill_all(self.fs, path)

    def remove(self, timeout=None):
        """Kill what is left, wait until the kernel lets go, remove leaves then
        the pod in every hierarchy; then nspod's base where no pod is left in it.
        Every hierarchy is tried; the first failure is raised at the end."""
        from nspod.cgroups.v2 import REMOVE_TIMEOUT, remove_cgroup

        failed = None
        for path in self.paths:
            try:
                remove_cgroup(self.fs, path, REMOVE_TIMEOUT if timeout is None else timeout)
            except NspodError as error:
                failed = failed or error
                continue
            base = os.path.dirname(path.rstrip("/"))
            if os.path.basename(base) == BASE_NAME:
                try:
                    if not self.fs.subdirs(base):
                        self.fs.rmdir(base)
                except OSError:
                    pass  # another pod is being made there, or it is gone
        if failed:
            raise failed


def pod_from_record(record, fs=None):
    return StoredPodCgroup(record, fs)


def remove_cgroup_paths(paths, timeout=None, fs=None):
    """Remove pod cgroups by their paths (a path or a list of them)."""
    paths = [paths] if isinstance(paths, str) else [p for p in paths if p]
    StoredPodCgroup({"paths": dict(enumerate(paths))}, fs).remove(timeout)
