"""Sockets of the node network, for httpGet and tcpSocket probes.

The kubelet probes a pod from the node, at the pod's IP. Here the pods'
addresses live in the node network's namespace (nspod/net/node_network.py),
not in the supervisor's (the host's), and a rootless process that joins
another network namespace can never come back. A socket belongs to the
namespace it was made in, whoever uses it later: so one helper child per
node network joins that namespace and only makes TCP sockets there, one per
request, passed back over a Unix socket (SCM_RIGHTS), as `nspod
port-forward` does for a pod's own namespace. The supervisor then connects,
writes and reads them without blocking on its own loop: a probe costs a
socket, never a process or a thread.

The helper watches the node network's holder and exits with it, so it never
keeps an old node namespace (its bridge and veths) alive when the node
network is removed or made again; the next probe starts a new helper for
the new holder. It also exits when the supervisor closes its end, and dies
with the supervisor (parent-death signal). A hostNetwork pod needs none:
its IP is the host's, in the supervisor's own namespace.
"""
import os
import select
import signal
import socket

from .. import steps
from ..errors import NspodError
from ..kernel import child, namespaces, process

ANSWER_WITHIN = 2.0  # seconds; the helper answers in microseconds unless it is gone


class SocketMaker:
    def __init__(self, holder_pid, holder_start):
        self.holder = (holder_pid, holder_start)
        self.ours, theirs = socket.socketpair()
        try:
            self.job = child.begin(_serve, theirs.fileno(), holder_pid, holder_start)
        finally:
            theirs.close()
        # By pidfd: the supervisor reaps children no pod claims, so the pid
        # alone could name another process by the time we end it.
        self.pidfd = os.pidfd_open(self.job.pid)
        self.ours.settimeout(ANSWER_WITHIN)

    def socket(self):
        self.ours.sendall(b"?")
        _, fds, _, _ = socket.recv_fds(self.ours, 16, 1)
        if not fds:
            raise NspodError("the node network's socket helper ended")
        return socket.socket(fileno=fds[0])

    def close(self):
        self.ours.close()
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)
        except (ProcessLookupError, ChildProcessError):
            pass  # it ended with its holder, and was reaped as an orphan
        os.close(self.pidfd)
        os.close(self.job.fd)


def _serve(sock_fd, holder_pid, holder_start):
    """In the child: join the node network's namespace, then make a socket
    for each byte asked, until our end closes or the holder ends."""
    holder = os.pidfd_open(holder_pid)
    if process.start_time(holder_pid) != holder_start:
        raise NspodError("the node network's holder is gone")
    sock = socket.socket(fileno=sock_fd)
    steps.drop()  # we stay as long as the node network: no command waits on our steps
    child.close_other_fds(sock_fd, holder)
    net = namespaces.open_ns(holder_pid, "net")
    namespaces.setns(net, "net")
    os.close(net)
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.register(holder, select.POLLIN)
    while True:
        ready = {fd for fd, _ in poller.poll()}
        if holder in ready or not sock.recv(64):
            return None
        made = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        socket.send_fds(sock, [b"s"], [made.fileno()])
        made.close()


class NodeSockets:
    """The supervisor's one helper, made again for a new node network."""

    def __init__(self):
        self.maker = None

    def socket(self, node):
        """A TCP socket in the node network described by `node` (its row)."""
        holder = (node["holder_pid"], node["holder_start"])
        for attempt in (1, 2):
            if self.maker is None or self.maker.holder != holder:
                self.close()
                self.maker = SocketMaker(*holder)
            try:
                return self.maker.socket()
            except (OSError, NspodError):
                self.close()  # gone (its holder ended): once more with a new one
        raise NspodError("cannot make a socket in the node network")

    def pids(self):
        return [self.maker.job.pid] if self.maker else []

    def close(self):
        if self.maker is not None:
            self.maker.close()
            self.maker = None


NODE_SOCKETS = NodeSockets()  # one per supervisor process
