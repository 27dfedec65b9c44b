"""Pod phase and conditions, checked against the kubelet's getPhase / generate.go."""

import pytest

from nspod import phase as ph
from nspod.phase import conditions, container_ready, pod_phase

T0 = "2024-01-02T03:04:05Z"


def run(name="c"):
    return {"name": name, "state": ph.running(T0), "lastState": {}, "ready": True}


def exited(name="c", code=0):
    return {"name": name, "state": ph.terminated(code, started_at=T0, finished_at=T0),
            "lastState": {}, "ready": False}


def creating(name="c"):
    return {"name": name, "state": ph.waiting("ContainerCreating"), "lastState": {},
            "ready": False}


def backing_off(name="c", last_code=1):
    return {"name": name, "state": ph.waiting("CrashLoopBackOff", "back-off 10s"),
            "lastState": ph.terminated(last_code), "ready": False, "restartCount": 1}


# --- pod_phase ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ph.RESTART_POLICIES)
def test_no_statuses_is_pending(policy):
    assert pod_phase(policy, []) == "Pending"


@pytest.mark.parametrize("policy", ph.RESTART_POLICIES)
def test_a_container_not_started_yet_keeps_the_pod_pending(policy):
    assert pod_phase(policy, [run("a"), creating("b")]) == "Pending"


@pytest.mark.parametrize("policy", ph.RESTART_POLICIES)
def test_all_started_one_running_is_running(policy):
    assert pod_phase(policy, [run("a"), exited("b", 1)]) == "Running"
    assert pod_phase(policy, [run("a"), exited("b", 0)]) == "Running"


@pytest.mark.parametrize("codes, always, onfailure, never", [
    ((0, 0), "Running", "Succeeded", "Succeeded"),
    ((0, 1), "Running", "Running", "Failed"),
    ((2, 1), "Running", "Running", "Failed"),
])
def test_all_stopped_follows_the_restart_policy(codes, always, onfailure, never):
    statuses = [exited(f"c{i}", code) for i, code in enumerate(codes)]
    assert pod_phase("Always", statuses) == always
    assert pod_phase("OnFailure", statuses) == onfailure
    assert pod_phase("Never", statuses) == never


def test_waiting_after_a_run_counts_as_stopped_not_waiting():
    # CrashLoopBackOff: waiting, but lastState terminated -> stopped, so not Pending.
    assert pod_phase("Always", [backing_off()]) == "Running"
    assert pod_phase("OnFailure", [backing_off()]) == "Running"
    assert pod_phase("Always", [run("a"), backing_off("b")]) == "Running"


def test_waiting_after_exit_0_is_stopped_but_not_succeeded():
    # The kubelet counts it stopped, never succeeded: OnFailure -> Running.
    assert pod_phase("OnFailure", [backing_off(last_code=0)]) == "Running"
    assert pod_phase("Never", [backing_off(last_code=0)]) == "Failed"


def test_container_status_unknown_counts_as_a_failure():
    # The kubelet turns a lost running container into terminated exitCode 137,
    # reason ContainerStatusUnknown: stopped and failed, not "unknown".
    lost = {"name": "c", "lastState": {}, "state": {"terminated": {
        "exitCode": 137, "reason": "ContainerStatusUnknown"}}}
    assert pod_phase("Never", [lost]) == "Failed"


def test_a_status_without_a_state_is_unknown():
    assert pod_phase("Always", [run("a"), {"name": "b", "state": {}}]) == "Pending"
    assert pod_phase("Never", [exited("a", 0), {"name": "b"}]) == "Pending"


def test_a_spec_container_without_a_status_is_unknown():
    assert pod_phase("Always", [run("a")], containers=["a", "b"]) == "Pending"
    assert pod_phase("Always", [run("a")], containers=["a"]) == "Running"


def test_terminal_phase_never_changes():
    assert pod_phase("Always", [run()], terminal="Succeeded") == "Succeeded"
    assert pod_phase("Always", [run()], terminal="Failed", watchdog_alive=False) == "Failed"
    assert pod_phase("Always", [run()], terminal="Running") == "Running"


def test_dead_watchdog_is_unknown():
    assert pod_phase("Always", [run()], watchdog_alive=False) == "Unknown"


@pytest.mark.parametrize("policy", ph.RESTART_POLICIES)
def test_pod_being_stopped_gets_a_terminal_phase_whatever_the_policy(policy):
    assert pod_phase(policy, [exited("a", 0), exited("b", 0)],
                     pod_is_terminal=True) == "Succeeded"
    assert pod_phase(policy, [exited("a", 0), exited("b", 143)],
                     pod_is_terminal=True) == "Failed"
    assert pod_phase(policy, [run("a"), exited("b", 0)], pod_is_terminal=True) == "Running"


def test_bad_restart_policy():
    with pytest.raises(ValueError, match="restartPolicy"):
        pod_phase("Sometimes", [])


# --- container states ------------------------------------------------------------------

def test_terminated_reasons_and_signals():
    assert ph.terminated(0)["terminated"]["reason"] == "Completed"
    assert ph.terminated(3)["terminated"]["reason"] == "Error"
    killed = ph.terminated(signal=9)["terminated"]
    assert killed["exitCode"] == 137 and killed["signal"] == 9
    assert ph.terminated(signal=9, oom_killed=True)["terminated"]["reason"] == "OOMKilled"
    with pytest.raises(ValueError):
        ph.terminated()


def test_container_ready_iff_running():
    assert container_ready(run())
    assert not container_ready(exited())
    assert not container_ready(backing_off())
    assert not container_ready({"name": "c"})


# --- conditions ----------------------------------------------------------------------------

def by_type(conds):
    return {c["type"]: c for c in conds}


def test_conditions_all_ready():
    conds = conditions("Running", [run("a"), run("b")], now_rfc3339=T0)
    assert [c["type"] for c in conds] == [
        "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    for c in conds:
        assert c["status"] == "True"
        assert c["lastTransitionTime"] == T0
        assert c["lastProbeTime"] is None
        assert "reason" not in c


def test_conditions_not_ready_names_containers_like_the_kubelet():
    conds = by_type(conditions("Running", [run("a"), backing_off("b"), backing_off("c")],
                               containers=["a", "b", "c", "d"], now_rfc3339=T0))
    for kind in ("Ready", "ContainersReady"):
        assert conds[kind]["status"] == "False"
        assert conds[kind]["reason"] == "ContainersNotReady"
        assert conds[kind]["message"] == (
            "containers with unknown status: [d], containers with unready status: [b c]")
    assert conds["Initialized"]["status"] == "True"
    assert conds["PodScheduled"]["status"] == "True"


def test_conditions_completed_and_failed():
    done = by_type(conditions("Succeeded", [exited("a", 0)], now_rfc3339=T0))
    assert done["Ready"]["reason"] == done["ContainersReady"]["reason"] == "PodCompleted"
    assert done["Ready"]["status"] == "False"
    assert done["Initialized"] == {**done["Initialized"], "status": "True",
                                   "reason": "PodCompleted"}
    failed = by_type(conditions("Failed", [exited("a", 1)], now_rfc3339=T0))
    assert failed["Ready"]["reason"] == failed["ContainersReady"]["reason"] == "PodFailed"


def test_conditions_not_initialized_and_unknown():
    conds = by_type(conditions("Pending", [], initialized=False, now_rfc3339=T0))
    assert conds["Initialized"]["status"] == "False"
    assert conds["Initialized"]["reason"] == "ContainersNotInitialized"
    unknown = by_type(conditions("Unknown", [run()], now_rfc3339=T0))
    assert unknown["Ready"]["status"] == "False"


def test_conditions_keep_transition_time_while_status_holds():
    first = conditions("Running", [backing_off()], now_rfc3339=T0)
    later = "2024-01-02T03:10:00Z"
    second = by_type(conditions("Running", [run()], now_rfc3339=later, previous=first))
    assert second["Ready"]["lastTransitionTime"] == later  # False -> True
    assert second["PodScheduled"]["lastTransitionTime"] == T0  # unchanged


def test_conditions_sandbox_ready():
    conds = conditions("Running", [run()], now_rfc3339=T0, sandbox_ready=True)
    assert conds[0]["type"] == "PodReadyToStartContainers"
    assert conds[0]["status"] == "True"


# --- time stamps ---------------------------------------------------------------------------

def test_rfc3339():
    assert ph.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert ph.rfc3339(1475713029.9) == "2016-10-06T00:17:09Z"


def test_rfc3339_nano():
    assert ph.rfc3339_nano(1475713029669794202) == "2016-10-06T00:17:09.669794202Z"
    assert ph.rfc3339_nano(1475713029 * 10**9) == "2016-10-06T00:17:09.000000000Z"
    assert ph.rfc3339_nano(1475713029.5) == "2016-10-06T00:17:09.500000000Z"
    assert ph.rfc3339_nano(0.9999999999) == "1970-01-01T00:00:01.000000000Z"


def test_parse_rfc3339_round_trips():
    assert ph.parse_rfc3339("2016-10-06T00:17:09Z") == 1475713029
    assert ph.parse_rfc3339("2016-10-06T00:17:09.669794202Z") == pytest.approx(
        1475713029.669794, abs=1e-6)
    assert ph.parse_rfc3339("2016-10-06T02:17:09+02:00") == 1475713029
    assert ph.parse_rfc3339(ph.rfc3339(1700000000)) == 1700000000
    with pytest.raises(ValueError):
        ph.parse_rfc3339("yesterday")


def test_terminated_reason_override_and_oom_wins():
    start_error = ph.terminated(128, reason="StartError", message="exec: no such file")["terminated"]
    assert (start_error["exitCode"], start_error["reason"], start_error["message"]) == (128, "StartError", "exec: no such file")
    assert ph.terminated(137, reason="ContainerStatusUnknown", oom_killed=True)["terminated"]["reason"] == "OOMKilled"


def test_new_status_is_container_creating():
    st = ph.new_status("web")
    assert st["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert (st["name"], st["restartCount"], st["ready"], st["started"], st["lastState"]) == ("web", 0, False, False, {})


@pytest.mark.parametrize("phase,states,stopping,shown", [
    ("Running", [{"running": {}}], False, "Running"),
    ("Pending", [{"waiting": {"reason": "ContainerCreating"}}], False, "ContainerCreating"),
    ("Pending", [{"waiting": {"reason": "ImagePullBackOff"}}], False, "ImagePullBackOff"),
    ("Running", [{"running": {}}, {"waiting": {"reason": "CrashLoopBackOff"}}], False, "CrashLoopBackOff"),
    ("Succeeded", [{"terminated": {"reason": "Completed", "exitCode": 0}}], False, "Completed"),
    ("Failed", [{"terminated": {"reason": "OOMKilled", "exitCode": 137}}], False, "OOMKilled"),
    ("Running", [{"terminated": {"reason": "Completed", "exitCode": 0}}, {"running": {}}], False, "Running"),
    ("Failed", [{"terminated": {"exitCode": 2}}], False, "ExitCode:2"),
    ("Failed", [{"terminated": {"exitCode": 137, "signal": 9}}], False, "Signal:9"),
    ("Running", [{"running": {}}], True, "Terminating"),
])
def test_status_column_as_kubectl(phase, states, stopping, shown):
    statuses = [{"state": s, "ready": "running" in s} for s in states]
    assert ph.status_column(phase, statuses, stopping) == shown
