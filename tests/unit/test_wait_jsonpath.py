"""kubectl's JSONPath subset and wait's --for conditions (pure)."""
import pytest

from nspod.api import parse_wait_condition
from nspod.errors import BadInput
from nspod.jsonpath import JSONPathError, find, parse

POD = {
    "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "shop"}},
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 2},
                              {"name": "side", "ready": False, "restartCount": 0}],
    },
}


@pytest.mark.parametrize("path,found", [
    ("{.status.phase}", ["Running"]),
    ("{$.status.phase}", ["Running"]),
    ("{.status.containerStatuses[0].name}", ["app"]),
    ("{.status.containerStatuses[-1].name}", ["side"]),
    ("{.status.containerStatuses[*].name}", ["app", "side"]),
    ('{.status.containerStatuses[?(@.name=="side")].ready}', [False]),
    ("{.status.conditions[?(@.type=='Ready')].status}", ["True"]),
    ("{.status.containerStatuses[?(@.restartCount==2)].name}", ["app"]),
    (r"{.metadata.labels.app\.kubernetes\.io/name}", ["shop"]),
    ("{.metadata.labels['app.kubernetes.io/name']}", ["shop"]),
    ("{.status.nothing}", []),
    ("{.status.containerStatuses[5].name}", []),
])
def test_find(path, found):
    assert find(POD, path) == found


@pytest.mark.parametrize("path", ["status.phase", "{.status[}", "{.a[1:2]}", "{.a..b}", "{status}"])
def test_bad_paths(path):
    with pytest.raises(JSONPathError):
        parse(path)


@pytest.mark.parametrize("text,parsed", [
    ("delete", ("delete",)),
    ("create", ("create",)),
    ("condition=Ready", ("condition", "Ready", "True")),
    ("condition=Ready=false", ("condition", "Ready", "false")),
    ("jsonpath={.status.phase}=Running", ("jsonpath", "{.status.phase}", "Running")),
    ("jsonpath={.status.podIP}", ("jsonpath", "{.status.podIP}", None)),
    ("jsonpath={.metadata.labels.a=b}=x", ("jsonpath", "{.metadata.labels.a=b}", "x")),
])
def test_wait_conditions(text, parsed):
    assert parse_wait_condition(text) == parsed


@pytest.mark.parametrize("text", ["ready", "condition=", "condition==true", "jsonpath=status.phase=Running",
                                  "delete=1", "jsonpath="])
def test_bad_wait_conditions(text):
    with pytest.raises(BadInput):
        parse_wait_condition(text)


def test_render_as_kubectl_prints():
    from nspod.jsonpath import render

    assert render(POD, "{.status.phase}") == "Running"
    assert render(POD, "{.status.containerStatuses[*].name}") == "app side"
    assert render(POD, 'phase={.status.phase}{"\\n"}') == "phase=Running\n"
    assert render(POD, "{.status.containerStatuses[1].ready}") == "false"
    assert render(POD, "{range .status.conditions[*]}{.type} {end}").split() == [
        c["type"] for c in POD["status"]["conditions"]]


LIST = {"items": [{"metadata": {"name": "a"}, "status": {"phase": "Running", "podIP": "10.88.0.2"}},
                  {"metadata": {"name": "b"}, "status": {"phase": "Failed"}}]}


@pytest.mark.parametrize("template, expected", [
    ('{range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}', "a=Running\nb=Failed\n"),
    ("{range .items[*]}[{@.metadata.name}]{end}", "[a][b]"),
    ("{range .items[*]}{.status.podIP}, {end}", "10.88.0.2, , "),  # a missing field prints nothing
    ("{.items[*].metadata.name}", "a b"),
    ("names: {range .items[*]}{range .metadata}{.name}{end};{end}", "names: a;b;"),  # nested
    ("{range .nothing[*]}x{end}", ""),
])
def test_render_range(template, expected):
    from nspod.jsonpath import render

    assert render(LIST, template) == expected


@pytest.mark.parametrize("template, fragment", [
    ("{range .items[*]}x", "{range} without {end}"),
    ("x{end}", "{end} without {range}"),
    ("{range .items[}{end}", "unclosed ["),
    ("{.a", "unclosed {"),
])
def test_bad_templates(template, fragment):
    from nspod.jsonpath import compile_template

    with pytest.raises(JSONPathError) as e:
        compile_template(template)
    assert fragment in str(e.value)
