"""Pod-level securityContext and namespace fields as root."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_pod_security import (  # noqa: E402,F401  (collected here too, run as root)
    test_fs_group_owns_empty_dirs_not_host_paths,
    test_without_fs_group_volumes_keep_their_group,
)
from test_pod_security import (  # noqa: E402,F401
    test_a_sysctl_value_the_kernel_refuses_fails_the_pod,
    test_sysctls_are_the_pods_own,
    test_unsafe_sysctls_are_bad_input,
)
from test_pod_security import (  # noqa: E402,F401
    test_host_ipc_and_host_pid_share_the_nodes_namespaces,
    test_host_pid_and_ipc_conflicts_are_bad_input,
)
