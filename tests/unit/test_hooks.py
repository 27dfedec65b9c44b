"""Lifecycle hooks and activeDeadlineSeconds: what the manifest becomes, the
kubelet's messages, and how the pod's reason shows (pure: no processes)."""
import copy

from nspod import phase
from nspod.describe import describe
from nspod.hooks import DEADLINE_MESSAGE, DEADLINE_REASON, failure_message, resolve_port
from nspod.spec import load_pods

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 10
  activeDeadlineSeconds: 600
  containers:
  - name: app
    command: [sleep, "60"]
    ports: [{name: http, containerPort: 8080}]
    lifecycle:
      postStart:
        httpGet: {port: http, host: 127.0.0.1, httpHeaders: [{name: Host, value: example.org}]}
      preStop:
        sleep: {seconds: 10}
  - name: side
    command: [sleep, "60"]
    lifecycle:
      postStart: {exec: {command: [sh, -c, "echo hi > /tmp/x"]}}
      preStop: {httpGet: {port: "9090", path: /quit, scheme: HTTPS}}
"""


def test_hooks_and_deadline_parse_with_the_api_servers_defaults():
    (pod,), _ = load_pods(POD, "pod.yaml")
    app, side = pod.containers
    assert pod.active_deadline_seconds == 600
    assert app.post_start.kind == "httpGet"
    get = app.post_start.http_get
    assert (get.port, get.path, get.host, get.scheme, get.headers) == (
        "http", "/", "127.0.0.1", "HTTP", (("Host", "example.org"),))
    assert app.pre_stop.kind == "sleep" and app.pre_stop.sleep_seconds == 10  # equal to the grace period: allowed
    assert side.post_start.command == ("sh", "-c", "echo hi > /tmp/x")
    assert side.pre_stop.http_get.port == 9090  # a number in quotes is the number
    assert side.pre_stop.http_get.scheme == "HTTPS"
    # inspect echoes the hooks with the defaults the API server fills in
    hook = pod.manifest["spec"]["containers"][0]["lifecycle"]["postStart"]["httpGet"]
    assert hook["path"] == "/" and hook["scheme"] == "HTTP"
    assert pod.manifest["spec"]["activeDeadlineSeconds"] == 600


def test_a_zero_sleep_is_allowed_and_no_lifecycle_means_no_hooks():
    text = POD.replace("sleep: {seconds: 10}", "sleep: {seconds: 0}")
    (pod,), _ = load_pods(text, "pod.yaml")
    assert pod.containers[0].pre_stop.sleep_seconds == 0
    (plain,), _ = load_pods(POD.split("    lifecycle:")[0], "pod.yaml")
    assert plain.containers[0].post_start is None and plain.containers[0].pre_stop is None
    assert plain.active_deadline_seconds == 600


def test_ports_resolve_by_number_or_by_the_containers_port_name():
    (pod,), _ = load_pods(POD, "pod.yaml")
    app = pod.containers[0]
    assert resolve_port(8081, app) == 8081
    assert resolve_port("http", app) == 8080
    assert resolve_port("metrics", app) is None  # the hook fails when it runs, as the kubelet's


class FakeWatchdog:
    name, uid = "web", "1234"

    def __init__(self, pod):
        self.pod = pod


def test_failure_messages_are_the_kubelets():
    (pod,), _ = load_pods(POD, "pod.yaml")
    w = FakeWatchdog(pod)
    side = pod.containers[1]
    message = failure_message(w, "side", side.post_start, ["command 'sh -c echo hi > /tmp/x' exited with 2: ", 'no "x"\n'])
    assert message == ('Exec lifecycle hook ([sh -c echo hi > /tmp/x]) for Container "side" in Pod '
                       '"web_default(1234)" failed - error: command \'sh -c echo hi > /tmp/x\' exited with 2: , '
                       'message: "no \\"x\\"\\n"')
    message = failure_message(w, "side", side.pre_stop, "Connection refused")
    assert message == ('HTTP lifecycle hook (/quit) for Container "side" in Pod "web_default(1234)" '
                       'failed - error: Connection refused')


def test_a_pods_reason_is_its_status_column_unless_a_container_has_one():
    running = [{"name": "a", "ready": True, "state": {"running": {"startedAt": "x"}}}]
    killed = [{"name": "a", "ready": False, "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]
    assert phase.status_column("Failed", running, reason=DEADLINE_REASON) == "DeadlineExceeded"
    assert phase.status_column("Failed", killed, reason=DEADLINE_REASON) == "Error"  # kubectl's printPod order
    assert phase.status_column("Running", running) == "Running"


def test_describe_shows_the_pods_reason_and_message():
    pod = {"metadata": {"name": "web"}, "spec": {"containers": []},
           "status": {"phase": "Failed", "reason": DEADLINE_REASON, "message": DEADLINE_MESSAGE}}
    lines = describe(pod, [], now=0).splitlines()
    at = lines.index("Status:           Failed")
    assert lines[at + 1] == "Reason:           DeadlineExceeded"
    assert lines[at + 2] == "Message:          Pod was active on the node longer than the specified deadline"
    plain = copy.deepcopy(pod)
    del plain["status"]["reason"], plain["status"]["message"]
    assert not any(line.startswith("Reason:") for line in describe(plain, [], now=0).splitlines())
