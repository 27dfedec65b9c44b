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
zeros; both forms parse the same); the records of one ``write`` (one read of the
pipe) share the time stamp of that read. The writer's cost is per byte, not per
record, so output of short lines is not held back (docs/ARCHITECTURE.md, "Log
throughput"). Rotation is by size, as the kubelet's ``containerLogMaxSize`` /
``containerLogMaxFiles`` do, but with numbered files ``path.1`` (newest) ..
``path.N`` instead of the kubelet's time-stamped, compressed ones. The file is
opened ``O_APPEND`` and its size is taken from the file itself, so a new writer
process can take over from an old one on the same file. The file a rotation drops
is freed by a thread (``discard``): the writer's loop never waits for the disk.

Reader (``read_lines``, ``follow``) -- the kubelet's ``ReadLogs``
(``pkg/kubelet/kuberuntime/logs``, what ``kubectl logs`` prints): ``P`` records are
joined with the rest of their line, ``--timestamps`` puts the time stamp of the
line's first record in front, a record cut short at the end of the file is read
as it is. Unlike the kubelet (which reads the current file only), rotated files are
read too, and ``tail`` counts logical lines, not records. A line is placed where it
ends: at its ``F`` record, or at its last ``P`` record if its ``F`` never came.
``read_lines`` reads from the end of the newest file backwards, so ``tail`` costs
what the last lines take, not what the log holds. Rotation renames files under a
reader, so readers identify files by inode, not by name.
"""

import itertools
import os
import time
from collections import namedtuple

from nspod.phase import rfc3339_nano

MAX_LINE = 16 * 1024
MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5
STREAMS = ("stdout", "stderr")
FULL, PARTIAL = b"F", b"P"
IOV_MAX = 1024
BLOCK = 64 * 1024  # what a tail reader reads at a time

Record = namedtuple("Record", "timestamp stream tag content")
"""One parsed log record: ``timestamp`` and ``stream`` are str, ``tag`` "F" or "P",
``content`` the bytes of the text (without the record's newline)."""


# --- writing ---------------------------------------------------------------------------

def rotated_path(path: str, index: int) -> str:
    return path if index == 0 else f"{path}.{index}"


_discarding = []  # threads that unlink discarded files
_discarded = itertools.count()
DISCARD_AT_ONCE = 256 << 10  # a file this small is freed at once (a restart's few-byte log)


def discard(path: str) -> None:
    """Remove the log file ``path`` without waiting for the kernel to free its
    blocks: it is renamed aside at once (no reader or writer sees it from then
    on) and a thread unlinks it. Freeing a full 10 MiB log takes the kernel
    10-100 ms where the disk is mounted with ``discard`` (it trims the blocks
    there and then), and one pod's rotation must not hold up the supervisor's
    other pods that long."""
    if os.lstat(path).st_size < DISCARD_AT_ONCE:
        os.unlink(path)
        return
    import threading

    aside = os.path.join(os.path.dirname(path), f".discarded-{os.getpid()}-{next(_discarded)}")
    os.rename(path, aside)
    thread = threading.Thread(target=_unlink, args=(aside,), name="nspod-discard")
    _discarding[:] = [t for t in _discarding if t.is_alive()] + [thread]
    thread.start()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:  # (its folder removed with its pod meanwhile)
        pass


def finish_discards() -> None:
    """Wait until every discarded file is gone (before the process ends)."""
    for thread in _discarding:
        thread.join()
    _discarding.clear()


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
        self._second, self._second_text = None, b""
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
        st = os.fstat(self._fd)
        self._ident = (st.st_dev, st.st_ino)

    def _size(self) -> int:
        """The live file's size. An earlier writer may have rotated or removed the
        file since we opened it: then the name is followed to the new file. (One
        stat of the name per write: it tells both.)"""
        if self._fd is None:  # a rotation failed half-way (a full disk, say)
            self._open()
            return os.fstat(self._fd).st_size
        try:
            on_disk = os.stat(self.path)
            if (on_disk.st_dev, on_disk.st_ino) == self._ident:
                return on_disk.st_size
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._open()
        return os.fstat(self._fd).st_size

    def _rotate(self) -> None:
        """path -> path.1 -> path.2 ...; keep max_files files in all; new empty path.
        The file that drops out is discarded (``discard``), not replaced."""
        os.close(self._fd)
        self._fd = None
        index = self.max_files  # drop the oldest, and any left from a larger max_files
        while os.path.lexists(rotated_path(self.path, index)):
            discard(rotated_path(self.path, index))
            index += 1
        free = 1  # shift only up to the first free number
        while free < self.max_files - 1 and os.path.lexists(rotated_path(self.path, free)):
            free += 1
        top = min(free, self.max_files - 1)  # (0, the live file itself, when max_files is 1)
        if os.path.lexists(rotated_path(self.path, top)):
            discard(rotated_path(self.path, top))
        for index in range(top, 0, -1):
            src = rotated_path(self.path, index - 1)
            if os.path.lexists(src):
                os.replace(src, rotated_path(self.path, index))
        self._open()

    def _write_all(self, views: list) -> None:
        """Write the memoryviews in order, with as few system calls as it takes."""
        views = [v for v in views if v]
        while views:
            done = os.writev(self._fd, views[:IOV_MAX])
            while views and done >= len(views[0]):
                done -= len(views.pop(0))
            if done:
                views[0] = views[0][done:]

    def _append(self, parts: list) -> None:
        """Append ``parts``: (buffer, start, end) ranges that together make whole
        records. Before a record that would not fit in the live file, rotate; a
        record larger than a whole file goes alone into one."""
        views = [memoryview(buf)[start:end] for buf, start, end in parts]
        total = sum(map(len, views))
        if not total:
            return
        size = self._size()
        if size + total <= self.max_size:  # the usual case: one writev, no copy
            self._write_whole(views, size)
            return
        data = b"".join(views)  # once per rotation: cut it at record ends
        at, end = 0, len(data)
        while at < end:
            room = self.max_size - size
            if end - at <= room:
                cut = end
            else:
                cut = data.rfind(b"\n", at, at + max(room, 0)) + 1  # the records that fit
                if cut <= at:
                    if size > 0:
                        self._rotate()
                        size = 0
                        continue
                    cut = (data.find(b"\n", at) + 1) or end
            self._write_whole([memoryview(data)[at:cut]], size)
            size += cut - at
            at = cut

    def _write_whole(self, views: list, size: int) -> None:
        """Write whole records to the live file, now ``size`` bytes long. If the
        write fails part-way (a full disk), the file is cut back to ``size``, so it
        never holds half a record for the next one to run into."""
        try:
            self._write_all(views)
        except OSError:
            try:
                os.ftruncate(self._fd, size)
            except OSError:
                pass
            raise

    # framing
    #
    # The pump's cost is per byte, not per line: a run of lines that need no P split
    # is framed by one bytes.replace (C speed), whatever its number of lines, and
    # written without being copied again. Lines longer than max_line, rare, take the
    # per-record path.

    def _frame(self, stream: str, data, at_eof: bool) -> list:
        """The records for ``data``, as (buffer, start, end) ranges for ``_append``."""
        if stream not in self._tails:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        tail = self._tails[stream]
        tail += data
        head = b"%s %s " % (self._stamp(), stream.encode())
        limit = self.max_line
        out = []
        end = tail.rfind(b"\n") + 1  # tail[:end] is whole lines
        run = pos = 0                # tail[run:pos] is whole lines none longer than limit
        while pos < end:
            # The last newline at most limit bytes on ends a line no longer than limit,
            # and so does every line before it: a step covers many lines at once.
            nl = tail.rfind(b"\n", pos, min(pos + limit + 1, end))
            if nl >= 0:
                pos = nl + 1
                continue
            nl = tail.find(b"\n", pos, end)  # the line at pos is longer than limit
            out += _full_lines(head, tail[run:pos])
            out.append(_whole(self._long_line(head, tail[pos:nl])))
            run = pos = nl + 1
        out += _full_lines(head, tail[run:end])
        del tail[:end]
        # An unterminated line: cut off what is sure to exceed the limit. A last "\r"
        # may still become part of a "\r\n", so it does not count yet.
        cut = 0
        while len(tail) - cut - int(tail.endswith(b"\r")) > limit:
            out.append(_whole(b"%s%s %s\n" % (head, PARTIAL, tail[cut:cut + limit])))
            cut += limit
        del tail[:cut]
        if at_eof and tail:
            out.append(_whole(b"%s%s %s\n" % (head, PARTIAL, tail)))
            tail.clear()
        return out

    def _stamp(self) -> bytes:
        """The time now, as a record's time stamp (the date and time part made once
        a second)."""
        secs, nanos = divmod(self.clock(), 1_000_000_000)
        if secs != self._second:
            self._second = secs
            self._second_text = rfc3339_nano(secs * 1_000_000_000)[:-11].encode()
        return b"%s.%09dZ" % (self._second_text, nanos)

    def _long_line(self, head: bytes, line) -> bytes:
        """One line longer than max_line (without its newline): P records of exactly
        max_line bytes, then an F record with the rest."""
        if line.endswith(b"\r"):
            line = line[:-1]
        limit = self.max_line
        pieces = [b"%s%s %s\n" % (head, PARTIAL, line[at:at + limit])
                  for at in range(0, len(line) - limit, limit)]
        pieces.append(b"%s%s %s\n" % (head, FULL, line[len(pieces) * limit:]))
        return b"".join(pieces)

    def write(self, stream: str, data) -> None:
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


def _full_lines(head: bytes, lines) -> list:
    """F records for whole lines (each ending in a newline, none longer than the
    limit), as ranges: ``"l1\\nl2\\n"`` -> ``HEAD F l1\\nHEAD F l2\\n``."""
    if not lines:
        return []
    if b"\r" in lines:
        lines = lines.replace(b"\r\n", b"\n")
    first = head + FULL + b" "
    # "l1\nHEAD F l2\nHEAD F " : all but the last HEAD F, after a first HEAD F
    body = bytes(lines).replace(b"\n", b"\n" + first)
    return [_whole(first), (body, 0, len(body) - len(first))]


def _whole(buf: bytes) -> tuple:
    return (buf, 0, len(buf))


# --- reading ---------------------------------------------------------------------------

def parse_record(raw: bytes) -> Record | None:
    """One record (with or without its newline), or None if it is not one."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    fields = _fields(raw)
    if fields is None:
        return None
    stamp, stream, partial, content = fields
    return Record(stamp.decode("ascii", "replace"), stream.decode(), "P" if partial else "F", content)


def _fields(raw: bytes):
    """(time stamp, stream, whether P, text) of a record without its newline, all
    bytes but the flag; None if it is not a record."""
    parts = raw.split(b" ", 3)
    if len(parts) < 3 or not parts[0] or (parts[1] != b"stdout" and parts[1] != b"stderr"):
        return None
    tags = parts[2]  # the tag field may carry more tags after ':'
    partial = tags == PARTIAL or tags.startswith(b"P:")
    return parts[0], parts[1], partial, parts[3] if len(parts) == 4 else b""


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


def _format(stamp: str, pieces: list[bytes], timestamps: bool) -> str:
    text = b"".join(pieces).decode("utf-8", "replace")
    return f"{_fixed_stamp(stamp)} {text}" if timestamps else text


class _Joiner:
    """Joins each stream's P records with the record that ends their line."""

    def __init__(self, timestamps: bool):
        self.timestamps = timestamps
        self.pending = {}  # stream -> (first time stamp, [pieces])

    def _line(self, stamp: str, pieces: list[bytes]) -> str:
        return _format(stamp, pieces, self.timestamps)

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


# --- reading from the end ------------------------------------------------------------------
#
# ``logs --tail N`` reads the log backwards a block at a time and stops once it has
# its N lines, whatever the size of the log. A logical line is placed where it ends:
# at its F record or, for a line whose F never came, at its last P record. Walking
# back, each F record (and a stream's newest record, if it is a P) ends a line; the
# P records before it on the same stream, back to that stream's previous F, are its
# earlier pieces. Once N lines are found only their missing pieces are looked for,
# and when one stream alone still has a line open, the search jumps over the
# other stream's records with a byte search instead of parsing each one.

class _Backwards:
    """The records of one open log file, from its end towards its start, read
    ``block_size`` bytes at a time (``os.pread``: the file offset is not moved).

    The unread part is ``buf[:end]``, file bytes from offset ``pos``; it ends just
    before a newline, or at the file's end with a record cut short there. With
    ``cut_short=False`` (a live file being followed) such a last record is left
    out, and ``resume`` is where it begins.
    """

    def __init__(self, fd: int, size: int, block_size: int = BLOCK, cut_short: bool = True):
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {block_size}")
        self.fd = fd
        self.block_size = block_size
        self.pos = size
        self.buf = b""
        self.end = 0
        self.resume = size
        self.done = size == 0
        if self.done:
            return
        self._more()
        if self.buf.endswith(b"\n"):
            self.end -= 1  # the last newline ends the last record
        elif not cut_short:
            nl = self._last_newline()
            self.resume = self.pos + nl + 1
            self.end = max(nl, 0)
            self.done = nl < 0

    def _more(self) -> None:
        """Put the block before ``buf`` in front of it."""
        n = min(self.block_size, self.pos)
        data = os.pread(self.fd, n, self.pos - n)
        if len(data) != n:
            raise OSError(f"log file shrank while being read (fd {self.fd})")
        self.pos -= n
        self.buf = data + self.buf[:self.end]
        self.end += n

    def _last_newline(self) -> int:
        """The last newline in ``buf[:end]``, reading back as far as it takes (-1: none)."""
        while (nl := self.buf.rfind(b"\n", 0, self.end)) < 0 and self.pos > 0:
            self._more()
        return nl

    def take(self) -> list[bytes]:
        """The records before those already returned (without their newlines),
        newest first: all that the blocks read so far hold whole, at least one
        unless the start of the file was reached (then [])."""
        if self.done:
            return []
        while (first := self.buf.find(b"\n", 0, self.end)) < 0 and self.pos > 0:
            self._more()
        if first < 0:  # the file's first record
            self.done = True
            record, self.buf, self.end = self.buf[:self.end], b"", 0
            return [record]
        records = self.buf[first + 1:self.end].split(b"\n")
        self.end = first
        records.reverse()
        return records

    def skip_to(self, stream: str) -> None:
        """Pass over the records of other streams: ``take`` then starts with the
        last unread record of ``stream`` (or returns [] if there is none)."""
        pattern = b" " + stream.encode() + b" "
        while not self.done:
            hit = self.buf.rfind(pattern, 0, self.end)
            while hit >= 0:
                start = self.buf.rfind(b"\n", 0, hit) + 1
                if start == 0 and self.pos > 0:
                    break  # the record may begin in the block before: read it first
                if start < hit and b" " not in self.buf[start:hit]:  # right after the time stamp
                    nl = self.buf.find(b"\n", hit, self.end)
                    if nl >= 0:
                        self.end = nl
                    return
                hit = self.buf.rfind(pattern, 0, hit)  # the same bytes in a record's text
            if hit < 0:
                if self.pos == 0:
                    self.done = True
                    return
                first = self.buf.find(b"\n", 0, self.end)
                if first >= 0:
                    self.end = first  # all after it is other streams' records
            self._more()


def _last_lines(readers, n: int | None, timestamps: bool, complete_only: bool = False):
    """The last ``n`` (None: all) logical lines in the files of ``readers``
    (``_Backwards``, newest file first), oldest first.

    Returns (lines, unfinished). With ``complete_only`` (for ``follow``) only
    lines with their F record count and are returned; the lines still waiting for
    theirs that end after the first line returned come back apart, as
    {stream: (time stamp, pieces)}, to be joined with what the writer adds.
    """
    # A line is a list [stream, whether unfinished, time stamp, text pieces newest first...].
    found = []       # newest first
    open_ = {}       # stream -> the line whose earlier pieces are still to be read
    seen = set()     # streams whose newest record was read
    counted = 0
    want = float("inf") if n is None else n
    for reader in readers:
        while True:
            if counted >= want:
                if not open_:
                    break
                if len(open_) == 1:
                    reader.skip_to(next(iter(open_)).decode())
            records = reader.take()
            if not records:
                break
            for raw in records:
                fields = _fields(raw)
                if fields is None:
                    continue  # the kubelet skips what it cannot parse
                stamp, stream, partial, content = fields
                line = open_.get(stream)
                if line is not None:
                    if partial:  # an earlier piece of the open line
                        line[2] = stamp
                        line.append(content)
                        continue
                    del open_[stream]  # an F: the open line begins after it
                newest = stream not in seen
                if newest:
                    seen.add(stream)
                if counted >= want:
                    if not open_:
                        break  # nothing more is wanted
                    continue  # a line older than those wanted
                if partial and not newest:
                    continue  # a piece of a line older than those wanted
                line = [stream, partial, stamp, content]
                open_[stream] = line
                found.append(line)
                if not (complete_only and partial):
                    counted += 1
        if counted >= want and not open_:
            break
    found.reverse()
    if not timestamps and not complete_only:
        return [(line[3] if len(line) == 4 else b"".join(line[:2:-1])).decode("utf-8", "replace")
                for line in found], {}
    lines = [_text(line, timestamps) for line in found if not (complete_only and line[1])]
    unfinished = {}
    if complete_only:
        for line in found:
            if line[1]:
                unfinished[line[0].decode()] = (line[2].decode("ascii", "replace"), line[:2:-1])
    return lines, unfinished


def _text(line: list, timestamps: bool) -> str:
    text = (line[3] if len(line) == 4 else b"".join(line[:2:-1])).decode("utf-8", "replace")
    return f"{_fixed_stamp(line[2].decode('ascii', 'replace'))} {text}" if timestamps else text


def _readers(cursors: list, block_size: int):
    """A backward reader for each file, made when the one before it is used up."""
    for cursor in cursors:
        fd = cursor.f.fileno()
        yield _Backwards(fd, os.fstat(fd).st_size, block_size)


def read_lines(path: str, *, timestamps: bool = False, tail: int | None = None,
               block_size: int = BLOCK) -> list[str]:
    """The logical lines of a log, oldest first, rotated files included.

    ``timestamps`` prefixes each line with its time stamp and a space
    (``kubectl logs --timestamps``); ``tail`` keeps the last N lines (None or a
    negative number: all), read from the end of the log, ``block_size`` bytes at a
    time. FileNotFoundError when the log does not exist.
    """
    rotated, live, _ = _snapshot(path)
    if not rotated and live is None:
        raise FileNotFoundError(2, "no such log", path)
    files = ([live] if live else []) + rotated[::-1]  # newest first
    try:
        want = tail if tail is not None and tail >= 0 else None
        lines, _ = _last_lines(_readers(files, block_size), want, timestamps)
        return lines
    finally:
        for cursor in files:
            cursor.f.close()


def follow(path: str, *, stop, poll: float = 0.1, timestamps: bool = False,
           tail: int | None = None, block_size: int = BLOCK):
    """Yield the log's lines (the last ``tail`` of them, if given), then each new
    line as it is appended, like ``kubectl logs -f``. Follows the file through
    rotation. Ends once ``stop()`` is true and nothing more is left to read.

    With ``tail``, the first lines are read from the end of the log, as
    ``read_lines`` reads them; a line still waiting for its F record then is
    printed once it has it (or at the end), if it ended after the first line printed.
    A reader that falls more than ``max_files`` files behind the writer loses the
    deleted files; the pieces of lines cut by such a gap are printed as they are.
    """
    joiner = _Joiner(timestamps)
    current = None  # the live file we read, while it is the live file
    last = None     # inode of the newest file read to its end

    def last_lines(n: int) -> list[str]:
        """The last n complete lines, read from the end; the live file is then
        read on from its last whole record."""
        nonlocal current, last
        rotated, current, _ = _snapshot(path)
        live = None
        if current is not None:
            fd = current.f.fileno()
            live = _Backwards(fd, os.fstat(fd).st_size, block_size, cut_short=False)
        try:
            readers = itertools.chain([live] if live else [], _readers(rotated[::-1], block_size))
            lines, unfinished = _last_lines(readers, n, timestamps, complete_only=True)
        finally:
            for cursor in rotated:
                cursor.f.close()
        if live is not None:
            current.f.seek(live.resume)
        if rotated:
            last = rotated[-1].ident
        joiner.pending.update(unfinished)
        return lines

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
        yield from last_lines(tail) if tail is not None and tail >= 0 else step()[0]
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
