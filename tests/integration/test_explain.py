"""`nspod explain POD` on a real two-container pod with an emptyDir volume and
a published port: the JSON picture parsed back and checked against the kernel
and `inspect`; plain text when piped, colour on a terminal (unless NO_COLOR);
`-o dot` drawn by Graphviz's dot; the errors."""
import json
import os
import pty
import shutil
import socket
import subprocess

from imagepods import image_dir, registry  # noqa: F401 (fixtures)
from podtest import NSPOD, nspod

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {{name: shared, emptyDir: {{}}}}
  containers:
  - name: web
    command: [python3, -m, http.server, "8080"]
    ports: [{{containerPort: 8080, hostPort: {port}}}]
    volumeMounts: [{{name: shared, mountPath: /data}}]
{resources}
  - name: side
    command: [sleep, "300"]
    volumeMounts: [{{name: shared, mountPath: /data, readOnly: true}}]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_pod(pods, name, resources="", *extra):
    port = free_port()
    pods.run(POD.format(name=name, port=port, resources=resources), *extra)
    return port


def picture(name):
    return json.loads(nspod("explain", name, "-o", "json").stdout)


def by_key(pic):
    return {p["key"]: p for p in pic["processes"]}


def check_namespace_sharing(pic):
    """net/ipc/uts of each container are the pause holder's; mnt and pid are
    each container's own; the picture marks the shared ones as shared."""
    procs = by_key(pic)
    pause, web, side = procs["pause"], procs["container/web"], procs["container/side"]
    assert pause["running"] and web["running"] and side["running"], pic["processes"]
    for kind in ("net", "ipc", "uts"):
        assert web["namespaces"][kind] == side["namespaces"][kind] == pause["namespaces"][kind], kind
    for kind in ("mnt", "pid"):
        ids = {pause["namespaces"][kind], web["namespaces"][kind], side["namespaces"][kind]}
        assert len(ids) == 3, (kind, ids)
    namespaces = {n["id"]: n for n in pic["namespaces"]}
    net = namespaces[pause["namespaces"]["net"]]
    assert net["shared"] and not net["host"]
    assert {"pause", "container/web", "container/side"} <= set(net["members"])
    for c in ("container/web", "container/side"):
        own_mnt = namespaces[procs[c]["namespaces"]["mnt"]]
        assert own_mnt["members"] == [c] and not own_mnt["shared"]
    # The namespace ids are the kernel's: the same as /proc says now.
    assert os.readlink(f"/proc/{web['pid']}/ns/net") == web["namespaces"]["net"]
    return procs


def check_mounts(pic, name):
    containers = {c["name"]: c for c in pic["containers"]}
    for cname, mode in (("web", "rw"), ("side", "ro")):
        mounts = {m["target"]: m for m in containers[cname]["mounts"]}
        data = mounts["/data"]
        assert data["kind"] == "volume" and data["mode"] == mode, data
        assert data["what"] == 'emptyDir "shared"'
        assert data["root"].endswith(f"/pods/{name}/volumes/shared"), data
        assert mounts["/"]["kind"] == "rootfs"
        assert mounts["/usr"]["kind"] == "host-directory" and mounts["/usr"]["mode"] == "ro"
        assert mounts["/etc/hosts"]["kind"] == "pod-file"
        assert mounts["/proc"]["kind"] == "proc"
        assert mounts["/proc/sys"]["kind"] == "kernel-read-only" and mounts["/proc/sys"]["mode"] == "ro"
        assert mounts["/proc/keys"]["kind"] == "kernel-masked"
        assert mounts["/dev/shm"]["kind"] == "shm"
        assert "other" not in {m["kind"] for m in mounts.values()}, [m for m in mounts.values() if m["kind"] == "other"]
    return containers


