"""The netlink steps (nspod/net/netlink.py on nspod/net/rtnl.py) against the
real kernel, as an unprivileged user: each test runs as root of a throwaway
user namespace with a fresh network namespace (`unshare -Urn`), which plays
the node network; a forked process with a network namespace of its own plays
a pod. What the steps made is read back with iproute2 (`ip -j`), not with our
own client. Everything goes with those processes, so nothing is left.
The full pod path (nspod run) is covered by test_network.py and the others."""
import json
import subprocess
import sys

MAC_NODE = "0a:58:0a:63:00:01"  # the bridge's, as MAC in the snippets

# Runs first in each snippet: a "pod" is a child in a new network namespace,
# `ip_in(pid, ...)` is iproute2's view of a namespace.
PRELUDE = """\
import json, os, signal, socket, subprocess
from nspod.errors import NspodError
from nspod.kernel import namespaces
from nspod.net import netlink, rtnl

NODE = os.getpid()  # our network namespace is the node's
MAC = "0a:58:0a:63:00:01"
pods = []

def pod():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        namespaces.unshare("net")
        os.write(w, b"x")
        signal.pause()
        os._exit(0)
    os.read(r, 1)
    os.close(r); os.close(w)
    pods.append(pid)
    return pid, os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)

def ip_in(pid, *args):
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out or "[]")

def failure(fn, *args):
    try:
        fn(*args)
    except NspodError as e:
        return str(e)
    return None

def main():
%s

try:
    print(json.dumps(main()))
finally:
    for pid in pods:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
"""


def in_new_namespaces(body):
    """Run the body of main() (indented 4) as root of a new user namespace
    with a new network namespace; what it returned."""
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--net", sys.executable, "-c", PRELUDE % body],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"the snippet failed:\n{done.stderr}"
    return json.loads(done.stdout.splitlines()[-1])


def inet(link):
    """(address, prefix length) of each IPv4 address of a link in `ip -j addr`."""
    return [(a["local"], a["prefixlen"]) for a in link["addr_info"] if a["family"] == "inet"]


def test_node_network_and_a_pod_attached_to_it():
    got = in_new_namespaces("""
    netlink.configure_node("nspod0", "10.99.0.1", 24, MAC, 65520)
    pid, fd = pod()
    netlink.attach_pod(NODE, fd, "nspod0", "nsp0a630002", "10.99.0.2", 24, "10.99.0.1", "0a:58:0a:63:00:02", 65520)
    return {"node": ip_in(NODE, "-d", "link"), "node_addr": ip_in(NODE, "addr", "show", "nspod0"),
            "pod": ip_in(pid, "addr", "show", "eth0"), "routes": ip_in(pid, "route"),
            "links": netlink.node_links(NODE), "forward": open("/proc/sys/net/ipv4/ip_forward").read().strip()}
    """)
    links = {link["ifname"]: link for link in got["node"]}
    assert links["lo"]["operstate"] == "UNKNOWN" and "UP" in links["lo"]["flags"]
    bridge = links["nspod0"]
    assert (bridge["address"], bridge["mtu"], bridge["linkinfo"]["info_kind"]) == (MAC_NODE, 65520, "bridge")
    assert "UP" in bridge["flags"]
    assert inet(got["node_addr"][0]) == [("10.99.0.1", 24)]
    veth = links["nsp0a630002"]
    assert veth["linkinfo"]["info_kind"] == "veth" and veth["master"] == "nspod0" and veth["mtu"] == 65520
    assert "UP" in veth["flags"]
    (eth0,) = got["pod"]
    assert (eth0["ifname"], eth0["address"], eth0["mtu"]) == ("eth0", "0a:58:0a:63:00:02", 65520)
    assert eth0["operstate"] == "UP" and inet(eth0) == [("10.99.0.2", 24)]
    assert {"dst": "default", "gateway": "10.99.0.1", "dev": "eth0"}.items() <= got["routes"][0].items()
    assert got["links"] == ["lo", "nsp0a630002", "nspod0"]  # the dump, sorted
    assert got["forward"] == "1"


