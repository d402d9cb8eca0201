"""A vehicle's face towards the camera (front or rear) as a texture with its plate on it.

Drawn once per vehicle at ``PPM`` pixels per metre (plus a mip pyramid, so a
far vehicle is not aliased), already lit for the scene (day, dusk, night IR),
with the plate from the project's plate renderer pasted in at its real size.
The plate's corners in texture coordinates are kept, so the scene maps them
into the image with the same homography it draws the texture with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from simulator.plates import draw_plate

if TYPE_CHECKING:
    from simulator.camera.traffic import Vehicle

__all__ = ["PPM", "Sprite", "build_sprite", "shade"]

PPM = 240.0  # texture pixels per metre at mip level 0
Image = npt.NDArray[np.uint8]
Colour = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Sprite:
    """The face texture (mip level 0 first) and the plate's corners on level 0."""

    levels: tuple[Image, ...]
    plate_quad: npt.NDArray[np.float64] | None  # (4, 2), clockwise from top-left
    top: Colour  # roof colour, as lit
    side: Colour  # side colour, as lit


def shade(colour: Colour, factor: float) -> Colour:
    """A colour scaled by ``factor``."""
    b, g, r = (int(np.clip(c * factor, 0, 255)) for c in colour)
    return (b, g, r)


class _Painter:
    """Draws in metres (x from the left edge, y up from the ground) onto the texture."""

    def __init__(self, img: Image, height_m: float) -> None:
        self.img = img
        self.h = height_m

    def px(self, x: float, y: float) -> tuple[int, int]:
        return round(x * PPM), round((self.h - y) * PPM)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
        cv2.rectangle(self.img, self.px(x0, y1), self.px(x1, y0), colour, -1)

    def poly(self, pts: list[tuple[float, float]], colour: Colour) -> None:
        arr = np.array([self.px(x, y) for x, y in pts], np.int32)
        cv2.fillConvexPoly(self.img, arr, colour, lineType=cv2.LINE_AA)

    def ellipse(self, x: float, y: float, rx: float, ry: float, colour: Colour) -> None:
        axes = (max(1, round(rx * PPM)), max(1, round(ry * PPM)))
        cv2.ellipse(self.img, self.px(x, y), axes, 0, 0, 360, colour, -1, cv2.LINE_AA)


_GLASS: Colour = (70, 60, 50)
_BLACK: Colour = (25, 25, 25)
_LAMP: Colour = (215, 225, 230)
_RED: Colour = (30, 30, 190)


