"""`nspod exec -it`: the user's terminal joined to a pseudo-terminal made
inside the container.

The exec child opens the pty pair in the container's mount namespace (its own
/dev/pts, so `tty` names /dev/pts/N there), makes the slave its controlling
terminal and sends the master to us over a socket (SCM_RIGHTS). Here, in
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

def receive_master(sock):
    """The pty master the exec child sends (None if it failed before)."""
    try:
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    except OSError:
        return None
    return fds[0] if fds else None


def send_master(sock, master):
    socket.send_fds(sock, [b"m"], [master])


def take_slave(slave):
    """In the exec child: the slave becomes our controlling terminal and our
    stdin, stdout and stderr (we lead a new session)."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


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
