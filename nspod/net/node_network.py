"""The node network: one per user, shared by the user's pods.

    holder (catatonit -P)   owns the node's network namespace, made in the
                            node's user namespace (rootless), so that veths
                            can join it to every pod's namespace
      nspod0 (bridge)       the gateway, 10.88.0.1/16 by default
      nspod0a580002 ...     one veth per pod, its other end is eth0 in the pod
      tap0                  the uplink's device: slirp4netns, in the host's namespace

It is created with the first pod that joins it (under a file lock, so that
pods starting at once make one) and removed with the last lease: when no pod
holds an address, the holder and the uplink are killed and the namespace,
bridge and any veth left go with them. Its state is one row in the database.

When the uplink dies it is started again (and every published port forwarded
again) by whoever notices first: a pod's watchdog (it watches the uplink's
pidfd) or the next pod that joins. When the holder dies, the namespace is
gone with every veth: the node network is made again and each pod's watchdog
attaches its pod again. Both are recorded as events of the pods concerned.
"""
import contextlib
import fcntl
import os
import time

from .. import steps
from ..errors import NspodError
from ..kernel import child, process
from ..paths import state_dir, which
from . import ipam, ports, uplink

BRIDGE = "nspod0"
MTU = uplink.MTU

SCHEMA = """
CREATE TABLE IF NOT EXISTS node_network (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    subnet TEXT NOT NULL,
    gateway TEXT NOT NULL,
    bridge TEXT NOT NULL,
    userns TEXT NOT NULL,            -- the user namespace that owns it ("user:[4026531837]")
    netns TEXT,                      -- its network namespace ("net:[...]")
    holder_pid INTEGER, holder_start INTEGER,
    uplink TEXT NOT NULL,            -- 'slirp4netns'
    uplink_pid INTEGER, uplink_start INTEGER,
    api_socket TEXT,
    uplink_restarts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
"""


def ensure_schema(store):
    """The network tables (created on first use, next to the store's own)."""
    if getattr(store, "_net_schema", False):
        return
    store.db.executescript(SCHEMA + ipam.SCHEMA + ports.SCHEMA)
    store._net_schema = True


@contextlib.contextmanager
def locked():
    """Serializes making, repairing and removing the node network, and
    taking or giving back leases that decide whether it must exist."""
    fd = os.open(state_dir() / "network.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def current(store):
    ensure_schema(store)
    rows = store.db.execute("SELECT * FROM node_network WHERE id = 1").fetchall()
    return dict(rows[0]) if rows else None


def holder_process(store):
    """(pid, start time, user namespace) of the holder, or None: a process of
    the node's user namespace that a new node holder can join (nspod/node.py)."""
    row = current(store)
    return (row["holder_pid"], row["holder_start"], row["userns"]) if row else None


def holder_alive(row):
    return bool(row) and process.alive(row["holder_pid"], row["holder_start"])


def uplink_alive(row):
    return bool(row) and process.alive(row["uplink_pid"], row["uplink_start"])


def _my_userns():
    return os.readlink("/proc/self/ns/user")


# -- making sure it exists (call with the lock held) ------------------------------------
def ensure(store, subnet):
    """The node network, made or repaired as needed; returns its row.
    `subnet` is what the pod asks for (the pod_subnet setting)."""
    ensure_schema(store)
    row = current(store)
    leased = ipam.leased_pods(store)
    lost_holder = bool(row) and not holder_alive(row) and bool(leased)
    if row and not holder_alive(row):
        if leased:
            subnet = row["subnet"]  # the pods that hold leases keep their addresses
        discard(store, row)
        row = None
    elif row and leased and row["userns"] != _my_userns():
        # Made in another user namespace than ours, which a new node holder
        # joins while any process of it lives (nspod/node.py): so only if that
        # failed, or the namespace was made by another nspod version.
        raise NspodError(
            f"the node network belongs to another user namespace ({row['userns']}), "
            "held by pods started by an earlier node holder: remove them "
            f"(nspod rm -f {' '.join(leased)}) and run again")
    elif row and leased and row["subnet"] != str(subnet):
        raise NspodError(
            f"pod_subnet is {subnet} but the node network uses {row['subnet']}; "
            "it changes once no pod holds an address (remove the pods, or set it back)")
    elif row and (row["userns"] != _my_userns() or row["subnet"] != str(subnet)):
        discard(store, row)  # no pod uses it: make the one asked for
        row = None
    if row is None:
        row = _create(store, subnet)
        if lost_holder:
            for pod in ipam.leased_pods(store):
                store.event(pod, "", "Warning", "NodeNetworkRecreated",
                            "The node network's holder died; the node network was made again "
                            "and the pod is attached to it again by its watchdog")
    if not uplink_alive(row):
        _start_uplink(store, row)
        row = current(store)
    return row


def _create(store, subnet):
    uplink.check_host()  # up front: a missing slirp4netns is an error with the fix, before anything exists
    try:
        net = ipam.parse_subnet(subnet)
    except ValueError as e:
        raise NspodError(f"pod_subnet: {e}") from None
    gateway = ipam.gateway(net)
    pid = _start_holder(BRIDGE, gateway, net.prefixlen, ipam.mac_for(gateway))
    open(state_dir() / "uplink.log", "w").close()  # the log of this node network's uplink only
    try:
        with store.tx():
            store.db.execute(
                "INSERT OR REPLACE INTO node_network (id, subnet, gateway, bridge, userns, netns, holder_pid,"
                " holder_start, uplink, api_socket, created) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (str(net), gateway, BRIDGE, _my_userns(), os.readlink(f"/proc/{pid}/ns/net"), pid,
                 process.start_time(pid), uplink.NAME, str(state_dir() / "uplink.sock"), time.time()))
    except BaseException:
        process.kill(pid, process.start_time(pid))
        raise
    return current(store)


