"""``anpr-sim eval pipeline``: the full-frame pipeline (detector → rectify → reader), measured.

Two parts:

- **Real photos** of ``shared/data/real-dev`` (``fr/``, ``br/``; one labelled
  plate per photo; evaluation only, read at run time, skipped when absent):
  top-1 exact (the text of the most plausible plate, one a configured syntax
  accepts before one none does, then the most confident, equals the label), detection
  recall (some detector box has IoU >= 0.5 with the label), false plates per
  photo (plates read whose box misses the label), and ms per photo with one and
  with two onnxruntime threads. The recognizer screens boxes with the shipped
  screen (``screen.card.json``) as the shipped configs do, unless ``--no-screen``.
- **Synthetic video** from the simulator's traffic camera (``simulator.camera``):
  the agent's own :class:`~agent.pipeline.Passes` (recognise, track, vote) over
  every frame, scored against the scene's pass truth: pass recall (readable
  passes with a read), precision (reads that belong to a pass), exact rate,
  duplicates, and frames per second of the recognition alone.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.config.schema import RecognitionConfig
from agent.core.events import PlateRead
from agent.core.geometry import iou
from agent.recognition.pipeline import Passes, build_recognizer
from agent.recognition.recognizer import PHOTO_SECOND_LOOK, plausibility
from agent.recognition.shipped import shipped_card
from agent.recognition.tracker import LaneZone
from simulator.evalreader import DEFAULT_REAL_DEV, SET_COUNTRIES

if TYPE_CHECKING:
    import argparse

    from agent.core.events import UnreadPass
    from agent.recognition.recognizer import Recognizer
    from simulator.camera.scene import Light
    from simulator.camera.truth import PassTruth

__all__ = ["eval_photos", "eval_video", "measure_for_card", "recognition"]

MIN_PLATE_WIDTH = 32  # real-dev holds plates from 53 px wide: do not filter them out here


def recognition(detector_card: Path, reader_card: Path, **kw: object) -> RecognitionConfig:
    """A recognition config for evaluation (the config's defaults unless overridden).

    ``screen_card=None`` turns the screen off, as ``--no-screen`` does.
    """
    if "screen_card" in kw and kw["screen_card"] is None:
        kw["screen"] = False
    return RecognitionConfig(
        detector_card=detector_card, reader_card=reader_card, min_plate_width=MIN_PLATE_WIDTH, **kw
    )


def _photos(root: Path, subset: str) -> list[tuple[Path, tuple[int, int, int, int], str]]:
    labels = root / subset / "labels.tsv"
    if not labels.is_file():
        return []
    with labels.open(newline="", encoding="utf-8") as fh:
        return [
            (
                root / subset / "images" / row["file"],
                (int(row["x"]), int(row["y"]), int(row["w"]), int(row["h"])),
                row["plate"],
            )
            for row in csv.DictReader(fh, delimiter="\t")
        ]


def _score_photos(
    recognizer: Recognizer, photos: list[tuple[Path, tuple[int, int, int, int], str]]
) -> dict[str, float]:
    n = exact = exact_o = found = false = 0
    for path, box, text in photos:
        loaded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if loaded is None:
            continue
        image = np.asarray(loaded, dtype=np.uint8)
        n += 1
        sightings = recognizer.recognise(image)
        # The frame-level boxes, and those a second look found (sightings carry them).
        boxes = recognizer.detector.detect(image) + [s.box for s in sightings]
        found += any(iou(b.xywh, box) >= 0.5 for b in boxes)
        plates = sorted(
            (s for s in sightings if s.text is not None), key=plausibility, reverse=True
        )
        false += sum(iou(s.box.xywh, box) < 0.5 for s in plates)
        top = plates[0].text.text if plates and plates[0].text is not None else ""
        exact += top == text
        exact_o += top.replace("O", "0") == text.replace("O", "0")
    d = max(1, n)
    return {
        "n": n,
        "top1_exact": round(exact / d, 4),
        "top1_exact_o_is_0": round(exact_o / d, 4),
        "detection_recall_iou50": round(found / d, 4),
        "false_plates_per_photo": round(false / d, 4),
    }


def _time_photos(
    recognizer: Recognizer,
    photos: list[tuple[Path, tuple[int, int, int, int], str]],
    k: int | None,
) -> float:
    """Mean ms per photo of the agent's per-frame work (detect + rectify + read).

    Over the first ``k`` photos, or all of them: a second look costs a photo ~90 ms,
    and which photos take one is not spread evenly over the set.
    """
    images = [
        np.asarray(im, dtype=np.uint8)
        for p, _, _ in photos[:k]
        if (im := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None
    ]
    if not images:
        return 0.0
    recognizer.recognise(images[0])
    t0 = time.perf_counter()
    for im in images:
        recognizer.recognise(im)
    return round(1000 * (time.perf_counter() - t0) / len(images), 2)


def eval_photos(
    detector_card: Path,
    reader_card: Path,
    root: Path = DEFAULT_REAL_DEV,
    timing: int | None = None,
    screen_card: Path | None = None,
) -> dict[str, object]:
    """Real-dev figures per subset; empty when the folder is absent."""
    out: dict[str, object] = {}
    for subset in ("fr", "br"):
        photos = _photos(root, subset)
        if not photos:
            continue
        rec = recognition(
            detector_card,
            reader_card,
            countries=SET_COUNTRIES[subset] or ("F",),
            screen_card=screen_card,
            second_look=PHOTO_SECOND_LOOK,  # as `anpr-agent read` searches photos
            vote_box_crop=True,  # and votes each plate's box crop
        )
        recognizer = build_recognizer(rec)
        if not SET_COUNTRIES[subset]:
            recognizer.reader.countries = ()  # no Brazilian syntax: take the raw read
        scores: dict[str, object] = dict(_score_photos(recognizer, photos))
        scores["ms_per_photo_1_thread"] = _time_photos(recognizer, photos, timing)
        two = build_recognizer(rec.model_copy(update={"threads": 2}))
        two.reader.countries = recognizer.reader.countries
        scores["ms_per_photo_2_threads"] = _time_photos(two, photos, timing)
        out[subset] = scores
    return out


def _match(reads: list[PlateRead], truth: list[PassTruth]) -> dict[str, object]:
    """Pass-level precision/recall/exact: each read goes to the pass it belongs to."""
    texts: dict[int, list[str]] = {}
    for read in reads:
        # A read is stamped with the last frame its plate was seen, within the pass.
        cands = [p for p in truth if p.enter_ms <= read.wall_ms <= p.exit_ms]
        if cands:
            best = max(cands, key=lambda p: (p.text == read.text, p.lane == read.lane))
            texts.setdefault(best.vehicle, []).append(read.text)
    readable = [p for p in truth if p.readable and p.complete]
    by_id = {p.vehicle: p for p in truth}
    exact = sum(by_id[v].text in ts for v, ts in texts.items())
    return {
        "reads": len(reads),
        "readable_passes": len(readable),
        "pass_recall": round(sum(p.vehicle in texts for p in readable) / max(1, len(readable)), 4),
        "precision": round(len(texts) / max(1, len(reads)), 4),
        "exact_of_passes_read": round(exact / max(1, len(texts)), 4),
        "exact_of_readable": round(
            sum(p.text in texts.get(p.vehicle, ()) for p in readable) / max(1, len(readable)), 4
        ),
        "duplicates": sum(len(ts) - 1 for ts in texts.values()),
        "unmatched_reads": len(reads) - sum(len(ts) for ts in texts.values()),
    }


def eval_video(  # noqa: PLR0913 - the scene's knobs beside the models
    detector_card: Path,
    reader_card: Path,
    seconds: float = 30.0,
    seed: int = 7,
    *,
    screen_card: Path | None = None,
    lanes: int = 1,
    light: Light = "day",
) -> dict[str, object]:
    """Run the pipeline over a synthetic traffic video and score its passes.

    The agent is set up as ``anpr-sim demo`` sets it up: the scene's lane zones,
    virtual loops, the default recognition settings; ``light`` is the scene's
    (``day``, ``dusk``, ``night``: infrared).
    """
    from simulator.camera.scene import Scene, SceneConfig  # noqa: PLC0415 - heavy, only here
    from simulator.camera.source import FrameSource  # noqa: PLC0415

    config = recognition(detector_card, reader_card, screen_card=screen_card)
    recognizer = build_recognizer(config)
    scene = SceneConfig(seed=seed, lanes=lanes, light=light)
    zones = [LaneZone(lane, tuple(polygon)) for lane, polygon in Scene(scene).lane_zones()]
    passes = Passes(
        recognizer,
        lanes=lanes,
        zones=zones,
        pass_timeout_s=config.pass_timeout_s,
        loops=config.count_loops,
    )
    source = FrameSource(scene, seconds=seconds)
    closed: list[PlateRead | UnreadPass] = []
    frames, busy = 0, 0.0
    for sim in source:
        closed += passes.feed(sim.frame)
        frames += 1
        busy += passes.last_ms
    closed += passes.flush()
    reads = [p for p in closed if isinstance(p, PlateRead)]
    scores: dict[str, object] = dict(_match(reads, list(source.passes)))
    scores["unread_passes"] = len(closed) - len(reads)  # counted for the city, never journaled
    scores["frames"] = frames
    scores["recognition_fps_1_thread"] = round(1000 * frames / max(1.0, busy), 1)
    scores["seconds"] = seconds
    scores["seed"] = seed
    scores["lanes"] = lanes
    scores["light"] = light
    return scores


def measure_for_card(card: Path) -> dict[str, object]:
    """The metrics block of the detector card (real-dev only where the data exists)."""
    reader = shipped_card("reader")
    screen = _shipped_screen()
    metrics: dict[str, object] = {"real_dev": eval_photos(card, reader, screen_card=screen)}
    metrics["synthetic_video"] = eval_video(card, reader, screen_card=screen)
    metrics["measured_with"] = (
        "anpr-sim eval pipeline (agent's detector + reader.onnx"
        + (", boxes screened by screen.onnx" if screen is not None else "")
        + f", min plate width {MIN_PLATE_WIDTH}px); real-dev is evaluation only"
    )
    return metrics


def _shipped_screen() -> Path | None:
    screen = shipped_card("screen")
    return screen if screen.is_file() else None


def _cmd(args: argparse.Namespace) -> int:
    out: dict[str, object] = {}
    screen = None if args.no_screen else args.screen_card or _shipped_screen()
    if not args.no_real:
        out["real_dev"] = eval_photos(
            args.detector_card, args.reader_card, args.real_dev, screen_card=screen
        )
    if args.video > 0:
        out["synthetic_video"] = eval_video(
            args.detector_card,
            args.reader_card,
            args.video,
            args.seed,
            screen_card=screen,
            lanes=args.lanes,
            light=args.light,
        )
    print(json.dumps(out, indent=2))
    return 0


def add_parser(ev: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``eval pipeline`` under ``anpr-sim eval``."""
    p = ev.add_parser("pipeline", help="full photos and synthetic video, end to end")
    p.add_argument("--detector-card", type=Path, default=shipped_card("detector"))
    p.add_argument("--reader-card", type=Path, default=shipped_card("reader"))
    p.add_argument("--real-dev", type=Path, default=DEFAULT_REAL_DEV, help="evaluation only")
    p.add_argument("--no-real", action="store_true", help="skip the real photos")
    p.add_argument("--video", type=float, default=60.0, help="seconds of synthetic video (0: none)")
    p.add_argument("--seed", type=int, default=7, help="synthetic scene seed")
    p.add_argument("--lanes", type=int, default=1, choices=(1, 2, 3, 4), help="synthetic scene")
    p.add_argument(
        "--light", default="day", choices=("day", "dusk", "night"), help="synthetic scene"
    )
    p.add_argument(
        "--screen-card", type=Path, help="the reader's screen (default: the shipped one)"
    )
    p.add_argument("--no-screen", action="store_true", help="the reader reads every box")
    p.set_defaults(func=_cmd)
