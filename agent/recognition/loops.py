"""Virtual loops: every vehicle counted from motion, whether its plate can be read or not.

A plate tracker counts the vehicles whose plate it follows. A motorcycle seen
from the front, a car without a front plate or with a bike rack over it passes
unseen by it, yet the city counts vehicles, not plates. Road authorities count
with induction loops cut into the lane; a camera can do the same with a
*virtual loop*: a band across each lane in the image, occupied while something
moves through it.

- **Foreground.** Each frame is shrunk to ``GRID_W`` pixels wide, grey, and
  compared with a background model (OpenCV's MOG2: a mixture of Gaussians per
  pixel that follows slow light changes and forgets vehicles that stop).
- **Loops.** Each lane's loop is its lane zone (``camera.lane_zones``, or an
  equal vertical strip per lane) between ``LOOP_ROWS`` of the frame's height:
  the near part of the road, where vehicles are large and far apart.
- **Vehicles.** A loop is *occupied* from the frame its foreground share
  reaches ``ON`` until it stays below ``OFF`` for ``OFF_FRAMES`` frames; each
  occupied spell is one vehicle, stamped with the frame it ended in. The
  first ``WARMUP_FRAMES`` only teach the background (a vehicle already in the
  loop when the stream starts is not counted by it).

Nothing here sees a plate or keeps a picture: a loop vehicle is a lane and a
time. :class:`LoopMatcher` pairs loop vehicles with the tracker's passes of the
same lane, so that each vehicle is counted once: by its plate pass when it has
one, by its loop when it has none.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.core.events import PlateRead, UnreadPass

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from agent.core.events import Direction
    from agent.recognition.tracker import LaneZone

__all__ = ["LoopMatcher", "LoopVehicle", "VirtualLoops"]

GRID_W = 160  # foreground is computed this many pixels wide
LOOP_ROWS = (0.55, 0.85)  # the loops span these rows, as shares of the frame's height
ON = 0.25  # foreground share of a loop at which it becomes occupied
OFF = 0.08  # ... and below which it counts towards becoming free
OFF_FRAMES = 2  # frames below OFF that free an occupied loop
MIN_LOOP_PX = 12  # a loop smaller than this (grid pixels) watches nothing
BACKGROUND_HISTORY = 500  # frames the background model remembers (20 s at 25 fps)
WARMUP_FRAMES = 10  # frames the background model learns from before any loop may count
VAR_THRESHOLD = 9.0  # squared distance (in the model's standard deviations) that is foreground
CLOSE_PX = 2  # grid pixels the foreground is closed by (fills a vehicle's flat faces)


@dataclass(frozen=True, slots=True)
class LoopVehicle:
    """One vehicle through one lane's loop."""

    lane: int
    wall_ms: int  # the frame its loop became free in


@dataclass(slots=True)
class _Loop:
    lane: int
    mask: npt.NDArray[np.bool_]
    size: int
    occupied: bool = False
    quiet: int = 0  # consecutive frames below OFF while occupied


