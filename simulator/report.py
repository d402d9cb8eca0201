"""A self-contained HTML report of a scored run (no scripts, no external files).

:func:`html_report` lays out what a tester evaluating the chain wants on one
page: the summary figures, the privacy check, a timeline of passes and reads
(truth against read, the latency of each), the police backlog through an
outage, the civil counts per window against the truth as bars (inline SVG,
:mod:`simulator.charts`), and every truth pass next to the read the police
back office got (with the crop, when the caller has it). Pure: it
takes the figures and returns a string. It is a police-side artefact (it
shows plates and crops), never something for the civil side.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.camera.truth import PassTruth
from simulator.charts import Bar, Mark, backlog_svg, bars_svg, timeline_svg
from simulator.score import (
    civil_windows,
    count_errors,
    load_jsonl,
    match_reads,
    police_reads,
    privacy_violations,
    score_files,
    truth_span,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence

    from simulator.score import CivilLeak, PoliceRead, WindowCount

__all__ = ["add_parsers", "html_from_files", "html_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3;text-align:left}.ok{color:#176317}.bad{color:#a11;font-weight:bold}
.mono{font-family:ui-monospace,monospace}img{height:32px}img.overview{height:120px}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _summary(summary: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td class=mono>{_e(v)}</td></tr>"
        for k, v in summary.items()
        if not isinstance(v, list | dict)
    )
    return f"<h2>Summary</h2><table>{rows}</table>"


def _img(jpeg: bytes | None, kind: str) -> str:
    if not jpeg:
        return ""
    data = base64.b64encode(jpeg).decode()
    return f'<img class="{kind}" alt="{kind}" src="data:image/jpeg;base64,{data}">'


def _passes(
    passes: Sequence[PassTruth],
    reads: Sequence[PoliceRead],
    crops: Mapping[tuple[str, int], bytes],
    overviews: Mapping[tuple[str, int], bytes] | None = None,
) -> str:
    by_pass = {m.pass_index: m for m in match_reads(passes, reads)}
    head = (
        "<tr><th>vehicle</th><th>lane</th><th>direction</th><th>class</th><th>truth</th>"
        "<th>read</th><th>result</th><th>exit → receipt</th><th>crop</th><th>overview</th></tr>"
    )
    rows = []
    for i, p in enumerate(passes):
        m = by_pass.get(i)
        read = reads[m.read_index] if m else None
        if m is None:
            verdict = "missed" if p.readable and p.complete else "not readable"
            cls = "bad" if verdict == "missed" else ""
        else:
            verdict, cls = ("exact", "ok") if m.distance == 0 else (f"{m.distance} off", "bad")
        crop = crops.get((read.camera, read.seq)) if read else None
        img = _img(crop, "crop")
        overview = _img(
            (overviews or {}).get((read.camera, read.seq)) if read else None, "overview"
        )
        rows.append(
            f"<tr><td>{p.vehicle}</td><td>{p.lane}</td><td>{_e(p.direction)}</td>"
            f"<td>{_e(p.vclass)}</td><td class=mono>{_e(p.text or '(no plate)')}</td>"
            f"<td class=mono>{_e(read.text if read else '')}</td>"
            f"<td class={cls or 'none'}>{_e(verdict)}</td>"
            f"<td>{_e(f'{m.latency_ms} ms' if m else '')}</td>"
            f"<td>{img}</td><td>{overview}</td></tr>"
        )
    return f"<h2>Passes ({len(passes)})</h2><table>{head}{''.join(rows)}</table>"


def _counts_chart(counts: Sequence[WindowCount]) -> str:
    if not counts:
        return "<h2>Civil counts</h2><p>No civil window lies wholly inside the run.</p>"
    t0 = counts[0].window_start
    svg = bars_svg([Bar(f"+{c.window_start - t0} s", c.truth, c.published) for c in counts])
    rows = "".join(
        f"<tr><td>{c.window_start}</td><td>{c.truth}</td>"
        f"<td>{_e('withheld (1..k-1)' if c.published is None else c.published)}</td>"
        f"<td>{_e(c.error)}</td></tr>"
        for c in counts
    )
    return (
        "<h2>Civil counts per window</h2><p>grey: vehicles that truly passed; blue: what the "
        f"civil side was told.</p>{svg}<table><tr><th>window start</th><th>truth</th>"
        f"<th>published</th><th>error</th></tr>{rows}</table>"
    )


def _marks(passes: Sequence[PassTruth], reads: Sequence[PoliceRead]) -> list[Mark]:
    """Each pass with its outcome and read; reads that match no pass are false reads."""
    by_pass = {m.pass_index: m for m in match_reads(passes, reads)}
    matched = {m.read_index for m in by_pass.values()}
    marks = []
    for i, p in enumerate(passes):
        m = by_pass.get(i)
        if m is None:
            outcome = "missed" if p.readable and p.complete else "unreadable"
            marks.append(Mark(p.exit_ms, outcome, p.text or "", "", None))
            continue
        read = reads[m.read_index]
        outcome = "exact" if m.distance == 0 else "wrong"
        marks.append(Mark(p.exit_ms, outcome, p.text or "", read.text, read.received_ms))
    marks += [
        Mark(r.pass_ms, "false", "", r.text, r.received_ms)
        for i, r in enumerate(reads)
        if i not in matched
    ]
    return marks


def _timeline(
    passes: Sequence[PassTruth],
    reads: Sequence[PoliceRead],
    outage_ms: tuple[int, int] | None,
    origin_ms: int | None,
) -> str:
    return (
        "<h2>Timeline</h2><p>Top: each vehicle as it left the view (truth), coloured by "
        "what the police got; middle: when the police back office received its read, joined "
        "to its pass; bottom: the latency of each read. Shaded: police broker down.</p>"
        + timeline_svg(_marks(passes, reads), outage_ms, origin_ms)
    )


def _backlog(
    samples: Sequence[tuple[int, int]], outage_ms: tuple[int, int] | None, origin_ms: int | None
) -> str:
    if not samples:
        return ""
    worst = max(v for _, v in samples)
    return (
        "<h2>Police backlog</h2><p>Reads journaled but not yet held by the police back "
        f"office (at most {worst}); shaded: police broker down. The journal is the queue: "
        "the backlog drains when the broker is back.</p>"
        + backlog_svg(samples, outage_ms, origin_ms)
    )


def _privacy(leaks: Sequence[CivilLeak]) -> str:
    if not leaks:
        return (
            '<h2>Privacy check</h2><p class="ok">Clean: no plate, and no 4+ character piece '
            "of one, anywhere on the civil side.</p>"
        )
    rows = "".join(
        f"<tr><td class=mono>{_e(x.fragment)}</td><td>{_e(x.where)}</td></tr>" for x in leaks
    )
    return (
        f'<h2>Privacy check</h2><p class="bad">{len(leaks)} plate pieces reached the civil '
        f"side.</p><table><tr><th>piece</th><th>where</th></tr>{rows}</table>"
    )


def html_report(  # noqa: PLR0913 - one page, its parts
    summary: Mapping[str, Any],
    passes: Sequence[PassTruth],
    reads: Sequence[PoliceRead],
    counts: Sequence[WindowCount],
    leaks: Sequence[CivilLeak],
    *,
    crops: Mapping[tuple[str, int], bytes] | None = None,
    overviews: Mapping[tuple[str, int], bytes] | None = None,
    backlog: Sequence[tuple[int, int]] = (),
    outage_ms: tuple[int, int] | None = None,
    title: str = "anpr-edge demo",
) -> str:
    """The report as one HTML document.

    ``backlog``: (epoch ms, reads journaled but not yet at the police back office)
    samples; ``outage_ms``: when the police broker was down, if it was.
    """
    starts = [p.enter_ms for p in passes] + [t for t, _ in backlog]
    origin = min(starts) if starts else None
    body = "".join(
        (
            f"<h1>{_e(title)}</h1>",
            _summary(summary),
            _privacy(leaks),
            _timeline(passes, reads, outage_ms, origin),
            _backlog(backlog, outage_ms, origin),
            _counts_chart(counts),
            _passes(passes, reads, crops or {}, overviews),
        )
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def html_from_files(  # noqa: PLR0913 - the run's files, its figures and images
    truth: Path,
    police: Path,
    civil: Path | None,
    summary: dict[str, Any],
    crops: Mapping[tuple[str, int], bytes] | None = None,
    *,
    overviews: Mapping[tuple[str, int], bytes] | None = None,
    backlog: Sequence[tuple[int, int]] = (),
    outage_ms: tuple[int, int] | None = None,
) -> str:
    """The HTML report of the files :func:`simulator.score.score_files` scored."""
    truth_lines = load_jsonl(truth)
    passes = [PassTruth.from_json(x) for x in truth_lines if x.get("kind") == "pass"]
    civil_lines = load_jsonl(civil) if civil is not None else []
    windows = civil_windows(civil_lines)
    plates = [p.text for p in passes if p.text]
    return html_report(
        summary,
        passes,
        police_reads(load_jsonl(police)),
        count_errors(passes, windows, span_ms=truth_span(truth_lines)),
        privacy_violations(plates, [*windows, *civil_lines]),
        crops=crops,
        overviews=overviews,
        backlog=backlog,
        outage_ms=outage_ms,
    )


def _cmd_score(args: argparse.Namespace) -> int:
    summary = score_files(args.truth, args.police, args.civil)
    if args.html is not None:
        args.html.write_text(
            html_from_files(args.truth, args.police, args.civil, summary), encoding="utf-8"
        )
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            if key != "count_errors":
                print(f"{key:>24}: {value}")
    return 0 if summary["civil_privacy_violations"] == 0 else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``score``."""
    score = sub.add_parser("score", help="score back-office output against the camera's truth")
    score.add_argument("--truth", type=Path, required=True, help="the camera's truth JSONL")
    score.add_argument("--police", type=Path, required=True, help="police back office JSONL")
    score.add_argument("--civil", type=Path, help="civil back office JSONL")
    score.add_argument("--html", type=Path, help="also write the HTML report here")
    score.add_argument("--json", action="store_true", help="one JSON object")
    score.set_defaults(func=_cmd_score)
