"""nspod top as root: the figures come from the containers' cgroups."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_top import test_top_reports_the_known_load  # noqa: E402,F401
