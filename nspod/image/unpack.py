"""Unpacking layers safely, and flattening an image into one directory.

Debian 12's Python (3.11.2) has no tarfile extraction filter, so the path
safety is ours, and it does not depend on checking names alone: every
entry is created relative to directory file descriptors opened one
component at a time with O_NOFOLLOW, so no symlink is ever followed while
extracting, whatever the archive holds. The rules:

- an absolute name, or one with a `..` component, refuses the layer;
- a symlink is created as a link, never followed: an entry whose parent
  path crosses a symlink made by the same layer refuses the layer (that is
  how "link to /, then a file through it" escapes); a symlink from an
  earlier layer is replaced by a directory, as overlayfs shows an upper
  layer's directory over a lower layer's symlink;
- a hard link must name an entry inside the root (same rules), and is made
  with linkat without following a symlink;
- device nodes are skipped where mknod is not allowed (rootless); FIFOs are made;
- owners are kept where we may chown (root, or root of a user namespace
  with the image's ids mapped); otherwise the files are ours, and setuid /
  setgid bits are dropped from any file whose owner could not be kept (so
  no file runs as an owner the image did not give it; Podman's rootless
  storage keeps the bits because it keeps the owners);
- whiteouts: `.wh.NAME` removes NAME of the layers below, `.wh..wh..opq`
  empties its directory of what the layers below put there (flatten); a
  layer unpacked alone for overlayfs (unpack_layer) gets overlay's form
  instead: a 0/0 character device for NAME (Linux >= 5.8 lets anyone make
  one) and the xattr OPAQUE_XATTR on the directory;
- an archive's own `user.overlay.*` / `trusted.overlay.*` xattrs are
  dropped: an image must not forge overlay's metadata (redirects, origins);
- the uncompressed stream's digest must equal the config's diff_id;
- a member larger than the free space refuses the layer (a corrupt or
  hostile size never fills the disk).

Directory modes and times are applied after the last layer, so a
read-only directory of a lower layer does not stop a later one.
"""
import contextlib
import errno
import hashlib
import os
import shutil
import stat
import subprocess
import tarfile
import zlib

from .errors import PullError, UnsafeLayer, UnsupportedMediaType

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_XATTRS = ("user.overlay.", "trusted.overlay.")
READ = 1 << 20
BIG = 1 << 20   # members above this size are checked against the free space


class _HashingReader:
    """A file-like reader over a decompressing chunk iterator that hashes
    what it hands out (the layer's diff_id)."""

    def __init__(self, chunks, algorithm="sha256"):
        self._chunks = chunks
        self._buf = b""
        self._pos = 0
        self.hash = hashlib.new(algorithm)

    def read(self, n=-1):
        pieces, want = [], n
        while want != 0:
            if self._pos >= len(self._buf):
                self._buf, self._pos = next(self._chunks, b""), 0
                if not self._buf:
                    break
            end = len(self._buf) if want < 0 else min(len(self._buf), self._pos + want)
            pieces.append(self._buf[self._pos:end])
            if want > 0:
                want -= end - self._pos
            self._pos = end
        out = b"".join(pieces)
        self.hash.update(out)
        return out

    def drain(self):
        while self.read(READ):
            pass


def _raw_chunks(path):
    with open(path, "rb") as f:
        while True:
            data = f.read(READ)
            if not data:
                return
            yield data


def _gunzip_chunks(path, digest):
    """gzip members one after another (as gzip -d), streaming."""
    d = zlib.decompressobj(wbits=31)
    for data in _raw_chunks(path):
        while data:
            try:
                out = d.decompress(data)
            except zlib.error as e:
                raise PullError(f"layer {digest}: not valid gzip ({e})") from None
            if out:
                yield out
            if d.eof:
                data = d.unused_data
                d = zlib.decompressobj(wbits=31)
            else:
                data = b""
    tail = d.flush()
    if tail:
        yield tail


def zstd_available():
    for module in ("zstandard", "pyzstd"):
        try:
            __import__(module)
            return module
        except ImportError:
            pass
    return "zstd" if shutil.which("zstd") else None


