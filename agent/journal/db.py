"""The journal's SQLite file: schema, migrations, and the queries behind :mod:`agent.journal`.

Schema (version 1, ``PRAGMA application_id`` = 'ANPR', migrations through
sqlite-utils):

- ``records(id, stream, seq, type, ts, state, hash, wire)`` — unique
  ``(stream, seq)``; ``wire`` is the record exactly as sent;
  ``state`` 0 pending, 1 published, 2 confirmed; index ``(stream, state, seq)``
  makes ``pending`` a range scan.
- ``heads(stream, seq, hash, confirmed_through)`` — the chain head survives
  purges of every record.
- ``meta(key, value)`` — ``camera``, ``created``.

A file that is not ours (another SQLite database, or not SQLite at all) or that
is corrupt is refused with :class:`JournalError` and left untouched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlite_utils
from sqlite_utils.migrations import Migrations

from agent.journal.records import GENESIS, STREAMS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "Budget",
    "JournalError",
    "JournalStats",
    "Store",
    "StoredRecord",
    "StreamStats",
    "inspect_journal",
    "open_readonly",
    "open_store",
]

APPLICATION_ID = 0x414E5052  # 'ANPR'
SCHEMA_VERSION = 1
PENDING, PUBLISHED, CONFIRMED = 0, 1, 2
_SQLITE_HEADER = b"SQLite format 3\x00"
_DROP_FRACTION = 20  # quota pressure drops 1/20 of a stream's oldest records at a time
_RESERVE_FRACTION = 50  # 2 % of the quota is kept back from new records...
_RESERVE_MIN_PAGES = 16  # ...and at least 16 pages
_WAL_FRACTION = 8  # the write-ahead log may hold 1/8 of the quota...
_WAL_MIN_PAGES = 32  # ...at least 32 pages...
_WAL_MAX_PAGES = 4096  # ...and at most 16 MiB (SQLite's own default checkpoints at 4 MiB)
_SHM_BYTES = 32 * 1024  # the WAL index (-shm) of a journal this size

MIGRATIONS = Migrations("anpr-journal")


@MIGRATIONS(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    # A rowid table, not WITHOUT ROWID: records of a few KB spill into overflow pages,
    # and index b-trees keep so little of a row locally that each record would take
    # two whole overflow pages (measured: 8.8 KB on disk for a 6 KB record).
    db.execute(
        "CREATE TABLE records ("
        " id INTEGER PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT NULL,"
        " type TEXT NOT NULL, ts INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
        " hash TEXT NOT NULL, wire BLOB NOT NULL, UNIQUE (stream, seq))"
    )
    db.execute("CREATE INDEX records_state ON records (stream, state, seq)")
    db["heads"].create(  # type: ignore[union-attr]
        {"stream": str, "seq": int, "hash": str, "confirmed_through": int}, pk="stream"
    )
    db["meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]


class JournalError(Exception):
    """The journal file cannot be used (foreign, corrupt, another camera's, newer schema)."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored: its seq, delivery state and wire bytes."""

    stream: str
    seq: int
    state: int
    wire: bytes


@dataclass(frozen=True, slots=True)
class StreamStats:
    """One stream's figures."""

    stream: str
    head_seq: int
    first_seq: int | None
    records: int
    pending: int
    published: int
    confirmed: int
    confirmed_through: int
    oldest_pending_ms: int | None


@dataclass(frozen=True, slots=True)
class Budget:
    """The quota in pages: database (with headroom kept from new records) and WAL."""

    page_size: int
    db_pages: int  # the database may grow to this (marks, purges, checkpoints)
    headroom_pages: int  # ...of which new records may not take these
    wal_pages: int  # the WAL is checkpointed before it passes this
    disk_limited: bool = False  # the file system holds less than the quota

    @property
    def wal_bytes(self) -> int:
        """The WAL's share in bytes."""
        return self.wal_pages * self.page_size

    @property
    def mark_rows(self) -> int:
        """Records one delivery-mark transaction may change (a row can take a page of WAL)."""
        return max(8, self.wal_pages // 4)

    @property
    def batch_bytes(self) -> int:
        """The most record bytes one transaction should carry (a quarter of the WAL's share)."""
        return self.wal_bytes // 4


@dataclass(frozen=True, slots=True)
class JournalStats:
    """The journal's figures, for metrics, status and ``anpr-agent journal stats``."""

    path: str
    file_bytes: int
    quota_bytes: int
    streams: tuple[StreamStats, ...]
    alarms: tuple[str, ...]


def _inspect(path: Path, camera: str) -> None:
    """Refuse, without writing, a file that is not this camera's journal."""
    try:
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise JournalError(f"journal {path} cannot be read: {exc.strerror or exc}") from None
    if not header:
        return  # an empty file is an empty database
    if header != _SQLITE_HEADER:
        raise JournalError(f"journal {path} is not a SQLite database: refusing to touch it")
    try:
        ro = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            app = ro.execute("PRAGMA application_id").fetchone()[0]
            version = ro.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master")}
            owner = (
                ro.execute("SELECT value FROM meta WHERE key = 'camera'").fetchone()
                if app == APPLICATION_ID
                else None
            )
        finally:
            ro.close()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} is corrupt ({exc}): refusing to touch it") from None
    if app != APPLICATION_ID and tables:
        raise JournalError(f"journal {path} is another application's SQLite database")
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} has schema {version}, newer than this agent's {SCHEMA_VERSION}"
        )
    if owner is not None and owner[0] != camera:
        raise JournalError(f"journal {path} belongs to camera {owner[0]!r}, not {camera!r}")


