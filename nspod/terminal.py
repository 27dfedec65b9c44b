"""`nspod exec -it`: the user's terminal joined to a pseudo-terminal made
inside the container.

nspod-exec opens the pty pair in the container's mount namespace (its own
/dev/pts, so `tty` names /dev/pts/N there), makes the slave the command's
controlling terminal and sends the master to us over a socket (SCM_RIGHTS;
nspod/executor/identity.c make_terminal). Here, in
the CLI, the user's terminal goes raw (every key, Ctrl-C included, reaches the
container's line discipline, which signals its foreground process group), the
window size follows ours (now and on SIGWINCH), and bytes are copied both
ways until the container side closes. The terminal is restored on every way
out.
"""
import errno
import fcntl
import os
import select
import signal
import socket
import struct
import termios
import tty

def printable(text):
    """Text that came from a container, a manifest or an image, with anything
    a terminal would act on (escape sequences, control characters) shown as
    "?": what they name must not drive the user's terminal."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def receive_master(sock):
    """The pty master nspod-exec sends (None if it failed before)."""
    try:
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    except OSError:
        return None
    return fds[0] if fds else None


def copy_size(src, dst):
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def relay(master, stdin=0, stdout=1, forward_input=True):
    """Copy between the user's terminal and the container's pty until the
    container side closes (its last process with the slave open ended)."""
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    previous = signal.signal(signal.SIGWINCH, lambda *_: copy_size(stdin, master))
    copy_size(stdin, master)
    try:
        if saved is not None:
            tty.setraw(stdin, termios.TCSANOW)  # (TCSAFLUSH would drop what was typed ahead)
        watched = [master] + ([stdin] if forward_input else [])
        while True:
            try:
                ready, _, _ = select.select(watched, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:  # EIO: the slave side is closed
                        raise
                    data = b""
                if not data:
                    return
                _write_all(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:  # the user's input ended: stop reading it
                    watched.remove(stdin)
                else:
                    _write_all(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSAFLUSH, saved)
        signal.signal(signal.SIGWINCH, previous)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- nspod attach: the CLI's side of a session (the supervisor's: nspod/console.py) --
DETACH = b"\x10\x11"  # Ctrl-P Ctrl-Q, Podman's default detach keys


class Detached(Exception):
    pass


def attach_relay(sock, forward_input, with_tty, stdin=0, stdout=1, stderr=2):
    """Relay an attach session (framed, nspod/console.py) until the
    container ends (returns its exit code) or the user types Ctrl-P Ctrl-Q
    (returns None: detached, the container runs on). The user's terminal is
    raw while input goes to a container's terminal, and restored on every way
    out; its window size is passed on now and on SIGWINCH."""
    from .console import FrameReader, frame
    from .errors import NspodError

    raw = with_tty and forward_input and os.isatty(stdin)
    size_from = stdin if os.isatty(stdin) else stdout
    saved = termios.tcgetattr(stdin) if raw else None
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous = signal.signal(signal.SIGWINCH, lambda *_: _poke(wake_w))

    def send_size():
        if with_tty and os.isatty(size_from):
            rows, cols = termios.tcgetwinsize(size_from)
            sock.sendall(frame(b"r", struct.pack("!HH", rows, cols)))

    reader = FrameReader()
    held = b""  # a Ctrl-P that may start the detach keys
    try:
        if raw:
            tty.setraw(stdin, termios.TCSANOW)
        send_size()
        watched = [sock, wake_r] + ([stdin] if forward_input else [])
        while True:
            try:
                ready, _, _ = select.select(watched, [], [])
            except InterruptedError:
                continue
            if wake_r in ready:
                while _drain(wake_r):
                    pass
                send_size()
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    raise NspodError("the attach session ended before the container did: the supervisor cut it "
                                     "off (this client fell more than 1 MiB behind the output) or stopped")
                for kind, payload in reader.feed(data):
                    if kind == b"o":
                        _write_all(stdout, payload)
                    elif kind == b"e":
                        _write_all(stderr, payload)
                    elif kind == b"x":
                        return struct.unpack("!i", payload)[0]
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:  # our input ended: so does the session's (a stdinOnce container reads end of file)
                    watched.remove(stdin)
                    if held:
                        sock.sendall(frame(b"d", held))
                        held = b""
                    sock.sendall(frame(b"c"))
                    continue
                data, held = held + data, b""
                at = data.find(DETACH)
                if at >= 0:
                    if at:
                        sock.sendall(frame(b"d", data[:at]))
                    return None
                if data.endswith(DETACH[:1]):
                    data, held = data[:-1], DETACH[:1]
                if data:
                    sock.sendall(frame(b"d", data))
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSAFLUSH, saved)
        signal.signal(signal.SIGWINCH, previous)
        os.close(wake_r)
        os.close(wake_w)


def _poke(fd):
    try:
        os.write(fd, b"w")
    except OSError:
        pass


def _drain(fd):
    try:
        return os.read(fd, 64)
    except BlockingIOError:
        return b""
