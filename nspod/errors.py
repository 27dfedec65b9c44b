"""One family of errors. The CLI turns them into a message and an exit code;
anything else reaching the CLI is a bug and keeps its traceback."""
import sys


def note(text):
    """A line for the log of a long-lived process (node.log): it never
    raises, since a full disk must not end the process that reports it."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


class NspodError(Exception):
    """A runtime failure the user can act on (exit code 1)."""

    exit_code = 1


class BadInput(NspodError):
    """Bad manifest or arguments (exit code 2). Nothing was created."""

    exit_code = 2


class ManifestError(BadInput):
    """One or more problems in a manifest, each naming its field path."""

    def __init__(self, problems):
        # problems: list of (path, message), e.g. ("spec.containers[0].name", "is required")
        self.problems = list(problems)
        super().__init__("\n".join(f"{p}: {m}" if p else m for p, m in self.problems))


class NotFound(NspodError):
    """A pod or container that does not exist."""


class HostUnsupported(NspodError):
    """A host capability nspod needs is missing; the message names the fix."""


class StateError(NspodError):
    """nspod's own state (its database or folder) cannot be read or written:
    a full disk, a read-only or foreign-owned file. The message names the path."""


def print_traceback():
    """traceback.print_exc(), with traceback loaded only when a failure needs
    it: with linecache, tokenize and textwrap it is ~0.4 MiB that the node
    holder would keep for its life."""
    import traceback

    traceback.print_exc()