def inspect_journal(path: Path, camera: str) -> None:
    """Refuse (:class:`JournalError`), reading only, what :func:`open_store` would refuse.

    A journal that does not exist yet is fine: the agent creates it (its
    directory is checked when the agent opens it; systemd makes it at start).
    """
    if path.is_dir():
        raise JournalError(f"journal {path} is a directory, not a file")
    if path.exists():
        _inspect(path, camera)


def open_store(path: Path, *, camera: str, synchronous: str, quota_bytes: int) -> Store:
    """Open (or create) the journal file of ``camera``."""
    if path.exists():
        _inspect(path, camera)
    elif not path.parent.is_dir():
        raise JournalError(f"journal directory {path.parent} does not exist")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA busy_timeout = 10000")
        db = sqlite_utils.Database(conn, execute_plugins=False)
        MIGRATIONS.apply(db)
        with db.atomic():
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('camera', ?)", (camera,))
            for stream in STREAMS:
                conn.execute("INSERT OR IGNORE INTO heads VALUES (?, 0, ?, 0)", (stream, GENESIS))
        store = Store(path, conn, quota_bytes)
        store.limit(reserve=False)
        store.checkpoint()  # start inside the budget, whatever an older agent left in the WAL
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} cannot be opened: {exc}") from None
    return store


@contextlib.contextmanager
def open_readonly(path: Path, camera: str) -> Iterator[Store]:
    """Open a journal for reading only (``journal stats``/``verify``); nothing is written."""
    if not path.exists():
        raise JournalError(f"journal {path} does not exist")
    _inspect(path, camera)
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} cannot be opened: {exc}") from None
    store = Store(path, conn, 0, readonly=True)
    try:
        yield store
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} is corrupt: {exc}") from None
    finally:
        store.close()


