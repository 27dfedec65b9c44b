"""Which restarts begin before the ended instance is recorded
(Watchdog.on_exit and start_at_once): the restart latency in
docs/BENCHMARKS.md depends on it. The kernel's parts (the exit status, the
start itself) are fakes; on_exit's decisions are the real ones."""
import os
from types import SimpleNamespace

import pytest

from nspod.backoff import BackOff
from nspod.watchdog import Watchdog


def ended_pod(calls, restart_policy="Always", backoff_base=0, **container):
    """A watchdog whose one container `app` just ended with exit code 1 (no
    __init__: only what on_exit reads). `calls` lists, in order, the parts
    of a restart it begins."""
    w = Watchdog.__new__(Watchdog)
    spec = SimpleNamespace(name="app", image=None, stdin=container.get("stdin", False),
                           tty=container.get("tty", False), restart_policy=None, is_sidecar=False)
    w.pod = SimpleNamespace(container=lambda name: spec, is_init=lambda name: False,
                            restart_policy=restart_policy, init_containers=[])
    pidfd_r, pidfd_w = os.pipe()
    os.close(pidfd_w)
    inst = SimpleNamespace(pid=4242, pid_start=1, pidfd=pidfd_r, started=0.0, log=None, child=False,
                           oom_before=0)
    w.instances = {"app": inst}
    w.keeper = SimpleNamespace(status=lambda pid, start: (1 << 8, 1.0))  # exit code 1
    w.consoles = {"app": SimpleNamespace(end=lambda code: calls.append("console ended"))}
    w.sel = SimpleNamespace(unregister=lambda fd: None)
    w.stopping, w.initialized, w.pause_pid = False, True, 4000
    w.backoff = {"app": BackOff(base=backoff_base)}
    w.leaves, w.retry_config = {}, set()
    w.status = {"app": {"restartCount": 0}}
    w.lifecycle = SimpleNamespace(kills={}, hooks={}, failures={}, ended=lambda name: None)
    w.drain = lambda name, inst, console: calls.append("drained")
    w.begin_container = lambda spec, restart_count: calls.append(f"began instance {restart_count}") or "starting"
    w.finished = lambda spec, state, ran_for, delay, restarted: calls.append(f"recorded, restarted={restarted}")
    w.complete_start = lambda starting: calls.append("completed")
    w.update_phase = lambda: None
    return w


def test_a_plain_container_restarts_before_its_exit_is_recorded():
    calls = []
    w = ended_pod(calls)
    w.on_exit("app")
    assert calls == ["drained", "began instance 1", "console ended", "recorded, restarted=True", "completed"]
    assert w.status["app"]["restartCount"] == 1


@pytest.mark.parametrize("why, container, backoff_base, pause_pid", [
    ("a terminal to hand over", {"tty": True}, 0, 4000),
    ("stdin to hand over", {"stdin": True}, 0, 4000),
    ("a back-off to wait", {}, 10, 4000),
    ("a sandbox to make again (its pause holder died)", {}, 0, None),
])
def test_a_restart_that_waits_for_something_goes_through_the_timers(why, container, backoff_base, pause_pid):
    calls = []
    w = ended_pod(calls, backoff_base=backoff_base, **container)
    w.pause_pid = pause_pid
    if backoff_base:
        w.backoff["app"].next_delay(0)  # (the first restart is at once: this is the second)
    w.on_exit("app")
    assert calls == ["drained", "console ended", "recorded, restarted=False"], why


def test_an_ended_instances_last_output_reaches_its_sessions():
    # Exits are served before output (supervisor._in_turn): what the instance
    # wrote last is drained at its exit, and its attach sessions must get it
    # before they end (a CI run lost `saw-eof` of a stdinOnce container).
    calls = []
    w = ended_pod(calls)
    w.drain = lambda name, inst, console: calls.append(
        "drained to its sessions" if w.consoles.get(name) is console is not None else "drained, sessions gone")
    w.on_exit("app")
    assert calls[0] == "drained to its sessions"
    assert "app" not in w.consoles and "console ended" in calls