class VirtualLoops:
    """Frames in, loop vehicles out; one instance per camera, owned by one thread."""

    def __init__(
        self, frame_size: tuple[int, int], *, lanes: int = 1, zones: Sequence[LaneZone] = ()
    ) -> None:
        width, height = frame_size
        self._grid = (GRID_W, max(8, round(GRID_W * height / max(1, width))))
        gw, gh = self._grid
        band = np.zeros((gh, gw), np.uint8)
        band[round(LOOP_ROWS[0] * gh) : round(LOOP_ROWS[1] * gh), :] = 1
        self._loops: list[_Loop] = []
        for lane in range(1, lanes + 1):
            area = np.zeros((gh, gw), np.uint8)
            polygons = [z.polygon for z in zones if z.lane == lane]
            if polygons:
                for polygon in polygons:
                    pts = np.array([(x * gw, y * gh) for x, y in polygon], np.float32)
                    cv2.fillPoly(area, [np.round(pts).astype(np.int32)], 1)
            elif not zones:  # no zones at all: equal vertical strips, as the tracker
                area[:, round((lane - 1) * gw / lanes) : round(lane * gw / lanes)] = 1
            mask = (area & band).astype(bool)
            if int(mask.sum()) >= MIN_LOOP_PX:
                self._loops.append(_Loop(lane, mask, int(mask.sum())))
        self._frames = 0
        self._model = cv2.createBackgroundSubtractorMOG2(
            history=BACKGROUND_HISTORY, varThreshold=VAR_THRESHOLD, detectShadows=False
        )

    @property
    def lanes(self) -> list[int]:
        """The lanes that have a loop."""
        return [loop.lane for loop in self._loops]

    def update(self, image: npt.NDArray[np.uint8], wall_ms: int) -> list[LoopVehicle]:
        """Take one frame; the vehicles whose loop became free with it."""
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, self._grid, interpolation=cv2.INTER_AREA)
        raw = self._model.apply(small)
        if CLOSE_PX > 0:
            kernel = np.ones((2 * CLOSE_PX + 1, 2 * CLOSE_PX + 1), np.uint8)
            raw = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, kernel)
        fg = raw > 0
        if self._frames < WARMUP_FRAMES:  # everything looks new to a model that saw nothing
            self._frames += 1
            return []
        out = []
        for loop in self._loops:
            share = float(np.count_nonzero(fg & loop.mask)) / loop.size
            if not loop.occupied:
                if share >= ON:
                    loop.occupied, loop.quiet = True, 0
                continue
            loop.quiet = loop.quiet + 1 if share < OFF else 0
            if loop.quiet >= OFF_FRAMES:
                loop.occupied = False
                out.append(LoopVehicle(loop.lane, wall_ms))
        return out


@dataclass(slots=True)
class _Pass:
    wall_ms: int
    matched: bool = False


LEARN_MS = 5000  # a pass this close to a loop vehicle teaches the lane's usual gap
LEARN_MIN = 5  # gaps learned before the lane's median replaces the default of 0
LEARN_KEEP = 51  # the last this many gaps of a lane make its median
MAX_SHIFT_MS = 3000  # a pass's count time moves by at most this
# A loop vehicle with no pass that frees within this of another lane's loop is that
# lane's vehicle seen across the line (a tall body in perspective), not another one.
SPILL_MS = 400


