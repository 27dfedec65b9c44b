"""Device nodes as root, where the container keeps CAP_MKNOD: a node it
makes (or its image ships) with a host disk's numbers is made but does not
open, wherever it can write; the defaults work; a privileged container
beside it opens what it makes and the host's devices."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from imagepods import image_dir, registry  # noqa: E402,F401 (fixtures)
from test_device_nodes import (  # noqa: E402,F401  (collected here too, run as root)
    test_host_ipc_dev_shm_is_nodev,
    test_image_root_is_nodev,
    test_made_nodes_do_not_open_anywhere_a_container_writes,
)
