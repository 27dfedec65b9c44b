"""The pause holder: owns the pod's net, ipc and uts namespaces (and the
PID namespace when the pod shares one). Minimal and long-lived; the pod lives
as long as it does.

    fork (as PID 1 of a new PID namespace when shareProcessNamespace)
    the pod's mount namespace: a new one with the pod's tmpfs mounts (its
      /dev/shm, Memory emptyDirs), or the one the watchdog kept when the
      sandbox is re-created, so those volumes outlive a pause holder
    new net, ipc, uts namespaces (only ipc with hostNetwork)
    set the pod's hostname
    bring up lo
    the pod's sysctls (securityContext.sysctls: net.* here, kernel.shm* of its ipc namespace)
    (the watchdog then attaches the pod to the node network: nspod/net/podnet.py)
    exec catatonit -P (pause mode: reap children, exit 0 on TERM)
"""
import os
import signal
import socket

from . import steps
from .errors import NspodError
from .kernel import child, mounts, namespaces, sysctl
from .kernel.process import restore_signals
from .paths import which
from .net.loopback import loopback_up


def start(hostname, share_pid, log_fd, pod_mounts, mnt_ns=None, host_network=False, sysctls=(), host_ipc=False):
    """Start the pause holder; return its pid. pod_mounts() runs in its new
    mount namespace, unless mnt_ns (an fd of the pod's existing one) is given:
    then it joins that. With host_network it keeps the node's network and uts
    namespaces (spec.hostNetwork, as Kubernetes does). sysctls: (name, value)
    pairs written in its new namespaces (the manifest check allowed only
    namespaced ones, and no net.* with host_network)."""
    try:
        return child.start(lambda: _child(hostname, log_fd, pod_mounts, mnt_ns, host_network, sysctls, host_ipc),
                           pid_ns="new" if share_pid else None, role="pause")
    except child.ChildFailed as e:
        raise NspodError(f"pause holder: {e}") from None


def _child(hostname, log_fd, pod_mounts, mnt_ns, host_network=False, sysctls=(), host_ipc=False):
    restore_signals()
    if mnt_ns is not None:
        namespaces.setns(mnt_ns, "mnt")
    else:
        namespaces.unshare("mnt")
        mounts.make_private("/")
        pod_mounts()
    ipc = () if host_ipc else ("ipc",)  # hostIPC: the node's
    if host_network:
        if ipc:
            namespaces.unshare(*ipc)
    else:
        namespaces.unshare("net", *ipc, "uts")
        socket.sethostname(hostname)
        if steps.sink is not None:
            steps.tell(f'sethostname("{hostname}")', by_hand=f"hostname {hostname}")
        loopback_up()
    for name, value in sysctls:
        try:
            sysctl.write(name, value)
        except OSError as e:
            raise NspodError(f'sysctl {name}="{value}": {e.strerror or e}') from None
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    catatonit = which("catatonit") or (os.path.exists("/usr/libexec/podman/catatonit") and "/usr/libexec/podman/catatonit")
    if catatonit:
        if steps.sink is not None:
            steps.tell(f'execve("{catatonit}", ["catatonit", "-P"])', result="(no return: catatonit holds the pod)",
                       by_hand="exec catatonit -P")
        os.execv(catatonit, ["catatonit", "-P"])
    child.done()
    pause_forever()


def pause_forever():
    """Fallback pause when catatonit is not installed: what Kubernetes' pause
    does: reap children, exit 0 on TERM or INT."""
    from .kernel.process import set_name

    set_name("nspod-pause")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    while True:
        signal.pause()


def _reap():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
