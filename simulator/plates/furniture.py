"""What sits on a plate besides its characters: bands, emblems, stickers, frames.

Every piece is drawn as a distractor a reader must learn to skip (a coat of
arms read as I or 1, a sticker read as O, a band's code read as a character);
none is in the ground truth. Shapes follow the plate-format table
(``plateformats``): they are schematic (colour fields and simple heraldic
shapes), as they look at the 2-5 px per mm a roadside camera resolves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "COLOURS",
    "arms",
    "box",
    "flag_band",
    "frame",
    "jitter",
    "right_band",
    "round_sticker",
    "shield",
    "square_sticker",
    "stickers",
]

Colour = tuple[int, int, int]  # BGR

# Named plate colours (BGR) and how much one plate's paint may vary.
COLOURS: dict[str, tuple[Colour, int]] = {
    "white": ((238, 240, 242), 12),
    "yellow": ((0, 184, 246), 18),
    "black": ((22, 22, 22), 12),
    "silver": ((200, 200, 200), 25),
    "ruby": ((36, 18, 150), 20),  # RAL 3003, the Belgian characters
    "blue": ((120, 50, 20), 18),  # dark blue ground of classic Dutch plates
    "navy": ((140, 60, 25), 20),  # Icelandic characters
    "green": ((150, 215, 150), 18),  # Polish electric, Norwegian van plates
    "red": ((40, 40, 200), 20),
    "eu_blue": ((153, 51, 0), 15),
    "star": ((0, 204, 255), 10),
}
_FLAG = {
    "red": (40, 40, 210),
    "white": (240, 240, 240),
    "blue": (150, 60, 0),
    "yellow": (0, 210, 250),
    "green": (60, 140, 40),
    "black": (20, 20, 20),
}


def jitter(rng: np.random.Generator, c: Colour, amount: int) -> Colour:
    """``c`` with each channel moved by up to ``amount``."""
    b, g, r = (int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)
    return (b, g, r)


def named(rng: np.random.Generator, name: str) -> Colour:
    """A named colour as one plate's paint shows it."""
    base, amount = COLOURS[name]
    return jitter(rng, base, amount)


def _random_colour(rng: np.random.Generator) -> Colour:
    return tuple(int(v) for v in rng.integers(20, 235, 3))  # type: ignore[return-value]


