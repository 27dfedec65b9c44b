"""YAML text -> validated Pods. Every problem in every document is collected
and raised as one ManifestError, so nothing is created from a bad file."""

from nspod.errors import ManifestError
from nspod.spec.container import parse_container
from nspod.spec.documents import read_documents
from nspod.spec.fields import (
    Report, at, boolean, integer, item, listing, mapping, one_of, require, string, string_list,
)
from nspod.spec.lifecycle import parse_active_deadline
from nspod.spec.manifest import normalize
from nspod.spec.model import HostAlias, Pod
from nspod.spec.names import dns_label, dns_subdomain, ip_address, label_value, qualified_name
from nspod.spec.resources import parse_resources
from nspod.spec.schema import (
    HOST_ALIAS, INIT_CONTAINER, METADATA, POD, RESTART_POLICIES, SIDECAR_ONLY, SPEC,
)
from nspod.spec.security import parse_pod_security_context
from nspod.spec.volume import parse_volume

# Kubernetes' limit on the total size of a pod's annotations.
MAX_ANNOTATIONS_BYTES = 256 * 1024


def load_pods(text, source="<stdin>"):
    """Parse a YAML stream of Pod documents: (pods, warnings).

    Raises ManifestError listing every problem; document paths are prefixed
    with "[index]" when the stream holds more than one document.
    """
    return _pods_from(read_documents(text, source), source)


def load_stored(text, source):
    """The Pod of a manifest nspod stored (normalized, as JSON). json.loads,
    not PyYAML: it is the watchdog's path, and PyYAML's parse would dirty
    pages the watchdog shares with the node holder (its memory per pod)."""
    import json

    return _pods_from([json.loads(text)], source)[0][0]


def _pods_from(documents, source):
    if not documents:
        raise ManifestError([(source, "contains no Pod (no YAML document)")])
    several = len(documents) > 1
    pods, problems, warnings = [], [], []
    for index, document in enumerate(documents):
        prefix = f"[{index}]" if several else ""
        report = Report()
        pod = _parse_pod(document, report)
        for path, message in report.problems:
            problems.append((_prefixed(prefix, path) or source, message))
        if pod is not None and report.ignored:
            warnings.append(
                f'pod "{pod.name}": ignoring fields that only matter to a cluster: '
                + ", ".join(report.ignored)
            )
        pods.append(pod)
    problems += _duplicate_pods(pods)
    if problems:
        raise ManifestError(problems)
    return pods, warnings


def _prefixed(prefix, path):
    if prefix and path:
        return f"{prefix}.{path}"
    return prefix or path


def _duplicate_pods(pods):
    problems, first = [], {}
    for index, pod in enumerate(pods):
        if pod is None or not pod.name:
            continue
        key = (pod.namespace, pod.name)
        if key in first:
            problems.append((
                f"[{index}].metadata.name",
                f'duplicate pod "{pod.name}" in namespace "{pod.namespace}" '
                f"(also in document [{first[key]}])",
            ))
        first.setdefault(key, index)
    return problems


def _parse_pod(document, report):
    """A Pod, or None when the document is not a Pod at all."""
    if not isinstance(document, dict):
        report.problem("", "must be a mapping with apiVersion, kind, metadata and spec")
        return None
    top = mapping(document, "", report, POD)
    api_version, kind = top.get("apiVersion"), top.get("kind")
    if require(top, "apiVersion", "", report) and api_version != "v1":
        report.problem("apiVersion", f'"{api_version}" is not supported: must be v1')
    if require(top, "kind", "", report) and kind != "Pod":
        report.problem("kind", f'"{kind}" is not supported: must be Pod (nspod runs pods only)')
    if api_version != "v1" or kind != "Pod":
        return None  # the rest would be checked against the wrong schema

    metadata = _metadata(top.get("metadata"), report)
    if not require(top, "spec", "", report):
        return None
    spec = _spec(top["spec"], report)
    # Only a valid document is normalized; an invalid one raises anyway.
    manifest = normalize(document) if not report.problems else {}
    return Pod(**metadata, **spec, manifest=manifest)


def _metadata(node, report):
    """Pod keyword arguments from metadata."""
    metadata = mapping(node, "metadata", report, METADATA)
    namespace = string(metadata.get("namespace"), "metadata.namespace", report) or "default"
    if error := dns_label(namespace):
        report.problem("metadata.namespace", error)
    annotations = _string_map(metadata.get("annotations"), "metadata.annotations", report)
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATIONS_BYTES:
        report.problem("metadata.annotations", "must have at most 262144 bytes in total")
    return {
        "name": _pod_name(metadata, report) or "",
        "namespace": namespace,
        "labels": _string_map(metadata.get("labels"), "metadata.labels", report, label_value),
        "annotations": annotations,
    }


