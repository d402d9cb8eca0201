"""Inline SVG charts for the demo report: pure functions from figures to markup.

No script, no stylesheet, no font or image from elsewhere: each chart is one
``<svg>`` element a browser draws as is, with ``<title>`` tooltips for the
exact figures. Times are epoch milliseconds; each chart places them on an
axis of seconds from ``origin_ms``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Bar", "Mark", "backlog_svg", "bars_svg", "timeline_svg"]

WIDTH = 900
LEFT, RIGHT = 64, 16  # room for the y labels; a margin on the right
COLOURS = {
    "exact": "#1b7f3b",
    "wrong": "#c0392b",
    "missed": "#e67e22",
    "unreadable": "#9e9e9e",
    "false": "#8e44ad",
    "truth": "#9e9e9e",
    "published": "#2a6fb0",
    "backlog": "#2a6fb0",
    "outage": "#f6d6d6",
}


def _e(value: object) -> str:
    return html.escape(str(value))


def _nice_step(span: float, ticks: int = 6) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    raw = max(span / ticks, 1e-9)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(f * magnitude for f in (1, 2, 5, 10) if raw <= f * magnitude)


class _Axis:
    """Seconds from ``origin_ms`` to x pixels across the plot."""

    def __init__(self, origin_ms: int, end_ms: int) -> None:
        self.origin_ms = origin_ms
        self.span_s = max((end_ms - origin_ms) / 1000, 1.0)

    def x(self, ms: float) -> float:
        return LEFT + (ms - self.origin_ms) / 1000 / self.span_s * (WIDTH - LEFT - RIGHT)

    def ticks(self, top: float, bottom: float) -> str:
        step = _nice_step(self.span_s)
        out = [
            f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#444"/>'
        ]
        t = 0.0
        while t <= self.span_s + 1e-6:
            x = self.x(self.origin_ms + t * 1000)
            out.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#eee"/>'
                f'<text x="{x:.1f}" y="{bottom + 14}" font-size="11" text-anchor="middle">'
                f"{t:g} s</text>"
            )
            t += step
        return "".join(out)

    def band(self, start_ms: int, end_ms: int, top: float, bottom: float, label: str) -> str:
        x0, x1 = self.x(start_ms), self.x(end_ms)
        return (
            f'<rect class="outage" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bottom - top}" fill="{COLOURS["outage"]}"><title>{_e(label)}</title></rect>'
        )


def _svg(height: int, label: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_e(label)}" '
        f'font-family="sans-serif">{body}</svg>'
    )


@dataclass(frozen=True, slots=True)
class Mark:
    """One pass on the timeline, and the read the police got for it (if any)."""

    pass_ms: int  # the vehicle's last frame in view (a false read: its pass time)
    outcome: str  # exact, wrong, missed, unreadable, false
    truth: str  # the plate as rendered ('' when none)
    read: str  # what the police got ('' when nothing)
    received_ms: int | None  # when the police back office got it


def timeline_svg(
    marks: Sequence[Mark], outage_ms: tuple[int, int] | None = None, origin_ms: int | None = None
) -> str:
    """Passes (truth row) and reads (police row), joined by their latency, then latency bars."""
    times = [m.pass_ms for m in marks] + [m.received_ms for m in marks if m.received_ms]
    if outage_ms:
        times += list(outage_ms)
    if not times:
        return _svg(40, "no passes", '<text x="10" y="24" font-size="13">No pass.</text>')
    axis = _Axis(origin_ms if origin_ms is not None else min(times), max(times))
    truth_y, read_y, lat_top, lat_bottom = 30, 90, 130, 250
    latencies = [m.received_ms - m.pass_ms for m in marks if m.received_ms]
    top_ms = max(latencies, default=0) or 1
    parts = [
        axis.band(*outage_ms, 10, lat_bottom, "police broker down") if outage_ms else "",
        axis.ticks(10, lat_bottom),
        f'<text x="4" y="{truth_y + 4}" font-size="12">truth</text>',
        f'<text x="4" y="{read_y + 4}" font-size="12">police</text>',
        f'<text x="4" y="{lat_top + 10}" font-size="11">latency</text>',
        f'<text x="4" y="{lat_top + 24}" font-size="11">{top_ms} ms</text>',
        f'<text x="4" y="{lat_bottom}" font-size="11">0 ms</text>',
    ]
    for m in marks:
        colour = COLOURS[m.outcome]
        x = axis.x(m.pass_ms)
        tip = f"{m.outcome}: truth {m.truth or '(no plate)'}, read {m.read or '(none)'}"
        if m.received_ms is not None:
            rx = axis.x(m.received_ms)
            latency = m.received_ms - m.pass_ms
            tip += f", {latency} ms"
            h = max(1.0, latency / top_ms * (lat_bottom - lat_top - 20))
            parts.append(
                f'<line x1="{x:.1f}" y1="{truth_y}" x2="{rx:.1f}" y2="{read_y}" '
                f'stroke="{colour}" stroke-width="1"/>'
                f'<rect class="read" x="{rx - 3:.1f}" y="{read_y - 6}" width="6" height="12" '
                f'fill="{colour}"><title>{_e(tip)}</title></rect>'
                f'<rect class="latency" x="{rx - 2:.1f}" y="{lat_bottom - h:.1f}" width="4" '
                f'height="{h:.1f}" fill="{colour}"><title>{latency} ms</title></rect>'
            )
        if m.outcome != "false":
            parts.append(
                f'<circle class="pass" cx="{x:.1f}" cy="{truth_y}" r="5" fill="{colour}">'
                f"<title>{_e(tip)}</title></circle>"
            )
    legend = "".join(
        f'<rect x="{LEFT + i * 120}" y="{lat_bottom + 24}" width="10" height="10" '
        f'fill="{COLOURS[k]}"/><text x="{LEFT + i * 120 + 14}" y="{lat_bottom + 33}" '
        f'font-size="11">{k}</text>'
        for i, k in enumerate(("exact", "wrong", "missed", "unreadable", "false"))
    )
    return _svg(lat_bottom + 44, "passes and reads over time", "".join(parts) + legend)


@dataclass(frozen=True, slots=True)
class Bar:
    """One civil window: how many passed, and what the civil side was told."""

    label: str
    truth: int
    published: int | None  # None: withheld (1..k-1)


def bars_svg(bars: Sequence[Bar]) -> str:
    """Truth (grey) and published (blue) bars per window; a withheld window says so."""
    height, bottom, top = 220, 180, 20
    peak = max([b.truth for b in bars] + [b.published or 0 for b in bars]) or 1
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    bar_w = max(2.0, min(24.0, slot / 2 - 4))
    parts = [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#444"/>',
        f'<text x="4" y="{top + 10}" font-size="11">{peak}</text>',
        f'<text x="4" y="{bottom}" font-size="11">0</text>',
    ]
    for i, b in enumerate(bars):
        x = LEFT + i * slot + (slot - 2 * bar_w) / 2
        for j, (value, key) in enumerate(((b.truth, "truth"), (b.published, "published"))):
            bx = x + j * bar_w
            if value is None:
                parts.append(
                    f'<text x="{bx + 1:.1f}" y="{bottom - 4}" font-size="10">'
                    f"&lt;k<title>withheld: 1..k-1 vehicles</title></text>"
                )
                continue
            h = value / peak * (bottom - top)
            parts.append(
                f'<rect class="{key}" x="{bx:.1f}" y="{bottom - h:.1f}" width="{bar_w - 1:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[key]}"><title>{key}: {value}</title></rect>'
            )
        if len(bars) <= 24 or i % max(1, len(bars) // 12) == 0:
            parts.append(
                f'<text x="{x + bar_w:.1f}" y="{bottom + 14}" font-size="10" '
                f'text-anchor="middle">{_e(b.label)}</text>'
            )
    return _svg(height, "civil counts per window against the truth", "".join(parts))


def backlog_svg(
    samples: Sequence[tuple[int, int]],
    outage_ms: tuple[int, int] | None = None,
    origin_ms: int | None = None,
) -> str:
    """Records journaled but not yet held by the police back office, over time."""
    if not samples:
        return _svg(
            40, "no backlog samples", '<text x="10" y="24" font-size="13">No sample.</text>'
        )
    times = [t for t, _ in samples] + (list(outage_ms) if outage_ms else [])
    axis = _Axis(origin_ms if origin_ms is not None else min(times), max(times))
    top, bottom = 20, 160
    peak = max(v for _, v in samples) or 1
    points: list[str] = []
    held: float | None = None
    for t, v in samples:
        x, y = axis.x(t), bottom - v / peak * (bottom - top)
        if held is not None:  # a step: the backlog holds until the next sample
            points.append(f"{x:.1f},{held:.1f}")
        points.append(f"{x:.1f},{y:.1f}")
        held = y
    worst_t, worst = max(samples, key=lambda s: s[1])
    line = (
        f'<polyline class="backlog" points="{" ".join(points)}" fill="none" '
        f'stroke="{COLOURS["backlog"]}" stroke-width="2"/>'
    )
    dot = (
        f'<circle cx="{axis.x(worst_t):.1f}" cy="{bottom - worst / peak * (bottom - top):.1f}" '
        f'r="3" fill="{COLOURS["backlog"]}"><title>most behind: {worst} records</title></circle>'
    )
    parts = [
        axis.band(*outage_ms, top, bottom, "police broker down") if outage_ms else "",
        axis.ticks(top, bottom),
        f'<text x="4" y="{top + 10}" font-size="11">{peak}</text>',
        f'<text x="4" y="{bottom}" font-size="11">0</text>',
        line,
        dot,
    ]
    return _svg(bottom + 24, "police backlog over time", "".join(parts))
