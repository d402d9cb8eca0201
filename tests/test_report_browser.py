"""The demo report in a real headless chromium: it draws its charts and logs no error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from browser import MISSING, chromium, render

from simulator.camera import PassTruth
from simulator.report import html_report
from simulator.score import PoliceRead, WindowCount

if TYPE_CHECKING:
    from pathlib import Path

T0 = 1_800_000_000_000
needs_chromium = pytest.mark.skipif(chromium() is None, reason=MISSING)

# What the page is asked once it has loaded.
PROBES = {
    "svgs": "[...document.querySelectorAll('svg')]"
    ".map(s => Math.round(s.getBoundingClientRect().width))",
    "passes": "document.querySelectorAll('circle.pass').length",
    "reads": "document.querySelectorAll('rect.read').length",
    "latencies": "[...document.querySelectorAll('rect.latency')]"
    ".map(r => r.getBBox().height > 0).filter(Boolean).length",
    "outages": "[...document.querySelectorAll('rect.outage')]"
    ".map(r => r.getBBox().width > 0).filter(Boolean).length",
    "backlog_points": "(document.querySelector('polyline.backlog')?.points.numberOfItems) ?? 0",
    "bars": "document.querySelectorAll('rect.truth, rect.published').length",
    "external": "[...document.querySelectorAll('[src],[href]')]"
    ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
    ".filter(u => !u.startsWith('data:'))",
    "resources": "performance.getEntriesByType('resource').map(r => r.name)"
    ".filter(n => !n.startsWith('data:'))",
    "scripts": "document.scripts.length",
}


def _pass(vehicle: int, text: str | None, exit_s: float, *, readable: bool = True) -> PassTruth:
    exit_ms = T0 + round(exit_s * 1000)
    return PassTruth(
        vehicle, text, "B", 1, "approaching", "car", 50.0, exit_ms - 3000, exit_ms, 90,
        20 if text else 0, readable and text is not None, None,
    )  # fmt: skip


def _run(tmp_path: Path) -> Path:
    """A minute with every outcome, and the police broker down from 20 s to 35 s."""
    passes = [
        _pass(1, "1ABC123", 5),
        _pass(2, "2XYZ789", 12),  # read wrong
        _pass(3, "3DEF456", 24),  # missed
        _pass(4, None, 30, readable=False),
        _pass(5, "5GHI012", 31),  # read late: the broker was down
        _pass(6, "6JKL345", 50),
    ]
    reads = [
        PoliceRead("cam-01", 1, "1ABC123", T0 + 4_700, T0 + 5_400),
        PoliceRead("cam-01", 2, "2XYZ780", T0 + 11_800, T0 + 12_300),
        PoliceRead("cam-01", 3, "5GHI012", T0 + 30_900, T0 + 36_200),
        PoliceRead("cam-01", 4, "SPEED60", T0 + 40_000, T0 + 40_400),  # a sign: false read
        PoliceRead("cam-01", 5, "6JKL345", T0 + 49_800, T0 + 50_300),
    ]
    counts = [
        WindowCount(T0 // 1000, 4, 4, 0),
        WindowCount(T0 // 1000 + 60, 2, None, None),
    ]
    backlog = [(T0 + s * 1000, 0 if s < 20 or s > 37 else (s - 18) // 4) for s in range(61)]
    page = html_report(
        {"passes": 6, "recall": 0.8},
        passes,
        reads,
        counts,
        [],
        crops={("cam-01", 1): b"\xff\xd8jpeg\xff\xd9"},
        backlog=backlog,
        outage_ms=(T0 + 20_000, T0 + 35_000),
    )
    out = tmp_path / "report.html"
    out.write_text(page, encoding="utf-8")
    return out


@needs_chromium
def test_the_report_draws_timeline_backlog_and_counts_with_no_error(tmp_path: Path) -> None:
    page = render(_run(tmp_path), PROBES)
    assert page.errors == []
    values = page.values
    assert len(values["svgs"]) == 3, values  # timeline, backlog, counts
    assert all(w > 0 for w in values["svgs"])
    assert values["passes"] == 6  # every pass on the truth row
    assert values["reads"] == 5  # every read the police got, the false one too
    assert values["latencies"] == 5
    assert values["outages"] == 2  # shaded on the timeline and on the backlog
    assert values["backlog_points"] > 60
    assert values["bars"] == 3  # truth twice, published once: the other window is withheld
    assert values["external"] == []
    assert values["resources"] == []
    assert values["scripts"] == 0


@needs_chromium
def test_the_browser_check_fails_on_a_console_error_or_a_missing_asset(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!doctype html><html><body><img src="gone.png">'
        "<script>console.error('drawn wrong')</script></body></html>",
        encoding="utf-8",
    )
    errors = render(broken).errors
    assert any("drawn wrong" in e for e in errors), errors
    assert any("gone.png" in e for e in errors), errors
