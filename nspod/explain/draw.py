"""Draw a picture (gather.picture's dict): as text for a terminal, in colour
or not, and as a Graphviz graph. Pure: no reading here."""
import json

from ..terminal import printable

SECTION, SHARED, HOST, NOTE, BAD, DIM, RESET = "1", "36", "2", "33", "31", "2", "0"


class _Paint:
    def __init__(self, colour):
        self.colour = colour

    def __call__(self, code, text):
        return f"\033[{code}m{text}\033[{RESET}m" if self.colour and text else text


_clean = printable  # (text from a container: it must not drive our terminal)


def _short(ns_id):
    """"net:[4026532334]" -> "4026532334"."""
    return ns_id.partition("[")[2].rstrip("]") or ns_id


def _label(p):
    if p["role"] == "container":
        return f"container {p['name']}"
    return p["role"]


def _tree(processes):
    """[(depth prefix, process)] with every process under its parent when the
    parent is in the picture (the node holder is every pod process's parent)."""
    pids = {p["pid"] for p in processes if p.get("running")}
    children = {}
    roots = []
    for p in processes:
        if p.get("running") and p.get("ppid") in pids:
            children.setdefault(p["ppid"], []).append(p)
        else:
            roots.append(p)
    out = []

    def walk(p, prefix, last, top):
        out.append(("" if top else prefix + ("└─ " if last else "├─ "), p))
        kids = children.get(p["pid"], []) if p.get("running") else []
        for i, k in enumerate(kids):
            walk(k, "" if top else prefix + ("   " if last else "│  "), i == len(kids) - 1, False)

    for r in roots:
        walk(r, "", True, True)
    return out


