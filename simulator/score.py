"""Scoring a run against the camera's ground truth: pure functions, no I/O besides ``load_*``.

- :func:`match_reads` pairs the police back office's reads with truth passes
  (one to one: time window first, then text distance, then time);
  :func:`pass_scores` gives pass-level recall (over readable, complete passes),
  precision (over reads), the exact-read rate, and exit → receipt latencies.
- :func:`count_errors` compares each civil window's published total with the
  vehicles that truly left the view in that window.
- :func:`privacy_violations` looks for any truth plate, or any 4+ character
  piece of one, anywhere on the civil side (messages, raw payloads, logs).
- :func:`score_run` puts them together as the demo's JSON summary;
  :func:`score_files` does it from the files a run leaves (``anpr-sim score``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.recognition.vote import levenshtein
from simulator.camera.truth import PassTruth, read_truth

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

__all__ = [
    "CivilLeak",
    "Match",
    "PassScores",
    "PoliceRead",
    "WindowCount",
    "civil_windows",
    "count_errors",
    "levenshtein",
    "load_jsonl",
    "load_passes",
    "match_reads",
    "pass_scores",
    "percentile",
    "plate_fragments",
    "police_reads",
    "privacy_violations",
    "score_files",
    "score_run",
    "truth_span",
]

MIN_FRAGMENT = 4


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (a torn line is skipped)."""
    return [x for x in read_truth(path) if isinstance(x, dict)]


def load_passes(path: Path) -> list[PassTruth]:
    """The ``pass`` lines of a truth file."""
    return [PassTruth.from_json(x) for x in load_jsonl(path) if x.get("kind") == "pass"]


@dataclass(frozen=True, slots=True)
class PoliceRead:
    """A read as the police back office wrote it (``police.jsonl``)."""

    camera: str
    seq: int
    text: str
    pass_ms: int
    received_ms: int
    lane: int | None = None
    direction: str | None = None