def check_network(pic, pods, name, port):
    inspected = pods.inspect(name)
    net = pic["network"]
    ip = inspected["status"]["podIP"]
    assert net["podIP"] == ip and net["mode"] == "pod"
    pod_side = net["kernel"]["pod"]
    eth0 = next(link for link in pod_side["links"] if link["name"] == "eth0")
    assert eth0["up"] and eth0["kind"] == "veth"
    assert any(a["address"] == ip and a["link"] == "eth0" for a in pod_side["addresses"]), pod_side["addresses"]
    gateway = inspected["nspod"]["network"]["gateway"]
    assert {"destination": "default", "gateway": gateway, "link": "eth0"}.items() <= next(
        r for r in pod_side["routes"] if r["destination"] == "default").items()
    node = net["kernel"]["node"]
    assert node["veth"]["name"] == inspected["nspod"]["network"]["veth"]
    assert node["veth"]["master"] == node["bridge"]["index"] and node["bridge"]["kind"] == "bridge"
    assert node["veth"]["peer"] == eth0["index"] and eth0["peer"] == node["veth"]["index"]
    assert [a["address"] for a in node["bridgeAddresses"]] == [gateway]
    assert [(p["hostPort"], p["containerPort"]) for p in net["ports"]] == [(port, 8080)]


def test_explain_a_running_pod(pods):
    port = run_pod(pods, "pic")
    pic = picture("pic")
    assert pic["kind"] == "PodPicture" and pic["version"] == 1 and pic["pod"]["phase"] == "Running"
    procs = check_namespace_sharing(pic)
    # Rootless: every process of the pod is in the node holder's user namespace, not the host's.
    user = {n["id"]: n for n in pic["namespaces"]}[procs["node"]["namespaces"]["user"]]
    assert pic["pod"]["rootless"] and not user["host"] and {"node", "pause", "container/web"} <= set(user["members"])
    assert procs["pause"]["ppid"] == procs["node"]["pid"] == procs["container/web"]["ppid"]
    containers = check_mounts(pic, "pic")
    web = containers["web"]
    assert web["pidInNamespace"] == 1 and web["seccomp"] == "filter" and web["noNewPrivs"] is True
    assert "CAP_SYS_ADMIN" not in web["capabilities"] and "CAP_CHOWN" in web["capabilities"]
    assert web["user"]["uid"] == 0 and web["hostUser"]["uid"] == os.getuid()
    assert web["cgroup"]["path"] is None and web["cgroup"]["ofProcess"]  # no limits asked: no cgroup of its own
    check_network(pic, pods, "pic", port)

    piped = nspod("explain", "pic").stdout
    assert "\x1b" not in piped
    for text in ("Processes", "Container web", "Container side", f"→ /data", pic["network"]["podIP"],
                 f"0.0.0.0:{port} → {pic['network']['podIP']}:8080/TCP", "veth pair"):
        assert text in piped, text

    drawn = nspod("explain", "pic", "-o", "dot").stdout
    dot = shutil.which("dot")
    assert dot, "Graphviz's dot is missing: scripts/setup installs it (Debian package graphviz)"
    svg = subprocess.run([dot, "-Tsvg"], input=drawn, capture_output=True, text=True, timeout=60)
    assert svg.returncode == 0 and "<svg" in svg.stdout, svg.stderr
    assert "container/web" in drawn and pic["network"]["podIP"] in drawn


