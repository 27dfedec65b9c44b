"""Lifecycle hooks, graceful kills and the active deadline of one pod, as the
kubelet runs them (pkg/kubelet/kuberuntime/kuberuntime_container.go
startContainer and killContainer, pkg/kubelet/lifecycle/handlers.go,
pkg/kubelet/active_deadline.go). Owned by the pod's watchdog; nothing here
blocks the supervisor's loop:
  - an exec hook runs in a forked child that joins the container's
    namespaces and cgroup and takes its seccomp filter, user and
    capabilities (as `nspod exec`), and reports its exit code and output;
  - an httpGet hook runs in a forked child (in the node network's namespace
    for the pod's IP, as the kubelet connects from the node);
  - a sleep hook is a deadline of the loop, no process.

postStart: the container has started (events Created, Started) but its
status stays as it was (ContainerCreating at first) until the hook
returns; then it is `running` and ready. A failed hook: Warning
FailedPostStartHook "PostStartHook failed", the container is killed (its
preStop hook included) with the message "FailedPostStartHook", and it
waits as PostStartHookError until the restart policy starts it again.
Containers start in order: one whose postStart runs holds back the ones
after it until the hook returned (and, when it failed, the kill ended), as
the kubelet's SyncPod starts them one after the other.

A kill (`stop`, `rm`, a failed postStart, the active deadline): event
Killing, then the preStop hook for at most the grace period, then TERM with
what is left of it (whole seconds, as the kubelet counts), at least 2 s
after a hook, then KILL. A failed preStop: Warning FailedPreStopHook
"PreStopHook failed"; the kill goes on.
"""
import os
import selectors
import signal
import time

from .kernel import child, namespaces, process
from .probing import execcheck

# The kubelet's minimumGracePeriodInSeconds: what TERM gets after a preStop hook.
MIN_GRACE_AFTER_HOOK = 2
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


class Hook:
    """A hook being run for a container: `job` (exec, httpGet) or `until` (sleep)."""

    def __init__(self, event, handler, job=None, until=None):
        self.event = event  # "PostStart" | "PreStop"
        self.handler = handler
        self.job = job
        self.until = until


class Kill:
    """One container's graceful kill: preStop (until `cutoff`), then TERM, KILL at `kill_at`."""

    def __init__(self, grace, began):
        self.grace = grace
        self.began = began
        self.cutoff = None
        self.kill_at = None