def police_reads(lines: Iterable[Mapping[str, Any]]) -> list[PoliceRead]:
    """The distinct reads among the back office's lines (first copy of each camera/seq)."""
    seen: set[tuple[str, int]] = set()
    out = []
    for line in lines:
        if line.get("type") != "read" or not isinstance(line.get("text"), str):
            continue
        key = (str(line.get("camera")), int(line["seq"]))
        if key in seen:
            continue
        seen.add(key)
        lane = line.get("lane")
        out.append(
            PoliceRead(
                key[0],
                key[1],
                line["text"],
                int(line["pass_ms"]),
                int(line["received_ms"]),
                lane if isinstance(lane, int) else None,
                line.get("direction"),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Match:
    """A read paired with a pass."""

    pass_index: int
    read_index: int
    distance: int  # edit distance between read and truth text (0: exact)
    latency_ms: int  # back-office receipt - the vehicle's last frame in view


def _max_distance(text: str) -> int:
    return max(1, len(text) // 3)


def match_reads(
    passes: Sequence[PassTruth],
    reads: Sequence[PoliceRead],
    *,
    before_ms: int = 1000,
    after_ms: int = 5000,
) -> list[Match]:
    """Pair reads and passes one to one.

    A read may belong to a pass when its ``pass_ms`` lies within
    [enter - ``before_ms``, exit + ``after_ms``] and its text is within
    ``max(1, len // 3)`` edits of the truth; among candidates the smallest
    distance wins, then the closest time to the exit. Passes without a plate
    are never matched (a read there is a false read).
    """
    candidates: list[tuple[int, int, int, int]] = []
    for pi, p in enumerate(passes):
        if p.text is None:
            continue
        for ri, r in enumerate(reads):
            if not p.enter_ms - before_ms <= r.pass_ms <= p.exit_ms + after_ms:
                continue
            d = levenshtein(r.text, p.text)
            if d <= _max_distance(p.text):
                candidates.append((d, abs(r.pass_ms - p.exit_ms), pi, ri))
    candidates.sort()
    used_p: set[int] = set()
    used_r: set[int] = set()
    out = []
    for d, _, pi, ri in candidates:
        if pi in used_p or ri in used_r:
            continue
        used_p.add(pi)
        used_r.add(ri)
        out.append(Match(pi, ri, d, reads[ri].received_ms - passes[pi].exit_ms))
    return sorted(out, key=lambda m: m.pass_index)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class PassScores:
    """Pass-level figures."""

    passes: int  # complete passes (every vehicle that crossed the view)
    readable: int  # complete passes with a readable plate (the recall denominator)
    reads: int
    matched: int  # reads paired with a pass
    found: int  # readable complete passes with a read
    exact: int  # of those, read exactly
    recall: float | None
    precision: float | None
    exact_rate: float | None  # exact / found
    false_reads: int  # reads paired with no pass
    missed: tuple[int, ...]  # vehicle ids of readable passes without a read
    latencies_ms: tuple[int, ...]
    p95_latency_ms: float | None


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def pass_scores(
    passes: Sequence[PassTruth], reads: Sequence[PoliceRead], **window: int
) -> PassScores:
    """Recall, precision, exact-read rate and latency of ``reads`` against ``passes``.

    Incomplete passes (still in view when the camera stopped) are matched, so
    their reads are not false, but they count in no denominator.
    """
    matches = match_reads(passes, reads, **window)
    by_pass = {m.pass_index: m for m in matches}
    target = [i for i, p in enumerate(passes) if p.complete and p.readable]
    found = [by_pass[i] for i in target if i in by_pass]
    exact = sum(m.distance == 0 for m in found)
    latencies = tuple(m.latency_ms for m in matches)
    return PassScores(
        passes=sum(p.complete for p in passes),
        readable=len(target),
        reads=len(reads),
        matched=len(matches),
        found=len(found),
        exact=exact,
        recall=_ratio(len(found), len(target)),
        precision=_ratio(len(matches), len(reads)),
        exact_rate=_ratio(exact, len(found)),
        false_reads=len(reads) - len(matches),
        missed=tuple(passes[i].vehicle for i in target if i not in by_pass),
        latencies_ms=latencies,
        p95_latency_ms=percentile(latencies, 95),
    )


@dataclass(frozen=True, slots=True)
class WindowCount:
    """One civil window against the truth."""

    window_start: int  # epoch seconds
    truth: int  # vehicles that left the view in the window
    published: int | None  # the window's total, None when withheld (1..k-1)
    error: int | None  # published - truth

    @property
    def withheld(self) -> bool:
        """The civil side was only told "fewer than k"."""
        return self.published is None


def count_errors(
    passes: Sequence[PassTruth],
    windows: Iterable[Mapping[str, Any]],
    *,
    span_ms: tuple[int, int] | None = None,
) -> list[WindowCount]:
    """Each civil window's ``total`` against the passes that ended in it (by ``exit_ms``).

    Windows not wholly inside ``span_ms`` (the truth's time span) are skipped:
    the camera did not watch all of them.
    """
    out = []
    for w in windows:
        start, end = int(w["window_start"]), int(w["window_end"])
        if span_ms is not None and (start * 1000 < span_ms[0] or end * 1000 > span_ms[1]):
            continue
        truth = sum(start * 1000 <= p.exit_ms < end * 1000 for p in passes)
        total = w.get("total")
        published = total if isinstance(total, int) else None
        out.append(
            WindowCount(start, truth, published, None if published is None else published - truth)
        )
    return sorted(out, key=lambda c: c.window_start)


# ------------------------------------------------------------------ privacy


@dataclass(frozen=True, slots=True)
class CivilLeak:
    """A piece of a truth plate found on the civil side."""

    fragment: str
    where: str  # JSON path or item index of the civil-side text


_SEPARATORS = re.compile(r"[\s\-._·]+")
_DIGIT_RUN = re.compile(r"\d+")


def plate_fragments(plate: str, min_len: int = MIN_FRAGMENT) -> set[str]:
    """The plate and every substring of at least ``min_len`` characters (A-Z0-9)."""
    text = re.sub(r"[^A-Z0-9]", "", plate.upper())
    return {text[i:j] for i in range(len(text)) for j in range(i + min_len, len(text) + 1)}


def _strings(item: object, where: str) -> Iterable[tuple[str, str]]:
    """Every text in a civil-side item: keys and string values; raw bytes/str as a whole."""
    if isinstance(item, dict):
        for k, v in item.items():
            yield str(k), f"{where}.{k}(key)"
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(item, list | tuple):
        for i, v in enumerate(item):
            yield from _strings(v, f"{where}[{i}]")
    elif isinstance(item, bytes | bytearray):
        text = bytes(item).decode("utf-8", errors="replace")
        try:
            yield from _strings(json.loads(text), where)
        except ValueError:
            yield text, where
    elif isinstance(item, str):
        yield item, where


def _found(fragment: str, text: str, digit_runs: set[str]) -> bool:
    if fragment.isdigit():
        # Numbers are everywhere on the civil side (epoch seconds in window ids): an
        # all-digit piece counts only as a whole number, not inside a longer one.
        return fragment in digit_runs
    return fragment in text


def privacy_violations(
    plates: Iterable[str], civil: Iterable[object], *, min_len: int = MIN_FRAGMENT
) -> list[CivilLeak]:
    """Pieces of ``plates`` (whole, or ``min_len``+ characters) found on the civil side.

    ``civil`` holds what the civil side got: count messages (dicts), raw
    payloads (bytes) or log lines (str). Texts are compared upper-cased with
    separators (spaces, dashes, dots) removed, so ``1-abc-123`` is caught; a
    log line is compared field by field (its JSON strings, or its ``key=value``
    keys and values), never across two fields.
    JSON numbers are not texts (counts and epoch seconds); a plate hidden in
    one would still show in the raw payload's digits if given as bytes.
    """
    fragments: set[str] = set()
    for plate in plates:
        fragments |= plate_fragments(plate, min_len)
    leaks: list[CivilLeak] = []
    if not fragments:
        return leaks
    for index, item in enumerate(civil):
        for text, where in _strings(item, f"[{index}]"):
            for unit in _units(text) if isinstance(item, str) else (text,):
                norm = _SEPARATORS.sub("", unit.upper())
                runs = set(_DIGIT_RUN.findall(norm))
                leaks += [CivilLeak(f, where) for f in sorted(fragments) if _found(f, norm, runs)]
    return leaks


_KV_FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_PRIORITY_PREFIX = re.compile(r"^<[0-7]>")


def _units(line: str) -> list[str]:
    """The texts of a log line in which a plate could be written, each on its own.

    A JSON line gives its keys and string values, a ``key=value`` line its keys
    and values (quoted ones decoded); anything else is one text. Separators are
    removed within a text only: joining ``ts=…28.042Z level=INFO`` across the
    field boundary would make ``042ZLEVEL`` of two fields.
    """
    text = _PRIORITY_PREFIX.sub("", line.strip())
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            return [s for s, _ in _strings(parsed, "")]
    fields = list(_KV_FIELD.finditer(text))
    if not fields or _KV_FIELD.sub("", text).strip():
        return [line]
    units: list[str] = []
    for field in fields:
        key, value = field.group(1), field.group(2)
        if value.startswith('"'):
            try:
                value = str(json.loads(value))
            except ValueError:
                value = value.strip('"')
        units += [key, value]
    return units


# ------------------------------------------------------------------ summary


def score_run(  # noqa: PLR0913 - what a run produced, from each side
    passes: Sequence[PassTruth],
    police_lines: Iterable[Mapping[str, Any]],
    civil_windows: Sequence[Mapping[str, Any]],
    *,
    civil_raw: Iterable[object] = (),
    span_ms: tuple[int, int] | None = None,
    reads_sent: int | None = None,
) -> dict[str, Any]:
    """The demo's summary figures (JSON-ready)."""
    reads = police_reads(police_lines)
    scores = pass_scores(passes, reads)
    counts = count_errors(passes, civil_windows, span_ms=span_ms)
    compared = [c for c in counts if c.error is not None]
    plates = [p.text for p in passes if p.text]
    leaks = privacy_violations(plates, [*civil_windows, *civil_raw])
    return {
        "passes": scores.passes,
        "readable_passes": scores.readable,
        "reads_sent": reads_sent,
        "reads_received": len(reads),
        "recall": scores.recall,
        "precision": scores.precision,
        "exact_rate": scores.exact_rate,
        "false_reads": scores.false_reads,
        "missed_vehicles": list(scores.missed),
        "p95_latency_ms": scores.p95_latency_ms,
        "civil_windows": len(civil_windows),
        "civil_windows_compared": len(compared),
        "civil_windows_withheld": sum(c.withheld for c in counts),
        "count_mean_abs_error": round(sum(abs(c.error or 0) for c in compared) / len(compared), 2)
        if compared
        else None,
        "count_errors": [
            {"window_start": c.window_start, "truth": c.truth, "published": c.published}
            for c in counts
        ],
        "civil_privacy_violations": len(leaks),
    }


# ------------------------------------------------------------------ files


def truth_span(lines: Iterable[Mapping[str, Any]]) -> tuple[int, int] | None:
    """From the first scene's start to the last frame (or pass exit) of a truth file."""
    start: int | None = None
    end: int | None = None
    for line in lines:
        kind = line.get("kind")
        if kind == "scene" and isinstance(line.get("start_wall_ms"), int):
            start = line["start_wall_ms"] if start is None else min(start, line["start_wall_ms"])
        stamp = line.get("wall_ms") if kind == "frame" else line.get("exit_ms")
        if kind in ("frame", "pass") and isinstance(stamp, int):
            end = stamp if end is None else max(end, stamp)
    return None if start is None or end is None else (start, end)


def civil_windows(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The count windows among the civil back office's lines, first copy of each ``id``."""
    seen: set[str] = set()
    out = []
    for line in lines:
        data = line.get("data")
        if line.get("type") != "count" or not isinstance(data, dict):
            continue
        key = str(data.get("id"))
        if key not in seen:
            seen.add(key)
            out.append(data)
    return out


def score_files(
    truth: Path, police: Path, civil: Path | None = None, *, reads_sent: int | None = None
) -> dict[str, Any]:
    """:func:`score_run` over the files a run leaves: truth, police and civil JSON lines.

    Every civil line (not only the windows) is searched for plates.
    """
    truth_lines = load_jsonl(truth)
    passes = [PassTruth.from_json(x) for x in truth_lines if x.get("kind") == "pass"]
    civil_lines = load_jsonl(civil) if civil is not None else []
    return score_run(
        passes,
        load_jsonl(police),
        civil_windows(civil_lines),
        civil_raw=civil_lines,
        span_ms=truth_span(truth_lines),
        reads_sent=reads_sent,
    )
