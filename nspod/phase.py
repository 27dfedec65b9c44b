"""Pod phase, pod conditions and container-state shapes, as the kubelet computes them.

Everything here is pure: it takes container statuses (plain dicts in Kubernetes' own
JSON shape, as stored and as printed by ``inspect``) and returns what the kubelet
would report. No syscalls.

Container state (exactly one key)::

    {"waiting":    {"reason": "CrashLoopBackOff", "message": "..."}}
    {"running":    {"startedAt": "2024-01-02T03:04:05Z"}}
    {"terminated": {"exitCode": 137, "signal": 9, "reason": "Error",
                    "startedAt": "...", "finishedAt": "..."}}

Container status: ``{"name", "state", "lastState" ({} when none), "restartCount",
"ready", "started", ...}``.

Upstream rules followed (Kubernetes v1.27 .. v1.35; the regular-container part of
these functions has not changed since v1.27 added ``podIsTerminal``):

* ``pod_phase``   -- ``getPhase`` in ``pkg/kubelet/kubelet_pods.go`` (default feature
  gates: ContainerRestartRules off), with init containers and sidecars (restartable
  init containers), plus the terminal-phase guard of ``generateAPIPodStatus`` ("pods
  are not allowed to transition out of terminal phases").
* ``print_pod``   -- the READY, STATUS and RESTARTS columns of kubectl's ``printPod``
  (``pkg/printers/internalversion/printers.go``), init containers and sidecars included.
* ``conditions``  -- ``GeneratePodInitializedCondition``, ``GeneratePodReadyCondition``,
  ``GenerateContainersReadyCondition`` in ``pkg/kubelet/status/generate.go``, in the
  order ``generateAPIPodStatus`` appends them, and ``lastTransitionTime`` kept while a
  condition's status does not change (the status manager's rule).
* ``container_ready`` -- the prober manager: a container without a readiness probe
  is ready exactly while it is running.
* ``terminated``  -- the reasons containerd's CRI plugin gives: ``Completed`` (exit 0),
  ``OOMKilled``, else ``Error``; a process killed by signal N exits 128+N.
"""

import math
import time

PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
UNKNOWN = "Unknown"

TERMINAL_PHASES = (SUCCEEDED, FAILED)
RESTART_POLICIES = ("Always", "OnFailure", "Never")


# --- time stamps -------------------------------------------------------------------

def rfc3339(ts: float) -> str:
    """``2024-01-02T03:04:05Z``: UTC, second precision (how metav1.Time serializes)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(ts)))


def rfc3339_nano(ts) -> str:
    """``2016-10-06T00:17:09.669794202Z``: UTC with nine fraction digits, for log lines.

    ``ts`` is an ``int`` of nanoseconds since the epoch (``time.time_ns()``) or a
    ``float`` of seconds (``time.time()``).
    """
    if isinstance(ts, int):
        secs, nanos = divmod(ts, 1_000_000_000)
    else:
        secs = math.floor(ts)
        nanos = round((ts - secs) * 1e9)
        if nanos >= 1_000_000_000:
            secs, nanos = secs + 1, nanos - 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 time stamp (``Z`` or an offset)."""
    from datetime import datetime  # lazy: keep this module's import cheap

    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # datetime takes at most 6 fraction digits; keep the offset after them
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, offset = rest[:digits], rest[digits:]
        text = f"{head}.{(frac + '000000')[:6]}{offset}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time stamp") from None


# --- container states --------------------------------------------------------------

def waiting(reason: str, message: str | None = None) -> dict:
    state = {"reason": reason}
    if message:
        state["message"] = message
    return {"waiting": state}


def running(started_at: str) -> dict:
    return {"running": {"startedAt": started_at}}


