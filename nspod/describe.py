"""`nspod describe`: a pod as `kubectl describe pod` lays it out."""
import time

from .phase import parse_rfc3339


def _when(rfc3339):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(parse_rfc3339(rfc3339)))


def _age(seconds):
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h"


def _state(lines, title, state, indent):
    pad = " " * indent
    if not state:
        return
    (kind, detail), = state.items()
    lines.append(f"{pad}{title + ':':<16}{kind.capitalize()}")
    if "reason" in detail:
        lines.append(f"{pad}  {'Reason:':<14}{detail['reason']}")
    if detail.get("message"):
        lines.append(f"{pad}  {'Message:':<14}{detail['message']}")
    if "exitCode" in detail:
        lines.append(f"{pad}  {'Exit Code:':<14}{detail['exitCode']}")
    if "signal" in detail:
        lines.append(f"{pad}  {'Signal:':<14}{detail['signal']}")
    if detail.get("startedAt"):
        lines.append(f"{pad}  {'Started:':<14}{_when(detail['startedAt'])}")
    if detail.get("finishedAt"):
        lines.append(f"{pad}  {'Finished:':<14}{_when(detail['finishedAt'])}")


def _mapping(d):
    return ", ".join(f"{k}={v}" for k, v in d.items()) if d else "<none>"


def describe_probe(p):
    """A probe as kubectl's DescribeProbe prints it, Kubernetes' defaults filled in."""
    attrs = (f"delay={p.get('initialDelaySeconds') or 0}s timeout={p.get('timeoutSeconds') or 1}s "
             f"period={p.get('periodSeconds') or 10}s #success={p.get('successThreshold') or 1} "
             f"#failure={p.get('failureThreshold') or 3}")
    if "exec" in p:
        return f"exec [{' '.join(p['exec'].get('command', []))}] {attrs}"
    if "httpGet" in p:
        get = p["httpGet"]
        host = get.get("host", "")
        host = f"[{host}]" if ":" in host else host
        return f"http-get {get.get('scheme', 'HTTP').lower()}://{host}:{get['port']}{get.get('path', '')} {attrs}"
    if "tcpSocket" in p:
        return f"tcp-socket {p['tcpSocket'].get('host', '')}:{p['tcpSocket']['port']} {attrs}"
    return f"unknown {attrs}"


def describe(pod, events, now=None):
    """pod: the object `inspect` returns; events: rows with type, reason,
    message, count, first, last."""
    now = time.time() if now is None else now
    meta, spec, status = pod["metadata"], pod["spec"], pod["status"]
    lines = [
        f"{'Name:':<18}{meta['name']}",
        f"{'Namespace:':<18}{meta.get('namespace', 'default')}",
        f"{'Start Time:':<18}{_when(status['startTime']) if status.get('startTime') else '<none>'}",
        f"{'Labels:':<18}{_mapping(meta.get('labels'))}",
        f"{'Annotations:':<18}{_mapping(meta.get('annotations'))}",
        f"{'Status:':<18}{status['phase']}",
    ]
    if status.get("reason"):  # as kubectl describe shows a pod's reason and message
        lines.append(f"{'Reason:':<18}{status['reason']}")
        lines.append(f"{'Message:':<18}{status.get('message', '')}")
    lines += [
        f"{'IP:':<18}{status.get('podIP', '')}",
        f"{'Restart Policy:':<18}{spec.get('restartPolicy', 'Always')}",
    ]
    extra = {c["name"]: c for c in pod.get("nspod", {}).get("containers", [])}
    if spec.get("initContainers"):  # as kubectl: before the app containers, the same fields
        lines.append("Init Containers:")
        _containers(lines, spec["initContainers"], status.get("initContainerStatuses", []), extra)
    lines.append("Containers:")
    _containers(lines, spec["containers"], status.get("containerStatuses", []), extra)
    _conditions_volumes_events(lines, spec, status, events, now)
    return "\n".join(lines)


def _containers(lines, containers, statuses, extra):
    statuses = {s["name"]: s for s in statuses}
    for c in containers:
        st = statuses.get(c["name"], {})
        lines.append(f"  {c['name']}:")
        lines.append(f"    {'Image:':<16}{c.get('image') or 'host (process container)'}")
        if c.get("restartPolicy"):  # a sidecar
            lines.append(f"    {'Restart Policy:':<16}{c['restartPolicy']}")
        if extra.get(c["name"], {}).get("pid"):
            lines.append(f"    {'PID:':<16}{extra[c['name']]['pid']}")
        for p in c.get("ports", []):
            lines.append(f"    {'Port:':<16}{p['containerPort']}/{p.get('protocol', 'TCP')}")
            if p.get("hostPort"):
                lines.append(f"    {'Host Port:':<16}{p['hostPort']}/{p.get('protocol', 'TCP')}")
        for key, title in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                lines.append(f"    {title}:")
                lines.extend(f"      {a}" for a in c[key])
        _state(lines, "State", st.get("state"), 4)
        _state(lines, "Last State", st.get("lastState"), 4)
        lines.append(f"    {'Ready:':<16}{st.get('ready', False)}")
        lines.append(f"    {'Restart Count:':<16}{st.get('restartCount', 0)}")
        for kind in ("liveness", "readiness", "startup"):
            if c.get(f"{kind}Probe"):
                lines.append(f"    {kind.capitalize() + ':':<16}{describe_probe(c[f'{kind}Probe'])}")
        env = c.get("env", [])
        lines.append(f"    {'Environment:':<16}{'<none>' if not env else ''}".rstrip())
        lines.extend(f"      {e['name']}:  {e.get('value', '')}" for e in env)
        mounts = c.get("volumeMounts", [])
        lines.append(f"    {'Mounts:':<16}{'<none>' if not mounts else ''}".rstrip())
        for m in mounts:
            sub = f" (path \"{m['subPath']}\")" if m.get("subPath") else ""
            lines.append(f"      {m['mountPath']} from {m['name']}{sub} ({'ro' if m.get('readOnly') else 'rw'})")


def _conditions_volumes_events(lines, spec, status, events, now):
    lines.append("Conditions:")
    lines.append(f"  {'Type':<18}Status")
    lines.extend(f"  {c['type']:<18}{c['status']}" for c in status.get("conditions", []))
    lines.append(f"Volumes:{'' if spec.get('volumes') else '  <none>'}")
    for v in spec.get("volumes", []):
        lines.append(f"  {v['name']}:")
        if "emptyDir" in v:
            ed = v["emptyDir"] or {}
            lines.append(f"    {'Type:':<12}EmptyDir (a temporary directory that shares a pod's lifetime)")
            lines.append(f"    {'Medium:':<12}{ed.get('medium', '')}".rstrip())
            lines.append(f"    {'SizeLimit:':<12}{ed.get('sizeLimit', '<unset>')}")
        else:
            hp = v["hostPath"]
            lines.append(f"    {'Type:':<12}HostPath (bare host directory volume)")
            lines.append(f"    {'Path:':<12}{hp['path']}")
            lines.append(f"    {'HostPathType:':<12}{hp.get('type', '')}".rstrip())
    if not events:
        lines.append("Events:            <none>")
        return
    lines.append("Events:")
    rows = [("Type", "Reason", "Age", "From", "Message"), ("----", "------", "----", "----", "-------")]
    for e in events:
        age = _age(now - e["last"])
        if e["count"] > 1:
            age = f"{age} (x{e['count']} over {_age(now - e['first'])})"
        rows.append((e["type"], e["reason"], age, "nspod", e["message"].strip()))  # (kubectl trims: a probe's output ends in a newline)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r[:4], widths)) + "  " + r[4])
