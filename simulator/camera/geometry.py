"""The camera's pinhole model and the road's layout (metres, world Y up, Z along the road).

The camera stands at the right roadside on a pole, looks along +Z and down at
the lanes. Lanes run along Z, numbered 1..n from left to right in the image;
approaching traffic (plates seen from the front) uses the left lanes,
receding traffic (rear plates) the right ones, as on a right-hand-traffic road.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LANE_W", "Camera", "RoadLayout", "layout_for"]

LANE_W = 3.5  # m
Points = npt.NDArray[np.float64]  # (n, 2) image points or (n, 3) world points


@dataclass(frozen=True, slots=True)
class Camera:
    """A pinhole camera without distortion: position, look-at point and focal length (px)."""

    width: int
    height: int
    focal_px: float
    position: tuple[float, float, float]
    target: tuple[float, float, float]

    def axes(self) -> npt.NDArray[np.float64]:
        """Rows: image-right, image-down and forward unit vectors in world coordinates."""
        fwd = np.subtract(self.target, self.position, dtype=np.float64)
        fwd /= np.linalg.norm(fwd)
        right = np.cross((0.0, 1.0, 0.0), fwd)
        right /= np.linalg.norm(right)
        down = np.cross(right, fwd)
        return np.stack([right, down, fwd])

    def project(self, world: Points, axes: npt.NDArray[np.float64]) -> tuple[Points, Points]:
        """Image points of world points, and their depth along the optical axis."""
        cam = (world - np.asarray(self.position)) @ axes.T
        depth = cam[:, 2]
        safe = np.maximum(depth, 1e-6)
        uv = np.empty((len(world), 2))
        uv[:, 0] = self.width / 2 + self.focal_px * cam[:, 0] / safe
        uv[:, 1] = self.height / 2 + self.focal_px * cam[:, 1] / safe
        return uv, depth


@dataclass(frozen=True, slots=True)
class RoadLayout:
    """Lane centres (X, m) and each lane's direction."""

    lanes: int
    directions: tuple[str, ...]  # "approaching" | "receding", per lane, left to right

    def lane_x(self, lane: int) -> float:
        """Centre of a 1-based lane."""
        return (lane - 0.5) * LANE_W

    @property
    def road_width(self) -> float:
        """Width of the carriageway."""
        return self.lanes * LANE_W


def default_directions(lanes: int) -> str:
    """Left half approaching (A), right half receding (R); one lane approaches."""
    approaching = (lanes + 1) // 2
    return "A" * approaching + "R" * (lanes - approaching)


def layout_for(lanes: int, directions: str | None) -> RoadLayout:
    """The layout for ``lanes`` lanes; ``directions`` like ``"AR"`` (A approaching, R receding)."""
    if not 1 <= lanes <= 4:
        raise ValueError(f"lanes must be 1..4, got {lanes}")
    spec = (directions or default_directions(lanes)).upper()
    if len(spec) != lanes or set(spec) - {"A", "R"}:
        raise ValueError(f"directions must be {lanes} letters of A/R, got {directions!r}")
    return RoadLayout(lanes, tuple("approaching" if c == "A" else "receding" for c in spec))


def camera_for(
    road: RoadLayout,
    width: int,
    height: int,
    *,
    focal_px: float | None = None,
    mount_height_m: float = 5.5,
) -> Camera:
    """A roadside camera framing every lane around 15-25 m ahead.

    The focal length fits the carriageway (plus a metre each side) into 85 % of
    the width: at 1280 px one lane gives plates of about 60-130 px as a vehicle
    crosses the view (ANPR framing), two lanes about 30-110 px, four 35-65 px.
    """
    look_z = 15.0 + 2.5 * road.lanes
    if focal_px is None:
        focal_px = float(np.clip(0.85 * width * look_z / (road.road_width + 2.0), 1200, 4000))
    x = road.road_width + 1.0
    return Camera(
        width, height, focal_px, (x, mount_height_m, 0.0), (road.road_width / 2, 0.5, look_z)
    )
