"""A running container's stdin and terminal, and the `nspod attach` sessions
joined to it (the supervisor's side; the CLI's side is nspod/terminal.py).

One Console per running instance of a container, kept by its watchdog:
  - `tty: true`: the pty master (the container made the pty in its own
    devpts and sent the master back). What it reads is logged as stdout (as
    the kubelet logs a tty container) and sent to every session. A holder
    process keeps a copy of the master open, so a killed supervisor does not
    hang the terminal up (the container would get SIGHUP and lose its
    terminal for good); the next supervisor takes the master back from the
    holder (pidfd_getfd).
  - `stdin: true`: the write end of its stdin FIFO. With `stdinOnce` it is
    closed when the first session that passed input ends: the container
    reads end of file (on a terminal: the terminal's EOF character).
  - sessions: attach clients on node.sock, framed both ways (FRAME).

Bounded work and memory: a wake-up reads at most READ_BUDGET of a terminal;
a session is cut off once more than SESSION_BACKLOG bytes of output wait
for it (a slow client never holds the container or the loop back); input
that the container does not take yet waits in that session, which is not
read again until it did.
"""
import ctypes
import json
import os
import selectors
import signal
import struct
import termios

from .kernel import process
from .kernel.libc import call
from .paths import which

# Frames, both ways: kind (1 byte), payload length (4 bytes, big-endian), payload.
#   client -> supervisor: b"d" input, b"r" window size (rows, cols: 2 x u16), b"c" its input ended
#   supervisor -> client: b"o" stdout, b"e" stderr, b"x" the container ended (exit code: i32)
FRAME = struct.Struct("!cI")
MAX_PAYLOAD = 1 << 16
READ_BUDGET = 1 << 20       # bytes of a terminal read in one wake-up
SESSION_BACKLOG = 1 << 20   # output waiting for one client before it is cut off
MAX_SESSIONS = 16           # per container
HOLDER_FD = 3               # the master in the holder process


def frame(kind, payload=b""):
    return FRAME.pack(kind, len(payload)) + payload


