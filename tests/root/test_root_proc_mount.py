"""procMount and hostUsers as root: Default masks; root pods run in the
host's user namespace, so hostUsers: false, and Unmasked with it, is bad
input (exit 2, the field path); hostUsers: true runs."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_proc_mount import (  # noqa: E402,F401  (collected here too, run as root)
    test_bad_proc_mount_value_is_bad_input,
    test_default_proc_mount_masks,
    test_host_users_nspod_cannot_honour_is_bad_input,
    test_unmasked_without_host_users_false_is_bad_input,
)
