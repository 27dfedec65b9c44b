"""nspod.cgroups without a kernel: the value translation, the mount and
/proc/self/cgroup parsing, and the v2 (and v1) drivers against a temporary
directory laid out like cgroupfs, with a test double (FakeCgroupFS) that acts
like the kernel where the drivers depend on it: interface files appear with
mkdir, controllers must be offered before they are enabled, no internal
processes, process moves, cgroup.kill, rmdir only of empty cgroups, and
delegation by ownership."""

import errno
import os
import shutil
import signal
from types import SimpleNamespace

import pytest

from nspod.cgroups import (
    OPT_OUT_FLAG,
    PAUSE_LEAF,
    CgroupError,
    CgroupUnavailable,
    NullCgroups,
    delegation,
    open_cgroups,
    requested_controllers,
    translate,
)
from nspod.cgroups.fs import CgroupFS
from nspod.cgroups.v2 import INIT_LEAF, V2Cgroups
from nspod.errors import HostUnsupported

Mi = 1024 * 1024


def res(limits=None, requests=None):
    return SimpleNamespace(limits=dict(limits or {}), requests=dict(requests or {}))


# ---------------------------------------------------------------------------
# translation
# ---------------------------------------------------------------------------
class TestCpu:
    @pytest.mark.parametrize(
        "millicores, quota",
        [(200, 20000), (1000, 100000), (1500, 150000), (2000, 200000), (5, 1000), (1, 1000)],
    )
    def test_limit_to_cpu_max(self, millicores, quota):
        assert translate.container_files(res({"cpu": millicores}))["cpu.max"] == f"{quota} 100000"

    def test_no_limit_is_max(self):
        assert translate.container_files(res())["cpu.max"] == "max 100000"
        assert translate.container_files(None)["cpu.max"] == "max 100000"
        # A zero limit means "no limit" in Kubernetes.
        assert translate.container_files(res({"cpu": 0}))["cpu.max"] == "max 100000"

    @pytest.mark.parametrize(
        "millicores, shares",
        [
            (0, 2),
            (1, 2),
            (2, 2),
            (3, 3),
            (100, 102),
            (250, 256),
            (500, 512),
            (1000, 1024),
            (2000, 2048),
            (10**6, 262144),
        ],
    )
    def test_kubelet_shares(self, millicores, shares):
        assert translate.millicpu_to_shares(millicores) == shares

    @pytest.mark.parametrize(
        "shares, weight",
        [
            (2, 1),
            (3, 2),
            (102, 17),
            (256, 35),
            (512, 59),
            (1024, 100),
            (2048, 174),
            (262144, 10000),
            (1, 1),
            (10**7, 10000),
        ],
    )
    def test_shares_to_weight(self, shares, weight):
        # runc >= 1.3.2 / crun >= 1.23: default 1024 shares -> weight 100.
        assert translate.shares_to_weight(shares) == weight

    @pytest.mark.parametrize(
        "shares, weight", [(2, 1), (102, 4), (512, 20), (1024, 39), (2048, 79), (262144, 10000)]
    )
    def test_shares_to_weight_linear(self, shares, weight):
        # The older formula: 1 + (shares - 2) * 9999 // 262142.
        assert translate.shares_to_weight_linear(shares) == weight

    def test_request_to_weight(self):
        assert translate.container_files(res(requests={"cpu": 1000}))["cpu.weight"] == "100"
        assert translate.container_files(res(requests={"cpu": 250}))["cpu.weight"] == "35"

    def test_no_request_is_minimum_weight(self):
        # The kubelet gives a container without a cpu request 2 shares: weight 1.
        assert translate.container_files(res())["cpu.weight"] == "1"
        assert translate.container_files(None)["cpu.weight"] == "1"

    def test_limit_without_request_sets_the_request(self):
        files = translate.container_files(res({"cpu": 500}))
        assert files["cpu.weight"] == str(translate.millicpu_to_weight(500)) == "59"

    def test_request_below_limit(self):
        files = translate.container_files(res({"cpu": 2000}, {"cpu": 100}))
        assert files["cpu.max"] == "200000 100000"
        assert files["cpu.weight"] == "17"


class TestMemory:
    def test_limit(self):
        files = translate.container_files(res({"memory": 50 * Mi}))
        assert files["memory.max"] == str(50 * Mi)
        assert files["memory.swap.max"] == "0"  # no swap for a container with a limit
        assert files["memory.low"] == str(50 * Mi)  # the request defaults to the limit

    def test_no_limit(self):
        files = translate.container_files(res())
        assert files["memory.max"] == "max"
        assert files["memory.swap.max"] == "max"
        assert files["memory.low"] == "0"

    def test_request(self):
        files = translate.container_files(res({"memory": 256 * Mi}, {"memory": 64 * Mi}))
        assert files["memory.max"] == str(256 * Mi)
        assert files["memory.low"] == str(64 * Mi)

    def test_whole_container_is_the_oom_victim(self):
        assert translate.container_files(res())["memory.oom.group"] == "1"


