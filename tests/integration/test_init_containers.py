"""Init containers and native sidecars, for real: order through a shared
volume, failures under each restart policy, the sidecar gate and restarts,
termination order, completion with a sidecar, adoption mid-initialization."""
import os
import signal
import time

import pytest

from imagepods import busybox_image, image_dir, registry  # noqa: F401 (fixtures)
from podtest import nspod, wait_for

FAST = ("--backoff-base", "300ms")
# A process that notes, in order, that TERM reached it (a sidecar or app of the stop-order test).
TRAP = "trap 'echo {name} >> /w/order; exit 0' TERM; while true; do sleep 0.05; done"


def pod(name, init, apps, policy="Always", grace=30, volume="emptyDir: {}"):
    """A pod with a volume (an emptyDir) at /w in every container; init and
    apps are YAML flow-style container entries without the volume mount."""
    mount = "volumeMounts: [{name: w, mountPath: /w}]"

    def entries(items):
        return "\n".join(f"      - {{{c}, {mount}}}" for c in items)

    return f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: {name}}}
    spec:
      restartPolicy: {policy}
      terminationGracePeriodSeconds: {grace}
      volumes: [{{name: w, {volume}}}]
      initContainers:
{entries(init)}
      containers:
{entries(apps)}
    """


def sh(name, script, extra=""):
    script = script.replace('"', '\\"')
    return f'name: {name}, command: [sh, -c, "{script}"]' + (f", {extra}" if extra else "")


def ps_row(name):
    for line in nspod("ps").stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0] == name:
            return fields
    raise KeyError(name)


def init_status(pods, name, container):
    for s in pods.inspect(name)["status"].get("initContainerStatuses", []):
        if s["name"] == container:
            return s
    raise KeyError(container)


def condition(pod_object, type_):
    return next(c for c in pod_object["status"]["conditions"] if c["type"] == type_)


def started_order(name):
    """Container names in the order of their Started events (describe lists events in order)."""
    out = nspod("describe", name).stdout
    return [line.rsplit(" ", 1)[1] for line in out.splitlines() if "Started container" in line]


def test_init_containers_run_in_order_before_the_app(pods):
    pods.run(pod("order", [
        sh("one", "sleep 0.5; echo one >> /w/order; echo from-one"),
        sh("two", "echo two >> /w/order; sleep 1.5"),
    ], [
        sh("app", "test \"$(cat /w/order)\" = \"$(printf 'one\\ntwo')\" || exit 7; echo ok > /w/app; exec sleep 300"),
    ]))
    # While `two` runs: Pending, Init:1/2, Initialized false, the app waiting PodInitializing.
    p = wait_for(lambda: (p := pods.inspect("order"))["status"]["initContainerStatuses"][1]["state"].get("running")
                 and p, what="the second init container running")
    assert p["status"]["phase"] == "Pending"
    assert p["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    init = condition(p, "Initialized")
    assert (init["status"], init["reason"]) == ("False", "ContainersNotInitialized")
    assert init["message"] == "containers with incomplete status: [two]"
    assert ps_row("order")[1:3] == ["0/1", "Init:1/2"]
    # Then the app, once both have exited 0; it found their lines in order.
    p = wait_for(lambda: (p := pods.inspect("order"))["status"]["phase"] == "Running" and p, what="Running")
    assert [s["state"]["terminated"]["exitCode"] for s in p["status"]["initContainerStatuses"]] == [0, 0]
    assert condition(p, "Initialized")["status"] == "True"
    assert nspod("exec", "order", "-c", "app", "--", "cat", "/w/app").stdout == "ok\n"
    assert ps_row("order")[1:4] == ["1/1", "Running", "0"]
    assert started_order("order") == ["one", "two", "app"]
    assert nspod("logs", "order", "-c", "one").stdout == "from-one\n"
    assert nspod("logs", "order").stdout == ""  # without -c: the one app container, as kubectl
    described = nspod("describe", "order").stdout
    assert described.index("Init Containers:\n  one:") < described.index("Containers:\n  app:")
    assert "spec.initContainers" not in described  # (events show no object column)


def test_exec_and_logs_in_a_running_init_container(pods):
    pods.run(pod("ex", [sh("setup", "echo hello-from-init; sleep 300")], [sh("app", "sleep 300")]))
    wait_for(lambda: "running" in init_status(pods, "ex", "setup")["state"], what="init running")
    assert nspod("exec", "ex", "-c", "setup", "--", "sh", "-c", "echo x > /w/f; cat /w/f").stdout == "x\n"
    wait_for(lambda: nspod("logs", "ex", "-c", "setup").stdout == "hello-from-init\n", what="init log")
    assert pods.inspect("ex")["status"]["phase"] == "Pending"
    assert nspod("exec", "ex", "-c", "app", "--", "true", check=False).returncode == 1  # not started


@pytest.mark.parametrize("policy", ["Always", "OnFailure"])
def test_failing_init_container_is_retried_with_back_off(pods, policy):
    pods.run(pod("retry", [sh("flaky", "exit 3")], [sh("app", "sleep 300")], policy=policy),
             "--backoff-base", "1s")
    st = wait_for(lambda: (s := init_status(pods, "retry", "flaky"))["state"].get("waiting", {}).get("reason")
                  == "CrashLoopBackOff" and s, timeout=20, what="Init:CrashLoopBackOff")
    assert st["lastState"]["terminated"]["exitCode"] == 3
    assert st["restartCount"] >= 1
    row = ps_row("retry")
    assert row[1:3] == ["0/1", "Init:CrashLoopBackOff"]
    assert int(row[3]) == st["restartCount"] or int(row[3]) == st["restartCount"] + 1
    p = pods.inspect("retry")
    assert p["status"]["phase"] == "Pending"
    assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert "Back-off restarting failed container flaky" in nspod("describe", "retry").stdout


def test_init_container_that_fails_once_then_succeeds(pods):
    pods.run(pod("once", [sh("flaky", "test -f /w/tried && exit 0; touch /w/tried; exit 1")],
                 [sh("app", "sleep 300")], policy="OnFailure"), *FAST)
    p = wait_for(lambda: (p := pods.inspect("once"))["status"]["phase"] == "Running" and p, what="Running")
    st = p["status"]["initContainerStatuses"][0]
    assert st["restartCount"] == 1
    assert st["lastState"]["terminated"]["exitCode"] == 1
    assert st["state"]["terminated"]["exitCode"] == 0
    assert nspod("logs", "once", "-c", "flaky", "--previous").returncode == 0
    assert ps_row("once")[1:4] == ["1/1", "Running", "0"]  # only app (and sidecar) restarts count now


def test_failing_init_container_fails_a_never_pod(pods):
    pods.run(pod("never", [sh("ok", "true"), sh("bad", "echo broken; exit 4"), sh("later", "true")],
                 [sh("app", "sleep 300")], policy="Never"))
    p = wait_for(lambda: (p := pods.inspect("never"))["status"]["phase"] == "Failed" and p, what="Failed")
    first, bad, later = p["status"]["initContainerStatuses"]
    assert first["state"]["terminated"]["exitCode"] == 0
    assert bad["state"]["terminated"]["exitCode"] == 4 and bad["restartCount"] == 0
    assert later["state"] == {"waiting": {"reason": "PodInitializing"}}  # never started
    assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert ps_row("never")[1:3] == ["0/1", "Init:Error"]
    assert p["nspod"]["pause"]["pid"] is None  # the sandbox is gone, as for any terminal pod
    assert nspod("logs", "never", "-c", "bad").stdout == "broken\n"


def test_sidecar_starts_before_the_next_init_container_and_the_app(pods):
    pods.run(pod("side", [
        sh("first", "echo first >> /w/order"),
        sh("proxy", "echo proxy >> /w/order; exec sleep 300", "restartPolicy: Always"),
        sh("second", "echo second >> /w/order"),
    ], [sh("app", "exec sleep 300")]))
    p = wait_for(lambda: (p := pods.inspect("side"))["status"]["phase"] == "Running" and p, what="Running")
    assert started_order("side") == ["first", "proxy", "second", "app"]
    proxy = p["status"]["initContainerStatuses"][1]
    assert "running" in proxy["state"] and proxy["started"] is True and proxy["ready"] is True
    assert p["spec"]["initContainers"][1]["restartPolicy"] == "Always"
    assert ps_row("side")[1:3] == ["2/2", "Running"]  # a sidecar counts in READY, as kubectl counts it
    assert "    Restart Policy: Always\n" in nspod("describe", "side").stdout  # the sidecar's own


def test_sidecar_that_crashes_restarts_without_restarting_the_app(pods):
    pods.run(pod("crashy", [sh("helper", "sleep 0.3; exit 1", "restartPolicy: Always")],
                 [sh("app", "exec sleep 300")], policy="Never"), *FAST)
    wait_for(lambda: pods.status("crashy", "app")["state"].get("running"), what="app running")
    app_pid = next(c["pid"] for c in pods.inspect("crashy")["nspod"]["containers"] if c["name"] == "app")
    st = wait_for(lambda: (s := init_status(pods, "crashy", "helper"))["restartCount"] >= 2 and s, timeout=20,
                  what="two sidecar restarts (even in a Never pod)")
    assert st["lastState"]["terminated"]["exitCode"] == 1
    p = pods.inspect("crashy")
    app = p["status"]["containerStatuses"][0]
    assert app["restartCount"] == 0 and "running" in app["state"]
    assert next(c["pid"] for c in p["nspod"]["containers"] if c["name"] == "app") == app_pid
    assert p["status"]["phase"] == "Running"
    assert condition(p, "Initialized")["status"] == "True"  # a sidecar restarting later does not undo it
    assert int(ps_row("crashy")[3]) >= 2  # sidecar restarts count in RESTARTS


def test_sidecars_stop_after_the_app_in_reverse_order(pods, tmp_path):
    times = tmp_path / "times"
    times.mkdir()
    pods.run(pod("stoporder", [
        sh("s1", TRAP.format(name="s1"), "restartPolicy: Always"),
        sh("s2", TRAP.format(name="s2"), "restartPolicy: Always"),
    ], [sh("app", "trap 'sleep 0.3; echo app >> /w/order; exit 0' TERM; while true; do sleep 0.05; done")],
        volume=f"hostPath: {{path: {times}, type: Directory}}"))
    wait_for(lambda: pods.inspect("stoporder")["status"]["phase"] == "Running", what="Running")
    nspod("stop", "stoporder")
    # TERM reached each after the one before had exited (appends keep the order, unlike a clock)
    assert (times / "order").read_text().split() == ["app", "s2", "s1"]
    p = pods.inspect("stoporder")
    ends = {s["name"]: s["state"]["terminated"] for s in p["status"]["initContainerStatuses"]}
    assert ends["s1"]["exitCode"] == 0 and ends["s2"]["exitCode"] == 0  # their traps ran: TERM, not KILL
    kills = [line.rsplit(" ", 1)[1] for line in nspod("describe", "stoporder").stdout.splitlines()
             if "Stopping container" in line]
    assert kills == ["app", "s2", "s1"]


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
def test_pod_with_a_sidecar_completes(pods, policy):
    pods.run(pod("done", [sh("logger", "trap 'exit 0' TERM; while true; do sleep 0.05; done",
                             "restartPolicy: Always")],
                 [sh("job", "sleep 0.5; echo finished")], policy=policy))
    p = wait_for(lambda: (p := pods.inspect("done"))["status"]["phase"] == "Succeeded" and p, timeout=15,
                 what="Succeeded")
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    side = p["status"]["initContainerStatuses"][0]
    assert "terminated" in side["state"] and side["restartCount"] == 0  # stopped, not restarted
    assert p["nspod"]["pause"]["pid"] is None
    assert ps_row("done")[2] == "Completed"
    assert condition(p, "Initialized")["reason"] == "PodCompleted"


def test_adopted_pod_resumes_its_initialization(pods):
    pods.run(pod("adopt", [sh("slow", "sleep 1.5"), sh("after", "echo after >> /w/order")],
                 [sh("app", "exec sleep 300")]), *FAST)
    wait_for(lambda: "running" in init_status(pods, "adopt", "slow")["state"], what="slow running")
    os.kill(pods.inspect("adopt")["nspod"]["watchdog"]["pid"], signal.SIGKILL)
    wait_for(lambda: pods.inspect("adopt")["status"]["phase"] == "Unknown", what="Unknown")
    # `slow` exits while nobody supervises: the node holder, its parent now,
    # keeps its exit status and starts a supervisor, which adopts the pod.
    p = wait_for(lambda: (p := pods.inspect("adopt"))["status"]["phase"] == "Running" and p, timeout=20,
                 what="Running after adoption")
    slow, after = p["status"]["initContainerStatuses"]
    assert slow["restartCount"] == 0 and slow["state"]["terminated"]["exitCode"] == 0  # done, not run again
    assert slow["state"]["terminated"]["reason"] == "Completed"
    assert after["restartCount"] == 0 and after["state"]["terminated"]["exitCode"] == 0
    assert nspod("exec", "adopt", "--", "cat", "/w/order").stdout == "after\n"  # `after` ran once
    # Adopted again once initialized: nothing of the init runs again, the app is the same process.
    app_pid = next(c["pid"] for c in p["nspod"]["containers"] if c["name"] == "app")
    os.kill(p["nspod"]["watchdog"]["pid"], signal.SIGKILL)
    wait_for(lambda: pods.inspect("adopt")["status"]["phase"] == "Unknown", what="Unknown")
    nspod("start", "adopt")
    p = pods.inspect("adopt")
    assert p["status"]["phase"] == "Running"
    assert [s["restartCount"] for s in p["status"]["initContainerStatuses"]] == [0, 0]
    assert next(c["pid"] for c in p["nspod"]["containers"] if c["name"] == "app") == app_pid
    time.sleep(0.5)
    assert nspod("exec", "adopt", "--", "cat", "/w/order").stdout == "after\n"


def test_a_new_sandbox_runs_the_init_containers_again(pods):
    pods.run(pod("resandbox", [sh("one", "echo one >> /w/order")],
                 [sh("app", "echo app >> /w/order; exec sleep 300")]), *FAST)
    before = wait_for(lambda: (p := pods.inspect("resandbox"))["status"]["phase"] == "Running" and p, what="Running")
    os.kill(before["nspod"]["pause"]["pid"], signal.SIGKILL)
    after = wait_for(lambda: (p := pods.inspect("resandbox"))["status"]["containerStatuses"][0]["restartCount"] == 1
                     and "running" in p["status"]["containerStatuses"][0]["state"] and p, timeout=15,
                     what="the app restarted in a new sandbox")
    assert after["nspod"]["pause"]["pid"] not in (None, before["nspod"]["pause"]["pid"])
    one = after["status"]["initContainerStatuses"][0]
    assert one["restartCount"] == 1 and one["state"]["terminated"]["exitCode"] == 0  # run again, counted
    # The emptyDir outlives the sandbox: the init container ran again before the app did.
    assert nspod("exec", "resandbox", "--", "cat", "/w/order").stdout == "one\napp\none\napp\n"
    assert nspod("logs", "resandbox", "-c", "one", "--previous").returncode == 0


def test_init_container_runs_its_image(pods, registry, image_dir):
    registry.push("test/busybox", "v1", busybox_image())
    ref = f"{registry.netloc}/test/busybox:v1"
    pods.run(pod("imginit", [f'name: fetch, image: "{ref}", command: [/bin/sh, -c, "cp /etc/image-file /w/"]'],
                 [sh("app", "exec sleep 300")]))
    p = wait_for(lambda: (p := pods.inspect("imginit"))["status"]["phase"] == "Running" and p, what="Running")
    fetch = p["status"]["initContainerStatuses"][0]
    assert fetch["imageID"].startswith(f"{registry.netloc}/test/busybox@sha256:")
    assert fetch["state"]["terminated"]["exitCode"] == 0
    assert nspod("exec", "imginit", "--", "cat", "/w/image-file").stdout == "from the image\n"
    from nspod import api

    pulled = [e for e in api.events("imginit") if e["reason"] == "Pulling"]
    assert [e["object"] for e in pulled] == ["spec.initContainers{fetch}"]
