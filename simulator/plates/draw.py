"""Draw a flat, frontal plate: background, EU band, characters, furniture.

Works in plate pixels at a random scale (about 1 px per mm). Returns the image and
the ink box of every ground-truth character; furniture (band letters, département,
city line, seals, coat of arms, screws, frame lettering) is drawn on purpose as
distractors and never appears in the ground truth.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

import simulator.plates.furniture as fur
from agent.recognition import plateformats
from simulator.plates.glyphs import available_fonts, glyph

if TYPE_CHECKING:
    from simulator.plates.formats import PlateSpec, Sep

__all__ = ["FAMILIES", "FlatPlate", "draw_plate"]

Image = npt.NDArray[np.uint8]
Colour = tuple[int, int, int]  # BGR

_WHITE: Colour = (238, 240, 242)
_YELLOW: Colour = (0, 184, 246)
_BLACK: Colour = (22, 22, 22)
_RUBY: Colour = (36, 18, 150)  # RAL 3003 on the Belgian plate
_EU_BLUE: Colour = (153, 51, 0)
_STAR: Colour = (0, 204, 255)


@dataclass(frozen=True, slots=True)
class FlatPlate:
    """A frontal plate image and the boxes of its characters."""

    image: Image  # BGR, includes the frame when there is one
    corners: tuple[tuple[float, float], ...]  # the plate's own corners inside image
    char_boxes: tuple[tuple[float, float, float, float], ...]  # x0, y0, x1, y1 per char


def _size(a: npt.NDArray[Any]) -> tuple[int, int]:
    """Height and width of an image or mask."""
    return int(a.shape[0]), int(a.shape[1])


def _jitter(rng: np.random.Generator, c: Colour, amount: int) -> Colour:
    b, g, r = (int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)
    return (b, g, r)


_Palette = tuple[float, Colour, int, Colour, int]  # probability, bg, its jitter, ink, its jitter
_PLAIN: tuple[_Palette, ...] = ((1.0, _WHITE, 12, _BLACK, 15),)
_YELLOW_PLATE: _Palette = (1.0, _YELLOW, 18, _BLACK, 15)
_PALETTES: dict[str, tuple[_Palette, ...]] = {
    "be": ((1.0, _WHITE, 12, _RUBY, 20),),
    "nl": (_YELLOW_PLATE,),
    "lu": (_YELLOW_PLATE,),
    "fr_old": (
        (0.4, _YELLOW, 18, _BLACK, 15),
        (0.4, _WHITE, 12, _BLACK, 15),
        (0.2, _BLACK, 10, (200, 200, 200), 25),
    ),
    "br_old": ((1.0, (185, 185, 185), 25, (45, 45, 45), 20),),
    "eu": ((0.15, _YELLOW, 18, _BLACK, 15), (0.85, _WHITE, 12, _BLACK, 15)),
}


def _look(spec: PlateSpec) -> plateformats.Format | None:
    """The table series a spec follows (None for the hand-made French and Brazilian ones)."""
    if not spec.series or spec.country in ("F", "BR"):
        return None
    return plateformats.country(spec.country).format(spec.series)


def _colours(
    rng: np.random.Generator, style: str, look: plateformats.Format | None = None
) -> tuple[Colour, Colour]:
    """Background and ink colour of a series or style (a roll only where there is a choice)."""
    if look is not None:
        chosen = look.colours[-1]
        if len(look.colours) > 1:
            roll = rng.random()
            for option in look.colours:
                roll -= option[0]
                if roll < 0:
                    chosen = option
                    break
        return fur.named(rng, chosen[1]), fur.named(rng, chosen[2])
    options = _PALETTES.get(style, _PLAIN)
    chosen_p = options[-1]
    if len(options) > 1:
        roll = rng.random()
        for option_p in options:
            roll -= option_p[0]
            if roll < 0:
                chosen_p = option_p
                break
    _, bg, bg_jitter, ink, ink_jitter = chosen_p
    return _jitter(rng, bg, bg_jitter), _jitter(rng, ink, ink_jitter)


@dataclass(slots=True)
class _Canvas:
    """The plate being drawn and the choices made for it."""

    img: Image
    rng: np.random.Generator
    font: str  # the characters' font
    small_font: str  # furniture lettering
    ink: Colour
    weight: int  # extra stroke width for the characters
    boxy: float = 0.0  # how square the curves are (glyphs._squarify)
    cap: float = 0.0  # > 0: no glyph wider than cap x the median width (plate fonts' W, M)
    bar_one: bool = False  # draw 1 as a plain bar (the old Brazilian font)
    vv_w: bool = False  # draw W as two joined Vs, the French font's (see _vv)
    vv_foot: float = 0.27  # where the W's left V bottoms out, as a fraction of its width
    vv_apex: float = 0.0  # how far below the cap height its middle apex stops
    french_mq: bool = False  # the French font's M (short middle V) and Q (an O with a stub tail)
    m_depth: float = 0.7  # how far down the cap height that M's middle V reaches
    italic: float = 0.0  # > 0: glyphs sheared right by this much of their height (see _italic)
    wide: float = 1.2  # the widest horizontal stretch of the glyphs a layout draws
    narrow_zero: bool = False  # FE-Schrift: the 0 is narrower than the O
    slashed_zero: bool = False  # Slovak plates 2004-2022: a stroke through the 0
    emblem: str = ""  # whose arms an "arms" separator draws (plateformats.Format.emblem)
    cyrillic: str = ""  # letters for the Serbian shield and the Macedonian box


def _stamp(img: Image, mask: npt.NDArray[np.float32], x: int, y: int, colour: Colour) -> None:
    """Alpha-blend ``colour`` through ``mask`` at (x, y), clipped to the image."""
    h, w = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, img.shape[1]), min(y + h, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = mask[y0 - y : y1 - y, x0 - x : x1 - x, None]
    region = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = (region * (1 - a) + np.array(colour, np.float32) * a).astype(np.uint8)


def _text(
    img: Image, text: str, font: str, origin: tuple[int, int], h: int
) -> npt.NDArray[np.float32]:
    """Draw small furniture ``text`` (height ``h``) at ``origin``; return its ink mask."""
    mask = np.zeros(img.shape[:2], np.float32)
    x, y = origin
    for ch in text:
        if ch == " ":
            x += h // 2
            continue
        if ch == "-":  # a glyph stretched to the line height would be a block
            t = max(1, h // 7)
            mask[y + h // 2 - t // 2 : y + h // 2 - t // 2 + t, x : x + h // 2] = 1.0
            x += h // 2 + max(1, h // 6)
            continue
        g = glyph(font, ch)
        w = max(1, round(g.shape[1] * h / g.shape[0]))
        region = mask[y : y + h, x : x + w]
        g = np.asarray(cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA), np.float32)
        np.maximum(region, g[: region.shape[0], : region.shape[1]], out=region)
        x += w + max(1, h // 6)
    return mask[..., None]


def _paint(img: Image, mask: npt.NDArray[np.float32], colour: Colour) -> None:
    """Blend ``colour`` into ``img`` through a full-size mask (in place)."""
    blend = img.astype(np.float32) * (1 - mask) + np.array(colour, np.float32) * mask
    img[:] = blend.astype(np.uint8)


_LIGHT: Colour = (240, 240, 240)
# A few fixed squareness levels, so glyph masks cache. Up to 0.5 only: squarer than that
# O, D and 0 all become the same rectangle (and Q loses its tail), which no plate
# alphabet does; such plates taught the reader to guess between them.
_BOXY = (0.2, 0.35, 0.5)


def _band(cv: _Canvas, code: str, bw: int, kind: str = "eu", flag: tuple[str, ...] = ()) -> None:
    """The left band: EU stars, a national flag, or the code alone, above ``code``."""
    img = cv.img
    h = img.shape[0]
    img[:, :bw] = _jitter(cv.rng, _EU_BLUE, 15)
    if kind == "eu":
        cx, cy, rad = bw / 2, h * 0.32, bw * 0.3
        for k in range(12):
            a = 2 * np.pi * k / 12
            star_xy = (round(cx + rad * np.cos(a)), round(cy + rad * np.sin(a)))
            cv2.circle(img, star_xy, max(1, bw // 18), _STAR, -1)
    elif kind == "flag":
        fur.flag_band(img, cv.rng, bw, flag)
    th = round(h * 0.28)
    tw = sum(
        round(glyph(cv.small_font, c).shape[1] * th / glyph(cv.small_font, c).shape[0])
        for c in code
    )
    if tw + th // 6 * (len(code) - 1) > 0.85 * bw:  # three-letter codes (EST, SLO, NMK)
        shrink = 0.85 * bw / (tw + th // 6 * (len(code) - 1))
        th = max(4, int(th * shrink))
        tw = sum(
            round(glyph(cv.small_font, c).shape[1] * th / glyph(cv.small_font, c).shape[0])
            for c in code
        )
    x = max(1, (bw - tw - th // 6 * (len(code) - 1)) // 2)
    _paint(img, _text(img, code, cv.small_font, (x, round(h * 0.62)), th), _LIGHT)


def _sep_width(sep: Sep, ch: int) -> int:
    return {
        "-": round(0.42 * ch),
        "dot": round(0.3 * ch),
        ".": round(0.3 * ch),
        " ": round(0.32 * ch),
        "": 0,
        "seal": round(0.6 * ch),
        "arms": round(0.55 * ch),
        "stickers": round(0.55 * ch),
        "sticker": round(0.65 * ch),
        "holo": round(0.55 * ch),
        "box": round(0.75 * ch),
    }[sep]


def _draw_sep(cv: _Canvas, sep: Sep, x: int, top: int, ch: int) -> None:
    img, w = cv.img, _sep_width(sep, ch)
    if sep == "-":
        t = max(1, round(0.09 * ch))
        cv2.rectangle(
            img,
            (x + w // 5, top + ch // 2 - t // 2),
            (x + w - w // 5, top + ch // 2 + t // 2),
            cv.ink,
            -1,
        )
    elif sep in ("dot", "."):  # the Brazilian grey series' raised dot
        t = max(1, round(0.08 * ch))
        cx, cy = x + w // 2, top + ch // 2
        cv2.rectangle(img, (cx - t, cy - t), (cx + t, cy + t), cv.ink, -1)
    elif sep == "seal":  # inspection sticker above the state seal
        r = round(0.22 * ch)
        sticker = tuple(int(v) for v in cv.rng.integers(30, 230, 3))
        cv2.circle(img, (x + w // 2, top + round(0.27 * ch)), r, sticker, -1)
        cv2.circle(img, (x + w // 2, top + round(0.27 * ch)), r, (60, 60, 60), 1)
        cv2.circle(img, (x + w // 2, top + round(0.75 * ch)), r, (150, 150, 160), -1)
        cv2.circle(img, (x + w // 2, top + round(0.75 * ch)), max(1, r // 2), (90, 60, 40), 1)
    elif sep == "arms":
        _draw_arms(cv, x, w, top, ch)
    elif sep in ("stickers", "sticker", "holo") and cv.rng.random() < 0.65:
        # rear plates carry them; front plates leave the gap empty
        draw = {"stickers": fur.stickers, "sticker": fur.square_sticker, "holo": fur.holo}[sep]
        draw(img, cv.rng, (x, w, top, ch))
    elif sep == "box":
        inner = fur.box(img, (x, w, top, ch))
        _cyrillic_lines(cv, inner, cv.ink)


def _layout_line(
    cv: _Canvas, groups: tuple[str, ...], seps: tuple[Sep, ...], ch: int, xscale: float
) -> tuple[list[int], int]:
    """Character widths and total width of one line at character height ``ch``."""
    chars = [c for g in groups for c in g]
    shapes = [glyph(cv.font, c, 0, cv.boxy).shape for c in chars]
    widths = [max(2, round(w * ch / h * xscale)) for h, w in shapes]
    if cv.narrow_zero:  # FE-Schrift draws 0 narrower than O so the two cannot be swapped
        widths = [
            max(2, round(w * 0.8)) if c == "0" else w for c, w in zip(chars, widths, strict=True)
        ]
    if cv.cap > 0:  # plate fonts fit W and M into the width of the other letters
        limit = max(2, round(float(np.median(widths)) * cv.cap))
        widths = [min(w, limit) for w in widths]
    gap = round(0.12 * ch)
    total = sum(widths) + gap * (len(widths) - 1) + sum(_sep_width(s, ch) for s in seps)
    return widths, total


Box = tuple[float, float, float, float]


def _draw_line(
    cv: _Canvas, groups: tuple[str, ...], seps: tuple[Sep, ...], box: tuple[int, int, int, int]
) -> list[Box]:
    """Fit one line of groups into box (x0, y0, x1, y1); return the char boxes."""
    x0, y0, x1, y1 = box
    ch = y1 - y0
    xscale = float(cv.rng.uniform(0.85, cv.wide))
    widths, total = _layout_line(cv, groups, seps, ch, xscale)
    for _ in range(8):  # condense first, then shrink the height (gaps and furniture too)
        if total <= x1 - x0 or ch <= 6:
            break
        if xscale > 0.6:
            xscale = max(0.6, xscale * (x1 - x0) / total)
        else:
            ch = max(6, int(ch * (x1 - x0) / total))
        widths, total = _layout_line(cv, groups, seps, ch, xscale)
    gap = round(0.12 * ch)
    x = x0 + max(0, (x1 - x0 - total) // 2)
    top = y0 + (y1 - y0 - ch) // 2
    boxes: list[Box] = []
    i = 0
    for gi, group in enumerate(groups):
        for c in group:
            mask = np.asarray(
                cv2.resize(_shape(cv, c), (widths[i], ch), interpolation=cv2.INTER_AREA), np.float32
            )
            if cv.italic > 0:
                mask = _italic(mask, cv.italic)
            _stamp(cv.img, mask, x - (mask.shape[1] - widths[i]) // 2, top, cv.ink)
            boxes.append((float(x), float(top), float(x + widths[i]), float(top + ch)))
            x += widths[i] + gap
            i += 1
        if gi < len(seps):
            _draw_sep(cv, seps[gi], x - gap // 2, top, ch)
            x += _sep_width(seps[gi], ch)
    return boxes


def _shape(cv: _Canvas, c: str) -> npt.NDArray[np.float32]:
    """The ink mask of character ``c`` in the plate's font and letterforms."""
    g = glyph(cv.font, c, cv.weight, cv.boxy)
    if c == "1" and cv.bar_one:
        return _bar(g)
    if c == "W" and cv.vv_w:
        return _vv(g, glyph(cv.font, "I", cv.weight, cv.boxy), cv.vv_foot, cv.vv_apex)
    if c == "M" and cv.french_mq:
        return _short_m(g, glyph(cv.font, "I", cv.weight, cv.boxy), cv.m_depth)
    if c == "Q" and cv.french_mq:
        return _stub_q(glyph(cv.font, "O", cv.weight, cv.boxy), g.shape)
    if c == "0" and cv.slashed_zero:
        return _slashed(g, glyph(cv.font, "I", cv.weight, cv.boxy))
    return g


