"""Lifecycle hooks and the active deadline as root (no user namespace)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from podtest import nspod, wait_for  # noqa: E402
from test_hooks import (  # noqa: E402,F401  (collected here too, run as root)
    test_active_deadline_fails_the_pod,
    test_post_start_exec_runs_in_the_container_before_it_counts_as_running,
    test_pre_stop_exec_runs_before_term,
    test_pre_stop_http_get_reaches_the_pod_ip,
)


def test_root_exec_hook_runs_as_the_containers_user(pods):
    hook = {"exec": {"command": ["sh", "-c", "id -u > /tmp/hook-user"]}}
    pods.run(f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: hook-user}}
    spec:
      securityContext: {{runAsUser: 1234, runAsGroup: 1234}}
      containers:
      - name: app
        command: [sleep, "300"]
        lifecycle: {{postStart: {json.dumps(hook)}}}
    """)
    wait_for(lambda: "running" in pods.status("hook-user", "app")["state"], timeout=15, what="running")
    assert nspod("exec", "hook-user", "--", "cat", "/tmp/hook-user").stdout.strip() == "1234"
