"""The supervisor: the node holder's one event loop, which supervises every
pod of the user (as the kubelet supervises every pod of a node from one
process). A pod costs it a Watchdog object (nspod/watchdog.py), not a process.

One selector holds every pod's pidfds, output FIFOs and image pulls, the
node socket, and the wake-up of signals. Each wake-up:
  - requests on the node socket: `spawn` (a pod to start, or to adopt),
    `stop` (answered once the pod has ended), `ping`, `attach` (the
    connection becomes an attach session of the pod: nspod/console.py);
  - each pod's events, then the timers (restarts, image back-off, the stop
    deadline) and the work its events left of each pod that had an event or
    a request, or whose next timer is due; a pod that has ended is dropped;
  - SIGCHLD: reap the children no pod claims (orphans re-parented to us,
    a child subreaper), leaving each pod its own containers' exit statuses;
  - SIGTERM: exit; the pods keep running and the next supervisor adopts them.
A failure in one pod's handling drops that pod (Unknown, its processes
running; logged in node.log, and the pod's SupervisionError event); the
others go on.

It is the keeper's child (nspod/keeper.py). When no pod needs it for `idle`
seconds (Watchdog.needs_supervisor: nothing is due, waited for or probed),
it hands every pod to the keeper and leaves: the keeper holds their FIFOs
and reaps their processes, and starts a supervisor again when a command
connects, a pod's process ends or a container writes output. That one
resumes the pods, with their exit statuses from the keeper.
"""
import gc
import json
import os
import selectors
import signal
import socket
import stat
import time

from . import steps
from .errors import print_traceback
from .kernel import process
from .kernel.libc import trim_heap
from .store import Store
from .watchdog import Watchdog


class PodSelector:
    """The shared selector as one pod's watchdog (and its network) sees it:
    what it registers carries the watchdog, so an event reaches its pod."""

    def __init__(self, sel):
        self.sel = sel
        self.owner = None

    def register(self, fd, events, data):
        self.sel.register(fd, events, (self.owner, data))

    def modify(self, fd, events, data):
        self.sel.modify(fd, events, (self.owner, data))

    def unregister(self, fd):
        self.sel.unregister(fd)


class Supervisor:
    def __init__(self, listener, linger, startup_fault="", keeper=None, idle=5.0):
        self.listener = listener
        self.linger = linger
        self.keeper = keeper  # nspod/keeper.py (None: we cannot leave the pods to anyone)
        self.idle = idle
        self.startup_fault = startup_fault  # for the adoptions at start (nspod/faults.py)
        self.sel = selectors.DefaultSelector()
        self.store = Store()  # one connection for every pod's state
        self.pods = {}  # name -> Watchdog
        self.terminated = False
        self.signalled = False  # a signal woke us since the last reaping
        self.touched = set()  # the pods a request of this wake-up was about
        self.last_sweep = 0.0  # when every pod's after_events last ran (time.monotonic)
        self.collect_due = None  # a pod was dropped: the collector's full pass is due by then (drop)
        self.wake_r, self.wake_w = socket.socketpair()
        for s in (self.wake_r, self.wake_w):
            s.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "terminated", True))
        self.sel.register(listener, selectors.EVENT_READ, "accept")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def run(self):
        """Until SIGTERM (returns None), no pod for `linger` seconds (returns
        0), or no pod needing us for `idle` seconds: then they are handed to
        the keeper, and it returns how many."""
        self.adopt_orphaned_pods()
        idle_since = busy_since = time.monotonic()
        while not self.terminated:
            events = self.sel.select(self.timeout())
            if _busy(events):
                busy_since = time.monotonic()
            self.touched.clear()
            self.after_events(self.dispatch(events))
            if self.signalled:  # (SIGCHLD among them: only then can there be an orphan to reap)
                self.signalled = False
                self.reap_orphans()
            now = time.monotonic()
            self.collect_when_quiet(not events, now)
            if not self.pods:
                if now - idle_since >= self.linger:
                    return 0
                continue
            idle_since = now
            if self.keeper is not None and now - busy_since >= self.idle and not self.needed():
                return self.hand_over()
        return None

    def dispatch(self, events):
        """Each event to its handler (requests, signals, pods' events, in
        turn). True if a signal woke us."""
        signalled = False
        for key, _ in _in_turn(events):
            if key.data == "accept":
                self.accept()
            elif key.data == "wake":
                self.drain_wake()
                signalled = True
            else:
                watchdog, (kind, name) = key.data
                if watchdog is not None and self.pods.get(watchdog.name) is watchdog:
                    self.touched.add(watchdog)
                    self.guarded(watchdog, watchdog.on_event, kind, name, key.fd)
        return signalled

    def needed(self):
        """True while a pod needs us (or a command is about to ask)."""
        return _busy(self.sel.select(0)) or any(w.needs_supervisor() for w in self.pods.values())

    def hand_over(self):
        """Leave every pod to the keeper: each row names it as the pod's
        supervisor, and it holds the FIFOs already. Returns how many."""
        for watchdog in list(self.pods.values()):
            if not self.guarded(watchdog, watchdog.hand_over, self.keeper):
                return None  # (dropped: it is Unknown; leave as after SIGTERM)
        count = len(self.pods)
        self.pods.clear()
        return count

    def drop(self, watchdog):
        """The pod is no longer ours to serve (it ended, could not start, or
        its handling failed): its watchdog is freed by reference counting as
        this wake-up lets go of it (Watchdog.unlink). The collector's full
        pass, which walks every pod's objects (~0.1 ms a pod still running,
        4 ms beside 40), runs at most once a second (collect_when_quiet)."""
        if self.pods.get(watchdog.name) is watchdog:
            del self.pods[watchdog.name]
        self.touched.discard(watchdog)
        watchdog.unlink()
        if self.collect_due is None:
            self.collect_due = time.monotonic() + GARBAGE_WAIT

    def collect_when_quiet(self, quiet, now):
        """After a pod was dropped, at the first wake-up without an event
        (`quiet`: the pass holds nobody up), or GARBAGE_WAIT s after the drop
        in a busy supervisor: the collector's full pass, for cycles left by
        the pods' handling, then the memory back to the kernel. (A quiet
        supervisor allocates too little for the collector to come round by
        itself.) True if it ran."""
        if self.collect_due is None or not (quiet or now >= self.collect_due):
            return False
        self.collect_due = None
        gc.collect()
        trim_heap()
        return True

    def after_events(self, sweep):
        """Each pod's timers and the work its events left (Watchdog.after_events),
        for the pods that had an event or a request in this wake-up, or whose
        next timer is due (Watchdog.timeout, taken after it ran); for every pod
        after a signal, and at least once a second (a pod whose timeout missed
        something waits no longer than it did when every pod ran every
        wake-up). A quiet pod costs a wake-up one comparison: forty of them
        cost ~0.5 ms each wake-up (~12 µs each) when every pod ran."""
        now = time.monotonic()
        sweep = sweep or now - self.last_sweep >= 1.0
        if sweep:
            self.last_sweep = now
        for watchdog in list(self.pods.values()):
            if not (sweep or watchdog in self.touched or watchdog.next_wake <= now):
                continue
            if self.guarded(watchdog, watchdog.after_events):
                self.drop(watchdog)
            elif self.pods.get(watchdog.name) is watchdog:
                due = watchdog.timeout()
                watchdog.next_wake = float("inf") if due is None else now + due

    def timeout(self):
        """Until the first pod's next timer; at least every second (the idle checks, the sweep)."""
        due = min((w.next_wake for w in self.pods.values()), default=float("inf")) - time.monotonic()
        return max(0.0, min(due, 1.0, self.idle))

    def guarded(self, watchdog, handler, *args):
        """One pod's handling. An exception (a bug) costs that pod its
        supervision, not the others theirs: it is logged, the pod gets a
        SupervisionError event and is dropped (it shows Unknown, its
        processes run on; `nspod start` adopts it again). The steps it takes
        go to its command's --explain, if it has one (nspod/steps.py)."""
        before = steps.explaining(watchdog.explain, "supervisor") if watchdog.explain is not None else None
        try:
            return handler(*args)
        except Exception as e:
            print_traceback()
            try:
                watchdog.event(None, "Warning", "SupervisionError",
                               f"{type(e).__name__}: {e}; the pod is not supervised any more "
                               f"(nspod start {watchdog.name} takes it over again)")
                watchdog.report({"ok": False, "error": f"{type(e).__name__}: {e}"})  # (a `run` waiting)
                watchdog.release()
            except Exception:
                print_traceback()
            self.drop(watchdog)
            return False
        finally:
            if before is not None:
                if steps.sink is None:  # the reader went away (EPIPE): no later handling re-arms it
                    watchdog.stop_explaining()
                steps.restore(before)

    # -- pods ----------------------------------------------------------------
    def watchdog(self, name, conn=None, fault=""):
        sel = PodSelector(self.sel)
        watchdog = Watchdog(name, sel, self.store, conn=conn, fault=fault, keeper=self.keeper)
        sel.owner = watchdog
        return watchdog

    def begin(self, name, conn=None, adopt=False, fault="", explain=None, resume=False):
        try:
            watchdog = self.watchdog(name, conn, fault)
        except Exception as e:  # the pod's row is gone or unreadable
            print_traceback()
            _answer(conn, {"ok": False, "error": str(e) or repr(e)})
            _close(explain)
            return
        watchdog.explain = explain
        self.pods[name] = watchdog
        if not self.guarded(watchdog, watchdog.begin, adopt, resume):
            self.drop(watchdog)  # (it reported why)

    def adopt_orphaned_pods(self):
        """Every pod a supervisor handed to the keeper (resumed), or was
        running when it died (adopted): its containers still running are
        watched again. Not one being stopped or removed whose supervisor
        died: the command doing that goes on without a supervisor."""
        keeper = (self.keeper.pid, self.keeper.start) if self.keeper is not None else None
        for row in self.store.pods():
            if (row["watchdog_pid"], row["watchdog_start"]) == keeper:
                # (even one being stopped: its command asks us to stop it, and we do)
                self.begin(row["name"], adopt=True, fault=self.startup_fault, resume=True)
            elif not row["watchdog_pid"] or row["desired"] == "stopped":
                continue
            elif not process.alive(row["watchdog_pid"], row["watchdog_start"]):
                self.begin(row["name"], adopt=True, fault=self.startup_fault)

    def reap_orphans(self):
        """Reap our children that no pod claims: processes re-parented to us.
        (Not waitpid(-1): it would take a container's exit status from its pod.)
        Most signals leave no child to reap (a pod reaped its own already):
        then one waitid answers, not a scan of every pod's and child's pid."""
        if not _a_child_ended():
            return
        claimed = set()
        for watchdog in self.pods.values():
            claimed.update(watchdog.claimed_pids())
        for pid in _children():
            if pid not in claimed:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    # -- requests ------------------------------------------------------------
    def accept(self):
        conn, _ = self.listener.accept()
        conn.settimeout(REQUEST_TIME)  # a client that does not send its line does not hold the loop long
        try:
            request, explain = _read_request(conn)
        except (OSError, ValueError):
            conn.close()
            return
        op, name = request.get("op"), request.get("pod")
        if isinstance(name, str) and name in self.pods:
            self.touched.add(self.pods[name])  # (its after_events runs in this wake-up)
        if op not in ("spawn", "stop") or not isinstance(name, str) or (op == "spawn" and name in self.pods):
            explain = _close(explain)  # only a pod's start or stop is explained
        if op == "ping":
            _answer(conn, {"pid": os.getpid()})
        elif op == "spawn" and isinstance(name, str):
            try:  # first line: the request is taken (a CLI retries only if it never saw this)
                conn.sendall(b'{"accepted": true}\n')
            except OSError:
                _close(explain)  # (the client left: nobody reads its steps)
                conn.close()
                return
            conn.settimeout(5)
            if name in self.pods:  # (adopted when we started, say)
                ok = bool(request.get("adopt"))
                _answer(conn, {"ok": True} if ok else {"ok": False, "error": "it is already running"})
            else:
                self.begin(name, conn, adopt=bool(request.get("adopt")), fault=request.get("fault") or "",
                           explain=explain)
        elif op == "stop" and isinstance(name, str) and name in self.pods:
            conn.settimeout(5)
            watchdog = self.pods[name]
            watchdog.stop_waiters.append(conn)  # answered when the pod has ended
            if explain is not None:
                watchdog.stop_explaining()
                watchdog.explain = explain
            self.guarded(watchdog, watchdog.stop)
        elif op == "stop":
            _close(explain)
            _answer(conn, {"ok": True, "supervised": False})
        elif op == "attach" and isinstance(name, str) and name in self.pods:
            watchdog = self.pods[name]
            if not self.guarded(watchdog, watchdog.attach, conn, request):
                conn.close()  # (it answered why)
        elif op == "attach":
            _answer(conn, {"ok": False, "error": f'pod "{name}" is not supervised (nspod start {name} takes it over)'})
        else:
            conn.close()

    def drain_wake(self):
        self.signalled = True
        try:
            while self.wake_r.recv(64):
                pass
        except BlockingIOError:
            pass