class TestPod:
    def test_pids_max(self):
        assert translate.pod_files(None)["pids.max"] == str(translate.DEFAULT_PIDS_MAX)
        assert translate.pod_files(None, 100)["pids.max"] == "100"
        for unlimited in (None, 0, -1):
            assert translate.pod_files(None, unlimited)["pids.max"] == "max"

    def test_pod_level_resources(self):
        files = translate.pod_files(res({"cpu": 1000, "memory": 512 * Mi}, {"cpu": 500}), 64)
        assert files["cpu.max"] == "100000 100000"
        assert files["cpu.weight"] == "59"
        assert files["memory.max"] == str(512 * Mi)
        assert files["memory.swap.max"] == "0"

    def test_no_pod_resources_leaves_weight_alone(self):
        files = translate.pod_files(None, 64)
        assert "cpu.weight" not in files
        assert files["cpu.max"] == "max 100000"
        assert files["memory.max"] == "max"

    def test_from_containers_like_the_kubelet(self):
        both = [res({"cpu": 200, "memory": 64 * Mi}), res({"cpu": 300, "memory": 32 * Mi})]
        files = translate.pod_files(None, 64, container_resources=both)
        assert files["cpu.max"] == "50000 100000"
        assert files["memory.max"] == str(96 * Mi)
        assert files["cpu.weight"] == str(translate.millicpu_to_weight(500))

    def test_a_container_without_limit_means_no_pod_limit(self):
        one = [res({"cpu": 200, "memory": 64 * Mi}), res(requests={"cpu": 100})]
        files = translate.pod_files(None, 64, container_resources=one)
        assert files["cpu.max"] == "max 100000"
        assert files["memory.max"] == "max"
        assert files["cpu.weight"] == str(translate.millicpu_to_weight(300))

    def test_best_effort_pod_gets_the_minimum_weight(self):
        files = translate.pod_files(None, 64, container_resources=[res(), None])
        assert files["cpu.weight"] == "1"

    def test_pod_level_wins_over_containers(self):
        files = translate.pod_files(
            res({"memory": 1024 * Mi}), 64, container_resources=[res({"memory": 64 * Mi})]
        )
        assert files["memory.max"] == str(1024 * Mi)


def test_requested_controllers():
    assert requested_controllers(None) == set()
    assert requested_controllers(res()) == set()
    assert requested_controllers(res({"cpu": 100})) == {"cpu"}
    assert requested_controllers(res(requests={"memory": 1})) == {"memory"}
    assert requested_controllers(res({"cpu": 0, "memory": 5})) == {"memory"}


class TestV1Translation:
    def test_container(self):
        files = translate.container_files_v1(res({"cpu": 200, "memory": 50 * Mi}))
        assert files["cpu.cfs_quota_us"] == "20000"
        assert files["cpu.cfs_period_us"] == "100000"
        assert files["cpu.shares"] == "204"
        assert files["memory.limit_in_bytes"] == str(50 * Mi)
        assert files["memory.memsw.limit_in_bytes"] == str(50 * Mi)  # no swap
        assert files["memory.soft_limit_in_bytes"] == str(50 * Mi)

    def test_unlimited(self):
        files = translate.container_files_v1(None)
        assert files["cpu.cfs_quota_us"] == "-1"
        assert files["cpu.shares"] == "2"
        assert files["memory.limit_in_bytes"] == "-1"
        assert files["memory.soft_limit_in_bytes"] == "-1"

    def test_pod(self):
        assert translate.pod_files_v1(None, 77)["pids.max"] == "77"
        assert "cpu.shares" not in translate.pod_files_v1(None, 77)


