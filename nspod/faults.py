"""Fault injection, for the fault tier (tests/integration/test_fault_points.py).

NSPOD_FAULT=POINT makes the nspod process that reaches POINT kill itself
there with SIGKILL; NSPOD_FAULT=POINT:fail makes it fail there with an
OSError instead, and POINT:slow makes it stall there for SLOW seconds (a
window a command may land in). So a test can crash each process at the
moments that matter and check what the next command makes of it. The
CLI passes the setting on with the pod it asks the supervisor to start;
the supervisor's own is that of the command that started it (its
adoptions at start). A watchdog's point kills the supervisor, every pod's:
that is the crash the tests mean. Unset, a point costs one comparison.

Points: store:pod-created (the row is made, `run` is not told yet),
run:created (the pod's row exists, no watchdog yet), run:spawned
(the watchdog reported), rm:stopped (the watchdog is gone, nothing torn
down), rm:torn-down (the sandbox is gone, the row not yet), watchdog:sandbox
(the pause holder runs, no container yet), watchdog:teardown (the pause
holder is dead, the network and cgroups are not yet given back), adopt (a
new watchdog is taking a pod over), watchdog:event (each event of the pod's:
its handling fails, or the supervisor dies, at the first).
"""
import errno
import os
import signal
import time

wanted = os.environ.get("NSPOD_FAULT", "")
SLOW = 2


def point(name, setting=None):
    """setting: a pod's own (its watchdog's), else this process's."""
    setting = wanted if setting is None else setting
    if not setting:
        return
    at, _, mode = setting.rpartition(":")
    if mode not in ("fail", "slow"):
        at, mode = setting, ""
    if at != name:
        return
    if mode == "fail":
        raise OSError(errno.EIO, f"fault injected at {name} (NSPOD_FAULT)")
    if mode == "slow":
        time.sleep(SLOW)
        return
    os.kill(os.getpid(), signal.SIGKILL)
