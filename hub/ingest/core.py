"""The transport-free core of ingest: one :class:`Ingestor` per hub process.

Every record goes through the agent's own verifier (:class:`ChainVerifier`:
canonical form, trusted key, signature, chain link, key rotation, forks).
Only verified records are stored; a count window is deduplicated on its id
``{camera}/{window_start}``, so replays and at-least-once redelivery are
harmless. Each window also adds to the per-camera base bucket
(``disclosure.base_s``) that delivery reads, so a year of data is served
without re-reading windows.

Trust comes only from keys an operator registered (:meth:`Ingestor.trust`)
and from rotation records signed by them, exactly as docs/PROTOCOL.md says.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from agent.civil.counts import SCHEMA
from agent.core.canonical import b64, canonical, unb64
from agent.journal.records import RecordError, parse_record
from agent.journal.verify import ChainVerifier, Problem
from agent.security.crypto import key_id
from agent.uplink.descriptor import verify_descriptor
from hub.store.db import now_ms
from hub.store.models import (
    Bucket,
    BucketLabel,
    Camera,
    CameraKey,
    Chain,
    ProblemRow,
    Record,
    Window,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.engine import Connection, Engine

    from agent.journal.records import ParsedRecord

__all__ = ["IngestStats", "Ingestor", "window_problem"]

STREAM = "counts"
_COVERAGE = ("full", "partial", "none")
_PROBLEM_QUIET_MS = 60_000  # one stored problem per camera and kind a minute


@dataclass
class IngestStats:
    """What ingest did since start."""

    records: int = 0
    windows: int = 0
    duplicates: int = 0
    window_duplicates: int = 0
    problems: int = 0
    descriptors: int = 0


@dataclass
class _Feed:
    """What ingest holds of one camera's counts stream (a cache of the ``chains`` row)."""

    verifier: ChainVerifier
    base: int = 1
    confirmed: int = 0
    held: set[int] = field(default_factory=set)  # seqs above ``confirmed`` that are stored
    acked: int = 0
    last_seq: int = 0
    gap_since: float | None = None
    replay_requested: float = 0.0

    def contiguous_through(self) -> int:
        seq = max(self.confirmed, self.base - 1)
        while seq + 1 in self.held:
            seq += 1
        return seq


def window_problem(camera: str, data: object) -> str | None:  # noqa: C901, PLR0911 - one rule a line
    """Why a count record's ``data`` is not a civil count window of ``camera`` (None: it is)."""
    if not isinstance(data, dict):
        return "data is not an object"
    if data.get("schema") != SCHEMA:
        return f"schema is not {SCHEMA}"
    start, end = data.get("window_start"), data.get("window_end")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        return "window_start/window_end are not a window"
    if data.get("camera") != camera or data.get("id") != f"{camera}/{start}":
        return "camera or id does not match the stream"
    if data.get("coverage") not in _COVERAGE:
        return "coverage is not full/partial/none"
    k = data.get("k")
    if not isinstance(k, int) or k < 2:
        return "k is not an integer >= 2"
    for key in ("total", "late"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or value < 0 or 0 < value < k):
            return f"{key} is not 0 or >= k"
    marginals = data.get("marginals")
    if not isinstance(marginals, dict):
        return "marginals is not an object"
    for counts in marginals.values():
        if not isinstance(counts, dict) or any(
            not isinstance(n, int) or 0 < n < k for n in counts.values()
        ):
            return "a marginal is not 0 or >= k"
    return None


