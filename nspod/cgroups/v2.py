"""The cgroup v2 driver: direct file writes, as crun and youki do.

Layout, under the delegated root D (see delegation.py):

    D/                      controllers enabled in cgroup.subtree_control
      nspod-init/           nspod's own processes, if D held any (no internal processes)
      nspod/                the base: one per user (or per host, as root)
        pod-<uid>/          pod-level limits and pids.max
          _pause/           the pause holder
          <container>/      one leaf per container: its limits

cgroup v2 lets only leaves hold processes once an inner node hands controllers
down, so processes live in leaves only; a pod cgroup never holds one.
"""

import errno
import os
import re
import signal
from contextlib import ExitStack

from nspod.cgroups import translate
from nspod.cgroups.delegation import CgroupUnavailable, join
from nspod.cgroups.fs import errno_text, read_keyed, read_pids
from nspod.errors import NspodError

BASE_NAME = "nspod"
INIT_LEAF = "nspod-init"
POD_PREFIX = "pod-"
# Not a DNS label, so no container name can take it.
PAUSE_LEAF = "_pause"
# What nspod enables wherever it can, limits asked for or not: pids for pids.max,
# memory for memory.events (OOM kills), cpu for cpu.stat and weights.
DEFAULT_CONTROLLERS = frozenset({"cpu", "memory", "pids"})

REMOVE_TIMEOUT = 10.0

_POD_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Container names are DNS labels; the pause leaf is _pause. No dot: a child named
# like an interface file ("cpu.max") cannot be made.
_LEAF_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")


class CgroupError(NspodError):
    """A cgroup operation failed; the message names the path and the reason."""


def _write(fs, path, value):
    try:
        fs.write(path, value)
    except OSError as error:
        raise CgroupError(f"cannot write {value!r} to {path}: {errno_text(error)}") from error


def _read_set(fs, path):
    try:
        return frozenset(fs.read(path).split())
    except FileNotFoundError:
        return frozenset()


def is_real_root(fs, path):
    """The root of the hierarchy (not a cgroup namespace root): it may hold
    processes and hand controllers down at the same time."""
    return not fs.exists(os.path.join(path, "cgroup.type"))


def evacuate(fs, path, leaf_name=INIT_LEAF, rounds=20):
    """Move every process of cgroup ``path`` into its child ``leaf_name``.

    Needed before enabling controllers in ``path``: the kernel refuses
    (EBUSY) while the cgroup holds processes itself. Several rounds, since a
    process may fork while its siblings move. Returns the leaf's path."""
    leaf = os.path.join(path, leaf_name)
    if not fs.isdir(leaf):
        try:
            fs.mkdir(leaf)
        except FileExistsError:
            pass
    for _ in range(rounds):
        pids = read_pids(fs, os.path.join(path, "cgroup.procs"))
        if not pids:
            return leaf
        for pid in pids:
            try:
                fs.write(os.path.join(leaf, "cgroup.procs"), str(pid))
            except ProcessLookupError:
                continue  # it exited meanwhile
            except OSError as error:
                if error.errno == errno.ESRCH:
                    continue
                raise CgroupUnavailable(
                    f"cannot move process {pid} out of {path} into {leaf} "
                    f"({errno_text(error)}); cgroup v2 allows no process in a cgroup "
                    "that hands controllers down"
                ) from error
    raise CgroupUnavailable(f"processes keep appearing in {path}; cannot empty it into {leaf}")


def enable_controllers(fs, path, controllers):
    """Enable ``controllers`` for the children of ``path``, moving its own
    processes to a leaf first if needed. Returns (enabled set, {controller: reason})
    for the ones that could not be enabled."""
    control = os.path.join(path, "cgroup.subtree_control")
    enabled = _read_set(fs, control)
    todo = sorted(set(controllers) - enabled)
    failed = {}
    if not todo:
        return enabled, failed
    if not is_real_root(fs, path) and read_pids(fs, os.path.join(path, "cgroup.procs")):
        evacuate(fs, path)
    for controller in todo:
        try:
            fs.write(control, f"+{controller}")
        except OSError as error:
            failed[controller] = f"enabling it in {control} failed: {errno_text(error)}"
    return _read_set(fs, control), failed


