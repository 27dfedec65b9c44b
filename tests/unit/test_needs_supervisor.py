"""When a pod may be left to the keeper (Watchdog.needs_supervisor): only
when nothing about it needs Python. Each condition alone keeps the supervisor."""
from types import SimpleNamespace

import pytest

from nspod.watchdog import Watchdog


def quiet_pod(**containers):
    """A watchdog in the state a quiet, Running pod leaves it (no __init__:
    only what needs_supervisor reads)."""
    w = Watchdog.__new__(Watchdog)
    w.conn, w.stop_waiters, w.explain = None, [], None
    w.stopping, w.finishing, w.phase = False, None, "Running"
    w.store = SimpleNamespace(pending=False)
    w.log_faults = {}
    w.timers, w.image_timers, w.pulls, w.retry_config = [], [], {}, set()
    w.initialized = True
    w.lifecycle = SimpleNamespace(hooks={}, kills={}, start_queue=[], deadline=None)
    w.probes = SimpleNamespace(instances={})
    w.consoles = {"app": SimpleNamespace(sessions={})}
    specs = [SimpleNamespace(name=n, stdin=c.get("stdin", False), tty=c.get("tty", False))
             for n, c in (containers or {"app": {}}).items()]
    w.pod = SimpleNamespace(all_containers=lambda: specs)
    return w


def test_a_quiet_running_pod_needs_no_supervisor():
    assert quiet_pod().needs_supervisor() is None


@pytest.mark.parametrize("attribute, value, reason", [
    ("conn", object(), "a command waits on it"),
    ("stop_waiters", [object()], "a command waits on it"),
    ("explain", 7, "a command waits on it"),
    ("stopping", True, "it is ending"),
    ("finishing", 12.0, "it is ending"),
    ("phase", "Pending", "it is Pending"),
    ("phase", None, "it is starting"),
    ("log_faults", {"app": 10}, "its state or log is not all written"),
    ("timers", [(1.0, "app")], "a start is due"),
    ("image_timers", [(1.0, "app", "retry")], "a start is due"),
    ("pulls", {"app": None}, "a start is due"),
    ("retry_config", {"app"}, "a start is due"),
    ("initialized", False, "its init containers, hooks or deadline"),
])
def test_each_thing_to_do_keeps_the_supervisor(attribute, value, reason):
    w = quiet_pod()
    setattr(w, attribute, value)
    assert w.needs_supervisor() == reason


@pytest.mark.parametrize("part, attribute, value, reason", [
    ("store", "pending", True, "its state or log is not all written"),
    ("lifecycle", "hooks", {"app": object()}, "its init containers, hooks or deadline"),
    ("lifecycle", "kills", {"app": object()}, "its init containers, hooks or deadline"),
    ("lifecycle", "start_queue", ["app"], "its init containers, hooks or deadline"),
    ("lifecycle", "deadline", 99.0, "its init containers, hooks or deadline"),
    ("probes", "instances", {"app": object()}, "its probes"),
])
def test_each_thing_in_progress_keeps_the_supervisor(part, attribute, value, reason):
    w = quiet_pod()
    setattr(getattr(w, part), attribute, value)
    assert w.needs_supervisor() == reason


@pytest.mark.parametrize("flags", [{"stdin": True}, {"tty": True}])
def test_a_container_with_stdin_or_a_terminal_keeps_the_supervisor(flags):
    assert quiet_pod(app={}, shell=flags).needs_supervisor() == "a container's stdin or terminal"


def test_an_attach_session_keeps_the_supervisor():
    w = quiet_pod()
    w.consoles["app"].sessions[9] = object()
    assert w.needs_supervisor() == "an attach session"


def test_output_alone_does_not_keep_the_supervisor_busy():
    from nspod.supervisor import _busy

    def event(data):
        return (SimpleNamespace(data=data), 1)

    watchdog = object()
    assert not _busy([])
    assert not _busy([event((watchdog, ("log", "app"))), event((watchdog, ("log", "side")))])
    assert _busy([event((watchdog, ("log", "app"))), event((watchdog, ("exit", "app")))])
    assert _busy([event("accept")]) and _busy([event("wake")])


def test_a_wake_up_serves_exits_and_requests_before_output():
    from nspod.supervisor import _in_turn

    watchdog = object()

    def event(data):
        return (SimpleNamespace(data=data), 1)

    flood, quick = event((watchdog, ("log", "flood"))), event((watchdog, ("exit", "quick")))
    accept, side = event("accept"), event((watchdog, ("log", "side")))
    assert _in_turn([flood, quick, side, accept]) == [quick, accept, flood, side]
