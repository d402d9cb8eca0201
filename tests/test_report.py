"""The HTML report of a scored run."""

from __future__ import annotations

from html.parser import HTMLParser

from simulator.camera import PassTruth
from simulator.report import html_report
from simulator.score import CivilLeak, PoliceRead, WindowCount

T0 = 1_800_000_000_000


def _pass(vehicle: int, text: str | None, exit_s: float) -> PassTruth:
    exit_ms = T0 + round(exit_s * 1000)
    return PassTruth(
        vehicle,
        text,
        "B",
        1,
        "approaching",
        "car",
        50.0,
        exit_ms - 4000,
        exit_ms,
        100,
        20 if text else 0,
        text is not None,
        None,
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        del attrs
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_report_shows_passes_reads_crops_counts_and_the_privacy_result() -> None:
    passes = [_pass(1, "1ABC123", 10), _pass(2, "2XYZ789", 20), _pass(3, None, 30)]
    reads = [PoliceRead("cam-01", 5, "1ABC123", T0 + 10_300, T0 + 10_450)]
    counts = [WindowCount(T0 // 1000, 3, 5, 2), WindowCount(T0 // 1000 + 60, 2, None, None)]
    page = html_report(
        {"passes": 3, "recall": 0.5, "title<script>": "x"},
        passes,
        reads,
        counts,
        [],
        crops={("cam-01", 5): b"\xff\xd8jpeg\xff\xd9"},
    )
    parsed = _Tags()
    parsed.feed(page)
    text = " ".join(parsed.text)
    assert "script" not in parsed.tags  # everything is escaped
    assert {"svg", "rect", "img", "table"} <= set(parsed.tags)
    assert "exact" in text
    assert "missed" in text  # vehicle 2
    assert "(no plate)" in text
    assert "450 ms" in text
    assert "withheld (1..k-1)" in text
    assert "Clean" in text


def test_a_civil_leak_is_shown_with_where_it_was_found() -> None:
    page = html_report({}, [], [], [], [CivilLeak("ABC1", "[0].note")])
    assert "1 plate pieces reached the civil side" in page
    assert "[0].note" in page
