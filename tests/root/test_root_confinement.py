"""The security tier's first part as root: masks, read-only kernel paths and
mount targets that stay inside the root, where a slip would write the host."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_confinement import (  # noqa: E402,F401  (collected here too, run as root)
    test_dot_dot_mount_path_is_bad_input_and_creates_nothing,
    test_etc_files_follow_links_inside_the_root,
    test_host_path_create_types_make_only_the_path_named,
    test_kernel_paths_masked_and_read_only_in_container_and_exec,
    test_mount_targets_and_sub_paths_never_leave_the_root,
)
from test_confinement import test_host_trees_are_read_only_with_every_submount  # noqa: E402,F401
