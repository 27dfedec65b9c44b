"""Gather the picture of one pod: what `inspect` recorded, checked against
what the kernel says now. The result is the `nspod explain -o json` shape
(docs/ARCHITECTURE.md, "Learning mode"); nothing in it is made up: a value
that could not be read is absent and its reason is in an "unreadable" field
or in "notes"."""
from .. import api, node
from ..errors import NspodError
from ..kernel import process
from ..net import node_network
from ..store import Store
from . import cgroup, mounts, network, procfs

VERSION = 1


def _process(key, role, pid, started, name=None):
    """The process (pid, start time) as /proc shows it. Checked again after
    reading: a pid that ended and was reused meanwhile is not drawn as ours."""
    entry = {"key": key, "role": role, "name": name}
    if pid is None or not process.alive(pid, started):
        entry.update(pid=None, running=False)
        return entry
    entry.update(procfs.read(pid))
    if not process.alive(pid, started):
        return {"key": key, "role": role, "name": name, "pid": None, "running": False}
    return entry


# What a namespace is for, by its kind and the first process of the picture in it.
ABOUT = {
    ("user", "node"): "the node's user namespace: every pod of the user; uid 0 inside is you outside",
    ("net", "node-network"): "the node network: the bridge, every pod's veth, the uplink's tap0",
    ("mnt", "uplink"): "slirp4netns's own sandbox",
    ("mnt", "pause"): "the pod's mount namespace (its Memory volumes and /dev/shm); containers start from a copy",
    ("net", "pause"): "the pod's network: one IP and one localhost for all its containers",
    ("ipc", "pause"): "the pod's IPC: System V and POSIX shared memory between its containers",
    ("uts", "pause"): "the pod's hostname",
    ("pid", "pause"): "the pod's pids (shareProcessNamespace): the pause holder is PID 1 and reaps",
}
ABOUT_CONTAINER = {"mnt": "{name}'s own view of the files: its root, volumes, /proc",
                   "pid": "{name}'s own pids: its command is PID 1 there"}


def _about(kind, members, host):
    if host:
        return "the host's"
    first = members[0]
    if first.startswith("container/") and kind in ABOUT_CONTAINER:
        return ABOUT_CONTAINER[kind].format(name=first.partition("/")[2])
    return ABOUT.get((kind, first), "")


def _namespaces(processes, host):
    """[{"id", "kind", "members": [process keys], "shared", "host", "about"}]:
    a namespace is shared when more than one process of the picture is in it;
    "host" when it is the CLI's own (the host's, normally)."""
    found = {}
    for p in processes:
        for kind, ns in (p.get("namespaces") or {}).items():
            entry = found.setdefault(ns, {"id": ns, "kind": kind, "members": [], "host": host.get(kind) == ns})
            entry["members"].append(p["key"])
    for entry in found.values():
        entry["shared"] = len(entry["members"]) > 1
        entry["about"] = _about(entry["kind"], entry["members"], entry["host"])
    return sorted(found.values(), key=lambda e: (procfs.NAMESPACE_KINDS.index(e["kind"]), e["id"]))


def _container(c, spec, volumes, proc, status):
    out = {"name": c["name"], "init": bool(c.get("init")), "running": bool(proc.get("running")),
           "pid": proc.get("pid"), "state": status.get("state") or {},
           "restartCount": status.get("restartCount", 0), "unreadable": {}}
    recorded = c.get("security") or {}
    if recorded.get("uid") is not None:
        out["user"] = {"uid": recorded["uid"], "gid": recorded["gid"], "groups": recorded.get("groups") or []}
    out["seccompProfile"] = recorded.get("seccomp")
    cg = cgroup.read(c.get("cgroup"))
    if not proc.get("running"):
        out["cgroup"] = cg
        out["unreadable"]["process"] = "not running: its mounts, identity and usage exist only while it runs"
        return out
    if proc.get("nspid"):
        out["pidInNamespace"] = proc["nspid"][-1]
    if "uid" in proc:
        out["hostUser"] = {"uid": proc["uid"], "gid": proc["gid"], "groups": proc["groups"]}
    for key in ("capabilities", "seccomp", "noNewPrivs"):
        if key in proc:
            out[key] = proc[key]
    found, why = procfs.mounts(proc["pid"])
    if found is None:
        out["unreadable"]["mounts"] = why
    else:
        out["mounts"] = mounts.classify(found, spec, volumes, c.get("rootfs"))
    lines, why = procfs.cgroup_lines(proc["pid"])
    if lines is None:
        out["unreadable"]["cgroupOfProcess"] = why
    else:
        cg["ofProcess"] = lines
    out["cgroup"] = cg
    return out


