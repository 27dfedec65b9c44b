"""seccomp as root: the same RuntimeDefault filter (Seccomp: 2), the same
probes, in containers and exec, where a missing filter would leave root's
syscalls open. (Localhost profiles live in /etc/nspod/seccomp as root: the
tests that write them stay in the rootless tier.)"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_seccomp import (  # noqa: E402,F401  (collected here too, run as root)
    test_runtime_default_by_default_unconfined_on_request_and_exec_alike,
)