def _spec(node, report):
    """Pod keyword arguments from spec."""
    spec = mapping(node, "spec", report, SPEC)
    volumes = _volumes(spec.get("volumes"), report)
    grace_path = "spec.terminationGracePeriodSeconds"
    grace = integer(spec.get("terminationGracePeriodSeconds"), grace_path, report)
    if grace is not None and grace < 0:
        report.problem(grace_path, "must be greater than or equal to 0")
    containers = _containers(spec.get("containers"), report, {v.name for v in volumes},
                             30 if grace is None else grace)
    init_containers = _init_containers(spec.get("initContainers"), report, {v.name for v in volumes},
                                       {c.name for c in containers}, 30 if grace is None else grace)

    hostname = string(spec.get("hostname"), "spec.hostname", report)
    if hostname is not None and (error := dns_label(hostname)):
        report.problem("spec.hostname", error)
    restart = one_of(spec.get("restartPolicy"), RESTART_POLICIES, "spec.restartPolicy", report)
    share = boolean(spec.get("shareProcessNamespace"), "spec.shareProcessNamespace", report)
    resources = None
    if "resources" in spec:
        resources = parse_resources(spec["resources"], "spec.resources", report)
    host_network = bool(boolean(spec.get("hostNetwork"), "spec.hostNetwork", report))
    _host_ports(_with_paths(init_containers, containers), host_network, report)
    security_context = parse_pod_security_context(spec.get("securityContext"), "spec.securityContext", report)
    _sysctls_with_host_network(security_context, host_network, report)
    host_pid = bool(boolean(spec.get("hostPID"), "spec.hostPID", report))
    host_ipc = bool(boolean(spec.get("hostIPC"), "spec.hostIPC", report))
    if host_pid and share:  # as the API server validates it
        report.problem("spec.shareProcessNamespace", "ShareProcessNamespace and HostPID cannot both be enabled")
    if host_ipc:
        for i, (name, _) in enumerate(security_context.sysctls or ()):
            if name.startswith("kernel."):
                report.problem(f"spec.securityContext.sysctls[{i}].name",
                               f'"{name}" is not allowed with hostIPC: it would change the node\'s IPC namespace')
    host_users = boolean(spec.get("hostUsers"), "spec.hostUsers", report)
    _host_users_rules(host_users, {"hostNetwork": host_network, "hostPID": host_pid, "hostIPC": host_ipc},
                      _with_paths(init_containers, containers), report)
    return {
        "containers": containers,
        "init_containers": init_containers,
        "volumes": volumes,
        "hostname": hostname,
        "share_process_namespace": bool(share),
        "restart_policy": restart or "Always",
        "termination_grace_period_seconds": 30 if grace is None else grace,
        "resources": resources,
        "host_network": host_network,
        "host_pid": host_pid,
        "host_ipc": host_ipc,
        "host_users": host_users,
        "host_aliases": _host_aliases(spec.get("hostAliases"), report),
        "security_context": security_context,
        "active_deadline_seconds": parse_active_deadline(
            spec.get("activeDeadlineSeconds"), "spec.activeDeadlineSeconds", report),
    }


def _with_paths(init_containers, containers):
    """(field path, Container) for every container, init containers first."""
    return ([(item("spec.initContainers", i), c) for i, c in enumerate(init_containers)]
            + [(item("spec.containers", i), c) for i, c in enumerate(containers)])


def _host_users_rules(host_users, host_namespaces, containers, report):
    """As the API server validates spec.hostUsers: false rules out the node's
    namespaces, and procMount: Unmasked needs it (unset means true there).
    Which value nspod honours depends on how it runs (confinement.check_user_namespace)."""
    if host_users is False:
        for field, shared in host_namespaces.items():
            if shared:
                report.problem(f"spec.{field}", "forbidden when `hostUsers` is false")
    for path, container in containers:
        if container.security_context.proc_mount == "Unmasked" and host_users is not False:
            report.problem(f"{path}.securityContext.procMount",
                           '"Unmasked": `hostUsers` must be false to use `Unmasked` (set spec.hostUsers: false)')


def _sysctls_with_host_network(security_context, host_network, report):
    """A net sysctl would be the node's with hostNetwork: refused, as the kubelet refuses it."""
    if not host_network:
        return
    for i, (name, _) in enumerate(security_context.sysctls or ()):
        if name.startswith("net."):
            report.problem(f"spec.securityContext.sysctls[{i}].name",
                           f'"{name}" is not allowed with hostNetwork: it would change the node\'s network namespace')


