"""Virtual loops: vehicles counted from motion, and matched with the tracker's passes.

Frames are drawn here: a static, noisy road and dark boxes driving down it
(our camera seam); the background model, the loops and the matcher are the
agent's own, nothing is mocked.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agent.core.events import Frame, PlateBox, PlateRead, PlateText, Sighting, UnreadPass
from agent.recognition.loops import (
    HOLD_MS,
    LEARN_MIN,
    TRUST_MIN,
    LoopMatcher,
    LoopVehicle,
    VirtualLoops,
)
from agent.recognition.pipeline import Passes
from agent.recognition.tracker import LaneZone

W, H, FPS = 320, 180, 25


def _road(rng: np.random.Generator) -> np.ndarray:
    road = np.full((H, W, 3), 110, np.uint8)
    return np.clip(road + rng.normal(0, 3, road.shape), 0, 255).astype(np.uint8)


def _traffic(
    lanes_x: dict[int, tuple[int, int]], starts: dict[int, list[float]], seconds: float, seed: int
) -> list[tuple[int, np.ndarray]]:
    """Frames (wall ms, image): per lane, a 40 px tall box driving down at 90 px/s per start."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(round(seconds * FPS)):
        t = i / FPS
        image = _road(rng)
        for lane, begins in starts.items():
            x0, x1 = lanes_x[lane]
            for s in begins:
                top = round(-40 + (t - s) * 90)
                if -40 < top < H:
                    image[max(0, top) : max(0, top + 40), x0:x1] = (30, 30, 40)
        out.append((1_000_000 + round(t * 1000), image))
    return out


def test_each_vehicle_through_a_lane_is_one_loop_vehicle_in_its_lane() -> None:
    starts = {1: [1.0, 4.0, 7.5], 2: [2.0, 6.0]}
    frames = _traffic({1: (20, 140), 2: (180, 300)}, starts, 11.0, seed=1)
    loops = VirtualLoops((W, H), lanes=2)  # no zones: two equal vertical strips
    found: list[LoopVehicle] = []
    for wall_ms, image in frames:
        found += loops.update(image, wall_ms)
    assert sorted(v.lane for v in found) == [1, 1, 1, 2, 2]
    # Each is dated by the frame its box left the loop (rows 55-95 %: 99-171 px):
    # the box's top, 40 px above the frame at its start, passes 171 px 2.34 s later.
    for lane, begins in starts.items():
        mine = sorted(v.wall_ms for v in found if v.lane == lane)
        for got, start in zip(mine, begins, strict=True):
            assert 1_000_000 + (start + 2.34) * 1000 <= got <= 1_000_000 + (start + 2.6) * 1000


def test_a_still_road_and_a_zone_outside_the_traffic_count_nothing() -> None:
    frames = _traffic({1: (20, 140)}, {1: [1.0, 3.0]}, 6.0, seed=2)
    beside = LaneZone(1, ((0.7, 0.0), (1.0, 0.0), (1.0, 1.0), (0.7, 1.0)))  # right of the boxes
    loops = VirtualLoops((W, H), zones=[beside])
    still = VirtualLoops((W, H))
    rng = np.random.default_rng(3)
    for wall_ms, image in frames:
        assert loops.update(image, wall_ms) == []
        assert still.update(_road(rng), wall_ms) == []


def _read(lane: int, seen_ms: int, direction: str = "approaching") -> PlateRead:
    return PlateRead(
        text="1ABC123",
        char_conf=(900,) * 7,
        country="B",
        lane=lane,
        direction=direction,  # type: ignore[arg-type]
        vehicle_class=None,
        wall_ms=seen_ms,
        frames=5,
        crop_jpeg=b"",
        seen_ms=seen_ms,
    )


