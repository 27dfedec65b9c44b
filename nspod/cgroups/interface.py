"""The interface of the cgroup drivers, as typing.Protocol classes: what
v2.py, v1.py and the Null classes in __init__.py each offer, so callers never
ask which they hold. Not imported at run time (typing costs every command
~2 ms); tests/unit/test_cgroups.py checks that each driver has every member."""
from typing import Protocol


class LeafCgroup(Protocol):
    """A leaf (the pause holder's or one container's), whatever the driver:
    v2.Leaf, v1.V1Leaf, NullLeaf."""

    name: str
    path: str | None
    limits: dict   # file -> value written
    skipped: dict  # file -> value that could not be written

    def attach(self, pid: int) -> None: ...
    def enter(self) -> None: ...
    def procs_files(self) -> list: ...
    def pids(self) -> list: ...
    def populated(self) -> bool: ...
    def oom_kills(self) -> int: ...
    def memory_events(self) -> dict: ...
    def cpu_stat(self) -> dict: ...


class PodCgroupDriver(Protocol):
    """A pod's cgroup, whatever the driver (v2.PodCgroup, v1.V1Pod, NullPod):
    callers never ask which they hold. record_of() keeps what the store needs,
    pod_from_record() gives back what kills and removes it."""

    path: str | None
    limits: dict

    def create_leaf(self, name: str, resources=None) -> LeafCgroup: ...
    def leaf(self, name: str) -> LeafCgroup: ...
    def leaves(self) -> list: ...   # the names of its leaves
    def populated(self) -> bool: ...
    def kill(self) -> None: ...
    def remove(self, timeout=None) -> None: ...  # kill, wait until the kernel lets go, rmdir; then tidy
