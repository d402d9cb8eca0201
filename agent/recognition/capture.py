"""Camera sources and the capture thread: frames in, a bounded queue out, reconnect on loss.

A :class:`Source` is anything that opens, grabs BGR images and closes:
OpenCV's ``VideoCapture`` for ``rtsp://``, ``http(s)://`` (MJPEG) and video
files, a directory of images, or an in-process iterator (the simulator hands
frames to an agent running in the same process). :class:`Capture` owns one
source on its own thread: it reconnects with exponential backoff when the
camera goes away, and puts frames into a bounded queue that drops the *oldest*
frame when the pipeline falls behind — every drop is counted, never silent.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from agent.core.events import Frame

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy.typing as npt

    from agent.core.clock import Clock

__all__ = [
    "Capture",
    "CaptureStats",
    "DirectorySource",
    "IteratorSource",
    "Source",
    "SourceError",
    "VideoSource",
    "is_finite",
    "open_source",
]

log = logging.getLogger("anpr.capture")

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
# FFmpeg's grab() fails on an undecodable frame and on the end of the stream alike;
# the next grab() after a bad frame goes on with the following one. This many
# failures in a row (no frame between) mean the stream ended or the camera is gone.
_BAD_GRABS_IN_A_ROW = 3


class SourceError(Exception):
    """The source cannot be opened (now): the capture thread retries with backoff."""


class Source(Protocol):
    """Where frames come from."""

    name: str

    def open(self) -> None:
        """Connect; raise :class:`SourceError` when the camera is not there."""

    def grab(self) -> npt.NDArray[np.uint8] | None:
        """The next BGR image, or None when the stream was lost or ended."""

    def close(self) -> None:
        """Release the camera."""


class VideoSource:
    """OpenCV ``VideoCapture``: rtsp://, http(s):// (MJPEG) or a video file."""

    def __init__(
        self, url: str, *, open_timeout_ms: int = 5000, read_timeout_ms: int = 5000
    ) -> None:
        self.name = url.rsplit("@", maxsplit=1)[-1]  # never log credentials in a URL
        self._url = url
        self._params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            open_timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            read_timeout_ms,
        ]
        self._cap: cv2.VideoCapture | None = None
        self.corrupt = 0  # undecodable frames skipped

    def open(self) -> None:
        """Open the stream (FFmpeg backend)."""
        cap = cv2.VideoCapture(self._url, cv2.CAP_FFMPEG, self._params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.name}")
        self._cap = cap

    def grab(self) -> npt.NDArray[np.uint8] | None:
        """Read one frame; skip (and count) undecodable ones; None when the stream ended."""
        misses = 0
        while self._cap is not None and misses < _BAD_GRABS_IN_A_ROW:
            if self._cap.grab():
                ok, image = self._cap.retrieve()
                if ok and image is not None:
                    self.corrupt += misses  # a frame came after them: they were bad frames
                    return np.asarray(image, dtype=np.uint8)
            misses += 1
        return None

    def close(self) -> None:
        """Release the capture."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class DirectorySource:
    """The images of a directory, in name order, once; unreadable files are skipped and logged."""

    def __init__(self, directory: Path) -> None:
        self.name = str(directory)
        self._dir = directory
        self._files: Iterator[Path] = iter(())
        self.skipped = 0
        self.corrupt = 0  # the same count, under the name every source uses

    def open(self) -> None:
        """List the images."""
        if not self._dir.is_dir():
            raise SourceError(f"{self._dir} is not a directory")
        self._files = iter(
            sorted(p for p in self._dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        )

    def grab(self) -> npt.NDArray[np.uint8] | None:
        """The next readable image, or None at the end."""
        for path in self._files:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return np.asarray(image, dtype=np.uint8)
            self.skipped += 1
            self.corrupt += 1
            log.warning("capture: skipped unreadable image %s", path.name)
        return None

    def close(self) -> None:
        """Nothing to release."""


class IteratorSource:
    """Frames handed over in-process (e.g. by the simulator) through an iterator factory."""

    def __init__(self, name: str, factory: Callable[[], Iterator[npt.NDArray[np.uint8]]]) -> None:
        self.name = name
        self._factory = factory
        self._it: Iterator[npt.NDArray[np.uint8]] | None = None

    def open(self) -> None:
        """Start a new iteration."""
        self._it = self._factory()

    def grab(self) -> npt.NDArray[np.uint8] | None:
        """Next image, or None when the iterator is exhausted."""
        if self._it is None:
            return None
        return next(self._it, None)

    def close(self) -> None:
        """Drop the iterator."""
        self._it = None


def is_finite(spec: str) -> bool:
    """Whether a ``camera.source`` names something that ends: a directory or a video file."""
    return not spec.startswith((*_STREAM_SCHEMES, "sim:", "events:"))


def open_source(spec: str) -> Source:
    """The source a ``camera.source`` string names (``sim:`` is wired by the caller)."""
    if spec.startswith(_STREAM_SCHEMES):
        return VideoSource(spec)
    path = Path(spec)
    if path.is_dir():
        return DirectorySource(path)
    return VideoSource(spec)


@dataclass
class CaptureStats:
    """Figures of the capture thread (plain ints, read by metrics)."""

    frames: int = 0
    dropped: int = 0
    corrupt: int = 0  # undecodable frames the source skipped
    reconnects: int = 0
    connected: bool = False


class Capture:
    """Runs a source on its own thread and feeds a bounded frame queue (drop oldest)."""

    def __init__(  # noqa: PLR0913 - the capture's seams
        self,
        source: Source,
        clock: Clock,
        *,
        queue_size: int = 4,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        reconnect_at_end: bool = True,
    ) -> None:
        self.source = source
        self.frames: queue.Queue[Frame] = queue.Queue(maxsize=queue_size)
        self.stats = CaptureStats()
        self.ended = threading.Event()
        self._clock = clock
        self._backoff = (backoff_min_s, backoff_max_s)
        self._reconnect_at_end = reconnect_at_end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> None:
        """Start capturing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop capturing and release the camera."""
        self._stop.set()
        self._thread.join(10)

    def _put(self, frame: Frame) -> None:
        while True:
            try:
                self.frames.put_nowait(frame)
            except queue.Full:
                try:
                    self.frames.get_nowait()  # the pipeline is behind: drop the oldest
                    self.stats.dropped += 1
                except queue.Empty:
                    pass
            else:
                return

    def _run(self) -> None:
        delay = self._backoff[0]
        logged = False
        while not self._stop.is_set():
            try:
                self.source.open()
            except SourceError as exc:
                if not logged:
                    log.warning("capture: %s (retrying)", exc)
                    logged = True
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            if self.stats.frames or logged:
                self.stats.reconnects += 1
            log.info("capture: %s open", self.source.name)
            self.stats.connected, logged = True, False
            before = self.stats.frames
            self._pump()
            self.stats.corrupt = getattr(self.source, "corrupt", 0)
            self.source.close()
            self.stats.connected = False
            if not self._reconnect_at_end:
                break
            if not self._stop.is_set():
                log.warning("capture: %s lost; reconnecting", self.source.name)
                # A stream that opens but yields nothing must not become a reconnect storm.
                delay = (
                    self._backoff[0]
                    if self.stats.frames > before
                    else min(delay * 2, self._backoff[1])
                )
                self._stop.wait(delay)
        self.ended.set()

    def _pump(self) -> None:
        while not self._stop.is_set():
            image = self.source.grab()
            if image is None:
                return
            self.stats.corrupt = getattr(self.source, "corrupt", 0)
            index = self.stats.frames
            self.stats.frames += 1
            self._put(Frame(index, int(self._clock.wall() * 1000), self._clock.monotonic(), image))