def test_a_loop_vehicle_with_its_pass_is_counted_once_and_one_without_is_counted() -> None:
    matcher = LoopMatcher(window_s=1.0, timeout_s=2.0)
    # Vehicles every 6 s on lane 1 whose loops free 500 ms after their plate's last sighting.
    t0 = 10_000_000
    for k in range(LEARN_MIN + 2):
        matcher.close([_read(1, t0 + k * 6000)])
        matcher.loops([LoopVehicle(1, t0 + k * 6000 + 500)])
    assert matcher.due(t0 + 200_000) == []  # every loop has its pass
    assert matcher.gap_ms(1) == 500
    # Decided once its passes could have closed: 1 s past the gap plus the tracker's 2 s;
    # a lane still learning its gap waits 5 s past the loop plus the 2 s.
    assert (matcher.delay_ms(1), matcher.delay_ms(3)) == (2500, 7000)
    # A motorcycle seen from the front: a loop, no pass. It waits until any pass of
    # its could have closed, then counts in its lane's usual direction at its loop time.
    bike = t0 + 300_000
    matcher.loops([LoopVehicle(1, bike)])
    assert matcher.due(bike + 1000) == []
    assert matcher.due(bike + 60_000) == [UnreadPass(1, "approaching", bike)]
    # A pass too far from the gap is someone else's: both count, the pass at its
    # plate's last sighting plus the lane's gap.
    late = _read(1, bike + 100_000)
    assert matcher.close([late]) == [dataclasses.replace(late, seen_ms=bike + 100_500)]
    matcher.loops([LoopVehicle(1, bike + 103_000)])
    assert matcher.due(0, flush=True) == [UnreadPass(1, "approaching", bike + 103_000)]


def test_a_pass_counts_when_its_vehicle_leaves_the_loop_and_its_record_stays() -> None:
    matcher = LoopMatcher()
    read = _read(2, 5_000_000)
    assert matcher.close([read]) == [read]  # nothing learned yet: unchanged
    for k in range(LEARN_MIN):
        matcher.close([_read(2, 6_000_000 + k * 5000, "receding")])
        matcher.loops([LoopVehicle(2, 6_000_000 + k * 5000 - 1200)])
    matcher.due(0, flush=True)
    assert matcher.gap_ms(2) == -1200
    moved = matcher.close([read, UnreadPass(2, None, 7_000_000), UnreadPass(None, None, 7)])
    assert moved[0] == dataclasses.replace(read, seen_ms=5_000_000 - 1200)
    assert (moved[0].wall_ms, moved[0].text) == (read.wall_ms, read.text)  # the record stays
    # Five reads do not make the lane's loop trusted: an unread pass counts as it closes.
    assert moved[1:] == [UnreadPass(2, None, 7_000_000 - 1200), UnreadPass(None, None, 7)]


def test_an_unread_pass_no_loop_took_is_no_vehicle_once_the_lanes_loop_is_trusted() -> None:
    matcher = LoopMatcher()
    t0 = 30_000_000
    for k in range(TRUST_MIN):
        t = t0 + k * 5000
        matcher.close([_read(1, t), _read(2, t + 2500)])
        matcher.loops([LoopVehicle(1, t + 400)])  # lane 1's loop sees every read vehicle,
    matcher.due(t0 + 200_000)  # lane 2's none of them
    assert (matcher.trusted(1), matcher.trusted(2)) == (True, False)
    # A car whose plate is never read, followed as two passes (lamps, then grille): held
    # until the loop vehicles are decided, then counted once, at its loop time.
    t = t0 + 300_000
    twice = [UnreadPass(1, "approaching", t), UnreadPass(1, "approaching", t + 120)]
    assert matcher.close(twice) == []
    matcher.loops([LoopVehicle(1, t + 400)])
    assert matcher.due(t + 60_000) == [UnreadPass(1, "approaching", t + 400)]
    assert matcher.ghosts == 1
    # Lane 2's loop misses its vehicles: an unread pass there counts as it closes.
    assert matcher.close([UnreadPass(2, "approaching", t)]) == [UnreadPass(2, "approaching", t)]
    assert matcher.due(0, flush=True) == []


def _trusted_lane(matcher: LoopMatcher, lane: int, t0: int, gap: int) -> None:
    """Teach ``matcher`` a lane whose loop sees every read vehicle ``gap`` ms after its plate."""
    for k in range(TRUST_MIN):
        matcher.close([_read(lane, t0 + k * 5000)])
        matcher.loops([LoopVehicle(lane, t0 + k * 5000 + gap)])
    matcher.due(t0 + TRUST_MIN * 5000 + 60_000)
    assert (matcher.trusted(lane), matcher.gap_ms(lane)) == (True, gap)


