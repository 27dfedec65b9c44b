"""`nspod logs -f -l`: every selected pod followed at once, as kubectl logs -f -l
(the last 10 lines of each, --prefix, --max-log-requests). As an unprivileged user."""
import json
import signal
import subprocess
import time

from podtest import NSPOD, nspod, wait_for


def ticker(name, late_after, forever=False):
    """Twelve lines at once, then after `late_after` s three more, then exit (or sleep)."""
    script = (f"for i in $(seq 1 12); do echo {name}-$i; done; sleep {late_after}; "
              f"for i in 1 2 3; do echo {name}-late-$i; sleep 0.2; done; "
              + ("exec sleep 300" if forever else "exit 0"))
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "labels": {"app": "tick"}},
                       "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "containers": [
                           {"name": "app", "command": ["sh", "-c", script]}]}})


def test_follow_every_selected_pod_at_once(pods):
    names = ["tick-a", "tick-b", "tick-c"]
    for name in names:
        pods.run(ticker(name, late_after=4))
    nspod("wait", "-l", "app=tick", "--for=condition=Ready")
    started = time.monotonic()
    follow = subprocess.Popen(NSPOD + ["logs", "-f", "-l", "app=tick", "--prefix"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in follow.stdout:
        lines.append((time.monotonic() - started, line.rstrip("\n")))
    assert follow.wait(timeout=30) == 0, follow.stderr.read()
    assert follow.stderr.read() == ""
    for name in names:  # the last 10 lines of each (kubectl's default with -l), then what came later, in order
        own = [text.split(" ", 1)[1] for _, text in lines if text.startswith(f"[pod/{name}/app] ")]
        assert own == [f"{name}-{i}" for i in range(3, 13)] + [f"{name}-late-{i}" for i in (1, 2, 3)]
    assert len(lines) == 3 * 13
    # All at once: every pod's first lines came before any pod's late ones (one after another,
    # the second pod's would wait for the first pod's end).
    early = [t for t, text in lines if "late" not in text]
    late = [t for t, text in lines if "late" in text]
    assert max(early) < min(late)


def test_follow_limits_and_errors(pods):
    for name in ("lim-a", "lim-b", "lim-c"):
        pods.run(ticker(name, late_after=0, forever=True))
    nspod("wait", "-l", "app=tick", "--for=condition=Ready")
    over = nspod("logs", "-f", "-l", "app=tick", "--max-log-requests", "2", check=False)
    assert (over.returncode, over.stdout) == (1, "")
    assert over.stderr == ("Error: you are attempting to follow 3 log streams, but maximum allowed concurrency "
                           "is 2, use --max-log-requests to increase the limit\n")
    bad_tail = nspod("logs", "-l", "app=tick", "--tail", "-2", check=False)
    assert (bad_tail.returncode, bad_tail.stderr) == (2, "Error: --tail must be greater than or equal to -1\n")
    last = ["lim-a-late-3", "lim-b-late-3", "lim-c-late-3"]
    wait_for(lambda: nspod("logs", "-l", "app=tick", "--tail", "1").stdout.splitlines() == last,
             what="the last line of every pod")
    assert nspod("logs", "-l", "app=tick", "--tail", "-1").stdout.count("\n") == 3 * 15
    assert nspod("logs", "-l", "app=tick").stdout.count("\n") == 3 * 10
    missing = nspod("logs", "-f", "-l", "app=tick", "-c", "nope", check=False)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == 'Error: container "nope" not found in pod "lim-a"\n'

    # Ctrl-C ends every follower at once
    follow = subprocess.Popen(NSPOD + ["logs", "-f", "-l", "app=tick"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    seen = [follow.stdout.readline() for _ in range(30)]
    assert all(seen)
    follow.send_signal(signal.SIGINT)
    assert follow.wait(timeout=10) == 130


def test_follow_ends_when_a_followed_pod_is_removed(pods):
    for name in ("gone-a", "gone-b"):
        pods.run(ticker(name, late_after=0, forever=True))
    nspod("wait", "-l", "app=tick", "--for=condition=Ready")
    follow = subprocess.Popen(NSPOD + ["logs", "-f", "-l", "app=tick", "--prefix"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert all(follow.stdout.readline() for _ in range(2 * 10))
    nspod("rm", "-f", "gone-a")
    nspod("rm", "-f", "gone-b")
    assert follow.wait(timeout=20) == 0
    assert follow.stderr.read() == ""


def test_logs_of_a_container_waiting_to_start(pods):
    """As the kubelet answers kubectl: one line, exit 1, for -f too."""
    pods.run(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "initing", "labels": {"app": "init"}},
                         "spec": {"terminationGracePeriodSeconds": 0,
                                  "initContainers": [{"name": "setup", "command": ["sleep", "300"]}],
                                  "containers": [{"name": "app", "command": ["sleep", "300"]}]}}))
    for args in (["initing"], ["initing", "-f"], ["-l", "app=init"], ["-f", "-l", "app=init"]):
        done = nspod("logs", *args, check=False)
        assert (done.returncode, done.stdout) == (1, ""), args
        assert done.stderr == ('Defaulted container "app" out of: app, setup (init)\n'  # (as kubectl says, first)
                               'Error: container "app" in pod "initing" is waiting to start: PodInitializing\n'), args
    assert nspod("logs", "initing", "-c", "setup").stdout == ""
