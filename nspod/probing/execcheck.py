"""exec checks: the command runs in the container, as `nspod exec` runs one
(its namespaces, its cgroup, its seccomp filter, user and capabilities, its
environment and working directory), with the probe's timeout.

nspod-exec (nspod/executor; the plan: container.exec_plan) joins the
container and forks the command with stdout and stderr on one pipe; it
collects at most 10 KiB of output (the kubelet's limit), kills the command
when the timeout ends, and reports {"code", "output", "timedOut"}. The loop
only watches its report pipe. Success is exit code 0; the output is what the command
wrote (the kubelet records it in the Unhealthy event); a timed-out command
is a failure with no output (ExecProbeTimeout: the kubelet's runtime
returns none for a timed-out exec).
"""
import json
import os
import selectors

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
        self.job = start(ctx, argv, timeout)
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
        return False, ""  # (nspod-exec kills the command itself; this is one that hung)

    def close(self):
        if self.job is not None:
            self.job.kill()
            self.job = None


class ExecJob(child.Job):
    """nspod-exec running a check or hook: result() is its outcome,
    {"code", "output", "timedOut"}. A command that could not be run (not
    found, a working directory missing) exited 127 or 126 with what stopped
    it as its output, as a runtime's exec reports it; ChildFailed when the
    container could not be joined (it is ending, say)."""

    def result(self):
        os.close(self.fd)
        os.waitpid(self.pid, 0)
        messages = [json.loads(line.decode("utf-8", "replace")) for line in self.data.splitlines() if line.strip()]
        errors = [m["error"]["message"] for m in messages if "error" in m]
        found = next((m["result"] for m in messages if "result" in m), None)
        if found is None:
            raise child.ChildFailed("Error", errors[0] if errors else "the exec process ended without a result")
        output = bytes.fromhex(found["outputHex"]).decode("utf-8", "replace")
        if errors:
            output += errors[0] + "\n"
        return {"code": found["code"], "output": output[:MAX_OUTPUT], "timedOut": found["timedOut"]}


def start(ctx, argv, timeout):
    """Run argv in the container (timeout None: as long as it runs, a hook)
    through nspod-exec: an ExecJob whose fd the loop watches."""
    from .. import executor
    from ..container import exec_plan

    fds = {kind: namespaces.open_ns(ctx.pid, kind) for kind in ctx.kinds}
    try:
        ops = exec_plan(ctx.spec, argv, [(k, fds[k]) for k in ctx.kinds], ctx.cgroup_procs, ctx.seccomp,
                        ctx.confinement, ctx.identity, ctx.image_config, collect=(timeout, MAX_OUTPUT))
        pid, r = executor.spawn(ops, "exec check", "exec check's intermediate")
    finally:
        for fd in fds.values():
            os.close(fd)
    os.set_blocking(r, False)
    return ExecJob(pid, r)
