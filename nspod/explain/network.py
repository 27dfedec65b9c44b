"""The pod's network as the kernel has it: links, IPv4 addresses and routes
inside the pod's network namespace, and its veth's other end on the node's
bridge.

A netlink socket talks to the namespace it was opened in, and a rootless
process that joins another network namespace can never come back, so the
reading is done by a short-lived child (kernel/child.call), as `exec` and
`port-forward` do: it joins the node's user namespace (rootless), then the
node's network namespace and opens a socket there, then the pod's and opens
another, asks, and exits. The CLI never leaves its own namespaces."""
import os

from ..kernel import child, namespaces
from ..net import rtnl

MAIN_TABLE = 254


def _dump(sock):
    links = [rtnl.link_info(m) for m in sock.do(rtnl.links())]
    addresses = [rtnl.address_info(m) for m in sock.do(rtnl.ipv4_addresses())]
    routes = [r for r in (rtnl.route_info(m) for m in sock.do(rtnl.ipv4_routes())) if r["table"] == MAIN_TABLE]
    names = {link["index"]: link["name"] for link in links}
    for a in addresses:
        a["link"] = names.get(a["index"])
    for r in routes:
        r["link"] = names.get(r["oif"])
    return {"links": links, "addresses": addresses, "routes": routes}


def _read(fds, veth, bridge):
    if "user" in fds:  # the user namespace first: it grants the right to join the others
        namespaces.setns(fds["user"], "user")
    node = None
    if "node" in fds:
        namespaces.setns(fds["node"], "net")
        with rtnl.Rtnl() as ip:
            node = {}
            for key, name in (("veth", veth), ("bridge", bridge)):
                if name:
                    (reply,) = ip.do(rtnl.get_link(name))
                    node[key] = rtnl.link_info(reply)
            bridge_index = node.get("bridge", {}).get("index")
            node["bridgeAddresses"] = [a for a in (rtnl.address_info(m) for m in ip.do(rtnl.ipv4_addresses()))
                                       if a["index"] == bridge_index]
    namespaces.setns(fds["pod"], "net")
    with rtnl.Rtnl() as ip:
        pod = _dump(ip)
    return {"pod": pod, "node": node}


def read(pause_pid, pause_start, node_net_pid=None, node_net_start=None, veth=None, bridge=None, rootless=True):
    """{"pod": {"links", "addresses", "routes"}, "node": {"veth", "bridge",
    "bridgeAddresses"} or None}; raises NspodError (the child's reason) if
    it cannot be read."""
    fds = {}
    try:
        wanted = [("pod", pause_pid, pause_start, "net")]
        if rootless:
            wanted.append(("user", pause_pid, pause_start, "user"))
        if node_net_pid:
            wanted.append(("node", node_net_pid, node_net_start, "net"))
        for key, pid, started, kind in wanted:
            fd = namespaces.open_ns_of(pid, started, kind)
            if fd is None:
                raise child.ChildFailed("Gone", f"process {pid} (the {key} namespace's holder) has ended")
            fds[key] = fd
        return child.call(_read, fds, veth, bridge)
    finally:
        for fd in fds.values():
            os.close(fd)
