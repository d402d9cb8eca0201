"""Grants: what a recipient (a city, named by its client certificate's CN) may receive.

A grant names a purpose, the cameras (a list, or an area: a latitude/longitude
box over the inventory), the dimensions, the finest time step (a multiple of
``disclosure.base_s``), whether rows may be per camera, how long the recipient
may keep what it gets, whether it may pass it on, and its validity
(``valid_from`` .. ``valid_until``, extended by renewal). Its life:
``requested`` -> ``approved`` -> (``revoked``). Every change is an audit row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from hub.store.db import now_ms
from hub.store.models import Audit, Camera, Grant

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "DIMENSIONS",
    "GrantError",
    "GrantView",
    "approve",
    "audit",
    "get",
    "grant_cameras",
    "list_grants",
    "renew",
    "request",
    "revoke",
]

DIMENSIONS = ("lane", "direction", "country_group", "vehicle_class")


class GrantError(ValueError):
    """A grant operation that the rules refuse (one line saying why)."""


@dataclass(frozen=True, slots=True)
class GrantView:
    """One grant, decoded."""

    id: int
    recipient: str
    purpose: str
    cameras: tuple[str, ...] | None
    area: tuple[float, float, float, float] | None
    dimensions: tuple[str, ...]
    granularity_s: int
    per_camera: bool
    retention_days: int
    onward_sharing: bool
    valid_from: int
    valid_until: int
    state: str

    def as_json(self) -> dict[str, object]:
        """The grant as the API and ``grant list --json`` show it."""
        return {
            "id": self.id,
            "recipient": self.recipient,
            "purpose": self.purpose,
            "cameras": list(self.cameras) if self.cameras is not None else None,
            "area": list(self.area) if self.area is not None else None,
            "dimensions": list(self.dimensions),
            "granularity_s": self.granularity_s,
            "per_camera": self.per_camera,
            "retention_days": self.retention_days,
            "onward_sharing": self.onward_sharing,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "state": self.state,
        }


def _view(row: Grant) -> GrantView:
    cams = json.loads(row.cameras) if row.cameras else None
    area = json.loads(row.area) if row.area else None
    return GrantView(
        id=row.id,
        recipient=row.recipient,
        purpose=row.purpose,
        cameras=tuple(cams) if cams is not None else None,
        area=(area[0], area[1], area[2], area[3]) if area is not None else None,
        dimensions=tuple(json.loads(row.dimensions)),
        granularity_s=row.granularity_s,
        per_camera=row.per_camera,
        retention_days=row.retention_days,
        onward_sharing=row.onward_sharing,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        state=row.state,
    )


def audit(  # noqa: PLR0913 - one audit line has this many facts
    conn: Connection,
    *,
    actor: str,
    action: str,
    outcome: str,
    grant_id: int | None = None,
    rows: int | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Append one audit line (in the caller's transaction)."""
    conn.execute(
        insert(Audit),
        {
            "at_ms": now_ms(),
            "actor": actor,
            "action": action,
            "grant_id": grant_id,
            "outcome": outcome,
            "rows": rows,
            "detail": json.dumps(detail or {}, sort_keys=True),
        },
    )


def request(  # noqa: PLR0913 - a grant has this many terms
    engine: Engine,
    *,
    recipient: str,
    purpose: str,
    cameras: list[str] | None,
    area: tuple[float, float, float, float] | None,
    dimensions: list[str],
    granularity_s: int,
    per_camera: bool,
    retention_days: int,
    onward_sharing: bool,
    valid_from: int,
    valid_until: int,
    actor: str,
) -> int:
    """Record a grant request; return its id."""
    if (cameras is None) == (area is None):
        raise GrantError("a grant names either cameras or an area")
    bad = sorted(set(dimensions) - set(DIMENSIONS))
    if bad:
        raise GrantError(f"unknown dimension(s) {bad}: use {', '.join(DIMENSIONS)}")
    if granularity_s < 60 or retention_days < 1 or not purpose.strip():
        raise GrantError("granularity >= 60 s, retention >= 1 day and a purpose are required")
    if valid_until <= valid_from:
        raise GrantError("valid_until must be after valid_from")
    with engine.begin() as conn:
        gid = conn.execute(
            insert(Grant).returning(Grant.id),
            {
                "recipient": recipient,
                "purpose": purpose,
                "cameras": json.dumps(sorted(cameras)) if cameras is not None else None,
                "area": json.dumps(list(area)) if area is not None else None,
                "dimensions": json.dumps(list(dimensions)),
                "granularity_s": granularity_s,
                "per_camera": per_camera,
                "retention_days": retention_days,
                "onward_sharing": onward_sharing,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "state": "requested",
                "created_ms": now_ms(),
                "decided_by": None,
            },
        ).scalar_one()
        audit(
            conn,
            actor=actor,
            action="grant-request",
            outcome="ok",
            grant_id=gid,
            detail={"recipient": recipient, "purpose": purpose},
        )
    return int(gid)


