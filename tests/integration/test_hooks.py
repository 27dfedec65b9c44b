"""Lifecycle hooks and activeDeadlineSeconds for real, as an unprivileged
user: postStart (exec, httpGet, sleep) before a container counts as
running, its failure killing and restarting the container; preStop before
TERM inside the grace period, cut off when it outlasts it; the deadline
failing the pod."""
import http.server
import json
import os
import socket
import threading
import time

import pytest

from podtest import nspod, wait_for

FAST = ("--backoff-base", "2s")
# A container that ends at once on TERM (a shell as PID 1 ignores signals it does not trap).
ENDS_ON_TERM = "trap 'exit 0' TERM; sleep 300 & wait"
# Seconds since boot, to 10 ms: a fresh machine may step its wall clock (`date`) mid-test.
NOW = 'cut -d" " -f1 /proc/uptime'


def pod(name, command, lifecycle, grace=30, policy="Always", volume=None, extra="", ports=""):
    vol = mount = ""
    if volume:
        vol = f"volumes: [{{name: v, hostPath: {{path: {volume}, type: Directory}}}}]"
        mount = "volumeMounts: [{name: v, mountPath: /v}]"
    return f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: {name}}}
    spec:
      restartPolicy: {policy}
      terminationGracePeriodSeconds: {grace}
      {extra}
      {vol}
      containers:
      - name: app
        command: {json.dumps(["sh", "-c", command])}
        {mount}
        {ports}
        lifecycle: {json.dumps(lifecycle)}
    """


def events(name):
    return nspod("describe", name).stdout


def state(pods, name):
    return pods.status(name, "app")["state"]


def shared_dir(tmp_path):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    return d


# -- postStart ------------------------------------------------------------------------------
def test_post_start_exec_runs_in_the_container_before_it_counts_as_running(pods):
    # The hook writes into the container's own /tmp (its mount namespace);
    # the container waits for the file and prints it.
    command = "while [ ! -f /tmp/hook ]; do sleep 0.05; done; echo saw $(cat /tmp/hook); sleep 300"
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "sleep 1.5; echo from-hook > /tmp/hook"]}}}
    t0 = time.monotonic()
    pods.run(pod("ps-exec", command, hook))
    # While the hook runs the kubelet has not finished starting the container.
    first = pods.inspect("ps-exec")
    assert first["status"]["phase"] == "Pending"
    st = first["status"]["containerStatuses"][0]
    assert st["state"] == {"waiting": {"reason": "ContainerCreating"}} and st["ready"] is False
    assert "Started" in events("ps-exec")  # the process runs: Started comes before the hook
    wait_for(lambda: "running" in state(pods, "ps-exec"), timeout=15, what="running")
    assert time.monotonic() - t0 >= 1.4
    assert pods.inspect("ps-exec")["status"]["phase"] == "Running"
    assert pods.status("ps-exec", "app")["ready"] is True
    assert nspod("exec", "ps-exec", "--", "cat", "/tmp/hook").stdout == "from-hook\n"
    wait_for(lambda: "saw from-hook" in nspod("logs", "ps-exec").stdout, what="the container saw it")


def test_post_start_failure_kills_and_restarts_the_container(pods):
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "sleep 1; echo boom; exit 3"]}}}
    pods.run(pod("ps-fail", ENDS_ON_TERM, hook, grace=5), *FAST)
    # The first restart is immediate: while its hook runs again, the container
    # shows why the last start failed, as the kubelet's reason cache does.
    st = wait_for(lambda: (s := pods.status("ps-fail", "app"))["state"].get("waiting", {}).get("reason")
                  == "PostStartHookError" and s, timeout=15, what="PostStartHookError")
    message = st["state"]["waiting"]["message"]
    assert message.startswith('Exec lifecycle hook ([sh -c sleep 1; echo boom; exit 3]) for Container "app" in Pod "ps-fail_default(')
    assert message.endswith("failed - error: command 'sh -c sleep 1; echo boom; exit 3' exited with 3: , message: \"boom\\n\"")
    # (the status is the one from before this start, as the kubelet's stays while its sync is in the hook)
    assert st["restartCount"] == 0
    assert st["lastState"]["terminated"]["exitCode"] == 0  # it ended on TERM
    st = wait_for(lambda: (s := pods.status("ps-fail", "app"))["state"].get("waiting", {}).get("reason")
                  == "CrashLoopBackOff" and s, timeout=15, what="CrashLoopBackOff after the second failure")
    assert st["restartCount"] == 1
    text = events("ps-fail")
    assert "FailedPostStartHook" in text and "PostStartHook failed" in text
    assert "Killing" in text and text.count("FailedPostStartHook") >= 2  # the event and the Killing message
    assert pods.inspect("ps-fail")["status"]["phase"] == "Running"  # Always: being restarted


def test_post_start_failure_with_restart_policy_never_fails_the_pod(pods):
    hook = {"postStart": {"exec": {"command": ["false"]}}}
    pods.run(pod("ps-never", "sleep 300", hook, grace=1, policy="Never"))
    wait_for(lambda: pods.inspect("ps-never")["status"]["phase"] == "Failed", timeout=15, what="Failed")
    st = pods.status("ps-never", "app")
    assert st["restartCount"] == 0
    assert st["state"]["terminated"]["exitCode"] == 137  # the shell ignored TERM: KILL after the 1 s grace period
    assert "FailedPostStartHook" in events("ps-never")


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append((self.path, self.headers.get("Host"), self.headers.get("X-Hook")))
        self.send_response(500)  # the kubelet checks no status: any answer is success
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_post_start_http_get_to_a_host(pods, recorder):
    hook = {"postStart": {"httpGet": {"host": "127.0.0.1", "port": recorder, "path": "/started",
                                      "httpHeaders": [{"name": "X-Hook", "value": "yes"}]}}}
    pods.run(pod("ps-http", "sleep 300", hook))
    wait_for(lambda: "running" in state(pods, "ps-http"), timeout=15, what="running")
    assert Recorder.seen == [("/started", f"127.0.0.1:{recorder}", "yes")]


def test_post_start_http_get_that_cannot_connect_fails(pods):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = {"postStart": {"httpGet": {"host": "127.0.0.1", "port": port, "path": "/x"}}}
    pods.run(pod("ps-refused", "sleep 300", hook, grace=1, policy="Never"))
    wait_for(lambda: pods.inspect("ps-refused")["status"]["phase"] == "Failed", timeout=15, what="Failed")
    assert "FailedPostStartHook" in events("ps-refused")


def test_post_start_sleep_holds_the_start_and_the_next_container(pods):
    manifest = pod("ps-sleep", "date +%s.%N > /tmp/t; sleep 300", {"postStart": {"sleep": {"seconds": 2}}})
    manifest += """
      - name: second
        command: [sh, -c, "sleep 300"]
    """
    t0 = time.monotonic()
    pods.run(manifest)
    assert state(pods, "ps-sleep") == {"waiting": {"reason": "ContainerCreating"}}
    # The kubelet starts containers one after the other: the second waits for the hook.
    assert pods.status("ps-sleep", "second")["state"] == {"waiting": {"reason": "ContainerCreating"}}
    wait_for(lambda: "running" in pods.status("ps-sleep", "second")["state"], timeout=15, what="second running")
    assert time.monotonic() - t0 >= 1.8
    assert "running" in state(pods, "ps-sleep")


# -- preStop and termination ----------------------------------------------------------------
def test_pre_stop_exec_runs_before_term(pods, tmp_path):
    shared = shared_dir(tmp_path)
    command = f"trap '{NOW} > /v/term; exit 0' TERM; sleep 300 & wait"
    hook = {"preStop": {"exec": {"command": ["sh", "-c", f"{NOW} > /v/prestop; sleep 1"]}}}
    pods.run(pod("pre-exec", command, hook, grace=20, volume=shared))
    wait_for(lambda: "running" in state(pods, "pre-exec"), what="running")
    t0 = time.monotonic()
    nspod("stop", "pre-exec")
    assert time.monotonic() - t0 < 8
    prestop, term = float((shared / "prestop").read_text()), float((shared / "term").read_text())
    assert 0.9 <= term - prestop < 4  # TERM came once the hook (1 s) returned
    assert pods.inspect("pre-exec")["status"]["phase"] == "Succeeded"
    assert "FailedPreStopHook" not in events("pre-exec")


def test_pre_stop_longer_than_the_grace_period_is_cut_off(pods, tmp_path):
    shared = shared_dir(tmp_path)
    command = f"trap '{NOW} > /v/term; exit 0' TERM; sleep 300 & wait"
    hook = {"preStop": {"exec": {"command": ["sh", "-c", f"{NOW} > /v/prestop; sleep 30; touch /v/never"]}}}
    pods.run(pod("pre-long", command, hook, grace=3, volume=shared))
    wait_for(lambda: "running" in state(pods, "pre-long"), what="running")
    t0 = time.monotonic()
    nspod("stop", "pre-long")
    took = time.monotonic() - t0
    assert 2.8 <= took < 8  # the 3 s grace period, then TERM (which it obeys)
    prestop, term = float((shared / "prestop").read_text()), float((shared / "term").read_text())
    assert 2.8 <= term - prestop < 5
    time.sleep(0.5)
    assert not (shared / "never").exists()


def test_pre_stop_that_ignores_term_after_the_hook_gets_the_2s_minimum(pods):
    hook = {"preStop": {"sleep": {"seconds": 2}}}
    pods.run(pod("pre-min", "sleep 300", hook, grace=2))  # the shell ignores TERM
    wait_for(lambda: "running" in state(pods, "pre-min"), what="running")
    t0 = time.monotonic()
    nspod("stop", "pre-min")
    took = time.monotonic() - t0
    # hook 2 s uses the whole grace period; TERM still gets the kubelet's 2 s before KILL
    assert 3.8 <= took < 9
    assert pods.status("pre-min", "app")["state"]["terminated"]["exitCode"] == 137


def test_failed_pre_stop_hook_is_an_event_and_the_stop_goes_on(pods):
    hook = {"preStop": {"exec": {"command": ["sh", "-c", "exit 1"]}}}
    pods.run(pod("pre-fail", ENDS_ON_TERM, hook, grace=20))
    wait_for(lambda: "running" in state(pods, "pre-fail"), what="running")
    t0 = time.monotonic()
    nspod("stop", "pre-fail")
    assert time.monotonic() - t0 < 5
    text = events("pre-fail")
    assert "FailedPreStopHook" in text and "PreStopHook failed" in text
    assert pods.status("pre-fail", "app")["state"]["terminated"]["exitCode"] == 0


def test_stop_timeout_overrides_the_grace_period_for_the_hook(pods):
    hook = {"preStop": {"sleep": {"seconds": 20}}}
    pods.run(pod("pre-override", ENDS_ON_TERM, hook, grace=30))
    wait_for(lambda: "running" in state(pods, "pre-override"), what="running")
    t0 = time.monotonic()
    nspod("stop", "--timeout", "1", "pre-override")
    assert 0.9 <= time.monotonic() - t0 < 6  # cut off after 1 s, not 20


def test_pre_stop_http_get_reaches_the_pod_ip(pods):
    # The container's server prints what it is asked; the hook names its port by name.
    server = ("import http.server as h\n"
              "class R(h.BaseHTTPRequestHandler):\n"
              "  def do_GET(s):\n"
              "    print('GOT', s.path, s.client_address[0] != '127.0.0.1', flush=True)\n"
              "    s.send_response(200); s.end_headers()\n"
              "h.HTTPServer(('0.0.0.0', 8080), R).serve_forever()\n")
    extra = ("ports: [{name: web, containerPort: 8080}]\n"
             f"        env: [{{name: SERVER, value: {json.dumps(server)}}}]")
    pods.run(pod("pre-http", 'exec python3 -c "$SERVER"', {"preStop": {"httpGet": {"port": "web", "path": "/drain"}}},
                 ports=extra))
    assert pods.inspect("pre-http")["status"]["podIP"]
    wait_for(lambda: nspod("exec", "pre-http", "--", "python3", "-c",
                           "import socket; socket.create_connection(('127.0.0.1', 8080)).close()",
                           check=False).returncode == 0, timeout=15, what="the server listening")
    nspod("stop", "--timeout", "3", "pre-http")
    # From outside the pod (the node network), to the pod's IP, as the kubelet connects.
    assert "GOT /drain True" in nspod("logs", "pre-http").stdout
    assert "FailedPreStopHook" not in events("pre-http")


def test_rm_with_a_timeout_runs_the_pre_stop_hook(pods, tmp_path):
    shared = shared_dir(tmp_path)
    hook = {"preStop": {"exec": {"command": ["sh", "-c", "touch /v/prestop"]}}}
    pods.run(pod("rm-hook", ENDS_ON_TERM, hook, grace=20, volume=shared))
    wait_for(lambda: "running" in state(pods, "rm-hook"), what="running")
    nspod("rm", "-f", "--timeout", "5", "rm-hook")
    assert (shared / "prestop").exists()
    assert nspod("inspect", "rm-hook", check=False).returncode != 0  # removed
    bad = nspod("rm", "--timeout", "5", "nothing", check=False)
    assert bad.returncode == 2 and "only with -f" in bad.stderr


# -- activeDeadlineSeconds ------------------------------------------------------------------
def test_active_deadline_fails_the_pod(pods):
    pods.run(pod("deadline", ENDS_ON_TERM, {}, extra="activeDeadlineSeconds: 2").replace(
        "        lifecycle: {}\n", ""))
    t0 = time.monotonic()
    assert pods.inspect("deadline")["status"]["phase"] == "Running"
    found = wait_for(lambda: (p := pods.inspect("deadline"))["status"]["phase"] == "Failed" and p,
                     timeout=15, what="Failed")
    assert time.monotonic() - t0 >= 1
    status = found["status"]
    assert status["reason"] == "DeadlineExceeded"
    assert status["message"] == "Pod was active on the node longer than the specified deadline"
    text = events("deadline")
    assert "DeadlineExceeded" in text and "Killing" in text
    assert "Reason:           DeadlineExceeded" in text
    time.sleep(1)
    assert pods.status("deadline", "app")["restartCount"] == 0  # Always, yet nothing restarts
    row = [p for p in json.loads(nspod("ps", "-o", "json").stdout)["items"] if p["metadata"]["name"] == "deadline"]
    assert row and row[0]["status"]["reason"] == "DeadlineExceeded"
