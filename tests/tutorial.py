"""Run docs/TUTORIAL.md as a test: every command block, in order, checked
against the output the text says to expect.

The tutorial's format (its own first lesson says so to the reader too):
- a lesson is a `## Lesson N: TITLE` section; its commands run in one bash,
  from the checkout's top directory, so a variable set in one block is there
  in the next;
- a ```console block is run (```console vm: in the cgroup v2 VM tier only);
  other blocks (```yaml, ```sh) are shown, not run;
- in a console block a line `$ COMMAND` is a command (a line ending in `\\`
  goes on with the next, shown after the shell's `> `), and the lines after it, up to the next `$`, are
  its expected output (stdout and stderr as a terminal shows them);
- `...` in an expected line matches any text in that line; a line that is
  only `...` matches any number of lines; a command with no lines after it
  must print nothing;
- a command must exit 0, unless it ends in `# exit N` (a shell comment: the
  reader can paste it as it is).
"""
import os
import re
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "TUTORIAL.md"
MARK = "__nspod_tutorial_done__"
EXIT = re.compile(r"\s+# exit (\d+)\s*$")


@dataclass
class Command:
    text: str
    expected: list = field(default_factory=list)
    status: int = 0
    line: int = 0


@dataclass
class Lesson:
    title: str
    commands: list = field(default_factory=list)  # (tier, Command)


def lessons(text=None):
    """The lessons of the tutorial, each with its commands and their tier
    ("integration" or "vm")."""
    text = TUTORIAL.read_text() if text is None else text
    found, lesson, block, tier = [], None, None, None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if block is None:
            if line.startswith("## Lesson "):
                lesson = Lesson(line[3:].strip())
                found.append(lesson)
            elif line.startswith("```console"):
                if lesson is None:
                    raise ValueError(f"line {i}: a console block before the first lesson")
                block, tier = [], "vm" if line.split()[1:] == ["vm"] else "integration"
            continue
        if line.startswith("```"):
            lesson.commands += [(tier, c) for c in block]
            block = None
            continue
        if line.startswith("$ "):
            command, start = line[2:], i
            while command.endswith("\\") and i < len(lines):
                more = lines[i]
                command = command + "\n" + (more[2:] if more.startswith("> ") else more)  # (the shell's PS2)
                i += 1
            status = 0
            m = EXIT.search(command)
            if m:
                status = int(m.group(1))
            block.append(Command(command, [], status, start))
        elif block:
            block[-1].expected.append(line)
        elif line.strip():
            raise ValueError(f"line {i}: expected output before any command")
    if block is not None:
        raise ValueError("the tutorial ends inside a console block")
    return found


def pattern(expected):
    """The expected lines as one regex over the whole output."""
    parts = []
    for line in expected:
        line = line.rstrip()
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def matches(expected, output):
    text = "".join(line.rstrip() + "\n" for line in output.rstrip("\n").splitlines()) if output.strip() else ""
    return pattern(expected).fullmatch(text) is not None


class Shell:
    """One bash for a lesson, from the checkout's top directory."""

    def __init__(self, env=None):
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile"], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.send("exec 2>&1; PS1=; PS2=; set +o history")

    def send(self, text):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def run(self, command, timeout=120):
        """(output, exit status) of one command."""
        self.send(command)
        self.send(f'printf "\\n{MARK} %s\\n" $?')
        data = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while MARK.encode() not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"no end of {command!r} in {timeout} s; output so far:\n{data.decode()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"bash ended during {command!r}; output:\n{data.decode()}")
            data += chunk
        while not data.rstrip(b" ").endswith(b"\n"):
            data += os.read(fd, 65536)
        out, _, rest = data.decode(errors="replace").rpartition(f"\n{MARK} ")
        return out, int(rest.split()[0])

    def close(self):
        """End the shell, and whatever a lesson left running in its
        background (a failed lesson's `sleep &`, say)."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass
        self.proc.wait()


def run_lesson(lesson, tier, env=None):
    """Run the lesson's commands of `tier`, in order; returns how many ran.
    Raises AssertionError at the first that exits or prints other than the
    text says."""
    shell = Shell(env)
    ran = 0
    try:
        for command_tier, c in lesson.commands:
            if command_tier != tier:
                continue
            out, status = shell.run(c.text)
            ran += 1
            if status != c.status:
                raise AssertionError(f"{lesson.title}, TUTORIAL.md line {c.line}: `{c.text}` exited {status}, "
                                     f"expected {c.status}; output:\n{out}")
            if not matches(c.expected, out):
                raise AssertionError(f"{lesson.title}, TUTORIAL.md line {c.line}: `{c.text}` printed:\n{out}\n"
                                     f"expected:\n" + "\n".join(c.expected))
    finally:
        shell.close()
        remove_pods(env)
    return ran


def remove_pods(env=None):
    """Every pod of the user (a lesson that failed half-way leaves its own)."""
    names = subprocess.run(["nspod", "ps", "-o", "name"], capture_output=True, text=True, env=env).stdout.split()
    if names:
        subprocess.run(["nspod", "rm", "-f"] + [n.split("/", 1)[1] for n in names], capture_output=True, env=env)
