"""Fakes for the agent's own seams (clock, kernel clock state, read source) and a plate crop.

Only our seams are faked: paho, SQLite and cryptography are always the real ones.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.core.timesync import TIME_ERROR, KernelTime

if TYPE_CHECKING:
    from collections.abc import Iterable

    from agent.config.schema import RecognitionConfig
    from agent.core.events import PlateRead
    from agent.service import Intake

__all__ = ["FakeClock", "FakeKernelClock", "FakeReadSource", "synthetic_crop"]


class FakeClock:
    """A clock that moves only when told; wall time may jump backwards like an NTP step."""

    def __init__(self, wall: float = 1_800_000_000.0, monotonic: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._wall = wall
        self._mono = monotonic

    def wall(self) -> float:
        """Current fake wall-clock time."""
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        """Current fake monotonic time."""
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        if seconds < 0:
            raise ValueError("advance() only moves forward; use step_wall() for a jump")
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone (either way), as NTP does; monotonic time is untouched."""
        with self._lock:
            self._wall += seconds


class FakeKernelClock:
    """The kernel's clock state as a test sets it (:class:`agent.core.timesync.KernelClock`)."""

    def __init__(self, *, synced: bool = True, maxerror_us: int = 2_000) -> None:
        self.synced = synced
        self.maxerror_us = maxerror_us
        self.refuse: OSError | None = None  # raised by read(), as a seccomp filter would

    def read(self) -> KernelTime:
        """The state set by the test."""
        if self.refuse is not None:
            raise self.refuse
        return KernelTime(0 if self.synced else TIME_ERROR, self.maxerror_us, self.maxerror_us // 2)


class FakeReadSource:
    """A :class:`~agent.service.ReadSource` that hands over given reads, then idles.

    ``rate`` reads per second (0: as fast as the intake takes them). Each read
    counts as one frame. :meth:`hang` blocks the source without progress, as a
    stuck camera or inference would; :meth:`release` lets it go on.
    """

    def __init__(self, reads: Iterable[PlateRead], rate: float = 0.0) -> None:
        self._reads = iter(reads)
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self.emitted = 0
        self.finished = threading.Event()  # every read handed over
        self.recognition: RecognitionConfig | None = None
        self._running = threading.Event()
        self._running.set()

    def run(self, intake: Intake, stop: threading.Event) -> None:
        """Hand reads to ``intake`` until they run out or ``stop`` is set."""
        for read in self._reads:
            while not self._running.is_set():
                time.sleep(0.05)  # hung: no frame, no idle beat
            if stop.is_set():
                break
            intake.frame()
            intake.inference(3.0)
            intake.read(read)
            self.emitted += 1
            if self._interval:
                stop.wait(self._interval)
        else:
            self.finished.set()
        while not stop.wait(0.2):
            if self._running.is_set():
                intake.idle()

    def reconfigure(self, recognition: RecognitionConfig) -> None:
        """Remember the thresholds it was given."""
        self.recognition = recognition

    def hang(self) -> None:
        """Stop making progress (the watchdog must notice)."""
        self._running.clear()

    def release(self) -> None:
        """Make progress again."""
        self._running.set()


def synthetic_crop(rng: np.random.Generator, width: int = 200, height: int = 48) -> bytes:
    """A plate-sized JPEG with texture, about the size a real crop has (a few KB)."""
    image = np.full((height, width), 235, np.uint8)
    for i in range(7):
        x = 10 + i * 26
        cv2.rectangle(image, (x, 8), (x + 16, height - 8), int(rng.integers(10, 60)), -1)
    noise = rng.normal(0, 12, image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(jpeg.tobytes())
