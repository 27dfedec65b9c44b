"""Containers with stdin, stdinOnce and tty, and `nspod attach` to them: driven
through a real pseudo-terminal the test holds, as a person types (line
editing, Ctrl-C to a command inside, the window size, the exit code, the
terminal restored), detaching with Ctrl-P Ctrl-Q, stdin without a terminal,
stdinOnce, the errors, and a terminal's output in `nspod logs`."""
import fcntl
import os
import struct
import subprocess
import sys
import termios
import time

from podtest import NSPOD, nspod, wait_for
from test_exec_tty import Session

SHELL = """
apiVersion: v1
kind: Pod
metadata: {name: term}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: sh, command: [sh], stdin: true, tty: true}
"""

CAT = """
apiVersion: v1
kind: Pod
metadata: {name: cat}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: cat, command: [cat], stdin: true}
"""

ONCE = """
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: once, command: [sh, -c, "cat; echo saw-eof"], stdin: true, stdinOnce: true}
"""

PLAIN = """
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: done, command: ["true"]}
  - {name: srv, command: [sleep, "300"]}
"""


class Attach(Session):
    """`nspod attach ...` on a pty the test holds; attrs_at_start: its
    terminal settings before nspod ran."""

    def __init__(self, *args, rows=33, cols=101):
        master, slave = os.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.attrs_at_start = termios.tcgetattr(slave)
        self.pid = os.fork()
        if self.pid == 0:
            os.close(master)
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.execv(sys.executable, NSPOD + list(args))
        os.close(slave)
        self.fd = master
        self.seen = b""


def running(pods, name, container):
    return wait_for(lambda: "running" in pods.status(name, container)["state"], what=f"{container} to run")


def attached_shell(rows=33, cols=101):
    s = Attach("attach", "-it", "term", rows=rows, cols=cols)
    s.expect("try pressing enter")
    s.send("\n")                            # a new prompt (the old one was written before we came)
    s.expect("# ")
    return s


