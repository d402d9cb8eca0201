"""A camera's plate image, made ours: size checked before decoding, re-encoded, capped.

The bytes a camera sends are never journaled as they are: a JPEG may carry
EXIF (GPS, serial numbers), a thumbnail of the whole scene, or be a
decompression bomb. Only JPEG and PNG are taken; their header is read for the
size before anything is decoded; the pixels are re-encoded as a baseline JPEG
no larger than ``max_side`` on its long side and ``max_bytes`` in all.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from agent.intake._payload import BadEventError

__all__ = ["MAX_PIXELS", "image_size", "reencode"]

MAX_PIXELS = 40_000_000  # a 40 MP frame: more than any ANPR camera sends
_QUALITIES = (85, 70, 55, 40)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG or PNG header; :class:`BadEventError` for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                break
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in _SOF:
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
        raise BadEventError(422, "image: JPEG without a readable frame header")
    raise BadEventError(422, "image: only JPEG and PNG are taken")


def reencode(data: bytes, max_side: int, max_bytes: int) -> bytes:
    """The image as a fresh JPEG within both caps; :class:`BadEventError` (422) if unusable."""
    width, height = image_size(data)
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise BadEventError(422, f"image: {width}x{height} pixels is not a plate image")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise BadEventError(422, "image: cannot be decoded")
    side = max(pixels.shape[:2])
    while True:
        if side > max_side:
            scale = max_side / side
            pixels = cv2.resize(
                pixels,
                (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )
        for quality in _QUALITIES:
            ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and buf.size <= max_bytes:
                return buf.tobytes()
        if max(pixels.shape[:2]) <= 16:
            raise BadEventError(422, f"image: cannot fit in {max_bytes} bytes")
        max_side = max(16, max(pixels.shape[:2]) // 2)
        side = max(pixels.shape[:2])
