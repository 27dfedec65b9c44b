"""State: one SQLite database per user (WAL), safe for concurrent CLI calls
and several watchdogs writing at once. Logs are plain files beside it."""
import json
import os
import sqlite3
import time

from . import faults
from .errors import NspodError, NotFound, StateError, note
from .paths import state_dir
from .phase import new_status

SCHEMA = """
CREATE TABLE IF NOT EXISTS pods (
    name TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    manifest TEXT NOT NULL,          -- normalized Kubernetes Pod object (JSON)
    settings TEXT NOT NULL,          -- run options, e.g. back-off base (JSON)
    created REAL NOT NULL,
    desired TEXT NOT NULL,           -- 'running' or 'stopped'
    phase TEXT NOT NULL,             -- last phase the watchdog computed
    started REAL,                    -- sandbox start time
    stop_timeout REAL,               -- grace period asked for by `stop --timeout`
    watchdog_pid INTEGER, watchdog_start INTEGER,
    pause_pid INTEGER, pause_start INTEGER,
    pause_ns TEXT                    -- namespace ids of the pause holder (JSON)
);
CREATE TABLE IF NOT EXISTS containers (
    pod TEXT NOT NULL REFERENCES pods(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    idx INTEGER NOT NULL,
    pid INTEGER, pid_start INTEGER,
    namespaces TEXT,                 -- JSON
    status TEXT NOT NULL,            -- Kubernetes containerStatus (JSON)
    PRIMARY KEY (pod, name)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    pod TEXT NOT NULL REFERENCES pods(name) ON DELETE CASCADE,
    object TEXT NOT NULL,            -- e.g. 'spec.containers{app}' as kubectl shows it
    type TEXT NOT NULL,              -- Normal or Warning
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    count INTEGER NOT NULL,
    first REAL NOT NULL,
    last REAL NOT NULL
);
"""


def state_error(path, error):
    """One clear line for a fault of the state database, with what to do."""
    text = str(error)
    if "disk is full" in text or getattr(error, "errno", None) == 28:
        try:
            st = os.statvfs(os.path.dirname(path))
            free = f"{st.f_bavail * st.f_frsize // 1024} KiB free"
        except OSError:
            free = "no space"
        return StateError(f"cannot write nspod's state {path}: the disk is full ({free}); free some space")
    if "readonly" in text or "read-only" in text:
        return StateError(f"cannot write nspod's state {path}: it is read-only "
                          "(check the owner and mode of the file and its folder)")
    if "unable to open" in text:
        return StateError(f"cannot open nspod's state {path} (check the owner and mode of the "
                          "file and its folder, and the free space)")
    return StateError(f"nspod's state {path}: {text}")


class _Connection:
    """The sqlite3 connection, with every error turned into a StateError at
    this one boundary (callers never see sqlite3's exceptions)."""

    def __init__(self, path):
        self.path = str(path)
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise state_error(self.path, e) from None
        self._db.row_factory = sqlite3.Row

    def execute(self, sql, args=()):
        try:
            return self._db.execute(sql, args)
        except sqlite3.IntegrityError:
            raise  # a constraint: the caller's business (e.g. a name taken)
        except sqlite3.Error as e:
            raise state_error(self.path, e) from None

    def executescript(self, sql):
        try:
            return self._db.executescript(sql)
        except sqlite3.Error as e:
            raise state_error(self.path, e) from None

    def close(self):
        self._db.close()


