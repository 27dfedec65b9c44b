"""--explain as root: no user namespace, and the cgroup steps (cgroup v1 on
the host) are told too; the rest is the integration tier's tests, here as root."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_explain_steps import (POD, first, steps_of,  # noqa: E402,F401
                                test_exec_stop_start_and_rm_explain,
                                test_explain_to_a_file_writes_json_lines,
                                test_run_explain_tells_each_step_by_the_process_that_does_it)


def test_root_explain_tells_the_cgroup_steps(pods):
    done = pods.run(POD, "--explain")
    steps = steps_of(done.stderr)
    info = pods.inspect("told")
    app_pid = info["nspod"]["containers"][0]["pid"]
    assert not any("CLONE_NEWUSER" in s["call"] for s in steps)  # root: the host's user namespace
    cgroup = info["nspod"]["containers"][0]["cgroup"]
    procs = [p for p in json.dumps(cgroup).split('"') if p.endswith("cgroup.procs")]
    assert procs, cgroup
    # The container puts itself in its cgroup before it execs (its limits hold from the first instruction).
    i_join, s = first(steps, "app", f'write("{procs[0]}"')
    assert s["by_hand"].startswith("echo ") and s["by_hand"].endswith(f"> {procs[0]}")
    i_exec, _ = first(steps, "app", "execve(")
    assert i_join < i_exec
    first(steps, "supervisor", "mkdir(")
    assert app_pid