def shield(
    img: npt.NDArray[np.uint8], box: tuple[int, int, int, int], colour: Colour
) -> npt.NDArray[np.uint8]:
    """Fill a heraldic shield in ``box`` (x0, y0, x1, y1); return its mask."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    pts = np.array(
        [
            [x0, y0],
            [x1, y0],
            [x1, y0 + 0.6 * h],
            [x0 + 0.5 * w, y1],
            [x0, y0 + 0.6 * h],
        ],
        np.int32,
    )
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [pts], 255)
    img[mask > 0] = colour
    return mask


def _cross(img: npt.NDArray[np.uint8], cx: int, cy: int, size: int, colour: Colour) -> None:
    t = max(1, size // 3)
    cv2.rectangle(img, (cx - size, cy - t // 2), (cx + size, cy + t // 2), colour, -1)
    cv2.rectangle(img, (cx - t // 2, cy - size), (cx + t // 2, cy + size), colour, -1)


def _double_cross(img: npt.NDArray[np.uint8], cx: int, top: int, h: int, colour: Colour) -> None:
    t = max(1, h // 8)
    cv2.rectangle(img, (cx - t // 2, top), (cx + t // 2, top + h), colour, -1)
    for frac, half in ((0.25, h // 4), (0.5, h // 3)):
        y = top + round(frac * h)
        cv2.rectangle(img, (cx - half, y - t // 2), (cx + half, y + t // 2), colour, -1)


Box = tuple[int, int, int, int]  # x0, y0, x1, y1
Slot = tuple[int, int, int, int]  # the gap between two groups: x, width, top, character height


def _chequy(img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box) -> None:
    """The red and white chequy of Croatia."""
    del rng
    x0, y0, x1, y1 = box
    w, h = max(2, x1 - x0), max(2, y1 - y0)
    mask = shield(img, box, _FLAG["white"])
    n = 5
    cells = np.zeros_like(mask)
    for i, j in np.ndindex(n, n):
        if (i + j) % 2 == 0:
            corner_a = (x0 + j * w // n, y0 + i * h // n)
            corner_b = (x0 + (j + 1) * w // n, y0 + (i + 1) * h // n)
            cv2.rectangle(cells, corner_a, corner_b, 255, -1)
    img[(cells > 0) & (mask > 0)] = _FLAG["red"]


def _double_cross_arms(
    img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box, *, hu: bool
) -> None:
    """Slovakia (double cross on blue hills) or Hungary (stripes, double cross, crown)."""
    del rng
    x0, y0, x1, y1 = box
    w, h = max(2, x1 - x0), max(2, y1 - y0)
    cx = (x0 + x1) // 2
    shield(img, box, _FLAG["red"])
    _double_cross(img, cx + (w // 6 if hu else 0), y0 + h // 8, h * 5 // 8, _FLAG["white"])
    if not hu:  # blue hills below the cross
        hills = (cx, y0 + round(0.8 * h))
        cv2.ellipse(img, hills, (w // 3, h // 6), 0, 180, 360, _FLAG["blue"], -1)
        return
    for k in range(4):  # the striped half, and the crown on top
        y = y0 + round((0.15 + 0.15 * k) * h)
        cv2.line(img, (x0 + 2, y), (cx - 1, y), _FLAG["white"], max(1, h // 14))
    cv2.rectangle(img, (x0 + w // 5, y0 - h // 6), (x1 - w // 5, y0), _FLAG["yellow"], -1)


_CHARGED = {  # field and charge colours of arms drawn as one light charge on a field
    "rs": ("red", "white"),  # the Serbian white eagle
    "mne": ("red", "yellow"),  # the Montenegrin golden eagle
    "lt": ("red", "white"),  # the Lithuanian knight
    "rks": ("blue", "yellow"),  # the map of Kosovo under six stars
}


def _charged(img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box, emblem: str) -> None:
    del rng
    x0, y0, x1, y1 = box
    w, h = max(2, x1 - x0), max(2, y1 - y0)
    ground, charge = _CHARGED[emblem]
    shield(img, box, _FLAG[ground])
    axes = (max(1, w // 4), max(1, h // 4))
    cv2.ellipse(img, ((x0 + x1) // 2, y0 + h * 2 // 5), axes, 0, 0, 360, _FLAG[charge], -1)
    if emblem == "rks":
        for k in range(3):
            star = (x0 + w * (k + 1) // 4, y0 + h // 8)
            cv2.circle(img, star, max(1, w // 14), _FLAG["white"], -1)


def _liechtenstein(img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box) -> None:
    """Quartered blue and red under a gold crown (schematic)."""
    del rng
    x0, y0, x1, y1 = box
    w, h = max(2, x1 - x0), max(2, y1 - y0)
    shield(img, box, _FLAG["blue"])
    cv2.rectangle(img, ((x0 + x1) // 2, y0), (x1, y0 + h // 2), _FLAG["red"], -1)
    cv2.rectangle(img, (x0 + w // 4, y0 - h // 5), (x1 - w // 4, y0), _FLAG["yellow"], -1)


def _civic(img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box) -> None:
    """Provincial or municipal arms (Austria, Slovenia, Swiss cantons): many schemes."""
    x0, y0, x1, y1 = box
    w, h = max(2, x1 - x0), max(2, y1 - y0)
    cx = (x0 + x1) // 2
    kind = int(rng.integers(0, 5))
    shield(img, box, _random_colour(rng))
    if kind == 0:
        _cross(img, cx, y0 + h * 2 // 5, max(2, w // 4), _FLAG["white"])
    elif kind == 1:
        cv2.rectangle(img, (x0, y0 + h // 3), (x1, y0 + h * 2 // 3), _FLAG["white"], -1)
    elif kind == 2:
        axes = (max(1, w // 4), max(1, h // 4))
        cv2.ellipse(img, (cx, y0 + h * 2 // 5), axes, 0, 0, 360, _random_colour(rng), -1)
    elif kind == 3:
        for k in range(3):
            dot = (x0 + w * (k + 1) // 4, y0 + h // 3)
            cv2.circle(img, dot, max(1, w // 10), _FLAG["yellow"], -1)


def _plain(img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box) -> None:
    """A shield with a bar: read as I, 1 or a letter if not modelled."""
    x0, y0, x1, y1 = box
    w, h = max(2, x1 - x0), max(2, y1 - y0)
    cx = (x0 + x1) // 2
    shield(img, box, _random_colour(rng))
    bar = max(1, w // 8)
    cv2.line(img, (cx, y0 + round(h * 0.1)), (cx, y0 + round(h * 0.55)), (235, 235, 235), bar)


def _swiss(img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box) -> None:
    """The Swiss shield: a white cross on red."""
    x0, y0, x1, y1 = box
    shield(img, box, jitter(rng, _FLAG["red"], 15))
    _cross(img, (x0 + x1) // 2, y0 + (y1 - y0) * 2 // 5, max(2, (x1 - x0) // 4), _FLAG["white"])


def arms(img: npt.NDArray[np.uint8], rng: np.random.Generator, box: Box, emblem: str) -> None:
    """The coat of arms ``emblem`` (a table emblem name) in ``box``."""
    if emblem == "ch":
        _swiss(img, rng, box)
    elif emblem == "hr":
        _chequy(img, rng, box)
    elif emblem in ("sk", "hu"):
        _double_cross_arms(img, rng, box, hu=emblem == "hu")
    elif emblem in _CHARGED:
        _charged(img, rng, box, emblem)
    elif emblem == "fl":
        _liechtenstein(img, rng, box)
    elif emblem in ("at", "si"):
        _civic(img, rng, box)
    else:
        _plain(img, rng, box)


def flag_band(
    img: npt.NDArray[np.uint8], rng: np.random.Generator, bw: int, stripes: tuple[str, ...]
) -> None:
    """A national flag in the top half of a band ``bw`` wide (drawn already)."""
    h = img.shape[0]
    x0, x1 = round(bw * 0.18), round(bw * 0.82)
    y0, y1 = round(h * 0.12), round(h * 0.5)
    colours = stripes or ("red", "white", "blue")
    n = len(colours)
    for k, name in enumerate(colours):
        ya = y0 + (y1 - y0) * k // n
        yb = y0 + (y1 - y0) * (k + 1) // n
        cv2.rectangle(img, (x0, ya), (x1, yb), jitter(rng, _FLAG[name], 12), -1)


def round_sticker(
    img: npt.NDArray[np.uint8], rng: np.random.Generator, centre: tuple[int, int], r: int
) -> None:
    """A round inspection sticker: coloured disc, printed ring and figures."""
    cv2.circle(img, centre, r, _random_colour(rng), -1)
    cv2.circle(img, centre, max(1, r * 2 // 3), (235, 235, 235), max(1, r // 6))
    cv2.circle(img, centre, r, (60, 60, 60), 1)


def stickers(img: npt.NDArray[np.uint8], rng: np.random.Generator, slot: Slot) -> None:
    """Two round stickers one above the other between groups (Czech inspections)."""
    x, w, top, ch = slot
    r = max(2, round(0.2 * ch))
    for frac in (0.27, 0.73):
        round_sticker(img, rng, (x + w // 2, top + round(frac * ch)), r)


def square_sticker(img: npt.NDArray[np.uint8], rng: np.random.Generator, slot: Slot) -> None:
    """One square sticker between groups (Malta, Iceland, older Lithuanian plates)."""
    x, w, top, ch = slot
    s = max(3, round(0.55 * ch))
    x0, y0 = x + (w - s) // 2, top + (ch - s) // 2
    cv2.rectangle(img, (x0, y0), (x0 + s, y0 + s), _random_colour(rng), -1)
    cv2.rectangle(
        img, (x0 + s // 5, y0 + s // 5), (x0 + s - s // 5, y0 + s // 2), (235, 235, 235), -1
    )


def holo(img: npt.NDArray[np.uint8], rng: np.random.Generator, slot: Slot) -> None:
    """The Polish legalisation sticker: a small silver rectangle with a red and white flag."""
    x, w, top, ch = slot
    sw, sh = max(3, round(0.42 * ch)), max(3, round(0.3 * ch))
    x0, y0 = x + (w - sw) // 2, top + round(0.12 * ch)
    cv2.rectangle(img, (x0, y0), (x0 + sw, y0 + sh), jitter(rng, (190, 190, 195), 25), -1)
    cv2.rectangle(img, (x0 + 1, y0 + 1), (x0 + sw // 2, y0 + sh // 2), _FLAG["white"], -1)
    cv2.rectangle(img, (x0 + 1, y0 + sh // 2), (x0 + sw // 2, y0 + sh - 1), _FLAG["red"], -1)


def box(img: npt.NDArray[np.uint8], slot: Slot) -> Box:
    """The Macedonian red-framed box; returns its inside for the Cyrillic letters."""
    x, w, top, ch = slot
    x0, x1 = x + max(1, w // 10), x + w - max(1, w // 10)
    y0, y1 = top + round(0.1 * ch), top + round(0.9 * ch)
    cv2.rectangle(img, (x0, y0), (x1, y1), _FLAG["red"], -1)
    t = max(1, (x1 - x0) // 10)
    cv2.rectangle(img, (x0 + t, y0 + t), (x1 - t, y1 - t), (235, 235, 235), -1)
    return x0 + t, y0 + t, x1 - t, y1 - t


def frame(img: npt.NDArray[np.uint8], rng: np.random.Generator, kind: str, scale: float) -> int:
    """Border or stripes of a series; returns how far (px) they reach into the plate."""
    h, w = int(img.shape[0]), int(img.shape[1])
    t = max(1, round(2.5 * scale))
    if kind == "at":  # red-white-red stripes along the top and bottom edges
        red = jitter(rng, _FLAG["red"], 15)
        for y in (
            round(0.03 * h),
            round(0.11 * h),
            h - 1 - round(0.03 * h),
            h - 1 - round(0.11 * h),
        ):
            cv2.line(img, (0, y), (w - 1, y), red, t)
        return round(0.13 * h)
    colour = {"dk": _FLAG["red"], "si": _FLAG["green"], "is": _FLAG["blue"]}.get(kind)
    if colour is None:
        return 0
    cv2.rectangle(
        img, (t // 2, t // 2), (w - 1 - t // 2, h - 1 - t // 2), jitter(rng, colour, 15), t
    )
    return t


def right_band(
    img: npt.NDArray[np.uint8], rng: np.random.Generator, kind: str, bw: int
) -> tuple[int, int]:
    """Paint the right-hand band ``kind`` (it, pt, al); return (x0, centre of its disc)."""
    h, w = img.shape[:2]
    x0 = w - bw
    if kind == "pt":
        img[:, x0:] = jitter(rng, (0, 200, 250), 15)
        return x0, 0
    img[:, x0:] = named(rng, "eu_blue")
    if kind == "it":  # the yellow disc for the year sticker
        cy = round(h * 0.3)
        cv2.circle(img, (w - bw // 2, cy), round(bw * 0.32), named(rng, "star"), -1)
        return x0, cy
    return x0, 0
