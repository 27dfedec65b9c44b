"""Pod networking, for real, as an unprivileged user: an IP per pod on the
node network's bridge, pod-to-pod traffic, outbound access through the
uplink (slirp4netns), published ports, /etc/hosts and resolv.conf, hostNetwork,
and that nothing is left once the pods are gone (conftest's leak check
covers leases, forwarded ports, the node network and its uplink)."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from podtest import NSPOD, nspod, state_dir, wait_for

# A TCP server for pods: answers every connection with "NAME CLIENT-IP".
SERVER = """\
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(os.environ.get('PORT', '8080'))))
s.listen(64)
while True:
    c, a = s.accept()
    c.sendall(('%s %s' % (os.environ['NAME'], a[0])).encode())
    c.close()
"""
UDP_ECHO = """\
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 5353))
while True:
    d, a = s.recvfrom(100)
    s.sendto(b'echo ' + d, a)
"""
CONNECT = ("import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5); "
           "print(s.recv(200).decode())")


def manifest(name, containers, **spec):
    """A Pod manifest as JSON (which is YAML too)."""
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": dict(spec, containers=containers)})


def server(name="srv", port=8080, ports=()):
    return {"name": name, "command": ["python3", "-c", SERVER],
            "env": [{"name": "NAME", "value": name}, {"name": "PORT", "value": str(port)}],
            "ports": [{"containerPort": port, **p} for p in ports]}


def sleeper(name="app"):
    return {"name": name, "command": ["sleep", "300"]}


def pod_ip(pods, name):
    return pods.inspect(name)["status"]["podIP"]


def connect_from(pod, host, port, container=None, check=True):
    args = ["exec", pod] + (["-c", container] if container else []) + ["--", "python3", "-c", CONNECT, host, str(port)]
    done = nspod(*args, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{pod} -> {host}:{port} failed: {done.stderr}")
    return done.stdout.strip() if done.returncode == 0 else None


def wait_connect(pod, host, port, what=None):
    return wait_for(lambda: connect_from(pod, host, port, check=False), timeout=15,
                    what=what or f"{pod} to reach {host}:{port}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def host_server(bind="127.0.0.1", reply=b"hello from the host"):
    """A TCP server in this (the host's) network namespace; yields its port."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            with c:
                c.sendall(reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        srv.close()


def host_connect(port, host="127.0.0.1", timeout=5):
    with socket.create_connection((host, port), timeout=timeout) as s:
        return s.recv(200).decode()


def node_network(pods, name):
    return pods.inspect(name)["nspod"]["network"]["node"]


def node_links(holder_pid):
    """Interfaces of the node network, read from /proc (no need to join it)."""
    with open(f"/proc/{holder_pid}/net/dev") as f:
        return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])


# -- an IP per pod, pod to pod -------------------------------------------------------------
def test_two_pods_talk_by_pod_ip(pods):
    pods.run(manifest("server", [server("web")]))
    pods.run(manifest("client", [sleeper()]))
    server_ip, client_ip = pod_ip(pods, "server"), pod_ip(pods, "client")
    assert server_ip != client_ip
    assert server_ip.startswith("10.88.") and client_ip.startswith("10.88.")
    # The server sees the client's own pod IP: no address translation between pods.
    assert wait_connect("client", server_ip, 8080) == f"web {client_ip}"
    # eth0 in the pod has the IP, and the default route goes via the bridge.
    addr = nspod("exec", "client", "--", "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert f"inet {client_ip}/16" in addr
    assert "default via 10.88.0.1 dev eth0" in nspod("exec", "client", "--", "ip", "route").stdout
    # Containers of one pod still talk over localhost.
    assert connect_from("server", "127.0.0.1", 8080).startswith("web 127.0.0.1")


def test_inspect_ps_wide_and_describe_show_the_ip(pods):
    pods.run(manifest("shown", [sleeper()]))
    pod = pods.inspect("shown")
    ip = pod["status"]["podIP"]
    assert pod["status"]["podIPs"] == [{"ip": ip}]
    net = pod["nspod"]["network"]
    assert net["mode"] == "pod" and net["ip"] == ip and net["interface"] == "eth0"
    assert net["gateway"] == "10.88.0.1" and net["subnet"] == "10.88.0.0/16"
    assert net["node"]["uplink"]["name"] == "slirp4netns" and net["node"]["uplink"]["running"]
    header, row = nspod("ps", "-o", "wide").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "PHASE"]
    assert row.split()[0] == "shown" and row.split()[-2:] == [ip, "Running"]
    assert nspod("ps").stdout.splitlines()[0].split()[-1] == "AGE"  # IP only with -o wide
    assert f"IP:               {ip}" in nspod("describe", "shown").stdout


