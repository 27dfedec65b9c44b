"""Starting one container: the kernel steps, in order.

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
    the user it runs as, its groups and capabilities, no_new_privs (set_identity)
    execve

A failure at any step reaches the watchdog over the child's report pipe
(nspod/kernel/child.py; closed on exec), so it can tell "could not start" (a
Kubernetes StartError) from "exited".
"""
import os
import stat

from . import capabilities, steps
from .confinement import Confinement, NonRootRefused
from .paths import which
from .record import record
from .errors import NspodError
from .kernel import caps as kernel_caps
from .kernel import child, inroot, mounts, namespaces
from .kernel.process import restore_signals
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


class StartError(NspodError):
    """The container process could not be started (reason, message as Kubernetes shows them)."""

    def __init__(self, reason, message):
        self.reason = reason
        super().__init__(message)


def start(plan, shared_pid_ns=None):
    """Fork and start the container; return its pid once it has exec'd.
    Raises StartError when a step before exec failed."""
    if plan.host_pid:
        pid_ns = None  # the watchdog's: the node's
    else:
        pid_ns = "new" if shared_pid_ns is None else shared_pid_ns
    try:
        return child.start(lambda: _child(plan), pid_ns=pid_ns, role=plan.spec.name)
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
        privileged = plan.confinement.privileged
        if plan.image:
            rootfs.build_image(plan.root, plan.image["rootfs"], plan.shm_dir, privileged=privileged)
        else:
            rootfs.build(plan.root, plan.shm_dir, privileged=privileged)
        if privileged:
            step = "add the host's devices"
            rootfs.add_host_devices(plan.root)
        accounts = None
        if plan.image:
            step = "read the image's /etc/passwd and /etc/group"
            accounts = image_accounts(plan.root)  # before volumes and /proc: the image's own files
        step = "mount /etc/hosts and /etc/resolv.conf"
        hosts.bind_into(plan.root, plan.etc_files, create=bool(plan.image))
        step = "mount volumes"
        for vm in plan.spec.volume_mounts:
            rootfs.mount_volume(plan.root, vm, str(plan.volumes[vm.name]), privileged)
        step = "open stdout and stderr"
        redirect_stdio(plan.stdout, plan.stderr, plan.stdin, plan.stdin_once)
        step = "mount /proc"
        # Before pivot_root: the kernel lets a user namespace mount proc only
        # while a fully visible proc is still mounted in the mount namespace.
        if plan.host_pid and not rootfs.host_root():
            # Rootless, the node's PID namespace belongs to the host's user
            # namespace: no proc of it can be mounted here. The host's /proc
            # is bound instead, as rootless Podman does with --pid=host.
            mounts.bind("/proc", f"{plan.root}/proc", nodev=True)
        else:
            mounts.proc(f"{plan.root}/proc")
        step = "pivot_root"
        mounts.pivot_root(plan.root)
        if plan.confinement.masks_kernel_paths:  # (not privileged, nor procMount: Unmasked)
            step = "mask /proc and /sys paths"
            # After pivot_root, as runc does: the paths are the container's own
            # (its /proc just mounted, its /sys), and nothing outside is reachable.
            rootfs.confine_kernel_paths()
        if plan.confinement.read_only_root:
            step = "make the root read-only"
            rootfs.make_root_readonly(own_tmp=not plan.image)
        step = "set up the process"
        uid, gid, groups, home = container_identity(plan, accounts)
        config = plan.image["config"] if plan.image else None
        env = environment(plan.spec, plan.hostname, config, home=home)
        argv = runtime.process_args(plan.spec, config) if plan.image else plan.spec.argv()
        workdir = runtime.working_dir(plan.spec, config)
        os.makedirs(workdir, exist_ok=True)  # Kubernetes creates a missing workingDir
        os.chdir(workdir)
        if plan.console is not None:
            step = "make its terminal"
            make_terminal(plan.console, uid, gid)
        step = "load the seccomp filter"  # the steps before need syscalls it forbids
        # Before the user and capabilities: without no_new_privs (allowPrivilegeEscalation:
        # true) loading it needs CAP_SYS_ADMIN, which they drop (runc's order then too).
        seccomp.confine(plan.seccomp, plan.confinement.caps, plan.confinement.no_new_privs)
        step = "set the user and capabilities"
        set_identity(plan.confinement, (uid, gid, groups))
        step = "exec"
        exe = resolve(argv[0], env["PATH"])
        if steps.sink is not None:
            steps.tell_exec(exe, argv, env, "(no return: the container runs)")
        os.execve(exe, argv, env)
    except StartError:
        raise
    except NonRootRefused as e:
        raise StartError(e.reason, str(e)) from None
    except runtime.CreateContainerError as e:
        raise StartError(e.reason, str(e)) from None
    except OSError as e:
        raise StartError("StartError", f"{step}: {e.strerror or e}" + (f": {e.filename}" if e.filename else "")) from None
    except BaseException as e:  # any failure must reach the watchdog, not vanish
        raise StartError("StartError", f"{step}: {e}") from None


