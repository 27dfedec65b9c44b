"""CRI log writer and reader: framing, P/F records, rotation, tail, follow."""

import os
import re
import threading
import time

import pytest

from nspod.crilog import (LogWriter, follow, log_files, parse_record, read_lines,
                          rotated_files)

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
