"""Pod networking as root: the same design (a node network namespace with a
bridge, slirp4netns as the uplink), only without a user namespace."""
import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from podtest import wait_for  # noqa: E402
from test_network import (  # noqa: E402,F401  (collected here too, run as root)
    _try,
    host_connect,
    manifest,
    node_network,
    server,
    test_etc_hosts_resolv_conf_and_host_aliases,
    test_host_network,
    test_host_port_in_use_is_an_error_and_creates_nothing,
    test_host_reaches_a_published_port,
    test_killed_uplink_is_restarted_and_reported,
    test_pod_reaches_a_server_on_the_host_loopback,
    test_rm_removes_veth_lease_forwards_and_finally_the_node_network,
    test_two_pods_talk_by_pod_ip,
)


def test_root_node_network_is_not_the_hosts(pods):
    pods.run(manifest("rootnet", [server("web")]))
    pod = pods.inspect("rootnet")
    node = node_network(pods, "rootnet")
    # The node network is a namespace of its own, in the host's user namespace.
    assert node["namespace"] != os.readlink("/proc/self/ns/net")
    assert os.readlink(f"/proc/{node['holder']['pid']}/ns/user") == os.readlink("/proc/self/ns/user")
    assert pod["nspod"]["network"]["veth"] not in os.listdir("/sys/class/net")  # nothing added to the host


def test_root_may_publish_a_privileged_port(pods):
    port = next(p for p in range(1023, 900, -1) if _bindable(p))
    pods.run(manifest("priv", [server("web", 8080, [{"hostPort": port, "hostIP": "127.0.0.1"}])]))
    assert wait_for(lambda: _try(lambda: host_connect(port)), what="the published port").startswith("web ")


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
