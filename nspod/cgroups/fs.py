"""The file operations the cgroup drivers make, behind one small interface.

Every cgroup operation is a file operation (crun and youki work the same way).
Keeping them here lets the unit tests swap in a test double that lays out a
temporary directory like cgroupfs and acts like the kernel.
"""

import os
import signal
import time

from .. import steps


class CgroupFS:
    """The real cgroup filesystem."""

    def read(self, path):
        with open(path) as f:
            return f.read()

    def write(self, path, value):
        # One write(2) per value: the kernel parses each write on its own.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode() if isinstance(value, str) else value)
        finally:
            os.close(fd)
        if steps.sink is not None:
            text = value if isinstance(value, str) else value.decode(errors="replace")
            steps.tell(f'write("{path}", "{text}")', by_hand=f'echo "{text}" > {path}')

    def exists(self, path):
        return os.path.exists(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def mkdir(self, path):
        os.mkdir(path)
        if steps.sink is not None:
            steps.tell(f'mkdir("{path}")', by_hand=f"mkdir {path}")

    def rmdir(self, path):
        os.rmdir(path)
        if steps.sink is not None:
            steps.tell(f'rmdir("{path}")', by_hand=f"rmdir {path}")

    def subdirs(self, path):
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))

    def writable(self, path):
        return os.access(path, os.W_OK)

    def owner(self, path):
        return os.stat(path).st_uid

    def kill(self, pid, sig=signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def sleep(self, seconds):
        time.sleep(seconds)

    def monotonic(self):
        return time.monotonic()


def read_keyed(fs, path):
    """A flat-keyed file ("key value" lines: memory.events, cpu.stat,
    cgroup.events) as {key: int}. A missing file reads as {}."""
    try:
        text = fs.read(path)
    except FileNotFoundError:
        return {}
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                values[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return values


def read_pids(fs, path):
    """cgroup.procs as a list of ints ([] when the cgroup is gone)."""
    try:
        text = fs.read(path)
    except FileNotFoundError:
        return []
    return [int(line) for line in text.split()]


def errno_text(error):
    return os.strerror(error.errno) if error.errno else str(error)
