"""The core scenario as root: the same code path minus the user namespace."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from podtest import nspod  # noqa: E402
from test_pod_core import (  # noqa: E402,F401  (collected here too, run as root)
    test_exec_exit_code_and_environment,
    test_hostname,
    test_missing_command_shows_terminated_with_reason,
    test_pid_namespace_shared_when_asked,
    test_stop_then_rm_leaves_nothing,
    test_sub_path_and_memory_empty_dir,
    test_tcp_over_localhost_between_containers,
    test_volume_shared_and_read_only,
    two_container_pod,
)


def test_root_pod_shares_namespaces_in_the_host_user_namespace(pods):
    pod = two_container_pod(pods)
    pause = pod["nspod"]["pause"]["namespaces"]
    # As root there is no user namespace: the node is the host.
    assert pause["user"] == os.readlink("/proc/self/ns/user")
    for c in pod["nspod"]["containers"]:
        for kind in ("net", "ipc", "uts", "user"):
            assert c["namespaces"][kind] == pause[kind]
        assert c["namespaces"]["mnt"] != pause["mnt"]
    assert pause["net"] != os.readlink("/proc/self/ns/net")
    # State lives in /run/nspod for root.
    assert pod["nspod"]["stateDir"].startswith("/run/nspod/")
    assert nspod("exec", "web", "-c", "client", "--", "id", "-u").stdout.strip() == "0"
