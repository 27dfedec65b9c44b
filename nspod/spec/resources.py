"""`resources: {limits, requests}` of a container or of the whole pod."""

from nspod.spec.fields import UNSUPPORTED, at, mapping
from nspod.spec.model import Resources
from nspod.spec.quantity import cpu_millicores, memory_bytes, parse_quantity
from nspod.spec.schema import RESOURCE_NAMES, RESOURCES

# How each supported resource becomes the integer the cgroup driver writes.
_TO_INT = {"cpu": cpu_millicores, "memory": memory_bytes}


def _is_other_resource(name):
    # Resources Kubernetes knows that nspod cannot limit yet: local storage,
    # huge pages, and extended resources such as "nvidia.com/gpu".
    return name == "ephemeral-storage" or name.startswith("hugepages-") or "/" in name


def _amounts(node, path, report):
    """{name: (as written, exact Fraction)} for one of limits/requests."""
    if node is None:
        return {}
    if not isinstance(node, dict):
        report.problem(path, "must be a mapping")
        return {}
    amounts = {}
    for name, written in node.items():
        sub = at(path, name)
        if name not in RESOURCE_NAMES:
            if isinstance(name, str) and _is_other_resource(name):
                report.problem(sub, UNSUPPORTED)
            else:
                report.problem(sub, "unknown resource (nspod supports cpu and memory)")
            continue
        if not isinstance(written, (str, int, float)) or isinstance(written, bool):
            report.problem(sub, 'must be a quantity such as "500m" or "128Mi"')
            continue
        try:
            exact = parse_quantity(written)
        except ValueError as error:
            report.problem(sub, str(error))
            continue
        if exact < 0:
            report.problem(sub, "must be greater than or equal to 0")
            continue
        amounts[name] = (written, exact)
    return amounts


def parse_resources(node, path, report):
    fields = mapping(node, path, report, RESOURCES)
    limits = _amounts(fields.get("limits"), at(path, "limits"), report)
    requests = _amounts(fields.get("requests"), at(path, "requests"), report)
    for name, (_, request) in requests.items():
        if name in limits and request > limits[name][1]:
            report.problem(
                at(at(path, "requests"), name),
                f"must be less than or equal to {name} limit of {limits[name][0]}",
            )
    # As in Kubernetes, a limit without a request also sets the request.
    requests = {**limits, **requests}
    return Resources(
        limits={name: _TO_INT[name](exact) for name, (_, exact) in limits.items()},
        requests={name: _TO_INT[name](exact) for name, (_, exact) in requests.items()},
    )
