"""Init containers and sidecars as root: the same code path minus the user
namespace (order, a Never pod's failure, a sidecar's gate, restarts and
termination order, completion with a sidecar)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from podtest import wait_for  # noqa: E402
from test_init_containers import (  # noqa: E402,F401  (collected here too, run as root)
    test_failing_init_container_fails_a_never_pod,
    test_init_containers_run_in_order_before_the_app,
    test_pod_with_a_sidecar_completes,
    test_sidecar_starts_before_the_next_init_container_and_the_app,
    test_sidecar_that_crashes_restarts_without_restarting_the_app,
    test_sidecars_stop_after_the_app_in_reverse_order,
)


def test_pod_cgroup_gets_the_effective_amounts_with_init_containers(pods):
    """Kubernetes' rule on a real pod cgroup (v1 here): the larger of the init
    container (96Mi) and the app containers plus the sidecar (32 + 16Mi)."""
    pods.run("""
    apiVersion: v1
    kind: Pod
    metadata: {name: effective}
    spec:
      initContainers:
      - {name: prep, command: ["true"], resources: {limits: {memory: 96Mi, cpu: 100m}}}
      - {name: side, command: [sleep, "300"], restartPolicy: Always,
         resources: {limits: {memory: 16Mi, cpu: 300m}}}
      containers:
      - {name: app, command: [sleep, "300"], resources: {limits: {memory: 32Mi, cpu: 400m}}}
    """)
    pod = wait_for(lambda: (p := pods.inspect("effective"))["status"]["phase"] == "Running" and p, what="Running")
    limits = pod["nspod"]["cgroup"]["limits"]
    assert limits["memory.limit_in_bytes"] == str(96 * 1024 * 1024)  # the init container's, larger
    assert limits["cpu.cfs_quota_us"] == "70000"  # 400m + 300m beats 100m
    leaves = {c["name"]: c["cgroup"]["limits"] for c in pod["nspod"]["containers"]}
    assert leaves["side"]["memory.limit_in_bytes"] == str(16 * 1024 * 1024)
