"""Export the detector checkpoint to ONNX, check parity with torch, write its card.

The card is the contract ``agent/detector.py`` checks at load (task, letterbox
input spec, output layout, stride, offset unit, sha256). Metrics are measured on
the exported file through the agent's own detector and pipeline.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
import torch

from models.train import detdata
from models.train.card import sha256
from models.train.detnet import OFFSET_UNIT, STRIDE, DetectorNet

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

MEAN, STD = 127.5, 127.5
LONG_SIDE, MULTIPLE = 512, 32

TRAINING_DATA = (
    "Synthetic only: 256x256 grey scenes rendered by models/train/detdata.py (anpr-edge): "
    "plates drawn by simulator/plates (Belgian, Dutch, French, German, Luxembourgish, "
    "other-EU and Brazilian syntaxes, OFL fonts) under random pose, 14-230 px wide at "
    "model scale, composited on procedural backgrounds with car-like bodies, grilles, "
    "lamps, signs, plain boxes and distractor text, with lighting, blur, noise and JPEG; "
    "plus patches cut from the simulator's synthetic traffic camera (simulator/camera: "
    "day, dusk, night IR, rain). "
    "No photographs and no personal data were used for training."
)


def export_onnx(ckpt: Path, onnx_path: Path) -> DetectorNet:
    """Write the checkpoint's network as ONNX (sigmoid heatmap, dynamic batch and size)."""
    state = torch.load(ckpt, weights_only=False)
    net = DetectorNet()
    net.load_state_dict(state["model"])
    net.eval()
    net.sigmoid_out = True
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, 288, 512),),
        str(onnx_path),
        input_names=["image"],
        output_names=["maps"],
        dynamic_axes={
            "image": {0: "batch", 2: "height", 3: "width"},
            "maps": {0: "batch", 2: "h", 3: "w"},
        },
        opset_version=17,
        dynamo=False,
    )
    return net


def check_parity(net: DetectorNet, onnx_path: Path, images: np.ndarray) -> float:
    """Largest |torch - onnxruntime| output over ``images``; exits on a mismatch."""
    x = ((images.astype(np.float32) - MEAN) / STD)[:, None]
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})[0]
    diff = float(np.abs(ref - got).max())
    if diff > 1e-3:
        sys.exit(f"ONNX parity failed: max |diff| {diff:.2e}")
    return diff


def card_dict(args: argparse.Namespace, digest: str, step: int) -> dict[str, object]:
    """The card, without metrics."""
    return {
        "name": "anpr-edge-detector",
        "version": args.version,
        "task": "plate-detect-corners",
        "model": "detector.onnx",
        "sha256": digest,
        "input": {
            "name": "image",
            "shape": ["batch", 1, "height", "width"],
            "layout": "NCHW",
            "dtype": "float32",
            "colour": "gray",
            "resize": "letterbox",
            "long_side": LONG_SIDE,
            "multiple": MULTIPLE,
            "pad": "right-bottom, 0 after normalisation",
            "normalisation": {"mean": MEAN, "std": STD},
        },
        "output": {
            "name": "maps",
            "shape": ["batch", 9, "height/4", "width/4"],
            "layout": "NCHW",
            "stride": STRIDE,
            "heatmap": "channel-0-sigmoid",
            "corners": "channels-1-8-xy-clockwise-from-top-left",
            "offset_unit": OFFSET_UNIT,
            "decoding": "maxpool3-peaks",
        },
        "training_data": TRAINING_DATA,
        "training": {
            "command": (
                f"python -m models.train.detector --out agent/recognition/models/ "
                f"--steps {args.steps} "
                f"--batch {args.batch} --lr {args.lr} --seed {args.seed} "
                f"--shards {args.shards} --per-shard {args.per_shard} "
                f"--road-shards {args.road_shards} --road-per-shard {args.road_per_shard}"
            ),
            "seed": args.seed,
            "steps": args.steps,
            "trained_steps": step,
            "scenes": args.shards * args.per_shard,
            "road_patches": args.road_shards * args.road_per_shard,
        },
        "licence": "Apache-2.0",
    }


def export_and_card(ckpt: Path, out: Path, args: argparse.Namespace) -> Path:
    """Export, check parity, write the card, then measure it with the agent's detector."""
    onnx_path = out / "detector.onnx"
    net = export_onnx(ckpt, onnx_path)
    val = detdata.load_shards(detdata.ensure_shards(args.cache, args.seed + 1000, 1, 500, 1))
    diff = check_parity(net, onnx_path, val["images"][:32])
    step = int(torch.load(ckpt, weights_only=False)["step"])
    card = card_dict(args, sha256(onnx_path), step)
    card_path = out / "detector.card.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    # Imported here: the evaluation drives the agent's detector on the exported file.
    from simulator.evalpipeline import measure_for_card  # noqa: PLC0415

    metrics = measure_for_card(card_path)
    metrics["onnx_torch_max_abs_diff"] = float(f"{diff:.2e}")
    card["metrics"] = metrics
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    return card_path