# ---------------------------------------------------------------------------
# /proc parsing
# ---------------------------------------------------------------------------
HYBRID_MOUNTINFO = """\
25 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
36 31 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
37 31 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:16 - cgroup cgroup rw,pids
38 31 0:33 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
"""
UNIFIED_MOUNTINFO = """\
25 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""


def test_parse_mountinfo():
    mounts = delegation.parse_mountinfo(HYBRID_MOUNTINFO)
    assert delegation.find_cgroup2_mount(mounts) == ("/sys/fs/cgroup/unified", "/")
    assert delegation.find_v1_mounts(mounts) == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "memory": "/sys/fs/cgroup/memory",
        "pids": "/sys/fs/cgroup/pids",
    }
    unified = delegation.parse_mountinfo(UNIFIED_MOUNTINFO)
    assert delegation.find_cgroup2_mount(unified) == ("/sys/fs/cgroup", "/")
    assert delegation.find_v1_mounts(unified) == {}


def test_mountinfo_escapes():
    line = r"40 31 0:40 / /mnt/with\040space rw - cgroup2 cgroup2 rw" + "\n"
    assert delegation.parse_mountinfo(line)[0][0] == "/mnt/with space"


def test_own_cgroups():
    v2, v1 = delegation.own_cgroups(
        "12:pids:/user.slice\n4:memory:/a/b\n1:name=systemd:/x\n2:cpu,cpuacct:/c\n0::/user.slice/u.scope\n"
    )
    assert v2 == "/user.slice/u.scope"
    assert v1 == {"pids": "/user.slice", "memory": "/a/b", "cpu": "/c", "cpuacct": "/c"}


def test_relative_to_mount_and_ancestors():
    assert delegation.relative_to_mount("/a/b", "/") == "/a/b"
    assert delegation.relative_to_mount("/ns/a/b", "/ns") == "/a/b"
    assert delegation.relative_to_mount("/", "/") == "/"
    assert delegation.ancestors("/a/b") == ["/a/b", "/a", "/"]
    assert delegation.ancestors("/") == ["/"]


# ---------------------------------------------------------------------------
# a cgroupfs double
# ---------------------------------------------------------------------------
CONTROLLER_FILES = {
    "cpu": {"cpu.max": "max 100000\n", "cpu.weight": "100\n", "cpu.stat": "usage_usec 0\n"},
    "memory": {
        "memory.max": "max\n",
        "memory.low": "0\n",
        "memory.swap.max": "max\n",
        "memory.oom.group": "0\n",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    },
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
    "io": {"io.weight": "default 100\n"},
    "cpuset": {"cpuset.cpus": "\n"},
}
DELEGATED_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


class FakeCgroupFS(CgroupFS):
    """A directory tree that behaves like cgroupfs where the drivers rely on it.

    ``delegated``: cgroups handed to the (rootless) caller: the directory and its
    cgroup.procs, cgroup.subtree_control and cgroup.threads are writable, and so
    is everything below it. None: the caller is root, everything is writable."""

    def __init__(
        self, root, *, delegated=None, has_kill=True, has_swap=True, self_pid=4242, unkillable=()
    ):
        self.root = str(root)
        self.delegated = None if delegated is None else [self._abs(d) for d in delegated]
        self.has_kill = has_kill
        self.has_swap = has_swap
        self.self_pid = self_pid
        self.unkillable = set(unkillable)
        self.killed = []
        self.rmdirs = []
        self.now = 0.0
        os.makedirs(self.root, exist_ok=True)
        self._interface(self.root, set(), top=True)
        self._put(self.root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids")

    # helpers for tests
    def _abs(self, rel):
        return os.path.join(self.root, rel.strip("/")) if rel.strip("/") else self.root

    def _put(self, path, name, text):
        with open(os.path.join(path, name), "w") as f:
            f.write(text if text.endswith("\n") or not text else text + "\n")

    def make(self, rel, procs=(), enable=()):
        """mkdir -p as root, with processes and controllers enabled below it."""
        path = self.root
        for part in [p for p in rel.strip("/").split("/") if p]:
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                CgroupFS.mkdir(self, path)
                self._interface(path, self._set(os.path.dirname(path), "cgroup.subtree_control"))
        if enable:
            self._put(path, "cgroup.subtree_control", " ".join(sorted(enable)))
            for child in self.subdirs(path):
                self._add_controller_files(os.path.join(path, child), set(enable))
        for pid in procs:
            self._move(pid, path)
        return path

    def pids_of(self, rel):
        return self._pids(self._abs(rel))

    # the kernel's side
    def _interface(self, path, controllers, top=False):
        files = {
            "cgroup.procs": "",
            "cgroup.subtree_control": "",
            "cgroup.threads": "",
            "cgroup.controllers": " ".join(sorted(controllers)),
        }
        if not top:
            files["cgroup.type"] = "domain"
            if self.has_kill:
                files["cgroup.kill"] = ""
        for name, text in files.items():
            self._put(path, name, text)
        self._add_controller_files(path, controllers)

    def _add_controller_files(self, path, controllers):
        self._put(path, "cgroup.controllers", " ".join(sorted(controllers)))
        for controller in controllers:
            for name, text in CONTROLLER_FILES.get(controller, {}).items():
                if name == "memory.swap.max" and not self.has_swap:
                    continue
                if not os.path.exists(os.path.join(path, name)):
                    self._put(path, name, text)

    def _set(self, path, name):
        try:
            with open(os.path.join(path, name)) as f:
                return set(f.read().split())
        except FileNotFoundError:
            return set()

    def _pids(self, path):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def _all_cgroups(self, path=None):
        path = path or self.root
        yield path
        for child in CgroupFS.subdirs(self, path):
            yield from self._all_cgroups(os.path.join(path, child))

    def _move(self, pid, target):
        for cgroup in self._all_cgroups():
            pids = self._pids(cgroup)
            if pid in pids:
                pids.remove(pid)
                self._put(cgroup, "cgroup.procs", "\n".join(map(str, pids)))
        self._put(target, "cgroup.procs", "\n".join(map(str, self._pids(target) + [pid])))

    def _is_root(self, path):
        return not os.path.exists(os.path.join(path, "cgroup.type"))

    def writable(self, path):
        if self.delegated is None:
            return True
        for d in self.delegated:
            if path == d or (
                os.path.dirname(path) == d and os.path.basename(path) in DELEGATED_FILES
            ):
                return True
            if path.startswith(d + "/") and os.path.dirname(path) != d:
                return True  # below a delegated cgroup: made by the user
            if os.path.dirname(path) == d and os.path.isdir(path):
                return True  # a child cgroup of a delegated one
        return False

    def _deny(self, path):
        if not self.writable(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    def read(self, path):
        if os.path.basename(path) == "cgroup.events":
            cgroup = os.path.dirname(path)
            if not os.path.isdir(cgroup):
                raise FileNotFoundError(errno.ENOENT, "No such file", path)
            busy = any(self._pids(c) for c in self._all_cgroups(cgroup))
            return f"populated {int(busy)}\nfrozen 0\n"
        return super().read(path)

    def write(self, path, value):
        cgroup, name = os.path.split(path)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        self._deny(path)
        if name == "cgroup.subtree_control":
            offered = self._set(cgroup, "cgroup.controllers")
            enabled = self._set(cgroup, "cgroup.subtree_control")
            for token in value.split():
                controller = token[1:]
                if controller not in offered:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
                if token[0] == "+" and controller not in enabled:
                    if not self._is_root(cgroup) and self._pids(cgroup):
                        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
                    enabled.add(controller)
                elif token[0] == "-":
                    enabled.discard(controller)
            self._put(cgroup, name, " ".join(sorted(enabled)))
            for child in CgroupFS.subdirs(self, cgroup):
                self._add_controller_files(os.path.join(cgroup, child), enabled)
        elif name == "cgroup.procs":
            pid = int(value) or self.self_pid
            if not self._is_root(cgroup) and self._set(cgroup, "cgroup.subtree_control"):
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
            self._move(pid, cgroup)
        elif name == "cgroup.kill":
            for c in self._all_cgroups(cgroup):
                for pid in self._pids(c):
                    self.kill(pid, signal.SIGKILL)
        else:
            super().write(path, value)

    def mkdir(self, path):
        if not os.path.isdir(os.path.dirname(path)):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        self._deny(os.path.dirname(path))
        super().mkdir(path)
        self._interface(path, self._set(os.path.dirname(path), "cgroup.subtree_control"))

    def rmdir(self, path):
        if not os.path.isdir(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        if CgroupFS.subdirs(self, path) or self._pids(path):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        self.rmdirs.append(os.path.relpath(path, self.root))
        shutil.rmtree(path)

    def kill(self, pid, sig=signal.SIGKILL):
        self.killed.append(pid)
        if pid in self.unkillable:
            return
        for cgroup in self._all_cgroups():
            pids = self._pids(cgroup)
            if pid in pids:
                pids.remove(pid)
                self._put(cgroup, "cgroup.procs", "\n".join(map(str, pids)))

    def sleep(self, seconds):
        self.now += seconds

    def monotonic(self):
        return self.now


UID = 1000
SLICE = f"user.slice/user-{UID}.slice"
SERVICE = f"{SLICE}/user@{UID}.service"
SCOPE = f"{SERVICE}/app.slice/run-1.scope"
SESSION = f"{SLICE}/session-1.scope"


def read(fs, rel, name):
    with open(os.path.join(fs._abs(rel), name)) as f:
        return f.read().strip()


def systemd_host(tmp_path, *, delegate=("cpu", "cpuset", "io", "memory", "pids"), **kwargs):
    """A cgroup v2 host laid out by systemd: user@1000.service delegated (with
    ``delegate`` controllers), our process (4242) in app.slice/run-1.scope."""
    fs = FakeCgroupFS(tmp_path / "cg", delegated=[SERVICE], **kwargs)
    fs.make("/", enable={"cpu", "cpuset", "io", "memory", "pids"})
    fs.make("user.slice", enable={"cpu", "cpuset", "io", "memory", "pids"})
    fs.make(SLICE, enable=set(delegate))
    fs.make(SESSION, procs=[100, 101])
    fs.make(SERVICE)
    fs.make(f"{SERVICE}/init.scope", procs=[200])  # the user's systemd
    fs.make(SCOPE, procs=[4242, 4243])
    return fs


def open_v2(fs, own, required=(), uid=UID, **kwargs):
    return open_cgroups(
        set(required),
        fs=fs,
        mountinfo=f"1 1 0:1 / {fs.root} rw - cgroup2 cgroup2 rw\n",
        proc_cgroup=f"0::/{own.strip('/')}\n",
        euid=uid,
        **kwargs,
    )


# ---------------------------------------------------------------------------
# delegation detection
# ---------------------------------------------------------------------------
class TestDelegation:
    def test_finds_the_delegated_root_above_its_own_cgroup(self, tmp_path):
        fs = systemd_host(tmp_path)
        cg = open_v2(fs, SCOPE, {"cpu", "memory"})
        assert isinstance(cg, V2Cgroups)
        assert cg.path == fs._abs(f"{SERVICE}/nspod")
        assert cg.controllers == {"cpu", "memory", "pids"}
        assert read(fs, SERVICE, "cgroup.subtree_control") == "cpu memory pids"
        assert read(fs, f"{SERVICE}/nspod", "cgroup.subtree_control") == "cpu memory pids"
        # Nothing had to move: user@1000.service holds no process itself.
        assert not os.path.exists(fs._abs(f"{SERVICE}/{INIT_LEAF}"))
        assert fs.pids_of(SCOPE) == [4242, 4243]

    def test_probe(self, tmp_path):
        fs = systemd_host(tmp_path)
        found = delegation.probe(fs, fs.root, "/" + SCOPE, UID)
        assert found.root == "/" + SERVICE
        assert found.available == {"cpu", "cpuset", "io", "memory", "pids"}
        found = delegation.probe(fs, fs.root, "/" + SESSION, UID)
        assert found.root is None
        assert found.elsewhere == "/" + SERVICE

    def test_moves_its_own_processes_out_of_the_delegated_root(self, tmp_path):
        # systemd-run --user --scope -p Delegate=yes, in a user manager whose
        # slices are not the user's: the scope itself is the delegated root and
        # holds our processes, which must move to a leaf before controllers can
        # be enabled (no internal processes).
        fs = FakeCgroupFS(tmp_path / "cg", delegated=[SCOPE])
        fs.make("/", enable={"cpu", "memory", "pids"})
        fs.make("user.slice", enable={"cpu", "memory", "pids"})
        fs.make(SLICE, enable={"cpu", "memory", "pids"})
        fs.make(SERVICE, enable={"cpu", "memory", "pids"})
        fs.make(f"{SERVICE}/app.slice", enable={"cpu", "memory", "pids"})
        fs.make(SCOPE, procs=[4242, 4243])
        cg = open_v2(fs, SCOPE, {"memory"})
        assert cg.path == fs._abs(f"{SCOPE}/nspod")
        assert fs.pids_of(SCOPE) == []
        assert fs.pids_of(f"{SCOPE}/{INIT_LEAF}") == [4242, 4243]
        assert read(fs, SCOPE, "cgroup.subtree_control") == "cpu memory pids"

    def test_root_uses_the_top_and_moves_nothing(self, tmp_path):
        fs = systemd_host(tmp_path)
        fs.delegated = None  # root may write anywhere
        fs.make("/", procs=[1])  # the real root may hold processes
        cg = open_v2(fs, SESSION, {"cpu", "memory", "pids"}, uid=0)
        assert cg.path == fs._abs("nspod")
        assert fs.pids_of("/") == [1]
        assert fs.pids_of(SESSION) == [100, 101]

    def test_root_in_a_cgroup_namespace_moves_processes(self, tmp_path):
        # In a container the namespace's root is an ordinary cgroup.
        fs = FakeCgroupFS(tmp_path / "cg")
        fs.make("/", enable={"cpu", "memory", "pids"})
        fs.make("ctr", procs=[1, 7])
        cg = open_cgroups(
            {"memory"},
            fs=fs,
            euid=0,
            mountinfo=f"1 1 0:1 /ctr {fs._abs('ctr')} rw - cgroup2 cgroup2 rw\n",
            proc_cgroup="0::/\n",
        )
        assert cg.path == fs._abs("ctr/nspod")
        assert fs.pids_of(f"ctr/{INIT_LEAF}") == [1, 7]

    def test_not_delegated(self, tmp_path):
        fs = systemd_host(tmp_path)
        with pytest.raises(CgroupUnavailable) as caught:
            open_v2(fs, SESSION, {"memory"})
        text = str(caught.value)
        assert isinstance(caught.value, HostUnsupported)
        assert "cgroup controller memory" in text
        assert f"/{SESSION} is not delegated to uid {UID}" in text
        # user@1000.service is delegated: run inside it.
        assert f"/{SERVICE} is delegated to you" in text
        assert "systemd-run --user --scope -p Delegate=yes" in text
        assert OPT_OUT_FLAG in text

    def test_not_delegated_anywhere(self, tmp_path):
        fs = systemd_host(tmp_path)
        fs.delegated = []
        with pytest.raises(CgroupUnavailable) as caught:
            open_v2(fs, SESSION, {"cpu", "memory"})
        text = str(caught.value)
        assert "cgroup controllers cpu, memory" in text
        assert "/etc/systemd/system/user@.service.d/delegate.conf" in text
        assert "Delegate=cpu cpuset io memory pids" in text
        assert "systemctl daemon-reload" in text
        assert "systemd-run --user --scope -p Delegate=yes" in text
        assert OPT_OUT_FLAG in text

    def test_controller_not_delegated(self, tmp_path):
        # systemd's default delegation: only memory and pids.
        fs = systemd_host(tmp_path, delegate=("memory", "pids"))
        with pytest.raises(CgroupUnavailable) as caught:
            open_v2(fs, SCOPE, {"cpu", "memory"})
        text = str(caught.value)
        assert text.startswith(f"cgroup controller cpu not delegated to uid {UID}")
        assert "offers only: memory pids" in text
        assert "Delegate=cpu cpuset io memory pids" in text
        assert OPT_OUT_FLAG in text

    def test_opt_out_applies_what_it_can(self, tmp_path):
        fs = systemd_host(tmp_path, delegate=("memory", "pids"))
        cg = open_v2(fs, SCOPE, {"cpu", "memory"}, strict=False)
        assert cg.controllers == {"memory", "pids"}
        assert "controller cpu" in cg.warning
        pod = cg.create_pod("p1", None, 64)
        leaf = pod.create_leaf("web", res({"cpu": 200, "memory": 50 * Mi}))
        assert leaf.limits["memory.max"] == str(50 * Mi)
        assert leaf.skipped == {"cpu.max": "20000 100000", "cpu.weight": "29"}
        pod.remove()

    def test_nothing_required_and_nothing_delegated(self, tmp_path):
        fs = systemd_host(tmp_path)
        fs.delegated = []
        cg = open_v2(fs, SESSION, ())
        assert isinstance(cg, NullCgroups)
        assert "not delegated" in cg.warning
        pod = cg.create_pod("p1", None, 64)
        leaf = pod.create_leaf("web", res({"memory": 50 * Mi}))
        leaf.attach(123)
        assert leaf.path is None and leaf.oom_kills() == 0
        assert leaf.skipped == {
            "memory.max": str(50 * Mi),
            "memory.swap.max": "0",
            "memory.low": str(50 * Mi),
        }
        pod.remove()
        cg.remove_pod("p1")

    def test_nothing_required_gives_pids_anyway(self, tmp_path):
        fs = systemd_host(tmp_path)
        cg = open_v2(fs, SCOPE, ())
        pod = cg.create_pod("p1", None, 99)
        assert pod.limits["pids.max"] == "99"
        pod.remove()

    def test_hybrid_host_rootless(self, tmp_path):
        fs = FakeCgroupFS(tmp_path / "cg")
        with pytest.raises(CgroupUnavailable) as caught:
            open_cgroups(
                {"memory"},
                fs=fs,
                euid=UID,
                mountinfo=HYBRID_MOUNTINFO,
                proc_cgroup="0::/user.slice\n4:memory:/user.slice\n",
            )
        text = str(caught.value)
        assert "cgroup v1" in text
        assert "systemd.unified_cgroup_hierarchy=1" in text
        assert "Delegate=cpu cpuset io memory pids" in text
        assert OPT_OUT_FLAG in text
        cg = open_cgroups(
            set(), fs=fs, euid=UID, mountinfo=HYBRID_MOUNTINFO, proc_cgroup="0::/user.slice\n"
        )
        assert isinstance(cg, NullCgroups)


# ---------------------------------------------------------------------------
# pods and leaves
# ---------------------------------------------------------------------------
@pytest.fixture
def host(tmp_path):
    return systemd_host(tmp_path)


@pytest.fixture
def cg(host):
    return open_v2(host, SCOPE, {"cpu", "memory", "pids"})


def rel(fs, path):
    return os.path.relpath(path, fs.root)


class TestPods:
    def test_pod_cgroup(self, host, cg):
        pod = cg.create_pod("abc-123", res({"memory": 256 * Mi}), 100)
        assert rel(host, pod.path) == f"{SERVICE}/nspod/pod-abc-123"
        assert read(host, rel(host, pod.path), "pids.max") == "100"
        assert read(host, rel(host, pod.path), "memory.max") == str(256 * Mi)
        assert read(host, rel(host, pod.path), "cgroup.subtree_control") == "cpu memory pids"
        assert pod.limits["pids.max"] == "100"
        assert cg.pod_uids() == ["abc-123"]

    def test_container_leaf(self, host, cg):
        pod = cg.create_pod("p1", None, 64)
        leaf = pod.create_leaf("web", res({"cpu": 200, "memory": 50 * Mi}, {"memory": 20 * Mi}))
        where = rel(host, leaf.path)
        assert where == f"{SERVICE}/nspod/pod-p1/web"
        assert read(host, where, "cpu.max") == "20000 100000"
        assert read(host, where, "cpu.weight") == "29"
        assert read(host, where, "memory.max") == str(50 * Mi)
        assert read(host, where, "memory.swap.max") == "0"
        assert read(host, where, "memory.low") == str(20 * Mi)
        assert read(host, where, "memory.oom.group") == "1"
        assert leaf.limits == {
            "cpu.max": "20000 100000",
            "cpu.weight": "29",
            "memory.max": str(50 * Mi),
            "memory.swap.max": "0",
            "memory.low": str(20 * Mi),
            "memory.oom.group": "1",
        }
        assert leaf.skipped == {}

    def test_pause_leaf(self, host, cg):
        pod = cg.create_pod("p1", None, 64)
        leaf = pod.create_leaf(PAUSE_LEAF)
        assert rel(host, leaf.path).endswith("/pod-p1/_pause")
        assert leaf.limits == {"cpu.weight": "1"}
        # A container may be called "pause": it gets its own leaf.
        other = pod.create_leaf("pause", None)
        assert other.path != leaf.path

    def test_no_swap_accounting(self, tmp_path):
        fs = systemd_host(tmp_path, has_swap=False)
        cg = open_v2(fs, SCOPE, {"memory"})
        leaf = cg.create_pod("p1", None, 64).create_leaf("web", res({"memory": 50 * Mi}))
        assert "memory.swap.max" not in leaf.limits
        assert leaf.skipped == {"memory.swap.max": "0"}

    def test_attach_and_oom(self, host, cg):
        pod = cg.create_pod("p1", None, 64)
        leaf = pod.create_leaf("web", res({"memory": 50 * Mi}))
        leaf.attach(4243)
        assert leaf.pids() == [4243]
        assert host.pids_of(SCOPE) == [4242]
        leaf.enter()  # the calling process: "0"
        assert leaf.pids() == [4243, 4242]
        assert leaf.oom_kills() == 0
        host._put(
            leaf.path, "memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 1"
        )
        assert leaf.oom_kills() == 1
        assert leaf.memory_events()["max"] == 9

    def test_attach_to_an_inner_cgroup_fails_clearly(self, host, cg):
        pod = cg.create_pod("p1", None, 64)
        pod.create_leaf("web")
        with pytest.raises(CgroupError) as caught:
            cg.pod("p1").leaf("").attach(4243)  # the pod cgroup itself
        assert "cannot move process 4243" in str(caught.value)

    def test_leaf_made_again_starts_fresh(self, host, cg):
        pod = cg.create_pod("p1", None, 64)
        leaf = pod.create_leaf("web", res({"memory": 50 * Mi}))
        leaf.attach(4243)
        host._put(leaf.path, "memory.events", "oom_kill 3")
        again = pod.create_leaf("web", res({"memory": 60 * Mi}))
        assert 4243 in host.killed
        assert again.oom_kills() == 0
        assert again.pids() == []
        assert read(host, rel(host, again.path), "memory.max") == str(60 * Mi)

    def test_names_are_checked(self, cg):
        for bad in ("", "a/b", "..", "cpu.max", "x\ny"):
            with pytest.raises(CgroupError):
                cg.create_pod("p1", None, 64).create_leaf(bad)
        for bad in ("", "../x", "a/b"):
            with pytest.raises(CgroupError):
                cg.create_pod(bad, None, 64)

    def test_a_failed_leaf_leaves_nothing(self, host, cg):
        pod = cg.create_pod("p1", None, 64)
        # memory.low cannot be written: the leaf made for it is removed again.
        orig = host.write

        def failing_write(path, value):
            if path.endswith("memory.low"):
                raise OSError(errno.EINVAL, "Invalid argument", path)
            return orig(path, value)

        host.write = failing_write
        with pytest.raises(CgroupError) as caught:
            pod.create_leaf("web", res({"memory": 50 * Mi}))
        assert "memory.low" in str(caught.value) and "Invalid argument" in str(caught.value)
        assert pod.leaves() == []


class TestRemoval:
    def test_kills_then_removes_leaves_before_the_pod(self, host, cg):
        pod = cg.create_pod("p1", None, 64)
        pod.create_leaf(PAUSE_LEAF).attach(500)
        pod.create_leaf("web").attach(501)
        pod.create_leaf("sidecar").attach(502)
        pod.remove()
        assert sorted(host.killed) == [500, 501, 502]
        base = f"{SERVICE}/nspod"
        assert host.rmdirs == [
            f"{base}/pod-p1/{PAUSE_LEAF}",
            f"{base}/pod-p1/sidecar",
            f"{base}/pod-p1/web",
            f"{base}/pod-p1",
            base,
        ]
        assert not os.path.exists(pod.path)
        # The base goes with the last pod; the delegated root stays.
        assert not os.path.exists(cg.path)
        assert os.path.isdir(host._abs(SERVICE))

    def test_without_cgroup_kill(self, tmp_path):
        fs = systemd_host(tmp_path, has_kill=False)
        cg = open_v2(fs, SCOPE, {"memory"})
        pod = cg.create_pod("p1", None, 64)
        pod.create_leaf("web").attach(501)
        pod.create_leaf("web2").attach(502)
        pod.remove()
        assert sorted(fs.killed) == [501, 502]
        assert not os.path.exists(pod.path)

    def test_base_stays_while_other_pods_live(self, host, cg):
        one = cg.create_pod("p1", None, 64)
        cg.create_pod("p2", None, 64)
        one.remove()
        assert os.path.isdir(cg.path)
        assert cg.pod_uids() == ["p2"]
        cg.remove_pod("p2")
        assert not os.path.exists(cg.path)

    def test_remove_pod_by_uid_and_twice(self, host, cg):
        cg.create_pod("p1", None, 64).create_leaf("web").attach(501)
        cg.remove_pod("p1")
        cg.remove_pod("p1")  # gone already: nothing to do
        cg.pod("p1").remove()
        assert 501 in host.killed

    def test_a_process_that_does_not_die(self, tmp_path):
        fs = systemd_host(tmp_path, unkillable={666})
        cg = open_v2(fs, SCOPE, {"memory"})
        pod = cg.create_pod("p1", None, 64)
        pod.create_leaf("web").attach(666)
        with pytest.raises(CgroupError) as caught:
            pod.remove(timeout=1.0)
        assert "666" in str(caught.value) and pod.path in str(caught.value)
        assert os.path.isdir(pod.path)

    def test_create_pod_remakes_a_base_removed_meanwhile(self, host, cg):
        cg.create_pod("p1", None, 64).remove()
        assert not os.path.exists(cg.path)
        pod = cg.create_pod("p2", None, 64)
        assert os.path.isdir(pod.path)
        assert read(host, rel(host, pod.path), "cgroup.subtree_control") == "cpu memory pids"

    def test_a_failed_pod_leaves_nothing(self, host, cg):
        orig = host.write

        def failing_write(path, value):
            if path.endswith("pids.max"):
                raise OSError(errno.EINVAL, "Invalid argument", path)
            return orig(path, value)

        host.write = failing_write
        with pytest.raises(CgroupError):
            cg.create_pod("p1", None, 64)
        assert cg.pod_uids() == []


# ---------------------------------------------------------------------------
# cgroup v1 (root), through cgroupspy, on plain directories
# ---------------------------------------------------------------------------
class TestV1:
    @pytest.fixture
    def v1(self, tmp_path):
        top = tmp_path / "cgv1"
        for name in ("cpu,cpuacct", "memory", "pids"):
            (top / name).mkdir(parents=True)
        (top / "memory" / "memory.memsw.limit_in_bytes").write_text("-1\n")
        mountinfo = "".join(
            f"{i} 1 0:{i} / {top}/{name} rw - cgroup cgroup rw,{name}\n"
            for i, name in enumerate(("cpu,cpuacct", "memory", "pids"), 30)
        )
        fs = FakeCgroupFS(tmp_path / "unused")
        fs.root = str(top)
        return top, fs, mountinfo

    def test_pod_and_leaf(self, v1):
        top, fs, mountinfo = v1
        cg = open_cgroups(
            {"cpu", "memory"},
            fs=fs,
            euid=0,
            mountinfo=mountinfo,
            proc_cgroup="4:memory:/machine\n2:cpu,cpuacct:/\n0::/\n",
        )
        assert cg.version == 1
        pod = cg.create_pod("p1", None, 50)
        assert (top / "pids/nspod/pod-p1/pids.max").read_text() == "50"
        # The base sits below nspod's own cgroup in each hierarchy.
        assert pod.paths["memory"] == f"{top}/memory/machine/nspod/pod-p1"
        assert pod.paths["cpu"] == f"{top}/cpu,cpuacct/nspod/pod-p1"
        leaf = pod.create_leaf("web", res({"cpu": 200, "memory": 50 * Mi}))
        assert (top / "cpu,cpuacct/nspod/pod-p1/web/cpu.cfs_quota_us").read_text() == "20000"
        assert (top / "memory/machine/nspod/pod-p1/web/memory.limit_in_bytes").read_text() == str(
            50 * Mi
        )
        assert leaf.limits["cpu.shares"] == "204"
        # memsw exists only where swap accounting is on: here only in the top dir.
        assert leaf.skipped == {"memory.memsw.limit_in_bytes": str(50 * Mi)}
        (top / "memory/machine/nspod/pod-p1/web/memory.oom_control").write_text(
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
        )
        assert leaf.oom_kills() == 2
        for path in leaf.paths.values():
            (open(os.path.join(path, "cgroup.procs"), "w")).close()
        leaf.attach(321)
        assert (top / "pids/nspod/pod-p1/web/cgroup.procs").read_text().split() == ["321"]
        pod.remove()
        assert 321 in fs.killed
        assert not (top / "pids/nspod").exists()
        assert not (top / "memory/machine/nspod").exists()


    def test_removed_from_its_record_in_every_hierarchy(self, v1):
        """A watchdog that died leaves only the stored record: rebuilt from it,
        the pod's cgroup goes from every hierarchy, not only the memory one."""
        import json

        from nspod.cgroups import pod_from_record, record_of

        top, fs, mountinfo = v1
        cg = open_cgroups({"cpu", "memory"}, fs=fs, euid=0, mountinfo=mountinfo,
                          proc_cgroup="4:memory:/machine\n2:cpu,cpuacct:/\n0::/\n")
        pod = cg.create_pod("p1", None, 50)
        pod.create_leaf("web", res({"cpu": 200}))
        record = json.loads(json.dumps(record_of(pod)))  # as the store keeps it
        assert record["version"] == 1 and set(record["paths"]) == {"cpu", "memory", "pids"}
        pod_from_record(record, fs).remove()
        for hierarchy in ("pids/nspod", "memory/machine/nspod", "cpu,cpuacct/nspod"):
            assert not (top / hierarchy).exists(), hierarchy


