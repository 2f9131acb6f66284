"""The triage store: every record of every run in one SQLite file (``triage --db FILE``).

A capture's identity is its path and a fingerprint of its content:

- the **fingerprint** is a BLAKE2b digest of the capture's files (for a
  directory capture: each regular file directly in it, by name; else the one
  file), their names, sizes and bytes;
- a **stat key** (each file's name, size, mtime in ns and inode) stands for
  the fingerprint while it holds, as git's index does: a re-run over
  unchanged captures stats their files and reads nothing;
- a path whose stat key changed is fingerprinted again: the same fingerprint
  means untouched bytes (a ``touch``, a copy back), a new one means the
  capture changed and is read again;
- a path the store has not seen whose fingerprint belongs to a stored capture
  whose path is gone is that capture, **moved**: its record follows it to the
  new path and it is not read again nor counted twice.  Same bytes at two
  live paths are two uploads, each read and counted.

One row per capture path holds the record exactly as ``triage --json`` prints
it (the ``record`` column is its JSON), plus columns the summary and the
report query.  ``runs`` lists every run.  The schema is versioned with
``PRAGMA user_version`` and migrated forward on open; ``application_id``
marks the file as ours.  Several runs may share a store: SQLite's locking
serialises the writers (WAL journal, ``BEGIN IMMEDIATE``, a busy timeout),
and every write is an upsert by path, so two runs that read the same capture
leave one row.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat as stat_mod
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator

from minidump.errors import MinidumpError
from minidump.fleet.triage import NOT_READ

#: PRAGMA application_id of a triage store: 'kmdt'
APPLICATION_ID = 0x6B6D6474
#: how long a writer waits for another run's transaction (ms)
BUSY_TIMEOUT_MS = 120_000
#: bytes hashed per read when fingerprinting
CHUNK = 1 << 20

#: MIGRATIONS[n] takes a store from version n to n + 1; the last index + 1 is the current one
MIGRATIONS: tuple[str, ...] = (
    # 1: the first layout
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started TEXT NOT NULL,          -- UTC, ISO 8601
        finished TEXT,
        engine TEXT,
        paths TEXT,                     -- JSON list of the PATH arguments
        found INTEGER, read INTEGER, moved INTEGER, unchanged INTEGER,
        interrupted INTEGER
    );
    CREATE TABLE captures (
        path TEXT PRIMARY KEY,          -- absolute path of the capture
        fingerprint TEXT,               -- NULL: could not be read to fingerprint
        stat TEXT,                      -- NULL: always look again
        record TEXT NOT NULL,           -- the triage record, as --json prints it
        status TEXT NOT NULL,
        signature TEXT,
        release TEXT,
        arch TEXT,
        seen TEXT,                      -- the record's seen.time (UTC)
        first_run INTEGER REFERENCES runs(id),
        last_run INTEGER REFERENCES runs(id)
    );
    CREATE INDEX captures_fingerprint ON captures(fingerprint);
    """,
    # 2: the day each crash was seen, for counts per day without parsing records
    """
    ALTER TABLE captures ADD COLUMN day TEXT;
    UPDATE captures SET day = substr(seen, 1, 10);
    CREATE INDEX captures_signature_day ON captures(signature, day);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


#: one file of a capture: its name in the capture, its path, and its stat (None: missing)
Member = tuple[str, str, "os.stat_result | None"]


def capture_members(spec: dict) -> list[Member]:
    """The files that make up a capture, named relative to it, each stat()ed once: a
    directory's regular files (not its subdirectories), else the file itself (named ".": a
    one-file capture's own name is no part of its identity).  An image ``MEMORY.txt``
    names that does not exist is a member with no stat; other OSErrors are raised."""
    top = os.path.abspath(spec["input"])
    try:
        with os.scandir(top) as it:
            members = [(e.name, e.path, e.stat()) for e in it if e.is_file()]
    except NotADirectoryError:
        members = [(".", top, os.stat(top))]
    members.sort()
    known = {path for _, path, _ in members}
    for image in (spec.get("open") or {}).get("memory") or ():
        path = os.path.abspath(image.rpartition("@")[0])
        if path not in known:                      # missing, or outside the directory
            known.add(path)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            members.append((os.path.relpath(path, top), path, st))
    return members


def stat_key(members: list[Member]) -> str:
    """Names, sizes, mtimes and inodes of a capture's files, as a short digest."""
    for _, path, st in members:
        if st is not None and not stat_mod.S_ISREG(st.st_mode):
            raise OSError(f"{path}: not a regular file")
    state = repr([(name, None) if st is None else (name, st.st_size, st.st_mtime_ns, st.st_ino)
                  for name, _, st in members])
    return hashlib.blake2b(state.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def fingerprint(members: list[Member]) -> str:
    """BLAKE2b of a capture's files: names, sizes and bytes (raises OSError)."""
    h = hashlib.blake2b(digest_size=20)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    for name, path, st in members:
        if st is None:
            h.update(f"{name}\0missing\0".encode("utf-8", "surrogateescape"))
            continue
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            h.update(f"{name}\0{size}\0".encode("utf-8", "surrogateescape"))
            while n := fh.readinto(buf):
                h.update(view[:n])
    return h.hexdigest()


@dataclass(slots=True)
class Plan:
    """What a run must do with the captures it found."""

    #: the specs to read
    read: list[dict] = field(default_factory=list)
    #: records taken from the store (unchanged or moved), by spec index
    kept: dict[int, dict] = field(default_factory=dict)
    #: (path, fingerprint, stat key) of each spec to read, by its input
    identity: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    moved: int = 0
    unchanged: int = 0


def _relocated(rec: dict, old_input: str, new_input: str) -> dict:
    """A moved capture's record under its new path (its messages name the new path)."""
    out = dict(rec, input=new_input)
    if rec.get("error"):
        out["error"] = rec["error"].replace(old_input, new_input)
    if rec.get("problems"):
        out["problems"] = [p.replace(old_input, new_input) for p in rec["problems"]]
    return out


class Store:
    """A triage store on ``path`` (created when it does not exist)."""

    def __init__(self, path: str) -> None:
        self.path = path
        #: path -> (record text, record) of what plan() decoded, for records()
        self._decoded: dict[str, tuple[str, dict]] = {}
        try:
            self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000,
                                      isolation_level=None, check_same_thread=False)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise MinidumpError(f"not a usable triage store: {exc}", path=path) from exc

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            app = db.execute("PRAGMA application_id").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app != APPLICATION_ID and (app or tables):
                raise MinidumpError("an SQLite database, but not a triage store "
                                    f"(application_id {app:#x})", path=self.path)
            if version > SCHEMA_VERSION:
                raise MinidumpError(f"store schema version {version} is newer than this "
                                    f"minidump knows ({SCHEMA_VERSION}); upgrade kminidump",
                                    path=self.path)
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        self.version = SCHEMA_VERSION
        self.journal = mode

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def begin_run(self, paths: list[str], engine: str) -> int:
        with self._write():
            cur = self.db.execute("INSERT INTO runs (started, engine, paths) VALUES (?, ?, ?)",
                                  (_utc_now(), engine, json.dumps(list(paths))))
        return cur.lastrowid

    def end_run(self, run: int, *, found: int, read: int, moved: int, unchanged: int,
                interrupted: bool) -> None:
        with self._write():
            self.db.execute("UPDATE runs SET finished = ?, found = ?, read = ?, moved = ?, "
                            "unchanged = ?, interrupted = ? WHERE id = ?",
                            (_utc_now(), found, read, moved, unchanged, int(interrupted), run))

    def _write(self):
        return _Transaction(self.db)

    # -- a run's plan -----------------------------------------------------------------------

    def plan(self, specs: list[dict], run: int) -> Plan:
        """Which specs must be read; the stored record of each one that need not be."""
        plan = Plan()
        rows = {}
        for path, fp, st, rec in self.db.execute(
                "SELECT path, fingerprint, stat, record FROM captures"):
            rows[path] = (fp, st, rec)
        self._decoded.clear()
        by_fp: dict[str, list[str]] = {}
        for path, (fp, _, _) in rows.items():
            if fp:
                by_fp.setdefault(fp, []).append(path)
        seen_now, moves, retouch = [], [], []
        for i, spec in enumerate(specs):
            path = os.path.abspath(spec["input"])
            ident: tuple[str, str | None, str | None] = (path, None, None)
            if not spec.get("error"):
                try:
                    members = capture_members(spec)
                    key = stat_key(members)
                    row = rows.get(path)
                    if row is not None and row[1] == key:
                        rec = json.loads(row[2])
                        self._decoded[path] = (row[2], rec)
                        if rec["input"] == spec["input"]:
                            plan.kept[i] = rec
                            plan.unchanged += 1
                            seen_now.append(path)
                            continue
                    fp = fingerprint(members)
                    ident = (path, fp, key)
                    if row is not None and row[0] == fp:      # touched, not changed
                        rec = json.loads(row[2])
                        rec = _relocated(rec, rec["input"], spec["input"])
                        plan.kept[i] = rec
                        plan.unchanged += 1
                        retouch.append((key, json.dumps(rec), path))
                        seen_now.append(path)
                        continue
                    if row is None:
                        gone = [p for p in by_fp.get(fp, ()) if not os.path.lexists(p)]
                        if gone:
                            old = json.loads(rows[gone[0]][2])
                            rec = _relocated(old, old["input"], spec["input"])
                            plan.kept[i] = rec
                            plan.moved += 1
                            moves.append((gone[0], path, key, rec))
                            by_fp[fp].remove(gone[0])
                            continue
                except OSError:
                    ident = (path, None, None)       # read it: the record says what is wrong
            plan.identity[spec["input"]] = ident
            plan.read.append(spec)
        with self._write():
            self.db.executemany("UPDATE captures SET last_run = ? WHERE path = ?",
                                ((run, p) for p in seen_now))
            self.db.executemany("UPDATE captures SET stat = ?, record = ? WHERE path = ?",
                                retouch)
            for old, new, key, rec in moves:
                self.db.execute("DELETE FROM captures WHERE path = ?", (new,))
                self.db.execute("UPDATE captures SET path = ?, stat = ?, record = ?, "
                                "last_run = ? WHERE path = ?",
                                (new, key, json.dumps(rec), run, old))
        return plan

    # -- records ----------------------------------------------------------------------------

    def put(self, items: Iterable[tuple[tuple[str, str | None, str | None], dict]],
            run: int) -> None:
        """Store records, each under its identity (path, fingerprint, stat key)."""
        rows = []
        for (path, fp, key), rec in items:
            crash = rec.get("crash") or {}
            seen = (rec.get("seen") or {}).get("time")
            rows.append((path, fp, key, json.dumps(rec), rec["status"], crash.get("signature"),
                         rec.get("release"), rec.get("arch"), seen, seen[:10] if seen else None,
                         run, run))
        if not rows:
            return
        with self._write():
            self.db.executemany(
                "INSERT INTO captures (path, fingerprint, stat, record, status, signature, "
                "release, arch, seen, day, first_run, last_run) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET fingerprint = excluded.fingerprint, "
                "stat = excluded.stat, record = excluded.record, status = excluded.status, "
                "signature = excluded.signature, release = excluded.release, "
                "arch = excluded.arch, seen = excluded.seen, day = excluded.day, "
                "last_run = excluded.last_run", rows)

    def records(self) -> Iterator[dict]:
        """Every stored record (those the plan decoded are not decoded again)."""
        for path, text in self.db.execute("SELECT path, record FROM captures ORDER BY path"):
            known = self._decoded.get(path)
            yield known[1] if known is not None and known[0] == text else json.loads(text)

    def rows(self) -> Iterator[tuple[dict, int | None, int | None]]:
        """Every stored record with the runs that first and last found it."""
        for text, first, last in self.db.execute(
                "SELECT record, first_run, last_run FROM captures ORDER BY path"):
            yield json.loads(text), first, last

    def runs(self) -> list[dict]:
        cols = ("id", "started", "finished", "engine", "paths", "found", "read", "moved",
                "unchanged", "interrupted")
        out = []
        for row in self.db.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY id"):
            run = dict(zip(cols, row))
            run["paths"] = json.loads(run["paths"] or "[]")
            run["interrupted"] = None if run["interrupted"] is None else bool(run["interrupted"])
            out.append(run)
        return out

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM captures").fetchone()[0]


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception): one writer at a time."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, exc, tb) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


class Writer:
    """Records as they come, stored in batches (a second or 200 records, and at the end)."""

    def __init__(self, store: Store, run: int, plan: Plan, *, every_s: float = 1.0,
                 batch: int = 200) -> None:
        self.store, self.run, self.plan = store, run, plan
        self.every_s, self.batch = every_s, batch
        self.pending: list[tuple[tuple, dict]] = []
        self.last = time.monotonic()
        self.stored = 0

    def add(self, rec: dict) -> None:
        """A record of one of the plan's specs to read."""
        if rec.get("error") == NOT_READ:
            return          # an interrupted run's unread capture: read it next time
        self.pending.append((self.plan.identity[rec["input"]], rec))
        if len(self.pending) >= self.batch or time.monotonic() - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        self.store.put(self.pending, self.run)
        self.stored += len(self.pending)
        self.pending = []
        self.last = time.monotonic()