def test_attach_it_is_the_containers_terminal(pods):
    pods.run(SHELL)
    running(pods, "term", "sh")
    s = attached_shell()
    before = termios.tcgetattr(s.fd)       # (the test's side of the pty: nspod made it raw)
    s.send("PS1='$ '; tty; stty size\n")
    out = s.expect("33 101")
    assert "/dev/pts/0" in out, out        # the container's own devpts, its first terminal
    fcntl.ioctl(s.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # the user resizes: SIGWINCH
    time.sleep(0.3)
    s.send("stty size\n")
    s.expect("40 120")
    s.send("echo hell\x7fo-typed\n")       # line editing: the backspace was applied
    s.expect("helo-typed")
    s.send("sleep 100\n")
    time.sleep(0.5)
    s.send(b"\x03")                        # Ctrl-C: SIGINT to sleep inside, not to nspod
    s.expect("$ ")
    s.send("echo after-$?\n")
    s.expect("after-130")
    s.send("exit 3\n")
    assert s.exit_code() == 3              # the container's exit code
    assert s.attrs == s.attrs_at_start     # the terminal as it was before attach
    assert before != s.attrs               # (it was raw meanwhile)
    assert pods.status("term", "sh")["state"]["terminated"]["exitCode"] == 3
    spec = pods.inspect("term")["spec"]["containers"][0]
    assert (spec["stdin"], spec["tty"]) == (True, True) and "stdinOnce" not in spec  # (false is left out)
    assert "Exit Code:    3" in nspod("describe", "term").stdout
    # Its terminal's output is its log, as stdout (as the kubelet logs a tty container).
    log = nspod("logs", "term").stdout
    assert "helo-typed" in log and "after-130" in log
    assert '"stdout"' not in log
    cri = next((pods_dir() / "term" / "logs" / "sh").glob("0.log")).read_text()
    assert " stdout " in cri and " stderr " not in cri


def pods_dir():
    from nspod.paths import state_dir

    return state_dir() / "pods"


def test_detach_with_ctrl_p_ctrl_q_and_attach_again(pods):
    pods.run(SHELL)
    running(pods, "term", "sh")
    pid = pods.inspect("term")["nspod"]["containers"][0]["pid"]
    s = attached_shell()
    s.send("echo first-$$\n")
    s.expect("first-")
    s.send(b"\x10\x11")                    # Ctrl-P Ctrl-Q: detach
    assert s.exit_code() == 0
    assert s.attrs == s.attrs_at_start
    assert "running" in pods.status("term", "sh")["state"]
    assert pods.inspect("term")["nspod"]["containers"][0]["pid"] == pid
    s = attached_shell(rows=20, cols=70)   # again: the same shell, the new window's size
    s.send("stty size; echo again\n")
    s.expect("20 70")
    s.expect("again")
    s.send(b"\x10x")                       # a Ctrl-P not followed by Ctrl-Q is typed as it is
    s.send(b"\x15echo still\n")            # (Ctrl-U clears the line the shell has)
    s.expect("still")
    s.send("exit 0\n")
    assert s.exit_code() == 0
    assert "again" in nspod("logs", "term").stdout


def test_stdin_without_a_terminal_is_kept_open_across_sessions(pods):
    pods.run(CAT)
    running(pods, "cat", "cat")
    for word in ("hello", "again"):
        p = subprocess.Popen(NSPOD + ["attach", "-i", "-q", "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdin.write(f"{word}\n".encode())
        p.stdin.flush()
        assert p.stdout.readline() == f"{word}\n".encode()  # cat echoed what we sent
        p.stdin.write(b"\x10\x11")          # detach: cat keeps its stdin
        p.stdin.flush()
        assert p.wait(timeout=15) == 0, p.stderr.read()
    assert "running" in pods.status("cat", "cat")["state"]
    assert nspod("logs", "cat").stdout == "hello\nagain\n"
    # Input that ends (end of file) does not close a plain stdin: cat runs on.
    p = subprocess.Popen(NSPOD + ["attach", "-i", "-q", "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(b"third\n")
    p.stdin.close()
    assert p.stdout.readline() == b"third\n"
    time.sleep(0.5)
    assert p.poll() is None and "running" in pods.status("cat", "cat")["state"]
    p.kill()
    p.wait()


def test_stdin_once_is_closed_when_the_first_session_ends(pods):
    pods.run(ONCE)
    running(pods, "once", "once")
    time.sleep(0.5)
    assert "running" in pods.status("once", "once")["state"]  # no end of file before anyone attached
    done = nspod("attach", "-i", "-q", "once", input="one line\n", check=False, timeout=30)
    assert (done.returncode, done.stdout) == (0, "one line\nsaw-eof\n"), done.stderr
    assert pods.status("once", "once")["state"]["terminated"]["exitCode"] == 0


def test_stdin_once_ends_with_a_detached_session_too(pods):
    pods.run(ONCE.replace("saw-eof", "saw-eof; sleep 300"))
    running(pods, "once", "once")
    p = subprocess.Popen(NSPOD + ["attach", "-i", "-q", "once"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(b"typed\n")
    p.stdin.flush()
    assert p.stdout.readline() == b"typed\n"
    p.stdin.write(b"\x10\x11")
    p.stdin.flush()
    assert p.wait(timeout=15) == 0
    wait_for(lambda: "saw-eof" in nspod("logs", "once").stdout, what="the container to read end of file")
    done = nspod("attach", "-i", "once", check=False)  # its stdin is closed until it restarts
    assert done.returncode == 1 and "stdinOnce" in done.stderr


def test_attach_errors_are_one_line_with_kubectls_exit_codes(pods):
    def error(*args):
        done = nspod("attach", *args, check=False)
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        return done.returncode, lines[0]

    assert error("missing") == (1, 'Error: pod "missing" not found')
    pods.run(PLAIN)
    running(pods, "plain", "srv")
    wait_for(lambda: "terminated" in pods.status("plain", "done")["state"], what="done to end")
    assert error("plain", "-c", "nope") == (1, 'Error: container "nope" not found in pod "plain"')
    done = nspod("attach", "plain", check=False)  # as kubectl: the first container, said on stderr
    assert (done.returncode, done.stderr.splitlines()) == (1, ['Defaulted container "done" out of: done, srv',
                                                              'Error: container "done" in pod "plain" is not running'])
    assert error("plain", "-c", "done") == (1, 'Error: container "done" in pod "plain" is not running')
    code, line = error("plain", "-c", "srv", "-i")
    assert code == 1 and "does not keep its stdin open (stdin: true" in line
    # -t on a container without a terminal: as kubectl, a warning, and on without one.
    p = subprocess.Popen(NSPOD + ["attach", "-t", "plain", "-c", "srv"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    time.sleep(1)
    p.terminate()
    _, err = p.communicate(timeout=10)
    assert b"Unable to use a TTY - container srv did not allocate one" in err
    nspod("stop", "plain")
    assert error("plain", "-c", "srv") == (1, "Error: cannot attach a container in a completed pod; "
                                              "current phase is Failed")  # (sleep ended by TERM)


def test_attach_without_i_streams_output_from_now_on(pods):
    pods.run("""
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: t
    command: [sh, -c, "echo early; sleep 2; for i in 1 2 3; do echo out-$i; echo err-$i >&2; sleep 0.2; done; exit 7"]
""")
    running(pods, "ticker", "t")
    done = nspod("attach", "-q", "ticker", check=False, timeout=30)
    assert done.returncode == 7                       # the container's exit code
    assert "early" not in done.stdout                 # not history: what it writes from now on
    assert done.stdout == "out-1\nout-2\nout-3\n" and done.stderr == "err-1\nerr-2\nerr-3\n"


def test_a_restarted_tty_container_gets_a_new_terminal(pods):
    pods.run(SHELL.replace("restartPolicy: Never", "restartPolicy: Always"), "--backoff-base", "100ms")
    running(pods, "term", "sh")
    s = attached_shell()
    s.send("echo $$ > /tmp/first; exit 5\n")
    assert s.exit_code() == 5              # the session ends with the instance, with its exit code
    st = wait_for(lambda: (st := pods.status("term", "sh"))["restartCount"] == 1 and "running" in st["state"] and st,
                  what="the shell to restart")
    assert st["lastState"]["terminated"]["exitCode"] == 5
    s = attached_shell()                   # the new instance's terminal
    s.send("tty; test -e /tmp/first || echo fresh-$((1+1))\n")
    out = s.expect("fresh-2")             # (a process container's /tmp is new with each instance)
    assert "/dev/pts/0" in out
    s.send(b"\x10\x11")
    assert s.exit_code() == 0


def test_stdin_once_on_a_terminal_ends_with_its_eof_character(pods):
    pods.run("""
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: once, command: [sh, -c, "cat; echo saw-eof-$?; sleep 300"], stdin: true, stdinOnce: true, tty: true}
""")
    running(pods, "once", "once")
    s = Attach("attach", "-it", "once")
    s.expect("try pressing enter")
    s.send("typed\n")
    s.expect("typed\r\ntyped")             # the terminal's echo, then cat's
    s.send(b"\x10\x11")                    # the first session ends: Ctrl-D on its terminal
    assert s.exit_code() == 0
    wait_for(lambda: "saw-eof-0" in nspod("logs", "once").stdout, what="cat to read end of file")
    assert "running" in pods.status("once", "once")["state"]
