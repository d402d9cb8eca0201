"""The overview image of a pass: the vehicle (or the whole frame) at its best frame, as a JPEG.

There is no vehicle detector: ``vehicle`` is the plate's box scaled up to the
size a vehicle around such a plate has (``VEHICLE_WIDTH`` plate widths wide,
``VEHICLE_HEIGHT`` high, the plate near its bottom), clipped to the frame.
It frames a car seen front or back well, cuts a truck's top off and shows a
motorcycle's neighbours. ``frame`` is the whole frame. The JPEG's long side
and quality are configured, and its size never exceeds the hard byte cap:
over it, the quality and then the size go down until it fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["VEHICLE_HEIGHT", "VEHICLE_WIDTH", "OverviewMode", "OverviewSettings", "cut", "encode"]

OverviewMode = Literal["off", "vehicle", "frame"]
VEHICLE_WIDTH = 4.0  # a 0.52 m plate on a 1.8-2 m wide car, with a margin
VEHICLE_HEIGHT = 3.0  # bonnet/boot and windscreen above the plate
_PLATE_AT = 0.75  # the plate's centre sits this far down the vehicle box
_QUALITY_STEPS = (0.75, 0.55, 0.4)  # of the configured quality, tried before shrinking
_SHRINK = 0.75
_MIN_SIDE = 32


@dataclass(frozen=True, slots=True)
class OverviewSettings:
    """What overview image a pass carries (``recognition.overview*``)."""

    mode: OverviewMode = "off"
    long_side: int = 640
    quality: int = 80
    max_bytes: int = 100_000


def cut(
    image: npt.NDArray[np.uint8],
    plate_xywh: tuple[float, float, float, float],
    mode: OverviewMode,
) -> npt.NDArray[np.uint8] | None:
    """The overview region of ``image`` for a plate box (a copy: the frame may be reused)."""
    if mode == "off":
        return None
    if mode == "frame":
        return image.copy()
    height, width = image.shape[:2]
    x, y, w, _ = plate_xywh
    vw, vh = VEHICLE_WIDTH * w, VEHICLE_HEIGHT * w
    cx, cy = x + w / 2, y + plate_xywh[3] / 2
    x0, y0 = max(0, int(cx - vw / 2)), max(0, int(cy - _PLATE_AT * vh))
    x1, y1 = min(width, int(cx + vw / 2)), min(height, int(cy + (1 - _PLATE_AT) * vh))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return image[y0:y1, x0:x1].copy()


def _jpeg(image: npt.NDArray[np.uint8], quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return bytes(data.tobytes()) if ok else b""


def _scaled(image: npt.NDArray[np.uint8], long_side: int) -> npt.NDArray[np.uint8]:
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def encode(image: npt.NDArray[np.uint8] | None, settings: OverviewSettings) -> bytes:
    """The overview JPEG: at most ``long_side`` px, at most ``max_bytes`` (b"" if none fits)."""
    if image is None or settings.mode == "off":
        return b""
    side = min(settings.long_side, max(image.shape[:2]))
    while side >= _MIN_SIDE:
        scaled = _scaled(image, side)
        for factor in (1.0, *_QUALITY_STEPS):
            data = _jpeg(scaled, max(5, round(settings.quality * factor)))
            if data and len(data) <= settings.max_bytes:
                return data
        side = int(side * _SHRINK)
    return b""
