"""The supervisor reaps the children no pod claims (processes re-parented to
it), never a pod's own (its exit status is the pod's), and a wake-up with no
ended child costs one waitid, not a scan of every pod's pids."""
import os
import time

import pytest

from nspod import supervisor as supervisor_module
from nspod.supervisor import Supervisor


class ClaimingPod:
    def __init__(self, *pids):
        self.pids = list(pids)

    def claimed_pids(self):
        return self.pids


@pytest.fixture
def supervisor():
    s = Supervisor.__new__(Supervisor)
    s.pods = {}
    return s


def ended_child():
    """A child of ours that has ended and is not reaped (a zombie)."""
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    deadline = time.monotonic() + 10
    while _state(pid) != "Z":
        assert time.monotonic() < deadline, f"child {pid} did not end"
        time.sleep(0.01)
    return pid


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()[0]


def test_an_unclaimed_child_is_reaped_and_a_pods_is_left_to_it(supervisor):
    orphan, owned = ended_child(), ended_child()
    supervisor.pods["p"] = ClaimingPod(owned)
    supervisor.reap_orphans()
    assert not os.path.exists(f"/proc/{orphan}")
    assert _state(owned) == "Z"  # still there for its pod, with its status
    assert os.waitstatus_to_exitcode(os.waitpid(owned, 0)[1]) == 7


def test_no_ended_child_costs_no_scan(supervisor, monkeypatch):
    scans = []
    monkeypatch.setattr(supervisor_module, "_children", lambda: scans.append(1) or set())
    supervisor.pods["p"] = ClaimingPod()
    supervisor.reap_orphans()
    assert scans == []
    child = ended_child()
    supervisor.reap_orphans()  # (this scan finds nothing: _children is stubbed)
    assert scans == [1]
    os.waitpid(child, 0)
