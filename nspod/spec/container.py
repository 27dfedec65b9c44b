"""`spec.containers[]`: command, env, ports, volume mounts, resources."""

import posixpath

from nspod.spec.fields import (
    at, boolean, integer, item, listing, mapping, one_of, require, string, string_list,
)
from nspod.spec.lifecycle import parse_lifecycle
from nspod.spec.model import Container, EnvVar, Port, VolumeMount
from nspod.spec.probe import parse_probe
from nspod.spec.names import dns_label, env_name, ip_address, port_name
from nspod.spec.resources import parse_resources
from nspod.spec.security import parse_container_security_context
from nspod.spec.schema import (
    CONTAINER, ENV_VAR, INIT_CONTAINER_RESTART_POLICIES, PORT, PROTOCOLS, PUBLISHED_PROTOCOLS, PULL_POLICIES, VOLUME_MOUNT,
)

# `image: host` says explicitly "run host binaries" (a process container).
HOST_IMAGE = "host"


def parse_container(node, path, report, volume_names, grace=30, schema=CONTAINER):
    """A Container from one entry of spec.containers (or, with the
    INIT_CONTAINER schema, of spec.initContainers); volume_names are the
    names declared in spec.volumes, which volumeMounts must refer to; grace:
    the pod's terminationGracePeriodSeconds (bounds a lifecycle sleep)."""
    fields = mapping(node, path, report, schema)
    name = string(fields.get("name"), at(path, "name"), report)
    if require(fields, "name", path, report) and name is not None:
        if error := dns_label(name):
            report.problem(at(path, "name"), error)

    image = _image(fields.get("image"), at(path, "image"), report)
    command = string_list(fields.get("command"), at(path, "command"), report)
    # A process container has no entrypoint to fall back on. (Raw fields are
    # tested: a refused image or a wrongly typed command is reported already.)
    if fields.get("image") in (None, "", HOST_IMAGE) and not fields.get("command"):
        report.problem(at(path, "command"), "is required for a container without an image")

    working_dir = string(fields.get("workingDir"), at(path, "workingDir"), report)
    if working_dir is not None and not posixpath.isabs(working_dir):
        report.problem(at(path, "workingDir"), f'"{working_dir}" must be an absolute path')

    pull = one_of(fields.get("imagePullPolicy"), PULL_POLICIES, at(path, "imagePullPolicy"), report)
    if pull is None:
        pull = default_pull_policy(image)

    post_start, pre_stop = parse_lifecycle(fields.get("lifecycle"), at(path, "lifecycle"), report, grace)
    ports = _ports(fields.get("ports"), at(path, "ports"), report)
    probes = {kind: parse_probe(fields.get(f"{kind}Probe"), at(path, f"{kind}Probe"), report, kind, ports)
              for kind in ("liveness", "readiness", "startup")}
    return Container(
        name=name or "",
        image=image,
        command=command,
        args=string_list(fields.get("args"), at(path, "args"), report),
        env=_env(fields.get("env"), at(path, "env"), report),
        working_dir=working_dir,
        ports=ports,
        volume_mounts=_mounts(
            fields.get("volumeMounts"), at(path, "volumeMounts"), report, volume_names
        ),
        resources=parse_resources(fields.get("resources"), at(path, "resources"), report),
        image_pull_policy=pull,
        security_context=parse_container_security_context(
            fields.get("securityContext"), at(path, "securityContext"), report
        ),
        restart_policy=one_of(fields.get("restartPolicy"), INIT_CONTAINER_RESTART_POLICIES,
                              at(path, "restartPolicy"), report),
        post_start=post_start,
        pre_stop=pre_stop,
        liveness_probe=probes["liveness"],
        readiness_probe=probes["readiness"],
        startup_probe=probes["startup"],
        stdin=boolean(fields.get("stdin"), at(path, "stdin"), report) or False,
        stdin_once=boolean(fields.get("stdinOnce"), at(path, "stdinOnce"), report) or False,
        tty=boolean(fields.get("tty"), at(path, "tty"), report) or False,
    )


def _image(value, path, report):
    """None for a process container, else the reference as written. Only
    surrounding white space is refused here, as the API server does; whether
    the reference parses is the kubelet's question at start (InvalidImageName)."""
    image = string(value, path, report)
    if image in (None, "", HOST_IMAGE):
        return None
    if image != image.strip():
        report.problem(path, "must not have leading or trailing whitespace")
        return None
    return image


def default_pull_policy(image):
    """Kubernetes' default imagePullPolicy for an image (defaults.go): Always
    for :latest or no tag, else IfNotPresent; a process container: IfNotPresent."""
    if image is None:
        return "IfNotPresent"
    from nspod.image.reference import default_pull_policy as by_reference

    return by_reference(image)


