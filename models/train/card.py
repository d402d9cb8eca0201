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
import warnings
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

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


def export_onnx(
    ckpt: Path, onnx_path: Path, height: int, width: int, net: nn.Module | None = None
) -> nn.Module:
    """Write the checkpoint's network as ONNX (softmax output, dynamic batch).

    ``net`` is the architecture to load the weights into (``ReaderNet`` by default).
    """
    state = torch.load(ckpt, weights_only=False, map_location="cpu")
    net = ReaderNet(len(ALPHABET) + 1) if net is None else net
    net.load_state_dict(state["model"])
    net.eval()
    # torch types Module.__setattr__ for tensors and modules only; a plain flag is fine at run time.
    net.softmax_out = True  # type: ignore[assignment]
    x = torch.zeros(1, 1, height, width)
    # The TorchScript exporter is chosen on purpose (the shipped readers' graphs);
    # torch warns that it and some of its internals are deprecated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
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


def check_parity(net: nn.Module, onnx_path: Path, images: np.ndarray, spec: InputSpec) -> float:
    """Largest |torch - onnxruntime| probability over ``images``; exits on a mismatch."""
    x = ((images.astype(np.float32) - spec.mean) / spec.std)[:, None]
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = np.asarray(sess.run(None, {"image": x})[0])
    diff = float(np.abs(ref - got).max())
    same = bool((ref.argmax(-1) == got.argmax(-1)).mean() > 0.999)
    if diff > 1e-3 or not same:
        sys.exit(f"ONNX parity failed: max |diff| {diff:.2e}, same argmax {same}")
    return diff


def card_dict(
    args: argparse.Namespace,
    digest: str,
    spec: InputSpec,
    training: dict[str, object] | None = None,
) -> dict[str, object]:
    """The card, without metrics (``training`` replaces the block built from ``args``)."""
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
        "training": training
        or {
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


def export_and_card(  # noqa: PLR0913  (the run trainer passes its own net, data and block)
    ckpt: Path,
    out: Path,
    args: argparse.Namespace,
    spec: InputSpec,
    *,
    net: nn.Module | None = None,
    parity_images: np.ndarray | None = None,
    training: dict[str, object] | None = None,
    metrics: bool = True,
    calibration: int | None = None,
) -> Path:
    """Export, check parity, write the card and the int8 screen, measure both.

    By default the network is ``ReaderNet``, parity is checked on the cached
    validation shard and the card's training block comes from ``args``; the run
    trainer (``models.train.run``) passes its own. ``metrics=False`` skips the
    measurements (and their synthetic renders); ``calibration`` is the number of
    crops the screen is calibrated on (``quantize.CALIBRATION_CROPS`` by default).
    """
    # Imported here: quantizing and measuring drive onnxruntime and the agent's reader.
    from models.train.quantize import CALIBRATION_CROPS, measure, quantize_card  # noqa: PLC0415
    from simulator.evalreader import measure_for_card  # noqa: PLC0415

    onnx_path = out / "reader.onnx"
    net = export_onnx(ckpt, onnx_path, spec.height, spec.width, net)
    if parity_images is None:
        val = load_shards(ensure_shards(args.cache, args.seed + 1000, 1, args.val_size, 1))
        parity_images = val["images"][:256]
    diff = check_parity(net, onnx_path, parity_images, spec)
    card = card_dict(args, sha256(onnx_path), spec, training)
    card_path = out / "reader.card.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    if metrics:
        figures = measure_for_card(card_path)
        figures["onnx_torch_max_abs_diff"] = float(f"{diff:.2e}")
        card["metrics"] = figures
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(json.dumps(figures, indent=2))
    # The recognizer's screen must be this reader's own twin (tests check the sha256).
    screen = quantize_card(card_path, crops=calibration or CALIBRATION_CROPS)
    if metrics:
        measure(screen)
    return card_path
