"""`spec.containers[].lifecycle` (postStart, preStop) and
`spec.activeDeadlineSeconds`, validated as the API server does
(pkg/apis/core/validation: validateLifecycle, validateHandler,
validateSleepAction, ValidatePortNumOrName; the v1 defaults: httpGet path
"/", scheme HTTP)."""

from nspod.spec.fields import at, integer, item, listing, mapping, one_of, string, string_list
from nspod.spec.model import HTTPGetAction, LifecycleHandler
from nspod.spec.names import port_name
from nspod.spec.schema import (
    EXEC_ACTION, HTTP_GET_ACTION, HTTP_HEADER, HTTP_SCHEMES, LIFECYCLE, LIFECYCLE_HANDLER, SLEEP_ACTION,
)

MAX_INT32 = 2**31 - 1
# An HTTP header name is an RFC 7230 token (the API server's IsHTTPHeaderName).
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_lifecycle(node, path, report, grace):
    """(postStart, preStop) handlers, each None when not set. grace: the
    pod's terminationGracePeriodSeconds (a sleep may not outlast it)."""
    fields = mapping(node, path, report, LIFECYCLE)
    return tuple(
        _handler(fields[key], at(path, key), report, grace) if key in fields else None
        for key in ("postStart", "preStop")
    )


def _handler(node, path, report, grace):
    fields = mapping(node, path, report, LIFECYCLE_HANDLER)
    if "tcpSocket" in fields:
        # The API server keeps the field only so old objects still decode; the
        # kubelet fails every hook that has it ("invalid handler"). Refused
        # here, where the author can still fix it.
        report.problem(at(path, "tcpSocket"), "is not supported as a lifecycle handler (Kubernetes keeps it "
                                              "for backward compatibility only and fails such a hook at "
                                              "runtime): use exec, httpGet or sleep")
        return None
    kinds = [k for k in ("exec", "httpGet", "sleep") if k in fields]
    if not kinds:
        report.problem(path, "must specify a handler type (exec, httpGet or sleep)")
        return None
    for extra in kinds[1:]:
        report.problem(at(path, extra), "may not specify more than 1 handler type")
    kind = kinds[0]
    sub = at(path, kind)
    if kind == "exec":
        command = _exec(fields[kind], sub, report)
        return LifecycleHandler(command=command) if command is not None else None
    if kind == "httpGet":
        action = _http_get(fields[kind], sub, report)
        return LifecycleHandler(http_get=action) if action is not None else None
    seconds = _sleep(fields[kind], sub, report, grace)
    return LifecycleHandler(sleep_seconds=seconds) if seconds is not None else None


def _exec(node, path, report):
    fields = mapping(node, path, report, EXEC_ACTION)
    command = string_list(fields.get("command"), at(path, "command"), report)
    if not command:
        if "command" not in fields or fields["command"] == []:
            report.problem(at(path, "command"), "is required")
        return None
    return command


def _http_get(node, path, report):
    fields = mapping(node, path, report, HTTP_GET_ACTION)
    port = _port(fields.get("port"), at(path, "port"), report)
    path_ = string(fields.get("path"), at(path, "path"), report) or "/"
    host = string(fields.get("host"), at(path, "host"), report) or None
    scheme = one_of(fields.get("scheme"), HTTP_SCHEMES, at(path, "scheme"), report) or "HTTP"
    headers = []
    for index, header in enumerate(listing(fields.get("httpHeaders"), at(path, "httpHeaders"), report)):
        hpath = item(at(path, "httpHeaders"), index)
        hfields = mapping(header, hpath, report, HTTP_HEADER)
        name = string(hfields.get("name"), at(hpath, "name"), report)
        value = string(hfields.get("value"), at(hpath, "value"), report)
        if name is None:
            if "name" not in hfields:
                report.problem(at(hpath, "name"), "is required")
            continue
        if not name or not set(name) <= _TOKEN_CHARS:
            report.problem(at(hpath, "name"), f'"{name}" is not a valid HTTP header name: '
                                              "a token of letters, digits and !#$%&'*+-.^_`|~")
            continue
        headers.append((name, value or ""))
    if port is None:
        return None
    return HTTPGetAction(port=port, path=path_, host=host, scheme=scheme, headers=tuple(headers))


def _port(value, path, report):
    """A port number or an IANA port name (ValidatePortNumOrName)."""
    if value is None:
        report.problem(path, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        report.problem(path, "must be a port number or a port name")
        return None
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            report.problem(path, "must be between 1 and 65535, inclusive")
            return None
        return value
    if value.isdigit():  # "8080" in quotes: the kubelet reads it as the number
        return _port(int(value), path, report)
    if error := port_name(value):
        report.problem(path, error)
        return None
    return value


def _sleep(node, path, report, grace):
    fields = mapping(node, path, report, SLEEP_ACTION)
    seconds = integer(fields.get("seconds"), at(path, "seconds"), report)
    if seconds is None:
        if "seconds" not in fields:
            report.problem(at(path, "seconds"), "is required")
        return None
    # Zero is allowed (PodLifecycleSleepActionAllowZero, on by default since 1.33).
    if seconds < 0 or (grace is not None and seconds > grace):
        report.problem(path, f"must be non-negative and less than terminationGracePeriodSeconds ({grace})")
        return None
    return seconds


def parse_active_deadline(value, path, report):
    seconds = integer(value, path, report)
    if seconds is not None and not 1 <= seconds <= MAX_INT32:
        report.problem(path, f"must be between 1 and {MAX_INT32}, inclusive")
        return None
    return seconds