class LoopMatcher:
    """Counts each vehicle once: by its plate pass, or by its loop when it has none.

    The tracker's passes (read or unread) go out as they are; they are also
    remembered per lane for a while. Per lane the matcher learns the usual
    *gap* between a pass's time (its plate's last sighting) and its vehicle
    leaving the loop: positive on an approaching lane, whose plate leaves the
    view before the car's rear leaves the loop, negative on a receding one,
    whose plate stays in view long after. A loop vehicle waits until every pass
    that could be its own has closed, then takes the unclaimed pass of its lane
    nearest to ``loop time - gap`` and within ``window_s`` of it; with none, it
    is a vehicle the tracker never saw and goes out as an :class:`UnreadPass`
    (lane, the lane's usual direction, its loop's time) — unless another
    lane's loop freed within ``SPILL_MS`` of it: a tall vehicle in perspective
    crosses into the next lane's loop too. Loops in time order, nearest pass
    first: a pass is claimed once.
    """

    def __init__(self, *, window_s: float = 1.0, timeout_s: float = 2.0) -> None:
        self.window_ms = round(window_s * 1000)
        self.timeout_ms = round(timeout_s * 1000)
        self._passes: dict[int, list[_Pass]] = collections.defaultdict(list)
        self._loops: collections.deque[LoopVehicle] = collections.deque()
        self._seen: collections.deque[LoopVehicle] = collections.deque()  # decided, kept a while
        self._gaps: dict[int, collections.deque[int]] = collections.defaultdict(
            lambda: collections.deque(maxlen=LEARN_KEEP)
        )
        self._directions: dict[int, collections.Counter[Direction]] = collections.defaultdict(
            collections.Counter
        )

    def gap_ms(self, lane: int) -> int:
        """The lane's usual gap from a pass's time to its loop vehicle (ms)."""
        gaps = self._gaps[lane]
        return int(sorted(gaps)[len(gaps) // 2]) if len(gaps) >= LEARN_MIN else 0

    def delay_ms(self, lane: int) -> int:
        """How long after leaving its loop a vehicle of ``lane`` is decided (ms).

        Until every pass that could be its own has closed: ``window_s`` past
        the learned gap plus the tracker's timeout (~2.5 s on an approaching
        lane). While the lane is still learning its gap, ``LEARN_MS`` past the
        loop, so that a receding lane's passes, which close after their loop,
        are there to learn from. ``counts.grace_s`` should exceed it.
        """
        learning = len(self._gaps[lane]) < LEARN_MIN
        return max(LEARN_MS if learning else 0, self.window_ms - self.gap_ms(lane)) + (
            self.timeout_ms
        )

    def passes(self, closed: Sequence[PlateRead | UnreadPass]) -> None:
        """Remember the tracker's closed passes (they are counted as they are)."""
        for p in closed:
            if p.lane is None:
                continue
            when = p.seen_ms if isinstance(p, PlateRead) and p.seen_ms is not None else p.wall_ms
            self._passes[p.lane].append(_Pass(when))
            if p.direction is not None:
                self._directions[p.lane][p.direction] += 1

    def counted_at(self, closed: Sequence[PlateRead | UnreadPass]) -> list[PlateRead | UnreadPass]:
        """The passes with their count time moved to when their vehicle leaves its loop.

        A pass is timed by its plate's last sighting; its vehicle leaves the
        view about the lane's learned gap later (earlier on a receding lane),
        and that is the moment a loop, and a city's count, dates it in. Only the
        count time moves (``seen_ms`` of a read, ``wall_ms`` of an unread pass:
        neither is journaled); by at most ``MAX_SHIFT_MS``.
        """
        out: list[PlateRead | UnreadPass] = []
        for p in closed:
            shift = 0 if p.lane is None else self.gap_ms(p.lane)
            shift = max(-MAX_SHIFT_MS, min(MAX_SHIFT_MS, shift))
            if shift == 0:
                out.append(p)
            elif isinstance(p, PlateRead):
                base = p.seen_ms if p.seen_ms is not None else p.wall_ms
                out.append(dataclasses.replace(p, seen_ms=base + shift))
            else:
                out.append(dataclasses.replace(p, wall_ms=p.wall_ms + shift))
        return out

    def loops(self, vehicles: Sequence[LoopVehicle]) -> None:
        """Queue loop vehicles until their passes have had time to close."""
        self._loops.extend(vehicles)

    def due(self, wall_ms: int, *, flush: bool = False) -> list[UnreadPass]:
        """The loop vehicles no pass accounts for, among those old enough (or all: ``flush``)."""
        out = []
        while self._loops:
            loop = self._loops[0]
            gap = self.gap_ms(loop.lane)
            wait = self.delay_ms(loop.lane)
            if not flush and loop.wall_ms + wait > wall_ms:
                break
            self._loops.popleft()
            self._seen.append(loop)
            kept = self._passes[loop.lane]
            learn = [p for p in kept if abs(loop.wall_ms - p.wall_ms) <= LEARN_MS]
            if learn:
                nearest = min(learn, key=lambda p: abs(loop.wall_ms - gap - p.wall_ms))
                self._gaps[loop.lane].append(loop.wall_ms - nearest.wall_ms)
            expected = loop.wall_ms - gap
            near = [
                p for p in kept if not p.matched and abs(p.wall_ms - expected) <= self.window_ms
            ]
            if near:
                min(near, key=lambda p: abs(p.wall_ms - expected)).matched = True
                continue
            if self._spilled(loop):
                continue
            usual = self._directions[loop.lane].most_common(1)
            out.append(UnreadPass(loop.lane, usual[0][0] if usual else None, loop.wall_ms))
        horizon = wall_ms - 2 * (LEARN_MS + self.window_ms + self.timeout_ms)
        for lane, kept in self._passes.items():
            self._passes[lane] = [p for p in kept if p.wall_ms >= horizon]
        while self._seen and self._seen[0].wall_ms < horizon:
            self._seen.popleft()
        return out

    def _spilled(self, loop: LoopVehicle) -> bool:
        """Another lane's loop freed within ``SPILL_MS`` of this one (decided or queued)."""
        return any(
            other.lane != loop.lane and abs(other.wall_ms - loop.wall_ms) <= SPILL_MS
            for other in itertools.chain(self._seen, self._loops)
        )
