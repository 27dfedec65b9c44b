"""The node holder, every pod's supervisor, dies while pods run (kill -9, or
SIGTERM): the pods keep running (Unknown: unsupervised), and the next command
starts a node holder that joins their user namespace and adopts them, so they
are supervised again, new pods share the node network with the old ones, and
old and new pods reach each other by pod IP. Only when no process of the old user
namespace is left is a new one made.

This test process plays the part a reaping init plays on a real machine
(systemd --user, or PID 1): it is a child subreaper, so the node holder it
starts, and the orphans that node holder leaves when it dies (the old pods'
containers and pause holders, the node network's holder and uplink), are re-parented to it and
reaped by it. (The init of these machines reaps orphans late or never; see
docs/ARCHITECTURE.md.) Orphans are reaped only where no CLI runs, so that no
CLI's exit status is taken from subprocess."""
import json
import os
import signal
import time

import prctl
import pytest

from nspod.kernel import process
from nspod.node import node_pid
from podtest import nspod, state_dir, supervisor_pid, wait_for

SERVER = """\
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 8080))
s.listen(64)
while True:
    c, a = s.accept()
    c.sendall(os.environ['NAME'].encode())
    c.close()
"""
CONNECT = ("import socket, sys; s = socket.create_connection((sys.argv[1], 8080), timeout=5); "
           "print(s.recv(200).decode())")


def manifest(name):
    """A pod whose one container answers every connection on port 8080 with its pod's name."""
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                           {"name": "srv", "command": ["python3", "-c", SERVER],
                            "env": [{"name": "NAME", "value": name}]}]}})


def reaches(pod, ip):
    """pod's answer from `ip`: True once pod reaches the server there."""
    def attempt():
        done = nspod("exec", pod, "--", "python3", "-c", CONNECT, ip, check=False)
        return done.returncode == 0 and done.stdout.strip()
    return wait_for(attempt, timeout=15, what=f"{pod} to reach {ip}:8080")


def pod_ip(pods, name):
    return pods.inspect(name)["status"]["podIP"]


def pod_userns(pods, name):
    return pods.inspect(name)["nspod"]["pause"]["namespaces"]["user"]


def phases():
    import json

    return {p["metadata"]["name"]: p["status"]["phase"] for p in json.loads(nspod("ps", "-o", "json").stdout)["items"]}


def children():
    """Our child processes (pids), zombies included."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.rindex(b")") + 2:].split()[1].decode() == me:
                found.append(int(entry))
    return found


def reap():
    """Reap our children that have ended (orphans re-parented to us)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def running_node_holder():
    """The node holder's pid, if node.pid names a running one."""
    pid = node_pid()
    try:
        with open(f"/proc/{pid}/comm") as f:
            return pid if f.read().strip() == "nspod-node" else None
    except (OSError, TypeError):
        return None


def end_node_holder(sig):
    """Signal the running node holder (our child) and wait for it; returns
    its pid and wait status."""
    pid = running_node_holder()
    assert pid and pid in children(), f"the node holder ({pid}) should be our child"
    os.kill(pid, sig)
    _, status = os.waitpid(pid, 0)
    return pid, status


def wait_gone(pid, started, timeout=10):
    wait_for(lambda: not process.alive(pid, started), timeout=timeout, what=f"process {pid} to end")


@pytest.fixture(autouse=True)
def reaping_parent():
    """Make this test process the reaping parent of the node holder and its
    orphans (see the module's docstring); at the end, stop the node holder and
    reap everything, so nothing is left for the leak check."""
    old = running_node_holder()
    if old:  # a node holder from an earlier test lingers: have the next one start below us
        started = process.start_time(old)
        process.kill(old, started, signal.SIGTERM)
        wait_gone(old, started)
    prctl.set_child_subreaper(1)
    try:
        yield
        # (pods' own fixture has removed the pods by now)
        pid = running_node_holder()
        if pid and pid in children():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while children() and time.monotonic() < deadline:
            reap()
            time.sleep(0.05)
        assert not children(), f"processes re-parented to the test did not end: {children()}"
    finally:
        prctl.set_child_subreaper(0)


