"""Starting one container: the kernel steps, in order.

start_plan writes them as a plan (every decision that needs no view from
inside the container is made here); nspod-exec, in C (nspod/executor),
performs them and execs the command, looking up everything inside the
container's root as it mounts.

    fork (into the pod's PID namespace, or a new one)
    join the pause holder's net, ipc and uts namespaces
    new mount namespace, private propagation
    join the container's cgroup leaf
    root filesystem: tmpfs + read-only host dirs + /dev + /tmp (a process container),
                     or this instance's overlay (or copy) of its image + /dev (nspod/image);
                     every mount nodev but devpts and the bound default device nodes,
                     unless privileged
    the host's devices in /dev (privileged)
    the image's /etc/passwd and /etc/group, read inside its root (an image's user and groups)
    the pod's /etc/hosts and /etc/resolv.conf over the host's
    volumes at their mountPaths (every target resolved inside the root)
    stdio to the output FIFOs (stdin: /dev/null, or its stdin FIFO with `stdin: true`)
    /proc of the container's PID namespace, then pivot_root into the new root
    mask and make read-only the kernel paths containerd hides (/proc, /sys),
        unless privileged or procMount: Unmasked
    the root read-only (securityContext.readOnlyRootFilesystem)
    working directory, environment
    a terminal (`tty: true`): a pty of its own /dev/pts becomes its stdio and
        controlling terminal; the master goes back to the watchdog (SCM_RIGHTS)
    seccomp filter (RuntimeDefault unless the securityContext says otherwise)
    the user it runs as, its groups and capabilities, no_new_privs
    execve

A failure at any step reaches the watchdog over nspod-exec's report pipe
(nspod/kernel/child.py's format; closed on exec), so it can tell "could not
start" (a Kubernetes StartError) from "exited".
"""

from . import capabilities, executor, steps
from .confinement import Confinement, NonRootRefused
from .record import record
from .errors import NspodError
from .kernel import child, mounts
from .kernel import seccomp as libseccomp
from . import rootfs
from .image import runtime
from . import seccomp
from .net import hosts

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@record
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
    image: dict = None      # an image's: {"rootfs": its root (image/api.py prepare), "config": runtime config}
    confinement: Confinement = Confinement()  # user, capabilities, no_new_privs, read-only root (nspod.confinement)
    host_pid: bool = False  # spec.hostPID: stay in the node's PID namespace
    stdin: str = None       # `stdin: true`: its stdin FIFO (nspod/console.py), else /dev/null
    stdin_once: bool = False  # open the FIFO read-only: the watchdog's close is its end of file
    console: object = None  # `tty: true`: the socket the pty master is sent back on
    host_secrets: list = None  # as root: rootfs.find_host_secrets(), walked once a pod (None: walk now)


class StartError(NspodError):
    """The container process could not be started (reason, message as Kubernetes shows them)."""

    def __init__(self, reason, message):
        self.reason = reason
        super().__init__(message)


def start(plan, shared_pid_ns=None, plans=None):
    """Start the container from its plan; return its pid once it has
    exec'd. Raises StartError when a step before exec failed."""
    return begin(plan, shared_pid_ns, plans).wait()


def begin(plan, shared_pid_ns=None, plans=None):
    """Spawn nspod-exec for the container: a handle whose wait() returns its
    pid once it has exec'd, or raises StartError (so does begin, for a plan
    that cannot be made). plans: a dict the caller keeps per pod, where a
    restart finds the start plan of the instance before when nothing it was
    made from changed (reusable)."""
    if plan.host_pid:
        pid_ns = None  # the supervisor's: the node's
    else:
        pid_ns = "new" if shared_pid_ns is None else shared_pid_ns
    key = reusable(plan, pid_ns)
    found = plans.get(plan.spec.name) if plans is not None and key is not None else None
    if found is not None and found[0] == key:
        ops = found[1]
    else:
        ops = start_plan(plan, pid_ns)
        if plans is not None and key is not None:
            plans[plan.spec.name] = (key, ops)
    try:
        return _Starting(executor.Starting(ops, role=plan.spec.name, intermediate=pid_ns is not None))
    except child.ChildFailed as e:
        raise StartError(e.reason, str(e)) from None