def _zstd_chunks(path, digest):
    how = zstd_available()
    if how is None:
        raise UnsupportedMediaType(f"layer {digest} is zstd-compressed and no zstd decompressor is installed "
                                   "(install the zstd program: apt-get install zstd; or pip install zstandard)")
    if how == "zstandard":
        import zstandard

        with open(path, "rb") as f:
            reader = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
            while data := reader.read(READ):
                yield data
        return
    if how == "pyzstd":
        import pyzstd

        with open(path, "rb") as f:
            reader = pyzstd.ZstdFile(f)
            while data := reader.read(READ):
                yield data
        return
    proc = subprocess.Popen(["zstd", "-dcq", "--", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while data := proc.stdout.read(READ):
            yield data
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise PullError(f"layer {digest}: zstd failed: {err}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def layer_stream(path, compression, digest):
    if compression == "gzip":
        return _gunzip_chunks(path, digest)
    if compression == "zstd":
        return _zstd_chunks(path, digest)
    if compression == "":
        return _raw_chunks(path)
    raise UnsupportedMediaType(f"layer {digest}: unsupported compression {compression!r}")


# --- path safety ------------------------------------------------------------
def clean_name(name, digest, what="entry"):
    """The components of a member name: no absolute path, no '..'."""
    if name.startswith("/"):
        raise UnsafeLayer(f"layer {digest}: {what} {name!r} is an absolute path; refused")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeLayer(f"layer {digest}: {what} {name!r} has a '..' component; refused")
    if any("\0" in p for p in parts):
        raise UnsafeLayer(f"layer {digest}: {what} {name!r} has a NUL byte; refused")
    return parts


class _Root:
    """A directory we unpack into, reached only through fds with O_NOFOLLOW."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self.dir_modes = {}   # relative path -> (mode, mtime, uid, gid), applied at the end
        self.layer_links = set()   # symlinks the current layer made
        self.layer_made = set()    # every path the current layer made
        self.chown = os.geteuid() == 0
        self.squashed = 0
        self.overlay = None   # unpack_layer: the xattr prefix of overlay's metadata

    def close(self):
        os.close(self.fd)

    def parent(self, parts, digest, name):
        """An fd of the directory holding parts[-1], made as needed; never
        through a symlink. The caller closes it."""
        fd = os.dup(self.fd)
        try:
            for i, comp in enumerate(parts[:-1]):
                rel = "/".join(parts[: i + 1])
                try:
                    st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is not None and stat.S_ISLNK(st.st_mode):
                    if rel in self.layer_links:
                        raise UnsafeLayer(f"layer {digest}: entry {name!r} goes through the symlink {rel!r} "
                                          "the same layer made; refused")
                    os.unlink(comp, dir_fd=fd)   # overlay: an upper directory hides a lower symlink
                    st = None
                elif st is not None and not stat.S_ISDIR(st.st_mode):
                    self._remove(fd, comp)
                    st = None
                if st is None:
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    self.layer_made.add(rel)
                    self.dir_modes.setdefault(rel, (0o755, None, None, None))
                nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def remove(self, dir_fd, name, rel):
        """Remove an entry of a lower layer (whiteout, replacement)."""
        self._remove(dir_fd, name)
        for key in [k for k in self.dir_modes if k == rel or k.startswith(rel + "/")]:
            del self.dir_modes[key]

    @staticmethod
    def _remove(dir_fd, name):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            _make_writable(dir_fd, name)
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)


def _make_writable(dir_fd, name):
    """Lower layers' read-only directories inside a tree we are to remove."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return
    try:
        os.fchmod(fd, 0o700)
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                _make_writable(fd, entry.name)
    finally:
        os.close(fd)


def _owner_and_mode(root, member):
    """(uid, gid or None when not chowning, mode bits to set)."""
    mode = member.mode & 0o7777
    if not root.chown:
        if mode & 0o6000 and (member.uid != 0 or member.gid != 0):
            # Our own uid is the container's root: a setuid-root file keeps its
            # meaning, one set to another owner would not.
            mode &= ~0o6000
            root.squashed += 1
        return None, None, mode
    return member.uid, member.gid, mode


def _chown(root, dir_fd, name, uid, gid, mode):
    if uid is None:
        return mode
    try:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EINVAL):
            raise
        root.squashed += 1
        return mode & ~0o6000   # not the image's owner: no setuid/setgid
    return mode


def _xattrs(dir_fd, name, member):
    for key, value in (member.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr.") and not key[len("SCHILY.xattr."):].startswith(OVERLAY_XATTRS):
            try:
                os.setxattr(f"/proc/self/fd/{dir_fd}/{name}", key[len("SCHILY.xattr."):],
                            value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
            except OSError:
                pass  # security.* and trusted.* need privileges; user.* may be unsupported


def _extract_member(root, tar, member, digest):
    parts = clean_name(member.name, digest)
    if not parts:
        return  # "./" itself: the root's mode stays ours
    rel = "/".join(parts)
    base = parts[-1]
    dir_fd = root.parent(parts, digest, member.name)
    try:
        # Whiteouts.
        if root.overlay and base.startswith(WHITEOUT):
            _overlay_whiteout(root, dir_fd, parts, base, digest, member)
            return
        if base == OPAQUE:
            prefix = "/".join(parts[:-1])
            for entry in os.listdir(dir_fd):
                child = f"{prefix}/{entry}" if prefix else entry
                if child not in root.layer_made:
                    root.remove(dir_fd, entry, child)
            return
        if base.startswith(WHITEOUT):
            if base.startswith(WHITEOUT + WHITEOUT):
                return  # other aufs metadata (.wh..wh.plnk, ...): not content
            target = base[len(WHITEOUT):]
            if target in ("", ".", "..") or "/" in target:
                raise UnsafeLayer(f"layer {digest}: whiteout {member.name!r} names no entry; refused")
            root.remove(dir_fd, target, "/".join(parts[:-1] + [target]))
            return

        uid, gid, mode = _owner_and_mode(root, member)
        try:
            existing = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if member.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                root.remove(dir_fd, base, rel)
                existing = None
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=dir_fd)
            root.layer_made.add(rel)
            _chown(root, dir_fd, base, uid, gid, mode)
            root.dir_modes[rel] = (mode, member.mtime, uid, gid)
            _xattrs(dir_fd, base, member)
            return
        if existing is not None:
            root.remove(dir_fd, base, rel)
        root.layer_made.add(rel)
        if member.isreg():
            if member.size > BIG:
                from .store import free_bytes

                free = free_bytes(root.path)
                if member.size > free:
                    raise PullError(f"layer {digest}: {member.name!r} is {member.size} bytes, "
                                    f"{free} are free in {root.path}")
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dir_fd)
            try:
                src = tar.extractfile(member)
                left = member.size
                while left:
                    data = src.read(min(READ, left))
                    if not data:
                        raise PullError(f"layer {digest}: {member.name!r} ends early (the archive is truncated)")
                    _write_all(fd, data)
                    left -= len(data)
            finally:
                os.close(fd)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=dir_fd)
            root.layer_links.add(rel)
            _chown(root, dir_fd, base, uid, gid, 0)
            os.utime(base, (member.mtime, member.mtime), dir_fd=dir_fd, follow_symlinks=False)
            return
        elif member.islnk():
            target = clean_name(member.linkname, digest, "hard link target")
            if not target:
                raise UnsafeLayer(f"layer {digest}: hard link {member.name!r} to the root; refused")
            src_fd = _existing_parent(root, target, digest, member)
            try:
                os.link(target[-1], base, src_dir_fd=src_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except OSError as e:
                raise UnsafeLayer(f"layer {digest}: hard link {member.name!r} to {member.linkname!r}: "
                                  f"{e.strerror} (only files of the image may be linked); refused") from None
            finally:
                os.close(src_fd)
            return  # a hard link shares the target's owner, mode and times
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=dir_fd)
        elif member.ischr() or member.isblk():
            if os.geteuid() != 0:
                return  # rootless: no device nodes (the container gets /dev from us)
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            try:
                os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=dir_fd)
            except PermissionError:
                return  # root of a user namespace may not either
        else:
            return  # sockets, GNU sparse remnants: nothing to make
        mode = _chown(root, dir_fd, base, uid, gid, mode)
        _chmod_nofollow(dir_fd, base, mode)
        _xattrs(dir_fd, base, member)
        os.utime(base, (member.mtime, member.mtime), dir_fd=dir_fd, follow_symlinks=False)
    finally:
        os.close(dir_fd)


