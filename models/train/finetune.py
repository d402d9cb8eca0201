"""An operator's own labelled plate crops, for fine-tuning the shipped reader.

    python -m models.train.reader --out my-models/ --init models/train/reader.ckpt.pt \
        --finetune /data/my-crops --finetune-mix 0.3 --steps 2000

``DIR/labels.tsv`` (tab-separated, header row) has ``file`` and ``plate`` columns
(A-Z0-9) and, optionally, ``x y w h``: a plate box in a larger photo, cropped with
10 % padding as the evaluation does. Each batch mixes that share of the operator's
crops with synthetic ones, so the model keeps what it knew.

The project's ``real-dev`` photos are evaluation only and refused here.
"""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.recognition.ctc import to_gray_input
from models.train.data import ALPHABET, HEIGHT, MAX_LEN, WIDTH, encode

if TYPE_CHECKING:
    from pathlib import Path


def load_labelled_crops(root: Path, pad: float = 0.1) -> dict[str, np.ndarray]:
    """The crops of ``root/labels.tsv`` in the cached-dataset layout (level 0)."""
    if "real-dev" in root.resolve().parts:
        sys.exit(f"{root}: the real-dev set is for evaluation only; never train on it")
    images, labels, lengths = [], [], []
    with (root / "labels.tsv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            text = row["plate"].strip().upper()
            if not text or len(text) > MAX_LEN or any(c not in ALPHABET for c in text):
                print(f"skipped {row['file']}: label {text!r} is not 1-{MAX_LEN} of A-Z0-9")
                continue
            loaded = cv2.imread(str(root / row["file"]), cv2.IMREAD_COLOR)
            if loaded is None:
                print(f"skipped {row['file']}: cannot decode")
                continue
            image = np.asarray(loaded, dtype=np.uint8)
            if row.get("w"):
                x, y, w, h = (int(row[k]) for k in ("x", "y", "w", "h"))
                px, py = round(w * pad), round(h * pad)
                image = image[max(0, y - py) : y + h + py, max(0, x - px) : x + w + px]
            images.append(to_gray_input(image, HEIGHT, WIDTH))
            ids = np.zeros(MAX_LEN, np.uint8)
            ids[: len(text)] = encode(text)
            labels.append(ids)
            lengths.append(len(text))
    if not images:
        sys.exit(f"{root}: no usable labelled crops")
    print(f"fine-tuning on {len(images)} labelled crops from {root}")
    return {
        "images": np.stack(images),
        "labels": np.stack(labels),
        "lengths": np.array(lengths, np.uint8),
        "levels": np.zeros(len(images), np.float32),
    }
