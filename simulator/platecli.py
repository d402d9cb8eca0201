"""``anpr-sim eval reader`` and ``anpr-sim render-plates``: the reader's simulator commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.recognition.reader import ReaderError
from agent.recognition.shipped import shipped_card
from simulator.evalpipeline import add_parser as add_pipeline_eval
from simulator.evalreader import DEFAULT_REAL_DEV, SYNTHETIC_SEED, misread_grid, report, run
from simulator.plates import COUNTRIES, load_weights, parse_weights, random_spec, render_plate

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]


def _cmd_eval_reader(args: argparse.Namespace) -> int:
    real = None if args.no_real else args.real_dev
    if real is not None and not real.is_dir():
        print(f"anpr-sim: real-dev set not found at {real}; synthetic only", file=sys.stderr)
        real = None
    try:
        results = run(args.card, args.synthetic, real, threads=args.threads, seed=args.seed)
    except ReaderError as exc:
        print(f"anpr-sim: {exc}", file=sys.stderr)
        return 2
    print(report(results))
    grid = misread_grid(results, args.out / "worst-misreads.png")
    if grid is not None:
        print(f"worst misreads: {grid}", file=sys.stderr)
    (args.out / "summary.json").write_text(report(results) + "\n")
    return 0


def _weights(text: str | None) -> dict[str, float] | None:
    """``--weights``: CODE=W,... or a JSON/TOML file of them (None: Belgian traffic)."""
    if text is None:
        return None
    path = Path(text)
    return load_weights(path) if path.suffix in (".json", ".toml") else parse_weights(text)


def _cmd_render_plates(args: argparse.Namespace) -> int:
    try:
        weights = _weights(args.weights)
    except (OSError, ValueError) as exc:
        print(f"anpr-sim: --weights: {exc}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(args.count):
            spec = random_spec(rng, args.country, weights=weights)
            plate = render_plate(rng, level=args.level, spec=spec)
            name = f"plate-{i:05d}.png"
            cv2.imwrite(str(args.out / name), plate.image)
            chars = [{"char": c.char, "quad": c.quad} for c in plate.chars]
            fh.write(
                json.dumps(
                    {
                        "file": name,
                        "text": plate.text,
                        "country": plate.spec.country,
                        "series": plate.spec.series,
                        "lines": plate.spec.lines,
                        "plate_quad": plate.plate_quad,
                        "chars": chars,
                    }
                )
                + "\n"
            )
    print(f"{args.count} plates and labels.jsonl in {args.out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``eval reader`` and ``render-plates`` to the simulator's command line."""
    ev = sub.add_parser("eval", help="measure a model").add_subparsers(
        dest="eval_command", required=True, metavar="MODEL"
    )
    reader = ev.add_parser("reader", help="exact match, character accuracy and ms per crop")
    reader.add_argument("--card", type=Path, default=shipped_card("reader"))
    reader.add_argument("--synthetic", type=int, default=2000, help="held-out crops to render")
    reader.add_argument("--seed", type=int, default=SYNTHETIC_SEED)
    reader.add_argument(
        "--real-dev",
        type=Path,
        default=DEFAULT_REAL_DEV,
        help="labelled real photos (evaluation only)",
    )
    reader.add_argument("--no-real", action="store_true", help="synthetic set only")
    reader.add_argument("--threads", type=int, default=1)
    reader.add_argument(
        "--out",
        type=Path,
        default=Path("out/eval-reader"),
        help="where the misread grid goes (keep it out of git)",
    )
    reader.set_defaults(func=_cmd_eval_reader)
    add_pipeline_eval(ev)

    render = sub.add_parser("render-plates", help="render synthetic plate crops with labels")
    render.add_argument("out", type=Path, metavar="DIR")
    render.add_argument("--count", type=int, default=20)
    render.add_argument(
        "--country", choices=COUNTRIES, default=None, help="one country (EU: the rest of Europe)"
    )
    render.add_argument(
        "--weights",
        help="country mix without --country: CODE=WEIGHT,... or a .json/.toml file of them"
        " (default: Belgian traffic, docs/PLATES-EUROPE.md)",
    )
    render.add_argument("--level", type=float, default=0.5, help="degradation 0..1")
    render.add_argument("--seed", type=int, default=0)
    render.set_defaults(func=_cmd_render_plates)
