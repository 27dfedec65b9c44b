"""Walking a manifest: which fields each object has, and typed reads that
record a problem (with its field path) instead of raising, so that one run
reports every mistake in the file."""

from nspod.record import record

UNSUPPORTED = "is not supported by nspod yet"
# Extra words for some unsupported fields, to say when or why.
_HINTS = {"grpc": "grpc probes are not supported yet; use exec, httpGet or tcpSocket"}


class Report:
    """What was found in one document: problems (path, message) and the paths
    of cluster-only fields that were ignored."""

    def __init__(self):
        self.problems = []
        self.ignored = []
        self._broken = []  # paths of objects that are not even mappings

    def problem(self, path, message):
        # One problem per broken object: "spec.containers[1]: must be a
        # mapping" says it all, without "...[1].name: is required" after it.
        if any(path.startswith((b + ".", b + "[")) for b in self._broken if b):
            return
        self.problems.append((path, message))

    def broken(self, path, message):
        self.problem(path, message)
        self._broken.append(path)


def at(path, key):
    return f"{path}.{key}" if path else str(key)


def item(path, index):
    return f"{path}[{index}]"


@record(frozen=True)
class Fields:
    """The fields of one kind of object. Anything not listed is a typo."""

    known: frozenset  # implemented by nspod
    ignored: frozenset = frozenset()  # only matter to a cluster: warn and drop
    unsupported: frozenset = frozenset()  # a feature nspod lacks: an error


def _asks_for_nothing(value):
    # `securityContext: {}`, `hostNetwork: false`, `initContainers: []` (as
    # `kubectl get -o yaml` prints them) request nothing nspod lacks.
    return value is None or value is False or (isinstance(value, (dict, list)) and not value)


def mapping(node, path, report, fields):
    """The known, non-null fields of a mapping. Records unknown and unsupported
    fields as problems and cluster-only ones in report.ignored. An absent
    (None) mapping is empty."""
    if node is None:
        return {}
    if not isinstance(node, dict):
        report.broken(path, "must be a mapping")
        return {}
    out = {}
    for key, value in node.items():
        sub = at(path, key)
        if key in fields.known:
            if value is not None:  # `key: null` means "not set", as in Kubernetes
                out[key] = value
        elif key in fields.ignored:
            report.ignored.append(sub)
        elif key in fields.unsupported:
            if not _asks_for_nothing(value):
                hint = _HINTS.get(key)
                report.problem(sub, f"{UNSUPPORTED} ({hint})" if hint else UNSUPPORTED)
        else:
            report.problem(sub, "unknown field")
    return out


def require(fields, key, path, report):
    """True if fields has key; else records `path.key: is required`."""
    if key in fields:
        return True
    report.problem(at(path, key), "is required")
    return False


def string(value, path, report):
    if value is None or isinstance(value, str):
        return value
    report.problem(path, "must be a string")
    return None


def boolean(value, path, report):
    if value is None or isinstance(value, bool):
        return value
    report.problem(path, "must be a boolean (true or false)")
    return None


def integer(value, path, report):
    # bool is an int subclass in Python; `port: true` is still a mistake.
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    report.problem(path, "must be an integer")
    return None


def listing(value, path, report):
    if value is None:
        return []
    if isinstance(value, list):
        return value
    report.problem(path, "must be a list")
    return []


def string_list(value, path, report):
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(word, str) for word in value):
        return tuple(value)
    report.problem(path, "must be a list of strings")
    return ()


def one_of(value, choices, path, report):
    """value if it is one of choices, else None (and a problem)."""
    if value is None or value in choices:
        return value
    shown = ", ".join(c if c else '"" (the default)' for c in choices)
    report.problem(path, f"must be one of {shown}")
    return None
