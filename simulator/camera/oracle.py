"""``anpr-sim eval camera``-style check: the agent's reader on the camera's *true* plate boxes.

With a perfect detector and tracker (the truth's corners and vehicle ids),
the reader still has to read what the camera shows: this gives the ceiling
of the demo's exact-read rate for a reader model and a scene, per frame and
per pass (the agent's own vote over the pass's reads), before the detector
and the tracker take their share. It uses the agent's public pieces only:
``agent.recognise.rectify``, ``agent.reader.PlateReader``, ``agent.vote.vote``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.events import PlateBox
from agent.recognition.reader import PlateReader, ReaderError
from agent.recognition.recognizer import rectify
from agent.recognition.shipped import shipped_card
from agent.recognition.vote import vote
from simulator.camera.cli import scene_config, scene_options
from simulator.camera.source import FrameSource

if TYPE_CHECKING:
    import argparse

    from agent.core.events import PlateText
    from simulator.camera.scene import SceneConfig

__all__ = ["add_parsers", "oracle_reads"]


def oracle_reads(
    reader: PlateReader, cfg: SceneConfig, seconds: float, *, min_plate_px: float = 48.0
) -> dict[str, object]:
    """Read every fully visible plate at least ``min_plate_px`` wide; score frames and passes."""
    source = FrameSource(cfg, seconds=seconds)
    frames = exact_frames = 0
    reads: defaultdict[int, list[PlateText]] = defaultdict(list)
    texts: dict[int, str] = {}
    for sim in source:
        seen = [
            v
            for v in sim.truth.vehicles
            if v.corners is not None and v.plate_visible >= 0.95 and v.plate_px >= min_plate_px
        ]
        if not seen:
            continue
        crops = [rectify(sim.frame.image, PlateBox(v.corners, 1.0)) for v in seen]  # type: ignore[arg-type]
        for v, got in zip(seen, reader.read_many(crops), strict=True):
            frames += 1
            texts[v.vehicle] = v.text or ""
            if got is not None:
                reads[v.vehicle].append(got)
                exact_frames += got.text == v.text
    passes = [p for p in source.passes if p.complete and p.readable]
    voted = {vid: vote(r) for vid, r in reads.items()}
    exact = sum(1 for p in passes if (w := voted.get(p.vehicle)) is not None and w.text == p.text)
    found = sum(1 for p in passes if voted.get(p.vehicle) is not None)
    return {
        "light": cfg.light,
        "rain": cfg.rain,
        "seconds": seconds,
        "plate_frames": frames,
        "frame_exact_rate": round(exact_frames / frames, 4) if frames else None,
        "readable_passes": len(passes),
        "passes_with_a_read": found,
        "pass_exact": exact,
        "pass_exact_rate": round(exact / len(passes), 4) if passes else None,
    }


def _cmd(args: argparse.Namespace) -> int:
    try:
        reader = PlateReader(args.card)
    except ReaderError as exc:
        print(f"anpr-sim: {exc}", file=sys.stderr)
        return 2
    result = oracle_reads(reader, scene_config(args), args.seconds)
    result["card"] = str(args.card)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``camera-oracle``."""
    p = sub.add_parser(
        "camera-oracle",
        help="the reader on the synthetic camera's true plate boxes (the demo's ceiling)",
    )
    p.add_argument("--card", type=Path, default=shipped_card("reader"))
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--json", action="store_true", help="one JSON object")
    scene_options(p)
    p.set_defaults(func=_cmd)
