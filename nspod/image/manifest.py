"""OCI and Docker v2 manifests, indexes and this machine's platform (pure).

A manifest names an image config and its layers by descriptor
({mediaType, digest, size}); an index (a Docker "manifest list") names one
manifest per platform, and we pick this machine's as containerd's default
platform matcher does: os linux, the machine's architecture, and for arm the
best variant this CPU runs (arm64: v8 or none; arm v7 runs v7, v6, v5).
"""
import json
import platform as _platform
import re

from .errors import PullError, UnsupportedMediaType

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(MANIFESTS + INDEXES)

CONFIGS = ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json")

# Layer media type -> compression ("" for a plain tar).
LAYERS = {
    "application/vnd.oci.image.layer.v1.tar": "",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "",
}

MAX_MANIFEST = 4 << 20   # bytes; the distribution registry itself refuses manifests over 4 MiB
MAX_CONFIG = 8 << 20     # bytes; an image config is a few KiB
MAX_LAYERS = 256         # more than any real image (Docker's own limit is 127)

_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")

# Python's machine name -> (OCI architecture, variant)
_ARCHES = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5"),
    "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}


def this_platform():
    """{'os', 'architecture', 'variant'} of this machine."""
    machine = _platform.machine()
    arch, variant = _ARCHES.get(machine, (machine, ""))
    return {"os": "linux", "architecture": arch, "variant": variant}


def _variants(want):
    """The variants a platform runs, best first ('' = given without one)."""
    arch, variant = want["architecture"], want.get("variant", "")
    if arch == "arm64":
        return ["v8", ""] if variant in ("", "v8") else [variant, "v8", ""]
    if arch == "arm":
        v = int(variant[1:]) if variant[1:].isdigit() else 7
        return [f"v{n}" for n in range(v, 4, -1)] + [""]
    return [variant] if variant else [""]


def platform_text(p):
    return "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


def check_descriptor(d, where):
    """A descriptor with a valid digest and a non-negative integer size."""
    if not isinstance(d, dict):
        raise PullError(f"{where}: a descriptor must be an object")
    digest, size = d.get("digest"), d.get("size")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise PullError(f"{where}: invalid digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise PullError(f"{where}: invalid size {size!r}")
    return d


def _json_object(body, where):
    """The JSON object in body; PullError naming `where` otherwise."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise PullError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise PullError(f"{where}: not a JSON object")
    return doc


def parse(body, content_type=None, where="manifest"):
    """(media type, document) of a manifest or an index; PullError when it is
    not JSON, UnsupportedMediaType for schema 1 or an unknown type."""
    doc = _json_object(body, where)
    kind = doc.get("mediaType") or (content_type or "").split(";")[0].strip()
    if kind in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise UnsupportedMediaType(f"{where}: Docker image manifest schema 1 is not supported "
                                   "(push the image again with a current client)")
    if kind not in MANIFESTS + INDEXES:
        if kind in ("", "application/json", "application/octet-stream"):
            kind = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
        else:
            raise UnsupportedMediaType(f"{where}: unsupported media type {kind!r}")
    if doc.get("schemaVersion") != 2:
        raise PullError(f"{where}: schemaVersion must be 2")
    if kind in INDEXES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise PullError(f"{where}: an index needs a list of manifests")
        for i, d in enumerate(entries):
            check_descriptor(d, f"{where}: manifests[{i}]")
    else:
        check_descriptor(doc.get("config"), f"{where}: config")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise PullError(f"{where}: a manifest needs a list of layers")
        if len(layers) > MAX_LAYERS:
            raise PullError(f"{where}: {len(layers)} layers; at most {MAX_LAYERS} are accepted")
        for i, d in enumerate(layers):
            check_descriptor(d, f"{where}: layers[{i}]")
    return kind, doc


def select(index, want=None, where="index"):
    """The descriptor of the manifest for `want` (default: this machine)."""
    want = want or this_platform()
    variants = _variants(want)
    best, rank = None, len(variants)
    seen = []
    for d in index["manifests"]:
        p = d.get("platform") or {}
        seen.append(platform_text(p) or "?")
        if d.get("mediaType") and d["mediaType"] not in MANIFESTS:
            continue  # a nested index, an attestation, ...
        if p.get("os") != want["os"] or p.get("architecture") != want["architecture"]:
            continue
        v = p.get("variant", "")
        if v in variants and variants.index(v) < rank:
            best, rank = d, variants.index(v)
    if best is None:
        raise PullError(f"{where}: no image for {platform_text(want)} "
                        f"(it has: {', '.join(seen) or 'nothing'})")
    return best


def layer_compression(descriptor, where="layer"):
    kind = descriptor.get("mediaType", "")
    if kind not in LAYERS:
        raise UnsupportedMediaType(f"{where} {descriptor.get('digest')}: unsupported layer media type {kind!r}")
    return LAYERS[kind]


RUNTIME_KEYS = ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "ExposedPorts", "StopSignal", "Labels")


def parse_config(body, n_layers, where="image config"):
    """The image config's runtime part (Entrypoint, Cmd, Env, WorkingDir, User,
    ...), its layers' diff_ids, creation time and platform."""
    doc = _json_object(body, where)
    rootfs = doc.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list) or len(diff_ids) != n_layers \
            or not all(isinstance(x, str) and _DIGEST.match(x) for x in diff_ids):
        raise PullError(f"{where}: rootfs.diff_ids must name one digest per layer ({n_layers})")
    runtime = doc.get("config") or {}
    if not isinstance(runtime, dict):
        raise PullError(f"{where}: config must be an object")
    return {
        "config": {k: runtime[k] for k in RUNTIME_KEYS if runtime.get(k) not in (None, "", [], {})},
        "diff_ids": diff_ids,
        "created": doc.get("created") if isinstance(doc.get("created"), str) else None,
        "platform": {k: doc.get(k) for k in ("os", "architecture", "variant") if doc.get(k)},
    }
