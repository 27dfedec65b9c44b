"""The node holder: one small long-lived process per user, nspod-keeper
(in C: nspod/executor/keeper/keeper.c).

Rootless, it owns the user namespace that all of the user's pods share (as
rootless Podman's pause process does), so one node network can later join
their network namespaces. As root it runs without one: the node is the host.
It owns the node socket, and it is the parent of whatever pod process the
supervisor started and no longer is (docs/ARCHITECTURE.md, "The keeper").

The supervisor of every pod of the user (nspod/supervisor.py) is its child,
started by it while a pod needs Python: one process and one event loop for
all of them. serve() below is that supervisor's life. It leaves when no pod
needs it, handing the pods to the keeper; the keeper ends with the last pod
(after `linger` seconds without one).
"""
import fcntl
import gc
import json
import os
import select
import socket
import sys

from . import steps
from .errors import NspodError
from .kernel import idmap, namespaces
from .kernel.process import set_name
from .paths import state_dir

LINGER = float(os.environ.get("NSPOD_NODE_LINGER", "60"))  # seconds without a pod before the node holder ends
# Seconds with nothing to do before the supervisor hands its pods to the keeper and leaves.
IDLE = float(os.environ.get("NSPOD_SUPERVISOR_IDLE", "5"))


def rootless():
    return os.geteuid() != 0


def connect():
    """A socket connected to the running node holder, started if needed."""
    global _early
    if _early is not None:  # started by prestart: wait for it
        lock, ready = _early
        _early = None
        with lock:
            return _await(ready)
    sock_path = state_dir() / "node.sock"
    sock = _try_connect(sock_path)
    if sock:
        return sock
    with open(state_dir() / "node.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _try_connect(sock_path)
        if sock:
            return sock
        return _await(start())


_early = None  # (node.lock held, ready pipe): the node holder prestart started


def prestart():
    """Start the node holder now if none runs, without waiting for it: it
    loads its modules (tens of ms) while this command does its own work, and
    connect() waits only for what is left of that. node.lock stays held
    until then. (`run` calls this once its manifest is valid, so bad input
    starts nothing; an error after it leaves a node holder that lingers.)"""
    global _early
    if _early is not None:
        return
    sock = _try_connect(state_dir() / "node.sock")
    if sock:
        sock.close()
        return
    lock = open(state_dir() / "node.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _try_connect(state_dir() / "node.sock")
        if sock:
            sock.close()
            lock.close()
            return
        _early = (lock, start())
    except BaseException:
        lock.close()
        raise


def _await(ready):
    """Connect once the node holder start() started listens (it says so on
    the pipe), or fail if it dies first (the pipe ends without a word); a
    slow, emulated machine can take seconds. (Nothing of it sits in the
    file's buffer: it is written only after start() read the pid line.)"""
    with ready:
        said = ready.readline() if select.select([ready], [], [], 120)[0] else ""
    sock = _try_connect(state_dir() / "node.sock") if said == "listening\n" else None
    if sock:
        return sock
    if said.startswith("error "):
        raise NspodError(f"the node holder did not start: {said[6:].strip()}")
    raise NspodError(f"the node holder did not start; see {state_dir() / 'node.log'}")


def ping():
    """The pid of the running node holder, started if need be (asked, not read
    from node.pid: a node holder accepts connections a moment before it writes
    that); None if it did not answer."""
    sock = connect()
    try:
        sock.settimeout(10)
        sock.sendall(b'{"op": "ping"}\n')
        line = sock.makefile().readline()
        return json.loads(line).get("pid") if line else None
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


def connect_running():
    """A socket connected to the running node holder; None if there is none."""
    return _try_connect(state_dir() / "node.sock")


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
    Returns the read end of a pipe on which it says "listening" once its
    socket takes connections (or which ends, if it dies first).
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
        steps.become("node holder")
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
        steps.drop()
        os.closerange(3, min(ready_w, go_r))
        os.closerange(max(ready_w, go_r) + 1, os.sysconf("SC_OPEN_MAX"))
        os.closerange(min(ready_w, go_r) + 1, max(ready_w, go_r))
        try:
            os.write(ready_w, b"%d\n" % os.getpid())
            if os.read(go_r, 1) != b"1":
                os._exit(1)
            os.close(go_r)
            os.set_inheritable(ready_w, True)  # the keeper says "listening" there
            # The keeper starts the supervisor as a fresh interpreter (a fork
            # of the CLI would inherit its SQLite state: open inodes, shared
            # memory maps, and corrupt WAL locking). Without site (-S): its
            # .pth files (the editable install's finder above all) cost
            # ~15 ms and a few hundred KiB for nothing; our sys.path is
            # passed instead.
            path = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] + [p for p in sys.path if p]
            try:
                os.execv(KEEPER, ["nspod-keeper", str(state_dir()), str(ready_w),
                                  sys.executable, "-S", "-c", _BOOT, *path])
            except OSError as e:
                os.write(ready_w, f"error {KEEPER}: {e.strerror} (scripts/setup builds it)\n".encode())
        except BaseException:
            import traceback

            traceback.print_exc()
        os._exit(1)
    os.close(ready_w)
    os.close(go_r)
    if join is not None:
        os.close(join)
    os.waitpid(mid, 0)
    ready = os.fdopen(ready_r)
    line = ready.readline()
    if not line.strip().isdigit():
        ready.close()
        os.close(go_w)
        if join is not None:
            raise NspodError(f"could not join the user namespace of the running pods: {line[6:].strip() or 'failed'}")
        raise NspodError("could not create the user namespace (are unprivileged user namespaces enabled?)")
    pid = int(line)
    if steps.sink is not None:
        steps.tell("fork(); setsid(); fork()", result=f"{pid} (node holder)",
                   by_hand="setsid --fork  # a daemon: no terminal, not our child")
    try:
        if rootless():
            if join is None:
                idmap.write_maps(pid, idmap.plan())
            _write_record(os.readlink(f"/proc/{pid}/ns/user"))
        os.write(go_w, b"1")
    except BaseException:
        ready.close()
        raise
    finally:
        os.close(go_w)
    return ready


KEEPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "executor", "nspod-keeper")

