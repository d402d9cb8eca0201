"""Export a checkpoint to ONNX, check parity with torch, and write the model card.

The card is the contract the agent checks at load (``agent/reader.py``): input
shape, layout, colour and normalisation, output spec, alphabet, blank index and
the sha256 of the ``.onnx`` next to it. Metrics are measured on the exported file
through the agent's own reader, so they are what the agent will do.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
import torch

from models.train.data import ALPHABET, BLANK, ensure_shards, load_shards
from models.train.net import ReaderNet
from simulator.plates import RENDER_VERSION

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from agent.recognition.ctc import InputSpec

TRAINING_DATA = (
    "Synthetic only: plates rendered by simulator/plates (anpr-edge) with randomly "
    "generated texts in the Belgian, Dutch, French (SIV and FNI), German, Luxembourgish, "
    "other-EU and Brazilian syntaxes, drawn in OFL condensed fonts (OSP-DIN, Barlow "
    "Condensed, Roboto Condensed, Oswald, Archivo Narrow, PT Sans Narrow, Bebas Neue), "
    "some plates with curves squared, W/M squeezed, the French W, M and Q and the old "
    "Brazilian 1 drawn as those plate alphabets draw them "
    f"(renderer v{RENDER_VERSION}), with EU band, "
    "furniture distractors, pose, blur, noise, glare, IR grey, "
    "occlusion and JPEG. No photographs and no personal data were used for training."
)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_onnx(ckpt: Path, onnx_path: Path, height: int, width: int) -> ReaderNet:
    """Write the checkpoint's network as ONNX (softmax output, dynamic batch)."""
    state = torch.load(ckpt, weights_only=False)
    net = ReaderNet(len(ALPHABET) + 1)
    net.load_state_dict(state["model"])
    net.eval()
    net.softmax_out = True
    x = torch.zeros(1, 1, height, width)
    torch.onnx.export(
        net,
        (x,),
        str(onnx_path),
        input_names=["image"],
        output_names=["probs"],
        dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return net


def check_parity(net: ReaderNet, onnx_path: Path, images: np.ndarray, spec: InputSpec) -> float:
    """Largest |torch - onnxruntime| probability over ``images``; exits on a mismatch."""
    x = ((images.astype(np.float32) - spec.mean) / spec.std)[:, None]
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})[0]
    diff = float(np.abs(ref - got).max())
    same = bool((ref.argmax(-1) == got.argmax(-1)).mean() > 0.999)
    if diff > 1e-3 or not same:
        sys.exit(f"ONNX parity failed: max |diff| {diff:.2e}, same argmax {same}")
    return diff


def card_dict(args: argparse.Namespace, digest: str, spec: InputSpec) -> dict[str, object]:
    """The card, without metrics."""
    return {
        "name": "anpr-edge-reader",
        "version": args.version,
        "task": "plate-text-ctc",
        "model": "reader.onnx",
        "sha256": digest,
        "input": {
            "name": "image",
            "shape": ["batch", 1, spec.height, spec.width],
            "layout": "NCHW",
            "dtype": "float32",
            "colour": "gray",
            "resize": "stretch",
            "normalisation": {"mean": spec.mean, "std": spec.std},
            "two_line": "split",
        },
        "output": {
            "name": "probs",
            "shape": ["batch", spec.width // 4, len(ALPHABET) + 1],
            "layout": "NTC",
            "activation": "softmax",
            "decoding": "ctc-greedy",
        },
        "alphabet": ALPHABET,
        "blank_index": BLANK,
        "training_data": TRAINING_DATA,
        "training": {
            "command": (
                f"python -m models.train.reader --out agent/recognition/models/ "
                f"--steps {args.steps} "
                f"--ramp {args.ramp} --batch {args.batch} --lr {args.lr} --seed {args.seed} "
                f"--shards {args.shards} --per-shard {args.per_shard}"
                + (f" --init {args.init}" if args.init is not None else "")
            ),
            "init": None if args.init is None else str(args.init),
            "seed": args.seed,
            "steps": args.steps,
            "samples": args.shards * args.per_shard,
            "renderer_version": RENDER_VERSION,
        },
        "licence": "Apache-2.0",
    }


def export_and_card(ckpt: Path, out: Path, args: argparse.Namespace, spec: InputSpec) -> Path:
    """Export, check parity, write the card, measure it with the agent's reader."""
    onnx_path = out / "reader.onnx"
    net = export_onnx(ckpt, onnx_path, spec.height, spec.width)
    val = load_shards(ensure_shards(args.cache, args.seed + 1000, 1, args.val_size, 1))
    diff = check_parity(net, onnx_path, val["images"][:256], spec)
    card = card_dict(args, sha256(onnx_path), spec)
    card_path = out / "reader.card.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    # Imported here: the evaluation drives the agent's reader on the exported file.
    from simulator.evalreader import measure_for_card  # noqa: PLC0415

    metrics = measure_for_card(card_path)
    metrics["onnx_torch_max_abs_diff"] = float(f"{diff:.2e}")
    card["metrics"] = metrics
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    # The recognizer's screen must be this reader's own twin (tests check the sha256).
    from models.train.quantize import measure, quantize_card  # noqa: PLC0415

    measure(quantize_card(card_path))
    return card_path