def terminated(exit_code: int | None = None, *, signal: int | None = None,
               oom_killed: bool = False, started_at: str | None = None,
               finished_at: str | None = None, message: str | None = None,
               reason: str | None = None) -> dict:
    """A terminated state. Give ``exit_code`` for a process that exited, ``signal``
    for one that was killed (its exit code is then 128+signal, as runc reports it).
    ``reason`` names a state no exit status tells (StartError,
    ContainerStatusUnknown); an OOM kill wins over it."""
    if exit_code is None:
        if signal is None:
            raise ValueError("terminated() needs exit_code or signal")
        exit_code = 128 + signal
    if oom_killed:
        reason = "OOMKilled"
    elif not reason:
        reason = "Completed" if exit_code == 0 else "Error"
    state = {"exitCode": exit_code, "reason": reason}
    if signal is not None:
        state["signal"] = signal
    if message:
        state["message"] = message
    if started_at is not None:
        state["startedAt"] = started_at
    if finished_at is not None:
        state["finishedAt"] = finished_at
    return {"terminated": state}


def initial_waiting(has_init_containers: bool = False) -> dict:
    """The state of a container not started yet: the kubelet's default waiting
    reason, PodInitializing in a pod with init containers (for them too)."""
    return waiting("PodInitializing" if has_init_containers else "ContainerCreating")


def new_status(name: str, has_init_containers: bool = False) -> dict:
    """A container's status before its first start, as the kubelet shows it."""
    return {"name": name, "state": initial_waiting(has_init_containers), "lastState": {}, "ready": False,
            "restartCount": 0, "started": False}


def container_ready(status: dict) -> bool:
    """Ready iff running, for a container without a readiness or startup
    probe (the kubelet marks it ready as soon as it runs); with probes the
    watchdog's `ready` comes from them (nspod/probing)."""
    return "running" in (status.get("state") or {})


# --- phase ---------------------------------------------------------------------------

def pod_phase(restart_policy: str, statuses: list[dict], *, terminal: str | None = None,
              watchdog_alive: bool = True, pod_is_terminal: bool = False,
              containers: list[str] | None = None, init: list | None = None,
              initialized: bool = False) -> str:
    """The pod phase, by the kubelet's ``getPhase``.

    ``terminal``: the phase already reported, if it was Succeeded or Failed; a pod
    never leaves a terminal phase, so it is returned as is.
    ``watchdog_alive=False``: nobody is watching the containers, so the phase is
    ``Unknown`` (the node controller's answer for an unreachable node), unless terminal.
    ``pod_is_terminal``: the pod is being stopped for good (``nspod stop``/``rm``), so
    containers will not be restarted whatever the restart policy: once all have
    stopped, the phase is Succeeded if all exited 0, else Failed.
    ``containers``: the spec's container names; a name without a status counts as
    unknown (without it, only the statuses given are counted).
    ``init``: [(status, is_sidecar)] of the init containers, in order. A plain one
    that failed fails a ``Never`` pod; one not done yet keeps the pod Pending, as a
    sidecar not started does until ``initialized`` (an app container has run in this
    sandbox: the kubelet's HasAnyActiveRegularContainerStarted). A running sidecar
    counts as running; an ended one is left out (it does not hold a pod back from
    completing).
    """
    if restart_policy not in RESTART_POLICIES:
        raise ValueError(f"restartPolicy {restart_policy!r} is not one of {RESTART_POLICIES}")
    if terminal in TERMINAL_PHASES:
        return terminal
    if not watchdog_alive:
        return UNKNOWN

    pending_init, failed_init, pending_sidecars, sidecars_running, sidecars_waiting, sidecars_unknown = \
        _count_init(init or ())
    running_, waiting_, unknown = sidecars_running, sidecars_waiting, sidecars_unknown
    stopped = succeeded = 0
    for status in statuses:
        state = status.get("state") or {}
        if "running" in state:
            running_ += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            # Waiting to be restarted after a run counts as stopped (not succeeded,
            # even after exit 0); waiting to start for the first time counts as waiting.
            if "terminated" in (status.get("lastState") or {}):
                stopped += 1
            else:
                waiting_ += 1
        else:
            unknown += 1
    if containers is not None:
        known = {s.get("name") for s in statuses}
        unknown += sum(1 for name in containers if name not in known)

    if failed_init and restart_policy == "Never":
        return FAILED  # an init container failed and will not be run again
    if pending_init or (pending_sidecars and not initialized) or waiting_ > 0:
        return PENDING  # initializing, or one or more containers has not been started
    if running_ > 0 and unknown == 0:
        return RUNNING  # all started, at least one running
    if running_ == 0 and stopped > 0 and unknown == 0:
        if pod_is_terminal:
            return SUCCEEDED if stopped == succeeded else FAILED
        if restart_policy == "Always":
            return RUNNING  # all are in the process of restarting
        if stopped == succeeded:
            return SUCCEEDED
        if restart_policy == "Never":
            return FAILED
        return RUNNING  # OnFailure: the failed ones are being restarted
    return PENDING


