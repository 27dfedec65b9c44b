"""`nspod cp`: files and directories between the host and a container.

One side runs in a forked child that joins the container's user (rootless)
and mount namespaces: there `/` is the container's root, so nothing it names
can lead to the host. The two sides stream a tar archive through a pipe;
the receiving side never trusts it: every entry is made below the target by
walking directory fds with O_NOFOLLOW, so a `..`, an absolute name or a
symlink in the archive (a link the container planted, say) cannot place a
file anywhere else.

Where a copy lands, as kubectl cp does it:
  host -> container   DEST an existing directory: DEST/NAME; else DEST itself
  container -> host   a directory: its contents into DEST (made if missing);
                      a file: DEST/NAME when DEST is a directory, else DEST
It copies as the container's root (as `podman cp` does), not as its user.
"""
import os
import select
import stat
import tarfile

from .errors import BadInput, NspodError
from .kernel import child, namespaces

CHUNK = 1 << 20


def split_spec(text):
    """'POD:PATH' -> (POD, PATH); a local path -> (None, PATH)."""
    if ":" in text and not text.startswith(("/", ".")):
        pod, path = text.split(":", 1)
        if not path:
            raise BadInput(f"{text}: give the path in the pod after the colon, e.g. {pod}:/tmp")
        return pod, path
    return None, text


def to_container(pid, rootless, local, dest):
    """Copy the local file or directory `local` to `dest` in the container of `pid`."""
    name = _name_of(local)
    os.lstat(local)  # a missing source is the caller's error, before anything starts
    r, w = os.pipe()
    fds = _join_fds(pid, rootless)
    try:
        job = child.begin(_receive_in_container, fds, r, w, dest, "to-container", name)
    finally:
        _close(fds)
        os.close(r)
    try:
        with os.fdopen(w, "wb") as out:
            _send(out, local, name)
    except BrokenPipeError:
        pass  # the child stopped reading: it says why
    _finish(job)


def from_container(pid, rootless, src, local):
    """Copy `src` of the container of `pid` to the local path `local`."""
    name = _name_of(src)
    r, w = os.pipe()
    fds = _join_fds(pid, rootless)
    try:
        job = child.begin(_send_from_container, fds, r, w, src, name)
    finally:
        _close(fds)
        os.close(w)
    try:
        with os.fdopen(r, "rb") as stream:
            _receive(stream, local, "from-container")
    finally:
        _finish(job)


def _name_of(path):
    name = os.path.basename(os.path.normpath(path))
    if name in ("", ".", "..", "/"):
        raise BadInput(f"{path}: name a file or directory, not a root")
    return name


def _join_fds(pid, rootless):
    kinds = (["user"] if rootless else []) + ["mnt"]
    return {kind: namespaces.open_ns(pid, kind) for kind in kinds}


def _close(fds):
    for fd in fds.values():
        os.close(fd)


def _enter(fds):
    for kind in ("user", "mnt"):  # the user namespace first: it grants the right to join the other
        if kind in fds:
            namespaces.setns(fds[kind], kind)


def _finish(job):
    while not job.read():
        select.select([job.fd], [], [])
    try:
        job.result()
    except child.ChildFailed as e:
        raise NspodError(str(e)) from None


# -- the two ends of the stream -----------------------------------------------------------
def _send_from_container(fds, r, w, src, name):
    os.close(r)
    _enter(fds)
    with os.fdopen(w, "wb") as out:
        _send(out, src, name)


def _receive_in_container(fds, r, w, dest, direction, name):
    os.close(w)  # else our own end keeps the stream from ending
    _enter(fds)
    with os.fdopen(r, "rb") as stream:
        _receive(stream, dest, direction, name)


def _send(out, path, name):
    """`path` as a tar stream whose entries are NAME and NAME/..., links kept as links."""
    try:
        os.lstat(path)
    except OSError as e:
        raise NspodError(f"{path}: {e.strerror}") from None
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(path, arcname=name, recursive=True)


def _receive(stream, dest, direction, name=None):
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        top = None
        for member in tar:
            parts = member.name.split("/")
            if top is None:
                top = parts[0]
                parent_fd, leaf = _target(dest, direction, member, name or top)
            if parts[0] != top or any(p in ("", ".", "..") for p in parts):
                raise NspodError(f"refused an archive entry outside the copy: {member.name!r}")
            _make(tar, member, parent_fd, [leaf] + parts[1:])
        if top is None:
            raise NspodError("nothing was copied (the source sent no entry)")
        os.close(parent_fd)


def _target(dest, direction, top, name):
    """(fd of the directory to make the copy in, the name to give it)."""
    is_dir = os.path.isdir(dest)
    if is_dir and (direction == "to-container" or not top.isdir()):
        return _open_dir(dest), name
    parent, leaf = os.path.split(os.path.normpath(dest))
    if leaf in ("", ".", ".."):
        raise NspodError(f"{dest}: not a place to copy to")
    return _open_dir(parent or "."), leaf


def _open_dir(path):
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise NspodError(f"{path}: {e.strerror}") from None


def _make(tar, member, parent_fd, parts):
    """Make one entry at parent_fd/parts, walking only real directories."""
    try:
        dir_fd, opened = _walk(parent_fd, parts)
        try:
            _make_entry(tar, member, dir_fd, parts, parent_fd)
        finally:
            for fd in opened:
                os.close(fd)
    except OSError as e:
        raise NspodError(f"{'/'.join(parts)}: {e.strerror} (a symbolic link is never followed)") from None


def _walk(parent_fd, parts):
    """(fd of the directory holding parts[-1], fds opened on the way)."""
    dir_fd, opened = parent_fd, []
    try:
        for part in parts[:-1]:
            dir_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            opened.append(dir_fd)
    except OSError:
        for fd in opened:
            os.close(fd)
        raise
    return dir_fd, opened


def _make_entry(tar, member, dir_fd, parts, parent_fd):
    name, mode = parts[-1], member.mode & 0o777
    existing = _lstat(name, dir_fd)
    if member.isdir():
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            _chmod(name, dir_fd, mode)
        elif not stat.S_ISDIR(existing.st_mode):
            raise NspodError(f"{'/'.join(parts)}: exists and is not a directory")
        return
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise NspodError(f"{'/'.join(parts)}: exists and is a directory")
    if member.issym() or member.islnk():
        if existing is not None:
            os.unlink(name, dir_fd=dir_fd)
        if member.issym():
            os.symlink(member.linkname, name, dir_fd=dir_fd)  # made, never followed by us
        else:  # a hard link to an entry made before, inside this copy
            target = member.linkname.split("/")
            if target[0] != member.name.split("/")[0] or any(t in ("", ".", "..") for t in target):
                raise NspodError(f"refused a hard link outside the copy: {member.linkname!r}")
            src_fd, opened = _walk(parent_fd, [parts[0]] + target[1:])
            try:
                os.link(target[-1] if len(target) > 1 else parts[0], name, src_dir_fd=src_fd,
                        dst_dir_fd=dir_fd, follow_symlinks=False)
            finally:
                for fd in opened:
                    os.close(fd)
    elif member.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as out:
            source = tar.extractfile(member)
            while chunk := source.read(CHUNK):
                out.write(chunk)
            os.fchmod(out.fileno(), mode)
    # Device nodes and FIFOs are not copied: a container's device node has no
    # business on the host (nor the host's in a container).


def _chmod(name, dir_fd, mode):
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fchmod(fd, mode | 0o700)  # (we must still write into it)
    finally:
        os.close(fd)


def _lstat(name, dir_fd):
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
