"""Pod volumes on the host side: emptyDir folders (tmpfs for medium Memory)
and hostPath checks by type, done once per pod by the watchdog."""
import os
import stat
from pathlib import Path

from .errors import NspodError
from .kernel import mounts


def prepare(pod, pod_dir):
    """Create every volume's folder (host side); return {volume name: host path}.
    The tmpfs of a `medium: Memory` emptyDir is mounted later, by
    mount_memory_volumes in the pod's mount namespace."""
    paths = {}
    for vol in pod.volumes:
        if vol.kind == "emptyDir":
            path = pod_dir / "volumes" / vol.name
            path.mkdir(parents=True, exist_ok=True)
            if vol.medium != "Memory":
                path.chmod(0o777)  # as the kubelet makes emptyDir: any container user may write
                _own(pod, path)
            paths[vol.name] = path
        else:
            paths[vol.name] = check_host_path(vol)
    return paths


def mount_memory_volumes(pod, paths):
    """In the pod's mount namespace (the pause holder's, before it execs):
    a tmpfs on each `medium: Memory` emptyDir. Containers get a copy of
    that namespace, the host never sees it, and it lasts as long as the pod's
    processes (and the watchdog's handle on it) do."""
    for vol in pod.volumes:
        if vol.kind == "emptyDir" and vol.medium == "Memory":
            mounts.tmpfs(str(paths[vol.name]), size=vol.size_limit, mode="0777")
            _own(pod, paths[vol.name])


def _own(pod, path):
    sc = pod.security_context
    if sc.fs_group is not None:  # emptyDir supports ownership management; hostPath does not
        set_ownership(path, sc.fs_group, sc.fs_group_change_policy or "Always")


# The kubelet's masks (pkg/volume/volume_linux.go): group read-write, and
# search plus setgid on directories.
RW_MASK, EXEC_MASK = 0o660, 0o110


def set_ownership(path, fs_group, policy="Always"):
    """fsGroup on a volume, as the kubelet's SetVolumeOwnership: every entry
    (links included, not followed) gets group fs_group, and g+rw (directories
    also g+x and setgid, so new files inherit the group). OnRootMismatch: not
    walked when the volume's root already has the group and those bits."""
    if policy == "OnRootMismatch" and not _needs_change(path, fs_group):
        return
    for entry in [str(path)] + [os.path.join(d, n) for d, dirs, files in os.walk(path) for n in dirs + files]:
        info = os.lstat(entry)
        os.lchown(entry, -1, fs_group)
        if stat.S_ISLNK(info.st_mode):
            continue
        mask = RW_MASK | (stat.S_ISGID | EXEC_MASK if stat.S_ISDIR(info.st_mode) else 0)
        os.chmod(entry, stat.S_IMODE(info.st_mode) | mask)


def _needs_change(path, fs_group):
    info = os.stat(path)
    wanted = RW_MASK | EXEC_MASK
    return (info.st_gid != fs_group or not stat.S_ISDIR(info.st_mode)
            or info.st_mode & wanted != wanted or not info.st_mode & stat.S_ISGID)


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