class FrameReader:
    """Frames out of a byte stream; ValueError on a frame too big (a bad peer)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        frames = []
        while len(self.buf) >= FRAME.size:
            kind, size = FRAME.unpack_from(self.buf)
            if size > MAX_PAYLOAD:
                raise ValueError(f"frame of {size} bytes")
            if len(self.buf) < FRAME.size + size:
                break
            frames.append((kind, bytes(self.buf[FRAME.size:FRAME.size + size])))
            del self.buf[:FRAME.size + size]
        return frames


class Session:
    """One attach client: its socket, output waiting for it, input waiting for the container."""

    def __init__(self, sock, stdin):
        self.sock = sock
        self.stdin = stdin        # it passes input (-i)
        self.reader = FrameReader()
        self.out = bytearray()    # frames not sent yet
        self.pending = b""        # input the container has not taken yet
        self.input_ended = False  # its input ended (b"c"): once `pending` is passed on, so did the session's
        self.events = 0           # what the selector watches for it


class Console:
    """See the module's docstring. `sel`: the pod's selector (PodSelector)."""

    def __init__(self, sel, name, spec):
        self.sel = sel
        self.name = name
        self.tty = spec.tty
        self.stdin_once = spec.stdin_once
        self.master = None        # tty: the pty master (non-blocking)
        self.stdin_fd = None      # stdin without tty: the write end of its FIFO
        self.stdin_open = spec.stdin
        self.holder = None        # tty: (pid, pidfd) of the process keeping the master open
        self.sessions = {}        # fd -> Session

    # -- the container's side ---------------------------------------------
    def open_stdin(self, path):
        """Before the container starts: the FIFO's write end (read-write:
        the open does not wait for a reader)."""
        self.stdin_fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def adopt_stdin(self, path):
        """A new supervisor: the FIFO again. A stdinOnce container read end of
        file when the old one died (its only writer): its stdin is closed."""
        if self.stdin_once:
            self.stdin_open = False
        else:
            self.open_stdin(path)

    def set_master(self, master, holder=None):
        """The pty master; `holder`: (pid, pidfd) of the process that keeps a
        copy (started here when None)."""
        os.set_blocking(master, False)
        self.master = master
        self.holder = holder if holder is not None else _start_holder(master)
        self.sel.register(master, selectors.EVENT_READ, ("tty", self.name))

    def holder_record(self):
        if self.holder is None:
            return None
        return {"pid": self.holder[0], "start": process.start_time(self.holder[0])}

    def read_terminal(self, budget=READ_BUDGET):
        """What the terminal has (up to budget bytes): a list of chunks. An
        empty list once the container side is closed (EIO) or nothing is there."""
        chunks = []
        while budget > 0 and self.master is not None:
            try:
                data = os.read(self.master, 65536)
            except BlockingIOError:
                break
            except OSError:  # EIO: no process has the slave open any more
                self.sel.unregister(self.master)
                os.close(self.master)
                self.master = None
                break
            if not data:
                break
            budget -= len(data)
            chunks.append(data)
            self.output(b"o", data)
        return chunks

    def output(self, kind, data):
        """Output of the container (b"o" stdout, b"e" stderr) to every session."""
        if not self.sessions:
            return
        packet = frame(kind, data)
        for fd, s in list(self.sessions.items()):
            if len(s.out) + len(packet) > SESSION_BACKLOG:
                self.drop(fd)  # too far behind: cut off (documented), never waited for
                continue
            s.out += packet
            self.flush(fd)

    def resize(self, rows, cols):
        if self.master is not None and rows and cols:
            try:
                termios.tcsetwinsize(self.master, (rows, cols))  # SIGWINCH to its foreground group
            except termios.error:
                pass

    def close_stdin(self):
        """stdinOnce: the first session passing input ended. Its FIFO's write
        end closes (end of file); on a terminal, the terminal's EOF character."""
        self.stdin_open = False
        if self.stdin_fd is not None:
            os.close(self.stdin_fd)
            self.stdin_fd = None
        elif self.tty and self.master is not None:
            try:
                eof = termios.tcgetattr(self.master)[6][termios.VEOF]
                os.write(self.master, eof if isinstance(eof, bytes) else bytes([eof]))
            except OSError:
                pass

    # -- sessions ---------------------------------------------------------
    def attach(self, conn, stdin):
        """A client, once its request was checked (error(): why not)."""
        conn.setblocking(False)
        s = Session(conn, stdin)
        self.sessions[conn.fileno()] = s
        self.watch(conn.fileno())

    def error(self, stdin):
        """Why a new session cannot be served (None: it can)."""
        if len(self.sessions) >= MAX_SESSIONS:
            return f"container {self.name} has {MAX_SESSIONS} attach sessions already"
        if stdin and not self.stdin_open:
            return (f"the stdin of container {self.name} was closed when its first attach session ended "
                    "(stdinOnce); it opens again when the container restarts")
        return None

    def watch(self, fd):
        s = self.sessions[fd]
        events = (0 if s.pending else selectors.EVENT_READ) | (selectors.EVENT_WRITE if s.out else 0)
        if events == s.events:
            return
        if s.events and events:
            self.sel.modify(fd, events, ("attach", self.name))
        elif events:
            self.sel.register(fd, events, ("attach", self.name))
        else:
            self.sel.unregister(fd)
        s.events = events

    def on_session(self, fd):
        """The client's socket is ready: send what waits, read what it sent."""
        if fd not in self.sessions:
            return
        if not self.flush(fd):
            return
        s = self.sessions[fd]
        if s.pending:
            return
        try:
            data = s.sock.recv(MAX_PAYLOAD + FRAME.size)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went (detached, or ended)
            self.drop(fd)
            return
        try:
            frames = s.reader.feed(data)
        except ValueError:
            self.drop(fd)
            return
        for kind, payload in frames:
            if kind == b"d" and s.stdin:
                s.pending += payload
            elif kind == b"r" and len(payload) == 4:
                self.resize(*struct.unpack("!HH", payload))
            elif kind == b"c" and s.stdin:
                s.input_ended = True
        self.pass_input(fd)

    def pass_input(self, fd):
        """Give the container what this session typed, as far as it takes it
        now (the rest waits; pending_input() asks for another try soon)."""
        s = self.sessions.get(fd)
        if s is None:
            return
        target = self.master if self.tty else self.stdin_fd
        if target is None or not self.stdin_open:
            s.pending = b""  # (its stdin closed meanwhile: nobody reads it)
        while s.pending:
            try:
                n = os.write(target, s.pending)
            except BlockingIOError:
                break
            except OSError:  # the container side is gone
                s.pending = b""
                break
            s.pending = s.pending[n:]
        if s.input_ended and not s.pending:
            self.session_input_ended(s)
        self.watch(fd)

    def pending_input(self):
        return any(s.pending for s in self.sessions.values())

    def retry_input(self):
        for fd in [fd for fd, s in self.sessions.items() if s.pending]:
            self.pass_input(fd)

    def session_input_ended(self, s):
        if s.stdin:
            s.stdin = False
            if self.stdin_once and self.stdin_open:
                self.close_stdin()

    def flush(self, fd):
        """Send what waits for the client, as far as its socket takes it.
        False when the client is gone (the session is dropped)."""
        s = self.sessions[fd]
        if s.out:
            try:
                n = s.sock.send(s.out)
                del s.out[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.drop(fd)
                return False
        self.watch(fd)
        return True

    def drop(self, fd):
        s = self.sessions.pop(fd)
        if s.events:
            self.sel.unregister(fd)
        self.session_input_ended(s)
        s.sock.close()

    # -- the end ----------------------------------------------------------
    def end(self, exit_code):
        """The instance ended: each session gets its exit code (a last try,
        without waiting: a client too far behind to take it was as good as
        cut off), then everything is closed and the holder killed."""
        for fd, s in list(self.sessions.items()):
            s.out += frame(b"x", struct.pack("!i", exit_code))
            try:
                s.sock.send(s.out)
            except OSError:
                pass
            s.stdin = False  # (no stdin to close any more)
            self.drop(fd)
        self.close()

    def close(self):
        """Close what we hold without a word to the clients (the supervisor
        drops the pod, or exits)."""
        for fd in list(self.sessions):
            self.sessions[fd].stdin = False
            self.drop(fd)
        if self.master is not None:
            self.sel.unregister(self.master)
            os.close(self.master)
            self.master = None
        if self.stdin_fd is not None:
            os.close(self.stdin_fd)
            self.stdin_fd = None
        self.end_holder()

    def end_holder(self):
        if self.holder is not None:
            pid, pidfd = self.holder
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # (reaped as an orphan: nspod/supervisor.py)
            except OSError:
                pass
            os.close(pidfd)
            self.holder = None

    def release_holder(self):
        """We are going but the container is not (the supervisor is dropped):
        the holder stays, for the next supervisor."""
        if self.holder is not None:
            os.close(self.holder[1])
            self.holder = None


def _start_holder(master):
    """A process that only keeps the pty master open (fd 3): `sleep infinity`,
    in its own session (no terminal signal of ours reaches it)."""
    sleep = which("sleep") or "/bin/sleep"
    copy = os.dup(master)  # (inheritable; dup2 onto fd 3 in the child)
    try:
        pid = os.posix_spawn(sleep, ["nspod-console", "infinity"], {"PATH": "/usr/bin:/bin"},
                             file_actions=[(os.POSIX_SPAWN_DUP2, copy, HOLDER_FD)], setsid=True)
    finally:
        os.close(copy)
    return pid, os.pidfd_open(pid)


def adopt_holder(record):
    """(pid, pidfd, master) from a holder the last supervisor started, or None
    when it is gone. The master comes out of it by pidfd_getfd(2)."""
    if not record or not process.alive(record["pid"], record["start"]):
        return None
    pidfd = os.pidfd_open(record["pid"])
    try:
        master = pidfd_getfd(pidfd, HOLDER_FD)
    except OSError:
        os.close(pidfd)
        raise
    return (record["pid"], pidfd), master


def end_holder(record):
    """The holder of a container that ended while no supervisor watched it."""
    if record:
        process.kill(record["pid"], record["start"])


_SYS_PIDFD_GETFD = 438  # x86-64, arm64 and the rest alike


def pidfd_getfd(pidfd, fd):
    """A copy of another process's fd (Linux 5.6; Python 3.11's os lacks it)."""
    return call("syscall", ctypes.c_long(_SYS_PIDFD_GETFD), pidfd, fd, 0)


def no_stdin_error(pod, container):
    return (f'container "{container}" in pod "{pod}" does not keep its stdin open (stdin: true in its '
            "manifest): attach -i cannot pass input to it (attach without -i shows its output)")


def parse_request(request):
    """(container, stdin) of an attach request, or ValueError."""
    container = request.get("container")
    if not isinstance(container, str) or not container:
        raise ValueError("no container named")
    return container, bool(request.get("stdin"))


def answer(conn, message):
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass

