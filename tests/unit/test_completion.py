"""Shell completion's pure part (nspod/completion.py): the words a command
line may go on with, from the CLI's own parser and a fixed set of names.
Real bash against real pods: tests/integration/test_completion.py."""
import argparse
import os
import subprocess
import sys

import pytest

from nspod import cli, completion, phase
from nspod.api import parse_wait_condition
from nspod.completion import FILES, PODS_AND_FILES, WORDS, complete, split


class Names:
    """The names a state would hold: two pods, their containers, labels, images."""

    def pods(self):
        return ["db", "web"]

    def containers(self, pod):
        return {"web": ["app", "sidecar"], "db": ["postgres"]}.get(pod, [])

    def labels(self):
        return ["app=db", "app=web", "tier=front"]

    def images(self):
        return ["docker.io/library/busybox:1.36", "docker.io/library/busybox:latest"]


def words(line):
    return complete(line, Names())


def verbs(parser=None, path=()):
    """Every verb's parser, nested ones (image prune) too: [(path, parser)]."""
    parser = parser or cli.parser()
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((path + (name,), sub))
                found += verbs(sub, path + (name,))
    return found


def test_every_verb_is_offered():
    top = {path[0] for path, _ in verbs()}
    assert words("nspod ") == (WORDS, "", sorted(top))
    assert "image" in top and "rmi" in top and "completion" in top
    assert words("nspod image ") == (WORDS, "", ["prune"])
    assert words("nspod im") == (WORDS, "im", ["image", "images"])


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in verbs()] + [""])
def test_every_flag_of_every_verb_is_offered(path):
    parser = dict((" ".join(p), s) for p, s in verbs()).get(path) or cli.parser()
    flags = {s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings}  # (hidden: not offered)
    assert "--help" in flags
    kind, cut, offered = words(f"nspod {path} -".replace("  ", " "))
    assert (kind, cut, set(offered)) == (WORDS, "-", flags)
    kind, cut, offered = words(f"nspod {path} --".replace("  ", " "))
    assert set(offered) == {f for f in flags if f.startswith("--")}


def test_top_level_flags_include_version():
    assert words("nspod --v") == (WORDS, "--v", ["--version"])


def test_pods_for_verbs_that_take_a_pod():
    for verb in ("exec", "logs", "describe", "inspect", "stop", "start", "top", "port-forward", "wait", "rm"):
        assert words(f"nspod {verb} ") == (WORDS, "", ["db", "web"]), verb
    assert words("nspod exec w") == (WORDS, "w", ["web"])
    assert words("nspod rm -f web ") == (WORDS, "", ["db"])  # a pod already named is not offered again
    assert words("nspod exec web ") == (WORDS, "", [])       # the command: nothing to offer
    assert words("nspod exec web -- l") == (WORDS, "l", [])


def test_containers_of_the_pod_named():
    assert words("nspod exec web -c ") == (WORDS, "", ["app", "sidecar"])
    assert words("nspod logs -c s") == (WORDS, "s", [])  # no pod yet: no containers
    assert words("nspod logs -f web --container=s") == (WORDS, "s", ["sidecar"])
    assert words("nspod cp web:/etc/hosts ./h -c ") == (WORDS, "", ["app", "sidecar"])
    assert words("nspod logs nope -c ") == (WORDS, "", [])


def test_manifests_are_files():
    assert words("nspod run ") == (FILES, "", [])
    assert words("nspod run --no-limits po") == (FILES, "po", [])
    assert words("nspod run --wait ") == (FILES, "", [])  # --wait's value is optional: --wait=5m
    assert words("nspod run --wait=1m --backoff-base ") == (WORDS, "", [])


def test_cp_ends():
    assert words("nspod cp ") == (PODS_AND_FILES + " NOSPACE", "", ["db:", "web:"])
    assert words("nspod cp w") == (PODS_AND_FILES + " NOSPACE", "w", ["web:"])
    assert words("nspod cp ./") == (FILES, "./", [])
    assert words("nspod cp ~/x") == (FILES, "~/x", [])
    assert words("nspod cp web:/et") == (WORDS, "/et", [])  # inside the pod: not completed
    assert words("nspod cp web:/etc/hosts ") == (PODS_AND_FILES + " NOSPACE", "", ["db:", "web:"])


