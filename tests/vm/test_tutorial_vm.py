"""The tutorial's cgroup v2 lesson (docs/TUTORIAL.md, `console vm` blocks),
run as a reader runs it, in the VM where limits exist (tests/tutorial.py)."""
import os
import sys

import pytest

import tutorial

LESSONS = [l for l in tutorial.lessons() if any(t == "vm" for t, _ in l.commands)]


@pytest.fixture(autouse=True)
def _no_pod_leaks(no_leaks):
    yield


def test_there_is_a_vm_lesson():
    assert LESSONS, "docs/TUTORIAL.md has no `console vm` block: the limits lesson is gone"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda l: l.title.split(":")[0].replace(" ", "-").lower())
def test_lesson(lesson):
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    assert tutorial.run_lesson(lesson, "vm", env) > 0
