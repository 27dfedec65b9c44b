"""The watchdog's part for init containers and sidecars: it applies the
rules of nspod/initcontainers.py to one pod (a mixin of watchdog.Watchdog,
kept apart so the watchdog's own file stays about every container alike).

State, per sandbox (a new sandbox runs the init containers again, as the
kubelet does for a re-created pod sandbox):
  - init_begun: init containers started (or being started) in this sandbox;
  - initialized: every init container was done once, so app containers run;
  - deferred: app containers whose restart came due before that;
  - sidecars_signalled: sidecars sent TERM at termination, one at a time.
The gate between init steps reads the container status' `started` only, so
a startup probe that holds `started` back holds the next step back too.
"""
import heapq
import time

from . import initcontainers


class InitSupervision:
    def init_state(self, adopted=False):
        """Fresh (a new sandbox), or as the statuses of an adopted pod show it."""
        self.init_begun = set()
        self.rerun = set()      # init containers that ran in the sandbox before: a restart when run again
        self.deferred = set()
        self.sidecars_signalled = set()
        # A fresh sandbox is initialized by advance_init (at once without init
        # containers: then it starts the app containers).
        self.initialized = False
        if adopted:
            self.init_begun = {c.name for c in self.pod.init_containers if self.has_run(c.name)}
            self.initialized = not self.pod.init_containers or any(self.has_run(c.name) for c in self.pod.containers)

    def has_run(self, name):
        """The status shows a start (in this sandbox, on adoption)."""
        st = self.status[name]
        waiting = (st["state"] or {}).get("waiting")
        return not waiting or bool(st["lastState"]) or waiting.get("reason") not in ("PodInitializing", "ContainerCreating")

    def busy(self):
        """Containers that run, or will again without us: a process, a restart
        timer, an image pull or its retry."""
        return (set(self.instances) | set(self.pulls) | {name for _, name in self.timers}
                | {t[1] for t in self.image_timers} | self.retry_config)

    def advance_init(self):
        """Each wake-up: start the next init step when the one before is done,
        the app containers once all are; fail a Never pod whose init container
        failed; end the sidecars once the app containers have all ended."""
        if self.stopping or self.finishing is not None:
            return
        while not self.initialized:
            step = initcontainers.next_step(self.pod, self.status, self.init_begun)
            if step.failed:  # the kubelet kills the pod: the sidecars that run stop
                self.terminate(self.pod.termination_grace_period_seconds)
                return
            if step.initialized:
                self.initialized = True
                self.start_app_containers()
                self.update_phase()
                break
            if not step.start:
                return
            for name in step.start:
                self.init_begun.add(name)
                if name in self.rerun:  # as the kubelet counts a container it runs again
                    self.rerun.discard(name)
                    self.status[name]["restartCount"] += 1
                self.start_container(self.pod.container(name))
            self.update_phase()
        if self.pod.sidecars() and any(c.name in self.instances for c in self.pod.sidecars()) \
                and initcontainers.apps_completed(self.pod, self.status, self.busy()):
            self.terminate(self.pod.termination_grace_period_seconds)

    def start_app_containers(self):
        busy = self.busy()
        starting = []
        for spec in self.pod.containers:
            st = self.status[spec.name]
            if spec.name in self.deferred:  # its restart came due while the init containers ran
                st["restartCount"] += 1
            elif spec.name in busy or "terminated" in st["state"]:
                continue
            starting.append(spec)
        self.deferred.clear()
        self.lifecycle.start_in_order(starting)  # one after the other: a postStart hook holds the next

    def restart_allowed(self, name):
        """For restart_due: an init container only in the sandbox it began in;
        an app container only once the pod is initialized (else deferred)."""
        if self.pod.is_init(name):
            return name in self.init_begun
        if not self.initialized:
            self.deferred.add(name)
            return False
        return True

    def reset_init(self):
        """The sandbox was re-created: the init containers run again first."""
        if not self.pod.init_containers:
            return
        self.timers = [t for t in self.timers if not self.pod.is_init(t[1])]
        heapq.heapify(self.timers)
        ran = {c.name for c in self.pod.init_containers if self.has_run(c.name)}
        self.init_state()
        self.rerun = ran

    def stop_sidecars_in_turn(self):
        """During termination: kill the next sidecar gracefully once no app
        container (nor a later sidecar) runs any more, with what is left of
        the pod's grace period."""
        if not self.stopping or self.stop_began is None:
            return
        name = initcontainers.sidecar_to_stop(self.pod, set(self.instances), self.sidecars_signalled)
        if name is None:
            return
        self.sidecars_signalled.add(name)
        left = self.stop_grace - (time.monotonic() - self.stop_began)
        self.lifecycle.kill(name, max(0, int(left)))

    def init_statuses(self):
        """[(status, is_sidecar)] of the init containers, for nspod/phase.py."""
        return [(self.status[c.name], c.is_sidecar) for c in self.pod.init_containers]

    def restart_policy_of(self, spec):
        return initcontainers.restart_policy(self.pod, spec)

    def event_object(self, container):
        """As kubectl shows an event's object: spec.initContainers{x} or spec.containers{x}."""
        if not container:
            return ""
        field = "initContainers" if self.pod.is_init(container) else "containers"
        return f"spec.{field}{{{container}}}"
