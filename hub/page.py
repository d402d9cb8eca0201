"""A recipient's page, server-rendered: its grants, counts per camera over time, its cameras' map.

Plain HTML with inline SVG and inline CSS: no script, no external asset, so
the page works offline and leaks nothing to third parties. The counts shown
are the same published rows the API delivers (the last 7 days of each valid
grant, per camera when the grant allows, at the grant's granularity).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from hub import grants as grantlib
from hub.delivery import Query, rows
from hub.formats import iso
from hub.inventory import camera_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["render_page"]

_W, _H, _PAD = 640, 200, 30
_COLOURS = ("#1b6ca8", "#d1495b", "#00798c", "#edae49", "#66a182", "#2e4057", "#8d96a3")
_DAYS = 7


def _chart(series: dict[str, list[tuple[int, int | None]]], start: int, end: int) -> str:
    """An SVG line chart: one polyline per camera; suppressed points break the line."""
    top = max((v for pts in series.values() for _, v in pts if v is not None), default=1) or 1
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            'aria-label="counts per camera">'
        ),
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="#fafafa" stroke="#ccc"/>',
        f'<text x="4" y="14" font-size="11">max {top}</text>',
    ]
    span = max(1, end - start)
    for i, (camera, pts) in enumerate(sorted(series.items())):
        colour = _COLOURS[i % len(_COLOURS)]
        run: list[str] = []
        runs: list[list[str]] = [run]
        for t, v in pts:
            if v is None:
                run = []
                runs.append(run)
                continue
            x = _PAD + (_W - 2 * _PAD) * (t - start) / span
            y = _H - _PAD - (_H - 2 * _PAD) * v / top
            run.append(f"{x:.1f},{y:.1f}")
        parts.extend(
            f'<polyline class="series" data-camera="{escape(camera)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5" points="{" ".join(r)}"/>'
            for r in runs
            if r
        )
        parts.append(
            f'<text x="{_W - 150}" y="{16 + 12 * i}" font-size="11" fill="{colour}">'
            f"{escape(camera)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _map(cameras: list[dict[str, object]]) -> str:
    """The cameras as dots on a lat/lon box (an inventory map with no tiles)."""
    located = [c for c in cameras if c.get("lat") is not None and c.get("lon") is not None]
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H * 2}" role="img" '
            'aria-label="camera map" id="map">'
        ),
        f'<rect x="0" y="0" width="{_W}" height="{_H * 2}" fill="#eef3f7" stroke="#ccc"/>',
    ]
    if located:
        lats = [float(c["lat"]) for c in located]  # type: ignore[arg-type]
        lons = [float(c["lon"]) for c in located]  # type: ignore[arg-type]
        lat0, lat1 = min(lats), max(lats)
        lon0, lon1 = min(lons), max(lons)
        dlat, dlon = max(lat1 - lat0, 1e-4), max(lon1 - lon0, 1e-4)
        for c, lat, lon in zip(located, lats, lons, strict=True):
            x = _PAD + (_W - 2 * _PAD) * (lon - lon0) / dlon
            y = _H * 2 - _PAD - (_H * 2 - 2 * _PAD) * (lat - lat0) / dlat
            name = escape(str(c["id"]))
            parts.append(
                f'<circle class="camera" data-camera="{name}" cx="{x:.1f}" cy="{y:.1f}" r="5" '
                f'fill="#d1495b"><title>{name}: {escape(str(c.get("site") or ""))}</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def render_page(conn: Connection, who: str, *, now_s: int, k: int, base_s: int) -> tuple[str, int]:
    """The recipient's page and the number of count rows it shows."""
    mine = grantlib.list_grants(conn, who)
    visible: set[str] = set()
    sections: list[str] = []
    shown = 0
    rows_html = []
    for g in mine:
        rows_html.append(
            f"<tr><td>{g.id}</td><td>{escape(g.purpose)}</td><td>{escape(g.state)}</td>"
            f"<td>{iso(g.valid_from)}</td><td>{iso(g.valid_until)}</td><td>{g.granularity_s}</td>"
            f"<td>{escape(', '.join(g.dimensions) or '-')}</td><td>{g.retention_days}</td>"
            f"<td>{'yes' if g.onward_sharing else 'no'}</td></tr>"
        )
        if g.state != "approved" or not g.valid_from <= now_s < g.valid_until:
            continue
        cameras = grantlib.grant_cameras(conn, g)
        visible.update(cameras)
        step = g.granularity_s
        end = min(now_s - now_s % step, g.valid_until - g.valid_until % step)
        start = max(end - _DAYS * 86400, g.valid_from + (-g.valid_from) % step)
        if end <= start:
            continue
        query = Query(start, end, step, g.per_camera, "json")
        series: dict[str, list[tuple[int, int | None]]] = {}
        for r in rows(conn, cameras=cameras, query=query, dimensions=(), k=k, base_s=base_s):
            series.setdefault(r.camera, []).append((r.start, r.total))
            shown += 1
        sections.append(
            f'<section class="grant" data-grant="{g.id}"><h2>Grant {g.id}: '
            f"{escape(g.purpose)}</h2><p>{len(cameras)} camera(s), {iso(start)} to {iso(end)}, "
            f"step {step} s; gaps are suppressed figures.</p>{_chart(series, start, end)}</section>"
        )
    inventory = camera_rows(conn, sorted(visible))
    inv_rows = "".join(
        f"<tr><td>{escape(str(c['id']))}</td><td>{escape(str(c.get('site') or ''))}</td>"
        f"<td>{escape(str(c.get('owner') or ''))}</td><td>{escape(str(c.get('operator') or ''))}"
        f"</td><td>{escape(str(c.get('legal_basis') or ''))}</td></tr>"
        for c in inventory
    )
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>anpr-hub: {escape(who)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}}</style></head>
<body><h1>Counts for {escape(who)}</h1>
<p>Anonymous counts only; no figure is between 1 and {k - 1}.</p>
<table id="grants"><tr><th>grant</th><th>purpose</th><th>state</th><th>valid from</th>
<th>valid until</th><th>step (s)</th><th>dimensions</th><th>retention (days)</th>
<th>onward sharing</th></tr>{"".join(rows_html)}</table>
{"".join(sections)}
<h2>Cameras</h2>{_map(inventory)}
<table id="cameras"><tr><th>camera</th><th>site</th><th>owner</th><th>operator</th>
<th>legal basis</th></tr>{inv_rows}</table>
</body></html>
"""
    return html, shown