def _count_init(init):
    """getPhase's counters over the init containers: (regular ones pending,
    regular ones failed, sidecars pending, sidecars running, waiting, unknown)."""
    pending = failed = sidecars_pending = running = waiting_ = unknown = 0
    for status, sidecar in init:
        state = status.get("state") or {}
        last = (status.get("lastState") or {}).get("terminated")
        if not sidecar:
            if "terminated" in state:
                failed += state["terminated"].get("exitCode") != 0
            elif "waiting" in state and last is not None:
                failed += last.get("exitCode") != 0
            else:  # running, waiting to run for the first time, or unknown
                pending += 1
        elif "running" in state:
            sidecars_pending += not status.get("started")
            running += 1
        elif "waiting" in state and last is None:
            sidecars_pending += 1
            waiting_ += 1
        elif "terminated" not in state and "waiting" not in state:
            sidecars_pending += 1
            unknown += 1
    return pending, failed, sidecars_pending, running, waiting_, unknown


def any_app_container_started(statuses: list[dict]) -> bool:
    """The kubelet's HasAnyRegularContainerStarted: an app container runs or has ended."""
    return any("running" in (s.get("state") or {}) or "terminated" in (s.get("state") or {}) for s in statuses)


def is_terminal(phase: str) -> bool:
    return phase in TERMINAL_PHASES


# --- conditions ----------------------------------------------------------------------

def _go_list(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"  # how Go's %s prints a []string


def _condition(type_: str, status: bool | str, reason: str | None = None,
               message: str | None = None) -> dict:
    if isinstance(status, bool):
        status = "True" if status else "False"
    cond = {"type": type_, "status": status}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _containers_ready(phase, statuses, containers):
    by_name = {s.get("name"): s for s in statuses}
    names = list(containers) if containers is not None else [s.get("name") for s in statuses]
    unknown = [n for n in names if n not in by_name]
    unready = [n for n in names if n in by_name and not by_name[n].get("ready", False)]
    if phase == SUCCEEDED and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    if phase == FAILED:
        return _condition("ContainersReady", False, "PodFailed")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_go_list(unready)}")
    if messages:
        return _condition("ContainersReady", False, "ContainersNotReady", ", ".join(messages))
    return _condition("ContainersReady", True)


def _initialized_condition(phase, init, statuses):
    """GeneratePodInitializedCondition: every plain init container exited 0 and
    every sidecar has started, or an app container has run already (a sidecar
    restarting later does not make the pod uninitialized again)."""
    incomplete = []
    for status, sidecar in init:
        state = status.get("state") or {}
        if sidecar:
            done = bool(status.get("started"))
        else:
            done = "terminated" in state and state["terminated"].get("exitCode") == 0
        if not done:
            incomplete.append(status.get("name"))
    if phase == SUCCEEDED:
        return _condition("Initialized", True, "PodCompleted")
    if any_app_container_started(statuses) or not incomplete:
        return _condition("Initialized", True)
    return _condition("Initialized", False, "ContainersNotInitialized",
                      f"containers with incomplete status: {_go_list(incomplete)}")


