"""Mounts: the steps of building a container's root, as bubblewrap does."""
import errno
import os
import stat

from .. import steps
from . import inroot
from .libc import call, cstr

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}[os.uname().machine]

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

# statvfs f_flag bit -> mount flag. A remount inside a user namespace must
# keep the flags the kernel locked on the original mount, or it fails; and
# adding nodev must not make a read-only mount writable.
_KEPT = {
    os.ST_RDONLY: MS_RDONLY,
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: MS_NOEXEC,
    os.ST_NOATIME: MS_NOATIME,
    os.ST_NODIRATIME: MS_NODIRATIME,
    os.ST_RELATIME: MS_RELATIME,
}


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


def bind(source, target, readonly=False, recursive=True, nodev=False):
    """Bind source (with its submounts, when recursive) on target; readonly
    and nodev hold for the submounts too: the host's /sys carries its cgroup
    hierarchies, its /etc the files a container runtime bound there. A bind
    keeps its source's flags until then (a bound /dev/null stays a device)."""
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    flags = (MS_RDONLY if readonly else 0) | (MS_NODEV if nodev else 0)
    if flags:
        add_flags(target, flags, recursive=recursive)


def bind_onto(source, root_fd, target_fd, readonly=False, recursive=True, nodev=False):
    """Bind source onto target_fd, an fd from `inroot` (resolved inside
    root_fd): the kernel mounts on what the fd names, not on a path that could
    have been swapped since. A remount must name the new mount, which the fd
    does not: its path is looked up again inside root_fd and must be the
    source's root. readonly: the top mount only (as a Kubernetes volume's
    readOnly); nodev: every submount too (a volume of the host's / holds its
    /dev)."""
    mount(source, inroot.fd_path(target_fd), None, MS_BIND | (MS_REC if recursive else 0))
    if not (readonly or nodev):
        return
    top = inroot.reopen(root_fd, target_fd)
    try:
        if not _same_inode(os.fstat(top), os.stat(source)):
            raise OSError(f"mount on {os.readlink(inroot.fd_path(top))}: the mount point moved")
        if nodev:
            add_flags(inroot.fd_path(top), MS_NODEV, recursive=recursive)
        if readonly:
            add_flags(inroot.fd_path(top), MS_RDONLY)
    finally:
        os.close(top)


def _same_inode(a, b):
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def mask(target_fd):
    """Hide what target_fd names (from `inroot`): an empty read-only tmpfs over
    a directory, /dev/null over anything else, as runc's maskPaths does."""
    target = inroot.fd_path(target_fd)
    if stat.S_ISDIR(os.fstat(target_fd).st_mode):
        mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0555,nr_blocks=1,nr_inodes=2")
    else:
        null = os.stat("/dev/null")
        if not stat.S_ISCHR(null.st_mode) or null.st_rdev != os.makedev(1, 3):
            raise OSError("/dev/null is not the null device")
        mount("/dev/null", target, None, MS_BIND)


def remount_readonly(target, recursive=False):
    """Make the mount at target read-only; with recursive, every mount below it too."""
    add_flags(target, MS_RDONLY, recursive=recursive)


def add_flags(target, flags, recursive=False):
    """Add MS_RDONLY and/or MS_NODEV to the mount at target, keeping its other
    flags; with recursive, to every mount below it too: mount_setattr(2)
    (Linux 5.12) in one call, else a remount of each."""
    if recursive:
        try:
            _mount_setattr(target, flags)
            return
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise OSError(e.errno, f"mount_setattr {target} {_names(flags)}: {e.strerror}") from None
        for point in sorted(_mounts_under(target), key=len):
            _remount_one(point, flags)
        return
    _remount_one(target, flags)


def _names(flags):
    return "+".join(name for bit, name in ((MS_RDONLY, "ro"), (MS_NODEV, "nodev")) if flags & bit)


def _remount_one(target, flags):
    kept = flags
    current = os.statvfs(target).f_flag
    for st, ms in _KEPT.items():
        if current & st:
            kept |= ms
    mount(None, target, None, MS_REMOUNT | MS_BIND | kept)


_SYS_MOUNT_SETATTR = 442  # the same on every architecture (a syscall newer than 5.0)
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR = {MS_RDONLY: 0x1, MS_NODEV: 0x4}  # MOUNT_ATTR_RDONLY, MOUNT_ATTR_NODEV


def _mount_setattr(target, flags):
    import ctypes

    attr_set = sum(bit for ms, bit in _MOUNT_ATTR.items() if flags & ms)
    attr = (ctypes.c_uint64 * 4)(attr_set, 0, 0, 0)  # attr_set, attr_clr, propagation, userns_fd
    long = ctypes.c_long  # syscall(2) is variadic: pass every number full width
    call("syscall", long(_SYS_MOUNT_SETATTR), long(_AT_FDCWD), cstr(target), long(_AT_RECURSIVE),
         ctypes.byref(attr), long(ctypes.sizeof(attr)))
    if steps.sink is not None:
        names = "|".join(f"MOUNT_ATTR_{n.upper()}" for n in _names(flags).split("+"))
        steps.tell(f'mount_setattr("{target}", AT_RECURSIVE, {{attr_set: {names}}})',
                   by_hand=f"mount -o remount,bind,{_names(flags).replace('+', ',')} {target}  # and every mount below it")


def _mounts_under(target):
    top = os.path.realpath(target)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return [p for p in points if p == top or p.startswith(top.rstrip("/") + "/")]


def proc(target):
    mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def pivot_root(new_root):
    """Make new_root the root of this mount namespace and drop the old one."""
    os.chdir(new_root)
    # pivot_root(".", ".") stacks the old root under the new one; unmount it.
    call("syscall", _SYS_PIVOT_ROOT, b".", b".")
    if steps.sink is not None:
        steps.tell(f'chdir("{new_root}"); pivot_root(".", ".")', by_hand=f"cd {new_root} && pivot_root . .")
    call("umount2", b".", MNT_DETACH)
    if steps.sink is not None:
        steps.tell('umount2(".", MNT_DETACH)', by_hand="umount -l .  # the old root, stacked under the new one")
    os.chdir("/")


def overlay(target, lower_base, lower, upper, work, userxattr):
    """Mount overlayfs on target: `lower` directories (top first) named
    relative to `lower_base`, as the kernel resolves them from the working
    directory (shorter options: they must fit in one page, as Podman's short
    l/ links do), `upper` and `work` absolute. userxattr: its metadata in
    user.overlay.* xattrs, the form a user namespace may mount (Linux 5.11)."""
    for path in (*lower, upper, work):
        if any(c in path for c in ",:\\"):
            raise OSError(errno.EINVAL, f"overlay: {path!r} has a character the mount options cannot carry")
    data = f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work}" + (",userxattr" if userxattr else "")
    if len(data) >= os.sysconf("SC_PAGE_SIZE"):
        raise OSError(errno.E2BIG, f"overlay: {len(lower)} layers do not fit in one mount's options")
    cwd = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.chdir(lower_base)
        mount("overlay", target, "overlay", 0, data)
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def umount(target):
    call("umount2", cstr(target), MNT_DETACH)
    if steps.sink is not None:
        steps.tell(f'umount2("{target}", MNT_DETACH)', by_hand=f"umount -l {target}")
