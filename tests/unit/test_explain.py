"""nspod explain's pure parts: reading /proc's formats, naming mounts from the
spec, decoding netlink replies, and drawing (text without escape codes
unless asked, hostile strings made harmless, a graph Graphviz accepts)."""
import shutil
import socket
import struct
import subprocess

from nspod.explain import draw, mounts, procfs
from nspod.net import rtnl

STATUS = """Name:\tpython3
Umask:\t0022
State:\tS (sleeping)
PPid:\t21433
Uid:\t1012\t1012\t1012\t1012
Gid:\t1012\t1012\t1012\t1012
Groups:\t1012 27
NSpid:\t21445\t1
CapEff:\t00000000a80425fb
NoNewPrivs:\t1
Seccomp:\t2
"""


def test_status_fields():
    st = procfs.parse_status(STATUS)
    assert st["comm"] == "python3" and st["ppid"] == 21433
    assert (st["uid"], st["gid"], st["groups"]) == (1012, 1012, [1012, 27])
    assert st["nspid"] == [21445, 1]
    assert st["seccomp"] == "filter" and st["noNewPrivs"] is True
    # containerd's default set, the mask the kernel shows for it
    assert set(st["capabilities"]) == {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE",
        "CAP_SETFCAP"}
    assert procfs.capability_names("0") == [] and procfs.capability_names("1" + "0" * 11) == ["CAP_44"]


MOUNTINFO = r"""258 233 0:61 / / rw,nosuid,nodev,relatime - tmpfs tmpfs rw,mode=755
259 258 254:0 /usr /usr ro,nodev,relatime - ext4 /dev/vda rw
287 258 254:0 /tmp/nspod-1012/pods/p/volumes/shared /my\040data ro,nodev,relatime - ext4 /dev/vda rw
300 258 254:0 /srv/www /www rw,relatime master:1 - ext4 /dev/vda rw
301 258 0:70 / /cache rw,relatime - tmpfs tmpfs rw
285 258 254:0 /tmp/nspod-1012/pods/p/etc-hosts /etc/hosts rw,nodev,relatime - ext4 /dev/vda rw
288 258 0:66 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
291 288 0:66 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
293 288 0:6 /null /proc/keys ro,relatime - devtmpfs devtmpfs rw
294 258 0:6 /null /etc/shadow ro,relatime - devtmpfs devtmpfs rw
276 258 0:64 / /dev rw,nosuid,nodev,relatime - tmpfs tmpfs rw
277 276 0:6 /null /dev/null ro,relatime - devtmpfs devtmpfs rw
284 276 0:58 / /dev/shm rw,nosuid,nodev,relatime - tmpfs tmpfs rw
262 258 0:22 / /sys ro,nodev,relatime - sysfs sysfs rw
263 262 0:28 / /sys/fs/cgroup ro,nodev,relatime - tmpfs tmpfs rw
264 262 0:12 / /sys/kernel/tracing rw,relatime - tracefs none rw
299 258 0:99 / /opt/odd ro - tmpfs tmpfs rw
garbage line
"""

CONTAINER = {"name": "web", "volumeMounts": [
    {"name": "shared", "mountPath": "/my data", "readOnly": True},
    {"name": "site", "mountPath": "/www/", "subPath": "html"},
    {"name": "cache", "mountPath": "/cache"},
]}
VOLUMES = [{"name": "shared", "emptyDir": {}}, {"name": "site", "hostPath": {"path": "/srv"}},
           {"name": "cache", "emptyDir": {"medium": "Memory"}}]


def test_mountinfo_parsed_with_escapes_and_modes():
    found = procfs.parse_mountinfo(MOUNTINFO)
    assert len(found) == 17  # the garbage line is skipped
    data = found[2]
    assert data == {"target": "/my data", "root": "/tmp/nspod-1012/pods/p/volumes/shared", "fstype": "ext4",
                    "source": "/dev/vda", "mode": "ro", "options": ["nodev", "relatime"]}
    assert found[3]["mode"] == "rw" and found[3]["target"] == "/www"  # optional fields before " - "


