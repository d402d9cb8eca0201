"""The camera inventory: from the signed descriptors, with key history and first/last seen."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

from sqlalchemy import select

from hub.formats import iso
from hub.store.models import Camera, CameraKey

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["FIELDS", "camera_rows", "geojson", "inventory_csv"]

FIELDS = (
    "id", "site", "location", "lat", "lon", "owner", "operator", "purpose", "legal_basis",
    "vendor", "model", "lanes", "software", "counts_purpose", "counts_legal_basis", "window_s",
    "k", "dimensions", "keys", "first_seen", "last_seen",
)  # fmt: skip


def camera_rows(conn: Connection, only: list[str] | None = None) -> list[dict[str, object]]:
    """Every camera (or those in ``only``), with its key history, sorted by id."""
    cols = Camera.__table__.c
    query = select(*cols).order_by(cols.id)
    if only is not None:
        query = query.where(cols.id.in_(only))
    keys: dict[str, list[dict[str, object]]] = {}
    for row in conn.execute(select(*CameraKey.__table__.c).order_by(CameraKey.added_ms)).mappings():
        keys.setdefault(row["camera_id"], []).append(
            {
                "kid": row["kid"],
                "source": row["source"],
                "valid_from_seq": row["valid_from_seq"],
                "retired_after_seq": row["retired_after_seq"],
                "added": iso(row["added_ms"] // 1000),
            }
        )
    out = []
    for row in conn.execute(query).mappings():
        entry = {name: row[name] for name in FIELDS if name in row}
        entry["dimensions"] = json.loads(row["dimensions"] or "[]")
        entry["keys"] = keys.get(row["id"], [])
        entry["first_seen"] = iso(row["first_seen_ms"] // 1000)
        entry["last_seen"] = iso(row["last_seen_ms"] // 1000)
        out.append(entry)
    return out


def geojson(cameras: list[dict[str, object]]) -> dict[str, object]:
    """A GeoJSON FeatureCollection of the cameras that have a location."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
            "properties": {k: v for k, v in c.items() if k not in {"lat", "lon", "keys"}},
        }
        for c in cameras
        if c.get("lat") is not None and c.get("lon") is not None
    ]
    return {"type": "FeatureCollection", "features": features}


def inventory_csv(cameras: list[dict[str, object]]) -> str:
    """The inventory as CSV (dimensions joined by ``|``, keys as their kids)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for c in cameras:
        row = dict(c)
        row["dimensions"] = "|".join(str(d) for d in c.get("dimensions", []))  # type: ignore[attr-defined]
        row["keys"] = "|".join(str(k["kid"]) for k in c.get("keys", []))  # type: ignore[attr-defined]
        writer.writerow(["" if row.get(f) is None else row.get(f) for f in FIELDS])
    return buf.getvalue()
