"""The node network's uplink: slirp4netns, attached to the node's network
namespace (a tap device, tap0), running in the host's.

It gives pods outbound access without privileges (it turns their packets into
ordinary sockets of the user on the host) and, through its API socket, it
forwards published host ports to pod addresses (add_hostfwd). Its gateway
10.0.2.2 is the host's loopback: a pod reaches a server on the host's
127.0.0.1:PORT at 10.0.2.2:PORT (host.nspod.internal in /etc/hosts).
"""
import json
import os
import select
import socket
import time

from .. import steps
from ..errors import HostUnsupported, NspodError
from ..kernel import child
from ..paths import which

NAME = "slirp4netns"
MTU = 65520


def check_host():
    """What the uplink needs from the host, with the fix when it is missing."""
    if not which(NAME):
        raise HostUnsupported(
            f"{NAME} is not installed; pods need it for outbound traffic and published ports. "
            f"Fix: sudo apt-get install {NAME} (scripts/setup installs it)")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        raise HostUnsupported(
            f"/dev/net/tun is missing or not usable by this user; {NAME} needs it. "
            "Fix: sudo modprobe tun && sudo chmod 0666 /dev/net/tun (scripts/setup does this)")


def start(holder_pid, api_socket, log_path, timeout=10):
    """Start slirp4netns for the node network of holder_pid; return its pid
    once tap0 is configured (10.0.2.100/24, default route via 10.0.2.2)."""
    check_host()
    exe = which(NAME)
    try:
        os.unlink(api_socket)
    except FileNotFoundError:
        pass
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    # --enable-sandbox: it pivots into an empty root and drops capabilities
    # once set up, as rootless Podman runs it.
    argv = [NAME, "--configure", f"--mtu={MTU}", "--enable-sandbox", f"--api-socket={api_socket}",
            f"--ready-fd={ready_w}", str(holder_pid), "tap0"]

    def uplink():
        from ..kernel.process import restore_signals

        restore_signals()
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.set_inheritable(ready_w, True)
        child.close_other_fds(ready_w)
        if steps.sink is not None:
            steps.tell_exec(exe, argv, os.environ, "(no return: the uplink runs)")
        os.execv(exe, argv)

    try:
        pid = child.start(uplink, detached=True, role="uplink")
    except child.ChildFailed as e:
        raise NspodError(f"{NAME} did not start: {e}") from None
    finally:
        os.close(ready_w)
    try:
        ready, _, _ = select.select([ready_r], [], [], timeout)
        answer = os.read(ready_r, 1) if ready else b""
    finally:
        os.close(ready_r)
    if answer != b"1":
        from ..kernel import process

        process.kill(pid, process.start_time(pid))
        raise NspodError(f"{NAME} did not start{' in time' if not ready else ''}: {_tail(log_path)}")
    # The API socket appears just after tap0 is ready.
    deadline = time.monotonic() + timeout
    while not os.path.exists(api_socket):
        if time.monotonic() > deadline:
            raise NspodError(f"{NAME} did not create its API socket {api_socket}: {_tail(log_path)}")
        time.sleep(0.002)
    return pid


def _tail(path, lines=5):
    try:
        with open(path, errors="replace") as f:
            text = f.read().strip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return " | ".join(text[-lines:]) or f"(nothing in {path})"


# -- the API -------------------------------------------------------------------------
def call(api_socket, execute, arguments=None, timeout=5):
    """One request to slirp4netns' API socket; its JSON reply."""
    request = {"execute": execute}
    if arguments is not None:
        request["arguments"] = arguments
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as s:
        s.settimeout(timeout)
        s.connect(api_socket)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data) if data else {}


def add_forward(api_socket, protocol, host_ip, host_port, guest_ip, guest_port):
    """Forward host_ip:host_port to guest_ip:guest_port; return the forward's id."""
    reply = call(api_socket, "add_hostfwd", {
        "proto": protocol.lower(), "host_addr": host_ip, "host_port": host_port,
        "guest_addr": guest_ip, "guest_port": guest_port})
    if "error" in reply:
        raise NspodError(reply["error"].get("desc", str(reply["error"])))
    return reply["return"]["id"]


def remove_forward(api_socket, forward_id):
    reply = call(api_socket, "remove_hostfwd", {"id": forward_id})
    if "error" in reply:
        raise NspodError(reply["error"].get("desc", str(reply["error"])))


def list_forwards(api_socket):
    reply = call(api_socket, "list_hostfwd")
    return reply.get("entries", reply.get("return", {}).get("entries", []))
