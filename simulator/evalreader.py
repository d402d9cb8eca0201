"""``anpr-sim eval reader``: how well the shipped reader reads, measured.

Two sources: a synthetic held-out set (rendered with a seed the training never
used) and the labelled plate boxes of ``shared/data/real-dev`` (``fr/``, ``br/``),
cropped with about 10 % padding as a detector would. The real photos are for
evaluation only: they are read at run time, never written anywhere but the
misread grid in the output directory (outside git), and skipped when absent.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.recognition.reader import PlateReader
from agent.recognition.vote import levenshtein
from simulator.plates import render_plate

__all__ = ["EvalResult", "Sample", "evaluate", "measure_for_card", "real_dev", "synthetic"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REAL_DEV = REPO.parent / "shared" / "data" / "real-dev"
SYNTHETIC_SEED = 424_242  # training uses seeds 1 and 1001: never this one
# The syntaxes the checker may apply per set, as an operator there would configure.
SET_COUNTRIES: dict[str, tuple[str, ...]] = {
    "synthetic": ("B", "NL", "F", "D", "L"),
    "fr": ("F",),
    "br": ("BR",),
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One crop to read and its true text."""

    image: npt.NDArray[np.uint8] = field(repr=False)
    text: str = field(repr=False)
    name: str
    group: str = ""  # synthetic crops: country, and "two-line" where the plate has two


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Scores of one set, and its misreads (truth, read, crop) worst first."""

    name: str
    n: int
    exact: float
    exact_o_is_0: float  # O and 0 counted alike, as the reference figures are
    char_accuracy: float
    ms_per_crop: float  # median: robust to other work on a shared machine
    ms_mean: float
    misreads: list[tuple[str, str, npt.NDArray[np.uint8]]] = field(repr=False)
    groups: dict[str, tuple[int, int]] = field(default_factory=dict)  # group -> (exact, n)

    def summary(self) -> dict[str, object]:
        """The figures as a JSON-ready dict."""
        out: dict[str, object] = {
            "n": self.n,
            "exact": round(self.exact, 4),
            "exact_o_is_0": round(self.exact_o_is_0, 4),
            "char_accuracy": round(self.char_accuracy, 4),
            "ms_per_crop": round(self.ms_per_crop, 2),
            "ms_mean": round(self.ms_mean, 2),
        }
        if len(self.groups) > 1:
            out["exact_by_group"] = {
                g: {"exact": round(hit / max(1, n), 4), "n": n}
                for g, (hit, n) in sorted(self.groups.items())
            }
        return out


def synthetic(n: int, seed: int = SYNTHETIC_SEED) -> list[Sample]:
    """``n`` rendered held-out crops at degradation levels spread over 0..1."""
    rng = np.random.default_rng(seed)
    countries = ("B", "NL", "F", "D", "L", "EU", "BR")
    out = []
    for i in range(n):
        country = countries[i % len(countries)]
        plate = render_plate(rng, country, level=float(rng.uniform(0, 1)))
        group = country + (" two-line" if plate.spec.lines == 2 else "")  # EU: its own group
        out.append(Sample(plate.image, plate.text, f"synthetic-{i}", group))
    return out


def real_dev(root: Path, subset: str, pad: float = 0.1) -> list[Sample]:
    """The labelled plate boxes of ``root/subset``, padded; empty when absent."""
    labels = root / subset / "labels.tsv"
    if not labels.is_file():
        return []
    out = []
    with labels.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            path = root / subset / "images" / row["file"]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            x, y, w, h = (int(row[k]) for k in ("x", "y", "w", "h"))
            px, py = round(w * pad), round(h * pad)
            x0, y0 = max(0, x - px), max(0, y - py)
            x1, y1 = min(image.shape[1], x + w + px), min(image.shape[0], y + h + py)
            crop = np.asarray(image[y0:y1, x0:x1], np.uint8).copy()
            out.append(Sample(crop, row["plate"], row["file"]))
    return out


def evaluate(reader: PlateReader, name: str, samples: list[Sample]) -> EvalResult:
    """Read every sample one at a time (as the agent does per crop) and score."""
    exact = exact_o = chars_ok = chars = 0
    times: list[float] = []
    wrong: list[tuple[int, str, str, npt.NDArray[np.uint8]]] = []
    groups: dict[str, tuple[int, int]] = {}
    for s in samples:
        t0 = time.perf_counter()
        plate = reader.read(s.image)
        times.append(1000 * (time.perf_counter() - t0))
        got = plate.text if plate is not None else ""
        exact += got == s.text
        hit, seen = groups.get(s.group, (0, 0))
        groups[s.group] = (hit + (got == s.text), seen + 1)
        exact_o += got.replace("O", "0") == s.text.replace("O", "0")
        chars += len(s.text)
        chars_ok += max(0, len(s.text) - levenshtein(got, s.text))
        if got != s.text:
            wrong.append((levenshtein(got, s.text), s.text, got, s.image))
    wrong.sort(key=lambda w: -w[0])
    n = max(1, len(samples))
    return EvalResult(
        name,
        len(samples),
        exact / n,
        exact_o / n,
        chars_ok / max(1, chars),
        float(np.median(times)) if times else 0.0,
        sum(times) / n,
        [(t, g, im) for _, t, g, im in wrong],
        groups,
    )


def misread_grid(results: list[EvalResult], path: Path, per_set: int = 24) -> Path | None:
    """A picture of the worst misreads of each set: crop, truth and read."""
    tiles = []
    for r in results:
        for truth, got, image in r.misreads[:per_set]:
            tile = cv2.resize(image, (200, 64), interpolation=cv2.INTER_AREA)
            tile = cv2.copyMakeBorder(tile, 0, 22, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            label = f"{r.name}: {truth} > {got or '-'}"
            cv2.putText(tile, label, (3, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 200), 1)
            tiles.append(tile)
    if not tiles:
        return None
    cols = 4
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % cols)
    rows = [np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))
    return path


def run(
    card: Path,
    n_synthetic: int,
    real_root: Path | None,
    threads: int = 1,
    seed: int = SYNTHETIC_SEED,
) -> list[EvalResult]:
    """Evaluate ``card`` on the synthetic set and whatever real-dev sets exist."""
    sets = [("synthetic", synthetic(n_synthetic, seed))] if n_synthetic > 0 else []
    if real_root is not None:
        sets += [(sub, real_dev(real_root, sub)) for sub in ("fr", "br")]
    results = []
    for name, samples in sets:
        if not samples:
            continue
        reader = PlateReader(card, threads=threads, countries=SET_COUNTRIES[name], threshold=0.0)
        results.append(evaluate(reader, name, samples))
    return results


def measure_for_card(card: Path, n_synthetic: int = 2000) -> dict[str, object]:
    """The metrics block of a model card (real-dev figures only where the data exists)."""
    results = run(card, n_synthetic, DEFAULT_REAL_DEV)
    metrics: dict[str, object] = {r.name: r.summary() for r in results}
    metrics["measured_with"] = (
        f"anpr-sim eval reader --synthetic {n_synthetic} (one onnxruntime thread, "
        "one crop per call); real-dev is evaluation only"
    )
    return metrics


def report(results: list[EvalResult]) -> str:
    """Human-readable lines."""
    return json.dumps({r.name: r.summary() for r in results}, indent=2)
