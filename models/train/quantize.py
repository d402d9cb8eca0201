"""Quantize a reader to int8 for the recognizer's screening pass, and card it.

    python -m models.train.quantize --card agent/recognition/models/reader.card.json

Writes ``reader-int8.onnx`` and ``reader-int8.card.json`` next to the reader:
onnxruntime static quantization in QDQ form (per-channel int8 weights, uint8
activations), calibrated on synthetic crops rendered from a fixed seed, so the
same reader always gives the same int8 model. About twice as fast as the float
reader on one core, but it misreads a few more real plates (measured in its
card), so the agent only uses it to decide which boxes are worth the float
reader (``recognition.screen_card``), never for the reads it reports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from models.train.data import HEIGHT, WIDTH, render_sample
from simulator.plates import RENDER_VERSION

CALIBRATION_CROPS = 1024
CALIBRATION_SEED = 2024
PERCENTILE = 99.999
METHOD = (
    "onnxruntime static quantization, QDQ: int8 per-channel weights, uint8 activations, "
    f"ranges at the {PERCENTILE} percentile of the calibration activations"
)


class _Crops(CalibrationDataReader):
    """Calibration batches: normalised synthetic crops, 64 at a time."""

    def __init__(self, x: np.ndarray, input_name: str) -> None:
        self._x, self._name, self._at = x, input_name, 0

    # onnxruntime annotates get_next as returning a dict, but its calibrators stop on None.
    def get_next(self) -> dict[str, np.ndarray] | None:  # type: ignore[override]
        if self._at >= len(self._x):
            return None
        batch = self._x[self._at : self._at + 64]
        self._at += 64
        return {self._name: batch}


def calibration_crops(
    n: int, seed: int, mean: float, std: float, size: tuple[int, int] = (HEIGHT, WIDTH)
) -> np.ndarray:
    """``n`` synthetic crops (full augmentation), normalised as the card says: N x 1 x H x W."""
    rng = np.random.default_rng(seed)
    images = np.stack([render_sample(rng, 1.0, *size)[0] for _ in range(n)])
    return ((images.astype(np.float32) - mean) / std)[:, None]


def quantize_card(
    card_path: Path, *, crops: int = CALIBRATION_CROPS, seed: int = CALIBRATION_SEED
) -> Path:
    """Quantize the reader of ``card_path``; return the int8 model's card path."""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    src = card_path.parent / card["model"]
    out = card_path.parent / "reader-int8.onnx"
    norm = card["input"]["normalisation"]
    size = (int(card["input"]["shape"][2]), int(card["input"]["shape"][3]))
    x = calibration_crops(crops, seed, float(norm["mean"]), float(norm["std"]), size)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))
        quantize_static(
            str(pre),
            str(out),
            _Crops(x, card["input"]["name"]),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": PERCENTILE},
        )
    card.pop("metrics", None)
    card.update(
        name=f"{card['name']}-int8",
        model=out.name,
        sha256=hashlib.sha256(out.read_bytes()).hexdigest(),
        quantization={
            "of": {"model": src.name, "version": card["version"], "sha256": card["sha256"]},
            "method": METHOD,
            "calibration": f"{crops} synthetic crops, seed {seed} (renderer v{RENDER_VERSION})",
            "command": f"python -m models.train.quantize --card {card_path}",
            "use": "screening: which boxes the float reader reads (recognition.screen_card)",
        },
    )
    out_card = card_path.parent / "reader-int8.card.json"
    out_card.write_text(json.dumps(card, indent=2) + "\n")
    return out_card


def measure(card_path: Path) -> None:
    """Measure the int8 card with the agent's reader and write the metrics into it."""
    from simulator.evalreader import measure_for_card  # noqa: PLC0415

    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["metrics"] = measure_for_card(card_path)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card["metrics"], indent=2))


def main() -> None:
    """Command line: quantize, card, measure."""
    ap = argparse.ArgumentParser(description="Quantize the anpr-edge reader to int8.")
    ap.add_argument("--card", type=Path, default=Path("agent/recognition/models/reader.card.json"))
    ap.add_argument("--crops", type=int, default=CALIBRATION_CROPS)
    ap.add_argument("--seed", type=int, default=CALIBRATION_SEED)
    ap.add_argument("--no-metrics", action="store_true", help="skip measuring the int8 model")
    args = ap.parse_args()
    out = quantize_card(args.card, crops=args.crops, seed=args.seed)
    print(f"wrote {out}")
    if not args.no_metrics:
        measure(out)


if __name__ == "__main__":
    main()