def get(conn: Connection, grant_id: int) -> GrantView | None:
    """One grant, or None."""
    return _load(conn, grant_id)


def _get_orm(conn: Connection, grant_id: int) -> GrantView:
    found = _load(conn, grant_id)
    if found is None:
        raise GrantError(f"no grant {grant_id}")
    return found


def _load(conn: Connection, grant_id: int) -> GrantView | None:
    cols = Grant.__table__.c
    row = conn.execute(select(*cols).where(cols.id == grant_id)).mappings().first()
    return _view(Grant(**dict(row))) if row else None


def _set_state(
    engine: Engine, grant_id: int, actor: str, action: str, **values: object
) -> GrantView:
    with engine.begin() as conn:
        before = _get_orm(conn, grant_id)
        if before.state == "revoked":
            audit(conn, actor=actor, action=action, outcome="refused: revoked", grant_id=grant_id)
            raise GrantError(f"grant {grant_id} is revoked")
        conn.execute(update(Grant).where(Grant.id == grant_id).values(**values))
        audit(
            conn,
            actor=actor,
            action=action,
            outcome="ok",
            grant_id=grant_id,
            detail={k: v for k, v in values.items() if isinstance(v, int | str)},
        )
        return _get_orm(conn, grant_id)


def approve(engine: Engine, grant_id: int, *, actor: str, base_s: int) -> GrantView:
    """Approve a requested grant (its time step must be a multiple of the base step)."""
    with engine.connect() as conn:
        grant = _get_orm(conn, grant_id)
    if grant.granularity_s % base_s:
        raise GrantError(
            f"granularity {grant.granularity_s} s is not a multiple of the hub's base step "
            f"{base_s} s (disclosure.base_s)"
        )
    return _set_state(engine, grant_id, actor, "grant-approve", state="approved", decided_by=actor)


def renew(engine: Engine, grant_id: int, *, until: int, actor: str) -> GrantView:
    """Extend a grant's validity to ``until`` (epoch seconds)."""
    with engine.connect() as conn:
        grant = _get_orm(conn, grant_id)
    if until <= grant.valid_from:
        raise GrantError("the new valid_until must be after valid_from")
    return _set_state(engine, grant_id, actor, "grant-renew", valid_until=until)


def revoke(engine: Engine, grant_id: int, *, actor: str) -> GrantView:
    """Revoke a grant: no more data goes out under it."""
    return _set_state(engine, grant_id, actor, "grant-revoke", state="revoked", decided_by=actor)


def list_grants(conn: Connection, recipient: str | None = None) -> list[GrantView]:
    """Every grant (of one recipient), oldest first."""
    cols = Grant.__table__.c
    query = select(*cols).order_by(cols.id)
    if recipient is not None:
        query = query.where(cols.recipient == recipient)
    return [_view(Grant(**dict(r))) for r in conn.execute(query).mappings()]


def grant_cameras(conn: Connection, grant: GrantView) -> list[str]:
    """The cameras a grant covers: its list, or the inventory's cameras inside its area."""
    if grant.cameras is not None:
        return list(grant.cameras)
    assert grant.area is not None  # noqa: S101 - request() allows only one of the two
    lat0, lon0, lat1, lon1 = grant.area
    rows = conn.execute(
        select(Camera.id)
        .where(Camera.lat.between(lat0, lat1), Camera.lon.between(lon0, lon1))
        .order_by(Camera.id)
    ).scalars()
    return list(rows)
