"""The node holder: one small long-lived process per user.

Rootless, it owns the user namespace that all of the user's pods share (as
rootless Podman's pause process does), so one node network can later join
their network namespaces. As root it runs without one: the node is the host.

It forks one watchdog per pod on request. Forking (instead of starting a new
interpreter) makes a pod start fast and lets the watchdogs share the node's
memory pages copy-on-write. It exits once it has had no pod for `linger`
seconds; a later command starts a new one.
"""
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import sys
import time

from .errors import NspodError
from .kernel import idmap, namespaces
from .kernel.process import set_name
from .paths import state_dir

LINGER = float(os.environ.get("NSPOD_NODE_LINGER", "60"))


def rootless():
    return os.geteuid() != 0


def connect():
    """A socket connected to the running node holder, started if needed."""
    sock_path = state_dir() / "node.sock"
    sock = _try_connect(sock_path)
    if sock:
        return sock
    with open(state_dir() / "node.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _try_connect(sock_path)
        if sock:
            return sock
        pid = start()
        # Until it listens, or dies (a slow, emulated machine can take seconds).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            sock = _try_connect(sock_path)
            if sock:
                return sock
            time.sleep(0.01)
    raise NspodError(f"the node holder did not start; see {state_dir() / 'node.log'}")


def _try_connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def node_pid():
    try:
        return int((state_dir() / "node.pid").read_text())
    except (OSError, ValueError):
        return None


def start():
    """Start the node holder as a daemon; in its own user namespace when rootless.
    Id maps must be written from outside the namespace, so we write them."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    mid = os.fork()
    if mid == 0:
        os.close(ready_r)
        os.close(go_w)
        os.setsid()
        if os.fork():
            os._exit(0)
        # Keep nothing of the caller's (its lock on node.lock above all).
        os.closerange(3, min(ready_w, go_r))
        os.closerange(max(ready_w, go_r) + 1, os.sysconf("SC_OPEN_MAX"))
        os.closerange(min(ready_w, go_r) + 1, max(ready_w, go_r))
        try:
            if rootless():
                namespaces.unshare("user")
            os.write(ready_w, b"%d\n" % os.getpid())
            os.close(ready_w)
            if os.read(go_r, 1) != b"1":
                os._exit(1)
            os.close(go_r)
            # A fresh interpreter: a fork of the CLI would inherit its SQLite
            # state (open inodes, shared-memory maps) and corrupt WAL locking.
            os.execv(sys.executable, [sys.executable, "-m", "nspod.node"])
        except BaseException:
            import traceback

            traceback.print_exc()
        os._exit(1)
    os.close(ready_w)
    os.close(go_r)
    os.waitpid(mid, 0)
    with os.fdopen(ready_r) as f:
        line = f.readline()
    if not line:
        os.close(go_w)
        raise NspodError("could not create the user namespace (are unprivileged user namespaces enabled?)")
    pid = int(line)
    try:
        if rootless():
            idmap.write_maps(pid, idmap.plan())
        os.write(go_w, b"1")
    finally:
        os.close(go_w)
    return pid


def serve():
    """The node holder's loop: accept spawn requests, fork watchdogs, reap them."""
    set_name("nspod-node")
    # Orphans of our watchdogs come to us, not to init (which may not reap
    # them, as in a VM): the node network's holder and uplink (nspod/net).
    from .kernel.process import become_subreaper

    become_subreaper()
    sd = state_dir()
    log = os.open(sd / "node.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    # Import what every watchdog needs once, here: the forks share it.
    from . import watchdog  # noqa: F401
    from . import net  # noqa: F401
    import pyroute2  # noqa: F401  (not PyYAML: a watchdog reads its stored manifest as JSON)

    gc.freeze()  # keep the shared pages shared: the collector won't touch them
    sock_path = sd / "node.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock_path.unlink()
    except FileNotFoundError:
        pass
    listener.bind(str(sock_path))
    listener.listen(64)
    (sd / "node.pid").write_text(str(os.getpid()))

    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    children = set()
    idle_since = time.monotonic()
    stopping = False
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.data == "accept":
                conn, _ = listener.accept()
                pid = _handle(conn, listener, sel, wake_r, wake_w)
                if pid:
                    children.add(pid)
                conn.close()
            else:
                try:
                    while wake_r.recv(64):
                        pass
                except BlockingIOError:
                    pass
        children -= _reap()
        if children:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= LINGER:
            stopping = True
        if stopping:
            with open(sd / "node.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                sock_path.unlink(missing_ok=True)
                (sd / "node.pid").unlink(missing_ok=True)
                listener.close()
            os._exit(0)


def _reap():
    done = set()
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            done.add(pid)
    except ChildProcessError:
        pass
    return done


def _handle(conn, listener, sel, *close_in_child):
    """One request: {"op": "spawn", "pod": NAME} forks the pod's watchdog,
    which reports on conn; {"op": "ping"} answers with our pid."""
    conn.settimeout(5)
    try:
        request = json.loads(conn.makefile().readline())
    except (OSError, ValueError):
        return None
    if request.get("op") == "ping":
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        return None
    if request.get("op") != "spawn":
        return None
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            sel.close()
            listener.close()
            for s in close_in_child:
                s.close()
            conn.settimeout(None)
            from .watchdog import run

            status = run(request["pod"], conn, adopt=request.get("adopt", False))
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    return pid


if __name__ == "__main__":
    serve()
