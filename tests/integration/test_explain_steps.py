"""`--explain`: each kernel step told by the process that does it, as it is
done, checked against what the pod really is (inspect's pids and namespace
ids), and the JSON-lines form read back."""
import json
import os
import re
import time

from podtest import nspod

POD = """
apiVersion: v1
kind: Pod
metadata: {name: told}
spec:
  hostname: told-host
  terminationGracePeriodSeconds: 1
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: app
    command: [sleep, "300"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
"""

STEP = re.compile(r"^\[(?P<role>[^\]]+?) (?P<pid>\d+)\] (?P<call>.*?)(?:\s+# (?P<by_hand>.*))?$")


def steps_of(text):
    """The step lines of --explain's text (not the namespace lines under them)."""
    found = []
    for line in text.splitlines():
        m = STEP.match(line)
        if m:
            found.append(m.groupdict())
    return found


def first(steps, role, call_part):
    for i, s in enumerate(steps):
        if s["role"] == role and call_part in s["call"]:
            return i, s
    raise AssertionError(f"no step of {role} with {call_part!r} among:\n"
                         + "\n".join(f"{s['role']} {s['call'][:100]}" for s in steps))


def test_run_explain_tells_each_step_by_the_process_that_does_it(pods, tmp_path):
    done = pods.run(POD, "--explain")
    assert done.stdout.split() == ["told"]  # stdout stays the command's own output
    steps = steps_of(done.stderr)
    info = pods.inspect("told")
    pause_pid = info["nspod"]["pause"]["pid"]
    app_pid = info["nspod"]["containers"][0]["pid"]
    pause_ns = info["nspod"]["pause"]["namespaces"]

    # The pause holder makes the pod's namespaces and holds them with catatonit.
    i_unshare, s = first(steps, "pause", "unshare(CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS)")
    assert int(s["pid"]) == pause_pid and s["by_hand"] == "unshare --net --ipc --uts"
    i_host, s = first(steps, "pause", 'sethostname("told-host")')
    assert s["by_hand"] == "hostname told-host"
    i_pause_exec, s = first(steps, "pause", "execve(")
    assert "catatonit" in s["call"] and i_unshare < i_host < i_pause_exec

    # The container joins them, builds its root, pivots into it and execs.
    i_join, s = first(steps, "app", f"setns(/proc/{pause_pid}/ns/net, CLONE_NEWNET)")
    assert int(s["pid"]) == app_pid
    assert s["by_hand"] == f"nsenter --target {pause_pid} --net"
    assert pause_ns["net"] in s["call"]  # the namespace it joined, by id
    i_volume, s = first(steps, "app", "scratch")
    assert s["call"].startswith("open_tree(") and "move_mount(" in s["call"] and s["by_hand"].startswith("mount --rbind ")
    i_pivot, s = first(steps, "app", 'pivot_root(".", ".")')
    assert s["by_hand"].endswith("pivot_root . .")
    i_seccomp, _ = first(steps, "app", "seccomp(SECCOMP_SET_MODE_FILTER")
    i_caps, s = first(steps, "app", "setresuid(0)")
    assert s["by_hand"].startswith("setpriv --reuid=0 --regid=0")
    i_exec, s = first(steps, "app", "execve('/usr/bin/sleep', ['sleep', '300']")
    assert s["by_hand"] == "exec sleep 300"
    assert i_join < i_volume < i_pivot < i_seccomp < i_caps < i_exec

    # Who forked the container: an intermediate the supervisor (the node
    # holder) forked, which entered a new PID namespace first.
    _, s = first(steps, "app's intermediate", f"fork() -> {app_pid} (app)")
    middle = s["pid"]
    # (posix_spawn of nspod-exec, which performs the container's start plan)
    _, s = first(steps, "supervisor", f"-> {middle} (app's intermediate)")
    assert s["call"].startswith("posix_spawn(") and "nspod-exec" in s["call"]
    assert int(s["pid"]) == info["nspod"]["watchdog"]["pid"]
    first(steps, "app's intermediate", "unshare(CLONE_NEWPID)")
    # Under a process's first step: the namespaces it is in (here, the pod's net after joining).
    assert f"now in {pause_ns['net']}" in done.stderr or pause_ns["net"] in done.stderr


def test_explain_to_a_file_writes_json_lines(pods, tmp_path):
    out = tmp_path / "steps.jsonl"
    done = pods.run(POD, f"--explain={out}")
    assert done.stderr.count("[") == 0 or "# " not in done.stderr  # the steps went to the file, not stderr
    steps = [json.loads(line) for line in out.read_text().splitlines()]
    assert steps, "no step written"
    info = pods.inspect("told")
    app_pid = info["nspod"]["containers"][0]["pid"]
    for s in steps:
        assert set(s) == {"pid", "role", "ns", "call", "result", "by_hand"}
    execs = [s for s in steps if s["role"] == "app" and s["call"].startswith("execve(")]
    assert len(execs) == 1 and execs[0]["pid"] == app_pid
    # The step's namespaces are the container's own: the pod's net, its own mnt.
    ns = info["nspod"]["containers"][0]["namespaces"]
    assert execs[0]["ns"]["net"] == ns["net"] == info["nspod"]["pause"]["namespaces"]["net"]
    assert execs[0]["ns"]["mnt"] == ns["mnt"]


