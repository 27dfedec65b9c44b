"""The supervisor's side of attach sessions (nspod/console.py), without
containers: frames, a slow client cut off at its backlog, input a container
does not take yet held back (and the client not read meanwhile), stdinOnce."""
import os
import selectors
import socket
import struct
import time

import pytest

from nspod.console import MAX_PAYLOAD, SESSION_BACKLOG, Console, FrameReader, frame
from nspod.spec.model import Container


class FakeSelector:
    def __init__(self):
        self.watched = {}

    def register(self, fd, events, data):
        assert fd not in self.watched
        self.watched[fd] = events

    def modify(self, fd, events, data):
        assert fd in self.watched
        self.watched[fd] = events

    def unregister(self, fd):
        del self.watched[fd]


def console_with_stdin(tmp_path, once=False):
    sel = FakeSelector()
    console = Console(sel, "c", Container(name="c", stdin=True, stdin_once=once))
    fifo = tmp_path / "stdin.fifo"
    os.mkfifo(fifo)
    console.open_stdin(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the container's end
    return sel, console, reader


def test_frames_split_anywhere_come_out_whole_and_a_huge_one_is_refused():
    data = frame(b"d", b"abc") + frame(b"r", struct.pack("!HH", 24, 80)) + frame(b"c")
    reader = FrameReader()
    got = []
    for i in range(len(data)):  # a byte at a time
        got += reader.feed(data[i:i + 1])
    assert got == [(b"d", b"abc"), (b"r", struct.pack("!HH", 24, 80)), (b"c", b"")]
    with pytest.raises(ValueError):
        FrameReader().feed(struct.pack("!cI", b"d", MAX_PAYLOAD + 1))


def test_a_client_that_does_not_read_is_cut_off_not_waited_for(tmp_path):
    sel, console, reader = console_with_stdin(tmp_path)
    ours, client = socket.socketpair()
    console.attach(ours, stdin=False)
    chunk = b"x" * 65536
    sent = 0
    while console.sessions and sent < 8 * SESSION_BACKLOG:
        console.output(b"o", chunk)  # never blocks, whatever the client does
        sent += len(chunk)
    assert not console.sessions and sent <= SESSION_BACKLOG + 2 * (1 << 20)  # (plus what the socket buffers)
    assert ours.fileno() == -1 and not sel.watched
    client.close()
    console.close()
    os.close(reader)


def test_input_the_container_does_not_take_waits_and_the_client_is_not_read_meanwhile(tmp_path):
    sel, console, reader = console_with_stdin(tmp_path)
    ours, client = socket.socketpair()
    console.attach(ours, stdin=True)
    fd = ours.fileno()
    big = b"y" * 60000
    for _ in range(3):  # 180 000 bytes: more than the 64 KiB pipe holds
        client.sendall(frame(b"d", big))
        console.on_session(fd)
    assert console.pending_input()
    assert not sel.watched.get(fd, 0) & selectors.EVENT_READ  # not read until the container took it
    taken = b""
    while console.pending_input() or len(taken) < 180000:
        try:
            taken += os.read(reader, 1 << 16)
        except BlockingIOError:
            pass
        console.retry_input()
        console.on_session(fd)
    assert taken == big * 3
    assert sel.watched[fd] & selectors.EVENT_READ
    console.close()
    client.close()
    os.close(reader)


def test_stdin_once_closes_when_the_first_session_with_input_ends(tmp_path):
    sel, console, reader = console_with_stdin(tmp_path, once=True)
    watcher, w_client = socket.socketpair()
    console.attach(watcher, stdin=False)  # output only: does not count
    ours, client = socket.socketpair()
    console.attach(ours, stdin=True)
    client.sendall(frame(b"d", b"last words\n") + frame(b"c"))
    console.on_session(ours.fileno())
    assert os.read(reader, 100) == b"last words\n"
    assert os.read(reader, 100) == b""  # end of file: the writer closed
    assert console.error(stdin=True) and "stdinOnce" in console.error(stdin=True)
    assert console.error(stdin=False) is None
    console.close()
    for s in (client, w_client):
        s.close()
    os.close(reader)


def relay_with(*typed):
    """terminal.attach_relay fed `typed` (separate reads) on a pipe as its
    input; returns (what it returned, the frames it sent). The supervisor's
    side (a thread) answers with output and exit code 5 once input stops."""
    import threading

    from nspod.terminal import attach_relay

    ours, theirs = socket.socketpair()
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    got = bytearray()

    def supervisor():
        for chunk in typed:
            os.write(w, chunk)
            time.sleep(0.1)  # (one read each)
        ours.settimeout(0.3)
        try:
            while data := ours.recv(65536):
                got.extend(data)
        except socket.timeout:
            ours.sendall(frame(b"o", b"bye") + frame(b"x", struct.pack("!i", 5)))  # the relay is still on
        except OSError:
            pass

    t = threading.Thread(target=supervisor)
    t.start()
    try:
        code = attach_relay(theirs, True, False, stdin=r, stdout=out_w, stderr=out_w)
        theirs.close()
        t.join(5)
        return code, FrameReader().feed(bytes(got))
    finally:
        for fd in (r, w, out_r, out_w):
            os.close(fd)
        ours.close()


def test_ctrl_p_ctrl_q_detaches_even_across_two_reads():
    assert relay_with(b"abc\x10", b"\x11") == (None, [(b"d", b"abc")])
    assert relay_with(b"ab\x10\x11cd") == (None, [(b"d", b"ab")])


def test_a_ctrl_p_without_ctrl_q_is_typed_and_the_exit_code_comes_back():
    code, frames = relay_with(b"x\x10", b"y")
    assert code == 5 and b"".join(p for k, p in frames if k == b"d") == b"x\x10y"
