"""nspod-exec: the container start path in C, and how Python starts it.

The supervisor plans a container's start as data (nspod/container.py
start_plan): a list of operations, each a name and its arguments, in the
order of the kernel steps. `nspod-exec` (main.c and its files here, built by
scripts/setup) performs them and execs the container's command. Every
lookup that depends on what is inside the container's root (volume targets,
/etc/hosts, masks, the image's /etc/passwd) happens there, as the mounts
are made. Why: a restart forked the supervisor's CPython twice and ran
these steps in it (docs/ARCHITECTURE.md, "One pod's memory").

    ops = Ops()
    ops.add("unshare", "mnt")                 one operation
    ops.add("setns", ops.fd(fd), "net", "")   an fd the executor inherits
    pid = start(ops, role="app")              its pid once it has exec'd

posix_spawn(3) starts it: glibc's is clone(CLONE_VM|CLONE_VFORK), which
copies none of the supervisor's memory. Its report pipe speaks
nspod/kernel/child.py's format, so a failure before exec is
ChildFailed(reason, message) as before.
"""
import json
import os

from .. import steps
from ..kernel.child import ChildFailed

EXECUTABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nspod-exec")


class Ops:
    """A start plan being written: NAME\\0 ARGC\\0 ARG\\0 ... per operation."""

    def __init__(self):
        self._parts = []
        self.fds = []  # fds the executor must inherit (at the same numbers)

    def add(self, name, *args):
        self._parts.append(name.encode())
        self._parts.append(str(len(args)).encode())
        for arg in args:
            self._parts.append(_encode(arg))

    def step(self, label):
        """Name what follows, for a failure's message ("mount volumes: ...")."""
        self.add("step", label)
        return label

    def fd(self, fd):
        if fd not in self.fds:
            self.fds.append(fd)
        return fd

    def encode(self):
        return b"\0".join(self._parts) + b"\0"

    def operations(self):
        """[(name, [args])]: the plan as a reader (and a test) sees it."""
        parts, out, i = [p.decode(errors="surrogateescape") for p in self._parts], [], 0
        while i < len(parts):
            n = int(parts[i + 1])
            out.append((parts[i], parts[i + 2:i + 2 + n]))
            i += 2 + n
        return out


def _encode(arg):
    if isinstance(arg, bool):
        data = b"1" if arg else b"0"
    elif arg is None:
        data = b""
    elif isinstance(arg, bytes):
        data = arg
    else:
        data = os.fsencode(str(arg))
    if b"\0" in data:
        # No path, argument or variable can hold a NUL (the kernel's
        # strings end there); refuse it rather than cut it.
        raise ValueError(f"{data[:60]!r}: a NUL byte cannot be passed to the kernel")
    return data


def spawn(ops, role, intermediate):
    """Start nspod-exec with this plan: (its pid, the read end of its report
    pipe). role, intermediate: who it is and whether it forks (for --explain)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    plan = os.memfd_create("nspod-start-plan", os.MFD_CLOEXEC)
    try:
        data = memoryview(ops.encode())
        while data:
            data = data[os.write(plan, data):]
        # dup2 onto the same number clears close-on-exec in the child only
        # (glibc >= 2.29): the supervisor's fds stay close-on-exec.
        keep = [(os.POSIX_SPAWN_DUP2, fd, fd) for fd in (w, plan, *ops.fds)]
        try:
            pid = os.posix_spawn(EXECUTABLE, ["nspod-exec", str(w), str(plan)], {}, file_actions=keep)
        except FileNotFoundError:
            os.close(r)
            raise ChildFailed("StartError", f"{EXECUTABLE} is missing: build it with scripts/setup") from None
        if steps.sink is not None:
            steps.tell(f"posix_spawn({EXECUTABLE!r}, start plan of {len(ops.operations())} operations)",
                       result=f"{pid} ({intermediate or role})",
                       by_hand="(no shell command: nspod-exec performs the steps below from its plan)")
    finally:
        os.close(w)
        os.close(plan)
    return pid, r


def read_report(r):
    """Everything nspod-exec said, once its report pipe closed (its command
    runs, or it failed): [message] (nspod/kernel/child.py's format)."""
    with os.fdopen(r, "rb") as f:  # (what is not UTF-8 is replaced: nspod-exec escapes it already)
        return [json.loads(line.decode("utf-8", "replace")) for line in f.read().splitlines() if line.strip()]


class Starting:
    """A container's nspod-exec, spawned: wait() returns the container's pid
    once its command runs (the caller may do other work meanwhile), or
    raises ChildFailed for a failure before exec. intermediate: the plan
    enters a PID namespace (`pidns` new or an fd), so what we spawned forks
    the container's process, reports its pid and exits."""

    def __init__(self, ops, role, intermediate):
        self.intermediate = intermediate
        self.first, self.report = spawn(ops, role, f"{role}'s intermediate" if intermediate else None)

    def wait(self):
        messages = read_report(self.report)
        errors = [m["error"] for m in messages if "error" in m]
        pid = self.first
        if self.intermediate:
            os.waitpid(self.first, 0)  # gone once it reported the child (or failed)
            pid = next((m["pid"] for m in messages if "pid" in m), None)
            if pid is None:
                message = errors[0]["message"] if errors else "could not fork the child: the intermediate process died"
                raise ChildFailed("StartError", message)
        if errors:
            try:
                os.waitpid(pid, 0)  # ours, or re-parented to us (a child subreaper): no zombie
            except ChildProcessError:
                pass
            raise ChildFailed(errors[0]["reason"], errors[0]["message"])
        return pid
