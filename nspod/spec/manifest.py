"""The pod as the API server would store it, for `nspod inspect` to echo:
only the fields nspod knows (cluster-only ones dropped) and the defaults the
API server fills in. Runs on documents that passed validation."""

import copy

from nspod.spec.container import default_pull_policy
from nspod.spec.schema import (
    CONTAINER, CONTAINER_SECURITY_CONTEXT, EMPTY_DIR, ENV_VAR, HOST_ALIAS, HOST_PATH, HTTP_GET_ACTION,
    INIT_CONTAINER, LIFECYCLE, LIFECYCLE_HANDLER, METADATA,
    POD_SECURITY_CONTEXT, PORT, RESOURCES, SECCOMP_PROFILE, SPEC, VOLUME, VOLUME_MOUNT,
)


def normalize(document):
    document = copy.deepcopy(document)  # the Pod must not share the caller's dicts
    metadata = _known(document.get("metadata"), METADATA)
    metadata.setdefault("namespace", "default")
    spec = _known(document["spec"], SPEC)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    if "volumes" in spec:
        spec["volumes"] = [_volume(v) for v in spec["volumes"]]
    spec["containers"] = [_container(c) for c in spec["containers"]]
    if spec.get("initContainers"):
        spec["initContainers"] = [_container(c, INIT_CONTAINER) for c in spec["initContainers"]]
    else:  # `initContainers: []` (omitted by the API server, as every empty list)
        spec.pop("initContainers", None)
    for key in ("hostNetwork", "hostPID", "hostIPC", "hostAliases"):  # false and [] are left out, as the API server does
        if not spec.get(key, True):
            del spec[key]
    if spec.get("hostNetwork"):
        # As the API server defaults it: on the host network a port is its own hostPort.
        for container in spec["containers"]:
            for port in container.get("ports", []):
                port.setdefault("hostPort", port["containerPort"])
    if "hostAliases" in spec:
        spec["hostAliases"] = [_known(a, HOST_ALIAS) for a in spec["hostAliases"]]
    if "resources" in spec:
        spec["resources"] = _resources(spec["resources"])
    _security_context(spec, POD_SECURITY_CONTEXT)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _known(node, fields):
    return {k: v for k, v in (node or {}).items() if k in fields.known and v is not None}


def _container(node, fields=CONTAINER):
    container = _known(node, fields)
    if "imagePullPolicy" not in container:
        image = container.get("image")
        container["imagePullPolicy"] = default_pull_policy(None if image in ("", "host") else image)
    if "env" in container:
        container["env"] = [_known(e, ENV_VAR) for e in container["env"]]
    if "ports" in container:
        container["ports"] = [_known(p, PORT) for p in container["ports"]]
        for port in container["ports"]:
            port.setdefault("protocol", "TCP")
    if "volumeMounts" in container:
        container["volumeMounts"] = [_known(m, VOLUME_MOUNT) for m in container["volumeMounts"]]
    if "resources" in container:
        container["resources"] = _resources(container["resources"])
    _security_context(container, CONTAINER_SECURITY_CONTEXT)
    for key in ("stdin", "stdinOnce", "tty"):  # false is left out, as the API server does
        if not container.get(key, True):
            del container[key]
    if "lifecycle" in container:
        container["lifecycle"] = _lifecycle(container["lifecycle"])
    return container


def _lifecycle(node):
    """The hooks with the API server's httpGet defaults (path "/", scheme HTTP)."""
    lifecycle = _known(node, LIFECYCLE)
    for key, handler in lifecycle.items():
        handler = lifecycle[key] = _known(handler, LIFECYCLE_HANDLER)
        if "httpGet" in handler:
            handler["httpGet"] = {"path": "/", "scheme": "HTTP", **_known(handler["httpGet"], HTTP_GET_ACTION)}
    return lifecycle


def _security_context(owner, fields):
    """Only what nspod applies (an unsupported field can only be empty here);
    an empty securityContext asks for nothing and is left out."""
    context = _known(owner.pop("securityContext", None), fields)
    if "seccompProfile" in context:
        context["seccompProfile"] = _known(context["seccompProfile"], SECCOMP_PROFILE)
    if context:
        owner["securityContext"] = context


def _resources(node):
    resources = _known(node, RESOURCES)
    # Quantities are strings in the API (`cpu: 0.5` in YAML reads as a float).
    for kind in ("limits", "requests"):
        if kind in resources:
            resources[kind] = {k: str(v) for k, v in resources[kind].items()}
    if resources.get("limits"):
        resources["requests"] = {**resources["limits"], **resources.get("requests", {})}
    return resources


def _volume(node):
    volume = _known(node, VOLUME)
    if "hostPath" in volume:
        volume["hostPath"] = _known(volume["hostPath"], HOST_PATH)
        volume["hostPath"].setdefault("type", "")
    else:  # no source means emptyDir
        volume["emptyDir"] = _known(volume.get("emptyDir"), EMPTY_DIR)
        if "sizeLimit" in volume["emptyDir"]:
            volume["emptyDir"]["sizeLimit"] = str(volume["emptyDir"]["sizeLimit"])
    return volume
