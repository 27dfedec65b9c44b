"""The IPAM: address arithmetic (pure) and leases in a real SQLite file."""
import ipaddress
import multiprocessing

import pytest

from nspod.net import ipam, node_network
from nspod.spec import load_pods
from nspod.store import Store


# -- address arithmetic ------------------------------------------------------------
def test_default_subnet_and_gateway():
    net = ipam.parse_subnet(ipam.DEFAULT_SUBNET)
    assert str(net) == "10.88.0.0/16"
    assert ipam.gateway(net) == "10.88.0.1"
    assert ipam.gateway("192.168.7.0/24") == "192.168.7.1"


@pytest.mark.parametrize("text, fragment", [
    ("10.88.0.0", "prefix length"),  # a bare address is a /32: too small
    ("10.88.0.1/16", "is not a network address"),
    ("nonsense", "is not a network address"),
    ("fd00::/64", "only IPv4"),
    ("10.0.0.0/7", "between /8 and /28"),
    ("10.88.0.0/29", "between /8 and /28"),
    ("10.0.0.0/8", "overlaps 10.0.2.0/24"),
    ("10.0.2.0/25", "overlaps 10.0.2.0/24"),
    ("127.1.0.0/16", "loopback"),
    ("230.0.0.0/16", "multicast"),
])
def test_bad_subnets(text, fragment):
    with pytest.raises(ValueError) as caught:
        ipam.parse_subnet(text)
    assert fragment in str(caught.value)


def test_pick_lowest_free_address():
    assert ipam.pick("10.88.0.0/16", []) == "10.88.0.2"  # .0 network, .1 gateway
    assert ipam.pick("10.88.0.0/16", ["10.88.0.2", "10.88.0.3"]) == "10.88.0.4"
    assert ipam.pick("10.88.0.0/16", ["10.88.0.3"]) == "10.88.0.2"  # a released address is used again
    assert ipam.pick("10.88.0.0/16", ["10.88.0.2"] + [f"10.88.0.{i}" for i in range(3, 256)]) == "10.88.1.0"


def test_pick_skips_broadcast_and_knows_when_full():
    net = "10.9.9.0/28"  # .2 .. .14 are pod addresses: 13 of them
    hosts = [str(a) for a in list(ipaddress.ip_network(net).hosts())[1:]]
    assert len(hosts) == 13 and hosts[-1] == "10.9.9.14"
    assert ipam.pick(net, hosts[:-1]) == "10.9.9.14"
    assert ipam.pick(net, hosts) is None  # never .15, the broadcast address


def test_mac_and_veth_follow_the_address():
    assert ipam.mac_for("10.88.0.2") == "0a:58:0a:58:00:02"
    assert ipam.mac_for("10.88.255.254") == "0a:58:0a:58:ff:fe"
    assert ipam.veth_name("10.88.0.2") == "nsp0a580002"
    assert len(ipam.veth_name("255.255.255.255")) <= 15  # IFNAMSIZ - 1


# -- leases -----------------------------------------------------------------------------
def pod(name):
    return load_pods(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers: [{{name: app, command: [sleep, "1"]}}]
""")[0][0]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "nspod.db")
    node_network.ensure_schema(s)
    for name in ("a", "b", "c"):
        s.create_pod(pod(name), name + "-uid", {})
    yield s
    s.close()


def test_acquire_is_unique_stable_and_released(store):
    a = ipam.acquire(store, "a", "10.88.0.0/16")
    b = ipam.acquire(store, "b", "10.88.0.0/16")
    assert (a["ip"], b["ip"]) == ("10.88.0.2", "10.88.0.3")
    assert a["veth"] == "nsp0a580002" and a["mode"] == "pod"
    assert ipam.acquire(store, "a", "10.88.0.0/16")["ip"] == "10.88.0.2"  # the same lease again
    ipam.release(store, "a")
    assert ipam.lease(store, "a") is None
    assert ipam.leased_pods(store) == ["b"]
    assert ipam.acquire(store, "c", "10.88.0.0/16")["ip"] == "10.88.0.2"


def test_lease_goes_with_the_pod_row(store):
    ipam.acquire(store, "a", "10.88.0.0/16")
    store.delete_pod("a")
    assert ipam.lease(store, "a") is None
    assert store.db.execute("SELECT count(*) FROM pod_networks").fetchall()[0][0] == 0


def test_subnet_full(store):
    small = "10.9.9.0/28"
    for i in range(13):
        store.create_pod(pod(f"p{i}"), f"u{i}", {})
        ipam.acquire(store, f"p{i}", small)
    with pytest.raises(ipam.SubnetFull):
        ipam.acquire(store, "a", small)


def test_host_network_pods_share_the_host_ip_without_a_lease(store):
    ipam.record_host(store, "a", "192.0.2.2")
    ipam.record_host(store, "b", "192.0.2.2")
    assert ipam.leased_pods(store) == []
    assert ipam.all_ips(store) == {"a": "192.0.2.2", "b": "192.0.2.2"}
    assert ipam.acquire(store, "c", "10.88.0.0/16")["ip"] == "10.88.0.2"


def _acquire_in_child(path, name, queue):
    s = Store(path)
    queue.put((name, ipam.acquire(s, name, "10.88.0.0/16")["ip"]))


def test_many_pods_at_once_get_distinct_addresses(tmp_path):
    path = tmp_path / "nspod.db"
    s = Store(path)
    node_network.ensure_schema(s)
    names = [f"pod{i}" for i in range(20)]
    for name in names:
        s.create_pod(pod(name), name, {})
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_acquire_in_child, args=(path, name, queue)) for name in names]
    for p in procs:
        p.start()
    got = dict(queue.get(timeout=30) for _ in names)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert sorted(got.values(), key=ipaddress.ip_address) == [f"10.88.0.{i}" for i in range(2, 22)]
