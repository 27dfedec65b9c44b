"""attach -it as root: a tty container's terminal, made in its /dev/pts, and
its survival of the supervisor are the same code as rootless."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from test_attach import test_attach_it_is_the_containers_terminal  # noqa: E402,F401
