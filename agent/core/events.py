"""Data that flows between the agent's stages: frozen, slotted dataclasses.

Whatever holds a plate (``PlateText``, ``PlateRead``) must never be logged,
counted or published on the civil side: refer to a read by its journal stream
and seq instead. Their ``repr`` hides the plate so an accidental log line or
traceback does not leak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from agent.core.timesync import ClockReading

__all__ = [
    "Direction",
    "Frame",
    "PlateBox",
    "PlateRead",
    "PlateText",
    "Sighting",
    "UnreadPass",
    "mean_conf",
]

Direction = Literal["approaching", "receding"]


def mean_conf(char_conf: tuple[int, ...]) -> float:
    """Mean of per-mille character confidences, in 0..1 (0 for no characters)."""
    return sum(char_conf) / (1000.0 * len(char_conf)) if char_conf else 0.0


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera frame (BGR, HxWx3 uint8) with its capture times."""

    index: int
    wall_ms: int  # wall-clock capture time, ms since the epoch
    mono_s: float  # monotonic capture time, for intervals
    image: npt.NDArray[np.uint8] = field(repr=False)


@dataclass(frozen=True, slots=True)
class PlateBox:
    """A detected plate: four corners (x, y) clockwise from top-left, and a score."""

    corners: tuple[
        tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]
    ]
    score: float

    @property
    def xywh(self) -> tuple[int, int, int, int]:
        """The axis-aligned bounding box as integers."""
        xs = [c[0] for c in self.corners]
        ys = [c[1] for c in self.corners]
        x0, y0 = int(min(xs)), int(min(ys))
        return x0, y0, int(max(xs)) - x0, int(max(ys)) - y0


@dataclass(frozen=True, slots=True)
class PlateText:
    """What the reader made of one crop."""

    text: str = field(repr=False)
    char_conf: tuple[int, ...] = field(repr=False)  # per-mille, one per character
    country: str | None = None

    @property
    def mean_conf(self) -> float:
        """Mean character confidence in 0..1."""
        return mean_conf(self.char_conf)


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One vehicle pass: the voted read the journal seals and the counter coarsens."""

    text: str = field(repr=False)
    char_conf: tuple[int, ...] = field(repr=False)  # per-mille, one per character
    country: str | None  # international code ("B", "NL", ...) when the syntax matched
    lane: int | None  # 1-based lane from the configured zones
    direction: Direction | None
    vehicle_class: str | None
    wall_ms: int  # the last frame the plate was read in, ms since the epoch
    frames: int  # frames that contributed to the vote
    crop_jpeg: bytes = field(repr=False)  # best plate crop, JPEG
    overview_jpeg: bytes = field(default=b"", repr=False)  # the vehicle or frame, JPEG; b"": none
    clock: ClockReading | None = None  # the clock's state at the pass (set by the service)
    # The last frame the plate was seen in, read or not (the tracker sets it): the civil
    # count's window, closer to the vehicle leaving the view than ``wall_ms``.
    seen_ms: int | None = None


@dataclass(frozen=True, slots=True)
class UnreadPass:
    """A vehicle pass whose plate was followed but never read: counted, never journaled.

    The civil counts are of vehicles, not of reads; this carries only what a
    count cell needs (no text, no crop), so it can go nowhere else.
    """

    lane: int | None
    direction: Direction | None
    wall_ms: int  # the last frame the plate was seen in, ms since the epoch


@dataclass(frozen=True, slots=True)
class Sighting:
    """One plate in one frame: its box, what the reader made of it, and its crop."""

    box: PlateBox
    text: PlateText | None
    crop: npt.NDArray[np.uint8] | None = field(default=None, repr=False)
