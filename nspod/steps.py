"""`--explain`: every kernel step told as it is done, by the process doing it.

A step is told by the code that performs it (nspod/kernel, nspod/cgroups,
nspod/net), right after the call succeeded, and only while a sink is set:

    namespaces.unshare("mnt")  ->  if steps.sink is not None:
                                       steps.tell("unshare(CLONE_NEWNS)", by_hand="unshare --mount")

So the explanation cannot drift from the behaviour, and with no sink (no
--explain) a step costs that one test.

The sink is the write end of a pipe the CLI reads. The CLI passes it to the
supervisor with its request (SCM_RIGHTS), which sets it while it handles that
pod; the children it forks inherit it (it is close-on-exec: a container never
sees it). Each step is one JSON line written with one write(2) of at most
PIPE_BUF bytes, so the lines of different processes never interleave:

    {"pid": 4244, "role": "app", "ns": {"net": "net:[4026532301]", ...},
     "call": "setns(/proc/4243/ns/net, CLONE_NEWNET)", "result": "",
     "by_hand": "nsenter --target 4243 --net"}

The sink is non-blocking: a reader that falls behind loses steps, it never
holds a pod (the supervisor serves every pod of the user).
"""
import json
import os
import signal

sink = None      # fd of the pipe steps go to, or None: not explaining
role = "nspod"   # who this process is: "cli", "node", "watchdog", "pause", a container's name
_pid = None      # this process's pid as the host sees it (set by become)
_ns_paths = {}   # fd -> ("/proc/PID/ns/KIND", its id), for the namespace fds we opened (setns tells the path)
_known = {}      # kind -> the namespace we were last seen in (see _namespaces)

FIELD_MAX = 900  # bytes of one field: a line stays under PIPE_BUF (4096)
KINDS = ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")


def tell(call, result="", by_hand="", joined=None):
    """One step done: `call` as the kernel was asked, what came back, and the
    command a person could type to do the same. joined: {kind: id} of a
    namespace the step entered (/proc/self may not show it: see _namespaces)."""
    global sink
    step = {"pid": _pid or os.getpid(), "role": role, "ns": _namespaces(joined),
            "call": _cut(call), "result": _cut(str(result)), "by_hand": _cut(by_hand)}
    line = json.dumps(step).encode() + b"\n"
    # SIGPIPE blocked for the write: a child that restored the default
    # disposition (a container's, before exec) must not die of a reader gone.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    try:
        os.write(sink, line)
    except BlockingIOError:
        pass  # the reader fell behind: this step is lost, the pod is not held
    except OSError:
        sink = None  # the reader is gone (EPIPE): stop telling
        signal.sigtimedwait({signal.SIGPIPE}, 0)  # the signal it left pending, if not ignored
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def tell_fork(pid, child_role):
    tell("fork()", result=f"{pid} ({child_role})", by_hand="(a shell forks for every command it runs)")


def tell_exec(path, argv, env, result):
    import shlex

    tell(f"execve({path!r}, {argv!r}, {{{len(env)} variables}})", result=result, by_hand="exec " + shlex.join(argv))


def become(new_role):
    """A forked child says who it is (its first step is then told as it)."""
    global role, _pid
    if sink is None:
        return
    role = new_role
    _pid = _host_pid()


def explaining(fd, new_role):
    """Set the sink (or None) and role for what follows; returns what was set
    before, for `restore`."""
    global sink, role, _pid
    before = (sink, role, _pid)
    sink, role, _pid = fd, new_role, None
    return before


def restore(before):
    global sink, role, _pid
    sink, role, _pid = before
    if sink is None:
        _ns_paths.clear()  # (a long-lived supervisor keeps no names between commands)


def drop():
    """In a child that stays (neither execs nor returns soon): let the sink go,
    so the reader is not kept waiting for its end."""
    global sink
    if sink is not None:
        try:
            os.close(sink)
        except OSError:
            pass
        sink = None


def name_fd(fd, path):
    """A namespace fd was opened from path: setns can then say which."""
    if sink is not None:
        _ns_paths[fd] = (path, fd_target(fd))


def fd_name(fd):
    """The path an fd was opened from, if we saw it opened and the fd still
    names that namespace (fd numbers are reused), else what it names."""
    target = fd_target(fd)
    path, opened = _ns_paths.get(fd, (None, None))
    return path if opened == target else target


def fd_target(fd):
    """What fd names ("net:[4026532301]", a path), if /proc can still say:
    after joining a container's mounts, /proc is its own and knows us not."""
    return _readlink(f"/proc/self/fd/{fd}") or f"fd {fd}"


def shown_path(path):
    """A path for the reader: an fd path (mounts made through an fd found
    inside the container's root) with what it names."""
    if path and str(path).startswith("/proc/self/fd/"):
        target = _readlink(path)
        return f"{path} ({target})" if target else str(path)
    return path


def open_sink():
    """(read end, write end) of a new step pipe; the write end non-blocking
    and close-on-exec, 1 MiB where the kernel allows it."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        import fcntl

        fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
    except OSError:
        pass  # (pipe-max-size or the user's pipe pages): the default 64 KiB
    os.set_blocking(w, False)
    return r, w


def flag_names(flags, names):
    """"CLONE_NEWNET|CLONE_NEWIPC" from a bit mask and {bit: name}."""
    return "|".join(name for bit, name in names.items() if flags & bit) or "0"


def _namespaces(joined=None):
    """Our namespaces. Once a process has joined a container's mount namespace
    its /proc is the container's, where it has no entry (another PID
    namespace): then the last ones read, with those it joined since."""
    for kind in KINDS:
        found = _readlink(f"/proc/self/ns/{kind}")
        if found:
            _known[kind] = found
    _known.update(joined or {})
    return dict(_known)


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _host_pid():
    """Our pid in the outermost PID namespace /proc shows (NSpid's first field):
    a container's child is PID 1 of its own namespace, but the reader knows
    it by the host's number."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return os.getpid()


def _cut(text):
    return text if len(text) <= FIELD_MAX else text[:FIELD_MAX - 1] + "…"
