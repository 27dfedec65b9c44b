"""On this host cgroup v2 has no cpu/memory controllers (hybrid v1), so a
rootless pod that asks for limits gets a clear error, and --no-limits runs it."""
from podtest import nspod

WITH_LIMITS = """
apiVersion: v1
kind: Pod
metadata: {name: limits}
spec:
  containers:
  - name: app
    command: [sleep, "300"]
    resources: {limits: {memory: 64Mi, cpu: 500m}}
"""


def test_limits_that_cannot_be_applied_are_an_error_naming_the_fix(pods):
    done = pods.run(WITH_LIMITS, check=False)
    assert done.returncode == 1
    assert "memory" in done.stderr and "cpu" in done.stderr
    assert "Delegate=" in done.stderr or "systemd-run" in done.stderr
    assert "--no-limits" in done.stderr
    assert nspod("ps").stdout.strip().splitlines()[1:] == []


def test_no_limits_runs_with_a_warning(pods):
    done = pods.run(WITH_LIMITS, "--no-limits")
    assert "Warning" in done.stderr and "without" in done.stderr
    pod = pods.inspect("limits")
    assert pod["status"]["phase"] == "Running"
    assert pod["nspod"]["containers"][0]["cgroup"]["limits"] == {}
