"""The CLI's side of `--explain`: read the steps (nspod/steps.py) as the
processes tell them, and print them, or write them as JSON lines to a file.

    [supervisor 4100]  unshare(CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS)      # unshare --net --ipc --uts

Under a process's first step its namespaces are shown, and again under a step
that changed them (unshare, setns), so the reader sees where each step happens.
Steps go to stderr: stdout stays the command's own output.
"""
import json
import os
import select
import sys
import threading

from . import steps
from .terminal import printable

COMMENT_COLUMN = 72


class Explainer:
    """Reads the step pipe on a thread while the command runs; `finish()`
    once the command has its answer (every step it caused was told before
    that answer was sent, so what is in the pipe then is all of it)."""

    def __init__(self, target):
        self.read_fd, self.write_fd = steps.open_sink()
        self.out = open(target, "w") if target != "-" else None  # (bad path: OSError, exit 1, before any step)
        self.seen = {}  # pid -> the namespaces last shown for it
        self.count = 0
        self.before = steps.explaining(self.write_fd, "cli")
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.buffer = b""
        self.thread.start()

    def finish(self):
        steps.restore(self.before)
        os.close(self.write_fd)  # our own end; the supervisor's copies are closed by then
        self.stopping.set()
        self.thread.join()
        os.close(self.read_fd)
        if self.out is not None:
            self.out.close()

    def _read(self):
        while True:
            ready, _, _ = select.select([self.read_fd], [], [], 0.05)
            if ready:
                if not self._read_some():
                    return  # end of file: every writer is gone
            elif self.stopping.is_set():
                return  # nothing more waiting, and the command is done

    def _read_some(self):
        data = os.read(self.read_fd, 1 << 16)
        if not data:
            return False
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                step = json.loads(line)
            except ValueError:
                continue
            self.count += 1
            if self.out is not None:
                self.out.write(json.dumps(step) + "\n")
            else:
                sys.stderr.write(render(step, self.seen))
        (self.out or sys.stderr).flush()
        return True


def render(step, seen):
    """One step as text; under it, its process's namespaces (as they are
    after the step) when they are new to the reader or the step changed them
    (`seen`: pid -> the namespaces shown last)."""
    who = printable(f"[{step['role']} {step['pid']}]")
    text = f"{who} {printable(step['call'])}" + (f" -> {printable(step['result'])}" if step.get("result") else "")
    if step.get("by_hand"):  # (printable: a manifest's command or an image's names must not drive the terminal)
        text = text.ljust(COMMENT_COLUMN) + f"  # {printable(step['by_hand'])}"
    lines = [text]
    ns = step.get("ns") or {}
    last = seen.get(step["pid"])
    if last is None:
        lines.append(" " * len(who) + " in " + printable(" ".join(v for v in ns.values() if v)))
    elif last != ns:
        lines.append(" " * len(who) + " now in " + printable(" ".join(v for k, v in ns.items() if v and last.get(k) != v)))
    seen[step["pid"]] = ns
    return "".join(line + "\n" for line in lines)