def on_a_terminal(*args, env=None):
    """Output of `nspod ARGS` with its stdout on a pseudo-terminal."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(NSPOD[0], NSPOD + list(args), env or os.environ)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return out.decode()


def test_colour_only_on_a_terminal_without_no_color(pods):
    run_pod(pods, "tint")
    assert "\x1b[" in on_a_terminal("explain", "tint")
    assert "\x1b[" not in on_a_terminal("explain", "tint", env=dict(os.environ, NO_COLOR="1"))


def test_a_stopped_pod_shows_what_can_be_shown(pods):
    run_pod(pods, "halt")
    nspod("stop", "halt", "--timeout", "1")
    done = nspod("explain", "halt")
    assert "the pod is not running" in done.stdout and "Container web  not running: terminated" in done.stdout
    pic = picture("halt")
    assert not any(p["running"] for p in pic["processes"] if p["key"] in ("pause", "container/web"))
    assert all("mounts" not in c and c["unreadable"]["process"] for c in pic["containers"])
    assert pic["network"]["unreadable"]
    svg = subprocess.run(["dot", "-Tsvg"], input=nspod("explain", "halt", "-o", "dot").stdout,
                         capture_output=True, text=True, timeout=60)
    assert svg.returncode == 0, svg.stderr


def test_errors():
    missing = nspod("explain", "nopod", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == 'Error: pod "nopod" not found'
    missing = nspod("explain", "nopod", "-o", "json", check=False)
    assert missing.returncode == 1 and missing.stdout == ""
    bad = nspod("explain", "nopod", "-o", "yaml", check=False)
    assert bad.returncode == 2 and "-o yaml: use text, json or dot" in bad.stderr


def test_what_an_unprivileged_cli_cannot_read_is_named_not_made_up():
    from nspod.explain import procfs

    init = procfs.read(1)  # init's namespaces are not ours to read
    assert init["running"] and "ns/net" in init["unreadable"] and "net" not in init["namespaces"]
    assert "Permission denied" in init["unreadable"]["ns/net"]


HOST_NETWORK = """
apiVersion: v1
kind: Pod
metadata: {name: onhost}
spec:
  terminationGracePeriodSeconds: 1
  hostNetwork: true
  containers:
  - {name: app, command: [sleep, "300"]}
"""


def test_a_host_network_pod_is_in_the_hosts_network_namespace(pods):
    pods.run(HOST_NETWORK)
    pic = picture("onhost")
    procs = by_key(pic)
    namespaces = {n["id"]: n for n in pic["namespaces"]}
    net = namespaces[procs["container/app"]["namespaces"]["net"]]
    assert net["host"] and net["id"] == os.readlink("/proc/self/ns/net") and "pause" in net["members"]
    assert not namespaces[procs["container/app"]["namespaces"]["ipc"]]["host"]  # still the pod's own IPC
    assert pic["network"]["hostNetwork"] and "kernel" not in pic["network"] and "unreadable" not in pic["network"]
    assert "hostNetwork: the pod uses the node's" in nspod("explain", "onhost").stdout


def test_an_image_containers_root_is_its_layers(pods, registry, image_dir):
    from imagepods import busybox_image

    registry.push("test/busybox", "v1", busybox_image())
    pods.run(f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: imgpic}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
          - {{name: app, image: "{registry.netloc}/test/busybox:v1", command: [sleep, "60"]}}
        """)
    app = picture("imgpic")["containers"][0]
    recorded = nspod("inspect", "imgpic", "-o", "jsonpath={.nspod.containers[0].rootfs.driver}").stdout.strip()
    mounts = {m["target"]: m for m in app["mounts"]}
    assert mounts["/"]["kind"] == "rootfs" and mounts["/"]["what"].startswith(f"image root: {recorded} of 2 layers")
    assert "host-directory" not in {m["kind"] for m in app["mounts"]}  # an image brings its own /usr, /etc
    assert mounts["/etc/hosts"]["kind"] == "pod-file"


def test_a_containers_link_name_cannot_drive_the_terminal(pods):
    """A container with NET_ADMIN names a link with an escape sequence: the
    picture shows it made printable, in text as in colour."""
    pods.run(r"""
    apiVersion: v1
    kind: Pod
    metadata: {name: esc}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        command: [sh, -c, 'ip link add "$(printf "\033]0;PWNED\007")" type veth peer name p0 && echo made && sleep 300']
        securityContext:
          capabilities: {add: [NET_ADMIN]}
    """)
    from podtest import wait_for

    wait_for(lambda: "made" in nspod("logs", "esc").stdout, what="the link to be made")
    text = nspod("explain", "esc").stdout
    assert "]0;PWNED" in text, text  # the link is shown ...
    assert "\x1b" not in text and "\x07" not in text  # ... without what a terminal would act on