def _slashed(zero: npt.NDArray[np.float32], i: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The font's 0 with a stroke from lower left to upper right inside the ring.

    Slovak plates of 2004-2022 slash their zero so it is never read as O; a
    reader that never saw one reads the stroke as a Ø-like O or an 8.
    """
    h, width = zero.shape
    stem = max(1, _stem(zero.shape, i) * 2 // 3)
    stroke = _polyline(zero.shape, [(0.25 * width, 0.78 * h), (0.75 * width, 0.22 * h)], stem)
    return np.maximum(zero, stroke)


def _italic(mask: npt.NDArray[np.float32], slant: float) -> npt.NDArray[np.float32]:
    """``mask`` sheared so its top leans right by ``slant`` x its height, widened to fit.

    Vintage French plates (white on black, riveted or painted characters) and
    custom plates are often italic; a reader that only saw upright glyphs reads a
    slanted 9 as 3 and a slanted 1 as 7.
    """
    h, w = mask.shape
    extra = round(slant * h)
    shear = np.array([[1.0, -slant, float(extra)], [0.0, 1.0, 0.0]], np.float32)
    return np.asarray(
        cv2.warpAffine(mask, shear, (w + extra, h), flags=cv2.INTER_LINEAR), np.float32
    )


def _bar(one: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A plain vertical bar in the box of a ``1`` glyph, as thick as its stem.

    The old Brazilian plate font prints 1 and I alike; only the position after the
    separator tells them apart, so the reader has to learn that, not a flag.
    """
    h, w = one.shape
    stem = max(1, min(w, int(np.count_nonzero(one[h // 2] > 0.5))))
    out = np.zeros_like(one)
    x = (w - stem) // 2 + (w - stem) // 4  # the stem of a flagged 1 sits right of centre
    out[:, x : x + stem] = 1.0
    return out


def _stem(shape: tuple[int, ...], i: npt.NDArray[np.float32]) -> int:
    """The stroke width of the font's ``i`` scaled to a glyph box of ``shape``."""
    h, width = shape[:2]
    ih, iw = _size(i)
    return max(1, min(width // 4, round(iw * h / ih)))


def _polyline(
    shape: tuple[int, ...], points: list[tuple[float, float]], stem: int
) -> npt.NDArray[np.float32]:
    h, width = shape[:2]
    out = np.zeros((h, width), np.uint8)
    pts = np.round(np.array(points) * 16).astype(np.int32)
    cv2.polylines(
        out, [pts], isClosed=False, color=255, thickness=stem, lineType=cv2.LINE_AA, shift=4
    )
    return out.astype(np.float32) / 255.0


def _short_m(
    m: npt.NDArray[np.float32], i: npt.NDArray[np.float32], depth: float
) -> npt.NDArray[np.float32]:
    """An M with upright sides whose middle V stops ``depth`` (0..1) down the cap height.

    The French plate font's M does not reach the baseline; blurred, its short V reads
    as the bar of an H to a reader that only knows text fonts' M.
    """
    h, width = m.shape
    stem = _stem(m.shape, i)
    half = stem / 2
    pts = [(half, h - half), (half, half), (width / 2, depth * h), (width - half, half)]
    return _polyline(m.shape, [*pts, (width - half, h - half)], stem)


def _stub_q(o: npt.NDArray[np.float32], shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """The font's O, in the Q's box, with the French plate font's short tail.

    That tail is a stub across the bottom right of the ring, barely past it: at plate
    resolution the Q is an O with a tick, which the French syntax alone (no O) cannot
    tell from a D.
    """
    h, width = shape[:2]
    ring = cv2.resize(o, (width, h), interpolation=cv2.INTER_AREA)
    stem = max(1, round(width * float(np.count_nonzero(o[o.shape[0] // 2] > 0.5)) / o.shape[1] / 2))
    tail = _polyline(shape, [(0.62 * width, 0.74 * h), (0.9 * width, h - stem / 2)], stem)
    return np.maximum(ring, tail)


def _vv(
    w: npt.NDArray[np.float32], i: npt.NDArray[np.float32], foot: float = 0.27, apex: float = 0.0
) -> npt.NDArray[np.float32]:
    """A W drawn as two joined Vs in the box of the font's ``w``, with the stem of ``i``.

    The French plate font's W is narrow, with nearly upright outer strokes and a
    middle apex anywhere from the cap height down to about half of it: the
    font's M upside down. A reader that knows only text fonts' W (slanted sides)
    and the French M (upright sides, a V from the top) reads it as M, N or H.
    ``foot`` is where the left V bottoms out (near 0.1: upright sides, near
    0.27: a text font's slant) and ``apex`` how far below the cap height the
    middle apex stops, both as fractions of the glyph box.
    """
    h, width = w.shape
    stem = _stem(w.shape, i)
    half = stem / 2
    low = max(foot * width, stem)  # the feet stay inside the box with the stroke
    xs = [half, low, width / 2, width - low, width - half]
    ys = [half, h - half, half + apex * h, h - half, half]
    return _polyline(w.shape, list(zip(xs, ys, strict=True)), stem)


def _screws(img: Image, rng: np.random.Generator) -> None:
    h, w = _size(img)
    r = max(2, round(h * rng.uniform(0.04, 0.07)))
    y = round(h * float(rng.choice([0.5, 0.12, 0.88])))
    for fx in (rng.uniform(0.15, 0.3), rng.uniform(0.7, 0.85))[: int(rng.integers(1, 3))]:
        c = (round(w * fx), y)
        cv2.circle(img, c, r, _jitter(rng, (150, 150, 155), 40), -1)
        cv2.line(img, (c[0] - r + 1, c[1]), (c[0] + r - 1, c[1]), (70, 70, 70), 1)


def _dirt(img: Image, rng: np.random.Generator, level: float) -> Image:
    h, w = _size(img)
    noise = rng.random((max(2, h // 16), max(2, w // 16))).astype(np.float32)
    blot = np.asarray(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
    alpha: npt.NDArray[np.float32] = (
        np.clip((blot - 0.55) * 2.0, 0, 1) * level * rng.uniform(0.2, 0.6)
    )
    mud = np.array(_jitter(rng, (40, 70, 95), 25), np.float32)
    out = img.astype(np.float32) * (1 - alpha[..., None]) + mud * alpha[..., None]
    return out.astype(np.uint8)


def _draw_arms(cv: _Canvas, x: int, w: int, top: int, ch: int) -> None:
    """A coat of arms between two groups: the series' emblem, or a generic shield."""
    pad = max(1, w // 8)
    if cv.emblem == "rs":  # the Serbian shield with the city's Cyrillic letters below
        fur.arms(cv.img, cv.rng, (x + pad, top, x + w - pad, top + round(0.62 * ch)), "rs")
        _cyrillic_lines(cv, (x, top + round(0.68 * ch), x + w, top + ch), cv.ink, lines=1)
        return
    box = (x + pad, top + round(0.1 * ch), x + w - pad, top + round(0.85 * ch))
    fur.arms(cv.img, cv.rng, box, cv.emblem)


@functools.cache
def _cyrillic_font() -> str | None:
    """A font with Cyrillic letters (DejaVu), for the Serbian and Macedonian furniture."""
    for path in available_fonts():
        if "DejaVu" in Path(path).name:
            return path
    return None


def _cyrillic_lines(
    cv: _Canvas, box: tuple[int, int, int, int], colour: Colour, lines: int = 2
) -> None:
    """Small Cyrillic letters: the region and series the Serbian and Macedonian plates repeat."""
    font = _cyrillic_font()
    letters = cv.cyrillic if font is not None else "ABEKMHOPCTX"
    x0, y0, x1, y1 = box
    lh = max(3, (y1 - y0) // lines - 1)
    for k in range(lines):
        text = "".join(letters[int(i)] for i in cv.rng.integers(0, len(letters), 2))
        mask = _text(
            cv.img, text, font or cv.small_font, (x0 + (x1 - x0) // 5, y0 + k * (lh + 1)), lh
        )
        _paint(cv.img, mask, colour)


_Area = tuple[int, int, int, int]  # left, right, top, bottom of the characters' area


def _french_band(cv: _Canvas, spec: PlateSpec, scale: float, right: int) -> int:
    """The French right band (département and region logo); the new right edge."""
    if spec.style != "fr" or spec.extra is None or spec.lines != 1:
        return right
    img = cv.img
    h, w = _size(img)
    # It reads as an extra digit if unmodelled.
    bw = round(40 * scale)
    img[:, w - bw :] = _jitter(cv.rng, _EU_BLUE, 15)
    cv2.circle(
        img,
        (w - bw // 2, round(h * 0.32)),
        round(bw * 0.3),
        tuple(int(v) for v in cv.rng.integers(30, 250, 3)),
        -1,
    )
    origin = (w - bw + round(4 * scale), round(h * 0.6))
    _paint(img, _text(img, spec.extra, cv.small_font, origin, round(h * 0.3)), _LIGHT)
    return w - bw - round(6 * scale)


def _right_furniture(
    cv: _Canvas, spec: PlateSpec, look: plateformats.Format, scale: float, right: int
) -> int:
    """A series' right band (Italy, Portugal, Albania) or round sticker (Romania)."""
    img = cv.img
    h, w = _size(img)
    if look.right in ("it", "pt", "al") and spec.lines == 1:
        bw = round(40 * scale)
        x0, cy = fur.right_band(img, cv.rng, look.right, bw)
        if spec.extra and look.right == "it":  # year in the disc, province below it
            year, _, prov = spec.extra.partition(" ")
            th = round(h * 0.2)
            _paint(img, _text(img, year, cv.small_font, (x0 + bw // 4, cy - th // 2), th), cv.ink)
            origin = (x0 + bw // 5, round(h * 0.62))
            _paint(img, _text(img, prov, cv.small_font, origin, round(h * 0.26)), _LIGHT)
        elif spec.extra and look.right == "pt":  # year over month
            th = round(h * 0.3)
            for k, part in enumerate(spec.extra.split()):
                origin = (x0 + bw // 6, round(h * (0.12 + 0.42 * k)))
                _paint(img, _text(img, part, cv.small_font, origin, th), cv.ink)
        return x0 - round(6 * scale)
    if look.right == "ro" and spec.lines == 1 and cv.rng.random() < 0.6:
        r = round(h * 0.17)
        fur.round_sticker(img, cv.rng, (w - r - round(6 * scale), h // 2), r)
        return w - 2 * r - round(10 * scale)
    return right


def _emblems(
    cv: _Canvas, spec: PlateSpec, look: plateformats.Format, area: _Area, scale: float
) -> _Area:
    """Shields at the ends (Switzerland), arms after the band (Lithuania), the Irish county.

    Returns the area left for the characters.
    """
    img = cv.img
    h = img.shape[0]
    left, right, top, bottom = area
    if look.emblem == "ends":  # Swiss shield left, cantonal shield right
        sw = round(h * (0.3 if spec.lines == 2 else 0.5))
        y0 = round(h * 0.1) if spec.lines == 2 else round(h * 0.18)
        y1 = y0 + round(sw * 1.2)
        fur.arms(img, cv.rng, (left, y0, left + sw, y1), "ch")
        fur.arms(img, cv.rng, (right - sw, y0, right, y1), "at")  # a canton's
        if spec.lines == 1:
            left, right = left + sw + round(6 * scale), right - sw - round(6 * scale)
    if look.emblem == "lt":  # the state arms right of the EU band (2023)
        sw = round(h * 0.45)
        y0 = round(h * 0.25)
        fur.arms(img, cv.rng, (left, y0, left + sw, y0 + round(sw * 1.2)), "lt")
        left += sw + round(6 * scale)
    if look.top == "ie" and spec.extra and spec.lines == 1:  # county name in Irish
        origin = (left + (right - left) // 3, round(h * 0.06))
        _paint(img, _text(img, spec.extra, cv.small_font, origin, round(h * 0.15)), cv.ink)
        top = max(top, round(h * 0.26))
    return left, right, top, bottom


def _furniture(
    cv: _Canvas, spec: PlateSpec, scale: float, look: plateformats.Format | None = None
) -> _Area:
    """Bands, frame, shields and stickers at the plate's edges; the text area left.

    Returns (left, right, top, bottom) of the area the characters may use.
    """
    img = cv.img
    h, w = _size(img)
    left, right, top = round(8 * scale), w - round(8 * scale), round(h * 0.14)
    bottom = round(h * 0.86)
    if look is not None and look.frame:
        inset = fur.frame(img, cv.rng, look.frame, scale)
        if look.frame == "at":
            top, bottom = (
                max(top, inset + round(0.02 * h)),
                min(bottom, h - inset - round(0.02 * h)),
            )
    if spec.band is not None and spec.lines == 1:
        bw = round(40 * scale)
        kind = look.band if look is not None else "eu"
        flag = plateformats.country(spec.country).flag if look is not None else ()
        code = spec.band
        if spec.country == "UA" and spec.extra:  # the 1995 series: region number under the flag
            code = spec.extra
        _band(cv, code, bw, kind, flag)
        left = bw + round(6 * scale)
    right = _french_band(cv, spec, scale, right)
    if look is None:
        return left, right, top, bottom
    right = _right_furniture(cv, spec, look, scale, right)
    return _emblems(cv, spec, look, (left, right, top, bottom), scale)


def _top_banner(cv: _Canvas, spec: PlateSpec, top: int) -> int:
    img = cv.img
    h, w = _size(img)
    if spec.style == "br_old" and spec.extra is not None:  # city line above the characters
        origin = (round(w * 0.25), round(h * 0.05))
        _paint(img, _text(img, spec.extra, cv.small_font, origin, round(h * 0.16)), cv.ink)
        return round(h * 0.27)
    if spec.style == "br_merc":
        img[: round(h * 0.22)] = _jitter(cv.rng, _EU_BLUE, 15)
        origin = (round(w * 0.4), round(h * 0.04))
        _paint(img, _text(img, "BRASIL", cv.small_font, origin, round(h * 0.14)), _LIGHT)
        return round(h * 0.3)
    return top


def _frame(img: Image, rng: np.random.Generator, font: str) -> tuple[Image, int]:
    """A dealer frame around the plate, sometimes with lettering; returns its width."""
    h, w = _size(img)
    pad = round(h * rng.uniform(0.05, 0.18))
    frame_c = _jitter(rng, (30, 30, 30) if rng.random() < 0.6 else (170, 170, 175), 20)
    img = np.asarray(
        cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=frame_c), np.uint8
    )
    if pad > 8 and rng.random() < 0.5:
        letters = "".join(chr(65 + int(v)) for v in rng.integers(0, 26, int(rng.integers(4, 10))))
        mask = _text(img, letters, font, (round(w * 0.3), h + pad + pad // 6), pad * 2 // 3)
        _paint(img, mask, (200, 200, 200) if frame_c[0] < 100 else (40, 40, 40))
    return img, pad


def _plate_size(
    spec: PlateSpec, rng: np.random.Generator, scale: float, look: plateformats.Format | None = None
) -> tuple[int, int]:
    if spec.style.startswith("br"):
        w_mm, h_mm = 400, 130
    elif spec.lines == 2 and look is not None and look.emblem in ("ends", "fl"):
        w_mm, h_mm = 300, 160  # Swiss and Liechtenstein high rear plates
    elif spec.lines == 2:
        w_mm, h_mm = int(rng.choice([280, 340])), 200
    elif look is not None and look.size != (520, 110):
        w_mm, h_mm = look.size
    else:
        w_mm, h_mm = 520, int(rng.choice([110, 110, 105]))
    return round(w_mm * scale), round(h_mm * scale)


def _letterforms(
    cv: _Canvas, spec: PlateSpec, *, dark: bool, look: plateformats.Format | None = None
) -> None:
    """Roll the plate's letterforms: weight, squareness, the French shapes, italics."""
    cv.weight = int(cv.rng.integers(0, 3)) if cv.font.endswith(("Medium.ttf", "].ttf")) else 0
    family = look.font if look is not None else ""
    if cv.rng.random() < (0.6 if family == "nl" else 0.35):
        cv.boxy = float(cv.rng.choice(_BOXY))
    if spec.style.startswith("fr") and cv.rng.random() < 0.8:  # the French font's narrow W
        cv.cap = float(cv.rng.uniform(0.85, 1.1))
    elif cv.rng.random() < 0.4:
        cv.cap = float(cv.rng.uniform(1.0, 1.2))
    cv.bar_one = spec.style == "br_old" and cv.rng.random() < 0.8
    cv.vv_w = spec.style.startswith("fr") and cv.rng.random() < 0.7
    # Real French Ws have nearly upright sides like the font's M; text-font Ws slant.
    cv.vv_foot = float(cv.rng.uniform(0.08, 0.27))
    cv.vv_apex = float(cv.rng.uniform(0.0, 0.6))
    cv.french_mq = spec.style == "fr" and cv.rng.random() < 0.6
    cv.m_depth = float(cv.rng.uniform(0.55, 0.8))
    # Italic characters: vintage French plates, custom-made plates where no typeface is
    # mandated (French, Belgian front plates, Irish, Turkish); rare elsewhere.
    if look is None or family == "any":
        italic = 0.4 if spec.style == "fr_old" and dark else 0.05
    else:
        italic = 0.01
    if cv.rng.random() < italic:
        cv.italic = float(cv.rng.uniform(0.1, 0.3))
    if spec.style == "fr_old":  # FNI fonts are wider than the SIV one
        cv.wide = 1.45
    cv.narrow_zero = family == "fe"  # FE-Schrift draws 0 narrower than O
    cv.slashed_zero = family == "sk" and cv.rng.random() < 0.9
    if family == "uk":  # Charles Wright: 50 mm wide characters, 79 mm tall
        cv.wide = 1.4
    elif family == "nl":  # the Dutch plate font is narrow
        cv.wide = 1.0


# Plate typefaces and the installed fonts that stand in for them (file name fragments).
# None of these is the real plate font; letterform rolls (_letterforms) add what the
# real ones have: FE-Schrift's narrow 0, the Slovak slashed 0, Charles Wright's width.
FAMILIES: dict[str, tuple[str, ...]] = {
    "din": (
        "OSP-DIN",
        "BarlowCondensed-Medium",
        "BarlowCondensed-SemiBold",
        "RobotoCondensed",
        "ArchivoNarrow",
    ),
    "fe": ("OSP-DIN", "BarlowCondensed-SemiBold", "BarlowCondensed-Bold", "BebasNeue", "Oswald"),
    "uk": (
        "DejaVuSansCondensed-Bold",
        "RobotoCondensed",
        "ArchivoNarrow",
        "BarlowCondensed-Bold",
        "OSP-DIN",
    ),
    "nl": ("BebasNeue", "Oswald", "BarlowCondensed-Bold", "BarlowCondensed-SemiBold"),
    "it": ("BarlowCondensed-Medium", "ArchivoNarrow", "PT_Sans-Narrow", "RobotoCondensed"),
    "es": ("OSP-DIN", "BarlowCondensed-Medium", "RobotoCondensed", "ArchivoNarrow"),
    "helv": ("ArchivoNarrow", "RobotoCondensed", "PT_Sans-Narrow", "DejaVuSansCondensed-Bold"),
    "sk": ("OSP-DIN", "BarlowCondensed-SemiBold", "RobotoCondensed", "ArchivoNarrow"),
}


@functools.cache
def _family_fonts(family: str) -> tuple[str, ...]:
    """The installed fonts of a typeface family (all fonts for fr, any, or none installed)."""
    fonts = available_fonts()
    names = FAMILIES.get(family, ())
    chosen = tuple(f for f in fonts if any(n in Path(f).name for n in names))
    return chosen or fonts


_CYRILLIC = {"SRB": "АБВГДЕЖЗИЈКЛМНОПРСТУЋФХЦЧШ", "NMK": "АБВГДЃЕЖЗЅИЈКЛЉМНЊОПРСТЌУФХЦЧЏШ"}


def draw_plate(spec: PlateSpec, rng: np.random.Generator, level: float = 1.0) -> FlatPlate:
    """Draw ``spec`` flat and frontal; ``level`` (0..1) scales dirt and furniture."""
    look = _look(spec)
    fonts = _family_fonts(look.font) if look is not None else available_fonts()
    font = fonts[int(rng.integers(0, len(fonts)))]
    small_font = available_fonts()[int(rng.integers(0, len(available_fonts())))]
    scale = float(rng.uniform(0.7, 1.1))  # px per mm
    w, h = _plate_size(spec, rng, scale, look)
    bg, ink = _colours(rng, spec.style, look)
    dark = sum(bg) < 3 * 100  # a white-on-black plate (vintage French, old Brazilian)
    if dark and (spec.style == "fr_old" or (look is not None and spec.country != "FL")):
        spec = replace(spec, band=None)  # black and blue vintage plates predate the EU band
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    cv = _Canvas(img, rng, font, small_font, ink, 0)
    if look is not None:
        cv.emblem = look.emblem
        cv.cyrillic = _CYRILLIC.get(spec.country, "")
    left, right, top, bottom = _furniture(cv, spec, scale, look)
    _letterforms(cv, spec, dark=dark, look=look)
    top = _top_banner(cv, spec, top)
    if spec.lines == 2:
        k, mid = spec.first_line_groups, round(h * 0.5)
        upper = (left, top - round(h * 0.05), right, mid - round(h * 0.03))
        lower = (left, mid + round(h * 0.03), right, bottom + round(h * 0.05))
        if look is not None and look.emblem in ("ends", "fl"):  # shields flank the top line
            upper = (left + round(h * 0.35), upper[1], right - round(h * 0.35), upper[3])
        # Furniture between the lines' groups (arms, seals) stays at the end of the top line.
        keep = k if spec.seps[k - 1] in ("arms", "seal", "box") else k - 1
        boxes = _draw_line(cv, spec.groups[:k], spec.seps[:keep], upper)
        boxes += _draw_line(cv, spec.groups[k:], spec.seps[k:], lower)
    else:
        boxes = _draw_line(cv, spec.groups, spec.seps, (left, top, right, bottom))
    bordered = spec.style in ("be", "de", "nl", "lu") or look is not None
    border = ink if bordered else _jitter(rng, (60, 60, 60), 30)
    if rng.random() < 0.7 and not (look is not None and look.frame):
        cv2.rectangle(img, (1, 1), (w - 2, h - 2), border, max(1, round(1.5 * scale)))
    if rng.random() < 0.5 * level + 0.1:
        _screws(img, rng)
    if rng.random() < 0.6 * level:
        img = _dirt(img, rng, level)
    corners: tuple[tuple[float, float], ...] = (
        (0.0, 0.0),
        (float(w), 0.0),
        (float(w), float(h)),
        (0.0, float(h)),
    )
    if rng.random() < 0.35 * level + 0.05:
        img, pad = _frame(img, rng, small_font)
        corners = tuple((x + pad, y + pad) for x, y in corners)
        boxes = [(a + pad, b + pad, c + pad, d + pad) for a, b, c, d in boxes]
    return FlatPlate(img, corners, tuple(boxes))
