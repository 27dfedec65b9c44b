"""The watchdog: one pod's supervision, hosted with every other pod's in the
supervisor's one event loop (nspod/supervisor.py; single-threaded: joining
namespaces fails in threaded processes). The supervisor's process is the
parent of the pod's pause holder and containers.

It creates the sandbox, starts the containers, and then handles
  - a container exiting (its pidfd becomes readable): record `terminated`,
    then restart it or not by the restart policy, after the kubelet's back-off;
  - output on a container's stdout/stderr FIFO, or on its terminal: append
    CRI log lines, and pass it to the `nspod attach` sessions (nspod/console.py);
  - the pause holder dying: kill the containers, re-create the sandbox and
    restart them by the policy, as the kubelet does when a sandbox dies;
  - `nspod stop` (through the supervisor): each container's preStop hook,
    TERM, KILL after the grace period (nspod/hooks.py, with postStart hooks
    and the active deadline).
It reports the pod phase as the kubelet computes it, and ends with the pod:
when `stop`ped, or when the phase is terminal (Succeeded or Failed).
Each wake-up does bounded work for a pod (a log read is capped), so one pod
cannot keep the loop from the others.
"""
import heapq
import json
import os
import select
import selectors
import signal
import socket
import time

from . import container as container_start
from . import confinement, faults, pause, phase, rootfs, sandbox, seccomp, steps, terminal, volumes
from .backoff import BackOff, crash_loop_message, format_duration, should_restart
from .cgroups import PAUSE_LEAF, leaf_record, open_cgroups, record_of, requested_controllers
from .cgroups.translate import DEFAULT_PIDS_MAX, pod_container_resources
from .console import Console, adopt_holder, answer, end_holder, no_stdin_error, parse_request
from .crilog import LogWriter, discard
from .errors import NspodError, note, print_traceback
from .hooks import Lifecycle
from .initsupervision import InitSupervision
from .kernel import child, mounts, namespaces, process
from .net.podnet import PodNetwork
from .probing.manager import PodProbes
from .probing.state import initial_flags
from .paths import pod_dir
from .spec import load_stored
from .store import RetryingStore, Store


# Reasons the kubelet keeps a container waiting with (it was never created), not terminated.
CONFIG_ERRORS = ("CreateContainerConfigError", "CreateContainerError")
# Output logged per wake-up of a FIFO: one pipeful. Framing 64 KiB of 2-byte
# lines takes ~1 ms; the loop then serves the other pods' events before the
# next (docs/ARCHITECTURE.md, "One pod's flood, another pod's restarts").
OUTPUT_PER_WAKE = 64 << 10


class Instance:
    """One running instance of a container (a new one after every restart).
    `child` is False for an instance adopted from an earlier supervisor: we
    are not its parent. Its exit status is then the keeper's, if the keeper
    is its parent (not if the keeper was replaced: then it is unknown)."""

    def __init__(self, pid, pid_start, started, log, child=True):
        self.pid = pid
        self.pid_start = pid_start  # (pid, pid_start) names it for the keeper
        self.pidfd = os.pidfd_open(pid)
        self.started = started
        self.log = log
        self.child = child
        self.oom_before = 0
        self.image_config = None  # its image's config (an exec hook's Env and WorkingDir)


class Starting:
    """A container instance between begin_container and complete_start."""

    def __init__(self, spec, plan, image, log, logs, leaf, oom_before, console, ours, now):
        self.spec, self.plan, self.image, self.log, self.leaf = spec, plan, image, log, leaf
        self.logs = logs     # (its log folder, its number): older logs go once it started
        self.oom_before, self.console, self.ours, self.now = oom_before, console, ours, now
        self.process = None  # container.begin's handle: wait() gives the pid
        self.error = None    # or the StartError its plan raised


