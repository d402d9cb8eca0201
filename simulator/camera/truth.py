"""Ground truth of a synthetic scene, and its JSON-lines file.

One JSON object per line, told apart by ``kind``:

- ``scene`` (first line): schema, seed, size, fps, lanes and their directions,
  light, rain, ``start_wall_ms``, the camera model;
- ``frame``: ``index``, ``wall_ms`` and, per vehicle in view, its ``bbox``
  (x0, y0, x1, y1) and, when it has a plate, the plate's four ``corners``
  (clockwise from top-left, image pixels), ``plate_visible`` (0..1: inside the
  frame and not hidden by a nearer vehicle), ``plate_px`` (width) and ``text``;
- ``pass`` (when a vehicle has left): ``vehicle``, ``text`` (A-Z0-9, null
  without a plate), ``country``, ``lane``, ``direction``, ``class``,
  ``enter_ms``/``exit_ms`` (first and last frame in view), ``frames``,
  ``plate_frames`` (frames in which the plate was readable-sized and fully
  visible), ``readable`` (a plate, no bike rack over it, and at least three
  such frames), ``occluder`` and ``complete`` (false for a vehicle still in
  view when the scene stopped).

Times are wall-clock ms of the frames (``start_wall_ms`` + frame time).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

__all__ = ["SCHEMA", "FrameTruth", "PassTruth", "TruthWriter", "VehicleInFrame", "read_truth"]

SCHEMA = "anpr-edge/sim-truth/1"
Corners = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class VehicleInFrame:
    """One vehicle in one frame."""

    vehicle: int
    lane: int
    direction: str
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), clipped to the frame
    corners: Corners | None  # the plate's corners, None without a plate
    plate_visible: float  # 0..1
    plate_px: float  # plate width in pixels
    text: str | None = None  # the plate's text (also on the pass line)


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """What is in one frame."""

    index: int
    wall_ms: int
    vehicles: tuple[VehicleInFrame, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``frame`` line."""
        vehicles = []
        for v in self.vehicles:
            item = asdict(v)
            item["corners"] = None if v.corners is None else [list(c) for c in v.corners]
            item["bbox"] = list(v.bbox)
            vehicles.append(item)
        return {"kind": "frame", "index": self.index, "wall_ms": self.wall_ms, "vehicles": vehicles}


@dataclass(frozen=True, slots=True)
class PassTruth:
    """One vehicle's pass through the view."""

    vehicle: int
    text: str | None
    country: str | None
    lane: int
    direction: str
    vclass: str
    speed_kmh: float
    enter_ms: int
    exit_ms: int
    frames: int
    plate_frames: int
    readable: bool
    occluder: str | None
    complete: bool = True  # False: still in view when the scene stopped

    def to_json(self) -> dict[str, Any]:
        """The ``pass`` line."""
        d = asdict(self)
        d["class"] = d.pop("vclass")
        return {"kind": "pass", **d}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PassTruth:
        """Parse a ``pass`` line."""
        return cls(
            vehicle=int(d["vehicle"]),
            text=d.get("text"),
            country=d.get("country"),
            lane=int(d["lane"]),
            direction=str(d["direction"]),
            vclass=str(d["class"]),
            speed_kmh=float(d["speed_kmh"]),
            enter_ms=int(d["enter_ms"]),
            exit_ms=int(d["exit_ms"]),
            frames=int(d["frames"]),
            plate_frames=int(d["plate_frames"]),
            readable=bool(d["readable"]),
            occluder=d.get("occluder"),
            complete=bool(d.get("complete", True)),
        )


class TruthWriter:
    """Writes the truth file line by line (flushed per pass, so a live reader can follow)."""

    def __init__(self, path: Path, header: dict[str, Any], *, frames: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = path.open("a", encoding="utf-8")
        self._frames = frames
        self._write({"kind": "scene", "schema": SCHEMA, **header})

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def frame(self, truth: FrameTruth) -> None:
        """Write a frame line (unless frames are off)."""
        if self._frames:
            self._write(truth.to_json())

    def passes(self, passes: Iterable[PassTruth]) -> None:
        """Write pass lines."""
        wrote = False
        for p in passes:
            self._write(p.to_json())
            wrote = True
        if wrote:
            self._fh.flush()

    def close(self) -> None:
        """Flush and close."""
        self._fh.close()


def read_truth(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a truth file as dicts (a torn last line is skipped)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except ValueError:
                continue
