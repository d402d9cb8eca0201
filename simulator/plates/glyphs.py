"""Glyph masks from installed plate-like fonts, cached per font and character.

Fonts come from packages ``make`` installs: the OFL ``fontpkg-*`` wheels (condensed
grotesques standing in for DIN 1451 / FE-Schrift) and, when present, Debian's
``fonts-opendin`` and DejaVu. Nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

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


@functools.lru_cache(maxsize=4096)
def glyph(font_path: str, char: str, weight: int = 0) -> Glyph:
    """Ink mask of ``char`` in the font at ``font_path``; ``weight`` > 0 thickens strokes."""
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
