"""Scoring a run against the camera's truth: matching, counts, the civil privacy check."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from simulator.camera import FrameSource, PassTruth, SceneConfig
from simulator.cli import main as sim_main
from simulator.score import (
    PoliceRead,
    count_errors,
    levenshtein,
    pass_scores,
    plate_fragments,
    privacy_violations,
    score_files,
    score_run,
)

if TYPE_CHECKING:
    from pathlib import Path

T0 = 1_800_000_000_000  # ms, a window boundary for 60 s windows


def _pass(vehicle: int, text: str | None, exit_s: float, **kw: object) -> PassTruth:
    exit_ms = T0 + round(exit_s * 1000)
    fields: dict[str, object] = {
        "vehicle": vehicle,
        "text": text,
        "country": "B" if text else None,
        "lane": 1,
        "direction": "approaching",
        "vclass": "car",
        "speed_kmh": 50.0,
        "enter_ms": exit_ms - 4000,
        "exit_ms": exit_ms,
        "frames": 100,
        "plate_frames": 20 if text else 0,
        "readable": text is not None,
        "occluder": None,
        "complete": True,
    }
    fields.update(kw)
    return PassTruth(**fields)  # type: ignore[arg-type]


def _read(seq: int, text: str, pass_s: float, received_s: float) -> PoliceRead:
    return PoliceRead("cam-01", seq, text, T0 + round(pass_s * 1000), T0 + round(received_s * 1000))


def test_levenshtein() -> None:
    assert levenshtein("1ABC123", "1ABC123") == 0
    assert levenshtein("1ABC123", "IABC123") == 1
    assert levenshtein("1ABC123", "1ABC12") == 1
    assert levenshtein("", "ABC") == 3


def test_each_read_pairs_with_at_most_one_pass_and_the_figures_follow() -> None:
    passes = [
        _pass(1, "1ABC123", 10),
        _pass(2, "2XYZ789", 12),  # read with one error
        _pass(3, "1QRS456", 20),  # missed
        _pass(4, None, 25),  # no plate: not in the recall denominator
        _pass(5, "1KLM000", 30, readable=False, occluder="bikerack"),
        _pass(6, "1NOP111", 59, complete=False),  # still in view at the end
    ]
    reads = [
        _read(1, "1ABC123", 10.4, 10.5),
        _read(2, "2XYZ780", 12.2, 12.4),
        _read(3, "1ABC123", 10.6, 10.7),  # a second read of vehicle 1: false
        _read(4, "9ZZZ999", 25.0, 25.1),  # nothing like any plate
        _read(5, "1KLM000", 30.1, 30.3),  # a lucky read of an unreadable plate: fine
        _read(6, "1NOP111", 59.5, 59.6),
        _read(7, "1QRS456", 40.0, 40.1),  # right text, far too late for vehicle 3
    ]
    s = pass_scores(passes, reads)
    assert (s.passes, s.readable, s.reads) == (5, 3, 7)
    assert (s.found, s.exact, s.matched, s.false_reads) == (2, 1, 4, 3)
    assert s.recall == round(2 / 3, 4)
    assert s.precision == round(4 / 7, 4)
    assert s.exact_rate == 0.5
    assert s.missed == (3,)
    assert sorted(s.latencies_ms) == [300, 400, 500, 600]  # receipt - exit
    assert s.p95_latency_ms == 600


def test_count_errors_per_window_and_withheld_windows() -> None:
    passes = [_pass(i, f"1ABC{i:03d}", s) for i, s in enumerate([5, 10, 30, 59.9, 61, 70, 200])]
    start = T0 // 1000
    windows = [
        {"window_start": start, "window_end": start + 60, "total": 5},
        {"window_start": start + 60, "window_end": start + 120},  # withheld: 1..k-1
        {"window_start": start + 120, "window_end": start + 180, "total": 0},
        {"window_start": start + 180, "window_end": start + 240, "total": 0},
    ]
    counts = count_errors(passes, windows, span_ms=(T0, T0 + 180_000))
    assert [(c.truth, c.published, c.error) for c in counts] == [
        (4, 5, 1),
        (2, None, None),
        (0, 0, 0),
    ]
    assert counts[1].withheld


def test_fragments_of_a_plate() -> None:
    assert plate_fragments("1-ABC-123") >= {"1ABC123", "1ABC", "ABC1", "C123", "ABC12"}
    assert "ABC" not in plate_fragments("1ABC123")


def test_a_clean_civil_message_passes_even_when_numbers_share_digits_with_a_plate() -> None:
    start = 1_800_000_120
    message = {
        "schema": "anpr-edge/civil-counts/1",
        "id": f"cam-01/{start}",
        "camera": "cam-01",
        "window_start": start,
        "window_end": start + 60,
        "total": 12,
        "marginals": {"lane": {"1": 7, "2": 5}, "country_group": {"B": 12}},
        "cells": [{"count": 7, "lane": "1", "country_group": "B"}],
        "purpose": "mobility counts",
    }
    plates = ["1ABC123", "BAB0120", "HRVJ70", "1800"]  # "0120" and "1800" sit inside epoch numbers
    assert privacy_violations(plates, [message]) == []


def test_any_piece_of_a_plate_on_the_civil_side_is_found() -> None:
    plates = ["1ABC123", "HRVJ70"]
    leaks = privacy_violations(
        plates,
        [
            {"cells": [{"lane": "1", "label": "1-abc-123"}]},  # a whole plate, printed form
            {"note": "x hrvj y"},  # four letters of a plate
            b'{"camera":"cam-01","debug":"C123"}',  # a raw payload
            "log line: read ABC1 done",  # a log line
            {"count": 1800},  # numbers are not texts
        ],
    )
    where = {leak.where for leak in leaks}
    assert "[0].cells[0].label" in where
    assert "[1].note" in where
    assert "[2].debug" in where
    assert "[3]" in where
    assert not any(w.startswith("[4]") for w in where)
    assert {leak.fragment for leak in leaks if leak.where == "[0].cells[0].label"} >= {"1ABC123"}


def test_log_fields_are_matched_one_by_one_not_across_their_boundaries() -> None:
    # The line a 300 s demo flagged: "28.042Z level=INFO" became "…042ZLEVEL…" and
    # matched a plate's "42ZL" once separators were removed across the two fields.
    line = (
        "ts=2026-12-04T22:28:28.042Z level=INFO logger=anpr.service "
        'msg="anpr-agent 0.1.0 started: camera cam-01, reading, journal .demo/journal.sqlite"'
    )
    plates = ["HB42ZLE", "1ABC123", "AB123CD"]
    assert privacy_violations(plates, [line]) == []
    assert privacy_violations(plates, [f"<6>{line}"]) == []
    leaky = [
        'ts=2026-12-04T22:28:28.042Z level=INFO msg="read 1 ABC 123 done"',  # spaced, in a value
        "ts=2026-12-04T22:28:28.042Z level=INFO plate=hb-42z-le",  # dashed, a token
        '{"ts": "2026-12-04T22:28:28.042Z", "level": "INFO", "msg": "AB.123.CD"}',  # JSON line
    ]
    found = {(leak.where, leak.fragment) for leak in privacy_violations(plates, leaky)}
    assert ("[0]", "1ABC123") in found
    assert ("[1]", "HB42ZLE") in found
    assert ("[2]", "AB123CD") in found


def test_score_run_summary_has_the_demo_fields() -> None:
    passes = [_pass(1, "1ABC123", 10), _pass(2, "2XYZ789", 20)]
    police = [
        {"camera": "cam-01", "seq": 1, "type": "checkpoint", "received_ms": T0},
        {
            "camera": "cam-01",
            "seq": 2,
            "type": "read",
            "text": "1ABC123",
            "pass_ms": T0 + 10_300,
            "received_ms": T0 + 10_400,
            "lane": 1,
            "direction": "approaching",
        },
        {
            "camera": "cam-01",
            "seq": 2,
            "type": "read",
            "text": "1ABC123",
            "pass_ms": T0 + 10_300,
            "received_ms": T0 + 10_900,
            "lane": 1,
            "direction": "approaching",
        },  # duplicate
        {
            "camera": "cam-01",
            "seq": 3,
            "type": "read",
            "text": "2XYZ789",
            "pass_ms": T0 + 20_100,
            "received_ms": T0 + 20_250,
            "lane": 1,
            "direction": "approaching",
        },
    ]
    start = T0 // 1000
    civil = [{"window_start": start, "window_end": start + 60, "total": 5, "id": f"cam-01/{start}"}]
    summary = score_run(passes, police, civil, reads_sent=2, span_ms=(T0, T0 + 60_000))
    assert summary["passes"] == 2
    assert summary["reads_received"] == 2
    assert summary["recall"] == 1.0
    assert summary["exact_rate"] == 1.0
    assert summary["p95_latency_ms"] == 400
    assert summary["civil_windows"] == 1
    assert summary["count_errors"] == [{"window_start": start, "truth": 2, "published": 5}]
    assert summary["count_mean_abs_error"] == 3.0
    assert summary["civil_privacy_violations"] == 0


def test_score_files_from_a_rendered_scene_and_back_office_lines(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    source = FrameSource(
        SceneConfig(seed=8, rate_per_min=60, start_wall_ms=T0),
        seconds=12,
        truth_path=truth,
        truth_frames=False,
    )
    for _ in source:
        pass
    readable = [p for p in source.passes if p.readable and p.complete]
    assert readable
    police = [
        {
            "camera": "cam-01",
            "seq": i + 1,
            "type": "read",
            "text": p.text,
            "pass_ms": p.exit_ms + 300,
            "received_ms": p.exit_ms + 450,
        }
        for i, p in enumerate(readable)
    ]
    start = T0 // 1000
    window = {"id": f"cam-01/{start}", "window_start": start, "window_end": start + 60, "total": 0}
    civil = [
        {"camera": "cam-01", "seq": 1, "type": "count", "data": window},
        {"camera": "cam-01", "seq": 2, "type": "count", "data": window},  # a replayed copy
        {"camera": "cam-01", "seq": 3, "type": "checkpoint", "note": readable[0].text},  # a leak
    ]
    (tmp_path / "police.jsonl").write_text("".join(json.dumps(x) + "\n" for x in police))
    (tmp_path / "civil.jsonl").write_text("".join(json.dumps(x) + "\n" for x in civil))
    summary = score_files(truth, tmp_path / "police.jsonl", tmp_path / "civil.jsonl")
    assert summary["recall"] == 1.0
    assert summary["exact_rate"] == 1.0
    assert summary["p95_latency_ms"] == 450
    assert summary["civil_windows"] == 1
    assert summary["civil_windows_compared"] == 0  # the window outlasts the truth
    assert summary["civil_privacy_violations"] >= 1
    args = ["score", "--truth", str(truth), "--police", str(tmp_path / "police.jsonl")]
    assert sim_main([*args, "--json"]) == 0
    assert sim_main([*args, "--civil", str(tmp_path / "civil.jsonl"), "--json"]) == 1
    html = tmp_path / "report.html"
    assert sim_main([*args, "--html", str(html)]) == 0
    assert readable[0].text is not None
    assert readable[0].text in html.read_text()  # the police-side report shows the reads
