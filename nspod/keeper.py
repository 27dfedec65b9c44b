"""The supervisor's side of its channel to the keeper, the node holder
(nspod-keeper, nspod/executor/keeper/keeper.c), whose child it is.

The keeper is the parent of every pod process the supervisor no longer is
(an earlier supervisor started them, then left or died), so it has their
exit statuses: `status` asks for one. It keeps the pods' output FIFOs open
across supervisors (`hold`, `drop`), and writes what comes out of them to
the containers' logs while no supervisor runs (`pump`). When no pod needs
Python the supervisor leaves (`bye`): the keeper starts another when one
does (a command, a process's end; not output)."""
import os
import socket

from .errors import note
from .kernel import process

LISTENER_FD = 3  # the node socket's listener, the keeper's
CHANNEL_FD = 4   # our end of the channel (SOCK_SEQPACKET: a request per message)
FDS_PER_MESSAGE = 253  # the kernel's SCM_MAX_FD


class Keeper:
    def __init__(self, fd=CHANNEL_FD):
        self.sock = socket.socket(fileno=fd)
        self.sock.settimeout(10)  # it answers at once; a hung keeper must not hang us forever
        self.pid = os.getppid()
        self.start = process.start_time(self.pid)

    def status(self, pid, started):
        """(wait status, when it ended, seconds since the epoch) of our
        keeper's child (pid, started) that ended; None if it knows none."""
        if not pid or started is None:
            return None
        try:
            self.sock.sendall(f"status {int(pid)} {int(started)}".encode())
            words = self.sock.recv(256).decode().split()
        except OSError as e:
            note(f"asking the keeper for the exit status of {pid}: {e}")
            return None
        if len(words) != 4 or words[0] != "exited":
            return None
        return int(words[1]), int(words[2]) + int(words[3]) / 1e9

    def hold(self, pod, fds):
        """Keep the pod's output FIFOs open (replacing those held before):
        a container writing to one never meets a FIFO without a reader, and
        output while no supervisor runs starts one."""
        fds = list(fds)
        try:
            for i in range(0, max(len(fds), 1), FDS_PER_MESSAGE):
                socket.send_fds(self.sock, [f"{'hold' if i == 0 else 'add'} {pod}".encode()], fds[i:i + FDS_PER_MESSAGE])
        except OSError as e:  # (the keeper is gone: nothing holds them but us)
            note(f"pod {pod}: giving the keeper its FIFOs: {e}")

    def pump(self, pod, fd, stream, path, max_size, max_files, max_line):
        """While no supervisor runs, write the output of `fd` (one of the
        pod's FIFOs, `stream` of a container) to the CRI log `path`, as
        crilog.LogWriter(path, max_size, max_files, max_line) would: output
        then needs no Python. Until a supervisor starts again."""
        try:
            socket.send_fds(self.sock, [f"log {pod} {stream} {int(max_size)} {int(max_files)} {int(max_line)} "
                                        f"{os.fspath(path)}".encode()], [fd])
        except OSError as e:  # (the keeper is gone: nobody writes the log until a supervisor does)
            note(f"pod {pod}: giving the keeper its log {path}: {e}")

    def drop(self, pod):
        try:
            self.sock.sendall(f"drop {pod}".encode())
        except OSError as e:
            note(f"pod {pod}: telling the keeper it ended: {e}")

    def bye(self, pods):
        """We leave; `pods` pods are the keeper's until the next supervisor."""
        self.sock.sendall(f"bye {int(pods)}".encode())
