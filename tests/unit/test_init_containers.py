"""Init containers and sidecars, the pure parts: the manifest, the kubelet's
init sequencing (computeInitContainerActions), getPhase and the Initialized
condition with init containers, kubectl's printPod columns, the termination
order of sidecars, and the pod's effective resources."""
import textwrap

import pytest

from nspod import initcontainers as ic
from nspod import phase as ph
from nspod.cgroups.translate import pod_container_resources, pod_files
from nspod.spec import load_pods
from nspod.spec.model import Resources

T0 = "2024-01-02T03:04:05Z"

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: %s
  initContainers:
  - {name: a, command: ["true"]}
  - {name: side, command: [sleep, "9"], restartPolicy: Always}
  - {name: b, command: ["true"]}
  containers:
  - {name: app, command: [sleep, "9"]}
"""


def load(policy="Always"):
    return load_pods(textwrap.dedent(MANIFEST % policy), "p.yaml")[0][0]


def initial(name):
    return {"name": name, "state": ph.waiting("PodInitializing"), "lastState": {}, "ready": False,
            "restartCount": 0, "started": False}


def running(name, started=True):
    return {"name": name, "state": ph.running(T0), "lastState": {}, "ready": started, "restartCount": 0,
            "started": started}


def exited(name, code=0, restarts=0):
    return {"name": name, "state": ph.terminated(code, started_at=T0, finished_at=T0), "lastState": {},
            "ready": False, "restartCount": restarts, "started": False}


def backing_off(name, code=1, restarts=1):
    return {"name": name, "state": ph.waiting("CrashLoopBackOff", "back-off 10s"),
            "lastState": ph.terminated(code), "ready": False, "restartCount": restarts, "started": False}


def statuses(**given):
    out = {n: initial(n) for n in ("a", "side", "b", "app")}
    out.update(given)
    return out


# --- the manifest ------------------------------------------------------------------------

def test_init_containers_parse_in_order_with_sidecars():
    pod = load()
    assert [c.name for c in pod.init_containers] == ["a", "side", "b"]
    assert [c.name for c in pod.all_containers()] == ["a", "side", "b", "app"]
    assert [c.name for c in pod.sidecars()] == ["side"]
    assert pod.container("side").restart_policy == "Always" and pod.container("a").restart_policy is None
    assert pod.is_init("b") and not pod.is_init("app")
    assert [c["name"] for c in pod.manifest["spec"]["initContainers"]] == ["a", "side", "b"]
    assert pod.manifest["spec"]["initContainers"][1]["restartPolicy"] == "Always"
    assert "restartPolicy" not in pod.manifest["spec"]["initContainers"][0]


def test_restart_policy_of_each_kind():
    for policy, plain in (("Always", "OnFailure"), ("OnFailure", "OnFailure"), ("Never", "Never")):
        pod = load(policy)
        assert ic.restart_policy(pod, pod.container("a")) == plain
        assert ic.restart_policy(pod, pod.container("side")) == "Always"
        assert ic.restart_policy(pod, pod.container("app")) == policy


# --- sequencing --------------------------------------------------------------------------

def test_first_init_container_starts_first():
    assert ic.next_step(load(), statuses(), set()) == ic.Step(start=("a",))


def test_next_waits_until_the_one_before_exited_zero():
    pod = load()
    assert ic.next_step(pod, statuses(a=running("a")), {"a"}).start == ()
    assert ic.next_step(pod, statuses(a=exited("a", 0)), {"a"}).start == ("side",)
    assert ic.next_step(pod, statuses(a=backing_off("a")), {"a"}).start == ()  # its restart is pending


def test_next_waits_until_the_sidecar_has_started():
    pod = load()
    done = {"a": exited("a", 0)}
    # Running but not started (a startup probe has not passed yet): wait.
    step = ic.next_step(pod, statuses(**done, side=running("side", started=False)), {"a", "side"})
    assert step.start == () and step.waiting_for == ("side",)
    assert ic.next_step(pod, statuses(**done, side=running("side")), {"a", "side"}).start == ("b",)


def test_initialized_once_the_last_is_done():
    pod = load()
    s = statuses(a=exited("a"), side=running("side"), b=exited("b"))
    assert ic.next_step(pod, s, {"a", "side", "b"}) == ic.Step(initialized=True)
    # A sidecar restarting later does not hold back a step already taken.
    s["side"] = backing_off("side")
    assert ic.next_step(pod, s, {"a", "side", "b"}) == ic.Step(initialized=True)


def test_a_failed_plain_init_container_fails_only_a_never_pod():
    s = statuses(a=exited("a", 2))
    assert ic.next_step(load("Never"), s, {"a"}).failed
    assert not ic.next_step(load("OnFailure"), s, {"a"}).failed
    assert not ic.next_step(load("Always"), statuses(a=backing_off("a")), {"a"}).failed


def test_a_pod_without_init_containers_is_initialized():
    pod = load_pods("apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers: [{name: c, command: [x]}]\n",
                    "q.yaml")[0][0]
    assert ic.next_step(pod, {"c": initial("c")}, set()).initialized


def test_apps_completed():
    pod = load("Never")
    assert ic.apps_completed(pod, statuses(app=exited("app", 0)), busy={"side"})
    assert not ic.apps_completed(pod, statuses(app=running("app")), busy={"app"})
    assert not ic.apps_completed(pod, statuses(app=exited("app", 1)), busy={"app"})  # a restart pending


def test_sidecars_stop_after_the_rest_in_reverse_order():
    pod = load_pods(textwrap.dedent("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          initContainers:
          - {name: s1, command: [x], restartPolicy: Always}
          - {name: s2, command: [x], restartPolicy: Always}
          containers: [{name: app, command: [x]}]
        """), "p.yaml")[0][0]
    assert ic.sidecar_to_stop(pod, {"s1", "s2", "app"}, set()) is None
    assert ic.sidecar_to_stop(pod, {"s1", "s2"}, set()) == "s2"
    assert ic.sidecar_to_stop(pod, {"s1", "s2"}, {"s2"}) is None  # s1 waits for s2 to exit
    assert ic.sidecar_to_stop(pod, {"s1"}, {"s2"}) == "s1"
    assert ic.sidecar_to_stop(pod, set(), {"s1", "s2"}) is None


