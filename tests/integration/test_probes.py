"""Probes for real: each handler against a tiny server the container runs,
thresholds with short periods, liveness restarts and their events,
readiness flipping the pod's Ready, the startup gate, timeouts, refusals."""
import json
import re
import subprocess
import textwrap

from podtest import NSPOD, nspod, wait_for

# An HTTP server on :8080: 200 while /tmp/ok exists (else 503), and only for a
# request that carries the probe's headers when /tmp/want-header exists.
HTTP_SERVER = textwrap.dedent("""\
    import http.server, os, ssl, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            good = os.path.exists("/tmp/ok") and self.path == "/healthz"
            if os.path.exists("/tmp/want-header"):
                good = good and self.headers.get("X-Probe") == "yes" and self.headers["User-Agent"].startswith("kube-probe/")
            self.send_response(200 if good else 503)
            self.end_headers()
            self.wfile.write(b"body")
        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("0.0.0.0", 8080), H)
    if len(sys.argv) > 1:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
    """)


def pod(name, probes, command, policy="Always", ports="", volumes=""):
    return f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: {name}}}
    spec:
      restartPolicy: {policy}
      terminationGracePeriodSeconds: 30
      {volumes}
      containers:
      - name: app
        command: {json.dumps(command)}
        {ports}
{textwrap.indent(textwrap.dedent(probes), " " * 8)}
    """


def http_server(*args):
    return ["python3", "-c", HTTP_SERVER, *args]


def condition(pods, name, type_):
    return next(c for c in pods.inspect(name)["status"]["conditions"] if c["type"] == type_)


def events(name):
    return nspod("describe", name).stdout


def test_readiness_http_flips_ready_and_the_pod_conditions(pods):
    pods.run(pod("ready", """\
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
          failureThreshold: 1
        """, http_server()))
    wait_for(lambda: "Readiness probe failed: HTTP probe failed with statuscode: 503" in events("ready"),
             timeout=15, what="a failed readiness check")
    st = pods.status("ready", "app")
    assert "running" in st["state"] and st["ready"] is False and st["started"] is True
    assert condition(pods, "ready", "Ready")["status"] == "False"
    assert condition(pods, "ready", "ContainersReady")["reason"] == "ContainersNotReady"
    nspod("exec", "ready", "--", "touch", "/tmp/ok")
    wait_for(lambda: pods.status("ready", "app")["ready"], timeout=10, what="ready")
    became_ready = condition(pods, "ready", "Ready")
    assert became_ready["status"] == "True"
    assert nspod("ps").stdout.split("\n")[1].split()[1] == "1/1"
    nspod("exec", "ready", "--", "rm", "/tmp/ok")
    wait_for(lambda: not pods.status("ready", "app")["ready"], timeout=10, what="not ready again")
    again = condition(pods, "ready", "Ready")
    assert again["status"] == "False" and again["lastTransitionTime"] >= became_ready["lastTransitionTime"]
    assert pods.status("ready", "app")["restartCount"] == 0  # readiness never restarts


def test_liveness_exec_failure_kills_and_restarts_with_events(pods):
    pods.run(pod("live", """\
        livenessProbe:
          exec: {command: [cat, /tmp/alive]}
          periodSeconds: 1
          failureThreshold: 2
          terminationGracePeriodSeconds: 1
        """, ["sh", "-c", "touch /tmp/alive; sleep 2; rm /tmp/alive; exec sleep 1000"]), "--backoff-base", "100ms")
    st = wait_for(lambda: (s := pods.status("live", "app"))["restartCount"] >= 1 and s, timeout=30,
                  what="a restart by the liveness probe")
    # sleep as PID 1 ignores TERM: KILL after the probe's 1 s grace period
    assert st["lastState"]["terminated"]["exitCode"] == 137
    text = events("live")
    assert "Liveness probe failed: cat: /tmp/alive: No such file or directory" in text
    assert "Container app failed liveness probe, will be restarted" in text
    assert "Unhealthy" in text and "Killing" in text
    assert "Liveness:       exec [cat /tmp/alive] delay=0s timeout=1s period=1s #success=1 #failure=2" in text


def test_liveness_tcp_with_never_ends_the_pod(pods):
    # A TCP server that stops listening after 2 s; with Never the pod fails.
    server = ("import socket, time\ns = socket.socket(); s.bind(('0.0.0.0', 9000)); s.listen()\n"
              "time.sleep(2); s.close(); time.sleep(1000)")
    pods.run(pod("tcplive", """\
        livenessProbe:
          tcpSocket: {port: 9000}
          periodSeconds: 1
          failureThreshold: 1
          terminationGracePeriodSeconds: 2
        """, ["python3", "-c", server], policy="Never"))
    p = wait_for(lambda: (p := pods.inspect("tcplive"))["status"]["phase"] == "Failed" and p, timeout=30,
                 what="the pod to fail")
    text = events("tcplive")
    assert re.search(r"Liveness probe failed: dial tcp 10\.[0-9.]+:9000: connect: connection refused", text)
    assert "Container app failed liveness probe" in text and "will be restarted" not in text
    # PID 1 of its PID namespace without a TERM handler ignores TERM: KILLed after the probe's grace period
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137


def test_startup_probe_gates_liveness_and_readiness(pods):
    # The server starts listening after 3 s; until the startup probe sees it,
    # the failing liveness probe must not run (else it would kill the container).
    server = ("import socket, time\ntime.sleep(3)\ns = socket.socket(); s.bind(('0.0.0.0', 9000)); s.listen()\n"
              "time.sleep(1000)")
    pods.run(pod("gate", """\
        startupProbe:
          tcpSocket: {port: 9000}
          periodSeconds: 1
          failureThreshold: 30
        livenessProbe:
          exec: {command: [sh, -c, "test -e /tmp/started-ok"]}
          periodSeconds: 1
          failureThreshold: 1
        readinessProbe:
          exec: {command: ["true"]}
          periodSeconds: 1
        """, ["python3", "-c", server + "\n"]))
    st = wait_for(lambda: (s := pods.status("gate", "app")) and "running" in s["state"] and s, timeout=10,
                  what="running")
    assert st["started"] is False and st["ready"] is False
    wait_for(lambda: "Startup probe failed" in events("gate"), timeout=10, what="a failed startup check")
    text = events("gate")
    assert "Liveness probe failed" not in text and "Readiness probe failed" not in text
    nspod("exec", "gate", "--", "touch", "/tmp/started-ok")
    st = wait_for(lambda: (s := pods.status("gate", "app"))["started"] and s["ready"] and s, timeout=15,
                  what="started and ready")
    assert st["restartCount"] == 0
    assert "Liveness probe failed" not in events("gate")


def test_probe_timeouts(pods):
    # exec: sleep outlives timeoutSeconds; http: a server that accepts and never answers.
    silent = ("import socket, time\ns = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen()\n"
              "c = []\nwhile True: c.append(s.accept())")
    pods.run(pod("slow", """\
        readinessProbe:
          httpGet: {port: 8080, path: /x}
          periodSeconds: 1
          timeoutSeconds: 1
        livenessProbe:
          exec: {command: [sleep, "5"]}
          periodSeconds: 1
          timeoutSeconds: 1
          failureThreshold: 1
          terminationGracePeriodSeconds: 1
        """, ["python3", "-c", silent], policy="Never"))
    p = wait_for(lambda: (p := pods.inspect("slow"))["status"]["phase"] == "Failed" and p, timeout=30,
                 what="the liveness timeout to end the pod")
    text = events("slow")
    assert re.search(r'Readiness probe failed: Get "http://10\.[0-9.]+:8080/x": context deadline exceeded '
                     r"\(Client.Timeout exceeded while awaiting headers\)", text)
    assert re.search(r"Liveness probe failed: *(\n|$)", text)  # a timed-out exec has no output, as the kubelet's
    assert "Container app failed liveness probe" in text
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137


def test_named_port_headers_and_https(pods, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=probe",
                    "-keyout", certs / "key.pem", "-out", certs / "cert.pem"], check=True, capture_output=True)
    certs.chmod(0o755)
    for f in certs.iterdir():
        f.chmod(0o644)
    volumes = f"volumes: [{{name: certs, hostPath: {{path: {certs}, type: Directory}}}}]"
    command = ["sh", "-c", 'touch /tmp/ok /tmp/want-header; exec python3 -c "$0" /certs/cert.pem /certs/key.pem',
               HTTP_SERVER]
    pods.run(pod("https", """\
        volumeMounts: [{name: certs, mountPath: /certs}]
        readinessProbe:
          httpGet:
            port: web
            path: /healthz
            scheme: HTTPS
            httpHeaders: [{name: X-Probe, value: "yes"}]
          periodSeconds: 1
        """, command, ports="ports: [{name: web, containerPort: 8080}]", volumes=volumes))
    wait_for(lambda: pods.status("https", "app")["ready"], timeout=15, what="ready over HTTPS")
    assert "statuscode" not in events("https")  # (refused connections until it listened, then 200s)


def test_bad_probe_is_exit_2_and_creates_nothing(pods, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(pod("bad", """\
        livenessProbe:
          exec: {command: [x]}
          successThreshold: 2
        readinessProbe:
          grpc: {port: 9000}
        """, ["sleep", "9"])))
    done = subprocess.run([*NSPOD, "run", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "spec.containers[0].livenessProbe.successThreshold: must be 1" in done.stderr
    assert "spec.containers[0].readinessProbe.grpc" in done.stderr and "grpc probes are not supported yet" in done.stderr
    assert "bad" not in nspod("ps").stdout


def test_exec_probe_whose_command_cannot_run_fails_with_why(pods):
    """nspod-exec could not exec the check's command: the probe fails with
    what stopped it as its output (exit 127), as a runtime's exec reports it."""
    pods.run(pod("norun", """\
        readinessProbe:
          exec: {command: [no-such-check]}
          periodSeconds: 1
        """, ["sleep", "1000"]))
    wait_for(lambda: 'Readiness probe failed: exec: "no-such-check": executable file not found in $PATH'
             in events("norun"), timeout=20, what="the probe's failure event")
    assert condition(pods, "norun", "Ready")["status"] == "False"
