"""The CLI builds only the parser of the verb it runs (argparse's cost at
every command's start); what it parses must not change for that."""
import pytest

from nspod import cli

# One command line per verb (and a nested one), as a user would type them.
LINES = [
    ["run", "pod.yaml", "--backoff-base", "0", "--wait"],
    ["ps", "-l", "app=web", "-o", "wide"],
    ["inspect", "p", "-o", "yaml"],
    ["describe", "p"],
    ["logs", "p", "-c", "c", "-f", "--tail", "3"],
    ["exec", "p", "-c", "c", "-it"],
    ["cp", "p:/a", "b"],
    ["stop", "p", "--timeout", "2"],
    ["wait", "p", "--for", "condition=Ready"],
    ["top", "--containers"],
    ["port-forward", "p", "8080:80"],
    ["start", "p"],
    ["rm", "-f", "p", "q"],
    ["pull", "busybox"],
    ["images"],
    ["rmi", "-f", "busybox"],
    ["image", "prune"],
]


@pytest.mark.parametrize("line", LINES, ids=lambda line: line[0])
def test_a_verbs_own_parser_parses_as_the_whole_one(line):
    full, _ = cli._parser(None)
    assert vars(cli.parser(line[0]).parse_args(line)) == vars(full.parse_args(line))


def test_only_the_verbs_parser_is_made():
    _, sub = cli._parser("ps")
    assert list(sub.sub.choices) == ["ps"]


@pytest.mark.parametrize("first", [None, "-h", "bogus", "--backoff-base"])
def test_no_verb_gets_the_whole_parser(first):
    p = cli.parser(first)
    assert p.parse_args(["run", "x"]).file == "x"
    assert p.parse_args(["image", "prune"]).fn is cli.cmd_image_prune


def test_unknown_verb_lists_the_verbs(capsys):
    assert cli.main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "'run'" in err and "'image'" in err

