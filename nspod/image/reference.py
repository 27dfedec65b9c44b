"""Image references, normalised as Kubernetes and containerd do (pure).

The grammar is docker's distribution/reference:

    reference   := name [ ":" tag ] [ "@" digest ]
    name        := [ domain "/" ] path-component [ "/" path-component ]*
    domain      := host [ ":" port ]          host: a DNS-like name, IPv4, or [IPv6]
    path-component := [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*
    tag         := [\\w][\\w.-]{0,127}
    digest      := algorithm ":" hex{32,}

and the normalisation is containerd's ParseDockerRef: a first component
without "." or ":" (and not "localhost", and lowercase) is a Docker Hub path,
so `busybox` is `docker.io/library/busybox`; `index.docker.io` is `docker.io`;
no tag and no digest means `:latest`; a reference with both a tag and a
digest keeps only the digest (the digest is what is pulled).
"""
import re

from ..record import record
from .errors import InvalidImageName

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255  # the whole name, domain included

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = r"(?:" + _DOMAIN_NAME + "|" + _IPV6 + r")(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_REFERENCE = re.compile(
    r"^(?P<name>(?:(?P<domain>" + _DOMAIN + r")/)?" + _REMOTE_NAME + r")"
    r"(?::(?P<tag>" + _TAG + r"))?(?:@(?P<digest>" + _DIGEST + r"))?$", re.ASCII)
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
# The digest algorithms nspod verifies (go-digest's registered ones).
DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}


@record(frozen=True)
class Reference:
    domain: str        # docker.io, registry.example:5000, [::1]:5000
    path: str          # library/busybox
    tag: str | None    # None when a digest names the image
    digest: str | None

    @property
    def name(self):
        """The repository: docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    def __str__(self):
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}"

    @property
    def familiar(self):
        """As docker and podman print it: busybox, user/app, host:5000/app."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
            path = path[len(OFFICIAL_PREFIX):]
        return path

    @property
    def selector(self):
        """What the registry API calls the manifest by: the digest, else the tag."""
        return self.digest or self.tag


def validate_digest(digest):
    """'sha256:<64 hex>' (or sha512); InvalidImageName otherwise."""
    algorithm, sep, hexpart = digest.partition(":")
    if not sep:
        raise InvalidImageName(f'invalid digest "{digest}": expected ALGORITHM:HEX')
    want = DIGEST_LENGTHS.get(algorithm)
    if want is None:
        raise InvalidImageName(f'unsupported digest algorithm in "{digest}" (sha256 and sha512 are)')
    if len(hexpart) != want or not re.fullmatch(r"[0-9a-f]+", hexpart):
        raise InvalidImageName(f'invalid digest "{digest}": {algorithm} takes {want} lowercase hex digits')
    return digest


def _split_domain(name):
    """(domain, remote path) as distribution/reference's splitDockerDomain."""
    first, slash, rest = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == "localhost":
        domain, remote = first, rest
    elif first == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, rest
    elif "." in first or ":" in first or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_PREFIX + remote
    return domain, remote


def parse(text):
    """A Reference from what a user or a Pod manifest wrote; InvalidImageName
    (a BadInput) with the reason when it does not parse."""
    if not isinstance(text, str) or not text:
        raise InvalidImageName("invalid reference format: the image name is empty")
    if text != text.strip():
        raise InvalidImageName(f'invalid reference format: "{text}" has surrounding white space')
    if _IDENTIFIER.match(text):
        raise InvalidImageName(f'invalid repository name "{text}": cannot be a 64-character hexadecimal string')
    # Split the familiar domain off first: "busybox" has none, "host:5000/x" has one.
    domain, remainder = _split_domain(text)
    remote = remainder
    for sep in ("@", ":"):
        remote = remote.split(sep, 1)[0]
    if remote.lower() != remote:
        raise InvalidImageName(f'invalid reference format: repository name "{remote}" must be lowercase')
    m = _REFERENCE.match(f"{domain}/{remainder}")
    if m is None:
        if _REFERENCE.match(f"{domain}/{remainder}".lower()):
            raise InvalidImageName(f'invalid reference format: "{text}" must be lowercase')
        raise InvalidImageName(f'invalid reference format: "{text}"')
    if len(m.group("name")) > NAME_MAX:
        raise InvalidImageName(f'invalid reference format: repository name longer than {NAME_MAX} characters: "{text}"')
    digest = m.group("digest")
    if digest:
        validate_digest(digest)
    tag = m.group("tag")
    if digest:
        tag = None  # containerd's ParseDockerRef: the digest wins
    elif not tag:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=m.group("name")[len(domain) + 1:], tag=tag, digest=digest)


def default_pull_policy(text):
    """Kubernetes' default imagePullPolicy (pkg/apis/core/v1/defaults.go):
    Always when the tag is 'latest' (written, or implied by neither a tag nor
    a digest), else IfNotPresent. 'name:latest@sha256:...' is Always there too.
    A reference that does not parse is IfNotPresent, as there (defaults.go
    ignores ParseImageName's error: the kubelet reports InvalidImageName at start)."""
    try:
        parse(text)
    except InvalidImageName:
        return "IfNotPresent"
    domain, remainder = _split_domain(text)
    m = _REFERENCE.match(f"{domain}/{remainder}")
    tag = m.group("tag") or (None if m.group("digest") else DEFAULT_TAG)
    return "Always" if tag == DEFAULT_TAG else "IfNotPresent"