def _overlay_whiteout(root, dir_fd, parts, base, digest, member):
    """A whiteout in overlayfs' own form, for a layer unpacked alone: the
    opaque marker as the xattr `opaque` on its directory (dir_fd), a removed
    entry as a 0/0 character device of its name."""
    if base == OPAQUE:
        os.setxattr(f"/proc/self/fd/{dir_fd}", root.overlay + "opaque", b"y")
        return
    if base.startswith(WHITEOUT + WHITEOUT):
        return  # other aufs metadata (.wh..wh.plnk, ...): not content
    target = base[len(WHITEOUT):]
    if target in ("", ".", "..") or "/" in target:
        raise UnsafeLayer(f"layer {digest}: whiteout {member.name!r} names no entry; refused")
    root.remove(dir_fd, target, "/".join(parts[:-1] + [target]))
    os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=dir_fd)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _chmod_nofollow(dir_fd, name, mode):
    # The entry is a regular file or a FIFO we just made (never a symlink), so
    # open it by fd with O_PATH|O_NOFOLLOW and chmod through /proc (fchmodat
    # has no working AT_SYMLINK_NOFOLLOW on Linux).
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def _existing_parent(root, parts, digest, member):
    """The fd of the directory holding an existing hard-link target, found
    without following a symlink and without making anything."""
    fd = os.dup(root.fd)
    try:
        for comp in parts[:-1]:
            try:
                nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError, OSError) as e:
                if isinstance(e, OSError) and e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    raise
                raise UnsafeLayer(f"layer {digest}: hard link {member.name!r} to {member.linkname!r}, "
                                  "which is not inside the image (or goes through a symlink); refused") from None
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def apply_layer(root, blob_path, compression, digest, diff_id=None):
    """Unpack one layer onto `root` (a _Root), whiteouts applied."""
    root.layer_links = set()
    root.layer_made = set()
    algorithm = (diff_id or "sha256:").partition(":")[0]
    reader = _HashingReader(iter(layer_stream(blob_path, compression, digest)), algorithm)
    try:
        with tarfile.open(fileobj=reader, mode="r|", errorlevel=2) as tar:
            for member in tar:
                _extract_member(root, tar, member, digest)
        reader.drain()
    except tarfile.TarError as e:
        raise PullError(f"layer {digest}: not a valid tar archive ({e})") from None
    except (UnicodeError, ValueError) as e:
        raise PullError(f"layer {digest}: unreadable ({e})") from None
    if diff_id:
        got = f"{algorithm}:{reader.hash.hexdigest()}"
        if got != diff_id:
            raise PullError(f"layer {digest}: its content's digest {got} is not the diff_id {diff_id} "
                            "the image config gives")