class Lifecycle:
    def __init__(self, watchdog):
        self.w = watchdog
        self.hooks = {}          # container name -> Hook
        self.kills = {}          # container name -> Kill
        self.failures = {}       # container name -> message of its failed postStart
        self.start_queue = []    # containers not started yet: held back by a postStart
        self.holding = None      # the container whose postStart holds them back
        self.deadline = None     # monotonic time of spec.activeDeadlineSeconds
        self.deadline_exceeded = False

    # -- starting -------------------------------------------------------------------
    def start_in_order(self, specs):
        """Start the containers one after the other; a postStart hook holds
        back the rest until it returned."""
        self.start_queue = list(specs)
        self.resume_starts()

    def resume_starts(self):
        self.holding = None
        while self.start_queue and not self.w.stopping:
            spec = self.start_queue.pop(0)
            self.w.start_container(spec)
            if spec.name in self.hooks:
                self.holding = spec.name
                return
        self.start_queue = []

    def started(self, spec, inst):
        """The container's process runs: its postStart hook, or it is running now."""
        if spec.post_start is None:
            self.w.mark_running(spec.name, inst)
            return
        self.run(spec, "PostStart", spec.post_start, inst)

    # -- killing --------------------------------------------------------------------
    def kill(self, name, grace, message=None):
        """Kill a running container gracefully (killContainer)."""
        inst = self.w.instances.get(name)
        if inst is None or name in self.kills:
            return
        self.w.event(name, "Normal", "Killing", message or f"Stopping container {name}")
        self.cancel(name, "PostStart")  # a kill ends a start still in its hook
        kill = self.kills[name] = Kill(grace, time.monotonic())
        spec = self.w.pod.container(name)
        if spec.pre_stop is not None and grace > 0:
            kill.cutoff = kill.began + grace
            self.run(spec, "PreStop", spec.pre_stop, inst)
        else:
            self.terminate(name, grace)

    def terminate(self, name, seconds):
        """TERM now, KILL after `seconds` (StopContainer)."""
        kill = self.kills[name]
        kill.cutoff = None
        kill.kill_at = time.monotonic() + seconds
        inst = self.w.instances.get(name)
        if inst is not None:
            _signal(inst, signal.SIGTERM)

    def after_pre_stop(self, name):
        """The hook returned or ran out of the grace period: TERM with what is left."""
        kill = self.kills[name]
        used = int(time.monotonic() - kill.began)  # whole seconds, as the kubelet truncates
        self.terminate(name, max(kill.grace - used, MIN_GRACE_AFTER_HOOK))

    def ended(self, name):
        """The container's process ended: its hooks and kill are over."""
        self.cancel(name, None)
        self.kills.pop(name, None)
        if self.holding == name:
            self.resume_starts()

    # -- hooks ----------------------------------------------------------------------
    def run(self, spec, event, handler, inst):
        if handler.kind == "sleep":
            self.hooks[spec.name] = Hook(event, handler, until=time.monotonic() + handler.sleep_seconds)
            return
        try:
            if handler.kind == "exec":
                job = execcheck.start(self.w.exec_context(spec.name), list(handler.command), None)
            else:
                job = child.begin(http_hook, *self.http_plan(spec, handler.http_get))
        except OSError as e:  # no fork (the pids limit), or the process is gone: the hook failed
            self.finished(spec.name, Hook(event, handler),
                          failure_message(self.w, spec.name, handler, child.describe(e)))
            return
        self.hooks[spec.name] = Hook(event, handler, job=job)
        self.w.sel.register(job.fd, selectors.EVENT_READ, ("hook", spec.name))

    def http_plan(self, spec, action):
        """(network namespace to connect from, scheme, host, port, path, headers)."""
        from .net import node_network, podnet

        w = self.w
        host, netns_pid = action.host, None
        if host is None:
            host = podnet.status_fields(w.store.store, w.name).get("podIP", "")
            node = None if w.pod.host_network else node_network.current(w.store.store)
            netns_pid = node["holder_pid"] if node else None  # the node network, where the bridge is
        port = resolve_port(action.port, spec)
        return (netns_pid, action.scheme, host, port, action.path, list(action.headers))

    def on_event(self, name):
        hook = self.hooks.get(name)
        if hook is None or hook.job is None or not hook.job.read():
            return
        self.w.sel.unregister(hook.job.fd)
        del self.hooks[name]
        try:
            result = hook.job.result()
            error = exec_error(hook.handler.command, result) if hook.handler.kind == "exec" else result
        except child.ChildFailed as e:
            error = str(e)
        self.finished(name, hook, failure_message(self.w, name, hook.handler, error) if error else None)

    def finished(self, name, hook, failure):
        """A hook returned (failure: None or the kubelet's message)."""
        if hook.event == "PostStart":
            inst = self.w.instances.get(name)
            if failure is None:
                if inst is not None:
                    self.w.mark_running(name, inst)
                if self.holding == name:
                    self.resume_starts()
                return
            self.w.event(name, "Warning", "FailedPostStartHook", "PostStartHook failed")
            self.failures[name] = failure
            self.kill(name, self.w.pod.termination_grace_period_seconds, "FailedPostStartHook")
            return
        if failure is not None:
            self.w.event(name, "Warning", "FailedPreStopHook", "PreStopHook failed")
        if name in self.kills and self.kills[name].cutoff is not None:
            self.after_pre_stop(name)

    def cancel(self, name, event):
        """Drop the container's running hook (of that event; None: any)."""
        hook = self.hooks.get(name)
        if hook is None or (event is not None and hook.event != event):
            return
        del self.hooks[name]
        if hook.job is not None:
            self.w.sel.unregister(hook.job.fd)
            hook.job.kill()

    def take_failure(self, name):
        """The message of the container's failed postStart, once."""
        return self.failures.pop(name, None)

    # -- the loop's timers ----------------------------------------------------------
    def due(self):
        now = time.monotonic()
        for name, hook in list(self.hooks.items()):
            if hook.until is not None and hook.until <= now:
                del self.hooks[name]
                self.finished(name, hook, None)
        for name, kill in list(self.kills.items()):
            if kill.cutoff is not None and kill.cutoff <= now:
                self.cancel(name, "PreStop")  # cut off: the grace period is over
                self.after_pre_stop(name)
            elif kill.kill_at is not None and kill.kill_at <= now:
                kill.kill_at = None  # now just wait for it to end
                inst = self.w.instances.get(name)
                if inst is not None:
                    _signal(inst, signal.SIGKILL)
        if self.deadline is not None and now >= self.deadline and not self.deadline_exceeded:
            self.exceed_deadline()

    def next_due(self):
        times = [h.until for h in self.hooks.values() if h.until is not None]
        times += [k.cutoff if k.cutoff is not None else k.kill_at for k in self.kills.values()]
        if self.deadline is not None and not self.deadline_exceeded:
            times.append(self.deadline)
        times = [t for t in times if t is not None]
        return max(0.0, min(times) - time.monotonic()) if times else None

    # -- activeDeadlineSeconds ------------------------------------------------------
    def set_deadline(self, started):
        """From the pod's start time (time.time() seconds), as the kubelet counts it."""
        seconds = self.w.pod.active_deadline_seconds
        if seconds is not None:
            self.deadline = time.monotonic() + (started + seconds - time.time())

    def exceed_deadline(self):
        """The pod failed: reason and message on it, every container killed
        with the pod's grace period, nothing restarted."""
        self.deadline_exceeded = True
        self.w.event(None, "Normal", DEADLINE_REASON, DEADLINE_MESSAGE)
        self.w.store.update_pod(self.w.name, reason=DEADLINE_REASON, message=DEADLINE_MESSAGE)
        self.w.terminate(self.w.pod.termination_grace_period_seconds)

    # -- the supervisor's view ------------------------------------------------------
    def pids(self):
        return [h.job.pid for h in self.hooks.values() if h.job is not None]

    def close(self):
        for name in list(self.hooks):
            self.cancel(name, None)
        self.kills.clear()


