"""Delivery: a grant's counts over a time range, with disclosure control.

**What is published.** Per time step (the request's granularity, a multiple of
the grant's) and per camera, or summed over the grant's cameras: the number
of vehicles (``total``), late reads (``late``) and, per granted dimension,
vehicles per label. Only sums of what cameras published: a window whose total
the camera withheld (1..k-1) is in no figure (``withheld_windows`` says how
many such windows a row misses).

**Disclosure control, one rule, one table.** Everything is derived from one
table: per camera and *base step* (``disclosure.base_s``, the same for every
grant and every recipient), its total, late and label counts.

1. *Primary*: a base cell in 1..k-1 (k = ``disclosure.k``) is suppressed.
   Labels of a (camera, base step, dimension) fold into ``other`` as the
   agent's per-window rule does (every named label >= k, ``other`` 0 or >= k).
2. *Complementary, by construction*: a published figure is the sum of a set
   of base cells and is published only when none of them is suppressed (a
   label only when it is named in every base cell summed; otherwise it goes
   to ``other``). So every published number is a sum of published base cells.

Why no withheld cell can be recovered: any figure a recipient gets, under any
of its grants, at any granularity, is a sum of published base cells of the
one table; sums and differences of such figures are combinations of
published base cells only, and a suppressed base cell appears in none of
them. Why nothing is 1..k-1: each published base cell is 0 or >= k, and a sum
of such numbers is 0 or >= k. The camera-level values themselves are sums of
window values that the agent's disclosure control already made 0 or >= the
camera's k, so with ``disclosure.k`` at most the cameras' k nothing is
suppressed here at all; a larger hub k tightens what cities get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.sql.compiler import SQLCompiler

from agent.civil.counts import OTHER
from hub.store.models import Bucket, BucketLabel

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import InstrumentedAttribute
    from sqlalchemy.sql import ClauseElement
    from sqlalchemy.sql.elements import ColumnElement

    from hub.grants import GrantView

__all__ = [
    "FORMATS",
    "DeliveryError",
    "Query",
    "Row",
    "check_request",
    "fold",
    "label_names",
    "rows",
]

FORMATS = ("json", "csv", "datex")
ALL = "*"  # the camera column of rows summed over a grant's cameras
_MAX_ROWS = 5_000_000


class DeliveryError(Exception):
    """A request the hub refuses: an HTTP status and one line saying why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Query:
    """One validated request."""

    start: int
    end: int
    granularity_s: int
    per_camera: bool
    fmt: str


@dataclass(slots=True)
class Row:
    """One published row: a time step, a camera (or ``*``), its figures."""

    start: int
    end: int
    camera: str
    total: int | None  # None: suppressed
    late: int | None
    withheld_windows: int
    windows: int
    labels: dict[str, dict[str, int]] = field(default_factory=dict)


