"""The cross-pod part of the security tier as root."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_cross_pod import test_a_container_cannot_reach_another_pod_or_the_host  # noqa: E402,F401
