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
    """Start the node holder as a daemon. Rootless it lives in the user
    namespace the user's pods share: the one they already use while any
    process of it is alive (a node holder that was killed left pods behind),
    else a new one, whose id maps we write (from outside, as we must).
    Call with node.lock held."""
    join = _existing_userns() if rootless() else None
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    mid = os.fork()
    if mid == 0:
        os.close(ready_r)
        os.close(go_w)
        os.setsid()
        if os.fork():
            os._exit(0)
        try:
            # Before anything else: setns(2) of a user namespace needs a
            # single-threaded process, which a fresh fork is.
            if join is not None:
                namespaces.setns(join, "user")  # its id maps come with it
            elif rootless():
                namespaces.unshare("user")
        except BaseException as e:
            os.write(ready_w, f"error {getattr(e, 'strerror', None) or e}\n".encode())
            os._exit(1)
        # Keep nothing of the caller's (its lock on node.lock above all).
        os.closerange(3, min(ready_w, go_r))
        os.closerange(max(ready_w, go_r) + 1, os.sysconf("SC_OPEN_MAX"))
        os.closerange(min(ready_w, go_r) + 1, max(ready_w, go_r))
        try:
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
    if join is not None:
        os.close(join)
    os.waitpid(mid, 0)
    with os.fdopen(ready_r) as f:
        line = f.readline()
    if not line.strip().isdigit():
        os.close(go_w)
        if join is not None:
            raise NspodError(f"could not join the user namespace of the running pods: {line[6:].strip() or 'failed'}")
        raise NspodError("could not create the user namespace (are unprivileged user namespaces enabled?)")
    pid = int(line)
    try:
        if rootless():
            if join is None:
                idmap.write_maps(pid, idmap.plan())
            _write_record(os.readlink(f"/proc/{pid}/ns/user"))
        os.write(go_w, b"1")
    finally:
        os.close(go_w)
    return pid


# -- the node's user namespace (rootless) ---------------------------------------------
# `node.userns` in the state dir records the user namespace the node uses
# ("user:[4026532301]"). It is written when a node holder starts and read only
# when the next one starts, so no other command pays for it.
def _record_path():
    return state_dir() / "node.userns"


def _read_record():
    try:
        return _record_path().read_text().strip() or None
    except OSError:
        return None


def _write_record(userns):
    try:
        tmp = _record_path().with_suffix(".tmp")
        tmp.write_text(userns + "\n")
        os.replace(tmp, _record_path())
    except OSError:
        # (A full disk, say.) Not fatal: the state records each pod's and the
        # node network's user namespace too, and the next start finds it there.
        pass


def _existing_userns():
    """An fd for the user namespace the user's pods live in, if any process
    of it is still alive; else None. A process qualifies when it is the one
    the state names (pid and start time), is in the namespace recorded for
    the node or for that process, runs as this user, and the namespace was
    made by this user (and is not the one we are in)."""
    if not (state_dir() / "nspod.db").exists():
        return None
    from .store import Store

    store = Store()
    try:
        record = _read_record()
        me = os.readlink("/proc/self/ns/user")
        uid = os.getuid()
        for pid, started, recorded in _members(store):
            expected = {record, recorded} - {None, me}
            if not pid or not expected:
                continue
            fd = namespaces.open_ns_of(pid, started, "user")
            if fd is None:
                continue
            try:
                if (namespaces.fd_ns_id(fd) in expected and namespaces.owner_uid(fd) == uid
                        and os.stat(f"/proc/{pid}").st_uid == uid):
                    return fd
            except OSError:
                pass
            os.close(fd)
        return None
    finally:
        store.close()


def _members(store):
    """(pid, start time, user namespace recorded for it) of every process the
    state knows that lives in the node's user namespace: the node network's
    holder, then each pod's pause holder, containers and watchdog."""
    from .net import node_network

    holder = node_network.holder_process(store)
    if holder:
        yield holder
    for pod in store.pods():
        yield pod["pause_pid"], pod["pause_start"], json.loads(pod["pause_ns"] or "{}").get("user")
        for c in store.containers(pod["name"]):
            yield c["pid"], c["pid_start"], json.loads(c["namespaces"] or "{}").get("user")
        yield pod["watchdog_pid"], pod["watchdog_start"], None


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
    from . import seccomp

    seccomp.warm()  # RuntimeDefault's BPF program, built once for every container

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
    # SIGTERM ends us as idleness does; the pods keep running (a watchdog
    # does not need us), and the next command starts a node holder that
    # joins their user namespace (start).
    terminated = []
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    children = set()
    idle_since = time.monotonic()
    stopping = False
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.data == "accept" and not terminated:
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
        if terminated:
            stopping = True
        if stopping:
            with open(sd / "node.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if node_pid() == os.getpid():  # (not a successor's: one started while we were unreachable)
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
    """One request: {"op": "spawn", "pod": NAME} answers {"accepted": true},
    then forks the pod's watchdog, which reports on conn; {"op": "ping"}
    answers with our pid."""
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
    try:  # first line: the request is taken (a CLI retries only if it never saw this)
        conn.sendall(b'{"accepted": true}\n')
    except OSError:
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
            from . import faults
            from .watchdog import run

            faults.wanted = request.get("fault") or ""  # the CLI's NSPOD_FAULT, for the fault tier
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
