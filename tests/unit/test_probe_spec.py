"""Probes in manifests: Kubernetes' defaults, and every mistake the API
server refuses (plus the ones nspod cannot run), with its field path."""

import pytest

from nspod.spec import load_pods
from nspod.spec.model import HttpGet, TcpSocket

from test_spec import MINIMAL, load_one, problems, with_container


def container(lines):
    pod, _ = load_one(with_container(lines))
    return pod.containers[0]


def test_defaults_as_the_api_server_fills_them():
    c = container("livenessProbe: {exec: {command: [cat, /tmp/ok]}}\n")
    p = c.liveness_probe
    assert p.exec_command == ("cat", "/tmp/ok") and p.handler == "exec"
    assert (p.initial_delay_seconds, p.period_seconds, p.timeout_seconds) == (0, 10, 1)
    assert (p.success_threshold, p.failure_threshold, p.termination_grace_period_seconds) == (1, 3, None)
    assert c.readiness_probe is None and c.startup_probe is None
    assert c.probes() == {"liveness": p}


def test_zero_means_the_default():
    p = container("readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 0, timeoutSeconds: 0, "
                  "successThreshold: 0, failureThreshold: 0}\n").readiness_probe
    assert (p.period_seconds, p.timeout_seconds, p.success_threshold, p.failure_threshold) == (10, 1, 1, 3)


def test_http_get_with_named_port_headers_and_scheme():
    c = container("""\
ports: [{name: web, containerPort: 8080}]
readinessProbe:
  httpGet: {port: web, path: /healthz, scheme: HTTPS, host: 10.0.2.2,
            httpHeaders: [{name: X-Probe, value: "1"}, {name: Accept, value: ""}]}
  successThreshold: 2
  periodSeconds: 1
""")
    assert c.readiness_probe.http == HttpGet(port=8080, path="/healthz", scheme="HTTPS", host="10.0.2.2",
                                             headers=(("X-Probe", "1"), ("Accept", "")))
    assert c.readiness_probe.success_threshold == 2 and c.readiness_probe.period_seconds == 1


def test_http_get_defaults_and_tcp_socket():
    c = container("startupProbe: {httpGet: {port: 80}, terminationGracePeriodSeconds: 5}\n"
                  "livenessProbe: {tcpSocket: {port: 5432}, initialDelaySeconds: 3}\n")
    assert c.startup_probe.http == HttpGet(port=80)
    assert c.startup_probe.termination_grace_period_seconds == 5
    assert c.liveness_probe.tcp == TcpSocket(port=5432) and c.liveness_probe.initial_delay_seconds == 3


def test_stored_pod_keeps_its_probes():
    from nspod.spec import load_stored
    import json

    pod, _ = load_one(with_container("livenessProbe: {httpGet: {port: 80, path: /x}, periodSeconds: 2}\n"))
    again = load_stored(json.dumps(pod.manifest), "pod web")
    assert again.containers[0].liveness_probe == pod.containers[0].liveness_probe


