"""``anpr-agent read``: read plates in image files from the command line.

By default each image is a full photo: the detector finds the plates, each is
rectified and read, and the plates are listed best confidence first with their
``box`` (x, y, w, h in image pixels). ``--no-detect`` treats each image as one
plate crop. One line per image, in order; an image that cannot be decoded gets
an error line of its own and the rest carry on. Exit 0 when every image was
read (a plate or none), 1 when some image could not be decoded, 2 when a model
cannot start (card, model or config).

The plate text goes to stdout because that is what this command is for; nothing
here logs it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.config.load import ConfigError, load_config
from agent.config.schema import RecognitionConfig
from agent.recognition.detector import DetectorError, PlateDetector
from agent.recognition.pipeline import settings_of
from agent.recognition.reader import PlateReader, ReaderError
from agent.recognition.recognizer import PHOTO_SECOND_LOOK, Recognizer
from agent.recognition.shipped import model_cards
from agent.recognition.syntax import supported

if TYPE_CHECKING:
    import argparse

    from agent.core.events import PlateText

__all__ = ["add_parser"]


def _err(line: str) -> None:
    print(f"anpr-agent: {line}", file=sys.stderr)


def _recognition(config: Path | None) -> RecognitionConfig | None:
    if config is None:
        return RecognitionConfig()
    try:
        return load_config(config, os.environ).config.recognition
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"{config}: {problem}")
        return None


def _decode(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image if image is not None and min(image.shape[:2]) >= 2 else None


def _plates(
    image: np.ndarray, reader: PlateReader, recognizer: Recognizer | None
) -> list[dict[str, object]]:
    """The plates of one image as output rows: syntax-valid reads first, then the surer."""
    found: list[tuple[PlateText | None, tuple[int, int, int, int] | None]]
    if recognizer is None:
        found = [(reader.read(image), None)]
    else:
        found = [(s.text, s.box.xywh) for s in recognizer.recognise(image)]
    rows: list[dict[str, object]] = []
    for plate, box in found:
        if plate is None:
            continue
        conf = round(plate.mean_conf, 3)
        row: dict[str, object] = {"text": plate.text, "conf": conf, "country": plate.country}
        if box is not None:
            row["box"] = list(box)
        rows.append(row)
    # As ``plausibility`` ranks sightings: a read a syntax accepts, then the surer one.
    return sorted(rows, key=lambda r: (r["country"] is None, -float(r["conf"])))  # type: ignore[arg-type]


def _recognizer(
    args: argparse.Namespace, rec: RecognitionConfig, reader: PlateReader
) -> Recognizer | None:
    """Detector (and the configured screen) around ``reader``; None after an error line."""
    look = args.second_look if args.second_look is not None else PHOTO_SECOND_LOOK
    if 0 < look < 64 or look < 0:
        _err(f"--second-look {look}: a long side of 64 px or more, or 0")
        return None
    try:
        detector = PlateDetector(
            args.detector_card or model_cards(rec).detector,
            threads=rec.threads,
            threshold=rec.detect_threshold,
        )
    except DetectorError as exc:
        _err(f"{exc} (--no-detect reads each image as one plate crop without it)")
        return None
    screen = None
    screen_card = model_cards(rec).screen
    if screen_card is not None:
        try:
            screen = PlateReader(screen_card, threads=rec.threads)
        except ReaderError as exc:
            _err(f"{exc} (recognition.screen_card)")
            return None
    settings = settings_of(rec)
    settings = dataclasses.replace(
        settings, second_look=look, fuse=settings.fuse or args.fuse, vote_box=not args.no_vote_box
    )
    try:
        return Recognizer(detector, reader, settings, screen)
    except ReaderError as exc:
        _err(str(exc))
        return None


def _cmd_read(args: argparse.Namespace) -> int:
    rec = _recognition(args.config)
    if rec is None:
        return 2
    card = args.card or model_cards(rec).reader
    unknown = supported(rec.countries)
    if unknown:
        _err(f"no plate syntax for {', '.join(unknown)}; those countries are not checked")
    try:
        reader = PlateReader(
            card, threads=rec.threads, countries=rec.countries, threshold=rec.read_threshold
        )
    except ReaderError as exc:
        _err(str(exc))
        return 2
    recognizer = None
    if not args.no_detect:
        recognizer = _recognizer(args, rec, reader)
        if recognizer is None:
            return 2
    failed = False
    for path in args.images:
        image = _decode(path)
        if image is None:
            failed = True
            _err(f"{path}: cannot decode image (missing, empty or not a picture); skipped")
            if args.json:
                print(json.dumps({"image": str(path), "error": "cannot decode image"}))
            continue
        t0 = time.perf_counter()
        plates = _plates(image, reader, recognizer)
        ms = round((time.perf_counter() - t0) * 1000, 2)
        if args.json:
            print(json.dumps({"image": str(path), "plates": plates, "ms": ms}))
        else:
            found = ", ".join(f"{p['text']} ({p['country'] or '?'}, {p['conf']})" for p in plates)
            print(f"{path}: {found or 'no plate'}  [{ms} ms]")
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``read`` command to the agent's command line."""
    read = sub.add_parser("read", help="read plates in photos (or plate crops: --no-detect)")
    read.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    read.add_argument(
        "--no-detect", action="store_true", help="treat each image as one plate crop (no detector)"
    )
    read.add_argument("--json", action="store_true", help="one JSON object per image")
    read.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="take the reader card, thresholds, countries and threads from FILE",
    )
    read.add_argument("--card", type=Path, metavar="CARD", help="override the reader card")
    read.add_argument(
        "--detector-card", type=Path, metavar="CARD", help="override the detector card"
    )
    read.add_argument(
        "--second-look",
        type=int,
        metavar="PX",
        help=f"search a photo none of whose reads fits a syntax again at this long side "
        f"and at 3/4 of the detector's, at half its bar (default {PHOTO_SECOND_LOOK}; 0: never)",
    )
    read.add_argument(
        "--fuse",
        action="store_true",
        help="where a box and its refined box read differently, read the plate from four "
        "cuts as one (recognition.fuse_crops)",
    )
    read.add_argument(
        "--no-vote-box",
        action="store_true",
        help="do not also read each plate from its upright box crop "
        "(recognition.vote_box_crop; on for photos by default)",
    )
    read.set_defaults(func=_cmd_read)