def test_images_and_colons():
    assert words("nspod rmi ") == (WORDS, "", Names().images())
    # bash replaces what follows the last ":" of the word: the candidates are cut there
    assert words("nspod rmi docker.io/library/busybox:l") == (WORDS, "l", ["latest"])
    assert words("nspod rmi docker.io/library/busybox:l", ) == complete(
        "nspod rmi docker.io/library/busybox:l", Names(), " \t\n\"'><=;|&(:")
    assert complete("nspod rmi docker.io/library/busybox:l", Names(), " \t\n") == (
        WORDS, "docker.io/library/busybox:l", ["docker.io/library/busybox:latest"])


def test_option_values():
    assert words("nspod ps -o ") == (WORDS, "", sorted(cli.PS_OUTPUTS + ("jsonpath=",)))
    assert words("nspod inspect web -o ") == (WORDS, "", sorted(cli.INSPECT_OUTPUTS + ("jsonpath=",)))
    assert words("nspod ps --output=js") == (WORDS, "js", ["json", "jsonpath="])
    assert words("nspod ps --output=jsonp") == (WORDS + " NOSPACE", "jsonp", ["jsonpath="])
    assert words("nspod ps -l ") == (WORDS, "", ["app=db", "app=web", "tier=front"])
    assert words("nspod rm -l app=w") == (WORDS, "w", ["web"])
    assert words("nspod wait web --for=condition=R") == (WORDS, "R", ["Ready"])
    assert words("nspod port-forward web 8080 --address ")[2] == ["0.0.0.0", "127.0.0.1", "::1", "localhost"]
    assert words("nspod completion ") == (WORDS, "", ["bash"])
    assert words("nspod logs web --tail ") == (WORDS, "", [])
    assert words("nspod nosuchverb ") == (WORDS, "", [])


def test_every_wait_condition_offered_is_accepted():
    _, _, offered = complete("nspod wait --for ", Names())
    assert offered
    for value in offered:
        parse_wait_condition(value.rstrip("=") + ("={.status.phase}" if value == "jsonpath=" else ""))
    types = {c["type"] for c in phase.conditions("Running", [])}
    assert set(completion.WAIT_CONDITIONS) == types


@pytest.mark.parametrize("line, expected", [
    ("nspod ps", ["nspod", "ps"]),
    ("nspod ps ", ["nspod", "ps", ""]),
    ("nspod  logs   web", ["nspod", "logs", "web"]),
    ("nspod cp 'a b' \"c", ["nspod", "cp", "a b", "c"]),   # an open quote: the word being typed
    ("nspod cp a\\ b", ["nspod", "cp", "a b"]),
    ("nspod cp ''", ["nspod", "cp", ""]),
    ("", [""]),
])
def test_split(line, expected):
    assert split(line) == expected


def test_assignments_before_the_command_are_skipped():
    assert words("NSPOD_STATE_DIR=/x nspod ins") == (WORDS, "ins", ["inspect"])


def test_names_are_read_only(tmp_path, monkeypatch):
    """No state, no image store: no names, and nothing is made."""
    monkeypatch.setenv("NSPOD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NSPOD_IMAGE_DIR", str(tmp_path / "images"))
    state = completion.State()
    assert (state.pods(), state.containers("web"), state.labels(), state.images()) == ([], [], [], [])
    assert list(tmp_path.iterdir()) == []


def test_main_prints_kind_cut_and_words(capsys):
    assert completion.main(["nspod wait --for=condition=Cont", " ="]) == 0
    assert capsys.readouterr().out == "WORDS\nCont\nContainersReady\n"
    completion.main(["nspod image p", " "])
    assert capsys.readouterr().out == "WORDS\np\nprune\n"


def test_the_cli_does_not_load_completion_unless_asked():
    """No cost when not completing: the CLI's start imports nothing of it."""
    code = ("import sys; from nspod import cli; cli.parser().parse_args(['ps']); "
            "print('nspod.completion' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert out.stdout == "False\n"


def test_completion_verb_prints_the_script(capsys):
    assert cli.main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete -F _nspod nspod" in script and "__complete" in script
    assert cli.main(["completion", "zsh"]) == 2
