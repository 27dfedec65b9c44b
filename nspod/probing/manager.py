"""A pod's probes, hosted by its watchdog on the supervisor's loop.

The watchdog tells it when a container instance starts (`start`) and ends
(`stop`); it asks for the time of its next due work (`next_due`), runs what
is due (`run_due`) and hears from a check's fd (`on_event`). Results become:
- readiness: the container's `ready` (and with it the pod's Ready and
  ContainersReady conditions, which the watchdog records);
- startup: `started`; until it succeeds, liveness and readiness wait;
- liveness (or startup) failing `failureThreshold` times in a row: the
  container is killed with the probe's grace period (TERM, then KILL) and
  the restart policy takes it from there, as the kubelet does;
- every failed check: a Warning `Unhealthy` event "<Kind> probe failed: <output>".
"""
import time

from ..errors import NspodError
from .execcheck import ExecCheck
from .network import HttpCheck, TcpCheck
from .nodesockets import NODE_SOCKETS
from .state import READINESS, STARTUP, ProbeState

EXEC_GRACE = 5.0  # seconds past the timeout before the loop ends an exec check whose child hung


class InstanceProbes:
    """The probes of one running container instance."""

    def __init__(self, spec, started):
        self.spec = spec
        self.states = {kind: ProbeState(kind, probe, started) for kind, probe in spec.probes().items()}
        self.started = STARTUP not in self.states
        self.checks = {}  # kind -> (check, deadline)
        self.exec_ctx = None