def test_exec_stop_start_and_rm_explain(pods):
    pods.run(POD)
    info = pods.inspect("told")
    app_pid = info["nspod"]["containers"][0]["pid"]

    done = nspod("exec", "--explain", "told", "--", "cat", "/proc/sys/kernel/hostname")
    assert done.stdout == "told-host\n"  # the command's output, untouched
    steps = steps_of(done.stderr)
    for kind, option in (("net", "--net"), ("ipc", "--ipc"), ("uts", "--uts"), ("pid", "--pid"), ("mnt", "--mount")):
        _, s = first(steps, "exec", f"setns(/proc/{app_pid}/ns/{kind}")
        assert s["by_hand"] == f"nsenter --target {app_pid} {option}"
    first(steps, "exec command", "execve('/usr/bin/cat', ['cat', '/proc/sys/kernel/hostname']")
    assert nspod("exec", "--explain", "told", "--", "sh", "-c", "exit 7", check=False).returncode == 7

    done = nspod("stop", "--explain", "told")
    _, s = first(steps_of(done.stderr), "supervisor", f"pidfd_send_signal(pidfd of {app_pid}, SIGTERM)")
    assert s["by_hand"] == f"kill -TERM {app_pid}"

    done = nspod("start", "--explain", "told")
    first(steps_of(done.stderr), "app", "execve('/usr/bin/sleep'")

    new_pid = pods.inspect("told")["nspod"]["containers"][0]["pid"]
    done = nspod("rm", "-f", "--explain", "told")
    first(steps_of(done.stderr), "supervisor", f"pidfd_send_signal(pidfd of {new_pid}, SIGKILL)")


def test_without_explain_nothing_is_told(pods):
    pods.run(POD, "--explain")  # the supervisor explained one command ...
    done = nspod("exec", "told", "--", "true")
    assert done.stderr == ""
    done = nspod("stop", "told")  # ... and tells the next ones nothing
    assert done.stderr == ""


def test_explain_to_a_file_that_cannot_be_written_fails_before_anything(pods, tmp_path):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD)
    done = nspod("run", f"--explain={tmp_path}/no/such/dir/steps", manifest, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"Error: No such file or directory: {tmp_path}/no/such/dir/steps"]
    assert nspod("ps", "-o", "name").stdout == ""  # no pod was made


def test_explain_with_a_bad_manifest_is_bad_input(tmp_path):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: []}\n")
    done = nspod("run", "--explain", manifest, check=False)
    assert done.returncode == 2
    assert "[cli" not in done.stderr  # nothing was done, so nothing is told


def _ask(request, fd):
    """A raw request to the node holder with an --explain fd of our making."""
    import socket

    from nspod import node

    sock = node.connect()
    try:
        sock.settimeout(30)
        socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [fd])
        return sock.makefile().read()
    finally:
        sock.close()


def test_a_full_blocking_pipe_from_a_client_does_not_hold_the_supervisor(pods):
    import fcntl
    import os

    pods.run(POD)
    r, w = os.pipe()  # blocking, as a careless client would pass it, and full: any blocking write would hang
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        while True:
            os.write(w, b"x" * 65536)
    except BlockingIOError:
        pass
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    try:
        answer = _ask({"op": "stop", "pod": "told"}, w)  # the supervisor tells its kills into it
    finally:
        os.close(r)
        os.close(w)
    assert json.loads(answer)["ok"] is True
    assert pods.inspect("told")["status"]["phase"] in ("Succeeded", "Failed")


def test_an_explain_fd_that_is_not_a_pipe_is_ignored(tmp_path):
    import os

    path = tmp_path / "not-a-pipe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        answer = _ask({"op": "stop", "pod": "no-such-pod"}, fd)
    finally:
        os.close(fd)
    assert json.loads(answer) == {"ok": True, "supervised": False}
    assert path.read_bytes() == b""


def _node_fds():
    """The fds of the supervisor, which takes the requests."""
    from nspod import node
    from podtest import supervisor_pid

    node.ping()
    return len(os.listdir(f"/proc/{supervisor_pid()}/fd"))


def test_a_client_that_leaves_after_its_spawn_request_leaks_no_fd(pods):
    import socket

    from nspod import node

    pods.run(POD)  # (a supervisor that serves a pod)
    before = _node_fds()
    for i in range(20):
        r, w = os.pipe()
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(node.state_dir() / "node.sock"))
        socket.send_fds(client, [json.dumps({"op": "spawn", "pod": f"gone{i}"}).encode() + b"\n"], [w])
        client.close()  # before the supervisor says it took the request
        os.close(r)
        os.close(w)
    time.sleep(1)
    assert _node_fds() <= before + 2  # (not one per request)


def test_a_client_sending_a_byte_at_a_time_does_not_hold_the_supervisor(pods):
    import socket
    import threading

    from nspod import node

    pods.run(POD)
    path = str(node.state_dir() / "node.sock")

    def dribble():
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        try:
            for ch in b'{"op": "ping"' + b" " * 30:
                client.send(bytes([ch]))
                time.sleep(0.3)
        except OSError:
            pass  # (the supervisor gave up on it: what we want)
        finally:
            client.close()

    slow = threading.Thread(target=dribble)
    slow.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert node.ping()
    took = time.monotonic() - started
    slow.join()
    assert took < 3, f"a ping waited {took:.1f} s behind a client sending a byte every 0.3 s"


def test_explain_shows_no_escape_sequence_from_a_manifest(pods, tmp_path):
    manifest = POD.replace('command: [sleep, "300"]', 'command: [sh, -c, "sleep 300 # \\e]0;PWNED\\a"]')
    assert manifest != POD
    done = pods.run(manifest, "--explain")
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "]0;PWNED" in done.stderr  # (shown, made printable: ?]0;PWNED?)
