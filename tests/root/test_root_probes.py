"""Probes as root: readiness over HTTP from the node network flips Ready,
and a failing exec liveness probe (run in the container as root) restarts it."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_probes import (  # noqa: E402,F401
    test_liveness_exec_failure_kills_and_restarts_with_events,
    test_readiness_http_flips_ready_and_the_pod_conditions,
)
