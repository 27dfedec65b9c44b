"""The keeper's log pump (nspod/executor/keeper/crilog.c) writes what
nspod/crilog.py's LogWriter writes, byte for byte, rotation included: the
two take turns on one log (a supervisor leaves, the keeper pumps, the next
supervisor takes over). Held against each other on scripted and random
input, through tests/unit/probe/crilog_probe.c."""
import os
import random
import subprocess

import pytest

from nspod.crilog import LogWriter, finish_discards, read_lines

HERE = os.path.dirname(os.path.abspath(__file__))
KEEPER = os.path.join(HERE, "..", "..", "nspod", "executor", "keeper")
BASE_NS = 1_700_000_000 * 1_000_000_000


@pytest.fixture(scope="session")
def probe(tmp_path_factory):
    exe = str(tmp_path_factory.mktemp("probe") / "crilog-probe")
    subprocess.run([os.environ.get("CC", "gcc"), "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-Wno-unused-parameter", "-I", KEEPER, "-o", exe,
                    os.path.join(HERE, "probe", "crilog_probe.c"), os.path.join(KEEPER, "crilog.c")], check=True)
    return exe


def by_python(path, script, max_size, max_files, max_line):
    ticks = iter(range(10**9))
    writer = LogWriter(str(path), max_size=max_size, max_files=max_files, max_line=max_line,
                       clock=lambda: BASE_NS + next(ticks) * 1_000_000_123)
    for op, stream, data in script:
        if op == "w":
            writer.write(stream, data)
        else:
            writer.flush_partial(stream)
    os.close(writer._fd)  # (not close(): that would flush the tails, which the script decides)
    finish_discards()  # (the files rotation dropped are gone)


def by_keeper(probe, path, script, max_size, max_files, max_line):
    commands = b"".join(b"w %s %d\n%s" % (s.encode(), len(d), d) if op == "w" else b"e %s\n" % s.encode()
                        for op, s, d in script)
    done = subprocess.run([probe, str(path), str(max_size), str(max_files), str(max_line)], input=commands,
                          capture_output=True, check=True)
    assert done.stdout == b""  # (no write refused)


def files(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def same_logs(tmp_path, probe, script, max_size=10 << 20, max_files=5, max_line=16 << 10):
    (tmp_path / "py").mkdir()
    (tmp_path / "c").mkdir()
    by_python(tmp_path / "py" / "0.log", script, max_size, max_files, max_line)
    by_keeper(probe, tmp_path / "c" / "0.log", script, max_size, max_files, max_line)
    python, keeper = files(tmp_path / "py"), files(tmp_path / "c")
    assert keeper == python
    return keeper


def test_lines_partials_and_carriage_returns(tmp_path, probe):
    script = [("w", "stdout", b"one\r\ntwo\rstill two\n"), ("w", "stderr", b"half "),
              ("w", "stdout", b"three\r"), ("w", "stdout", b"\nfour"), ("w", "stderr", b"done\n"),
              ("e", "stdout", b""), ("e", "stderr", b"")]
    logs = same_logs(tmp_path, probe, script)
    assert read_lines(str(tmp_path / "c" / "0.log")) == ["one", "two\rstill two", "three", "half done", "four"]
    assert logs["0.log"].startswith(b"2023-11-14T22:13:20.000000000Z stdout F one\n")


def test_long_lines_are_cut_into_partial_records(tmp_path, probe):
    script = [("w", "stdout", b"a" * 40000 + b"\r\n"), ("w", "stdout", b"b" * 20000),
              ("w", "stdout", b"b" * 20000), ("e", "stdout", b"")]
    logs = same_logs(tmp_path, probe, script, max_line=16384)
    tags = [line.split(b" ")[2] for line in logs["0.log"].splitlines()]
    assert tags == [b"P", b"P", b"F", b"P", b"P", b"P"]


def test_rotation_keeps_numbered_files(tmp_path, probe):
    script = [("w", "stdout", b"".join(b"line %d of output\n" % (i * 100 + j) for j in range(100)))
              for i in range(40)]
    logs = same_logs(tmp_path, probe, script, max_size=20000, max_files=3)
    assert sorted(logs) == ["0.log", "0.log.1", "0.log.2"]
    assert all(len(data) <= 20000 for data in logs.values())


def test_a_record_larger_than_a_file_goes_alone(tmp_path, probe):
    script = [("w", "stdout", b"x" * 300 + b"\n"), ("w", "stdout", b"y" * 5000 + b"\n"),
              ("w", "stderr", b"z\n")]
    same_logs(tmp_path, probe, script, max_size=1000, max_files=2, max_line=16384)


@pytest.mark.parametrize("seed", range(12))
def test_random_output(tmp_path, probe, seed):
    rng = random.Random(seed)
    alphabet = b"ab\r\n\n \xff"
    script = []
    for _ in range(rng.randrange(20, 80)):
        stream = rng.choice(("stdout", "stderr"))
        if rng.random() < 0.1:
            script.append(("e", stream, b""))
        else:
            size = rng.choice((1, 2, 7, 100, 3000, 20000))
            script.append(("w", stream, bytes(rng.choice(alphabet) for _ in range(size))))
    same_logs(tmp_path, probe, script, max_size=rng.choice((2000, 50000, 10 << 20)),
              max_files=rng.choice((1, 2, 5)), max_line=rng.choice((1, 5, 64, 16384)))


def test_a_refused_write_is_counted_and_cut_back(tmp_path, probe):
    """A write the disk refuses (here the file size limit, RLIMIT_FSIZE) drops
    those records, leaves no half record, and the next write goes on."""
    script = b"w stdout 6\nfirst\nw stdout 5000\n" + b"x" * 4999 + b"\n" + b"w stdout 5\nlast\n"
    done = subprocess.run(["sh", "-c", 'ulimit -f 4; exec "$@"', "sh", probe, str(tmp_path / "0.log"),
                           str(10 << 20), "5", "16384"], input=script, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"dropped 5040\n"  # the 4999-byte line's record, 40 bytes of head with it
    assert read_lines(str(tmp_path / "0.log")) == ["first", "last"]
