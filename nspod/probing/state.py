"""One probe of one container instance: when it runs, and what its results
add up to. Pure (times are passed in), as the kubelet's probe worker
(pkg/kubelet/prober/worker.go) decides it:

- the first run is `initialDelaySeconds` after the container started, then
  one every `periodSeconds` (a run still going when the next is due makes
  that one wait for it, as a ticker drops ticks);
- a result counts once it repeats `successThreshold` / `failureThreshold`
  times in a row; until then the probe's value stays what it was;
- the value before any counted result: readiness Failure, liveness Success,
  startup Unknown (None);
- liveness and startup probes that fail are put on hold until the container
  is started again (the instance is being killed);
- liveness and readiness wait, without running, until the container has
  started (its startup probe succeeded); a startup probe stops once it has.
"""

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
INITIAL = {LIVENESS: True, READINESS: False, STARTUP: None}


class ProbeState:
    def __init__(self, kind, probe, started):
        self.kind = kind
        self.probe = probe
        self.value = INITIAL[kind]  # True: Success, False: Failure, None: Unknown
        self.last = None            # the last result, and how many times in a row
        self.run = 0
        self.on_hold = False
        self.busy = False           # a check is running
        self.next_at = started + probe.initial_delay_seconds

    def due(self, now, container_started):
        """True when a check should start now. A tick that finds the probe
        gated (waiting for the startup probe, or the startup probe done) is
        spent without a check, as the kubelet's worker returns early."""
        if self.busy or self.on_hold or now < self.next_at:
            return False
        gated = container_started if self.kind == STARTUP else not container_started
        self.advance(now)
        return not gated

    def advance(self, now):
        period = self.probe.period_seconds
        self.next_at += period
        if self.next_at <= now:  # ticks missed while busy: the next one from now
            self.next_at = now + period

    def record(self, success):
        """Count one result. Returns the probe's new value when it changed
        (True / False), else None."""
        if success == self.last:
            self.run += 1
        else:
            self.last, self.run = success, 1
        needed = self.probe.success_threshold if success else self.probe.failure_threshold
        if self.run < needed:
            return None
        changed = self.value is not success
        self.value = success
        if not success and self.kind in (LIVENESS, STARTUP):
            self.on_hold = True  # the container is killed; probing resumes with the next instance
            self.run = 0
        return success if changed else None

    def next_due(self):
        return None if self.busy or self.on_hold else self.next_at


def initial_flags(container):
    """(ready, started) of a container instance that has just started: the
    kubelet's prober manager says ready only with no readiness probe (and
    once started), started at once only without a startup probe."""
    started = container.startup_probe is None
    return started and container.readiness_probe is None, started
