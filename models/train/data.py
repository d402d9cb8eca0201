"""Pre-render synthetic plate crops into a cached dataset (several processes).

Rendering (~8 ms a crop) costs more than a training step on these CPUs, so crops
are rendered once into ``.npz`` shards of model-ready grey images: rows of
``images`` (uint8 N x H x W), ``labels`` (uint8 N x MAX_LEN, 0-padded class ids),
``lengths`` and ``levels`` (the degradation level each crop was drawn at, which
the trainer's curriculum filters on). Shard k of seed s is always the same data.

    python -m models.train.data --cache .cache/reader-data --shards 40 --per-shard 4000
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np

from agent.recognition.ctc import split_two_line, to_gray_input
from simulator.plates import RENDER_VERSION, render_plate

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = 0  # class 0 is the CTC blank; class k is ALPHABET[k - 1]
HEIGHT, WIDTH = 32, 128
# Longest label: the format table's longest text is Irish (year 3 + county 2 + serial 6 = 11).
MAX_LEN = 12
# How often each country is drawn: the home market and the real-dev sets weigh most.
WEIGHTS = {"B": 0.22, "NL": 0.1, "F": 0.24, "D": 0.12, "L": 0.06, "EU": 0.14, "BR": 0.12}


def encode(text: str) -> list[int]:
    """Class ids of a plate text."""
    return [ALPHABET.index(c) + 1 for c in text]


def render_sample(
    rng: np.random.Generator, level: float, height: int = HEIGHT, width: int = WIDTH
) -> tuple[np.ndarray, str]:
    """One model-ready grey crop (``height`` x ``width``) and its text."""
    countries = list(WEIGHTS)
    p = np.array([WEIGHTS[c] for c in countries])
    country = countries[int(rng.choice(len(countries), p=p / p.sum()))]
    plate = render_plate(rng, country, level=level)
    gray = plate.image
    if plate.spec.lines == 2:
        import cv2  # noqa: PLC0415  (only needed for the rare two-line crop)

        gray = split_two_line(np.asarray(cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY), dtype=np.uint8))
    return to_gray_input(gray, height, width), plate.text


def _shard_path(cache: Path, seed: int, k: int) -> Path:
    return cache / f"r{RENDER_VERSION}-s{seed}-{k:04d}.npz"


def render_shard(args: tuple[Path, int, int, int]) -> Path:
    """Render shard ``k`` of ``seed`` (``n`` crops) unless it is already cached."""
    cache, seed, k, n = args
    path = _shard_path(cache, seed, k)
    if path.exists():
        return path
    rng = np.random.default_rng([seed, k])
    images = np.zeros((n, HEIGHT, WIDTH), np.uint8)
    labels = np.zeros((n, MAX_LEN), np.uint8)
    lengths = np.zeros(n, np.uint8)
    levels = rng.uniform(0.0, 1.0, n).astype(np.float32)
    for i in range(n):
        img, text = render_sample(rng, float(levels[i]))
        images[i] = img
        ids = encode(text)
        labels[i, : len(ids)] = ids
        lengths[i] = len(ids)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=images, labels=labels, lengths=lengths, levels=levels)
    tmp.rename(path)  # a shard is either complete or absent, so a killed run resumes
    return path


def ensure_shards(cache: Path, seed: int, shards: int, per_shard: int, workers: int) -> list[Path]:
    """Render the missing shards with ``workers`` processes; return all shard paths."""
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(cache, seed, k, per_shard) for k in range(shards)]
    todo = [j for j in jobs if not _shard_path(cache, seed, j[2]).exists()]
    t0 = time.monotonic()
    if todo:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done, path in enumerate(pool.imap_unordered(render_shard, todo), 1):
                rate = done * per_shard / (time.monotonic() - t0)
                print(f"rendered {path.name} ({done}/{len(todo)}, {rate:.0f} crops/s)", flush=True)
    return [_shard_path(cache, seed, k) for k in range(shards)]


def load_shards(paths: list[Path]) -> dict[str, np.ndarray]:
    """Concatenate shards into one in-memory dataset."""
    parts = [np.load(p) for p in paths]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0].files}


def main() -> None:
    """Render shards from the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(".cache/reader-data"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shards", type=int, default=40)
    ap.add_argument("--per-shard", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    ensure_shards(a.cache, a.seed, a.shards, a.per_shard, a.workers)


if __name__ == "__main__":
    main()