def check_request(  # noqa: PLR0913, C901 - every refusal is one explicit rule
    grant: GrantView | None,
    recipient: str,
    *,
    now_s: int,
    start: int | None,
    end: int | None,
    granularity_s: int | None,
    per_camera: bool,
    fmt: str,
) -> Query:
    """Validate a request against its grant; :class:`DeliveryError` (4xx) says what is wrong."""
    if grant is None or grant.recipient != recipient:
        raise DeliveryError(404, "no such grant for this recipient")
    if grant.state == "revoked":
        raise DeliveryError(403, "grant revoked")
    if grant.state != "approved":
        raise DeliveryError(403, f"grant not approved (state {grant.state})")
    if now_s < grant.valid_from:
        raise DeliveryError(403, "grant not valid yet")
    if now_s >= grant.valid_until:
        raise DeliveryError(403, "grant expired: ask for a renewal")
    if fmt not in FORMATS:
        raise DeliveryError(406, f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if start is None or end is None or end <= start:
        raise DeliveryError(400, "from and to (epoch seconds or ISO 8601) with from < to")
    if start < grant.valid_from or end > grant.valid_until:
        raise DeliveryError(403, "range outside the grant's validity")
    step = granularity_s or grant.granularity_s
    if step < grant.granularity_s or step % grant.granularity_s:
        raise DeliveryError(
            403,
            f"granularity {step} s is finer than or not a multiple of the grant's "
            f"{grant.granularity_s} s",
        )
    if start % step or end % step:
        raise DeliveryError(400, f"from and to must be multiples of the granularity ({step} s)")
    if per_camera and not grant.per_camera:
        raise DeliveryError(403, "this grant does not allow rows per camera")
    return Query(start, end, step, per_camera, fmt)


def fold(counts: dict[str, int], k: int) -> dict[str, int]:
    """Labels of one (camera, base step, dimension): names below k fold into ``other``.

    The agent's rule: every named label >= k, ``other`` 0 or >= k (the smallest
    named labels join it until it is).
    """
    named = {c: n for c, n in counts.items() if c != OTHER and n >= k}
    other = sum(counts.values()) - sum(named.values())
    while 0 < other < k and named:
        smallest = min(named, key=lambda c: (named[c], c))
        other += named.pop(smallest)
    if other:
        named[OTHER] = other
    return named


def _small(column: ColumnElement[int] | InstrumentedAttribute[int], k: int) -> ColumnElement[int]:
    return case((and_(column >= 1, column < k), 1), else_=0)


def rows(  # noqa: PLR0913 - the inputs of one delivery
    conn: Connection,
    *,
    cameras: list[str],
    query: Query,
    dimensions: tuple[str, ...],
    k: int,
    base_s: int,
) -> Iterator[Row]:
    """The published rows, in time order (then camera order), streamed from the store."""
    step = query.granularity_s
    labels = (
        _labels(conn, cameras=cameras, query=query, dimensions=dimensions, k=k, base_s=base_s)
        if dimensions
        else {}
    )
    where = and_(
        Bucket.camera_id.in_(cameras), Bucket.start >= query.start, Bucket.start < query.end
    )
    if query.per_camera and step == base_s:
        # One base cell a row: no grouping, the primary key's order (camera, time).
        plain = (
            select(
                Bucket.start,
                Bucket.camera_id,
                Bucket.total,
                Bucket.late,
                Bucket.withheld,
                Bucket.windows,
            )
            .where(where)
            .order_by(Bucket.camera_id, Bucket.start)
        )
        for s, cam, total, late, withheld, windows in _stream(conn, plain):
            yield Row(
                start=s,
                end=s + step,
                camera=cam,
                total=None if 0 < total < k else total,
                late=None if 0 < late < k else late,
                withheld_windows=withheld,
                windows=windows,
                labels=labels.get((s, cam), {}) if labels else {},
            )
        return
    slot = (Bucket.start - Bucket.start % step if step != base_s else Bucket.start).label("slot")
    keys = [Bucket.camera_id, slot] if query.per_camera else [slot]
    stmt = (
        select(
            slot,
            Bucket.camera_id if query.per_camera else literal(ALL),
            func.sum(Bucket.total),
            func.sum(Bucket.late),
            func.sum(Bucket.withheld),
            func.sum(Bucket.windows),
            func.sum(_small(Bucket.total, k)),
            func.sum(_small(Bucket.late, k)),
        )
        .where(where)
        .group_by(*keys)
        .order_by(*keys)
    )
    for s, cam, total, late, withheld, windows, small, small_late in _stream(conn, stmt):
        start = int(s)
        yield Row(
            start=start,
            end=start + step,
            camera=cam,
            total=None if small else int(total),
            late=None if small_late else int(late),
            withheld_windows=int(withheld),
            windows=int(windows),
            labels=labels.get((start, cam), {}) if labels else {},
        )


def _stream(conn: Connection, stmt: ClauseElement) -> Iterator[tuple[Any, ...]]:
    """Rows as plain tuples from the driver's own cursor, fetched in slices.

    A year of a city is about a million rows: going around SQLAlchemy's result
    objects halves the CPU per row. On PostgreSQL the cursor is server-side,
    so memory stays flat.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)  # noqa: S101 - a SELECT compiles with one
    params = compiled.params
    args: Any = (
        tuple(params[name] for name in compiled.positiontup or ())
        if compiled.positional
        else params
    )
    driver = conn.connection.driver_connection
    assert driver is not None  # noqa: S101 - a live connection has one
    named = conn.dialect.name == "postgresql"
    cursor = driver.cursor(name="hub_rows") if named else driver.cursor()
    try:
        cursor.execute(str(compiled), args)
        while batch := cursor.fetchmany(20_000):
            yield from batch
    finally:
        cursor.close()


def _labels(  # noqa: PLR0913
    conn: Connection,
    *,
    cameras: list[str],
    query: Query,
    dimensions: tuple[str, ...],
    k: int,
    base_s: int,
) -> dict[tuple[int, str], dict[str, dict[str, int]]]:
    """Per (slot, camera or ``*``) and dimension: label counts, folded per base cell first."""
    step = query.granularity_s
    base: dict[tuple[str, int, str], dict[str, int]] = {}
    stmt = select(
        BucketLabel.camera_id,
        BucketLabel.start,
        BucketLabel.dim,
        BucketLabel.label,
        BucketLabel.count,
    ).where(
        BucketLabel.camera_id.in_(cameras),
        BucketLabel.start >= query.start,
        BucketLabel.start < query.end,
        BucketLabel.dim.in_(dimensions),
    )
    for cam, start, dim, label, count in conn.execute(stmt):
        base.setdefault((cam, int(start), dim), {})[label] = int(count)
    # Sum folded base cells; a label not named in every base cell summed goes to other.
    sums: dict[tuple[int, str, str], dict[str, int]] = {}
    parts: dict[tuple[int, str, str], list[dict[str, int]]] = {}
    for (cam, start, dim), counts in base.items():
        folded = fold(counts, k)
        slot = start - start % step
        who = cam if query.per_camera else ALL
        parts.setdefault((slot, who, dim), []).append(folded)
    del base_s
    for key, all_pieces in parts.items():
        pieces = [p for p in all_pieces if p] or [{}]
        named = set.intersection(*(set(p) for p in pieces)) - {OTHER}
        out: dict[str, int] = {}
        for piece in pieces:
            for label, n in piece.items():
                target = label if label in named else OTHER
                out[target] = out.get(target, 0) + n
        sums[key] = out
    result: dict[tuple[int, str], dict[str, dict[str, int]]] = {}
    for (slot, who, dim), counts in sums.items():
        result.setdefault((slot, who), {})[dim] = counts
    return result


def label_names(conn: Connection, cameras: list[str], query: Query, dim: str) -> list[str]:
    """The labels of ``dim`` stored for these cameras in the range, sorted (``other`` last)."""
    found = conn.execute(
        select(BucketLabel.label)
        .where(
            BucketLabel.camera_id.in_(cameras),
            BucketLabel.start >= query.start,
            BucketLabel.start < query.end,
            BucketLabel.dim == dim,
        )
        .distinct()
    ).scalars()
    names = sorted(set(found) - {OTHER})
    return [*names, OTHER]
