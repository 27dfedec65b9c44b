"""The overlay driver: a container's root is an overlayfs mount of its image's
layers under a writable layer of its own, as Podman's rootless storage makes
it.

- Each layer is unpacked once per diff_id into the store
  (`layers/sha256/HEX`, see store.py), alone, with whiteouts in overlay's
  form (unpack.unpack_layer): images sharing a layer share its files. The
  unpacking runs where `prepare` runs, inside the node's user namespace when
  rootless, so the files keep the image's owners through the subordinate ids.
- The container instance gets `upper/` and `work/` in its folder of the
  pod's state (a restart: fresh ones); the container's start mounts overlay
  with them in its own mount namespace (rootfs.build_image).
- Rootless, the mount uses `userxattr` (Linux 5.11) and the layers' opaque
  directories carry `user.overlay.opaque`; as root `trusted.overlay.opaque`.

`prepare` mounts once, here, in a mount namespace of the calling child, to
know that this kernel and these filesystems take it; when they do not (an
old kernel, an upper dir on a filesystem overlay refuses, too many layers for
one page of options) it tries fuse-overlayfs when installed, and when that
fails too (`Unavailable`) the caller falls back to the copy.
"""
import errno
import os
import shutil
import subprocess
import tempfile
import time

from ..kernel import mounts, namespaces, process
from . import manifest as mf
from .errors import ImageNotFound
from .unpack import remove_tree, unpack_layer


FUSE = "fuse-overlayfs"


class Unavailable(Exception):
    """overlayfs cannot be mounted here (the reason is the message)."""


def xattr_prefix():
    """Where overlay's metadata goes: user.overlay.* inside a user namespace
    (mounted with userxattr), trusted.overlay.* as the host's root."""
    return "trusted.overlay." if namespaces.in_initial_user_ns() else "user.overlay."


def ensure_layers(store, img, text):
    """The image's layers unpacked in the store, bottom first (each once:
    a lock per diff_id, unpacked aside and renamed into place). Call with
    `store.using()` held."""
    paths = []
    for layer in img["layers"]:
        diff_id = layer["diffID"]
        path = store.layer_path(diff_id)
        paths.append(path)
        if path.is_dir():
            continue
        with store.layer_lock(diff_id):
            if path.is_dir():
                continue  # another start unpacked it meanwhile
            blob = store.blob_path(layer["digest"])
            if not store.has_blob(layer["digest"], layer["size"]):
                raise ImageNotFound(f'image "{text}": layer {layer["digest"]} is missing from the store; '
                                    f"pull it again (nspod rmi -f {text} && nspod pull {text})")
            compression = mf.layer_compression({"mediaType": layer["mediaType"], "digest": layer["digest"]})
            tmp = store.root / "layers" / "tmp"
            tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
            aside = tmp / f"{path.name}-{os.getpid()}"
            remove_tree(str(aside))
            unpack_layer((blob, compression, layer["digest"], diff_id), str(aside), xattr_prefix())
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.rename(aside, path)
    return paths


def prepare(store, img, text, dest, fix_mount_points, drivers=("overlay", FUSE), reasons=()):
    """Layers unpacked, `dest`/upper and `dest`/work made, then a trial mount
    with each of `drivers` in turn (on `dest`/merged, in a mount namespace of
    our own: the caller is a throwaway child) until one mounts; there
    `fix_mount_points` makes /proc, /sys and /dev plain directories of the
    upper layer. Returns the root's record for the start path (with why the
    drivers before it were not used); raises Unavailable when none mounts."""
    paths = ensure_layers(store, img, text)
    base = store.root / "layers"
    record = {
        "driver": None,
        "layers": len(paths),
        "lowerBase": str(base),
        "lower": [str(p.relative_to(base)) for p in reversed(paths)],  # top first
        "upper": os.path.join(dest, "upper"),
        "work": os.path.join(dest, "work"),
        "userxattr": not namespaces.in_initial_user_ns(),
    }
    os.mkdir(record["upper"], 0o755)
    os.chmod(record["upper"], 0o755)  # the merged root's own mode
    os.mkdir(record["work"], 0o700)
    merged = os.path.join(dest, "merged")
    os.mkdir(merged, 0o700)
    namespaces.unshare("mnt")
    mounts.make_private("/")
    reasons = list(reasons)
    for driver in drivers:
        record["driver"] = driver
        try:
            undo = mount(record, merged)
        except OSError as e:
            reasons.append(f"{driver}: {e}")
            continue
        fix_mount_points(merged)
        undo()
        os.rmdir(merged)
        if reasons:
            record["fallback"] = "; ".join(reasons)
        return record
    raise Unavailable("; ".join(reasons))


def mount_op(ops, record, target):
    """The start plan's operation that mounts the root a record of `prepare`
    describes on target (nspod-exec performs it in the container's mount
    namespace). Raises OSError for a record that cannot be mounted."""
    if record["driver"] == FUSE:
        exe = fuse_program()
        if exe is None:
            raise OSError(errno.ENOENT, "not installed (apt-get install fuse-overlayfs), or no /dev/fuse")
        ops.add("fuse", exe, _fuse_options(record), target)
    else:
        ops.add("overlay", target, record["lowerBase"],
                mounts.overlay_options(record["lower"], record["upper"], record["work"], record["userxattr"]))


def mount(record, target):
    """Mount the root a record of `prepare` describes on target. Returns
    what undoes it (for the trial mount)."""
    if record["driver"] == FUSE:
        return _mount_fuse(record, target)
    mounts.overlay(target, record["lowerBase"], record["lower"], record["upper"], record["work"],
                   record["userxattr"])
    return lambda: mounts.umount(target)


# fuse-overlayfs: where overlayfs cannot be mounted (a kernel before 5.11 in a
# user namespace, an upper dir overlayfs refuses, more layers than one page of
# options holds). It reads the layers as they are unpacked here (0/0 whiteouts,
# user.overlay.opaque or trusted.overlay.opaque). Its daemon runs in the
# foreground as a child of the container's process, which the kernel kills
# when that process ends (PR_SET_PDEATHSIG): it lives in the container's
# mount namespace, cgroup and pid namespace, and goes with them.


def fuse_program():
    """The fuse-overlayfs program, when it is installed and /dev/fuse is usable."""
    exe = shutil.which(FUSE)
    return exe if exe and os.access("/dev/fuse", os.R_OK | os.W_OK) else None


def _fuse_options(record):
    lower = ":".join(os.path.join(record["lowerBase"], p) for p in record["lower"])
    return f"lowerdir={lower},upperdir={record['upper']},workdir={record['work']}"


def _mount_fuse(record, target):
    exe = fuse_program()
    if exe is None:
        raise OSError(errno.ENOENT, "not installed (apt-get install fuse-overlayfs), or no /dev/fuse")
    options = _fuse_options(record)
    before = os.stat(target).st_dev
    with tempfile.TemporaryFile() as errors:
        daemon = subprocess.Popen([exe, "-f", "-o", options, target], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=errors, preexec_fn=process.die_with_parent)
        deadline = time.monotonic() + 10
        while os.stat(target).st_dev == before:
            if daemon.poll() is not None or time.monotonic() > deadline:
                if daemon.poll() is None:
                    daemon.kill()
                daemon.wait()
                errors.seek(0)
                text = errors.read().decode(errors="replace").strip() or f"exited {daemon.returncode}"
                raise OSError(errno.EIO, f"fuse-overlayfs on {target}: {text}")
            time.sleep(0.002)

    def undo():
        mounts.umount(target)  # its last mount gone, the daemon ends
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    return undo
