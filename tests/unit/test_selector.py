"""Label selectors (nspod/selector.py) against Kubernetes' labels.Parse rules."""
import pytest

from nspod.selector import SelectorError, parse

LABELS = {"app": "web", "tier": "front", "env": "prod", "replicas": "3", "example.com/team": "a"}


@pytest.mark.parametrize("text, expected", [
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app = web", True),
    ("app!=db", True),
    ("app!=web", False),
    ("missing!=x", True),             # != also matches a pod without the label
    ("env in (prod,qa)", True),
    ("env in (qa)", False),
    ("missing in (a)", False),
    ("env notin (dev,qa)", True),
    ("env notin (prod)", False),
    ("missing notin (a)", True),      # as does notin
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("replicas>2", True),
    ("replicas<3", False),
    ("app>2", False),                 # not an integer: no match
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("app=web, env in (prod, qa), !missing", True),
    ("example.com/team=a", True),
    ("app=", False),                  # the empty value
])
def test_matches(text, expected):
    assert parse(text).matches(LABELS) is expected


def test_empty_value_matches_an_empty_label():
    assert parse("app=").matches({"app": ""})


@pytest.mark.parametrize("text, fragment", [
    ("", "empty selector"),
    (",", "empty selector"),
    ("app in prod", "takes a list in parentheses"),
    ("app in ()", "at least one value"),
    ("env in (prod", 'a "(" without ")"'),
    ("app)=x", 'a ")" without "("'),
    ("-app=web", "not a valid label key"),
    ("a" * 64 + "=x", "not a valid label key"),
    ("Bad_Prefix!/x=y", "prefix must be a DNS subdomain"),
    ("/x=y", "prefix must be a DNS subdomain"),
    ("app=we b", "not a valid label value"),
    ("app=" + "v" * 64, "not a valid label value"),
    ("replicas>two", "compares with an integer"),
])
def test_bad_selectors(text, fragment):
    with pytest.raises(SelectorError) as e:
        parse(text)
    assert fragment in str(e.value)
