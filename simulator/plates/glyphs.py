"""Glyph masks from installed plate-like fonts, cached per font and character.

Fonts come from packages ``make`` installs: the OFL ``fontpkg-*`` wheels (condensed
grotesques standing in for DIN 1451 / FE-Schrift) and, when present, Debian's
``fonts-opendin`` and DejaVu. Nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

__all__ = ["Glyph", "available_fonts", "glyph"]

# (package, file) of the pip-installed fonts; the variable fonts render their default instance.
_PACKAGED = (
    ("fontpkg_barlow_condensed", "BarlowCondensed-Medium.ttf"),
    ("fontpkg_barlow_condensed", "BarlowCondensed-SemiBold.ttf"),
    ("fontpkg_barlow_condensed", "BarlowCondensed-Bold.ttf"),
    ("fontpkg_roboto_condensed", "RobotoCondensed[wght].ttf"),
    ("fontpkg_oswald", "Oswald[wght].ttf"),
    ("fontpkg_archivo_narrow", "ArchivoNarrow[wght].ttf"),
    ("fontpkg_pt_sans_narrow", "PT_Sans-Narrow-Web-Bold.ttf"),
    ("fontpkg_bebas_neue", "BebasNeue-Regular.ttf"),
)
_SYSTEM = (
    Path("/usr/share/fonts/truetype/opendin/OSP-DIN.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"),
)
_RENDER_PX = 96  # render size; masks are resized to the plate's character box

Glyph = npt.NDArray[np.float32]  # ink coverage 0..1, cropped to the ink box


@functools.cache
def available_fonts() -> tuple[str, ...]:
    """Paths of the plate-like fonts found on this machine (DIN first)."""
    found = [str(p) for p in _SYSTEM if p.is_file()]
    for package, name in _PACKAGED:
        try:
            path = importlib.resources.files(package) / "files" / name
        except ModuleNotFoundError:
            continue
        if path.is_file():
            found.append(str(path))
    if not found:
        raise RuntimeError(
            "no plate fonts found: install the simulator's fonts with `make deps` "
            "(fontpkg-* wheels, Debian fonts-opendin)"
        )
    return tuple(found)


@functools.cache
def _font(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, _RENDER_PX)


def _squarify(mask: Glyph, boxy: float) -> Glyph:
    """Push the glyph's curves towards its box (``boxy`` 0: unchanged, 1: circles -> squares).

    Plate alphabets (the Brazilian "Mandatory", the French and German plate fonts)
    draw O, 0, D, 6, 8 and S as rounded rectangles; round grotesques alone teach a
    reader that a boxy O is a D. Each output pixel samples the input along its ray
    from the centre, scaled by (L-inf / L2 norm) ** boxy.
    """
    h, w = mask.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, rx, ry = (w - 1) / 2, (h - 1) / 2, max(1.0, w / 2), max(1.0, h / 2)
    u, v = (xs - cx) / rx, (ys - cy) / ry
    l2 = np.sqrt(u * u + v * v) + 1e-6
    f = (np.maximum(np.abs(u), np.abs(v)) / l2) ** boxy
    out = cv2.remap(mask, cx + u * f * rx, cy + v * f * ry, cv2.INTER_LINEAR)
    return np.ascontiguousarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=8192)
def glyph(font_path: str, char: str, weight: int = 0, boxy: float = 0.0) -> Glyph:
    """Ink mask of ``char`` in the font at ``font_path``.

    ``weight`` > 0 thickens strokes; ``boxy`` in 0..1 squares the curves (see
    ``_squarify``; callers pass a few fixed values so the cache stays small).
    """
    if boxy > 0:  # squared from the cached round glyph, not rendered again
        return _squarify(glyph(font_path, char, weight), boxy)
    font = _font(font_path)
    size = _RENDER_PX * 2
    img = Image.new("L", (size, size), 0)
    ImageDraw.Draw(img).text(
        (size // 4, size // 8), char, fill=255, font=font, stroke_width=weight, stroke_fill=255
    )
    arr = np.asarray(img, dtype=np.float32) / 255.0
    ys, xs = np.nonzero(arr > 0.1)
    if ys.size == 0:
        return np.zeros((1, 1), np.float32)
    return np.ascontiguousarray(arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
