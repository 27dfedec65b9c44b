"""Which pods a wake-up of the supervisor's loop runs (Supervisor.after_events):
those with an event or a request, those whose next timer is due, every pod
after a signal and at least once a second; not a quiet pod beside them."""
import time

import pytest

from nspod.supervisor import Supervisor


class FakeWatchdog:
    def __init__(self, name, due=None, done=False):
        self.name, self.due, self.done = name, due, done
        self.explain = None
        self.next_wake = 0.0
        self.ran = 0

    def after_events(self):
        self.ran += 1
        return self.done

    def timeout(self):
        return self.due


@pytest.fixture
def supervisor():
    s = Supervisor.__new__(Supervisor)
    s.pods, s.touched, s.idle = {}, set(), 5.0
    s.last_sweep = time.monotonic()
    s.dropped_at = None
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


class Cycle:
    """A dropped watchdog's shape: objects that refer to each other."""
    def __init__(self):
        self.me = self


def test_a_dropped_watchdog_is_freed_at_a_quiet_wake_up_not_at_once(supervisor, monkeypatch):
    import gc
    import weakref

    import nspod.supervisor as module

    passes = []
    collect = gc.collect
    monkeypatch.setattr(module.gc, "collect", lambda: passes.append(1) or collect())
    gc.disable()  # (the automatic passes: only ours may free it)
    try:
        dropped = Cycle()
        gone = weakref.ref(dropped)
        del dropped
        supervisor.forget()  # (a pod's drop, in after_events)
        assert passes == [] and gone() is not None
        now = time.monotonic()
        assert not supervisor.collect_dropped(quiet=False, now=now)  # busy: it waits
        assert supervisor.collect_dropped(quiet=True, now=now)
        assert passes == [1] and gone() is None
        assert not supervisor.collect_dropped(quiet=True, now=now)  # nothing left to free
    finally:
        gc.enable()


def test_a_busy_supervisor_frees_what_it_dropped_within_garbage_wait(supervisor, monkeypatch):
    import nspod.supervisor as module

    monkeypatch.setattr(module.gc, "collect", lambda: 0)
    supervisor.forget()
    first = supervisor.dropped_at
    supervisor.forget()  # a second drop does not put the pass off
    assert supervisor.dropped_at == first
    assert not supervisor.collect_dropped(quiet=False, now=first + module.GARBAGE_WAIT - 0.1)
    assert supervisor.collect_dropped(quiet=False, now=first + module.GARBAGE_WAIT)