class _Starting:
    """executor.Starting, its failures as StartError."""

    def __init__(self, starting):
        self.starting = starting

    def wait(self):
        try:
            return self.starting.wait()
        except child.ChildFailed as e:
            raise StartError(e.reason, str(e)) from None


def reusable(plan, pid_ns):
    """What a start plan was made from, when a restart may reuse it: not
    with an image (each instance has its own upper layer), a terminal (a new
    socket each time), --explain (a sink of its own) or privileged (the
    host's devices are walked at each start); else None. The spec counts
    by identity (a pod's is loaded once). The host's
    directories (rootfs.HOST_DIRS: a link, a directory or missing) are
    then read at the pod's first start, as a root pod's secrets are."""
    if plan.image or plan.console is not None or steps.sink is not None or plan.confinement.privileged:
        return None
    cgroup = tuple(plan.cgroup.procs_files()) if plan.cgroup is not None else ()
    return (id(plan.spec), plan.root, str(plan.shm_dir), tuple(sorted(plan.volumes.items())),
            tuple(sorted(plan.pod_ns.items())), plan.hostname, plan.stdout, plan.stderr, cgroup,
            tuple(sorted((plan.etc_files or {}).items())), plan.seccomp, plan.confinement, plan.host_pid,
            plan.stdin, plan.stdin_once, id(plan.host_secrets), pid_ns)


