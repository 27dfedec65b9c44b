"""exec checks: the command runs in the container, as `nspod exec` runs one
(its namespaces, its cgroup, its seccomp filter, user and capabilities, its
environment and working directory), with the probe's timeout.

A forked child (nspod/kernel/child.py `begin`) joins the container and
forks the command with stdout and stderr on one pipe; it collects at most
10 KiB of output (the kubelet's limit), kills the command when the timeout
ends, and reports {"code", "output", "timedOut"}. The loop only watches the
child's report pipe. Success is exit code 0; the output is what the command
wrote (the kubelet records it in the Unhealthy event); a timed-out command
is a failure with no output (ExecProbeTimeout: the kubelet's runtime
returns none for a timed-out exec).
"""
import json
import os
import select
import selectors
import signal
import socket
import time

from ..kernel import child, namespaces

MAX_OUTPUT = 10 << 10


class ExecContext:
    """What a check needs of a running container instance, worked out once
    when it starts (nothing here changes while it runs)."""

    def __init__(self, pod, spec, pid, cgroup_procs, seccomp, confinement, identity, image_config):
        self.pid = pid
        self.spec = spec
        self.cgroup_procs = cgroup_procs
        self.seccomp = seccomp
        self.confinement = confinement
        self.identity = identity
        self.image_config = image_config
        kinds = ["user", "net", "ipc", "uts", "pid", "mnt"]
        # A namespace we share with it (ours, the node's user namespace; the
        # host network) cannot be joined again (setns: EINVAL): skip it.
        self.kinds = [k for k in kinds if namespaces.ns_id(pid, k) != namespaces.ns_id(os.getpid(), k)]

    @classmethod
    def of(cls, pod, spec, pid, uid, settings, leaf_record, security, image_config):
        from .. import confinement, seccomp

        conf = confinement.for_container(pod, spec, uid)
        started = json.loads(security) if security else {}
        if started.get("uid") is not None:
            identity = started["uid"], started["gid"], tuple(started.get("groups") or ())
        else:
            identity = conf.identity()[:3]
        procs = (leaf_record or {}).get("procs") or []
        config = json.loads(image_config) if image_config else None  # its Env and WorkingDir
        return cls(pod, spec, pid, procs, seccomp.for_container(pod, spec, settings), conf, identity, config)


class ExecCheck:
    """The loop's side: `fileno()` turns readable when the child reports."""

    events = selectors.EVENT_READ

    def __init__(self, ctx, argv, timeout):
        self.job = child.begin(run_in_container, ctx, argv, timeout)
        self.fd = self.job.fd  # (the loop unregisters it right after the report closed it)

    def fileno(self):
        return self.fd

    @property
    def pid(self):
        return self.job.pid

    def step(self):
        if not self.job.read():
            return None
        try:
            report = self.job.result()
        except child.ChildFailed as e:  # it could not join the container (it is ending, say)
            self.job = None
            return False, str(e)
        self.job = None
        if report["timedOut"]:  # the kubelet has no output of a command that timed out
            return False, ""
        return report["code"] == 0, report["output"]

    def timed_out(self):
        return False, ""  # (the child kills the command itself; this is a child that hung)

    def close(self):
        if self.job is not None:
            self.job.kill()
            self.job = None


def run_in_container(ctx, argv, timeout):
    """In the forked child: join the container, run argv, collect its output."""
    fds = {kind: namespaces.open_ns(ctx.pid, kind) for kind in ctx.kinds}
    for path in ctx.cgroup_procs:  # the container's cgroup: its limits hold for the probe too
        with open(path, "w") as f:
            f.write("0")
    for kind in ctx.kinds:  # the user namespace first: it grants joining the rest
        namespaces.setns(fds[kind], kind)
        os.close(fds[kind])
    r, w = os.pipe()
    pid = os.fork()  # the PID namespace applies to children only
    if pid == 0:
        os.close(r)
        _exec(ctx, argv, w)
    os.close(w)
    return _collect(pid, r, timeout)


def _exec(ctx, argv, out):
    from ..container import environment, resolve, set_identity
    from ..image.runtime import working_dir
    from ..seccomp import confine

    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        env = environment(ctx.spec, socket.gethostname(), ctx.image_config)
        os.chdir(working_dir(ctx.spec, ctx.image_config))
        confine(ctx.seccomp, ctx.confinement.caps, ctx.confinement.no_new_privs)
        set_identity(ctx.confinement, ctx.identity)
        _die_with_parent()  # after set_identity, which clears it: a check or hook cut off takes its command along
        os.execve(resolve(argv[0], env["PATH"]), argv, env)
    except Exception as e:  # as a runtime's exec reports it: on the output, exit 126/127
        os.write(2, f"{argv[0]}: {e}\n".encode())
        os._exit(127 if isinstance(e, FileNotFoundError) else 126)
    os._exit(126)


def _die_with_parent():
    import prctl

    prctl.set_pdeathsig(signal.SIGKILL)
    if os.getppid() == 1:  # (the parent was gone already)
        os._exit(137)


def _collect(pid, r, timeout):
    """timeout None: as long as it runs (a hook)."""
    pidfd = os.pidfd_open(pid)
    deadline = float("inf") if timeout is None else time.monotonic() + timeout
    output, ended, timed_out = b"", False, False
    while not ended:
        left = deadline - time.monotonic()
        if left <= 0:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            timed_out = True
            break
        ready, _, _ = select.select([r, pidfd], [], [], None if left == float("inf") else left)
        if r in ready:
            data = os.read(r, 65536)
            output += data[:max(0, MAX_OUTPUT - len(output))]
            if not data:  # every writer closed it: only the exit is left to wait for
                select.select([pidfd], [], [], None if timeout is None else max(0.0, deadline - time.monotonic()))
                ended = _exited(pidfd)
                if not ended:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    timed_out = True
                    break
        if pidfd in ready:
            ended = True
    if ended:  # what it wrote just before it ended
        os.set_blocking(r, False)
        try:
            output += os.read(r, max(1, MAX_OUTPUT - len(output)))[:max(0, MAX_OUTPUT - len(output))]
        except BlockingIOError:
            pass
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    code = code if code >= 0 else 128 - code
    return {"code": code, "output": output.decode("utf-8", "replace"), "timedOut": timed_out}


def _exited(pidfd):
    ready, _, _ = select.select([pidfd], [], [], 0)
    return bool(ready)
