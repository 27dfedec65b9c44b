"""Paths looked up inside a root that no link in it can lead out of.

A container's mount targets are resolved the way the container will see
them: openat2(2) with RESOLVE_IN_ROOT treats the root fd as `/`, so an
absolute symlink starts at the container's root and `..` stops there. A
volume's subPath is resolved with RESOLVE_BENEATH instead: a link or `..`
that leaves the volume fails (EXDEV), as the kubelet refuses such a subPath.
Magic links (/proc/PID/fd/N, /proc/PID/root) are never followed.

Missing directories are made one component at a time, each with mkdirat(2)
next to an fd already resolved inside the root and opened without following
a link, so nothing is ever created outside it. The caller mounts onto the
returned O_PATH fd through /proc/self/fd/N (`fd_path`), so the target cannot
be swapped for another path between the lookup and the mount. This is how
runc finds mount targets (filepath-securejoin's OpenInRoot, MkdirAllInRoot).
"""
import ctypes
import errno
import os
import stat

from .libc import call, cstr

SYS_OPENAT2 = 437  # one number on every architecture (syscalls added since 5.1 share a table)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS   # links are followed as if the root were /
BENEATH = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS   # a link or '..' that leaves the root fails
MAX_LINKS = 40  # the kernel's own limit on links in one lookup


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd, path, flags, resolve, mode=0):
    """openat2(2); raises OSError naming `path`. EXDEV (a lookup that would
    leave the root) gets a message that says so."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    try:
        return call("syscall", ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), cstr(path),
                    ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    except OSError as e:
        if e.errno == errno.ENOSYS:
            raise OSError(e.errno, "openat2(2) is missing: nspod needs Linux 5.6 or later") from None
        if e.errno == errno.EXDEV:
            raise OSError(e.errno, "a symlink or '..' leads out of it", path) from None
        raise OSError(e.errno, os.strerror(e.errno), path) from None


def fd_path(fd):
    """The path that names what fd refers to, for mount(2) and friends."""
    return f"/proc/self/fd/{fd}"


def open_root(path):
    """An O_PATH fd for a directory that later lookups are rooted at."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def lookup(root_fd, path, resolve=IN_ROOT, flags=os.O_PATH):
    """An fd for path (absolute or relative: both start at root_fd)."""
    return openat2(root_fd, _relative(path), flags, resolve)


def reopen(root_fd, fd):
    """A new fd for fd's path, looked up again inside root_fd. After a mount
    onto fd, this names the new mount's root (fd still names what is under
    it, so a remount through fd would fail)."""
    root, full = os.readlink(fd_path(root_fd)), os.readlink(fd_path(fd))
    if root != "/" and not full.startswith(root + "/"):
        raise OSError(errno.EXDEV, "is no longer inside the root", full)
    return lookup(root_fd, full if root == "/" else full[len(root):])


def lexists(root_fd, path, resolve=IN_ROOT):
    """True if path's last component exists, even as a dangling link."""
    parent, name = os.path.split(_relative(path))
    try:
        parent_fd = openat2(root_fd, parent or ".", os.O_PATH | os.O_DIRECTORY, resolve)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        os.stat(name or ".", dir_fd=parent_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(parent_fd)


def make(root_fd, path, directory=True, resolve=IN_ROOT, mode=None):
    """An O_PATH fd for path inside root_fd, creating what is missing there:
    directories, and the last component as an empty file unless `directory`.
    A dangling link on the way is followed as the lookup would follow it
    (rooted at root_fd; with BENEATH an absolute one fails). `mode`: the exact
    mode of what is created (default 0755 for a directory, 0644 for a file)."""
    links = 0
    while True:
        fd, done, rest = _deepest(root_fd, path, resolve)
        try:
            followed = None
            if ".." in rest:
                # As filepath-securejoin does: '..' after a missing directory has no meaning yet.
                raise OSError(errno.ENOENT, "'..' follows a missing directory", path)
            for i, name in enumerate(rest):
                last = i == len(rest) - 1
                try:
                    created = _create(fd, name, directory or not last, mode)
                except OSError as e:
                    where = os.path.join(_name_in(root_fd, fd), name)
                    raise OSError(e.errno, f"cannot create {where}: {e.strerror}") from None
                parent, fd = fd, None
                try:
                    # Never through a link: only the component just made (or found).
                    fd = openat2(parent, name, os.O_PATH | os.O_NOFOLLOW,
                                 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
                    if stat.S_ISLNK(os.fstat(fd).st_mode):
                        followed = _splice(os.readlink(name, dir_fd=parent), done + rest[:i],
                                           rest[i + 1:], resolve, path)
                        break
                finally:
                    os.close(parent)
                if created and mode is not None:
                    os.chmod(fd_path(fd), mode)  # exactly, whatever the umask
            if followed is None:
                result, fd = fd, None
                return result
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            path = followed
        finally:
            if fd is not None:
                os.close(fd)


def _name_in(root_fd, fd):
    """fd's path as seen from root_fd (for messages)."""
    root, full = os.readlink(fd_path(root_fd)), os.readlink(fd_path(fd))
    rel = os.path.relpath(full, root)
    return "/" if rel == "." else "/" + rel


def _relative(path):
    return path.lstrip("/") or "."


def _components(path):
    return [c for c in path.split("/") if c not in ("", ".")]


def _deepest(root_fd, path, resolve):
    """(fd, found, rest): the deepest existing prefix of path and what is left."""
    parts = _components(path)
    for n in range(len(parts), -1, -1):
        try:
            fd = openat2(root_fd, "/".join(parts[:n]) or ".", os.O_PATH, resolve)
        except (FileNotFoundError, NotADirectoryError):
            continue
        return fd, parts[:n], parts[n:]
    raise AssertionError("unreachable: the root itself always resolves")


def _create(dir_fd, name, directory, mode):
    """Make name in dir_fd unless something is there already; True if made."""
    try:
        if directory:
            os.mkdir(name, 0o755 if mode is None else mode, dir_fd=dir_fd)
        else:
            flags = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o644 if mode is None else mode, dir_fd=dir_fd))
        return True
    except FileExistsError:
        return False


def _splice(target, before, after, resolve, path):
    """The path to look up once a dangling link (at before[-1]) points to target."""
    if target.startswith("/"):
        if resolve & RESOLVE_BENEATH:
            raise OSError(errno.EXDEV, "a symlink or '..' leads out of it", path)
        head = target
    else:
        head = "/".join(before[:-1] + [target])
    return "/".join([head, *after])