def start_plan(plan, pid_ns):
    """The container's start as the operations nspod-exec performs, in
    order (nspod/executor): everything decided here that needs no view from
    inside the container; lookups inside its root are done there. Raises
    StartError for what is wrong before anything runs."""
    ops = executor.Ops()
    step = "start"
    try:
        if steps.sink is not None:
            ops.add("explain", ops.fd(steps.sink), plan.spec.name)
        if pid_ns is None or pid_ns == "new":
            ops.add("pidns", pid_ns or "none")
        else:
            ops.add("pidns", ops.fd(pid_ns))
        step = ops.step("join the pod's namespaces")
        # mnt first: the pod's (its tmpfs volumes and /dev/shm); the
        # container's own is made next as a copy of it.
        for kind in ("mnt", "net", "ipc", "uts"):
            if kind in plan.pod_ns:  # a hostNetwork pod has no net and uts of its own
                fd = plan.pod_ns[kind]
                ops.add("setns", ops.fd(fd), kind, steps.fd_name(fd) if steps.sink is not None else "")
        step = ops.step("create a mount namespace")
        ops.add("unshare", "mnt")
        ops.add("private")
        if plan.cgroup is not None:
            step = ops.step("join the cgroup")  # before exec: the limits hold from the first instruction
            ops.add("cgroup", *plan.cgroup.procs_files())
        step = ops.step("build the root filesystem")
        privileged = plan.confinement.privileged
        if plan.image:
            rootfs.build_image(ops, plan.root, plan.image["rootfs"], plan.shm_dir, privileged=privileged)
        else:
            rootfs.build(ops, plan.root, plan.shm_dir, privileged=privileged, host_secrets=plan.host_secrets)
        if privileged:
            step = ops.step("add the host's devices")
            rootfs.add_host_devices(ops, plan.root)
        if plan.image:
            step = ops.step("read the image's /etc/passwd and /etc/group")
            ops.add("accounts", plan.root)  # before volumes and /proc: the image's own files
        step = ops.step("mount /etc/hosts and /etc/resolv.conf")
        hosts.bind_into(ops, plan.root, plan.etc_files, create=bool(plan.image))
        step = ops.step("mount volumes")
        for vm in plan.spec.volume_mounts:
            rootfs.mount_volume(ops, plan.root, vm, str(plan.volumes[vm.name]), privileged)
        step = ops.step("open stdout and stderr")
        ops.add("stdio", plan.stdout, plan.stderr, plan.stdin, plan.stdin_once)
        step = ops.step("mount /proc")
        # Before pivot_root: the kernel lets a user namespace mount proc only
        # while a fully visible proc is still mounted in the mount namespace.
        if plan.host_pid and not rootfs.host_root():
            # Rootless, the node's PID namespace belongs to the host's user
            # namespace: no proc of it can be mounted here. The host's /proc
            # is bound instead, as rootless Podman does with --pid=host.
            ops.add("bind", "/proc", f"{plan.root}/proc", False, True, True)
        else:
            ops.add("mount", "proc", f"{plan.root}/proc", "proc", mounts.MS_NOSUID | mounts.MS_NODEV | mounts.MS_NOEXEC, "")
        step = ops.step("pivot_root")
        ops.add("pivot", plan.root)
        if plan.confinement.masks_kernel_paths:  # (not privileged, nor procMount: Unmasked)
            step = ops.step("mask /proc and /sys paths")
            # After pivot_root, as runc does: the paths are the container's own
            # (its /proc just mounted, its /sys), and nothing outside is reachable.
            ops.add("kernelpaths", *(part for pair in rootfs.KERNEL_PATHS for part in pair))
        if plan.confinement.read_only_root:
            step = ops.step("make the root read-only")
            ops.add("readonlyroot", not plan.image)
        step = ops.step("set up the process")
        config = plan.image["config"] if plan.image else None
        home = container_identity(ops, plan)
        env = environment(plan.spec, plan.hostname, config, home=home)
        argv = runtime.process_args(plan.spec, config) if plan.image else plan.spec.argv()
        add_env(ops, env)
        ops.add("workdir", runtime.working_dir(plan.spec, config))  # made if missing, as Kubernetes does
        if plan.console is not None:
            step = ops.step("make its terminal")
            ops.add("tty", ops.fd(plan.console.fileno()))
        step = ops.step("load the seccomp filter")  # the steps before need syscalls it forbids
        add_confinement(ops, plan.seccomp, plan.confinement)  # (runc's order too)
        step = ops.step("exec")
        ops.add("exec", *argv)
        return ops
    except StartError:
        raise
    except (NonRootRefused, runtime.CreateContainerError) as e:
        raise StartError(e.reason, str(e)) from None
    except OSError as e:
        raise StartError("StartError", f"{step}: {e.strerror or e}" + (f": {e.filename}" if e.filename else "")) from None
    except Exception as e:
        raise StartError("StartError", f"{step}: {e}") from None


def exec_plan(spec, argv, joins, cgroup_procs, seccomp_filter, confinement, identity, image_config=None,
              stdin=True, tty=None, collect=None):
    """A command run in a running container (`nspod exec`, exec checks and
    hooks) as the operations nspod-exec performs: into its cgroup, join its
    namespaces (joins: [(kind, fd)], the user namespace first), fork (a PID
    namespace applies to children) and wait, then its environment, working
    directory, seccomp filter, user and capabilities, as its container got
    them (identity: (uid, gid, groups) it started with). stdin False:
    /dev/null; tty: the socket a pty master goes back on. The exit status of
    what we spawn is the command's (126: it could not be run, 127: not
    found). collect (timeout in seconds or None, most bytes kept): an exec
    check's or hook's: its output on a pipe nspod-exec reads, its outcome
    reported (executor main.c fork_and_collect), the command killed with it."""
    ops = executor.Ops()
    if steps.sink is not None:
        ops.add("explain", ops.fd(steps.sink), "exec command", "exec")
    if cgroup_procs:
        ops.step("join the container's cgroup")  # its limits hold for what exec runs
        ops.add("cgroup", *cgroup_procs)
    ops.step("join the container's namespaces")
    for kind, fd in joins:
        ops.add("setns", ops.fd(fd), kind, steps.fd_name(fd) if steps.sink is not None else "")
    if collect is not None:
        timeout, most = collect
        ops.add("fork", "collect", -1 if timeout is None else int(timeout * 1000), most)
    else:
        ops.add("fork", "wait")
    uid, gid, groups = identity
    ops.add("ids", uid, gid, ",".join(map(str, groups)), "/")
    ops.step("set up the process")
    if tty is not None:
        ops.add("tty", ops.fd(tty))  # a pty of the container's own /dev/pts
    elif not stdin and collect is None:  # (collect: /dev/null already)
        ops.add("nullstdin")
    # HOSTNAME: ours once in the pod's uts namespace (nspod-exec fills it in).
    add_env(ops, environment(spec, HOSTNAME_HERE, image_config))
    ops.add("chdir", runtime.working_dir(spec, image_config))
    add_confinement(ops, seccomp_filter, confinement)  # as in the container
    if collect is not None:  # a check or hook cut off takes its command along (after the user step, which clears it)
        ops.add("pdeathsig")
    ops.step("exec")
    ops.add("exec", *argv)
    return ops


