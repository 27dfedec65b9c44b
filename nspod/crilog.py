"""Container logs in the Kubernetes CRI log format.

One record per line::

    2016-10-06T00:17:09.669794202Z stdout F hello world
    <RFC 3339, 9 digits, UTC> <stdout|stderr> <tag> <text>

Tag ``F`` ends a logical line; ``P`` is a piece of one that continues in the next
record of the same stream.

Writer (``LogWriter``) -- the rules of ``redirectLogs`` in containerd's CRI plugin
(``cri/io/logger.go``, containerd 1.6 .. 2.x), which turns a container's
stdout/stderr pipes into such a file:

* a newline ends a record; a ``\\r`` right before it is dropped (Go's line reader
  treats ``\\r\\n`` as the end of the line), any other ``\\r`` is data;
* a line longer than the maximum line size (containerd's default
  ``max_container_log_line_size``, 16 KiB) goes out as ``P`` records of exactly
  that size, then an ``F`` record with the rest;
* at end of stream, an unterminated tail is written as a ``P`` record (containerd:
  "the message doesn't end with a newline, ... it should be treated as a partial
  line");
* stdout and stderr are framed separately: a half line on one never mixes with the
  other.

Time stamps are written with all nine fraction digits (containerd trims trailing
zeros; both forms parse the same). Rotation is by size, as the kubelet's
``containerLogMaxSize`` / ``containerLogMaxFiles`` do, but with numbered files
``path.1`` (newest) .. ``path.N`` instead of the kubelet's time-stamped, compressed
ones. The file is opened ``O_APPEND`` and its size is taken from the file itself, so
a new writer process can take over from an old one on the same file.

Reader (``read_lines``, ``follow``) -- the kubelet's ``ReadLogs``
(``pkg/kubelet/kuberuntime/logs``, what ``kubectl logs`` prints): ``P`` records are
joined with the rest of their line, ``--timestamps`` puts the time stamp of the
line's first record in front, a record cut short at the end of the file is read
as it is. Unlike the kubelet (which reads the current file only), rotated files are
read too, oldest first, and ``tail`` counts logical lines, not records. Rotation
renames files under a reader, so readers identify files by inode, not by name.
"""

import os
import time
from collections import deque, namedtuple

from nspod.phase import rfc3339_nano

MAX_LINE = 16 * 1024
MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5
STREAMS = ("stdout", "stderr")
FULL, PARTIAL = b"F", b"P"

Record = namedtuple("Record", "timestamp stream tag content")
"""One parsed log record: ``timestamp`` and ``stream`` are str, ``tag`` "F" or "P",
``content`` the bytes of the text (without the record's newline)."""


# --- writing ---------------------------------------------------------------------------

def rotated_path(path: str, index: int) -> str:
    return path if index == 0 else f"{path}.{index}"