def _body(p: _Painter, w: float, h: float, colour: Colour, rng: np.random.Generator) -> None:
    rows = p.img.shape[0]
    grad = np.linspace(1.08, 0.82, rows, dtype=np.float32)[:, None, None]
    p.img[:] = np.clip(np.array(colour, np.float32) * grad, 0, 255).astype(np.uint8)
    tex = rng.normal(0, 3, (max(2, rows // 8), max(2, p.img.shape[1] // 8))).astype(np.float32)
    noise = cv2.resize(tex, (p.img.shape[1], rows))[..., None]
    p.img[:] = np.clip(p.img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    # Wheels and the dark underside at the bottom corners.
    p.rect(0.0, 0.0, w, min(0.22, 0.15 * h), (35, 35, 35))


def _motorcycle(p: _Painter, w: float, h: float, front: bool) -> float:
    p.img[:] = (60, 60, 60)
    p.ellipse(w / 2, h * 0.8, w * 0.35, h * 0.22, _BLACK)  # rider
    p.rect(w * 0.4, 0.0, w * 0.6, h * 0.45, _BLACK)  # wheel
    if front:
        p.ellipse(w / 2, h * 0.55, w * 0.12, h * 0.06, _LAMP)
    else:
        p.rect(w * 0.38, h * 0.62, w * 0.62, h * 0.67, _RED)
    return h * 0.5


def _heavy(p: _Painter, v: Vehicle, front: bool, rng: np.random.Generator) -> float:
    """Trucks and buses: cab or bus front, box or bus rear."""
    w, h, _ = v.size
    if front:
        top = h * (0.9 if v.vclass == "truck" else 0.92)
        p.rect(0.12, h * 0.52, w - 0.12, top, _GLASS)
        p.rect(w * 0.25, 0.9, w * 0.75, h * 0.45, shade(v.colour, 0.55))  # grille
        for x in (0.2, w - 0.2):
            p.ellipse(x, 0.95, 0.14, 0.08, _LAMP)
        p.rect(0.0, 0.35, w, 0.78, shade(v.colour, 0.7))
        return 0.55
    if v.vclass == "truck":
        p.img[:] = shade((205, 205, 200), float(rng.uniform(0.75, 1.0)))
        p.rect(w / 2 - 0.02, 0.9, w / 2 + 0.02, h - 0.1, (120, 120, 120))
    else:
        p.rect(0.25, h * 0.55, w - 0.25, h * 0.85, _GLASS)
    p.rect(0.0, 0.35, w, 0.85, _BLACK)  # under-run bar and chassis
    for x in (0.15, w - 0.45):
        p.rect(x, 0.95, x + 0.3, 1.1, _RED)
    return 0.6


def _car(p: _Painter, v: Vehicle, front: bool) -> float:
    """Cars and vans: glass, lamps, grille, bumper."""
    w, h, _ = v.size
    glass_lo = h * (0.64 if v.vclass == "car" else 0.6)
    inset_top = w * (0.14 if v.vclass == "car" else 0.07)
    p.poly(
        [
            (0.1 * w, glass_lo),
            (0.9 * w, glass_lo),
            (w - inset_top, h - 0.06),
            (inset_top, h - 0.06),
        ],
        _GLASS,
    )
    lamp_y = h * (0.5 if front else 0.56)
    if front:
        p.rect(w * 0.3, lamp_y - 0.14, w * 0.7, lamp_y + 0.02, shade(v.colour, 0.55))  # grille
        for x in (0.22, w - 0.22):
            p.ellipse(x, lamp_y, 0.17, 0.06, _LAMP)
    else:
        for x in (0.16, w - 0.16):
            p.ellipse(x, lamp_y, 0.13, 0.07, _RED)
    p.rect(0.0, 0.22, w, 0.5, shade(v.colour, 0.8))  # bumper
    return 0.42 if front else 0.62


def _face(p: _Painter, v: Vehicle, rng: np.random.Generator) -> float:
    """Draw the vehicle's face; return the height (m) of the plate's centre."""
    w, h, _ = v.size
    front = v.direction == "approaching"
    _body(p, w, h, v.colour, rng)
    if v.vclass == "motorcycle":
        return _motorcycle(p, w, h, front)
    if v.vclass in ("truck", "bus"):
        return _heavy(p, v, front, rng)
    return _car(p, v, front)


def _paste_plate(
    p: _Painter, v: Vehicle, y_centre: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Paste the rendered plate at its real size; return its corners on the texture."""
    assert v.plate is not None  # noqa: S101 - caller checked
    flat = draw_plate(v.plate, rng, 0.3)
    corners = np.array(flat.corners, np.float64)
    pw_px = corners[1, 0] - corners[0, 0]
    ph_px = corners[3, 1] - corners[0, 1]
    width_m = (0.24 if v.vclass == "motorcycle" else 0.52) * (1.0 if v.plate.lines == 1 else 0.6)
    scale = width_m * PPM / pw_px
    img = cv2.resize(
        flat.image,
        (max(2, round(flat.image.shape[1] * scale)), max(2, round(flat.image.shape[0] * scale))),
        interpolation=cv2.INTER_AREA,
    )
    w_tex = p.img.shape[1]
    cx, cy = w_tex / 2, (p.h - y_centre) * PPM
    x0 = round(cx - (corners[0, 0] + pw_px / 2) * scale)
    y0 = round(cy - (corners[0, 1] + ph_px / 2) * scale)
    ys, xs = (
        slice(max(0, y0), min(p.img.shape[0], y0 + img.shape[0])),
        slice(max(0, x0), min(w_tex, x0 + img.shape[1])),
    )
    p.img[ys, xs] = img[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return np.asarray(corners * scale + (x0, y0), np.float64)


def _occlude(p: _Painter, quad: npt.NDArray[np.float64], kind: str) -> None:
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    bar = _BLACK
    if kind == "towbar":  # a hitch in front of the lower edge: characters stay legible
        # Plate characters end ~14 % of the plate height above its lower edge: the bar
        # stays below them and the ball clips at most the bottom few pixels of the
        # middle ones (0.22 / 0.25 hid half of them: B read as R, O as D, Y as X).
        h = y1 - y0
        cv2.rectangle(p.img, (round(x0), round(y1 - 0.1 * h)), (round(x1), round(y1 + 6)), bar, -1)
        cv2.circle(p.img, (round((x0 + x1) / 2), round(y1 - 0.02 * h)), round(0.17 * h), bar, -1)
    else:  # bike rack: arms and a wheel across the characters
        t = max(3, round((x1 - x0) * 0.05))
        for fx in (0.3, 0.62):
            x = round(x0 + (x1 - x0) * fx)
            cv2.rectangle(p.img, (x, round(y0 - 40)), (x + t, round(y1 + 40)), bar, -1)
        cy = round((y0 + y1) / 2)
        cv2.rectangle(p.img, (round(x0 - 20), cy - t // 2), (round(x1 + 20), cy + t // 2), bar, -1)
        r = round((x1 - x0) * 0.28)
        cv2.circle(p.img, (round(x0 + (x1 - x0) * 0.78), cy), r, bar, t)


def _light(img: Image, plate: npt.NDArray[np.float64] | None, light: str, haze: float) -> Image:
    """Scene lighting: dusk darkens, night IR is grey with a bright retroreflective plate."""
    out = img.astype(np.float32)
    mask = np.zeros(img.shape[:2], np.float32)
    if plate is not None:
        cv2.fillConvexPoly(mask, np.round(plate).astype(np.int32), 1.0)
    lamps = (img.min(axis=2) > 200).astype(np.float32) * (mask == 0)
    if light == "dusk":
        out *= np.array([0.62, 0.5, 0.45], np.float32)
        out = out * (1 - mask[..., None] * 0.25) + out * mask[..., None] * 0.25 * 1.3
        out += lamps[..., None] * 255
    elif light == "night":
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        body = grey * 0.28
        plate_px = np.clip(grey * 1.1 + 15, 0, 255)
        lit = body * (1 - mask) + plate_px * mask + lamps * 255
        out = np.repeat(lit[..., None], 3, axis=2)
    if haze > 0:
        out = out * (1 - haze) + float(out.mean()) * haze
    return np.clip(out, 0, 255).astype(np.uint8)


def build_sprite(v: Vehicle, light: str, haze: float = 0.0) -> Sprite:
    """The lit face texture of ``v`` with its plate (if any)."""
    w, h, _ = v.size
    rng = np.random.default_rng((*v.seed, 99))
    img = np.zeros((max(8, round(h * PPM)), max(8, round(w * PPM)), 3), np.uint8)
    painter = _Painter(img, h)
    y_plate = _face(painter, v, rng)
    quad = None
    if v.plate is not None:
        quad = _paste_plate(painter, v, y_plate, rng)
        if v.occluder is not None:
            _occlude(painter, quad, v.occluder)
    lit = _light(img, quad, light, haze)
    levels = [lit]
    while min(levels[-1].shape[:2]) >= 24 and len(levels) < 6:
        levels.append(np.asarray(cv2.pyrDown(levels[-1]), np.uint8))
    top_factor, side_factor = (0.9, 0.6) if light == "day" else (0.45, 0.3)
    if light == "night":
        grey = int(sum(v.colour) / 3)
        base: Colour = (grey, grey, grey)
        top_factor, side_factor = 0.25, 0.18
    else:
        base = v.colour
    if v.vclass == "truck" and v.direction == "receding":
        base = (205, 205, 200)
    return Sprite(tuple(levels), quad, shade(base, top_factor), shade(base, side_factor))
