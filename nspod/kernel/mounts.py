"""Mounts the supervisor makes itself (a pod's tmpfs volumes and /dev/shm, an
image's trial mount); a container's are nspod-exec's (nspod/executor/mounts.c)."""
import errno
import os

from .. import steps
from .libc import call, cstr

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_RELATIME = 1 << 21
MNT_DETACH = 2


def mount(source, target, fstype=None, flags=0, data=None):
    try:
        call("mount", cstr(source), cstr(target), cstr(fstype), flags, cstr(data))
    except OSError as e:
        raise OSError(e.errno, f"mount {source} on {target}: {e.strerror}") from None
    if steps.sink is not None:
        source, target = steps.shown_path(source), steps.shown_path(target)
        args = ", ".join(_quote(a) for a in (source, target, fstype)) + f", {steps.flag_names(flags, _FLAG_NAMES)}"
        steps.tell(f"mount({args}{', ' + _quote(data) if data else ''})",
                   by_hand=by_hand(source, target, fstype, flags, data))


_FLAG_NAMES = {MS_RDONLY: "MS_RDONLY", MS_NOSUID: "MS_NOSUID", MS_NODEV: "MS_NODEV", MS_NOEXEC: "MS_NOEXEC",
               MS_REMOUNT: "MS_REMOUNT", MS_NOATIME: "MS_NOATIME", MS_NODIRATIME: "MS_NODIRATIME",
               MS_BIND: "MS_BIND", MS_REC: "MS_REC", MS_PRIVATE: "MS_PRIVATE", MS_SLAVE: "MS_SLAVE",
               MS_RELATIME: "MS_RELATIME"}
_OPTION_NAMES = {MS_RDONLY: "ro", MS_NOSUID: "nosuid", MS_NODEV: "nodev", MS_NOEXEC: "noexec",
                 MS_NOATIME: "noatime", MS_NODIRATIME: "nodiratime", MS_RELATIME: "relatime"}


def by_hand(source, target, fstype, flags, data):
    """The mount(8) command that asks the kernel for the same (for --explain)."""
    options = [name for bit, name in _OPTION_NAMES.items() if flags & bit]
    if flags & (MS_PRIVATE | MS_SLAVE):
        kind = "private" if flags & MS_PRIVATE else "slave"
        return f"mount --make-{'r' if flags & MS_REC else ''}{kind} {target}"
    if flags & MS_REMOUNT:
        return f"mount -o {','.join(['remount', 'bind'] + options)} {target}"
    if flags & MS_BIND:
        command = f"mount --{'rbind' if flags & MS_REC else 'bind'} {source} {target}"
        return command + (f" -o {','.join(options)}" if options else "")
    if data:
        options.append(data)
    return f"mount -t {fstype}" + (f" -o {','.join(options)}" if options else "") + f" {source} {target}"


def _quote(value):
    return "NULL" if value is None else '"' + str(value) + '"'


def make_private(path="/"):
    """Stop mount events propagating back to the host (and from it)."""
    mount(None, path, None, MS_REC | MS_PRIVATE)


def tmpfs(target, size=None, mode="0755", nodev=True):
    """nodev=False only where device nodes are made on purpose (a privileged /dev)."""
    data = f"mode={mode}" + (f",size={size}" if size else "")
    mount("tmpfs", target, "tmpfs", MS_NOSUID | (MS_NODEV if nodev else 0), data)


def overlay(target, lower_base, lower, upper, work, userxattr):
    """Mount overlayfs on target: `lower` directories (top first) named
    relative to `lower_base`, as the kernel resolves them from the working
    directory (shorter options: they must fit in one page, as Podman's short
    l/ links do), `upper` and `work` absolute."""
    data = overlay_options(lower, upper, work, userxattr)
    cwd = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.chdir(lower_base)
        mount("overlay", target, "overlay", 0, data)
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def overlay_options(lower, upper, work, userxattr):
    """overlayfs's mount options. userxattr: its metadata in user.overlay.*
    xattrs, the form a user namespace may mount (Linux 5.11)."""
    for path in (*lower, upper, work):
        if any(c in path for c in ",:\\"):
            raise OSError(errno.EINVAL, f"overlay: {path!r} has a character the mount options cannot carry")
    data = f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work}" + (",userxattr" if userxattr else "")
    if len(data) >= os.sysconf("SC_PAGE_SIZE"):
        raise OSError(errno.E2BIG, f"overlay: {len(lower)} layers do not fit in one mount's options")
    return data


def umount(target):
    call("umount2", cstr(target), MNT_DETACH)
    if steps.sink is not None:
        steps.tell(f'umount2("{target}", MNT_DETACH)', by_hand=f"umount -l {target}")
