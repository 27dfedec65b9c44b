"""`nspod port-forward POD [LOCAL:]REMOTE...`, as kubectl port-forward: listen
on the host (127.0.0.1 unless --address says otherwise: IP addresses or
localhost, comma-separated) and carry each connection to REMOTE on the pod's
own loopback.

A socket belongs to the network namespace it was created in, whoever uses it
later. So a helper child joins the pod's network namespace (through the node's
user namespace when rootless) and only makes sockets there, one per request,
passing each back over a Unix socket (SCM_RIGHTS); we connect it to
127.0.0.1:REMOTE, which is the pod's loopback, and copy bytes both ways on
one selector loop, however many connections there are. Nothing is listening
inside the pod and no route to the pod is needed.
"""
import ipaddress
import os
import selectors
import signal
import socket

from .errors import BadInput, NspodError
from .kernel import namespaces


def parse_ports(specs):
    """"8080" | "5000:80" | ":80" (a free local port) -> [(local, remote)]."""
    out = []
    for spec in specs:
        local, _, remote = spec.rpartition(":") if ":" in spec else (spec, "", spec)
        try:
            local_port = int(local) if local else 0
            remote_port = int(remote)
        except ValueError:
            raise BadInput(f'"{spec}" is not a port: use PORT, LOCAL:REMOTE or :REMOTE') from None
        if not (0 <= local_port <= 65535 and 1 <= remote_port <= 65535):
            raise BadInput(f'"{spec}": ports are 1-65535 (local 0 or empty: any free port)')
        out.append((local_port, remote_port))
    return out


def parse_addresses(text):
    """--address as kubectl takes it: IP addresses or localhost, separated by
    commas -> [(address, required)]. localhost is 127.0.0.1 and ::1, and is
    refused only when neither can listen (as kubectl); an address named
    must listen."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if part == "localhost":
            wanted = [("127.0.0.1", False), ("::1", False)]
        else:
            try:
                wanted = [(str(ipaddress.ip_address(part)), True)]
            except ValueError:
                raise BadInput(f'--address: "{part}" is not an IP address or localhost') from None
        out += [w for w in wanted if w[0] not in [o[0] for o in out]]
    return out


def shown(address, port):
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class SocketMaker:
    """A child in the pod's network namespace that makes TCP sockets there."""

    def __init__(self, ns_fds):
        self.ours, theirs = socket.socketpair()
        self.pid = os.fork()
        if self.pid == 0:
            self.ours.close()
            self._serve(ns_fds, theirs)
        theirs.close()

    @staticmethod
    def _serve(ns_fds, sock):
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the CLI ends us
            for kind in ("user", "net"):  # the user namespace first: it grants joining the net
                if kind in ns_fds:
                    namespaces.setns(ns_fds[kind], kind)
            while sock.recv(1):
                made = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socket.send_fds(sock, [b"s"], [made.fileno()])
                made.close()
            code = 0
        finally:
            os._exit(code)

    def socket(self):
        self.ours.sendall(b"?")
        _, fds, _, _ = socket.recv_fds(self.ours, 16, 1)
        if not fds:
            raise NspodError("the helper in the pod's network namespace ended")
        return socket.socket(fileno=fds[0])

    def close(self):
        self.ours.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def forward(ns_fds, ports, addresses=(("127.0.0.1", True),), say=print):
    """Forward until interrupted (Ctrl-C or SIGTERM). ns_fds: the pod's
    namespaces to make sockets in ({} for a pod on the host's network);
    addresses: parse_addresses()."""
    listeners = []
    try:
        for local, remote in ports:
            port, bound, failed = local, 0, None
            for address, required in addresses:
                lsock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
                lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if ":" in address:
                    lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # ::1 only, not 127.0.0.1 too
                try:
                    lsock.bind((address, port))
                except OSError as e:
                    lsock.close()
                    failed = f"unable to listen on {shown(address, port)}: {e.strerror}"
                    if required:
                        raise NspodError(failed) from None
                    continue
                lsock.listen(128)
                port = lsock.getsockname()[1]  # a free port (local 0) is the same on every address
                listeners.append((lsock, remote))
                bound += 1
                say(f"Forwarding from {shown(address, port)} -> {remote}")
            if not bound:  # localhost: neither 127.0.0.1 nor ::1
                raise NspodError(failed)
    except BaseException:
        for lsock, _ in listeners:
            lsock.close()
        raise
    maker = SocketMaker(ns_fds) if ns_fds else None
    sel = selectors.DefaultSelector()
    for lsock, remote in listeners:
        sel.register(lsock, selectors.EVENT_READ, ("listen", remote))
    peers = {}  # socket -> its other end
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            for key, _ in sel.select():
                kind, data = key.data
                if kind == "listen":
                    client, _ = key.fileobj.accept()
                    say(f"Handling connection for {key.fileobj.getsockname()[1]}")
                    try:
                        pod = maker.socket() if maker else socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        pod.settimeout(5)
                        pod.connect(("127.0.0.1", data))
                        pod.settimeout(None)
                    except OSError as e:
                        say(f"error: connecting to port {data} in the pod: {e.strerror or e}")
                        client.close()
                        continue
                    peers[client], peers[pod] = pod, client
                    sel.register(client, selectors.EVENT_READ, ("copy", None))
                    sel.register(pod, selectors.EVENT_READ, ("copy", None))
                else:
                    _copy(key.fileobj, peers, sel)
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
        for s in list(peers):
            s.close()
        for lsock, _ in listeners:
            lsock.close()
        if maker:
            maker.close()


def _interrupt(*_):
    raise KeyboardInterrupt


def _copy(src, peers, sel):
    dst = peers[src]
    try:
        data = src.recv(65536)
    except OSError:
        data = b""
    if data:
        try:
            dst.sendall(data)
            return
        except OSError:
            pass
    # One side ended: the other is told (half-close); both go once both ended.
    sel.unregister(src)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    if not _registered(sel, dst):
        for s in (src, dst):
            peers.pop(s, None)
            s.close()


def _registered(sel, sock):
    try:
        sel.get_key(sock)
        return True
    except (KeyError, ValueError):
        return False