def _insert(conn: Connection, table: type[Record | Window | Bucket | BucketLabel | Chain]) -> Any:  # noqa: ANN401 - dialect insert
    """The dialect's INSERT (both SQLite and PostgreSQL have ON CONFLICT)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return insert(table)


def _upsert(
    conn: Connection,
    table: type[Bucket | BucketLabel],
    rows: list[dict[str, int | str]],
    keys: list[str],
    adds: list[str],
) -> None:
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: getattr(table, name) + stmt.excluded[name] for name in adds},
    )
    conn.execute(stmt, rows)


class Ingestor:
    """Verify, deduplicate and store count records and descriptors. Thread-safe."""

    def __init__(self, engine: Engine, *, base_s: int, clock: Callable[[], int] = now_ms) -> None:
        self._engine = engine
        self._base_s = base_s
        self._clock = clock
        self._lock = threading.RLock()
        self._feeds: dict[str, _Feed] = {}
        self._quiet: dict[tuple[str, str], int] = {}
        self.stats = IngestStats()

    # ------------------------------------------------------------ trust

    def trust(self, camera: str, public_key: Ed25519PublicKey, *, actor: str = "operator") -> str:
        """Register a camera's signing key (the root of trust for its stream); return its kid."""
        del actor
        kid = key_id(public_key)
        raw = b64(public_key.public_bytes_raw())
        with self._lock, self._engine.begin() as conn:
            known = conn.execute(
                select(CameraKey.kid).where(CameraKey.camera_id == camera, CameraKey.kid == kid)
            ).first()
            if known is None:
                conn.execute(
                    insert(CameraKey),
                    {
                        "camera_id": camera,
                        "kid": kid,
                        "public_key": raw,
                        "source": "registered",
                        "valid_from_seq": None,
                        "retired_after_seq": None,
                        "added_ms": self._clock(),
                    },
                )
            self._feeds.pop(camera, None)  # rebuilt with the new key on the next record
        return kid

    def _registered(self, conn: Connection, camera: str) -> dict[str, Ed25519PublicKey]:
        rows = conn.execute(
            select(CameraKey.kid, CameraKey.public_key).where(
                CameraKey.camera_id == camera, CameraKey.source == "registered"
            )
        ).all()
        return {kid: Ed25519PublicKey.from_public_bytes(unb64(raw)) for kid, raw in rows}

    def _all_keys(self, conn: Connection, camera: str) -> dict[str, Ed25519PublicKey]:
        rows = conn.execute(
            select(CameraKey.kid, CameraKey.public_key).where(CameraKey.camera_id == camera)
        ).all()
        return {kid: Ed25519PublicKey.from_public_bytes(unb64(raw)) for kid, raw in rows}

    # ------------------------------------------------------------ state

    def _feed(self, conn: Connection, camera: str) -> _Feed:
        feed = self._feeds.get(camera)
        if feed is not None:
            return feed
        verifier = ChainVerifier(camera, STREAM, self._registered(conn, camera))
        chain = conn.execute(
            select(Chain.base, Chain.confirmed_through, Chain.last_seq).where(
                Chain.camera_id == camera
            )
        ).first()
        feed = _Feed(verifier)
        if chain is not None:
            feed.base, feed.confirmed, feed.last_seq = (
                chain.base,
                chain.confirmed_through,
                chain.last_seq,
            )
            feed.acked = chain.confirmed_through
            # Key records first (trust flows along the chain), then the last contiguous
            # record (for the next one's link) and whatever is held beyond it.
            wires = conn.execute(
                select(Record.wire)
                .where(
                    Record.camera_id == camera,
                    (Record.kind == "key") | (Record.seq >= chain.confirmed_through),
                )
                .order_by(Record.seq)
            ).scalars()
            for wire in wires:
                verifier.feed(wire)
            feed.held = set(
                conn.execute(
                    select(Record.seq).where(
                        Record.camera_id == camera, Record.seq > chain.confirmed_through
                    )
                ).scalars()
            )
        self._feeds[camera] = feed
        return feed

    # ------------------------------------------------------------ records

    def feed_records(self, items: Iterable[tuple[str, bytes]]) -> list[tuple[str, Problem]]:
        """Verify and store a batch of ``(camera, wire)`` in one transaction; return problems."""
        found: list[tuple[str, Problem]] = []
        with self._lock, self._engine.begin() as conn:
            batch = _Batch(self._base_s, self._clock())
            for camera, wire in items:
                found += self._one(conn, batch, camera, wire)
            batch.flush(conn, self.stats)
            if batch.cameras:
                conn.execute(
                    update(Camera)
                    .where(Camera.id.in_(sorted(batch.cameras)))
                    .values(last_seen_ms=batch.now)
                )
            touched = {c for c, _ in found} | batch.cameras
            for camera in touched:
                self._save_chain(conn, camera)
            self._store_problems(conn, found)
        return found

    def _one(
        self, conn: Connection, batch: _Batch, camera: str, wire: bytes
    ) -> list[tuple[str, Problem]]:
        self.stats.records += 1
        try:
            record = parse_record(wire)
        except RecordError as exc:
            return [(camera, Problem(None, "malformed", str(exc)))]
        feed = self._feed(conn, camera)
        seq = record.seq
        known = batch.hashes.get((camera, seq)) or self._stored_hash(conn, camera, seq)
        if known is not None:
            self.stats.duplicates += 1
            if known != record.hash:
                return [(camera, Problem(seq, "fork", "seen before with different content"))]
            return []
        problems = feed.verifier.feed(wire)
        if any(p.seq == seq for p in problems):
            return [(camera, p) for p in problems]
        problems += batch.links(conn, camera, record)
        batch.add_record(camera, record, wire)
        feed.held.add(seq)
        feed.last_seq = max(feed.last_seq, seq)
        if record.kind == "purge":
            below = record.integer("below") or 1
            feed.base = max(feed.base, below)
        elif record.kind == "key":
            batch.keys.append((camera, record))
        elif record.kind == "count":
            data = record.body.get("data")
            why = window_problem(camera, data)
            if why is not None:
                problems.append(Problem(seq, "bad-window", why))
            elif isinstance(data, dict):
                batch.add_window(camera, seq, data)
        return [(camera, p) for p in problems]

    @staticmethod
    def _stored_hash(conn: Connection, camera: str, seq: int) -> str | None:
        return conn.execute(
            select(Record.hash).where(Record.camera_id == camera, Record.seq == seq)
        ).scalar()

    def _save_chain(self, conn: Connection, camera: str) -> None:
        """Recompute the contiguous run from the stored records (other instances add to it)."""
        feed = self._feeds[camera]
        row = conn.execute(
            select(Chain.base, Chain.confirmed_through, Chain.last_seq).where(
                Chain.camera_id == camera
            )
        ).first()
        if row is not None:
            feed.base = max(feed.base, row.base)
            feed.confirmed = max(feed.confirmed, row.confirmed_through)
            feed.last_seq = max(feed.last_seq, row.last_seq)
        feed.held = set(
            conn.execute(
                select(Record.seq).where(
                    Record.camera_id == camera, Record.seq > max(feed.confirmed, feed.base - 1)
                )
            ).scalars()
        )
        through = feed.contiguous_through()
        feed.held = {s for s in feed.held if s > through}
        feed.confirmed = through
        values = {"base": feed.base, "confirmed_through": through, "last_seq": feed.last_seq}
        # Several hub instances write this row: an upsert that only ever moves forward.
        bigger = func.greatest if conn.dialect.name == "postgresql" else func.max
        stmt = _insert(conn, Chain)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["camera_id"],
                set_={name: bigger(getattr(Chain, name), stmt.excluded[name]) for name in values},
            ),
            {"camera_id": camera, "problems": 0, **values},
        )

    def _store_problems(self, conn: Connection, found: list[tuple[str, Problem]]) -> None:
        now = self._clock()
        rows = []
        for camera, problem in found:
            self.stats.problems += 1
            quiet = (camera, problem.kind)
            if now - self._quiet.get(quiet, -_PROBLEM_QUIET_MS) < _PROBLEM_QUIET_MS:
                continue
            self._quiet[quiet] = now
            rows.append(
                {
                    "camera_id": camera,
                    "seq": problem.seq,
                    "kind": problem.kind,
                    "detail": problem.detail[:500],
                    "at_ms": now,
                }
            )
        if rows:
            conn.execute(insert(ProblemRow), rows)

    # ------------------------------------------------------------ acks and replays

    def due_acks(self) -> list[tuple[str, int]]:
        """``(camera, confirmed_through)`` for every camera whose ack moved since the last call.

        Cameras with records above the contiguous run are recomputed from the
        store first: another hub instance may have filled the gap since.
        """
        with self._lock:
            open_gaps = [c for c, f in self._feeds.items() if f.last_seq > f.contiguous_through()]
            if open_gaps:
                with self._engine.begin() as conn:
                    for camera in open_gaps:
                        self._save_chain(conn, camera)
            due = []
            for camera, feed in self._feeds.items():
                through = feed.contiguous_through()
                if through > feed.acked:
                    feed.acked = through
                    due.append((camera, through))
            return due

    def due_replays(
        self, now: float, gap_after_s: float, announced: dict[str, int]
    ) -> list[tuple[str, int, int]]:
        """``(camera, from, to)`` for gaps open past ``gap_after_s``, lost tails included."""
        out = []
        with self._lock:
            for camera, feed in self._feeds.items():
                through = feed.contiguous_through()
                top = max(feed.last_seq, announced.get(camera, 0))
                if top <= through:
                    feed.gap_since = None
                    continue
                feed.gap_since = feed.gap_since or now
                if (
                    now - feed.gap_since < gap_after_s
                    or now - feed.replay_requested < 4 * gap_after_s
                ):
                    continue
                later = [s for s in feed.held if s > through]
                last = min(min(later, default=top + 1) - 1, through + 10_000)
                feed.replay_requested = now
                out.append((camera, through + 1, last))
        return out

    # ------------------------------------------------------------ descriptors

    def feed_descriptor(self, camera: str, wire: bytes) -> Problem | None:
        """Verify a descriptor against the camera's keys and update the inventory entry."""
        with self._lock, self._engine.begin() as conn:
            keys = self._all_keys(conn, camera)
            if camera in self._feeds:
                keys.update(self._feeds[camera].verifier._keys)  # noqa: SLF001 - rotated keys
            try:
                body = verify_descriptor(wire, keys)
            except ValueError as exc:
                problem = Problem(None, "bad-descriptor", str(exc))
                self._store_problems(conn, [(camera, problem)])
                return problem
            if body.get("camera") != camera:
                problem = Problem(None, "bad-descriptor", "descriptor of another camera")
                self._store_problems(conn, [(camera, problem)])
                return problem
            self._upsert_camera(conn, camera, body, wire)
            self.stats.descriptors += 1
        return None

    def _upsert_camera(
        self, conn: Connection, camera: str, body: dict[str, object], wire: bytes
    ) -> None:
        now = self._clock()
        civil = body.get("civil_counts")
        civil = civil if isinstance(civil, dict) else {}
        lat, lon = _lat_lon(str(body.get("location", "")))
        values: dict[str, object] = {
            name: _text(body.get(name))
            for name in (
                "site",
                "location",
                "owner",
                "operator",
                "vendor",
                "model",
                "purpose",
                "legal_basis",
                "software",
            )
        }
        values.update(
            lat=lat,
            lon=lon,
            lanes=body.get("lanes") if isinstance(body.get("lanes"), int) else None,
            counts_purpose=_text(civil.get("purpose")),
            counts_legal_basis=_text(civil.get("legal_basis")),
            window_s=civil.get("window_s") if isinstance(civil.get("window_s"), int) else None,
            k=civil.get("k") if isinstance(civil.get("k"), int) else None,
            dimensions=json.dumps(civil.get("dimensions", [])),
            descriptor=wire,
            descriptor_ts=body.get("ts") if isinstance(body.get("ts"), int) else None,
            last_seen_ms=now,
        )
        existing = conn.execute(select(Camera.descriptor_ts).where(Camera.id == camera)).first()
        if existing is None:
            conn.execute(insert(Camera), {"id": camera, "first_seen_ms": now, **values})
        elif (existing[0] or 0) <= (values["descriptor_ts"] or 0):  # type: ignore[operator]
            conn.execute(update(Camera).where(Camera.id == camera).values(**values))

    def seen(self, camera: str) -> None:
        """Note that a camera was heard from (status heartbeat): its inventory's last seen."""
        with self._lock, self._engine.begin() as conn:
            conn.execute(
                update(Camera).where(Camera.id == camera).values(last_seen_ms=self._clock())
            )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _lat_lon(location: str) -> tuple[float | None, float | None]:
    """``"51.05,3.72"`` -> (51.05, 3.72); anything else -> (None, None)."""
    parts = location.split(",")
    if len(parts) != 2:
        return None, None
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        return None, None
    if -90 <= lat <= 90 and -180 <= lon <= 180:
        return lat, lon
    return None, None


