"""The plate detector: a thin onnxruntime session around a card-conforming heatmap model.

The card (JSON next to the ``.onnx``) is the contract, checked at load like the
reader's: task, input spec (grey, letterbox to a long side, multiple, mean/std),
output spec (stride, offset unit) and the sha256 of the model file; any breach
raises ``DetectorError`` (the CLI exits 2). Pre- and post-processing are pure
functions here (``letterbox``, ``decode``, ``nms``) that the training code
reuses, so the model is evaluated exactly as the agent runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from agent.core.events import PlateBox
from agent.core.geometry import iou as box_iou
from agent.recognition.cards import check_rules, need, open_session, read_card, verified_model

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DetectorCard",
    "DetectorError",
    "Letterbox",
    "PlateDetector",
    "decode",
    "letterbox",
    "load_detector_card",
    "nms",
]

TASK = "plate-detect-corners"
MAX_PEAKS = 32
MAPS = 9  # output channels: the heatmap, then x, y of the four corners
NMS_IOU = 0.3
# Corner refinement: a window this many box widths wide around a box, scaled so the
# plate is about this many pixels wide in the model input (the frame-level pass sees
# a 60 px plate of a 1280 px frame at 24 px, where a corner off by one cell cuts a
# character off).
REFINE_ZOOM = 2.0
REFINE_PLATE_PX = 80.0

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]


class DetectorError(Exception):
    """The detector's card or model is missing, tampered with, or breaks the contract."""


@dataclass(frozen=True, slots=True)
class DetectorCard:
    """The parts of a detector card the agent relies on."""

    name: str
    version: str
    model_path: Path
    sha256: str
    input_name: str
    long_side: int  # the frame is scaled so its longer side is this many pixels
    multiple: int  # then padded right/bottom to a multiple of this
    mean: float
    std: float
    stride: int  # output cells per input pixel
    offset_unit: float  # corner offsets are in units of this many input pixels


@dataclass(frozen=True, slots=True)
class Letterbox:
    """A frame prepared for the model and the scale back to frame pixels."""

    tensor: Floats = field(repr=False)  # 1 x 1 x H x W
    scale: float  # model pixels per frame pixel


