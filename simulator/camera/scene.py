"""The synthetic traffic camera: a road seen from a roadside pole, vehicles with real plates.

Each vehicle is a box whose face towards the camera is a pre-drawn texture
(``sprites``) warped into the frame with the exact homography of its plane,
so the plate's four corners in the ground truth are where the plate is drawn.
Per frame the cost is a background copy, one small warp per vehicle in view,
motion blur on that vehicle's box only, and precomputed rain and sensor noise.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from agent.core.events import Frame
from simulator.camera.background import noise_layers, rain_layers, road_background
from simulator.camera.geometry import camera_for, layout_for
from simulator.camera.sprites import Sprite, build_sprite
from simulator.camera.traffic import (
    DEFAULT_CLASSES,
    DEFAULT_COUNTRIES,
    Traffic,
    TrafficConfig,
    Vehicle,
)
from simulator.camera.truth import FrameTruth, PassTruth, VehicleInFrame

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["Light", "Scene", "SceneConfig", "SimFrame"]

Light = Literal["day", "dusk", "night"]
Image = npt.NDArray[np.uint8]
Poly = npt.NDArray[np.float32]
_SHUTTER_MS = {"day": 2.0, "dusk": 8.0, "night": 4.0}
_NOISE_SIGMA = {"day": 2.0, "dusk": 4.0, "night": 7.0}
_LAYERS = 4  # precomputed noise frames (rain has three times as many)


@dataclass(frozen=True, slots=True)
class SceneConfig:
    """Everything that defines a scene; the same config and seed give the same frames."""

    seed: int = 0
    width: int = 1280
    height: int = 720
    fps: float = 25.0
    lanes: int = 1  # one lane per camera, as ANPR installations frame it (docs/SIMULATOR.md)
    directions: str | None = None  # e.g. "AR": lane 1 approaching, lane 2 receding
    rate_per_min: float = 20.0  # vehicles per minute, all lanes together
    speed_kmh: float = 50.0
    countries: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_COUNTRIES))
    classes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CLASSES))
    no_plate_rate: float = 0.02
    occlusion_rate: float = 0.04
    light: Light = "day"
    rain: float = 0.0  # 0..1
    blur: float = 1.0  # shutter time multiplier (0: no motion blur)
    focal_px: float | None = None
    min_plate_px: float = 48.0  # narrower plates do not count as readable frames
    start_wall_ms: int | None = None  # None: the wall clock when the scene is made

    def header(self) -> dict[str, Any]:
        """The truth file's scene line (without kind/schema)."""
        return {
            "seed": self.seed,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "lanes": self.lanes,
            "rate_per_min": self.rate_per_min,
            "speed_kmh": self.speed_kmh,
            "countries": dict(self.countries),
            "classes": dict(self.classes),
            "no_plate_rate": self.no_plate_rate,
            "occlusion_rate": self.occlusion_rate,
            "light": self.light,
            "rain": self.rain,
            "blur": self.blur,
            "min_plate_px": self.min_plate_px,
        }


@dataclass(frozen=True, slots=True)
class SimFrame:
    """A rendered frame, what is in it, and the passes that ended with it."""

    frame: Frame
    truth: FrameTruth
    passes: tuple[PassTruth, ...]


@dataclass(slots=True)
class _Active:
    vehicle: Vehicle
    sprite: Sprite | None = None
    first: int | None = None
    last: int | None = None
    frames: int = 0
    plate_frames: int = 0


@dataclass(slots=True)
class _Geo:
    """One vehicle's projection in one frame."""

    active: _Active
    z: float
    parts: list[tuple[Poly, str]]  # convex polygons drawn flat: (points, "side"|"top")
    face: Poly  # (4, 2) image corners of the face
    bbox: tuple[int, int, int, int]
    plate: Poly | None
    motion: tuple[float, float]
    visible: float = 0.0


def _area(poly: Poly) -> float:
    return abs(float(cv2.contourArea(poly)))


def _overlap(a: Poly, b: Poly) -> float:
    area, _ = cv2.intersectConvexConvex(a, b)
    return float(area)


@functools.lru_cache(maxsize=256)
def _line_kernel(dx: int, dy: int) -> npt.NDArray[np.float32]:
    n = 2 * max(abs(dx), abs(dy)) + 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    cv2.line(k, (c - dx, c - dy), (c + dx, c + dy), 1.0, 1, cv2.LINE_AA)
    return np.asarray(k / k.sum(), np.float32)