def _network(pod, store, row, rootless, notes):
    recorded = pod["nspod"]["network"]
    out = {"mode": recorded.get("mode"), "podIP": pod["status"].get("podIP"),
           "hostNetwork": bool(pod["spec"].get("hostNetwork")), "ports": recorded.get("ports", [])}
    if recorded.get("mode") == "pod":
        node_row = recorded.get("node") or {}
        out.update(interface=recorded.get("interface"), veth=recorded.get("veth"), subnet=recorded.get("subnet"),
                   gateway=recorded.get("gateway"), bridge=node_row.get("bridge"),
                   nodeNamespace=node_row.get("namespace"), uplink=node_row.get("uplink"))
    if out["hostNetwork"]:
        out["note"] = "hostNetwork: the pod uses the node's (here: the host's) network namespace"
        return out
    if pod["nspod"]["pause"]["pid"] is None:
        out["unreadable"] = "the pod's network namespace is gone with its pause holder"
        return out
    node_net = node_network.current(store) if recorded.get("mode") == "pod" else None
    alive = node_network.holder_alive(node_net)
    try:
        out["kernel"] = network.read(row["pause_pid"], row["pause_start"],
                                     node_net["holder_pid"] if alive else None,
                                     node_net["holder_start"] if alive else None,
                                     recorded.get("veth") if alive else None,
                                     node_net["bridge"] if alive else None, rootless)
    except NspodError as e:
        out["unreadable"] = f"not readable: {e}"
    if recorded.get("mode") == "pod" and not alive:
        notes.append("the node network's holder is not running: the veth's node end and the bridge are gone")
    return out


def picture(name):
    """The picture of pod `name` (NotFound if there is none)."""
    pod = api.inspect(name)
    store = Store()
    row = store.pod(name)
    rootless = node.rootless()
    extra = pod["nspod"]
    notes = []
    processes = [_process("node", "node holder", extra["watchdog"]["pid"], row["watchdog_start"])]
    node_net = node_network.current(store) if extra["network"].get("node") else None
    if node_net:
        processes.append(_process("node-network", "node network holder", node_net["holder_pid"],
                                  node_net["holder_start"]))
        processes.append(_process("uplink", "node network uplink", node_net["uplink_pid"],
                                  node_net["uplink_start"], node_net["uplink"]))
    processes.append(_process("pause", "pause holder", extra["pause"]["pid"], row["pause_start"]))
    starts = {c["name"]: c["pid_start"] for c in store.containers(name)}
    specs = {c["name"]: c for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]}
    statuses = {s["name"]: s for s in pod["status"].get("initContainerStatuses", [])
                + pod["status"].get("containerStatuses", [])}
    containers = []
    for c in extra["containers"]:
        proc = _process(f"container/{c['name']}", "container", c["pid"], starts.get(c["name"]), c["name"])
        processes.append(proc)
        containers.append(_container(c, specs.get(c["name"], {}), pod["spec"].get("volumes", []), proc,
                                     statuses.get(c["name"], {})))
    if extra["watchdog"]["pid"] is None and extra["pause"]["pid"] is not None:
        notes.append("no node holder supervises this pod: its phase is Unknown until a command starts one")
    if extra["pause"]["pid"] is None:
        notes.append(f"the pod is not running (phase {pod['status']['phase']}): no pause holder, so no "
                     "namespaces to show; what nspod recorded is shown")
    return {
        "kind": "PodPicture",
        "version": VERSION,
        "pod": {"name": name, "uid": pod["metadata"]["uid"], "phase": pod["status"]["phase"],
                "rootless": rootless, "stateDir": extra["stateDir"],
                "shareProcessNamespace": bool(pod["spec"].get("shareProcessNamespace"))},
        "processes": [{k: v for k, v in p.items() if k not in ("capabilities", "seccomp", "noNewPrivs",
                                                                 "groups")} for p in processes],
        "namespaces": _namespaces(processes, procfs.own_namespaces()),
        "containers": containers,
        "podCgroup": cgroup.read_pod(extra.get("cgroup")),
        "network": _network(pod, store, row, rootless, notes),
        "notes": notes,
    }
