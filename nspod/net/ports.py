"""Published ports: ports[].hostPort forwards hostIP:hostPort on the host to
the pod's IP and containerPort, through the uplink (slirp4netns add_hostfwd).

Before anything is made, every published port is bound once on the host as a
test, so that a port in use, or one below net.ipv4.ip_unprivileged_port_start
for a rootless user, is an error that names the pod, the port and the fix.
The forwards are rows in `host_ports`, so a restarted uplink gets them all back.
"""
import errno
import socket

from ..errors import NspodError

# hostIP when the manifest gives none: all of the host's addresses, as in
# Kubernetes (set hostIP: 127.0.0.1 to publish on the host's loopback only).
DEFAULT_HOST_IP = "0.0.0.0"

SCHEMA = """
CREATE TABLE IF NOT EXISTS host_ports (
    pod TEXT NOT NULL REFERENCES pods(name) ON DELETE CASCADE,
    protocol TEXT NOT NULL,          -- TCP or UDP
    host_ip TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    pod_ip TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    forward_id INTEGER,              -- the uplink's id for it; NULL until forwarded
    PRIMARY KEY (protocol, host_ip, host_port)
);
"""


def unprivileged_port_start():
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024


def wanted(pod):
    """(protocol, host IP, host port, container port) of every published port."""
    return [(p.protocol, p.host_ip or DEFAULT_HOST_IP, p.host_port, p.container_port)
            for _, p in pod.published_ports()]


def check_free(pod_name, forwards):
    """Bind each port on the host once, as the uplink will: an error that
    names the port and the fix if one cannot be bound."""
    for protocol, host_ip, host_port, _ in forwards:
        kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
        what = f'pod "{pod_name}": hostPort {host_port}/{protocol} on {host_ip}'
        with socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as slirp4netns binds it
            try:
                s.bind((host_ip, host_port))
            except OSError as e:
                raise NspodError(_bind_error(what, host_ip, host_port, e)) from None


def _bind_error(what, host_ip, host_port, e):
    if e.errno in (errno.EACCES, errno.EPERM):
        start = unprivileged_port_start()
        return (f"{what} is below net.ipv4.ip_unprivileged_port_start ({start}), "
                f"which a rootless user cannot bind. Use a hostPort of {start} or more, "
                f"or lower the limit (as root): sysctl -w net.ipv4.ip_unprivileged_port_start={host_port}")
    if e.errno == errno.EADDRINUSE:
        return (f"{what} is already in use (by another pod or program: `ss -lntup` shows which); "
                "pick another hostPort, or stop what holds it")
    if e.errno == errno.EADDRNOTAVAIL:
        return f"{what}: {host_ip} is not an address of this host; use one of its addresses, or 0.0.0.0 for all"
    return f"{what} cannot be bound: {e.strerror}"


def published(store, pod_name):
    return [dict(r) for r in store.db.execute(
        "SELECT * FROM host_ports WHERE pod = ? ORDER BY host_port", (pod_name,)).fetchall()]


def forward(store, pod_name, pod_ip, forwards, api_socket):
    """Forward the pod's ports through the uplink (those not forwarded yet)
    and record them. With the node network lock held."""
    from . import uplink

    have = {(r["protocol"], r["host_ip"], r["host_port"]): r for r in published(store, pod_name)}
    for protocol, host_ip, host_port, container_port in forwards:
        row = have.get((protocol, host_ip, host_port))
        if row and row["forward_id"] is not None and row["pod_ip"] == pod_ip:
            continue
        what = f'pod "{pod_name}": hostPort {host_port}/{protocol} on {host_ip}'
        if row and row["forward_id"] is not None:
            _remove_quietly(api_socket, row["forward_id"])
        try:
            fid = uplink.add_forward(api_socket, protocol, host_ip, host_port, pod_ip, container_port)
        except NspodError as e:
            raise NspodError(f"{what}: the uplink could not forward it ({e}); is the port in use?") from None
        except OSError as e:
            raise NspodError(f"{what}: the uplink's API did not answer ({e})") from None
        try:
            store.db.execute(
                "INSERT OR REPLACE INTO host_ports (pod, protocol, host_ip, host_port, pod_ip, container_port, forward_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", (pod_name, protocol, host_ip, host_port, pod_ip, container_port, fid))
        except Exception:
            _remove_quietly(api_socket, fid)
            raise


def unforward(store, pod_name, api_socket):
    """Stop forwarding the pod's ports and forget them."""
    for row in published(store, pod_name):
        if api_socket and row["forward_id"] is not None:
            _remove_quietly(api_socket, row["forward_id"])
    store.db.execute("DELETE FROM host_ports WHERE pod = ?", (pod_name,))


def forward_all(store, api_socket):
    """A new uplink: forward every recorded port again. A port that fails
    now is reported on its pod (and kept, to be tried with the next uplink)."""
    from . import uplink

    for row in store.db.execute("SELECT * FROM host_ports").fetchall():
        try:
            fid = uplink.add_forward(api_socket, row["protocol"], row["host_ip"], row["host_port"],
                                     row["pod_ip"], row["container_port"])
        except (NspodError, OSError) as e:
            fid = None
            store.event(row["pod"], "", "Warning", "FailedPublishPort",
                        f"hostPort {row['host_port']}/{row['protocol']} on {row['host_ip']}: {e}")
        store.db.execute("UPDATE host_ports SET forward_id = ? WHERE protocol = ? AND host_ip = ? AND host_port = ?",
                         (fid, row["protocol"], row["host_ip"], row["host_port"]))


def _remove_quietly(api_socket, forward_id):
    from . import uplink

    try:
        uplink.remove_forward(api_socket, forward_id)
    except (NspodError, OSError):
        pass  # the uplink is gone (and its forwards with it)