def test_killed_node_holder_new_pod_joins_the_running_pods(pods):
    pods.run(manifest("old1"))
    pods.run(manifest("old2"))
    userns = pod_userns(pods, "old1")
    assert (state_dir() / "node.userns").read_text().strip() == userns
    killed, status = end_node_holder(signal.SIGKILL)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    pods.run(manifest("new"))
    assert node_pid() not in (None, killed)
    # The new node holder joined the old pods' user namespace (it did not make one).
    assert os.readlink(f"/proc/{node_pid()}/ns/user") == userns
    assert pod_userns(pods, "new") == userns
    # One node network for all: old and new pods reach each other by pod IP.
    old_ip, new_ip = pod_ip(pods, "old1"), pod_ip(pods, "new")
    assert reaches("new", old_ip) == "old1"
    assert reaches("old1", new_ip) == "new"
    assert reaches("old2", new_ip) == "new"
    assert phases() == {"old1": "Running", "old2": "Running", "new": "Running"}
    # rm -f of all of them leaves nothing (what the killed node holder started is re-parented to us: reaped here).
    for name in ("old1", "old2", "new"):
        nspod("rm", "-f", name)
    reap()


def test_node_holder_and_node_network_holder_killed(pods):
    pods.run(manifest("a1"))
    userns = pod_userns(pods, "a1")
    end_node_holder(signal.SIGKILL)
    holder = pods.inspect("a1")["nspod"]["network"]["node"]["holder"]["pid"]
    os.kill(holder, signal.SIGKILL)  # an orphan of the dead node holder: re-parented to us
    # At once: the node holder that `run` starts can join only through the pods' own processes.
    pods.run(manifest("a2"))
    assert pod_userns(pods, "a2") == userns
    wait_for(lambda: (n := pods.inspect("a1")["nspod"]["network"]["node"]) and n["holder"]["pid"] not in (None, holder),
             what="the node network to be made again")
    assert reaches("a2", pod_ip(pods, "a1")) == "a1"
    assert reaches("a1", pod_ip(pods, "a2")) == "a2"
    assert phases() == {"a1": "Running", "a2": "Running"}
    reap()


def test_killed_supervisor_pods_are_unknown_until_the_next_command_adopts_them(pods):
    pods.run(manifest("adopted"))
    pods.run(manifest("ended"))
    row = pods.inspect("adopted")
    ip = row["status"]["podIP"]
    container = row["nspod"]["containers"][0]["pid"]
    assert row["nspod"]["watchdog"]["pid"] == supervisor_pid()  # the node holder's supervisor, of every pod
    end_node_holder(signal.SIGKILL)
    # No container stops with its supervisor; nobody vouches for their state now.
    wait_for(lambda: phases() == {"adopted": "Unknown", "ended": "Unknown"}, what="the pods to show Unknown")
    assert pods.inspect("adopted")["nspod"]["containers"][0]["pid"] == container
    # One container ends while no supervisor is there to see how.
    ended = pods.inspect("ended")["nspod"]["containers"][0]
    os.kill(ended["pid"], signal.SIGKILL)
    wait_for(lambda: pods.inspect("ended")["nspod"]["containers"][0]["pid"] is None, what="the container to end")
    reap()
    # The next command's node holder (in the pods' user namespace, so it can
    # join their mount namespaces) adopts every pod.
    nspod("start", "adopted")
    assert phases() == {"adopted": "Running", "ended": "Running"}
    assert pods.inspect("adopted")["nspod"]["containers"][0]["pid"] == container  # the same process
    st = wait_for(lambda: (s := pods.status("ended", "srv"))["restartCount"] == 1 and "running" in s["state"] and s,
                  what="the ended container to be restarted")
    assert st["lastState"]["terminated"]["reason"] == "ContainerStatusUnknown"
    assert "Adopted" in nspod("describe", "adopted").stdout
    pods.run(manifest("peer"))
    assert reaches("peer", ip) == "adopted"


