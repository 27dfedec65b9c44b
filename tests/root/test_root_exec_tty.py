"""exec -it as root: the same terminal, made in the container's /dev/pts."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_exec_tty import test_exec_it_is_a_terminal_in_the_container  # noqa: E402,F401
