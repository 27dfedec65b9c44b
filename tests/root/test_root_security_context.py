"""securityContext as root: the same users, groups, capabilities,
no_new_privs, runAsNonRoot and read-only root, seen from inside containers
and exec, where the uids are the host's own (no user namespace)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_security_context import (  # noqa: E402,F401  (collected here too, run as root)
    test_allow_privilege_escalation,
    test_bad_values_exit_2_with_the_field_path,
    test_capabilities_add_and_drop,
    test_read_only_root_filesystem,
    test_run_as_non_root,
    test_users_and_groups_in_containers_and_exec,
)