def test_a_stale_pair_of_the_same_name_is_replaced():
    got = in_new_namespaces("""
    netlink.configure_node("nspod0", "10.99.0.1", 24, MAC, 65520)
    old, old_fd = pod()
    netlink.attach_pod(NODE, old_fd, "nspod0", "nsp0a630002", "10.99.0.2", 24, "10.99.0.1", "0a:58:0a:63:00:02", 65520)
    new, new_fd = pod()  # a new sandbox that got the same address, and so the same veth name
    netlink.attach_pod(NODE, new_fd, "nspod0", "nsp0a630002", "10.99.0.2", 24, "10.99.0.1", "0a:58:0a:63:00:02", 65520)
    return {"old": [l["ifname"] for l in ip_in(old, "link")], "new": [l["ifname"] for l in ip_in(new, "link")],
            "links": netlink.node_links(NODE)}
    """)
    assert got == {"old": ["lo"], "new": ["lo", "eth0"], "links": ["lo", "nsp0a630002", "nspod0"]}


def test_refused_steps_say_what_and_why():
    got = in_new_namespaces("""
    netlink.configure_node("nspod0", "10.99.0.1", 24, MAC, 65520)
    pid, fd = pod()
    out = {
        "gateway": failure(netlink.attach_pod, NODE, fd, "nspod0", "nsp0a630003", "10.99.0.3", 24, "10.98.0.1",
                           "0a:58:0a:63:00:03", 65520),
        "bridge": failure(netlink.attach_pod, NODE, fd, "nope0", "nsp0a630004", "10.99.0.4", 24, "10.99.0.1",
                          "0a:58:0a:63:00:04", 65520),
        "again": failure(netlink.run_forked, "make the node network", netlink.configure_node, "nspod0",
                         "10.99.0.1", 24, MAC, 65520),
        "delete_absent": failure(netlink.delete_link, NODE, "nsp0a6300ff"),
    }
    with rtnl.Rtnl() as ip:
        try:
            ip.do(rtnl.add_address(ip.link_index("nspod0"), "10.99.0.9", 33))
        except rtnl.NetlinkError as e:
            out["prefix"] = [e.errno, e.strerror]
    return out
    """)
    # The kernel's own explanation (extended ACK) follows in parentheses where it gives one.
    assert got["gateway"].startswith("attach 10.99.0.3 to the node network: "
                                     "add default route via 10.98.0.1: Network is unreachable")
    assert got["bridge"] == "attach 10.99.0.4 to the node network: find link nope0: No such device"
    assert got["again"].startswith("make the node network: add bridge nspod0: File exists")
    assert got["delete_absent"] is None  # gone already: not an error
    assert got["prefix"][0] == 22 and got["prefix"][1].startswith("add address 10.99.0.9/33 to link ")
    assert "Invalid argument" in got["prefix"][1]


def test_primary_ipv4():
    # Without a default route: the first global address; with none at all: 127.0.0.1.
    got = in_new_namespaces("""
    bare = netlink.primary_ipv4()
    netlink.configure_node("nspod0", "10.99.0.1", 24, MAC, 65520)
    return [bare, netlink.primary_ipv4()]
    """)
    assert got == ["127.0.0.1", "10.99.0.1"]
    # In the host's namespace, as iproute2 sees it: the source of the route
    # to a public address, else the first global address, else 127.0.0.1.
    from nspod.net import netlink

    route = subprocess.run(["ip", "-j", "-4", "route", "get", "192.0.2.1"], capture_output=True, text=True)
    addrs = json.loads(subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True).stdout)
    candidates = [json.loads(route.stdout)[0].get("prefsrc")] if route.returncode == 0 else []
    candidates += [a["local"] for link in addrs for a in link["addr_info"] if a.get("scope") == "global"]
    expected = next((c for c in candidates if c), "127.0.0.1")
    assert netlink.primary_ipv4() == expected
