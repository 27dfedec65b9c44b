"""State: one SQLite database per user (WAL), safe for concurrent CLI calls
and several watchdogs writing at once. Logs are plain files beside it."""
import json
import sqlite3
import time

from .errors import NspodError, NotFound
from .paths import state_dir

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


class Store:
    def __init__(self, path=None):
        self.path = path or state_dir() / "nspod.db"
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")  # state lives on tmpfs anyway
        self.db.execute("PRAGMA cache_size=-256")  # KiB; rows are few, and every watchdog has a connection
        self.db.executescript(SCHEMA)
        self._add_columns("pods", {"cgroup": "TEXT"})        # {"path", "paths", "limits"} (JSON)
        self._add_columns("containers", {"cgroup": "TEXT"})  # {"path", "procs", "limits"} (JSON)

    def _add_columns(self, table, columns):
        """Columns added since the table was first made (state outlives upgrades)."""
        have = {r["name"] for r in self.db.execute(f"PRAGMA table_info({table})").fetchall()}
        for name, kind in columns.items():
            if name not in have:
                try:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError:  # another process added it just now
                    pass

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
                for idx, c in enumerate(pod.containers):
                    status = {"name": c.name, "state": {"waiting": {"reason": "ContainerCreating"}},
                              "lastState": {}, "ready": False, "restartCount": 0, "started": False}
                    self.db.execute(
                        "INSERT INTO containers (pod, name, idx, status) VALUES (?, ?, ?, ?)",
                        (pod.name, c.name, idx, json.dumps(status)),
                    )
        except sqlite3.IntegrityError:
            raise NspodError(f'pod "{pod.name}" already exists (nspod rm {pod.name} first, or pick another name)') from None

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
        for key in ("namespaces", "cgroup"):
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
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
