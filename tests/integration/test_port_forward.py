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
    readinessProbe:  # run --wait: until it listens (on the pod's loopback, where a tcpSocket probe does not look)
      exec: {command: [python3, -c, "import socket; socket.create_connection(('127.0.0.1', 7000), 1)"]}
      periodSeconds: 1
"""


def test_port_forward_carries_many_connections_and_ends_on_ctrl_c(pods):
    pods.run(ECHO, "--wait=30s")
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


def test_port_forward_addresses_and_one_line_errors(pods):
    pods.run(ECHO, "--wait=30s")
    fwd = subprocess.Popen(NSPOD + ["port-forward", "fwd", ":7000", "--address", "127.0.0.1,::1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [fwd.stdout.readline(), fwd.stdout.readline()]
        port = int(lines[0].split(":")[1].split()[0])  # a free port, the same on both addresses
        assert lines == [f"Forwarding from 127.0.0.1:{port} -> 7000\n", f"Forwarding from [::1]:{port} -> 7000\n"]
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with socket.socket(family) as c:
                c.settimeout(10)
                c.connect((host, port))
                c.sendall(b"both")
                assert c.recv(100) == b"BOTH"
    finally:
        fwd.send_signal(signal.SIGINT)
        fwd.communicate(timeout=20)
    assert fwd.returncode == 0

    with socket.socket() as taken:  # a port in use: one line, exit 1, as kubectl
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        inuse = nspod("port-forward", "fwd", f"{busy}:7000", check=False, timeout=20)
    assert (inuse.returncode, inuse.stdout) == (1, "")
    assert inuse.stderr == f"Error: unable to listen on 127.0.0.1:{busy}: Address already in use\n"

    bad = nspod("port-forward", "fwd", "7000", "--address", "127.0.0.1,example.com", check=False)
    assert (bad.returncode, bad.stderr) == (2, 'Error: --address: "example.com" is not an IP address or localhost\n')

    nspod("stop", "fwd")
    stopped = nspod("port-forward", "fwd", "7000", check=False)
    assert stopped.returncode == 1
    assert stopped.stderr.startswith('Error: unable to forward port because pod "fwd" is not running. Current status=')
