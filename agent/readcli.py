"""``anpr-agent read``: read plates in image files from the command line.

``--no-detect`` treats each image as one plate crop (the full-photo mode arrives
with the detector). One line per image, in order; an image that cannot be
decoded gets an error line of its own and the rest carry on. Exit 0 when every
image was read (a plate or none), 1 when some image could not be decoded, 2 when
the reader cannot start (card, model or config).

The plate text goes to stdout because that is what this command is for; nothing
here logs it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.config import RecognitionConfig
from agent.configload import ConfigError, load_config
from agent.reader import PlateReader, ReaderError
from agent.syntax import supported

if TYPE_CHECKING:
    import argparse

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


def _default_card(rec: RecognitionConfig) -> Path:
    """The configured card; a relative default also resolves against the source tree."""
    if rec.reader_card.is_absolute() or rec.reader_card.is_file():
        return rec.reader_card
    shipped = Path(__file__).resolve().parents[1] / rec.reader_card
    return shipped if shipped.is_file() else rec.reader_card


def _decode(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image if image is not None and min(image.shape[:2]) >= 2 else None


def _cmd_read(args: argparse.Namespace) -> int:
    if not args.no_detect:
        _err(
            "reading whole photos needs the plate detector, which is not shipped yet; "
            "pass --no-detect to read each image as one plate crop"
        )
        return 2
    rec = _recognition(args.config)
    if rec is None:
        return 2
    card = args.card or _default_card(rec)
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
        plate = reader.read(image)
        ms = round((time.perf_counter() - t0) * 1000, 2)
        plates = []
        if plate is not None:
            conf = round(sum(plate.char_conf) / (1000 * len(plate.char_conf)), 3)
            plates.append({"text": plate.text, "conf": conf, "country": plate.country})
        if args.json:
            print(json.dumps({"image": str(path), "plates": plates, "ms": ms}))
        else:
            found = ", ".join(f"{p['text']} ({p['country'] or '?'}, {p['conf']})" for p in plates)
            print(f"{path}: {found or 'no plate'}  [{ms} ms]")
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``read`` command to the agent's command line."""
    read = sub.add_parser("read", help="read plates in image files (one crop per image)")
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
    read.set_defaults(func=_cmd_read)