def _processes(lines, pic, paint):
    kinds = [k for k in ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")]
    shared = {n["id"]: n for n in pic["namespaces"]}
    rows = []
    for prefix, p in _tree(pic["processes"]):
        if not p.get("running"):
            rows.append((f"{prefix}{_label(p)}", "not running", []))
            continue
        who = f"{prefix}{_label(p)} {p['pid']}"
        cells = []
        for kind in kinds:
            ns = (p.get("namespaces") or {}).get(kind)
            if ns is None:
                cells.append(("?", BAD))
            elif shared.get(ns, {}).get("host"):
                cells.append(("host", HOST))
            elif shared.get(ns, {}).get("shared"):
                cells.append((_short(ns) + "*", SHARED))
            else:
                cells.append((_short(ns), None))
        rows.append((who, _clean((p.get("command") or "")[:40]), cells))
    width = max(len(r[0]) for r in rows) + 2
    lines.append(paint(SECTION, "Processes") + "  (host pids; namespace ids: * shared with another process "
                 "here, host = the host's own)")
    lines.append(" " * width + "".join(f"{k:<12}" for k in kinds) + "command")
    for who, command, cells in rows:
        if not cells:
            lines.append(f"{who:<{width}}" + paint(NOTE, command))
            continue
        text = "".join(paint(code, f"{c:<12}") if code else f"{c:<12}" for c, code in cells)
        lines.append(f"{who:<{width}}{text}{paint(DIM, command)}")
    for p in pic["processes"]:
        for what, why in (p.get("unreadable") or {}).items():
            lines.append(paint(BAD, f"  {_label(p)}: {what} not readable: {why}"))


def _namespaces(lines, pic, paint):
    lines.append(paint(SECTION, "Namespaces") + "  (who shares what)")
    names = {p["key"]: _label(p) for p in pic["processes"]}
    for n in pic["namespaces"]:
        if n["host"] and n["kind"] != "user":
            continue
        tag = "the host's" if n["host"] else ("shared" if n["shared"] else "own")
        who = ", ".join(names.get(m, m) for m in n["members"])
        code = SHARED if n["shared"] and not n["host"] else HOST if n["host"] else "0"
        lines.append(f"  {n['id']:<20} {paint(code, f'{tag:<11}')}{who}")
        if n.get("about") and not n["host"]:
            lines.append(f"  {'':<20} {'':<11}{paint(DIM, n['about'])}")


def _mount_line(m):
    source = m["root"] if m["root"] != "/" else m["source"]
    return _clean(f"{m['mode']}  {source} → {m['target']}")


GROUPED = {"device": "device nodes (host's, bound read-only)", "kernel-read-only": "kernel paths read-only",
           "kernel-masked": "kernel paths hidden", "cgroupfs": "cgroup hierarchies under /sys/fs/cgroup",
           "sys-submount": "the host's mounts under /sys",
           "host-secret-hidden": "host entries only root may read, hidden"}


def _mounts(lines, mounts, paint):
    lines.append("    mounts")
    grouped = {}
    for m in mounts:
        if m["kind"] in GROUPED:
            grouped.setdefault(m["kind"], []).append(m)
            continue
        lines.append(f"      {_mount_line(m):<64} {paint(DIM, '[' + m['kind'] + ']')} {m['what']}".rstrip())
    for kind, group in grouped.items():
        targets = _clean(", ".join(m["target"] for m in group))
        modes = "/".join(sorted({m["mode"] for m in group}))
        lines.append(f"      {modes}  {GROUPED[kind]}: {targets}")


def _size(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _cgroup(lines, cg, paint, title="cgroup"):
    if cg.get("path"):
        version = f" (v{cg['version']})" if cg.get("version") else ""
        lines.append(f"    {title:<12} {cg['path']}{version}")
        for d in cg["directories"]:
            lines.append(f"                 {paint(DIM, d)}")
    else:
        lines.append(f"    {title:<12} {paint(NOTE, cg.get('note', 'none'))}")
    for limit in cg.get("limits", []):
        now = "" if limit["now"] == str(limit["written"]) else f" (now {limit['now']})"
        lines.append(f"      limit      {limit['file']} = {limit['written']}{now}")
    for name, value in cg.get("usage", {}).items():
        if isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, int) and name.startswith("memory"):
            value = f"{value} ({_size(value)})"
        lines.append(f"      usage      {name}: {value}")
    for line in cg.get("ofProcess", []):
        lines.append(f"      kernel     {paint(DIM, line)}")
    for name, why in cg.get("unreadable", {}).items():
        lines.append(paint(BAD, f"      {name} not readable: {why}"))


def _state(c):
    """"running", "terminated (Completed, exit 0)", "waiting (CrashLoopBackOff)", with restarts."""
    if not c["state"]:
        return "no state yet"
    (kind, detail), = c["state"].items()
    parts = [p for p in (detail.get("reason"), f"exit {detail['exitCode']}" if "exitCode" in detail else None) if p]
    restarts = f", {c['restartCount']} restarts" if c["restartCount"] else ""
    return kind + (f" ({', '.join(parts)})" if parts else "") + restarts


def _containers(lines, pic, paint):
    for c in pic["containers"]:
        title = f"Container {c['name']}" + (" (init)" if c["init"] else "")
        if not c["running"]:
            lines.append(paint(SECTION, title) + "  " + paint(NOTE, f"not running: {_state(c)}"))
            _cgroup(lines, c["cgroup"], paint)
            continue
        where = f"pid {c['pid']}" + (f", {c['pidInNamespace']} in its pid namespace" if "pidInNamespace" in c else "")
        lines.append(paint(SECTION, title) + f"  ({where}; {_state(c)})")
        if "user" in c:
            u = c["user"]
            host = c.get("hostUser")
            on_host = f"; uid {host['uid']} gid {host['gid']} as the host sees it" if host else ""
            lines.append(f"    user         uid {u['uid']} gid {u['gid']} groups {u['groups']} in the container{on_host}")
        if "capabilities" in c:
            caps = c["capabilities"]
            lines.append(f"    capabilities {len(caps)} effective: {' '.join(x[4:].lower() for x in caps) or 'none'}")
        if "seccomp" in c:
            profile = f" ({c['seccompProfile']})" if c.get("seccompProfile") else ""
            lines.append(f"    seccomp      {c['seccomp']}{profile}; no_new_privs {'on' if c.get('noNewPrivs') else 'off'}")
        if "mounts" in c:
            _mounts(lines, c["mounts"], paint)
        _cgroup(lines, c["cgroup"], paint)
        for what, why in c["unreadable"].items():
            lines.append(paint(BAD, f"    {what} not readable: {why}"))


def _network(lines, pic, paint):
    net = pic["network"]
    lines.append(paint(SECTION, "Network") + f"  (mode {net['mode'] or 'none'})")
    if net.get("note"):
        lines.append(f"  {net['note']}")
    if net.get("podIP"):
        lines.append(f"  pod IP       {net['podIP']}" + (f" in {net['subnet']}, gateway {net['gateway']}"
                                                         if net.get("subnet") else ""))
    kernel = net.get("kernel")
    if kernel:
        pod = kernel["pod"]
        for link in pod["links"]:
            addresses = [f"{a['address']}/{a['prefixlen']}" for a in pod["addresses"] if a["index"] == link["index"]]
            lines.append(f"  pod link     {_clean(link['name']):<8} {'up' if link['up'] else 'down':<5}"
                         f"{(link['kind'] or ''):<7} mtu {link['mtu']} {link['mac'] or ''} {' '.join(addresses)}".rstrip())
        for r in pod["routes"]:
            via = f" via {r['gateway']}" if r["gateway"] else ""
            lines.append(f"  pod route    {r['destination']}{via} dev {_clean(r['link'])}")
        node = kernel.get("node")
        if node and node.get("veth"):
            bridge = node.get("bridge") or {}
            addresses = " ".join(f"{a['address']}/{a['prefixlen']}" for a in node.get("bridgeAddresses", []))
            lines.append(f"  veth pair    eth0 (pod) ⇄ {_clean(node['veth']['name'])} (node, "
                         f"{'up' if node['veth']['up'] else 'down'}) on bridge {_clean(bridge.get('name'))} "
                         f"{addresses}".rstrip())
    elif net.get("unreadable"):
        lines.append(paint(BAD, f"  {net['unreadable']}"))
    if net.get("nodeNamespace"):
        uplink = net.get("uplink") or {}
        lines.append(f"  node network {net['nodeNamespace']} (bridge {net.get('bridge')}); uplink "
                     f"{uplink.get('name')} {'running' if uplink.get('running') else 'not running'}")
    for p in net["ports"]:
        lines.append(f"  port         {p['hostIP']}:{p['hostPort']} → {net.get('podIP')}:{p['containerPort']}"
                     f"/{p['protocol']} ({'forwarded' if p['forwarded'] else 'not forwarded'})")


def text(pic, colour=False):
    paint = _Paint(colour)
    pod = pic["pod"]
    lines = [paint(SECTION, f"Pod {pod['name']}") + f"  {pod['phase']}  uid {pod['uid']}  "
             f"{'rootless' if pod['rootless'] else 'as root'}  state {pod['stateDir']}"]
    for note in pic["notes"]:
        lines.append(paint(NOTE, f"  note: {note}"))
    _processes(lines, pic, paint)
    _namespaces(lines, pic, paint)
    if pic.get("podCgroup"):
        lines.append(paint(SECTION, "Pod cgroup") + "  (the containers' leaves are below it)")
        _cgroup(lines, pic["podCgroup"], paint, title="pod")
    _containers(lines, pic, paint)
    _network(lines, pic, paint)
    return "\n".join(lines)


# -- Graphviz --------------------------------------------------------------------------
def _q(text):
    """A Graphviz quoted string (an ID or a label)."""
    return json.dumps(str(text), ensure_ascii=False)


def dot(pic):
    """A digraph: processes (boxes, parent → child), the namespaces they are
    in (ellipses; host namespaces left out), volumes (folders) and the
    network (the pod's eth0, its veth and the bridge)."""
    out = [f"digraph {_q('pod ' + pic['pod']['name'])} {{", "  rankdir=LR;", "  node [fontname=\"monospace\"];"]
    running = [p for p in pic["processes"] if p.get("running")]
    pids = {p["pid"]: p["key"] for p in running}
    for p in running:
        label = f"{_label(p)}\npid {p['pid']}\n{_clean((p.get('command') or '')[:40])}"
        out.append(f"  {_q(p['key'])} [shape=box, label={_q(label)}];")
        if p.get("ppid") in pids:
            out.append(f"  {_q(pids[p['ppid']])} -> {_q(p['key'])} [style=bold, label=\"parent\"];")
    for n in pic["namespaces"]:
        if n["host"]:
            continue
        colour = "lightblue" if n["shared"] else "white"
        out.append(f"  {_q(n['id'])} [shape=ellipse, style=filled, fillcolor={colour}];")
        for member in n["members"]:
            out.append(f"  {_q(member)} -> {_q(n['id'])} [style=dashed, arrowhead=none];")
    for c in pic["containers"]:
        for m in c.get("mounts", []):
            if m["kind"] != "volume":
                continue
            node = "volume " + m["what"]
            out.append(f"  {_q(node)} [shape=folder];")
            out.append(f"  {_q('container/' + c['name'])} -> {_q(node)} [label={_q(m['target'] + ' ' + m['mode'])}];")
    kernel = pic["network"].get("kernel") or {}
    node = kernel.get("node") or {}
    if pic["network"].get("podIP") and node.get("veth"):
        pod_net = next((n["id"] for n in pic["namespaces"] if n["kind"] == "net" and "pause" in n["members"]), None)
        eth0 = f"eth0 {pic['network']['podIP']}"
        out.append(f"  {_q(eth0)} [shape=cds];")
        if pod_net:
            out.append(f"  {_q(pod_net)} -> {_q(eth0)} [arrowhead=none];")
        out.append(f"  {_q(node['veth']['name'])} [shape=cds];")
        out.append(f"  {_q(eth0)} -> {_q(node['veth']['name'])} [dir=both, label=\"veth pair\"];")
        bridge = (node.get("bridge") or {}).get("name")
        if bridge:
            out.append(f"  {_q('bridge ' + bridge)} [shape=hexagon];")
            out.append(f"  {_q(node['veth']['name'])} -> {_q('bridge ' + bridge)} [label=\"master\"];")
        for p in pic["network"]["ports"]:
            published = f"host {p['hostIP']}:{p['hostPort']}/{p['protocol']}"
            out.append(f"  {_q(published)} [shape=cds];")
            out.append(f"  {_q(published)} -> {_q(eth0)} [label={_q('to ' + str(p['containerPort']))}];")
    out.append("}")
    return "\n".join(out) + "\n"