class LogWriter:
    """Frames raw pipe output into CRI records in ``path``, rotating it by size.

    ``write(stream, data)`` takes bytes as they come from the pipe; ``flush_partial``
    writes a stream's unterminated tail at its EOF; ``close`` does that for both.
    ``max_files`` counts every file kept, the live one included. One writer per
    file at a time (a new one may take over when the old one is gone).
    """

    def __init__(self, path: str, max_size: int = MAX_SIZE, max_files: int = MAX_FILES,
                 clock=time.time_ns, max_line: int = MAX_LINE):
        if max_line < 1:
            raise ValueError(f"max_line must be at least 1, got {max_line}")
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.max_line = max_line
        self.clock = clock
        self._tails = {stream: bytearray() for stream in STREAMS}
        self._fd = None
        self._open()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # the file

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)

    def _size(self) -> int:
        """The live file's size. An earlier writer may have rotated or removed the
        file since we opened it: then the name is followed to the new file."""
        ours = os.fstat(self._fd)
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        if on_disk is None or (on_disk.st_dev, on_disk.st_ino) != (ours.st_dev, ours.st_ino):
            os.close(self._fd)
            self._open()
            ours = os.fstat(self._fd)
        return ours.st_size

    def _rotate(self) -> None:
        """path -> path.1 -> path.2 ...; keep max_files files in all; new empty path."""
        os.close(self._fd)
        self._fd = None
        index = self.max_files  # drop the oldest, and any left from a larger max_files
        while os.path.lexists(rotated_path(self.path, index)):
            os.unlink(rotated_path(self.path, index))
            index += 1
        if self.max_files == 1:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        free = 1  # shift only up to the first free number (os.replace drops the last)
        while free < self.max_files - 1 and os.path.lexists(rotated_path(self.path, free)):
            free += 1
        for index in range(min(free, self.max_files - 1), 0, -1):
            src = rotated_path(self.path, index - 1)
            if os.path.lexists(src):
                os.replace(src, rotated_path(self.path, index))
        self._open()

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def _append(self, records: list[bytes]) -> None:
        if not records:
            return
        size = self._size()
        batch, batch_len = [], 0
        for rec in records:
            if size + batch_len + len(rec) > self.max_size and size + batch_len > 0:
                self._write_all(b"".join(batch))
                batch, batch_len = [], 0
                self._rotate()
                size = 0
            batch.append(rec)
            batch_len += len(rec)
        self._write_all(b"".join(batch))

    # framing

    def _record(self, stamp: bytes, stream: bytes, tag: bytes, text) -> bytes:
        return b"%s %s %s %s\n" % (stamp, stream, tag, bytes(text))

    def _frame(self, stream: str, data: bytes, at_eof: bool) -> list[bytes]:
        if stream not in self._tails:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        tail = self._tails[stream]
        tail += data
        stamp = rfc3339_nano(self.clock()).encode()
        name = stream.encode()
        limit = self.max_line
        out = []
        start = 0
        while (end := tail.find(b"\n", start)) >= 0:
            line = tail[start:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            while len(line) > limit:
                out.append(self._record(stamp, name, PARTIAL, line[:limit]))
                line = line[limit:]
            out.append(self._record(stamp, name, FULL, line))
            start = end + 1
        del tail[:start]
        # An unterminated line: cut off what is sure to exceed the limit. A last "\r"
        # may still become part of a "\r\n", so it does not count yet.
        while len(tail) - int(tail.endswith(b"\r")) > limit:
            out.append(self._record(stamp, name, PARTIAL, tail[:limit]))
            del tail[:limit]
        if at_eof and tail:
            out.append(self._record(stamp, name, PARTIAL, tail))
            tail.clear()
        return out

    def write(self, stream: str, data: bytes) -> None:
        """Append what the container wrote to ``stream`` ("stdout" or "stderr")."""
        self._append(self._frame(stream, data, at_eof=False))

    def flush_partial(self, stream: str) -> None:
        """``stream`` reached EOF: write its unterminated tail, as a P record."""
        self._append(self._frame(stream, b"", at_eof=True))

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            for stream in STREAMS:
                self.flush_partial(stream)
        finally:
            os.close(self._fd)
            self._fd = None


# --- reading ---------------------------------------------------------------------------

def parse_record(raw: bytes) -> Record | None:
    """One record (with or without its newline), or None if it is not one."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    parts = raw.split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tags = parts[0], parts[1], parts[2]
    if stream not in (b"stdout", b"stderr") or not stamp:
        return None
    tag = tags.split(b":", 1)[0]  # the tag field may carry more tags after ':'
    content = parts[3] if len(parts) == 4 else b""
    return Record(stamp.decode("ascii", "replace"), stream.decode(),
                  "P" if tag == PARTIAL else "F", content)


def rotated_files(path: str) -> list[str]:
    """The rotated files of one log, oldest first: path.N .. path.1. A writer
    shifting the names leaves one gap for a moment, so one missing number is skipped."""
    found = []
    index, missing = 1, 0
    while missing < 2:
        name = rotated_path(path, index)
        if os.path.exists(name):
            found.append(name)
            missing = 0
        else:
            missing += 1
        index += 1
    return found[::-1]


def log_files(path: str) -> list[str]:
    """All files of one log, oldest first: path.N .. path.1, path (those that exist)."""
    return rotated_files(path) + ([path] if os.path.exists(path) else [])


def _fixed_stamp(stamp: str) -> str:
    """Nine fraction digits, as the kubelet prints ``--timestamps``."""
    if len(stamp) == 30 and stamp.endswith("Z"):
        return stamp
    if not stamp.endswith("Z") or len(stamp) < 20:
        return stamp  # not ours; print it as written
    head, _, frac = stamp[:-1].partition(".")
    return f"{head}.{(frac + '000000000')[:9]}Z"


class _Joiner:
    """Joins each stream's P records with the record that ends their line."""

    def __init__(self, timestamps: bool):
        self.timestamps = timestamps
        self.pending = {}  # stream -> (first time stamp, [pieces])

    def _line(self, stamp: str, pieces: list[bytes]) -> str:
        text = b"".join(pieces).decode("utf-8", "replace")
        return f"{_fixed_stamp(stamp)} {text}" if self.timestamps else text

    def feed(self, raw: bytes) -> str | None:
        rec = parse_record(raw)
        if rec is None:
            return None  # the kubelet skips what it cannot parse
        stamp, pieces = self.pending.pop(rec.stream, (rec.timestamp, []))
        pieces.append(rec.content)
        if rec.tag == "P":
            self.pending[rec.stream] = (stamp, pieces)
            return None
        return self._line(stamp, pieces)

    def flush(self) -> list[str]:
        """Lines whose last piece never came (the writer stopped mid-line)."""
        lines = [self._line(stamp, pieces) for stamp, pieces in self.pending.values()]
        self.pending.clear()
        return lines


class _Cursor:
    """An open log file and the bytes of a record not yet complete in it."""

    def __init__(self, f):
        self.f = f
        st = os.fstat(f.fileno())
        self.ident = (st.st_dev, st.st_ino)
        self.rest = b""

    def read_records(self) -> list[bytes]:
        """The complete records appended since the last call."""
        data = self.f.read()
        if not data:
            return []
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return data[:cut - 1].split(b"\n") if cut else []

    def close(self) -> list[bytes]:
        """Close; a record cut short at the end of the file is returned as it is."""
        records = self.read_records()
        if self.rest:
            records.append(self.rest)
            self.rest = b""
        self.f.close()
        return records


def _ident(name: str):
    try:
        st = os.stat(name)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _scan(path: str, until):
    """Walk back in time from the live file: (live inode, [(name, inode)] of the
    rotated files newest first, stopping before the file ``until``, whether
    ``until`` was met). One missing number is skipped (a rotation in progress)."""
    rotated, found = [], False
    index, missing = 1, 0
    while missing < 2:
        name = rotated_path(path, index)
        ident = _ident(name)
        if ident is None:
            missing += 1
        elif ident == until:
            found = True
            break
        else:
            rotated.append((name, ident))
            missing = 0
        index += 1
    return _ident(path), rotated, found


def _snapshot(path: str, until=None):
    """Open the log's files written after the file ``until`` (all, if None):
    (rotated cursors oldest first, live cursor or None, whether ``until`` was met).

    Rotation renames files under the reader, so the walk is trusted only if it finds
    the same names naming the same files (inodes) after everything was opened.
    """
    for attempt in range(1000):
        scan = _scan(path, until)
        live_ident, rotated, _ = scan
        opened, ok = [], True
        for name, ident in rotated[::-1] + [(path, live_ident)]:
            if ident is None:  # only the live file may be missing (mid-rotation)
                opened.append(None)
                continue
            try:
                opened.append(_Cursor(open(name, "rb", buffering=0)))
            except FileNotFoundError:
                ok = False
                break
            if opened[-1].ident != ident:
                ok = False
                break
        if ok and _scan(path, until) == scan:
            return opened[:-1], opened[-1], scan[2]
        for cursor in opened:
            if cursor is not None:
                cursor.f.close()
        time.sleep(0.001 * min(attempt, 10))  # let the writer finish renaming
    raise OSError(f"log {path} kept rotating while being opened")


def read_lines(path: str, *, timestamps: bool = False, tail: int | None = None) -> list[str]:
    """The logical lines of a log, oldest first, rotated files included.

    ``timestamps`` prefixes each line with its time stamp and a space
    (``kubectl logs --timestamps``); ``tail`` keeps the last N lines (None or a
    negative number: all). FileNotFoundError when the log does not exist.
    """
    rotated, live, _ = _snapshot(path)
    if not rotated and live is None:
        raise FileNotFoundError(2, "no such log", path)
    keep = deque(maxlen=tail) if tail is not None and tail >= 0 else []
    joiner = _Joiner(timestamps)
    for cursor in rotated + ([live] if live else []):
        for raw in cursor.close():
            line = joiner.feed(raw)
            if line is not None:
                keep.append(line)
    keep.extend(joiner.flush())
    return list(keep)


def follow(path: str, *, stop, poll: float = 0.1, timestamps: bool = False,
           tail: int | None = None):
    """Yield the log's lines (the last ``tail`` of them, if given), then each new
    line as it is appended, like ``kubectl logs -f``. Follows the file through
    rotation. Ends once ``stop()`` is true and nothing more is left to read.

    A reader that falls more than ``max_files`` files behind the writer loses the
    deleted files; the pieces of lines cut by such a gap are printed as they are.
    """
    joiner = _Joiner(timestamps)
    current = None  # the live file we read, while it is the live file
    last = None     # inode of the newest file read to its end

    def step() -> tuple[list[str], bool]:
        """Read what is new: (lines completed, whether any file had anything new)."""
        nonlocal current, last
        raws = []
        if current is not None:
            raws += current.read_records()
            if _ident(path) == current.ident:
                return _feed(joiner, raws), bool(raws)
            raws += current.close()  # rotated away: it is complete, finish it
            last, current = current.ident, None
        rotated, current, found = _snapshot(path, last)
        lines = _feed(joiner, raws)
        if last is not None and not found:
            lines += joiner.flush()  # files were deleted unread: nothing joins across
        for cursor in rotated:
            lines += _feed(joiner, cursor.close())
            last = cursor.ident
        fresh = current.read_records() if current is not None else []
        lines += _feed(joiner, fresh)
        return lines, bool(raws or rotated or fresh)

    try:
        first, _ = step()
        if tail is not None and tail >= 0:
            first = first[len(first) - tail:] if tail else []
        yield from first
        while True:
            stopping = stop()  # asked before reading, so nothing written before is lost
            lines, progressed = step()
            yield from lines
            if not progressed:
                if stopping:
                    break
                time.sleep(poll)
        if current is not None:
            yield from _feed(joiner, current.close())
        yield from joiner.flush()
    finally:  # also when the consumer stops early
        if current is not None:
            current.f.close()


def _feed(joiner: _Joiner, raws: list[bytes]) -> list[str]:
    return [line for raw in raws if (line := joiner.feed(raw)) is not None]
