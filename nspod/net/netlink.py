"""The netlink steps of pod networking (on our own rtnetlink client, rtnl.py).

A netlink socket talks to the network namespace it was opened in. A rootless
process that joins another network namespace can never go back to the host's,
so every step that works inside the node's or a pod's namespace runs in a
short-lived forked helper: join the namespace, open a socket there, maybe join
the next one and open another, do the work, exit. Errors come back as text.
"""
import errno
import os
import time

from .. import steps
from ..errors import NspodError
from ..kernel import child, namespaces
from . import rtnl


def run_forked(what, fn, *args):
    """fn(*args) in a forked child (it may join other network namespaces;
    we stay in ours); its result (JSON), or NspodError(what: reason)."""
    try:
        return child.call(fn, *args, role="netlink helper")
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
    with rtnl.Rtnl() as ip:
        ip.do(rtnl.set_up(ip.link_index("lo"), "lo"))
        ip.do(rtnl.add_bridge(bridge, mac, mtu))
        br = ip.link_index(bridge)
        ip.do(rtnl.add_address(br, gateway, prefixlen, bridge))
        ip.do(rtnl.set_up(br, bridge))
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
    _enter_net(node_pid)
    with rtnl.Rtnl() as node:             # a socket in the node's namespace ...
        namespaces.setns(pod_net_fd, "net")
        with rtnl.Rtnl() as pod:          # ... and one in the pod's; both stay where they were opened
            pair = rtnl.add_veth(veth, mtu, node.link_index(bridge), "eth0", pod_net_fd, mac,
                                 bridge=bridge, netns=_pid_of(pod_net_fd))
            for attempt in range(40):
                try:
                    node.do(pair)
                    break
                except rtnl.NetlinkError as e:
                    if e.errno != errno.EEXIST or attempt == 39:
                        raise
                # A stale end of an old pair: `veth` in the node (a sandbox that
                # died a moment ago), or `eth0` in the pod (the old node network's
                # namespace is being torn down by the kernel, asynchronously).
                for sock, name in ((node, veth), (pod, "eth0")):
                    try:
                        sock.do(rtnl.delete_link(name))
                    except rtnl.NetlinkError as e:
                        if e.errno != errno.ENODEV:
                            raise
                time.sleep(0.05)
            eth0 = pod.link_index("eth0")
            pod.do(rtnl.add_address(eth0, ip, prefixlen, "eth0"))
            pod.do(rtnl.set_up(eth0, "eth0"))
            pod.do(rtnl.add_default_route(gateway))


def _enter_net(pid):
    fd = namespaces.open_ns(pid, "net")
    try:
        namespaces.setns(fd, "net")
    finally:
        os.close(fd)


def _pid_of(ns_fd):
    """The pid whose namespace ns_fd is, when we opened it from /proc/PID/ns (for --explain)."""
    path = steps.fd_name(ns_fd)
    return path.split("/")[2] if path.startswith("/proc/") else None


def delete_link(node_pid, name):
    """Delete a link of the node's namespace (a veth: both ends go)."""
    run_forked(f"delete {name}", _delete_link, node_pid, name)


def _delete_link(node_pid, name):
    _enter_net(node_pid)
    with rtnl.Rtnl() as ip:
        try:
            ip.do(rtnl.delete_link(name))
        except rtnl.NetlinkError as e:
            if e.errno != errno.ENODEV:  # else gone already, with the pod's namespace
                raise


def node_links(node_pid):
    """Names of the links in the node's namespace (for tests and inspect)."""
    return run_forked("list the node network's links", _node_links, node_pid)


def _node_links(node_pid):
    _enter_net(node_pid)
    with rtnl.Rtnl() as ip:
        return sorted(rtnl.link_name(reply) for reply in ip.do(rtnl.links()))


# -- the host ---------------------------------------------------------------------
def primary_ipv4():
    """The host's main IPv4 address (the source of its default route, else its
    first global address, else 127.0.0.1): a hostNetwork pod's IP."""
    with rtnl.Rtnl() as ip:
        try:
            for route in ip.do(rtnl.get_route("192.0.2.1")):  # TEST-NET-1: never sent, only looked up
                src = rtnl.route_source(route)
                if src:
                    return src
        except rtnl.NetlinkError:  # no default route
            pass
        for reply in ip.do(rtnl.ipv4_addresses()):
            scope, address = rtnl.address_of(reply)
            if scope == rtnl.RT_SCOPE_UNIVERSE and address:
                return address
    return "127.0.0.1"