def apply_files(fs, path, files, enabled, needed, strict, what):
    """Write ``files`` ({name: value}) into cgroup ``path``.

    A file whose controller is not ``enabled`` (for this cgroup, by its parent)
    is skipped when nothing asked for it; when the resources asked for it
    (``needed``) it fails in strict mode and is skipped otherwise. A file the
    kernel does not offer (memory.swap.max without swap accounting) is skipped.
    Returns (written, skipped)."""
    written, skipped = {}, {}
    for name, value in files.items():
        controller = translate.CONTROLLER_OF[name]
        if controller not in enabled:
            if controller in needed and not translate.is_unset(name, value):
                if strict:
                    raise CgroupUnavailable(
                        f"{what}: cannot write {name} {value}: the cgroup {controller} controller "
                        f"is not enabled for {path} (enabled: {' '.join(sorted(enabled)) or 'none'})"
                    )
                skipped[name] = value
            continue
        target = os.path.join(path, name)
        if not fs.exists(target):
            if not translate.is_unset(name, value) and name != "memory.oom.group":
                skipped[name] = value
            continue
        _write(fs, target, value)
        written[name] = value
    return written, skipped


def _rmtree(fs, path, deadline):
    """rmdir a cgroup and its descendants, deepest first."""
    try:
        children = fs.subdirs(path)
    except FileNotFoundError:
        return
    for child in children:
        _rmtree(fs, os.path.join(path, child), deadline)
    delay = 0.005
    while True:
        try:
            fs.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            # EBUSY for a moment after the last process exits.
            if error.errno != errno.EBUSY or fs.monotonic() > deadline:
                raise CgroupError(f"cannot remove cgroup {path}: {errno_text(error)}") from error
            fs.sleep(delay)
            delay = min(delay * 2, 0.1)


def _subtree_pids(fs, path):
    pids = list(read_pids(fs, os.path.join(path, "cgroup.procs")))
    try:
        children = fs.subdirs(path)
    except FileNotFoundError:
        return pids
    for child in children:
        pids.extend(_subtree_pids(fs, os.path.join(path, child)))
    return pids


def populated(fs, path):
    """True while a process lives in the cgroup or below it."""
    events = read_keyed(fs, os.path.join(path, "cgroup.events"))
    if "populated" in events:
        return events["populated"] != 0
    return bool(_subtree_pids(fs, path))


def kill_all(fs, path):
    """SIGKILL every process in the cgroup and below: cgroup.kill (Linux 5.14)
    where present, else each pid found."""
    kill_file = os.path.join(path, "cgroup.kill")
    if fs.exists(kill_file):
        try:
            fs.write(kill_file, "1")
            return
        except FileNotFoundError:
            return
        except OSError:
            pass  # fall back to signalling each process
    for pid in _subtree_pids(fs, path):
        fs.kill(pid, signal.SIGKILL)


def remove_cgroup(fs, path, timeout=REMOVE_TIMEOUT):
    """Kill what is left in ``path``, wait until it is empty, remove it and its
    descendants deepest first. Nothing to do when it is gone already."""
    if not fs.isdir(path):
        return
    deadline = fs.monotonic() + timeout
    delay = 0.002
    kill_all(fs, path)
    while populated(fs, path):
        if fs.monotonic() > deadline:
            left = _subtree_pids(fs, path)
            raise CgroupError(
                f"processes {' '.join(map(str, left)) or '(unknown)'} in {path} did not exit "
                f"{timeout:g} s after SIGKILL; the cgroup is left in place"
            )
        fs.sleep(delay)
        delay = min(delay * 2, 0.05)
        if not fs.exists(os.path.join(path, "cgroup.kill")):
            kill_all(fs, path)  # catch what forked meanwhile
    _rmtree(fs, path, deadline)


class Leaf:
    """A leaf cgroup: the pause holder's or one container's."""

    def __init__(self, fs, path, name, limits=None, skipped=None):
        self.fs = fs
        self.path = path
        self.name = name
        self.limits = dict(limits or {})  # file -> value written
        self.skipped = dict(skipped or {})  # file -> value that could not be written

    def __repr__(self):
        return f"Leaf({self.path!r})"

    @property
    def procs_path(self):
        return os.path.join(self.path, "cgroup.procs")

    def attach(self, pid):
        """Move process ``pid`` (0: the calling process) into this leaf."""
        target = self.procs_path
        for attempt in range(5):
            try:
                self.fs.write(target, str(pid))
                return
            except OSError as error:
                # EINVAL: a task still being forked (runc retries the same way).
                if error.errno == errno.EINVAL and attempt < 4:
                    self.fs.sleep(0.03)
                    continue
                raise CgroupError(
                    f"cannot move process {pid or os.getpid()} into {self.path}: {errno_text(error)}"
                ) from error

    def enter(self):
        """Move the calling process here (a child calls this before exec)."""
        self.attach(0)

    def procs_files(self):
        """What a process writes 0 to, to move itself here (nspod-exec does, before exec)."""
        return [self.procs_path]

    def pids(self):
        return read_pids(self.fs, self.procs_path)

    def populated(self):
        return populated(self.fs, self.path)

    def memory_events(self):
        """memory.events: low, high, max, oom, oom_kill (+ oom_group_kill)."""
        return read_keyed(self.fs, os.path.join(self.path, "memory.events"))

    def oom_kills(self):
        """How many processes of this leaf the OOM killer took since it was made.
        create_leaf() makes the leaf fresh, so after a container exits a count
        above 0 means it was OOMKilled."""
        return self.memory_events().get("oom_kill", 0)

    def cpu_stat(self):
        """cpu.stat: usage_usec, user_usec, system_usec, nr_throttled, ..."""
        return read_keyed(self.fs, os.path.join(self.path, "cpu.stat"))

    def read(self, name):
        return self.fs.read(os.path.join(self.path, name)).strip()