HOSTNAME_HERE = object()  # HOSTNAME is the pod's, which nspod-exec reads in its uts namespace
HOME_OF_USER = object()  # HOME is the passwd entry's, which nspod-exec reads in the image


def add_env(ops, env):
    """The `env` operation: the variables, and where nspod-exec fills in
    HOME (HOME_OF_USER) and HOSTNAME (HOSTNAME_HERE) once it knows them."""
    values = list(env.values())
    where = [next((i for i, v in enumerate(values) if v is mark), -1) for mark in (HOME_OF_USER, HOSTNAME_HERE)]
    ops.add("env", *where, *(f"{k}={'' if v in (HOME_OF_USER, HOSTNAME_HERE) else v}" for k, v in env.items()))


def add_confinement(ops, seccomp_filter, confinement):
    """The seccomp filter (before the user step: without no_new_privs,
    loading it needs CAP_SYS_ADMIN, which that step drops), then the user,
    groups and capabilities with no_new_privs."""
    program = seccomp.program(seccomp_filter, confinement.caps)
    if program is not None:
        code, flags = program
        ops.add("seccomp", sum(libseccomp.FLAGS[f] for f in flags), "|".join(flags), confinement.no_new_privs,
                code.hex())
    ops.step("set the user and capabilities")
    ops.add("caps", confinement.no_new_privs, confinement.privileged,
            *(f"{capabilities.NUMBERS[c]}={c}" for c in confinement.caps))


def environment(spec, hostname, image_config=None, home="/root"):
    """A container's environment (for its command and for `exec`): a default
    PATH, HOSTNAME and HOME, then the image's Env, then the manifest's env,
    $(VAR) expanded (from the manifest's env only, as the kubelet does)."""
    defaults = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": home}
    return runtime.environment(defaults, image_config, spec.environment())


def container_identity(ops, plan):
    """Who the container runs as: the one place that decides it (with
    nspod/confinement.py), from the securityContext over the image's User and
    its /etc/passwd and /etc/group, which nspod-exec reads inside the root
    (the `identity` operation). A process container has no image: uid 0
    unless runAsUser, HOME /root. Returns HOME, or HOME_OF_USER when the
    image's passwd entry decides it. Raises NonRootRefused and
    runtime.CreateContainerError."""
    if not plan.image:
        uid, gid, groups, home = plan.confinement.identity()
        ops.add("ids", uid, gid, ",".join(map(str, groups)), "/root")
        return "/root"
    user = plan.confinement.user_to_find(runtime.image_user((plan.image["config"] or {}).get("User")))
    run_as_group = plan.confinement.run_as_group
    ops.add("identity", user, isinstance(user, str), -1 if run_as_group is None else run_as_group,
            ",".join(map(str, plan.confinement.supplemental_groups)))
    return HOME_OF_USER
