"""Which pods a wake-up of the supervisor's loop runs (Supervisor.after_events):
those with an event or a request, those whose next timer is due, every pod
after a signal and at least once a second; not a quiet pod beside them."""
import time

import pytest

from nspod.supervisor import Supervisor


class FakeWatchdog:
    def __init__(self, name, due=None, done=False):
        self.name, self.due, self.done = name, due, done
        self.unlinked = False
        self.explain = None
        self.next_wake = 0.0
        self.ran = 0

    def after_events(self):
        self.ran += 1
        return self.done

    def timeout(self):
        return self.due

    def unlink(self):
        self.unlinked = True


@pytest.fixture
def supervisor():
    s = Supervisor.__new__(Supervisor)
    s.pods, s.touched, s.idle = {}, set(), 5.0
    s.last_sweep = time.monotonic()
    s.collect_due = None
    return s


def add(s, *watchdogs):
    for w in watchdogs:
        s.pods[w.name] = w


def test_a_quiet_pod_is_not_run_for_another_pods_event(supervisor):
    quiet, busy = FakeWatchdog("quiet"), FakeWatchdog("busy")
    add(supervisor, quiet, busy)
    supervisor.after_events(sweep=False)  # new pods run once (next_wake 0), then say when
    assert (quiet.ran, busy.ran) == (1, 1)
    assert quiet.next_wake == float("inf")
    supervisor.touched.add(busy)
    for _ in range(5):
        supervisor.after_events(sweep=False)
    assert (quiet.ran, busy.ran) == (1, 6)
    assert supervisor.timeout() == 1.0  # nothing due: the once-a-second sweep


def test_a_pod_whose_timer_is_due_runs_and_says_when_next(supervisor):
    w = FakeWatchdog("timer", due=0.0)
    add(supervisor, w)
    supervisor.after_events(sweep=False)
    supervisor.after_events(sweep=False)  # due again at once
    assert w.ran == 2
    w.due = 30.0
    supervisor.after_events(sweep=False)
    before = w.next_wake
    supervisor.after_events(sweep=False)
    assert w.ran == 3 and before - time.monotonic() > 29
    assert 0.9 < supervisor.timeout() <= 1.0


def test_a_signal_and_a_second_run_every_pod(supervisor):
    a, b = FakeWatchdog("a"), FakeWatchdog("b")
    add(supervisor, a, b)
    supervisor.after_events(sweep=False)
    supervisor.after_events(sweep=True)  # (SIGCHLD, say)
    assert (a.ran, b.ran) == (2, 2)
    supervisor.last_sweep -= 1.0
    supervisor.after_events(sweep=False)
    assert (a.ran, b.ran) == (3, 3)


def test_a_pod_that_ended_is_dropped(supervisor):
    w = FakeWatchdog("ended", done=True)
    add(supervisor, w)
    supervisor.after_events(sweep=False)
    assert "ended" not in supervisor.pods


def test_a_pod_whose_handling_fails_is_dropped_as_one_that_ended(supervisor):
    """A bug in one pod's handling (Supervisor.guarded) drops it the same way:
    unlinked for reference counting, the collector's pass due."""
    w = FakeWatchdog("broken")
    w.event = w.report = lambda *args: None
    w.release = lambda: None

    def fails():
        raise RuntimeError("a bug")

    w.after_events = fails
    add(supervisor, w)
    supervisor.after_events(sweep=True)
    assert "broken" not in supervisor.pods
    assert w.unlinked and supervisor.collect_due is not None


POD = """
apiVersion: v1
kind: Pod
metadata: {name: dropped}
spec:
  containers:
  - name: app
    command: [sleep, "1"]
    readinessProbe: {exec: {command: ["true"]}}
    lifecycle: {postStart: {exec: {command: ["true"]}}}
"""


def test_a_dropped_watchdog_is_freed_without_the_collectors_pass(tmp_path, monkeypatch):
    """The supervisor lets go of a real watchdog (its selector, hooks and
    probes point back at it): reference counting frees it at once; the
    collector's full pass (~0.1 ms a pod running) waits for a quiet wake-up."""
    import gc
    import selectors
    import weakref

    from nspod.spec import load_pods
    from nspod.store import Store

    monkeypatch.setenv("NSPOD_STATE_DIR", str(tmp_path / "state"))
    store = Store()
    store.create_pod(load_pods(POD, "test")[0][0], "uid-1", {})
    s = Supervisor.__new__(Supervisor)
    s.sel, s.store, s.keeper, s.pods, s.touched = selectors.DefaultSelector(), store, None, {}, set()
    s.collect_due = None
    watchdog = s.watchdog("dropped")
    s.touched.add(watchdog)
    gone = weakref.ref(watchdog)
    gc.disable()  # (only reference counting may free it)
    try:
        s.drop(watchdog)
        del watchdog
        assert gone() is None
    finally:
        gc.enable()


def test_the_collectors_pass_after_a_drop_waits_for_a_quiet_wake_up(supervisor, monkeypatch):
    import gc
    import weakref

    import nspod.supervisor as module

    passes = []
    collect = gc.collect
    monkeypatch.setattr(module.gc, "collect", lambda: passes.append(1) or collect())

    class Left:  # a cycle that the pods' handling left
        def __init__(self):
            self.me = self

    gc.disable()
    try:
        now = time.monotonic()
        assert not supervisor.collect_when_quiet(quiet=True, now=now)  # nothing dropped: no pass
        left = Left()
        gone = weakref.ref(left)
        del left
        supervisor.drop(FakeWatchdog("ended"))
        assert not supervisor.collect_when_quiet(quiet=False, now=now)  # busy: it waits
        assert passes == [] and gone() is not None
        assert supervisor.collect_when_quiet(quiet=True, now=now)
        assert passes == [1] and gone() is None
        assert not supervisor.collect_when_quiet(quiet=True, now=now)  # once
    finally:
        gc.enable()


def test_a_busy_supervisor_runs_the_pass_within_garbage_wait_of_a_drop(supervisor, monkeypatch):
    import nspod.supervisor as module

    monkeypatch.setattr(module.gc, "collect", lambda: 0)
    supervisor.drop(FakeWatchdog("a"))
    due = supervisor.collect_due
    supervisor.drop(FakeWatchdog("b"))  # a second drop does not put the pass off
    assert supervisor.collect_due == due
    assert not supervisor.collect_when_quiet(quiet=False, now=due - 0.01)
    assert supervisor.collect_when_quiet(quiet=False, now=due)
