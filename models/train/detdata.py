"""Synthetic detector scenes: rendered plates composited into cluttered grey patches.

Each sample is a ``SIZE`` x ``SIZE`` grey patch *at detector scale* (the frame as
the model sees it after the agent's letterbox, 512 px on the long side), holding
0-3 plates 14-230 px wide (about 35-580 px in a 1280-wide frame), each with its
four corners. Rendering at detector scale instead of rendering a full frame and
shrinking it keeps a sample at ~10 ms, the cost that bounds training here.

Backgrounds are procedural and varied on purpose, because a detector trained on
synthetic scenes generalises only if the negatives are hard: gradients and
texture, car-like bodies around the plate (grille bars, headlights, bumper
edges), road signs and white boxes without text, and distractor text
(watermarks, stickers, shop signs) in the plate fonts. Shards of seed ``s`` are
always the same data, written atomically so an interrupted render resumes.

    python -m models.train.detdata --shards 12 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import cv2
import numpy as np

from simulator.plates import RENDER_VERSION, draw_plate, random_spec
from simulator.plates.glyphs import available_fonts, glyph

SIZE = 256
# Bumped whenever the scenes change (2: plates posed in 3-D, steep views
# foreshortened); shard names carry it with the plate renderer's version.
DETDATA_VERSION = 2
MAX_PLATES = 4
WEIGHTS = {"B": 0.2, "NL": 0.1, "F": 0.25, "D": 0.12, "L": 0.05, "EU": 0.13, "BR": 0.15}
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _gray_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Gradient + multi-scale noise + random edges: road, wall, foliage, sky."""
    gy = np.linspace(rng.uniform(0, 255), rng.uniform(0, 255), h, dtype=np.float32)
    gx = np.linspace(0, rng.uniform(-60, 60), w, dtype=np.float32)
    img = gy[:, None] + gx[None, :]
    for cell in (4, 16, 48):
        if rng.random() < 0.7:
            n = rng.normal(0, rng.uniform(3, 30), (max(2, h // cell), max(2, w // cell)))
            img += cv2.resize(n.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 12))):
        p0 = (int(rng.integers(-w // 2, w * 3 // 2)), int(rng.integers(-h // 2, h * 3 // 2)))
        p1 = (int(rng.integers(-w // 2, w * 3 // 2)), int(rng.integers(-h // 2, h * 3 // 2)))
        cv2.line(img, p0, p1, float(rng.uniform(0, 255)), int(rng.integers(1, 6)))
    return img


def _text_mask(rng: np.random.Generator, text: str, ch: int, fonts: tuple[str, ...]) -> np.ndarray:
    """Ink mask of ``text`` at character height ``ch`` (distractor lettering)."""
    font = fonts[int(rng.integers(0, len(fonts)))]
    parts = []
    for c in text:
        g = glyph(font, c)
        w = max(1, round(g.shape[1] * ch / g.shape[0] * rng.uniform(0.8, 1.2)))
        parts.append(cv2.resize(g, (w, ch), interpolation=cv2.INTER_AREA))
        parts.append(np.zeros((ch, max(1, ch // 6)), np.float32))
    return np.hstack(parts)


def _blend(img: np.ndarray, mask: np.ndarray, x: int, y: int, value: float) -> None:
    """Blend ``value`` through ``mask`` at (x, y), clipped to the image."""
    h, w = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, img.shape[1]), min(y + h, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = mask[y0 - y : y1 - y, x0 - x : x1 - x]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + value * a


def _distractors(rng: np.random.Generator, img: np.ndarray, fonts: tuple[str, ...]) -> None:
    """Text, signs, white boxes, grilles and lamps that are not plates."""
    h, w = img.shape
    for _ in range(int(rng.integers(0, 6))):
        kind = rng.random()
        x, y = int(rng.integers(-20, w)), int(rng.integers(-10, h))
        if kind < 0.35:  # watermark / sign / sticker text, sometimes on a light box
            n = int(rng.integers(2, 5)) if rng.random() < 0.5 else int(rng.integers(8, 16))
            text = "".join(_ALNUM[int(v)] for v in rng.integers(0, len(_ALNUM), n))
            ch = int(rng.integers(5, 40))
            mask = _text_mask(rng, text, ch, fonts)
            if rng.random() < 0.4:
                pad = max(2, ch // 3)
                box_v = float(rng.uniform(150, 255))
                cv2.rectangle(
                    img, (x - pad, y - pad), (x + mask.shape[1] + pad, y + ch + pad), box_v, -1
                )
                _blend(img, mask, x, y, float(rng.uniform(0, 90)))
            else:
                _blend(img, mask * float(rng.uniform(0.3, 1.0)), x, y, float(rng.uniform(0, 255)))
        elif kind < 0.55:  # plain bright rectangle: a plate-shaped negative
            bw, bh = int(rng.integers(10, 160)), int(rng.integers(4, 50))
            cv2.rectangle(img, (x, y), (x + bw, y + bh), float(rng.uniform(140, 255)), -1)
        elif kind < 0.75:  # grille: parallel bars
            bw, bh = int(rng.integers(30, 200)), int(rng.integers(10, 60))
            step = int(rng.integers(3, 10))
            v = float(rng.uniform(0, 255))
            for yy in range(y, y + bh, step):
                cv2.line(img, (x, yy), (x + bw, yy), v, max(1, step // 2))
        else:  # headlight / lamp: bright blob with a halo
            r = int(rng.integers(3, 30))
            cv2.circle(img, (x, y), r * 2, float(rng.uniform(120, 220)), -1)
            cv2.ellipse(img, (x, y), (r, max(2, r // 2)), 0, 0, 360, 255.0, -1)


def _car_body(rng: np.random.Generator, img: np.ndarray, quad: np.ndarray) -> None:
    """A vehicle front/rear around a plate: body panel, bumper edge, lamps, grille."""
    (x0, y0), (x1, y1) = quad.min(0), quad.max(0)
    pw = max(8.0, x1 - x0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bw, bh = pw * rng.uniform(2.5, 5), pw * rng.uniform(1.2, 3)
    top = cy - bh * rng.uniform(0.5, 0.8)
    body = float(rng.uniform(0, 255))
    cv2.rectangle(img, (int(cx - bw / 2), int(top)), (int(cx + bw / 2), int(top + bh)), body, -1)
    edge = float(np.clip(body + rng.uniform(-80, 80), 0, 255))
    yb = int(cy + (y1 - y0) * rng.uniform(0.6, 1.5))
    cv2.line(img, (int(cx - bw / 2), yb), (int(cx + bw / 2), yb), edge, int(rng.integers(1, 4)))
    if rng.random() < 0.6:  # lamps level with or above the plate
        ly = int(cy - (y1 - y0) * rng.uniform(0.5, 3))
        for sx in (-1, 1):
            lx = int(cx + sx * bw * rng.uniform(0.3, 0.45))
            cv2.ellipse(
                img,
                (lx, ly),
                (int(pw * 0.3), int(pw * 0.12)),
                0,
                0,
                360,
                float(rng.uniform(150, 255)),
                -1,
            )
    if rng.random() < 0.5:  # grille above the plate
        gy0 = int(cy - (y1 - y0) * rng.uniform(1.2, 3))
        step = max(2, int(pw * rng.uniform(0.04, 0.1)))
        v = float(rng.uniform(0, 255))
        for yy in range(gy0, gy0 + int(pw * 0.4), step):
            cv2.line(img, (int(cx - pw * 0.8), yy), (int(cx + pw * 0.8), yy), v, max(1, step // 2))


def project_plate(pw: float, ph: float, yaw: float, pitch: float, distance: float) -> np.ndarray:
    """Image corners (clockwise from top-left) of a ``pw`` x ``ph`` plate turned in 3-D.

    The plate turns by ``yaw`` about the vertical and ``pitch`` about the
    horizontal (radians) and a pinhole camera ``distance`` plate widths away
    projects it at the scale where a plate seen square on is ``pw`` wide:
    turned, it is foreshortened and its near edge is taller than its far one.
    """
    q3 = np.array(
        [[-pw / 2, -ph / 2, 0], [pw / 2, -ph / 2, 0], [pw / 2, ph / 2, 0], [-pw / 2, ph / 2, 0]]
    )
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    turn = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]) @ np.array(
        [[1, 0, 0], [0, cp, -sp], [0, sp, cp]]
    )
    cam = q3 @ turn.T + (0, 0, distance * pw)
    return np.asarray(cam[:, :2] * (distance * pw) / cam[:, 2:3] + (pw / 2, ph / 2), np.float64)


def _plate_quad(rng: np.random.Generator, pw: float, ph: float) -> np.ndarray:
    """Destination corners of a plate of ``pw`` x ``ph`` px (seen square on) under a random pose.

    ``project_plate`` with most plates within 15 degrees of square on and a
    quarter of them 30-65 degrees (a car parked at an angle, a camera beside
    the road), a camera up to 35 degrees above the plate (on a pole, looking
    down) and 2.5-12 plate widths away; then a roll in the image and a little
    shear (rolling shutter, a crooked plate).
    """
    yaw = np.deg2rad(
        rng.uniform(30, 65) * rng.choice([-1, 1]) if rng.random() < 0.25 else rng.normal(0, 10)
    )
    pitch = np.deg2rad(rng.uniform(-10, 35))
    q = project_plate(pw, ph, yaw, pitch, float(rng.uniform(2.5, 12.0)))
    q[:, 0] += q[:, 1] * rng.uniform(-0.1, 0.1)  # shear
    angle = np.deg2rad(np.clip(rng.normal(0, 6), -20, 20))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    c = q.mean(0)
    return np.asarray((q - c) @ rot.T + c + rng.normal(0, 0.02 * ph, q.shape), np.float64)


def _country(rng: np.random.Generator) -> str:
    names = list(WEIGHTS)
    p = np.array([WEIGHTS[c] for c in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


Layer = tuple[np.ndarray, np.ndarray, np.ndarray]  # quad, warped grey plate, its alpha mask


def _pose_plate(rng: np.random.Generator, placed: list[Layer]) -> Layer | None:
    """Draw and pose one plate; None if it would overlap one already placed."""
    flat = draw_plate(random_spec(rng, _country(rng)), rng, float(rng.uniform(0.2, 1.0)))
    src = np.array(flat.corners, np.float64)
    pw_src = src[1, 0] - src[0, 0]
    ph_src = src[3, 1] - src[0, 1]
    width = float(np.exp(rng.uniform(np.log(14), np.log(230))))
    ph = width * ph_src / pw_src
    quad = _plate_quad(rng, width, ph)
    qw, qh = np.ptp(quad, axis=0)
    quad += rng.uniform([-0.2 * qw, 0], [SIZE - 0.8 * qw, SIZE - qh]) - quad.min(0)
    centre = quad.mean(0)
    if any(np.abs(centre - q.mean(0)).max() < 0.6 * width for q, _, _ in placed):
        return None
    gray = cv2.cvtColor(flat.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # Shrink in one INTER_AREA step before the warp so small plates are not aliased.
    scale = width / pw_src
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        src = src * scale
    full = np.array(
        [[0, 0], [gray.shape[1], 0], [gray.shape[1], gray.shape[0]], [0, gray.shape[0]]], np.float32
    )
    hom = cv2.getPerspectiveTransform(src.astype(np.float32), quad.astype(np.float32))
    warped = cv2.warpPerspective(gray, hom, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    mask = np.zeros((SIZE, SIZE), np.float32)
    outline = cv2.perspectiveTransform(full[None], hom)[0]
    cv2.fillConvexPoly(mask, np.round(outline * 4).astype(np.int32), 1.0, cv2.LINE_AA, 2)
    light = rng.uniform(0.45, 1.25)  # plate lighting relative to the scene
    return quad, np.clip(warped * light + rng.uniform(-20, 20), 0, 255), mask


def _photometric(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Global light, blur, noise and JPEG."""
    if rng.random() < 0.3:  # light falloff / shadow
        yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
        img = img * (
            1 - rng.uniform(0, 0.6) * ((xx - rng.random()) ** 2 + (yy - rng.random()) ** 2)
        )
    img = img * rng.uniform(0.5, 1.3) + rng.uniform(-40, 40)
    if rng.random() < 0.5:
        k = float(rng.uniform(0.3, 1.6))
        img = cv2.GaussianBlur(img, (0, 0), k)
    if rng.random() < 0.2:  # motion blur
        n = int(rng.integers(3, 7))
        kern = np.zeros((n, n), np.float32)
        kern[n // 2] = 1 / n
        img = cv2.filter2D(img, -1, kern)
    img = img + rng.normal(0, rng.uniform(0, 8), img.shape)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        q = int(rng.integers(25, 90))
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])[1], 0)
    return out


def render_scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One grey patch and its plates' corners (K x 4 x 2, clockwise from top-left)."""
    fonts = available_fonts()
    img = _gray_texture(rng, SIZE, SIZE)
    _distractors(rng, img, fonts)
    placed: list[Layer] = []
    for _ in range(int(rng.choice([0, 1, 1, 1, 2, 2, 3]))):
        layer = _pose_plate(rng, placed)
        if layer is not None:
            placed.append(layer)
    # Bodies first, then every plate: a second car must not paint over the first plate.
    for quad, _, _ in placed:
        if rng.random() < 0.6:
            _car_body(rng, img, quad)
    for _, plate, mask in placed:
        img[:] = img * (1 - mask) + plate * mask
    quads = np.array([q for q, _, _ in placed], np.float32).reshape(-1, 4, 2)
    return _photometric(rng, img), quads


def road_scenes(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` patches cut from the simulator's traffic camera (issue 8), at detector scale.

    Every 12th frame of a scene is drawn (neighbouring frames are near copies),
    letterboxed as the agent does (1280 -> 512, then a random zoom up to 2.5x for
    cameras framed tighter than the simulator's), and a patch is cut around a
    random plate. Plates less than half visible still count: the detector should
    find what the reader may still read.
    """
    from simulator.camera.scene import Scene, SceneConfig  # noqa: PLC0415 - heavy, only here

    rng = np.random.default_rng([seed, 8])
    images = np.zeros((n, SIZE, SIZE), np.uint8)
    quads = np.zeros((n, MAX_PLATES, 4, 2), np.float32)
    counts = np.zeros(n, np.uint8)
    scene, i = None, 0
    while i < n:
        if scene is None or scene.index > 600:
            light = str(rng.choice(["day", "day", "dusk", "night"]))
            cfg = SceneConfig(
                seed=int(rng.integers(1 << 30)),
                lanes=int(rng.integers(1, 5)),
                rate_per_min=float(rng.uniform(20, 60)),
                light=light,  # type: ignore[arg-type]
                rain=float(rng.uniform(0, 1)) if rng.random() < 0.2 else 0.0,
            )
            scene = Scene(cfg)
        for _ in range(11):
            scene.step(draw=False)
        sim = scene.step()
        plates = [np.array(v.corners, np.float32) for v in sim.truth.vehicles if v.corners]
        if not plates and rng.random() < 0.7:
            continue
        zoom = SIZE * 2 / 1280 * float(np.exp(rng.uniform(0, np.log(2.5))))
        gray = cv2.cvtColor(sim.frame.image, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(gray, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
        h, w = small.shape
        if plates:
            c = plates[int(rng.integers(len(plates)))].mean(0) * zoom
            x = int(np.clip(c[0] - rng.uniform(30, SIZE - 30), 0, max(0, w - SIZE)))
            y = int(np.clip(c[1] - rng.uniform(30, SIZE - 30), 0, max(0, h - SIZE)))
        else:
            x, y = int(rng.integers(0, w - SIZE + 1)), int(rng.integers(0, h - SIZE + 1))
        images[i] = small[y : y + SIZE, x : x + SIZE]
        inside = [q * zoom - (x, y) for q in plates]
        inside = [q for q in inside if (q.mean(0) >= 0).all() and (q.mean(0) < SIZE).all()]
        counts[i] = min(MAX_PLATES, len(inside))
        if counts[i]:
            quads[i, : counts[i]] = np.array(inside[: counts[i]])
        i += 1
    return images, quads, counts


def _shard_path(cache: Path, seed: int, k: int) -> Path:
    return cache / f"r{RENDER_VERSION}v{DETDATA_VERSION}-d{seed}-{k:04d}.npz"


def _road_path(cache: Path, seed: int, k: int) -> Path:
    return cache / f"r{RENDER_VERSION}-road{seed}-{k:04d}.npz"


def render_road_shard(args: tuple[Path, int, int, int]) -> Path:
    """Road shard ``k`` of ``seed`` (``n`` patches from the traffic camera), if not cached."""
    cache, seed, k, n = args
    path = _road_path(cache, seed, k)
    if not path.exists():
        images, quads, counts = road_scenes(seed * 1000 + k, n)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, quads=quads, counts=counts)
        tmp.rename(path)
    return path


def render_shard(args: tuple[Path, int, int, int]) -> Path:
    """Render shard ``k`` of ``seed`` (``n`` patches) unless it is already cached."""
    cache, seed, k, n = args
    path = _shard_path(cache, seed, k)
    if path.exists():
        return path
    rng = np.random.default_rng([seed, k, 7])
    images = np.zeros((n, SIZE, SIZE), np.uint8)
    quads = np.zeros((n, MAX_PLATES, 4, 2), np.float32)
    counts = np.zeros(n, np.uint8)
    for i in range(n):
        img, q = render_scene(rng)
        images[i] = img
        counts[i] = len(q)
        quads[i, : len(q)] = q
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=images, quads=quads, counts=counts)
    tmp.rename(path)
    return path


def ensure_shards(  # noqa: PLR0913 - the dataset's shape
    cache: Path, seed: int, shards: int, per_shard: int, workers: int, *, road: bool = False
) -> list[Path]:
    """Render the missing shards with ``workers`` processes; return all shard paths.

    ``road``: shards cut from the simulator's traffic camera instead of the
    procedural scenes.
    """
    cache.mkdir(parents=True, exist_ok=True)
    where = _road_path if road else _shard_path
    todo = [
        (cache, seed, k, per_shard) for k in range(shards) if not where(cache, seed, k).exists()
    ]
    t0 = time.monotonic()
    if todo:
        job = render_road_shard if road else render_shard
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done, path in enumerate(pool.imap_unordered(job, todo), 1):
                rate = done * per_shard / (time.monotonic() - t0)
                print(f"rendered {path.name} ({done}/{len(todo)}, {rate:.0f} scenes/s)", flush=True)
    return [where(cache, seed, k) for k in range(shards)]


def load_shards(paths: list[Path]) -> dict[str, np.ndarray]:
    """Concatenate shards into one in-memory dataset."""
    parts = [np.load(p) for p in paths]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0].files}


def main() -> None:
    """Render shards from the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(".cache/detector-data"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shards", type=int, default=12)
    ap.add_argument("--per-shard", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--road", action="store_true", help="traffic-camera shards instead")
    a = ap.parse_args()
    ensure_shards(a.cache, a.seed, a.shards, a.per_shard, a.workers, road=a.road)


if __name__ == "__main__":
    main()
