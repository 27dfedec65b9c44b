"""`livenessProbe`, `readinessProbe`, `startupProbe` of a container, with
Kubernetes' defaults (pkg/apis/core/v1/defaults.go: period 10 s, timeout 1 s,
success 1, failure 3, an unset or zero value taking the default; httpGet path
"/" and scheme HTTP) and the API server's validation (validateProbe,
validateHandler, validateContainers in pkg/apis/core/validation)."""

import re

from nspod.spec.fields import at, integer, item, listing, mapping, require, string, string_list
from nspod.spec.model import HttpGet, Probe, TcpSocket
from nspod.spec.names import ip_address, port_name
from nspod.spec.schema import (
    EXEC_ACTION, HTTP_GET_ACTION, HTTP_HEADER, HTTP_SCHEMES, PROBE, TCP_SOCKET_ACTION,
)

HANDLERS = ("exec", "httpGet", "tcpSocket")
# (field, default when unset or 0), as SetDefaults_Probe fills them.
DEFAULTS = (("initialDelaySeconds", 0), ("periodSeconds", 10), ("timeoutSeconds", 1),
            ("successThreshold", 1), ("failureThreshold", 3))
# An HTTP header name: a token (IsHTTPHeaderName's pattern).
_HEADER_NAME = re.compile(r"[-A-Za-z0-9]+")


def parse_probe(node, path, report, kind, ports):
    """A Probe from one probe field, or None when it is absent. kind:
    "liveness" | "readiness" | "startup"; ports: the container's Port
    entries, for a port given by name."""
    if node is None:
        return None
    fields = mapping(node, path, report, PROBE)
    handlers = [h for h in HANDLERS if h in fields]
    if len(handlers) > 1:
        report.problem(at(path, handlers[1]), "may not specify more than 1 handler type")
    elif not handlers and "grpc" not in (node if isinstance(node, dict) else {}):
        report.problem(path, "must specify a handler type (exec, httpGet or tcpSocket)")
    values = {}
    for name, default in DEFAULTS:
        value = integer(fields.get(name), at(path, name), report)
        if value is not None and value < 0:
            report.problem(at(path, name), "must be greater than or equal to 0")
        values[name] = value or default
    if kind != "readiness" and values["successThreshold"] != 1:
        report.problem(at(path, "successThreshold"), "must be 1")
    grace = integer(fields.get("terminationGracePeriodSeconds"), at(path, "terminationGracePeriodSeconds"), report)
    if grace is not None:
        if kind == "readiness":
            report.problem(at(path, "terminationGracePeriodSeconds"), "must not be set for readinessProbes")
        elif grace <= 0:
            report.problem(at(path, "terminationGracePeriodSeconds"), "must be greater than 0")
    return Probe(
        exec_command=_exec(fields.get("exec"), at(path, "exec"), report) if "exec" in fields else (),
        http=_http_get(fields.get("httpGet"), at(path, "httpGet"), report, ports) if "httpGet" in fields else None,
        tcp=_tcp_socket(fields.get("tcpSocket"), at(path, "tcpSocket"), report, ports) if "tcpSocket" in fields else None,
        initial_delay_seconds=values["initialDelaySeconds"],
        period_seconds=values["periodSeconds"],
        timeout_seconds=values["timeoutSeconds"],
        success_threshold=values["successThreshold"],
        failure_threshold=values["failureThreshold"],
        termination_grace_period_seconds=grace if kind != "readiness" else None,
    )


def _exec(node, path, report):
    fields = mapping(node, path, report, EXEC_ACTION)
    command = string_list(fields.get("command"), at(path, "command"), report)
    if require(fields, "command", path, report) and not command:
        report.problem(at(path, "command"), "must not be empty")
    return command or ("",)  # (never run: the problem above refuses the pod)


def _http_get(node, path, report, ports):
    fields = mapping(node, path, report, HTTP_GET_ACTION)
    require(fields, "port", path, report)
    port = _port(fields.get("port"), at(path, "port"), report, ports)
    url_path = string(fields.get("path"), at(path, "path"), report) or "/"
    scheme = string(fields.get("scheme"), at(path, "scheme"), report) or "HTTP"
    if scheme not in HTTP_SCHEMES:
        report.problem(at(path, "scheme"), f'"{scheme}" is not supported: must be one of {", ".join(HTTP_SCHEMES)}')
    return HttpGet(port=port, path=url_path, scheme=scheme, host=_host(fields.get("host"), at(path, "host"), report),
                   headers=_headers(fields.get("httpHeaders"), at(path, "httpHeaders"), report))


def _tcp_socket(node, path, report, ports):
    fields = mapping(node, path, report, TCP_SOCKET_ACTION)
    require(fields, "port", path, report)
    port = _port(fields.get("port"), at(path, "port"), report, ports)
    return TcpSocket(port=port, host=_host(fields.get("host"), at(path, "host"), report))


def _port(value, path, report, ports):
    """A number, or the name of one of the container's ports (IntOrString:
    a string is always a name, as the API server reads it)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 65535:
            report.problem(path, "must be between 1 and 65535, inclusive")
        return value
    if not isinstance(value, str):
        report.problem(path, "must be a port number or a port name")
        return 0
    if error := port_name(value):
        report.problem(path, error)
        return 0
    for port in ports:
        if port.name == value:
            return port.container_port
    # The API server lets this pass and the kubelet's probe then errors at
    # every period, never counting; refused here, since it can never work.
    report.problem(path, f'no port named "{value}" in this container\'s ports')
    return 0


def _host(value, path, report):
    host = string(value, path, report)
    if not host:
        return None
    if ip_address(host) is None:
        if ":" in host:
            report.problem(path, "an IPv6 host is not supported by nspod yet")
            return None
        return host
    # A name would need a DNS lookup, which must not block the supervisor's loop.
    report.problem(path, f'a host name ("{host}") is not supported by nspod yet: use an IP address, '
                         "or leave it out for the pod's IP")
    return None


def _headers(value, path, report):
    headers = []
    for index, node in enumerate(listing(value, path, report)):
        sub = item(path, index)
        fields = mapping(node, sub, report, HTTP_HEADER)
        name = string(fields.get("name"), at(sub, "name"), report)
        if require(fields, "name", sub, report) and name is not None and not _HEADER_NAME.fullmatch(name):
            report.problem(at(sub, "name"), f'"{name}" is not a valid HTTP header name')
        header_value = string(fields.get("value"), at(sub, "value"), report)
        if header_value is not None and ("\r" in header_value or "\n" in header_value):
            report.problem(at(sub, "value"), "must not contain a line break")
        headers.append((name or "", header_value or ""))
    return tuple(headers)
