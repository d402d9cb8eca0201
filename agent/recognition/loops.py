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
  the near part of the road, where vehicles are large and far apart, down to
  just above the frame's edge, so that a vehicle frees its loop as it leaves
  the view (and a count is dated then).
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
LOOP_ROWS = (0.55, 0.95)  # the loops span these rows, as shares of the frame's height
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
    wall_ms: int  # its plate's last sighting
    read: bool
    # Not yet handed on: a read until its vehicle leaves its loop (or ``until``); an
    # unread pass of a trusted lane until a loop vehicle takes it.
    held: PlateRead | UnreadPass | None = None
    until: int = 0  # a held read goes out by then, its loop vehicle come or not
    matched: bool = False


@dataclass(slots=True)
class _Slot:
    vehicle: LoopVehicle
    matched: bool = False


LEARN_MS = 5000  # a pass this close to a loop vehicle teaches the lane's usual gap
LEARN_MIN = 5  # gaps learned before a lane's loop vehicles wait only for the gap
LEARN_KEEP = 51  # the last this many gaps of a lane make its median
MAX_SHIFT_MS = 3000  # a pass's count time moves by at most this
HOLD_MS = 500  # a read waits for its loop vehicle at most this past its lane's gap
# A loop vehicle with no pass that frees within this of another lane's loop is that
# lane's vehicle seen across the line (a tall body in perspective), not another one.
SPILL_MS = 400
# A lane's loop is *trusted* once at least TRUST_MIN of its last TRUST_KEEP read passes,
# and TRUST_SHARE of them, were taken by a loop vehicle. On a trusted lane a pass whose
# plate was never read counts only if a loop vehicle takes it: one that no loop saw is
# no vehicle (a lamp, a grille, one plate's track split in two).
TRUST_KEEP = 20
TRUST_MIN = 10
TRUST_SHARE = 0.9

Counted = PlateRead | UnreadPass


