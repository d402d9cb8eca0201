"""The training data side (no torch needed): cached shards and operator crops."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from models.train.data import ALPHABET, HEIGHT, MAX_LEN, WIDTH, render_shard
from models.train.finetune import load_labelled_crops
from simulator.plates import render_plate
from simulator.plates.formats import EUROPE, random_spec

if TYPE_CHECKING:
    from pathlib import Path


def test_a_shard_is_the_same_data_every_time(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = np.load(render_shard((tmp_path / "a", 7, 3, 16)))
    b = np.load(render_shard((tmp_path / "b", 7, 3, 16)))
    for key in ("images", "labels", "lengths", "levels"):
        assert np.array_equal(a[key], b[key])
    assert a["images"].shape == (16, HEIGHT, WIDTH)
    rows = zip(a["labels"], a["lengths"], strict=True)
    texts = ["".join(ALPHABET[k - 1] for k in row[:n]) for row, n in rows]
    assert all(t.isalnum() and len(t) >= 3 for t in texts)  # the shortest: German "B A 1"


def test_operator_crops_load_with_boxes_and_bad_rows_are_skipped(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    plate = render_plate(rng, "B", level=0.0)
    h, w = plate.image.shape[:2]
    photo = np.zeros((h + 200, w + 100, 3), np.uint8)
    photo[100 : 100 + h, 50 : 50 + w] = plate.image
    cv2.imwrite(str(tmp_path / "photo.jpg"), photo)
    cv2.imwrite(str(tmp_path / "crop.png"), plate.image)
    (tmp_path / "labels.tsv").write_text(
        "file\tx\ty\tw\th\tplate\n"
        f"photo.jpg\t50\t100\t{w}\t{h}\t{plate.text}\n"
        f"crop.png\t\t\t\t\t{plate.text}\n"
        "missing.png\t\t\t\t\tABC123\n"
        "crop.png\t\t\t\t\tAB-12\n"
    )
    data = load_labelled_crops(tmp_path)
    assert data["images"].shape == (2, HEIGHT, WIDTH)
    assert list(data["lengths"]) == [len(plate.text)] * 2


def test_the_real_dev_set_is_refused_for_training(tmp_path: Path) -> None:
    root = tmp_path / "real-dev" / "fr"
    root.mkdir(parents=True)
    with pytest.raises(SystemExit, match="evaluation only"):
        load_labelled_crops(root)


def test_every_plate_text_the_renderer_draws_fits_a_training_label() -> None:
    # A v9 Irish plate (11 characters) once stopped a training run at a 10-wide label.
    rng = np.random.default_rng(3)
    longest = max(len(random_spec(rng, code).text) for code in (*EUROPE, "BR") for _ in range(200))
    assert longest <= MAX_LEN