def conditions(phase: str, statuses: list[dict], initialized: bool = True,
               now_rfc3339: str | None = None, *, containers: list[str] | None = None,
               previous: list[dict] | None = None,
               sandbox_ready: bool | None = None, init: list | None = None) -> list[dict]:
    """The kubelet-owned pod conditions, in the kubelet's order:
    [PodReadyToStartContainers], Initialized, Ready, ContainersReady, PodScheduled.

    ``initialized``: for a pod without init containers: False while it is still
    being set up (the kubelet's rule makes it True otherwise).
    ``previous``: the conditions reported last time; a condition whose status did not
    change keeps its ``lastTransitionTime``.
    ``sandbox_ready``: when given, adds PodReadyToStartContainers (pause holder and
    network are up), as kubelets since v1.29 do.
    ``init``: [(status, is_sidecar)] of the init containers, in order: Initialized
    follows them (``initialized`` is then not used), and sidecars count for
    ContainersReady and Ready before the app containers, as the kubelet counts them.
    In phase Unknown, Ready is False (the node controller's MarkPodsNotReady).
    """
    now = now_rfc3339 or rfc3339(time.time())
    out = []
    if sandbox_ready is not None:
        out.append(_condition("PodReadyToStartContainers", sandbox_ready))

    if init:
        out.append(_initialized_condition(phase, init, statuses))
    elif phase == SUCCEEDED:
        out.append(_condition("Initialized", True, "PodCompleted"))
    elif initialized:
        out.append(_condition("Initialized", True))
    else:
        out.append(_condition("Initialized", False, "ContainersNotInitialized"))

    sidecars = [status for status, sidecar in init or () if sidecar]
    if sidecars:
        names = containers if containers is not None else [s.get("name") for s in statuses]
        statuses, containers = sidecars + list(statuses), [s.get("name") for s in sidecars] + list(names)
    containers_ready = _containers_ready(phase, statuses, containers)
    if phase == UNKNOWN:
        ready = _condition("Ready", False)
    else:  # Ready mirrors ContainersReady (nspod has no readiness gates)
        ready = dict(containers_ready, type="Ready")
    out += [ready, containers_ready, _condition("PodScheduled", True)]

    before = {c.get("type"): c for c in previous or ()}
    for cond in out:
        old = before.get(cond["type"])
        kept = old is not None and old.get("status") == cond["status"]
        cond["lastProbeTime"] = None
        cond["lastTransitionTime"] = old.get("lastTransitionTime", now) if kept else now
    return out


def status_column(phase: str, statuses: list[dict], stopping: bool = False, *,
                  init: list | None = None, initialized_condition: bool = False, reason: str | None = None) -> str:
    """The STATUS column of `kubectl get pods` (print_pod)."""
    return print_pod(phase, statuses, stopping, init=init, initialized_condition=initialized_condition,
                     reason=reason)[0]


def print_pod(phase: str, statuses: list[dict], stopping: bool = False, *,
              init: list | None = None, initialized_condition: bool = False, reason: str | None = None):
    """(STATUS, ready, total, RESTARTS) as kubectl's printPod computes them.

    STATUS: the phase, overridden while initializing by the first init container
    not done (``Init:N/M``, ``Init:REASON``, ``Init:ExitCode:N``; a started sidecar
    counts as done), else by each app container's waiting or terminated reason (the
    last container that has one wins, so ``PodInitializing`` while they are being
    created); "Completed" shown as "Running" while another container still runs,
    "Terminating" while the pod is stopping. READY counts started sidecars that
    are ready and ready app containers, out of sidecars plus app containers.
    RESTARTS: every init container's while initializing, else the sidecars' and
    the app containers'. ``init``: [(status, is_sidecar)], in order;
    ``initialized_condition``: the pod's Initialized condition is True;
    ``reason``: the pod's status.reason (DeadlineExceeded), shown for the phase.
    """
    init = list(init or ())
    reason = reason or phase
    ready = 0
    total = len(statuses) + sum(1 for _, sidecar in init if sidecar)
    init_restarts = sum(st.get("restartCount", 0) for st, _ in init)
    sidecar_restarts = sum(st.get("restartCount", 0) for st, sidecar in init if sidecar)
    initializing = False
    for i, (st, sidecar) in enumerate(init):
        state = st.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if sidecar and st.get("started"):
            ready += bool(st.get("ready"))
            continue
        if terminated:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init)}"
        initializing = True
        break
    restarts = init_restarts
    if not initializing or initialized_condition:
        restarts = sidecar_restarts
        running = False
        for st in reversed(statuses):
            restarts += st.get("restartCount", 0)
            state = st.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                reason = (f"Signal:{terminated['signal']}" if terminated.get("signal")
                          else f"ExitCode:{terminated.get('exitCode', 0)}")
            elif st.get("ready") and "running" in state:
                running = True
                ready += 1
        if reason == "Completed" and running:
            reason = "Running"
    if stopping and phase not in TERMINAL_PHASES:
        reason = "Terminating"
    return reason, ready, total, restarts