class Scene:
    """Renders frames one after the other (``step``); not thread-safe."""

    def __init__(self, cfg: SceneConfig) -> None:
        self.cfg = cfg
        self.road = layout_for(cfg.lanes, cfg.directions)
        self.camera = camera_for(self.road, cfg.width, cfg.height, focal_px=cfg.focal_px)
        self._axes = self.camera.axes()
        self.start_wall_ms = (
            cfg.start_wall_ms if cfg.start_wall_ms is not None else int(time.time() * 1000)
        )
        self._traffic = Traffic(
            TrafficConfig(
                seed=cfg.seed,
                rate_per_min=cfg.rate_per_min,
                speed_kmh=cfg.speed_kmh,
                countries=cfg.countries,
                classes=cfg.classes,
                no_plate_rate=cfg.no_plate_rate,
                occlusion_rate=cfg.occlusion_rate,
            ),
            self.road,
        )
        rng = np.random.default_rng((cfg.seed, 1_000_003))
        self._background = road_background(self.camera, self.road, cfg.light, cfg.rain, rng)
        self._noise = noise_layers(cfg.width, cfg.height, _NOISE_SIGMA[cfg.light], _LAYERS, rng)
        self._rain = rain_layers(cfg.width, cfg.height, cfg.rain, 3 * _LAYERS, rng)
        self._frame_rect = np.array(
            [[0, 0], [cfg.width, 0], [cfg.width, cfg.height], [0, cfg.height]], np.float32
        )
        self._active: dict[int, _Active] = {}
        self.index = 0

    def header(self) -> dict[str, Any]:
        """The truth file's scene line (without kind/schema)."""
        cam = self.camera
        return {
            **self.cfg.header(),
            "directions": list(self.road.directions),
            "lane_zones": [
                {"lane": lane, "polygon": [list(p) for p in poly]}
                for lane, poly in self.lane_zones()
            ],
            "start_wall_ms": self.start_wall_ms,
            "camera": {
                "focal_px": round(cam.focal_px, 1),
                "position_m": list(cam.position),
                "target_m": list(cam.target),
            },
        }

    def lane_zones(self) -> list[tuple[int, tuple[tuple[float, float], ...]]]:
        """Where each lane's plates appear: polygons in normalised image coordinates (0..1).

        The lane's strip at plate height (0.5 m) from 2 m to 300 m ahead, clipped to
        the frame: what the agent's ``LaneZone`` takes, so its lanes match the truth's.
        """
        w, h = self.cfg.width, self.cfg.height
        out = []
        for lane in range(1, self.road.lanes + 1):
            x = self.road.lane_x(lane)
            quad = self._project(
                [
                    (x - 1.75, 0.5, 300.0),
                    (x + 1.75, 0.5, 300.0),
                    (x + 1.75, 0.5, 2.0),
                    (x - 1.75, 0.5, 2.0),
                ]
            )
            if quad is None:
                continue
            area, clipped = cv2.intersectConvexConvex(quad, self._frame_rect)
            if area <= 0 or clipped is None:
                continue
            pts = tuple(
                (round(float(px) / w, 4), round(float(py) / h, 4))
                for px, py in clipped.reshape(-1, 2)
            )
            out.append((lane, pts))
        return out

    @property
    def background(self) -> Image:
        """The empty road (read-only view)."""
        view = self._background.view()
        view.flags.writeable = False
        return view

    def plate_image(self, vehicle: int) -> Image | None:
        """The plate of a vehicle in view as drawn on it (frontal, lit), or None."""
        active = self._active.get(vehicle)
        if active is None or active.vehicle.plate is None:
            return None
        sprite = self._sprite(active)
        if sprite.plate_quad is None:
            return None
        x0, y0 = np.floor(sprite.plate_quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(sprite.plate_quad.max(axis=0)).astype(int)
        return sprite.levels[0][max(0, y0) : y1, max(0, x0) : x1].copy()

    def start_now(self) -> None:
        """Stamp frame 0 with the wall clock now (a live camera, once its scene is built)."""
        if self.index:
            raise RuntimeError("the scene has started: its clock cannot move")
        self.start_wall_ms = int(time.time() * 1000)

    def wall_ms(self, index: int) -> int:
        """Wall-clock time of frame ``index``."""
        return self.start_wall_ms + round(index * 1000 / self.cfg.fps)

    # ------------------------------------------------------------ geometry

    def _project(self, pts: list[tuple[float, float, float]]) -> Poly | None:
        uv, depth = self.camera.project(np.array(pts, np.float64), self._axes)
        if float(depth.min()) < 0.3:
            return None
        return uv.astype(np.float32)

    def _geometry(self, active: _Active, t: float) -> _Geo | None:
        v = active.vehicle
        x = self.road.lane_x(v.lane)
        w, h, length = v.size
        z = v.z_at(t)
        xl, xr = x - w / 2, x + w / 2
        face = self._project([(xl, h, z), (xr, h, z), (xr, 0.0, z), (xl, 0.0, z)])
        top = self._project([(xl, h, z + length), (xr, h, z + length), (xr, h, z), (xl, h, z)])
        if face is None or top is None:
            return None
        parts: list[tuple[Poly, str]] = []
        cam_x = self.camera.position[0]
        side_x = xr if cam_x > xr else xl if cam_x < xl else None
        if side_x is not None:
            side = self._project(
                [(side_x, h, z), (side_x, h, z + length), (side_x, 0.0, z + length), (side_x, 0, z)]
            )
            if side is not None:
                parts.append((side, "side"))
        if self.camera.position[1] > h:
            parts.append((top, "top"))
        every = np.concatenate([face, *[p for p, _ in parts]])
        x0, y0 = np.floor(every.min(axis=0)).astype(int)
        x1, y1 = np.ceil(every.max(axis=0)).astype(int) + 1
        bbox = (
            max(0, int(x0)),
            max(0, int(y0)),
            min(self.cfg.width, int(x1)),
            min(self.cfg.height, int(y1)),
        )
        if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
            return None
        plate = None
        motion = (0.0, 0.0)
        if v.plate is not None:
            sprite = self._sprite(active)
            if sprite.plate_quad is not None:
                hom = self._face_homography(sprite, face)
                quad = sprite.plate_quad.reshape(-1, 1, 2).astype(np.float32)
                plate = np.asarray(cv2.perspectiveTransform(quad, hom), np.float32).reshape(4, 2)
        shutter = _SHUTTER_MS[self.cfg.light] * self.cfg.blur / 1000.0
        if shutter > 0:
            centre = (x, 0.5, 0.0)
            a = self._project([(centre[0], centre[1], v.z_at(t - shutter / 2))])
            b = self._project([(centre[0], centre[1], v.z_at(t + shutter / 2))])
            if a is not None and b is not None:
                motion = (float(b[0, 0] - a[0, 0]), float(b[0, 1] - a[0, 1]))
        return _Geo(active, z, parts, face, bbox, plate, motion)

    def _sprite(self, active: _Active) -> Sprite:
        if active.sprite is None:
            haze = 0.25 * self.cfg.rain
            active.sprite = build_sprite(active.vehicle, self.cfg.light, haze)
        return active.sprite

    @staticmethod
    def _face_homography(sprite: Sprite, face: Poly, level: int = 0) -> npt.NDArray[np.float64]:
        th, tw = sprite.levels[0].shape[:2]
        src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
        hom = cv2.getPerspectiveTransform(src, face.astype(np.float32))
        if level:
            hom = hom @ np.diag([2.0**level, 2.0**level, 1.0])
        return hom.astype(np.float64)

    def _visibility(self, geos: list[_Geo]) -> None:
        """Fraction of each plate inside the frame and not behind a nearer vehicle."""
        for i, g in enumerate(geos):  # geos are sorted far to near
            if g.plate is None:
                continue
            area = _area(g.plate)
            if area < 1.0:
                continue
            seen = _overlap(g.plate, self._frame_rect)
            for nearer in geos[i + 1 :]:
                for poly in [nearer.face, *[p for p, _ in nearer.parts]]:
                    seen -= _overlap(g.plate, poly)
            g.visible = float(np.clip(seen / area, 0.0, 1.0))

    # ------------------------------------------------------------- drawing

    def _draw(self, img: Image, g: _Geo) -> None:
        sprite = self._sprite(g.active)
        x0, y0, x1, y1 = g.bbox
        roi = img[y0:y1, x0:x1]
        canvas = roi.copy()
        off = np.array([x0, y0], np.float32)
        colours = {"side": sprite.side, "top": sprite.top}
        for poly, kind in g.parts:
            cv2.fillConvexPoly(
                canvas, np.round((poly - off) * 4).astype(np.int32), colours[kind], cv2.LINE_AA, 2
            )
        tw = sprite.levels[0].shape[1]
        width_px = float(np.linalg.norm(g.face[1] - g.face[0]))
        level = int(np.clip(math.floor(math.log2(max(tw / max(width_px, 1.0), 1.0))), 0, 5))
        level = min(level, len(sprite.levels) - 1)
        hom = self._face_homography(sprite, g.face, level)
        shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
        cv2.warpPerspective(
            sprite.levels[level],
            shift @ hom,
            (x1 - x0, y1 - y0),
            dst=canvas,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_TRANSPARENT,
        )
        dx, dy = round(g.motion[0] / 2), round(g.motion[1] / 2)
        if max(abs(dx), abs(dy)) < 1:
            roi[:] = canvas
            return
        kernel = _line_kernel(dx, dy)
        mask = np.zeros(canvas.shape[:2], np.float32)
        for poly in [g.face, *[p for p, _ in g.parts]]:
            cv2.fillConvexPoly(mask, np.round(poly - off).astype(np.int32), 1.0)
        blurred = cv2.filter2D(canvas, -1, kernel)
        alpha = cv2.filter2D(mask, -1, kernel)
        roi[:] = cv2.blendLinear(blurred, roi.copy(), alpha, 1.0 - alpha)

    # ---------------------------------------------------------------- step

    def step(self, *, draw: bool = True, mono_s: float | None = None) -> SimFrame:
        """Advance one frame; ``draw=False`` keeps the truth going without drawing."""
        i = self.index
        self.index += 1
        t = i / self.cfg.fps
        wall = self.wall_ms(i)
        for v in self._traffic.starting_before(t):
            self._active[v.id] = _Active(v)
        done = [a for a in self._active.values() if t > a.vehicle.t_end]
        geos = [g for a in self._active.values() if (g := self._geometry(a, t)) is not None]
        geos.sort(key=lambda g: -g.z)
        self._visibility(geos)
        image = self._background.copy()
        if draw:
            for g in geos:
                self._draw(image, g)
            if self._rain:
                cv2.add(image, self._rain[i % len(self._rain)], dst=image)
            pos, neg = self._noise[i % len(self._noise)]
            cv2.add(image, pos, dst=image)
            cv2.subtract(image, neg, dst=image)
        seen = []
        for g in geos:
            a = g.active
            a.first = i if a.first is None else a.first
            a.last = i
            a.frames += 1
            width = 0.0 if g.plate is None else float(np.linalg.norm(g.plate[1] - g.plate[0]))
            if g.visible >= 0.95 and width >= self.cfg.min_plate_px:
                a.plate_frames += 1
            corners = None
            if g.plate is not None:
                p = [(round(float(x), 2), round(float(y), 2)) for x, y in g.plate]
                corners = (p[0], p[1], p[2], p[3])
            v = a.vehicle
            seen.append(
                VehicleInFrame(
                    v.id,
                    v.lane,
                    v.direction,
                    g.bbox,
                    corners,
                    round(g.visible, 3),
                    round(width, 1),
                    None if v.plate is None else v.plate.text,
                )
            )
        passes = []
        for a in done:
            del self._active[a.vehicle.id]
            if a.frames:
                passes.append(self._pass(a, complete=True))
        mono = mono_s if mono_s is not None else t
        return SimFrame(
            Frame(i, wall, mono, image),
            FrameTruth(i, wall, tuple(seen)),
            tuple(passes),
        )

    def finish(self) -> tuple[PassTruth, ...]:
        """Passes of the vehicles still in view (``complete`` false); the scene stays usable."""
        return tuple(self._pass(a, complete=False) for a in self._active.values() if a.frames)

    def _pass(self, a: _Active, *, complete: bool) -> PassTruth:
        v = a.vehicle
        assert a.first is not None  # noqa: S101 - only called for vehicles seen
        assert a.last is not None  # noqa: S101
        readable = v.plate is not None and v.occluder != "bikerack" and a.plate_frames >= 3
        return PassTruth(
            vehicle=v.id,
            text=None if v.plate is None else v.plate.text,
            country=None if v.plate is None else v.plate.country,
            lane=v.lane,
            direction=v.direction,
            vclass=v.vclass,
            speed_kmh=round(v.speed_mps * 3.6, 1),
            enter_ms=self.wall_ms(a.first),
            exit_ms=self.wall_ms(a.last),
            frames=a.frames,
            plate_frames=a.plate_frames,
            readable=readable,
            occluder=v.occluder,
            complete=complete,
        )

    def frames(self, seconds: float | None = None) -> Iterator[SimFrame]:
        """Frames from the current one on, ``seconds`` long (None: without end)."""
        stop = None if seconds is None else self.index + round(seconds * self.cfg.fps)
        while stop is None or self.index < stop:
            yield self.step()
