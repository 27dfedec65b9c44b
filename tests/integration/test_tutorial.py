"""docs/TUTORIAL.md, run as a reader runs it: every command of every lesson,
in order, as this (unprivileged) user, each checked against the output the
text shows (tests/tutorial.py). The cgroup v2 lesson runs in tests/vm."""
import os
import sys

import pytest

import tutorial

LESSONS = tutorial.lessons()


def shell_env():
    """The reader's shell after `. .venv/bin/activate`: nspod on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


@pytest.mark.parametrize("lesson", [l for l in LESSONS if any(t == "integration" for t, _ in l.commands)],
                         ids=lambda l: l.title.split(":")[0].replace(" ", "-").lower())
def test_lesson(lesson):
    assert tutorial.run_lesson(lesson, "integration", shell_env()) > 0
