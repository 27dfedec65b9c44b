"""`securityContext`, at pod level (`spec.securityContext`) and container
level (`spec.containers[].securityContext`). Each field nspod implements has
a parser in _PARSERS; the others stay "not supported yet" (schema.py), so a
manifest never runs with less confinement than it asked for."""

import posixpath

from nspod import capabilities as caps
from nspod.spec.fields import at, boolean, integer, item, listing, mapping, one_of, require, string
from nspod.spec.model import Capabilities, SeccompProfile, SecurityContext
from nspod.spec.schema import (
    CAPABILITIES, CONTAINER_SECURITY_CONTEXT, FS_GROUP_CHANGE_POLICIES, POD_SECURITY_CONTEXT,
    PROC_MOUNT_TYPES, SAFE_SYSCTLS, SECCOMP_PROFILE, SECCOMP_PROFILE_TYPES, SYSCTL,
)

MAX_ID = 2**31 - 1  # the API server's limit for uids and gids (IsValidUserID)


def parse_pod_security_context(node, path, report):
    return _parse(node, path, report, POD_SECURITY_CONTEXT)


def parse_container_security_context(node, path, report):
    return _parse(node, path, report, CONTAINER_SECURITY_CONTEXT)


def _parse(node, path, report, fields):
    values = {}
    for key, value in mapping(node, path, report, fields).items():
        attribute, parse = _PARSERS[key]
        values[attribute] = parse(value, at(path, key), report)
    if values.get("privileged") and values.get("allow_privilege_escalation") is False:
        # As the API server validates a container's securityContext.
        report.problem(at(path, "allowPrivilegeEscalation"),
                       "cannot set allowPrivilegeEscalation to false and privileged to true")
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


def _id(value, path, report):
    """A uid or gid: 0..2147483647, as the API server validates it."""
    value = integer(value, path, report)
    if value is not None and not 0 <= value <= MAX_ID:
        report.problem(path, f"{value} must be between 0 and {MAX_ID}, inclusive")
        return None
    return value


def _ids(value, path, report):
    found = (_id(v, item(path, i), report) for i, v in enumerate(listing(value, path, report)))
    return tuple(v for v in found if v is not None)


def _capabilities(node, path, report):
    """add and drop: capability names with or without CAP_, any case, or ALL
    (containerd uppercases them and adds CAP_). A name Linux lacks is an
    error here: the API server passes it on, and the runtime refuses it."""
    fields = mapping(node, path, report, CAPABILITIES)
    lists = {}
    for key in ("add", "drop"):
        names = []
        key_path = at(path, key)
        for i, name in enumerate(listing(fields.get(key), key_path, report)):
            name = string(name, item(key_path, i), report)
            if name is None:
                continue
            known = caps.canonical(name)
            if known is None:
                report.problem(item(key_path, i), f'"{name}" is not a Linux capability')
            else:
                names.append(known)
        lists[key] = tuple(names)
    return Capabilities(**lists)


def _fs_group_change_policy(value, path, report):
    return one_of(string(value, path, report), FS_GROUP_CHANGE_POLICIES, path, report)


def _proc_mount(value, path, report):
    """Default or Unmasked; Unmasked needs spec.hostUsers: false (parse.py
    checks that, it is a pod-level field)."""
    return one_of(string(value, path, report), PROC_MOUNT_TYPES, path, report)


def _sysctls(node, path, report):
    """name and value, both required; a name with '/' separators means the
    same as with dots (as the kubelet converts it). Only the safe set: the
    kubelet refuses any other unless its admin allowed it."""
    found = []
    for i, entry in enumerate(listing(node, path, report)):
        entry_path = item(path, i)
        fields = mapping(entry, entry_path, report, SYSCTL)
        name = string(fields.get("name"), at(entry_path, "name"), report)
        value = string(fields.get("value"), at(entry_path, "value"), report)
        require(fields, "name", entry_path, report)
        require(fields, "value", entry_path, report)
        if name is None or value is None:
            continue
        dotted = _dotted(name)
        if dotted not in SAFE_SYSCTLS:
            report.problem(at(entry_path, "name"), f'"{name}" is not a safe sysctl (nspod, as the kubelet by '
                           f'default, allows only: {", ".join(SAFE_SYSCTLS)})')
        elif dotted in (n for n, _ in found):
            report.problem(at(entry_path, "name"), f'Duplicate value: "{name}"')
        else:
            found.append((dotted, value))
    return tuple(found)


def _dotted(name):
    """The kubelet's ConvertSysctlVariableToDotsSeparator: a name written with
    '/' separators has its dots and slashes swapped."""
    if "/" not in name:
        return name
    return name.translate(str.maketrans("./", "/."))


# securityContext field -> (SecurityContext attribute, parser(value, path, report)).
_PARSERS = {
    "seccompProfile": ("seccomp_profile", _seccomp_profile),
    "runAsUser": ("run_as_user", _id),
    "runAsGroup": ("run_as_group", _id),
    "runAsNonRoot": ("run_as_non_root", boolean),
    "supplementalGroups": ("supplemental_groups", _ids),
    "fsGroup": ("fs_group", _id),
    "fsGroupChangePolicy": ("fs_group_change_policy", _fs_group_change_policy),
    "sysctls": ("sysctls", _sysctls),
    "capabilities": ("capabilities", _capabilities),
    "allowPrivilegeEscalation": ("allow_privilege_escalation", boolean),
    "readOnlyRootFilesystem": ("read_only_root_filesystem", boolean),
    "privileged": ("privileged", boolean),
    "procMount": ("proc_mount", _proc_mount),
}