def test_remove_cgroup_paths(host, cg):
    from nspod.cgroups import remove_cgroup_paths

    pod = cg.create_pod("p1", None, 64)
    pod.create_leaf("web").attach(501)
    remove_cgroup_paths(pod.path, fs=host)
    remove_cgroup_paths([pod.path, None], fs=host)  # gone already
    assert 501 in host.killed
    assert not os.path.exists(pod.path)
    assert not os.path.exists(cg.path)


def test_every_driver_offers_the_one_interface():
    """Callers never ask which driver they hold: each pod and leaf class has
    every method of the protocols."""
    import inspect as pyinspect

    from nspod.cgroups import NullLeaf, NullPod
    from nspod.cgroups.interface import LeafCgroup, PodCgroupDriver
    from nspod.cgroups.v1 import V1Leaf, V1Pod
    from nspod.cgroups.v2 import Leaf, PodCgroup

    def methods(cls):
        return {n for n, v in vars(cls).items() if pyinspect.isfunction(v) and not n.startswith("_")}

    for proto, classes in ((PodCgroupDriver, (PodCgroup, V1Pod, NullPod)), (LeafCgroup, (Leaf, V1Leaf, NullLeaf))):
        for cls in classes:
            assert methods(proto) <= set(dir(cls)), (cls, methods(proto) - set(dir(cls)))