def test_on_a_trusted_lane_a_read_waits_for_its_vehicle_to_leave_the_loop() -> None:
    matcher = LoopMatcher()
    _trusted_lane(matcher, 1, 40_000_000, gap=400)
    t = 40_000_000 + 200_000
    read = _read(1, t)
    assert matcher.close([read]) == []  # its vehicle is still in the loop
    assert matcher.due(t + 300) == []
    # It goes out with its loop vehicle, counted at its time, the record unchanged.
    assert matcher.loops([LoopVehicle(1, t + 430)]) == [dataclasses.replace(read, seen_ms=t + 430)]
    assert matcher.due(t + 60_000) == []  # that loop vehicle is the read's: nothing more
    # A read whose loop vehicle does not come goes out HOLD_MS past the gap, by the gap.
    lone = _read(1, t + 100_000)
    assert matcher.close([lone]) == []
    assert matcher.due(t + 100_000 + 400 + HOLD_MS - 40) == []
    held = matcher.due(t + 100_000 + 400 + HOLD_MS)
    assert held == [dataclasses.replace(lone, seen_ms=t + 100_400)]
    # A loop vehicle freed before the read closed (a receding lane): dated by it at once.
    early = _read(1, t + 200_000)
    matcher.loops([LoopVehicle(1, t + 200_350)])
    assert matcher.close([early]) == [dataclasses.replace(early, seen_ms=t + 200_350)]
    # No frame comes any more (the camera stalls): held reads go now, dated by the gap.
    stalled = _read(1, t + 300_000)
    assert matcher.close([stalled]) == []
    assert matcher.release() == [dataclasses.replace(stalled, seen_ms=t + 300_400)]
    assert matcher.due(0, flush=True) == []


class _NoPlates:
    """Our recognizer seam: a camera whose vehicles show no plate (motorcycles, front)."""

    def recognise(self, _image: object) -> list[Sighting]:
        return []


class _PlateWhileInLoop:
    """Our recognizer seam: a plate is seen while the box is in the upper half."""

    def recognise(self, image: np.ndarray) -> list[Sighting]:
        dark = np.nonzero(image[: H // 2, 20:140, 0].mean(axis=1) < 60)[0]
        if dark.size == 0:
            return []
        y = float(dark.max())
        box = PlateBox(((60, y - 6), (100, y - 6), (100, y), (60, y)), 0.9)
        return [Sighting(box, PlateText("1ABC123", (900,) * 7, "B"))]


LANE = LaneZone(1, ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)))  # where the boxes drive


def _three_vehicles_through(passes: Passes, seed: int) -> list[PlateRead | UnreadPass]:
    """Feed ``passes`` 10 s of one lane with three vehicles; every pass it closes."""
    frames = _traffic({1: (20, 140)}, {1: [1.0, 4.0, 7.0]}, 10.0, seed=seed)
    out: list[PlateRead | UnreadPass] = []
    for i, (wall_ms, image) in enumerate(frames):
        out += passes.feed(Frame(i, wall_ms, i / FPS, image))
    return out + passes.flush()


@pytest.mark.parametrize("loops", [False, True])
def test_passes_count_vehicles_without_a_plate_only_with_loops(loops: bool) -> None:
    passes = Passes(_NoPlates(), zones=[LANE], pass_timeout_s=1.0, loops=loops)  # type: ignore[arg-type]
    out = _three_vehicles_through(passes, seed=4)
    assert len(out) == (3 if loops else 0)
    assert all(isinstance(p, UnreadPass) and p.lane == 1 for p in out)


def test_passes_with_loops_count_a_read_vehicle_once() -> None:
    passes = Passes(_PlateWhileInLoop(), zones=[LANE], pass_timeout_s=0.5, loops=True)  # type: ignore[arg-type]
    out = _three_vehicles_through(passes, seed=5)
    assert [type(p).__name__ for p in out] == ["PlateRead"] * 3


def test_a_loop_freeing_with_the_next_lanes_loop_is_that_lanes_vehicle() -> None:
    matcher = LoopMatcher()
    t = 20_000_000
    matcher.close([_read(1, t)])
    # A tall van in lane 1 also covers lane 2's loop in perspective: no second vehicle.
    matcher.loops([LoopVehicle(1, t), LoopVehicle(2, t + 200)])
    # A motorcycle in lane 2 two seconds later, alone in its loop: one more vehicle.
    matcher.loops([LoopVehicle(2, t + 2200)])
    assert matcher.due(0, flush=True) == [UnreadPass(2, None, t + 2200)]
