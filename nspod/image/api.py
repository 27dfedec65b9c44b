"""The image verbs under the CLI: pull, images, rmi, prune, and the root
filesystem of an image for the start path. Nothing here imports the HTTP
code except `pull`."""
import json

from ..errors import NspodError
from . import reference
from .errors import ImageInUse, ImageNotFound
from .store import ImageStore

HOST_IMAGES = (None, "", "host")  # a process container (nspod/spec/container.py)


def registry_settings():
    """The config file's registry settings (insecure_registries, registry_mirrors)."""
    from ..config import load

    settings = load()
    return {k: settings[k] for k in ("insecure_registries", "registry_mirrors") if k in settings}


def pull(text, progress=None, store=None, settings=None, platform=None):
    """Pull an image; returns its row with 'reference', 'downloaded' and 'seconds'."""
    from .pull import pull as do_pull

    ref = reference.parse(text)
    store = store or ImageStore()
    row = do_pull(ref, settings if settings is not None else registry_settings(), store, progress, platform)
    row["reference"] = str(ref)
    return row


def images(store=None):
    """[{repository, tag, id, created, size, digest}] one per name, as podman lists them."""
    store = store or ImageStore()
    rows = []
    for img in store.images():
        tags = [(name, ref[1:]) for name, ref in img["refs"] if ref.startswith(":")]
        if not tags:
            names = [name for name, ref in img["refs"]]
            tags = [(names[0] if names else "<none>", "<none>")]
        for name, tag in tags:
            rows.append({"repository": name, "tag": tag, "id": img["config_digest"].partition(":")[2][:12],
                         "created": img["created"], "size": img["size"], "digest": img["digest"]})
    return rows


def lookup(text, store=None):
    """The stored image a reference names (config for the start path included);
    ImageNotFound when it was not pulled."""
    ref = reference.parse(text)
    store = store or ImageStore()
    img = store.lookup(ref)
    if img is None:
        raise ImageNotFound(f'image "{text}" is not in the local store ({ref}): nspod pull {text}')
    return img


def rootfs(text, dest, store=None):
    """Flatten the image `text` names into the new directory `dest` (a
    vfs-style copy of its layers, whiteouts applied). Returns the image row."""
    from . import manifest as mf
    from .unpack import flatten

    store = store or ImageStore()
    img = lookup(text, store)
    with store.using():
        layers = []
        for layer in img["layers"]:
            path = store.blob_path(layer["digest"])
            if not store.has_blob(layer["digest"], layer["size"]):
                raise ImageNotFound(f'image "{text}": layer {layer["digest"]} is missing from the store; '
                                    f"pull it again (nspod rmi -f {text} && nspod pull {text})")
            compression = mf.layer_compression({"mediaType": layer["mediaType"], "digest": layer["digest"]})
            layers.append((path, compression, layer["digest"], layer["diffID"]))
        flatten(layers, dest)
    return img


def _pod_images(store):
    """{image digest: [pod names]} of the images pods use: their containers'
    `image` (not a process container) resolved through the store, and any
    imageID a container's status records."""
    from ..store import Store

    used = {}
    pods = Store()
    try:
        for row in pods.pods():
            manifest = json.loads(row["manifest"])
            spec = manifest.get("spec") or {}
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                text = c.get("image")
                if text in HOST_IMAGES:
                    continue
                try:
                    ref = reference.parse(text)
                except NspodError:
                    continue
                # By digest: that image, whatever names it has left.
                img = store.lookup(ref) or (store.image(ref.digest) if ref.digest else None)
                if img:
                    used.setdefault(img["digest"], []).append(row["name"])
            for c in pods.containers(row["name"]):
                image_id = (json.loads(c["status"]) or {}).get("imageID") or ""
                if "@" in image_id:
                    used.setdefault(image_id.rsplit("@", 1)[1], []).append(row["name"])
    finally:
        pods.close()
    return {k: sorted(set(v)) for k, v in used.items()}


def _pod_layers(store):
    """The unpacked layers (store-relative, "sha256/HEX") the pods' overlay
    roots have as lower dirs: kept even when `rmi -f` removed their image."""
    from ..store import Store

    base = str(store.root / "layers")
    kept = set()
    pods = Store()
    try:
        for row in pods.pods():
            for c in pods.containers(row["name"]):
                record = json.loads(c["rootfs"]) if c["rootfs"] else {}
                if record.get("lowerBase") == base:
                    kept.update(record.get("lower") or ())
    finally:
        pods.close()
    return kept


