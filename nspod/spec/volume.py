"""`spec.volumes[]`: emptyDir and hostPath; every other source is refused."""

import posixpath

from nspod.spec.fields import UNSUPPORTED, at, mapping, one_of, require, string
from nspod.spec.model import Volume
from nspod.spec.names import dns_label
from nspod.spec.quantity import memory_bytes, parse_quantity
from nspod.spec.schema import (
    EMPTY_DIR, EMPTY_DIR_MEDIA, HOST_PATH, HOST_PATH_TYPES, HOST_PATH_TYPES_LATER,
    OTHER_VOLUME_SOURCES, VOLUME,
)

def parse_volume(node, path, report):
    fields = mapping(node, path, report, VOLUME)
    name = string(fields.get("name"), at(path, "name"), report)
    if require(fields, "name", path, report) and name is not None:
        if error := dns_label(name):
            report.problem(at(path, "name"), error)

    sources = [key for key in fields if key != "name"]
    for source in sources:
        if source in OTHER_VOLUME_SOURCES:
            report.problem(at(path, source), f"{UNSUPPORTED} (only emptyDir and hostPath are)")
    if len(sources) > 1:
        report.problem(path, f"has {len(sources)} sources ({', '.join(sources)}); a volume has one")
    if "hostPath" in fields:
        return _host_path(name, fields["hostPath"], at(path, "hostPath"), report)
    # A volume without a source is an emptyDir: the API server defaults it so.
    return _empty_dir(name, fields.get("emptyDir", {}), at(path, "emptyDir"), report)


def _empty_dir(name, node, path, report):
    fields = mapping(node, path, report, EMPTY_DIR)
    medium = string(fields.get("medium"), at(path, "medium"), report) or ""
    if medium.startswith("HugePages"):
        report.problem(at(path, "medium"), UNSUPPORTED)
    else:
        one_of(medium, EMPTY_DIR_MEDIA, at(path, "medium"), report)
    size_limit = None
    if "sizeLimit" in fields:
        sub = at(path, "sizeLimit")
        try:
            exact = parse_quantity(fields["sizeLimit"])
        except ValueError as error:
            report.problem(sub, str(error))
        else:
            if exact < 0:
                report.problem(sub, "must be greater than or equal to 0")
            size_limit = memory_bytes(exact)
    return Volume(name=name or "", kind="emptyDir", medium=medium, size_limit=size_limit)


def _host_path(name, node, path, report):
    fields = mapping(node, path, report, HOST_PATH)
    host_path = string(fields.get("path"), at(path, "path"), report)
    if require(fields, "path", path, report) and host_path is not None:
        if not posixpath.isabs(host_path):
            report.problem(at(path, "path"), f'"{host_path}" must be an absolute path')
        elif ".." in host_path.split("/"):
            report.problem(at(path, "path"), "must not contain '..'")
    kind = string(fields.get("type"), at(path, "type"), report) or ""
    if kind in HOST_PATH_TYPES_LATER:
        report.problem(at(path, "type"), f"{kind} {UNSUPPORTED}")
    else:
        one_of(kind, HOST_PATH_TYPES, at(path, "type"), report)
    return Volume(name=name or "", kind="hostPath", path=host_path, host_path_type=kind)