class Store:
    def __init__(self, path=None):
        self.path = path or state_dir() / "nspod.db"
        self.db = _Connection(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")  # state lives on tmpfs anyway
        self.db.execute("PRAGMA cache_size=-256")  # KiB; rows are few, and every watchdog has a connection
        self.db.executescript(SCHEMA)
        self._add_columns("pods", {"cgroup": "TEXT",        # {"path", "paths", "limits"} (JSON)
                                   "reason": "TEXT",        # status.reason, e.g. DeadlineExceeded
                                   "message": "TEXT",       # status.message
                                   "conditions": "TEXT",    # the watchdog's last pod conditions (JSON)
                                   "backoff": "TEXT"})      # {container: exits counted} of a supervisor that left (JSON)
        self._add_columns("containers", {"cgroup": "TEXT",     # {"path", "procs", "limits"} (JSON)
                                         "security": "TEXT",   # {"seccomp": mode} as it started (JSON)
                                         "image_config": "TEXT",   # the image's config: exec's Env, WorkingDir (JSON)
                                         "rootfs": "TEXT",  # an image's root: driver, layers, paths (JSON)
                                         "init": "INTEGER",  # 1: an init container (spec.initContainers)
                                         "console": "TEXT",  # tty: the pty master's holder {"pid", "start"} (JSON)
                                         "oom_before": "INTEGER"})  # its cgroup's oom_kill count as it started

    def _add_columns(self, table, columns):
        """Columns added since the table was first made (state outlives upgrades)."""
        have = {r["name"] for r in self.db.execute(f"PRAGMA table_info({table})").fetchall()}
        for name, kind in columns.items():
            if name not in have:
                try:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except StateError:  # another process added it just now
                    if name not in {r["name"] for r in self.db.execute(f"PRAGMA table_info({table})").fetchall()}:
                        raise

    def close(self):
        self.db.close()

    def _one(self, sql, args):
        # fetchall, not fetchone: an unfinished SELECT keeps its read
        # transaction open, and this connection would go on seeing an old snapshot.
        rows = self.db.execute(sql, args).fetchall()
        return rows[0] if rows else None

    def tx(self):
        """A write transaction: `with store.tx(): ...` (BEGIN IMMEDIATE)."""
        return _Tx(self.db)

    # pods
    def create_pod(self, pod, uid, settings):
        try:
            with self.tx():
                self.db.execute(
                    "INSERT INTO pods (name, uid, manifest, settings, created, desired, phase)"
                    " VALUES (?, ?, ?, ?, ?, 'running', 'Pending')",
                    (pod.name, uid, json.dumps(pod.manifest), json.dumps(settings), time.time()),
                )
                # Init containers first, in order (rows are read by idx).
                for idx, c in enumerate(pod.all_containers()):
                    status = new_status(c.name, bool(pod.init_containers))
                    self.db.execute(
                        "INSERT INTO containers (pod, name, idx, status, init) VALUES (?, ?, ?, ?, ?)",
                        (pod.name, c.name, idx, json.dumps(status), int(pod.is_init(c.name))),
                    )
        except sqlite3.IntegrityError:
            raise NspodError(f'pod "{pod.name}" already exists (nspod rm {pod.name} first, or pick another name)') from None
        faults.point("store:pod-created")  # (the row is made; the caller does not know yet)

    def pod(self, name):
        row = self._one("SELECT * FROM pods WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f'pod "{name}" not found')
        return row

    def pods(self):
        return self.db.execute("SELECT * FROM pods ORDER BY created").fetchall()

    def update_pod(self, name, **fields):
        if fields.get("cgroup") is not None:
            fields["cgroup"] = json.dumps(fields["cgroup"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE pods SET {cols} WHERE name = ?", (*fields.values(), name))

    def delete_pod(self, name):
        self.db.execute("DELETE FROM pods WHERE name = ?", (name,))

    # containers
    def containers(self, pod):
        return self.db.execute("SELECT * FROM containers WHERE pod = ? ORDER BY idx", (pod,)).fetchall()

    def update_container(self, pod, name, **fields):
        if "status" in fields:
            fields["status"] = json.dumps(fields["status"])
        for key in ("namespaces", "cgroup", "security", "image_config", "rootfs", "console"):
            if fields.get(key) is not None:
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE containers SET {cols} WHERE pod = ? AND name = ?", (*fields.values(), pod, name))

    # events: a repeat of the same (object, reason, message) bumps the count, as kubectl shows it
    def event(self, pod, obj, type_, reason, message):
        now = time.time()
        with self.tx():
            row = self._one(
                "SELECT id FROM events WHERE pod = ? AND object = ? AND reason = ? AND message = ?",
                (pod, obj, reason, message),
            )
            if row:
                self.db.execute("UPDATE events SET count = count + 1, last = ? WHERE id = ?", (now, row["id"]))
            else:
                self.db.execute(
                    "INSERT INTO events (pod, object, type, reason, message, count, first, last)"
                    " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                    (pod, obj, type_, reason, message, now, now),
                )

    def events(self, pod):
        return self.db.execute("SELECT * FROM events WHERE pod = ? ORDER BY last, id", (pod,)).fetchall()


class _Tx:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return
            except StateError:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self):
        try:
            self.db.execute("ROLLBACK")
        except StateError:
            pass  # the first error is the one to report


class RetryingStore:
    """The watchdog's view of the store. A write that fails (a full disk,
    read-only state) is kept in memory, newest value per field, and retried
    by `flush()` on the watchdog's loop, so supervision never stops for it;
    once written, the gap is reported as an event. Reads go to the store."""

    RETRY_EVERY = 1.0  # seconds

    def __init__(self, store, pod):
        self.store = store
        self.pod_name = pod
        self.pod_fields = {}
        self.container_fields = {}   # container -> fields
        self.events = []
        self.failing_since = None
        self.failure = None
        self.next_try = 0.0

    def __getattr__(self, name):  # reads, tx, db: straight to the store
        return getattr(self.store, name)

    @property
    def pending(self):
        return bool(self.pod_fields or self.container_fields or self.events)

    def _failed(self, error):
        if self.failing_since is None:
            self.failing_since = time.time()
            note(f"watchdog {self.pod_name}: {error}; keeping the pod's state in memory")
        self.failure = error
        self.next_try = time.monotonic() + self.RETRY_EVERY

    def update_pod(self, name, **fields):
        if name != self.pod_name:  # another pod's: not ours to keep
            return self.store.update_pod(name, **fields)
        self.pod_fields.update(fields)
        self.flush(now=True)

    def update_container(self, pod, name, **fields):
        if pod != self.pod_name:
            return self.store.update_container(pod, name, **fields)
        self.container_fields.setdefault(name, {}).update(fields)
        self.flush(now=True)

    def event(self, pod, obj, type_, reason, message):
        self.events.append((pod, obj, type_, reason, message))
        self.flush(now=True)

    def flush(self, now=False):
        """Write what is pending, oldest kind of write first; keep what fails.
        Returns True when nothing is pending any more."""
        if not self.pending:
            return True
        if not now and time.monotonic() < self.next_try:
            return False
        if now and self.failing_since is not None and time.monotonic() < self.next_try:
            return False  # still failing: wait for the retry, keep the order of writes
        try:
            if self.pod_fields:
                self.store.update_pod(self.pod_name, **self.pod_fields)
                self.pod_fields = {}
            while self.container_fields:
                name, fields = next(iter(self.container_fields.items()))
                self.store.update_container(self.pod_name, name, **fields)
                del self.container_fields[name]
            while self.events:
                self.store.event(*self.events[0])
                self.events.pop(0)
            if self.failing_since is not None:
                gap = time.time() - self.failing_since
                self.store.event(self.pod_name, "", "Warning", "StateWriteFailed",
                                 f"The pod's state could not be written for {gap:.0f} s ({self.failure}); "
                                 "the watchdog kept supervising and has written it now")
                self.failing_since = None
            return True
        except StateError as e:
            self._failed(e)
            return False
        except sqlite3.IntegrityError:  # the pod's row is gone (`rm` went ahead): nothing left to write to
            self.pod_fields, self.container_fields, self.events = {}, {}, []
            self.failing_since = None
            return True