class PodCgroup:
    """One pod's cgroup. It holds no process itself: only its leaves do."""

    version = 2

    def __init__(self, fs, path, uid, *, limits=None, skipped=None, strict=True, owner=None):
        self.fs = fs
        self.path = path
        self.uid = uid
        self.limits = dict(limits or {})
        self.skipped = dict(skipped or {})
        self.strict = strict
        self._owner = owner

    def __repr__(self):
        return f"PodCgroup({self.path!r})"

    @property
    def controllers(self):
        """Controllers enabled for the leaves."""
        return _read_set(self.fs, os.path.join(self.path, "cgroup.subtree_control"))

    def leaf(self, name):
        """The existing leaf ``name`` (no check that it exists)."""
        return Leaf(self.fs, os.path.join(self.path, name), name)

    def leaves(self):
        try:
            return self.fs.subdirs(self.path)
        except FileNotFoundError:
            return []

    def create_leaf(self, name, resources=None):
        """Make the leaf for the pause holder (PAUSE_LEAF) or for a container,
        with the container's limits. A leaf left from an earlier run of the same
        container is removed first (so its counters start from zero)."""
        if not _LEAF_NAME.fullmatch(name or ""):
            raise CgroupError(f"invalid cgroup leaf name {name!r}")
        path = os.path.join(self.path, name)
        remove_cgroup(self.fs, path)
        if name == PAUSE_LEAF:
            files, needed = translate.pause_files(), set()
        else:
            files, needed = (
                translate.container_files(resources),
                translate.requested_controllers(resources),
            )
        with ExitStack() as undo:
            try:
                self.fs.mkdir(path)
            except OSError as error:
                raise CgroupError(f"cannot make cgroup {path}: {errno_text(error)}") from error
            undo.callback(remove_cgroup, self.fs, path)
            written, skipped = apply_files(
                self.fs,
                path,
                files,
                self.controllers,
                needed,
                self.strict,
                f"pod {self.uid} container {name}",
            )
            undo.pop_all()
        return Leaf(self.fs, path, name, written, skipped)

    def populated(self):
        return populated(self.fs, self.path)

    def kill(self):
        """SIGKILL every process of the pod."""
        if self.fs.isdir(self.path):
            kill_all(self.fs, self.path)

    def remove(self, timeout=REMOVE_TIMEOUT):
        """Kill what is left, remove the leaves, then the pod cgroup."""
        remove_cgroup(self.fs, self.path, timeout)
        if self._owner is not None:
            self._owner.tidy()


class V2Cgroups:
    """nspod's base cgroup on a cgroup v2 host."""

    version = 2

    def __init__(
        self, fs, delegation, required=frozenset(), strict=True, wanted=DEFAULT_CONTROLLERS
    ):
        self.fs = fs
        self.delegation = delegation
        self.required = frozenset(required)
        self.strict = strict
        self.wanted = frozenset(wanted) | self.required
        self.path = join(delegation.path(), BASE_NAME)
        self.controllers = frozenset()
        self.problems = {}  # controller -> why it is not enabled
        self.ensure_base()

    available = True

    def __repr__(self):
        return f"V2Cgroups({self.path!r}, controllers={sorted(self.controllers)})"

    @property
    def warning(self):
        """What the user asked for and does not get (non-strict mode), or None."""
        lost = {c: why for c, why in self.problems.items() if c in self.required}
        if not lost:
            return None
        return "running without some cgroup limits: " + "; ".join(
            f"controller {c}: {why}" for c, why in sorted(lost.items())
        )

    def ensure_base(self):
        """Enable the controllers in the delegated root and in the base; make the base."""
        root = self.delegation.path()
        offered = self.wanted & self.delegation.available
        enabled, failed = enable_controllers(self.fs, root, offered)
        for controller in self.wanted - offered:
            failed[controller] = f"not delegated (not in {root}/cgroup.controllers)"
        if not self.fs.isdir(self.path):
            try:
                self.fs.mkdir(self.path)
            except FileExistsError:
                pass
            except OSError as error:
                raise CgroupUnavailable(
                    f"cannot make nspod's cgroup {self.path}: {errno_text(error)}"
                ) from error
        base_enabled, base_failed = enable_controllers(self.fs, self.path, offered & enabled)
        failed.update(base_failed)
        self.controllers = base_enabled
        self.problems = {c: failed.get(c, "not enabled") for c in self.wanted - base_enabled}
        missing = self.required - base_enabled
        if missing and self.strict:
            reasons = "; ".join(f"{c}: {self.problems[c]}" for c in sorted(missing))
            raise CgroupUnavailable(
                f"cgroup controller(s) {', '.join(sorted(missing))} could not be enabled for "
                f"nspod's cgroups under {root}: {reasons}"
            )

    def pod_path(self, pod_uid):
        if not _POD_UID.fullmatch(pod_uid or ""):
            raise CgroupError(f"invalid pod uid for a cgroup name: {pod_uid!r}")
        return os.path.join(self.path, POD_PREFIX + pod_uid)

    def pod(self, pod_uid):
        """The (existing) cgroup of pod ``pod_uid``."""
        return PodCgroup(self.fs, self.pod_path(pod_uid), pod_uid, strict=self.strict, owner=self)

    def pod_uids(self):
        """Pods that have a cgroup here (for cleaning up after dead watchdogs)."""
        try:
            names = self.fs.subdirs(self.path)
        except FileNotFoundError:
            return []
        return [n[len(POD_PREFIX) :] for n in names if n.startswith(POD_PREFIX)]

    def create_pod(
        self,
        pod_uid,
        pod_resources=None,
        pids_max=translate.DEFAULT_PIDS_MAX,
        *,
        container_resources=None,
    ):
        """Make pod ``pod_uid``'s cgroup with its pod-level limits and pids.max.

        ``container_resources`` (optional, one Resources per container) fill in
        what the pod-level resources leave out, as the kubelet sums them."""
        path = self.pod_path(pod_uid)
        files = translate.pod_files(pod_resources, pids_max, container_resources)
        needed = translate.requested_controllers(pod_resources)
        if container_resources:
            for resources in container_resources:
                needed |= translate.requested_controllers(resources)
        if "pids" in self.required:
            needed.add("pids")  # else pids.max is skipped quietly where pids is missing
        with ExitStack() as undo:
            made = False
            for attempt in range(2):
                try:
                    self.fs.mkdir(path)
                    made = True
                    break
                except FileExistsError:
                    break
                except FileNotFoundError as error:
                    if attempt:
                        raise CgroupError(f"cannot make cgroup {path}: {errno_text(error)}") from error
                    self.ensure_base()  # another nspod removed the empty base meanwhile
                except OSError as error:
                    raise CgroupError(f"cannot make cgroup {path}: {errno_text(error)}") from error
            if made:
                undo.callback(remove_cgroup, self.fs, path)
            enabled, failed = enable_controllers(self.fs, path, self.controllers)
            missing = (needed & self.controllers) - enabled
            if missing and self.strict:
                raise CgroupUnavailable(
                    f"pod {pod_uid}: cannot enable {', '.join(sorted(missing))} in {path}: "
                    + "; ".join(failed.get(c, "not enabled") for c in sorted(missing))
                )
            written, skipped = apply_files(
                self.fs, path, files, self.controllers, needed, self.strict, f"pod {pod_uid}"
            )
            undo.pop_all()
        return PodCgroup(
            self.fs, path, pod_uid, limits=written, skipped=skipped, strict=self.strict, owner=self
        )

    def remove_pod(self, pod_uid, timeout=REMOVE_TIMEOUT):
        """Remove pod ``pod_uid``'s cgroup (killing what is left in it)."""
        self.pod(pod_uid).remove(timeout)

    def tidy(self):
        """Remove the base when no pod is left in it (another nspod may be making
        one at the same moment: then the rmdir fails, or create_pod remakes it)."""
        try:
            if not self.fs.subdirs(self.path):
                self.fs.rmdir(self.path)
        except OSError:
            pass

    def describe(self):
        return {
            "version": 2,
            "base": self.path,
            "delegated_root": self.delegation.path(),
            "controllers": sorted(self.controllers),
        }