P = "spec.containers[0]"
BAD_PROBES = [
    ("no handler", "livenessProbe: {periodSeconds: 1}\n", f"{P}.livenessProbe", "must specify a handler type"),
    ("two handlers", "livenessProbe: {exec: {command: [x]}, tcpSocket: {port: 1}}\n",
     f"{P}.livenessProbe.tcpSocket", "may not specify more than 1 handler type"),
    ("grpc", "readinessProbe: {grpc: {port: 9000}}\n", f"{P}.readinessProbe.grpc", "grpc probes are not supported yet"),
    ("misspelt field", "livenessProbe: {exec: {command: [x]}, periodSecond: 1}\n",
     f"{P}.livenessProbe.periodSecond", "unknown field"),
    ("misspelt handler", "livenessProbe: {httpGets: {port: 1}}\n", f"{P}.livenessProbe.httpGets", "unknown field"),
    ("probe not a mapping", "livenessProbe: [exec]\n", f"{P}.livenessProbe", "must be a mapping"),
    ("negative delay", "livenessProbe: {exec: {command: [x]}, initialDelaySeconds: -1}\n",
     f"{P}.livenessProbe.initialDelaySeconds", "greater than or equal to 0"),
    ("negative period", "readinessProbe: {exec: {command: [x]}, periodSeconds: -5}\n",
     f"{P}.readinessProbe.periodSeconds", "greater than or equal to 0"),
    ("timeout a string", "livenessProbe: {exec: {command: [x]}, timeoutSeconds: 1s}\n",
     f"{P}.livenessProbe.timeoutSeconds", "must be an integer"),
    ("negative failureThreshold", "livenessProbe: {exec: {command: [x]}, failureThreshold: -1}\n",
     f"{P}.livenessProbe.failureThreshold", "greater than or equal to 0"),
    ("liveness successThreshold", "livenessProbe: {exec: {command: [x]}, successThreshold: 2}\n",
     f"{P}.livenessProbe.successThreshold", "must be 1"),
    ("startup successThreshold", "startupProbe: {exec: {command: [x]}, successThreshold: 3}\n",
     f"{P}.startupProbe.successThreshold", "must be 1"),
    ("readiness grace period", "readinessProbe: {exec: {command: [x]}, terminationGracePeriodSeconds: 5}\n",
     f"{P}.readinessProbe.terminationGracePeriodSeconds", "must not be set for readinessProbes"),
    ("zero grace period", "livenessProbe: {exec: {command: [x]}, terminationGracePeriodSeconds: 0}\n",
     f"{P}.livenessProbe.terminationGracePeriodSeconds", "must be greater than 0"),
    ("exec without command", "livenessProbe: {exec: {}}\n", f"{P}.livenessProbe.exec.command", "is required"),
    ("exec empty command", "livenessProbe: {exec: {command: []}}\n", f"{P}.livenessProbe.exec.command", "must not be empty"),
    ("exec command a string", "livenessProbe: {exec: {command: cat /tmp/x}}\n",
     f"{P}.livenessProbe.exec.command", "must be a list of strings"),
    ("exec misspelt", "livenessProbe: {exec: {cmd: [x]}}\n", f"{P}.livenessProbe.exec.cmd", "unknown field"),
    ("http without port", "livenessProbe: {httpGet: {path: /}}\n", f"{P}.livenessProbe.httpGet.port", "is required"),
    ("http port 0", "livenessProbe: {httpGet: {port: 0}}\n", f"{P}.livenessProbe.httpGet.port", "between 1 and 65535"),
    ("http port too big", "livenessProbe: {httpGet: {port: 70000}}\n", f"{P}.livenessProbe.httpGet.port",
     "between 1 and 65535"),
    ("http port digits as a string", "livenessProbe: {httpGet: {port: '8080'}}\n", f"{P}.livenessProbe.httpGet.port",
     "not a valid port name"),
    ("http port name unknown", "livenessProbe: {httpGet: {port: web}}\n", f"{P}.livenessProbe.httpGet.port",
     'no port named "web"'),
    ("http port a list", "livenessProbe: {httpGet: {port: [1]}}\n", f"{P}.livenessProbe.httpGet.port",
     "port number or a port name"),
    ("http scheme", "livenessProbe: {httpGet: {port: 1, scheme: http}}\n", f"{P}.livenessProbe.httpGet.scheme",
     "must be one of HTTP, HTTPS"),
    ("http host name", "livenessProbe: {httpGet: {port: 1, host: example.com}}\n",
     f"{P}.livenessProbe.httpGet.host", "host name"),
    ("http host ipv6", "livenessProbe: {httpGet: {port: 1, host: 'fd00::1'}}\n",
     f"{P}.livenessProbe.httpGet.host", "IPv6"),
    ("http misspelt", "livenessProbe: {httpGet: {port: 1, paht: /}}\n", f"{P}.livenessProbe.httpGet.paht",
     "unknown field"),
    ("header name", "livenessProbe: {httpGet: {port: 1, httpHeaders: [{name: 'X Y', value: v}]}}\n",
     f"{P}.livenessProbe.httpGet.httpHeaders[0].name", "not a valid HTTP header name"),
    ("header without name", "livenessProbe: {httpGet: {port: 1, httpHeaders: [{value: v}]}}\n",
     f"{P}.livenessProbe.httpGet.httpHeaders[0].name", "is required"),
    ("header value line break", "livenessProbe: {httpGet: {port: 1, httpHeaders: [{name: X, value: \"a\\nb\"}]}}\n",
     f"{P}.livenessProbe.httpGet.httpHeaders[0].value", "line break"),
    ("headers not a list", "livenessProbe: {httpGet: {port: 1, httpHeaders: {X: y}}}\n",
     f"{P}.livenessProbe.httpGet.httpHeaders", "must be a list"),
    ("tcp without port", "startupProbe: {tcpSocket: {}}\n", f"{P}.startupProbe.tcpSocket.port", "is required"),
    ("tcp misspelt", "startupProbe: {tcpSocket: {prot: 1}}\n", f"{P}.startupProbe.tcpSocket.prot", "unknown field"),
    ("misspelt probe name", "livenesProbe: {exec: {command: [x]}}\n", f"{P}.livenesProbe", "unknown field"),
]


@pytest.mark.parametrize("lines, path, fragment", [case[1:] for case in BAD_PROBES],
                         ids=[case[0] for case in BAD_PROBES])
def test_bad_probe(lines, path, fragment):
    found = problems(with_container(lines))
    assert any(p == path and fragment in m for p, m in found), found


def test_bad_probe_is_exit_2_and_names_the_path():
    from nspod.errors import BadInput, ManifestError

    with pytest.raises(ManifestError) as caught:
        load_pods(with_container("livenessProbe: {exec: {command: [x]}, successThreshold: 2}\n"), "pod.yaml")
    assert isinstance(caught.value, BadInput) and caught.value.exit_code == 2
    assert "spec.containers[0].livenessProbe.successThreshold" in str(caught.value)
