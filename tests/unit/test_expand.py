"""Kubernetes $(VAR) expansion in env values, command and args."""

import pytest

from nspod.spec import Container, EnvVar, expand
from nspod.spec.expand import expand_env

ENV = {"NAME": "web", "PORT": "8080", "EMPTY": ""}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("$(NAME)", "web"),
        ("serve --port=$(PORT)", "serve --port=8080"),
        ("$(NAME):$(PORT)", "web:8080"),
        ("$(NAME)$(NAME)", "webweb"),
        ("x$(EMPTY)y", "xy"),
        ("$(UNDEFINED)", "$(UNDEFINED)"),  # undefined: kept as written
        ("a $(UNDEFINED) $(NAME)", "a $(UNDEFINED) web"),
        ("$$", "$"),
        ("$$(NAME)", "$(NAME)"),  # escaped: the literal text
        ("$$$(NAME)", "$web"),
        ("$$$$", "$$"),
        ("$", "$"),  # a lone $ stays
        ("cost: 5$", "cost: 5$"),
        ("$NAME", "$NAME"),  # shell syntax is not Kubernetes syntax
        ("${NAME}", "${NAME}"),
        ("$(NAME", "$(NAME"),  # unterminated
        ("$(NAME $(PORT)", "$(NAME $(PORT)"),  # name runs to the first ")"
        ("$()", "$()"),
        ("", ""),
        ("no references", "no references"),
    ],
)
def test_expand(text, expected):
    assert expand(text, ENV) == expected


def test_values_are_not_expanded_again():
    assert expand("$(A)", {"A": "$(B)", "B": "b"}) == "$(B)"


def test_env_sees_only_earlier_variables():
    env = expand_env([
        EnvVar("HOST", "localhost"),
        EnvVar("URL", "http://$(HOST):$(PORT)/"),  # PORT comes later: kept as written
        EnvVar("PORT", "80"),
        EnvVar("ADDR", "$(HOST):$(PORT)"),
    ])
    assert env == {
        "HOST": "localhost",
        "URL": "http://localhost:$(PORT)/",
        "PORT": "80",
        "ADDR": "localhost:80",
    }
    assert list(env) == ["HOST", "URL", "PORT", "ADDR"]


def test_self_reference_and_redefinition():
    env = expand_env([EnvVar("PATH", "/bin"), EnvVar("PATH", "/opt/bin:$(PATH)"), EnvVar("X", "$(X)")])
    assert env == {"PATH": "/opt/bin:/bin", "X": "$(X)"}


def test_container_argv_uses_expanded_env():
    container = Container(
        name="app",
        command=("sh", "-c"),
        args=("echo $(GREETING) $$(GREETING) $(MISSING)",),
        env=(EnvVar("WHO", "world"), EnvVar("GREETING", "hello $(WHO)")),
    )
    assert container.environment() == {"WHO": "world", "GREETING": "hello world"}
    assert container.argv() == ["sh", "-c", "echo hello world $(GREETING) $(MISSING)"]


def test_argv_without_command_is_args_and_empty_is_empty():
    assert Container(name="a", args=("$(X)",), env=(EnvVar("X", "1"),)).argv() == ["1"]
    assert Container(name="a").argv() == []
