"""Put a flat plate into a camera-like crop: pose, margins, light, optics, sensor, codec.

Everything is scaled by ``level`` (0 clean .. 1 hard) so that training can ramp
augmentation up (a CTC model stalls at "predict nothing" when it starts hard).
The homography that places the plate is returned so that character boxes follow.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["photometric", "place"]

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]


def _background(rng: np.random.Generator, h: int, w: int) -> Image:
    """Car body, bumper, road: a tinted gradient with texture and a few edges."""
    base = rng.integers(0, 256, 3).astype(np.float32)
    grad = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.3), h, dtype=np.float32)
    img: npt.NDArray[np.float32] = np.clip(base[None, None, :] * grad[:, None, None], 0, 255)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    tex = rng.normal(0, rng.uniform(2, 20), (max(2, h // 4), max(2, w // 4), 1))
    img += cv2.resize(tex.astype(np.float32), (w, h))[..., None]
    for _ in range(int(rng.integers(0, 4))):
        y = int(rng.integers(0, h))
        colour = tuple(float(v) for v in rng.integers(0, 256, 3))
        cv2.line(
            img,
            (0, y),
            (w - 1, y + int(rng.integers(-h // 4, h // 4 + 1))),
            colour,
            int(rng.integers(1, 4)),
        )
    return np.clip(img, 0, 255).astype(np.uint8)


def place(
    plate: Image,
    corners: tuple[tuple[float, float], ...],
    rng: np.random.Generator,
    level: float,
) -> tuple[Image, Matrix, npt.NDArray[np.float64]]:
    """Warp the plate into a crop; return the crop, the homography and the plate quad.

    The crop is what a detector would hand the reader: the plate's bounding box with a
    margin that is tight (can clip the plate edge), normal or loose.
    """
    src = np.array(corners, np.float64)
    pw = src[1, 0] - src[0, 0]
    ph = src[3, 1] - src[0, 1]
    # Plate width in the crop: real detector crops are 60..300 px wide.
    target_w = float(rng.uniform(70, 260))
    s = target_w / pw
    quad = (src - src[0]) * s
    # Pose: rotation (rarely up to 20 deg), yaw/pitch as a trapezoid, shear.
    angle = float(np.clip(rng.normal(0, 4 + 5 * level), -20, 20)) * min(1.0, 0.3 + level)
    yaw = float(rng.uniform(-0.22, 0.22)) * level
    pitch = float(rng.uniform(-0.12, 0.12)) * level
    shear = float(rng.uniform(-0.15, 0.15)) * level
    h_px = ph * s
    w_px = pw * s
    quad[0] += (shear * h_px, h_px * yaw / 2)
    quad[3] += (0, -h_px * yaw / 2)
    quad[1] += (0, -h_px * yaw / 2)
    quad[2] += (-shear * h_px, h_px * yaw / 2)
    quad[[0, 1], 0] += w_px * pitch / 2 * np.array([1, -1])
    quad += rng.normal(0, 0.02 * h_px * level, quad.shape)
    c = quad.mean(axis=0)
    rot = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, 1.0)
    quad = np.hstack([quad, np.ones((4, 1))]) @ rot.T
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    bw, bh = x1 - x0, y1 - y0
    roll = rng.random()
    if roll < 0.25:  # tight: the detector clipped the edge a little
        lo, hi = -0.04, 0.03
    elif roll < 0.25 + 0.45 * level + 0.2:
        lo, hi = 0.02, 0.14
    else:  # loose: bumper, car body and more furniture in view
        lo, hi = 0.1, 0.45
    m = rng.uniform(lo, hi, 4) * np.array([bw, bh, bw, bh])
    m[[1, 3]] += rng.uniform(0, 0.15, 2) * bh * (roll >= 0.7)
    out_w = max(8, round(bw + m[0] + m[2]))
    out_h = max(8, round(bh + m[1] + m[3]))
    quad += np.array([m[0] - x0, m[1] - y0])
    hom = cv2.getPerspectiveTransform(src.astype(np.float32), quad.astype(np.float32))
    # The frame (if any) lies outside ``corners`` and warps along through ``hom``.
    bg = _background(rng, out_h, out_w)
    warped = cv2.warpPerspective(plate, hom, (out_w, out_h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(
        np.ones(plate.shape[:2], np.float32), hom, (out_w, out_h), flags=cv2.INTER_LINEAR
    )[..., None]
    crop = (warped * mask + bg * (1 - mask)).astype(np.uint8)
    return crop, hom.astype(np.float64), quad


def _glare(img: npt.NDArray[np.float32], rng: np.random.Generator, level: float) -> None:
    h, w = img.shape[:2]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    r = rng.uniform(0.15, 0.6) * w
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)).astype(np.float32)
    img += blob[..., None] * rng.uniform(60, 200) * level


def _shadow(img: npt.NDArray[np.float32], rng: np.random.Generator, level: float) -> None:
    w = img.shape[1]
    x = int(rng.integers(0, w))
    side = slice(0, x) if rng.random() < 0.5 else slice(x, w)
    img[:, side] *= 1 - rng.uniform(0.2, 0.6) * level


def _occlude(
    img: npt.NDArray[np.float32], quad: npt.NDArray[np.float64], rng: np.random.Generator
) -> None:
    """A tow bar, bumper lip or bike rack over a strip of the plate; characters stay legible."""
    ys = quad[:, 1]
    top, bot = float(ys.min()), float(ys.max())
    band = (bot - top) * rng.uniform(0.08, 0.2)
    colour = rng.integers(0, 256, 3).astype(np.float32)
    if rng.random() < 0.5:
        img[max(0, int(top - band * 0.3)) : int(top + band)] = colour
    else:
        img[int(bot - band) : int(bot + band * 0.3) + 1] = colour


# The longest smear, as a share of the plate's height, at degradation level 1. A plate
# moves 5.6 cm in a 4 ms exposure at 50 km/h, half a plate's height across the view; a
# vehicle driving towards the camera smears less (the simulator's scene at night: median
# 12 %, 9 in 10 under 19 %, up to 32 % of the plate's height; at dusk's 8 ms twice that).
MOTION_MAX = 0.35


def motion_length(rng: np.random.Generator, plate_height: float, level: float) -> int:
    """Length (px, at least 2) of one motion blur of a plate ``plate_height`` px high."""
    share = rng.uniform(0.03, 0.05 + (MOTION_MAX - 0.05) * level)
    return max(2, round(share * plate_height))


def _motion_kernel(rng: np.random.Generator, length: int) -> npt.NDArray[np.float32]:
    """A line of ``length`` px: the blur of a plate moving during the exposure.

    Vehicles drive towards or away from an ANPR camera, so their plates move
    mostly up or down the image (7 of 10 within ~20 degrees of vertical); a
    camera beside the road or a turning vehicle adds a sideways part.
    """
    if rng.random() < 0.7:
        theta = float(rng.normal(np.pi / 2, 0.35))
    else:
        theta = float(rng.uniform(0, np.pi))
    size = length | 1
    kern = np.zeros((size, size), np.float32)
    c, r = size // 2, (length - 1) / 2
    dx, dy = r * np.cos(theta), r * np.sin(theta)
    cv2.line(kern, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return kern / max(float(kern.sum()), 1e-6)


def photometric(
    img: Image, quad: npt.NDArray[np.float64], rng: np.random.Generator, level: float
) -> Image:
    """Light, IR, occlusion, blur, resolution, noise and JPEG, scaled by ``level``."""
    f = img.astype(np.float32)
    if rng.random() < 0.3 * level:
        _occlude(f, quad, rng)
    if rng.random() < 0.25 * level:
        _shadow(f, rng, level)
    if rng.random() < 0.2 * level:
        _glare(f, rng, level)
    f = f * rng.uniform(1 - 0.5 * level, 1 + 0.3 * level) + rng.uniform(-40, 40) * level
    if rng.random() < 0.15 * level + 0.03:  # IR/night: grey, bright retroreflective ground
        g = cv2.cvtColor(np.clip(f, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
        g = cv2.equalizeHist(g).astype(np.float32) * rng.uniform(0.6, 1.0)
        f = np.repeat(g[..., None], 3, axis=2)
    f = np.clip(f, 0, 255)
    gamma = rng.uniform(1 - 0.4 * level, 1 + 0.6 * level)
    f = 255.0 * (f / 255.0) ** gamma
    h, w = f.shape[:2]
    # Blur in proportion to the character height, so small crops stay legible.
    px = max(0.3, float(np.ptp(quad[:, 1])) / 60.0)
    if rng.random() < 0.5 * level + 0.1:
        sigma = rng.uniform(0.3, 0.3 + 1.2 * level) * px
        f = np.asarray(cv2.GaussianBlur(f, (0, 0), sigma), np.float32)
    if rng.random() < 0.3 * level:  # motion blur, mostly up or down the plate
        k = motion_length(rng, float(np.ptp(quad[:, 1])), level)
        f = np.asarray(cv2.filter2D(f, -1, _motion_kernel(rng, k)), np.float32)
    if rng.random() < 0.4 * level:  # low resolution, scaled back up
        s = rng.uniform(min(0.85, max(0.3, 1 - 0.7 * level)), 0.95)
        small = cv2.resize(
            f, (max(4, round(w * s)), max(4, round(h * s))), interpolation=cv2.INTER_AREA
        )
        f = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    f += rng.normal(0, rng.uniform(0, 2 + 12 * level), f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        q = int(rng.integers(round(90 - 70 * level), 96))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = np.asarray(decoded, np.uint8)
    return out