class Watchdog(InitSupervision):
    """sel: the supervisor's selector as this pod sees it (PodSelector: its
    registrations carry this watchdog). store: the supervisor's Store.
    Init containers and sidecars: nspod/initsupervision.py."""

    def __init__(self, name, sel, store, conn=None, fault="", keeper=None):
        self.name = name
        self.next_wake = 0.0  # (the supervisor's: when our after_events is due, time.monotonic)
        self.keeper = keeper  # nspod/keeper.py: the node holder, our parent (None: no keeper)
        self.conn = conn
        self.fault = fault  # NSPOD_FAULT of the command that asked for us (nspod/faults.py)
        self.store = RetryingStore(store, name)  # a failed write never stops supervision
        row = self.store.pod(name)
        self.uid = row["uid"]
        self.pod = load_stored(row["manifest"], f"pod {name}")
        self.settings = json.loads(row["settings"])
        base = self.settings.get("backoff_base", 10.0)
        self.backoff = {c.name: BackOff(base=base) for c in self.pod.all_containers()}
        self.status = {r["name"]: json.loads(r["status"]) for r in self.store.containers(name)}
        self.dir = pod_dir(name)
        self.instances = {}    # container name -> Instance
        self.outputs = {}      # fd -> (container name, stream): read ends of the output FIFOs
        self.consoles = {}     # container name -> Console: its stdin, terminal, attach sessions
        self.log_faults = {}   # container -> bytes of output dropped since its log could not be written
        self.retry_config = set()  # containers waiting in CreateContainerConfigError: their timer is a retry
        self.pod_cg = None     # the pod's cgroup, and a leaf per container and the pause holder
        self.leaves = {}
        self.timers = []       # heap of (when, container name): restarts after back-off
        self.sel = sel
        self.pause_pid = None
        self.pause_fd = None
        self.pause_child = True   # False when adopted: then we cannot wait for it
        self.pod_ns = {}
        self.network = PodNetwork(self.store, name, self.pod, self.settings, self.dir)
        self.stopping = False
        self.stop_grace, self.stop_began = 0, None  # the grace period of a termination, and when it began
        self.lifecycle = Lifecycle(self)  # hooks, graceful kills, activeDeadlineSeconds (nspod/hooks.py)
        self.finishing = None  # once the pod ended: until when its last state may still be written
        self.stop_waiters = []  # connections of `nspod stop`, answered when the pod has ended
        self.explain = None       # the --explain pipe of the command waiting on us (nspod/steps.py)
        # Images (nspod/image): pulls run in forked children (never in this loop).
        self.pulls = {}           # container name -> (child.Job, pulling?, started)
        self.prepared = {}        # container name -> {"root", "config"}: ready to start
        self._host_secrets = None  # as root: host_secrets()
        self.made = {}  # container name -> what its starts are made from (made_for)
        self.start_plans = {}     # container name -> (what it was made from, its start plan): for restarts
        self.image_timers = []    # heap of (when, container name, "backoff" | "retry")
        self.image_failures = {}  # image -> consecutive failed pulls (the kubelet's key is pod + image)
        self.image_base = base
        self.probes = PodProbes(self)  # liveness, readiness, startup (nspod/probing)
        self.conditions = None    # the pod's conditions as last recorded (their transition times)
        self.phase = None         # the phase as last recorded (only this watchdog writes it while it runs)
        self.init_state()

    # -- life cycle ---------------------------------------------------------
    def begin(self, adopt=False, resume=False):
        """Create the sandbox and start the containers, or (adopt) take over a
        pod whose supervisor died, or (resume) that one handed to the keeper.
        False when that failed: the supervisor drops us (a failed take-over
        leaves the pod as it found it)."""
        if adopt:
            try:
                adopted = self.adopt_sandbox()
            except Exception as e:
                # The sandbox and its containers are not ours to end (the pod stays Unknown).
                self.report_failure(e)
                self.close()
                return False
        else:
            adopted = False
        self.claim()
        try:
            if not adopted:
                self.create_sandbox()
        except Exception as e:
            self.report_failure(e)
            self.end_sandbox()
            self.release()
            return False
        if adopt:  # (with a new sandbox, if the old one was gone too)
            self.init_state(adopted=adopted)
            self.adopt_containers(resume)
        else:
            started = time.time()
            self.store.update_pod(self.name, started=started, phase="Pending", reason=None, message=None)
            self.phase = "Pending"
            self.lifecycle.set_deadline(started)
            faults.point("watchdog:sandbox", self.fault)
        self.advance_init()  # the init containers in order, then the app containers
        self.update_phase()
        self.report_when_settled()
        return True

    def claim(self):
        """The row says which process supervises the pod: ours."""
        self.store.update_pod(self.name, watchdog_pid=os.getpid(), watchdog_start=process.start_time(os.getpid()))

    def release(self):
        """The pod is no longer supervised (it ended, or could not start):
        the row says so, then every fd we held for it is closed."""
        self.store.update_pod(self.name, watchdog_pid=None, watchdog_start=None)
        self.store.flush()
        self.close()
        if self.keeper is not None:
            self.keeper.drop(self.name)
        for conn in self.stop_waiters:
            try:
                conn.sendall(b'{"ok": true}\n')
            except OSError:
                pass
            conn.close()
        self.stop_waiters = []
        self.stop_explaining()

    def needs_supervisor(self):
        """Why this pod needs the Python supervisor now, or None: then the
        keeper can hold it alone (keep its FIFOs, reap its processes) until a
        command, a process's end or output starts a supervisor again."""
        lifecycle = self.lifecycle
        if self.conn is not None or self.stop_waiters or self.explain is not None:
            return "a command waits on it"
        if self.stopping or self.finishing is not None:
            return "it is ending"
        if self.phase != "Running":
            return f"it is {self.phase or 'starting'}"
        if self.store.pending or self.log_faults:
            return "its state or log is not all written"
        if self.timers or self.image_timers or self.pulls or self.retry_config:
            return "a start is due"
        if (not self.initialized or lifecycle.hooks or lifecycle.kills or lifecycle.start_queue
                or lifecycle.deadline is not None):
            return "its init containers, hooks or deadline"
        if self.probes.instances:
            return "its probes"
        if any(spec.stdin or spec.tty for spec in self.pod.all_containers()):
            return "a container's stdin or terminal"
        if any(console.sessions for console in self.consoles.values()):
            return "an attach session"
        return None

    def hand_over(self, keeper):
        """The supervisor leaves: the keeper is the pod's supervisor until the
        next one resumes it. It holds the FIFOs already, and our pod
        processes become its children as we exit."""
        # Its crash-loop back-off goes on where it was (the kubelet's is not reset by idleness).
        counted = {name: b.consecutive() for name, b in self.backoff.items() if b.consecutive()}
        self.store.update_pod(self.name, watchdog_pid=keeper.pid, watchdog_start=keeper.start,
                              backoff=json.dumps(counted) if counted else None)
        if not self.store.flush():
            raise NspodError("its state could not be written")
        # Its output goes on into each instance's log, written by the keeper:
        # ours ends here (an unterminated line as a P record, which it continues).
        for fd, (name, stream) in self.outputs.items():
            log = self.instances[name].log if name in self.instances else None
            if log is not None:
                self.logged(name, log.close)  # (its other stream's close finds it closed)
                keeper.pump(self.name, fd, stream, log.path, log.max_size, log.max_files, log.max_line)
        self.close()
        return True

    def stop_explaining(self):
        """The command that asked for --explain has its answer: no more steps for it."""
        if self.explain is not None:
            if steps.sink == self.explain:
                steps.sink = None  # (no later step of this handling may land in a reused fd number)
            os.close(self.explain)
            self.explain = None

    def unlink(self):
        """Let go of the references back to us (our selector's owner, our
        hooks' and probes' `w`) once the supervisor has dropped us: they made
        us a cycle, which only the collector's full pass frees."""
        self.sel.owner = self.lifecycle.w = self.probes.w = None

    def close(self):
        """Close what we hold (the supervisor lives on; a watchdog process
        used to close it all by exiting)."""
        self.end_pulls()
        self.lifecycle.close()
        self.probes.close()
        for name, inst in self.instances.items():  # (still running only when we are dropped: a bug)
            self.logged(name, inst.log and inst.log.close)
        for name, console in self.consoles.items():
            if name in self.instances:  # its terminal's holder stays for the next supervisor
                console.release_holder()
            console.close()
        self.consoles.clear()
        fds = list(self.outputs) + list(self.pod_ns.values())  # the pod's mount namespace among them
        fds += [inst.pidfd for inst in self.instances.values()]
        fds += [self.pause_fd] if self.pause_fd is not None else []
        for fd in fds:
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass  # (pod_ns fds are not watched)
            os.close(fd)
        self.outputs.clear()
        self.pod_ns = {}
        self.instances.clear()
        self.pause_fd = None
        self.network.unwatch()
        self.report({"ok": False, "error": "the pod ended before it was set up"})

    def timeout(self):
        """Seconds until this pod needs the loop without an event (None: never)."""
        now = time.monotonic()
        due = []
        if self.store.pending or self.finishing is not None:
            due.append(self.store.RETRY_EVERY)
        if self.timers:
            due.append(self.timers[0][0] - now)
        if self.image_timers:
            due.append(self.image_timers[0][0] - now)
        if (hooks_due := self.lifecycle.next_due()) is not None:
            due.append(hooks_due)
        if (probe_due := self.probes.next_due()) is not None:
            due.append(probe_due - now)
        if any(c.pending_input() for c in self.consoles.values()):
            due.append(0.02)  # input a container did not take yet: try again soon
        return max(0.0, min(due)) if due else None

    def after_events(self):
        """After every wake-up of the loop. True once the pod has ended and its
        final state is written (or given up on): the supervisor drops us."""
        if self.finishing is not None:
            return self.finish()
        for console in self.consoles.values():
            console.retry_input()
        self.restart_due()
        self.image_due()
        self.lifecycle.due()
        self.advance_init()
        self.stop_sidecars_in_turn()
        self.probes.run_due()
        self.report_when_settled()
        self.store.flush()
        if not self.pod_done():
            return False
        self.end_sandbox()
        self.update_phase(final=True)
        # State that could not be written yet is retried until it is: for
        # 10 s when the pod was stopped, else until `nspod stop`/`rm` says the
        # pod is going anyway. Giving up earlier would lose the final status.
        self.finishing = time.monotonic() + (10 if self.stopping else float("inf"))
        return self.finish()

    def finish(self):
        if self.store.flush() or time.monotonic() >= self.finishing:
            self.release()
            return True
        return False

    def end_sandbox(self):
        """Kill and reap the pause holder (we are its parent), then the one
        teardown every caller shares (nspod/sandbox.py)."""
        self.kill_pause()
        self.end_pulls()
        self.remove_image_roots()
        self.network.unwatch()
        faults.point("watchdog:teardown", self.fault)
        try:
            sandbox.teardown(self.store, self.name, cgroup=self.pod_cg, in_user_ns=True)
        except NspodError as e:  # recorded; `nspod rm` tries again from the store
            note(f"watchdog {self.name}: {e}")
            self.event(None, "Warning", "TeardownFailed", str(e))
        self.pod_cg = None

    def report_failure(self, e):
        if not isinstance(e, (NspodError, OSError)):  # a bug: keep the traceback in node.log
            print_traceback()
        self.report({"ok": False, "error": str(e) or repr(e)})

    def report_when_settled(self):
        """`nspod run` returns once every container has started or failed to:
        a container whose image is still being pulled keeps it waiting."""
        if self.conn is not None and not self.pulls:
            self.report({"ok": True})

    def report(self, message):
        """Tell the waiting `nspod run` how set-up went (it may have gone: fine)."""
        if self.conn is None:
            return
        try:
            self.conn.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass
        self.conn.close()
        self.conn = None
        if not self.stop_waiters:
            self.stop_explaining()

    # -- sandbox ------------------------------------------------------------
    def create_sandbox(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.volume_paths = volumes.prepare(self.pod, self.dir)
        self.shm_dir = self.dir / "shm"
        self.shm_dir.mkdir(exist_ok=True)
        self.open_outputs()
        self.create_cgroup()
        self.start_pause()

    def mount_pod_filesystems(self):
        """In the pause holder's new mount namespace, the pod's own: tmpfs
        volumes and /dev/shm live there, the host never sees them, and
        containers get a copy. We keep an fd of it (pod_ns), so they outlive
        a pause holder that dies: the next one joins it."""
        volumes.mount_memory_volumes(self.pod, self.volume_paths)
        mounts.tmpfs(str(self.shm_dir), size="64m", mode="1777")  # the size Kubernetes gives /dev/shm

    # -- cgroups ------------------------------------------------------------
    def cgroups(self):
        """Where limits go. `run` checked up front that what the pod asks for
        can be applied (or the user opted out with --no-limits)."""
        required = requested_controllers(self.pod.resources)
        for c in self.pod.all_containers():
            required |= requested_controllers(c.resources)
        return open_cgroups(required, strict=not self.settings.get("no_limits", False))

    def create_cgroup(self):
        self.pod_cg = self.cgroups().create_pod(
            self.uid, self.pod.resources, self.settings.get("pids_max", DEFAULT_PIDS_MAX),
            container_resources=pod_container_resources(
                [c.resources for c in self.pod.containers],
                [(c.resources, c.is_sidecar) for c in self.pod.init_containers]))
        self.store.update_pod(self.name, cgroup=record_of(self.pod_cg))

    def leaf(self, name, resources=None):
        if name not in self.leaves:
            self.leaves[name] = self.pod_cg.create_leaf(name, resources)
        return self.leaves[name]

    def open_outputs(self):
        """One FIFO per container stream, in place of a pipe: its path outlives
        us, so a watchdog that adopts the pod reads the same output again.
        Opened read-write: with a writer of our own, a FIFO whose container
        ended (or is a tty container: its stdio moved to the terminal) is not
        "hung up", which the selector would report on every wake-up (a busy
        loop)."""
        for spec in self.pod.all_containers():
            for stream in ("stdout", "stderr"):
                path = self.fifo(spec.name, stream)
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    os.mkfifo(path, 0o600)
                fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
                self.outputs[fd] = (spec.name, stream)
                self.sel.register(fd, selectors.EVENT_READ, ("log", spec.name))
        if self.keeper is not None:  # (the keeper holds them open across supervisors)
            self.keeper.hold(self.name, self.outputs)

    def fifo(self, container, stream):
        return self.dir / "logs" / container / f"{stream}.fifo"

    def adopt_sandbox(self):
        """Take over a pod whose watchdog died. False if its sandbox is gone too."""
        faults.point("adopt", self.fault)
        row = self.store.pod(self.name)
        if not process.alive(row["pause_pid"], row["pause_start"]):
            return False
        self.pause_pid = row["pause_pid"]
        self.pause_fd = os.pidfd_open(self.pause_pid)
        self.pause_child = False
        self.sel.register(self.pause_fd, selectors.EVENT_READ, ("pause", None))
        self.volume_paths = {}
        for vol in self.pod.volumes:
            self.volume_paths[vol.name] = (self.dir / "volumes" / vol.name) if vol.kind == "emptyDir" else volumes.check_host_path(vol)
        self.shm_dir = self.dir / "shm"
        self.open_outputs()
        self.open_pod_namespaces()
        self.network.adopt(self.pod_ns, self.sel)
        self.pod_cg = self.cgroups().pod(self.uid)
        self.leaves = {name: self.pod_cg.leaf(name) for name in self.pod_cg.leaves()}
        return True

    def adopt_containers(self, resume=False):
        """Containers still running are watched again. One that ended
        meanwhile is recorded with its exit status from the keeper, its
        parent; if the keeper does not have it (a keeper that was replaced),
        as Kubernetes reports it then: ContainerStatusUnknown. resume: the
        pod was handed to the keeper by a supervisor that left (no Adopted
        event: nothing was lost)."""
        row = self.store.pod(self.name)
        if resume:
            for name, count in json.loads(row["backoff"] or "{}").items():
                if name in self.backoff and isinstance(count, int):
                    self.backoff[name].set_consecutive(count)
            self.store.update_pod(self.name, backoff=None)
        else:
            self.event(None, "Normal", "Adopted", "A new watchdog took over the pod")
        started = row["started"]
        if started:
            self.lifecycle.set_deadline(started)
        for row in self.store.containers(self.name):
            spec = self.pod.container(row["name"])
            st = self.status[spec.name]
            leaf = self.leaves.get(spec.name)
            log_path = self.dir / "logs" / spec.name / f"{st['restartCount']}.log"  # its instance's
            oom_before = row["oom_before"] if row["oom_before"] is not None else (leaf.oom_kills() if leaf else 0)
            if process.alive(row["pid"], row["pid_start"]):
                started = phase.parse_rfc3339(st["state"]["running"]["startedAt"]) if "running" in st["state"] else time.time()
                log = self.open_log(spec.name, log_path)
                inst = Instance(row["pid"], row["pid_start"], started, log, child=False)
                inst.oom_before = oom_before
                self.instances[spec.name] = inst
                self.sel.register(inst.pidfd, selectors.EVENT_READ, ("exit", spec.name))
                self.adopt_console(spec, row)
                if "running" not in st["state"]:  # its postStart hook's outcome went with the old supervisor
                    self.mark_running(spec.name, inst)
                else:  # probe results are not kept across supervisors (nor kubelet restarts): from the start
                    self.start_probes(spec, inst)
            elif "running" in st["state"]:
                end_holder(json.loads(row["console"]) if row["console"] else None)  # (its terminal's)
                # What it wrote before it ended waits in its FIFOs: into its own log.
                self.drain_into(spec.name, self.open_log(spec.name, log_path))
                started_at = st["state"]["running"]["startedAt"]
                ended = self.keeper.status(row["pid"], row["pid_start"]) if self.keeper is not None else None
                oom = leaf is not None and leaf.oom_kills() > oom_before
                if ended is None:
                    self.finished(spec, self.unknown_exit(started_at, oom_killed=oom), ran_for=0)
                else:
                    wstatus, at = ended
                    state = self.exit_state(wstatus, oom, started_at, phase.rfc3339(at))
                    self.finished(spec, state, ran_for=at - phase.parse_rfc3339(started_at))
            elif "waiting" in st["state"]:
                if st["lastState"]:
                    heapq.heappush(self.timers, (time.monotonic(), spec.name))  # its back-off ran out with the old watchdog
                elif self.initialized and not self.pod.is_init(spec.name):
                    self.start_container(spec)  # (init containers: advance_init, in order)

    @staticmethod
    def exit_state(wstatus, oom_killed, started_at, finished_at):
        """The terminated state of an instance that ended with wstatus."""
        if os.WIFSIGNALED(wstatus):
            return phase.terminated(signal=os.WTERMSIG(wstatus), oom_killed=oom_killed,
                                    started_at=started_at, finished_at=finished_at)
        return phase.terminated(os.WEXITSTATUS(wstatus), started_at=started_at, finished_at=finished_at)

    def adopt_console(self, spec, row):
        """A running container's stdin and terminal, as the last supervisor
        left them: the FIFO again; the pty master out of its holder."""
        console = Console(self.sel, spec.name, spec)
        self.consoles[spec.name] = console
        if spec.tty:
            try:
                held = adopt_holder(json.loads(row["console"]) if row["console"] else None)
            except OSError as e:
                note(f"watchdog {self.name}: container {spec.name}: taking its terminal back: {e}")
                held = None
            if held is None:
                self.event(spec.name, "Warning", "TerminalLost",
                           "The process that kept the container's terminal open is gone; attach cannot reach it")
                return
            holder, master = held
            console.set_master(master, holder)
        elif spec.stdin:
            console.adopt_stdin(self.fifo(spec.name, "stdin"))

    @staticmethod
    def unknown_exit(started_at, oom_killed=False):
        return phase.terminated(137, reason="ContainerStatusUnknown", oom_killed=oom_killed,
                                message="The container ended while its watchdog was gone; its exit status is unknown",
                                started_at=started_at, finished_at=phase.rfc3339(time.time()))

    def start_pause(self):
        log = os.open(self.dir / "pause.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            self.pause_pid = pause.start(self.hostname, self.pod.share_process_namespace, log,
                                         self.mount_pod_filesystems, mnt_ns=self.pod_ns.get("mnt"),
                                         host_network=self.pod.host_network,
                                         sysctls=self.pod.security_context.sysctls or (),
                                         host_ipc=self.pod.host_ipc)
        finally:
            os.close(log)
        self.pause_child = True
        self.leaf(PAUSE_LEAF).attach(self.pause_pid)
        self.open_pod_namespaces()
        self.pause_fd = os.pidfd_open(self.pause_pid)
        self.sel.register(self.pause_fd, selectors.EVENT_READ, ("pause", None))
        ids = namespaces.ns_ids(self.pause_pid)
        self.store.update_pod(self.name, pause_pid=self.pause_pid,
                              pause_start=process.start_time(self.pause_pid), pause_ns=json.dumps(ids))
        self.network.attach(self.pod_ns, self.sel)  # eth0, its IP, ports, /etc/hosts (nspod/net/podnet.py)

    def open_pod_namespaces(self):
        kinds = ["mnt"] + ([] if self.pod.host_ipc else ["ipc"]) + ([] if self.pod.host_network else ["net", "uts"])
        kinds += ["pid"] if self.pod.share_process_namespace else []
        for fd in self.pod_ns.values():
            os.close(fd)
        self.pod_ns = {kind: namespaces.open_ns(self.pause_pid, kind) for kind in kinds}

    def kill_pause(self):
        if not self.pause_pid:
            return
        process.send_signal(self.pause_fd, signal.SIGKILL, self.pause_pid)
        self.reap_pause()
        self.sel.unregister(self.pause_fd)
        os.close(self.pause_fd)
        self.pause_fd = None
        self.pause_pid = None
        self.store.update_pod(self.name, pause_pid=None, pause_start=None)

    def reap_pause(self):
        if self.pause_child:
            os.waitpid(self.pause_pid, 0)
        else:  # adopted: not our child; wait for it to be gone
            select.select([self.pause_fd], [], [], 10)

    @property
    def hostname(self):
        if self.pod.host_network:  # the node's uts namespace: its name
            return socket.gethostname()
        return self.pod.hostname or self.pod.name[:63]

    # -- containers ---------------------------------------------------------
    def start_container(self, spec):
        starting = self.begin_container(spec)
        if starting is not None:
            self.complete_start(starting)

    def begin_container(self, spec, restart_count=None):
        """The first half of a start: this instance's log, root and cgroup
        leaf, its plan, and nspod-exec spawned (it builds the root while we
        go on). None when the image must be prepared first. restart_count:
        the instance's number when its status does not say it yet (a restart
        begun before the ended instance is recorded: start_at_once)."""
        if spec.image is not None and spec.name not in self.prepared:
            self.begin_image(spec)  # back here once its root is ready (on_image_ready)
            return None
        image = self.prepared.pop(spec.name, None)
        n = self.status[spec.name]["restartCount"] if restart_count is None else restart_count
        made = self.made_for(spec)
        logdir = made["logs"]
        leaf = self.leaf(spec.name, spec.resources)
        oom_before = leaf.oom_kills()
        plan = container_start.Plan(
            spec=spec, root=made["root"], volumes=self.volume_paths, cgroup=leaf, host_pid=self.pod.host_pid,
            # hostIPC: the node's /dev/shm, as containerd gives it
            shm_dir="/dev/shm" if self.pod.host_ipc else str(self.shm_dir),
            pod_ns=self.pod_ns, hostname=self.hostname, etc_files=self.network.etc_files,
            stdout=made["stdout"], stderr=made["stderr"], seccomp=made["seccomp"], image=image,
            confinement=made["confinement"], host_secrets=self.host_secrets() if image is None else None,
        )
        if image is not None:
            plan.etc_files = {**(plan.etc_files or {}), "/etc/hostname": self.hostname_file()}
        console, ours = self.prepare_console(spec, plan)
        starting = Starting(spec, plan, image, None, (logdir, n), leaf, oom_before, console, ours, time.time())
        try:
            starting.process = container_start.begin(plan, shared_pid_ns=self.pod_ns.get("pid"),
                                                     plans=self.start_plans)
        except container_start.StartError as e:
            starting.error = e
        # (after the spawn: nspod-exec needs no log, and we read no output before complete_start)
        starting.log = self.open_log(spec.name, logdir / f"{n}.log")  # (never raises: a log refused costs output only)
        if starting.error is not None and plan.console is not None:
            plan.console.close()
        return starting

    def made_for(self, spec):
        """What every start of the container is made from and no start
        changes: its folders (made then), FIFO paths, seccomp and confinement
        (pure functions of the pod's spec, which we hold unchanged). Made at
        its first start by this supervisor; a restart does not pay the
        ~0.15 ms again, on the way from an exit to the next spawn."""
        made = self.made.get(spec.name)
        if made is None:
            logdir = self.dir / "logs" / spec.name
            logdir.mkdir(parents=True, exist_ok=True)
            root = self.dir / "rootfs" / spec.name
            root.mkdir(parents=True, exist_ok=True)
            made = self.made[spec.name] = {
                "logs": logdir, "root": str(root),
                "stdout": str(self.fifo(spec.name, "stdout")), "stderr": str(self.fifo(spec.name, "stderr")),
                "seccomp": seccomp.for_container(self.pod, spec, self.settings),
                "confinement": confinement.for_container(self.pod, spec, self.uid),
            }
        return made

    def complete_start(self, s):
        """The second half: its pid once it runs (or why it could not
        start), and the instance recorded."""
        spec, plan, console, ours = s.spec, s.plan, s.console, s.ours
        logdir, n = s.logs
        for old in logdir.glob("*.log*"):  # keep this instance's log and the previous one
            if int(old.name.split(".")[0]) < n - 1:
                discard(str(old))  # (a restarting flood's full logs: not freed on our time)
        try:
            if s.error is not None:
                raise s.error
            try:
                pid = s.process.wait()
            finally:
                if plan.console is not None:
                    plan.console.close()
            if ours is not None:
                self.take_terminal(pid, ours, console)
        except container_start.StartError as e:
            console.close()
            if ours is not None:
                ours.close()
            self.logged(spec.name, s.log and s.log.close)
            self.event(spec.name, "Warning", "Failed", f"Error: {e}")
            if e.reason in CONFIG_ERRORS:
                self.config_error(spec, e)
                return
            self.finished(spec, phase.terminated(128, reason=e.reason, message=str(e), started_at=phase.rfc3339(0),
                                                 finished_at=phase.rfc3339(s.now)), ran_for=0)
            return
        if ours is not None:
            ours.close()
        self.consoles[spec.name] = console
        inst = Instance(pid, process.start_time(pid), s.now, s.log)
        inst.oom_before = s.oom_before  # memory.events oom_kill then: a rise means OOMKilled
        inst.image_config = (s.image or {}).get("config")
        self.instances[spec.name] = inst
        self.sel.register(inst.pidfd, selectors.EVENT_READ, ("exit", spec.name))
        # Its status changes once started (mark_running): after its postStart hook, if it has one.
        self.store.update_container(self.name, spec.name, pid=pid, pid_start=inst.pid_start,
                                    namespaces=namespaces.ns_ids(pid),
                                    cgroup=leaf_record(s.leaf),
                                    security=confinement.shown(plan.confinement, pid, plan.seccomp.mode),
                                    image_config=(s.image or {}).get("config"),
                                    console=console.holder_record(), oom_before=s.oom_before)
        self.event(spec.name, "Normal", "Created", f"Created container {spec.name}")
        self.event(spec.name, "Normal", "Started", f"Started container {spec.name}")
        self.lifecycle.started(spec, inst)

    def host_secrets(self):
        """As root, the host's entries a process container must not see
        (rootfs.find_host_secrets): walked at the pod's first start, reused by its restarts."""
        if not rootfs.host_root():
            return None
        if self._host_secrets is None:
            self._host_secrets = rootfs.find_host_secrets()
        return self._host_secrets

    def prepare_console(self, spec, plan):
        """Its stdin and terminal (nspod/console.py): `stdin: true` without a
        tty, a FIFO whose write end we hold (opened before the container
        opens it: a stdinOnce container must not read end of file first);
        `tty: true`, a socket the container sends its pty master back on.
        Returns (Console, our end of that socket or None)."""
        console = Console(self.sel, spec.name, spec)
        ours = None
        if spec.tty:
            ours, plan.console = socket.socketpair()
            ours.settimeout(5)
        elif spec.stdin:
            path = self.fifo(spec.name, "stdin")
            if not path.exists():
                os.mkfifo(path, 0o600)
            console.open_stdin(path)
            plan.stdin, plan.stdin_once = str(path), spec.stdin_once
        return console, ours

    def take_terminal(self, pid, ours, console):
        """The pty master the container sent, and its holder; if that fails
        the container, already running, is killed: it could not start."""
        try:
            master = terminal.receive_master(ours)
            if master is None:
                raise OSError("the container did not pass it back")
            console.set_master(master)
        except OSError as e:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise container_start.StartError("StartError", f"make its terminal: {e.strerror or e}") from None

    def attach(self, conn, request):
        """`nspod attach`: the connection becomes a session of the container's
        console, or is answered why not. The CLI checked as much as it could;
        this is the word that counts (the container may have ended since)."""
        try:
            name, stdin = parse_request(request)
        except ValueError as e:
            answer(conn, {"ok": False, "error": str(e)})
            return False
        if name not in {c.name for c in self.pod.all_containers()}:
            answer(conn, {"ok": False, "error": f'container "{name}" not found in pod "{self.name}"'})
            return False
        console = self.consoles.get(name)
        if name not in self.instances or console is None:
            answer(conn, {"ok": False, "error": f'container "{name}" in pod "{self.name}" is not running'})
            return False
        spec = self.pod.container(name)
        why = no_stdin_error(self.name, name) if stdin and not spec.stdin else console.error(stdin)
        if why:
            answer(conn, {"ok": False, "error": why})
            return False
        answer(conn, {"ok": True, "tty": spec.tty})
        console.attach(conn, stdin)
        return True

    def on_terminal(self, name):
        """Output on a tty container's terminal: logged as stdout (as the
        kubelet logs a tty container), and to its sessions (Console.output)."""
        console = self.consoles.get(name)
        inst = self.instances.get(name)
        if console is None:
            return
        for data in console.read_terminal():
            if inst is not None and inst.log is not None:
                self.logged(name, lambda: inst.log.write("stdout", data), len(data))

    def mark_running(self, name, inst):
        """The kubelet has started the container (its postStart hook, if any,
        returned): running; ready and started as its probes will decide."""
        self.status[name].update(state=phase.running(phase.rfc3339(inst.started)))
        self.start_probes(self.pod.container(name), inst)

    def start_probes(self, spec, inst):
        """ready and started as an instance begins them (initial_flags), and
        its probes counted from its start (nspod/probing)."""
        st = self.status[spec.name]
        st["ready"], st["started"] = initial_flags(spec)
        self.store.update_container(self.name, spec.name, status=st)
        self.probes.start(spec, time.monotonic() - (time.time() - inst.started))
        self.update_phase()

    def on_exit(self, name):
        inst = self.instances.pop(name)
        now = time.time()
        if inst.child:
            wstatus = os.waitpid(inst.pid, 0)[1]
        else:  # the keeper's child (it knows the status), or nobody's we know
            ended = self.keeper.status(inst.pid, inst.pid_start) if self.keeper is not None else None
            wstatus, now = ended if ended is not None else (None, now)
        console = self.consoles.get(name)
        self.drain(name, inst, console)  # (its last output to its sessions too: the console is still theirs)
        self.consoles.pop(name, None)
        self.sel.unregister(inst.pidfd)
        os.close(inst.pidfd)
        spec = self.pod.container(name)
        code = None if wstatus is None else os.waitstatus_to_exitcode(wstatus)
        code = code if code is None or code >= 0 else 128 - code  # (a signal's: 128 + its number)
        delay = None
        if not self.stopping and code is not None and should_restart(self.restart_policy_of(spec), code):
            delay = self.backoff[name].next_delay(now - inst.started)
        # A restart due at once begins before the ended instance is recorded.
        early = self.start_at_once(spec) if delay == 0 else None
        times = {"started_at": phase.rfc3339(inst.started), "finished_at": phase.rfc3339(now)}
        leaf = self.leaves.get(name)
        oom = leaf is not None and leaf.oom_kills() > inst.oom_before
        if wstatus is None:
            state = self.unknown_exit(times["started_at"], oom_killed=oom)
        else:
            state = self.exit_state(wstatus, oom, **times)
        if console is not None:  # its sessions end with its exit code; a restart gets a new console
            console.end(state["terminated"]["exitCode"])
        self.finished(spec, state, ran_for=now - inst.started, delay=delay, restarted=early is not None)
        self.lifecycle.ended(name)  # its hooks and kill are over; a start it held back goes on
        if early is not None:  # (as restart_due would)
            self.status[name]["restartCount"] += 1
            self.complete_start(early)
            self.update_phase()

    def start_at_once(self, spec):
        """The restart of an instance that just ended, when it is due now (its
        restart policy, no back-off) and nothing holds it (a hook or kill of
        its own, a postStart failure to report, an image to prepare, a
        terminal or stdin to hand over, init order, a sandbox being made
        again after its pause holder died): nspod-exec is spawned
        before the ended instance is recorded, and builds the root while we
        record it. A restart then costs its own start, not our bookkeeping
        (the restart latency in docs/BENCHMARKS.md). None otherwise: it waits
        for restart_due, as every other start."""
        name = spec.name
        lifecycle = self.lifecycle
        if (self.pause_pid is None or spec.image is not None or spec.stdin or spec.tty or name in self.retry_config
                or name in lifecycle.kills or name in lifecycle.hooks or name in lifecycle.failures
                or not self.restart_allowed(name)):
            return None
        try:
            return self.begin_container(spec, restart_count=self.status[name]["restartCount"] + 1)
        except Exception:  # (its folders or cgroup leaf): restart_due tries again and says why
            return None

    def finished(self, spec, state, ran_for, delay=None, restarted=False):
        """A container instance ended (or never started): record its state
        (phase.terminated), then restart it by the restart policy, after the
        back-off. delay: the back-off, when the caller took it already;
        restarted: its next instance began already (start_at_once)."""
        st = self.status[spec.name]
        st.update(state=state, ready=False, started=False)
        hook_failure = self.lifecycle.take_failure(spec.name)
        self.probes.stop(spec.name)
        if not self.stopping and should_restart(self.restart_policy_of(spec), state["terminated"]["exitCode"]):
            if delay is None:
                delay = self.backoff[spec.name].next_delay(ran_for)
            st["lastState"] = state
            if delay > 0:
                pod_ref = f"{self.name}_{self.pod.namespace}({self.uid})"  # as the kubelet names a pod
                st["state"] = phase.waiting("CrashLoopBackOff", crash_loop_message(delay, spec.name, pod_ref))
                self.event(spec.name, "Warning", "BackOff",
                           f"Back-off restarting failed container {spec.name} in pod {pod_ref}")
                heapq.heappush(self.timers, (time.monotonic() + delay, spec.name))
            else:
                if hook_failure:  # as the kubelet's reason cache shows a failed start until the next
                    st["state"] = phase.waiting("PostStartHookError", hook_failure)
                if not restarted:
                    heapq.heappush(self.timers, (time.monotonic(), spec.name))
        self.store.update_container(self.name, spec.name, status=st, pid=None, pid_start=None, console=None)
        self.update_phase()

    def config_error(self, spec, e):
        """The container could not be created from its configuration (e.g.
        runAsNonRoot and it would run as root): as the kubelet, it stays
        waiting with the reason, is not counted as a restart, and is tried
        again after the back-off (the configuration may not change, but what
        it depends on, an image's user, may)."""
        st = self.status[spec.name]
        st.update(state=phase.waiting(e.reason, str(e)), ready=False, started=False)
        self.store.update_container(self.name, spec.name, status=st, pid=None, pid_start=None)
        self.retry_config.add(spec.name)
        delay = self.backoff[spec.name].next_delay(0)
        heapq.heappush(self.timers, (time.monotonic() + delay, spec.name))
        self.update_phase()

    def restart_due(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, name = heapq.heappop(self.timers)
            if self.stopping or name in self.instances or not self.restart_allowed(name):
                continue
            if name in self.retry_config:  # never created: another try, not a restart
                self.retry_config.discard(name)
            else:
                self.status[name]["restartCount"] += 1
            self.start_container(self.pod.container(name))
            self.update_phase()

    def drain(self, name, inst, console=None):
        """All the output an ended instance wrote is in its FIFOs (or its
        terminal): log it."""
        if console is not None:  # one budget: a process left in a shared PID namespace may write on
            for data in console.read_terminal():
                self.logged(name, inst.log and (lambda: inst.log.write("stdout", data)), len(data))
        self.drain_into(name, inst.log)

    def drain_into(self, name, log):
        """The output in the container's FIFOs, into its log (then closed)."""
        for fd, (owner, stream) in self.outputs.items():
            if owner == name:
                self.read_output(fd, log)
                self.logged(name, log and (lambda: log.flush_partial(stream)))
        self.logged(name, log and log.close)

    # A log the disk refuses (full, say) costs that output, never supervision:
    # the output is read and dropped, and the gap is reported as events.
    def open_log(self, container, path):
        try:
            return LogWriter(path)
        except OSError as e:
            self.log_failed(container, e, 0)
            return None

    def logged(self, container, write, size=0):
        """Run one log write (a callable; None: nothing to do)."""
        if write is None:
            return
        try:
            write()
        except OSError as e:
            self.log_failed(container, e, size)
            return
        dropped = self.log_faults.pop(container, None)
        if dropped is not None:
            self.event(container, "Normal", "LogWriteResumed",
                       f"The container's log is written again; {dropped} bytes of output were dropped")

    def log_failed(self, container, e, size):
        if container not in self.log_faults:
            note(f"watchdog {self.name}: container {container}: cannot write its log: {e}")
            self.event(container, "Warning", "LogWriteFailed",
                       f"Cannot write the container's log ({e.strerror or e}); its output is dropped until it can")
        self.log_faults[container] = self.log_faults.get(container, 0) + size

    def read_output(self, fd, log, budget=1 << 20):
        """Log what the FIFO holds, up to `budget` bytes: a container that writes
        faster than we log must not keep the loop from its other events (the
        selector reports the FIFO again at once; a wake-up reads
        OUTPUT_PER_WAKE). 1 MiB is the largest pipe a user may make
        (fs.pipe-max-size's default), so `drain` still gets all."""
        name, stream = self.outputs[fd]
        console = self.consoles.get(name)
        while budget > 0:
            try:
                # 64 KiB, the default pipe size: larger reads framed no faster (docs/ARCHITECTURE.md)
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not data:  # no writer at all right now; the FIFO stays ours
                return
            budget -= len(data)
            if log is not None:
                self.logged(name, lambda: log.write(stream, data), len(data))
            if console is not None:
                console.output(b"o" if stream == "stdout" else b"e", data)

    # -- pod ----------------------------------------------------------------
    def update_phase(self, final=False):
        statuses = [self.status[c.name] for c in self.pod.containers]
        policy = "Never" if (self.stopping or final) else self.pod.restart_policy
        value = phase.pod_phase(policy, statuses, init=self.init_statuses(), initialized=self.initialized)
        if (final and value not in ("Succeeded", "Failed")) or self.lifecycle.deadline_exceeded:
            value = "Failed"  # (the active deadline fails the pod whatever its containers did)
        if value != self.phase:  # (a restart changes no phase: one commit fewer on its path)
            self.store.update_pod(self.name, phase=value)
        self.phase = value
        self.record_conditions(statuses)

    def record_conditions(self, statuses):
        """The pod's conditions, kept with their lastTransitionTime (Ready
        follows the containers' `ready`, which readiness probes drive)."""
        if self.conditions is None:
            try:
                self.conditions = json.loads(self.store.pod(self.name)["conditions"] or "null")
            except NspodError:  # unreadable state: transition times start again
                self.conditions = None
        new = phase.conditions(self.phase, statuses, True, containers=[c.name for c in self.pod.containers],
                               previous=self.conditions, init=self.init_statuses())
        if new != self.conditions:
            self.conditions = new
            self.store.update_pod(self.name, conditions=json.dumps(new))

    def pod_done(self):
        """Nothing runs and nothing will restart: the pod is terminal."""
        return not self.instances and not self.timers and not self.pulls and not self.image_timers

    def event(self, container, type_, reason, message):
        self.store.event(self.name, self.event_object(container), type_, reason, message)

    # -- events -------------------------------------------------------------
    def on_event(self, kind, name, fd):
        if self.finishing is not None:
            return
        faults.point("watchdog:event", self.fault)
        if kind == "exit" and name in self.instances:
            self.on_exit(name)
        elif kind == "log":
            inst = self.instances.get(name)
            if fd in self.outputs:
                self.read_output(fd, inst.log if inst else None, budget=OUTPUT_PER_WAKE)
        elif kind == "tty":
            self.on_terminal(name)
        elif kind == "attach":
            if name in self.consoles:
                self.consoles[name].on_session(fd)
        elif kind == "pull" and name in self.pulls:
            self.on_image_ready(name)
        elif kind == "hook":
            self.lifecycle.on_event(name)
        elif kind == "pause":
            self.on_pause_died()
        elif kind == "probe":
            self.probes.on_event(name)
        elif kind == "net":  # the node network's holder or uplink died
            try:
                self.network.on_event()
            except NspodError as e:  # e.g. the state cannot be written: the pods keep running
                note(f"watchdog {self.name}: repairing the node network: {e}")

    def exec_context(self, name):
        """How an exec probe or hook joins the running container `name`: its
        namespaces, cgroup, seccomp filter, user and capabilities (as `nspod
        exec`), worked out here once per run."""
        from .cgroups import leaf_record
        from .probing.execcheck import ExecContext

        row = next(r for r in self.store.containers(self.name) if r["name"] == name)
        leaf = self.leaves.get(name)
        return ExecContext.of(self.pod, self.pod.container(name), self.instances[name].pid, self.uid, self.settings,
                              leaf_record(leaf) if leaf is not None else None, row["security"],
                              row["image_config"])

    def claimed_pids(self):
        """Our children the supervisor must leave to us to reap (their exit status is ours)."""
        pids = [inst.pid for inst in self.instances.values() if inst.child]
        pids += [job.pid for job, _, _ in self.pulls.values()]
        pids += self.lifecycle.pids()
        pids += self.probes.pids()
        if self.pause_pid and self.pause_child:
            pids.append(self.pause_pid)
        return pids

    def stop(self):
        """Graceful termination: each container's preStop hook, TERM, KILL
        when the grace period ends (`stop --timeout` overrides it). Again
        while the pod ends (a second `stop`, or `rm`): stop waiting to write
        its last state."""
        if self.finishing is not None:
            self.finishing = time.monotonic()
            return
        if self.stopping:
            return
        try:
            grace = self.store.pod(self.name)["stop_timeout"]
        except NspodError:  # unreadable state: the pod's own grace period
            grace = None
        if grace is None:
            grace = self.pod.termination_grace_period_seconds
        self.terminate(grace)

    def terminate(self, grace):
        """Nothing restarts any more; every container but the sidecars is
        killed gracefully now (preStop, TERM, KILL: nspod/hooks.py), the
        sidecars after them in reverse order, in what is left of the same
        grace period (stop_sidecars_in_turn)."""
        if self.stopping:
            return
        self.stopping = True
        self.timers.clear()
        self.end_pulls()
        self.stop_grace, self.stop_began = grace, time.monotonic()
        self.probes.close()  # (the kubelet quiets the probes of a pod being deleted)
        sidecars = {c.name for c in self.pod.sidecars()}
        for name in list(self.instances):
            if name not in sidecars:
                self.lifecycle.kill(name, grace)
        self.stop_sidecars_in_turn()

    def on_pause_died(self):
        """The sandbox is gone: its namespaces can't be joined again. Kill the
        containers, re-create the sandbox, restart them by the policy."""
        self.reap_pause()
        self.sel.unregister(self.pause_fd)
        os.close(self.pause_fd)
        self.pause_fd = None
        self.pause_pid = None
        if self.stopping:
            return
        self.event(None, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
        for name, inst in list(self.instances.items()):
            self.event(name, "Normal", "Killing", f"Stopping container {name}")
            process.send_signal(inst.pidfd, signal.SIGKILL, inst.pid)
        for name in list(self.instances):
            self.on_exit(name)
        self.reset_init()
        try:
            self.start_pause()
        except (NspodError, OSError) as e:
            self.event(None, "Warning", "FailedCreatePodSandBox", str(e))
            self.stopping = True
            self.timers.clear()

    # -- images (as the kubelet's image manager, pkg/kubelet/images) -------------
    def begin_image(self, spec):
        """Ensure the container's image by its pull policy, in a forked child
        (pull, then this instance's copy of the image's root); the loop hears
        back in on_image_ready. The kubelet's states and events on the way."""
        from .image import api as image_api
        from .image.errors import InvalidImageName
        from .image.reference import parse

        text, st = spec.image, self.status[spec.name]
        st.setdefault("image", text)
        st.setdefault("imageID", "")
        try:
            parse(text)
        except InvalidImageName as e:
            message = f'Failed to apply default image tag "{text}": couldn\'t parse image name "{text}": {e}'
            self.event(spec.name, "Warning", "InspectFailed", message)
            self.image_error(spec, "InvalidImageName", message)
            # The kubelet tries again at every sync, to the same end; the pod stays Pending.
            self.schedule_image(spec.name, self.image_delay(text), "retry")
            return
        try:
            present = image_api.present(text, self.image_store())
        except NspodError as e:  # the store cannot be opened
            self.image_failed(spec, "ErrImagePull", f'Failed to inspect image "{text}": {e}')
            return
        policy = spec.image_pull_policy
        if policy == "Never" and not present:
            message = f'Container image "{text}" is not present with pull policy of Never'
            self.event(spec.name, "Warning", "ErrImageNeverPull", message)
            self.image_error(spec, "ErrImageNeverPull", message)
            self.schedule_image(spec.name, self.image_delay(text), "retry")  # a later `nspod pull` lets it start
            return
        pulling = policy == "Always" or not present
        if pulling:
            self.event(spec.name, "Normal", "Pulling", f'Pulling image "{text}"')
        else:
            self.event(spec.name, "Normal", "Pulled", f'Container image "{text}" already present on machine')
        if "waiting" not in st["state"] or st["state"]["waiting"].get("reason") not in ("ErrImagePull", "ImagePullBackOff"):
            self.set_waiting(spec, "ContainerCreating")
        dest = str(self.dir / "images" / spec.name)
        job = child.begin(image_api.prepare, text, pulling, dest, self.settings.get("image_dir"),
                          self.settings.get("image_driver"))
        self.pulls[spec.name] = (job, pulling, time.monotonic())
        self.sel.register(job.fd, selectors.EVENT_READ, ("pull", spec.name))

    def on_image_ready(self, name):
        job, pulling, began = self.pulls[name]
        if not job.read():
            return
        self.sel.unregister(job.fd)
        del self.pulls[name]
        spec = self.pod.container(name)
        text = spec.image
        try:
            result = job.result()
        except child.ChildFailed as e:
            if pulling:
                self.event(name, "Warning", "Failed", f'Failed to pull image "{text}": {e}')
                self.image_failed(spec, "ErrImagePull", str(e))
            else:  # the copy of a local image failed (a layer gone, the disk full)
                self.image_failed(spec, "CreateContainerError", str(e))
            return
        self.image_failures.pop(text, None)
        if result["pulled"]:
            took = format_duration(round(result["seconds"], 3))
            waited = format_duration(round(time.monotonic() - began, 3))
            self.event(name, "Normal", "Pulled", f'Successfully pulled image "{text}" in {took} '
                       f'({waited} including waiting). Image size: {result["size"]} bytes.')
        st = self.status[name]
        st["image"], st["imageID"] = result["image"], result["imageID"]
        self.prepared[name] = {"rootfs": result["rootfs"], "config": result["config"]}
        self.store.update_container(self.name, name, rootfs=result["rootfs"])  # its layers stay while it does
        if not self.stopping:
            self.start_container(spec)
            self.update_phase()

    def image_store(self):
        """The store `nspod run` named (its user's, decided outside the user
        namespace, where we are uid 0), opened for one look and closed."""
        from .image.store import ImageStore

        return ImageStore(self.settings.get("image_dir"))

    def image_failed(self, spec, reason, message):
        """ErrImagePull now, ImagePullBackOff once the next sync finds the image
        in back-off (half-way here), then another pull when it ends."""
        self.image_error(spec, reason, message)
        delay = self.image_delay(spec.image)
        self.schedule_image(spec.name, delay / 2, "backoff")
        self.schedule_image(spec.name, delay, "retry")

    def image_delay(self, image):
        """The kubelet's image back-off: 10 s doubling to 300 s (base from
        --backoff-base), per pod and image; counts this failure."""
        n = self.image_failures.get(image, 0) + 1
        self.image_failures[image] = n
        return BackOff(base=self.image_base).delay(n + 1)

    def schedule_image(self, name, delay, action):
        heapq.heappush(self.image_timers, (time.monotonic() + delay, name, action))

    def image_due(self):
        now = time.monotonic()
        while self.image_timers and self.image_timers[0][0] <= now:
            _, name, action = heapq.heappop(self.image_timers)
            if self.stopping or name in self.instances or name in self.pulls:
                continue
            spec = self.pod.container(name)
            if action == "backoff":
                message = f'Back-off pulling image "{spec.image}"'
                self.event(name, "Normal", "BackOff", message)
                self.image_error(spec, "ImagePullBackOff", message)
            else:
                self.start_container(spec)
            self.update_phase()

    def image_error(self, spec, reason, message):
        """The container waits on its image: as the kubelet's startContainer
        does for any error of EnsureImageExists, a Warning "Error: REASON"."""
        self.event(spec.name, "Warning", "Failed", f"Error: {reason}")
        self.set_waiting(spec, reason, message)

    def set_waiting(self, spec, reason, message=None):
        st = self.status[spec.name]
        st.update(state=phase.waiting(reason, message), ready=False, started=False)
        self.store.update_container(self.name, spec.name, status=st)

    def end_pulls(self):
        for name, (job, _, _) in list(self.pulls.items()):
            self.sel.unregister(job.fd)
            job.kill()
        self.pulls.clear()
        self.image_timers.clear()

    def remove_image_roots(self):
        """The containers' roots: overlay upper and work dirs, or copies of
        their images (we are in the node's user namespace, so files of the
        image's other owners go too). The overlay mounts lived only in the
        containers' mount namespaces, gone with their processes."""
        from .image.unpack import remove_tree

        try:
            remove_tree(str(self.dir / "images"))
        except OSError as e:
            note(f"watchdog {self.name}: removing the containers' image roots: {e}")

    def hostname_file(self):
        path = self.dir / "etc-hostname"
        if not path.exists():
            path.write_text(self.hostname + "\n")
            os.chmod(path, 0o644)
        return str(path)
