"""Helpers for the tests of pods that run images (integration and root
tiers): a tiny image built here from the machine's static busybox, pushed to
a real registry (tests/imagetest.py)."""
import gzip
import io
import os
import tarfile

import pytest

from imagetest import Image, Registry, sha256

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "ls", "id", "pwd", "sleep", "stat", "test", "touch", "env")
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n"
GROUP = b"root:x:0:\nwww:x:33:\n"


def layer(entries):
    """(gzip blob, diff_id): entries are (name, kind, value, uid): kind 'dir',
    'file' (bytes), 'link' (symlink target), 'fifo', 'blockdev' ((major, minor)),
    'whiteout', 'opaque' (the directory `name`'s lower content hidden)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, value, uid in entries:
            if kind == "whiteout":
                d, _, base = name.rpartition("/")
                name, kind, value = f"{d}/.wh.{base}" if d else f".wh.{base}", "file", b""
            elif kind == "opaque":
                name, kind, value = f"{name}/.wh..wh..opq", "file", b""
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid = 1_700_000_000, uid, uid
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            elif kind == "fifo":
                info.type, info.mode = tarfile.FIFOTYPE, 0o644
                tar.addfile(info)
            elif kind == "blockdev":  # value: (major, minor)
                info.type, info.mode = tarfile.BLKTYPE, 0o666
                info.devmajor, info.devminor = value
                tar.addfile(info)
            else:
                info.size, info.mode = len(value), 0o755 if name.startswith("bin/") else 0o644
                tar.addfile(info, io.BytesIO(value))
    plain = buf.getvalue()
    return gzip.compress(plain, mtime=0), sha256(plain)


def base_entries():
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    entries = [("bin", "dir", None, 0), ("bin/busybox", "file", busybox, 0)]
    entries += [(f"bin/{a}", "link", "busybox", 0) for a in APPLETS]
    entries += [("etc", "dir", None, 0), ("etc/passwd", "file", PASSWD, 0), ("etc/group", "file", GROUP, 0),
                ("etc/gone", "file", b"lower\n", 0), ("etc/image-file", "file", b"from the image\n", 0),
                ("tmp", "dir", None, 0), ("data", "dir", None, 33), ("data/owned", "file", b"33\n", 33),
                ("var", "dir", None, 0), ("var/www", "dir", None, 33)]
    return entries


def tree_entries(top):
    """`layer` entries of a folder of this machine, named as on the host
    (relative to /): directories, files, symlinks; owned by root."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(top):
        rel = os.path.relpath(dirpath, "/")
        entries.append((rel, "dir", None, 0))
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                entries.append((os.path.join(rel, name), "link", os.readlink(path), 0))
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    entries.append((os.path.join(rel, name), "file", f.read(), 0))
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return entries


TOP = [("etc/gone", "whiteout", None, 0), ("etc/top", "file", b"upper\n", 0)]


class LayeredImage(Image):
    """An Image (imagetest) from layers made by `layer`."""

    def __init__(self, layers, config=None):
        import json

        from nspod.image.manifest import this_platform
        from imagetest import GZIP_LAYER, OCI_CONFIG, OCI_MANIFEST

        self.blobs, descriptors, diff_ids = {}, [], []
        for entries in layers:
            blob, diff_id = layer(entries)
            self.blobs[sha256(blob)] = blob
            descriptors.append({"mediaType": GZIP_LAYER, "digest": sha256(blob), "size": len(blob)})
            diff_ids.append(diff_id)
        self.architecture = this_platform()["architecture"]
        self.config = json.dumps({"architecture": self.architecture, "os": "linux",
                                  "created": "2024-05-01T10:00:00Z", "config": config or {},
                                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        self.blobs[sha256(self.config)] = self.config
        self.manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                    "config": {"mediaType": OCI_CONFIG, "digest": sha256(self.config),
                                               "size": len(self.config)},
                                    "layers": descriptors}).encode()
        self.media_type = OCI_MANIFEST
        self.digest = sha256(self.manifest)
        self.config_digest = sha256(self.config)
        self.layer_digests = [d["digest"] for d in descriptors]


def busybox_image(config=None, top=True):
    return LayeredImage([base_entries()] + ([TOP] if top else []), config)


# A third layer for the overlay driver: a lower directory made opaque.
OPAQUE_LOWER = [("opq", "dir", None, 0), ("opq/lower-a", "file", b"a\n", 0), ("opq/lower-b", "file", b"b\n", 0)]
OPAQUE_TOP = [("opq", "dir", None, 0), ("opq", "opaque", None, 0), ("opq/new", "file", b"new\n", 0)]


def layered_image(config=None):
    """busybox_image's two layers (the same blobs), then a layer with a
    directory and one that makes it opaque: four layers."""
    return LayeredImage([base_entries(), TOP, OPAQUE_LOWER, OPAQUE_TOP], config)


@pytest.fixture
def registry(tmp_path):
    r = Registry(tmp_path / "registry").start()
    yield r
    r.stop()


@pytest.fixture
def image_dir(tmp_path, monkeypatch):
    """The CLI's image store for this test (NSPOD_IMAGE_DIR)."""
    path = tmp_path / "images"
    monkeypatch.setenv("NSPOD_IMAGE_DIR", str(path))
    return path


ACCOUNTS_PASSWD = (b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n"
                   b"app:x:1000:1000::/home/app:/bin/sh\n")
# app is a member of staff and audio; the group named "app" (1001) is not a supplementary
# group of app (WithAdditionalGIDs leaves out the group named as the user).
ACCOUNTS_GROUP = b"root:x:0:\nwww:x:33:\nstaff:x:50:app,www\naudio:x:63:app\napp:x:1001:app\n"
SHOW_IDENTITY = ('while read -r line; do case $line in Uid:*|Gid:*|Groups:*) echo $line;; esac; '
                 'done < /proc/self/status; echo HOME $HOME')


def accounts_image(user, etc="files"):
    """busybox_image's first layer, then the image's own /etc/passwd and
    /etc/group: as files, as symlinks that point out of the root (which must
    be resolved inside it), or /etc/passwd as a FIFO."""
    top = [("etc", "dir", None, 0)]
    if etc == "files":
        top += [("etc/passwd", "file", ACCOUNTS_PASSWD, 0), ("etc/group", "file", ACCOUNTS_GROUP, 0)]
    elif etc == "links":
        top += [("srv", "dir", None, 0), ("srv/passwd", "file", ACCOUNTS_PASSWD, 0),
                ("srv/group", "file", ACCOUNTS_GROUP, 0),
                ("etc/passwd", "link", "../../../../../../srv/passwd", 0), ("etc/group", "link", "/srv/group", 0)]
    elif etc == "fifo":
        top += [("etc/passwd", "fifo", None, 0)]
    return LayeredImage([base_entries(), top], {"User": user})
