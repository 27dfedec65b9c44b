"""IP addresses for pods: a small IPAM kept in the state database.

A pod's address is a *lease*: a row in `pod_networks` taken when its sandbox
joins the node network and given back when the sandbox goes (as a CNI plugin's
ADD and DEL). The row references the pod, so deleting the pod deletes the
lease too. A unique index on the address, and taking the lowest free address
inside one write transaction (BEGIN IMMEDIATE), keep addresses unique when many
pods start at once.

The address arithmetic at the top is pure and unit tested.
"""
import ipaddress
import time

from ..errors import StateError

DEFAULT_SUBNET = "10.88.0.0/16"
# slirp4netns' own network on the node side: 10.0.2.2 is the host's loopback,
# 10.0.2.3 its DNS forwarder, 10.0.2.100 the node network's tap0.
UPLINK_NETWORK = "10.0.2.0/24"
HOST_LOOPBACK_GATEWAY = "10.0.2.2"
UPLINK_DNS = "10.0.2.3"
HOST_ALIAS_NAME = "host.nspod.internal"  # in every pod's /etc/hosts: the host's loopback


def parse_subnet(text):
    """The pod subnet from a setting, e.g. "10.88.0.0/16". Raises ValueError
    with a message that says what is wrong."""
    try:
        net = ipaddress.ip_network(str(text), strict=True)
    except ValueError as e:
        raise ValueError(f'"{text}" is not a network address with a prefix length, like {DEFAULT_SUBNET} ({e})') from None
    if net.version != 4:
        raise ValueError(f'"{text}": only IPv4 pod subnets are supported')
    if not 8 <= net.prefixlen <= 28:
        raise ValueError(f'"{text}": the prefix length must be between /8 and /28')
    for reserved, what in ((UPLINK_NETWORK, "the uplink's network (slirp4netns)"), ("127.0.0.0/8", "loopback"),
                           ("224.0.0.0/4", "multicast"), ("0.0.0.0/8", "'this network'")):
        if net.overlaps(ipaddress.ip_network(reserved)):
            raise ValueError(f'"{text}" overlaps {reserved}, {what}')
    return net


def gateway(subnet):
    """The node's address on the bridge: the subnet's first host address."""
    return str(ipaddress.ip_network(subnet).network_address + 1)


def pick(subnet, used):
    """The lowest address of subnet that is neither the network, the
    gateway, the broadcast address nor in `used`; None when all are taken."""
    net = ipaddress.ip_network(subnet)
    taken = {int(ipaddress.ip_address(a)) for a in used}
    first = int(net.network_address) + 2  # .0 is the network, .1 the gateway
    last = int(net.broadcast_address) - 1
    for candidate in range(first, last + 1):
        if candidate not in taken:
            return str(ipaddress.ip_address(candidate))
    return None


def mac_for(ip):
    """A fixed MAC per address (0a:58 + the four octets, as the CNI bridge
    plugin once did): a reused address keeps its MAC, so no neighbour
    (ARP) entry elsewhere goes stale when a pod gives way to another."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(ip).packed)


def veth_name(ip):
    """The node-side end of the pod's veth pair: "nsp" + the address in hex
    (unique while the lease is, and at most 15 characters)."""
    return "nsp" + ipaddress.ip_address(ip).packed.hex()


# -- the lease table ------------------------------------------------------------
SCHEMA = """
CREATE TABLE IF NOT EXISTS pod_networks (
    pod TEXT PRIMARY KEY REFERENCES pods(name) ON DELETE CASCADE,
    mode TEXT NOT NULL,              -- 'pod': an address leased from the subnet; 'host': hostNetwork
    ip TEXT NOT NULL,                -- the pod's IP (on hostNetwork: the host's)
    subnet TEXT,                     -- the subnet the lease is from
    veth TEXT,                       -- node-side end of the pod's veth pair
    created REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS pod_networks_leased_ip ON pod_networks(ip) WHERE mode = 'pod';
"""


class SubnetFull(Exception):
    pass


def ensure_schema(store):
    store.db.executescript(SCHEMA)


def lease(store, pod):
    """The pod's row (mode, ip, subnet, veth) or None."""
    rows = store.db.execute("SELECT * FROM pod_networks WHERE pod = ?", (pod,)).fetchall()
    return dict(rows[0]) if rows else None


def acquire(store, pod, subnet):
    """The pod's lease, taken now if it holds none (the same address again
    when its sandbox is re-created). Raises SubnetFull."""
    with store.tx():
        held = lease(store, pod)
        if held and held["mode"] == "pod" and held["subnet"] == str(subnet):
            return held
        store.db.execute("DELETE FROM pod_networks WHERE pod = ?", (pod,))
        used = [r[0] for r in store.db.execute("SELECT ip FROM pod_networks WHERE mode = 'pod'").fetchall()]
        ip = pick(subnet, used)
        if ip is None:
            raise SubnetFull(f"no free address left in {subnet}")
        store.db.execute(
            "INSERT INTO pod_networks (pod, mode, ip, subnet, veth, created) VALUES (?, 'pod', ?, ?, ?, ?)",
            (pod, ip, str(subnet), veth_name(ip), time.time()))
    return lease(store, pod)


def record_host(store, pod, ip):
    """A hostNetwork pod: no lease, but its IP (the host's) for status.podIP."""
    store.db.execute(
        "INSERT OR REPLACE INTO pod_networks (pod, mode, ip, created) VALUES (?, 'host', ?, ?)",
        (pod, ip, time.time()))


def release(store, pod):
    store.db.execute("DELETE FROM pod_networks WHERE pod = ?", (pod,))


def leased_pods(store):
    return [r[0] for r in store.db.execute("SELECT pod FROM pod_networks WHERE mode = 'pod'").fetchall()]


def all_ips(store):
    """pod name -> IP, for `ps -o wide` (nothing yet if no pod ever had one)."""
    try:
        return {r[0]: r[1] for r in store.db.execute("SELECT pod, ip FROM pod_networks").fetchall()}
    except StateError as e:
        if "no such table" not in str(e):
            raise
        return {}  # no pod ever had an address