class PodProbes:
    def __init__(self, watchdog):
        self.w = watchdog
        self.instances = {}  # container name -> InstanceProbes
        self.target = None   # (pod IP, node network row or None for the host's network)

    # -- the watchdog's side ---------------------------------------------------------
    def start(self, spec, started_mono):
        """A new instance of `spec` runs (started at `started_mono`, monotonic)."""
        self.stop(spec.name)
        self.target = None  # (the sandbox may be a new one)
        if spec.probes():
            self.instances[spec.name] = InstanceProbes(spec, started_mono)

    def stop(self, name):
        """The instance ended (or the pod stops): its probes end with it."""
        inst = self.instances.pop(name, None)
        for kind in list(inst.checks) if inst else ():
            self.end_check(inst, kind)

    def close(self):
        for name in list(self.instances):
            self.stop(name)

    def pids(self):
        """Exec checks' children, and the node socket helper: the supervisor leaves their reaping to us."""
        pids = [check.pid for inst in self.instances.values() for check, _ in inst.checks.values()
                if isinstance(check, ExecCheck) and check.job is not None]
        return pids + NODE_SOCKETS.pids()

    def next_due(self):
        times = []
        for inst in self.instances.values():
            times += [deadline for _, deadline in inst.checks.values()]
            times += [t for t in (s.next_due() for s in inst.states.values()) if t is not None]
        return min(times) if times else None

    def run_due(self, now=None):
        now = time.monotonic() if now is None else now
        for name, inst in list(self.instances.items()):
            for kind, (check, deadline) in list(inst.checks.items()):
                if now >= deadline:
                    self.finish(name, inst, kind, check.timed_out())
            for kind, state in inst.states.items():
                if name in self.instances and state.due(now, inst.started):
                    self.begin_check(name, inst, kind, now)

    def on_event(self, key):
        name, kind = key
        inst = self.instances.get(name)
        if inst is None or kind not in inst.checks:
            return
        check, _ = inst.checks[kind]
        before = check.events
        try:
            outcome = check.step()
        except OSError as e:
            outcome = False, str(e)
        if outcome is not None:
            self.finish(name, inst, kind, outcome)
        elif check.events != before:
            self.w.sel.unregister(check.fileno())
            self.w.sel.register(check.fileno(), check.events, ("probe", key))

    # -- checks ------------------------------------------------------------------------
    def begin_check(self, name, inst, kind, now):
        state = inst.states[kind]
        probe = state.probe
        try:
            check = self.make_check(name, inst, probe)
        except (OSError, NspodError) as e:  # no socket, no child: a failed check, said why
            state.advance(now)
            self.count(name, inst, kind, False, str(e))
            return
        deadline = now + probe.timeout_seconds + (EXEC_GRACE if isinstance(check, ExecCheck) else 0)
        state.busy = True
        inst.checks[kind] = (check, deadline)
        self.w.sel.register(check.fileno(), check.events, ("probe", (name, kind)))

    def make_check(self, name, inst, probe):
        if probe.exec_command:
            if inst.exec_ctx is None:
                inst.exec_ctx = self.w.exec_context(name)
            env = inst.spec.environment()
            from ..spec.expand import expand

            argv = [expand(word, env) for word in probe.exec_command]  # $(VAR) from the container's env
            return ExecCheck(inst.exec_ctx, argv, probe.timeout_seconds)
        ip, sock = self.socket()
        if probe.http:
            return HttpCheck(sock, ip, probe.http)
        return TcpCheck(sock, probe.tcp.host or ip, probe.tcp.port)

    def socket(self):
        """(pod IP, a new TCP socket that reaches it): in the node network,
        or the host's for a hostNetwork pod."""
        import socket

        for attempt in (1, 2):
            if self.target is None:
                self.target = self.find_target()
            ip, node = self.target
            if node is None:
                return ip, socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                return ip, NODE_SOCKETS.socket(node)
            except NspodError:
                self.target = None  # the node network may have been made again: look once more
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def find_target(self):
        from ..net import ipam, node_network

        lease = ipam.lease(self.w.store, self.w.name)
        if lease is None:
            raise NspodError("the pod has no IP")
        if lease["mode"] != "pod":  # hostNetwork: the host's address, in our own namespace
            return lease["ip"], None
        node = node_network.current(self.w.store)
        if node is None:
            raise NspodError("the node network is gone")
        return lease["ip"], node

    def end_check(self, inst, kind):
        check, _ = inst.checks.pop(kind)
        try:
            self.w.sel.unregister(check.fileno())
        except (KeyError, ValueError):
            pass
        check.close()
        inst.states[kind].busy = False

    def finish(self, name, inst, kind, outcome):
        self.end_check(inst, kind)
        self.count(name, inst, kind, *outcome)

    # -- results -----------------------------------------------------------------------
    def count(self, name, inst, kind, success, output):
        if not success:
            self.w.event(name, "Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {output}")
        changed = inst.states[kind].record(success)
        if changed is None:
            return
        if kind == READINESS:
            self.set_flags(name, ready=changed and inst.started)
        elif kind == STARTUP and changed:
            inst.started = True
            readiness = inst.states.get(READINESS)
            self.set_flags(name, started=True, ready=readiness is None or readiness.value is True)
        elif not changed:  # liveness or startup failed
            self.kill(name, inst, kind)

    def set_flags(self, name, **flags):
        st = self.w.status[name]
        if all(st.get(k) == v for k, v in flags.items()):
            return
        st.update(flags)
        self.w.store.update_container(self.w.name, name, status=st)
        self.w.update_phase()

    def kill(self, name, inst, kind):
        """As the kubelet's computePodActions and killContainer: the reason,
        then the graceful kill every container gets (its preStop hook, TERM,
        KILL: nspod/hooks.py) with the probe's grace period (else the pod's)."""
        w = self.w
        if name not in w.instances or w.stopping:
            return
        probe = inst.states[kind].probe
        message = f"Container {name} failed {kind} probe"
        if w.restart_policy_of(w.pod.container(name)) != "Never":
            message += ", will be restarted"
        grace = probe.termination_grace_period_seconds
        if grace is None:
            grace = w.pod.termination_grace_period_seconds
        w.lifecycle.kill(name, grace, message)