def test_each_mount_named_from_the_spec():
    named = {m["target"]: (m["kind"], m["what"]) for m in
             mounts.classify(procfs.parse_mountinfo(MOUNTINFO), CONTAINER, VOLUMES)}
    assert named["/"][0] == "rootfs" and "process container" in named["/"][1]
    assert named["/usr"][0] == "host-directory"
    assert named["/my data"] == ("volume", 'emptyDir "shared"')
    assert named["/www"] == ("volume", 'hostPath "site" (/srv), subPath "html"')
    assert named["/cache"][0] == "volume" and "medium Memory" in named["/cache"][1]
    assert named["/etc/hosts"][0] == "pod-file"
    assert named["/proc"][0] == "proc"
    assert named["/proc/sys"][0] == "kernel-read-only" and named["/proc/keys"][0] == "kernel-masked"
    assert named["/etc/shadow"][0] == "host-secret-hidden" and named["/opt/odd"][0] == "host-secret-hidden"
    assert named["/dev"][0] == "dev" and named["/dev/null"][0] == "device" and named["/dev/shm"][0] == "shm"
    assert named["/sys"][0] == "sysfs" and named["/sys/fs/cgroup"][0] == "cgroupfs"
    assert named["/sys/kernel/tracing"][0] == "sys-submount"


def test_an_image_root_and_a_volume_over_a_pod_file():
    lines = ("1 0 0:50 / / rw - overlay overlay rw,lowerdir=a:b,upperdir=c\n"
             "2 1 254:0 /etc /etc ro - ext4 /dev/vda rw\n"
             "3 1 254:0 /v /etc/hosts rw - ext4 /dev/vda rw\n")
    spec = {"volumeMounts": [{"name": "h", "mountPath": "/etc/hosts"}]}
    named = {m["target"]: (m["kind"], m["what"]) for m in mounts.classify(
        procfs.parse_mountinfo(lines), spec, [{"name": "h", "hostPath": {"path": "/v"}}],
        {"driver": "overlay", "layers": 2})}
    assert named["/"] == ("rootfs", "image root: overlay of 2 layers")
    assert named["/etc"][0] == "other"  # an image's own /etc is no host directory
    assert named["/etc/hosts"][0] == "volume"  # a volume wins, as on Kubernetes


# -- netlink replies -------------------------------------------------------------------------
def u32(v):
    return struct.pack("=I", v)


def test_link_address_and_route_replies_decoded():
    link = (rtnl.IFINFOMSG.pack(0, 1, 4, rtnl.IFF_UP, 0) + rtnl.attr(rtnl.IFLA_IFNAME, b"nsp0a580002\0")
            + rtnl.attr(rtnl.IFLA_MTU, u32(65520)) + rtnl.attr(rtnl.IFLA_ADDRESS, bytes.fromhex("0a580a580002"))
            + rtnl.attr(rtnl.IFLA_MASTER, u32(2)) + rtnl.attr(rtnl.IFLA_LINK, u32(7))
            + rtnl.nested(rtnl.IFLA_LINKINFO, rtnl.attr(rtnl.IFLA_INFO_KIND, b"veth\0")))
    assert rtnl.link_info(link) == {"index": 4, "name": "nsp0a580002", "up": True, "mtu": 65520,
                                    "mac": "0a:58:0a:58:00:02", "master": 2, "kind": "veth", "peer": 7}
    bare = rtnl.IFINFOMSG.pack(0, 0, 1, 0, 0) + rtnl.attr(rtnl.IFLA_IFNAME, b"lo\0")
    assert rtnl.link_info(bare) == {"index": 1, "name": "lo", "up": False, "mtu": None, "mac": None,
                                    "master": None, "kind": None, "peer": None}
    address = rtnl.IFADDRMSG.pack(socket.AF_INET, 16, 0, 0, 2) + rtnl.attr(rtnl.IFA_LOCAL, socket.inet_aton("10.88.0.2"))
    assert rtnl.address_info(address) == {"index": 2, "address": "10.88.0.2", "prefixlen": 16, "scope": 0}
    default = (rtnl.RTMSG.pack(socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0) + rtnl.attr(rtnl.RTA_TABLE, u32(254))
               + rtnl.attr(rtnl.RTA_GATEWAY, socket.inet_aton("10.88.0.1")) + rtnl.attr(rtnl.RTA_OIF, u32(2)))
    assert rtnl.route_info(default) == {"table": 254, "destination": "default", "gateway": "10.88.0.1",
                                        "oif": 2, "source": None, "scope": 0, "type": 1}
    subnet = (rtnl.RTMSG.pack(socket.AF_INET, 16, 0, 0, 254, 2, 253, 1, 0)
              + rtnl.attr(rtnl.RTA_DST, socket.inet_aton("10.88.0.0")) + rtnl.attr(rtnl.RTA_PREFSRC, socket.inet_aton("10.88.0.2")))
    assert rtnl.route_info(subnet)["destination"] == "10.88.0.0/16" and rtnl.route_info(subnet)["source"] == "10.88.0.2"


