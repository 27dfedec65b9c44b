"""nspod exec -it through a real pseudo-terminal, as a person types: a
terminal made in the container, line editing, Ctrl-C reaching the command
inside, the window size, the exit code, and the user's terminal restored."""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

from podtest import NSPOD, nspod

POD = """
apiVersion: v1
kind: Pod
metadata: {name: tty}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, command: [sleep, "300"]}
"""


class Session:
    """`nspod exec -it ...` running on a pty the test holds, as a terminal would."""

    def __init__(self, *args, rows=33, cols=101):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(sys.executable, NSPOD + list(args))
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.seen = b""

    def send(self, text):
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def expect(self, text, timeout=15):
        want = text.encode()
        deadline = time.monotonic() + timeout
        while want not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"did not see {text!r}; saw {self.seen[-500:]!r}")
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        if want not in self.seen:
            raise AssertionError(f"did not see {text!r}; saw {self.seen[-500:]!r}")
        at = self.seen.index(want) + len(want)
        before, self.seen = self.seen[:at], self.seen[at:]
        return before.decode(errors="replace")

    def exit_code(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                while select.select([self.fd], [], [], 0.05)[0]:
                    self.seen += os.read(self.fd, 4096)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.attrs = termios.tcgetattr(self.fd)  # the terminal as nspod left it
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError("nspod exec -it did not end")


def test_exec_it_is_a_terminal_in_the_container(pods):
    pods.run(POD)
    s = Session("exec", "-it", "tty", "--", "sh")
    s.expect("# ")                         # the shell's prompt: it reads a terminal
    s.send("PS1='$ '; tty; stty size\n")
    out = s.expect("33 101")
    assert "/dev/pts/" in out, out        # the container's own devpts
    s.send("echo hell\x7fo-typed\n")      # line editing: the backspace was applied
    s.expect("helo-typed")
    s.send("sleep 100\n")
    time.sleep(0.5)
    s.send(b"\x03")                        # Ctrl-C: SIGINT to sleep, inside the container
    s.expect("$ ")
    s.send("echo after-$?\n")              # the shell saw sleep end by SIGINT
    s.expect("after-130")
    s.send("exit 3\n")
    assert s.exit_code() == 3
    lflag = s.attrs[3]
    assert lflag & termios.ECHO and lflag & termios.ICANON  # raw mode undone


def test_exec_without_i_gives_no_stdin_and_t_without_a_terminal_warns(pods):
    import subprocess

    pods.run(POD)
    done = subprocess.run(NSPOD + ["exec", "tty", "--", "cat"], input="typed", capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0 and done.stdout == ""  # no -i: stdin is /dev/null, as kubectl
    done = subprocess.run(NSPOD + ["exec", "-i", "tty", "--", "cat"], input="typed", capture_output=True,
                          text=True, timeout=30)
    assert done.stdout == "typed"
    done = subprocess.run(NSPOD + ["exec", "-it", "tty", "--", "cat"], input="typed", capture_output=True,
                          text=True, timeout=30)
    assert done.stdout == "typed" and "Unable to use a TTY" in done.stderr
    assert nspod("exec", "tty", "--", "true").returncode == 0