def _env(value, path, report):
    env = []
    for index, node in enumerate(listing(value, path, report)):
        sub = item(path, index)
        fields = mapping(node, sub, report, ENV_VAR)
        name = string(fields.get("name"), at(sub, "name"), report)
        if require(fields, "name", sub, report) and name is not None:
            if error := env_name(name):
                report.problem(at(sub, "name"), error)
        raw = fields.get("value", "")
        if isinstance(raw, str):
            env.append(EnvVar(name or "", raw))
        else:  # `value: 8080` is an int in YAML; Kubernetes wants a string too
            report.problem(at(sub, "value"), "must be a string (put the value in quotes)")
    return tuple(env)


def _ports(value, path, report):
    ports, names = [], set()
    for index, node in enumerate(listing(value, path, report)):
        sub = item(path, index)
        fields = mapping(node, sub, report, PORT)
        number = integer(fields.get("containerPort"), at(sub, "containerPort"), report)
        if require(fields, "containerPort", sub, report) and number is not None:
            if not 1 <= number <= 65535:
                report.problem(at(sub, "containerPort"), "must be between 1 and 65535")
        protocol = one_of(fields.get("protocol"), PROTOCOLS, at(sub, "protocol"), report)
        name = string(fields.get("name"), at(sub, "name"), report)
        if name is not None:
            if error := port_name(name):
                report.problem(at(sub, "name"), error)
            elif name in names:
                report.problem(at(sub, "name"), f'duplicate port name "{name}"')
            names.add(name)
        host_port = integer(fields.get("hostPort"), at(sub, "hostPort"), report)
        if host_port is not None:
            if not 1 <= host_port <= 65535:
                report.problem(at(sub, "hostPort"), "must be between 1 and 65535")
            elif protocol not in (None, *PUBLISHED_PROTOCOLS):
                report.problem(at(sub, "hostPort"),
                               f"publishing a {protocol} port is not supported by nspod yet "
                               f"(only {' and '.join(PUBLISHED_PROTOCOLS)})")
        host_ip = string(fields.get("hostIP"), at(sub, "hostIP"), report)
        if host_ip is not None:
            if error := ip_address(host_ip):
                report.problem(at(sub, "hostIP"), error)
            elif ":" in host_ip:
                report.problem(at(sub, "hostIP"), "an IPv6 hostIP is not supported by nspod yet")
        ports.append(Port(container_port=number or 0, protocol=protocol or "TCP", name=name,
                          host_port=host_port, host_ip=host_ip))
    return tuple(ports)


def _mounts(value, path, report, volume_names):
    mounts, used = [], {}  # used: normalized mountPath -> index of the mount using it
    for index, node in enumerate(listing(value, path, report)):
        sub = item(path, index)
        fields = mapping(node, sub, report, VOLUME_MOUNT)
        name = string(fields.get("name"), at(sub, "name"), report)
        if require(fields, "name", sub, report) and name is not None:
            if name not in volume_names:
                report.problem(at(sub, "name"), f'volume "{name}" is not declared in spec.volumes')
        target = string(fields.get("mountPath"), at(sub, "mountPath"), report)
        if require(fields, "mountPath", sub, report) and target is not None:
            _check_mount_path(target, at(sub, "mountPath"), report, used, index)
        sub_path = string(fields.get("subPath"), at(sub, "subPath"), report)
        if sub_path:
            if posixpath.isabs(sub_path):
                report.problem(at(sub, "subPath"), "must be a relative path")
            elif ".." in sub_path.split("/"):
                report.problem(at(sub, "subPath"), "must not contain '..'")
        read_only = boolean(fields.get("readOnly"), at(sub, "readOnly"), report)
        mounts.append(VolumeMount(
            name=name or "", mount_path=target or "", read_only=bool(read_only),
            sub_path=sub_path or None,
        ))
    return tuple(mounts)


def _check_mount_path(target, path, report, used, index):
    if not posixpath.isabs(target):
        report.problem(path, f'"{target}" must be an absolute path')
    elif ":" in target:
        report.problem(path, "must not contain ':'")
    elif ".." in target.split("/"):
        # As the API server refuses it: a mountPath names a place in the
        # container, never a way back out of it.
        report.problem(path, f'"{target}" must not contain \'..\'')
    else:
        # "/data" and "/data/" are the same place.
        key = posixpath.normpath(target)
        if key in used:
            report.problem(
                path, f'"{target}" must be unique: volumeMounts[{used[key]}] uses it too'
            )
        used.setdefault(key, index)
