"""The signed, hash-chained local journal: the edge box's memory and the back office's evidence.

One SQLite file (WAL) holds both streams, ``reads`` (police) and ``counts``
(civil, no personal data): one file means one quota, one durability setting
and one place an operator backs up; the streams stay independent chains with
their own seqs. Every record is written before anything is sent; uplinks read
``pending`` records and mark them published and confirmed; a record leaves the
journal only by a purge (retention, maximum age, or the quota policy), and
every purge writes an audit record into the chain.

One writer thread owns the write connection. Callers submit commands and get
a :class:`~concurrent.futures.Future` that resolves only after the transaction
holding them is committed (and, with ``synchronous=FULL``, durable). Commands
that queue up while a commit runs go into the next transaction together
(group commit), which is how thousands of appends per second stay durable.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.core.alarms import Alarms
from agent.journal.db import (
    JournalError,
    Store,
    open_store,
)
from agent.journal.records import GENESIS, STREAMS, Kind, build_record, parse_record, read_payload

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from agent.config.schema import JournalConfig
    from agent.core.clock import Clock
    from agent.core.events import PlateRead
    from agent.journal.db import JournalStats, StoredRecord
    from agent.security.crypto import Sealer, Signer

__all__ = ["Journal", "JournalError", "JournalFullError"]

log = logging.getLogger("anpr.journal")

_BATCH = 512  # commands per transaction at most
_QUEUE = 20_000  # commands waiting at most; beyond, submitters wait (back-pressure, never loss)
_DAY_MS = 86_400_000
_MAINTAIN_EVERY_S = 60.0
_PARKED_RETRY_S = 1.0  # count windows that found the journal full are tried again this often


class JournalFullError(Exception):
    """The journal refused a record: quota or disk full under the ``refuse-new`` policy."""


@dataclass
class _Head:
    seq: int
    hash: str
    since_checkpoint: int = 0
    checkpoint_mono: float = 0.0


@dataclass
class _Cmd:
    future: Future[int] = field(default_factory=Future)


@dataclass
class _Append(_Cmd):
    stream: str = "reads"
    kind: Kind = "read"
    read: PlateRead | None = None
    data: dict[str, object] | None = None


@dataclass
class _Publish(_Cmd):
    stream: str = "reads"
    seqs: tuple[int, ...] = ()


@dataclass
class _Confirm(_Cmd):
    stream: str = "reads"
    through: int = 0


@dataclass
class _Maintain(_Cmd):
    rows: int = 0  # purge at most this many records per stream (0: all that are due)


class Journal:
    """The journal of one camera. Thread-safe; close it with :meth:`close`."""

    def __init__(  # noqa: PLR0913 - the journal's seams are explicit
        self,
        path: Path,
        *,
        camera: str,
        signer: Signer,
        sealer: Sealer,
        config: JournalConfig,
        clock: Clock,
        boot_id: str | None = None,
        counts_grain_s: int = 60,
    ) -> None:
        self.camera = camera
        self._signer = signer
        self._sealer = sealer
        self._cfg = config
        self._clock = clock
        self.boot_id = boot_id or uuid.uuid4().hex
        # The civil side gets nothing that links it to the police flux or times finer
        # than its window: the counts stream has its own boot id, and its records'
        # times (and its status heartbeat's) are cut to the count window.
        self._boot = {"reads": self.boot_id, "counts": uuid.uuid4().hex}
        self._grain_ms = {"reads": 1, "counts": max(1, counts_grain_s) * 1000}
        self._store: Store = open_store(
            path, camera=camera, synchronous=config.synchronous, quota_bytes=config.quota_bytes
        )
        now = clock.monotonic()
        self._heads = {
            s: _Head(seq, digest, checkpoint_mono=now)
            for s, (seq, digest) in self._store.heads().items()
        }
        self._alarms = Alarms()
        self._listeners: list[Callable[[str], None]] = []
        self._queue: queue.Queue[_Cmd | None] = queue.Queue(maxsize=_QUEUE)
        # Count windows wait for room rather than vanish: appended once the journal has space.
        self._parked: list[_Cmd] = []
        self._parked_retry_at = 0.0
        self._budget = self._store.budget()
        self._last_maintain = now
        self._closed = False
        self._dead: BaseException | None = None  # why the writer thread ended, if it did
        self.writer_errors = 0  # batches failed by an error nobody expected (logged)
        self._writer = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._writer.start()

    # ----------------------------------------------------------------- API

    def submit_read(self, read: PlateRead) -> Future[int]:
        """Journal a read (sealed, signed); the future gives its seq once durable."""
        return self._submit(_Append(stream="reads", kind="read", read=read))

    def submit_count(self, data: dict[str, object]) -> Future[int]:
        """Journal an anonymous count window (signed); the future gives its seq once durable."""
        return self._submit(_Append(stream="counts", kind="count", data=data))

    def submit_key(self, stream: str, announcement: dict[str, object]) -> Future[int]:
        """Journal a ``key`` record (a signing key rotation, signed by the current key)."""
        return self._submit(_Append(stream=_check_stream(stream), kind="key", data=announcement))

    def append_read(self, read: PlateRead, timeout: float | None = None) -> int:
        """Journal a read and wait until it is durable; return its seq."""
        return self.submit_read(read).result(timeout)

    def append_count(self, data: dict[str, object], timeout: float | None = None) -> int:
        """Journal a count window and wait until it is durable; return its seq."""
        return self.submit_count(data).result(timeout)

    def mark_published(self, stream: str, seqs: tuple[int, ...] | list[int]) -> Future[int]:
        """Pending → published (a PUBACK < 0x80 was seen); the future gives rows changed."""
        return self._submit(_Publish(stream=_check_stream(stream), seqs=tuple(seqs)))

    def mark_confirmed(self, stream: str, through_seq: int) -> Future[int]:
        """Everything up to ``through_seq`` → confirmed (the back office acked it)."""
        return self._submit(_Confirm(stream=_check_stream(stream), through=through_seq))

    def on_commit(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(stream)`` after each commit that added records to ``stream``.

        It runs on the writer thread: it must only signal (e.g. set an Event).
        """
        self._listeners.append(listener)

    def sync(self) -> Future[int]:
        """Resolve once everything submitted before is committed (and due checkpoints written)."""
        return self._submit(_Cmd())

    def maintain(self) -> Future[int]:
        """Purge by retention and maximum age now (also runs every minute by itself)."""
        return self._submit(_Maintain())

    def pending(self, stream: str, limit: int, after_seq: int = 0) -> list[StoredRecord]:
        """Oldest pending records of a stream, in seq order."""
        return self._store.pending(_check_stream(stream), limit, after_seq)

    def records(self, stream: str, first: int, last: int) -> list[StoredRecord]:
        """Records ``first..last`` still in the journal (for replay), in seq order."""
        return self._store.records(_check_stream(stream), first, last)

    def last_window_end(self) -> int | None:
        """End (epoch s) of the newest count window journaled, if any is still kept."""
        wire = self._store.last_of_kind("counts", "count")
        if wire is None:
            return None
        data = parse_record(wire).body.get("data")
        end = data.get("window_end") if isinstance(data, dict) else None
        return end if isinstance(end, int) else None

    def last_key_record(self, stream: str) -> bytes | None:
        """Wire bytes of the newest ``key`` record (signing key rotation) kept in ``stream``."""
        return self._store.last_of_kind(_check_stream(stream), "key")

    def highest_sent(self, stream: str) -> int:
        """Highest seq ever published or confirmed: no ack may confirm beyond it."""
        return self._store.highest_sent(_check_stream(stream))

    def stream_boot(self, stream: str) -> str:
        """The boot id this process stamps on ``stream``'s records (each stream its own)."""
        return self._boot[_check_stream(stream)]

    def stamp_ms(self, stream: str) -> int:
        """Wall-clock time (ms) as ``stream`` may carry it: counts get the window's grain."""
        grain = self._grain_ms[_check_stream(stream)]
        return int(self._clock.wall() * 1000) // grain * grain

    def stats(self) -> JournalStats:
        """Counts per stream and state, sizes, alarms."""
        alarms = self._alarms.lines()
        return self._store.stats(alarms)

    @property
    def alarms(self) -> tuple[str, ...]:
        """Active alarms (e.g. the journal is full), one line each."""
        return self._alarms.lines()

    @property
    def alive(self) -> bool:
        """Whether the writer thread runs (until :meth:`close`)."""
        return self._writer.is_alive()

    def close(self, timeout: float = 30.0) -> None:
        """Finish queued commands, stop the writer, close the database."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout)
        for cmd in self._parked:  # still no room: the window is published after a restart
            cmd.future.set_exception(JournalFullError("journal closed while full"))
        self._parked = []
        self._store.close()

    # ------------------------------------------------------------- writer

    def _submit(self, cmd: _Cmd) -> Future[int]:
        if self._closed:
            raise JournalError("journal is closed")
        if self._dead is not None:
            raise JournalError(f"journal writer died: {type(self._dead).__name__}")
        self._queue.put(cmd)
        return cmd.future

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            # Dying loudly: whoever waits is told, and the service sees the writer gone.
            self._dead = exc
            self._alarm("writer", f"journal writer died: {type(exc).__name__}")
            while True:
                try:
                    cmd = self._queue.get_nowait()
                except queue.Empty:
                    break
                if cmd is not None and not cmd.future.done():
                    cmd.future.set_exception(JournalError("journal writer died"))
            raise

    def _loop(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=self._idle_wait())
            except queue.Empty:
                batch: list[_Cmd] = []
            else:
                batch, stop = self._drain(first)
            if self._maintain_due():
                batch.insert(0, _Maintain())  # before the batch: a sync in it waits for it
            batch = self._with_parked(batch)
            if batch:
                self._run_in_order(batch)
            elif self._checkpoint_due():
                self._run_segment([])

    def _run_in_order(self, batch: list[_Cmd]) -> None:
        """In submission order: a sync resolves only after all before it committed."""
        segment: list[_Cmd] = []
        for cmd in batch:
            if not self._big_mark(cmd):
                segment.append(cmd)
                continue
            if segment:
                self._run_segment(segment)
                segment = []
            try:
                self._in_steps(cmd)
            except Exception as exc:  # noqa: BLE001 - one bad batch must not end the writer
                self._unexpected([cmd], exc)
        if segment:
            self._run_segment(segment)

    def _run_segment(self, batch: list[_Cmd]) -> None:
        try:
            self._execute(batch)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not end the writer
            self._unexpected(batch, exc)
        self._keep_wal_small()

    def _big_mark(self, cmd: _Cmd) -> bool:
        rows = self._budget.mark_rows
        if isinstance(cmd, _Maintain):
            return True  # a purge rewrites every page it empties: always in steps
        if isinstance(cmd, _Publish):
            return len(cmd.seqs) > rows
        if isinstance(cmd, _Confirm):
            try:
                return self._store.confirm_step(cmd.stream, cmd.through, rows + 1) < cmd.through
            except (sqlite3.Error, TypeError):
                return False  # the transaction reports what is wrong with it
        return False

    def _in_steps(self, cmd: _Cmd) -> None:
        """A mark over many records, as several transactions that each fit the WAL's share."""
        rows, changed = self._budget.mark_rows, 0
        remaining = cmd.seqs if isinstance(cmd, _Publish) else ()
        while True:
            step: _Cmd
            if isinstance(cmd, _Publish):
                step = _Publish(stream=cmd.stream, seqs=remaining[:rows])
                remaining = remaining[rows:]
                done = not remaining
            elif isinstance(cmd, _Confirm):
                upto = self._store.confirm_step(cmd.stream, cmd.through, rows)
                step = _Confirm(stream=cmd.stream, through=upto)
                done = upto >= cmd.through
            elif isinstance(cmd, _Maintain):
                step = _Maintain(rows=rows)
                done = False  # until a step purges nothing
            else:
                raise TypeError(f"not a delivery mark: {type(cmd).__name__}")
            self._execute([step])
            self._keep_wal_small()
            exc = step.future.exception()
            if exc is not None:
                cmd.future.set_exception(exc)
                return
            result = step.future.result()
            changed += result
            if done or (isinstance(cmd, _Maintain) and result == 0):
                cmd.future.set_result(changed)
                return

    def _with_parked(self, batch: list[_Cmd]) -> list[_Cmd]:
        """Count windows keep their order: while some wait for room, new ones queue behind."""
        if not self._parked:
            return batch
        counts = [c for c in batch if _is_count(c)]
        rest = [c for c in batch if not _is_count(c)]
        if time.monotonic() < self._parked_retry_at:
            self._parked.extend(counts)
            return rest
        parked, self._parked = [*self._parked, *counts], []
        return [*parked, *rest]

    def _keep_wal_small(self) -> None:
        """Checkpoint before the WAL outgrows its share of the quota (it counts on disk)."""
        if self._store.wal_bytes() > self._budget.wal_bytes // 2:
            self._store.checkpoint()

    def _unexpected(self, batch: list[_Cmd], exc: Exception) -> None:
        """A batch failed in a way nobody planned for: its callers hear it, the writer goes on."""
        self.writer_errors += 1
        log.error(
            "journal: a batch of %d command(s) failed unexpectedly (%s); writer goes on",
            len(batch),
            type(exc).__name__,
            exc_info=exc,
        )
        self._alarm(
            "writer",
            f"journal writer: {self.writer_errors} batch(es) failed unexpectedly "
            f"(last: {type(exc).__name__})",
        )
        self._fail(batch, exc)

    def _drain(self, first: _Cmd | None) -> tuple[list[_Cmd], bool]:
        if first is None:
            return [], True
        batch = [first]
        size, cap = _cost(first), self._budget.batch_bytes
        while len(batch) < _BATCH and size < cap:  # one transaction must fit the WAL's share
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                break
            if cmd is None:
                return batch, True
            batch.append(cmd)
            size += _cost(cmd)
        return batch, False

    def _idle_wait(self) -> float:
        return min(1.0, self._cfg.checkpoint_seconds)

    def _maintain_due(self) -> bool:
        return self._clock.monotonic() - self._last_maintain >= _MAINTAIN_EVERY_S

    def _checkpoint_due(self) -> bool:
        now = self._clock.monotonic()
        return any(
            h.since_checkpoint > 0 and now - h.checkpoint_mono >= self._cfg.checkpoint_seconds
            for h in self._heads.values()
        )

    def _execute(self, batch: list[_Cmd]) -> None:
        """Run a batch in one transaction; on a full disk apply the quota policy."""
        saved = {s: _Head(**vars(h)) for s, h in self._heads.items()}
        try:
            results = self._transaction(batch)
        except sqlite3.OperationalError as exc:
            self._heads = saved
            if not _is_full(exc):
                self._fail(batch, exc)
                return
            try:
                results = self._on_full(batch, saved)
            except Exception as inner:  # noqa: BLE001 - reaches the callers, not the thread
                self._heads = saved
                self._fail(batch, inner)
                return
        except Exception as exc:  # noqa: BLE001 - any failure must reach the waiting callers
            self._heads = saved
            self._fail(batch, exc)
            return
        for cmd, result in results:
            if isinstance(result, BaseException):
                cmd.future.set_exception(result)
            else:
                cmd.future.set_result(result)

    def _on_full(
        self, batch: list[_Cmd], saved: dict[str, _Head]
    ) -> list[tuple[_Cmd, int | BaseException]]:
        if self._cfg.quota_policy == "drop-oldest-unconfirmed":
            for _ in range(8):
                try:
                    self._transaction([], drop_oldest=True)
                    return self._transaction(batch)
                except sqlite3.OperationalError as exc:
                    self._heads = {s: _Head(**vars(h)) for s, h in saved.items()}
                    if not _is_full(exc):
                        raise
        where = (
            "the disk holds less than the quota"
            if self._budget.disk_limited
            else f"quota {self._cfg.quota_bytes} bytes"
        )
        self._alarm(
            "journal-full",
            f"journal full ({where}): refusing new reads, count windows wait; "
            f"policy {self._cfg.quota_policy}",
        )
        counts = [c for c in batch if _is_count(c)]
        if counts:
            self._parked.extend(counts)
            self._parked_retry_at = time.monotonic() + _PARKED_RETRY_S
        appends = [c for c in batch if isinstance(c, _Append) and not _is_count(c)]
        others = [c for c in batch if not isinstance(c, _Append)]
        refused: list[tuple[_Cmd, int | BaseException]] = [
            (c, JournalFullError("journal full: record refused (alarm raised)")) for c in appends
        ]
        try:
            return refused + self._transaction(others)
        except Exception as exc:  # noqa: BLE001 - every waiting caller hears its own outcome
            self._heads = {s: _Head(**vars(h)) for s, h in saved.items()}
            return refused + [(c, exc) for c in others]

    def _fail(self, batch: list[_Cmd], exc: BaseException) -> None:
        for cmd in batch:
            if not cmd.future.done():
                cmd.future.set_exception(exc)

    def _alarm(self, key: str, line: str | None) -> None:
        if line is None:
            self._alarms.clear(key)
        else:
            self._alarms.raise_(key, line)

    def _transaction(
        self, batch: list[_Cmd], *, drop_oldest: bool = False
    ) -> list[tuple[_Cmd, int | BaseException]]:
        heads_before = {s: h.seq for s, h in self._heads.items()}
        self._budget = self._store.limit(reserve=not any(isinstance(c, _Append) for c in batch))
        with self._store.transaction():
            if drop_oldest:
                for stream in STREAMS:
                    cap = self._budget.mark_rows
                    self._purge(stream, self._store.drop_boundary(stream, cap), "quota")
            results: list[tuple[_Cmd, int | BaseException]] = [
                (cmd, self._apply(cmd)) for cmd in batch
            ]
            self._checkpoints()
        if any(isinstance(c, _Append) for c in batch):
            self._alarm("journal-full", None)
        for stream, head in self._heads.items():
            if head.seq != heads_before[stream]:
                for listener in self._listeners:
                    listener(stream)
        return results

    def _apply(self, cmd: _Cmd) -> int:
        """Run one command inside the open transaction."""
        if isinstance(cmd, _Append):
            seq = self._append(cmd)
            self._checkpoints()  # every N records exactly, even inside a large batch
            return seq
        if isinstance(cmd, _Publish):
            return self._store.mark_published(cmd.stream, cmd.seqs)
        if isinstance(cmd, _Confirm):
            head = self._heads[cmd.stream].seq
            return self._store.mark_confirmed(cmd.stream, cmd.through, head)
        if isinstance(cmd, _Maintain):
            return self._maintain(cmd.rows)
        return 0  # sync(): nothing to do but commit

    def _write(self, stream: str, kind: Kind, payload: dict[str, object]) -> int:
        head = self._heads[stream]
        seq = head.seq + 1
        ts = self.stamp_ms(stream)
        wire, digest = build_record(
            camera=self.camera,
            stream=stream,
            seq=seq,
            prev=head.hash,
            ts_ms=ts,
            boot=self._boot[stream],
            kind=kind,
            payload=payload,
            signer=self._signer,
        )
        self._store.insert(stream, seq, kind, ts, digest, wire)
        head.seq, head.hash = seq, digest
        head.since_checkpoint += 1
        return seq

    def _append(self, cmd: _Append) -> int:
        seq = self._heads[cmd.stream].seq + 1
        if cmd.read is not None:
            payload = read_payload(cmd.read, self._sealer, self.camera, seq)
        elif cmd.kind == "key":
            payload = dict(cmd.data or {})
        else:
            payload = {"data": cmd.data or {}}
        return self._write(cmd.stream, cmd.kind, payload)

    def _checkpoints(self) -> None:
        now = self._clock.monotonic()
        for stream, head in self._heads.items():
            due = head.since_checkpoint >= self._cfg.checkpoint_every or (
                head.since_checkpoint > 0
                and now - head.checkpoint_mono >= self._cfg.checkpoint_seconds
            )
            if due:
                self._write(stream, "checkpoint", {"head_seq": head.seq, "head": head.hash})
                head.since_checkpoint = 0
                head.checkpoint_mono = now

    def _maintain(self, rows: int = 0) -> int:
        self._last_maintain = self._clock.monotonic()
        now_ms = int(self._clock.wall() * 1000)
        retention_cut = now_ms - int(self._cfg.retention_days * _DAY_MS)
        max_age_cut = now_ms - int(self._cfg.max_age_days * _DAY_MS)
        purged = 0
        for stream in STREAMS:
            below_ret = self._store.retention_boundary(stream, retention_cut)
            below_age = self._store.age_boundary(stream, max_age_cut)
            below, reason = (
                (below_age, "max-age") if below_age > below_ret else (below_ret, "retention")
            )
            first = self._store.first_seq(stream)
            if rows and first is not None:
                below = min(below, first + rows)  # a step the WAL's share can hold
            purged += self._purge(stream, below, reason)
        return purged

    def _purge(self, stream: str, below: int, reason: str) -> int:
        """Delete every record under ``below`` and journal that it happened."""
        deleted, first, head_before = self._store.delete_below(stream, below)
        if deleted:
            self._write(
                stream,
                "purge",
                {
                    "below": below,
                    "head_before": head_before or GENESIS,
                    "from": first,
                    "count": deleted,
                    "reason": reason,
                },
            )
        return deleted


def _check_stream(stream: str) -> str:
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; streams are {', '.join(STREAMS)}")
    return stream


def _is_count(cmd: _Cmd) -> bool:
    return isinstance(cmd, _Append) and cmd.kind == "count"


def _cost(cmd: _Cmd | None) -> int:
    """Rough bytes a command adds to a transaction (a read's images, base64'd and sealed)."""
    if isinstance(cmd, _Append):
        read = cmd.read
        images = 0 if read is None else len(read.crop_jpeg) + len(read.overview_jpeg)
        return images * 4 // 3 + 1024
    return 64


def _is_full(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
