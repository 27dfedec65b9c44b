"""Processes: identity that survives pid reuse, signals, process control."""
import os
import signal

from .. import steps


def send_signal(pidfd, sig, pid=None):
    """Signal the process behind pidfd (raises ProcessLookupError once it has ended)."""
    signal.pidfd_send_signal(pidfd, sig)
    if steps.sink is not None:
        name = signal.Signals(sig).name
        steps.tell(f"pidfd_send_signal({f'pidfd of {pid}' if pid else 'pidfd'}, {name})",
                   by_hand=f"kill -{name.removeprefix('SIG')} {pid or 'PID'}")


def _stat(pid):
    """The fields of /proc/PID/stat from the state on (field 3), or None if
    it is gone. The command name before them may hold spaces and
    parentheses: they are split after the last ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def start_time(pid):
    """Kernel start time of pid (clock ticks since boot), or None if gone.
    A (pid, start_time) pair names one process even after the pid is reused."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def parent_of(pid):
    """The parent pid of pid, or None if it is gone."""
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def alive(pid, started):
    """True iff the process (pid, started) still exists. A zombie (Z) or a
    process its parent is reaping this instant (X) has ended."""
    fields = _stat(pid) if pid else None
    return bool(fields) and int(fields[19]) == started and fields[0] not in (b"Z", b"X", b"x")


def kill(pid, started, sig=signal.SIGKILL):
    """Signal the process (pid, started) if it is still that process."""
    fd = pidfd(pid, started)
    if fd is None:
        return False
    try:
        send_signal(fd, sig, pid)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def pidfd(pid, started):
    """A pidfd for the process (pid, started), or None if it is gone. Once
    open, the fd names that process even if the pid is reused."""
    if not pid:
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if start_time(pid) != started:  # checked after opening: from here on the fd pins it
        os.close(fd)
        return None
    return fd


def kill_and_wait(procs, sig=signal.SIGKILL, timeout=10.0):
    """Signal each process (pid, started) and wait until all have ended.
    A pidfd turns readable when its process has exited: that is the end we
    wait for (the /proc entry may linger as a zombie, or be mid-reap, 'X').
    Returns the processes still running after `timeout` (normally [])."""
    import select
    import time

    fds = {}
    for pid, started in procs:
        fd = pidfd(pid, started)
        if fd is None:
            continue
        try:
            send_signal(fd, sig, pid)
        except ProcessLookupError:
            pass  # exited already: its fd is readable
        fds[fd] = (pid, started)
    deadline = time.monotonic() + timeout
    try:
        pending = set(fds)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(pending), [], [], left)
            pending -= set(ready)
        return [fds[fd] for fd in pending]
    finally:
        for fd in fds:
            os.close(fd)


def set_name(name):
    """Name the process as ps and top show it (comm, 15 bytes) and its argv."""
    import prctl

    prctl.set_name(name[:15])
    try:
        prctl.set_proctitle(name)
    except Exception:  # proctitle needs argv space; the short name is enough
        pass


def yield_on_wakeup():
    """Make this process SCHED_BATCH, when it runs at the normal policy
    (SCHED_OTHER). A batch process that is woken (a child's exit, a spawned
    child past exec's point of no return) does not preempt the process
    running on that CPU: it waits for an idle CPU or the next tick. For the
    supervisor that is what a restart needs: its bookkeeping after a spawn
    no longer runs ahead of the container being started on the same CPU.
    A child keeps the policy (SCHED_RESET_ON_FORK resets only real-time
    ones): what we os.fork goes back to SCHED_OTHER (an at-fork hook), and
    nspod-exec puts itself back before it starts anything; the helpers
    started by posix_spawn or a plain subprocess (a terminal's holder,
    newuidmap, zstd) stay batch. Returns the kernel's refusal, if any: a
    cost in time only."""
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        return None  # (started under chrt: the user's choice stands)
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError as e:
        return e
    os.register_at_fork(after_in_child=_normal_policy)
    return None


def _normal_policy():
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except OSError:
        pass  # (it stays batch: slower to be scheduled, nothing else)


def die_with_parent():
    """SIGKILL when the parent (the thread that forked us, whatever it execs
    into) ends: for a helper whose life is its parent's."""
    import prctl

    prctl.set_pdeathsig(signal.SIGKILL)


def become_subreaper():
    """Orphaned descendants are re-parented to us, so we can wait for them."""
    import prctl

    prctl.set_child_subreaper(1)


def restore_signals():
    """Undo what the Python parent set: ignored signals stay ignored across
    exec (Python ignores SIGPIPE), and a forked child inherits the wakeup fd."""
    import signal as sig

    sig.set_wakeup_fd(-1)
    for s in (sig.SIGPIPE, sig.SIGXFSZ, sig.SIGTERM, sig.SIGINT, sig.SIGCHLD, sig.SIGHUP):
        sig.signal(s, sig.SIG_DFL)
    sig.pthread_sigmask(sig.SIG_SETMASK, [])