def rmi(text, force=False, store=None):
    """Remove a name, and the image once no name is left. Returns lines for
    the CLI ("Untagged: ...", "Deleted: ...") as podman prints them."""
    store = store or ImageStore()
    img, refs = store.find(text)
    users = _pod_images(store).get(img["digest"], [])
    if users and not force:
        raise ImageInUse(f'image "{text}" is used by pod(s) {", ".join(users)}: remove them first '
                         f"(nspod rm), or nspod rmi -f {text}")
    by_id = not refs  # an image ID, or a digest the image has but no name of it
    all_refs = store.refs_of(img["digest"])
    if by_id and len(all_refs) > 1 and not force:
        raise ImageInUse(f'image ID "{text}" has several names '
                         f'({", ".join(n + r for n, r in all_refs)}): name one, or nspod rmi -f {text}')
    lines = []
    with store.using(exclusive=True):
        for name, ref in (all_refs if by_id else refs):
            store.untag(name, ref)
            lines.append(f"Untagged: {name}{ref}")
        trash = []
        if not store.refs_of(img["digest"]):
            store.delete_image(img["digest"])
            store.collect(images=())
            trash = store.retire_layers(keep=_pod_layers(store))
            lines.append(f"Deleted: {img['config_digest'].partition(':')[2]}")
    _remove_layers(trash)
    return lines


def prune(store=None):
    """Remove images no name and no pod uses, and blobs no image uses.
    Returns (deleted image IDs, bytes freed)."""
    store = store or ImageStore()
    keep = _pod_images(store)
    with store.using(exclusive=True):
        before = {img["digest"]: img["config_digest"] for img in store.images()}
        removed, freed = store.collect(keep=keep)
        trash = store.retire_layers(keep=_pod_layers(store))
    _remove_layers(trash)
    return [before[d].partition(":")[2] for d in removed], freed


def _remove_layers(paths):
    """Unpacked layers no image uses (moved to layers/trash/ under the
    store's lock). Rootless their files belong to the image's owners, the
    subordinate ids: removed from inside the node's user namespace."""
    if not paths:
        return
    from ..node import rootless

    if rootless():
        from ..api import remove_in_user_ns

        remove_in_user_ns(*paths)
        return
    from .unpack import remove_tree

    for path in paths:
        remove_tree(path)



# -- the start path: a container's root from its image ------------------------------
MOUNT_POINTS = ("proc", "sys", "dev")  # what the start path mounts over (nspod/rootfs.py build_image)


def _mount_points(root):
    """The start path mounts /proc, /sys and /dev in the root: make each a
    plain directory (an image's symlink there must not lead a mount out)."""
    import os
    import stat

    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in MOUNT_POINTS:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and not stat.S_ISDIR(st.st_mode):
                os.unlink(name, dir_fd=fd)
                st = None
            if st is None:
                os.mkdir(name, 0o755, dir_fd=fd)
    finally:
        os.close(fd)


def present(text, store=None):
    """True when the image `text` names is in the local store."""
    store = store or ImageStore()
    try:
        lookup(text, store)
        return True
    except ImageNotFound:
        return False
    finally:
        store.close()


def prepare(text, pull_first, dest, image_dir=None, driver=None):
    """For a container instance, in a child of the watchdog (inside the node's
    user namespace, so the image's owners are kept through the subordinate
    ids): pull `text` when `pull_first`, then make this instance's root in
    `dest`: an overlay of the image's layers (unpacked once each in the
    store) with a fresh upper dir, by overlayfs, else fuse-overlayfs, else
    (or with `driver` "copy") a copy of the layers flattened. `driver`
    (NSPOD_IMAGE_DRIVER, for tests) forces one. Returns what the status and the
    start path need: reference, imageID, runtime config, the root's record,
    whether it pulled, seconds, size."""
    import os
    import time

    from . import overlay
    from .unpack import remove_tree

    started = time.monotonic()
    store = ImageStore(image_dir)
    pulled = None
    if pull_first:
        pulled = pull(text, store=store)
    remove_tree(dest)  # the previous instance's root: a restart gets a fresh one
    os.makedirs(dest)
    root = None
    fallback = f"NSPOD_IMAGE_DRIVER={driver}" if driver else None  # a driver forced, for tests
    if driver != "copy":
        img = lookup(text, store)
        drivers = (driver,) if driver else ("overlay", overlay.FUSE)
        with store.using():
            try:
                root = overlay.prepare(store, img, text, dest, _mount_points, drivers, [fallback] if driver else [])
            except overlay.Unavailable as e:
                fallback = str(e)
                remove_tree(dest)
                os.makedirs(dest)
    if root is None:
        copy = os.path.join(dest, "root")
        img = rootfs(text, copy, store)
        _mount_points(copy)
        root = {"driver": "copy", "layers": len(img["layers"]), "root": copy, "fallback": fallback}
    ref = reference.parse(text)
    return {
        "image": str(ref),
        "imageID": f"{ref.name}@{img['digest']}",
        "config": img["config"],
        "rootfs": root,
        "pulled": pulled is not None,
        "downloaded": pulled["downloaded"] if pulled else 0,
        "size": img["size"],
        "seconds": time.monotonic() - started,
    }