# --- phase -------------------------------------------------------------------------------

def init_list(**given):
    s = statuses(**given)
    return [(s["a"], False), (s["side"], True), (s["b"], False)], [s["app"]]


@pytest.mark.parametrize("given, policy, initialized, expected", [
    ({}, "Always", False, "Pending"),
    ({"a": running("a")}, "Always", False, "Pending"),
    ({"a": exited("a", 3)}, "Never", False, "Failed"),
    ({"a": backing_off("a", 3)}, "Never", False, "Failed"),
    ({"a": backing_off("a", 3)}, "OnFailure", False, "Pending"),
    ({"a": exited("a"), "side": running("side", started=False)}, "Always", False, "Pending"),
    ({"a": exited("a"), "side": running("side"), "b": exited("b"), "app": running("app")}, "Always", True, "Running"),
    # A sidecar not started again after a restart does not make an initialized pod Pending.
    ({"a": exited("a"), "side": running("side", started=False), "b": exited("b"), "app": running("app")},
     "Always", True, "Running"),
    # Apps done: an ended sidecar is left out, a running one keeps the pod Running.
    ({"a": exited("a"), "side": exited("side", 143), "b": exited("b"), "app": exited("app", 0)},
     "Never", True, "Succeeded"),
    ({"a": exited("a"), "side": running("side"), "b": exited("b"), "app": exited("app", 0)},
     "Never", True, "Running"),
    ({"a": exited("a"), "side": exited("side", 137), "b": exited("b"), "app": exited("app", 1)},
     "Never", True, "Failed"),
])
def test_pod_phase_with_init_containers(given, policy, initialized, expected):
    init, apps = init_list(**given)
    assert ph.pod_phase(policy, apps, init=init, initialized=initialized) == expected


