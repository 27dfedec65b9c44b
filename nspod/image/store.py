"""The local image store: content-addressed blobs and an index of names.

    $XDG_DATA_HOME/nspod/images/        (~/.local/share/nspod/images; root: /var/lib/nspod/images;
                                          NSPOD_IMAGE_DIR overrides)
      blobs/sha256/HEX                   manifests, configs, layers, as the registry served them
      tmp/                               downloads in progress (renamed into blobs/ once verified)
      locks/                             one lock file per blob being downloaded (removed after)
      store.lock                         shared by pulls and readers, exclusive for rmi and prune
      images.db                          SQLite: images (by manifest digest) and refs (tags, digests)
      layers/sha256/HEX                  a layer unpacked once per diff_id, overlayfs' lower
                                         directory (whiteouts in overlay's form), shared by images
      layers/tmp/, layers/trash/         unpacking in progress; unused layers on their way out

Not the runtime state folder (a tmpfs): images outlive a reboot. The folder
is mode 0700: layers may carry setuid files, and no other user may reach them.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from ..errors import StateError
from .errors import ImageNotFound, PullError

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    digest TEXT PRIMARY KEY,         -- the platform manifest's digest
    media_type TEXT NOT NULL,
    config_digest TEXT NOT NULL,     -- the image ID, as docker and podman show it
    config TEXT NOT NULL,            -- runtime config: Entrypoint, Cmd, Env, WorkingDir, User, ... (JSON)
    layers TEXT NOT NULL,            -- [{digest, size, mediaType, diffID}] (JSON)
    platform TEXT NOT NULL,          -- {os, architecture, variant} (JSON)
    created TEXT,                    -- the image config's creation time (RFC 3339)
    size INTEGER NOT NULL,           -- bytes of its blobs in the store
    pulled REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT NOT NULL,              -- docker.io/library/busybox
    ref TEXT NOT NULL,               -- ':1.36' or '@sha256:...' (what was asked for; may be an index)
    image TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,
    PRIMARY KEY (name, ref)
);
"""


def image_dir():
    override = os.environ.get("NSPOD_IMAGE_DIR")
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/lib/nspod/images")
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "nspod" / "images"


def digest_path(digest):
    """'sha256:HEX' -> 'sha256/HEX' (the digest was validated before)."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}/{hexpart}"


def hasher(digest):
    return hashlib.new(digest.partition(":")[0])


class _Lock:
    """An exclusive lock on a file that is removed when released: the holder
    unlinks it before unlocking, and a waiter that then gets a lock on the
    unlinked file sees that the path names another file (or none) and tries
    again. So concurrent pulls wait for each other and no lock file stays."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def __exit__(self, *_):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)