def _output(key):
    """Whether a selector key is a container's output FIFO."""
    return isinstance(key.data, tuple) and key.data[1][0] == "log"


def _in_turn(events):
    """Exits, requests and timers before output: a flood's logging waits for
    a restart, never a restart for a flood's logging (each output event logs
    a bounded piece, watchdog.OUTPUT_PER_WAKE)."""
    return sorted(events, key=lambda event: _output(event[0]))


def _busy(events):
    """Whether these events keep us: any but a container's output, which the
    keeper writes to its log as well once we leave (nspod/keeper.py)."""
    return not all(_output(key) for key, _ in events)


MAX_REQUEST = 64 << 10  # bytes of one request line: far above any request
REQUEST_TIME = 1.0      # seconds a client has to send its whole request line
GARBAGE_WAIT = 1.0      # seconds a busy supervisor puts the collector's pass off after a drop


def _read_request(conn):
    """(request, explain fd or None): one JSON line; the first piece of it may
    carry the write end of the command's --explain pipe (SCM_RIGHTS)."""
    deadline = time.monotonic() + REQUEST_TIME  # for the whole line: a client sending a byte at a time cannot hold us
    data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 1)
    explain = fds[0] if fds else None
    try:
        while data and not data.endswith(b"\n") and len(data) < MAX_REQUEST:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request line did not come in time")
            conn.settimeout(left)
            more = conn.recv(MAX_REQUEST - len(data))
            if not more:
                break
            data += more
        request = json.loads(data)
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
    except BaseException:
        _close(explain)
        raise
    if explain is not None:
        if not stat.S_ISFIFO(os.fstat(explain).st_mode):
            explain = _close(explain)  # only a pipe: a file or socket could block or grow without bound
        else:
            os.set_inheritable(explain, False)  # children that exec must not keep it (they do not, then)
            os.set_blocking(explain, False)  # a slow reader loses steps, never holds the loop
    return request, explain


def _close(fd):
    if fd is not None:
        os.close(fd)
    return None


def _answer(conn, message):
    if conn is None:
        return
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass
    conn.close()


def _a_child_ended():
    """Whether a child of ours has ended and is not reaped yet (WNOWAIT: it stays so)."""
    try:
        return os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # no child at all
        return False


def _children():
    """Our child processes, from the kernel's list of each thread's children."""
    pids = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids

