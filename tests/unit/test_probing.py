"""The probe worker's arithmetic (thresholds, the startup gate, on-hold after
a killing failure, the schedule) and the HTTP probe's request and verdict."""

import errno

from nspod.probing.network import go_error, judge, request_bytes
from nspod.probing.state import LIVENESS, READINESS, STARTUP, ProbeState, initial_flags
from nspod.spec.model import Container, HttpGet, Probe


def probe(**kw):
    return Probe(exec_command=("true",), **kw)


def test_initial_values_as_the_kubelet_sets_them():
    assert ProbeState(READINESS, probe(), 0).value is False
    assert ProbeState(LIVENESS, probe(), 0).value is True
    assert ProbeState(STARTUP, probe(), 0).value is None


def test_initial_flags():
    assert initial_flags(Container(name="a")) == (True, True)
    assert initial_flags(Container(name="a", readiness_probe=probe())) == (False, True)
    assert initial_flags(Container(name="a", startup_probe=probe())) == (False, False)
    assert initial_flags(Container(name="a", liveness_probe=probe())) == (True, True)


def test_failure_threshold_counts_failures_in_a_row():
    s = ProbeState(LIVENESS, probe(failure_threshold=3), 0)
    assert s.record(False) is None and s.record(False) is None
    assert s.record(True) is None           # a success breaks the run
    assert s.record(False) is None and s.record(False) is None
    assert s.record(False) is False         # third in a row: the value changes
    assert s.on_hold and s.next_due() is None   # killed: no more checks for this instance


def test_success_threshold_for_readiness():
    s = ProbeState(READINESS, probe(success_threshold=2, failure_threshold=1), 0)
    assert s.record(True) is None
    assert s.record(True) is True
    assert s.record(True) is None           # unchanged: nothing to report
    assert s.record(False) is False
    assert not s.on_hold                    # readiness keeps probing


def test_startup_failure_holds_and_success_reports():
    s = ProbeState(STARTUP, probe(failure_threshold=2), 0)
    assert s.record(True) is True
    s = ProbeState(STARTUP, probe(failure_threshold=2), 0)
    assert s.record(False) is None and s.record(False) is False and s.on_hold


def test_schedule_initial_delay_then_period():
    s = ProbeState(READINESS, probe(initial_delay_seconds=5, period_seconds=2), 100)
    assert not s.due(104.9, container_started=True)
    assert s.due(105, container_started=True)
    assert s.next_at == 107
    s.busy = True
    assert not s.due(108, container_started=True) and s.next_due() is None
    s.busy = False
    assert s.due(108, container_started=True) and s.next_at == 109


def test_missed_ticks_start_again_from_now():
    s = ProbeState(LIVENESS, probe(period_seconds=1), 0)
    assert s.due(0, True)
    assert s.due(10.5, True) and s.next_at == 11.5


def test_startup_gate():
    live = ProbeState(LIVENESS, probe(period_seconds=1), 0)
    assert not live.due(0, container_started=False)   # the tick is spent, no check
    assert live.next_at == 1
    assert live.due(1, container_started=True)
    start = ProbeState(STARTUP, probe(period_seconds=1), 0)
    assert start.due(0, container_started=False)
    assert not start.due(1, container_started=True)    # done once started


def test_request_has_the_kubelets_headers():
    text = request_bytes(HttpGet(port=80, path="/healthz"), "10.88.0.2:80").decode()
    lines = text.split("\r\n")
    assert lines[0] == "GET /healthz HTTP/1.1"
    assert "Host: 10.88.0.2:80" in lines and "Accept: */*" in lines and "Connection: close" in lines
    assert any(line.startswith("User-Agent: kube-probe/") for line in lines)
    assert text.endswith("\r\n\r\n")


def test_request_headers_override():
    get = HttpGet(port=80, headers=(("Host", "example.test"), ("User-Agent", "me"), ("Accept", ""), ("X-A", "1")))
    lines = request_bytes(get, "10.88.0.2:80").decode().split("\r\n")
    assert "Host: example.test" in lines and "User-Agent: me" in lines and "X-A: 1" in lines
    assert not any(line.startswith("Accept") for line in lines)   # an empty Accept drops it
    assert not any("kube-probe" in line for line in lines)


def test_judge_by_status_code():
    url = "http://10.88.0.2:80/"
    assert judge(b"HTTP/1.1 200 OK\r\n\r\n", url) == (True, "")
    assert judge(b"HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n", url) == (True, "")
    assert judge(b"HTTP/1.1 399 X\r\n\r\n", url) == (True, "")
    assert judge(b"HTTP/1.1 400 Bad\r\n\r\n", url) == (False, "HTTP probe failed with statuscode: 400")
    assert judge(b"HTTP/1.1 503 Unavailable\r\n\r\n", url) == (False, "HTTP probe failed with statuscode: 503")
    assert judge(b"HTTP/1.1 199 X\r\n\r\n", url) == (False, "HTTP probe failed with statuscode: 199")
    assert judge(b"", url) == (False, f'Get "{url}": EOF')
    assert "malformed HTTP response" in judge(b"SSH-2.0-OpenSSH\r\n", url)[1]


def test_errors_as_go_prints_them():
    assert go_error(errno.ECONNREFUSED) == "connection refused"
    assert go_error(errno.EHOSTUNREACH) == "no route to host"


def test_describe_prints_probes_as_kubectl():
    from nspod.describe import describe_probe

    assert describe_probe({"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5,
                           "periodSeconds": 5}) == \
        "exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3"
    assert describe_probe({"httpGet": {"path": "/healthz", "port": 8080}}) == \
        "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3"
    assert describe_probe({"httpGet": {"port": "web", "scheme": "HTTPS"}, "failureThreshold": 1}) == \
        "http-get https://:web delay=0s timeout=1s period=10s #success=1 #failure=1"
    assert describe_probe({"tcpSocket": {"port": 5432}, "timeoutSeconds": 2}) == \
        "tcp-socket :5432 delay=0s timeout=2s period=10s #success=1 #failure=3"


def test_describe_trims_an_event_message_as_kubectl():
    from nspod.describe import describe

    pod = {"metadata": {"name": "p"}, "spec": {"containers": []}, "status": {"phase": "Running"}}
    event = {"type": "Warning", "reason": "Unhealthy", "count": 1, "first": 0, "last": 0,
             "message": "Liveness probe failed: cat: /tmp/healthy: No such file or directory\n"}
    text = describe(pod, [event], now=0)
    assert text.endswith("Liveness probe failed: cat: /tmp/healthy: No such file or directory")
