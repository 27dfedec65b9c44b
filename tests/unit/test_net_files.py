"""A pod's /etc/hosts and /etc/resolv.conf, the pod_subnet setting and the
published-port error messages (pure)."""
import errno

import pytest

from nspod import config
from nspod.errors import BadInput
from nspod.net import hosts, ports
from nspod.spec import HostAlias, load_pods


def test_hosts_file_on_the_pod_network():
    text = hosts.hosts_file("web", "10.88.0.5", (HostAlias("10.1.2.3", ("db", "db.local")),))
    assert text == (
        "# nspod-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        "10.88.0.5\tweb\n"
        "10.0.2.2\thost.nspod.internal\n"
        "\n"
        "# Entries added by HostAliases.\n"
        "10.1.2.3\tdb\tdb.local\n"
    )


def test_hosts_file_on_the_host_network_is_the_hosts_plus_aliases():
    host = "127.0.0.1 localhost\n192.0.2.2 vm"
    assert hosts.hosts_file("ignored", "192.0.2.2", (), host_hosts=host) == host + "\n"
    text = hosts.hosts_file("x", "192.0.2.2", (HostAlias("1.2.3.4", ("a",)),), host_hosts=host + "\n")
    assert text == host + "\n\n# Entries added by HostAliases.\n1.2.3.4\ta\n"


def test_resolv_conf():
    host = "# generated\nnameserver 127.0.0.53\nsearch example.com lab\noptions edns0 trust-ad\n"
    assert hosts.resolv_conf(host) == "nameserver 10.0.2.3\nsearch example.com lab\noptions edns0 trust-ad\n"
    assert hosts.resolv_conf("nameserver 10.255.255.53\n") == "nameserver 10.0.2.3\n"
    assert hosts.resolv_conf(host, host_network=True) == host


def test_write_puts_the_files_in_the_pod_folder(tmp_path):
    pod = load_pods("""
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  hostname: box
  hostAliases: [{ip: 10.1.2.3, hostnames: [db]}]
  containers: [{name: app, command: [sleep, "1"]}]
""")[0][0]
    files = hosts.write(str(tmp_path), pod, "10.88.0.9")
    assert set(files) == {"/etc/hosts", "/etc/resolv.conf"}
    text = open(files["/etc/hosts"]).read()
    assert "10.88.0.9\tbox\n" in text and text.endswith("10.1.2.3\tdb\n")
    assert open(files["/etc/resolv.conf"]).read().startswith("nameserver 10.0.2.3\n")
    assert all(f.startswith(str(tmp_path)) for f in files.values())


@pytest.mark.parametrize("value, ok", [
    ('"10.99.0.0/16"', "10.99.0.0/16"),
    ('"192.168.100.0/24"', "192.168.100.0/24"),
    ('"10.0.0.0/8"', None),
    ('"10.99.0.1/16"', None),
    ("16", None),
])
def test_pod_subnet_setting(tmp_path, monkeypatch, value, ok):
    (tmp_path / "nspod").mkdir()
    (tmp_path / "nspod" / "config.toml").write_text(f"pod_subnet = {value}\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    if ok:
        assert config.load()["pod_subnet"] == ok
    else:
        with pytest.raises(BadInput) as caught:
            config.load()
        assert "pod_subnet" in str(caught.value)


def test_published_ports_default_to_all_addresses():
    pod = load_pods("""
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: app
    command: [sleep, "1"]
    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1},
            {containerPort: 9000}]
""")[0][0]
    assert ports.wanted(pod) == [("TCP", "0.0.0.0", 8080, 80), ("UDP", "127.0.0.1", 5353, 53)]


def test_port_error_messages_name_the_pod_port_and_fix(monkeypatch):
    monkeypatch.setattr(ports, "unprivileged_port_start", lambda: 1024)
    what = 'pod "web": hostPort 80/TCP on 0.0.0.0'
    msg = ports._bind_error(what, "0.0.0.0", 80, OSError(errno.EACCES, "Permission denied"))
    assert msg.startswith(what + " is below net.ipv4.ip_unprivileged_port_start (1024)")
    assert "Use a hostPort of 1024 or more" in msg and "sysctl -w net.ipv4.ip_unprivileged_port_start=80" in msg
    msg = ports._bind_error(what, "0.0.0.0", 80, OSError(errno.EADDRINUSE, "Address in use"))
    assert msg.startswith(what + " is already in use") and "pick another hostPort" in msg
    msg = ports._bind_error(what, "10.1.1.1", 80, OSError(errno.EADDRNOTAVAIL, "Cannot assign"))
    assert "10.1.1.1 is not an address of this host" in msg


def test_missing_uplink_or_tun_is_reported_with_the_fix(monkeypatch):
    from nspod.errors import HostUnsupported
    from nspod.net import uplink

    monkeypatch.setattr(uplink, "which", lambda name: None)
    with pytest.raises(HostUnsupported) as caught:
        uplink.check_host()
    assert "slirp4netns is not installed" in str(caught.value)
    assert "apt-get install slirp4netns" in str(caught.value)
    monkeypatch.setattr(uplink, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(uplink.os, "access", lambda path, mode: False)
    with pytest.raises(HostUnsupported) as caught:
        uplink.check_host()
    assert "/dev/net/tun" in str(caught.value) and "chmod 0666 /dev/net/tun" in str(caught.value)
