"""nspod port-forward, as kubectl port-forward: a local port carried to a
port on the pod's own loopback, many connections at once, a clean end on
Ctrl-C. Traffic stays on 127.0.0.1 and the pod's namespace."""
import signal
import socket
import subprocess
import threading

from podtest import NSPOD, nspod

ECHO = """
apiVersion: v1
kind: Pod
metadata: {name: fwd}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    command: [python3, -c, "import socket, threading\\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 7000)); s.listen(64)\\ndef serve(c):\\n    while (d := c.recv(65536)):\\n        c.sendall(d.upper())\\n    c.close()\\nwhile True:\\n    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()"]
"""


def test_port_forward_carries_many_connections_and_ends_on_ctrl_c(pods):
    pods.run(ECHO)
    fwd = subprocess.Popen(NSPOD + ["port-forward", "fwd", ":7000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        first = fwd.stdout.readline()
        assert first.startswith("Forwarding from 127.0.0.1:") and first.rstrip().endswith("-> 7000"), first
        port = int(first.split(":")[1].split()[0])
        results, errors = {}, []

        def talk(i):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    c.sendall(f"hello {i} ".encode() * 1000)
                    c.shutdown(socket.SHUT_WR)
                    got = b""
                    while (d := c.recv(65536)):
                        got += d
                results[i] = got
            except OSError as e:
                errors.append(e)

        threads = [threading.Thread(target=talk, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert all(results[i] == f"HELLO {i} ".encode() * 1000 for i in range(20))
    finally:
        fwd.send_signal(signal.SIGINT)
        out, err = fwd.communicate(timeout=20)
    assert fwd.returncode == 0, err
    assert "Handling connection for" in out
    try:  # the port is closed again
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        raise AssertionError("still listening")
    except ConnectionRefusedError:
        pass


def test_port_forward_errors(pods):
    bad = nspod("port-forward", "nopod", "x80", check=False)
    assert bad.returncode == 2 and "is not a port" in bad.stderr
    missing = nspod("port-forward", "nopod", "8080", check=False)
    assert missing.returncode == 1 and 'pod "nopod" not found' in missing.stderr