def _signal(inst, signum):
    try:
        process.send_signal(inst.pidfd, signum, inst.pid)
    except ProcessLookupError:
        pass  # it ended; its pidfd tells the loop


def resolve_port(port, spec):
    """A number, or the containerPort of the container's port of that name
    (the kubelet's resolvePort); None when there is none."""
    if isinstance(port, int):
        return port
    for p in spec.ports:
        if p.name == port:
            return p.container_port
    return None


def failure_message(watchdog, name, handler, error):
    """The kubelet's message for a failed hook (handlers.go Run), which a
    failed postStart leaves in the container's waiting state."""
    pod = f"{watchdog.name}_{watchdog.pod.namespace}({watchdog.uid})"
    if handler.kind == "exec":
        text, output = error if isinstance(error, list) else (error, "")
        command = "[" + " ".join(handler.command) + "]"
        return (f'Exec lifecycle hook ({command}) for Container "{name}" in Pod "{pod}" failed - '
                f'error: {text}, message: {_go_quote(output)}')
    return (f'HTTP lifecycle hook ({handler.http_get.path}) for Container "{name}" in Pod "{pod}" '
            f'failed - error: {error}')


def _go_quote(text):
    """Go's %q of a string (the common cases: quotes, backslashes, newlines, tabs)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


# -- the children (forked by child.begin; they report through its pipe) ------------------
def exec_error(argv, report):
    """An exec hook's outcome (execcheck.ExecJob's report): None when it
    exited 0, else (error, output) as the kubelet words them ("command '…'
    exited with N: …"). A hook has no timeout: it is cut off by killing
    nspod-exec, and its command dies with it."""
    if report["code"] == 0:
        return None
    return [f"command '{' '.join(argv)}' exited with {report['code']}: ", report["output"]]


def http_hook(netns_pid, scheme, host, port, path, headers):
    """GET scheme://host:port/path; None when a response came (any status:
    the kubelet checks none), else the error. HTTPS is not verified, and
    an HTTP answer to HTTPS is retried as HTTP, as the kubelet does."""
    import http.client  # (here, in the child: the supervisor does not carry them)
    import ssl

    if port is None:
        return "couldn't find the port in the container's ports"
    if not host:
        return "failed to find networking container: the pod has no IP"
    if netns_pid is not None:
        fd = namespaces.open_ns(netns_pid, "net")
        namespaces.setns(fd, "net")
        os.close(fd)
    try:
        _get(scheme, host, port, path, headers)
    except ssl.SSLError as e:
        if scheme != "HTTPS" or "WRONG_VERSION_NUMBER" not in str(e):
            return child.describe(e)
        try:
            _get("HTTP", host, port, path, [(k, v) for k, v in headers if k.lower() != "authorization"])
        except (OSError, http.client.HTTPException) as e:
            return child.describe(e) or type(e).__name__
    except (OSError, http.client.HTTPException) as e:
        return child.describe(e) or type(e).__name__
    return None


def _get(scheme, host, port, path, headers):
    import http.client
    import ssl

    if scheme == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, context=context)
    else:
        conn = http.client.HTTPConnection(host, port)
    target = path if path.startswith("/") else "/" + path
    names = {k.lower() for k, _ in headers}
    sent = dict(headers)
    if "user-agent" not in names:
        sent["User-Agent"] = "kube-lifecycle/nspod"
    if "accept" not in names:
        sent["Accept"] = "*/*"
    try:
        conn.request("GET", target, headers=sent)
        response = conn.getresponse()
        response.read(10 * 1024)  # as the kubelet discards the body
    finally:
        conn.close()