def _host_ports(containers, host_network, report):
    """Pod-wide hostPort rules, as the API server checks them: one hostPort is
    published once per protocol and address; with hostNetwork the container
    already listens on the host, so hostPort must equal containerPort."""
    seen = {}  # (protocol, hostPort) -> [(hostIP, path)]
    for container_path, container in containers:
        for pi, port in enumerate(container.ports):
            path = f"{container_path}.ports[{pi}].hostPort"
            if not port.host_port:
                continue
            if host_network and port.host_port != port.container_port:
                report.problem(path, f"{port.host_port} must match containerPort "
                                     f"({port.container_port}) when hostNetwork is true")
            key = (port.protocol, port.host_port)
            ip = port.host_ip or "0.0.0.0"
            for other_ip, other_path in seen.get(key, []):
                if "0.0.0.0" in (ip, other_ip) or ip == other_ip:
                    report.problem(path, f"{port.host_port}/{port.protocol} is already published "
                                         f"by {other_path.rsplit('.', 1)[0]}")
                    break
            seen.setdefault(key, []).append((ip, path))


def _host_aliases(value, report):
    aliases = []
    for index, node in enumerate(listing(value, "spec.hostAliases", report)):
        path = item("spec.hostAliases", index)
        fields = mapping(node, path, report, HOST_ALIAS)
        ip = string(fields.get("ip"), at(path, "ip"), report)
        if require(fields, "ip", path, report) and ip is not None and (error := ip_address(ip)):
            report.problem(at(path, "ip"), error)
        names = string_list(fields.get("hostnames"), at(path, "hostnames"), report)
        for i, name in enumerate(names):
            if error := dns_subdomain(name):
                report.problem(item(at(path, "hostnames"), i), error)
        aliases.append(HostAlias(ip=ip or "", hostnames=names))
    return tuple(aliases)


def _pod_name(metadata, report):
    if "name" not in metadata:
        report.problem("metadata.name", "is required")
        return None
    name = string(metadata["name"], "metadata.name", report)
    if name is not None and (error := dns_subdomain(name)):
        report.problem("metadata.name", error)
    return name


def _string_map(value, path, report, check_value=None):
    """labels / annotations: qualified-name keys, string values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        report.problem(path, "must be a mapping")
        return {}
    result = {}
    for key, val in value.items():
        if not isinstance(key, str) or (error := qualified_name(key)):
            report.problem(path, error if isinstance(key, str) else f"key {key!r} must be a string")
        elif not isinstance(val, str):
            report.problem(at(path, key), "must be a string (put the value in quotes)")
        elif check_value and (error := check_value(val)):
            report.problem(at(path, key), error)
        else:
            result[key] = val
    return result


def _volumes(value, report):
    volumes, seen = [], set()
    for index, node in enumerate(listing(value, "spec.volumes", report)):
        path = item("spec.volumes", index)
        volume = parse_volume(node, path, report)
        if volume.name and volume.name in seen:
            report.problem(at(path, "name"), f'duplicate volume name "{volume.name}"')
        seen.add(volume.name)
        volumes.append(volume)
    return tuple(volumes)


def _containers(value, report, volume_names, grace=30):
    if value is None:
        report.problem("spec.containers", "is required")
        return ()
    nodes = listing(value, "spec.containers", report)
    if isinstance(value, list) and not nodes:
        report.problem("spec.containers", "must have at least one container")
    containers, seen = [], set()
    for index, node in enumerate(nodes):
        path = item("spec.containers", index)
        container = parse_container(node, path, report, volume_names, grace)
        if container.name and container.name in seen:
            report.problem(at(path, "name"), f'duplicate container name "{container.name}"')
        seen.add(container.name)
        containers.append(container)
    return tuple(containers)


def _init_containers(value, report, volume_names, app_names, grace=30):
    """spec.initContainers: run in order before the app containers; one with
    restartPolicy: Always is a sidecar. Names are unique across both lists
    (the API server's rule), and what Kubernetes allows only on sidecars
    (probes, lifecycle) is refused, with its message, on the others."""
    containers, seen = [], set()
    for index, node in enumerate(listing(value, "spec.initContainers", report)):
        path = item("spec.initContainers", index)
        node = _without_sidecar_only_fields(node, path, report)
        container = parse_container(node, path, report, volume_names, grace, schema=INIT_CONTAINER)
        if container.name and container.name in seen:
            report.problem(at(path, "name"), f'duplicate container name "{container.name}"')
        elif container.name and container.name in app_names:
            report.problem(at(path, "name"), f'duplicate container name "{container.name}" '
                                             "(spec.containers has a container of that name)")
        seen.add(container.name)
        containers.append(container)
    return tuple(containers)


def _without_sidecar_only_fields(node, path, report):
    """Probes and lifecycle on a plain init container: Kubernetes' Forbidden
    (dropped here, so they are not also reported as unsupported)."""
    if not isinstance(node, dict) or node.get("restartPolicy") == "Always":
        return node
    for key in SIDECAR_ONLY:
        if node.get(key) is not None:
            report.problem(at(path, key), "Forbidden: may not be set for init containers without restartPolicy=Always")
    return {k: v for k, v in node.items() if k not in SIDECAR_ONLY}
