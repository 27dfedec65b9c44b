"""Init containers and sidecars, as the kubelet sequences them: pure rules
over container statuses, which the watchdog applies (nspod/watchdog.py).

Upstream rules followed (Kubernetes v1.29 .. v1.35, default feature gates,
SidecarContainers on):

* ``next_step`` -- ``computeInitContainerActions`` in
  ``pkg/kubelet/kuberuntime/kuberuntime_manager.go``: init containers start one
  at a time, in order, each once the one before it is done; a plain one is done
  when it exited 0, a sidecar (``restartPolicy: Always``) once it has *started*
  (its status' ``started``: true when its process runs, or, with a startup
  probe, once that succeeded). A plain one that failed is run again under the
  pod's restart policy (``OnFailure`` for an ``Always`` pod), unless the policy
  is ``Never``: then the pod has failed. When the last one is done the pod is
  initialized and the app containers start.
* ``restart_policy`` -- which policy restarts a container: a sidecar's is
  ``Always``, a plain init container's ``OnFailure`` (``Never`` in a ``Never``
  pod), an app container's the pod's.
* ``apps_completed`` -- the kubelet ends a pod whose app containers have all
  ended for good, running sidecars or not (they never keep a ``Never`` or
  ``OnFailure`` pod from completing).
* ``sidecar_to_stop`` -- ``terminationOrdering`` in
  ``pkg/kubelet/kuberuntime/kuberuntime_termination_order.go``: at termination
  the app containers get TERM first; the sidecars only after every app
  container has exited, in reverse order, each after the ones defined after it
  have exited.

Statuses are Kubernetes' containerStatus dicts (nspod/phase.py).
"""
from .record import field, record


@record(frozen=True)
class Step:
    start: tuple = ()          # init containers to start now (their first start in this sandbox)
    failed: bool = False       # a plain init container failed under restartPolicy Never
    initialized: bool = False  # every init container is done: the app containers may start
    waiting_for: tuple = field(default=())  # (for messages and tests) what the next step waits on


def restart_policy(pod, container):
    if container.is_sidecar:
        return "Always"
    if pod.is_init(container.name):
        return "Never" if pod.restart_policy == "Never" else "OnFailure"
    return pod.restart_policy


def done(container, status):
    """Whether the next init step may go on past this init container."""
    state = status.get("state") or {}
    if container.is_sidecar:
        return "running" in state and bool(status.get("started"))
    return "terminated" in state and state["terminated"].get("exitCode") == 0


def failed(status):
    """A plain init container's last run ended non-zero (it may be waiting to run again)."""
    state = status.get("state") or {}
    ended = state.get("terminated") or ((status.get("lastState") or {}).get("terminated") if "waiting" in state else None)
    return ended is not None and ended.get("exitCode") != 0


def next_step(pod, statuses, begun):
    """What to do next for the init containers. ``statuses``: name -> status;
    ``begun``: names of the init containers started (or being started: an image
    pull, a back-off) in this sandbox. The first init container not begun is the
    next, once the one before it is done."""
    init = pod.init_containers
    for container in init:
        if container.name in begun and not container.is_sidecar and pod.restart_policy == "Never" \
                and failed(statuses[container.name]):
            return Step(failed=True)
    position = next((i for i, c in enumerate(init) if c.name not in begun), len(init))
    if position and not done(init[position - 1], statuses[init[position - 1].name]):
        return Step(waiting_for=(init[position - 1].name,))
    if position < len(init):
        return Step(start=(init[position].name,))
    return Step(initialized=True)


def apps_completed(pod, statuses, busy):
    """Every app container has ended and none will run again (``busy``: names
    with a process, a restart timer, an image pull or retry)."""
    return all(c.name not in busy and "terminated" in (statuses[c.name].get("state") or {})
               for c in pod.containers)


def sidecar_to_stop(pod, running, signalled):
    """The sidecar to send TERM to now during termination, or None: none while
    any other container runs; then the last-defined running sidecar, once (the
    ones before it wait until it has exited)."""
    sidecars = [c.name for c in pod.sidecars()]
    if any(name not in sidecars for name in running):
        return None
    for name in reversed(sidecars):
        if name in running:
            return None if name in signalled else name
    return None