def _need(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:  # noqa: ANN401
    return need(obj, key, kind, where, DetectorError)


_RULES = (
    ("input", "layout", "NCHW"),
    ("input", "dtype", "float32"),
    ("input", "colour", "gray"),
    ("input", "resize", "letterbox"),
    ("output", "layout", "NCHW"),
    ("output", "heatmap", "channel-0-sigmoid"),
    ("output", "corners", "channels-1-8-xy-clockwise-from-top-left"),
    ("output", "decoding", "maxpool3-peaks"),
)


def _read_json(path: Path) -> dict[str, Any]:
    return read_card(path, "detector", DetectorError)


def _verified_model(path: Path, raw: dict[str, Any]) -> tuple[Path, str]:
    """The model file next to the card, after checking its sha256."""
    return verified_model(path, raw, "detector", DetectorError)


def load_detector_card(path: Path) -> DetectorCard:
    """Read and check a detector card and the sha256 of the model beside it."""
    where = str(path)
    raw = _read_json(path)
    if raw.get("task") != TASK:
        raise DetectorError(f"{where}: task must be {TASK!r}, got {raw.get('task')!r}")
    check_rules(raw, _RULES, where, DetectorError)
    inp, out = raw["input"], raw["output"]
    shape = _need(inp, "shape", list, where)
    if len(shape) != 4 or shape[1] != 1:
        raise DetectorError(f"{where}: input shape must be [batch, 1, height, width], got {shape}")
    norm = _need(inp, "normalisation", dict, where)
    long_side, multiple = _need(inp, "long_side", int, where), _need(inp, "multiple", int, where)
    stride = _need(out, "stride", int, where)
    std = float(_need(norm, "std", float, where))
    if long_side < 32 or multiple < 1 or long_side % multiple or stride < 1 or std <= 0:
        raise DetectorError(f"{where}: long_side, multiple, stride or std out of range")
    model, digest = _verified_model(path, raw)
    return DetectorCard(
        name=_need(raw, "name", str, where),
        version=_need(raw, "version", str, where),
        model_path=model,
        sha256=digest,
        input_name=_need(inp, "name", str, where),
        long_side=long_side,
        multiple=multiple,
        mean=float(_need(norm, "mean", float, where)),
        std=std,
        stride=stride,
        offset_unit=float(_need(out, "offset_unit", float, where)),
    )


def letterbox(image: Image, long_side: int, multiple: int, mean: float, std: float) -> Letterbox:
    """BGR or grey frame -> 1x1xHxW normalised grey, longer side ``long_side``.

    Padded right and bottom (so frame coordinates are just divided by the scale)
    with zero after normalisation, a flat mid-grey the model reads as no plate.
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    scale = long_side / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(gray, (nw, nh), interpolation=interp)
    ph, pw = -(-nh // multiple) * multiple, -(-nw // multiple) * multiple
    out = np.zeros((1, 1, ph, pw), np.float32)
    out[0, 0, :nh, :nw] = (small.astype(np.float32) - mean) / std
    return Letterbox(out, scale)


def nms(boxes: list[PlateBox], iou: float = NMS_IOU) -> list[PlateBox]:
    """Highest score first; drop a box overlapping a kept one by more than ``iou``."""
    kept: list[PlateBox] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(box_iou(box.xywh, k.xywh) <= iou for k in kept):
            kept.append(box)
    return kept


def decode(
    maps: Floats, threshold: float, *, stride: int, offset_unit: float, scale: float = 1.0
) -> list[PlateBox]:
    """9 x h x w model output -> plate boxes in frame pixels, after peak picking and NMS.

    A peak is a cell that is the maximum of its 3x3 neighbourhood (CenterNet's
    max-pool NMS) with a heatmap score of at least ``threshold``.
    """
    heat = maps[0]
    pooled = cv2.dilate(heat, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero((heat >= pooled) & (heat >= threshold))
    order = np.argsort(-heat[ys, xs])[:MAX_PEAKS]
    boxes = []
    for y, x in zip(ys[order].tolist(), xs[order].tolist(), strict=True):
        cx, cy = (x + 0.5) * stride, (y + 0.5) * stride
        off = [float(v) * offset_unit for v in maps[1:9, y, x]]
        pts = [((cx + off[2 * k]) / scale, (cy + off[2 * k + 1]) / scale) for k in range(4)]
        corners = (pts[0], pts[1], pts[2], pts[3])
        boxes.append(PlateBox(corners, float(heat[y, x])))
    return nms(boxes)


class PlateDetector:
    """Finds plates in full frames with a card-conforming ONNX heatmap model."""

    def __init__(
        self,
        card_path: Path,
        *,
        threads: int = 1,
        threshold: float = 0.5,
        coarse_retry: bool = True,
    ) -> None:
        self.card = load_detector_card(card_path)
        self.threshold = threshold
        self.coarse_retry = coarse_retry
        self._session = open_session(self.card.model_path, threads, DetectorError)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != self.card.input_name:
            raise DetectorError(
                f"{self.card.model_path}: graph input is not {self.card.input_name!r} "
                "as the card says"
            )
        if len(inputs[0].shape) != 4 or inputs[0].shape[1] != 1:
            raise DetectorError(f"{self.card.model_path}: graph input is not N x 1 x H x W")
        outputs = self._session.get_outputs()
        if len(outputs) != 1 or len(outputs[0].shape) != 4 or outputs[0].shape[1] != MAPS:
            raise DetectorError(
                f"{self.card.model_path}: graph output is not N x {MAPS} x H x W "
                "(heatmap and 8 corner offsets, as the card says)"
            )
        # Warm-up at the size a 16:9 frame gets, so the first real frame is not slow.
        self.detect(np.zeros((720, 1280), np.uint8))

    def detect(
        self, image: Image, long_side: int | None = None, threshold: float | None = None
    ) -> list[PlateBox]:
        """Plate boxes in ``image`` (BGR or grey) pixels, best score first.

        The frame is scaled to the card's ``long_side`` unless ``long_side`` says
        otherwise (rounded down to the card's multiple), and boxes scoring at least
        ``threshold`` (default: the detector's own) are kept. When nothing is found,
        the frame is tried once more at half that size: a plate filling a third of
        a close-up photo is wider than anything the model saw in training, and at
        half size it is not.
        """
        m = self.card.multiple
        side = self.card.long_side if long_side is None else max(m, long_side - long_side % m)
        bar = self.threshold if threshold is None else threshold
        boxes = self._detect_at(image, side, bar)
        if not boxes and self.coarse_retry:
            half = max(m, side // 2)
            boxes = self._detect_at(image, half - half % m, bar)
        return boxes

    def refine(self, image: Image, box: PlateBox) -> PlateBox:
        """``box`` with its corners found again in a zoomed window around it.

        The frame-level pass runs at 512 px, where a small plate spans a few cells of
        the stride-4 output and its corners come out a few frame pixels short or
        long: enough to cut the last character off the crop. Here a window of
        ``REFINE_ZOOM`` box widths is scaled so the plate is about
        ``REFINE_PLATE_PX`` wide and run through the same model; the plate found
        nearest the window's centre gives the corners. The box comes back unchanged
        when the window yields no plate near its centre. The score stays the
        frame-level one.
        """
        q = np.array(box.corners, np.float32)
        (x0, y0), (x1, y1) = q.min(0), q.max(0)
        w, h = max(4.0, float(x1 - x0)), max(2.0, float(y1 - y0))
        cx, cy = float(x0 + x1) / 2, float(y0 + y1) / 2
        half_w = REFINE_ZOOM * w / 2
        half_h = max(REFINE_ZOOM * h, REFINE_ZOOM * w / 2) / 2
        ax, ay = max(0, int(cx - half_w)), max(0, int(cy - half_h))
        bx = min(image.shape[1], int(cx + half_w) + 1)
        by = min(image.shape[0], int(cy + half_h) + 1)
        if bx - ax < 8 or by - ay < 8:
            return box
        m = self.card.multiple
        side = round(max(bx - ax, by - ay) * REFINE_PLATE_PX / w / m) * m
        side = int(np.clip(side, 2 * m, self.card.long_side))
        found = self._detect_at(image[ay:by, ax:bx], side, self.threshold)
        if not found:
            return box
        offsets = [np.array(b.corners).mean(0) - (cx - ax, cy - ay) for b in found]
        k = int(np.argmin([np.hypot(*d) for d in offsets]))
        if np.hypot(*offsets[k]) > w / 2:
            return box  # another plate, or furniture: keep the frame-level corners
        pts = [(x + ax, y + ay) for x, y in found[k].corners]
        return PlateBox((pts[0], pts[1], pts[2], pts[3]), box.score)

    def _detect_at(self, image: Image, long_side: int, threshold: float) -> list[PlateBox]:
        card = self.card
        lb = letterbox(image, long_side, card.multiple, card.mean, card.std)
        maps = np.asarray(self._session.run(None, {card.input_name: lb.tensor})[0], np.float32)
        return decode(
            maps[0],
            threshold,
            stride=card.stride,
            offset_unit=card.offset_unit,
            scale=lb.scale,
        )
