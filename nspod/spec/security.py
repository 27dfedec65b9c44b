"""`securityContext`, at pod level (`spec.securityContext`) and container
level (`spec.containers[].securityContext`). Each field nspod implements has
a parser in _PARSERS; the others stay "not supported yet" (schema.py), so a
manifest never runs with less confinement than it asked for."""

import posixpath

from nspod.spec.fields import at, mapping, one_of, require, string
from nspod.spec.model import SeccompProfile, SecurityContext
from nspod.spec.schema import (
    CONTAINER_SECURITY_CONTEXT, POD_SECURITY_CONTEXT, SECCOMP_PROFILE, SECCOMP_PROFILE_TYPES,
)


def parse_pod_security_context(node, path, report):
    return _parse(node, path, report, POD_SECURITY_CONTEXT)


def parse_container_security_context(node, path, report):
    return _parse(node, path, report, CONTAINER_SECURITY_CONTEXT)


def _parse(node, path, report, fields):
    values = {}
    for key, value in mapping(node, path, report, fields).items():
        attribute, parse = _PARSERS[key]
        values[attribute] = parse(value, at(path, key), report)
    return SecurityContext(**values)


def _seccomp_profile(node, path, report):
    """As the API server validates it: a type; localhostProfile with Localhost
    only, a relative path that stays under the profiles directory."""
    fields = mapping(node, path, report, SECCOMP_PROFILE)
    kind = string(fields.get("type"), at(path, "type"), report)
    if require(fields, "type", path, report):
        kind = one_of(kind, SECCOMP_PROFILE_TYPES, at(path, "type"), report)
    name_path = at(path, "localhostProfile")
    name = string(fields.get("localhostProfile"), name_path, report)
    if kind == "Localhost":
        if not name:
            report.problem(name_path, "is required when type is Localhost")
        elif posixpath.isabs(name):
            report.problem(name_path, f'"{name}" must be a relative path (under the profiles directory)')
        elif ".." in name.split("/"):
            report.problem(name_path, f'"{name}" must not contain \'..\'')
    elif name is not None and kind is not None:
        report.problem(name_path, "can only be set when type is Localhost")
    if kind is None:
        return None
    return SeccompProfile(type=kind, localhost_profile=name if kind == "Localhost" else None)


# securityContext field -> (SecurityContext attribute, parser(value, path, report)).
_PARSERS = {
    "seccompProfile": ("seccomp_profile", _seccomp_profile),
}