def test_no_process_of_the_old_user_namespace_left_makes_a_new_one(pods):
    pods.run(manifest("gone"))
    old_node = node_pid()
    # An fd keeps the old namespace (and its number) in existence, but no
    # process of it: the next node holder must not (and cannot) join it.
    old = os.open(f"/proc/{old_node}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        end_node_holder(signal.SIGKILL)
        nspod("rm", "-f", "gone")  # the last process of that namespace goes with the pod and the node network
        reap()
        pods.run(manifest("fresh"))
        fresh = pod_userns(pods, "fresh")
        assert fresh != os.readlink(f"/proc/self/fd/{old}")
        assert fresh == os.readlink(f"/proc/{node_pid()}/ns/user")
        assert (state_dir() / "node.userns").read_text().strip() == fresh
        assert phases() == {"fresh": "Running"}
    finally:
        os.close(old)


def test_sigterm_ends_the_node_holder_and_the_pods_keep_running(pods):
    pods.run(manifest("t1"))
    before = pods.inspect("t1")
    pid, status = end_node_holder(signal.SIGTERM)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not (state_dir() / "node.sock").exists() and not (state_dir() / "node.pid").exists()
    after = pods.inspect("t1")
    assert after["status"]["phase"] == "Unknown"  # running, but unsupervised
    assert after["nspod"]["containers"][0]["pid"] == before["nspod"]["containers"][0]["pid"]
    # A later command starts a node holder that joins the pod's user namespace
    # and adopts the pod.
    pods.run(manifest("t2"))
    assert node_pid() not in (None, pid)
    after = pods.inspect("t1")
    assert after["status"]["phase"] == "Running" and after["nspod"]["watchdog"]["pid"] == supervisor_pid()
    assert after["nspod"]["containers"][0]["pid"] == before["nspod"]["containers"][0]["pid"]
    assert pod_userns(pods, "t2") == pod_userns(pods, "t1")
    assert reaches("t2", pod_ip(pods, "t1")) == "t1"
    assert reaches("t1", pod_ip(pods, "t2")) == "t2"


def test_sigterm_while_idle_ends_the_node_holder(pods):
    pods.run(manifest("brief"))
    nspod("rm", "-f", "brief")
    _, status = end_node_holder(signal.SIGTERM)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not (state_dir() / "node.sock").exists() and not (state_dir() / "node.pid").exists()


def test_tty_container_survives_a_killed_supervisor(pods):
    """A tty container's terminal outlives its supervisor: a holder process
    keeps the pty master open (no hang-up, so no SIGHUP to the shell), and
    the next supervisor takes the master back; attach reaches the same shell."""
    import subprocess

    from podtest import NSPOD
    from test_attach import Attach

    pods.run("""
apiVersion: v1
kind: Pod
metadata: {name: term}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: sh, command: [sh], stdin: true, tty: true}
  - {name: cat, command: [cat], stdin: true}
""")
    wait_for(lambda: "running" in pods.status("term", "sh")["state"], what="the shell to run")
    shell = pods.inspect("term")["nspod"]["containers"][0]["pid"]
    started = process.start_time(shell)
    end_node_holder(signal.SIGKILL)
    time.sleep(1)
    assert process.alive(shell, started)   # no hang-up: sh would have died of SIGHUP
    nspod("start", "term")                  # a new supervisor adopts the pod, and the terminal
    # A plain stdin is the FIFO again: cat still reads what attach -i sends.
    p = subprocess.Popen(NSPOD + ["attach", "-i", "-q", "term", "-c", "cat"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    p.stdin.write(b"still-read\n")
    p.stdin.flush()
    assert p.stdout.readline() == b"still-read\n"
    p.stdin.write(b"\x10\x11")
    p.stdin.close()
    assert p.wait(timeout=15) == 0
    s = Attach("attach", "-it", "term", "-c", "sh")
    s.expect("try pressing enter")
    s.send("echo same-$$\n")
    s.expect("same-1")                      # PID 1 of its PID namespace: the same shell
    assert pods.inspect("term")["nspod"]["containers"][0]["pid"] == shell
    s.send("exit 4\n")
    # Not its parent, the new supervisor cannot know its exit status: 137, as for any adopted container.
    assert s.exit_code() == 137
    wait_for(lambda: "terminated" in (st := pods.status("term", "sh"))["state"]
             or st["lastState"].get("terminated"), what="the shell's end to be recorded")
    st = pods.status("term", "sh")
    assert (st["state"].get("terminated") or st["lastState"]["terminated"])["reason"] == "ContainerStatusUnknown"
    nspod("rm", "-f", "term")
    reap()
