"""Where nspod keeps state: one place per user.

$XDG_RUNTIME_DIR/nspod for a user with a session; /tmp/nspod-UID when that
variable is unset (as it is under `su`); /run/nspod for root. NSPOD_STATE_DIR
overrides all three.
"""
import os
from pathlib import Path

from .errors import HostUnsupported, StateError


def state_path():
    """Where the state is, without making it (shell completion only reads)."""
    override = os.environ.get("NSPOD_STATE_DIR")
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/run/nspod")
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "nspod"
    return Path(f"/tmp/nspod-{os.geteuid()}")


def state_dir():
    # Decided once, outside the user namespace (where everyone is uid 0), and
    # passed on to the node holder and watchdogs through the environment.
    path = state_path()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as e:
        raise StateError(f"cannot make nspod's state folder {path}: {e.strerror}") from None
    # /tmp is shared: refuse a directory someone else made for us.
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise HostUnsupported(f"state directory {path} must be owned by uid {os.geteuid()} with mode 0700")
    os.environ["NSPOD_STATE_DIR"] = str(path)
    return path


def pod_dir(name):
    return state_dir() / "pods" / name
