"""The tutorial runner's reading of docs/TUTORIAL.md (tests/tutorial.py)."""
import pytest

import tutorial

def test_commands_expected_output_and_exit_status():
    text = """# T
## Lesson 1: One
Some prose.
```console
$ echo a
a
$ for x in 1 2; do \\
>   echo $x; \\
> done
1
2
$ false  # exit 1
```
```yaml
not: run
```
## Lesson 2: Two
```console vm
$ cat /sys/fs/cgroup/cpu.max
max 100000
```
"""
    one, two = tutorial.lessons(text)
    assert one.title == "Lesson 1: One" and two.title == "Lesson 2: Two"
    (t1, a), (_, loop), (_, fails) = one.commands
    assert (t1, a.text, a.expected, a.status) == ("integration", "echo a", ["a"], 0)
    assert loop.text == "for x in 1 2; do \\\n  echo $x; \\\ndone" and loop.expected == ["1", "2"]
    assert fails.status == 1 and fails.expected == []
    assert two.commands[0][0] == "vm"


def test_every_lesson_of_the_real_tutorial_has_commands():
    lessons = tutorial.lessons()
    assert len(lessons) >= 8
    assert all(lesson.commands for lesson in lessons)


@pytest.mark.parametrize("expected, output, ok", [
    (["a", "b"], "a\nb\n", True),
    (["a", "b"], "a\nb\nc\n", False),
    (["a..."], "abc  \n", True),
    (["...", "last"], "x\ny\nlast\n", True),
    (["...", "last"], "last\n", True),
    ([], "", True),
    ([], "something\n", False),
    (["x...z"], "x\nz\n", False),  # `...` in a line does not cross lines
])
def test_matching(expected, output, ok):
    assert tutorial.matches(expected, output) is ok


def test_text_before_a_lesson_or_outside_a_block_is_refused():
    with pytest.raises(ValueError):
        tutorial.lessons("```console\n$ true\n```\n")
    with pytest.raises(ValueError):
        tutorial.lessons("## Lesson 1: x\n```console\nstray\n```\n")