# The supervisor's first lines: argv is [-c, sys.path...].
_BOOT = "import sys; sys.path[:] = sys.argv[1:]; from nspod.node import serve; serve()"


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
    """The supervisor's life, as the keeper's child: the loop over every pod
    (nspod/supervisor.py), on the node socket's listener the keeper owns.
    It returns when no pod needs us (the pods are handed to the keeper), when
    it has had no pod for `linger` seconds, or on SIGTERM."""
    set_name("nspod-supervise")
    # Our pods' containers and pause holders are our children; their orphans,
    # and the node network's holder and uplink, come to us, not to init
    # (which may not reap them, as in a VM). When we leave, the keeper (a
    # subreaper too) is theirs.
    from .kernel.process import become_subreaper, yield_on_wakeup

    become_subreaper()
    refused = yield_on_wakeup()  # (docs/ARCHITECTURE.md, "The supervisor yields the CPU")
    if refused is not None:
        print(f"nspod-supervise: SCHED_BATCH refused ({refused}): restarts may wait for our bookkeeping",
              file=sys.stderr)
    from . import faults
    from . import net  # noqa: F401
    from .net import netlink, rtnl  # noqa: F401  (loaded once here, not by every helper we fork)
    from . import seccomp
    from .keeper import LISTENER_FD, Keeper
    from .supervisor import Supervisor

    seccomp.warm()  # RuntimeDefault's BPF program, built once for every container
    # The command that started the keeper may carry NSPOD_FAULT: it applies
    # to our adoptions at start; each pod's own comes with its request.
    startup_fault, faults.wanted = faults.wanted, ""
    listener = socket.socket(fileno=LISTENER_FD)
    keeper = Keeper()
    supervisor = Supervisor(listener, LINGER, startup_fault, keeper=keeper, idle=IDLE)
    gc.freeze()  # what is loaded now stays put: the collector need not walk it
    from .kernel.libc import trim_heap

    trim_heap()  # what imports and the seccomp build freed (~1 MiB here)
    # SIGTERM ends us as idleness does; the pods keep running, and the next
    # supervisor adopts them.
    handed_over = supervisor.run()
    if handed_over is not None:
        try:
            keeper.bye(handed_over)
        except OSError as e:
            print(f"nspod-supervise: telling the keeper we leave: {e}", file=sys.stderr)
    from .crilog import finish_discards

    finish_discards()  # (rotated-out logs still being freed)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