def test_route_dump_request():
    assert rtnl.encode(5, rtnl.ipv4_routes()) == (
        struct.pack("=IHHII", 28, rtnl.RTM_GETROUTE, 0x305, 5, 0) + bytes([socket.AF_INET]) + b"\0" * 11)


# -- drawing ----------------------------------------------------------------------------
EVIL = 'sh -c "\x1b]0;owned\x07" \\ \n'


def a_picture():
    ns = {"user": "user:[1]", "mnt": "mnt:[2]", "pid": "pid:[3]", "net": "net:[4]", "ipc": "ipc:[5]",
          "uts": "uts:[6]", "cgroup": "cgroup:[7]"}
    node = dict(ns, mnt="mnt:[10]", pid="pid:[11]", net="net:[12]")
    web = dict(ns, mnt="mnt:[20]", pid="pid:[21]")
    return {
        "kind": "PodPicture", "version": 1,
        "pod": {"name": 'we"ird', "uid": "u", "phase": "Running", "rootless": True, "stateDir": "/s",
                "shareProcessNamespace": False},
        "processes": [
            {"key": "node", "role": "node holder", "name": None, "pid": 10, "ppid": 1, "running": True,
             "command": "nspod-node", "namespaces": node, "unreadable": {}},
            {"key": "pause", "role": "pause holder", "name": None, "pid": 11, "ppid": 10, "running": True,
             "command": "catatonit -P", "namespaces": ns, "unreadable": {}},
            {"key": "container/web", "role": "container", "name": "web", "pid": 12, "ppid": 10, "running": True,
             "command": EVIL, "namespaces": web, "unreadable": {"ns/cgroup": "Permission denied"}},
            {"key": "container/gone", "role": "container", "name": "gone", "pid": None, "running": False},
        ],
        "namespaces": [
            {"id": "user:[1]", "kind": "user", "members": ["node", "pause", "container/web"], "host": False, "shared": True},
            {"id": "net:[4]", "kind": "net", "members": ["pause", "container/web"], "host": False, "shared": True},
            {"id": "mnt:[20]", "kind": "mnt", "members": ["container/web"], "host": False, "shared": False},
            {"id": "net:[12]", "kind": "net", "members": ["node"], "host": True, "shared": False},
        ],
        "containers": [
            {"name": "web", "init": False, "running": True, "pid": 12, "pidInNamespace": 1,
             "state": {"running": {}}, "restartCount": 2, "user": {"uid": 0, "gid": 0, "groups": [0]},
             "hostUser": {"uid": 1012, "gid": 1012, "groups": [1012]}, "capabilities": ["CAP_CHOWN"],
             "seccomp": "filter", "seccompProfile": "RuntimeDefault", "noNewPrivs": True, "unreadable": {},
             "mounts": [{"target": "/data\x1b[2J", "root": "/v", "fstype": "ext4", "source": "/dev/vda", "mode": "rw",
                         "options": [], "kind": "volume", "what": 'emptyDir "x"'}],
             "cgroup": {"path": "/p/web", "directories": ["/sys/fs/cgroup/p/web"],
                        "limits": [{"file": "memory.max", "written": "67108864", "now": "67108864"}],
                        "usage": {"memory.current": 3 << 20, "cpu.stat": {"usage_usec": 5}}, "unreadable": {},
                        "ofProcess": ["0::/p/web"]}},
            {"name": "gone", "init": False, "running": False, "pid": None, "restartCount": 0,
             "state": {"terminated": {"reason": "Completed", "exitCode": 0}}, "unreadable": {"process": "x"},
             "cgroup": {"path": None, "directories": [], "limits": [], "usage": {}, "unreadable": {}, "note": "none"}},
        ],
        "podCgroup": None,
        "network": {"mode": "pod", "podIP": "10.88.0.2", "hostNetwork": False, "subnet": "10.88.0.0/16",
                    "gateway": "10.88.0.1", "ports": [{"protocol": "TCP", "hostIP": "0.0.0.0", "hostPort": 8080,
                                                       "containerPort": 80, "forwarded": True}],
                    "kernel": {"pod": {"links": [], "addresses": [], "routes": []},
                               "node": {"veth": {"name": "nsp0a580002", "up": True, "index": 4},
                                        "bridge": {"name": "nspod0", "index": 2}, "bridgeAddresses": []}}},
        "notes": ["a note"],
    }


