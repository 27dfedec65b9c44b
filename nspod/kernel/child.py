"""Child processes: one primitive to start them, one way to hear back.

    pid = start(main)                              main() runs in a forked child
    pid = start(main, pid_ns="new")                ... as PID 1 of a new PID namespace
    pid = start(main, pid_ns=fd)                   ... in the PID namespace behind fd
    pid = start(main, detached=True)               ... belonging to no pod (see below)
    value = call(main, *args)                      main(*args) in a child; its return value
    job = begin(main, *args)                       the same, without waiting: job.fd for a
                                                   selector, job.read() until True, job.result()

`start` returns once main() has exec'd; `call` once it has returned. If main
raises first, both raise ChildFailed(reason, message) with what it raised.

The child reports over one close-on-exec pipe, one JSON object a line:
    {"pid": N}                                 an intermediate forked the real child
    {"result": VALUE}                          main() returned VALUE (`call`)
    {"error": {"reason": R, "message": M}}     main() raised
exec closes the pipe: end of file with no error means main() exec'd. A child
that neither execs nor returns (a fallback pause loop) calls `done()` first.
Containers are started by nspod-exec (nspod/executor), which reports in this
same format.

Why an intermediate: a PID namespace applies to the children a process forks
after unshare/setns (and a process may switch it only once), so the
intermediate enters it and forks the real child, then exits; the child is
re-parented to us, a child subreaper, so we still get its exit status.
`detached`: the node network's holder and uplink serve every pod: the
intermediate starts a session for them, so no terminal signal of ours
reaches them; they are re-parented to us (the node holder) like any child.
"""
import json
import os

from .. import steps
from ..errors import NspodError, print_traceback
from .namespaces import setns, unshare

_report_fd = None  # in a child: the write end of its report pipe


class ChildFailed(NspodError):
    """The child failed before it exec'd (or returned): reason and message as it said."""

    def __init__(self, reason, message):
        self.reason = reason
        super().__init__(message)


def describe(e):
    """An exception as one line of text."""
    if isinstance(e, OSError):
        text = e.strerror or str(e)
        return f"{text}: {e.filename}" if e.filename else text
    return str(e) or type(e).__name__


def start(main, *, pid_ns=None, detached=False, role="child"):
    """Run main() in a child; return its pid once main() exec'd. role: who
    it is in `--explain` (nspod/steps.py)."""
    pid, messages = _launch(main, (), pid_ns, detached, role)
    _raise_error(messages, pid, reap=not detached)
    return pid


def call(main, *args, role="helper"):
    """main(*args) in a forked child (to change namespaces without changing
    ours); return what it returned (JSON-able)."""
    pid, messages = _launch(main, args, None, False, role)
    os.waitpid(pid, 0)
    _raise_error(messages, None, reap=False)
    for m in messages:
        if "result" in m:
            return m["result"]
    raise ChildFailed("Error", "the child process ended without a result")


class Job:
    """A child started by `begin`, for an event loop: `fd` (non-blocking)
    turns readable as it reports; `read()` is True once it has finished
    (end of file); then `result()` reaps it and returns what main() returned,
    or raises ChildFailed. `kill()` ends it early."""

    def __init__(self, pid, fd):
        self.pid = pid
        self.fd = fd
        self.data = b""

    def read(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            self.data += chunk

    def result(self):
        os.close(self.fd)
        os.waitpid(self.pid, 0)
        messages = [json.loads(line) for line in self.data.splitlines() if line.strip()]
        _raise_error(messages, None, reap=False)
        for m in messages:
            if "result" in m:
                return m["result"]
        raise ChildFailed("Error", "the child process ended without a result")

    def kill(self):
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self.fd)
        os.waitpid(self.pid, 0)


def begin(main, *args):
    """main(*args) in a forked child, without waiting for it (a Job). The child
    restores default signal handling and dies with its parent."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _run(_job_main, (main, args), w, "job")
    os.close(w)
    os.set_blocking(r, False)
    return Job(pid, r)


def _job_main(main, args):
    import signal

    from .process import restore_signals

    restore_signals()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # no exec follows: a closed socket is EPIPE, as in Python
    try:
        import prctl

        prctl.set_pdeathsig(signal.SIGKILL)  # a pull must not outlive its watchdog
    except ImportError:
        pass
    return main(*args)


def done():
    """In a child that will neither exec nor return: nothing more to report."""
    global _report_fd
    steps.drop()
    if _report_fd is not None:
        os.close(_report_fd)
        _report_fd = None


def close_other_fds(*keep):
    """In a child: close every fd above 2 except `keep` and the report pipe."""
    # The report pipe stays, and the --explain sink: it is close-on-exec (a
    # child that stays for long lets it go first: steps.drop()).
    keep = sorted({k for k in (*keep, _report_fd, steps.sink) if k is not None})
    low = 3
    for fd in keep + [65536]:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1


# -- the parent's side -----------------------------------------------------------------
def _launch(main, args, pid_ns, detached, role):
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        first = os.fork()
        if first == 0:
            os.close(r)
            if pid_ns is None and not detached:
                _run(main, args, w, role)
            _intermediate(main, args, w, pid_ns, detached, role)
        if steps.sink is not None:
            steps.tell_fork(first, role if pid_ns is None and not detached else f"{role}'s intermediate")
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        messages = [json.loads(line) for line in f.read().splitlines() if line.strip()]
    pid = first
    if pid_ns is not None or detached:
        os.waitpid(first, 0)  # the intermediate, gone once it reported the child
        pids = [m["pid"] for m in messages if "pid" in m]
        if not pids:
            errors = [m["error"] for m in messages if "error" in m]
            message = errors[0]["message"] if errors else "the intermediate process died"
            raise ChildFailed("StartError", f"could not fork the child: {message}")
        pid = pids[0]
    return pid, messages


def _raise_error(messages, pid, reap):
    for m in messages:
        if "error" in m:
            if reap and pid:
                try:
                    os.waitpid(pid, 0)  # our child (or re-parented to us): no zombie
                except ChildProcessError:
                    pass
            raise ChildFailed(m["error"]["reason"], m["error"]["message"])


# -- the child's side ------------------------------------------------------------------
def _send(fd, message):
    try:
        os.write(fd, json.dumps(message).encode() + b"\n")
    except OSError:
        pass


def _run(main, args, w, role):
    """The real child: run main, report what happened, never return."""
    global _report_fd
    _report_fd = w
    steps.become(role)
    code = 127
    try:
        result = main(*args)
        if _report_fd is not None:
            _send(_report_fd, {"result": result})
        code = 0
    except BaseException as e:  # any failure must reach the parent, not vanish
        if _report_fd is not None:
            _send(_report_fd, {"error": {"reason": getattr(e, "reason", "StartError"), "message": describe(e)}})
        else:
            print_traceback()
    os._exit(code)


def _intermediate(main, args, w, pid_ns, detached, role):
    code = 1
    steps.become(f"{role}'s intermediate")
    try:
        if detached:
            os.setsid()
        if pid_ns == "new":
            unshare("pid")
        elif pid_ns is not None:
            setns(pid_ns, "pid")
        pid = os.fork()
        if pid == 0:
            _run(main, args, w, role)
        if steps.sink is not None:
            steps.tell_fork(pid, role)
        _send(w, {"pid": pid})
        code = 0
    except BaseException as e:
        _send(w, {"error": {"reason": "StartError", "message": describe(e)}})
    os._exit(code)
