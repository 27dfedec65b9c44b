"""CRI log writer and reader: framing, P/F records, rotation, tail, follow."""

import os
import re
import threading
import time

import pytest

from nspod import crilog
from nspod.crilog import (STREAMS, LogWriter, finish_discards, follow, log_files, parse_record,
                          read_lines, rotated_files)

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
RECORD = re.compile(rf"^({STAMP}) (stdout|stderr) ([PF]) (.*)$", re.S)


class Clock:
    """A fake time_ns: each call one microsecond later."""

    def __init__(self, start=1475713029669794202):
        self.now = start

    def __call__(self):
        self.now += 1000
        return self.now


def records(path):
    """The raw records of one file as (stream, tag, text-bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n")
    out = []
    for raw in data.split(b"\n")[:-1]:
        m = RECORD.match(raw.decode("utf-8", "surrogateescape"))
        assert m, raw
        out.append((m.group(2), m.group(3), raw.split(b" ", 3)[3]))
    return out


@pytest.fixture
def log(tmp_path):
    return str(tmp_path / "c.log")


def test_record_format_and_timestamps(log):
    with LogWriter(log, clock=lambda: 1475713029669794202) as w:
        w.write("stdout", b"hello world\n")
    with open(log, "rb") as f:
        assert f.read() == b"2016-10-06T00:17:09.669794202Z stdout F hello world\n"
    with LogWriter(log, clock=lambda: 1475713029 * 10**9) as w:
        w.write("stderr", b"x\n")
    assert read_lines(log, timestamps=True)[-1] == "2016-10-06T00:17:09.000000000Z x"


def test_line_split_across_many_writes(log):
    with LogWriter(log, clock=Clock()) as w:
        for ch in b"split across writes\n":
            w.write("stdout", bytes([ch]))
        assert records(log) == [("stdout", "F", b"split across writes")]


def test_several_lines_in_one_write_and_empty_lines(log):
    with LogWriter(log, clock=Clock()) as w:
        w.write("stdout", b"one\n\ntwo\nthr")
        w.write("stdout", b"ee\n\n")
    assert records(log) == [("stdout", "F", t) for t in (b"one", b"", b"two", b"three", b"")]
    assert read_lines(log) == ["one", "", "two", "three", ""]


def test_carriage_returns(log):
    # containerd's line reader treats "\r\n" as the line end; any other \r is data.
    with LogWriter(log, clock=Clock()) as w:
        w.write("stdout", b"progress 10%\rprogress 100%\r\n")
        w.write("stdout", b"dos line\r")
        w.write("stdout", b"\n")
        w.write("stdout", b"\r\rtwo\n")
    assert read_lines(log) == ["progress 10%\rprogress 100%", "dos line", "\r\rtwo"]


def test_unterminated_tail_is_written_as_partial_at_eof(log):
    w = LogWriter(log, clock=Clock())
    w.write("stdout", b"done\nprompt> ")
    assert records(log) == [("stdout", "F", b"done")]
    w.flush_partial("stdout")
    assert records(log)[-1] == ("stdout", "P", b"prompt> ")
    w.write("stderr", b"oops")
    w.close()
    assert records(log)[-1] == ("stderr", "P", b"oops")
    assert read_lines(log) == ["done", "prompt> ", "oops"]
    w.close()  # twice is fine


def test_long_lines_become_partial_records(log):
    with LogWriter(log, clock=Clock(), max_line=10) as w:
        w.write("stdout", b"a" * 10 + b"\n")          # exactly the limit: one F
        w.write("stdout", b"b" * 25 + b"\n")          # 10 P, 10 P, 5 F
        w.write("stdout", b"c" * 7)                   # a long line in pieces
        w.write("stdout", b"c" * 7)
        w.write("stdout", b"c" * 6 + b"\n")           # 20 c: P 10, F 10
    assert records(log) == [
        ("stdout", "F", b"a" * 10),
        ("stdout", "P", b"b" * 10), ("stdout", "P", b"b" * 10), ("stdout", "F", b"b" * 5),
        ("stdout", "P", b"c" * 10), ("stdout", "F", b"c" * 10),
    ]
    assert read_lines(log) == ["a" * 10, "b" * 25, "c" * 20]


def test_default_max_line_is_16k(log):
    with LogWriter(log, clock=Clock()) as w:
        w.write("stdout", b"x" * (16 * 1024 + 1) + b"\n")
    assert [(tag, len(text)) for _, tag, text in records(log)] == [("P", 16384), ("F", 1)]


def test_cr_before_newline_does_not_count_towards_the_limit(log):
    with LogWriter(log, clock=Clock(), max_line=4) as w:
        w.write("stdout", b"abcd\r")
        w.write("stdout", b"\n")
    assert records(log) == [("stdout", "F", b"abcd")]


def test_multibyte_text_split_by_the_limit_is_joined_whole(log):
    text = "héllo wörld ✓" * 3
    with LogWriter(log, clock=Clock(), max_line=5) as w:
        w.write("stdout", text.encode() + b"\n")
    assert read_lines(log) == [text]


def test_streams_are_framed_separately(log):
    with LogWriter(log, clock=Clock()) as w:
        w.write("stdout", b"out-1 ")
        w.write("stderr", b"err-1\nerr-")
        w.write("stdout", b"continued\n")
        w.write("stderr", b"2\n")
    assert records(log) == [
        ("stderr", "F", b"err-1"), ("stdout", "F", b"out-1 continued"),
        ("stderr", "F", b"err-2")]


def test_partials_join_per_stream_when_interleaved(log):
    with LogWriter(log, clock=Clock(), max_line=4) as w:
        w.write("stdout", b"aaaaaa")     # P aaaa
        w.write("stderr", b"bbbbbb")     # P bbbb
        w.write("stdout", b"\n")         # F aa
        w.write("stderr", b"\n")         # F bb
    assert [tag for _, tag, _ in records(log)] == ["P", "P", "F", "F"]
    assert read_lines(log) == ["aaaaaa", "bbbbbb"]


def test_timestamps_flag_uses_the_first_piece(log):
    with LogWriter(log, clock=Clock(1_000_000_000), max_line=3) as w:
        w.write("stdout", b"abcdef")
        w.write("stdout", b"\n")
    assert read_lines(log, timestamps=True) == ["1970-01-01T00:00:01.000001000Z abcdef"]


def frame_reference(writes, max_line):
    """containerd's rules record by record: [(stream, tag, text)] for a list of
    (stream, bytes) writes followed by the end of both streams."""
    out, tails = [], {"stdout": b"", "stderr": b""}
    for stream, data in writes:
        tail = tails[stream] + data
        while b"\n" in tail:
            line, tail = tail.split(b"\n", 1)
            line = line[:-1] if line.endswith(b"\r") else line
            while len(line) > max_line:
                out.append((stream, "P", line[:max_line]))
                line = line[max_line:]
            out.append((stream, "F", line))
        while len(tail) - tail.endswith(b"\r") > max_line:
            out.append((stream, "P", tail[:max_line]))
            tail = tail[max_line:]
        tails[stream] = tail
    out += [(stream, "P", tail) for stream, tail in tails.items() if tail]
    return out


def test_framing_matches_the_record_by_record_rules(log):
    # The writer frames runs of short lines in one go and long lines one by one:
    # random output, cut into random writes, must come out as containerd frames it.
    import random

    rnd = random.Random(99)
    for case in range(300):
        max_line = rnd.randint(1, 9)
        writes = []
        for _ in range(rnd.randint(0, 12)):
            data = bytes(rnd.choice(b"ab\r\n\n") for _ in range(rnd.randint(0, 40)))
            writes.append((rnd.choice(STREAMS), data))
        for name in log_files(log):
            os.unlink(name)
        with LogWriter(log, clock=Clock(), max_line=max_line) as w:
            for stream, data in writes:
                w.write(stream, data)
        assert records(log) == frame_reference(writes, max_line), (case, writes, max_line)


def test_rotation_cuts_only_between_records(log):
    import random

    rnd = random.Random(7)
    for case in range(60):
        max_size = rnd.randint(40, 400)
        writes = [(rnd.choice(STREAMS), bytes(rnd.choice(b"xyz\n") for _ in range(rnd.randint(0, 100))))
                  for _ in range(rnd.randint(1, 6))]
        for name in log_files(log):
            os.unlink(name)
        with LogWriter(log, clock=Clock(), max_size=max_size, max_files=200, max_line=50) as w:
            for stream, data in writes:
                w.write(stream, data)
        files = log_files(log)
        for name in files:
            data = open(name, "rb").read()
            assert data.endswith(b"\n")
            assert len(data) <= max_size or data.count(b"\n") == 1, (case, name)  # or one big record
        assert [r for name in files for r in records(name)] == frame_reference(writes, 50), case


def test_bad_stream_is_refused(log):
    with LogWriter(log) as w:
        with pytest.raises(ValueError, match="stream"):
            w.write("stdin", b"x\n")


def test_tail(log):
    with LogWriter(log, clock=Clock(), max_line=2) as w:
        w.write("stdout", b"".join(b"line %d\n" % i for i in range(10)))
    assert read_lines(log, tail=3) == ["line 7", "line 8", "line 9"]
    assert read_lines(log, tail=0) == []
    assert read_lines(log, tail=100) == [f"line {i}" for i in range(10)]
    assert read_lines(log, tail=-1) == read_lines(log)


def test_missing_log(log):
    with pytest.raises(FileNotFoundError):
        read_lines(log)


def test_unparsable_and_cut_short_records(log):
    with open(log, "wb") as f:
        f.write(b"garbage\n2016-10-06T00:17:09.000000001Z stdout F ok\n"
                b"2016-10-06T00:17:09.000000002Z stdout F cut sho")
    assert parse_record(b"garbage") is None
    assert read_lines(log) == ["ok", "cut sho"]


def test_tags_after_colon_are_ignored():
    rec = parse_record(b"2016-10-06T00:17:09.1Z stdout P:x text with  spaces\n")
    assert (rec.stream, rec.tag, rec.content) == ("stdout", "P", b"text with  spaces")


def test_shorter_fraction_is_printed_with_nine_digits(log):
    with open(log, "wb") as f:
        f.write(b"2016-10-06T00:17:09.5Z stdout F x\n")
    assert read_lines(log, timestamps=True) == ["2016-10-06T00:17:09.500000000Z x"]


# --- rotation ------------------------------------------------------------------------------

def test_rotation_bounds_files_and_keeps_order(log):
    with LogWriter(log, clock=Clock(), max_size=200, max_files=3) as w:
        for i in range(100):
            w.write("stdout", b"line %03d\n" % i)
    files = log_files(log)
    assert files == [log + ".2", log + ".1", log]
    assert not os.path.exists(log + ".3")
    for name in files:
        assert os.path.getsize(name) <= 200
    lines = read_lines(log)
    numbers = [int(line.split()[1]) for line in lines]
    # Nothing lost within the kept files: the newest lines, consecutive, in order.
    assert numbers == list(range(100 - len(numbers), 100))
    assert len(numbers) >= 2 * (200 // 47)


def test_rotation_with_a_single_file(log):
    with LogWriter(log, clock=Clock(), max_size=100, max_files=1) as w:
        for i in range(20):
            w.write("stdout", b"line %02d\n" % i)
    assert log_files(log) == [log]
    assert read_lines(log)[-1] == "line 19"


def test_rotation_never_splits_a_record(log):
    # A record bigger than max_size still goes out whole, into a file of its own.
    with LogWriter(log, clock=Clock(), max_size=50, max_files=4) as w:
        w.write("stdout", b"x" * 80 + b"\n")
        w.write("stdout", b"short\n")
    assert read_lines(log) == ["x" * 80, "short"]


def test_one_write_spanning_rotations(log):
    with LogWriter(log, clock=Clock(), max_size=120, max_files=10) as w:
        w.write("stdout", b"".join(b"line %02d\n" % i for i in range(12)))
    assert len(rotated_files(log)) >= 4
    assert read_lines(log) == [f"line {i:02d}" for i in range(12)]


def test_a_new_writer_takes_over_the_same_file(log):
    with LogWriter(log, clock=Clock(), max_size=150, max_files=3) as w:
        w.write("stdout", b"first writer\n")
    with LogWriter(log, clock=Clock(), max_size=150, max_files=3) as w:
        w.write("stdout", b"second writer\n")
        for i in range(5):
            w.write("stdout", b"more %d\n" % i)
    lines = read_lines(log)
    assert lines == ["first writer", "second writer"] + [f"more {i}" for i in range(5)]
    assert len(log_files(log)) == 3  # the size came from the file, not the writer


def test_writer_follows_a_rotation_done_by_another_writer(log):
    a = LogWriter(log, clock=Clock(), max_size=100, max_files=3)
    b = LogWriter(log, clock=Clock(), max_size=100, max_files=3)
    a.write("stdout", b"a" * 60 + b"\n")
    b.write("stdout", b"b" * 60 + b"\n")   # rotates: a's fd now points at c.log.1
    a.write("stdout", b"again\n")           # a must append to the new c.log
    a.close()
    b.close()
    assert read_lines(log) == ["a" * 60, "b" * 60, "again"]


def test_a_write_the_disk_refuses_leaves_no_half_record(log, monkeypatch):
    import errno

    w = LogWriter(log, clock=Clock())
    w.write("stdout", b"kept\n")
    real = os.writev

    def part_then_full(fd, views):
        real(fd, [bytes(views[0])[:7]])  # a piece of a record goes out, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "writev", part_then_full)
    with pytest.raises(OSError):
        w.write("stdout", b"lost line\n")
    monkeypatch.setattr(os, "writev", real)
    w.write("stdout", b"after\n")
    w.close()
    assert read_lines(log) == ["kept", "after"]


@pytest.mark.parametrize("max_files", [1, 2, 3, 5])
def test_a_rotation_frees_the_dropped_file_on_another_thread(log, monkeypatch, max_files):
    # Freeing a full log can take the kernel 100 ms (a disk mounted with
    # discard): the writer's thread only renames; never onto a file, which
    # would free that file there and then.
    unlinked, real_unlink, real_replace = [], os.unlink, os.replace

    def unlink(path, *args, **kwargs):
        unlinked.append((os.path.basename(path), threading.current_thread().name))
        return real_unlink(path, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        assert not os.path.lexists(dst), f"{dst} replaced on the writer's thread"
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(crilog, "DISCARD_AT_ONCE", 0)  # (these files are small: a thread for each all the same)
    with LogWriter(log, clock=Clock(), max_size=60, max_files=max_files) as w:
        for i in range(40):
            w.write("stdout", b"line %02d\n" % i)  # a 48-byte record: one a file
    finish_discards()
    assert unlinked and all(name.startswith(".discarded-") and thread == "nspod-discard"
                            for name, thread in unlinked)
    assert len(unlinked) == 40 - max_files
    assert sorted(os.listdir(os.path.dirname(log))) == sorted(os.path.basename(f) for f in log_files(log))
    assert read_lines(log)[-1] == "line 39"


def test_a_small_file_is_freed_at_once(tmp_path, monkeypatch):
    # A restart's old instance log of a few bytes: no thread for that.
    monkeypatch.setattr(threading, "Thread", None)  # (one would fail)
    small = tmp_path / "3.log"
    small.write_bytes(b"x" * 100)
    crilog.discard(str(small))
    assert os.listdir(tmp_path) == []


def test_a_rotation_that_failed_half_way_is_done_again(log, monkeypatch):
    import errno

    w = LogWriter(log, clock=Clock(), max_size=100, max_files=3)
    w.write("stdout", b"a" * 50 + b"\n")
    real = os.replace

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError):
        w.write("stdout", b"b" * 50 + b"\n")
    monkeypatch.setattr(os, "replace", real)
    w.write("stdout", b"c" * 50 + b"\n")
    w.close()
    assert read_lines(log) == ["a" * 50, "c" * 50]
    assert len(log_files(log)) == 2


# --- follow --------------------------------------------------------------------------------

def test_follow_picks_up_appended_lines(log):
    w = LogWriter(log, clock=Clock())
    w.write("stdout", b"before\n")
    done = threading.Event()
    got = []

    def reader():
        for line in follow(log, stop=done.is_set, poll=0.01):
            got.append(line)

    t = threading.Thread(target=reader)
    t.start()
    try:
        w.write("stdout", b"after 1\nafter ")
        w.write("stdout", b"2\n")
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got == ["before", "after 1", "after 2"]
        w.write("stderr", b"last words")
        w.close()
    finally:
        done.set()
        t.join(5)
    assert not t.is_alive()
    assert got == ["before", "after 1", "after 2", "last words"]


def test_follow_through_rotation(log):
    w = LogWriter(log, clock=Clock(), max_size=60, max_files=500, max_line=8)
    done = threading.Event()
    got = []
    t = threading.Thread(target=lambda: got.extend(follow(log, stop=done.is_set, poll=0.005)))
    t.start()
    try:
        for i in range(60):
            w.write("stdout", b"line %02d and a long tail\n" % i)
            if i % 7 == 0:
                time.sleep(0.02)
        w.close()
        time.sleep(0.05)
    finally:
        done.set()
        t.join(5)
    assert len(rotated_files(log)) > 5
    assert got == [f"line {i:02d} and a long tail" for i in range(60)]


def test_follow_tail_and_timestamps(log):
    with LogWriter(log, clock=Clock(1_000_000_000)) as w:
        w.write("stdout", b"a\nb\nc\n")
    lines = list(follow(log, stop=lambda: True, tail=2, timestamps=True))
    assert lines == ["1970-01-01T00:00:01.000001000Z b", "1970-01-01T00:00:01.000001000Z c"]
    assert list(follow(log, stop=lambda: True, tail=0)) == []


def test_follow_waits_for_the_file(log):
    done = threading.Event()
    got = []
    t = threading.Thread(target=lambda: got.extend(follow(log, stop=done.is_set, poll=0.01)))
    t.start()
    time.sleep(0.05)
    with LogWriter(log, clock=Clock()) as w:
        w.write("stdout", b"late\n")
    time.sleep(0.05)
    done.set()
    t.join(5)
    assert got == ["late"]


def test_follow_keeps_up_with_a_tiny_max_files(log):
    # Every record rotates the file and a write makes up to 3 records, of which
    # only 4 files are kept; a follower that reads between writes still sees every
    # line, joined, in order.
    w = LogWriter(log, clock=Clock(), max_size=40, max_files=4, max_line=6)
    lines = follow(log, stop=lambda: False, poll=0.001)
    for i in range(30):
        w.write("stderr" if i % 2 else "stdout", b"n%02d %s\n" % (i, b"x" * (i % 13)))
        assert next(lines) == f"n{i:02d} " + "x" * (i % 13)
    assert len(log_files(log)) == 4
    lines.close()
    w.close()


def test_rotation_numbers_stay_contiguous(log):
    with LogWriter(log, clock=Clock(), max_size=60, max_files=6) as w:
        for i in range(3):
            w.write("stdout", b"x" * 40 + b"\n")
        assert rotated_files(log) == [log + ".2", log + ".1"]
        for i in range(10):
            w.write("stdout", b"x" * 40 + b"\n")
    assert rotated_files(log) == [log + f".{i}" for i in range(5, 0, -1)]


# --- tail: reading from the end ----------------------------------------------------------
#
# read_lines(tail=N) reads backwards, block_size bytes at a time; tiny blocks put block
# boundaries inside every record. The reference is the forward reading the module
# documents: records joined per stream, each line placed where it ends (its F record;
# for a line whose F never came, its last P record).

def rec(stream, tag, text, stamp="2016-10-06T00:17:09.000000001Z"):
    return b"%s %s %s %s\n" % (stamp.encode(), stream.encode(), tag.encode(), text.encode())


def write_files(log, *contents):
    """contents oldest first: log.N .. log.1, log."""
    names = [f"{log}.{i}" for i in range(len(contents) - 1, 0, -1)] + [log]
    for name, data in zip(names, contents):
        with open(name, "wb") as f:
            f.write(data)


def reference(contents, timestamps=False):
    """The lines of files (raw bytes, oldest first), read forwards."""
    records = []
    for data in contents:
        *whole, cut_short = data.split(b"\n")
        records += whole + ([cut_short] if cut_short else [])
    lines, pending = [], {}  # (position, text); stream -> (stamp, pieces, last position)
    for pos, raw in enumerate(records):
        r = parse_record(raw)
        if r is None:
            continue
        stamp, pieces, _ = pending.pop(r.stream, (r.timestamp, [], None))
        pieces.append(r.content)
        if r.tag == "P":
            pending[r.stream] = (stamp, pieces, pos)
        else:
            lines.append((pos, stamp, pieces))
    lines += [(pos, stamp, pieces) for stamp, pieces, pos in pending.values()]
    out = []
    for _, stamp, pieces in sorted(lines):
        text = b"".join(pieces).decode("utf-8", "replace")
        stamp = stamp if len(stamp) == 30 else stamp[:-1].ljust(29, "0") + "Z"
        out.append(f"{stamp} {text}" if timestamps else text)
    return out


BLOCKS = (1, 2, 3, 7, 64, 65536)


def test_tail_joins_pieces_across_block_boundaries(log):
    with LogWriter(log, clock=Clock(), max_line=5) as w:
        w.write("stdout", b"first line\n")
        w.write("stdout", b"a" * 23 + b"\n")      # P P P P F
        w.write("stdout", b"short\n")
        w.write("stdout", b"b" * 12 + b"\n")      # P P F
    full = ["first line", "a" * 23, "short", "b" * 12]
    assert read_lines(log) == full
    for block in BLOCKS:
        for n in range(6):
            assert read_lines(log, tail=n, block_size=block) == full[max(0, len(full) - n):], (block, n)


def test_tail_of_a_line_spanning_rotated_files(log):
    # The pieces of one line are in log.2, log.1 and log; the lines around it too.
    write_files(log,
                rec("stdout", "F", "old") + rec("stdout", "P", "one-"),
                rec("stdout", "P", "two-"),
                rec("stdout", "F", "three") + rec("stdout", "F", "new"))
    for block in BLOCKS:
        assert read_lines(log, tail=1, block_size=block) == ["new"]
        assert read_lines(log, tail=2, block_size=block) == ["one-two-three", "new"]
        assert read_lines(log, tail=3, block_size=block) == ["old", "one-two-three", "new"]


def test_tail_from_rotated_files_only_as_far_as_needed(log):
    with LogWriter(log, clock=Clock(), max_size=200, max_files=5) as w:
        for i in range(30):
            w.write("stdout", b"line %02d\n" % i)
    assert len(rotated_files(log)) == 4
    kept = read_lines(log)
    for block in (1, 16, 65536):
        for n in (1, 4, 5, 9, len(kept)):
            assert read_lines(log, tail=n, block_size=block) == kept[-n:]


def test_tail_larger_than_the_log_and_tail_zero(log):
    with LogWriter(log, clock=Clock()) as w:
        w.write("stdout", b"a\nb\n")
        w.write("stderr", b"c\n")
    for block in BLOCKS:
        assert read_lines(log, tail=100, block_size=block) == ["a", "b", "c"]
        assert read_lines(log, tail=0, block_size=block) == []
        assert read_lines(log, tail=None, block_size=block) == ["a", "b", "c"]
    open(log, "wb").close()
    assert read_lines(log, tail=3) == []
    with pytest.raises(FileNotFoundError):
        read_lines(log + ".missing", tail=3)


def test_tail_with_a_record_cut_short_at_the_end(log):
    write_files(log, rec("stdout", "F", "whole") + b"2016-10-06T00:17:09.1Z stdout F cut sh")
    for block in BLOCKS:
        assert read_lines(log, tail=1, block_size=block) == ["cut sh"]
        assert read_lines(log, tail=2, block_size=block) == ["whole", "cut sh"]
    # A cut-short P is a piece, joined with nothing after it.
    write_files(log, rec("stdout", "P", "half ") + b"2016-10-06T00:17:09.1Z stdout P and")
    assert read_lines(log, tail=1, block_size=2) == ["half and"]


def test_tail_with_both_streams_interleaved(log):
    with LogWriter(log, clock=Clock(), max_line=4) as w:
        w.write("stdout", b"out-aaaa")          # P out- , P aaaa
        w.write("stderr", b"err-1\n")           # P err- , F 1
        w.write("stdout", b"bb\n")              # F bb: line "out-aaaabb"
        w.write("stderr", b"err-2-long\n")      # P err- P 2-lo F ng
        w.write("stdout", b"x\n")
        w.write("stderr", b"tail")              # unterminated: P at close
    full = ["err-1", "out-aaaabb", "err-2-long", "x", "tail"]
    assert read_lines(log) == full
    for block in BLOCKS:
        for n in range(len(full) + 2):
            assert read_lines(log, tail=n, block_size=block) == full[max(0, len(full) - n):], (block, n)


def test_tail_keeps_the_time_stamp_of_the_first_piece(log):
    write_files(log, rec("stdout", "P", "a", "2016-10-06T00:17:09.000000001Z")
                + rec("stderr", "F", "e", "2016-10-06T00:17:09.000000002Z")
                + rec("stdout", "F", "b", "2016-10-06T00:17:09.000000003Z"))
    assert read_lines(log, tail=1, timestamps=True, block_size=5) == ["2016-10-06T00:17:09.000000001Z ab"]


def test_tail_jumps_over_the_other_stream_and_its_look_alikes(log):
    # One stderr line, then many stdout lines that mention " stderr " in their text:
    # tail must find the stderr line's earlier piece behind them, and nothing else.
    body = rec("stderr", "P", "begin ")
    body += b"".join(rec("stdout", "F", f"x stderr P fake {i}") for i in range(200))
    body += rec("stderr", "F", "end") + b"no-record stderr\n"
    write_files(log, rec("stderr", "F", "older"), body)
    for block in BLOCKS:
        assert read_lines(log, tail=1, block_size=block) == ["begin end"]
        assert read_lines(log, tail=2, block_size=block) == ["x stderr P fake 199", "begin end"]


def test_tail_reads_only_the_end_of_a_big_log(log, monkeypatch):
    with LogWriter(log, clock=Clock(), max_size=64 * 1024, max_files=5) as w:
        for i in range(100):
            w.write("stdout", b"".join(b"line %d.%d\n" % (i, j) for j in range(100)))
    total = sum(os.path.getsize(f) for f in log_files(log))
    read = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: read.append(n) or real_pread(fd, n, off))
    assert read_lines(log, tail=3, block_size=4096) == ["line 99.97", "line 99.98", "line 99.99"]
    assert sum(read) <= 4096 < total // 10


def test_tail_is_the_end_of_the_full_read_for_random_logs(log):
    import random

    rnd = random.Random(1234)
    words = ["a", "bb", " ", "stdout", " stderr ", "P", "F", "é", "\r", ""]
    for case in range(150):
        contents = []
        for _ in range(rnd.randint(1, 4)):
            data = b""
            for _ in range(rnd.randint(0, 12)):
                if rnd.random() < 0.05:
                    data += b"not a record\n"
                    continue
                text = "".join(rnd.choice(words) for _ in range(rnd.randint(0, 4)))
                stream = rnd.choice(STREAMS)
                data += rec(stream, "P" if rnd.random() < 0.4 else "F", text,
                            f"2016-10-06T00:17:09.{rnd.randint(0, 99999)}Z")
            if data and rnd.random() < 0.2:
                data = data[:rnd.randint(1, len(data))]  # cut short
            contents.append(data)
        for f in log_files(log):
            os.unlink(f)
        write_files(log, *contents)
        full = reference(contents)
        assert read_lines(log) == full, case
        stamped = reference(contents, timestamps=True)
        for block in (1, 5, 64):
            for n in {0, 1, 2, 3, len(full) // 2, len(full), len(full) + 1}:
                assert read_lines(log, tail=n, block_size=block) == full[max(0, len(full) - n):], (case, block, n)
            n = rnd.randint(0, len(full) + 1)
            assert read_lines(log, tail=n, timestamps=True, block_size=block) == stamped[max(0, len(full) - n):]


def test_follow_tail_reads_from_the_end_and_goes_on(log):
    write_files(log,
                rec("stdout", "F", "a") + rec("stdout", "P", "b-"),
                rec("stdout", "F", "b") + rec("stderr", "P", "pending-")
                + b"2016-10-06T00:17:09.1Z stdout F half wri")  # being written
    got = follow(log, stop=lambda: False, tail=2, block_size=3, poll=0.001)
    assert [next(got), next(got)] == ["a", "b-b"]
    with open(log, "ab") as f:
        f.write(b"tten\n" + rec("stderr", "F", "done") + rec("stdout", "F", "c"))
    assert [next(got), next(got), next(got)] == ["half written", "pending-done", "c"]
    got.close()


def test_follow_tail_zero_and_an_unfinished_line_at_the_end(log):
    write_files(log, rec("stdout", "F", "old") + rec("stdout", "P", "x"))
    # tail=0: only what comes after; tail=N: the unfinished line is printed at the end.
    assert list(follow(log, stop=lambda: True, tail=0, block_size=2)) == []
    assert list(follow(log, stop=lambda: True, tail=5, block_size=2)) == ["old", "x"]


def test_follow_tail_through_a_rotation(log):
    w = LogWriter(log, clock=Clock(), max_size=60, max_files=50)
    for i in range(5):
        w.write("stdout", b"line %d and some\n" % i)
    got = follow(log, stop=lambda: False, tail=2, block_size=4, poll=0.001)
    assert [next(got), next(got)] == ["line 3 and some", "line 4 and some"]
    for i in range(5, 12):
        w.write("stdout", b"line %d and some\n" % i)
    assert [next(got) for _ in range(7)] == [f"line {i} and some" for i in range(5, 12)]
    got.close()
    w.close()