def test_initialized_condition():
    init, apps = init_list(a=exited("a"), side=running("side", started=False))
    cond = ph.conditions("Pending", apps, now_rfc3339=T0, init=init)[0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Initialized", "False", "ContainersNotInitialized")
    assert cond["message"] == "containers with incomplete status: [side b]"
    init, apps = init_list(a=exited("a"), side=running("side"), b=exited("b"))
    assert ph.conditions("Pending", apps, now_rfc3339=T0, init=init)[0]["status"] == "True"
    # Once an app container ran, a sidecar restarting does not undo it.
    init, apps = init_list(a=exited("a"), side=backing_off("side"), b=exited("b"), app=running("app"))
    conds = {c["type"]: c for c in ph.conditions("Running", apps, now_rfc3339=T0, init=init)}
    assert conds["Initialized"]["status"] == "True"
    # The sidecar counts for ContainersReady, before the app containers.
    assert conds["ContainersReady"]["message"] == "containers with unready status: [side]"
    init, apps = init_list(a=exited("a"), side=exited("side", 143), b=exited("b"), app=exited("app"))
    assert ph.conditions("Succeeded", apps, now_rfc3339=T0, init=init)[0]["reason"] == "PodCompleted"


# --- kubectl's printPod ------------------------------------------------------------------

@pytest.mark.parametrize("given, phase, expected", [
    ({}, "Pending", ("Init:0/3", 0, 2, 0)),
    ({"a": exited("a"), "side": running("side", started=False)}, "Pending", ("Init:1/3", 0, 2, 0)),
    ({"a": exited("a"), "side": running("side")}, "Pending", ("Init:2/3", 1, 2, 0)),
    ({"a": backing_off("a", restarts=4)}, "Pending", ("Init:CrashLoopBackOff", 0, 2, 4)),
    ({"a": exited("a", 3)}, "Failed", ("Init:Error", 0, 2, 0)),
    ({"a": {**exited("a", 3), "state": {"terminated": {"exitCode": 3}}}}, "Failed", ("Init:ExitCode:3", 0, 2, 0)),
    ({"a": {**exited("a"), "state": {"terminated": {"exitCode": 137, "signal": 9}}}}, "Failed",
     ("Init:Signal:9", 0, 2, 0)),
    ({"a": exited("a"), "side": running("side"), "b": exited("b")}, "Pending", ("PodInitializing", 1, 2, 0)),
    ({"a": exited("a", restarts=2), "side": {**running("side"), "restartCount": 1}, "b": exited("b"),
      "app": running("app")}, "Running", ("Running", 2, 2, 1)),
    ({"a": exited("a"), "side": exited("side", 143), "b": exited("b"), "app": exited("app")}, "Succeeded",
     ("Completed", 0, 2, 0)),
])
def test_print_pod_columns(given, phase, expected):
    init, apps = init_list(**given)
    initialized = ph.conditions(phase, apps, now_rfc3339=T0, init=init)[0]["status"] == "True"
    assert ph.print_pod(phase, apps, init=init, initialized_condition=initialized) == expected


def test_new_status_waits_in_pod_initializing_with_init_containers():
    assert ph.new_status("x", True)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert ph.new_status("x")["state"] == {"waiting": {"reason": "ContainerCreating"}}


# --- effective resources -----------------------------------------------------------------

def res(cpu=None, memory=None):
    limits = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return Resources(limits=limits, requests=dict(limits))


def test_without_init_containers_the_app_list_is_kept():
    apps = [res(100, 10), res(200, 20)]
    assert pod_container_resources(apps) == apps


def test_the_larger_of_the_init_containers_and_the_app_containers():
    # Kubernetes' example: apps 100m + 200m; an init container of 500m wins.
    (eff,) = pod_container_resources([res(100, 10), res(200, 20)], [(res(500, 5), False), (res(50, 50), False)])
    assert eff.limits == {"cpu": 500, "memory": 50}
    assert eff.requests == {"cpu": 500, "memory": 50}


def test_sidecars_add_to_the_apps_and_to_the_init_containers_after_them():
    apps = [res(100, 100)]
    init = [(res(300, 10), False), (res(50, 50), True), (res(280, 10), False)]
    (eff,) = pod_container_resources(apps, init)
    # apps + sidecar = 150m; first init 300m; after the sidecar: 280 + 50 = 330m.
    assert eff.limits["cpu"] == 330
    assert eff.limits["memory"] == 150  # 100 + 50 beats 10, 60


def test_a_limit_counts_only_if_every_container_declares_it():
    (eff,) = pod_container_resources([res(100, 10)], [(res(None, 5), False)])
    assert "cpu" not in eff.limits and eff.limits["memory"] == 10
    assert eff.requests["cpu"] == 100
    files = pod_files(None, container_resources=[eff])
    assert files["cpu.max"].startswith("max")
    assert files["memory.max"] == "10"
