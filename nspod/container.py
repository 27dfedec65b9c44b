"""Starting one container: the kernel steps, in order.

    fork (into the pod's PID namespace, or a new one)
    join the pause holder's net, ipc and uts namespaces
    new mount namespace, private propagation
    join the container's cgroup leaf
    root filesystem: tmpfs + read-only host dirs + /dev + /tmp
    the pod's /etc/hosts and /etc/resolv.conf over the host's
    volumes at their mountPaths (every target resolved inside the root)
    stdio to the output FIFOs
    /proc of the container's PID namespace, then pivot_root into the new root
    mask and make read-only the kernel paths containerd hides (/proc, /sys)
    drop privileges (bounding set, no_new_privs), working directory, environment
    seccomp filter (RuntimeDefault unless the securityContext says otherwise)
    execve

A failure at any step reaches the watchdog over the child's report pipe
(nspod/kernel/child.py; closed on exec), so it can tell "could not start" (a
Kubernetes StartError) from "exited".
"""
import os
import shutil
from dataclasses import dataclass

from .errors import NspodError
from .kernel import child, mounts, namespaces, process
from .kernel.process import restore_signals
from . import rootfs
from . import seccomp
from .net import hosts

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Plan:
    spec: object            # nspod.spec.Container
    root: str               # mount point for the container's root
    shm_dir: str
    volumes: dict           # volume name -> host path
    pod_ns: dict            # kind -> fd of the pause holder's namespace
    hostname: str
    stdout: str             # the container's output FIFOs (read by the watchdog)
    stderr: str
    cgroup: object = None   # the container's cgroup leaf (nspod.cgroups), if any
    etc_files: dict = None  # "/etc/hosts", "/etc/resolv.conf" -> the pod's own files (nspod.net.hosts)
    seccomp: object = seccomp.Seccomp("RuntimeDefault")  # the filter it gets (nspod.seccomp.Seccomp)


class StartError(NspodError):
    """The container process could not be started (reason, message as Kubernetes shows them)."""

    def __init__(self, reason, message):
        self.reason = reason
        super().__init__(message)


def start(plan, shared_pid_ns=None):
    """Fork and start the container; return its pid once it has exec'd.
    Raises StartError when a step before exec failed."""
    try:
        return child.start(lambda: _child(plan), pid_ns="new" if shared_pid_ns is None else shared_pid_ns)
    except child.ChildFailed as e:
        raise StartError(e.reason, str(e)) from None


def _child(plan):
    step = "start"
    try:
        restore_signals()
        step = "join the pod's namespaces"
        join_pod_namespaces(plan.pod_ns)
        step = "create a mount namespace"
        namespaces.unshare("mnt")
        mounts.make_private("/")
        step = "join the cgroup"
        join_cgroup(plan.cgroup)
        step = "build the root filesystem"
        rootfs.build(plan.root, plan.shm_dir)
        step = "mount /etc/hosts and /etc/resolv.conf"
        hosts.bind_into(plan.root, plan.etc_files)
        step = "mount volumes"
        for vm in plan.spec.volume_mounts:
            rootfs.mount_volume(plan.root, vm, str(plan.volumes[vm.name]))
        step = "open stdout and stderr"
        redirect_stdio(plan.stdout, plan.stderr)
        step = "mount /proc"
        # Before pivot_root: the kernel lets a user namespace mount proc only
        # while a fully visible proc is still mounted in the mount namespace.
        mounts.proc(f"{plan.root}/proc")
        step = "pivot_root"
        mounts.pivot_root(plan.root)
        step = "mask /proc and /sys paths"
        # After pivot_root, as runc does: the paths are the container's own
        # (its /proc just mounted, its /sys), and nothing outside is reachable.
        rootfs.confine_kernel_paths()
        step = "set up the process"
        env = environment(plan.spec, plan.hostname)
        argv = plan.spec.argv()
        process.restrict_privileges()
        workdir = plan.spec.working_dir or "/"
        os.makedirs(workdir, exist_ok=True)  # Kubernetes creates a missing workingDir
        os.chdir(workdir)
        step = "load the seccomp filter"  # last: the steps before need syscalls it forbids
        seccomp.confine(plan.seccomp)
        step = "exec"
        exe = resolve(argv[0], env["PATH"])
        os.execve(exe, argv, env)
    except StartError:
        raise
    except OSError as e:
        raise StartError("StartError", f"{step}: {e.strerror or e}" + (f": {e.filename}" if e.filename else "")) from None
    except BaseException as e:  # any failure must reach the watchdog, not vanish
        raise StartError("StartError", f"{step}: {e}") from None


def join_pod_namespaces(pod_ns):
    for kind in ("net", "ipc", "uts"):
        if kind in pod_ns:  # a hostNetwork pod has no net and uts of its own: we are in the node's
            namespaces.setns(pod_ns[kind], kind)


def join_cgroup(leaf):
    if leaf is not None:
        leaf.enter()  # before exec: the limits hold from the first instruction


def environment(spec, hostname):
    """A container's environment (for its command and for `exec`): a default
    PATH, HOSTNAME and HOME, then the manifest's env, $(VAR) expanded."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    env.update(spec.environment())
    return env


def redirect_stdio(out, err):
    # The FIFOs are opened read-write: the container itself then counts as a
    # reader, so if the watchdog dies its writes never fail with SIGPIPE; they
    # wait in the FIFO (and block once it is full) until a new watchdog reads.
    for fd, path, flags in ((0, "/dev/null", os.O_RDONLY), (1, out, os.O_RDWR), (2, err, os.O_RDWR)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)


def resolve(name, path):
    """The executable for argv[0], searched in PATH like execvp (message as runc words it)."""
    if "/" in name:
        if not os.path.exists(name):
            raise StartError("StartError", f'exec: "{name}": stat {name}: no such file or directory')
        return name
    found = shutil.which(name, path=path)
    if not found:
        raise StartError("StartError", f'exec: "{name}": executable file not found in $PATH')
    return found
