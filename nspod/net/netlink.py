"""The netlink steps of pod networking (pyroute2, imported lazily).

A netlink socket talks to the network namespace it was opened in. A rootless
process that joins another network namespace can never go back to the host's,
so every step that works inside the node's or a pod's namespace runs in a
short-lived forked helper: join the namespace, open a socket there, maybe join
the next one and open another, do the work, exit. Errors come back as text.
"""
import time

from ..errors import NspodError
from ..kernel import child, namespaces


def run_forked(what, fn, *args):
    """fn(*args) in a forked child (it may join other network namespaces;
    we stay in ours); its result (JSON), or NspodError(what: reason)."""
    try:
        return child.call(fn, *args)
    except child.ChildFailed as e:
        raise NspodError(f"{what}: {e}") from None


def _sysctl(name, value):
    """Write a net sysctl of the network namespace we are in now."""
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(str(value))


# -- the node network ----------------------------------------------------------------
def configure_node(bridge, gateway, prefixlen, mac, mtu):
    """In the node's fresh network namespace: lo up; the bridge with the
    gateway address; forward between the bridge and the uplink's tap0, and
    answer ARP on tap0 for pod addresses (proxy_arp), so the uplink sends
    replies for any pod to the node, which routes them over the bridge."""
    from pyroute2 import IPRoute

    with IPRoute() as ip:
        (lo,) = ip.link_lookup(ifname="lo")
        ip.link("set", index=lo, state="up")
        ip.link("add", ifname=bridge, kind="bridge", address=mac, mtu=mtu)
        (br,) = ip.link_lookup(ifname=bridge)
        ip.addr("add", index=br, address=gateway, prefixlen=prefixlen)
        ip.link("set", index=br, state="up")
    _sysctl("net.ipv4.ip_forward", 1)
    _sysctl("net.ipv4.conf.all.proxy_arp", 1)


def attach_pod(node_pid, pod_net_fd, bridge, veth, ip, prefixlen, gateway, mac, mtu):
    """Connect a pod's network namespace to the node's bridge: a veth pair,
    `veth` on the bridge and `eth0` in the pod with its address and a default
    route via the gateway. A stale pair of the same name (a sandbox that died
    a moment ago) is replaced."""
    run_forked(f"attach {ip} to the node network", _attach_pod,
               node_pid, pod_net_fd, bridge, veth, ip, prefixlen, gateway, mac, mtu)


def _attach_pod(node_pid, pod_net_fd, bridge, veth, ip, prefixlen, gateway, mac, mtu):
    # Links are found by name with one request each (RTM_GETLINK by name),
    # never by listing them all: the cost must not grow with the pod count.
    import errno

    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    with open(f"/proc/{node_pid}/ns/net") as node_ns:
        namespaces.setns(node_ns.fileno(), "net")
    node = IPRoute()  # a socket in the node's namespace ...
    namespaces.setns(pod_net_fd, "net")
    pod = IPRoute()   # ... and one in the pod's; both stay where they were opened
    try:
        br = node.link("get", ifname=bridge)[0]["index"]
        pair = dict(ifname=veth, kind="veth", mtu=mtu, master=br, state="up",
                    peer={"ifname": "eth0", "net_ns_fd": pod_net_fd, "address": mac, "mtu": mtu})
        for attempt in range(40):
            try:
                node.link("add", **pair)
                break
            except NetlinkError as e:
                if e.code != errno.EEXIST or attempt == 39:
                    raise
            # A stale end of an old pair: `veth` in the node (a sandbox that
            # died a moment ago), or `eth0` in the pod (the old node network's
            # namespace is being torn down by the kernel, asynchronously).
            for sock, name in ((node, veth), (pod, "eth0")):
                try:
                    sock.link("del", ifname=name)
                except NetlinkError as e:
                    if e.code != errno.ENODEV:
                        raise
            time.sleep(0.05)
        eth0 = pod.link("get", ifname="eth0")[0]["index"]
        pod.addr("add", index=eth0, address=ip, prefixlen=prefixlen)
        pod.link("set", index=eth0, state="up")
        pod.route("add", dst="0.0.0.0/0", gateway=gateway)
    finally:
        node.close()
        pod.close()


def delete_link(node_pid, name):
    """Delete a link of the node's namespace (a veth: both ends go)."""
    run_forked(f"delete {name}", _delete_link, node_pid, name)


def _delete_link(node_pid, name):
    from pyroute2 import IPRoute

    with open(f"/proc/{node_pid}/ns/net") as node_ns:
        namespaces.setns(node_ns.fileno(), "net")
    with IPRoute() as ip:
        try:
            ip.link("del", ifname=name)
        except Exception:  # gone already, with the pod's namespace
            pass


def node_links(node_pid):
    """Names of the links in the node's namespace (for tests and inspect)."""
    return run_forked("list the node network's links", _node_links, node_pid)


def _node_links(node_pid):
    from pyroute2 import IPRoute

    with open(f"/proc/{node_pid}/ns/net") as node_ns:
        namespaces.setns(node_ns.fileno(), "net")
    with IPRoute() as ip:
        return sorted(link.get("ifname") for link in ip.get_links())


# -- the host ---------------------------------------------------------------------
def primary_ipv4():
    """The host's main IPv4 address (the source of its default route, else its
    first global address, else 127.0.0.1): a hostNetwork pod's IP."""
    from pyroute2 import IPRoute

    with IPRoute() as ip:
        try:
            for route in ip.route("get", dst="192.0.2.1"):  # TEST-NET-1: never sent, only looked up
                src = route.get("RTA_PREFSRC")
                if src:
                    return src
        except Exception:  # no default route
            pass
        for addr in ip.get_addr(family=2):
            if addr["scope"] == 0:  # universe (global)
                return addr.get("IFA_ADDRESS")
    return "127.0.0.1"
