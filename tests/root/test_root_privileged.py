"""privileged as root: real capabilities, the same checks from inside; the
host's devices as nodes of the container's own."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_privileged import test_privileged_container  # noqa: E402,F401
from test_privileged import test_privileged_container_gets_the_host_devices  # noqa: E402,F401