class Store:
    """SQL of the journal. Writes come from the writer thread only; reads from any thread."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, quota_bytes: int, *, readonly: bool = False
    ) -> None:
        self.path = path
        self._conn = conn
        self._quota = quota_bytes
        self._readonly = readonly
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def budget(self) -> Budget:
        """How the quota splits into database, write-ahead log and headroom, now.

        The quota is what the journal's files take on disk: the database, its
        WAL and the WAL index together. When the file system has less room
        than that (other files, a small disk), the room there is the limit
        instead, so the disk never fills under the journal.
        """
        page = self._conn.execute("PRAGMA page_size").fetchone()[0]
        ours = self.db_bytes() + self.wal_bytes()
        try:
            disk = os.statvfs(self.path.parent)
            room = ours + disk.f_bavail * disk.f_frsize
        except OSError:
            room = self._quota
        total = min(self._quota, room) - _SHM_BYTES
        pages = max(4 * _WAL_MIN_PAGES, total // page)
        wal = min(_WAL_MAX_PAGES, max(_WAL_MIN_PAGES, pages // _WAL_FRACTION))
        held_back = max(_RESERVE_MIN_PAGES, pages // _RESERVE_FRACTION)
        return Budget(page, pages - wal, held_back, wal, disk_limited=room < self._quota)

    def limit(self, *, reserve: bool) -> Budget:
        """Enforce the budget inside SQLite; ``reserve`` opens the headroom kept back.

        Past the limit, writes fail exactly like a full disk (SQLITE_FULL), so one
        code path survives both. New records may not use the headroom, so that
        delivery marks (a state change rewrites a page) and purge audit records
        can still be written when the journal is full; the WAL's share is kept
        out of the database's, and the writer checkpoints before the WAL
        outgrows it, so database + WAL stay inside the quota.
        """
        budget = self.budget()
        pages = budget.db_pages if reserve else budget.db_pages - budget.headroom_pages
        self._conn.execute(f"PRAGMA max_page_count = {pages}")
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {budget.wal_pages // 2}")
        self._conn.execute(f"PRAGMA journal_size_limit = {budget.wal_bytes // 2}")
        return budget

    def db_bytes(self) -> int:
        """Size of the database file on disk."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def wal_bytes(self) -> int:
        """Size of the write-ahead log on disk."""
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except OSError:
            return 0

    def checkpoint(self) -> bool:
        """Move the WAL into the database and truncate it; False when a reader held it."""
        try:
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError:
            return False  # no room to grow the database: the caller's policy frees some
        return not busy

    def _reader(self) -> sqlite3.Connection:
        if self._readonly:
            return self._conn
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection."""
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def heads(self) -> dict[str, tuple[int, str]]:
        """Chain head (seq, hash) of each stream."""
        rows = self._conn.execute("SELECT stream, seq, hash FROM heads").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def insert(  # noqa: PLR0913, PLR0917 - one argument per column
        self, stream: str, seq: int, kind: str, ts: int, digest: str, wire: bytes
    ) -> None:
        """Store a new record and move the head."""
        self._conn.execute(
            "INSERT INTO records (stream, seq, type, ts, state, hash, wire)"
            " VALUES (?, ?, ?, ?, 0, ?, ?)",
            (stream, seq, kind, ts, digest, wire),
        )
        self._conn.execute(
            "UPDATE heads SET seq = ?, hash = ? WHERE stream = ?", (seq, digest, stream)
        )

    def mark_published(self, stream: str, seqs: tuple[int, ...]) -> int:
        """Pending → published for these seqs; states never move back."""
        changed = 0
        for seq in seqs:
            cur = self._conn.execute(
                "UPDATE records SET state = 1 WHERE stream = ? AND seq = ? AND state = 0",
                (stream, seq),
            )
            changed += cur.rowcount
        return changed

    def mark_confirmed(self, stream: str, through: int, head: int) -> int:
        """Everything up to ``through`` (capped at the head) → confirmed."""
        through = min(through, head)
        cur = self._conn.execute(
            "UPDATE records SET state = 2 WHERE stream = ? AND seq <= ? AND state < 2",
            (stream, through),
        )
        self._conn.execute(
            "UPDATE heads SET confirmed_through = MAX(confirmed_through, ?) WHERE stream = ?",
            (through, stream),
        )
        return cur.rowcount

    def confirm_step(self, stream: str, through: int, rows: int) -> int:
        """The seq up to which confirming changes at most ``rows`` records (``through`` at most).

        A confirmation that spans many records rewrites as many pages; done in
        steps of this size, each transaction fits the WAL's share of the quota.
        """
        row = self._conn.execute(
            "SELECT seq FROM records WHERE stream = ? AND state < 2 AND seq <= ?"
            " ORDER BY seq LIMIT 1 OFFSET ?",
            (stream, through, max(0, rows - 1)),
        ).fetchone()
        return through if row is None else min(through, int(row[0]))

    def pending(self, stream: str, limit: int, after_seq: int) -> list[StoredRecord]:
        """Oldest pending records after ``after_seq``."""
        rows = self._reader().execute(
            "SELECT seq, wire FROM records WHERE stream = ? AND state = 0 AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (stream, after_seq, limit),
        )
        return [StoredRecord(stream, r[0], PENDING, r[1]) for r in rows]

    def records(self, stream: str, first: int, last: int) -> list[StoredRecord]:
        """Records in ``first..last``."""
        rows = self._reader().execute(
            "SELECT seq, state, wire FROM records WHERE stream = ? AND seq BETWEEN ? AND ?"
            " ORDER BY seq",
            (stream, first, last),
        )
        return [StoredRecord(stream, r[0], r[1], r[2]) for r in rows]

    def last_of_kind(self, stream: str, kind: str) -> bytes | None:
        """Wire bytes of the newest record of ``kind`` in ``stream``, if any is kept."""
        row = (
            self._reader()
            .execute(
                "SELECT wire FROM records WHERE stream = ? AND type = ? ORDER BY seq DESC LIMIT 1",
                (stream, kind),
            )
            .fetchone()
        )
        return bytes(row[0]) if row else None

    def highest_sent(self, stream: str) -> int:
        """Highest seq ever published or confirmed (0 when none)."""
        conn = self._reader()
        row = conn.execute(
            "SELECT MAX(seq) FROM records WHERE stream = ? AND state > 0", (stream,)
        ).fetchone()
        head = conn.execute(
            "SELECT confirmed_through FROM heads WHERE stream = ?", (stream,)
        ).fetchone()
        return max(row[0] or 0, head[0] if head else 0)

    def iter_records(self, stream: str, batch: int = 1000) -> Iterator[StoredRecord]:
        """Every record of a stream in seq order, read in batches."""
        after = -1
        while True:
            rows = (
                self._reader()
                .execute(
                    "SELECT seq, state, wire FROM records WHERE stream = ? AND seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (stream, after, batch),
                )
                .fetchall()
            )
            if not rows:
                return
            for seq, state, wire in rows:
                yield StoredRecord(stream, seq, state, wire)
            after = rows[-1][0]

    def first_seq(self, stream: str) -> int | None:
        """Lowest seq still kept in ``stream`` (None when it holds no record)."""
        row = self._conn.execute(
            "SELECT MIN(seq) FROM records WHERE stream = ?", (stream,)
        ).fetchone()
        return int(row[0]) if row[0] is not None else None

    def _boundary(self, stream: str, where: str, args: tuple[object, ...]) -> int:
        """Lowest seq matching ``where`` (the head + 1 when none): all below may go."""
        row = self._conn.execute(
            f"SELECT MIN(seq) FROM records WHERE stream = ? AND ({where})",  # noqa: S608 - fixed SQL
            (stream, *args),
        ).fetchone()
        if row[0] is not None:
            return int(row[0])
        return self.heads()[stream][0] + 1

    def retention_boundary(self, stream: str, cut_ms: int) -> int:
        """Records below the first one that is unconfirmed or newer than ``cut_ms`` may go."""
        return self._boundary(stream, "state < 2 OR ts >= ?", (cut_ms,))

    def age_boundary(self, stream: str, cut_ms: int) -> int:
        """Records below the first one newer than ``cut_ms`` may go, whatever their state."""
        return self._boundary(stream, "ts >= ?", (cut_ms,))

    def drop_boundary(self, stream: str, cap: int | None = None) -> int:
        """Boundary that frees the oldest 1/20 of a stream (at most ``cap`` records)."""
        first = self.first_seq(stream)
        if first is None:
            return 0
        count = self._conn.execute(
            "SELECT COUNT(*) FROM records WHERE stream = ?", (stream,)
        ).fetchone()[0]
        step = max(1, count // _DROP_FRACTION)
        return int(first + (step if cap is None else min(step, cap)))

    def delete_below(self, stream: str, below: int) -> tuple[int, int, str | None]:
        """Delete records under ``below``; return (count, first deleted, hash of below - 1)."""
        first = self.first_seq(stream)
        if first is None or below <= first:
            return 0, 0, None
        row = self._conn.execute(
            "SELECT hash FROM records WHERE stream = ? AND seq = ?", (stream, below - 1)
        ).fetchone()
        cur = self._conn.execute(
            "DELETE FROM records WHERE stream = ? AND seq < ?", (stream, below)
        )
        return cur.rowcount, first, row[0] if row else None

    def stats(self, alarms: tuple[str, ...]) -> JournalStats:
        """Figures per stream and for the file."""
        conn = self._reader()
        streams = []
        for stream, head_seq, confirmed_through in conn.execute(
            "SELECT stream, seq, confirmed_through FROM heads ORDER BY stream"
        ).fetchall():
            by_state = dict.fromkeys((PENDING, PUBLISHED, CONFIRMED), 0)
            for state, count in conn.execute(
                "SELECT state, COUNT(*) FROM records WHERE stream = ? GROUP BY state", (stream,)
            ):
                by_state[state] = count
            first = conn.execute(
                "SELECT MIN(seq) FROM records WHERE stream = ?", (stream,)
            ).fetchone()[0]
            oldest = conn.execute(
                "SELECT ts FROM records WHERE stream = ? AND state = 0 ORDER BY seq LIMIT 1",
                (stream,),
            ).fetchone()
            streams.append(
                StreamStats(
                    stream=stream,
                    head_seq=head_seq,
                    first_seq=first,
                    records=sum(by_state.values()),
                    pending=by_state[PENDING],
                    published=by_state[PUBLISHED],
                    confirmed=by_state[CONFIRMED],
                    confirmed_through=confirmed_through,
                    oldest_pending_ms=oldest[0] if oldest else None,
                )
            )
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        return JournalStats(
            path=str(self.path),
            # What the quota counts: the database (as large as SQLite says it is) and its WAL.
            file_bytes=max(pages * page_size, self.db_bytes()) + self.wal_bytes(),
            quota_bytes=self._quota,
            streams=tuple(streams),
            alarms=alarms,
        )
