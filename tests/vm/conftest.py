"""The VM tier: tests that need a cgroup v2 kernel with delegation. They run
inside the guest of scripts/vm, as an unprivileged user whose cgroup subtree is
delegated the way systemd delegates it (scripts/lib/vm-guest.sh):

    scripts/vm -- .venv/bin/python -m pytest tests/vm -q

Outside that VM the session fails with that instruction (never a skip).
Every test is checked for cgroups left behind: any nspod pod cgroup that is still
there after a test is removed and the test fails.
"""

import os

import pytest

CGROUP_ROOT = "/sys/fs/cgroup"
IN_VM = os.environ.get("NSPOD_VM") == "1"


def pytest_sessionstart(session):
    # Not a skip: a VM test that cannot run where it must is a failure.
    if not IN_VM:
        raise pytest.UsageError(
            "the VM tier runs inside the cgroup v2 VM: scripts/vm -- .venv/bin/python -m pytest tests/vm"
        )


def nspod_cgroups_left():
    """Pod cgroups (pod-* inside a cgroup named nspod) anywhere in the hierarchy."""
    left = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        if os.path.basename(dirpath) == "nspod":
            left.extend(os.path.join(dirpath, d) for d in dirnames if d.startswith("pod-"))
            dirnames[:] = []
    return sorted(left)


@pytest.fixture(autouse=True)
def no_nspod_cgroup_left():
    """Fails a test that leaves a pod cgroup behind (and removes it)."""
    before = set(nspod_cgroups_left())
    yield
    left = [p for p in nspod_cgroups_left() if p not in before]
    if left:
        from nspod.cgroups.fs import CgroupFS
        from nspod.cgroups.v2 import remove_cgroup

        for path in left:
            try:
                remove_cgroup(CgroupFS(), path, timeout=5)
            except Exception:  # noqa: BLE001 - report the leak, not the clean-up
                pass
        pytest.fail(f"cgroups left behind: {', '.join(left)}")


@pytest.fixture
def delegated_root():
    """The cgroup scripts/vm delegated to the test user (below /sys/fs/cgroup)."""
    rel = os.environ.get("NSPOD_VM_DELEGATED_ROOT")
    assert rel, "NSPOD_VM_DELEGATED_ROOT is not set: not started by scripts/vm?"
    return CGROUP_ROOT + rel
