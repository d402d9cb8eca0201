"""The synthetic camera as an in-process frame source (for tests and an in-process agent).

``read()`` returns the next ``agent.events.Frame`` (None once ``seconds`` have
been rendered or after ``close()``); with ``realtime=True`` it paces frames at
the scene's fps on the wall clock, stamping them with the time they are due,
so that truth times and what the agent sees agree. The truth goes to
``truth_path`` as JSON lines when given, and is also kept in ``passes``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from simulator.camera.scene import Scene, SceneConfig, SimFrame
from simulator.camera.truth import TruthWriter

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt

    from agent.core.events import Frame
    from simulator.camera.truth import PassTruth

__all__ = ["FrameSource"]


class FrameSource:
    """A scene read frame by frame, like a camera."""

    def __init__(
        self,
        cfg: SceneConfig,
        *,
        seconds: float | None = None,
        realtime: bool = False,
        truth_path: Path | None = None,
        truth_frames: bool = True,
    ) -> None:
        self.scene = Scene(cfg)
        if realtime and cfg.start_wall_ms is None:
            self.scene.start_now()
        # Frame i is due at start + i/fps on both clocks.
        self._t0_mono = time.monotonic()
        self._realtime = realtime
        self._stop_index = None if seconds is None else round(seconds * cfg.fps)
        self._writer = (
            TruthWriter(truth_path, self.scene.header(), frames=truth_frames)
            if truth_path is not None
            else None
        )
        self.passes: list[PassTruth] = []
        self.last: SimFrame | None = None
        self._closed = False

    def read(self) -> Frame | None:
        """The next frame, or None at the end."""
        sim = self.read_sim()
        return None if sim is None else sim.frame

    def read_sim(self) -> SimFrame | None:
        """The next frame with its truth, or None at the end."""
        scene = self.scene
        if self._closed or (self._stop_index is not None and scene.index >= self._stop_index):
            self.close()
            return None
        due = self._t0_mono + scene.index / scene.cfg.fps
        if self._realtime:
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sim = scene.step(mono_s=due)
        if self._writer is not None:
            self._writer.frame(sim.truth)
            self._writer.passes(sim.passes)
        self.passes.extend(sim.passes)
        self.last = sim
        return sim

    def images(self) -> Iterator[npt.NDArray[np.uint8]]:
        """The frames' images only: the factory ``agent.sources.IteratorSource`` expects."""
        while (sim := self.read_sim()) is not None:
            yield sim.frame.image

    def __iter__(self) -> Iterator[SimFrame]:
        while (sim := self.read_sim()) is not None:
            yield sim

    def close(self) -> None:
        """Stop: the passes still in view are written as incomplete."""
        if self._closed:
            return
        self._closed = True
        rest = self.scene.finish()
        self.passes.extend(rest)
        if self._writer is not None:
            self._writer.passes(rest)
            self._writer.close()