def _start_holder(bridge, gateway, prefixlen, mac):
    """A detached `catatonit -P` in a new network namespace, configured
    before it execs. Returns its pid."""
    from . import netlink

    def holder():
        from ..kernel import namespaces
        from ..kernel.process import restore_signals

        restore_signals()
        child.close_other_fds()  # nothing of the watchdog's (the network lock above all)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        namespaces.unshare("net")
        netlink.configure_node(bridge, gateway, prefixlen, mac, MTU)
        catatonit = _catatonit()
        if catatonit:
            if steps.sink is not None:
                steps.tell(f'execve("{catatonit}", ["catatonit", "-P"])',
                           result="(no return: catatonit holds the node network)", by_hand="exec catatonit -P")
            os.execv(catatonit, ["catatonit", "-P"])
        child.done()
        from ..pause import pause_forever

        pause_forever()

    try:
        return child.start(holder, detached=True, role="node network holder")
    except child.ChildFailed as e:
        raise NspodError(f"could not make the node network: {e}") from None


def _catatonit():
    found = which("catatonit")
    if found:
        return found
    return "/usr/libexec/podman/catatonit" if os.path.exists("/usr/libexec/podman/catatonit") else None


def _start_uplink(store, row):
    """Start the uplink (again) and forward every published port (again)."""
    again = row["uplink_pid"] is not None
    old = row["uplink_pid"]
    pid = uplink.start(row["holder_pid"], row["api_socket"], str(state_dir() / "uplink.log"))
    with store.tx():
        store.db.execute(
            "UPDATE node_network SET uplink_pid = ?, uplink_start = ?, uplink_restarts = uplink_restarts + ?"
            " WHERE id = 1", (pid, process.start_time(pid), 1 if again else 0))
    ports.forward_all(store, row["api_socket"])
    if again:
        for pod in ipam.leased_pods(store):
            store.event(pod, "", "Warning", "UplinkRestarted",
                        f"{row['uplink']} (pid {old}) had exited; started it again (pid {pid}) "
                        "and forwarded the published ports again")


# -- removing it --------------------------------------------------------------------
def remove_if_unused(store):
    """With the lock held: remove the node network if no pod holds a lease."""
    row = current(store)
    if row and not ipam.leased_pods(store):
        discard(store, row)


def discard(store, row):
    """Kill the uplink and the holder (the namespace, bridge and veths go
    with it); forget the row. Waits until both processes are gone."""
    procs = [(row["uplink_pid"], row["uplink_start"]), (row["holder_pid"], row["holder_start"])]
    left = process.kill_and_wait(procs)
    if left:
        raise NspodError(f"the node network's processes {left} did not end 10 s after SIGKILL")
    store.db.execute("DELETE FROM node_network WHERE id = 1")
    store.db.execute("UPDATE host_ports SET forward_id = NULL")
    if row["api_socket"]:
        try:
            os.unlink(row["api_socket"])
        except FileNotFoundError:
            pass


# -- reporting ------------------------------------------------------------------------
def describe(row):
    """The node network as `inspect` shows it."""
    if not row:
        return None
    return {
        "subnet": row["subnet"],
        "gateway": row["gateway"],
        "bridge": row["bridge"],
        "namespace": row["netns"],
        "holder": {"pid": row["holder_pid"] if holder_alive(row) else None},
        "uplink": {"name": row["uplink"], "pid": row["uplink_pid"] if uplink_alive(row) else None,
                   "running": uplink_alive(row), "restarts": row["uplink_restarts"],
                   "hostLoopback": ipam.HOST_LOOPBACK_GATEWAY},
    }


def leftovers(store):
    """What must not exist once no pod does (the tests' leak check)."""
    problems = []
    row = current(store)
    if row:
        problems.append(f"node network row: holder pid {row['holder_pid']} "
                        f"(alive: {holder_alive(row)}), uplink pid {row['uplink_pid']} (alive: {uplink_alive(row)})")
    for table in ("pod_networks", "host_ports"):
        n = store.db.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if n:
            problems.append(f"{n} row(s) in {table}")
    sock = state_dir() / "uplink.sock"
    if sock.exists():
        problems.append(f"uplink API socket {sock}")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith(uplink.NAME) and str(sock) in cmd:
            problems.append(f"uplink process {entry}: {cmd}")
    return problems