class _Batch:
    """Rows of one ingest transaction, written together."""

    def __init__(self, base_s: int, now: int) -> None:
        self.base_s = base_s
        self.now = now
        self.records: list[dict[str, object]] = []
        self.hashes: dict[tuple[str, int], str] = {}
        self.prevs: dict[tuple[str, int], str] = {}
        self.seqs: dict[str, set[int]] = {}
        self.windows: dict[tuple[str, int], dict[str, object]] = {}
        self.keys: list[tuple[str, ParsedRecord]] = []
        self.cameras: set[str] = set()

    def links(self, conn: Connection, camera: str, record: ParsedRecord) -> list[Problem]:
        """Chain links to stored neighbours (records another hub instance may have taken)."""
        seq, problems = record.seq, []
        before = (
            self.hashes.get((camera, seq - 1))
            or conn.execute(
                select(Record.hash).where(Record.camera_id == camera, Record.seq == seq - 1)
            ).scalar()
        )
        if before is not None and record.text("prev") != before:
            problems.append(Problem(seq, "broken-chain", f"prev is not the hash of seq {seq - 1}"))
        after = (
            self.prevs.get((camera, seq + 1))
            or conn.execute(
                select(Record.prev).where(Record.camera_id == camera, Record.seq == seq + 1)
            ).scalar()
        )
        if after is not None and after != record.hash:
            problems.append(Problem(seq + 1, "broken-chain", f"prev is not the hash of seq {seq}"))
        return problems

    def add_record(self, camera: str, record: ParsedRecord, wire: bytes) -> None:
        self.cameras.add(camera)
        self.seqs.setdefault(camera, set()).add(record.seq)
        self.hashes[(camera, record.seq)] = record.hash
        self.prevs[(camera, record.seq)] = record.text("prev")
        self.records.append(
            {
                "camera_id": camera,
                "seq": record.seq,
                "kind": record.kind,
                "hash": record.hash,
                "prev": record.text("prev"),
                "wire": wire,
                "received_ms": self.now,
            }
        )

    def add_window(self, camera: str, seq: int, data: dict[str, object]) -> None:
        start = data["window_start"]
        assert isinstance(start, int)  # noqa: S101 - checked by window_problem
        if (camera, start) in self.windows:
            return
        self.windows[(camera, start)] = {
            "camera_id": camera,
            "window_start": start,
            "window_end": data["window_end"],
            "seq": seq,
            "coverage": data["coverage"],
            "k": data["k"],
            "total": data.get("total"),
            "late": data.get("late"),
            "data": canonical(data).decode(),
            "received_ms": self.now,
        }

    def flush(self, conn: Connection, stats: IngestStats) -> None:
        if self.records:
            conn.execute(_insert(conn, Record).on_conflict_do_nothing(), self.records)
        for camera, record in self.keys:
            self._key(conn, camera, record)
        if not self.windows:
            return
        stmt = (
            _insert(conn, Window)
            .on_conflict_do_nothing()
            .returning(Window.camera_id, Window.window_start, sort_by_parameter_order=True)
        )
        inserted = {tuple(r) for r in conn.execute(stmt, list(self.windows.values())).all()}
        stats.window_duplicates += len(self.windows) - len(inserted)
        new = [row for key, row in self.windows.items() if key in inserted]
        stats.windows += len(new)
        if new:
            self._buckets(conn, new)

    def _buckets(self, conn: Connection, rows: list[dict[str, object]]) -> None:
        buckets: dict[tuple[str, int], dict[str, int | str]] = {}
        labels: dict[tuple[str, int, str, str], int] = {}
        for row in rows:
            camera, start = str(row["camera_id"]), int(row["window_start"])  # type: ignore[call-overload]
            bstart = start - start % self.base_s
            b = buckets.setdefault(
                (camera, bstart),
                {
                    "camera_id": camera,
                    "start": bstart,
                    "total": 0,
                    "late": 0,
                    "withheld": 0,
                    "late_withheld": 0,
                    "windows": 0,
                    "full": 0,
                },
            )
            total, late = row["total"], row["late"]
            b["windows"] = int(b["windows"]) + 1
            b["full"] = int(b["full"]) + (row["coverage"] == "full")
            if isinstance(total, int):
                b["total"] = int(b["total"]) + total
            else:
                b["withheld"] = int(b["withheld"]) + 1
            if isinstance(late, int):
                b["late"] = int(b["late"]) + late
            else:
                b["late_withheld"] = int(b["late_withheld"]) + 1
            marginals = json.loads(str(row["data"])).get("marginals", {})
            for dim, counts in marginals.items():
                for label, n in counts.items():
                    key = (camera, bstart, dim, label)
                    labels[key] = labels.get(key, 0) + n
        _upsert(
            conn,
            Bucket,
            list(buckets.values()),
            ["camera_id", "start"],
            ["total", "late", "withheld", "late_withheld", "windows", "full"],
        )
        _upsert(
            conn,
            BucketLabel,
            [
                {"camera_id": c, "start": s, "dim": d, "label": lab, "count": n}
                for (c, s, d, lab), n in labels.items()
            ],
            ["camera_id", "start", "dim", "label"],
            ["count"],
        )

    def _key(self, conn: Connection, camera: str, record: ParsedRecord) -> None:
        """A verified rotation: the new key joins the key history, the old one is retired."""
        new_kid, retires = record.text("new_kid"), record.text("retires")
        conn.execute(
            update(CameraKey)
            .where(CameraKey.camera_id == camera, CameraKey.kid == retires)
            .values(retired_after_seq=record.seq)
        )
        exists = conn.execute(
            select(CameraKey.kid).where(CameraKey.camera_id == camera, CameraKey.kid == new_kid)
        ).first()
        if exists is None:
            conn.execute(
                insert(CameraKey),
                {
                    "camera_id": camera,
                    "kid": new_kid,
                    "public_key": record.text("new_key"),
                    "source": "rotation",
                    "valid_from_seq": record.seq + 1,
                    "retired_after_seq": None,
                    "added_ms": self.now,
                },
            )
