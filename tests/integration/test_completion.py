"""bash completion for real: bash itself runs nspod's completion function
(nspod/completion.bash) against the state of real pods, first as bash calls
it (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD set, COMPREPLY read), then
through readline in an interactive bash on a terminal, where what lands on
the line (a space or none, the part after a ":") is what a user gets.
As an unprivileged user."""
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import nspod
from podtest import nspod as run_nspod

SCRIPT = Path(nspod.__file__).with_name("completion.bash")
BIN = os.path.dirname(sys.executable)  # the venv's bin: its nspod is this checkout's


def pod(name, labels, containers):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                       "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                           {"name": c, "command": ["sleep", "300"]} for c in containers]}})


def complete(line, cwd):
    """COMPREPLY for LINE (cursor at its end), as bash's completion calls _nspod."""
    program = f"""
        source {SCRIPT}
        COMP_LINE=$1; COMP_POINT=${{#COMP_LINE}}
        read -ra COMP_WORDS <<<"$COMP_LINE"
        [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
        _nspod nspod "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program, "bash", line], cwd=cwd,
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return sorted(w for w in done.stdout.split("\n") if w)


def test_bash_completes_names_from_the_state(pods, tmp_path):
    pods.run(pod("cmp-web", {"app": "web"}, ["app", "sidecar"]))
    pods.run(pod("cmp-db", {"app": "db"}, ["postgres"]))
    here = tmp_path / "here"  # (pods.run writes its manifests into tmp_path)
    here.mkdir()
    (here / "pod.yaml").write_text("")
    (here / "pods").mkdir()
    (here / "other.txt").write_text("")

    assert "exec" in complete("nspod ", here) and "port-forward" in complete("nspod ", here)
    assert complete("nspod image p", here) == ["prune"]
    assert complete("nspod exec cmp-", here) == ["cmp-db", "cmp-web"]
    assert complete("nspod logs cmp-web -c ", here) == ["app", "sidecar"]
    assert complete("nspod exec -it cmp-db -c ", here) == ["postgres"]
    assert complete("nspod rm -f cmp-web ", here) == ["cmp-db"]
    assert complete("nspod logs -l app=", here) == ["db", "web"]  # bash replaces what follows the "="
    assert complete("nspod cp cmp-w", here) == ["cmp-web:"]
    assert complete("nspod cp p", here) == ["pod.yaml", "pods/"]  # no pod begins with p: files
    assert complete("nspod cp cmp-web:/etc/hosts ./p", here) == ["./pod.yaml", "./pods"]
    assert complete("nspod run p", here) == ["pod.yaml", "pods"]
    assert complete("nspod wait cmp-web --for=condition=Re", here) == ["Ready"]
    assert complete("nspod ps -o ", here) == ["json", "jsonpath=", "name", "wide", "yaml"]
    flags = complete("nspod logs -", tmp_path)
    assert {"--follow", "--selector", "--prefix", "--max-log-requests", "-c", "--tail"} <= set(flags)


def test_readline_puts_the_completion_on_the_line(pods, tmp_path):
    """An interactive bash on a terminal: TAB, then the line is echoed back
    (Ctrl-A, "echo ", Enter) to show exactly what completion put there."""
    pods.run(pod("cmp-tty", {"app": "tty"}, ["app"]))
    here = tmp_path / "here"
    here.mkdir()
    (here / "manifest.yaml").write_text("")
    (here / "sub").mkdir()
    shell = Interactive(here)
    try:
        assert shell.line("nspod cp cmp-t\t") == "nspod cp cmp-tty:X"             # no space after POD:
        assert shell.line("nspod wait cmp-t\t") == "nspod wait cmp-tty X"        # a space after a name
        assert shell.line("nspod wait cmp-tty --for=condition=Rea\t") == "nspod wait cmp-tty --for=condition=Ready X"
        assert shell.line("nspod ps -o jsonp\t") == "nspod ps -o jsonpath=X"      # the word goes on
        assert shell.line("nspod run man\t") == "nspod run manifest.yaml X"
        assert shell.line("nspod run su\t") == "nspod run sub/X"
        assert shell.line("nspod image pr\t") == "nspod image prune X"
    finally:
        shell.close()


class Interactive:
    PROMPT = "PROMPT:"

    def __init__(self, cwd):
        self.master, slave = pty.openpty()
        env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", TERM="dumb", PS1=self.PROMPT, HISTFILE="/dev/null")
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave, stderr=slave,
                                     cwd=cwd, env=env, start_new_session=True)
        os.close(slave)
        self.send(f"bind 'set enable-bracketed-paste off'; source {SCRIPT}; PS1={self.PROMPT}\r")
        self.read_until(self.PROMPT + "\r\n")

    def send(self, text):
        os.write(self.master, text.encode())

    def read_until(self, mark, timeout=20):
        """What the terminal showed, up to `mark` (a string or a pattern)."""
        out = ""
        deadline = time.monotonic() + timeout
        while not (mark.search(out) if isinstance(mark, re.Pattern) else mark in out):
            left = deadline - time.monotonic()
            assert left > 0, f"the shell did not show {mark!r}; it showed {out!r}"
            if select.select([self.master], [], [], left)[0]:
                out += os.read(self.master, 4096).decode(errors="replace")
        return out

    def line(self, typed):
        """What bash runs after TAB completion of `typed`, then X."""
        self.send(typed)
        time.sleep(1.5)  # let completion (an nspod run) finish before more keys come
        self.send("X\x01echo RESULT=\r")  # bash prints RESULT=<the line> at the start of a line
        out = self.read_until(self.RESULT)
        return re.search(self.RESULT, out).group(1)

    RESULT = re.compile(r"\r\nRESULT=(.*?)\r\n")

    def close(self):
        self.send("exit\r")
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def test_nothing_to_complete_from_a_user_without_state(tmp_path):
    """No state yet: bash gets verbs and no names, and completing made no state."""
    env = dict(os.environ, NSPOD_STATE_DIR=str(tmp_path / "state"))
    out = subprocess.run([f"{BIN}/nspod", "__complete", "nspod exec ", " "], capture_output=True, text=True,
                         env=env, timeout=30)
    assert (out.returncode, out.stdout, out.stderr) == (0, "WORDS\n\n", "")
    assert not (tmp_path / "state").exists()
    assert run_nspod("completion", "bash").stdout == SCRIPT.read_text()


def test_setup_installed_it_into_the_virtualenv():
    """scripts/setup made this tier's venv: the script is in it, and activate loads it."""
    installed = Path(sys.prefix) / "share" / "bash-completion" / "completions" / "nspod"
    assert installed.read_text() == SCRIPT.read_text()
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", f". {sys.prefix}/bin/activate && complete -p nspod"],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "complete -F _nspod nspod\n"), done.stderr
