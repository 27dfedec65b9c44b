"""cgroup v1 fallback, for root on a v1 or hybrid host, through cgroupspy.

Each controller has its own hierarchy (/sys/fs/cgroup/memory, /sys/fs/cgroup/cpu,
...), so a pod or leaf is one directory per hierarchy, all with the same
relative path: /nspod/pod-<uid>/<leaf>. cgroupspy makes the directories and
writes the limits; removal and process moves are plain file operations (fs.py).
Rootless users never get here: cgroup v1 cannot be delegated safely.
"""

import os

from nspod import steps
from nspod.cgroups import translate
from nspod.cgroups.delegation import CgroupUnavailable
from nspod.cgroups.fs import errno_text, read_keyed, read_pids
from nspod.cgroups.v2 import (
    _LEAF_NAME,
    _POD_UID,
    BASE_NAME,
    PAUSE_LEAF,
    POD_PREFIX,
    REMOVE_TIMEOUT,
    CgroupError,
    kill_all,
    remove_cgroup,
)

V1_CONTROLLERS = ("cpu", "memory", "pids")


def _cgroupspy():
    try:
        from cgroupspy import trees
    except ImportError as error:
        raise CgroupUnavailable(
            "this host uses cgroup v1, and nspod's cgroup v1 support needs the cgroupspy "
            "package: pip install cgroupspy (or run without limits)"
        ) from error
    return trees


class _Group:
    """One cgroup across the hierarchies: {controller: (mount point, path below it)}."""

    def __init__(self, fs, places):
        self.fs = fs
        self.places = places
        self.paths = {c: os.path.join(m, rel.strip("/")) for c, (m, rel) in places.items()}

    def child(self, name):
        return _Group(
            self.fs, {c: (m, f"{rel.rstrip('/')}/{name}") for c, (m, rel) in self.places.items()}
        )

    @property
    def path(self):
        # The one path shown to people: the memory hierarchy's, else the first.
        return self.paths.get("memory") or next(iter(self.paths.values()), None)

    def hierarchies(self):
        """Distinct directories (cpu and cpuacct may share one mount)."""
        return sorted(set(self.paths.values()))

    def make(self):
        """Make the directory in every hierarchy, through cgroupspy."""
        trees = _cgroupspy()
        nodes = {}
        for controller, (mount, rel) in self.places.items():
            parent, group = os.path.split(mount.rstrip("/"))
            rel = rel.strip("/")
            tree = trees.Tree(root_path=parent, groups=[group], sub_groups=[rel])
            node = tree.get_node_by_path(f"/{group}/{rel}")
            if node is None:
                raise CgroupError(f"cgroupspy did not make {self.paths[controller]}")
            nodes[controller] = node
            if steps.sink is not None:
                path = self.paths[controller]
                steps.tell(f'mkdir("{path}") where missing, its parents too', by_hand=f"mkdir -p {path}")
        return nodes

    def write(self, nodes, files, needed, strict, what):
        written, skipped = {}, {}
        for name, value in files.items():
            controller = translate.CONTROLLER_OF_V1[name]
            node = nodes.get(controller)
            if node is None:
                if controller in needed and not translate.is_unset_v1(name, value):
                    if strict:
                        raise CgroupUnavailable(
                            f"{what}: cannot write {name} {value}: no cgroup v1 {controller} hierarchy"
                        )
                    skipped[name] = value
                continue
            target = os.path.join(self.paths[controller], name)
            if name == "memory.memsw.limit_in_bytes" and not os.path.exists(target):
                if value != "-1":
                    skipped[name] = value  # no swap accounting (swapaccount=0)
                continue
            try:
                if node.controller is not None:
                    node.controller.set_property(name.encode(), value)
                else:
                    with open(target, "w") as f:
                        f.write(value)
            except OSError as error:
                raise CgroupError(
                    f"cannot write {value!r} to {target}: {errno_text(error)}"
                ) from error
            written[name] = value
            if steps.sink is not None:
                steps.tell(f'write("{target}", "{value}")', by_hand=f'echo "{value}" > {target}')
        return written, skipped

    def remove(self, timeout):
        """Every hierarchy is tried; the first failure is raised at the end."""
        failed = None
        for path in self.hierarchies():
            try:
                remove_cgroup(self.fs, path, timeout)
            except CgroupError as error:
                failed = failed or error
        if failed:
            raise failed


class V1Leaf:
    def __init__(self, group, name, limits=None, skipped=None):
        self._group = group
        self.name = name
        self.paths = group.paths
        self.path = group.path
        self.limits = dict(limits or {})
        self.skipped = dict(skipped or {})

    def __repr__(self):
        return f"V1Leaf({self.path!r})"

    def attach(self, pid):
        for path in self._group.hierarchies():
            target = os.path.join(path, "cgroup.procs")
            try:
                self._group.fs.write(target, str(pid))
            except OSError as error:
                raise CgroupError(
                    f"cannot move process {pid or os.getpid()} into {path}: {errno_text(error)}"
                ) from error

    def enter(self):
        self.attach(0)

    def procs_files(self):
        """What a process writes 0 to, to move itself here: one file a hierarchy."""
        return [os.path.join(path, "cgroup.procs") for path in self._group.hierarchies()]

    def pids(self):
        return read_pids(self._group.fs, os.path.join(self.path, "cgroup.procs"))

    def populated(self):
        return any(
            read_pids(self._group.fs, os.path.join(p, "cgroup.procs"))
            for p in self._group.hierarchies()
        )

    def oom_kills(self):
        memory = self.paths.get("memory")
        if not memory:
            return 0
        return read_keyed(self._group.fs, os.path.join(memory, "memory.oom_control")).get(
            "oom_kill", 0
        )

    def memory_events(self):
        return {"oom_kill": self.oom_kills()}

    def cpu_stat(self):
        cpu = self.paths.get("cpu")
        if not cpu:
            return {}
        stat = read_keyed(self._group.fs, os.path.join(cpu, "cpu.stat"))
        try:
            usage_ns = int(self._group.fs.read(os.path.join(cpu, "cpuacct.usage")))
            stat["usage_usec"] = usage_ns // 1000
        except (OSError, ValueError):
            pass
        return stat