def _walk(root, parts):
    """An fd of the existing directory parts[:-1] name, or None: never
    through a symlink, never making anything."""
    fd = os.dup(root.fd)
    for comp in parts[:-1]:
        try:
            nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = nfd
    return fd


def finish(root):
    """Directory modes and times, deepest first (owners were set as made)."""
    for rel in sorted(root.dir_modes, key=lambda r: r.count("/"), reverse=True):
        mode, mtime, _uid, _gid = root.dir_modes[rel]
        parts = rel.split("/")
        fd = _walk(root, parts)
        if fd is None:
            continue  # whited out, or replaced by a symlink, by a later layer
        try:
            dfd = os.open(parts[-1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        try:
            os.fchmod(dfd, mode)
            if mtime is not None:
                os.utime(dfd, (mtime, mtime))
        finally:
            os.close(dfd)


def remove_tree(path):
    """rm -rf that also gets through the read-only directories of an image."""
    path = os.path.abspath(path)
    try:
        parent = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        _make_writable(parent, os.path.basename(path))
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(os.path.basename(path), dir_fd=parent)
    finally:
        os.close(parent)


def unpack_layer(layer, dest, xattr_prefix):
    """Unpack one layer (blob path, compression, digest, diff_id) alone into
    `dest` (created, must not exist) as an overlayfs lower directory:
    whiteouts in overlay's form, `xattr_prefix` ("user.overlay." with
    userxattr, "trusted.overlay." as root) naming its metadata. On failure
    nothing is left."""
    path, compression, digest, diff_id = layer

    def fill(root):
        root.overlay = xattr_prefix
        apply_layer(root, path, compression, digest, diff_id)

    return _new_root(dest, fill)


def flatten(layers, dest):
    """Unpack layers [(blob path, compression, digest, diff_id)] in order
    into `dest` (created, must not exist): one directory with the image's
    root filesystem (a vfs-style copy). On failure nothing is left."""

    def fill(root):
        for path, compression, digest, diff_id in layers:
            apply_layer(root, path, compression, digest, diff_id)

    return _new_root(dest, fill)


def _new_root(dest, fill):
    """Make `dest` (it must not exist), fill(root) it through a _Root, finish
    it; on failure nothing is left. Returns what was squashed (root.squashed)."""
    os.mkdir(dest, 0o700)
    root = None
    try:
        root = _Root(dest)
        fill(root)
        finish(root)
        os.chmod(dest, 0o755)
        return root.squashed
    except BaseException:
        if root is not None:
            root.close()
            root = None
        remove_tree(dest)
        raise
    finally:
        if root is not None:
            root.close()
