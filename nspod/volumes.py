"""Pod volumes on the host side: emptyDir folders (tmpfs for medium Memory)
and hostPath checks by type, done once per pod by the watchdog."""
import os
from pathlib import Path

from .errors import NspodError
from .kernel import mounts


def prepare(pod, pod_dir):
    """Create every volume of the pod; return {volume name: host path}."""
    paths = {}
    for vol in pod.volumes:
        if vol.kind == "emptyDir":
            path = pod_dir / "volumes" / vol.name
            path.mkdir(parents=True, exist_ok=True)
            if vol.medium == "Memory":
                # Mounted in the watchdog's own mount namespace: containers
                # inherit it, the host never sees it, and it ends with the pod.
                mounts.tmpfs(str(path), size=vol.size_limit, mode="0777")
            else:
                path.chmod(0o777)  # as the kubelet makes emptyDir: any container user may write
            paths[vol.name] = path
        else:
            paths[vol.name] = check_host_path(vol)
    return paths


def check_host_path(vol):
    """Apply the hostPath `type` checks the kubelet makes before mounting."""
    path = Path(vol.path)
    where = f'volume "{vol.name}": hostPath {vol.path}'
    kind = vol.host_path_type
    if kind == "DirectoryOrCreate" and not path.exists():
        try:
            path.mkdir(mode=0o755, parents=True)
        except OSError as e:
            raise NspodError(f"{where}: cannot create directory: {e.strerror}") from None
    elif kind == "FileOrCreate" and not path.exists():
        # Like the kubelet, the parent directory must already exist. O_EXCL and
        # O_NOFOLLOW: only the path named is created, never a dangling
        # symlink's target elsewhere (mkdir above never follows a last link).
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY, 0o644))
        except FileExistsError:
            pass  # made meanwhile, or a dangling symlink: the checks below say which
        except OSError as e:
            raise NspodError(f"{where}: cannot create file: {e.strerror}") from None
    if path.is_symlink() and not path.exists():
        raise NspodError(f"{where}: is a symlink to {os.readlink(path)}, which does not exist")
    if kind in ("Directory", "DirectoryOrCreate") and not path.is_dir():
        raise NspodError(f"{where}: is not a directory" if path.exists() else f"{where}: directory does not exist")
    if kind in ("File", "FileOrCreate") and not path.is_file():
        raise NspodError(f"{where}: is not a file" if path.exists() else f"{where}: file does not exist")
    if not os.path.lexists(path):
        raise NspodError(f"{where}: does not exist")
    return path
