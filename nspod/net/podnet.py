"""A pod's network, from its watchdog's side and the CLI's.

Attaching a sandbox (the watchdog, after the pause holder made the pod's
network namespace):
    test-bind the published host ports        nothing exists yet if one fails
    lock: make sure the node network exists    holder + bridge + uplink
          lease an address                     lowest free one in the subnet
    veth pair: node bridge <-> pod eth0         address, default route via the bridge
    lock: forward the published ports           through the uplink
    write the pod's /etc/hosts and /etc/resolv.conf
    watch the holder's and the uplink's pidfds  a death is repaired (see on_event)

Releasing (`release`, called by the one teardown in nspod/sandbox.py): stop
forwarding the ports, delete the veth, give back the lease, and remove the
node network if that was the last lease.

A hostNetwork pod has none of this: it stays in the node's (the host's)
network namespace; its IP is the host's and its /etc/hosts a copy of the host's.
"""
import os
import selectors

from ..errors import NspodError
from ..kernel import process
from . import hosts, ipam, netlink, node_network, ports


class PodNetwork:
    def __init__(self, store, name, pod, settings, pod_dir):
        self.store = store
        self.name = name
        self.pod = pod
        self.subnet = (settings or {}).get("pod_subnet") or ipam.DEFAULT_SUBNET
        self.dir = str(pod_dir)
        self.etc_files = {}
        self.pod_net_fd = None
        self.attached_to = None  # (holder pid, holder start) of the node network we are attached to
        self.sel = None
        self.watched = []        # pidfds of the holder and the uplink

    # -- the watchdog's side -------------------------------------------------------
    def attach(self, pod_ns, sel=None):
        """Connect the new sandbox; raises NspodError (the caller removes what
        was made through nspod/sandbox.py)."""
        node_network.ensure_schema(self.store)
        if self.pod.host_network:
            ip = netlink.primary_ipv4()
            ipam.record_host(self.store, self.name, ip)
            self.etc_files = hosts.write(self.dir, self.pod, ip)
            return
        self.pod_net_fd = pod_ns["net"]
        forwards = ports.wanted(self.pod)
        already = {(r["protocol"], r["host_ip"], r["host_port"]) for r in ports.published(self.store, self.name)}
        ports.check_free(self.name, [f for f in forwards if f[:3] not in already])
        with node_network.locked():
            node = node_network.ensure(self.store, self.subnet)
            try:
                lease = ipam.acquire(self.store, self.name, node["subnet"])
            except ipam.SubnetFull as e:
                raise NspodError(f'pod "{self.name}": {e}; remove pods or set a larger pod_subnet') from None
        self._connect(node, lease)
        with node_network.locked():
            node = node_network.ensure(self.store, self.subnet)  # (a no-op unless it died meanwhile)
            if forwards:
                ports.forward(self.store, self.name, lease["ip"], forwards, node["api_socket"])
        if (node["holder_pid"], node["holder_start"]) != self.attached_to:
            self._connect(node, lease)  # the node network was made again meanwhile
        self.etc_files = hosts.write(self.dir, self.pod, lease["ip"])
        if sel is not None:
            self.watch(sel, node)

    def _connect(self, node, lease):
        import ipaddress

        net = ipaddress.ip_network(node["subnet"])
        netlink.attach_pod(node["holder_pid"], self.pod_net_fd, node["bridge"], lease["veth"], lease["ip"],
                           net.prefixlen, node["gateway"], ipam.mac_for(lease["ip"]), node_network.MTU)
        self.attached_to = (node["holder_pid"], node["holder_start"])

    def adopt(self, pod_ns, sel=None):
        """A new watchdog took over a running sandbox: its network is there."""
        node_network.ensure_schema(self.store)
        self.pod_net_fd = pod_ns.get("net")
        self.etc_files = {t: os.path.join(self.dir, "etc-" + os.path.basename(t))
                          for t in ("/etc/hosts", "/etc/resolv.conf")}
        node = node_network.current(self.store)
        if node and not self.pod.host_network:
            self.attached_to = (node["holder_pid"], node["holder_start"])
            if sel is not None:
                self.watch(sel, node)
                if not node_network.holder_alive(node) or (node["uplink_pid"] and not node_network.uplink_alive(node)):
                    self.on_event()  # it died while no supervisor watched: repair it now

    def watch(self, sel, node):
        """Wake the watchdog's loop when the holder or the uplink dies."""
        self.unwatch()
        self.sel = sel
        for pid, started in ((node["holder_pid"], node["holder_start"]), (node["uplink_pid"], node["uplink_start"])):
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            if process.start_time(pid) != started:
                os.close(fd)
                continue
            sel.register(fd, selectors.EVENT_READ, ("net", None))
            self.watched.append(fd)

    def unwatch(self):
        for fd in self.watched:
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
            os.close(fd)
        self.watched = []

    def on_event(self):
        """The holder or the uplink died: repair the node network (whoever
        comes first does; the rest find it working), attach this pod again
        if the namespace was made anew, and watch the new processes."""
        sel = self.sel
        self.unwatch()
        if ipam.lease(self.store, self.name) is None or self.pod_net_fd is None:
            return  # our sandbox is being taken down
        try:
            with node_network.locked():
                node = node_network.ensure(self.store, self.subnet)
            lease = ipam.lease(self.store, self.name)
            if (node["holder_pid"], node["holder_start"]) != self.attached_to:
                self._connect(node, lease)
        except NspodError as e:
            self.store.event(self.name, "", "Warning", "NetworkNotReady", f"could not repair the pod network: {e}")
            return
        self.watch(sel, node)


# -- the CLI's side, and the teardown's -------------------------------------------------
def release(store, name, in_user_ns=False):
    """Stop forwarding the pod's ports, give back its lease, and remove the
    node network if no pod holds a lease any more. From inside the user
    namespace (the watchdog) the veth is deleted right away; otherwise it
    goes with the pod's network namespace when its pause holder ends."""
    node_network.ensure_schema(store)
    with node_network.locked():
        held = ipam.lease(store, name)
        node = node_network.current(store)
        ports.unforward(store, name, node["api_socket"] if node_network.uplink_alive(node) else None)
        if held and held["mode"] == "pod" and in_user_ns and node_network.holder_alive(node):
            others = [p for p in ipam.leased_pods(store) if p != name]
            if others:  # else the whole namespace is about to go
                try:
                    netlink.delete_link(node["holder_pid"], held["veth"])
                except NspodError:
                    pass  # gone with the pod's namespace already
        ipam.release(store, name)
        node_network.remove_if_unused(store)


def status_fields(store, name):
    """status.podIP and status.podIPs, as Kubernetes reports them."""
    node_network.ensure_schema(store)
    held = ipam.lease(store, name)
    if not held:
        return {}
    return {"podIP": held["ip"], "podIPs": [{"ip": held["ip"]}]}


def inspect(store, name):
    """The `network` part of inspect's nspod section."""
    node_network.ensure_schema(store)
    held = ipam.lease(store, name)
    out = {"mode": held["mode"] if held else None, "ip": held["ip"] if held else None}
    if held and held["mode"] == "pod":
        node = node_network.current(store)
        out.update(veth=held["veth"], interface="eth0", subnet=held["subnet"],
                   gateway=node["gateway"] if node else None, node=node_network.describe(node))
    out["ports"] = [{"protocol": r["protocol"], "hostIP": r["host_ip"], "hostPort": r["host_port"],
                     "containerPort": r["container_port"], "forwarded": r["forward_id"] is not None}
                    for r in ports.published(store, name)]
    return out