def test_twenty_pods_started_in_parallel_get_distinct_working_ips(pods, tmp_path):
    names = [f"par{i}" for i in range(20)]
    procs = []
    for name in names:
        path = tmp_path / f"{name}.yaml"
        path.write_text(manifest(name, [server(name)]))
        pods.names.append(name)
        procs.append(subprocess.Popen(NSPOD + ["run", str(path)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    for name, p in zip(names, procs):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"{name}: {err}"
    ips = {name: pod_ip(pods, name) for name in names}
    assert len(set(ips.values())) == 20, ips
    # Every address works: each pod answers with its own name on it.
    script = ("import socket, sys, time\n"
              "for pair in sys.argv[1:]:\n"
              "    name, ip = pair.split('=')\n"
              "    for attempt in range(100):\n"
              "        try:\n"
              "            s = socket.create_connection((ip, 8080), timeout=5)\n"
              "            break\n"
              "        except OSError:\n"
              "            time.sleep(0.1)\n"
              "    print(name, s.recv(100).decode().split()[0])\n")
    pods.run(manifest("prober", [sleeper()]))
    out = nspod("exec", "prober", "--", "python3", "-c", script, *[f"{n}={ip}" for n, ip in ips.items()],
                timeout=120).stdout
    answers = dict(line.split() for line in out.splitlines())
    assert answers == {name: name for name in names}


def test_stop_gives_back_the_ip_and_start_takes_one(pods):
    pods.run(manifest("cycle", [server("cycle")], terminationGracePeriodSeconds=0))
    ip = pod_ip(pods, "cycle")
    holder = node_network(pods, "cycle")["holder"]["pid"]
    nspod("stop", "cycle")
    pod = pods.inspect("cycle")
    assert "podIP" not in pod["status"]
    # The last lease went: so did the node network.
    wait_for(lambda: not os.path.exists(f"/proc/{holder}"), what="the node network to go")
    nspod("start", "cycle")
    assert pod_ip(pods, "cycle") == ip  # the lowest free address again
    pods.run(manifest("peer", [sleeper()]))
    assert wait_connect("peer", ip, 8080).startswith("cycle ")


# -- outbound ----------------------------------------------------------------------------
def test_pod_reaches_a_server_on_the_host_loopback(pods):
    pods.run(manifest("out", [sleeper()]))
    with host_server("127.0.0.1") as port:
        assert connect_from("out", "10.0.2.2", port) == "hello from the host"
        assert connect_from("out", "host.nspod.internal", port) == "hello from the host"


# -- published ports -------------------------------------------------------------------------
def test_host_reaches_a_published_port(pods):
    port, local_port = free_port(), free_port()
    pods.run(manifest("pub", [
        server("web", 8080, [{"hostPort": port}]),
        {"name": "dns", "command": ["python3", "-c", UDP_ECHO],
         "ports": [{"containerPort": 5353, "protocol": "UDP", "hostPort": port}]},
        server("local", 9090, [{"hostPort": local_port, "hostIP": "127.0.0.1"}]),
    ]))
    reply = wait_for(lambda: _try(lambda: host_connect(port)), timeout=15, what="the published port")
    assert reply.startswith("web ")  # seen from the pod: the uplink's host-side address
    assert wait_for(lambda: _try(lambda: host_connect(local_port)), what="127.0.0.1 port").startswith("local ")
    # UDP is forwarded as well.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(1)

        def echo():
            u.sendto(b"ping", ("127.0.0.1", port))
            return u.recvfrom(100)[0]
        assert wait_for(lambda: _try(echo), what="UDP echo") == b"echo ping"
    ports = pods.inspect("pub")["nspod"]["network"]["ports"]
    assert {(p["protocol"], p["hostIP"], p["hostPort"], p["forwarded"]) for p in ports} == {
        ("TCP", "0.0.0.0", port, True), ("UDP", "0.0.0.0", port, True), ("TCP", "127.0.0.1", local_port, True)}
    nspod("rm", "-f", "pub")
    with pytest.raises(OSError):
        host_connect(port, timeout=1)  # the forward went with the pod


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def test_host_port_in_use_is_an_error_and_creates_nothing(pods):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = pods.run(manifest("clash", [server("web", 8080, [{"hostPort": port}])]), check=False)
        assert done.returncode == 1
        assert f'pod "clash": hostPort {port}/TCP on 0.0.0.0 is already in use' in done.stderr
    assert nspod("inspect", "clash", check=False).returncode == 1  # and the leak check: nothing else


def test_host_port_of_another_pod_is_an_error(pods):
    port = free_port()
    pods.run(manifest("first", [server("first", 8080, [{"hostPort": port}])]))
    done = pods.run(manifest("second", [server("second", 8080, [{"hostPort": port}])]), check=False)
    assert done.returncode == 1 and f"hostPort {port}/TCP" in done.stderr and "in use" in done.stderr
    assert nspod("inspect", "second", check=False).returncode == 1
    # The first pod keeps its port and its network.
    assert wait_for(lambda: _try(lambda: host_connect(port)), what="first's port").startswith("first ")


def test_privileged_host_port_is_an_error_and_creates_nothing(pods):
    start = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
    assert start > 80, "this test needs net.ipv4.ip_unprivileged_port_start above 80 (Linux's default is 1024)"
    done = pods.run(manifest("priv", [server("web", 8080, [{"hostPort": 80}])]), check=False)
    assert done.returncode == 1
    assert f'pod "priv": hostPort 80/TCP on 0.0.0.0 is below net.ipv4.ip_unprivileged_port_start ({start})' in done.stderr
    assert "sysctl -w net.ipv4.ip_unprivileged_port_start=80" in done.stderr
    assert nspod("inspect", "priv", check=False).returncode == 1


# -- names --------------------------------------------------------------------------------
def test_etc_hosts_resolv_conf_and_host_aliases(pods):
    pods.run(manifest("named", [sleeper("a"), sleeper("b")], hostname="myhost",
                      hostAliases=[{"ip": "10.9.8.7", "hostnames": ["db", "db.example"]}]))
    ip = pod_ip(pods, "named")
    for c in ("a", "b"):  # every container of the pod gets the same files
        hosts = nspod("exec", "named", "-c", c, "--", "cat", "/etc/hosts").stdout
        assert "127.0.0.1\tlocalhost\n" in hosts
        assert f"{ip}\tmyhost\n" in hosts
        assert "10.0.2.2\thost.nspod.internal\n" in hosts
        assert "10.9.8.7\tdb\tdb.example\n" in hosts
    assert nspod("exec", "named", "-c", "a", "--", "getent", "hosts", "myhost").stdout.split()[0] == ip
    assert nspod("exec", "named", "-c", "a", "--", "getent", "hosts", "db.example").stdout.split()[0] == "10.9.8.7"
    resolv = nspod("exec", "named", "-c", "a", "--", "cat", "/etc/resolv.conf").stdout
    assert resolv.splitlines()[0] == "nameserver 10.0.2.3"
    # The host's own files are untouched.
    assert "myhost" not in open("/etc/hosts").read()


def test_host_network(pods):
    pods.run(manifest("onhost", [server("web", free_port(), [{}])], hostNetwork=True,
                      hostAliases=[{"ip": "10.9.8.7", "hostnames": ["db"]}]))
    pod = pods.inspect("onhost")
    assert pod["nspod"]["pause"]["namespaces"]["net"] == os.readlink("/proc/self/ns/net")
    assert pod["nspod"]["containers"][0]["namespaces"]["uts"] == os.readlink("/proc/self/ns/uts")
    assert pod["status"]["podIP"] and pod["nspod"]["network"]["mode"] == "host"
    assert "node" not in pod["nspod"]["network"]  # no node network for it
    port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == port  # defaulted, as the API server does
    # Its server listens on the host itself.
    assert wait_for(lambda: _try(lambda: host_connect(port)), what="server on the host").startswith("web ")
    hosts = nspod("exec", "onhost", "--", "cat", "/etc/hosts").stdout
    assert hosts.startswith(open("/etc/hosts").read())
    assert hosts.endswith("10.9.8.7\tdb\n")
    assert nspod("exec", "onhost", "--", "hostname").stdout.strip() == socket.gethostname()
    assert nspod("exec", "onhost", "--", "sh", "-c", "echo $HOSTNAME").stdout.strip() == socket.gethostname()


def test_pod_subnet_setting(pods, tmp_path, monkeypatch):
    conf = tmp_path / "config" / "nspod"
    conf.mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (conf / "config.toml").write_text('pod_subnet = "10.0.2.0/25"\n')
    bad = pods.run(manifest("sub", [sleeper()]), check=False)
    assert bad.returncode == 2 and "pod_subnet" in bad.stderr and "overlaps 10.0.2.0/24" in bad.stderr
    (conf / "config.toml").write_text('pod_subnet = "10.123.4.0/24"\n')
    pods.run(manifest("sub", [sleeper()]))
    assert pod_ip(pods, "sub") == "10.123.4.2"
    assert "default via 10.123.4.1" in nspod("exec", "sub", "--", "ip", "route").stdout
    # A different subnet while the node network exists is refused, and says why.
    (conf / "config.toml").write_text('pod_subnet = "10.124.0.0/16"\n')
    other = pods.run(manifest("sub2", [sleeper()]), check=False)
    assert other.returncode == 1 and "node network uses 10.123.4.0/24" in other.stderr


# -- faults and clean-up -----------------------------------------------------------------
def test_killed_uplink_is_restarted_and_reported(pods):
    port = free_port()
    pods.run(manifest("up", [server("web", 8080, [{"hostPort": port, "hostIP": "127.0.0.1"}])]))
    assert wait_for(lambda: _try(lambda: host_connect(port)), what="the published port").startswith("web ")
    before = node_network(pods, "up")["uplink"]
    os.kill(before["pid"], signal.SIGKILL)
    after = wait_for(lambda: (n := node_network(pods, "up")) and (u := n["uplink"])["running"]
                     and u["pid"] != before["pid"] and u, what="a new uplink")
    assert after["restarts"] == before["restarts"] + 1
    assert "UplinkRestarted" in nspod("describe", "up").stdout
    # Outbound and the published port work again.
    assert wait_for(lambda: _try(lambda: host_connect(port)), what="the port again").startswith("web ")
    with host_server() as hport:
        assert connect_from("up", "10.0.2.2", hport) == "hello from the host"


def test_killed_node_network_holder_is_made_again(pods):
    pods.run(manifest("n1", [server("n1")]))
    pods.run(manifest("n2", [sleeper()]))
    ip = pod_ip(pods, "n1")
    holder = node_network(pods, "n1")["holder"]["pid"]
    os.kill(holder, signal.SIGKILL)
    # (While it is being made again, inspect shows no node network for a moment.)
    wait_for(lambda: (n := node_network(pods, "n1")) and n["holder"]["pid"] not in (None, holder),
             what="a new node network")
    assert pod_ip(pods, "n1") == ip  # both pods keep their addresses and are attached again
    assert wait_connect("n2", ip, 8080).startswith("n1 ")
    assert "NodeNetworkRecreated" in nspod("describe", "n2").stdout


def test_rm_removes_veth_lease_forwards_and_finally_the_node_network(pods):
    port = free_port()
    pods.run(manifest("r1", [server("r1", 8080, [{"hostPort": port}])]))
    pods.run(manifest("r2", [sleeper()]))
    node = node_network(pods, "r1")
    holder, uplink = node["holder"]["pid"], node["uplink"]["pid"]
    veth1 = pods.inspect("r1")["nspod"]["network"]["veth"]
    veth2 = pods.inspect("r2")["nspod"]["network"]["veth"]
    links = node_links(holder)
    assert {"nspod0", "tap0", veth1, veth2} <= set(links)
    # They serve every pod, so they keep none of the first pod's mounts (its /dev/shm) alive.
    for pid in (holder, uplink):
        assert str(state_dir() / "pods") not in open(f"/proc/{pid}/mountinfo").read()
    nspod("rm", "-f", "r1")
    assert veth1 not in node_links(holder) and veth2 in node_links(holder)
    with pytest.raises(OSError):
        host_connect(port, timeout=1)
    assert [line.split()[0] for line in nspod("ps", "-o", "wide").stdout.splitlines()[1:]] == ["r2"]
    nspod("rm", "-f", "r2")
    # The last pod took the node network with it: holder (and with it the
    # namespace, bridge and veths), uplink, API socket, rows.
    wait_for(lambda: not os.path.exists(f"/proc/{holder}") and not os.path.exists(f"/proc/{uplink}"),
             what="the node network's processes to go")
    assert not (state_dir() / "uplink.sock").exists()
