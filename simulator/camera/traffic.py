"""Who drives past: a deterministic, lazily generated stream of vehicles per lane.

Each lane is a Poisson stream with a minimum headway; a follower never
catches up with its leader inside the simulated stretch (it is delayed at
entry or slowed down). Every random choice comes from a generator seeded by
``(seed, lane, k)`` for the lane's k-th vehicle, so a scene is the same
whatever is rendered or skipped.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from simulator.plates import random_spec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from simulator.camera.geometry import RoadLayout
    from simulator.plates import PlateSpec

__all__ = ["DEFAULT_CLASSES", "DEFAULT_COUNTRIES", "Traffic", "TrafficConfig", "Vehicle"]

DEFAULT_COUNTRIES: Mapping[str, float] = MappingProxyType(
    {
        "B": 0.80,
        "NL": 0.07,
        "F": 0.05,
        "D": 0.04,
        "L": 0.02,
        "EU": 0.02,
    }
)
DEFAULT_CLASSES: Mapping[str, float] = MappingProxyType(
    {
        "car": 0.78,
        "van": 0.10,
        "truck": 0.06,
        "bus": 0.02,
        "motorcycle": 0.04,
    }
)
# (width, height, length) ranges in metres per class.
_SIZES = {
    "car": ((1.70, 1.95), (1.40, 1.60), (3.9, 4.8)),
    "van": ((1.95, 2.10), (1.95, 2.60), (5.0, 6.2)),
    "truck": ((2.50, 2.55), (3.40, 3.90), (10.0, 16.0)),
    "bus": ((2.50, 2.55), (3.05, 3.30), (11.5, 12.5)),
    "motorcycle": ((0.75, 0.90), (1.25, 1.45), (2.0, 2.3)),
}
Z_NEAR = 2.5  # m: where receding vehicles appear and approaching ones are dropped
Z_FAR = 90.0  # m: where approaching vehicles appear and receding ones are dropped


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """Traffic knobs (rates are for all lanes together)."""

    seed: int = 0
    rate_per_min: float = 20.0
    speed_kmh: float = 50.0
    speed_sd_kmh: float = 7.0
    countries: Mapping[str, float] = field(default_factory=lambda: DEFAULT_COUNTRIES)
    classes: Mapping[str, float] = field(default_factory=lambda: DEFAULT_CLASSES)
    no_plate_rate: float = 0.02  # plate missing (besides motorcycles seen from the front)
    occlusion_rate: float = 0.04  # something in front of the plate (tow bar, bike rack)


@dataclass(frozen=True, slots=True)
class Vehicle:
    """One vehicle and its constant-speed trip along its lane."""

    id: int
    lane: int  # 1-based, left to right in the image
    direction: str  # approaching | receding
    vclass: str
    size: tuple[float, float, float]  # width, height, length (m)
    speed_mps: float
    t0: float  # scene seconds at which its near face is at the start of the stretch
    plate: PlateSpec | None  # None: no plate to read on the side facing the camera
    occluder: str | None  # "towbar" (plate still legible) or "bikerack" (it is not)
    colour: tuple[int, int, int]  # BGR body colour
    seed: tuple[int, ...]  # seeds the vehicle's own drawing

    @property
    def t_end(self) -> float:
        """When it has left the stretch."""
        return self.t0 + (Z_FAR - Z_NEAR) / self.speed_mps

    def z_at(self, t: float) -> float:
        """Distance (Z) of its near face at scene time ``t``."""
        s = self.speed_mps * (t - self.t0)
        return Z_FAR - s if self.direction == "approaching" else Z_NEAR + s


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = sorted(weights)
    p = np.array([max(0.0, weights[n]) for n in names], np.float64)
    if p.sum() <= 0:
        raise ValueError("weights must have a positive sum")
    return names[int(rng.choice(len(names), p=p / p.sum()))]


_COLOURS = (
    (235, 235, 235),
    (30, 30, 30),
    (150, 150, 150),
    (110, 110, 115),
    (40, 40, 160),
    (140, 70, 20),
    (50, 90, 40),
    (200, 200, 190),
    (20, 40, 90),
    (60, 150, 200),
)


@dataclass(slots=True)
class _Lane:
    lane: int
    direction: str
    rate_per_s: float
    k: int = 0
    t: float = 0.0
    last: Vehicle | None = None


class Traffic:
    """Vehicles in order of their start time, generated on demand."""

    def __init__(self, cfg: TrafficConfig, road: RoadLayout, start_s: float = -8.0) -> None:
        self._cfg = cfg
        per_lane = cfg.rate_per_min / 60.0 / road.lanes
        self._lanes = [_Lane(i + 1, d, per_lane, t=start_s) for i, d in enumerate(road.directions)]
        self._heap: list[tuple[float, int, Vehicle]] = []
        self._next_id = 1
        if per_lane > 0:
            for lane in self._lanes:
                self._push(lane)

    def _push(self, lane: _Lane) -> None:
        vehicle = self._make(lane)
        heapq.heappush(self._heap, (vehicle.t0, lane.lane, vehicle))

    def starting_before(self, t: float) -> list[Vehicle]:
        """Vehicles whose trip starts before ``t`` and were not returned yet, with ids."""
        out: list[Vehicle] = []
        while self._heap and self._heap[0][0] < t:
            _, lane_no, vehicle = heapq.heappop(self._heap)
            vehicle = _with_id(vehicle, self._next_id)
            self._next_id += 1
            out.append(vehicle)
            self._push(self._lanes[lane_no - 1])
        return out

    def _make(self, lane: _Lane) -> Vehicle:
        cfg = self._cfg
        seed = (cfg.seed, lane.lane, lane.k)
        rng = np.random.default_rng(seed)
        lane.k += 1
        vclass = _pick(rng, cfg.classes)
        (w0, w1), (h0, h1), (l0, l1) = _SIZES[vclass]
        size = (float(rng.uniform(w0, w1)), float(rng.uniform(h0, h1)), float(rng.uniform(l0, l1)))
        v = float(rng.normal(cfg.speed_kmh, cfg.speed_sd_kmh))
        v = float(np.clip(v, 0.4 * cfg.speed_kmh, 1.6 * cfg.speed_kmh)) / 3.6
        if vclass in ("truck", "bus"):
            v = min(v, 0.9 * cfg.speed_kmh / 3.6)
        t0 = lane.t + float(rng.exponential(1.0 / lane.rate_per_s))
        leader = lane.last
        if leader is not None:  # keep a safe gap to the leader over the whole stretch
            need = leader.size[2] + 4.0 + 0.8 * v
            t0 = max(t0, leader.t0 + need / leader.speed_mps)
            span = Z_FAR - Z_NEAR
            time_left = leader.t_end - t0
            if time_left > 0 and v * time_left > span - need:
                v = (span - need) / time_left
        country = _pick(rng, cfg.countries)
        plate: PlateSpec | None = random_spec(rng, country)
        roll = rng.random()
        if (vclass == "motorcycle" and lane.direction == "approaching") or roll < cfg.no_plate_rate:
            plate = None
        occ_roll = rng.random()
        occluder = None
        if plate is not None and vclass in ("car", "van") and occ_roll < cfg.occlusion_rate:
            occluder = "towbar" if occ_roll < cfg.occlusion_rate / 2 else "bikerack"
        colour = _COLOURS[int(rng.integers(0, len(_COLOURS)))]
        vehicle = Vehicle(
            0, lane.lane, lane.direction, vclass, size, v, t0, plate, occluder, colour, seed
        )
        lane.t = t0
        lane.last = vehicle
        return vehicle


def _with_id(vehicle: Vehicle, vid: int) -> Vehicle:
    return replace(vehicle, id=vid)