def test_text_plain_or_in_colour_and_never_the_containers_escapes():
    plain = draw.text(a_picture())
    assert "\x1b" not in plain and "\x07" not in plain
    assert "container web 12" in plain and "4*" in plain and "host" in plain
    assert "Container gone  not running: terminated (Completed, exit 0)" in plain
    assert "running, 2 restarts" in plain
    assert "memory.current: 3145728 (3.0 MiB)" in plain and "usage_usec=5" in plain
    assert "ns/cgroup not readable: Permission denied" in plain
    assert "0.0.0.0:8080 → 10.88.0.2:80/TCP (forwarded)" in plain
    coloured = draw.text(a_picture(), colour=True)
    assert "\x1b[1m" in coloured
    assert "\x1b]0;" not in coloured and "\x1b[2J" not in coloured  # only our own codes


def test_dot_is_a_graph_graphviz_accepts():
    graph = draw.dot(a_picture())
    assert graph.startswith('digraph "pod we\\"ird" {')
    assert '"container/web" -> "net:[4]"' in graph and '"node" -> "container/web"' in graph
    assert "net:[12]" not in graph  # the host's namespaces are left out
    dot = shutil.which("dot")
    assert dot, "Graphviz's dot is missing: scripts/setup installs it (Debian package graphviz)"
    done = subprocess.run([dot, "-Tsvg"], input=graph, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "<svg" in done.stdout, done.stderr


def test_a_network_the_child_cannot_read_is_said_so(monkeypatch):
    from nspod.errors import NspodError
    from nspod.explain import gather

    def refuse(*args, **kwargs):
        raise NspodError("read the pod's network: Operation not permitted")

    monkeypatch.setattr(gather.network, "read", refuse)
    pod = {"status": {"podIP": None}, "spec": {}, "nspod": {"pause": {"pid": 5}, "network": {"mode": None, "ports": []}}}
    notes = []
    net = gather._network(pod, None, {"pause_pid": 5, "pause_start": 1}, True, notes)
    assert net["unreadable"] == "not readable: read the pod's network: Operation not permitted"
    assert "kernel" not in net
    assert "not readable: read the pod's network" in draw.text(dict(a_picture(), network=net))