class V1Pod:
    version = 1

    def __init__(self, owner, group, uid, limits=None, skipped=None):
        self._owner = owner
        self._group = group
        self.uid = uid
        self.paths = group.paths
        self.path = group.path
        self.limits = dict(limits or {})
        self.skipped = dict(skipped or {})

    def __repr__(self):
        return f"V1Pod({self.path!r})"

    def _leaf_group(self, name):
        return self._group.child(name)

    def leaf(self, name):
        return V1Leaf(self._leaf_group(name), name)

    def leaves(self):
        try:
            return self._group.fs.subdirs(self.path)
        except FileNotFoundError:
            return []

    def create_leaf(self, name, resources=None):
        if not _LEAF_NAME.fullmatch(name or ""):
            raise CgroupError(f"invalid cgroup leaf name {name!r}")
        group = self._leaf_group(name)
        group.remove(REMOVE_TIMEOUT)
        if name == PAUSE_LEAF:
            files, needed = translate.pause_files_v1(), set()
        else:
            files, needed = (
                translate.container_files_v1(resources),
                translate.requested_controllers(resources),
            )
        try:
            nodes = group.make()
            written, skipped = group.write(
                nodes, files, needed, self._owner.strict, f"pod {self.uid} container {name}"
            )
        except BaseException:
            group.remove(REMOVE_TIMEOUT)
            raise
        return V1Leaf(group, name, written, skipped)

    def populated(self):
        return any(self.leaf(n).populated() for n in self.leaves())

    def kill(self):
        for path in self._group.hierarchies():
            if self._group.fs.isdir(path):
                kill_all(self._group.fs, path)

    def remove(self, timeout=REMOVE_TIMEOUT):
        self._group.remove(timeout)
        self._owner.tidy()


class V1Cgroups:
    """nspod's base cgroup on a cgroup v1 host (root only)."""

    version = 1
    available = True

    def __init__(self, fs, mounts, own, required=frozenset(), strict=True):
        """``mounts``: {controller: mount point}; ``own``: {controller: this
        process's cgroup in that hierarchy}. The base is made below the own
        cgroup, so limits set on nspod's own cgroup still hold for its pods."""
        self.fs = fs
        self.required = frozenset(required)
        self.strict = strict
        self.mounts = {c: mounts[c] for c in V1_CONTROLLERS if c in mounts}
        missing = self.required - set(self.mounts)
        self.problems = {
            c: "no cgroup v1 hierarchy" for c in set(V1_CONTROLLERS) - set(self.mounts)
        }
        if missing and strict:
            raise CgroupUnavailable(
                f"cgroup controller(s) {', '.join(sorted(missing))} are mounted neither as cgroup v1 "
                "nor as cgroup v2 on this host"
            )
        self.controllers = frozenset(self.mounts)
        self._base = _Group(
            fs,
            {c: (m, f"{own.get(c, '/').rstrip('/')}/{BASE_NAME}") for c, m in self.mounts.items()},
        )
        self.path = self._base.path
        self._base.make()

    def __repr__(self):
        return f"V1Cgroups({self._base.paths!r})"

    @property
    def warning(self):
        lost = {c: why for c, why in self.problems.items() if c in self.required}
        if not lost:
            return None
        return "running without some cgroup limits: " + "; ".join(
            f"controller {c}: {why}" for c, why in sorted(lost.items())
        )

    def pod(self, pod_uid):
        if not _POD_UID.fullmatch(pod_uid or ""):
            raise CgroupError(f"invalid pod uid for a cgroup name: {pod_uid!r}")
        return V1Pod(self, self._base.child(POD_PREFIX + pod_uid), pod_uid)

    def pod_uids(self):
        uids = set()
        for path in self._base.hierarchies():
            try:
                names = self.fs.subdirs(path)
            except FileNotFoundError:
                continue
            uids.update(n[len(POD_PREFIX) :] for n in names if n.startswith(POD_PREFIX))
        return sorted(uids)

    def create_pod(
        self,
        pod_uid,
        pod_resources=None,
        pids_max=translate.DEFAULT_PIDS_MAX,
        *,
        container_resources=None,
    ):
        pod = self.pod(pod_uid)
        files = translate.pod_files_v1(pod_resources, pids_max, container_resources)
        needed = translate.requested_controllers(pod_resources)
        for resources in container_resources or ():
            needed |= translate.requested_controllers(resources)
        needed |= self.required & {"pids"}
        self._base.make()
        try:
            nodes = pod._group.make()
            written, skipped = pod._group.write(nodes, files, needed, self.strict, f"pod {pod_uid}")
        except BaseException:
            pod._group.remove(REMOVE_TIMEOUT)
            raise
        pod.limits, pod.skipped = written, skipped
        return pod

    def remove_pod(self, pod_uid, timeout=REMOVE_TIMEOUT):
        self.pod(pod_uid).remove(timeout)

    def tidy(self):
        for path in self._base.hierarchies():
            try:
                if not self.fs.subdirs(path):
                    self.fs.rmdir(path)
            except OSError:
                pass

    def describe(self):
        return {"version": 1, "base": self._base.paths, "controllers": sorted(self.controllers)}


def v1_usable(mounts):
    """True when cpu, memory or pids is on a v1 hierarchy (legacy or hybrid host)."""
    return any(c in mounts for c in V1_CONTROLLERS)