def join_pod_namespaces(pod_ns):
    # mnt first: the pod's (its tmpfs volumes and /dev/shm); the container's
    # own is made next as a copy of it.
    for kind in ("mnt", "net", "ipc", "uts"):
        if kind in pod_ns:  # a hostNetwork pod has no net and uts of its own: we are in the node's
            namespaces.setns(pod_ns[kind], kind)


def join_cgroup(leaf):
    if leaf is not None:
        leaf.enter()  # before exec: the limits hold from the first instruction


def environment(spec, hostname, image_config=None, home="/root"):
    """A container's environment (for its command and for `exec`): a default
    PATH, HOSTNAME and HOME, then the image's Env, then the manifest's env,
    $(VAR) expanded (from the manifest's env only, as the kubelet does)."""
    defaults = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": home}
    return runtime.environment(defaults, image_config, spec.environment())


def container_identity(plan, accounts=None):
    """(uid, gid, groups, home) the container runs as: the one place that
    decides it (nspod/confinement.py identity), from the securityContext
    over the image's User and its /etc/passwd and /etc/group (`accounts`).
    A process container has no image: uid 0 unless runAsUser, HOME /root.
    Raises NonRootRefused and runtime.CreateContainerError."""
    if not plan.image:
        uid, gid, groups, _ = plan.confinement.identity()
        return uid, gid, groups, "/root"
    user = runtime.image_user((plan.image["config"] or {}).get("User"))
    return plan.confinement.identity(user, accounts)


def image_accounts(root):
    """The image's /etc/passwd and /etc/group (runtime.Accounts), read from
    its root before volumes are mounted (containerd reads the image's own
    files) and looked up inside it (kernel/inroot.py): no symlink leads out."""
    root_fd = inroot.open_root(root)
    try:
        passwd = _image_file(root_fd, "/etc/passwd")
        # As runc: where setgroups(2) is denied (no subordinate gid range) the
        # image's groups are left out, not an error; the pod asked for none.
        group = _image_file(root_fd, "/etc/group") if kernel_caps.setgroups_allowed() else ""
        return runtime.Accounts(passwd, group)
    finally:
        os.close(root_fd)


def _image_file(root_fd, path, limit=1 << 20):
    """A small regular file of the image, "" when it has none. Anything else
    is refused unopened (a FIFO would hang the start, a device open may act)."""
    try:
        fd = inroot.lookup(root_fd, path)  # O_PATH: found, not opened
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except OSError as e:
        raise runtime.CreateContainerError(f"cannot read the image's {path}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise runtime.CreateContainerError(f"the image's {path} is not a regular file")
        with open(inroot.fd_path(fd), "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    finally:
        os.close(fd)


def set_identity(confinement, identity):
    """The user step, the one place that sets who a container process (and
    `nspod exec`'s) is: identity (uid, gid, groups), from container_identity
    (exec: what the container started with); then the capabilities it keeps
    in every set and no_new_privs."""
    uid, gid, groups = identity
    numbers = [capabilities.NUMBERS[c] for c in confinement.caps]
    kernel_caps.apply(uid, gid, groups, numbers, confinement.no_new_privs, only_available=confinement.privileged)


def redirect_stdio(out, err, stdin=None, stdin_once=False):
    # The FIFOs are opened read-write: the container itself then counts as a
    # reader, so if the watchdog dies its writes never fail with SIGPIPE; they
    # wait in the FIFO (and block once it is full) until a new watchdog reads.
    # Its stdin FIFO likewise (it counts as a writer, so it never reads end of
    # file and outlives a watchdog), except with stdinOnce: read-only, so the
    # watchdog closing its end is the container's end of file.
    if stdin is None:
        stdin_flags = os.O_RDONLY
        stdin = "/dev/null"
    else:  # (non-blocking open: a FIFO's open waits for the other side)
        stdin_flags = (os.O_RDONLY if stdin_once else os.O_RDWR) | os.O_NONBLOCK
    for fd, path, flags in ((0, stdin, stdin_flags), (1, out, os.O_RDWR), (2, err, os.O_RDWR)):
        opened = os.open(path, flags)
        os.set_blocking(opened, True)  # (the container reads its stdin as a blocking fd)
        os.dup2(opened, fd)
        os.close(opened)


def make_terminal(console, uid, gid):
    """`tty: true`: a pty of the container's own devpts (so `tty` names
    /dev/pts/N in it), owned by the user it runs as; the slave becomes its
    stdin, stdout, stderr and controlling terminal (it leads a new session),
    the master goes to the watchdog, which logs what it reads and serves
    `nspod attach`."""
    from . import terminal

    master, slave = os.openpty()
    os.fchown(slave, uid, gid)
    terminal.send_master(console, master)
    os.close(master)
    console.close()
    terminal.take_slave(slave)


def resolve(name, path):
    """The executable for argv[0], searched in PATH like execvp (message as runc words it)."""
    if "/" in name:
        if not os.path.exists(name):
            raise StartError("StartError", f'exec: "{name}": stat {name}: no such file or directory')
        return name
    found = which(name, path=path)
    if not found:
        raise StartError("StartError", f'exec: "{name}": executable file not found in $PATH')
    return found
