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


def which(name, path=None):
    """shutil.which for an executable: the first PATH entry (`path`, else
    $PATH) holding `name` as an executable file; a name with a slash is
    checked as it is. (Not shutil: with it come bz2, lzma and fnmatch,
    ~0.25 MiB the node holder would keep and ~1.5 ms of every command.)"""
    if "/" in name:
        return name if _executable(name) else None
    if path is None:
        path = os.environ.get("PATH", os.defpath)
    for entry in path.split(os.pathsep):
        candidate = os.path.join(entry or ".", name)
        if _executable(candidate):
            return candidate
    return None


def _executable(path):
    return os.access(path, os.X_OK) and os.path.exists(path) and not os.path.isdir(path)
