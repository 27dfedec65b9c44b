"""Tearing a pod's sandbox down: one owner, whoever calls it.

The watchdog calls it when the pod ends (it has killed and reaped its own
children first), `nspod stop` and `nspod rm` when the watchdog is gone. In order:

    kill what is left of the pod's processes   containers, their terminals' holders, pause
                                               holder, by (pid, start time)
    give the network back                      forwarded ports, veth, lease; the node
                                               network goes with the last lease
    remove the cgroups                         kill what is left in them, wait until the
                                               kernel lets go, rmdir leaves then the pod

Every step runs even when one before it failed, so one fault (say, a node
network process slow to die) never strands the rest; the failures are raised
together at the end. What could not be removed stays recorded in the store,
so `nspod rm` can try again.
"""
import json

from .errors import NspodError
from .kernel import process


def processes(store, name):
    """The pod's processes as the store knows them: (pid, start time) pairs."""
    row = store.pod(name)
    procs = []
    for c in store.containers(name):
        if c["pid"]:
            procs.append((c["pid"], c["pid_start"]))
        if c["console"]:  # a tty container's pty holder (nspod/console.py)
            holder = json.loads(c["console"])
            procs.append((holder["pid"], holder["start"]))
    if row["pause_pid"]:
        procs.append((row["pause_pid"], row["pause_start"]))
    return procs


def teardown(store, name, *, cgroup=None, in_user_ns=False):
    """Remove what is left of the pod's sandbox (see the module's docstring).
    `cgroup`: the pod cgroup object, when the caller has it (the watchdog);
    else it is rebuilt from the stored record. `in_user_ns`: the caller is in
    the node's user namespace (the watchdog) and may delete the veth itself."""
    from .cgroups import pod_from_record
    from .net import podnet

    failures = []
    left = process.kill_and_wait(processes(store, name))
    if left:
        failures.append(f"processes {left} did not end 10 s after SIGKILL")
    try:
        store.update_pod(name, pause_pid=None, pause_start=None)
        for c in store.containers(name):
            store.update_container(name, c["name"], pid=None, pid_start=None, console=None)
    except NspodError as e:
        failures.append(str(e))
    try:
        podnet.release(store, name, in_user_ns=in_user_ns)
    except NspodError as e:
        failures.append(f"network: {e}")
    if cgroup is None:
        record = store.pod(name)["cgroup"]
        cgroup = pod_from_record(json.loads(record)) if record else None
    if cgroup is not None:
        try:
            cgroup.remove()
            store.update_pod(name, cgroup=None)
        except NspodError as e:
            failures.append(f"cgroup: {e}")
    if failures:
        raise NspodError(f'pod "{name}": its sandbox could not be removed completely: ' + "; ".join(failures))
