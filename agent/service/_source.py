"""Where reads come from: the :class:`ReadSource` seam and the :class:`Intake` it reports to.

The recognition pipeline (camera source → detector → reader → tracker/voter,
issue 7) is one :class:`ReadSource`. The service runs it on its own thread and
hands it an :class:`Intake`: every vehicle pass goes to :meth:`Intake.read`
(a bounded queue that never drops a read: when full it blocks, which pushes
back on the voter, whose frame queue then drops *frames*, counted), and every
frame taken, frame dropped and inference time goes to the other methods, which
feed the metrics and the watchdog.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Histogram
from prometheus_client.registry import CollectorRegistry

from agent.core.events import UnreadPass
from agent.recognition.shipped import model_cards  # light: no onnxruntime, no OpenCV

if TYPE_CHECKING:
    from agent.config.schema import CameraConfig, RecognitionConfig
    from agent.core.clock import Clock
    from agent.core.events import PlateRead

__all__ = ["Intake", "ReadSource", "SourceUnavailableError", "recognition_source"]

_PUT_WAIT_S = 0.2
INFERENCE_BUCKETS_MS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000)


class SourceUnavailableError(Exception):
    """The configured read source cannot run here (one line for the operator; exit 2)."""


class ReadSource(Protocol):
    """A producer of vehicle passes: the recognition pipeline, or a fake in tests."""

    def run(self, intake: Intake, stop: threading.Event) -> None:
        """Produce until ``stop`` is set, then flush (the voter's open passes) and return.

        Report each pass with ``intake.read``, each frame with ``intake.frame``
        (or ``intake.idle`` at least once a second while no frame comes): that
        is the progress the watchdog looks for. Runs on its own thread.
        """
        ...

    def reconfigure(self, recognition: RecognitionConfig) -> None:
        """Take new thresholds (SIGHUP); only fields the service deems safe ever change."""
        ...


class Intake:
    """The service's side of the seam: a bounded read queue plus frame figures.

    Thread-safe: a pipeline may report from several threads.
    """

    def __init__(self, maxsize: int, registry: CollectorRegistry | None = None) -> None:
        self.queue: queue.Queue[PlateRead | UnreadPass] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self.frames = 0
        self.frames_dropped = 0
        self.frames_corrupt = 0  # undecodable frames the camera sent (skipped)
        self.reads = 0
        self.unread = 0  # passes whose plate was never read: counted for the civil side only
        self.waits = 0  # times a read waited for room (the journal fell behind)
        self._waiters: dict[int, Future[int]] = {}  # id(read) -> a source's durable wait
        self.last_beat = time.monotonic()
        self.last_frame = self.last_beat  # idle beats do not move it: a dead camera shows
        self.inference_ms = Histogram(
            "anpr_inference_ms",
            "Detector + reader time per frame, milliseconds.",
            buckets=INFERENCE_BUCKETS_MS,
            registry=registry or CollectorRegistry(),
        )

    def read(self, read: PlateRead | UnreadPass) -> None:
        """Hand over one vehicle pass, read or not; blocks while the queue is full (never drops)."""
        while True:
            try:
                self.queue.put(read, timeout=_PUT_WAIT_S)
            except queue.Full:
                with self._lock:
                    self.waits += 1
                continue
            with self._lock:
                if isinstance(read, UnreadPass):
                    self.unread += 1
                else:
                    self.reads += 1
                self.last_beat = time.monotonic()
            return

    def read_durable(self, read: PlateRead) -> Future[int]:
        """Hand over one pass; the future gives its journal seq once the record is durable.

        For sources that answer someone (an event camera is told ``accepted`` only once
        its read is committed); it fails with the journal's error when the read is refused.
        """
        waiter: Future[int] = Future()
        with self._lock:  # before the put: the feed may take the read at once
            self._waiters[id(read)] = waiter
        self.read(read)
        return waiter

    def waiter(self, read: PlateRead) -> Future[int] | None:
        """The feed's side: the future a source waits on for this read, if any (taken once)."""
        with self._lock:
            return self._waiters.pop(id(read), None) if self._waiters else None

    @staticmethod
    def settle(waiter: Future[int] | None, outcome: Future[int] | BaseException) -> None:
        """Resolve a waiter with the journal's future (when it resolves) or an error."""
        if waiter is None:
            return
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
            return

        def copy(done: Future[int]) -> None:
            exc = done.exception()
            if exc is None:
                waiter.set_result(done.result())
            else:
                waiter.set_exception(exc)

        outcome.add_done_callback(copy)

    def frame(self) -> None:
        """One frame taken from the camera."""
        with self._lock:
            self.frames += 1
            self.last_beat = self.last_frame = time.monotonic()

    def dropped(self, frames: int = 1) -> None:
        """Frames dropped because inference fell behind (the frame queue was full)."""
        with self._lock:
            self.frames_dropped += frames

    def corrupt(self, frames: int = 1) -> None:
        """Frames the camera sent that could not be decoded (skipped; the stream goes on)."""
        with self._lock:
            self.frames_corrupt += frames

    def frame_age(self) -> float:
        """Seconds since the last frame (idle beats do not count)."""
        with self._lock:
            return time.monotonic() - self.last_frame

    def inference(self, ms: float) -> None:
        """Time spent on one frame's inference."""
        self.inference_ms.observe(ms)

    def idle(self) -> None:
        """Alive, but no frame came (camera quiet or reconnecting)."""
        with self._lock:
            self.last_beat = time.monotonic()

    def silent_for(self) -> float:
        """Seconds since the source last showed progress."""
        with self._lock:
            return time.monotonic() - self.last_beat


def recognition_source(
    recognition: RecognitionConfig, camera: CameraConfig, clock: Clock
) -> ReadSource:
    """The camera → detector → reader → tracker pipeline (:mod:`agent.pipeline`) for a config.

    Raises :class:`SourceUnavailableError` with one line when it cannot run:
    a model card is missing or breaks its contract, or the source is ``sim:``
    (the simulator's in-process camera, which ``anpr-sim`` wires itself).
    """
    for key, card in model_cards(recognition).named():
        if not card.is_file():
            raise SourceUnavailableError(
                f"{key}: {card} does not exist: no plate can be read without it "
                "(run with --drain-only to deliver the journal backlog without a camera)"
            )
    camera_source = camera.source
    if camera_source.startswith("sim:"):
        raise SourceUnavailableError(
            "camera.source 'sim:' is the simulator's in-process camera, which anpr-sim wires "
            "itself: give anpr-agent run a stream URL, a video file or a directory"
        )
    # Imported here: loading the pipeline pulls in onnxruntime and OpenCV, which
    # --drain-only and the other commands do not need.
    from agent.recognition.detector import DetectorError  # noqa: PLC0415
    from agent.recognition.pipeline import build_pipeline  # noqa: PLC0415
    from agent.recognition.reader import ReaderError  # noqa: PLC0415
    from agent.recognition.tracker import LaneZone  # noqa: PLC0415

    try:
        zones = [LaneZone(z.lane, z.polygon) for z in camera.lane_zones]
        return build_pipeline(
            recognition, camera_source, clock, lanes=camera.lanes, zones=zones, loop=camera.loop
        )
    except (DetectorError, ReaderError) as exc:
        raise SourceUnavailableError(f"recognition: {exc}") from None
