"""port-forward as root: the same helper in the pod's network namespace."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_port_forward import test_port_forward_carries_many_connections_and_ends_on_ctrl_c  # noqa: E402,F401
