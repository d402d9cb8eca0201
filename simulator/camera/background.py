"""The static part of the picture, drawn once: verge, road, markings; rain and sensor noise.

Rain streaks and sensor noise are precomputed layers that the scene adds in
turn (a saturating add costs about a millisecond at 1280x720; drawing them
afresh each frame would cost far more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Iterable

    from simulator.camera.geometry import Camera, RoadLayout

__all__ = ["noise_layers", "rain_layers", "road_background"]

Image = npt.NDArray[np.uint8]


def _ground_quads(
    cam: Camera,
    axes: npt.NDArray[np.float64],
    x0: float,
    x1: float,
    spans: Iterable[tuple[float, float]],
) -> list[npt.NDArray[np.int32]]:
    """Image polygons of ground strips [x0, x1] x [z0, z1], in 1/4 px (shift 2)."""
    out = []
    for z0, z1 in spans:
        pts = np.array([(x0, 0.0, z1), (x1, 0.0, z1), (x1, 0.0, z0), (x0, 0.0, z0)])
        uv, depth = cam.project(pts, axes)
        if depth.min() > 0.3:
            out.append(np.round(uv * 4).astype(np.int32))
    return out


def _fill(img: Image, polys: list[npt.NDArray[np.int32]], colour: tuple[int, int, int]) -> None:
    for poly in polys:
        cv2.fillConvexPoly(img, poly, colour, cv2.LINE_AA, 2)


def _texture(rng: np.random.Generator, h: int, w: int, sigma: float) -> npt.NDArray[np.float32]:
    small = rng.normal(0, sigma, (h // 4 + 1, w // 4 + 1)).astype(np.float32)
    fine = rng.normal(0, sigma / 2, (h, w)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) + fine


def road_background(
    cam: Camera, road: RoadLayout, light: str, rain: float, rng: np.random.Generator
) -> Image:
    """The empty road as the camera sees it, lit for ``light``."""
    h, w = cam.height, cam.width
    axes = cam.axes()
    far = 400.0
    strips = [(z, min(z + 5.0, far)) for z in np.arange(1.0, far, 5.0)]
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (70, 115, 95)  # verge
    horizon, _ = cam.project(np.array([(road.road_width / 2, 0.0, 1e5)]), axes)
    if horizon[0, 1] > 0:
        img[: max(0, int(horizon[0, 1]))] = (215, 190, 160)
    _fill(
        img,
        _ground_quads(cam, axes, road.road_width + 0.3, road.road_width + 2.5, strips),
        (150, 150, 150),
    )
    _fill(img, _ground_quads(cam, axes, -0.3, road.road_width + 0.3, strips), (95, 95, 98))
    line_w = 0.15
    for edge in (0.1, road.road_width - 0.1):
        _fill(
            img,
            _ground_quads(cam, axes, edge - line_w / 2, edge + line_w / 2, strips),
            (225, 225, 225),
        )
    dashes = [(z, z + 3.0) for z in np.arange(1.0, far, 12.0)]
    for k in range(1, road.lanes):
        x = k * 3.5
        opposite = road.directions[k - 1] != road.directions[k]
        spans = strips if opposite else dashes
        _fill(img, _ground_quads(cam, axes, x - line_w / 2, x + line_w / 2, spans), (225, 225, 225))
    markings = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) > 200
    f = img.astype(np.float32) + _texture(rng, h, w, 6.0)[..., None]
    if rain > 0:  # wet road: darker, flatter
        f = f * (1 - 0.3 * rain) + float(f.mean()) * 0.15 * rain
    if light == "dusk":
        f *= np.array([0.55, 0.45, 0.4], np.float32)
    elif light == "night":
        grey = cv2.cvtColor(np.clip(f, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
        g = grey.astype(np.float32)
        g = np.where(markings, g * 0.5, g * 0.12)  # markings reflect the IR a little
        f = np.repeat(g[..., None], 3, axis=2)
    return np.asarray(np.clip(f, 0, 255), np.uint8)


def noise_layers(
    w: int, h: int, sigma: float, count: int, rng: np.random.Generator
) -> list[tuple[Image, Image]]:
    """``count`` pairs (add, subtract) of Gaussian sensor noise."""
    out = []
    for _ in range(count):
        n = rng.normal(0, sigma, (h, w, 3)).astype(np.float32)
        out.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
    return out


def rain_layers(w: int, h: int, rain: float, count: int, rng: np.random.Generator) -> list[Image]:
    """``count`` frames of rain streaks (bright, slanted, motion-blurred); none without rain."""
    if rain <= 0:
        return []
    out = []
    n = round(1500 * rain)
    for _ in range(count):
        layer = np.zeros((h, w), np.uint8)
        xs = rng.uniform(0, w, n)
        ys = rng.uniform(0, h, n)
        lengths = rng.uniform(12, 40, n)
        tone = rng.uniform(25, 70, n)
        slant = 0.18
        for x, y, ln, c in zip(xs, ys, lengths, tone, strict=True):
            p0 = (round(x), round(y))
            p1 = (round(x + slant * ln), round(y + ln))
            cv2.line(layer, p0, p1, int(c), 1, cv2.LINE_AA)
        blurred = np.asarray(cv2.GaussianBlur(layer, (3, 3), 0), np.uint8)
        out.append(np.asarray(cv2.cvtColor(blurred, cv2.COLOR_GRAY2BGR), np.uint8))
    return out
