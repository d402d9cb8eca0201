"""The recognition pipeline: camera → detector → reader → tracker → one read per pass.

:class:`Pipeline` is the read source ``anpr-agent run`` drives (its
``run(intake, stop)`` / ``reconfigure(recognition)`` seam): a :class:`Capture`
thread fills a bounded, drop-oldest frame queue; this thread takes the newest
frames, recognises each one (all crops of a frame in one reader batch), feeds
the :class:`Tracker`, and hands every finished pass to the intake. Frame
counts, drops and inference times go to the intake too, which is what the
service's metrics and watchdog watch. No plate text is ever logged.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import TYPE_CHECKING, Protocol

from agent.recognition.capture import Capture, is_finite, open_source
from agent.recognition.detector import PlateDetector
from agent.recognition.loops import LoopMatcher, VirtualLoops
from agent.recognition.overview import OverviewSettings
from agent.recognition.reader import PlateReader
from agent.recognition.recognizer import Recognizer, RecognizerSettings
from agent.recognition.shipped import model_cards
from agent.recognition.tracker import LaneZone, Tracker

if TYPE_CHECKING:
    import threading
    from collections.abc import Sequence

    from agent.config.schema import RecognitionConfig
    from agent.core.clock import Clock
    from agent.core.events import Frame, PlateRead, UnreadPass
    from agent.recognition.capture import Source

__all__ = [
    "Passes",
    "Pipeline",
    "ReadSink",
    "build_pipeline",
    "build_recognizer",
    "overview_of",
]

log = logging.getLogger(__name__)
_GET_TIMEOUT_S = 0.25


class ReadSink(Protocol):
    """Where the pipeline reports (the service's ``Intake`` fits this)."""

    def read(self, read: PlateRead | UnreadPass) -> None:
        """One finished vehicle pass, read or not (may block: a pass is never dropped)."""

    def frame(self) -> None:
        """One frame taken from the camera."""

    def dropped(self, frames: int = 1) -> None:
        """Frames the capture dropped because inference fell behind."""

    def corrupt(self, frames: int = 1) -> None:
        """Frames the camera sent that could not be decoded (skipped)."""

    def inference(self, ms: float) -> None:
        """Detector + reader time of one frame."""

    def idle(self) -> None:
        """Alive, but no frame came."""


def settings_of(recognition: RecognitionConfig) -> RecognizerSettings:
    """The per-frame filters of a ``recognition`` config section."""
    return RecognizerSettings(
        recognition.min_plate_width,
        recognition.roi,
        recognition.refine_corners,
        recognition.second_look,
        recognition.fuse_crops,
        recognition.vote_box_crop,
        recognition.vote_screen,
    )


def overview_of(recognition: RecognitionConfig) -> OverviewSettings:
    """The overview image a ``recognition`` config section asks for."""
    return OverviewSettings(
        recognition.overview,
        recognition.overview_long_side,
        recognition.overview_quality,
        recognition.overview_max_bytes,
    )


def build_recognizer(recognition: RecognitionConfig) -> Recognizer:
    """Load the models as the config says (raises DetectorError / ReaderError)."""
    cards = model_cards(recognition)
    detector = PlateDetector(
        cards.detector,
        threads=recognition.threads,
        threshold=recognition.detect_threshold,
    )
    reader = PlateReader(
        cards.reader,
        threads=recognition.threads,
        countries=recognition.countries,
        threshold=recognition.read_threshold,
    )
    # The recognizer sets the screen's bar and syntaxes from the reader's on each frame.
    screen = (
        None if cards.screen is None else PlateReader(cards.screen, threads=recognition.threads)
    )
    return Recognizer(detector, reader, settings_of(recognition), screen)


class Passes:
    """Frames in, finished passes out: recognise each frame, track, vote (one thread)."""

    def __init__(  # noqa: PLR0913 - the tracker's geometry and the loops beside the recognizer
        self,
        recognizer: Recognizer,
        *,
        lanes: int = 1,
        zones: Sequence[LaneZone] = (),
        pass_timeout_s: float = 2.0,
        overview: OverviewSettings | None = None,
        loops: bool = False,
    ) -> None:
        self.recognizer = recognizer
        self._timeout_s = pass_timeout_s
        self._lanes = lanes
        self._zones = tuple(zones)
        self._overview = overview or OverviewSettings()
        self._tracker: Tracker | None = None
        # Vehicles the tracker never follows (no plate to see) still count: virtual loops.
        self._count_loops = loops
        self._loops: VirtualLoops | None = None
        self._matcher = LoopMatcher(timeout_s=pass_timeout_s)
        self.last_ms = 0.0  # recognition time of the last frame (detector, reader, loops)

    @property
    def timeout_s(self) -> float:
        """Seconds a pass may go unseen before it closes."""
        return self._timeout_s

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        self._timeout_s = value
        self._matcher.timeout_ms = round(value * 1000)
        if self._tracker is not None:  # the running tracker too, not only the next one
            self._tracker.timeout_s = value

    def _tracker_for(self, width: int, height: int) -> Tracker:
        if self._tracker is None:  # the frame size is known only once a frame came
            self._tracker = Tracker(
                frame_size=(width, height),
                lanes=self._lanes,
                zones=self._zones,
                timeout_s=self._timeout_s,
                overview=self._overview,
            )
        return self._tracker

    def feed(self, frame: Frame) -> list[PlateRead | UnreadPass]:
        """Recognise one frame; the passes that ended with it.

        With loops (:class:`~agent.recognition.loops.LoopMatcher`), a read
        whose vehicle is still in its loop waits until it leaves it (at most
        half a second), an unread pass counts only if a loop vehicle takes it
        once the lane's loop is trusted, and the vehicles a loop counted that
        no pass accounts for come a few seconds after they left their loop.
        """
        started = time.perf_counter()
        sightings = self.recognizer.recognise(frame.image)
        h, w = frame.image.shape[:2]
        closed = self._tracker_for(w, h).update(frame.mono_s, frame.wall_ms, sightings, frame.image)
        if self._count_loops:
            if self._loops is None:
                self._loops = VirtualLoops((w, h), lanes=self._lanes, zones=self._zones)
            closed = [
                *self._matcher.close(closed),
                *self._matcher.loops(self._loops.update(frame.image, frame.wall_ms)),
                *self._matcher.due(frame.wall_ms),
            ]
        self.last_ms = (time.perf_counter() - started) * 1000.0
        return closed

    def expire(self, mono_s: float) -> list[PlateRead | UnreadPass]:
        """Passes unseen for the timeout (call while no frame comes)."""
        closed = [] if self._tracker is None else self._tracker.expire(mono_s)
        if not self._count_loops:
            return closed
        # No frame to date held reads by (the camera stalls or is gone): they go now.
        return [*self._matcher.close(closed), *self._matcher.release()]

    def flush(self) -> list[PlateRead | UnreadPass]:
        """Close every open pass (end of stream, shutdown), and count every loop vehicle."""
        closed = [] if self._tracker is None else self._tracker.flush()
        if not self._count_loops:
            return closed
        return [*self._matcher.close(closed), *self._matcher.due(0, flush=True)]


class Pipeline:
    """Capture → :class:`Passes`; one instance per camera, run on one thread."""

    def __init__(  # noqa: PLR0913 - the pipeline's seams
        self,
        recognizer: Recognizer,
        source: Source,
        clock: Clock,
        *,
        lanes: int = 1,
        zones: Sequence[LaneZone] = (),
        pass_timeout_s: float = 2.0,
        queue_size: int = 4,
        reconnect_at_end: bool = True,
        overview: OverviewSettings | None = None,
        loops: bool = False,
    ) -> None:
        self.passes = Passes(
            recognizer,
            lanes=lanes,
            zones=zones,
            pass_timeout_s=pass_timeout_s,
            overview=overview,
            loops=loops,
        )
        self.capture = Capture(
            source, clock, queue_size=queue_size, reconnect_at_end=reconnect_at_end
        )
        self._clock = clock
        self._dropped_seen = 0
        self._corrupt_seen = 0

    def reconfigure(self, recognition: RecognitionConfig) -> None:
        """Take new thresholds, filters and pass timeout (SIGHUP); the models stay loaded."""
        recognizer = self.passes.recognizer
        recognizer.detector.threshold = recognition.detect_threshold
        recognizer.reader.threshold = recognition.read_threshold
        recognizer.settings = settings_of(recognition)
        self.passes.timeout_s = recognition.pass_timeout_s

    def _report_drops(self, sink: ReadSink) -> None:
        dropped = self.capture.stats.dropped
        if dropped > self._dropped_seen:
            sink.dropped(dropped - self._dropped_seen)
            self._dropped_seen = dropped
        corrupt = self.capture.stats.corrupt
        if corrupt > self._corrupt_seen:
            sink.corrupt(corrupt - self._corrupt_seen)
            self._corrupt_seen = corrupt

    def run(self, sink: ReadSink, stop: threading.Event) -> None:
        """Produce passes until ``stop`` is set (or a finite source ends), then flush."""
        self.capture.start()
        try:
            while not stop.is_set():
                try:
                    frame = self.capture.frames.get(timeout=_GET_TIMEOUT_S)
                except queue.Empty:
                    sink.idle()
                    self._report_drops(sink)
                    for read in self.passes.expire(self._clock.monotonic()):
                        sink.read(read)
                    if self.capture.ended.is_set() and self.capture.frames.empty():
                        break
                    continue
                sink.frame()
                self._report_drops(sink)
                reads = self.passes.feed(frame)
                sink.inference(self.passes.last_ms)
                for read in reads:
                    sink.read(read)
        finally:
            self.capture.stop()
            self._report_drops(sink)
            for read in self.passes.flush():
                sink.read(read)


def build_pipeline(  # noqa: PLR0913 - a pipeline is built from these parts
    recognition: RecognitionConfig,
    camera_source: str,
    clock: Clock,
    *,
    lanes: int = 1,
    zones: Sequence[LaneZone] = (),
    source: Source | None = None,
    loop: bool = False,
) -> Pipeline:
    """The pipeline for a config: ``source`` overrides ``camera_source`` (e.g. ``sim:``).

    A finite source (a video file, a directory) is read once unless ``loop``; a
    stream is reconnected whenever it ends.
    """
    finite = source is None and is_finite(camera_source)
    recognizer = build_recognizer(recognition)
    log.info(
        "recognition: detector %s %s, reader %s %s",
        recognizer.detector.card.name,
        recognizer.detector.card.version,
        recognizer.reader.card.name,
        recognizer.reader.card.version,
    )
    return Pipeline(
        recognizer,
        source if source is not None else open_source(camera_source),
        clock,
        lanes=lanes,
        zones=zones,
        pass_timeout_s=recognition.pass_timeout_s,
        reconnect_at_end=loop or not finite,
        overview=overview_of(recognition),
        loops=recognition.count_loops,
    )