class LoopMatcher:
    """Counts each vehicle once: by its plate pass, or by its loop when it has none.

    Per lane the matcher learns the usual *gap* from a pass's time (its plate's
    last sighting) to its vehicle leaving the loop: positive on an approaching
    lane, whose plate leaves the view before the car's rear leaves the loop,
    negative on a receding one, whose plate stays in view long after. Each
    vehicle is counted at the moment it left its loop, as an induction loop
    dates it (only the count time moves: ``seen_ms`` of a read, ``wall_ms`` of
    an unread pass; neither is journaled).

    - **A read pass** takes the untaken loop vehicle of its lane nearest to
      ``pass time + gap`` (within ``window_s``) as soon as both exist. On a
      lane whose loop is *trusted* (``TRUST_*``) a read closing before its
      vehicle left the loop waits for it, at most ``HOLD_MS`` past the gap (the
      vehicle is then out of view: the police read is not late); otherwise it
      goes out at once, dated ``pass time + gap``.
    - **An unread pass** (a plate followed, never read) goes out as it closes
      while its lane's loop is not trusted; on a trusted lane it is held and
      goes out, dated by its loop vehicle, only if one takes it. One that no
      loop vehicle takes is counted in :attr:`ghosts`, not as a vehicle.
    - **A loop vehicle no pass took** waits until every pass that could be its
      own has closed, then takes the untaken pass nearest ``loop time - gap``
      within ``window_s`` (a read before an unread one). With none, it is a
      vehicle the tracker never saw and goes out as an :class:`UnreadPass`
      (lane, the lane's usual direction, its loop's time) — unless another
      lane's loop freed within ``SPILL_MS`` of it: a tall vehicle in
      perspective crosses into the next lane's loop too.
    """

    def __init__(self, *, window_s: float = 1.0, timeout_s: float = 2.0) -> None:
        self.window_ms = round(window_s * 1000)
        self.timeout_ms = round(timeout_s * 1000)
        self._passes: dict[int, list[_Pass]] = collections.defaultdict(list)
        self._loops: collections.deque[_Slot] = collections.deque()  # not yet decided
        self._seen: collections.deque[_Slot] = collections.deque()  # decided, kept a while
        self._gaps: dict[int, collections.deque[int]] = collections.defaultdict(
            lambda: collections.deque(maxlen=LEARN_KEEP)
        )
        self._found: dict[int, collections.deque[bool]] = collections.defaultdict(
            lambda: collections.deque(maxlen=TRUST_KEEP)
        )
        self._directions: dict[int, collections.Counter[Direction]] = collections.defaultdict(
            collections.Counter
        )
        self.ghosts = 0  # unread passes no loop vehicle took on a trusted lane: not counted

    def gap_ms(self, lane: int) -> int:
        """The lane's usual gap from a pass's time to its loop vehicle (ms)."""
        gaps = self._gaps[lane]  # while it learns, the few it has beat a guess of 0
        return int(sorted(gaps)[len(gaps) // 2]) if gaps else 0

    def trusted(self, lane: int) -> bool:
        """Whether the lane's loop sees the vehicles whose plates are read (``TRUST_*``)."""
        found = self._found[lane]
        return len(found) >= TRUST_MIN and sum(found) >= TRUST_SHARE * len(found)

    def delay_ms(self, lane: int) -> int:
        """How long after leaving its loop a vehicle of ``lane`` is decided (ms).

        Until every pass that could be its own has closed: ``window_s`` past
        the learned gap plus the tracker's timeout (~2.5 s on an approaching
        lane). While the lane is still learning its gap, ``LEARN_MS`` past the
        loop, so that a receding lane's passes, which close after their loop,
        are there to learn from. ``counts.grace_s`` should exceed it (and a
        held unread pass waits ``window_s`` past its gap more).
        """
        learning = len(self._gaps[lane]) < LEARN_MIN
        return max(LEARN_MS if learning else 0, self.window_ms - self.gap_ms(lane)) + (
            self.timeout_ms
        )

    def close(self, closed: Sequence[Counted]) -> list[Counted]:
        """Take the tracker's closed passes; those to hand on now, dated (see above)."""
        out: list[Counted] = []
        for p in closed:
            if p.lane is None:
                out.append(p)
                continue
            lane = p.lane
            when = p.seen_ms if isinstance(p, PlateRead) and p.seen_ms is not None else p.wall_ms
            if p.direction is not None:
                self._directions[lane][p.direction] += 1
            kept = _Pass(when, read=isinstance(p, PlateRead))
            self._passes[lane].append(kept)
            gap = self.gap_ms(lane)
            if isinstance(p, PlateRead):
                slot = self._untaken_loop(lane, when + gap)
                if slot is not None:  # its vehicle has left its loop already
                    slot.matched = kept.matched = True
                    self._found[lane].append(True)
                    out.append(_dated(p, slot.vehicle.wall_ms))
                elif self.trusted(lane):
                    kept.held, kept.until = p, when + max(0, gap) + HOLD_MS
                else:
                    out.append(_dated(p, when + _clamp(gap)))
            elif self.trusted(lane):
                kept.held = p
            else:
                out.append(_dated(p, when + _clamp(gap)))
        return out

    def loops(self, vehicles: Sequence[LoopVehicle]) -> list[Counted]:
        """Take loop vehicles as they leave their loops; the held reads they date."""
        out: list[Counted] = []
        for vehicle in vehicles:
            slot = _Slot(vehicle)
            self._loops.append(slot)
            expected = vehicle.wall_ms - self.gap_ms(vehicle.lane)
            near = [
                p
                for p in self._passes[vehicle.lane]
                if p.read
                and p.held is not None
                and not p.matched
                and abs(p.wall_ms - expected) <= self.window_ms
            ]
            if near:
                taken = min(near, key=lambda p: abs(p.wall_ms - expected))
                slot.matched = taken.matched = True
                self._found[vehicle.lane].append(True)
                out.append(_dated(_release(taken), vehicle.wall_ms))
        return out

    def due(self, wall_ms: int, *, flush: bool = False) -> list[Counted]:
        """What is decided by now (or everything: ``flush``), dated.

        Held reads whose loop vehicle did not come in time; loop vehicles no
        pass accounts for (as unread passes); held unread passes a loop vehicle
        took.
        """
        out = self.release(None if flush else wall_ms)
        while self._loops:
            slot = self._loops[0]
            loop = slot.vehicle
            if not flush and loop.wall_ms + self.delay_ms(loop.lane) > wall_ms:
                break
            self._seen.append(self._loops.popleft())
            self._learn(loop)
            if slot.matched:
                continue
            taken = self._take(loop)
            if taken is not None:
                if taken.held is not None:  # an unread pass, now seen to be a vehicle
                    out.append(_dated(_release(taken), loop.wall_ms))
                continue
            if self._spilled(loop):
                continue
            usual = self._directions[loop.lane].most_common(1)
            out.append(UnreadPass(loop.lane, usual[0][0] if usual else None, loop.wall_ms))
        self._forget(wall_ms, flush=flush)
        return out

    def release(self, wall_ms: int | None = None) -> list[Counted]:
        """Held reads whose loop vehicle did not come by ``wall_ms``, dated by the gap.

        All of them with no time (no frame comes to date them: the camera is gone).
        """
        return [
            _dated(_release(p), p.wall_ms + _clamp(self.gap_ms(lane)))
            for lane, kept in self._passes.items()
            for p in kept
            if p.read and p.held is not None and (wall_ms is None or p.until <= wall_ms)
        ]

    def _untaken_loop(self, lane: int, expected: int) -> _Slot | None:
        near = [
            s
            for s in self._loops
            if s.vehicle.lane == lane
            and not s.matched
            and abs(s.vehicle.wall_ms - expected) <= self.window_ms
        ]
        return min(near, key=lambda s: abs(s.vehicle.wall_ms - expected)) if near else None

    def _learn(self, loop: LoopVehicle) -> None:
        gap = self.gap_ms(loop.lane)
        near = [
            p.wall_ms
            for p in self._passes[loop.lane]
            if p.read and abs(loop.wall_ms - p.wall_ms) <= LEARN_MS
        ]
        if near:
            nearest = min(near, key=lambda t: abs(loop.wall_ms - gap - t))
            self._gaps[loop.lane].append(loop.wall_ms - nearest)

    def _take(self, loop: LoopVehicle) -> _Pass | None:
        """The untaken pass nearest ``loop time - gap``: of the loop's lane, else of another.

        A pass's lane is where its plate was; in perspective a vehicle's body can
        free the next lane's loop instead of its own.
        """
        expected = loop.wall_ms - self.gap_ms(loop.lane)
        for lanes in ([loop.lane], [lane for lane in self._passes if lane != loop.lane]):
            near = [
                (lane, p)
                for lane in lanes
                for p in self._passes[lane]
                if not p.matched and abs(p.wall_ms - expected) <= self.window_ms
            ]
            if near:
                # A read pass first: an unread one beside it is the same vehicle's lamp.
                lane, taken = min(
                    near, key=lambda lp: (not lp[1].read, abs(lp[1].wall_ms - expected))
                )
                taken.matched = True
                if taken.read and lane == loop.lane:
                    self._found[lane].append(True)
                return taken
        return None

    def _forget(self, wall_ms: int, *, flush: bool) -> None:
        """Settle held unread passes no loop vehicle can take any more; drop old passes."""
        horizon = wall_ms - 2 * (LEARN_MS + self.window_ms + self.timeout_ms)
        for lane, kept in self._passes.items():
            # A held unread pass up to here could only be taken by decided loop vehicles.
            settled = wall_ms - self.delay_ms(lane) - self.gap_ms(lane) - self.window_ms
            for p in kept:
                if p.matched:
                    continue
                if p.held is not None and not p.read and (flush or p.wall_ms < settled):
                    self.ghosts += 1
                    p.held, p.matched = None, True  # settled: not a vehicle
                elif p.read and p.wall_ms < horizon:
                    self._found[lane].append(False)  # a read vehicle its loop never saw
            self._passes[lane] = [p for p in kept if p.wall_ms >= horizon]
        while self._seen and self._seen[0].vehicle.wall_ms < horizon:
            self._seen.popleft()

    def _spilled(self, loop: LoopVehicle) -> bool:
        """Another lane's loop freed within ``SPILL_MS`` of this one (decided or queued)."""
        return any(
            other.vehicle.lane != loop.lane
            and abs(other.vehicle.wall_ms - loop.wall_ms) <= SPILL_MS
            for other in itertools.chain(self._seen, self._loops)
        )


def _clamp(shift: int) -> int:
    return max(-MAX_SHIFT_MS, min(MAX_SHIFT_MS, shift))


def _release(p: _Pass) -> Counted:
    held, p.held = p.held, None
    if held is None:  # callers pick held passes
        msg = "nothing held"
        raise ValueError(msg)
    return held


def _dated(p: Counted, at: int) -> Counted:
    """``p`` counted at ``at``: a read's ``seen_ms``, an unread pass's ``wall_ms``."""
    if isinstance(p, PlateRead):
        now = p.seen_ms if p.seen_ms is not None else p.wall_ms
        return p if at == now else dataclasses.replace(p, seen_ms=at)
    return p if at == p.wall_ms else dataclasses.replace(p, wall_ms=at)
