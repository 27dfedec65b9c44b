"""Label selectors (-l) for ps, rm, logs and wait, and ps --show-labels, as kubectl."""
import json

from podtest import nspod


def labelled(name, labels, word):
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "labels": labels},
                       "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                           {"name": "app", "command": ["sh", "-c", f"echo {word}; exec sleep 300"]}]}})


def names(*args):
    out = nspod("ps", "-o", "name", *args).stdout.split()
    return sorted(n.split("/", 1)[1] for n in out)


def test_selectors_pick_pods_for_every_verb(pods):
    pods.run(labelled("sel-web", {"app": "web", "tier": "front"}, "from-web"))
    pods.run(labelled("sel-db", {"app": "db", "tier": "back"}, "from-db"))
    pods.run(labelled("sel-none", {}, "from-none"))

    assert names("-l", "app=web") == ["sel-web"]
    assert names("-l", "app!=web") == ["sel-db", "sel-none"]
    assert names("-l", "app in (web,db),tier") == ["sel-db", "sel-web"]
    assert names("-l", "!app") == ["sel-none"]
    table = nspod("ps", "--show-labels", "-l", "tier").stdout.splitlines()
    assert table[0].split()[-1] == "LABELS"
    assert {line.split()[0]: line.split()[-1] for line in table[1:]} == {
        "sel-web": "app=web,tier=front", "sel-db": "app=db,tier=back"}
    assert "<none>" in nspod("ps", "--show-labels", "-l", "!app").stdout
    # kubectl get pods -o jsonpath over the List, with range/end
    out = nspod("ps", "-l", "tier", "-o", 'jsonpath={range .items[*]}{.metadata.name}:{.metadata.labels.app}{"\\n"}{end}')
    assert sorted(out.stdout.split()) == ["sel-db:db", "sel-web:web"]

    met = sorted(nspod("wait", "-l", "tier", "--for=condition=Ready").stdout.splitlines())
    assert met == ["pod/sel-db condition met", "pod/sel-web condition met"]

    logs = nspod("logs", "-l", "tier", "--prefix").stdout.splitlines()
    assert sorted(logs) == ["[pod/sel-db/app] from-db", "[pod/sel-web/app] from-web"]

    removed = nspod("rm", "-f", "-l", "app=db").stdout.split()
    assert removed == ["sel-db"]
    assert names() == ["sel-none", "sel-web"]


def test_selector_errors(pods):
    pods.run(labelled("sel-one", {"app": "web"}, "x"))
    bad = nspod("ps", "-l", "app in web", check=False)
    assert bad.returncode == 2 and "-l:" in bad.stderr and "parentheses" in bad.stderr
    both = nspod("rm", "-f", "sel-one", "-l", "app=web", check=False)
    assert both.returncode == 2 and "name cannot be provided when a selector is specified" in both.stderr
    # as kubectl: rm and logs select nothing and say so (exit 0); wait fails
    for verb in (("rm", "-f"), ("logs",)):
        none = nspod(*verb, "-l", "app=nothing", check=False)
        assert (none.returncode, none.stdout, none.stderr) == (0, "", "No resources found\n")
    nowait = nspod("wait", "-l", "app=nothing", "--for=condition=Ready", check=False)
    assert nowait.returncode == 1 and nowait.stderr == "Error: no matching resources found (selector app=nothing)\n"
    neither = nspod("logs", check=False)
    assert neither.returncode == 2 and "name one pod, or select pods with -l" in neither.stderr
    assert nspod("rm", check=False).returncode == 2
    unclosed = nspod("ps", "-o", "jsonpath={range .items[*]}{.metadata.name}", check=False)
    assert unclosed.returncode == 2 and "{range} without {end}" in unclosed.stderr
    assert nspod("ps", "-o", "table", check=False).returncode == 2
    assert names() == ["sel-one"]  # nothing was removed by the failed commands