def _open_index(path, patience=30):
    """The index's connection, in WAL mode with its tables. Processes that
    open a new index at once (two pods pulling their first image) can get
    "database is locked" at once, the busy timeout notwithstanding: each
    holds a read lock and wants a write lock to switch the new file to WAL,
    and SQLite refuses one of them rather than wait in a deadlock. The
    refused one lets go of everything and tries again."""
    deadline = time.monotonic() + patience
    while True:
        db = sqlite3.connect(path, timeout=patience, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(SCHEMA)
            return db
        except sqlite3.OperationalError as e:
            db.close()
            busy = getattr(e, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class ImageStore:
    def __init__(self, root=None):
        self.root = Path(root) if root else image_dir()
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            for sub in ("blobs/sha256", "blobs/sha512", "tmp", "locks"):
                (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"cannot make the image store {self.root}: {e.strerror}") from None
        self.db_path = self.root / "images.db"
        try:
            self.db = _open_index(self.db_path)
        except sqlite3.Error as e:
            raise StateError(f"the image store's index {self.db_path}: {e}") from None

    def close(self):
        self.db.close()

    # --- locks -------------------------------------------------------------
    @contextlib.contextmanager
    def using(self, exclusive=False):
        """Pulls and readers hold this shared; rmi and prune exclusive, so
        nothing is collected while a pull has fetched it but not recorded it."""
        fd = os.open(self.root / "store.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def blob_lock(self, digest):
        return _Lock(self.root / "locks" / digest.replace(":", "-"))

    # --- unpacked layers (the overlay driver, image/overlay.py) ------------------
    def layer_path(self, diff_id):
        return self.root / "layers" / digest_path(diff_id)

    def layer_lock(self, diff_id):
        return _Lock(self.root / "locks" / ("layer-" + diff_id.replace(":", "-")))

    def retire_layers(self, keep=()):
        """Move the unpacked layers no image uses (nor `keep` names, as
        "sha256/HEX": a running pod's lower dirs), and unpacking leftovers,
        to layers/trash/ (a rename: a half-removed layer is never used), and
        return what is there. The caller removes those trees, inside the
        node's user namespace when rootless (their files belong to the
        image's owners). Call with `using(exclusive=True)` held."""
        used = {layer["diffID"] for img in self.images() for layer in img["layers"] if layer.get("diffID")}
        trash = self.root / "layers" / "trash"
        found = []
        for algorithm in ("sha256", "sha512"):
            folder = self.root / "layers" / algorithm
            if folder.is_dir():
                found += [(e.path, f"{algorithm}-{e.name}") for e in os.scandir(folder)
                          if f"{algorithm}:{e.name}" not in used and f"{algorithm}/{e.name}" not in keep]
        tmp = self.root / "layers" / "tmp"
        if tmp.is_dir():
            found += [(e.path, f"tmp-{e.name}") for e in os.scandir(tmp)]
        if found:
            trash.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path, name in found:
            os.rename(path, trash / f"{name}-{os.getpid()}-{time.monotonic_ns()}")
        return [e.path for e in os.scandir(trash)] if trash.is_dir() else []

    # --- blobs -------------------------------------------------------------
    def blob_path(self, digest):
        return self.root / "blobs" / digest_path(digest)

    def has_blob(self, digest, size=None):
        try:
            st = os.stat(self.blob_path(digest))
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def read_blob(self, digest, limit):
        """A small blob (manifest, config), verified again on read."""
        with open(self.blob_path(digest), "rb") as f:
            data = f.read(limit + 1)
        h = hasher(digest)
        h.update(data)
        if len(data) > limit or f"{digest.partition(':')[0]}:{h.hexdigest()}" != digest:
            raise PullError(f"blob {digest} in the image store {self.root} is corrupt; "
                            "remove the image (nspod rmi -f) and pull it again")
        return data

    def ingest(self, digest, size, chunks, progress=None):
        """Store a blob from an iterator of byte chunks: into tmp/, hashed and
        counted on the way, renamed into blobs/ only when both the size and
        the digest match. Returns False if the blob was there already (a
        concurrent pull of it is waited for: the lock is per digest)."""
        final = self.blob_path(digest)
        with self.blob_lock(digest):
            if self.has_blob(digest, size):
                return False
            tmp = self.root / "tmp" / f"{digest.replace(':', '-')}.{os.getpid()}"
            h, done = hasher(digest), 0
            try:
                with open(tmp, "wb") as f:
                    for chunk in chunks():
                        done += len(chunk)
                        if size is not None and done > size:
                            raise PullError(f"blob {digest}: the registry sent more than the {size} bytes "
                                            "its descriptor gives")
                        h.update(chunk)
                        f.write(chunk)
                        if progress:
                            progress(done)
                    if size is not None and done != size:
                        raise PullError(f"blob {digest}: got {done} bytes, its descriptor gives {size}")
                    got = f"{digest.partition(':')[0]}:{h.hexdigest()}"
                    if got != digest:
                        raise PullError(f"blob {digest}: digest mismatch (the content's digest is {got}); "
                                        "nothing was stored")
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(tmp, final)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return True

    def put_bytes(self, digest, data):
        """A blob already in memory (and already verified by the caller)."""
        return self.ingest(digest, len(data), lambda: [data])

    # --- the index ---------------------------------------------------------
    def _tx(self):
        return _Tx(self.db, self.db_path)

    def _query(self, sql, args=()):
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StateError(f"the image store's index {self.db_path}: {e}") from None

    def record(self, name, ref, image):
        """Name `image` (a dict of the images columns) as name + ref; the
        previous image of that ref, if any, loses the name (it stays until
        `prune` or `rmi` removes it, as podman keeps a dangling image)."""
        with self._tx():
            self.db.execute(
                "INSERT OR IGNORE INTO images (digest, media_type, config_digest, config, layers, platform,"
                " created, size, pulled) VALUES (:digest, :media_type, :config_digest, :config, :layers,"
                " :platform, :created, :size, :pulled)",
                {**image, "config": json.dumps(image["config"]), "layers": json.dumps(image["layers"]),
                 "platform": json.dumps(image["platform"]), "pulled": time.time()})
            self.db.execute("INSERT OR REPLACE INTO refs (name, ref, image) VALUES (?, ?, ?)",
                            (name, ref, image["digest"]))

    def lookup(self, reference):
        """The image row a Reference names locally, or None."""
        rows = self._query("SELECT image FROM refs WHERE name = ? AND ref = ?",
                           (reference.name, f"@{reference.digest}" if reference.digest else f":{reference.tag}"))
        if rows:
            return self.image(rows[0]["image"])
        if reference.digest and self._query("SELECT 1 FROM refs WHERE name = ? AND image = ?",
                                            (reference.name, reference.digest)):
            return self.image(reference.digest)  # name@digest of an image pulled by a tag of name
        return None

    def image(self, digest):
        rows = self._query("SELECT * FROM images WHERE digest = ?", (digest,))
        return _image(rows[0]) if rows else None

    def images(self):
        """Every image with its refs, newest pull first."""
        out = []
        for row in self._query("SELECT * FROM images ORDER BY pulled DESC"):
            img = _image(row)
            img["refs"] = [(r["name"], r["ref"]) for r in
                           self._query("SELECT name, ref FROM refs WHERE image = ? ORDER BY name, ref",
                                       (row["digest"],))]
            out.append(img)
        return out

    def find(self, text):
        """(image, [(name, ref)]) for what `rmi` was given: a reference (the
        list holds its ref if it is a name, not just a digest the image has),
        or an image ID, a prefix of at least 4 hex digits (the list is None)."""
        from .reference import parse

        text = text.strip()
        if (4 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text)) or text.startswith("sha256:"):
            hexpart = text.removeprefix("sha256:")
            rows = self._query("SELECT digest FROM images WHERE config_digest LIKE ? OR digest LIKE ?",
                               (f"sha256:{hexpart}%", f"sha256:{hexpart}%"))
            if len(rows) > 1:
                raise ImageNotFound(f'image ID "{text}" is ambiguous: give more digits')
            if rows:
                return self.image(rows[0]["digest"]), None
        ref = parse(text)
        img = self.lookup(ref)
        if img is None:
            raise ImageNotFound(f'image "{text}" is not in the local store ({ref})')
        key = f"@{ref.digest}" if ref.digest else f":{ref.tag}"
        rows = self._query("SELECT 1 FROM refs WHERE name = ? AND ref = ?", (ref.name, key))
        return img, ([(ref.name, key)] if rows else [])

    def untag(self, name, ref):
        with self._tx():
            self.db.execute("DELETE FROM refs WHERE name = ? AND ref = ?", (name, ref))

    def refs_of(self, digest):
        return [(r["name"], r["ref"]) for r in self._query("SELECT name, ref FROM refs WHERE image = ?", (digest,))]

    def delete_image(self, digest):
        with self._tx():
            self.db.execute("DELETE FROM images WHERE digest = ?", (digest,))

    def collect(self, keep=(), images=None):
        """Remove the images no ref names (all of them, or those of `images`;
        never those in `keep`), then every blob no image uses, and leftovers
        of interrupted downloads. Call with `using(exclusive=True)` held.
        Returns (images removed, bytes freed)."""
        removed = []
        with self._tx():
            for row in self.db.execute(
                    "SELECT digest FROM images WHERE digest NOT IN (SELECT image FROM refs)").fetchall():
                if row["digest"] not in keep and (images is None or row["digest"] in images):
                    self.db.execute("DELETE FROM images WHERE digest = ?", (row["digest"],))
                    removed.append(row["digest"])
        used = set()
        for img in self.images():
            used.add(img["digest"])
            used.add(img["config_digest"])
            used.update(layer["digest"] for layer in img["layers"])
            used.update(ref[1:] for _, ref in img["refs"] if ref.startswith("@"))
        freed = 0
        for algorithm in ("sha256", "sha512"):
            folder = self.root / "blobs" / algorithm
            for entry in os.scandir(folder):
                if f"{algorithm}:{entry.name}" not in used:
                    freed += entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
        for entry in os.scandir(self.root / "tmp"):
            # Pulls hold `using()` shared, so with it held exclusively these are leftovers.
            freed += entry.stat(follow_symlinks=False).st_size
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        return removed, freed


def _image(row):
    img = dict(row)
    for key in ("config", "layers", "platform"):
        img[key] = json.loads(img[key])
    return img


class _Tx:
    def __init__(self, db, path):
        self.db, self.path = db, path

    def __enter__(self):
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StateError(f"the image store's index {self.path}: {e}") from None

    def __exit__(self, exc_type, exc, tb):
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        except sqlite3.Error as e:
            if exc_type is None:
                raise StateError(f"the image store's index {self.path}: {e}") from None
        if isinstance(exc, sqlite3.Error):
            raise StateError(f"the image store's index {self.path}: {exc}") from None
        return False


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize

